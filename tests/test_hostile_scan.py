"""Hostile data files: every case a correct result or one clear error, and nothing lost.

Part of the hostile-input suite (with ``test_fuzz.py`` and ``test_hostile_models.py``):
``Scan.map`` outputs that would destroy an input or be half-written, rows with more
or fewer fields than the header, files rewritten between the passes of a fit, and
what an attacker would try as a data path (empty files, NUL bytes, 1e400, very long
lines, byte-order marks, mixed delimiters, FIFOs, devices, directories, links).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from _hostile import run_cli
from gaussmix import GaussianMixture, scan
from gaussmix._outputs import OutputIsInputError
from gaussmix.scan import Scan, ScanError

X = np.random.default_rng(0).normal(size=(600, 3)) + np.repeat([[0.0], [6.0]], 300, axis=0)
CHANGED = "changed while it was being read"


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    np.save(tmp_path / "data.npy", X)
    return tmp_path / "data.npy"


@pytest.fixture(scope="module")
def model() -> GaussianMixture:
    return GaussianMixture(2, random_state=0).fit(X)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- Scan.map writes through the one output writer ------------------------------------
def test_map_refuses_the_scanned_file_as_out_also_through_links(npy, model):
    before = npy.read_bytes()
    data = scan(npy, chunk_rows=100)
    link = npy.parent / "link.npy"
    link.symlink_to(npy)
    hard = npy.parent / "hard.npy"
    os.link(npy, hard)
    for out in (npy, str(npy), link, hard):
        with pytest.raises(OutputIsInputError, match=r"refusing to write .* input of this call"):
            data.map(model.predict, out=out)
    assert npy.read_bytes() == before
    assert _listing(npy.parent) == ["data.npy", "hard.npy", "link.npy"]  # no temporary left


def test_map_func_failing_at_chunk_3_leaves_no_file_and_the_old_one_intact(npy, model):
    data = scan(npy, chunk_rows=100)
    calls = []

    def failing(chunk: np.ndarray) -> np.ndarray:
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("func failed at chunk 3")
        return model.predict(chunk)

    out = npy.parent / "labels.npy"
    with pytest.raises(RuntimeError, match="chunk 3"):
        data.map(failing, out=out)
    assert _listing(npy.parent) == ["data.npy"]  # no file, no temporary
    np.save(out, np.arange(5))
    previous = out.read_bytes()
    calls.clear()
    with pytest.raises(RuntimeError, match="chunk 3"):
        data.map(failing, out=out)
    assert out.read_bytes() == previous
    assert _listing(npy.parent) == ["data.npy", "labels.npy"]


@pytest.mark.parametrize(
    "func",
    [lambda chunk: chunk[:1, 0], lambda chunk: np.float64(1.0), lambda chunk: chunk[:, 0][:-1]],
    ids=["one row", "a scalar", "one row short"],
)
def test_map_result_of_the_wrong_length_is_an_error_and_nothing_is_written(npy, func):
    out = npy.parent / "out.npy"
    for target in (out, None):
        with pytest.raises(ValueError, match="it must return one row per input row"):
            scan(npy, chunk_rows=100).map(func, out=target)
    assert _listing(npy.parent) == ["data.npy"]


def test_map_results_that_change_shape_or_dtype_between_chunks_write_nothing(npy):
    answers = iter([np.zeros((100, 2)), np.zeros((100, 3))])
    with pytest.raises(ValueError, match=r"rows of shape \(3,\) .* after rows of shape \(2,\)"):
        scan(npy, chunk_rows=100).map(lambda c: next(answers), out=npy.parent / "o.npy")
    answers = iter([np.zeros(100, np.int64), np.zeros(100, np.float64)])
    with pytest.raises(ValueError, match="same shape per row and dtype"):
        scan(npy, chunk_rows=100).map(lambda c: next(answers), out=npy.parent / "o.npy")
    assert _listing(npy.parent) == ["data.npy"]


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_map_streams_a_valid_npy_whatever_the_row_count(tmp_path, model, fmt):
    # A text file's rows are not counted first: the header is written after the data.
    path = tmp_path / f"data.{fmt}"
    if fmt == "npy":
        np.save(path, X)
    else:
        np.savetxt(path, X, delimiter=",", header="a,b,c", comments="")
    data = scan(path, chunk_rows=64)
    for func, name in [(model.predict, "labels"), (model.predict_proba, "proba")]:
        got = data.map(func, out=tmp_path / f"{name}.npy")
        assert isinstance(got, np.memmap)
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), func(X))
    assert data.n_rows == len(X)


def test_map_of_a_file_without_rows_is_an_error_and_writes_nothing(tmp_path, model):
    (tmp_path / "head.csv").write_text("a,b,c\n")
    data = scan(tmp_path / "head.csv")
    for out in (tmp_path / "o.npy", None):
        with pytest.raises(ScanError, match="has no rows of data, so there is nothing to map"):
            data.map(model.predict, out=out)
    assert _listing(tmp_path) == ["head.csv"]


# -- rows with another number of fields than the header --------------------------------
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n5,6,7\n", "line 2 has 3 fields, expected 2."),
        ("a,b\n1,2\n3,4\n5,6,7\n", "line 4 has 3 fields, expected 2."),
        ("a,b\n1,2\n5,6,\n", "line 3 has 3 fields, expected 2."),  # a trailing delimiter
        ("a,b\n1,2\n5\n", "line 3 has 1 field, expected 2."),
        ("a b\n1 2\n5 6 7\n", "line 3 has 3 fields, expected 2."),  # whitespace
        ("a;b\n1;2\n5;6;7 # note\n", "line 3 has 3 fields, expected 2."),  # a comment
        ('a,b\n1,2\n"5",6,"7"\n', "line 3 has 3 fields, expected 2."),  # quotes
        ("1\t2\n3\t4\t5\n", "line 2 has 3 fields, expected 2."),  # no header
    ],
)
def test_a_row_with_more_or_fewer_fields_than_the_header_is_an_error(tmp_path, text, match):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ScanError, match=re.escape(f"{path}: {match}")):
        list(scan(path))
    with pytest.raises(ScanError, match=re.escape(match)):
        list(scan(path, columns=[0]))  # also when the extra field is not selected


def test_quoted_delimiters_and_comments_are_no_extra_fields(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('a,b\n"1",2\n"3",4 # a, b, c\n"5",   6\n')
    np.testing.assert_array_equal(np.vstack(list(scan(path))), [[1, 2], [3, 4], [5, 6]])


def test_every_command_refuses_a_row_with_more_fields(tmp_path, model):
    data = tmp_path / "data.csv"
    data.write_text("a,b,c\n" + "1,2,3\n" * 40 + "5,6,7,8\n")
    model_path = tmp_path / "model.gmm"
    model.save(model_path)
    expected = f"gaussmix: error: {data}: line 42 has 4 fields, expected 3.\n"
    for argv in (
        ["fit", data, "-k", "2", "-o", tmp_path / "new.gmm"],
        ["predict", model_path, data],
        ["score", model_path, data],
    ):
        code, _, err = run_cli(argv)
        assert (code, err) == (2, expected), argv
    assert _listing(tmp_path) == ["data.csv", "model.gmm"]


# -- a file that changes between the passes of a fit -----------------------------------
def _rewrite_at_pass(monkeypatch, at_pass: int, rewrite) -> list[int]:
    """Make the ``at_pass``-th pass over any scan first call ``rewrite(path)``."""
    passes = []
    original = Scan.__iter__

    def spy(self: Scan):
        passes.append(1)
        if len(passes) == at_pass:
            rewrite(self.path)
        return original(self)

    monkeypatch.setattr(Scan, "__iter__", spy)
    return passes


def _later_mtime(path: Path, stamp: int) -> None:
    """Give ``path`` a modification time after ``stamp`` (on any file-system granularity)."""
    os.utime(path, ns=(stamp + 2 * 10**9, stamp + 2 * 10**9))


NPY_REWRITES = {
    "another number of columns": lambda p: np.save(p, np.hstack([X, X])[:, :4]),
    "shorter": lambda p: np.save(p, X[:500]),
    "longer": lambda p: np.save(p, np.vstack([X, X])),
    "same size, other shape": lambda p: np.save(p, X.reshape(900, 2)),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:-800]),
    "removed": lambda p: p.unlink(),
    "replaced by a rename": lambda p: (
        np.save(p.with_suffix(".t.npy"), X * 2),
        os.replace(p.with_suffix(".t.npy"), p),
    ),
}


@pytest.mark.parametrize("how", list(NPY_REWRITES))
def test_a_npy_rewritten_between_passes_of_a_fit_is_an_error(npy, monkeypatch, how):
    passes = _rewrite_at_pass(monkeypatch, 2, NPY_REWRITES[how])
    gm = GaussianMixture(2, random_state=0, max_iter=50, tol=0)
    with pytest.raises(ScanError, match=re.escape(f"{npy} {CHANGED}")):
        gm.fit(scan(npy, chunk_rows=128))
    assert len(passes) == 2


def test_a_npy_rewritten_with_the_same_size_and_shape_is_an_error(npy, monkeypatch):
    stamp = npy.stat().st_mtime_ns

    def rewrite(path: Path) -> None:
        np.save(path, X[::-1])
        _later_mtime(path, stamp)

    _rewrite_at_pass(monkeypatch, 3, rewrite)
    with pytest.raises(ScanError, match=f"{CHANGED} \\(it was modified\\)"):
        GaussianMixture(2, random_state=0, max_iter=50, tol=0).fit(scan(npy, chunk_rows=128))


def test_a_npy_truncated_in_the_middle_of_a_pass_is_an_error(npy):
    data = scan(npy, chunk_rows=100)
    chunks = iter(data)
    next(chunks)
    npy.write_bytes(npy.read_bytes()[:-2000])
    with pytest.raises(ScanError, match=f"{CHANGED} \\(its size went from"):
        list(chunks)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("rows", [500, 700, 600])
def test_text_and_parquet_rewritten_between_passes_are_an_error(tmp_path, monkeypatch, fmt, rows):
    path = tmp_path / f"data.{fmt}"

    def write(data: np.ndarray) -> None:
        if fmt == "csv":
            np.savetxt(path, data, delimiter=",", header="a,b,c", comments="")
        else:
            pa = pytest.importorskip("pyarrow")
            pq = pytest.importorskip("pyarrow.parquet")
            pq.write_table(pa.table({n: data[:, i] for i, n in enumerate("abc")}), path)

    write(X)
    stamp = path.stat().st_mtime_ns

    def rewrite(_: Path) -> None:
        write(np.resize(X[::-1], (rows, 3)))
        _later_mtime(path, stamp)

    _rewrite_at_pass(monkeypatch, 2, rewrite)
    with pytest.raises(ScanError, match=re.escape(f"{path} {CHANGED}")):
        GaussianMixture(2, random_state=0, max_iter=50, tol=0).fit(scan(path, chunk_rows=128))


def test_an_unchanged_file_fits_as_in_memory_and_a_new_scan_reads_new_content(npy):
    data = scan(npy, chunk_rows=128)
    gm = GaussianMixture(2, random_state=0).fit(data)
    ref = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-10)
    np.save(npy, X[:100])
    with pytest.raises(ScanError, match=CHANGED):
        gm.predict(data)  # the old view no longer describes the file
    assert gm.predict(scan(npy)).shape == (100,)


# -- what an attacker would pass as a data file ----------------------------------------
HOSTILE_CONTENT = [
    ("empty.csv", b"", "the file is empty (no rows of data)"),
    ("blank.csv", b"\n\n  \n# just a comment\n", "the file is empty (no rows of data)"),
    ("empty.npy", b"", "not a readable .npy array"),
    ("empty.parquet", b"", "not a readable Parquet file"),
    ("nul.csv", b"a,b\n1,2\n3\x00,4\n", "line 3 contains a NUL byte"),
    ("nulhead.csv", b"a\x00,b\n1,2\n", "line 1 contains a NUL byte"),
    ("utf16nobom.csv", "a,b\n1,2\n".encode("utf-16-le"), "line 1 contains a NUL byte"),
    ("word.csv", b"a,b\n1,2\n3,four\n", "line 3: 'four' in column 'b' is not a number"),
    ("arabic.csv", "a,b\n1,2\n3,\u0664\n".encode(), "line 3: '\u0664' in column 'b' is not a"),
    ("under.csv", b"a,b\n1,2\n3,1_000\n", "line 3: '1_000' in column 'b' is not a number"),
    ("mixed.csv", b"a,b\n1,2\n3;4\n", "line 3 has 1 field, expected 2"),
    ("mixed2.csv", b"a,b;c\n1,2;3\n", "column 'b;c' is not numeric (first value '2;3'"),
    ("bad.gz.csv.gz", b"\x1f\x8b\x08\x00garbage", "cannot be read"),
    ("big.npy", None, "not a readable .npy array"),  # a header claiming 10**9 rows
    ("pickle.npy", None, "not a readable .npy array"),
    ("archive.npy", None, "expected one array saved with np.save"),
]


@pytest.mark.parametrize(
    ("name", "content", "match"), HOSTILE_CONTENT, ids=[c[0] for c in HOSTILE_CONTENT]
)
def test_hostile_content_is_one_clear_scan_error(tmp_path, name, content, match):
    path = tmp_path / name
    if name == "big.npy":
        with open(path, "wb") as f:
            header = {"descr": "<f8", "fortran_order": False, "shape": (10**9, 3)}
            np.lib.format.write_array_header_1_0(f, header)
            f.write(bytes(24))
    elif name == "pickle.npy":
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    elif name == "archive.npy":
        with open(path, "wb") as f:
            np.savez(f, a=X)
    else:
        path.write_bytes(content)
    with pytest.raises((ScanError, TypeError), match=re.escape(match)) as info:
        list(scan(path))
    assert str(path) in str(info.value)


def test_a_header_only_file_is_a_table_of_no_rows(tmp_path):
    (tmp_path / "head.csv").write_text("a,b\n")
    data = scan(tmp_path / "head.csv")
    assert data.shape == (0, 2) and data.columns == ["a", "b"] and list(data) == []
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        GaussianMixture(1).fit(data)


@pytest.mark.parametrize("value", ["1e400", "-1e400", "9" * 400, "inf", "nan"])
def test_huge_numbers_in_text_read_as_inf_and_fitting_them_says_so(tmp_path, value):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n" + "1,2\n3,4\n" * 5 + f"5,{value}\n")
    chunk = np.vstack(list(scan(path)))
    assert chunk[-1, 0] == 5 and not np.isfinite(chunk[-1, 1])
    assert float(value) == chunk[-1, 1] or np.isnan(chunk[-1, 1])
    with pytest.raises(ValueError, match=r"NaN or infinite values .* at row 10, column 1"):
        GaussianMixture(2).fit(scan(path))


def test_a_line_beyond_the_length_limit_is_an_error_not_a_memory_hog(tmp_path, monkeypatch):
    from gaussmix.scan import _text

    monkeypatch.setattr(_text, "_MAX_LINE_CHARS", 1000)
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n" + b"1" * 5000)  # one endless line, as /dev/zero's would be
    with pytest.raises(ScanError, match=f"{re.escape(str(path))}: line 3 is longer than 1000"):
        list(scan(path))
    path.write_bytes(b"\0" * 5000)
    with pytest.raises(ScanError, match="line 1 is longer than 1000 characters"):
        scan(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks_are_honoured(tmp_path, encoding):
    path = tmp_path / "data.csv"
    path.write_bytes("x,y\n1,2\n3,4\n".encode(encoding))  # each codec writes its mark
    data = scan(path, chunk_rows=1)
    assert data.columns == ["x", "y"]
    np.testing.assert_array_equal(np.vstack(list(data)), [[1, 2], [3, 4]])


def test_old_mac_and_windows_line_ends_read(tmp_path):
    for end in ("\r", "\r\n"):
        path = tmp_path / "data.csv"
        path.write_bytes(end.join(["a,b", "1,2", "3,4", ""]).encode())
        np.testing.assert_array_equal(np.vstack(list(scan(path))), [[1, 2], [3, 4]])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "data.csv"
    os.mkfifo(path)  # opening it to read would wait for a writer forever
    with pytest.raises(ScanError, match=re.escape(f"{path} is not a regular file (it is a FIFO")):
        scan(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused(tmp_path):
    link = tmp_path / "zero.npy"
    link.symlink_to("/dev/zero")
    for path in ("/dev/zero", link):
        with pytest.raises(ScanError, match=r"is not a regular file \(it is a character device"):
            scan(path)


def test_directories_links_and_missing_files(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory, not a data file"):
        scan(tmp_path / "dir.csv")
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(ScanError, match=f"{re.escape(str(loop))}: cannot be opened \\(Too many"):
        scan(loop)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        scan(dangling)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_permission_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    path.chmod(0)
    with pytest.raises(PermissionError, match="Permission denied"):
        scan(path)
