"""Which stack each resource of an environment belongs in, for a given shard count (pure).

``shard-move`` moves resources between an environment's stacks with ``pulumi state move``
(:mod:`components.watch.shard_move` does the I/O). This module decides, from the stacks' current
states alone, what must go where, mirroring what :mod:`components.program` declares per stack so
that after the move each stack's next preview finds everything where it declares it:

* a BrowserWorkspace component and everything parented under it goes with its workspace, as
  do the workspace's connection group and NetworkPolicy (to the shard the placement map gives
  it, :mod:`components.placement`);
* a binding's status goes with the binding's workspace (read from the binding manifests, else
  from the Deployment the status mirrors), or shard 0 when the binding names none;
* anything else (the Firefox policy ConfigMap, the database bootstrap) is environment-wide and
  belongs to shard 0, which alone declares it;
* per-stack bookkeeping (the root Stack, providers, the field-ownership take-over and the access
  revocation, which every stack declares for itself and whose delete is a no-op) is never moved:
  ``state move`` copies the providers a moved resource needs, and each stack's next run creates
  its own take-over and revocation. A stack that must end empty drops its bookkeeping.

Resources move as *units*: a top-level resource with all its descendants, named explicitly
because the CLI moves only direct children of the URNs it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.browser_workspace import TYPE as WORKSPACE_TYPE
from components.inert import escape
from components.manifests import WORKSPACE_ANNOTATION
from components.placement import Placement
from components.sharding import ShardScope, shard_stack_name, split_stack_name

ROOT_STACK = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"
PER_STACK_TYPES = (":FieldOwnerTakeover", ":AccessRevocation")
"""Dynamic resources every stack declares for itself (see :func:`components.program.declare`)."""
GROUP_TYPE = "guacamole:ConnectionGroup"
_CONNECTION = "guacamole:Connection"
_LOGINS = (_CONNECTION, "guacamole:User")
"""The resources holding a login as ``username`` (a connection; a user in older states)."""
_STATUS = ":BindingStatus"
_KUBERNETES = "kubernetes:"


class PlanError(ValueError):
    """The stacks' states cannot be planned; the message names the culprit."""


@dataclass(frozen=True)
class Unit:
    """A top-level resource and its descendants, which move together."""

    stack: str
    """The stack holding it now."""
    target: str
    """The stack that declares it with the planned shard count."""
    urns: tuple[str, ...]
    """Its URNs in the order of the source state (parents before children)."""
    what: str
    """The workspace or binding it follows, for messages."""

    @property
    def misplaced(self) -> bool:
        return self.stack != self.target


@dataclass(frozen=True)
class ShardPlan:
    """Where every unit is and belongs, and which stacks must end empty."""

    environment: str
    shards: int
    units: tuple[Unit, ...]
    bookkeeping: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Stack -> its per-stack resources (root Stack and providers excluded)."""
    duplicates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Stack -> URNs also held by the stack that declares them (a move killed after it wrote
    the destination but before the source); dropped from this stack's state."""

    def targets(self) -> list[str]:
        """The stacks that hold the environment with ``shards``, shard 0 first."""
        if self.shards == 1:
            return [self.environment]
        return [shard_stack_name(self.environment, i) for i in range(self.shards)]

    def misplaced(self) -> list[Unit]:
        return [unit for unit in self.units if unit.misplaced]

    def gather(self) -> list[Unit]:
        """First step: misplaced units of shard stacks, to the environment's own stack."""
        return [u for u in self.misplaced() if u.stack != self.environment]

    def distribute(self) -> list[Unit]:
        """Second step: units in the environment's own stack that belong to a shard."""
        return [u for u in self.misplaced() if u.stack == self.environment]

    def emptied(self, stacks: Iterable[str]) -> list[str]:
        """Of ``stacks`` (the environment's existing ones), those the plan leaves without a role:
        the environment's own stack when sharded, shard stacks beyond the count."""
        wanted = set(self.targets())
        return [s for s in stacks if s not in wanted]


def logical(urn: str) -> str:
    """``urn:pulumi:STACK::rest`` -> ``rest``: a resource's identity whatever stack holds it."""
    parts = urn.split("::", 1)
    if len(parts) != 2 or not parts[0].startswith("urn:pulumi:"):
        raise PlanError(f"not a resource URN: {escape(urn)}")
    return parts[1]


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def is_bookkeeping(resource: Mapping[str, Any]) -> bool:
    kind = str(resource.get("type", ""))
    return (
        kind == ROOT_STACK
        or kind.startswith(PROVIDER_PREFIX)
        or any(kind.endswith(suffix) for suffix in PER_STACK_TYPES)
    )


