"""What ``fit`` and ``select`` share: K ranges, estimator options, candidate fits, tables."""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import _choices
from ._data import feature_labels, n_rows
from ._errors import CliError
from ._output import fixed, number
from ._progress import Progress

DEFAULT_K_RANGE = "1..9"


def parse_k_range(text: str) -> Sequence[int]:
    """``'1..9'``, ``'1-9'`` or ``'1:9'`` (inclusive), ``'2,3,5'`` or ``'4'`` -> the Ks.

    A range stays a ``range`` (``1..10000000000`` allocates nothing); see
    :func:`components_for` for the bound against the data.
    """
    spec = text.strip()
    ks: Sequence[int]
    try:
        match = re.fullmatch(r"(\d+)\s*(?:\.\.|-|:)\s*(\d+)", spec)
        if match:
            ks = range(int(match.group(1)), int(match.group(2)) + 1)
        else:
            ks = [int(part) for part in spec.split(",")]
    except ValueError:
        ks = []
    if not ks or (ks[0] if isinstance(ks, range) else min(ks)) < 1:
        raise CliError(
            f"invalid --k-range {text!r}: give a range like 1..9 or a list like 2,3,5 "
            "(numbers of components >= 1)"
        )
    return ks


def components_for(ks: Sequence[int], n_samples: int, data: str, k_range: str | None) -> list[int]:
    """The Ks to fit to ``n_samples`` rows: each component needs a row of its own.

    An explicit ``--k-range`` beyond the rows is refused (it is a mistake, and
    could ask for billions of fits); the default range is cut to the rows with a
    warning.
    """
    largest = ks[-1] if isinstance(ks, range) else max(ks)
    if largest <= n_samples:
        return list(ks)
    if k_range is not None:
        raise CliError(
            f"--k-range {k_range} asks for up to {largest} components, but {data} has "
            f"{n_samples} row(s) and each component needs at least one: give a range up "
            f"to {n_samples} (a handful more than the clusters you expect is plenty)"
        )
    import warnings

    warnings.warn(
        f"{data} has {n_samples} row(s): trying K up to {n_samples} only "
        f"(not {DEFAULT_K_RANGE}), since each component needs a row",
        stacklevel=2,
    )
    return [k for k in ks if k <= n_samples]


def check_jobs(jobs: int | None) -> None:
    """``-j``: 1 to the machine's CPUs, or -1 to -CPUs (joblib's count back from all CPUs)."""
    cpus = os.cpu_count() or 1
    if jobs is not None and not (1 <= abs(jobs) <= cpus):
        raise CliError(
            f"-j {jobs}: give a number of parallel fits from 1 to {cpus} (this machine's "
            "CPUs), or -1 for one per CPU"
        )


def check_device(device: str | None) -> None:
    """``--device``: a device that torch can compute on here (the estimator knows 'auto')."""
    if device is None:
        return
    try:
        from ..backends.torch import available_devices, resolve_device
    except ImportError:
        raise CliError(
            f'--device {device} needs PyTorch: pip install "gaussmix[torch]" (or leave '
            "--device out to compute with NumPy)"
        ) from None
    here = available_devices()
    resolved = resolve_device(device)  # a ValueError listing the devices for a bad name
    if str(resolved) not in here:
        raise CliError(
            f"--device {device}: not a device to compute on; the devices here are "
            f"{', '.join(here)} (or 'auto': the GPU when there is one, else the CPU)"
        )


@contextlib.contextmanager
def missing_value_hint(X: Any, missing: str | None) -> Iterator[None]:
    """Name the ``--missing marginalize`` option in an error about NaN in ``X``."""
    try:
        yield
    except ValueError as exc:
        if missing == "marginalize" or not _has_nan(X, exc):
            raise
        text = str(exc)
        if _PYTHON_HINT in text:  # the library's advice, in the command line's words
            raise CliError(text.replace(_PYTHON_HINT, "--missing marginalize")) from None
        raise CliError(
            f"{text} Or pass --missing marginalize to fit each row on the values it has "
            "(NaN marks a missing value)."
        ) from None


_PYTHON_HINT = 'missing="marginalize"'


def _has_nan(X: Any, exc: ValueError) -> bool:
    if isinstance(X, np.ndarray):
        return bool(X.dtype.kind == "f" and np.isnan(X).any())
    return "NaN" in str(exc)  # a file fitted through scan: not read again to look


