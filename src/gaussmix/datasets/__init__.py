"""Data sets bundled with gaussmix."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

__all__ = ["load_old_faithful"]


def load_old_faithful() -> tuple[np.ndarray, list[str]]:
    """The Old Faithful geyser data (Azzalini & Bowman, 1990; R's ``faithful``).

    Returns
    -------
    X : ndarray of shape (272, 2)
        Eruption time (minutes) and waiting time to the next eruption (minutes).
    columns : list of str
        ``['eruptions', 'waiting']``.
    """
    text = resources.files(__package__).joinpath("data/old_faithful.csv").read_text()
    reader = csv.reader(text.splitlines())
    columns = next(reader)
    X = np.array([[float(v) for v in row] for row in reader if row], dtype=np.float64)
    return X, columns
