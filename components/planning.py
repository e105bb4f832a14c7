"""Turn parsed bindings into browser workspaces to declare, plus the problems found on the way.

Pure: the caller passes ``today`` so expiry is testable and a run is reproducible. The output is
the complete desired state; the Pulumi engine removes whatever is no longer planned (deleted or
expired bindings), which is the cleanup the legacy operator never did.

Every :class:`Problem` is ready to print: binding text inside it (keys, workspace, username, a
recorded status) is escaped with :func:`components.inert.escape` where the message is composed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from components import naming
from components.bindings import Binding, InvalidBinding
from components.inert import escape


class ProblemKind(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"
    RENAMED = "renamed"


class Severity(StrEnum):
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Problem:
    """Something an operator should look at; ``bindings`` names every culprit.

    ``bindings`` and ``message`` are escaped (printable as they are); ``field`` names the
    offending field of a refused binding.
    """

    kind: ProblemKind
    bindings: tuple[str, ...]
    message: str
    field: str = ""

    @property
    def severity(self) -> Severity:
        """A refused binding is an error of that binding, not of the run (see the README)."""
        return Severity.ERROR if self.kind is ProblemKind.INVALID else Severity.WARNING


@dataclass(frozen=True)
class WorkspacePlan:
    """One browser workspace: one Deployment, Service, Secret, policy and Guacamole login.

    ``bindings`` holds every active binding with this (workspace, username), sorted by key; the
    legacy operator shared one Deployment between them too, so they all receive its status.
    """

    workspace: str
    username: str
    bindings: tuple[Binding, ...]

    @property
    def deployment_name(self) -> str:
        return naming.deployment_name(self.workspace, self.username)

    @property
    def guacamole_username(self) -> str:
        return naming.guacamole_username(self.workspace, self.username)

    @property
    def replicas(self) -> int:
        """The largest request wins, so no binding can scale a shared browser away from another."""
        return max(binding.replicas for binding in self.bindings)

    @property
    def binding_keys(self) -> tuple[str, ...]:
        return tuple(binding.key for binding in self.bindings)


@dataclass(frozen=True)
class Plan:
    workspaces: tuple[WorkspacePlan, ...]
    expired: tuple[Binding, ...]
    invalid: tuple[InvalidBinding, ...]
    problems: tuple[Problem, ...]

    @property
    def bindings_read(self) -> int:
        return self.provisioned + len(self.expired) + len(self.invalid)

    @property
    def provisioned(self) -> int:
        """Bindings granting a live workspace (two duplicates count twice, share one workspace)."""
        return sum(len(plan.bindings) for plan in self.workspaces)

    def summary(self) -> dict[str, int]:
        """Counts for the stack output and the run log."""
        return {
            "bindingsRead": self.bindings_read,
            "provisioned": self.provisioned,
            "workspaces": len(self.workspaces),
            "skipped": len(self.invalid),
            "expired": len(self.expired),
        }


def plan_workspaces(entries: Iterable[Binding | InvalidBinding], today: date) -> Plan:
    """Group active bindings by (workspace, username) and report what was left out and why."""
    active: dict[tuple[str, str], list[Binding]] = {}
    expired: list[Binding] = []
    invalid: list[InvalidBinding] = []
    seen: dict[str, Binding] = {}

    for entry in entries:
        if isinstance(entry, InvalidBinding):
            invalid.append(entry)
            continue
        first = seen.get(entry.key)
        if first is not None:
            invalid.append(_redefined(entry, first))
            continue
        seen[entry.key] = entry
        if entry.is_expired(today):
            expired.append(entry)
        else:
            active.setdefault(entry.identity, []).append(entry)

    workspaces = tuple(
        WorkspacePlan(workspace, username, tuple(sorted(group, key=lambda b: b.key)))
        for (workspace, username), group in sorted(active.items())
    )
    expired.sort(key=lambda b: b.key)
    invalid.sort(key=lambda b: b.key)

    problems: list[Problem] = [
        Problem(ProblemKind.INVALID, (escape(bad.key),), bad.message, escape(bad.field))
        for bad in invalid
    ]
    problems += [
        Problem(
            ProblemKind.EXPIRED,
            (escape(binding.key),),
            f"binding {escape(binding.key)} expired on {binding.expires.isoformat()}: "
            f"its browser workspace for {escape(binding.username)} in "
            f"{escape(binding.workspace)} is not provisioned; extend spec.expires or delete "
            "the binding",
        )
        for binding in expired
    ]
    for plan in workspaces:
        problems += _plan_problems(plan)
    return Plan(workspaces, tuple(expired), tuple(invalid), tuple(problems))


def _redefined(entry: Binding, first: Binding) -> InvalidBinding:
    # Raw like every InvalidBinding reason; its message escapes it.
    elsewhere = f" (first defined in {first.origin})" if first.origin else ""
    return InvalidBinding(
        entry.namespace,
        entry.name,
        "metadata.name",
        f"binding is defined more than once{elsewhere}",
        entry.origin,
    )


def _plan_problems(plan: WorkspacePlan) -> list[Problem]:
    problems: list[Problem] = []
    if len(plan.bindings) > 1:
        keys = tuple(escape(key) for key in plan.binding_keys)
        problems.append(
            Problem(
                ProblemKind.DUPLICATE,
                keys,
                f"bindings {_join(keys)} all grant {escape(plan.username)} workspace "
                f"{escape(plan.workspace)}; they share one browser workspace "
                f"{plan.deployment_name} with replicas = {plan.replicas} (the largest requested)",
            )
        )
    for binding in plan.bindings:
        recorded = binding.status_deployment_name
        if recorded is not None and recorded != plan.deployment_name:
            problems.append(
                Problem(
                    ProblemKind.RENAMED,
                    (escape(binding.key),),
                    f"binding {escape(binding.key)} records status.deploymentName "
                    f"{escape(recorded)} but {escape(binding.workspace)}/"
                    f"{escape(binding.username)} maps to {plan.deployment_name} "
                    "(was spec.workspace or spec.username edited?); the program manages "
                    f"{plan.deployment_name} and rewrites the status; remove any leftover "
                    f"Deployment {escape(recorded)} by hand",
                )
            )
    return problems


def _join(keys: tuple[str, ...]) -> str:
    return ", ".join(keys[:-1]) + " and " + keys[-1] if len(keys) > 1 else keys[0]
