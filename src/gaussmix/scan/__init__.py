"""Data files, read chunk by chunk: ``gaussmix.scan``.

``scan(path)`` is a re-iterable view of a file's numeric columns as float chunks.
``GaussianMixture.fit``, ``predict``, ``predict_proba``, ``score`` and
``score_samples`` accept it: each EM iteration is one pass over the file, with
the same exact statistics as an in-memory fit, and memory bounded by the chunk
size. Predict-style outputs come back as one in-memory array (n rows are small
next to n × d); :meth:`Scan.map` writes them to a ``.npy`` file chunk by chunk
instead::

    data = gaussmix.scan("big.npy")
    gm = GaussianMixture(8).fit(data)
    labels = data.map(gm.predict, out="labels.npy")   # memory-mapped result

It is also the command line's one reader of data files. One reader per format,
chosen by the file's suffix:

- ``.npy`` (:mod:`._npy`): a 1-D (one column) or 2-D numeric array. Each chunk is
  a fresh memory map of just that chunk's rows, so resident memory never grows
  with the file; nothing is unpickled.
- ``.parquet`` / ``.pq`` / ``.parq`` (:mod:`._parquet`): row groups (or batches of
  ``chunk_rows``) through pyarrow, imported only there. Numeric (integer, float,
  decimal, boolean) columns without nulls.
- ``.csv`` / ``.tsv`` / ``.txt`` / ``.dat``, optionally gzip-compressed
  (``.csv.gz``) (:mod:`._text`): UTF-8 lines parsed ``chunk_rows`` at a time. Blank
  lines and ``#`` comments are skipped; the delimiter (comma, tab, semicolon,
  pipe, else whitespace) is detected from the first lines, and the first line is
  a header of column names if any of its fields is not a number. Every line must
  have as many fields as the first.

Only regular files are read (a FIFO or a device could be read only once), and
every pass checks that the file is still the one that was opened: a file
rewritten during a fit is an error, never a fit of mixed data.

Every problem with a file's content is a :class:`ScanError` (a ``ValueError``)
whose message names the file, the line and column where it can, and what to do;
a non-numeric column is a ``TypeError``. Values are read as they are written
(``1e400`` is ``inf``): whether they are finite and within range is checked
where every input is, when a model reads them. The rows that models read from a
scan are :class:`gaussmix.distributed.scan.ScanRows`.
"""

from ._reader import ScanError
from ._view import Scan, column_names, scan

__all__ = ["Scan", "ScanError", "column_names", "scan"]
