"""``gaussmix select``: compare candidate models of a data file by BIC, AIC and ICL."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

import typer

from . import _choices, _options


def select(
    data: str = _options.DATA,
    k_range: str | None = typer.Option(
        None, "--k-range", help=f"{_options.K_RANGE_HELP} [default: 1..9]"
    ),
    covariance_type: str = _options.covariance_type(
        _choices.DEFAULT_FAMILY,
        "Covariance type(s) to try: one, 'all', or a family (sklearn: scikit-learn's four; "
        "mclust: its fourteen models and its start).",
    ),
    columns: list[str] | None = _options.COLUMNS,
    criterion: str | None = _options.criterion(),
    n_init: int = _options.N_INIT,
    max_iter: int = _options.MAX_ITER,
    tol: float = _options.TOL,
    reg_covar: float = _options.REG_COVAR,
    init_params: str | None = _options.init_params(),
    missing: str | None = _options.missing(),
    jobs: int | None = _options.JOBS,
    output: str | None = _options.output("Also save the best model here."),
    seed: int | None = _options.SEED,
    device: str | None = _options.DEVICE,
    noise: bool = _options.NOISE,
    prior: bool = _options.PRIOR,
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """Compare candidate models on DATA: BIC, AIC and ICL for each K and covariance type.

    Prints every candidate's log-likelihood, free parameters, BIC, AIC and ICL
    (lower is better), best first.
    """
    import numpy as np

    from .._outputs import check_not_input
    from ..io import save
    from ._data import column_labels, fit_input, n_rows, open_data
    from ._fitting import (
        DEFAULT_K_RANGE,
        check_device,
        check_jobs,
        components_for,
        covariance_types,
        estimator_kwargs,
        missing_value_hint,
        parse_k_range,
        run_select,
        selection_table,
    )
    from ._output import console, print_json
    from ._progress import warnings_as_lines

    if output is not None:
        check_not_input(output, [data])  # before the fits, not after them
    check_jobs(jobs)
    check_device(device)
    candidate_ks = parse_k_range(DEFAULT_K_RANGE if k_range is None else k_range)
    gm_kwargs = estimator_kwargs(
        max_iter, tol, reg_covar, init_params, device, missing, noise, prior
    )
    types, gm_kwargs = covariance_types(covariance_type, False, gm_kwargs)
    data_file = open_data(data, columns)
    X = fit_input(data_file)
    show = not quiet and not as_json
    with warnings_as_lines(quiet or as_json), missing_value_hint(X, missing):
        ks = components_for(candidate_ks, n_rows(X), data, k_range)
        result = run_select(X, ks, types, criterion, n_init, seed, jobs, show, gm_kwargs)
    if output is not None:
        labels = column_labels(data_file)
        if labels is not None:
            result.best_.feature_names_in_ = np.asarray(labels, dtype=object)
        save(result.best_, output, inputs=[data])
    if as_json:
        print_json(
            {
                "criterion": result.criterion,
                "n_samples": result.n_samples,
                "best": result.best_params_,
                "model": output,
                "candidates": result.records,
            }
        )
        return
    out = console()
    out.print(selection_table(result))
    p = result.best_params_
    out.print(
        f"Best by {result.criterion.upper()}: K = {p['n_components']}, "
        f"{p['covariance_type']} covariance" + (f"; saved to {output}" if output else "")
    )
