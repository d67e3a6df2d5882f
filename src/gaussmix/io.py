"""Model files: ``GaussianMixture.save(path)``, ``BayesianGaussianMixture.save(path)``
and ``gaussmix.load(path)``.

A model file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file:
an 8-byte little-endian header length, a JSON header, then the raw float64
arrays. Loading it never executes code (unlike pickle), so a model file from an
untrusted source is safe to open: the worst it can do is be rejected.

Layout
------
Tensors (all ``F64``, shapes as in scikit-learn; K components, d features):

===========================  ==============================================
``weights``                  (K,)
``means``                    (K, d)
``covariances``              full (K, d, d), tied (d, d), diag (K, d), spherical (K,)
``precisions_cholesky``      same shape as ``covariances``
``init.weights_init`` …      only when the constructor was given initial arrays
``noise.weight``             (1,), with a noise component: its proportion
``noise.box``                (2, d), with a noise component: its box's corners
``noise.axes``               (d, d), with a noise component: the box's axes
``init.noise``               (m,), the initial noise rows' indices, when ``noise``
                             was given them (or a mask; the parameter is saved as
                             ``true`` in the JSON and the indices here)
===========================  ==============================================

A ``BayesianGaussianMixture`` file (format ``gaussmix.BayesianGaussianMixture``)
holds the same four arrays (``weights`` is the posterior mean of the weights) and
the posterior and the resolved prior:

================================  =========================================
``weight_concentration``          (K,); for 'dirichlet_process' (2, K), the pair
``mean_precision``                (K,)
``degrees_of_freedom``            (K,); for 'tied' a 0-d array
``prior.weight_concentration``    0-d (likewise ``prior.mean_precision`` and
                                  ``prior.degrees_of_freedom``)
``prior.mean``                    (d,)
``prior.covariance``              (d, d) for 'full' and 'tied', (d,) 'diag', 0-d
``init.mean_prior`` …             only when the constructor was given arrays
================================  =========================================

Beyond the checks below, its loader checks that the posterior is one the
variational M-step makes from the prior: concentrations, mean precisions and
degrees of freedom made of the same non-negative responsibility masses, and
hyperparameters given to the constructor equal to the stored prior's.

The header's ``__metadata__`` holds two strings: ``gaussmix``, a JSON document
(format name and version, gaussmix version, covariance type, ``n_components``,
``n_features``, feature names, constructor parameters and the fit summary:
``converged``, ``n_iter``, ``lower_bound``, ``lower_bounds``), and ``sha256``, a
digest of that document and of every array's bytes, so that any accidental
corruption (a flipped bit, a truncated copy) is detected.

The loader checks everything before it builds a model: the header's size and
structure, the format name and version, the required keys, dtypes, shapes
consistent with the covariance type, K and d, the digest, finite values,
symmetric positive-definite covariances, precision Cholesky factors consistent
with them, and weights that are non-negative and sum to 1. Any failure raises
:class:`ModelFileError` (a :class:`ValueError`) with one message that says what
is wrong. Only a regular file is opened (never blocking: a FIFO is refused), and
a file that is recognisably something else (CSV text, ``.npy``, Parquet) says so.

Saving writes to a temporary file in the same directory and renames it over the
target, so an interrupted save never leaves a half-written file, and it first
reads the bytes back through the loader's checks: a file that would not load
(a model whose ``n_components`` was changed by ``set_params`` after its fit, for
example) is refused with a ``ValueError`` before anything is written.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import numbers
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ._core.covariance import Params, covariance_names, get_covariance
from ._files import open_regular
from ._outputs import atomic_write
from ._version import __version__

if TYPE_CHECKING:
    from ._core.covariance import Covariance
    from ._mixture import MixtureBase

__all__ = [
    "BAYESIAN_FORMAT_NAME",
    "BAYESIAN_FORMAT_VERSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "load",
    "load_with_metadata",
    "save",
]

FORMAT_NAME = "gaussmix.GaussianMixture"
FORMAT_VERSION = 1
BAYESIAN_FORMAT_NAME = "gaussmix.BayesianGaussianMixture"
BAYESIAN_FORMAT_VERSION = 1
MAX_HEADER_BYTES = 16 * 2**20
"""The largest JSON header the loader reads (a sanity bound, checked before reading)."""

_ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")
_NOISE_ARRAYS = ("noise.weight", "noise.box", "noise.axes")
_META_KEYS = {
    "format",
    "format_version",
    "gaussmix_version",
    "covariance_type",
    "n_components",
    "n_features",
    "feature_names",
    "params",
    "fit",
}
_FIT_KEYS = {"converged", "n_iter", "lower_bound", "lower_bounds"}
_OPTIONAL_FIT_KEYS = {"n_reseeds"}
_MAX_PARAM_INT = 2**63  # a constructor parameter beyond it is no count or seed of a real fit
_SAVED_DEVICE = re.compile(r"(cpu|cuda|mps|xpu)(:\d+)?|auto")
"""The devices a model can have been fitted on (whether one exists here is checked on use)."""
_DATA_FILES = (  # how other files begin, to say what a file given as a model is
    (b"\x93NUMPY", "a NumPy .npy data file"),
    (b"PAR1", "a Parquet data file"),
    (b"\x1f\x8b", "a gzip-compressed file (data, such as a .csv.gz?)"),
    (b"PK\x03\x04", "a zip archive (such as an .npz data file)"),
    (codecs.BOM_UTF8, "a data file (CSV/text)"),
    (codecs.BOM_UTF16_LE, "a data file (CSV/text)"),
    (codecs.BOM_UTF16_BE, "a data file (CSV/text)"),
)
_TEXT_BYTES = frozenset(b"\t\n\r") | frozenset(range(0x20, 0x7F))


class ModelFileError(ValueError):
    """A model file is corrupt, truncated, tampered with, incomplete or of an unknown format."""


class _OtherFile(ModelFileError):
    """The file is recognisably something else (its message says what)."""


# -- writing ---------------------------------------------------------------------
def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        value = value.detach().cpu().numpy()
    return np.array(value, dtype=np.float64, order="C")  # (0-d values stay 0-d)


def _json_param(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if name == "device":
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]  # names, as fix= holds
    if name == "prior" and isinstance(value, Mapping):  # hyperparameters: numbers, lists
        return {str(k): _json_number_or_list(v) for k, v in value.items()}
    # A RandomState instance (or any other object) cannot be stored without code.
    return None


def _json_number_or_list(value: Any) -> Any:
    """A number, or (nested) lists of numbers, as JSON holds them (None when neither)."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        return None
    return array.astype(np.float64).tolist()


