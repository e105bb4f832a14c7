"""``python -m bench.shards``: a sharded environment through the pipeline, against the targets.

    .venv/bin/python -m bench.shards --quick          # N = 60 in 3 shards (a smoke run)
    .venv/bin/python -m bench.shards                  # N = 1,000 in the suggested 50 shards
    .venv/bin/python -m bench.shards --sizes 5000     # 250 shards

Each N is 20 users per workspace. Steps, each timed: ``scripts/watch up`` from empty
(checkpoints on), a no-op ``preview`` and a ``preview --all-shards``, one binding added, one
changed and one removed (each a ``preview`` of the proposed file and the ``up`` it triggers),
``destroy`` of every shard stack; then the state of every shard. Prints the figures beside the
issue's targets, the raw baseline and the single-stack figures, and writes every figure to
``bench/results/shards-<UTC timestamp>.json`` (``python -m bench.show`` re-prints it).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.__main__ import RESULTS, _env, _sizes
from bench.report import summarise, write_json
from bench.runner import Outcome
from bench.shards.plan import QUICK_SHARDS, QUICK_SIZE, PlanError, check_shards, default_shards
from bench.shards.report import table
from bench.shards.runner import SIDES, Options, run
from sandbox.environment import REPO

DEFAULT_SIZES = [1000]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.shards", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_SIZE} in 3 shards")
    parser.add_argument("--sizes", type=_sizes, help="comma-separated N (default 1000)")
    parser.add_argument(
        "--shards", type=int, help="shards for every N (default: the program's suggestion, N / 20)"
    )
    parser.add_argument("--sides", default=",".join(SIDES), help="program,baseline or just one")
    parser.add_argument(
        "--program-env",
        type=_env,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the pipeline and pulumi, recorded",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / ".sandbox" / "bench-shards")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/...)")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    return parser.parse_args(argv)


def shard_counts(sizes: list[int], shards: int | None, quick: bool) -> dict[int, int]:
    """Shards per N: the flag, else ``QUICK_SHARDS`` with ``--quick``, else the suggestion."""
    chosen = shards if shards is not None else (QUICK_SHARDS if quick else None)
    counts = {size: chosen if chosen is not None else default_shards(size) for size in sizes}
    for size, count in counts.items():
        check_shards(size, count)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = args.sizes or ([QUICK_SIZE] if args.quick else DEFAULT_SIZES)
    sides = tuple(side for side in args.sides.split(",") if side)
    if not sides or not set(sides) <= set(SIDES):
        print(f"--sides takes {','.join(SIDES)}", file=sys.stderr)
        return 2
    try:
        shards = shard_counts(sizes, args.shards, args.quick)
    except PlanError as error:
        print(error, file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output: Path = args.output or RESULTS / f"shards-{stamp}.json"

    def save(outcome: Outcome) -> None:
        write_json(output, meta=outcome.meta, results=outcome.results, states=outcome.states)

    outcome = run(
        Options(
            sizes=sizes,
            shards=shards,
            workdir=args.workdir,
            sides=sides,
            program_env=dict(args.program_env),
            keep=args.keep,
            log=lambda line: print(line, flush=True),
            save=save,
        )
    )
    save(outcome)
    print(table(summarise(outcome.results), outcome.states))
    print(f"\nwritten {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
