"""The ``gaussmix`` command line (``pip install "gaussmix[cli]"``: typer and rich).

Commands: ``fit``, ``predict``, ``score``, ``sample``, ``info``, ``select`` and
``plot``; ``gaussmix COMMAND --help`` describes each. Data files are read by
:func:`gaussmix.scan` (CSV/TSV text, Parquet or ``.npy``); models are gaussmix
model files (see :mod:`gaussmix.io`).

Every error (a missing or malformed file, a non-numeric or unknown column, a bad
option) prints one line on standard error and exits with status 2; an
unexpected internal error prints one line and exits with 1 (set
``GAUSSMIX_DEBUG=1`` to see its traceback). Output files are written to a
temporary name and renamed.

typer and rich are imported only by :func:`main`, so ``import gaussmix`` never
needs them.
"""

# No ``from __future__ import annotations`` here: typer reads the commands'
# annotations at run time.

import contextlib
import json
import math
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["main"]

_CLI_EXTRA = 'pip install "gaussmix[cli]"'
_PROGRESS_DELAY_S = 1.0
_STREAM_BYTES = 256 * 2**20
"""Data files larger than this are fitted through ``gaussmix.scan`` (one pass per EM
iteration, memory bounded by its chunk size) instead of being read into memory."""


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class CovarianceChoice(str, Enum):
    full = "full"
    tied = "tied"
    diag = "diag"
    spherical = "spherical"
    all = "all"


class CriterionChoice(str, Enum):
    bic = "bic"
    aic = "aic"
    icl = "icl"


class InitChoice(str, Enum):
    kmeans = "kmeans"
    kmeanspp = "k-means++"
    random = "random"
    random_from_data = "random_from_data"


ALL_TYPES = ("full", "tied", "diag", "spherical")


# -- helpers (no typer needed) ---------------------------------------------------------
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


def _split_columns(columns: Sequence[str] | None) -> list[str] | None:
    if not columns:
        return None
    names = [part.strip() for value in columns for part in value.split(",") if part.strip()]
    return names or None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(payload), allow_nan=False) + "\n")
    sys.stdout.flush()


def _interactive() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


class _Progress:
    """A rich progress display on stderr that appears only if the work lasts > ~1 s."""

    def __init__(self, enabled: bool, description: str, total: int | None = None) -> None:
        self.enabled = enabled
        self.description = description
        self.total = total
        self._progress: Any = None
        self._lock = threading.Lock()
        self._started = False
        self._closed = False

    def __enter__(self) -> "_Progress":
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if self.total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(self.description, total=self.total)
        self._timer = threading.Timer(_PROGRESS_DELAY_S, self._start)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _start(self) -> None:
        with self._lock:
            if not self._closed:
                self._progress.start()
                self._started = True

    def advance(self, description: str | None = None) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, advance=1, **({"description": description} if description else {})
            )

    def __exit__(self, *exc: Any) -> None:
        if self._progress is None:
            return
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._started:
                self._progress.stop()


@contextlib.contextmanager
def _warnings_as_lines(quiet: bool) -> Iterator[None]:
    """Turn warnings raised inside into one 'gaussmix: warning: ...' line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
        yield
    if quiet:
        return
    seen = set()
    for w in caught:
        text = _one_line(str(w.message))
        if text not in seen:
            seen.add(text)
            print(f"gaussmix: warning: {text}", file=sys.stderr)


def _estimator_kwargs(
    max_iter: int, tol: float, reg_covar: float, init_params: Any, device: str | None
) -> dict[str, Any]:
    """GaussianMixture's keyword arguments from the fitting options `fit` and `select` share."""
    kwargs: dict[str, Any] = dict(
        max_iter=max_iter, tol=tol, reg_covar=reg_covar, init_params=init_params.value
    )
    if device is not None:
        kwargs["device"] = device
    return kwargs


