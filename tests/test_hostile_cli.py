"""Hostile use of the command line: every case one line and exit 2, nothing lost.

Part of the hostile-input suite (with ``test_fuzz.py`` and the other
``test_hostile_*`` modules): outputs that are inputs (also through symbolic and
hard links), SIGTERM while an output is written, numbers no option can mean
(huge, negative, not finite), devices that compute nothing, K ranges beyond the
data, model paths that are link loops or crash a parser, missing values, and
scores that are not numbers.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("rich")

from _hostile import run_cli
from _support import assert_close
from gaussmix import GaussianMixture, load
from gaussmix.datasets import load_old_faithful

HUGE = "100000000000000000000"  # 1e20: beyond every C integer


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_old_faithful()[0]


@pytest.fixture
def files(tmp_path: Path, faithful: np.ndarray) -> dict[str, Path]:
    """A data file, links to it, a model fitted on it, and a link to the model."""
    data = tmp_path / "d.csv"
    np.savetxt(data, faithful, delimiter=",", header="eruptions,waiting", comments="")
    model = tmp_path / "m.gmm"
    GaussianMixture(2, random_state=0).fit(faithful).save(model)
    (tmp_path / "data_link.csv").symlink_to(data)
    os.link(data, tmp_path / "data_hard.csv")
    (tmp_path / "model_link.gmm").symlink_to(model)
    return {p.stem: p for p in tmp_path.iterdir()}


def _snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry of ``directory``: a file's bytes, a link's target."""
    return {
        p.name: os.readlink(p) if p.is_symlink() else p.read_bytes()
        for p in sorted(directory.iterdir())
    }


def assert_one_line_error(code: int, out: str, err: str, match: str) -> None:
    assert code == 2, (code, out, err)
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("gaussmix: error: ") and match in err, err
    assert "internal error" not in err and "Traceback" not in err


# -- outputs that are inputs ---------------------------------------------------------
OUTPUT_IS_INPUT = [
    (["fit", "{d}", "-k", "2", "-o", "{d}"], "d"),
    (["fit", "{d}", "-k", "2", "-o", "{data_link}"], "d"),
    (["fit", "{d}", "-k", "2", "-o", "{data_hard}"], "d"),
    (["fit", "{data_link}", "--k-range", "1..2", "-o", "{d}"], "data_link"),
    (["predict", "{m}", "{d}", "-o", "{d}"], "d"),
    (["predict", "{m}", "{d}", "-o", "{m}"], "m"),
    (["predict", "{m}", "{d}", "--proba", "-o", "{model_link}"], "m"),
    (["predict", "{model_link}", "{data_hard}", "-o", "{d}"], "data_hard"),
    (["sample", "{m}", "-n", "5", "-o", "{m}"], "m"),
    (["sample", "{model_link}", "-n", "5", "-o", "{m}"], "model_link"),
    (["select", "{d}", "--k-range", "1..2", "-c", "full", "-o", "{data_hard}"], "d"),
    (["plot", "{m}", "{d}", "-o", "{d}"], "d"),
    (["plot", "{m}", "{data_link}", "-o", "{model_link}"], "m"),
]


@pytest.mark.parametrize(
    ("argv", "named"), OUTPUT_IS_INPUT, ids=[" ".join(a[:1] + a[-2:]) for a, _ in OUTPUT_IS_INPUT]
)
def test_an_output_that_is_an_input_is_refused_and_nothing_changes(files, argv, named):
    directory = files["d"].parent
    before = _snapshot(directory)
    code, out, err = run_cli([a.format(**{k: str(v) for k, v in files.items()}) for a in argv])
    output = argv[-1].format(**{k: str(v) for k, v in files.items()})
    assert_one_line_error(code, out, err, f"refusing to write '{output}': it is an input")
    assert _snapshot(directory) == before  # every file as it was, no temporary left


def test_sigterm_while_writing_removes_the_temporary_file(tmp_path, faithful):
    """SIGTERM unwinds like Ctrl-C: exit 143, one line, no hidden .out.csv.*.tmp left."""
    model = tmp_path / "m.gmm"
    GaussianMixture(2, random_state=0).fit(faithful).save(model)
    data = tmp_path / "big.npy"
    rng = np.random.default_rng(0)
    # About ten seconds of text on a quiet machine: under load this test's own polling
    # can sleep through a shorter write (the process is signalled at its first .tmp).
    np.save(data, faithful[rng.integers(0, len(faithful), 3_000_000)])
    target = tmp_path / "out.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "gaussmix", "predict", model, data, "--proba", "-o", target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert process.poll() is None, "the output was written before a SIGTERM could come"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143 and out == ""
    assert err == "gaussmix: terminated\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy", "m.gmm"]


