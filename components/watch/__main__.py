"""``python -m components.watch {watch,up,preview} ...``; see :mod:`components.watch.cli`."""

import gc
import sys

from components.watch.cli import main

code = main()
# What is left is freed by the exit anyway; out of the cyclic collector's sight, the exit does
# not traverse it first (about 0.3 s of every pipeline job for the client libraries' modules).
gc.freeze()
sys.exit(code)