def plan(
    environment: str,
    deployments: Mapping[str, Mapping[str, Any]],
    shards: int,
    binding_workspaces: Mapping[str, str | None] | None = None,
    placement: Placement | None = None,
) -> ShardPlan:
    """The plan for ``environment`` with ``shards`` shards.

    ``deployments``: stack name -> the ``deployment`` part of its exported state, for the
    environment's own stack and every shard stack that exists. ``binding_workspaces``: binding
    key (``namespace/name``) -> the workspace its manifest names (``None``: it names none).
    ``placement``: the map the shards will run with; a workspace it does not place (one no
    binding names any more) goes to its hash shard, whose next run removes it.
    """
    if shards < 1:
        raise PlanError(f"shards must be at least 1, not {shards}")
    for stack in deployments:
        owner, _ = split_stack_name(stack)
        if owner != environment:
            raise PlanError(
                f"stack {escape(stack)} is not a stack of the environment {escape(environment)}"
            )
    states = {stack: _resources(stack, d) for stack, d in deployments.items()}
    workspaces = _workspaces_by_deployment(states)
    bindings = dict(binding_workspaces or {})

    def target(workspace: str | None) -> str:
        if shards == 1:
            return environment
        return shard_stack_name(environment, ShardScope(0, shards, placement).home(workspace))

    units: list[Unit] = []
    bookkeeping: dict[str, list[str]] = {}
    for stack, resources in states.items():
        for root, urns in _units(resources):
            if is_bookkeeping(root):
                if str(root.get("type")) != ROOT_STACK and not str(root.get("type")).startswith(
                    PROVIDER_PREFIX
                ):
                    bookkeeping.setdefault(stack, []).extend(urns)
                continue
            workspace = _workspace_of(root, resources, workspaces, bindings)
            what = workspace if workspace is not None else resource_name(str(root["urn"]))
            units.append(Unit(stack, target(workspace), tuple(urns), what))
    units, duplicates = _settle_duplicates(units)
    return ShardPlan(
        environment,
        shards,
        tuple(units),
        {s: tuple(u) for s, u in bookkeeping.items()},
        duplicates,
    )


def batches(units: Sequence[Unit], limit: int) -> list[list[Unit]]:
    """``units`` (one source and destination) in batches of at most ``limit`` URNs each, no
    unit split, a workspace's units kept together where they fit (argv has a size limit)."""
    ordered = sorted(units, key=lambda u: (u.what, u.urns[0]))
    result: list[list[Unit]] = []
    current: list[Unit] = []
    size = 0
    for unit in ordered:
        if current and size + len(unit.urns) > limit:
            result.append(current)
            current, size = [], 0
        current.append(unit)
        size += len(unit.urns)
    if current:
        result.append(current)
    return result


