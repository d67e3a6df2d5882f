"""``gaussmix predict``: label (or give probabilities for) each row of a data file."""

# No ``from __future__ import annotations``: typer reads the annotations at run time.

import typer

from . import _options


def predict(
    model_path: str = _options.MODEL,
    data: str = _options.DATA,
    output: str | None = _options.output(
        "Write here (.csv, .tsv, .npy, .parquet); default stdout."
    ),
    proba: bool = typer.Option(
        False,
        "--proba",
        help="Component probabilities instead of labels (a noise component's last).",
    ),
    columns: list[str] | None = _options.COLUMNS,
    as_json: bool = _options.JSON,
    quiet: bool = _options.QUIET,
) -> None:
    """Label each row of DATA with its most probable component.

    A noise component's rows are labelled -1. With --proba, write every
    component's probability instead (a noise component's last). When DATA
    has a header, the model's columns are picked by name.
    """
    import sys

    import numpy as np

    from .._outputs import check_not_input
    from ._data import load_model, open_data
    from ._errors import CliError
    from ._output import print_json, write_table
    from ._progress import warnings_as_lines

    inputs = [model_path, data]
    if output is not None:
        check_not_input(output, inputs)
    model = load_model(model_path)
    data_file = open_data(data, columns, model)
    parts = []
    with warnings_as_lines(quiet or as_json):
        for block in data_file:
            parts.append(model.predict_proba(block) if proba else model.predict(block))
    if not parts:
        raise CliError(f"{data}: no rows of data")
    result = np.concatenate(parts)
    names = [f"p{k}" for k in range(model.n_components)] if proba else ["component"]
    if proba and result.shape[1] > model.n_components:  # the noise component's, last
        names.append("p_noise")
    if output is None and as_json:
        print_json({"proba" if proba else "labels": result})
        return
    write_table(output, result, names, inputs=inputs)
    if as_json:
        print_json({"output": output, "n_rows": int(result.shape[0])})
    elif output is not None and not quiet:
        what = "probabilities" if proba else "labels"
        print(f"Wrote {what} of {result.shape[0]} rows to {output}", file=sys.stderr)
