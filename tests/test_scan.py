"""gaussmix.scan: .npy, Parquet and CSV files fitted and scored chunk by chunk."""

from __future__ import annotations

import gzip
import re
import sys

import numpy as np
import pytest

import gaussmix
from _support import assert_close
from gaussmix import GaussianMixture, scan
from gaussmix.scan import ScanError

CENTRES = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 5.0, 5.0]])


def _mixture(n_per: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(n_per, 3) + c for c in CENTRES])
    return X[rng.permutation(len(X))]


X = _mixture()
KW = dict(n_components=3, random_state=0, tol=1e-6, max_iter=300)


def _write(tmp_path, fmt: str, data: np.ndarray = X):
    """Write ``data`` (plus a text column for the tabular formats); return the path."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=["a", "b", "c"][: data.shape[1]]).assign(label="x")
    if fmt == "npy":
        np.save(tmp_path / "data.npy", data)
        return tmp_path / "data.npy"
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
        frame.to_parquet(tmp_path / "data.parquet", row_group_size=250)
        return tmp_path / "data.parquet"
    frame.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv"


def _numeric(fmt: str):
    return None if fmt == "npy" else ["a", "b", "c"]


def test_scan_is_exported():
    assert "scan" in gaussmix.__all__
    assert gaussmix.scan is scan


@pytest.mark.parametrize("fmt", ["npy", "parquet", "csv"])
def test_fit_and_outputs_match_the_in_memory_model(tmp_path, fmt):
    data = scan(_write(tmp_path, fmt), columns=_numeric(fmt), chunk_rows=200)
    assert data.shape == X.shape
    chunks = list(data)
    assert [len(c) for c in chunks] == [200, 200, 200, 200, 100]
    np.testing.assert_array_equal(np.vstack(list(data)), np.vstack(chunks))  # re-iterable
    ref = GaussianMixture(**KW).fit(X)
    gm = GaussianMixture(**KW).fit(data)
    assert gm.n_iter_ == ref.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(gm.predict(data), ref.predict(X))
    np.testing.assert_allclose(gm.predict_proba(data), ref.predict_proba(X), atol=1e-10)
    np.testing.assert_allclose(gm.score_samples(data), ref.score_samples(X), atol=1e-10)
    assert gm.score(data) == pytest.approx(ref.score(X), abs=1e-10)
    np.testing.assert_array_equal(gm.fit_predict(data), ref.predict(X))


def test_parquet_row_groups_are_the_default_chunks(tmp_path):
    data = scan(_write(tmp_path, "parquet"), columns=["c", "a"])
    assert data.chunk_rows is None
    assert [len(c) for c in data] == [250, 250, 250, 150]
    assert data.columns == ["c", "a"]
    np.testing.assert_array_equal(np.vstack(list(data)), X[:, [2, 0]])


def test_sample_weight_and_float32(tmp_path):
    w = np.random.RandomState(1).randint(0, 3, size=len(X)).astype(float)
    np.save(tmp_path / "x32.npy", X.astype(np.float32))
    data = scan(tmp_path / "x32.npy", chunk_rows=128)
    assert data.dtype == np.float32
    assert all(chunk.dtype == np.float32 for chunk in data)
    ref = GaussianMixture(**KW).fit(X.astype(np.float32), sample_weight=w)
    gm = GaussianMixture(**KW).fit(data, sample_weight=w)
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-6)
    assert gm.score(data, sample_weight=w) == pytest.approx(
        ref.score(X.astype(np.float32), sample_weight=w), abs=1e-6
    )


@pytest.mark.parametrize(
    ("delimiter", "header"), [(",", True), (";", False), ("\t", True), (" ", False)]
)
def test_csv_delimiters_and_header_detection(tmp_path, delimiter, header):
    path = tmp_path / "data.txt"
    np.savetxt(
        path,
        X,
        delimiter=delimiter,
        header="x y z".replace(" ", delimiter) if header else "",
        comments="",
    )
    data = scan(path, chunk_rows=250)
    assert data.columns == (["x", "y", "z"] if header else [0, 1, 2])
    assert data.n_rows == len(X)
    assert_close(np.vstack(list(data)), X, rtol=1e-15)
    assert scan(path, columns=[-1]).n_features == 1


def test_csv_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,2\n\n3,4\n5,6\n\n")
    data = scan(path, chunk_rows=2)
    assert data.n_rows == 3
    np.testing.assert_array_equal(np.vstack(list(data)), [[1, 2], [3, 4], [5, 6]])


def test_text_comments_gzip_and_pipes(tmp_path):
    text = "# exported 2024\n\nx | y\n1 | 2  # first\n\n# more\n3 | 4\n5 | 6\n"
    with gzip.open(tmp_path / "data.txt.gz", "wt") as f:
        f.write(text)
    data = scan(tmp_path / "data.txt.gz", chunk_rows=2)
    assert data.columns == ["x", "y"] and data.n_rows == 3
    assert [len(c) for c in data] == [2, 1]
    np.testing.assert_array_equal(np.vstack(list(data)), [[1, 2], [3, 4], [5, 6]])
    (tmp_path / "semi.csv").write_text('"a";"b"\n"1";2\n')  # quoted names and values
    np.testing.assert_array_equal(np.vstack(list(scan(tmp_path / "semi.csv"))), [[1, 2]])


def test_npy_1d_is_one_column_and_fortran_order_reads(tmp_path):
    np.save(tmp_path / "flat.npy", X[:, 0])
    data = scan(tmp_path / "flat.npy", chunk_rows=250)
    assert data.shape == (len(X), 1)
    np.testing.assert_array_equal(np.vstack(list(data)), X[:, :1])
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    data = scan(tmp_path / "f.npy", columns=[2, 0], chunk_rows=250)
    np.testing.assert_array_equal(np.vstack(list(data)), X[:, [2, 0]])


BAD_TEXT = [
    ("ragged.csv", b"a,b\n1,2\n3,4\n5\n", "line 4 has 1 field, expected 2"),
    ("gap.csv", b"a,b\n1,2\n3,\n", "line 3: missing value in column 'b'; remove or impute"),
    ("word.tsv", b"1\t2\n3\tx\n", "line 2: 'x' in column 1 is not a number"),
    ("empty.csv", b"\n# nothing\n", "the file is empty"),
    ("latin.csv", "a,é\n1,2\n".encode("latin-1"), "not a text file (invalid UTF-8)"),
    ("bad.csv.gz", b"not gzip", "cannot be read"),
    ("big.csv", b"a,b\n1," + b"9" * 140_000 + b"\n", "line 2 cannot be split"),
    ("data.npy.gz", b"", "cannot tell the format"),
    ("junk.npy", b"\x93NUMPY junk", "not a readable .npy array"),
]


@pytest.mark.parametrize(("name", "content", "match"), BAD_TEXT, ids=[b[0] for b in BAD_TEXT])
def test_bad_files_name_the_file_and_the_line(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ScanError, match=re.escape(match)) as info:
        list(scan(path))
    assert str(path) in str(info.value)


def test_parquet_nulls_and_corrupt_files(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"x": [1.0, 2.0, None], "n": [1, 2, 3]}), tmp_path / "n.parquet")
    data = scan(tmp_path / "n.parquet")
    assert data.dtype == np.float64
    with pytest.raises(ScanError, match=r"column 'x' has missing values \(the first at row 2\)"):
        list(data)
    np.testing.assert_array_equal(
        np.vstack(list(scan(tmp_path / "n.parquet", ["n"]))), [[1], [2], [3]]
    )
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ScanError, match="not a readable Parquet file"):
        scan(tmp_path / "bad.parquet")


def test_map_writes_outputs_chunk_by_chunk(tmp_path):
    data = scan(_write(tmp_path, "npy"), chunk_rows=128)
    gm = GaussianMixture(**KW).fit(X)
    labels = data.map(gm.predict, out=tmp_path / "labels.npy")
    assert isinstance(labels, np.memmap)
    np.testing.assert_array_equal(labels, gm.predict(X))
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), gm.predict(X))
    proba = data.map(gm.predict_proba, out=tmp_path / "proba.npy")
    assert proba.shape == (len(X), 3)
    assert_close(proba, gm.predict_proba(X))
    assert_close(data.map(gm.score_samples), gm.score_samples(X))
    with pytest.raises(ValueError, match="one row per input row"):
        data.map(lambda chunk: chunk[:1], out=tmp_path / "bad.npy")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        scan(tmp_path / "nothing.npy")
    (tmp_path / "data.xlsx").write_bytes(b"")
    with pytest.raises(ValueError, match=r"use one of .*\.csv.*\.npy.*\.parquet"):
        scan(tmp_path / "data.xlsx")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        scan(tmp_path)
    np.save(tmp_path / "cube.npy", X.reshape(3, 300, 3))
    with pytest.raises(ScanError, match=r"shape \(3, 300, 3\); expected a 1-D"):
        scan(tmp_path / "cube.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture(1).fit(scan(tmp_path / "empty.npy"))
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        scan(_write(tmp_path, "npy"), chunk_rows=0)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_column_errors_name_the_columns(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    with pytest.raises(TypeError, match=r"column 'label' is not numeric \((type|first val)"):
        scan(path)
    with pytest.raises(ScanError, match=r"unknown columns 'd', 7; its columns are a, b, c, la"):
        scan(path, columns=["a", "d", 7])
    with pytest.raises(ScanError, match="selected more than once"):
        scan(path, columns=["a", 0])


def test_npy_columns_are_positions(tmp_path):
    path = _write(tmp_path, "npy")
    np.testing.assert_array_equal(np.vstack(list(scan(path, columns=[2, 0]))), X[:, [2, 0]])
    with pytest.raises(ScanError, match="no column names: select by position, 0 to 2"):
        scan(path, columns=["a"])


def test_bad_values_are_reported_with_their_place(tmp_path):
    bad = X.copy()
    bad[650, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="at row 650, column 2"):
        GaussianMixture(**KW).fit(scan(tmp_path / "nan.npy", chunk_rows=100))
    path = tmp_path / "text.csv"  # a bad value past the lines scan() samples for types
    path.write_text("a,b\n" + "1,2\n" * 150 + "5,oops\n")
    with pytest.raises(ScanError, match="line 152: 'oops' in column 'b' is not a number"):
        GaussianMixture(1).fit(scan(path, chunk_rows=100))
    gm = GaussianMixture(**KW).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(scan(_write(tmp_path, "npy"), columns=[0, 1]))
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(4).fit(scan(path, columns=["a"]))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data", "random"])
def test_initialisation_of_large_files_reads_a_sample(tmp_path, monkeypatch, init_params):
    from gaussmix._core.init import kmeans

    monkeypatch.setattr(kmeans, "KMEANS_SAMPLE_ROWS", 200)
    data = scan(_write(tmp_path, "npy"), chunk_rows=128)
    kw = dict(KW, init_params=init_params, n_init=2)
    gm = GaussianMixture(**kw).fit(data)
    ref = GaussianMixture(**kw).fit(X)  # the same start and fit as in memory
    # The two starts may reach the same optimum in another component order, with
    # lower bounds equal to rounding: which one is kept is then a rounding tie.
    order = np.lexsort(gm.means_.T[::-1]), np.lexsort(ref.means_.T[::-1])
    np.testing.assert_allclose(gm.means_[order[0]], ref.means_[order[1]], rtol=1e-8, atol=1e-8)
    assert gm.score(data) == pytest.approx(ref.score(X), abs=1e-9)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = _write(tmp_path, "parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails
    with pytest.raises(ImportError, match=r"needs pyarrow.*gaussmix\[dask\]"):
        scan(path)