def _resources(stack: str, deployment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    resources = deployment.get("resources") or []
    if not isinstance(resources, list):
        raise PlanError(f"stack {stack}: its state has no resource list")
    for resource in resources:
        if not isinstance(resource, Mapping) or not isinstance(resource.get("urn"), str):
            raise PlanError(f"stack {stack}: a resource without a URN in its state")
    return [r for r in resources if not r.get("delete")]


def _units(
    resources: Sequence[Mapping[str, Any]],
) -> list[tuple[Mapping[str, Any], list[str]]]:
    """Top-level resources (parent absent, or the root Stack) with their descendants' URNs."""
    by_urn = {str(r["urn"]): r for r in resources}
    roots: dict[str, list[str]] = {}
    root_of: dict[str, str] = {}
    for resource in resources:  # parents come before children in a state
        urn = str(resource["urn"])
        parent = resource.get("parent")
        parent_resource = by_urn.get(str(parent)) if parent else None
        if parent_resource is None or parent_resource.get("type") == ROOT_STACK:
            root_of[urn] = urn
            roots[urn] = [urn]
            continue
        top = root_of.get(str(parent), urn)
        root_of[urn] = top
        roots.setdefault(top, []).append(urn)
    return [(by_urn[top], urns) for top, urns in roots.items()]


def _descendants(root: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Any]:
    inside = {str(root["urn"])}
    found = []
    for resource in resources:
        if str(resource.get("parent")) in inside:
            inside.add(str(resource["urn"]))
            found.append(resource)
    return found


def _group_names(states: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, str]:
    """Logical URN of every connection group -> its workspace (the group name)."""
    names: dict[str, str] = {}
    for resources in states.values():
        for resource in resources:
            if str(resource.get("type", "")).endswith(GROUP_TYPE):
                name = resource_text(resource, "group_name")
                if name is not None:
                    names[logical(str(resource["urn"]))] = name
    return names


def _workspaces_by_deployment(
    states: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, str]:
    """Deployment name (the BrowserWorkspace's resource name) -> its workspace."""
    groups = _group_names(states)
    found: dict[str, str] = {}
    for resources in states.values():
        for resource in resources:
            if resource.get("type") == WORKSPACE_TYPE:
                workspace = _component_workspace(resource, resources, groups)
                if workspace is not None:
                    found[resource_name(str(resource["urn"]))] = workspace
    return found


def _component_workspace(
    component: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    groups: Mapping[str, str],
) -> str | None:
    """The workspace of a BrowserWorkspace: its connection's group, else its login's prefix."""
    children = _descendants(component, resources)
    for child in children:
        if str(child.get("type", "")).endswith(_CONNECTION):
            for dependency in (child.get("propertyDependencies") or {}).get("group_id") or []:
                if logical(str(dependency)) in groups:
                    return groups[logical(str(dependency))]
    for child in children:
        if str(child.get("type", "")).endswith(_LOGINS):
            login = resource_text(child, "username")
            if login is not None and "@" in login:
                return login.partition("@")[0]
    return None


def _workspace_of(
    root: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    workspaces: Mapping[str, str],
    bindings: Mapping[str, str | None],
) -> str | None:
    """The workspace whose shard declares ``root``; ``None``: shard 0 (environment-wide)."""
    kind = str(root.get("type", ""))
    name = resource_name(str(root["urn"]))
    if kind == WORKSPACE_TYPE:
        if name not in workspaces:
            raise PlanError(
                f"browser workspace {escape(name)}: its workspace cannot be read from the state "
                "(no connection group or login under it)"
            )
        return workspaces[name]
    if kind.endswith(GROUP_TYPE):
        group = resource_text(root, "group_name")
        if group is None:
            raise PlanError(f"connection group {escape(name)}: the state has no group_name")
        return group
    if kind.startswith(_KUBERNETES):
        return _annotated_workspace(root)
    if kind.endswith(_STATUS):
        if name in bindings:
            return bindings[name]
        deployment = (root.get("inputs") or {}).get("deployment")
        if isinstance(deployment, Mapping) and str(deployment.get("name")) in workspaces:
            return workspaces[str(deployment.get("name"))]
        return None
    return None


def _annotated_workspace(resource: Mapping[str, Any]) -> str | None:
    """The workspace a top-level Kubernetes object is annotated with (a workspace's
    NetworkPolicy); ``None`` for the environment-wide ones (the Firefox policy ConfigMap)."""
    for part in ("inputs", "outputs"):
        metadata = (resource.get(part) or {}).get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        if isinstance(annotations, Mapping):
            workspace = annotations.get(WORKSPACE_ANNOTATION)
            if isinstance(workspace, str) and workspace:
                return workspace
    return None


def resource_text(resource: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string ``key`` of a state resource, from its inputs, else its outputs."""
    for part in ("inputs", "outputs"):
        value = (resource.get(part) or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _settle_duplicates(units: list[Unit]) -> tuple[list[Unit], dict[str, tuple[str, ...]]]:
    """Keep one copy of a unit found in two stacks: the one in its target stack, else the first.

    ``state move`` writes the destination before the source, so a move killed in between
    leaves both; the copy in the wrong stack is dropped from that stack's state, not moved.
    """
    by_identity: dict[str, list[Unit]] = {}
    for unit in units:
        by_identity.setdefault(logical(unit.urns[0]), []).append(unit)
    kept: list[Unit] = []
    dropped: dict[str, list[str]] = {}
    for copies in by_identity.values():
        keep = next((u for u in copies if not u.misplaced), copies[0])
        kept.append(keep)
        for other in copies:
            if other is not keep:
                dropped.setdefault(other.stack, []).extend(other.urns)
    return kept, {stack: tuple(urns) for stack, urns in dropped.items()}
