"""``gaussmix info``: describe a model file."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

from . import _options


def info(model_path: str = _options.MODEL, as_json: bool = _options.JSON) -> None:
    """Describe a model file: format, covariance type, components, fit summary."""
    from rich import box
    from rich.table import Table

    from ..io import load_with_metadata
    from ._fitting import is_bayesian, summary
    from ._output import console, print_json

    model, meta = load_with_metadata(model_path)
    described = summary(model)
    payload = {
        "path": model_path,
        "format": meta["format"],
        "format_version": meta["format_version"],
        "gaussmix_version": meta["gaussmix_version"],
        **described,
        "covariances": model.covariances_,
        "params": meta["params"],
    }
    if as_json:
        print_json(payload)
        return
    out = console()
    out.print(
        f"{model_path}: {meta['format']} v{meta['format_version']}, "
        f"written by gaussmix {meta['gaussmix_version']}"
    )
    state = "converged" if model.converged_ else "did NOT converge"
    features = f"{model.n_features_in_} features ({', '.join(described['features'])})"
    if is_bayesian(model):
        out.print(
            f"K = {model.n_components} components ({described['active_components']} in use), "
            f"{model.covariance_type} covariance, {features}, "
            f"{described['weight_concentration_prior_type']} prior on the weights"
        )
        out.print(
            f"Variational inference {state} in {model.n_iter_} iterations; lower bound "
            f"{model.lower_bound_:.6g}"
        )
    else:
        out.print(
            f"K = {model.n_components} components, {model.covariance_type} covariance, "
            f"{features}, {described['n_parameters']} free parameters"
        )
        out.print(
            f"EM {state} in {model.n_iter_} iterations; mean log-likelihood "
            f"{model.lower_bound_:.6g}"
        )
    table = Table(title="Components", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("k", justify="right")
    table.add_column("weight", justify="right")
    for name in described["features"]:
        table.add_column(f"mean {name}", justify="right")
    for k in range(model.n_components):
        table.add_row(str(k), f"{model.weights_[k]:.4f}", *(f"{m:.6g}" for m in model.means_[k]))
    out.print(table)
