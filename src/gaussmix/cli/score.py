"""``gaussmix score``: a model's log-likelihood of a data file, with BIC and AIC."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

from . import _options


def score(
    model_path: str = _options.MODEL,
    data: str = _options.DATA,
    columns: list[str] | None = _options.COLUMNS,
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """The model's log-likelihood of DATA, with BIC and AIC on it.

    A variational (--bayesian) model has no maximum-likelihood fit, so no BIC or
    AIC: its log-likelihood is that of its variational E-step, as
    BayesianGaussianMixture.score_samples gives it.
    """
    import numpy as np

    from .._core.criteria import aic, bic
    from ._data import load_model, open_data
    from ._errors import CliError
    from ._fitting import is_bayesian
    from ._output import console, print_json
    from ._progress import warnings_as_lines

    model = load_model(model_path)
    data_file = open_data(data, columns, model)
    total, n = 0.0, 0
    with warnings_as_lines(quiet or as_json):
        for block in data_file:
            total += float(np.sum(model.score_samples(block), dtype=np.float64))
            n += block.shape[0]
    if n == 0:
        raise CliError(f"{data}: no rows of data")
    if not np.isfinite(total):
        raise CliError(
            f"the model's log-likelihood of {data} is {total} (not a finite number): the "
            f"model file {model_path} or the data holds values far outside any fitted "
            "mixture's; check both (gaussmix info shows the model)"
        )
    result: dict[str, float | int] = {
        "n_samples": n,
        "mean_log_likelihood": total / n,
        "log_likelihood": total,
    }
    if not is_bayesian(model):
        p = model._n_parameters()
        result.update(n_parameters=p, bic=bic(total, p, n), aic=aic(total, p))
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(f"rows                 {n}")
    out.print(f"mean log-likelihood  {result['mean_log_likelihood']:.10g}")
    out.print(f"log-likelihood       {total:.10g}")
    if "bic" in result:
        out.print(f"BIC                  {result['bic']:.10g}")
        out.print(f"AIC                  {result['aic']:.10g}")