# -- numbers no option can mean -----------------------------------------------------
BAD_NUMBERS = [
    (["sample", "{m}", "-n", HUGE], "Invalid value for '-n' / '--n-samples'"),
    (["sample", "{m}", "-n", "10000000000000000"], "-n 10000000000000000 needs about"),
    (["sample", "{m}", "-n", "-5"], "Invalid value for '-n' / '--n-samples'"),
    (["sample", "{m}", "-n", "3", "--seed", HUGE], "Invalid value for '--seed'"),
    (["sample", "{m}", "-n", "3", "--seed", "-1"], "Invalid value for '--seed'"),
    (["sample", "{m}", "-n", "3", "--seed", str(2**32)], "Invalid value for '--seed'"),
    (["select", "{d}", "--k-range", "1..2", "-j", HUGE], f"-j {HUGE}: give a number"),
    (["select", "{d}", "--k-range", "1..2", "-j", "0"], "-j 0: give a number of parallel"),
    (["select", "{d}", "--k-range", "1..2", "-j", f"-{HUGE}"], f"-j -{HUGE}: give"),
    (["fit", "{d}", "--k-range", "1..2", "-j", HUGE, "-o", "{out}"], f"-j {HUGE}: give"),
    (["fit", "{d}", "--k-range", "1..10000000000", "-o", "{out}"], "asks for up to 10000000000"),
    (["select", "{d}", "--k-range", "1..10000000000"], "but {d} has 272 row(s)"),
    (["select", "{d}", "--k-range", f"2,{HUGE}"], "give a range up to 272"),
    (["fit", "{d}", "-k", HUGE, "-o", "{out}"], "Invalid value for '-k' / '--n-components'"),
    (["fit", "{d}", "-k", "273", "-o", "{out}"], "n_samples >= n_components"),
    (["fit", "{d}", "-k", "2", "--n-init", HUGE, "-o", "{out}"], "Invalid value for '--n-init'"),
    (["fit", "{d}", "-k", "2", "--max-iter", HUGE, "-o", "{out}"], "Invalid value for '--max-i"),
    (["fit", "{d}", "-k", "2", "--max-iter", "-1", "-o", "{out}"], "Invalid value for '--max-i"),
    (["fit", "{d}", "-k", "2", "--tol", "nan", "-o", "{out}"], "Invalid value for '--tol'"),
    (
        ["fit", "{d}", "-k", "2", "--tol", "1e400", "-o", "{out}"],
        "The 'tol' parameter of GaussianMixture must be a float in the range",
    ),
    (
        ["fit", "{d}", "-k", "2", "--reg-covar", "inf", "-o", "{out}"],
        "The 'reg_covar' parameter of GaussianMixture must be",
    ),
    (["fit", "{d}", "-k", "2", "--reg-covar", "-1", "-o", "{out}"], "Invalid value for '--reg"),
    (["fit", "{d}", "-k", "2", "--seed", "-3", "-o", "{out}"], "Invalid value for '--seed'"),
    (["fit", "{d}", "-k", "2", "--columns", HUGE, "-o", "{out}"], f"unknown column {HUGE}"),
    (["plot", "{m}", "{d}", "-o", "{dir}/f.png", "--dpi", HUGE], "Invalid value for '--dpi'"),
    (["plot", "{m}", "{d}", "-o", "{dir}/f.png", "--dpi", "100000"], "Invalid value for '--dpi'"),
    (["fit", "{d}", "-k", "two", "-o", "{out}"], "Invalid value for '-k' / '--n-components'"),
    (["fit", "{d}", "-k", "2", "--init-params", "kmeans++", "-o", "{out}"], "'kmeans++' is not"),
    (["fit", "{d}", "-k", "2", "--missing", "drop", "-o", "{out}"], "'drop' is not one of"),
]


