"""Arguments and options that several commands share (typer parameter declarations).

Choice options take their values from :mod:`._choices`, so they are read from
the registries when a command is built (never for ``gaussmix --help``).
"""

from __future__ import annotations

from typing import Any

import typer

from . import _choices

MAX_COUNT = 2**63 - 1
"""The largest count (components, iterations, rows) a model file can record (int64)."""
MAX_SEED = 2**32 - 1
"""NumPy's seeds are 0 to 2**32 - 1."""

DATA = typer.Argument(..., metavar="DATA", help="CSV/TSV, Parquet or .npy data file.")
MODEL = typer.Argument(..., metavar="MODEL", help="A gaussmix model file.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
QUIET = typer.Option(False, "-q", "--quiet", help="No progress bar, notes or warnings.")
NOISE = typer.Option(
    False, "--noise", help="Add a uniform noise component (mclust's): outliers are labelled -1."
)
PRIOR = typer.Option(
    False,
    "--prior",
    help="MAP EM under mclust's default conjugate prior (models that have one; see the guide).",
)
COLUMNS = typer.Option(
    None,
    "--columns",
    help="Columns to use: names or 0-based indices, comma-separated or repeated.",
)
SEED = typer.Option(
    None, "--seed", min=0, max=MAX_SEED, help="Random seed (reproducible results)."
)
DEVICE = typer.Option(None, "--device", help="Compute device, e.g. cpu or cuda.")
K_RANGE_HELP = "Numbers of components to try: 1..9, 2-5 or 2,3,5."
N_INIT = typer.Option(1, "--n-init", min=1, max=MAX_COUNT, help="EM initializations per fit.")
MAX_ITER = typer.Option(100, "--max-iter", min=0, max=MAX_COUNT, help="EM iterations per init.")
TOL = typer.Option(1e-3, "--tol", min=0.0, help="Convergence threshold.")
REG_COVAR = typer.Option(1e-6, "--reg-covar", min=0.0, help="Added to covariance diagonals.")
JOBS = typer.Option(None, "-j", "--jobs", help="Candidates fitted in parallel (-1: all).")


def output(help: str, required: bool = False) -> Any:
    """``-o/--output``: where the command writes."""
    return typer.Option(... if required else None, "-o", "--output", help=help)


def choice(names: tuple[str, ...], default: str | None, *decls: str, help: str) -> Any:
    """An option that accepts exactly ``names`` (shown as ``<a|b|c>`` in the help)."""
    return typer.Option(
        default, *decls, parser=_choices.parser(names), metavar=_choices.metavar(names), help=help
    )


# Without a value, the library's own default applies (it is not repeated here).
def criterion() -> Any:
    """``--criterion``: what selects the best candidate."""
    return choice(
        _choices.criteria(),
        None,
        "--criterion",
        help="Selection criterion (default: gaussmix.select's).",
    )


def init_params() -> Any:
    """``--init-params``: how EM starts."""
    return choice(
        _choices.init_methods(),
        None,
        "--init-params",
        help="Initialization (default: GaussianMixture's).",
    )


def missing() -> Any:
    """``--missing``: what a missing value (NaN) means."""
    return choice(
        _choices.missing_policies(),
        None,
        "--missing",
        help="NaN in the data: 'error' refuses it, 'marginalize' fits each row on the "
        "values it has (default: GaussianMixture's).",
    )


def covariance_type(default: str | None, help: str) -> Any:
    """``-c/--covariance-type``: a covariance type, a family of them, or 'all'."""
    names = (*_choices.covariance_types(), *_choices.families(), _choices.ALL)
    return choice(names, default, "-c", "--covariance-type", help=help)


def prior_type() -> Any:
    """``--prior-type``: the weights' prior of ``fit --bayesian``."""
    return choice(
        _choices.weight_priors(),
        None,
        "--prior-type",
        help="With --bayesian: the weights' prior, a stick-breaking Dirichlet process or a "
        "Dirichlet distribution (default: BayesianGaussianMixture's).",
    )