def covariance_types(
    choice: str | None, single: bool, gm_kwargs: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The types a ``-c`` choice names, and the estimator options to fit them with.

    One type; every type for 'all'; a family's models, with its start unless
    ``--init-params`` is given (:func:`gaussmix.select.expand_family`); without
    a choice, GaussianMixture's default for one fit (``single``), else
    scikit-learn's four types.
    """
    if choice is None and single:
        from .._estimator import GaussianMixture

        return [GaussianMixture().covariance_type], gm_kwargs
    if choice is None:
        choice = _choices.DEFAULT_FAMILY
    if choice in _choices.families():
        from ..select import expand_family

        return expand_family(choice, gm_kwargs)
    every = list(_choices.covariance_types())
    return (every if choice == _choices.ALL else [choice]), gm_kwargs


def estimator_kwargs(
    max_iter: int,
    tol: float,
    reg_covar: float,
    init_params: str | None,
    device: str | None,
    missing: str | None,
    noise: bool = False,
    prior: bool = False,
) -> dict[str, Any]:
    """GaussianMixture's keyword arguments from the fitting options `fit` and `select` share.

    An option left out (None, or ``--noise`` or ``--prior`` not given) is not passed,
    so GaussianMixture's default applies. ``--prior`` is ``prior='default'``.
    """
    optional = {
        "init_params": init_params,
        "device": device,
        "missing": missing,
        "noise": noise or None,
        "prior": "default" if prior else None,
    }
    return {
        "max_iter": max_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        **{name: value for name, value in optional.items() if value is not None},
    }


def check_bayesian_options(
    bayesian: bool,
    k_range: str | None,
    covariance_type: str | None,
    prior_type: str | None,
    weight_concentration: float | None,
) -> None:
    """``fit --bayesian`` fits one model: one K (an upper bound) and one covariance type."""
    if not bayesian:
        given = [
            name
            for name, value in (
                ("--prior-type", prior_type),
                ("--weight-concentration", weight_concentration),
            )
            if value is not None
        ]
        if given:
            raise CliError(f"only --bayesian fits take {' and '.join(given)}: add --bayesian")
        return
    if k_range is not None:
        raise CliError(
            "--bayesian fits one mixture whose -k is the most components it may use (the "
            "others switch off): give -k instead of --k-range"
        )
    if covariance_type is not None and covariance_type not in _choices.covariance_types():
        raise CliError(
            f"--bayesian fits one covariance type, not {covariance_type!r}: give one of "
            f"{', '.join(_choices.covariance_types())}"
        )


def bayesian_mixture(
    k: int,
    covariance_type: str,
    n_init: int,
    seed: int | None,
    prior_type: str | None,
    weight_concentration: float | None,
    gm_kwargs: dict[str, Any],
) -> Any:
    """The (unfitted) BayesianGaussianMixture of ``fit --bayesian``'s options."""
    from .._bayesian import BayesianGaussianMixture

    # Options of GaussianMixture's only (--noise, --prior: a MAP prior), by parameter.
    unsupported = sorted(set(gm_kwargs) - set(BayesianGaussianMixture().get_params()))
    if unsupported:
        given = " and ".join(f"--{name}" for name in unsupported)
        raise CliError(
            f"--bayesian fits a variational mixture, whose prior is its own: it takes no "
            f"{given} (GaussianMixture's); leave {given} out or fit without --bayesian"
        )

    prior: dict[str, Any] = {
        name: value
        for name, value in (
            ("weight_concentration_prior_type", prior_type),
            ("weight_concentration_prior", weight_concentration),
        )
        if value is not None
    }
    return BayesianGaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        n_init=n_init,
        random_state=seed,
        **prior,
        **gm_kwargs,
    )


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


def is_bayesian(model: Any) -> bool:
    """Whether ``model`` is a variational mixture (no BIC or AIC: it has no ML fit)."""
    from .._bayesian import BayesianGaussianMixture

    return isinstance(model, BayesianGaussianMixture)


def summary(model: Any, X: Any = None) -> dict[str, Any]:
    """A fitted model's description (and its BIC and AIC, or mean log-likelihood, on X).

    A variational mixture has no free-parameter count, BIC or AIC; instead it
    reports its weight prior and the components in use (not switched off).
    """
    bayesian = is_bayesian(model)
    out: dict[str, Any] = {
        "estimator": type(model).__name__,
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "n_features": int(model.n_features_in_),
        "features": feature_labels(model),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
    }
    if bayesian:
        out["weight_concentration_prior_type"] = model.weight_concentration_prior_type
        out["active_components"] = int(np.sum(~model._switched_off()))
    else:
        out["n_parameters"] = int(model._n_parameters())
    if X is not None:
        out["n_samples"] = n_rows(X)
        if bayesian:
            out["score"] = model.score(X)
        else:
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
