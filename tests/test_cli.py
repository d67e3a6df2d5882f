"""The gaussmix command line: every command, and every error path as one line and exit 2."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("typer")
pytest.importorskip("rich")

from _support import assert_close
from gaussmix import BayesianGaussianMixture, GaussianMixture, cli, load
from gaussmix.cli import _app, _choices, _data, _progress
from gaussmix.cli._errors import CliError
from gaussmix.cli._fitting import parse_k_range
from gaussmix.datasets import load_old_faithful


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_old_faithful()[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, faithful) -> dict[str, Path]:
    """Data files in every format, and one fitted model (K=2, full, seed 0)."""
    d = tmp_path_factory.mktemp("data")
    out = {}
    out["csv"] = d / "faithful.csv"
    np.savetxt(out["csv"], faithful, delimiter=",", header="eruptions,waiting", comments="")
    out["tsv"] = d / "faithful.tsv"
    np.savetxt(out["tsv"], faithful, delimiter="\t", header="eruptions\twaiting", comments="")
    out["headerless"] = d / "plain.txt"
    np.savetxt(out["headerless"], faithful, delimiter=" ")
    out["npy"] = d / "faithful.npy"
    np.save(out["npy"], faithful)
    out["shuffled"] = d / "shuffled.csv"
    extra = np.column_stack([faithful[:, 1], np.arange(len(faithful)), faithful[:, 0]])
    np.savetxt(out["shuffled"], extra, delimiter=";", header="waiting;id;eruptions", comments="")
    out["mixed"] = d / "mixed.csv"
    out["mixed"].write_text("a,b,name\n1,2,x\n3,4,y\n5,6,z\n")
    out["ragged"] = d / "ragged.csv"
    out["ragged"].write_text("a,b\n1,2\n3,4\n5\n")
    out["missing"] = d / "missing.csv"
    out["missing"].write_text("a,b\n1,2\n3,\n")
    out["empty"] = d / "empty.csv"
    out["empty"].write_text("")
    out["junk"] = d / "junk.csv"
    out["junk"].write_bytes(bytes(range(256)) * 4)
    out["objects"] = d / "objects.npy"
    np.save(out["objects"], np.array([[1, "a"]], dtype=object), allow_pickle=True)
    out["wide"] = d / "wide.npy"
    np.save(out["wide"], np.ones((5, 3)))
    out["model"] = d / "model.gmm"
    main_ok(["fit", str(out["csv"]), "-k", "2", "--seed", "0", "-o", str(out["model"]), "-q"])
    out["bad_model"] = d / "bad.gmm"
    out["bad_model"].write_bytes(out["model"].read_bytes()[:-10])
    return out


def plain_model(path: Path) -> GaussianMixture:
    """The model at ``path`` without its column names, to predict on plain arrays."""
    model = load(path)
    del model.feature_names_in_
    return model


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def main_ok(argv: list[str]) -> None:
    assert cli.main([str(a) for a in argv]) == 0


def assert_error(code: int, out: str, err: str, match: str) -> None:
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gaussmix: error: ")
    assert match in lines[0], lines[0]
    assert "Traceback" not in err and out == ""


# -- commands -----------------------------------------------------------------------
def test_fit_with_k(files, faithful, tmp_path, capsys):
    path = tmp_path / "m.gmm"
    code, out, err = run(["fit", files["csv"], "-k", "2", "--seed", "0", "-o", path], capsys)
    assert code == 0 and err == ""
    assert (
        "K = 2, full covariance" in out
        and "272 rows" in out
        and f"Saved the model to {path}" in out
    )
    model = load(path)
    assert model.n_components == 2 and model.covariance_type == "full"
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    expected = GaussianMixture(2, random_state=0).fit(faithful)
    np.testing.assert_array_equal(model.means_, expected.means_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gmm"]  # no temporary left


def test_fit_selects_over_a_range(files, tmp_path, capsys):
    path = tmp_path / "m.gmm"
    argv = ["fit", files["tsv"], "--k-range", "1..3", "--seed", "0", "-o", path, "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["n_components"] == 2 and payload["covariance_type"] == "full"
    assert payload["criterion"] == "bic" and len(payload["selection"]) == 12
    assert payload["model"] == str(path) and payload["n_samples"] == 272
    assert load(path).n_components == 2


def test_fit_options(files, tmp_path, capsys):
    path = tmp_path / "m.gmm"
    options = "-k 3 -c diag --n-init 2 --tol 1e-4 --max-iter 50 --reg-covar 1e-5"
    argv = f"fit {files['headerless']} {options} --init-params k-means++ -o {path} -q".split()
    code, out, err = run(argv, capsys)
    assert (code, out, err) == (0, "", "")
    model = load(path)
    assert (model.covariance_type, model.n_init, model.max_iter) == ("diag", 2, 50)
    assert model.tol == 1e-4
    assert model.init_params == "k-means++" and model.reg_covar == 1e-5
    assert not hasattr(model, "feature_names_in_")  # no header: no names


def test_fit_criterion_and_columns(files, tmp_path, capsys):
    path = tmp_path / "m.gmm"
    options = "--columns eruptions --columns waiting --k-range 2,3 -c tied --criterion icl"
    argv = f"fit {files['shuffled']} {options} -o {path} --json".split()
    code, out, _ = run(argv, capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["criterion"] == "icl" and payload["features"] == ["eruptions", "waiting"]
    assert [r["n_components"] for r in payload["selection"]] == [2, 3]


def test_fit_warns_in_one_line(files, tmp_path, capsys):
    argv = ["fit", files["csv"], "-k", "3", "--max-iter", "1", "-o", tmp_path / "m.gmm"]
    code, _, err = run(argv, capsys)
    assert code == 0
    assert err.startswith("gaussmix: warning: ") and "converge" in err
    assert "Traceback" not in err and "warnings.warn" not in err
    code, out, err = run([*argv, "-q"], capsys)
    assert (code, out, err) == (0, "", "")


def test_fit_large_files_go_through_scan(files, faithful, tmp_path, capsys, monkeypatch):
    pytest.importorskip("gaussmix.scan")
    monkeypatch.setattr(_data, "STREAM_BYTES", 0)
    expected = GaussianMixture(2, random_state=0).fit(faithful)
    for name in ("npy", "csv"):
        path = tmp_path / f"{name}.gmm"
        code, out, _ = run(["fit", files[name], "-k", "2", "--seed", "0", "-o", path], capsys)
        assert code == 0 and "272 rows" in out
        assert_close(load(path).means_, expected.means_, rtol=1e-10)
    code, out, _ = run(
        ["select", files["npy"], "--k-range", "1..2", "-c", "full", "--json"], capsys
    )
    assert code == 0 and json.loads(out)["n_samples"] == 272


def test_fit_bayesian(files, faithful, tmp_path, capsys):
    path = tmp_path / "b.gmm"
    argv = ["fit", files["csv"], "--bayesian", "-k", "6", "--seed", "0", "-o", path]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    assert "up to K = 6 (2 in use), full covariance" in out and "Variational inference" in out
    model = load(path)
    expected = BayesianGaussianMixture(n_components=6, random_state=0).fit(faithful)
    assert type(model) is BayesianGaussianMixture
    np.testing.assert_array_equal(model.means_, expected.means_)
    argv = [
        *argv[:4],
        "4",
        "-c",
        "diag",
        "--prior-type",
        "dirichlet_distribution",
        "--weight-concentration",
        "0.01",
        "-o",
        path,
        "--json",
    ]
    code, out, err = run(argv, capsys)
    payload = json.loads(out)
    assert payload["estimator"] == "BayesianGaussianMixture" and "bic" not in payload
    assert payload["weight_concentration_prior_type"] == "dirichlet_distribution"
    assert 1 <= payload["active_components"] <= 4 and len(payload["weights"]) == 4
    model = load(path)
    assert (model.covariance_type, model.weight_concentration_prior) == ("diag", 0.01)
    # Without -k: the top of the default K range. Every other command reads the file.
    argv = ["fit", files["npy"], "--bayesian", "--seed", "0", "-o", path, "-q"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and load(path).n_components == 9
    code, out, _ = run(["info", path], capsys)
    assert "K = 9 components (2 in use)" in out and "dirichlet_process prior" in out
    code, out, _ = run(["score", path, files["npy"], "--json"], capsys)
    payload = json.loads(out)
    assert payload["mean_log_likelihood"] == pytest.approx(load(path).score(faithful), rel=1e-12)
    assert "bic" not in payload
    code, out, _ = run(["score", path, files["npy"]], capsys)
    assert code == 0 and "BIC" not in out
    code, out, _ = run(["predict", path, files["npy"], "-o", tmp_path / "l.csv", "-q"], capsys)
    assert code == 0
    code, out, _ = run(["sample", path, "-n", "3", "--json"], capsys)
    assert code == 0 and len(json.loads(out)["X"]) == 3


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--prior-type", "dirichlet_process"], "only --bayesian fits take --prior-type"),
        (["--weight-concentration", "0.1"], "add --bayesian"),
        (["--bayesian", "--k-range", "1..3"], "give -k instead of --k-range"),
        (["--bayesian", "-c", "all"], "--bayesian fits one covariance type, not 'all'"),
        (["--bayesian", "-c", "mclust"], "not 'mclust'"),
        (["--bayesian", "--prior-type", "dp"], "is not one of 'dirichlet_process'"),
        (["--bayesian", "--weight-concentration", "0"], "'weight_concentration_prior'"),
        (["--bayesian", "--prior"], "it takes no --prior"),
        (["--bayesian", "-c", "EEI"], "'covariance_type' parameter of BayesianGaussianMixture"),
    ],
)
def test_fit_bayesian_errors(files, tmp_path, capsys, extra, match):
    code, out, err = run(["fit", files["csv"], *extra, "-o", tmp_path / "m.gmm"], capsys)
    assert_error(code, out, err, match)
    assert not (tmp_path / "m.gmm").exists()


def test_predict(files, faithful, tmp_path, capsys):
    model = plain_model(files["model"])
    code, out, err = run(["predict", files["model"], files["csv"]], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "component" and len(lines) == 273
    np.testing.assert_array_equal([int(v) for v in lines[1:]], model.predict(faithful))

    target = tmp_path / "proba.npy"
    code, out, err = run(
        ["predict", files["model"], files["npy"], "--proba", "-o", target], capsys
    )
    assert code == 0 and out == "" and "Wrote probabilities of 272 rows" in err
    np.testing.assert_array_equal(np.load(target), model.predict_proba(faithful))

    # Columns are matched by name: extra and reordered columns are fine.
    target = tmp_path / "labels.tsv"
    code, _, _ = run(["predict", files["model"], files["shuffled"], "-o", target, "-q"], capsys)
    assert code == 0
    labels = np.loadtxt(target, skiprows=1, dtype=int)
    np.testing.assert_array_equal(labels, model.predict(faithful))

    code, out, _ = run(["predict", files["model"], files["csv"], "--json"], capsys)
    assert json.loads(out)["labels"] == model.predict(faithful).tolist()
    code, out, _ = run(["predict", files["model"], files["csv"], "-o", target, "--json"], capsys)
    assert json.loads(out) == {"output": str(target), "n_rows": 272}


def test_predict_parquet(files, faithful, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"eruptions": faithful[:, 0], "waiting": faithful[:, 1]}), data)
    target = tmp_path / "proba.parquet"
    code, _, _ = run(["predict", files["model"], data, "--proba", "-o", target], capsys)
    assert code == 0
    table = pq.read_table(target)
    assert table.column_names == ["p0", "p1"]
    proba = plain_model(files["model"]).predict_proba(faithful)
    np.testing.assert_array_equal(table.column("p1").to_numpy(), proba[:, 1])


def test_predict_and_score_stream_the_file(files, faithful, capsys, monkeypatch):
    scan = importlib.import_module("gaussmix.scan")  # the module; gaussmix.scan is the function
    monkeypatch.setattr(scan._text, "_CHUNK_BYTES", 50 * 2 * 8)  # text chunks of 50 rows
    seen = []
    original = scan.Scan.__iter__

    def spy(self):
        for chunk in original(self):
            seen.append(chunk.shape[0])
            yield chunk

    monkeypatch.setattr(scan.Scan, "__iter__", spy)
    code, out, _ = run(["score", files["model"], files["csv"], "--json"], capsys)
    assert code == 0 and seen == [50] * 5 + [22]
    expected = plain_model(files["model"]).score(faithful)
    assert json.loads(out)["mean_log_likelihood"] == pytest.approx(expected, rel=1e-12)
    seen.clear()
    code, out, _ = run(["predict", files["model"], files["csv"], "--json"], capsys)
    assert code == 0 and seen == [50] * 5 + [22]
    assert json.loads(out)["labels"] == plain_model(files["model"]).predict(faithful).tolist()


def test_score(files, faithful, capsys):
    model = plain_model(files["model"])
    code, out, _ = run(["score", files["model"], files["npy"], "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["n_samples"] == 272
    assert payload["mean_log_likelihood"] == pytest.approx(model.score(faithful), rel=1e-12)
    assert payload["bic"] == pytest.approx(model.bic(faithful), rel=1e-12)
    assert payload["aic"] == pytest.approx(model.aic(faithful), rel=1e-12)
    code, out, _ = run(["score", files["model"], files["csv"]], capsys)
    assert code == 0 and "mean log-likelihood" in out and "BIC" in out


def test_sample(files, tmp_path, capsys):
    target = tmp_path / "s.csv"
    code, _, _ = run(["sample", files["model"], "-n", "25", "--seed", "3", "-o", target], capsys)
    assert code == 0
    header, *rows = target.read_text().splitlines()
    assert header == "eruptions,waiting,component" and len(rows) == 25
    again = tmp_path / "again.csv"
    run(["sample", files["model"], "-n", "25", "--seed", "3", "-o", again, "-q"], capsys)
    assert again.read_text() == target.read_text()
    code, out, _ = run(["sample", files["model"], "-n", "4", "--json"], capsys)
    payload = json.loads(out)
    assert len(payload["X"]) == 4 and len(payload["component"]) == 4
    code, out, _ = run(["sample", files["model"], "-n", "3"], capsys)
    assert out.splitlines()[0] == "eruptions,waiting,component" and len(out.splitlines()) == 4
    target = tmp_path / "s.npy"
    run(["sample", files["model"], "-n", "6", "-o", target], capsys)
    assert np.load(target).shape == (6, 2)


def test_info(files, capsys):
    code, out, _ = run(["info", files["model"]], capsys)
    assert code == 0
    assert "K = 2 components, full covariance" in out and "eruptions" in out
    assert "gaussmix.GaussianMixture v1" in out
    code, out, _ = run(["info", files["model"], "--json"], capsys)
    payload = json.loads(out)
    assert payload["n_components"] == 2 and payload["features"] == ["eruptions", "waiting"]
    assert payload["format_version"] == 1 and len(payload["weights"]) == 2
    assert np.asarray(payload["covariances"]).shape == (2, 2, 2)


def test_select(files, tmp_path, capsys):
    target = tmp_path / "best.gmm"
    argv = ["select", files["csv"], "--k-range", "1-3", "--seed", "0", "-o", target]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    assert "Candidates by BIC (lower is better)" in out and "◀ best" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert sorted((int(r[0]), r[1]) for r in rows) == [
        (k, t) for k in (1, 2, 3) for t in ("diag", "full", "spherical", "tied")
    ]
    assert rows[0][:2] == ["2", "full"] and rows[0][-2:] == ["◀", "best"]  # best first
    assert "Best by BIC: K = 2, full covariance" in out
    assert load(target).n_components == 2
    code, out, _ = run(
        [
            "select",
            files["csv"],
            "--k-range",
            "2",
            "--criterion",
            "aic",
            "-c",
            "diag",
            "--json",
            "-j",
            "1",
        ],
        capsys,
    )
    payload = json.loads(out)
    assert payload["criterion"] == "aic" and len(payload["candidates"]) == 1
    assert payload["best"] == {"n_components": 2, "covariance_type": "diag"}


def test_select_records_failed_candidates(tmp_path, capsys):
    data = tmp_path / "few.csv"  # 4 distinct points and 2 repeats: K >= 5 collapses
    data.write_text("a,b\n0,0\n1,1.5\n2,0.5\n0.5,2\n0,0\n0,0\n")
    argv = ["select", data, "--k-range", "1..6", "-c", "full", "--reg-covar", "0", "--seed", "0"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    # Which K collapse (reg_covar = 0, 4 distinct points) is a matter of rounding;
    # where a fit keeps one component for every row it is valid if poor. What must
    # hold: every K has its row, failures say so with no numbers, the rest fitted.
    rows = {line.split()[0]: line for line in out.splitlines() if line[:3].strip().isdigit()}
    assert sorted(rows) == list("123456")
    failed = [k for k, line in rows.items() if "Fitting failed" in line]
    assert failed and "1" not in failed
    assert all("—" in rows[k] for k in failed)
    assert "Best by BIC: K = 1" in out


def test_plot(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig.png"
    code, _, err = run(["plot", files["model"], files["csv"], "-o", target, "--dpi", "40"], capsys)
    assert code == 0 and f"Wrote {target}" in err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = tmp_path / "fig.svg"
    code, out, _ = run(["plot", files["model"], files["npy"], "-o", target, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"output": str(target)}
    assert target.read_text().lstrip().startswith("<?xml")


def test_plot_of_wide_data(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 9))
    X[150:, 6] += 6.0
    data = tmp_path / "wide.csv"
    np.savetxt(data, X, delimiter=",", header=",".join(f"c{i}" for i in range(9)), comments="")
    model = tmp_path / "m.gmm"
    main_ok(["fit", data, "-k", "2", "-c", "diag", "--seed", "0", "-o", model, "-q"])
    code, _, err = run(["plot", model, data, "-o", tmp_path / "f.png", "--dpi", "30"], capsys)
    assert code == 0
    assert "gaussmix: warning: X has 9 features: drawing the 5 that separate" in err
    assert "(c6, " in err and "gaussmix plot --features" in err
    target = tmp_path / "g.png"
    argv = ["plot", model, data, "-o", target, "--features", "c6,2", "--features", "c0", "-q"]
    code, out, err = run(argv, capsys)
    assert (code, out, err) == (0, "", "") and target.read_bytes()[:4] == b"\x89PNG"
    code, out, err = run([*argv[:5], "--features", "nope"], capsys)
    assert_error(code, out, err, "features: 'nope' is not a feature name")


def test_progress_display(files, tmp_path, capsys, monkeypatch):
    """On a terminal a progress display starts after the delay; it never breaks the output."""
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    monkeypatch.setattr(_progress, "DELAY_S", 0.0)
    started = []
    original = _progress.Progress._start

    def spy(self):
        started.append(self.description)
        original(self)

    monkeypatch.setattr(_progress.Progress, "_start", spy)
    argv = ["select", files["csv"], "--k-range", "1..3", "-c", "full", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and json.loads(out)["best"]["n_components"] == 2
    argv = ["fit", files["csv"], "--k-range", "1..4", "-c", "full", "-o", tmp_path / "m.gmm"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "Saved the model" in out
    assert started == ["fitting candidates"]  # --json is quiet; the fit showed it


def test_no_arguments_shows_help(capsys):
    code, out, _ = run([], capsys)
    assert code == 2 and "Usage" in out and "select" in out


def test_help(capsys):
    code, out, _ = run(["fit", "--help"], capsys)
    assert code == 0 and "--k-range" in out and "--covariance-type" in out


@pytest.mark.parametrize("name", list(_app.COMMANDS))
def test_listed_summaries_are_the_commands_first_lines(name):
    """The list of commands (built without importing them) says what each command's help says."""
    doc = _app.command_function(name).__doc__
    assert _app.COMMANDS[name] == doc.strip().splitlines()[0]


