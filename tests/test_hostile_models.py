"""Hostile model files: every case a working model or one clear ModelFileError.

Part of the hostile-input suite (with ``test_fuzz.py`` and ``test_hostile_scan.py``):
what is not a model file at all (a FIFO, a device, a link loop, a data file given in
its place), headers built to crash a JSON parser, parameters no fit can have had,
and saving a model whose parameters no longer describe its fitted arrays.
Tampered files carry a recomputed, valid digest, as an attacker's would.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _hostile import run_cli
from gaussmix import GaussianMixture, ModelFileError, load
from gaussmix import io as gio

X = np.random.default_rng(0).normal(size=(200, 2)) + np.repeat([[0.0], [6.0]], 100, axis=0)
TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def models() -> dict[str, GaussianMixture]:
    return {t: GaussianMixture(2, covariance_type=t, random_state=0).fit(X) for t in TYPES}


@pytest.fixture(scope="module")
def model(models: dict[str, GaussianMixture]) -> GaussianMixture:
    return models["full"]


def _file(tmp_path: Path, data: bytes, name: str = "model.gmm") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _tampered(model: GaussianMixture, change: Any) -> bytes:
    """The bytes of ``model``'s file after ``change(meta, tensors)``, with a valid digest."""
    meta, tensors = gio._contents(model)
    tensors = {name: array.copy() for name, array in tensors.items()}  # not the model's own
    change(meta, tensors)
    return gio._serialize(meta, tensors)


def _rejected(path: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


# -- what is not a model file ---------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "model.gmm"
    os.mkfifo(path)  # opening it to read would wait for a writer forever
    _rejected(path, re.escape(f"'{path}' is a FIFO (named pipe), not a gaussmix model file"))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_also_through_a_link(tmp_path):
    link = tmp_path / "model.gmm"
    link.symlink_to("/dev/zero")
    _rejected(link, "is a character device, not a gaussmix model file")


def test_links_and_directories(tmp_path):
    loop = tmp_path / "loop.gmm"
    loop.symlink_to(loop)
    _rejected(loop, re.escape(f"'{loop}' cannot be opened: Too many levels of symbolic links"))
    dangling = tmp_path / "dangling.gmm"
    dangling.symlink_to(tmp_path / "nowhere.gmm")
    with pytest.raises(FileNotFoundError, match="No such model file"):
        load(dangling)
    (tmp_path / "dir.gmm").mkdir()
    _rejected(tmp_path / "dir.gmm", "is a directory, not a gaussmix model file")


SWAPPED = "not a gaussmix model file; did you swap the arguments?"


def _parquet_bytes() -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": X[:, 0]}), sink)
    return sink.getvalue()


def _npy_bytes() -> bytes:
    sink = io.BytesIO()
    np.save(sink, X)
    return sink.getvalue()


DATA_FILES = {
    "d.csv": (lambda: b"eruptions,waiting\n3.6,79\n1.8,54\n", "a data file (CSV/text)"),
    "short.csv": (lambda: b"1,2\n", "a data file (CSV/text)"),
    "bom.csv": (lambda: "\ufeffa,b\n1,2\n".encode(), "a data file (CSV/text)"),
    "utf16.csv": (lambda: "a,b\n1,2\n".encode("utf-16"), "a data file (CSV/text)"),
    "tabs.tsv": (lambda: b"a\tb\r\n1\t2\r\n", "a data file (CSV/text)"),
    "d.npy": (_npy_bytes, "a NumPy .npy data file"),
    "d.parquet": (_parquet_bytes, "a Parquet data file"),
    "d.csv.gz": (lambda: gzip.compress(b"a,b\n1,2\n"), "a gzip-compressed file"),
}


@pytest.mark.parametrize("name", list(DATA_FILES))
def test_a_data_file_given_as_a_model_says_so(tmp_path, name):
    content, what = DATA_FILES[name]
    path = _file(tmp_path, content(), name)
    _rejected(path, re.escape(f"'{path}': this looks like {what}") + ".*" + re.escape(SWAPPED))


def test_the_command_line_says_the_arguments_look_swapped(tmp_path, model):
    data = _file(tmp_path, b"a,b\n" + b"1,2\n" * 10, "d.csv")
    model.save(tmp_path / "m.gmm")
    for argv in (["score", data, tmp_path / "m.gmm"], ["predict", data, tmp_path / "m.gmm"]):
        code, _, err = run_cli(argv)
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"gaussmix: error: '{data}': this looks like a data file (CSV")
        assert SWAPPED in err