def _open_data(path: str, columns: Sequence[str] | None, model: Any = None) -> Any:
    """A gaussmix.scan of DATA; with a model, pick its columns by name or check their count.

    ``--columns`` tokens are column names, else 0-based positions.
    """
    from .scan import column_names, scan

    wanted = _split_columns(columns)
    model_names = getattr(model, "feature_names_in_", None) if model is not None else None
    try:
        keys: list[Any] | None = None
        if wanted is not None or model_names is not None:
            names = column_names(path)
            if wanted is None and model_names is not None and names is not None:
                missing = [str(n) for n in model_names if n not in names]
                if missing:
                    raise CliError(
                        f"{path}: the model's column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)} "
                        f"{'are' if len(missing) > 1 else 'is'} not in the file; "
                        "choose the columns with --columns"
                    )
                wanted = [str(n) for n in model_names]
            if wanted is not None:
                keys = [_column_key(token, names) for token in wanted]
        data = scan(path, columns=keys)
    except ImportError as exc:  # Parquet without pyarrow: a user's setup, not a bug
        raise CliError(str(exc)) from None
    if model is not None and data.n_features != model.n_features_in_:
        raise CliError(
            f"{path}: {data.n_features} column(s) selected, but the model was fitted on "
            f"{model.n_features_in_}; choose the columns with --columns"
        )
    return data


def _column_key(token: str, names: list[str] | None) -> str | int:
    """A --columns token as a column name if the file has it, else as a position."""
    if names is not None and token in names:
        return token
    try:
        return int(token)
    except ValueError:
        return token  # unknown: scan says so, with the file's columns


def _column_labels(data: Any) -> list[str] | None:
    """The names of a scan's selected columns, or None for a file without names."""
    return list(data.columns) if isinstance(data.columns[0], str) else None


def _fit_input(data: Any) -> Any:
    """What to fit: a large file's scan itself (one pass per EM iteration), else its rows."""
    if data.path.stat().st_size > _STREAM_BYTES:
        if data.n_rows == 0:
            raise CliError(f"{data.path}: no rows of data")
        return data
    return _read_all(data)


def _n_rows(X: Any) -> int:
    return int(X.n_rows if hasattr(X, "n_rows") else X.shape[0])


