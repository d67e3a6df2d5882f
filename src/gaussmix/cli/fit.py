"""``gaussmix fit``: fit a mixture to a data file and save the model."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

import typer

from . import _options

BAYESIAN_K = 9
"""``fit --bayesian``'s most components without -k (the top of the default K range)."""


def fit(
    data: str = _options.DATA,
    output: str = _options.output("Model file to write.", required=True),
    k: int | None = typer.Option(
        None, "-k", "--n-components", min=1, max=_options.MAX_COUNT, help="Components."
    ),
    k_range: str | None = typer.Option(None, "--k-range", help=_options.K_RANGE_HELP),
    covariance_type: str | None = _options.covariance_type(
        None,
        "Covariance type; 'all' tries each, a family its models (mclust: with mclust's "
        "start). Default: full with -k, scikit-learn's four (sklearn) otherwise.",
    ),
    columns: list[str] | None = _options.COLUMNS,
    criterion: str | None = _options.criterion(),
    n_init: int = _options.N_INIT,
    max_iter: int = _options.MAX_ITER,
    tol: float = _options.TOL,
    reg_covar: float = _options.REG_COVAR,
    init_params: str | None = _options.init_params(),
    missing: str | None = _options.missing(),
    bayesian: bool = typer.Option(
        False,
        "--bayesian",
        help="Fit a variational (Bayesian) mixture: -k is the most components it may use "
        f"(default {BAYESIAN_K}); those the data does not need switch off.",
    ),
    prior_type: str | None = _options.prior_type(),
    weight_concentration: float | None = typer.Option(
        None,
        "--weight-concentration",
        help="With --bayesian: the weights' concentration prior (smaller switches off more "
        "components; default 1/K).",
    ),
    jobs: int | None = _options.JOBS,
    seed: int | None = _options.SEED,
    device: str | None = _options.DEVICE,
    noise: bool = _options.NOISE,
    prior: bool = _options.PRIOR,
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """Fit a mixture to DATA and save it to a model file (-o MODEL).

    With -k, fit that many components. With a K range (the default, 1..9) or
    several covariance types, fit every candidate and keep the best by BIC
    (or --criterion). With --bayesian, fit one variational mixture of at most
    -k components instead.
    """
    import numpy as np

    from .._estimator import GaussianMixture
    from .._outputs import check_not_input
    from ..io import save
    from ._data import column_labels, fit_input, n_rows, open_data
    from ._errors import CliError
    from ._fitting import (
        DEFAULT_K_RANGE,
        bayesian_mixture,
        check_bayesian_options,
        check_device,
        check_jobs,
        components_for,
        covariance_types,
        estimator_kwargs,
        missing_value_hint,
        parse_k_range,
        run_select,
        summary,
    )
    from ._output import console, print_json
    from ._progress import Progress, warnings_as_lines

    if k is not None and k_range is not None:
        raise CliError("give either -k or --k-range, not both")
    check_bayesian_options(bayesian, k_range, covariance_type, prior_type, weight_concentration)
    check_not_input(output, [data])  # before the fit, not after it
    check_jobs(jobs)
    check_device(device)
    if bayesian and k is None:
        k = BAYESIAN_K
    single = None if k is None else [k]
    asked = single or parse_k_range(DEFAULT_K_RANGE if k_range is None else k_range)
    gm_kwargs = estimator_kwargs(
        max_iter, tol, reg_covar, init_params, device, missing, noise, prior
    )
    types, gm_kwargs = covariance_types(covariance_type, k is not None, gm_kwargs)
    data_file = open_data(data, columns)
    X = fit_input(data_file)
    show = not quiet and not as_json
    selection = None
    with warnings_as_lines(quiet or as_json), missing_value_hint(X, missing):
        ks = single or components_for(asked, n_rows(X), data, k_range)
        if bayesian:
            model = bayesian_mixture(
                ks[0], types[0], n_init, seed, prior_type, weight_concentration, gm_kwargs
            )
            with Progress(show, f"fitting up to K={ks[0]} {types[0]}, variational"):
                model.fit(X)
        elif len(ks) * len(types) == 1:
            model = GaussianMixture(
                ks[0], covariance_type=types[0], n_init=n_init, random_state=seed, **gm_kwargs
            )
            with Progress(show, f"fitting K={ks[0]} {types[0]}"):
                model.fit(X)
        else:
            selection = run_select(X, ks, types, criterion, n_init, seed, jobs, show, gm_kwargs)
            model = selection.best_
    described = summary(model, X)
    labels = column_labels(data_file)
    if labels is not None:
        model.feature_names_in_ = np.asarray(labels, dtype=object)
        described["features"] = labels
    save(model, output, inputs=[data])
    if as_json:
        payload = {"model": output, **described}
        payload["selection"] = None if selection is None else selection.records
        if selection is not None:
            payload["criterion"] = selection.criterion
        print_json(payload)
        return
    if quiet:
        return
    out = console()
    how = ""
    if selection is not None:
        how = f" (best of {len(selection.records)} candidates by {selection.criterion.upper()})"
    what = f"K = {model.n_components}"
    if bayesian:
        what = f"up to K = {model.n_components} ({described['active_components']} in use)"
    out.print(
        f"Fitted {what}, {model.covariance_type} covariance{how} "
        f"to {described['n_samples']} rows, {model.n_features_in_} columns "
        f"({', '.join(described['features'])})."
    )
    state = "converged" if model.converged_ else "did NOT converge"
    if bayesian:
        out.print(
            f"Variational inference {state} in {model.n_iter_} iterations; lower bound "
            f"{model.lower_bound_:.6g}; mean log-likelihood {described['score']:.6g}."
        )
    else:
        out.print(
            f"EM {state} in {model.n_iter_} iterations; mean log-likelihood "
            f"{model.lower_bound_:.6g}, BIC {described['bic']:.6g}, AIC {described['aic']:.6g}."
        )
    out.print(f"Saved the model to {output}")
