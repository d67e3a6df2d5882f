"""What the boundary learns about an input, and its check against a fitted model's."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["InputInfo", "check_against_fit"]


@dataclass(frozen=True)
class InputInfo:
    """A record of one input, for the estimator to apply to itself.

    Attributes
    ----------
    kind : str
        The adapter that took it: 'array', 'torch', 'scan' or 'dask'.
    n_rows, n_features : int
    feature_names : ndarray of str, shape (n_features,), or None
        Column names, when the input had string column names.
    dtype : numpy dtype
        What the rows are computed in (float32 or float64).
    device : str or None
        The torch device the rows live on; None off torch.
    output : str
        What predict-style results come back as: 'numpy', 'tensor' or 'dask'.
    weight_exponent : int
        The rows' weights are the user's times ``2**weight_exponent`` (0 unless
        extreme weights were scaled; see :mod:`gaussmix._input.weights`). Statistics
        are per unit of scaled weight; a model whose fit depends on the total weight
        (a prior weighed against the data) scales them back.
    """

    kind: str
    n_rows: int
    n_features: int
    feature_names: np.ndarray | None
    dtype: np.dtype
    device: str | None
    output: str
    weight_exponent: int = 0


def check_against_fit(
    n_features: int,
    feature_names: np.ndarray | None,
    fitted: tuple[int, np.ndarray | None],
    estimator: str,
) -> None:
    """scikit-learn's checks of an input against the fitted one, with its messages.

    Parameters
    ----------
    n_features : int
    feature_names : ndarray or None
        The input's.
    fitted : (int, ndarray or None)
        ``n_features_in_`` and ``feature_names_in_`` (None when fitted without names).
    estimator : str
        The estimator's name, for messages.

    Raises
    ------
    ValueError
        If the names differ (both present) or the number of features differs.
    """
    expected_n, expected_names = fitted
    if expected_names is None and feature_names is not None:
        warnings.warn(
            f"X has feature names, but {estimator} was fitted without feature names",
            UserWarning,
            stacklevel=5,
        )
    elif expected_names is not None and feature_names is None:
        warnings.warn(
            f"X does not have valid feature names, but {estimator} was fitted with feature names",
            UserWarning,
            stacklevel=5,
        )
    elif expected_names is not None and feature_names is not None:
        _check_same_names(list(expected_names), list(feature_names))
    if n_features != expected_n:
        raise ValueError(
            f"X has {n_features} features, but {estimator} is expecting {expected_n} "
            "features as input."
        )


def _check_same_names(fitted: list[Any], given: list[Any]) -> None:
    if fitted == given:
        return
    message = "The feature names should match those that were passed during fit.\n"
    unseen = [n for n in given if n not in set(fitted)]
    missing = [n for n in fitted if n not in set(given)]

    def listing(names: list[Any]) -> str:
        shown = [f"- {n}" for n in names[:5]] + (["- ..."] if len(names) > 5 else [])
        return "\n".join(shown) + "\n"

    if unseen:
        message += "Feature names unseen at fit time:\n" + listing(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)