@pytest.mark.parametrize(("argv", "match"), BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_a_number_no_option_can_mean_is_one_line_and_exit_2(files, argv, match):
    names = {k: str(v) for k, v in files.items()}
    names.update(dir=str(files["d"].parent), out=str(files["d"].parent / "out.gmm"))
    before = _snapshot(files["d"].parent)
    code, out, err = run_cli([a.format(**names) for a in argv])
    assert_one_line_error(code, out, err, match.format(**names))
    assert _snapshot(files["d"].parent) == before


def test_the_default_k_range_is_cut_to_the_rows_and_says_so(tmp_path):
    data = tmp_path / "few.csv"
    data.write_text("a,b\n0,0\n1,1.5\n2,0.5\n0.5,2\n")
    code, out, err = run_cli(["select", data, "-c", "spherical"])
    assert code == 0
    assert f"{data} has 4 row(s): trying K up to 4 only (not 1..9)" in err
    rows = [line.split()[0] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert sorted(rows) == ["1", "2", "3", "4"]


def test_a_device_that_computes_nothing_is_refused(files):
    argv = ["fit", files["d"], "-k", "2", "--device", "meta", "-o", files["d"].parent / "o.gmm"]
    code, out, err = run_cli(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert_one_line_error(code, out, err, "--device meta needs PyTorch")
    else:
        assert_one_line_error(code, out, err, "--device meta: not a device to compute on")
        code, out, err = run_cli([*argv[:-4], "--device", "banana", "-o", argv[-1]])
        assert_one_line_error(code, out, err, "'banana' is not a device name")
    assert not (files["d"].parent / "o.gmm").exists()


# -- model paths that are no model files -------------------------------------------
@pytest.fixture
def loop(tmp_path: Path) -> Path:
    (tmp_path / "a.gmm").symlink_to(tmp_path / "b.gmm")
    (tmp_path / "b.gmm").symlink_to(tmp_path / "a.gmm")
    return tmp_path / "a.gmm"


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    text = b"[" * 100_000
    path = tmp_path / "nested.gmm"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "{model}"],
        ["info", "{model}", "--json"],
        ["predict", "{model}", "{d}"],
        ["score", "{model}", "{d}"],
        ["sample", "{model}", "-n", "3"],
        ["plot", "{model}", "{d}", "-o", "{dir}/f.png"],
    ],
    ids=lambda a: a[0],
)
@pytest.mark.parametrize(
    ("kind", "match"),
    [("loop", "Too many levels of symbolic links"), ("nested", "thousands deep")],
)
def test_a_model_path_that_is_no_model_file_is_one_line(files, loop, nested, argv, kind, match):
    names = {"model": str(loop if kind == "loop" else nested), "d": str(files["d"])}
    names["dir"] = str(files["d"].parent)
    code, out, err = run_cli([a.format(**names) for a in argv])
    assert_one_line_error(code, out, err, match)


# -- missing values ----------------------------------------------------------------
@pytest.fixture
def with_nan(tmp_path: Path, faithful: np.ndarray) -> Path:
    X = faithful.copy()
    X[3, 1] = X[10, 0] = np.nan
    np.save(tmp_path / "nan.npy", X)
    return tmp_path / "nan.npy"


@pytest.mark.parametrize(
    "argv",
    [["fit", "{data}", "-k", "2", "-o", "{out}"], ["select", "{data}", "--k-range", "1..2"]],
    ids=["fit", "select"],
)
def test_the_nan_error_names_the_missing_option(with_nan, argv):
    names = {"data": str(with_nan), "out": str(with_nan.parent / "m.gmm")}
    code, out, err = run_cli([a.format(**names) for a in argv])
    assert_one_line_error(code, out, err, "contains NaN")
    assert "--missing marginalize" in err and 'missing="' not in err
    assert not (with_nan.parent / "m.gmm").exists()


def test_missing_marginalize_fits_and_selects_rows_with_nan(with_nan, faithful):
    target = with_nan.parent / "m.gmm"
    argv = ["fit", with_nan, "-k", "2", "--seed", "0", "--missing", "marginalize", "-o", target]
    code, _, _ = run_cli(argv)
    assert code == 0
    model = load(target)
    X = np.load(with_nan)
    expected = GaussianMixture(2, random_state=0, missing="marginalize").fit(X)
    assert model.missing == "marginalize"
    assert_close(model.means_, expected.means_, rtol=1e-12)
    code, out, _ = run_cli(["predict", target, with_nan, "--json"])
    assert code == 0 and '"labels"' in out
    argv = ["select", with_nan, "--k-range", "1..2", "-c", "diag", "--missing", "marginalize"]
    code, out, _ = run_cli([*argv, "-o", with_nan.parent / "best.gmm", "--json"])
    assert code == 0 and load(with_nan.parent / "best.gmm").missing == "marginalize"


# -- scores that are not numbers -------------------------------------------------------
@pytest.mark.parametrize("bad", [-np.inf, np.inf, np.nan])
@pytest.mark.parametrize("as_json", [False, True])
def test_score_never_prints_a_non_finite_score(files, monkeypatch, bad, as_json):
    def score_samples(self, X):
        return np.full(len(X), bad)

    monkeypatch.setattr(GaussianMixture, "score_samples", score_samples)
    argv = ["score", files["m"], files["d"], *(["--json"] if as_json else [])]
    code, out, err = run_cli(argv)
    assert_one_line_error(code, out, err, "log-likelihood of")
    assert "not a finite number" in err and "nan" not in out.lower()
