"""An environment's stacks: the one stack, or its shard stacks, and which of them a run touches.

``--stack prod`` names an environment. With ``shards: 1`` (the default) that is one stack. With
``shards: N`` its resources live in ``prod.shard-0`` ... ``prod.shard-<N-1>``
(:mod:`components.sharding`); their stack files are copies of ``Pulumi.prod.yaml`` written
before every run (so there is one place to edit settings, and secrets and the encryption salt
carry over unchanged) and missing shard stacks are created in the same backend.

A shard is *touched* when the digest of what its run would be given
(:mod:`components.shard_digest`) differs from the ``inputDigest`` its last complete run
exported; only touched shards run, unless ``--all-shards`` asks for every one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from components import yaml_text
from components.bindings import parse_binding
from components.placement import Placement
from components.planning import plan_workspaces
from components.settings import SettingsError, settings_from_values
from components.shard_digest import input_digests
from components.sharding import (
    WHOLE,
    ShardingError,
    ShardScope,
    scope_for_stack,
    shard_stack_name,
    split_stack_name,
    workspace_named,
)
from components.watch.checkpoints import read_deployment, stack_file_name
from components.watch.locks import backend_root, stacks_directory, state_directories
from components.watch.overrides import Project
from components.watch.pulumi_process import InterruptiblePulumiCommand
from components.watch.runner import backend_url
from components.watch.sidecars import repair_sidecars

log = logging.getLogger(__name__)

GENERATED = (
    "# Written from {source} before every run of the environment {environment} "
    "(shards: {shards}).\n# Edit {source}; changes made here are overwritten.\n"
)
_MOVED_LEFTOVERS = 1
"""A stack ``shard-move`` emptied keeps at most its root Stack resource; anything more (even a
provider, which ``state move`` copies along) means a move has not been done or not finished."""
_CODE_SUFFIXES = (".py", ".yaml", ".txt")
_CODE_PARTS = ("__main__.py", "Pulumi.yaml", "requirements.txt", "components")


@dataclass(frozen=True)
class Environment:
    """One environment: its own stack name, shard count, and project."""

    project: Project
    name: str
    shards: int
    only: str | None = None
    """A single shard stack asked for by name (``--stack prod.shard-2``)."""
    placement: Placement | None = None
    """The shard of each workspace (:mod:`components.placement`), once a run has placed them."""

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    def stacks(self) -> list[str]:
        """Every stack of the environment, shard 0 first."""
        if self.only is not None:
            return [self.only]
        if not self.sharded:
            return [self.name]
        return [shard_stack_name(self.name, i) for i in range(self.shards)]

    def stack_of(self, workspace: str | None) -> str:
        """The stack that declares ``workspace`` (``None``: a binding naming none)."""
        if not self.sharded:
            return self.name
        scope = ShardScope(0, self.shards, self.placement)
        return shard_stack_name(self.name, scope.home(workspace))

    def scope(self, stack: str) -> ShardScope:
        if not self.sharded:
            return WHOLE
        return scope_for_stack(stack, self.shards).placed(self.placement)


def shards_setting(project: Project, stack: str) -> int:
    """The ``shards`` setting of ``stack``'s own stack file (1 when unset)."""
    path = project.stack_file(stack)
    try:
        data = yaml_text.load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read stack configuration {path}: {error}") from error
    config = (data or {}).get("config") or {}
    raw = config.get(f"{project.name}:shards", config.get("shards", 1))
    try:
        value = int(raw) if isinstance(raw, str) and raw.strip().isdigit() else raw
        return settings_from_values({"shards": value}).shards
    except SettingsError as error:
        raise ValueError(f"{path}: {error}") from error


def load_environment(project: Project, stack: str) -> Environment:
    """The environment ``stack`` names; a shard stack's name runs that shard alone."""
    environment, index = split_stack_name(stack)
    if index is None:
        return Environment(project, stack, shards_setting(project, stack))
    shards = shards_setting(project, environment)
    try:
        scope_for_stack(stack, shards)
    except ShardingError as error:
        raise ValueError(str(error)) from error
    return Environment(project, environment, shards, only=stack)


