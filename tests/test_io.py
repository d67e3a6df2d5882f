"""Model files: exact round trips, pickle, and rejection of every kind of bad file."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture, ModelFileError, load
from gaussmix import io as gio
from gaussmix.datasets import load_old_faithful

TYPES = ("full", "tied", "diag", "spherical")
ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_old_faithful()[0]


@pytest.fixture(scope="module")
def models(faithful: np.ndarray) -> dict[str, GaussianMixture]:
    return {
        t: GaussianMixture(3, covariance_type=t, random_state=0, n_init=2).fit(faithful)
        for t in TYPES
    }


@pytest.fixture
def saved(models: dict[str, GaussianMixture], tmp_path) -> bytes:
    path = tmp_path / "full.gmm"
    models["full"].save(path)
    return path.read_bytes()


def _assert_same(a: GaussianMixture, b: GaussianMixture, X: np.ndarray) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), name  # bitwise
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key])
    assert (a.converged_, a.n_iter_, a.lower_bound_) == (b.converged_, b.n_iter_, b.lower_bound_)
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.n_features_in_ == b.n_features_in_
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.predict_proba(X).tobytes() == b.predict_proba(X).tobytes()
    assert a.score_samples(X).tobytes() == b.score_samples(X).tobytes()
    assert a.bic(X) == b.bic(X)
    np.testing.assert_array_equal(a.sample(7)[0], b.sample(7)[0])


@pytest.mark.parametrize("covariance_type", TYPES)
def test_round_trip_is_exact(models, faithful, tmp_path, covariance_type):
    model = models[covariance_type]
    path = tmp_path / "model.gmm"
    assert model.save(path) == path
    loaded = load(path)
    assert type(loaded) is GaussianMixture
    _assert_same(model, loaded, faithful)
    assert not hasattr(loaded, "feature_names_in_")
    # str paths work too, and saving again gives the same bytes (deterministic).
    loaded.save(str(tmp_path / "again.gmm"))
    assert (tmp_path / "again.gmm").read_bytes() == path.read_bytes()


def test_round_trip_keeps_feature_names_params_and_init_arrays(faithful, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    model = GaussianMixture(
        2,
        covariance_type="diag",
        tol=1e-5,
        max_iter=50,
        means_init=[[2.0, 55.0], [4.3, 80.0]],
        weights_init=[0.4, 0.6],
        random_state=3,
    ).fit(frame)
    path = tmp_path / "named.gmm"
    model.save(path)
    loaded = load(path)
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    assert loaded.tol == 1e-5 and loaded.max_iter == 50 and loaded.random_state == 3
    np.testing.assert_array_equal(loaded.means_init, model.means_init)
    np.testing.assert_array_equal(loaded.weights_init, model.weights_init)
    _assert_same(model, loaded, frame)
    # The loaded model refits like the original.
    refit = loaded.fit(frame)
    np.testing.assert_array_equal(refit.means_, model.means_)


def test_random_state_instance_is_stored_as_none(faithful, tmp_path):
    model = GaussianMixture(2, random_state=np.random.RandomState(0)).fit(faithful)
    model.save(tmp_path / "m.gmm")
    assert load(tmp_path / "m.gmm").random_state is None


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaussianMixture().save(tmp_path / "m.gmm")
    assert not list(tmp_path.iterdir())


def test_pickle_still_works(models, faithful):
    for model in models.values():
        _assert_same(model, pickle.loads(pickle.dumps(model)), faithful)


def test_interrupted_save_leaves_the_old_file_and_no_temporary(models, tmp_path, monkeypatch):
    path = tmp_path / "m.gmm"
    models["diag"].save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(KeyboardInterrupt):
        models["full"].save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gmm"]


def test_save_file_mode_follows_umask(models, tmp_path):
    path = tmp_path / "m.gmm"
    models["tied"].save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# -- rejection ------------------------------------------------------------------------
def _reject(tmp_path, data: bytes, match: str | None = None) -> ModelFileError:
    # A fresh name each time: rewriting one file in place is slow on some file systems.
    path = tmp_path / "bad.gmm"
    path.write_bytes(data)
    try:
        with pytest.raises(ModelFileError, match=match) as info:
            load(path)
    finally:
        path.unlink()
    message = str(info.value)
    assert "\n" not in message and "bad.gmm" in message
    return info.value


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such model file"):
        load(tmp_path / "nope.gmm")


def test_directory(tmp_path):
    with pytest.raises(ModelFileError, match="directory"):
        load(tmp_path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
    assert gaussmix.ModelFileError is gio.ModelFileError


@pytest.mark.parametrize("keep", [0, 3, 8, 9, 40, -200, -9, -1])
def test_truncated(saved, tmp_path, keep):
    _reject(tmp_path, saved[:keep])


def test_every_truncation(saved, tmp_path):
    for keep in range(0, len(saved), 7):
        _reject(tmp_path, saved[:keep])


def test_extra_bytes(saved, tmp_path):
    _reject(tmp_path, saved + b"\0", match="extra bytes")


def test_every_single_bit_flip_is_detected(saved, tmp_path):
    """A bit flipped anywhere (length, header, metadata, digest or arrays) is caught."""
    for position in range(len(saved)):
        corrupt = bytearray(saved)
        corrupt[position] ^= 1 << (position % 8)
        _reject(tmp_path, bytes(corrupt))


def test_all_bits_of_some_bytes(saved, tmp_path):
    rng = np.random.default_rng(0)
    for position in rng.choice(len(saved), 24, replace=False):
        for bit in range(8):
            corrupt = bytearray(saved)
            corrupt[position] ^= 1 << bit
            _reject(tmp_path, bytes(corrupt))


def test_oversized_header_is_rejected_before_reading(tmp_path):
    data = struct.pack("<Q", 2**40) + b"{}"
    _reject(tmp_path, data, match="header length")
    _reject(tmp_path, struct.pack("<Q", gio.MAX_HEADER_BYTES + 1) + b" " * 64, "header length")
    _reject(tmp_path, struct.pack("<Q", 1000) + b"{}", match="truncated")


def test_not_safetensors(tmp_path):
    _reject(tmp_path, b"eruptions,waiting\n3.6,79\n")
    _reject(tmp_path, b"")
    _reject(tmp_path, pickle.dumps({"a": 1}))
    header = b'["not", "an object"]'
    _reject(tmp_path, struct.pack("<Q", len(header)) + header, match="not a JSON object")
    header = b"{bad json"
    _reject(tmp_path, struct.pack("<Q", len(header)) + header, match="not valid JSON")


def test_plain_safetensors_without_metadata(tmp_path):
    from safetensors.numpy import save

    _reject(tmp_path, save({"weights": np.ones(1)}), match="no gaussmix metadata")


# -- tampered files with a valid digest: the content checks ----------------------------------
def _parts(model: GaussianMixture) -> tuple[dict, dict]:
    """The metadata and tensors that save() would write, to tamper with."""
    meta = {
        "format": gio.FORMAT_NAME,
        "format_version": gio.FORMAT_VERSION,
        "gaussmix_version": gaussmix.__version__,
        "covariance_type": model.covariance_type,
        "n_components": model.n_components,
        "n_features": model.n_features_in_,
        "feature_names": None,
        "params": {
            k: v
            for k, v in model.get_params().items()
            if k not in ("weights_init", "means_init", "precisions_init")
        },
        "fit": {
            "converged": bool(model.converged_),
            "n_iter": model.n_iter_,
            "lower_bound": model.lower_bound_,
            "lower_bounds": list(model.lower_bounds_),
        },
    }
    if hasattr(model, "n_reseeds_"):
        meta["fit"]["n_reseeds"] = model.n_reseeds_
    tensors = {
        name: np.array(getattr(model, name + "_"))
        for name in ("weights", "means", "covariances", "precisions_cholesky")
    }
    return meta, tensors


def _write(tmp_path, meta, tensors) -> bytes:
    return gio._serialize(meta, tensors)


def test_serialize_matches_save(models, tmp_path):
    model = models["full"]
    model.save(tmp_path / "m.gmm")
    assert _write(tmp_path, *_parts(model)) == (tmp_path / "m.gmm").read_bytes()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m, t: m.update(format_version=2), "format version 2.*upgrade gaussmix"),
        (lambda m, t: m.update(format_version=0), "format version 0 is invalid"),
        (lambda m, t: m.update(format_version="1"), "format version '1' is invalid"),
        (lambda m, t: m.update(format="pickle"), "format is 'pickle'"),
        (lambda m, t: m.pop("fit"), "lacks fit"),
        (lambda m, t: m.pop("covariance_type"), "lacks covariance_type"),
        (lambda m, t: m.update(covariance_type="banana"), "covariance type 'banana'"),
        (lambda m, t: m.update(n_components=0), "n_components 0"),
        (lambda m, t: m.update(n_components=2), "shape"),
        (lambda m, t: m.update(n_features=3), "shape"),
        (lambda m, t: m.update(covariance_type="diag"), "shape"),
        (lambda m, t: m.update(feature_names=["a"]), "feature names"),
        (lambda m, t: m.update(params=[1]), "constructor parameters"),
        (lambda m, t: m["params"].update(tol=-1.0), "constructor parameters are invalid"),
        (lambda m, t: m["params"].update(n_components=4), "disagree"),
        (lambda m, t: m["fit"].update(n_iter=-1), "fit summary is malformed"),
        (lambda m, t: m["fit"].update(converged="yes"), "fit summary is malformed"),
        (lambda m, t: m["fit"].update(extra=1), "fit summary must have"),
        (lambda m, t: m["fit"].update(n_reseeds=-2), "fit summary is malformed"),
        (lambda m, t: m["fit"].update(lower_bound=1.0), "last of its lower_bounds"),
        (lambda m, t: t.update(means=t["means"][:, :1].copy()), "shape"),
        (lambda m, t: t.update(weights=t["weights"][:2].copy()), "shape"),
        (lambda m, t: t.pop("precisions_cholesky"), "lacks the array"),
        (lambda m, t: t.update(extra=np.ones(2)), "unknown array"),
        (lambda m, t: t["weights"].__setitem__(0, 0.9), "sum to"),
        (lambda m, t: t["weights"].__setitem__(slice(None), [1.5, -0.25, -0.25]), "non-negative"),
        (lambda m, t: t["means"].__setitem__((0, 0), np.nan), "NaN or infinite"),
        (lambda m, t: t["covariances"].__setitem__((1, 0, 0), np.inf), "NaN or infinite"),
        (lambda m, t: t["covariances"].__setitem__((0, 0, 1), 5.0), "not symmetric"),
        (lambda m, t: t["covariances"].__setitem__(0, -np.eye(2)), "not positive definite"),
        (lambda m, t: t["precisions_cholesky"].__setitem__((0, 0, 0), 3.0), "do not match"),
    ],
)
def test_tampered_content(models, tmp_path, change, match):
    meta, tensors = _parts(models["full"])
    change(meta, tensors)
    _reject(tmp_path, _write(tmp_path, meta, tensors), match=match)


@pytest.mark.parametrize(
    ("covariance_type", "change", "match"),
    [
        ("diag", lambda t: t["covariances"].__setitem__((0, 0), -1.0), "not all positive"),
        ("spherical", lambda t: t["covariances"].__setitem__(0, 0.0), "not all positive"),
        ("diag", lambda t: t["precisions_cholesky"].__setitem__((0, 0), 9.0), "do not match"),
        ("spherical", lambda t: t["precisions_cholesky"].__setitem__(1, 1e-3), "do not match"),
        ("tied", lambda t: t["covariances"].__setitem__((0, 1), 1e3), "not symmetric"),
        ("tied", lambda t: t["covariances"].__setitem__(..., [[1, 2], [2, 1]]), "definite"),
        ("tied", lambda t: t["precisions_cholesky"].__setitem__((1, 1), 7.0), "do not match"),
    ],
)
def test_tampered_content_other_types(models, tmp_path, covariance_type, change, match):
    meta, tensors = _parts(models[covariance_type])
    change(tensors)
    _reject(tmp_path, _write(tmp_path, meta, tensors), match=match)


def test_wrong_dtype_is_rejected(models, tmp_path):
    from safetensors.numpy import save

    meta, tensors = _parts(models["full"])
    data = _write(tmp_path, meta, tensors)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    tensors32 = {k: v.astype(np.float32) for k, v in tensors.items()}
    raw = save(tensors32, metadata=header["__metadata__"])
    _reject(tmp_path, raw, match="dtype 'F32'")


def test_infinite_constants_in_metadata_are_rejected(models, tmp_path):
    meta, tensors = _parts(models["full"])
    meta["fit"]["lower_bound"] = float("inf")
    text = json.dumps(meta)  # writes Infinity, which strict JSON (and the loader) rejects
    _reject(tmp_path, gio._serialize(meta, tensors, meta_text=text), match="Infinity")


def test_loading_never_unpickles(tmp_path):
    """A pickle payload renamed to .gmm is rejected without running its code."""

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    _reject(tmp_path, pickle.dumps(Boom()))
    assert not (tmp_path / "pwned").exists()


def test_max_iter_zero_round_trip(faithful, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GaussianMixture(2, max_iter=0, random_state=0).fit(faithful)
    model.save(tmp_path / "m.gmm")
    loaded = load(tmp_path / "m.gmm")
    assert loaded.lower_bounds_ == [] and loaded.lower_bound_ == -np.inf
    np.testing.assert_array_equal(loaded.means_, model.means_)


def test_device_round_trips_and_never_blocks_loading(faithful, models, tmp_path):
    if "device" not in GaussianMixture().get_params():
        pytest.skip("this GaussianMixture has no device parameter")
    model = GaussianMixture(2, device="cpu", random_state=0).fit(faithful)
    model.save(tmp_path / "cpu.gmm")
    assert load(tmp_path / "cpu.gmm").device == "cpu"
    # A model saved on a GPU machine loads on any machine (the device is checked on use).
    meta, tensors = _parts(models["full"])
    meta["params"]["device"] = "cuda:7"
    path = tmp_path / "gpu.gmm"
    path.write_bytes(gio._serialize(meta, tensors))
    loaded = load(path)
    assert loaded.device == "cuda:7"
    np.testing.assert_array_equal(loaded.means_, models["full"].means_)
    meta["params"]["device"] = 3
    _reject(tmp_path, gio._serialize(meta, tensors), match="device 3 is not a string")
