"""gaussmix.select: the candidate table, the criteria's definitions, parallel fits, failures."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from scipy.special import xlogy

import gaussmix
from gaussmix import GaussianMixture, select
from gaussmix.datasets import load_old_faithful

select_module = sys.modules["gaussmix.select"]

COLUMNS = [
    "n_components",
    "covariance_type",
    "log_likelihood",
    "n_parameters",
    "bic",
    "aic",
    "icl",
    "converged",
    "n_iter",
    "error",
]


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_old_faithful()[0]


@pytest.fixture(scope="module")
def result(faithful):
    return select(faithful, n_components=range(1, 5), random_state=0)


def test_table_has_every_candidate_in_order(result):
    pd = pytest.importorskip("pandas")
    table = result.table
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == COLUMNS
    assert len(table) == 16
    assert list(table["covariance_type"]) == [
        t for t in ("full", "tied", "diag", "spherical") for _ in range(4)
    ]
    assert list(table["n_components"]) == [1, 2, 3, 4] * 4
    assert table["error"].isna().all()
    assert table["converged"].all()
    assert len(result.records) == 16 and result.records[0].keys() == set(COLUMNS)


def test_old_faithful_picks_two_full_components(result, faithful):
    assert result.best_params_ == {"n_components": 2, "covariance_type": "full"}
    assert result.criterion == "bic"
    assert result.n_samples == 272
    assert isinstance(result.best_, GaussianMixture)
    assert result.best_.n_components == 2 and result.best_.covariance_type == "full"
    assert result.best_score_ == pytest.approx(result.best_.bic(faithful), rel=1e-12)
    assert result.best_score_ == min(r["bic"] for r in result.records)
    assert "n_components=2" in repr(result)
    keys = {(r["n_components"], r["covariance_type"]) for r in result.records}
    assert set(result.models_) == keys


def test_criteria_match_their_definitions(result, faithful):
    n = faithful.shape[0]
    for record in result.records:
        model = result.models_[record["n_components"], record["covariance_type"]]
        log_likelihood = model.score(faithful) * n
        p = model._n_parameters()
        assert record["log_likelihood"] == pytest.approx(log_likelihood, rel=1e-12)
        assert record["n_parameters"] == p
        assert record["bic"] == pytest.approx(model.bic(faithful), rel=1e-12)
        assert record["aic"] == pytest.approx(model.aic(faithful), rel=1e-12)
        resp = model.predict_proba(faithful)
        entropy = -xlogy(resp, resp).sum()
        assert entropy >= 0
        assert record["icl"] == pytest.approx(record["bic"] + 2 * entropy, rel=1e-12)
        assert record["icl"] >= record["bic"]  # lower is better: ICL penalises overlap


def test_single_component_has_icl_equal_to_bic(result):
    for record in result.records:
        if record["n_components"] == 1:
            assert record["icl"] == record["bic"]


def test_candidates_equal_fits_by_hand(faithful):
    result = select(faithful, [2, 3], ["diag"], random_state=5, n_init=2, tol=1e-4)
    for k in (2, 3):
        by_hand = GaussianMixture(
            k, covariance_type="diag", random_state=5, n_init=2, tol=1e-4
        ).fit(faithful)
        np.testing.assert_array_equal(result.models_[k, "diag"].means_, by_hand.means_)


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_other_criteria(faithful, criterion):
    result = select(faithful, range(1, 4), ("full", "diag"), criterion=criterion, random_state=0)
    assert result.criterion == criterion
    best = result.records[result.best_index_]
    assert best[criterion] == min(r[criterion] for r in result.records)
    assert result.best_params_ == {
        "n_components": best["n_components"],
        "covariance_type": best["covariance_type"],
    }


def test_parallel_equals_sequential(faithful):
    from joblib import parallel_config

    kwargs = dict(n_components=[1, 2, 3], covariance_types=("full", "spherical"), random_state=0)
    seq = select(faithful, n_jobs=None, **kwargs)
    with parallel_config(backend="threading"):
        par = select(faithful, n_jobs=2, **kwargs)
    assert [r["bic"] for r in seq.records] == [r["bic"] for r in par.records]
    assert seq.best_params_ == par.best_params_


@pytest.mark.slow
def test_parallel_in_processes(faithful):
    """The default joblib backend: candidates and fitted models cross process boundaries."""
    seq = select(faithful, [1, 2], "diag", random_state=0)
    par = select(faithful, [1, 2], "diag", random_state=0, n_jobs=2)
    assert [r["bic"] for r in seq.records] == [r["bic"] for r in par.records]
    np.testing.assert_array_equal(par.best_.means_, seq.best_.means_)


def test_callback_sees_every_candidate(faithful):
    seen = []
    select(faithful, [1, 2], "tied", random_state=0, callback=seen.append)
    assert [(r["n_components"], r["covariance_type"]) for r in seen] == [(1, "tied"), (2, "tied")]


def test_random_state_instance_gives_each_candidate_a_seed(faithful):
    a = select(faithful, [2, 3], "full", random_state=np.random.RandomState(1))
    b = select(faithful, [2, 3], "full", random_state=np.random.RandomState(1))
    assert [r["bic"] for r in a.records] == [r["bic"] for r in b.records]


def test_failed_candidates_are_recorded_not_fatal():
    # 4 rows: K=5 and more cannot be fitted; K=1, 2 can.
    X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.5], [3.0, 1.0]])
    result = select(X, [1, 2, 5], "diag", random_state=0)
    failed = [r for r in result.records if r["error"]]
    assert [r["n_components"] for r in failed] == [5]
    assert "n_samples >= n_components" in failed[0]["error"]
    assert np.isnan(failed[0]["bic"]) and failed[0]["converged"] is False
    assert result.best_params_["n_components"] in (1, 2)
    assert (5, "diag") not in result.models_


def test_ill_defined_covariance_is_recorded():
    # Duplicated points and no regularization: some candidates collapse.
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = select(X, [1, 3], "full", reg_covar=0.0, random_state=0)
    errors = [r["error"] for r in result.records if r["error"]]
    assert errors and "reg_covar" in errors[0]  # the advice of the fit's own message
    assert result.best_params_ == {"n_components": 1, "covariance_type": "full"}


def test_all_failing_raises():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"No candidate could be fitted.*n_components"):
        select(X, [4, 5], "diag")


def test_without_pandas_table_is_records(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert result.table is result.records


def test_dataframe_keeps_feature_names(faithful):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    result = select(frame, [2], "full", random_state=0)
    assert list(result.best_.feature_names_in_) == ["eruptions", "waiting"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_components": []}, ValueError, "empty"),
        ({"n_components": [0, 1]}, ValueError, ">= 1"),
        ({"n_components": [1.5]}, ValueError, "integers"),
        ({"n_components": "abc"}, ValueError, "integers"),
        ({"n_components": None}, TypeError, "iterable"),
        ({"covariance_types": ["full", "banana"]}, ValueError, "banana"),
        ({"covariance_types": []}, ValueError, "empty"),
        ({"covariance_types": "mclustt"}, ValueError, "'VII', 'sklearn', 'mclust'"),
        ({"criterion": "mdl"}, ValueError, "'bic', 'aic', 'icl'"),
        ({"covariance_type": "full"}, TypeError, "covariance_type"),
        ({"tol": -1}, ValueError, r"No candidate could be fitted.*tol"),
    ],
)
def test_bad_options(faithful, kwargs, error, match):
    with pytest.raises(error, match=match):
        select(faithful, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="numbers only"):
        select([["a", "b"], ["c", "d"]], [1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        select(np.array([[1.0, np.nan], [2.0, 3.0]]), [1])


def test_exported():
    assert gaussmix.select is select
    assert gaussmix.SelectionResult is select_module.SelectionResult


# -- the mclust family -------------------------------------------------------------------
@pytest.fixture(scope="module")
def family(faithful):
    return select(faithful, range(1, 10), "mclust", tol=1e-5, max_iter=1000)


def test_mclust_family_fits_every_model_for_every_k(family):
    from gaussmix._core.covariance import MCLUST_NAMES

    assert [(r["covariance_type"], r["n_components"]) for r in family.records] == [
        (name, k) for name in MCLUST_NAMES for k in range(1, 10)
    ]
    assert all(r["error"] is None for r in family.records)
    for (k, name), model in family.models_.items():
        assert model.init_params == "hc" and model.covariance_type == name
        assert model.n_components == k


def test_mclust_family_lands_on_mclusts_old_faithful_answer(family):
    # Mclust(faithful): EEE with K = 3, BIC -2314.316 in mclust's sign.
    assert family.best_params_ == {"n_components": 3, "covariance_type": "EEE"}
    assert family.best_score_ == pytest.approx(2314.316, abs=0.05)
    assert family.best_score_ <= 2314.316 + 1e-3  # a likelihood at least mclust's


def test_mclust_family_matches_mclusts_table(family):
    # mclustBIC(faithful), negated, for the models gaussmix has under the same names.
    mclust = {
        "EEE": [2607.623, 2325.220, 2314.316, 2331.223, 2360.659, 2347.352, 2369.330],
        "VVV": [2607.623, 2322.192, 2349.696, 2351.493, 2379.388, 2387.016, 2412.440],
        "VVI": [3055.835, 2346.065, 2342.366, 2343.486, 2351.017, 2373.469, 2394.696],
    }
    grid = family.grid()
    for name, values in mclust.items():
        ours = grid[name].to_numpy()[: len(values)]
        assert np.all(ours <= np.asarray(values) + 1e-3), name  # never worse than mclust
        # (mclust's EM stops at a relative change of 1e-5; at K = 7 that leaves 1.4.)
        np.testing.assert_allclose(ours[:6], values[:6], atol=0.5)


def test_grid_is_the_table_by_k_and_type(family, monkeypatch):
    grid = family.grid("icl")
    assert grid.shape == (9, len(set(r["covariance_type"] for r in family.records)))
    assert list(grid.index) == list(range(1, 10))
    for r in family.records:
        assert grid.loc[r["n_components"], r["covariance_type"]] == r["icl"]
    monkeypatch.setitem(sys.modules, "pandas", None)
    plain = family.grid()
    assert plain["EEE"][3] == family.best_score_
    with pytest.raises(ValueError, match="criterion"):
        family.grid("mdl")


def test_family_start_yields_to_a_given_init(faithful):
    result = select(faithful, [2], "mclust", init_params="kmeans", random_state=0)
    assert {m.init_params for m in result.models_.values()} == {"kmeans"}


def test_family_failures_are_recorded():
    X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.5], [3.0, 1.0], [2.0, 0.0]])
    result = select(X, [1, 2, 6], "mclust")
    failed = {(r["n_components"], r["covariance_type"]) for r in result.records if r["error"]}
    assert {k for k, _ in failed} == {6}
    assert result.best_params_["n_components"] in (1, 2)


def test_mclust_names_fit_exactly_as_scikit_learns(faithful):
    from gaussmix._core.covariance import COVARIANCE_TYPES

    for name, model in COVARIANCE_TYPES.items():
        a = GaussianMixture(3, covariance_type=name, random_state=0).fit(faithful)
        b = GaussianMixture(3, covariance_type=model.mclust_name, random_state=0).fit(faithful)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.bic(faithful) == b.bic(faithful)
