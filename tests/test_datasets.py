"""The bundled Old Faithful data set."""

from __future__ import annotations

import numpy as np

from gaussmix.datasets import load_old_faithful


def test_old_faithful_loads_as_floats_with_column_names() -> None:
    X, columns = load_old_faithful()
    assert X.shape == (272, 2)
    assert X.dtype == np.float64
    assert columns == ["eruptions", "waiting"]
    assert np.all(np.isfinite(X))
    # R's `faithful`: eruptions 1.6-5.1 minutes, waiting 43-96 minutes.
    assert X[:, 0].min() == 1.6 and X[:, 0].max() == 5.1
    assert X[:, 1].min() == 43 and X[:, 1].max() == 96
    assert X[0].tolist() == [3.6, 79.0]
