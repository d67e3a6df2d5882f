"""Every input guarantee against every input kind: a matrix, not a sample.

Rows are the input kinds the boundary takes (:mod:`gaussmix._input`): NumPy, lists,
pandas, polars, array-API (``array_api_strict``), ``scan`` files (.npy, .csv,
.parquet), Dask arrays and DataFrames, torch CPU tensors; ``gmm_em`` where a
guarantee applies to it. Columns are the guarantees, each for both estimators
(``GaussianMixture`` and ``BayesianGaussianMixture``: one boundary serves both). A
cell that cannot hold is skipped with the reason (for example: polars has no complex
dtype, a CSV file cannot hold a datetime *dtype*). Where a message is the same for
every kind, the cell compares it with the NumPy path's message, character for
character. (Sources read
in blocks report the first bad value of the block that fails first; the cells put
one bad value in the data, at a row in the third block.)
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import gaussmix
from _support import assert_close
from gaussmix import BayesianGaussianMixture, GaussianMixture, gmm_em
from gaussmix._input import weights as weights_module

pd = pytest.importorskip("pandas")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
torch = pytest.importorskip("torch")
pl: Any = None
xp: Any = None
with contextlib.suppress(ImportError):  # polars and array-api-strict: the dev extra
    import polars as pl
with contextlib.suppress(ImportError):
    import array_api_strict as xp

RNG = np.random.RandomState(0)
X = np.vstack([RNG.normal(size=(30, 2)), RNG.normal(size=(30, 2)) + 6.0])  # (60, 2)
COLUMNS = ["a", "b"]
BLOCK_ROWS = 16  # Dask chunks and scan chunks: a bad row at 41 is in the third block
BAD_ROW, BAD_COL = 41, 1


@pytest.fixture(autouse=True, scope="module")
def _synchronous_dask() -> Any:
    with dask.config.set(scheduler="synchronous"):
        yield


def _frame(data: np.ndarray) -> Any:
    return pd.DataFrame(
        data, columns=COLUMNS[: data.shape[1]] + [f"c{i}" for i in range(2, data.shape[1])]
    )


@dataclass(frozen=True)
class Kind:
    """One input kind: how to build X (and its weights) from a NumPy array."""

    name: str
    make: Callable[[np.ndarray, Path], Any]
    weights: Callable[[np.ndarray], Any] = lambda w: w
    marginalizes: bool = False  # NaN can mean missing (missing='marginalize')
    names: bool = False  # carries feature names
    available: bool = True

    def __repr__(self) -> str:
        return self.name


def _scan(suffix: str) -> Callable[[np.ndarray, Path], Any]:
    def make(data: np.ndarray, tmp: Path) -> Any:
        path = tmp / f"data{suffix}"
        if suffix == ".npy":
            np.save(path, data)
        elif suffix == ".csv":
            cols = [f"c{i}" for i in range(data.shape[1])]
            np.savetxt(path, data, delimiter=",", header=",".join(cols), comments="", fmt="%.17g")
        else:  # NaN as a float value (pandas would write it as a null, which the reader refuses)
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(
                {f"c{i}": pa.array(data[:, i], from_pandas=False) for i in range(data.shape[1])}
            )
            pq.write_table(table, path, row_group_size=BLOCK_ROWS)
        return gaussmix.scan(path, chunk_rows=BLOCK_ROWS if suffix != ".parquet" else None)

    return make


KINDS = [
    Kind("numpy", lambda a, _: a, marginalizes=True),
    Kind("list", lambda a, _: a.tolist(), lambda w: w.tolist(), marginalizes=True),
    Kind("pandas", lambda a, _: _frame(a), lambda w: pd.Series(w), marginalizes=True, names=True),
    Kind(
        "polars",
        lambda a, _: pl.DataFrame(_frame(a)),
        marginalizes=True,
        names=True,
        available=pl is not None,
    ),
    Kind(
        "array_api",
        lambda a, _: xp.asarray(a),
        lambda w: xp.asarray(w),
        marginalizes=True,
        available=xp is not None,
    ),
    Kind("scan_npy", _scan(".npy")),
    Kind("scan_csv", _scan(".csv")),
    Kind("scan_parquet", _scan(".parquet")),
    Kind(
        "dask_array",
        lambda a, _: da.from_array(a, chunks=(BLOCK_ROWS, a.shape[1])),
        lambda w: da.from_array(w, chunks=BLOCK_ROWS),
    ),
    Kind(
        "dask_frame",
        lambda a, _: dd.from_pandas(_frame(a), chunksize=BLOCK_ROWS),
        lambda w: da.from_array(w, chunks=BLOCK_ROWS),
        names=True,
    ),
    Kind("torch", lambda a, _: torch.from_numpy(a.copy()), lambda w: torch.from_numpy(w.copy())),
]
KIND_IDS = [k.name for k in KINDS]


@pytest.fixture(params=KINDS, ids=KIND_IDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    k: Kind = request.param
    if not k.available:
        pytest.skip(f"{k.name} is not installed")
    return k


@pytest.fixture(params=[GaussianMixture, BayesianGaussianMixture], ids=lambda c: c.__name__)
def mixture(request: pytest.FixtureRequest) -> Any:
    """Both estimators: every guarantee holds for each (one input boundary)."""
    return request.param


def _message(call: Callable[[], Any], error: type[BaseException] = ValueError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


def _fitted(mixture: Any) -> Any:
    return mixture(n_components=2, random_state=0).fit(X)


def _with(value: float) -> np.ndarray:
    bad = X.copy()
    bad[BAD_ROW, BAD_COL] = value
    return bad


def _numpy_message(call: Callable[[np.ndarray], Any], data: np.ndarray) -> str:
    return _message(lambda: call(data))


# -- non-finite values ----------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_values_are_one_error(
    mixture: Any, kind: Kind, tmp_path: Path, value: float
) -> None:
    data = _with(value)
    expected = _numpy_message(mixture(n_components=2).fit, data)
    assert f"at row {BAD_ROW}, column {BAD_COL}" in expected
    assert 'missing="marginalize"' in expected
    assert _message(lambda: mixture(n_components=2).fit(kind.make(data, tmp_path))) == expected
    fitted = _fitted(mixture)
    for method in ("predict", "predict_proba", "score_samples", "score"):

        def call(method: str = method) -> Any:
            out = getattr(fitted, method)(kind.make(data, tmp_path))
            return out.compute() if hasattr(out, "compute") else out

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fitted without feature names
            assert _message(call) == expected, method


def test_nan_under_marginalize(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    data = _with(np.nan)
    model = mixture(n_components=2, missing="marginalize", random_state=0)
    if kind.marginalizes:
        fitted = model.fit(kind.make(data, tmp_path))
        reference = mixture(n_components=2, missing="marginalize", random_state=0).fit(data)
        np.testing.assert_allclose(fitted.means_, reference.means_, rtol=1e-10, atol=1e-12)
        scores = fitted.score_samples(kind.make(data, tmp_path))
        assert np.all(np.isfinite(np.asarray(scores)))
        return
    # Backends that cannot marginalise say so, naming the row.
    message = _message(lambda: model.fit(kind.make(data, tmp_path)))
    assert re.search(
        rf"contains NaN \(the first at row {BAD_ROW}, column {BAD_COL}\), but missing="
        r'"marginalize" is available only for in-memory arrays',
        message,
    ), message
    inf = _message(lambda: model.fit(kind.make(_with(np.inf), tmp_path)))
    assert inf == _numpy_message(mixture(n_components=2, missing="marginalize").fit, _with(np.inf))


# -- magnitudes --------------------------------------------------------------------------
def test_the_magnitude_limit(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    data = _with(1e150)
    expected = _numpy_message(mixture(n_components=2).fit, data)
    assert re.search(rf"values reach 1e\+150 \(at row {BAD_ROW}, column 1\)", expected)
    assert _message(lambda: mixture(n_components=2).fit(kind.make(data, tmp_path))) == expected
    fitted = _fitted(mixture)
    huge = _with(1e200)  # score_samples on it: an error, never NaN
    expected = _numpy_message(fitted.score_samples, huge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)

        def call() -> Any:
            out = fitted.score_samples(kind.make(huge, tmp_path))
            return out.compute() if hasattr(out, "compute") else out

        assert _message(call) == expected


def test_float32_beyond_float32_squares_is_computed_in_float64(
    mixture: Any, kind: Kind, tmp_path: Path
) -> None:
    if kind.name in ("list", "scan_csv"):
        pytest.skip(f"{kind.name} input has no float32 dtype (it is read as float64)")
    data = (X * 1e15).astype(np.float32)
    if kind.name == "array_api":
        source = xp.asarray(data)
    elif kind.name == "polars":
        source = pl.DataFrame(pd.DataFrame(data, columns=COLUMNS))
    else:
        source = kind.make(data, tmp_path)
    fitted = mixture(n_components=2, random_state=0).fit(source)
    reference = mixture(n_components=2, random_state=0).fit(data.astype(np.float64))
    assert_close(fitted.means_, reference.means_, rtol=1e-5)
    out = fitted.score_samples(kind.make(data, tmp_path) if kind.name != "polars" else source)
    out = out.compute() if hasattr(out, "compute") else out
    assert np.all(np.isfinite(np.asarray(out)))


# -- dtypes ---------------------------------------------------------------------------------
def _complex_input(kind: Kind, tmp_path: Path) -> Any:
    data = X.astype(np.complex128)
    data[BAD_ROW, BAD_COL] += 1j
    name = kind.name
    if name in ("polars", "scan_parquet"):
        pytest.skip(f"{name} has no complex dtype")
    if name == "scan_csv":
        pytest.skip("a CSV file holds text: '1+2j' is a non-numeric value (see the string test)")
    if name == "pandas":
        return pd.DataFrame({"a": X[:, 0], "z": data[:, 1]})
    if name == "dask_frame":
        return dd.from_pandas(pd.DataFrame({"a": X[:, 0], "z": data[:, 1]}), npartitions=2)
    if name == "scan_npy":
        np.save(tmp_path / "c.npy", data)
        return gaussmix.scan(tmp_path / "c.npy")
    if name == "list":
        return data.tolist()
    return {"numpy": lambda: data, "array_api": lambda: xp.asarray(data)}.get(
        name, lambda: kind.make(data, tmp_path)
    )()


def test_complex_data_is_refused(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    try:
        source = _complex_input(kind, tmp_path)
    except (TypeError, ValueError) as exc:  # the scan refuses it when opened
        assert re.search(r"not numeric|complex", str(exc)), exc
        return
    message = _message(lambda: mixture(n_components=2).fit(source), (TypeError, ValueError))
    assert re.search(r"Complex data not supported|complex", message), message
    if kind.name in ("pandas", "dask_frame"):
        assert "'z'" in message  # the column is named


def _column_input(kind: Kind, tmp_path: Path, values: Any, label: str) -> Any:
    """X with column 'b' replaced by ``values`` (datetimes, strings or categories)."""
    name = kind.name
    frame = pd.DataFrame({"a": X[:, 0], "b": values})
    if name == "pandas":
        return frame
    if name == "dask_frame":
        return dd.from_pandas(frame, npartitions=2)
    if name == "polars":
        return pl.from_pandas(frame)
    if name == "scan_csv":
        path = tmp_path / "t.csv"
        frame.to_csv(path, index=False)
        return path
    if name == "scan_parquet":
        path = tmp_path / "t.parquet"
        frame.to_parquet(path)
        return path
    if label == "categorical":
        pytest.skip(f"{name} has no categorical dtype")
    column = np.asarray(values)
    if name in ("array_api", "torch"):
        pytest.skip(f"{name} has no {label} dtype")
    if name in ("scan_npy", "dask_array", "numpy", "list"):
        data = np.empty((len(X), 2), dtype=column.dtype if label != "string" else object)
        data[:, 0] = X[:, 0] if label != "datetime" else column
        data[:, 1] = column
        if label == "string":
            data = data.astype(str)
        if name == "numpy":
            return data
        if name == "list":
            return data.tolist()
        if name == "dask_array":
            return da.from_array(data, chunks=(BLOCK_ROWS, 2))
        np.save(tmp_path / "t.npy", data)
        return tmp_path / "t.npy"
    raise AssertionError(name)


_VALUES = {
    "datetime": pd.date_range("2020-01-01", periods=len(X), freq="D"),
    "string": [f"x{i}" for i in range(len(X))],
    "categorical": pd.Categorical(["red", "blue"] * (len(X) // 2)),
}


@pytest.mark.parametrize("label", list(_VALUES))
def test_non_numeric_columns_are_refused_by_name(
    mixture: Any, kind: Kind, tmp_path: Path, label: str
) -> None:
    try:
        source = _column_input(kind, tmp_path, _VALUES[label], label)
        if isinstance(source, Path):
            source = gaussmix.scan(source)
    except (TypeError, ValueError) as exc:  # a scan refuses the column when opened
        message = str(exc)
    else:
        message = _message(lambda: mixture(n_components=2).fit(source), (TypeError, ValueError))
    assert re.search(r"numbers only|not numeric|not a number", message), message
    if kind.names or kind.name.startswith("scan_c") or kind.name == "scan_parquet":
        assert "'b'" in message, message


# -- weights ----------------------------------------------------------------------------------
_BAD_WEIGHTS = {
    "shape": (np.ones(len(X) - 1), rf"sample_weight must have shape \({len(X)},\)"),
    "negative": (
        np.r_[np.ones(BAD_ROW), -1.0, np.ones(len(X) - BAD_ROW - 1)],
        rf"non-negative .* at row {BAD_ROW}",
    ),
    "nan": (
        np.r_[np.ones(BAD_ROW), np.nan, np.ones(len(X) - BAD_ROW - 1)],
        rf"NaN or infinite values \(the first, nan, at row {BAD_ROW}\)",
    ),
    "all zero": (np.zeros(len(X)), "zero for every row"),
}


@pytest.mark.parametrize("case", list(_BAD_WEIGHTS))
def test_weight_errors(mixture: Any, kind: Kind, tmp_path: Path, case: str) -> None:
    weights, pattern = _BAD_WEIGHTS[case]
    expected = _numpy_message(lambda w: mixture(n_components=2).fit(X, sample_weight=w), weights)
    assert re.search(pattern, expected), expected
    source = kind.make(X, tmp_path)
    got = _message(
        lambda: mixture(n_components=2).fit(source, sample_weight=kind.weights(weights))
    )
    assert got == expected


def test_huge_weights_fit_as_ordinary_ones(kind: Kind, tmp_path: Path) -> None:
    ones = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.ones(len(X)))
    source = kind.make(X, tmp_path)
    huge = GaussianMixture(2, random_state=0).fit(
        source, sample_weight=kind.weights(np.full(len(X), 1e308))
    )
    assert_close(huge.means_, ones.means_, rtol=1e-9)
    assert huge.lower_bound_ == pytest.approx(ones.lower_bound_, rel=1e-9)
    score = huge.score(kind.make(X, tmp_path), sample_weight=kind.weights(np.full(len(X), 1e308)))
    assert score == pytest.approx(ones.score(X), rel=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol: a total
def test_huge_weights_are_multiplicities_to_a_variational_fit(
    kind: Kind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The prior weighs against the total weight: scaled weights are scaled back, and a
    # total beyond float range is an error, never a silently different fit.
    heavy = np.random.RandomState(2).uniform(1.0, 3.0, size=len(X)) * 2.0**40
    params = {"n_components": 2, "random_state": 0, "init_params": "random_from_data"}
    fitted = BayesianGaussianMixture(**params).fit(
        kind.make(X, tmp_path), sample_weight=kind.weights(heavy)
    )
    model = BayesianGaussianMixture(**params)
    message = _message(
        lambda: model.fit(
            kind.make(X, tmp_path), sample_weight=kind.weights(np.full(len(X), 1e308))
        )
    )
    assert message.startswith("sample_weight sums beyond float range"), message
    assert not hasattr(model, "weights_")
    monkeypatch.setattr(weights_module, "_ORDINARY", (0.0, np.inf))  # nothing scaled
    reference = BayesianGaussianMixture(**params).fit(X, sample_weight=heavy)
    for name in ("means_", "covariances_", "mean_precision_", "degrees_of_freedom_"):
        assert_close(getattr(fitted, name), getattr(reference, name), rtol=1e-9)
    assert fitted.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-9)


# -- rows and features -----------------------------------------------------------------------
def test_too_few_rows(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    message = _message(lambda: mixture(n_components=5).fit(kind.make(X[:3], tmp_path)))
    assert message == _numpy_message(mixture(n_components=5).fit, X[:3])
    assert "n_components = 5, n_samples = 3. Use fewer components" in message
    one = np.r_[1.0, np.zeros(len(X) - 1)]
    source = kind.make(X, tmp_path)
    message = _message(
        lambda: mixture(n_components=2).fit(source, sample_weight=kind.weights(one))
    )
    assert message.startswith(
        "Expected n_samples >= n_components but got n_components = 2, n_samples = 1 "
        "(with non-zero weight)"
    ), message


def test_wrong_number_of_features_at_inference(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    fitted = _fitted(mixture)
    wide = np.hstack([X, X[:, :1]])
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fitted without feature names
            message = _message(lambda m=method: getattr(fitted, m)(kind.make(wide, tmp_path)))
        assert message == (
            f"X has 3 features, but {mixture.__name__} is expecting 2 features as input."
        )


def test_feature_names(mixture: Any, kind: Kind, tmp_path: Path) -> None:
    fitted = mixture(n_components=2, random_state=0).fit(kind.make(X, tmp_path))
    if not kind.names:
        assert not hasattr(fitted, "feature_names_in_")
        return
    assert list(fitted.feature_names_in_) == COLUMNS
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        fitted.predict(X)
    renamed = pd.DataFrame(X, columns=["a", "z"])
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- z"):
        fitted.predict(renamed)


# -- gmm_em -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (
            np.r_[X[:, 0], np.nan],
            r"Input data contains NaN or infinite values \(the first, nan, at row 60",
        ),
        (np.r_[X[:, 0], np.inf], r"Input data contains NaN or infinite values \(the first, inf"),
        (X[:, 0] * 1e160, r"Input data's values reach .* beyond ±1e\+140"),
        (X[:, 0] + 1j, "Complex data not supported"),
        (["a", "b", "c"], "numbers only"),
        (X[:1, 0], "k = 2 components need at least 2 data points"),
    ],
    ids=["nan", "inf", "magnitude", "complex", "strings", "too few rows"],
)
def test_gmm_em_checks(data: Any, pattern: str) -> None:
    with pytest.raises((TypeError, ValueError), match=pattern):
        gmm_em(data, 2)


def test_parameter_errors_are_invalid_parameter_errors(
    mixture: Any, kind: Kind, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError, match="'n_components' parameter"):
        mixture(n_components=0).fit(kind.make(X, tmp_path))
