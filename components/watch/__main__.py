"""``python -m components.watch {watch,up,preview} ...``; see :mod:`components.watch.cli`."""

import sys

from components.watch.cli import main

sys.exit(main())