def test_choices_come_from_the_registries(capsys, monkeypatch):
    from gaussmix._core.covariance import COVARIANCE_TYPES, FAMILIES
    from gaussmix._core.criteria import CRITERIA
    from gaussmix._core.init import INIT_METHODS

    monkeypatch.setenv("COLUMNS", "400")  # no wrapped choice lists
    expected = {
        "--covariance-type": [*COVARIANCE_TYPES, *FAMILIES, "all"],
        "--init-params": list(INIT_METHODS),
        "--criterion": list(CRITERIA),
    }
    for command in ("fit", "select"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0
        for option, names in expected.items():
            line = next(line for line in out.splitlines() if f"{option} " in line and "│" in line)
            assert f"<{'|'.join(names)}>" in line, line
    assert _choices.covariance_types() == tuple(COVARIANCE_TYPES)


def test_listing_the_commands_imports_none_of_them():
    """``gaussmix --help`` builds no command: no registry, no NumPy, no command module."""
    code = (
        "import sys; from gaussmix.cli import main; main(['--help']); "
        "print([m for m in sys.modules if m == 'numpy' or m.startswith('gaussmix.cli.')"
        " and not m.startswith('gaussmix.cli._')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "fit" in result.stdout and result.stdout.splitlines()[-1] == "[]"


def test_command_after_double_dash(capsys):
    code, out, err = run(["--", "fit"], capsys)
    assert_error(code, out, err, "give the command first")


def test_missing_cli_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "typer", None)
    code, out, err = run(["fit"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        'gaussmix: the command line needs typer and rich: pip install "gaussmix[cli]"'
    )


def test_interrupted_output_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    target = tmp_path / "labels.csv"

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    code, _, err = run(["predict", files["model"], files["csv"], "-o", target], capsys)
    assert code == 130 and err.strip() == "gaussmix: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_unexpected_errors_are_one_line_too(files, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr(_data, "load_model", boom)
    code, out, err = run(["score", files["model"], files["csv"]], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "internal error: RuntimeError: something broke" in err


# -- errors ---------------------------------------------------------------------------
ERRORS = [
    (["fit", "{nowhere}", "-k", "2", "-o", "{out}"], "no such file"),
    (["fit", "{dir}", "-k", "2", "-o", "{out}"], "is a directory"),
    (["fit", "{ragged}", "-k", "1", "-o", "{out}"], "line 4 has 1 field, expected 2"),
    (["fit", "{missing}", "-k", "1", "-o", "{out}"], "line 3: missing value in column 'b'"),
    (["fit", "{mixed}", "-k", "1", "-o", "{out}"], "column 'name' is not numeric"),
    (["fit", "{mixed}", "--columns", "a,zz", "-k", "1", "-o", "{out}"], "unknown column 'zz'"),
    (["fit", "{mixed}", "--columns", "a,a", "-k", "1", "-o", "{out}"], "more than once"),
    (["fit", "{npy}", "--columns", "7", "-k", "1", "-o", "{out}"], "unknown column 7"),
    (["fit", "{junk}", "-k", "1", "-o", "{out}"], "not a text file"),
    (["fit", "{empty}", "-k", "1", "-o", "{out}"], "is empty"),
    (["fit", "{objects}", "-k", "1", "-o", "{out}"], "not a readable .npy"),
    (["fit", "{csv}", "-k", "500", "-o", "{out}"], "n_samples >= n_components"),
    (["fit", "{csv}", "-k", "0", "-o", "{out}"], "Invalid value for '-k'"),
    (["fit", "{csv}", "-k", "x", "-o", "{out}"], "Invalid value for '-k'"),
    (["fit", "{csv}", "-k", "2", "--k-range", "1..3", "-o", "{out}"], "either -k or --k-range"),
    (["fit", "{csv}", "--k-range", "3..x", "-o", "{out}"], "invalid --k-range '3..x'"),
    (["fit", "{csv}", "--k-range", "0..2", "-o", "{out}"], "invalid --k-range"),
    (["fit", "{csv}", "-c", "banana", "-o", "{out}"], "'banana' is not one of"),
    (["fit", "{csv}", "--criterion", "mdl", "-o", "{out}"], "'mdl' is not one of"),
    (["fit", "{csv}", "-k", "2"], "Missing option '-o'"),
    (["fit", "-k", "2", "-o", "{out}"], "Missing argument 'DATA'"),
    (["fit", "{csv}", "-k", "2", "-o", "{out}", "--bogus"], "No such option: --bogus"),
    (["fit", "{csv}", "-k", "2", "-o", "{nodir}"], "no such directory"),
    (["fit", "{csv}", "-k", "2", "-o", "{dir}"], "is a directory"),
    (["fit", "{csv}", "-k", "2", "--device", "banana", "-o", "{out}"], "banana"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["predict", "{nowhere}", "{csv}"], "No such model file"),
    (["predict", "{bad_model}", "{csv}"], "is not a valid gaussmix model file"),
    (["predict", "{csv}", "{csv}"], "looks like a data file (CSV/text), not a gaussmix model"),
    (["predict", "{model}", "{mixed}"], "the model's columns 'eruptions', 'waiting' are not"),
    (["predict", "{model}", "{mixed}", "--columns", "a,name"], "column 'name' is not numeric"),
    (["predict", "{model}", "{mixed}", "--columns", "a,b,c"], "unknown column 'c'"),
    (["predict", "{model}", "{wide}"], "3 column(s) selected, but the model was fitted on 2"),
    (["predict", "{model}", "{tsv_other}"], "the model's columns 'eruptions', 'waiting' are not"),
    (["predict", "{model}", "{csv}", "-o", "{nodir}"], "no such directory"),
    (["score", "{model}", "{empty}"], "is empty"),
    (["score", "{bad_model}", "{csv}"], "truncated"),
    (["sample", "{model}", "-n", "0"], "Invalid value for '-n'"),
    (["sample", "{model}"], "Missing option '-n'"),
    (["info", "{junk}"], "is not a valid gaussmix model file"),
    (["info", "{dir}"], "is a directory"),
    (["select", "{csv}", "--k-range", "", "-c", "full"], "invalid --k-range"),
    (["select", "{mixed}", "-c", "full"], "column 'name' is not numeric"),
    (["plot", "{model}", "{csv}", "-o", "{dir}/fig.xyz"], "cannot write a figure as"),
    (["plot", "{model}", "{csv}"], "Missing option '-o'"),
]


@pytest.mark.parametrize(("argv", "match"), ERRORS, ids=[" ".join(a[:2]) for a, _ in ERRORS])
def test_errors_are_one_line_and_exit_2(files, tmp_path, capsys, argv, match):
    names = {k: str(v) for k, v in files.items()}
    other = tmp_path / "other.tsv"
    other.write_text("a\tb\n1\t2\n")
    names.update(
        nowhere=str(tmp_path / "nowhere.csv"),
        dir=str(tmp_path),
        out=str(tmp_path / "out.gmm"),
        nodir=str(tmp_path / "no" / "such" / "m.gmm"),
        tsv_other=str(other),
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run([a.format(**names) for a in argv], capsys)
    assert_error(code, out, err, match)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary


def test_parquet_errors(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]}), data)
    code, out, err = run(["fit", data, "-k", "1", "-o", tmp_path / "m.gmm"], capsys)
    assert_error(code, out, err, "column 'label' is not numeric (type string)")
    pq.write_table(pa.table({"x": [1.0, None, 3.0]}), data)
    code, out, err = run(["fit", data, "-k", "1", "-o", tmp_path / "m.gmm"], capsys)
    assert_error(code, out, err, "column 'x' has missing values")
    (tmp_path / "bad.parquet").write_text("not parquet")
    code, out, err = run(["fit", tmp_path / "bad.parquet", "-k", "1", "-o", "m.gmm"], capsys)
    assert_error(code, out, err, "not a readable Parquet file")
    code, _, _ = run(["fit", data, "--columns", "x", "-k", "1", "-o", tmp_path / "m.gmm"], capsys)
    assert code == 2  # the missing value is still an error


def test_parse_k_range():
    assert list(parse_k_range("1..4")) == [1, 2, 3, 4]
    assert list(parse_k_range(" 2 - 3 ")) == [2, 3]
    assert list(parse_k_range("2:2")) == [2]
    assert parse_k_range("5,2,9") == [5, 2, 9]
    for bad in ("", "a", "1..", "0,1", "3..1", "1.5"):
        with pytest.raises(CliError):
            parse_k_range(bad)


def test_real_process_has_no_traceback(files, tmp_path):
    """The installed entry point (python -m gaussmix) in a real process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "gaussmix", "predict", str(files["bad_model"]), str(files["csv"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "truncated" in result.stderr


def test_select_mclust_family_starts_from_hc(files, tmp_path, capsys):
    from gaussmix._core.covariance import MCLUST_NAMES

    target = tmp_path / "mclust.gmm"
    argv = ["select", files["csv"], "--k-range", "1..4", "-c", "mclust", "--json", "-o", target]
    code, out, _ = run(argv, capsys)
    assert code == 0
    payload = json.loads(out)
    types = {row["covariance_type"] for row in payload["candidates"]}
    assert types == set(MCLUST_NAMES) and len(payload["candidates"]) == 4 * len(types)
    assert payload["best"] == {"n_components": 3, "covariance_type": "EEE"}  # mclust's
    assert load(target).init_params == "hc"
    argv = ["fit", files["csv"], "-k", "2", "-c", "mclust", "--init-params", "kmeans"]
    code, out, _ = run([*argv, "-o", tmp_path / "fit.gmm", "--seed", "0"], capsys)
    assert code == 0 and load(tmp_path / "fit.gmm").init_params == "kmeans"


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_noise_option_fits_and_predicts_noise(files, tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = np.load(files["npy"])
    scattered = np.vstack([X, rng.uniform(X.min(0), X.max(0), size=(40, 2))])
    data = tmp_path / "scattered.csv"
    np.savetxt(data, scattered, delimiter=",", header="eruptions,waiting", comments="")
    model = tmp_path / "noise.gmm"
    argv = ["fit", data, "-k", "3", "-c", "tied", "--noise", "--seed", "0", "-o", model]
    assert run(argv, capsys)[0] == 0
    fitted = load(model)
    assert fitted.noise is True and 0 < fitted.noise_weight_ < 0.5
    labels = tmp_path / "labels.csv"
    assert run(["predict", model, data, "-o", labels], capsys)[0] == 0
    written = np.loadtxt(labels, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(written, fitted.predict(scattered))
    assert (written == -1).any()
    code, out, _ = run(["predict", model, data, "--proba", "--json"], capsys)
    assert code == 0 and np.asarray(json.loads(out)["proba"]).shape == (len(scattered), 4)
    from gaussmix._core.covariance import get_covariance

    argv = ["select", data, "--k-range", "2..3", "-c", "tied", "--noise", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    for r in json.loads(out)["candidates"]:
        assert r["n_parameters"] == get_covariance("tied").n_parameters(r["n_components"], 2) + 2