def _digest(meta_text: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    h.update(meta_text.encode("utf-8"))
    for name in sorted(tensors):
        h.update(b"\0" + name.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(tensors[name], dtype="<f8").tobytes())
    return h.hexdigest()


def _serialize(
    meta: dict[str, Any], tensors: dict[str, np.ndarray], *, meta_text: str | None = None
) -> bytes:
    """The safetensors bytes of ``tensors`` with gaussmix metadata, deterministically.

    Written here rather than by ``safetensors.numpy.save`` (whose metadata order
    varies from run to run) so that saving a model twice gives identical files;
    the result is a standard safetensors file that the library reads.
    """
    if meta_text is None:
        meta_text = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    header: dict[str, Any] = {
        "__metadata__": {"gaussmix": meta_text, "sha256": _digest(meta_text, tensors)}
    }
    blobs = []
    offset = 0
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f8").tobytes()
        header[name] = {
            "dtype": "F64",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # the arrays start 8-byte aligned
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def _contents(model: MixtureBase) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata document and the arrays a model file of ``model`` holds."""
    fmt = _format_of(model)
    tensors = fmt.fitted(model)
    params = model.get_params(deep=False)
    json_params = {}
    for name, value in params.items():
        if name in fmt.constructor_arrays and not isinstance(value, numbers.Real):
            if value is not None:
                tensors["init." + name] = _numpy(value)
        else:
            json_params[name] = _json_param(name, value)
    noise = params.get("noise")
    if noise is not None and not isinstance(noise, (bool, np.bool_)):  # the initial noise rows
        rows = np.asarray(noise)
        tensors["init.noise"] = _numpy(np.flatnonzero(rows) if rows.dtype == bool else rows)
        json_params["noise"] = True
    names = getattr(model, "feature_names_in_", None)
    meta: dict[str, Any] = {
        "format": fmt.name,
        "format_version": fmt.version,
        "gaussmix_version": __version__,
        "covariance_type": str(model.covariance_type),
        "n_components": int(tensors["means"].shape[0]),
        "n_features": int(tensors["means"].shape[1]),
        "feature_names": None if names is None else [str(n) for n in names],
        "params": json_params,
        "fit": {
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
            # -inf (no iteration ran) is not JSON: it is stored as null.
            "lower_bound": float(model.lower_bound_) if np.isfinite(model.lower_bound_) else None,
            "lower_bounds": [float(b) for b in model.lower_bounds_],
        },
    }
    if hasattr(model, "n_reseeds_"):
        meta["fit"]["n_reseeds"] = int(model.n_reseeds_)
    return meta, tensors


def save(
    model: MixtureBase,
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write a fitted model to ``path`` (see the module docstring for the format).

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        A fitted model.
    path : path-like
        Destination; replaced atomically if it exists. ``.gmm`` is a good suffix.
    inputs : iterable of path-like
        Files the caller read (its data): ``path`` must not be one of them
        (:class:`gaussmix._outputs.OutputIsInputError`, nothing written).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    ValueError
        If the file would not load back, for example because ``set_params``
        changed ``n_components`` or ``covariance_type`` after the fit (the fitted
        arrays describe the old model; as in scikit-learn, only the next fit
        reads the new value). Nothing is written then.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    fitted = np.shape(model.means_)[0]
    if model.n_components != fitted:
        raise ValueError(
            f"Cannot save this model: its n_components is {model.n_components!r} but it was "
            f"fitted with {fitted} components (set_params changed it after the fit; the "
            f"fitted arrays are the old model's). Fit it again, or set n_components={fitted} "
            "back, before saving."
        )
    meta, tensors = _contents(model)
    data = _serialize(meta, tensors)
    try:  # the loader's own checks: a saved file always loads
        _read(io.BytesIO(data), len(data))
    except ModelFileError as exc:
        raise ValueError(
            f"Cannot save this model: the file would not load back ({exc}). If set_params "
            "changed a parameter after the fit, fit again or set it back before saving."
        ) from None
    with atomic_write(path, "wb", inputs=inputs) as f:
        f.write(data)
    return Path(path)


# -- reading ---------------------------------------------------------------------
def load(path: str | os.PathLike[str]) -> Any:
    """Read a model written by ``save`` (of either estimator), validating everything.

    No code from the file is ever executed.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    GaussianMixture or BayesianGaussianMixture
        A fitted model of the class that saved it, whose arrays are bitwise those
        that were saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        (a ValueError) If the file is not a valid gaussmix model file: truncated,
        corrupt, tampered with, of an unknown format version, or holding
        parameters that do not describe a valid mixture.
    """
    return load_with_metadata(path)[0]


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Like :func:`load`, also returning the file's metadata (format, versions, fit summary)."""
    path = Path(path)
    try:
        f, kind = open_regular(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such model file: '{path}'.") from None
    except PermissionError:
        raise
    except OSError as exc:  # a symbolic-link loop, a name too long, ...
        raise ModelFileError(f"'{path}' cannot be opened: {exc.strerror or exc}.") from None
    if f is None:
        raise ModelFileError(
            f"'{path}' is {kind}, not a gaussmix model file (a regular file written by "
            "a gaussmix estimator's save)."
        )
    try:
        with f:
            return _read(f, os.fstat(f.fileno()).st_size)
    except _OtherFile as exc:
        raise ModelFileError(f"'{path}': this looks like {exc}") from None
    except ModelFileError as exc:
        raise ModelFileError(f"'{path}' is not a valid gaussmix model file: {exc}.") from None


def _read(f: IO[bytes], size: int) -> tuple[Any, dict[str, Any]]:
    """The model in the ``size`` bytes of ``f``, every part checked before the next is read."""
    prefix = f.read(8)
    header_len = _check_header_length(prefix, size)
    header_bytes = f.read(header_len)
    header = _parse_header(header_bytes)
    layout, data_len = _check_layout(header)
    if 8 + header_len + data_len != size:
        raise ModelFileError(
            f"the file holds {size} bytes but its header describes "
            f"{8 + header_len + data_len}: it is truncated or has extra bytes"
        )
    data = f.read(data_len)
    return _build(header, layout, prefix + header_bytes + data)


def _check_header_length(prefix: bytes, size: int) -> int:
    header_len = int.from_bytes(prefix, "little")
    if len(prefix) < 8 or header_len < 2 or header_len > MAX_HEADER_BYTES:
        other = _other_file(prefix)
        if other:
            raise _OtherFile(f"{other}, not a gaussmix model file; did you swap the arguments?")
    if len(prefix) < 8:
        raise ModelFileError(f"it is only {size} bytes long (truncated or empty)")
    if header_len < 2 or header_len > MAX_HEADER_BYTES:
        raise ModelFileError(
            f"its header length {header_len} is outside 2..{MAX_HEADER_BYTES} bytes "
            "(not a safetensors file, or corrupt)"
        )
    if header_len > size - 8:
        raise ModelFileError(
            f"its header claims {header_len} bytes but only {size - 8} follow (truncated)"
        )
    return header_len


def _other_file(prefix: bytes) -> str:
    """What kind of file begins with ``prefix`` (the first 8 bytes), if it is recognisable.

    A model file begins with its header's length: little-endian, so its last
    bytes are zeros. Eight bytes of text (or a byte-order mark) are a text file's.
    """
    for magic, what in _DATA_FILES:
        if prefix.startswith(magic):
            return what
    if prefix and set(prefix) <= _TEXT_BYTES:
        return "a data file (CSV/text)"
    return ""


def _parse_header(header_bytes: bytes) -> dict[str, Any]:
    try:
        header = json.loads(header_bytes.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"its header is not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelFileError(_TOO_DEEP.format("header")) from None
    if not isinstance(header, dict):
        raise ModelFileError("its header is not a JSON object")
    return header


_TOO_DEEP = "its {} nests JSON arrays or objects thousands deep (a model file's nest a few deep)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def _check_layout(header: dict[str, Any]) -> tuple[dict[str, tuple[int, ...]], int]:
    """Tensor names and shapes, and the data length the header describes."""
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or set(meta) != {"gaussmix", "sha256"}:
        raise ModelFileError("its header has no gaussmix metadata (not a gaussmix model file)")
    names = set(header) - {"__metadata__"}
    layout: dict[str, tuple[int, ...]] = {}
    spans = []
    for name in names:
        info = header[name]
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"the entry of array '{name}' is malformed")
        if info["dtype"] != "F64":
            raise ModelFileError(f"array '{name}' has dtype {info['dtype']!r}, expected 'F64'")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(_is_count(s) for s in shape) and len(shape) <= 3):
            raise ModelFileError(f"array '{name}' has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
            raise ModelFileError(f"array '{name}' has invalid data offsets {offsets!r}")
        begin, end = offsets
        if end - begin != 8 * math.prod(shape):
            raise ModelFileError(f"array '{name}' has offsets that do not match its shape")
        layout[name] = tuple(shape)
        spans.append((begin, end))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise ModelFileError("its arrays overlap or leave gaps")
        position = end
    return layout, position


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _build(
    header: dict[str, Any], layout: dict[str, tuple[int, ...]], raw: bytes
) -> tuple[Any, dict[str, Any]]:
    from safetensors.numpy import load as st_load

    meta_text = header["__metadata__"]["gaussmix"]
    digest = header["__metadata__"]["sha256"]
    try:
        tensors = st_load(raw)
    except Exception as exc:  # the library's own error types vary between versions
        raise ModelFileError(f"safetensors could not decode it ({exc})") from None
    tensors = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
    if not isinstance(meta_text, str) or not isinstance(digest, str):
        raise ModelFileError("its metadata is malformed")
    if _digest(meta_text, tensors) != digest:
        raise ModelFileError(
            "its checksum does not match its contents (the file is corrupt or was modified)"
        )
    meta = _parse_meta(meta_text)
    fmt = _FORMATS[meta["format"]]
    cov = get_covariance(meta["covariance_type"])
    expected = fmt.shapes(meta, cov)
    missing = [n for n in expected if n not in layout]
    if missing:
        raise ModelFileError(f"it lacks the array(s) {', '.join(missing)}")
    allowed = {*expected, *fmt.optional_arrays, *("init." + n for n in fmt.constructor_arrays)}
    unknown = sorted(set(layout) - allowed)
    if unknown:
        raise ModelFileError(f"it has unknown array(s) {', '.join(unknown)}")
    K, d = meta["n_components"], meta["n_features"]
    for name, shape in expected.items():
        if layout[name] != shape:
            raise ModelFileError(
                f"array '{name}' has shape {layout[name]}, but a "
                f"{meta['covariance_type']!r} mixture with {K} components and {d} features "
                f"needs {shape}"
            )
    for name, array in tensors.items():
        if not np.all(np.isfinite(array)):
            raise ModelFileError(f"array '{name}' contains NaN or infinite values")
    params = dict(meta["params"])
    for name in fmt.constructor_arrays:
        if "init." + name in tensors:
            params[name] = tensors["init." + name]
        else:
            params.setdefault(name, None)
    # A model fitted on a GPU loads anywhere: its device is checked when it is used.
    device = params.get("device")
    if device is not None and not isinstance(device, str):
        raise ModelFileError(f"its device {device!r} is not a string")
    if device is not None and not _SAVED_DEVICE.fullmatch(device):
        raise ModelFileError(
            f"its device {device[:40]!r} is not a device a model is fitted on ('cpu', "
            "'cuda', 'cuda:N', 'mps', 'xpu' or 'auto')"
        )
    try:
        model = fmt.build(params, tensors, meta, cov)
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    return model, meta


# -- the formats -------------------------------------------------------------------
class _Format(NamedTuple):
    """One estimator's model files (see the module docstring's tables)."""

    name: str
    version: int
    constructor_arrays: tuple[str, ...]
    """Constructor parameters held as arrays (``init.NAME``) when they are arrays."""
    optional_arrays: tuple[str, ...]
    """Arrays a file may hold beyond ``shapes``' (checked by ``build``)."""
    fitted: Callable[[Any], dict[str, np.ndarray]]
    """A fitted model's arrays."""
    shapes: Callable[[dict[str, Any], Covariance], dict[str, tuple[int, ...]]]
    """Every fitted array's shape, given the metadata."""
    build: Callable[[dict[str, Any], dict[str, np.ndarray], dict[str, Any], Covariance], Any]
    """The model of the constructor parameters, arrays and metadata (ValueError if invalid)."""


def _mixture_arrays(model: Any) -> dict[str, np.ndarray]:
    arrays = {name: _numpy(getattr(model, name + "_")) for name in _ARRAYS}
    if "noise_weight_" in model.__dict__:
        arrays["noise.weight"] = np.array([model.noise_weight_], dtype=np.float64)
        arrays["noise.box"] = _numpy(model.noise_box_)
        arrays["noise.axes"] = _numpy(model.noise_axes_)
    return arrays


def _mixture_shapes(meta: dict[str, Any], cov: Covariance) -> dict[str, tuple[int, ...]]:
    K, d = meta["n_components"], meta["n_features"]
    return {
        "weights": (K,),
        "means": (K, d),
        "covariances": cov.form.shape(K, d),
        "precisions_cholesky": cov.form.shape(K, d),
    }


def _fit_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The fields every fitted state has beyond its parameters."""
    fit = meta["fit"]
    return {
        "n_features": meta["n_features"],
        "feature_names": meta["feature_names"],
        "converged": fit["converged"],
        "n_iter": fit["n_iter"],
        "lower_bound": fit["lower_bound"],
        "lower_bounds": fit["lower_bounds"],
    }


def _build_mixture(
    params: dict[str, Any], tensors: dict[str, np.ndarray], meta: dict[str, Any], cov: Covariance
) -> Any:
    from ._estimator import FittedState, GaussianMixture

    if "init.noise" in tensors:
        rows = tensors["init.noise"]
        if rows.ndim != 1 or np.any(rows < 0) or np.any(rows != np.round(rows)):
            raise ModelFileError("its initial noise rows are not row indices")
        if params.get("noise") is not True:
            raise ModelFileError("it has initial noise rows but its noise parameter is not true")
        params["noise"] = rows.astype(np.intp)
    weights, means, covariances, factors = (tensors[name] for name in _ARRAYS)
    noise = _noise(tensors, meta["n_features"])
    state = FittedState(
        params=Params(weights, means, covariances, factors, noise),
        covariance_type=cov.name,
        n_reseeds=meta["fit"].get("n_reseeds"),
        **_fit_summary(meta),
    )
    return GaussianMixture._from_state(params, state)


def _noise(tensors: dict[str, np.ndarray], d: int) -> Any:
    """The noise component a file holds (None without one), its arrays' shapes checked."""
    present = [name for name in _NOISE_ARRAYS if name in tensors]
    if not present:
        return None
    if len(present) != len(_NOISE_ARRAYS):
        missing = ", ".join(name for name in _NOISE_ARRAYS if name not in tensors)
        raise ModelFileError(f"its noise component lacks the array(s) {missing}")
    expected = {"noise.weight": (1,), "noise.box": (2, d), "noise.axes": (d, d)}
    for name, shape in expected.items():
        if tensors[name].shape != shape:
            got = tensors[name].shape
            raise ModelFileError(f"array '{name}' has shape {got}, expected {shape}")
    from ._core.noise import Noise

    low, high = tensors["noise.box"]
    return Noise(float(tensors["noise.weight"][0]), low, high, tensors["noise.axes"])


_POSTERIOR_ARRAYS = ("mean_precision", "degrees_of_freedom", "weight_concentration")
_PRIOR_ARRAYS = (  # the prior's fields, and the fitted attribute holding each
    ("weight_concentration", "weight_concentration_prior_"),
    ("mean_precision", "mean_precision_prior_"),
    ("mean", "mean_prior_"),
    ("degrees_of_freedom", "degrees_of_freedom_prior_"),
    ("covariance", "covariance_prior_"),
)


def _bayesian_arrays(model: Any) -> dict[str, np.ndarray]:
    arrays = _mixture_arrays(model)
    arrays.update({name: _numpy(getattr(model, name + "_")) for name in _POSTERIOR_ARRAYS})
    arrays.update({"prior." + field: _numpy(getattr(model, a)) for field, a in _PRIOR_ARRAYS})
    return arrays


def _weight_prior(meta: dict[str, Any]) -> Any:
    from ._core.variational import WEIGHT_PRIORS

    name = meta["params"].get("weight_concentration_prior_type")
    if not isinstance(name, str) or name not in WEIGHT_PRIORS:
        raise ModelFileError(
            f"its weight_concentration_prior_type {str(name)[:40]!r} is not one of "
            f"{sorted(WEIGHT_PRIORS)}"
        )
    return WEIGHT_PRIORS[name]


def _bayesian_shapes(meta: dict[str, Any], cov: Covariance) -> dict[str, tuple[int, ...]]:
    K, d = meta["n_components"], meta["n_features"]
    one = cov.form.shape(1, d)
    return {
        **_mixture_shapes(meta, cov),
        "mean_precision": (K,),
        "degrees_of_freedom": (K,) if cov.form.per_component else (),
        "weight_concentration": _weight_prior(meta).concentration_shape(K),
        "prior.weight_concentration": (),
        "prior.mean_precision": (),
        "prior.mean": (d,),
        "prior.degrees_of_freedom": (),
        "prior.covariance": one[1:] if cov.form.per_component else one,
    }


def _build_bayesian(
    params: dict[str, Any], tensors: dict[str, np.ndarray], meta: dict[str, Any], cov: Covariance
) -> Any:
    from ._bayesian import BayesianGaussianMixture, BayesianState
    from ._core.variational import Posterior, Prior

    def scalar_or_array(array: np.ndarray) -> Any:
        return float(array) if array.ndim == 0 else array

    posterior = Posterior(
        _weight_prior(meta).as_concentration(tensors["weight_concentration"]),
        tensors["mean_precision"],
        tensors["means"],
        scalar_or_array(tensors["degrees_of_freedom"]),
        tensors["covariances"],
        tensors["precisions_cholesky"],
    )
    prior = Prior(*(scalar_or_array(tensors["prior." + field]) for field, _ in _PRIOR_ARRAYS))
    state = BayesianState(
        posterior=posterior, prior=prior, covariance_type=cov.name, **_fit_summary(meta)
    )
    model = BayesianGaussianMixture._from_state(params, state)
    # The stored weights are redundant (the posterior's mean): they must agree.
    if not np.allclose(tensors["weights"], model.weights_, rtol=1e-12, atol=0.0):
        raise ValueError("its weights are not the posterior mean of its weight concentration")
    return model


_FORMATS = {
    f.name: f
    for f in (
        _Format(
            FORMAT_NAME,
            FORMAT_VERSION,
            ("weights_init", "means_init", "precisions_init"),
            (*_NOISE_ARRAYS, "init.noise"),
            _mixture_arrays,
            _mixture_shapes,
            _build_mixture,
        ),
        _Format(
            BAYESIAN_FORMAT_NAME,
            BAYESIAN_FORMAT_VERSION,
            ("mean_prior", "covariance_prior"),
            (),
            _bayesian_arrays,
            _bayesian_shapes,
            _build_bayesian,
        ),
    )
}


def _format_of(model: Any) -> _Format:
    from ._bayesian import BayesianGaussianMixture

    bayesian = isinstance(model, BayesianGaussianMixture)
    return _FORMATS[BAYESIAN_FORMAT_NAME if bayesian else FORMAT_NAME]


def _parse_meta(meta_text: str) -> dict[str, Any]:
    try:
        meta = json.loads(meta_text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ModelFileError(f"its metadata is not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelFileError(_TOO_DEEP.format("metadata")) from None
    if not isinstance(meta, dict):
        raise ModelFileError("its metadata is not a JSON object")
    name = meta.get("format")
    if not isinstance(name, str) or name not in _FORMATS:
        expected = " or ".join(repr(f) for f in _FORMATS)
        raise ModelFileError(f"its format is {str(name)[:60]!r}, expected {expected}")
    version: Any = meta.get("format_version")
    if not _is_count(version) or version < 1:
        raise ModelFileError(f"its format version {version!r} is invalid")
    if version > _FORMATS[name].version:
        raise ModelFileError(
            f"it uses format version {version} of {name}, written by gaussmix "
            f"{meta.get('gaussmix_version', '?')}; this gaussmix ({__version__}) reads "
            f"version {_FORMATS[name].version} only: upgrade gaussmix to load it"
        )
    missing = sorted(_META_KEYS - set(meta))
    if missing:
        raise ModelFileError(f"its metadata lacks {', '.join(missing)}")
    kind = meta["covariance_type"]
    if not isinstance(kind, str) or kind not in covariance_names():
        raise ModelFileError(f"its covariance type {meta['covariance_type']!r} is unknown")
    for key in ("n_components", "n_features"):
        if not _is_count(meta[key]) or meta[key] < 1:
            raise ModelFileError(f"its {key} {meta[key]!r} is not a positive integer")
    names = meta["feature_names"]
    if names is not None and not (
        isinstance(names, list)
        and len(names) == meta["n_features"]
        and all(isinstance(n, str) for n in names)
    ):
        raise ModelFileError("its feature names are not n_features strings")
    if not isinstance(meta["params"], dict):
        raise ModelFileError("its constructor parameters are not a JSON object")
    for name, value in meta["params"].items():
        problem = _param_problem(value)
        if problem:
            raise ModelFileError(f"its constructor parameter {str(name)[:40]!r} {problem}")
    fit = meta["fit"]
    if not isinstance(fit, dict) or not _FIT_KEYS <= set(fit) <= _FIT_KEYS | _OPTIONAL_FIT_KEYS:
        raise ModelFileError(
            f"its fit summary must have the keys {sorted(_FIT_KEYS)} "
            f"(and optionally {sorted(_OPTIONAL_FIT_KEYS)})"
        )
    if "n_reseeds" in fit and not _is_count(fit["n_reseeds"]):
        raise ModelFileError("its fit summary is malformed")
    bounds = fit["lower_bounds"]
    if not (
        isinstance(fit["converged"], bool)
        and _is_count(fit["n_iter"])
        and isinstance(bounds, list)
        and all(_is_finite_number(b) for b in bounds)
        and (_is_finite_number(fit["lower_bound"]) or (not bounds and fit["lower_bound"] is None))
    ):
        raise ModelFileError("its fit summary is malformed")
    if bounds and fit["lower_bound"] != bounds[-1]:
        raise ModelFileError("its lower_bound is not the last of its lower_bounds")
    fit["lower_bound"] = float(fit["lower_bound"]) if bounds else -np.inf
    fit["lower_bounds"] = [float(b) for b in bounds]
    return meta


def _param_problem(value: Any) -> str:
    """Why a stored constructor parameter is not one a fit can have had ('' if it is)."""
    if value is None or isinstance(value, (bool, str)):
        return ""
    if isinstance(value, int):
        return "" if abs(value) < _MAX_PARAM_INT else f"is out of range ({len(str(value))} digits)"
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"is {value} (not finite)"
    if isinstance(value, list) and len(value) <= 16 and all(isinstance(v, str) for v in value):
        return ""  # a few names (fix=); the constructor's own check judges them
    if isinstance(value, dict):  # the prior's hyperparameters (checked again on loading)
        for item in value.values():
            flat = np.asarray(item if item is not None else 0.0, dtype=object).ravel()
            if not all(_is_finite_number(v) for v in flat):
                return "holds something other than numbers or lists of numbers"
        return ""
    return f"is a JSON {type(value).__name__}, not a number, string, boolean or null"


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
