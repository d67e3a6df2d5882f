"""The ``gaussmix`` command line (``pip install "gaussmix[cli]"``: typer and rich).

Commands: ``fit``, ``predict``, ``score``, ``sample``, ``info``, ``select`` and
``plot``, one module each; ``gaussmix COMMAND --help`` describes each. Data files
are read by :func:`gaussmix.scan` (CSV/TSV text, Parquet or ``.npy``); models are
gaussmix model files (see :mod:`gaussmix.io`).

Every error (a missing or malformed file, a non-numeric or unknown column, a bad
option) prints one line on standard error and exits with status 2; an
unexpected internal error prints one line and exits with 1 (set
``GAUSSMIX_DEBUG=1`` to see its traceback). Output files are written to a
temporary name and renamed, and never over one of the command's inputs.

Importing this package imports nothing heavy: typer and rich are imported by
:func:`main`, and each command imports what it needs when it runs, so
``gaussmix --help`` answers at once.

Layout: :mod:`._main` (the entry point: errors, signals, exit statuses),
:mod:`._app` (the typer application), :mod:`._options` (options shared by
several commands), :mod:`._choices` (choices read from the registries),
:mod:`._data` (data and model files in), :mod:`._output` (tables, JSON and the
console out), :mod:`._progress` (progress display and warnings), and one module
per command.
"""

from ._main import main

__all__ = ["main"]