def _read_all(data: Any) -> np.ndarray:
    """Every row of a scan, shape (n_rows, n_features)."""
    parts = list(data)
    if not parts or sum(part.shape[0] for part in parts) == 0:
        raise CliError(f"{data.path}: no rows of data")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _write_table(path: str | None, array: np.ndarray, names: Sequence[str]) -> None:
    """Write a 1-D or 2-D array with column ``names`` atomically (None: CSV to stdout).

    The format follows the suffix: ``.npy``, Parquet (``.parquet``, ``.pq``,
    ``.parq``), ``.tsv``/``.tab`` (tab-separated), anything else comma-separated
    text with a header. Floats are written with 17 significant digits (exact).
    """
    from ._outputs import atomic_write

    table = array.reshape(-1, 1) if array.ndim == 1 else array
    if path is None:
        _write_text(sys.stdout, table, names, ",")
        sys.stdout.flush()
        return
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        with atomic_write(path, "wb") as f:
            np.save(f, array, allow_pickle=False)
    elif suffix in (".parquet", ".pq", ".parq"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise CliError(
                f"{path}: writing Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        columns = {name: table[:, i] for i, name in enumerate(names)}
        with atomic_write(path, "wb") as f:
            pq.write_table(pa.table(columns), f)
    else:
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        with atomic_write(path, "w") as f:
            _write_text(f, table, names, delimiter)


def _write_text(f: IO[str], table: np.ndarray, names: Sequence[str], delimiter: str) -> None:
    f.write(delimiter.join(names) + "\n")
    fmt = "%d" if table.dtype.kind in "biu" else "%.17g"
    if table.shape[0]:
        np.savetxt(f, table, fmt=fmt, delimiter=delimiter)


def _load_model(path: str) -> Any:
    from .io import load

    return load(path)


def _feature_labels(model: Any) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(model.n_features_in_)]


def _summary(model: Any, X: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "n_features": int(model.n_features_in_),
        "features": _feature_labels(model),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "n_parameters": int(model._n_parameters()),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
    }
    if X is not None:
        out["n_samples"] = _n_rows(X)
        out["bic"] = model.bic(X)
        out["aic"] = model.aic(X)
    return out


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # files and pipes: no truncated tables
    return console


def _fmt(value: Any, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _fixed(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) and math.isfinite(value) else "—"


def _selection_table(result: Any) -> Any:
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
            _fixed(r["log_likelihood"]),
            _fmt(r["n_parameters"]),
            _fixed(r["bic"]),
            _fixed(r["aic"]),
            _fixed(r["icl"]),
            "yes" if r["converged"] else "no",
            note[:60],
            style="bold" if best else None,
        )
    return table


def _run_select(
    X: np.ndarray,
    ks: list[int],
    types: list[str],
    criterion: str,
    n_init: int,
    seed: int | None,
    jobs: int | None,
    show_progress: bool,
    gm_kwargs: dict[str, Any],
) -> Any:
    from .select import select

    total = len(ks) * len(types)
    with _Progress(show_progress, "fitting candidates", total=total) as progress:

        def advance(row: dict[str, Any]) -> None:
            progress.advance(
                f"fitting candidates (done: K={row['n_components']} {row['covariance_type']})"
            )

        return select(
            X,
            n_components=ks,
            covariance_types=types,
            criterion=criterion,
            n_init=n_init,
            random_state=seed,
            n_jobs=jobs,
            callback=advance,
            **gm_kwargs,
        )


def _types(choice: CovarianceChoice | None, single: bool) -> list[str]:
    if choice is None:
        return ["full"] if single else list(ALL_TYPES)
    return list(ALL_TYPES) if choice.value == "all" else [choice.value]


# -- the typer application ---------------------------------------------------------
def _build_app() -> Any:
    import typer

    app = typer.Typer(
        name="gaussmix",
        help="Fit, select, inspect and apply Gaussian mixture models.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    data_arg = typer.Argument(..., metavar="DATA", help="CSV/TSV, Parquet or .npy data file.")
    model_arg = typer.Argument(..., metavar="MODEL", help="A gaussmix model file.")
    json_opt = typer.Option(False, "--json", help="Print machine-readable JSON.")
    quiet_opt = typer.Option(False, "-q", "--quiet", help="No progress bar, notes or warnings.")
    columns_opt = typer.Option(
        None,
        "--columns",
        help="Columns to use: names or 0-based indices, comma-separated or repeated.",
    )
    seed_opt = typer.Option(None, "--seed", help="Random seed (reproducible results).")
    device_opt = typer.Option(None, "--device", help="Compute device, e.g. cpu or cuda.")
    k_range_help = "Numbers of components to try: 1..9, 2-5 or 2,3,5."
    crit_opt = typer.Option(CriterionChoice.bic, "--criterion", help="Selection criterion.")
    n_init_opt = typer.Option(1, "--n-init", min=1, help="EM initializations per fit.")
    max_iter_opt = typer.Option(100, "--max-iter", min=0, help="EM iterations per init.")
    tol_opt = typer.Option(1e-3, "--tol", min=0.0, help="Convergence threshold.")
    reg_opt = typer.Option(1e-6, "--reg-covar", min=0.0, help="Added to covariance diagonals.")
    init_opt = typer.Option(InitChoice.kmeans, "--init-params", help="Initialization.")
    fit_type_opt = typer.Option(
        None,
        "-c",
        "--covariance-type",
        help="Covariance type; 'all' tries each. Default: full with -k, all otherwise.",
    )
    select_type_opt = typer.Option(
        CovarianceChoice.all, "-c", "--covariance-type", help="Covariance type(s) to try."
    )
    jobs_opt = typer.Option(None, "-j", "--jobs", help="Candidates fitted in parallel (-1: all).")

    @app.command()
    def fit(
        data: str = data_arg,
        output: str = typer.Option(..., "-o", "--output", help="Model file to write."),
        k: int | None = typer.Option(None, "-k", "--n-components", min=1, help="Components."),
        k_range: str | None = typer.Option(None, "--k-range", help=k_range_help),
        covariance_type: CovarianceChoice | None = fit_type_opt,
        columns: list[str] | None = columns_opt,
        criterion: CriterionChoice = crit_opt,
        n_init: int = n_init_opt,
        max_iter: int = max_iter_opt,
        tol: float = tol_opt,
        reg_covar: float = reg_opt,
        init_params: InitChoice = init_opt,
        jobs: int | None = jobs_opt,
        seed: int | None = seed_opt,
        device: str | None = device_opt,
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Fit a mixture to DATA and save it to a model file (-o MODEL).

        With -k, fit that many components. With a K range (the default, 1..9) or
        several covariance types, fit every candidate and keep the best by BIC
        (or --criterion).
        """
        from ._estimator import GaussianMixture

        if k is not None and k_range is not None:
            raise CliError("give either -k or --k-range, not both")
        ks = [k] if k is not None else parse_k_range(k_range or "1..9")
        types = _types(covariance_type, single=k is not None)
        gm_kwargs = _estimator_kwargs(max_iter, tol, reg_covar, init_params, device)
        data_file = _open_data(data, columns)
        X = _fit_input(data_file)
        show = not quiet and not as_json and _interactive()
        selection = None
        with _warnings_as_lines(quiet or as_json):
            if len(ks) * len(types) == 1:
                model = GaussianMixture(
                    ks[0],
                    covariance_type=types[0],
                    n_init=n_init,
                    random_state=seed,
                    **gm_kwargs,
                )
                with _Progress(show, f"fitting K={ks[0]} {types[0]}"):
                    model.fit(X)
            else:
                selection = _run_select(
                    X, ks, types, criterion.value, n_init, seed, jobs, show, gm_kwargs
                )
                model = selection.best_
        summary = _summary(model, X)
        labels = _column_labels(data_file)
        if labels is not None:
            model.feature_names_in_ = np.asarray(labels, dtype=object)
            summary["features"] = labels
        model.save(output)
        if as_json:
            payload = {"model": output, **summary}
            payload["selection"] = None if selection is None else selection.records
            if selection is not None:
                payload["criterion"] = selection.criterion
            _print_json(payload)
            return
        if quiet:
            return
        console = _console()
        how = ""
        if selection is not None:
            how = (
                f" (best of {len(selection.records)} candidates by {selection.criterion.upper()})"
            )
        console.print(
            f"Fitted K = {model.n_components}, {model.covariance_type} covariance{how} "
            f"to {summary['n_samples']} rows, {model.n_features_in_} columns "
            f"({', '.join(summary['features'])})."
        )
        state = "converged" if model.converged_ else "did NOT converge"
        console.print(
            f"EM {state} in {model.n_iter_} iterations; mean log-likelihood "
            f"{model.lower_bound_:.6g}, BIC {summary['bic']:.6g}, AIC {summary['aic']:.6g}."
        )
        console.print(f"Saved the model to {output}")

    @app.command()
    def predict(
        model_path: str = model_arg,
        data: str = data_arg,
        output: str | None = typer.Option(
            None, "-o", "--output", help="Write here (.csv, .tsv, .npy, .parquet); default stdout."
        ),
        proba: bool = typer.Option(
            False, "--proba", help="Component probabilities instead of labels."
        ),
        columns: list[str] | None = columns_opt,
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Label each row of DATA with its most probable component.

        With --proba, write every component's probability instead. When DATA
        has a header, the model's columns are picked by name.
        """
        model = _load_model(model_path)
        data_file = _open_data(data, columns, model)
        parts = []
        with _warnings_as_lines(quiet or as_json):
            for block in data_file:
                parts.append(model.predict_proba(block) if proba else model.predict(block))
        if not parts:
            raise CliError(f"{data}: no rows of data")
        result = np.concatenate(parts)
        names = [f"p{k}" for k in range(model.n_components)] if proba else ["component"]
        if output is None and as_json:
            _print_json({"proba" if proba else "labels": result})
            return
        _write_table(output, result, names)
        if as_json:
            _print_json({"output": output, "n_rows": int(result.shape[0])})
        elif output is not None and not quiet:
            what = "probabilities" if proba else "labels"
            print(f"Wrote {what} of {result.shape[0]} rows to {output}", file=sys.stderr)

    @app.command()
    def score(
        model_path: str = model_arg,
        data: str = data_arg,
        columns: list[str] | None = columns_opt,
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """The model's log-likelihood of DATA, with BIC and AIC on it."""
        model = _load_model(model_path)
        data_file = _open_data(data, columns, model)
        total, n = 0.0, 0
        with _warnings_as_lines(quiet or as_json):
            for block in data_file:
                total += float(np.sum(model.score_samples(block), dtype=np.float64))
                n += block.shape[0]
        if n == 0:
            raise CliError(f"{data}: no rows of data")
        p = model._n_parameters()
        result = {
            "n_samples": n,
            "mean_log_likelihood": total / n,
            "log_likelihood": total,
            "n_parameters": p,
            "bic": -2.0 * total + p * math.log(n),
            "aic": -2.0 * total + 2.0 * p,
        }
        if as_json:
            _print_json(result)
            return
        console = _console()
        console.print(f"rows                 {n}")
        console.print(f"mean log-likelihood  {result['mean_log_likelihood']:.10g}")
        console.print(f"log-likelihood       {total:.10g}")
        console.print(f"BIC                  {result['bic']:.10g}")
        console.print(f"AIC                  {result['aic']:.10g}")

    @app.command()
    def sample(
        model_path: str = model_arg,
        n: int = typer.Option(..., "-n", "--n-samples", min=1, help="Rows to draw."),
        output: str | None = typer.Option(
            None, "-o", "--output", help="Write here (.csv, .tsv, .npy, .parquet); default stdout."
        ),
        seed: int | None = seed_opt,
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Draw N rows from the mixture.

        The last column is each row's component (a .npy output holds the rows only).
        """
        model = _load_model(model_path)
        if seed is not None:
            model.random_state = seed
        X, y = model.sample(n)
        names = [*_feature_labels(model), "component"]
        if output is None and as_json:
            _print_json({"X": X, "component": y, "features": names[:-1]})
            return
        if output is not None and output.lower().endswith(".npy"):
            _write_table(output, X, names[:-1])
        else:
            _write_table(output, np.column_stack([X, y.astype(np.float64)]), names)
        if as_json:
            _print_json({"output": output, "n_rows": n})
        elif output is not None and not quiet:
            print(f"Wrote {n} rows to {output}", file=sys.stderr)

    @app.command()
    def info(
        model_path: str = model_arg,
        as_json: bool = json_opt,
    ) -> None:
        """Describe a model file: format, covariance type, components, fit summary."""
        from .io import load_with_metadata

        model, meta = load_with_metadata(model_path)
        summary = _summary(model)
        payload = {
            "path": model_path,
            "format": meta["format"],
            "format_version": meta["format_version"],
            "gaussmix_version": meta["gaussmix_version"],
            **summary,
            "covariances": model.covariances_,
            "params": meta["params"],
        }
        if as_json:
            _print_json(payload)
            return
        from rich import box
        from rich.table import Table

        console = _console()
        console.print(
            f"{model_path}: {meta['format']} v{meta['format_version']}, "
            f"written by gaussmix {meta['gaussmix_version']}"
        )
        console.print(
            f"K = {model.n_components} components, {model.covariance_type} covariance, "
            f"{model.n_features_in_} features ({', '.join(summary['features'])}), "
            f"{summary['n_parameters']} free parameters"
        )
        state = "converged" if model.converged_ else "did NOT converge"
        console.print(
            f"EM {state} in {model.n_iter_} iterations; "
            f"mean log-likelihood {model.lower_bound_:.6g}"
        )
        table = Table(
            title="Components", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        table.add_column("k", justify="right")
        table.add_column("weight", justify="right")
        for name in summary["features"]:
            table.add_column(f"mean {name}", justify="right")
        for k in range(model.n_components):
            table.add_row(
                str(k),
                f"{model.weights_[k]:.4f}",
                *(f"{m:.6g}" for m in model.means_[k]),
            )
        console.print(table)

    @app.command(name="select")
    def select_command(
        data: str = data_arg,
        k_range: str = typer.Option("1..9", "--k-range", help=k_range_help),
        covariance_type: CovarianceChoice = select_type_opt,
        columns: list[str] | None = columns_opt,
        criterion: CriterionChoice = crit_opt,
        n_init: int = n_init_opt,
        max_iter: int = max_iter_opt,
        tol: float = tol_opt,
        reg_covar: float = reg_opt,
        init_params: InitChoice = init_opt,
        jobs: int | None = jobs_opt,
        output: str | None = typer.Option(
            None, "-o", "--output", help="Also save the best model here."
        ),
        seed: int | None = seed_opt,
        device: str | None = device_opt,
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Compare candidate models on DATA: BIC, AIC and ICL for each K and covariance type.

        Prints every candidate's log-likelihood, free parameters, BIC, AIC and ICL
        (lower is better), best first.
        """
        ks = parse_k_range(k_range)
        types = _types(covariance_type, single=False)
        gm_kwargs = _estimator_kwargs(max_iter, tol, reg_covar, init_params, device)
        data_file = _open_data(data, columns)
        X = _fit_input(data_file)
        show = not quiet and not as_json and _interactive()
        with _warnings_as_lines(quiet or as_json):
            result = _run_select(
                X, ks, types, criterion.value, n_init, seed, jobs, show, gm_kwargs
            )
        if output is not None:
            labels = _column_labels(data_file)
            if labels is not None:
                result.best_.feature_names_in_ = np.asarray(labels, dtype=object)
            result.best_.save(output)
        if as_json:
            _print_json(
                {
                    "criterion": result.criterion,
                    "n_samples": result.n_samples,
                    "best": result.best_params_,
                    "model": output,
                    "candidates": result.records,
                }
            )
            return
        console = _console()
        console.print(_selection_table(result))
        p = result.best_params_
        console.print(
            f"Best by {result.criterion.upper()}: K = {p['n_components']}, "
            f"{p['covariance_type']} covariance"
            + (f"; saved to {output}" if output is not None else "")
        )

    @app.command()
    def plot(
        model_path: str = model_arg,
        data: str = data_arg,
        output: str = typer.Option(
            ..., "-o", "--output", help="Figure file (.png, .svg, .pdf, ...)."
        ),
        columns: list[str] | None = columns_opt,
        dpi: int = typer.Option(150, "--dpi", min=10, help="Resolution of raster figures."),
        as_json: bool = json_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Draw the mixture over DATA and save the figure.

        One column: histogram and densities; two: points and 1-, 2-, 3-sigma
        ellipses; more: a pair grid.
        """
        model = _load_model(model_path)
        data_file = _open_data(data, columns, model)
        X = _read_all(data_file)
        suffix = Path(output).suffix.lower().lstrip(".")
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            from .plot import plot_mixture
        except ImportError:
            raise CliError('plot needs matplotlib: pip install "gaussmix[plot]"') from None
        formats = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
        if suffix not in formats:
            raise CliError(
                f"cannot write a figure as {output!r}: use one of "
                + ", ".join(f".{f}" for f in sorted(formats))
            )
        from ._outputs import atomic_write

        with _warnings_as_lines(quiet or as_json):
            drawn = plot_mixture(model, X, feature_names=_column_labels(data_file))
            fig = drawn if hasattr(drawn, "savefig") else drawn.figure
            with atomic_write(output, "wb") as f:
                fig.savefig(f, format=suffix, dpi=dpi)
            plt.close(fig)
        if as_json:
            _print_json({"output": output})
        elif not quiet:
            print(f"Wrote {output}", file=sys.stderr)

    return app


# -- entry point ----------------------------------------------------------------------
def _error(message: str, code: int = 2) -> int:
    print(f"gaussmix: error: {_one_line(message)}", file=sys.stderr)
    return code


def _run(app: Any, argv: list[str]) -> int:
    import typer

    # typer >= 0.2x vendors click as typer._click; older typer uses click itself.
    errors = sys.modules[typer.BadParameter.__module__]
    no_args = getattr(errors, "NoArgsIsHelpError", ())
    aborts = tuple(a for a in (getattr(errors, "Abort", None), typer.Abort) if a is not None)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="gaussmix", standalone_mode=False)
    except no_args as exc:
        message = exc.format_message()  # typer has already printed the help
        if message.strip():
            print(message, file=sys.stderr)
        return 2
    except errors.ClickException as exc:
        where = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and ctx.command_path and ctx.command_path != "gaussmix":
            where = f"{ctx.command_path.removeprefix('gaussmix ')}: "
        hint = ""
        if isinstance(exc, errors.UsageError):
            path = ctx.command_path if ctx is not None else "gaussmix"
            hint = f" (see '{path} --help')"
        return _error(f"{where}{exc.format_message()}{hint}", exc.exit_code)
    except aborts:
        return _error("aborted", 1)
    except typer.Exit as exc:
        return int(exc.exit_code)
    code = int(result) if isinstance(result, int) else 0
    if code == 130:  # typer turns Ctrl-C into exit status 130
        print("gaussmix: interrupted", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gaussmix`` command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        print(f"gaussmix: the command line needs typer and rich: {_CLI_EXTRA}", file=sys.stderr)
        return 2
    from .io import ModelFileError
    from .scan import ScanError

    debug = bool(os.environ.get("GAUSSMIX_DEBUG"))
    try:
        return _run(_build_app(), args)
    except (CliError, ScanError, ModelFileError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("gaussmix: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 1
    except (OSError, ValueError, TypeError) as exc:
        if debug:
            raise
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            return _error(f"{exc.strerror}: '{exc.filename}'")
        return _error(str(exc) or type(exc).__name__)
    except Exception as exc:
        if debug:
            raise
        return _error(
            f"internal error: {type(exc).__name__}: {exc} (set GAUSSMIX_DEBUG=1 "
            "for the traceback, and please report it)",
            1,
        )


if __name__ == "__main__":
    sys.exit(main())