# -- headers built to crash the parser --------------------------------------------------
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_a_deeply_nested_header_is_a_model_file_error(tmp_path, opener):
    text = opener * 100_000
    path = _file(tmp_path, struct.pack("<Q", len(text)) + text)
    _rejected(path, "its header nests JSON arrays or objects thousands deep")
    code, _, err = run_cli(["info", path])
    assert code == 2 and "nests JSON arrays or objects thousands deep" in err


def test_deeply_nested_metadata_behind_a_valid_digest_is_a_model_file_error(tmp_path, model):
    meta, tensors = gio._contents(model)
    path = _file(tmp_path, gio._serialize(meta, tensors, meta_text="[" * 100_000))
    _rejected(path, "its metadata nests JSON arrays or objects thousands deep")


@pytest.mark.parametrize("name", ["tol", "max_iter", "reg_covar", "n_init", "random_state"])
@pytest.mark.parametrize("value", [10**400, -(10**400), 2**64])
def test_parameters_no_fit_can_have_had_are_rejected(tmp_path, model, name, value):
    path = _file(tmp_path, _tampered(model, lambda m, t: m["params"].update({name: value})))
    _rejected(path, re.escape(f"its constructor parameter '{name}' is out of range"))


def test_float_parameters_beyond_float_range_are_rejected(tmp_path, model):
    meta, tensors = gio._contents(model)
    text = gio.json.dumps(meta, sort_keys=True).replace('"tol": 0.001', '"tol": 1e400')
    assert "1e400" in text
    path = _file(tmp_path, gio._serialize(meta, tensors, meta_text=text))
    _rejected(path, re.escape("its constructor parameter 'tol' is inf (not finite)"))
    path = _file(tmp_path, _tampered(model, lambda m, t: m["params"].update(tol=[1, 2])))
    _rejected(path, "parameter 'tol' is a JSON list, not a number")


@pytest.mark.parametrize("device", ["meta", "banana", "cuda:-1", "cpu;rm -rf", ""])
def test_a_device_no_model_is_fitted_on_is_rejected(tmp_path, model, device):
    if "device" not in GaussianMixture().get_params():
        pytest.skip("this GaussianMixture has no device parameter")
    path = _file(tmp_path, _tampered(model, lambda m, t: m["params"].update(device=device)))
    _rejected(path, "is not a device a model is fitted on")


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:7", "mps", "auto"])
def test_a_model_fitted_on_any_real_device_loads_anywhere(tmp_path, model, device):
    path = _file(tmp_path, _tampered(model, lambda m, t: m["params"].update(device=device)))
    loaded = load(path)
    assert loaded.device == device
    np.testing.assert_array_equal(loaded.means_, model.means_)


# -- weights that sum to 1 only nearly ---------------------------------------------------
@pytest.mark.parametrize("excess", [5e-9, -5e-9, 9.9e-9])
def test_weights_within_1e8_of_one_are_renormalised_so_sampling_works(tmp_path, model, excess):
    def nudge(meta: dict, tensors: dict) -> None:
        tensors["weights"] = tensors["weights"] + excess / 2

    loaded = load(_file(tmp_path, _tampered(model, nudge)))
    assert abs(loaded.weights_.sum() - 1.0) <= 4 * np.finfo(float).eps
    samples, labels = loaded.sample(1000)
    assert samples.shape == (1000, 2) and set(labels) <= {0, 1}


def test_a_saved_model_round_trips_bitwise(tmp_path, model):
    model.save(tmp_path / "m.gmm")
    loaded = load(tmp_path / "m.gmm")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(loaded, name).tobytes() == getattr(model, name).tobytes()


