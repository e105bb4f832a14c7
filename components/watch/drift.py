"""Detect drift before a full ``up`` and refresh only the drifted resources.

The watcher does this at start-up and at each periodic resync (``every`` = the resync interval),
the pipeline ``up`` with ``--repair-drift`` before its run. Steps, each logged:

1. export the state with its secrets decrypted (the connection's recorded password and the VNC
   Secret's data are compared; they stay in this process's memory and are never logged);
2. observe every Guacamole row resource the state records in one read-only transaction and
   compare (``components.guacamole.drift``);
3. list the workspaces' NetworkPolicies, Deployments, Services and VNC Secrets and compare
   them with the recorded ones (``components.watch.fence_drift``): the fence around the browsers
   and the password each browser starts with;
4. ``pulumi refresh --target`` the drifted resources only, so their outputs say what the database
   or the cluster holds; the ``up`` that follows then repairs them with the program's current
   inputs.

A failure here (database, API server or CLI unavailable) is logged and the ``up`` goes ahead: it
is the ``up`` that reports a broken database or cluster, and drift is looked for again before
the next full run. Each half runs even when the other cannot.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.guacamole.database import Database
from components.guacamole.drift import Drift, RecordedRow, find_drift, row_kind
from components.guacamole.settings import redact, resolve_dsn
from components.watch import fence_drift
from components.watch.exported_state import decoded

log = logging.getLogger(__name__)


class DriftRunner(Protocol):
    """What the check needs from :class:`components.watch.runner.StackRunner`."""

    def export(self, *, show_secrets: bool = ...) -> dict[str, Any]: ...

    def database_url(self) -> str | None: ...

    def refresh(self, targets: list[str]) -> str:
        """Refresh exactly ``targets``; the error text, empty on success."""
        ...


@dataclass
class DriftReport:
    """What one check found and did; ``error`` is empty when it ran to the end."""

    checked: int = 0
    drifted: list[Drift] = field(default_factory=list)
    refreshed: bool = False
    seconds: float = 0.0
    error: str = ""


def recorded_rows(deployment: Mapping[str, Any] | None) -> list[RecordedRow]:
    """Every live Guacamole row resource in an exported deployment (pure)."""
    rows: list[RecordedRow] = []
    for resource in (deployment or {}).get("resources") or []:
        kind = row_kind(str(resource.get("type", "")))
        if kind is None or resource.get("delete") or not resource.get("id"):
            continue
        outputs = decoded(resource.get("outputs") or {})
        rows.append(RecordedRow(str(resource["urn"]), kind, str(resource["id"]), outputs))
    return rows


FenceRepair = Callable[[str | None, list[fence_drift.RecordedObject], tuple[str, ...]], list[Drift]]
"""(the provider's kubeconfig, the recorded objects, the accepted field managers) -> the drift
found; changed objects are put back as recorded on the way
(:func:`components.watch.fence_drift.repair`)."""


class DriftCheck:
    """Runs the check when due: always with ``every`` = 0, else at most once per ``every`` s."""

    def __init__(
        self,
        runner: DriftRunner,
        *,
        every: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
        fence: FenceRepair | None = None,
        accepted_managers: tuple[str, ...] = (),
    ) -> None:
        """``accepted_managers``: the field managers whose additions to a pod template or
        Service are accepted (the stack's ``driftAcceptedFieldManagers``)."""
        self.runner = runner
        self.fence = fence or fence_drift.repair
        self.accepted_managers = accepted_managers
        self.every = every
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.last_run: float | None = None
        self.last_report: DriftReport | None = None

    def due(self) -> bool:
        if self.last_run is None or self.every <= 0:
            return True
        return self.clock() - self.last_run >= self.every

    def run_if_due(self) -> DriftReport | None:
        return self.run() if self.due() else None

    def run(self) -> DriftReport:
        """Check, and refresh what drifted; never raises."""
        self.last_run = self.clock()
        started = time.monotonic()
        report = DriftReport()
        dsn = self.runner.database_url() or resolve_dsn(None, self.environ)
        errors: list[str] = []
        try:
            state = self.runner.export(show_secrets=True)
        except Exception as error:  # the up that follows reports real failures
            state = None
            errors.append(f"state export: {error.__class__.__name__}: {error}")
        if state is not None:
            deployment = state.get("deployment")
            del state
            for half, check in (("Guacamole", self._rows), ("fence", self._fence)):
                try:
                    check(report, deployment, dsn)
                except Exception as error:
                    errors.append(f"{half}: {error.__class__.__name__}: {error}")
            if report.drifted:
                failed = self.runner.refresh([d.urn for d in report.drifted])
                report.refreshed = not failed
                if failed:
                    errors.append(f"refresh: {failed}")
        report.error = redact("; ".join(errors), dsn) if errors else ""
        report.seconds = time.monotonic() - started
        self.last_report = report
        self._log(report)
        return report

    def _log(self, report: DriftReport) -> None:
        if report.error:
            self.last_run = None  # look again before the next full run
            log.warning("drift check failed, going on: %s", report.error)
        if report.drifted:
            log.warning(
                "drift in %d of %d resources (Guacamole rows, browser fence), %s in %.1fs: %s",
                len(report.drifted),
                report.checked,
                "refreshed" if report.refreshed else "NOT refreshed",
                report.seconds,
                "; ".join(d.describe() for d in report.drifted[:20])
                + (" ..." if len(report.drifted) > 20 else ""),
            )
        elif not report.error:
            log.info(
                "drift check: %d resources (Guacamole rows, browser fence) match the state (%.1fs)",
                report.checked,
                report.seconds,
            )

    def _rows(self, report: DriftReport, deployment: Any, dsn: str | None) -> None:
        rows = recorded_rows(deployment)
        if not rows:
            return
        if not dsn:
            raise LookupError("no Guacamole database URL in the stack config or the environment")
        database = Database(dsn)
        try:
            drifted = database.run(lambda cur: find_drift(cur, rows), read_only=True)
        finally:
            database.close()
        report.checked += len(rows)
        report.drifted += drifted

    def _fence(self, report: DriftReport, deployment: Any, _: str | None) -> None:
        recorded = fence_drift.recorded_objects(deployment)
        if not recorded:
            return
        drifted = self.fence(
            fence_drift.kubeconfig_of(deployment), recorded, self.accepted_managers
        )
        report.checked += len(recorded)
        report.drifted += drifted
