"""Scale benchmark: the Pulumi program against a raw client-side baseline, at N bindings.

Run with ``.venv/bin/python -m bench --quick`` (N = 10 and 100) or ``--sizes 1000``; see the
"Benchmarks" section of README.md for what is measured and how to read the table.
"""
