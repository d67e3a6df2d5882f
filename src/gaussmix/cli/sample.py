"""``gaussmix sample``: draw rows from a model."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

import typer

from . import _options


def sample(
    model_path: str = _options.MODEL,
    n: int = typer.Option(
        ..., "-n", "--n-samples", min=1, max=_options.MAX_COUNT, help="Rows to draw."
    ),
    output: str | None = _options.output(
        "Write here (.csv, .tsv, .npy, .parquet); default stdout."
    ),
    seed: int | None = _options.SEED,
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """Draw N rows from the mixture.

    The last column is each row's component (a .npy output holds the rows only).
    """
    import sys

    import numpy as np

    from .._outputs import check_not_input
    from ._data import feature_labels, load_model
    from ._output import check_fits_in_memory, print_json, write_table

    if output is not None:
        check_not_input(output, [model_path])
    model = load_model(model_path)
    # The rows, their components and the table written: about three copies.
    check_fits_in_memory(3 * n * (model.n_features_in_ + 1) * 8, f"-n {n}")
    if seed is not None:
        model.random_state = seed
    X, y = model.sample(n)
    names = [*feature_labels(model), "component"]
    if output is None and as_json:
        print_json({"X": X, "component": y, "features": names[:-1]})
        return
    if output is not None and output.lower().endswith(".npy"):
        write_table(output, X, names[:-1], inputs=[model_path])
    else:
        table = np.column_stack([X, y.astype(np.float64)])
        write_table(output, table, names, inputs=[model_path])
    if as_json:
        print_json({"output": output, "n_rows": n})
    elif output is not None and not quiet:
        print(f"Wrote {n} rows to {output}", file=sys.stderr)