def prepare_shard_stacks(
    environment: Environment,
    command: InterruptiblePulumiCommand,
    env: Mapping[str, str],
    *,
    moving: bool = False,
    root: Path | None = None,
) -> None:
    """Write every shard's stack file from the environment's, and create missing shard stacks.

    Refused while a stack the ``shards`` setting gives no role still holds resources
    (:func:`require_settled`), unless ``moving``: ``shard-move`` prepares the stacks it moves into.
    """
    if not environment.sharded:
        return
    project = environment.project
    source = project.stack_file(environment.name)
    text = source.read_text(encoding="utf-8")
    for stack in environment_stacks(environment):
        target = project.stack_file(stack)
        content = (
            GENERATED.format(
                source=source.name, environment=environment.name, shards=environment.shards
            )
            + text
        )
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
    entries = list_stacks(environment, command, env, root)
    if not moving:
        require_settled(environment, entries)
    existing = {str(entry.get("name")).rsplit("/", 1)[-1] for entry in entries}
    wanted = environment.stacks() if not moving else environment_stacks(environment)
    missing = [stack for stack in wanted if stack.rsplit("/", 1)[-1] not in existing]
    create_stacks(missing, command, project.directory, env)


def create_stacks(
    stacks: list[str],
    command: InterruptiblePulumiCommand,
    directory: Path,
    env: Mapping[str, str],
) -> None:
    """``pulumi stack init`` each of ``stacks``, side by side (at most one CLI per core).

    A new environment of 500 shards made them one after the other, about a quarter of a second
    of CLI start-up each, before any shard could run. The first one is made alone: on a new
    backend it also writes the backend's own metadata, which the others then find.
    Raises the first failure once every started creation has ended.
    """

    def create(stack: str) -> None:
        log.info("creating shard stack %s", stack)
        command.run(["stack", "init", stack], str(directory), dict(env))

    if not stacks:
        return
    create(stacks[0])
    rest = stacks[1:]
    if not rest:
        return
    with ThreadPoolExecutor(max_workers=min(len(rest), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(create, stack) for stack in rest]
    for future in futures:
        future.result()


def environment_stacks(environment: Environment) -> list[str]:
    """Every stack the ``shards`` setting gives a role, even when one shard runs alone."""
    if not environment.sharded:
        return [environment.name]
    return [shard_stack_name(environment.name, i) for i in range(environment.shards)]


def list_stacks(
    environment: Environment,
    command: InterruptiblePulumiCommand,
    env: Mapping[str, str],
    root: Path | None = None,
) -> list[Mapping[str, Any]]:
    """The project's stacks as ``pulumi stack ls --json`` lists them (name, resourceCount).

    On a DIY backend (``root``) they are read from its directory instead: the CLI loads every
    stack's checkpoint to count its resources, a cost that grows with the whole environment.
    Here only the stacks :func:`require_settled` looks at are counted.
    """
    if root is not None:
        on_disk = stacks_on_disk(root, environment)
        if on_disk is not None:
            return on_disk
    listed = command.run(["stack", "ls", "--json"], str(environment.project.directory), dict(env))
    return [e for e in json.loads(listed.stdout or "[]") if isinstance(e, Mapping)]


_NOT_STACKS = (".bak", ".attrs", ".tmp")
"""Beside each ``<stack>.json``: its backup, the blob store's metadata files, and the temporary
file each write goes through (``<stack>.json.<hex>.tmp``, renamed over the checkpoint once
complete; a writer killed before the rename leaves it behind)."""


def stacks_on_disk(root: Path, environment: Environment) -> list[Mapping[str, Any]] | None:
    """The project's stacks in a DIY backend's directory; ``None`` where it cannot tell (a file
    that is no checkpoint, or a backend without the per-project layout): ask the CLI then."""
    directory = stacks_directory(root, environment.project.name)
    if not directory.is_dir():
        return None
    name = environment.name.rsplit("/", 1)[-1]
    wanted = {stack.rsplit("/", 1)[-1] for stack in environment_stacks(environment)}
    entries: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for path in sorted(directory.iterdir()):
        if path.name.endswith(_NOT_STACKS) or path.name.startswith("."):
            continue
        stack = stack_file_name(path.name)
        if stack is None:
            return None
        if stack in seen:
            continue  # a compression setting changed and both variants exist for a moment
        seen.add(stack)
        entry: dict[str, Any] = {"name": stack}
        if split_stack_name(stack)[0] == name and stack not in wanted:
            deployment = read_deployment(root, environment.project, stack)
            entry["resourceCount"] = len(deployment.get("resources") or [])
        entries.append(entry)
    return entries


def require_settled(environment: Environment, entries: Iterable[Mapping[str, Any]]) -> None:
    """Refuse while a stack of the environment that its ``shards`` setting gives no role
    (the environment's own stack when sharded, any shard stack when not, shards beyond the
    count) still manages resources: the environment is not moved, or a move stopped halfway.
    """
    name = environment.name.rsplit("/", 1)[-1]
    wanted = {stack.rsplit("/", 1)[-1] for stack in environment_stacks(environment)}
    for entry in entries:
        stack = str(entry.get("name") or "").rsplit("/", 1)[-1]
        owner, _ = split_stack_name(stack)
        if owner == name and stack not in wanted:
            _require_moved(environment, stack, int(entry.get("resourceCount") or 0))


def _require_moved(environment: Environment, stack: str, resources: int) -> None:
    """Refuse to run while ``stack``, which the setting gives no role, still manages resources.

    The stacks the setting names would otherwise declare the same objects and rows a second
    time, and two stacks would each believe they own them. A root Stack resource may remain;
    anything more has not been moved.
    """
    if resources > _MOVED_LEFTOVERS:
        raise ValueError(
            f"stack {stack} still holds {resources} resources, but {environment.name} has "
            f"shards: {environment.shards}, which gives it none (a move to "
            f"{'its shard stacks' if environment.sharded else 'one stack'} not done or stopped "
            f"halfway); run `scripts/watch shard-move --stack {environment.name}` first"
        )


def run_context(environment: Environment) -> str:
    """The digest of the program's code and the environment's configuration."""
    digest = hashlib.sha256()
    root = environment.project.directory
    for part in _CODE_PARTS:
        path = root / part
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix in _CODE_SUFFIXES and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    digest.update(environment.project.stack_file(environment.name).read_bytes())
    return digest.hexdigest()


def expected_digests(
    environment: Environment, context: str, manifests: Iterable[Any], today: date
) -> dict[str, str]:
    """Stack name -> the digest a run of it with ``manifests`` would export."""
    listed = list(manifests)
    plan = plan_workspaces((parse_binding(m) for m in listed), today)
    expired = [b.key for b in plan.expired]
    stacks = environment.stacks()
    scopes = [environment.scope(stack) for stack in stacks]
    return dict(zip(stacks, input_digests(context, scopes, listed, expired), strict=True))


def largest_first(
    environment: Environment, stacks: Iterable[str], manifests: Iterable[Any], *, zero_first: bool
) -> list[str]:
    """``stacks`` in the order a run should start them: the ones holding most bindings first
    (ties by shard index), so the last to finish is a small one and no core idles through a large
    shard's run at the end; shard 0 leads when ``zero_first`` (it declares the database).

    One pass over the bindings: which stack holds a binding is its workspace's owner.
    """
    names = list(stacks)
    if not environment.sharded or not names:
        return names
    scope = environment.scope(names[0])
    held = Counter(scope.owner(workspace_named(manifest)) for manifest in manifests)

    def key(stack: str) -> tuple[bool, int, int]:
        index = split_stack_name(stack)[1]
        position = -1 if index is None else index
        return (not (zero_first and index == 0), -held[index], position)

    return sorted(names, key=key)


def touched(expected: Mapping[str, str], recorded: Mapping[str, str | None]) -> list[str]:
    """The stacks whose last complete run was given something else (or never completed)."""
    return [stack for stack, digest in expected.items() if recorded.get(stack) != digest]


def recorded_digest(outputs: Mapping[str, Any]) -> str | None:
    value = outputs.get("inputDigest")
    return value if isinstance(value, str) else None


def shard_files(project: Project, environment: str) -> list[Path]:
    """The generated shard stack files of ``environment`` that exist now."""
    prefix = f"Pulumi.{environment.rsplit('/', 1)[-1]}.shard-"
    return sorted(p for p in project.stack_config_dir.glob(f"{prefix}*.yaml"))


def stack_outputs(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The root Stack resource's outputs in a ``deployment``."""
    for resource in deployment.get("resources") or []:
        if resource.get("type") == "pulumi:pulumi:Stack":
            outputs = resource.get("outputs")
            return dict(outputs) if isinstance(outputs, Mapping) else {}
    return {}


def merged_state(deployments: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One state holding the resources of several stacks (URNs name their stack, so they stay
    apart), for an access review of the environment as a whole."""
    resources: list[Any] = []
    for deployment in deployments:
        resources += list(deployment.get("resources") or [])
    return {"deployment": {"resources": resources}}


def check_settled(environment: Environment, env: Mapping[str, str]) -> None:
    """:func:`require_settled` for an environment of one stack, whose runs list no stacks
    otherwise: a move back from shards that stopped halfway leaves resources in shard stacks.
    A sharded environment is checked where its shard stacks are prepared."""
    if not environment.sharded:
        command = InterruptiblePulumiCommand()
        root = backend_root(backend_url(environment.project, command, env))
        if root is not None:
            repair_sidecars(state_directories(root, environment.project.name, environment.name))
        require_settled(environment, list_stacks(environment, command, env, root))
