"""Decide what the legacy naming attributes to bindings that no longer grant access (pure).

Inputs: the plan, the (workspace, username) of every manifest read (valid or not), the live
inventory. Outputs:

* **revocations**, one per identity whose access must end: an expired or invalid binding's
  identity (unless another binding still grants it), a browser connection whose binding is gone
  (``deleted``: this program's own rows, revoked now instead of waiting for the engine's delete
  phase, so a failure elsewhere in the run cannot keep the user able to sign in), and, when
  ``remove_orphans`` is set, the legacy orphans;
* **orphans**: legacy objects and connections (label ``xlscsde.nhs.uk/purpose:
  workspace-client``, password ``1234``) that no binding accounts for, i.e. bindings deleted while
  the legacy operator ran. Reported always, removed only on request;
* **retained groups**: groups of workspaces nobody is bound to any more that will still hold
  connections (foreign ones, or orphans kept), so their deletion is skipped;
* **takeover**: objects whose fields a legacy manager still owns.

Objects this program applied (``ours``) are never orphans and never deleted here: the engine
deletes them with the rest of their workspace. Only workspaces some binding of this stack names
(in any state) are looked into for orphans and deleted bindings, and an object counts only if
the legacy naming maps its annotated workspace and user to its name: the scan assumes one stack
per browser namespace and Guacamole database, and never reaches into a workspace it knows nothing
of.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components import naming
from components.planning import Plan
from components.takeover.inventory import Inventory, LiveConnection, browser_hostname

EXPIRED = "expired"
INVALID = "invalid"
DELETED = "deleted"
ORPHAN = "orphan"


@dataclass(frozen=True)
class Revocation:
    """What one identity must not have; ``key`` is its legacy deployment name."""

    key: str
    reason: str
    bindings: tuple[str, ...]
    user: str | None
    group: str | None
    connection: str | None
    drop_group: bool
    deployment: str | None
    service: str | None
    seen: tuple[str, ...] = ()
    """What the inventory still saw of it this run (for the run log only)."""

    def entry(self) -> dict[str, Any]:
        """The revocation resource's input for this identity (what must be absent)."""
        return {
            "key": self.key,
            "reason": self.reason,
            "bindings": list(self.bindings),
            "user": self.user,
            "group": self.group,
            "connection": self.connection,
            "dropGroup": self.drop_group,
            "deployment": self.deployment,
            "service": self.service,
            "live": bool(self.seen),
        }


@dataclass(frozen=True)
class Orphan:
    """Legacy leftovers of a binding that no longer exists."""

    key: str
    workspace: str | None
    username: str | None
    objects: tuple[str, ...]
    connection_ids: tuple[int, ...]

    def output(self, removed: bool) -> dict[str, Any]:
        return {
            "deploymentName": self.key,
            "workspace": self.workspace,
            "username": self.username,
            "objects": list(self.objects),
            "connectionIds": list(self.connection_ids),
            "action": "removed" if removed else "reported",
        }


@dataclass(frozen=True)
class RetainedGroup:
    name: str
    connections: tuple[str, ...]


@dataclass(frozen=True)
class Leftovers:
    revocations: tuple[Revocation, ...] = ()
    orphans: tuple[Orphan, ...] = ()
    retained_groups: tuple[RetainedGroup, ...] = ()
    takeover: tuple[str, ...] = ()
    remove_orphans: bool = False
    problems: tuple[str, ...] = field(default=())


def manifest_identity(manifest: Any) -> tuple[str, str] | None:
    """``(workspace, username)`` of any manifest whose spec names them, valid or not."""
    spec = manifest.get("spec") if isinstance(manifest, Mapping) else None
    if not isinstance(spec, Mapping):
        return None
    workspace, username = spec.get("workspace"), spec.get("username")
    if not (isinstance(workspace, str) and isinstance(username, str) and workspace and username):
        return None
    if "/" in workspace:
        return None
    return workspace, username


