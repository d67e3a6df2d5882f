"""``python -m gaussmix``: the command line (see :mod:`gaussmix.cli`)."""

import sys

from .cli import main

sys.exit(main())
