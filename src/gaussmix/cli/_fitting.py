"""What ``fit`` and ``select`` share: K ranges, estimator options, candidate fits, tables."""

from __future__ import annotations

import math
import re
from typing import Any

from . import _choices
from ._data import feature_labels, n_rows
from ._errors import CliError
from ._output import fixed, number
from ._progress import Progress


def parse_k_range(text: str) -> list[int]:
    """``'1..9'``, ``'1-9'`` or ``'1:9'`` (inclusive), ``'2,3,5'`` or ``'4'`` -> list of K."""
    spec = text.strip()
    try:
        match = re.fullmatch(r"(\d+)\s*(?:\.\.|-|:)\s*(\d+)", spec)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            ks = list(range(low, high + 1))
        else:
            ks = [int(part) for part in spec.split(",")]
    except ValueError:
        ks = []
    if not ks or any(k < 1 for k in ks):
        raise CliError(
            f"invalid --k-range {text!r}: give a range like 1..9 or a list like 2,3,5 "
            "(numbers of components >= 1)"
        )
    return ks


def covariance_types(
    choice: str | None, single: bool, gm_kwargs: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The types a ``-c`` choice names, and the estimator options to fit them with.

    One type; every type for 'all'; a family's models, with its start unless
    ``--init-params`` is given (:func:`gaussmix.select.expand_family`); without
    a choice, GaussianMixture's default for one fit (``single``), else every type.
    """
    if choice is None and single:
        from .._estimator import GaussianMixture

        return [GaussianMixture().covariance_type], gm_kwargs
    if choice in _choices.families():
        from ..select import expand_family

        return expand_family(choice, gm_kwargs)
    every = list(_choices.covariance_types())
    return (every if choice in (None, _choices.ALL) else [choice]), gm_kwargs


def estimator_kwargs(
    max_iter: int,
    tol: float,
    reg_covar: float,
    init_params: str | None,
    device: str | None,
) -> dict[str, Any]:
    """GaussianMixture's keyword arguments from the fitting options `fit` and `select` share.

    An option left out (None) is not passed, so GaussianMixture's default applies.
    """
    optional = {"init_params": init_params, "device": device}
    return {
        "max_iter": max_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        **{name: value for name, value in optional.items() if value is not None},
    }


def run_select(
    X: Any,
    ks: list[int],
    types: list[str],
    criterion: str | None,
    n_init: int,
    seed: int | None,
    jobs: int | None,
    show_progress: bool,
    gm_kwargs: dict[str, Any],
) -> Any:
    """:func:`gaussmix.select` over every candidate, with a progress display.

    A ``criterion`` of None is select's default.
    """
    from ..select import select

    total = len(ks) * len(types)
    with Progress(show_progress, "fitting candidates", total=total) as progress:

        def advance(row: dict[str, Any]) -> None:
            progress.advance(
                f"fitting candidates (done: K={row['n_components']} {row['covariance_type']})"
            )

        chosen = {} if criterion is None else {"criterion": criterion}
        return select(
            X,
            n_components=ks,
            covariance_types=types,
            **chosen,
            n_init=n_init,
            random_state=seed,
            n_jobs=jobs,
            callback=advance,
            **gm_kwargs,
        )


def summary(model: Any, X: Any = None) -> dict[str, Any]:
    """A fitted model's description (and its BIC and AIC on X) for output."""
    out: dict[str, Any] = {
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "n_features": int(model.n_features_in_),
        "features": feature_labels(model),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "n_parameters": int(model._n_parameters()),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
    }
    if X is not None:
        out["n_samples"] = n_rows(X)
        out["bic"] = model.bic(X)
        out["aic"] = model.aic(X)
    return out


def selection_table(result: Any) -> Any:
    """A rich table of every candidate of a selection, best first."""
    from rich import box
    from rich.table import Table

    crit = result.criterion
    table = Table(
        title=f"Candidates by {crit.upper()} (lower is better)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # fits 80 columns
    )
    for name, justify in (
        ("K", "right"),
        ("covariance", "left"),
        ("log L", "right"),
        ("params", "right"),
        ("BIC", "right"),
        ("AIC", "right"),
        ("ICL", "right"),
        ("conv.", "center"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    order = sorted(
        range(len(result.records)),
        key=lambda i: (not math.isfinite(result.records[i][crit]), result.records[i][crit]),
    )
    for i in order:
        r = result.records[i]
        best = i == result.best_index_
        note = "◀ best" if best else (r["error"] or "")
        table.add_row(
            str(r["n_components"]),
            r["covariance_type"],
            fixed(r["log_likelihood"]),
            number(r["n_parameters"]),
            fixed(r["bic"]),
            fixed(r["aic"]),
            fixed(r["icl"]),
            "yes" if r["converged"] else "no",
            note[:60],
            style="bold" if best else None,
        )
    return table