def plan_leftovers(
    plan: Plan,
    identities: Mapping[str, tuple[str, str]],
    inventory: Inventory,
    *,
    namespace: str,
    remove_orphans: bool,
) -> Leftovers:
    """Everything above, from data only. ``identities``: binding key -> (workspace, username)."""
    active = {(p.workspace, p.username) for p in plan.workspaces}
    planned_groups = {p.workspace for p in plan.workspaces}
    by_identity: dict[tuple[str, str], list[str]] = {}
    for key, identity in identities.items():
        by_identity.setdefault(identity, []).append(key)
    accounted = {naming.deployment_name(w, u) for w, u in by_identity}

    revocations: dict[str, Revocation] = {}
    expired_keys = {b.key for b in plan.expired}
    for identity, keys in sorted(by_identity.items()):
        if identity in active:
            continue
        reason = EXPIRED if any(k in expired_keys for k in keys) else INVALID
        rev = _revocation(identity, reason, sorted(keys), planned_groups, kubernetes=True)
        revocations[rev.key] = rev

    ours = {o.name for o in inventory.objects if o.kind == "Deployment" and o.ours}
    pattern = browser_hostname(namespace)
    orphan_parts: dict[str, dict[str, Any]] = {}
    foreign: dict[str, list[str]] = {}
    known = {w for w, _ in by_identity}
    browser_groups = set(known)
    for conn in inventory.connections:
        match = pattern.match(conn.hostname or "")
        if match is None:
            foreign.setdefault(conn.group, []).append(conn.name)
            continue
        browser_groups.add(conn.group)
        identity = (conn.group, conn.name)
        if identity in by_identity or conn.group not in known or "/" in conn.group:
            continue
        key = naming.deployment_name(*identity)
        if not conn.legacy_password or match.group(1) in ours:
            rev = _revocation(identity, DELETED, [], planned_groups, kubernetes=False)
            revocations.setdefault(rev.key, rev)
            continue
        part = orphan_parts.setdefault(key, _orphan_part(identity))
        part["connections"].append(conn)

    for obj in inventory.objects:
        name = obj.name.removeprefix("client-") if obj.kind == "Service" else obj.name
        annotated = _object_identity(obj.workspace, obj.username, name)
        if obj.ours or name in accounted or annotated is None or annotated[0] not in known:
            continue
        part = orphan_parts.setdefault(name, _orphan_part(annotated))
        part["objects"].append(f"{obj.kind}/{obj.name}")

    orphans = tuple(_orphan(key, part) for key, part in sorted(orphan_parts.items()))
    if remove_orphans:
        for orphan in orphans:
            who = (
                (orphan.workspace, orphan.username)
                if orphan.workspace is not None and orphan.username is not None
                else None
            )
            rev = _revocation(who, ORPHAN, [], planned_groups, kubernetes=True, key=orphan.key)
            revocations.setdefault(rev.key, rev)

    browser_groups |= {o.workspace for o in orphans if o.workspace}
    retained = _retained_groups(browser_groups - planned_groups, foreign, orphans, remove_orphans)
    applied = {naming.deployment_name(w, u) for w, u in active}
    applied |= {naming.service_name(n) for n in applied}
    takeover = tuple(
        sorted(
            f"{o.kind}/{o.name}" for o in inventory.objects if o.legacy_owned and o.name in applied
        )
    )
    return Leftovers(
        revocations=tuple(_with_seen(revocations[k], inventory) for k in sorted(revocations)),
        orphans=orphans,
        retained_groups=retained,
        takeover=takeover,
        remove_orphans=remove_orphans,
        problems=inventory.problems,
    )


def _revocation(
    identity: tuple[str, str] | None,
    reason: str,
    keys: list[str],
    planned_groups: set[str],
    *,
    kubernetes: bool,
    key: str | None = None,
) -> Revocation:
    if identity is None:
        assert key is not None
        return Revocation(key, reason, (), None, None, None, False, key, naming.service_name(key))
    workspace, username = identity
    name = naming.deployment_name(workspace, username)
    return Revocation(
        key=name,
        reason=reason,
        bindings=tuple(keys),
        user=naming.guacamole_username(workspace, username),
        group=workspace,
        connection=username,
        drop_group=workspace not in planned_groups,
        deployment=name if kubernetes else None,
        service=naming.service_name(name) if kubernetes else None,
    )


def _with_seen(revocation: Revocation, inventory: Inventory) -> Revocation:
    names = {revocation.deployment, revocation.service} - {None}
    seen = [f"{o.kind} {o.name}" for o in inventory.objects if o.name in names and not o.ours]
    seen += [
        f"connection {c.name!r} (id {c.connection_id}) in group {c.group!r}"
        for c in inventory.connections
        if (c.group, c.name) == (revocation.group, revocation.connection)
    ]
    return replace(revocation, seen=tuple(seen))


def _object_identity(
    workspace: str | None, username: str | None, name: str
) -> tuple[str, str] | None:
    """The annotations' identity, trusted only if the legacy naming maps it to this object."""
    if not workspace or not username or "/" in workspace:
        return None
    return (workspace, username) if naming.deployment_name(workspace, username) == name else None


def _orphan_part(identity: tuple[str, str] | None) -> dict[str, Any]:
    return {"identity": identity, "objects": [], "connections": []}


def _orphan(key: str, part: Mapping[str, Any]) -> Orphan:
    identity = part["identity"]
    connections: list[LiveConnection] = part["connections"]
    return Orphan(
        key=key,
        workspace=identity[0] if identity else None,
        username=identity[1] if identity else None,
        objects=tuple(sorted(part["objects"])),
        connection_ids=tuple(sorted(c.connection_id for c in connections)),
    )


def _retained_groups(
    groups: set[str],
    foreign: Mapping[str, list[str]],
    orphans: tuple[Orphan, ...],
    remove_orphans: bool,
) -> tuple[RetainedGroup, ...]:
    """Unplanned workspaces' groups that keep connections after this run (foreign or kept)."""
    kept: dict[str, list[str]] = {}
    for orphan in orphans:
        if not remove_orphans and orphan.workspace and orphan.username and orphan.connection_ids:
            kept.setdefault(orphan.workspace, []).append(orphan.username)
    retained = []
    for group in sorted(groups):
        names = sorted(set(foreign.get(group, [])) | set(kept.get(group, [])))
        if names:
            retained.append(RetainedGroup(group, tuple(names)))
    return tuple(retained)
