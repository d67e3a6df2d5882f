"""``gaussmix plot``: draw a model over a data file and save the figure."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

import typer

from . import _options

FEATURES = typer.Option(
    None,
    "--features",
    help="Features to draw: names or 0-based indices among the model's, comma-separated "
    "or repeated. Default: every feature, or the few most separating of many.",
)


def plot(
    model_path: str = _options.MODEL,
    data: str = _options.DATA,
    output: str = _options.output("Figure file (.png, .svg, .pdf, ...).", required=True),
    columns: list[str] | None = _options.COLUMNS,
    features: list[str] | None = FEATURES,
    dpi: int = typer.Option(
        150, "--dpi", min=10, max=1200, help="Resolution of raster figures (dots per inch)."
    ),
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """Draw the mixture over DATA and save the figure.

    One column: histogram and densities; two: points and 1-, 2-, 3-sigma
    ellipses; more: a pair grid (of the few most separating features of many,
    unless --features names others).
    """
    import sys
    from pathlib import Path

    from .._outputs import atomic_write, check_not_input
    from ._data import (
        column_key,
        column_labels,
        feature_labels,
        load_model,
        open_data,
        read_all,
        split_columns,
    )
    from ._errors import CliError
    from ._output import print_json
    from ._progress import warnings_as_lines

    inputs = [model_path, data]
    check_not_input(output, inputs)
    model = load_model(model_path)
    data_file = open_data(data, columns, model)
    X = read_all(data_file)
    suffix = Path(output).suffix.lower().lstrip(".")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plot import plot_mixture
    except ImportError:
        raise CliError('plot needs matplotlib: pip install "gaussmix[plot]"') from None
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if suffix not in formats:
        raise CliError(
            f"cannot write a figure as {output!r}: use one of "
            + ", ".join(f".{f}" for f in sorted(formats))
        )
    names = column_labels(data_file) or feature_labels(model)
    tokens = split_columns(features)
    chosen = None if tokens is None else [column_key(token, names) for token in tokens]
    with warnings_as_lines(quiet or as_json):
        drawn = plot_mixture(model, X, feature_names=names, features=chosen)
        fig = drawn if hasattr(drawn, "savefig") else drawn.figure
        with atomic_write(output, "wb", inputs=inputs) as f:
            fig.savefig(f, format=suffix, dpi=dpi)
        plt.close(fig)
    if as_json:
        print_json({"output": output})
    elif not quiet:
        print(f"Wrote {output}", file=sys.stderr)
