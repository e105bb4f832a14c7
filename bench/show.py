"""``python -m bench.show RESULT.json [...]``: print the table of earlier runs again.

Results files are the tracking record; this turns one (or several, side by side in time order)
back into the same table the run printed, without a sandbox.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.kubestats import KubeCounts
from bench.measure import StepResult
from bench.report import summarise, table
from bench.shards import fleet
from bench.shards import report as shards_report
from bench.sqlstats import VERBS, SqlCounts


def load(path: Path) -> tuple[dict[str, Any], list[StepResult], dict[int, dict[str, Any]]]:
    """Metadata, step results and state sizes of one results file."""
    document = json.loads(path.read_text())
    results = [_result(item) for item in document["results"]]
    states = {int(size): state for size, state in document.get("state", {}).items()}
    return document, results, states


def _result(item: dict[str, Any]) -> StepResult:
    sql = item["sql"]
    kube = item["kube"]
    counts = SqlCounts(
        calls={verb: int(sql[verb]) for verb in VERBS},
        other=int(sql["other"]),
        nested=int(sql.get("nested", 0)),
        rows_written=int(sql["rows_written"]),
        commits=int(sql["xact_commit"]),
        rollbacks=int(sql["xact_rollback"]),
    )
    return StepResult(
        side=item["side"],
        step=item["step"],
        size=int(item["size"]),
        repetition=int(item["repetition"]),
        seconds=float(item["seconds"]),
        changes=int(item["changes"]),
        sql=counts,
        kube=KubeCounts(
            writes=int(kube["writes"]),
            reads=int(kube["reads"]),
            dry_run_writes=int(kube["dry_run_writes"]),
            by_request=dict(kube["by_request"]),
        ),
        extra={"cpu_seconds": item["cpu_seconds"]} if "cpu_seconds" in item else {},
    )


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for name in argv:
        document, results, states = load(Path(name))
        env = document.get("program_env") or {}
        settings = ", ".join(f"{k}={v}" for k, v in env.items()) or "default settings"
        print(f"{name}: {document.get('started')} commit {document.get('commit')}, {settings}")
        if document.get("benchmark") == "fleet":
            print(fleet.table(summarise(results)))
            print(fleet.cpu_lines(results))
        elif document.get("benchmark") == "shards":
            print(shards_report.table(summarise(results), states))
        else:
            print(table(summarise(results), states))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
