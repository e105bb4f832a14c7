"""``python -m bench``: measure the program against the raw baseline at N bindings.

    .venv/bin/python -m bench --quick                 # N = 10, 100; one run each (CI-sized)
    .venv/bin/python -m bench --sizes 1000 --repeat 1 # on request: the 1,000-binding point
    .venv/bin/python -m bench                         # N = 10, 100, 1000; median of 3

Prints the table and writes every figure to ``bench/results/<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.report import SIDES, STEPS, summarise, table, write_json
from bench.runner import Options, Outcome, run
from sandbox.environment import REPO

RESULTS = REPO / "bench" / "results"
DEFAULT_SIZES = [10, 100, 1000]
QUICK_SIZES = [10, 100]


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, e.g. 10,100,1000")
    return sizes


def _env(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 10,100 and one repetition")
    parser.add_argument("--sizes", type=_sizes, help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--repeat", type=int, help="repetitions per N (default 3; 1 with --quick)")
    parser.add_argument("--sides", default=",".join(SIDES), help="program,baseline or just one")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="subset of " + ",".join(STEPS) + " (up and destroy always run)",
    )
    parser.add_argument(
        "--program-env",
        type=_env,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for pulumi (e.g. PULUMI_SKIP_CHECKPOINTS=true), recorded",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / ".sandbox" / "bench")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/<ts>.json)")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeat = args.repeat or (1 if args.quick else 3)
    sides = tuple(side for side in args.sides.split(",") if side)
    if not set(sides) <= set(SIDES) or not sides:
        print(f"--sides takes {','.join(SIDES)}", file=sys.stderr)
        return 2
    steps = tuple(step for step in args.steps.split(",") if step)
    if not set(steps) <= set(STEPS):
        print(f"--steps takes {','.join(STEPS)}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output: Path = args.output or RESULTS / f"{stamp}.json"

    def save(outcome: Outcome) -> None:
        write_json(output, meta=outcome.meta, results=outcome.results, states=outcome.states)

    outcome = run(
        Options(
            sizes=sizes,
            repeat=repeat,
            workdir=args.workdir,
            sides=sides,
            steps=steps,
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