# -- saving never writes a file that load rejects ----------------------------------------
def test_save_after_set_params_n_components_refuses_and_writes_nothing(tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.save(tmp_path / "m.gmm")
    before = (tmp_path / "m.gmm").read_bytes()
    gm.set_params(n_components=5)
    with pytest.raises(ValueError, match=r"n_components is 5 but it was fitted with 2 comp"):
        gm.save(tmp_path / "m.gmm")
    with pytest.raises(ValueError, match="set n_components=2 back"):
        gm.save(tmp_path / "new.gmm")
    assert (tmp_path / "m.gmm").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gmm"]
    gm.set_params(n_components=2)  # as it was: saves and loads again
    gm.save(tmp_path / "m.gmm")
    assert load(tmp_path / "m.gmm").n_components == 2


@pytest.mark.parametrize("covariance_type", ["diag", "tied", "spherical", "banana"])
def test_save_after_set_params_covariance_type_refuses_and_writes_nothing(
    tmp_path, covariance_type
):
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.set_params(covariance_type=covariance_type)
    with pytest.raises(ValueError, match="Cannot save this model: the file would not load back"):
        gm.save(tmp_path / "m.gmm")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_init_arrays_that_no_longer_fit_the_model(tmp_path):
    gm = GaussianMixture(2, random_state=0, weights_init=[0.5, 0.5]).fit(X)
    gm.set_params(weights_init=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"would not load back .*weights_init"):
        gm.save(tmp_path / "m.gmm")
    assert list(tmp_path.iterdir()) == []


# -- model files that lie: valid digests over arrays no fit can give ----------------------
_C, _S = np.cos(np.pi / 4), np.sin(np.pi / 4)
_FACTORS = {
    "-I": (-np.eye(2), "precision factors do not have a positive diagonal"),
    "rotated 90 degrees": (
        np.array([[0.0, -1.0], [1.0, 0.0]]),
        "precision factors are not upper triangular",
    ),
    "rotated 45 degrees": (
        np.array([[_C, -_S], [_S, _C]]),
        "precision factors are not upper triangular",
    ),
    "lower triangular": (
        np.array([[1.0, 0.0], [0.5, 1.0]]),
        "precision factors are not upper triangular",
    ),
    "2I": (2 * np.eye(2), "precision factors do not match the covariances"),
}


def _set_factor(covariance_type: str, factor: np.ndarray) -> Any:
    """A change putting covariance I and ``factor`` in component 0 (or the tied one)."""

    def change(meta: dict, tensors: dict) -> None:
        at = () if covariance_type == "tied" else (0,)
        tensors["covariances"][at] = np.eye(2)
        tensors["precisions_cholesky"][at] = factor

    return change


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("factor", list(_FACTORS))
def test_a_factor_that_is_not_the_canonical_one_is_rejected(
    tmp_path, models, covariance_type, factor
):
    # P^T I P = I for every one of these but 2I: the old check let them all load, and
    # -I, 90 degrees gave NaN scores, 45 degrees log-likelihoods silently off by 0.69.
    value, match = _FACTORS[factor]
    path = _file(tmp_path, _tampered(models[covariance_type], _set_factor(covariance_type, value)))
    _rejected(path, "it does not hold a valid mixture: its " + match)


def _tiny_variances(meta: dict, tensors: dict) -> None:
    tensors["covariances"][0] = 1e-310  # subnormal, with the factors it implies
    tensors["precisions_cholesky"][0] = 1 / np.sqrt(1e-310)


def _negative_factors(meta: dict, tensors: dict) -> None:
    tensors["precisions_cholesky"][0] *= -1


def _far_means(meta: dict, tensors: dict) -> None:
    tensors["means"][0, 0] = 1e300


def _huge_covariances(meta: dict, tensors: dict) -> None:
    tensors["covariances"][...] *= 1e300
    tensors["precisions_cholesky"][...] /= 1e150


LIES = {
    ("diag", "tiny variances"): (_tiny_variances, r"precision factors reach 1e\+155, beyond"),
    ("spherical", "tiny variances"): (_tiny_variances, r"precision factors reach 1e\+155"),
    ("diag", "negative factors"): (_negative_factors, "precision factors are not all positive"),
    ("spherical", "negative factors"): (
        _negative_factors,
        "precision factors are not all positive",
    ),
    **{(t, "means 1e300"): (_far_means, r"means reach 1e\+300, beyond 1e\+140") for t in TYPES},
    **{(t, "covariances 1e300"): (_huge_covariances, "covariances reach") for t in TYPES},
}


@pytest.mark.parametrize("case", list(LIES), ids=[" ".join(c) for c in LIES])
def test_numbers_no_fit_can_give_are_rejected(tmp_path, models, case):
    change, match = LIES[case]
    path = _file(tmp_path, _tampered(models[case[0]], change))
    _rejected(path, "it does not hold a valid mixture: its " + match)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_a_zero_weight_is_valid_and_predicts_finitely(tmp_path, models, covariance_type):
    def zero(meta: dict, tensors: dict) -> None:
        tensors["weights"][:] = [1.0, 0.0]

    loaded = load(_file(tmp_path, _tampered(models[covariance_type], zero)))
    assert np.all(np.isfinite(loaded.score_samples(X)))
    np.testing.assert_array_equal(loaded.predict_proba(X)[:, 1], 0.0)


def test_gaussmix_score_of_a_lying_file_is_status_2_not_nan(tmp_path, models):
    data = tmp_path / "d.csv"
    np.savetxt(data, X, delimiter=",", header="a,b", comments="")
    path = _file(tmp_path, _tampered(models["full"], _set_factor("full", -np.eye(2))))
    code, _, err = run_cli(["score", path, data])
    assert code == 2 and err.count("\n") == 1 and "nan" not in err.lower(), err
    assert "does not hold a valid mixture: its precision factors do not have a positive" in err
