"""Tell the run log and the stack outputs what the take-over found (the program's I/O edge).

Untrusted text (workspace and user names from annotations or rows) is printed with ``!r``, so
control and format characters reach the log escaped, never raw.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.takeover.leftovers import Leftovers


def log_leftovers(leftovers: Leftovers) -> None:
    """One line per identity losing access that still has something live, per orphan, per group."""
    for problem in leftovers.problems:
        pulumi.log.warn(f"legacy leftovers not fully checked: {problem}")
    for revocation in leftovers.revocations:
        if not revocation.seen:
            continue
        who = ", ".join(revocation.bindings) or "no binding"
        pulumi.log.warn(
            f"revoking access of {revocation.user or revocation.key!r} ({revocation.reason}; "
            f"{who}): {', '.join(revocation.seen)}"
        )
    for orphan in leftovers.orphans:
        action = "removing" if leftovers.remove_orphans else "reporting (legacyOrphans: report)"
        identity = (
            f"{orphan.workspace!r}/{orphan.username!r}" if orphan.workspace else "unknown identity"
        )
        parts = [*orphan.objects, *(f"connection id {cid}" for cid in orphan.connection_ids)]
        pulumi.log.warn(
            f"orphan {orphan.key} ({identity}) belongs to no binding (deleted while the legacy "
            f"operator ran?): {', '.join(parts)}; {action}"
        )
    for group in leftovers.retained_groups:
        pulumi.log.warn(
            f"connection group {group.name!r} has no binding left but still holds "
            f"{', '.join(repr(c) for c in group.connections)}; it is left in place"
        )


def leftover_outputs(leftovers: Leftovers) -> dict[str, Any]:
    """Stack outputs: revoked identities, orphans (reported or removed), groups left in place."""
    return {
        "revocations": [
            {"deploymentName": r.key, "reason": r.reason, "bindings": list(r.bindings)}
            for r in leftovers.revocations
        ],
        "orphans": [o.output(leftovers.remove_orphans) for o in leftovers.orphans],
        "retainedGroups": [
            {"group": g.name, "connections": list(g.connections)} for g in leftovers.retained_groups
        ],
        "legacyFieldOwners": list(leftovers.takeover),
    }
