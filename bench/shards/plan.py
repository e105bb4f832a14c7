"""What the sharded benchmark runs, decided before anything starts (pure).

The workload is the realistic one of the sharding issue: 20 users per workspace (1,000 bindings
are 50 workspaces), split into the shard count the program's sizing rule suggests
(:func:`components.sharding.suggested_shards`). The
one-binding edits are a pipeline's three kinds of merge: a binding added to an existing
workspace, one changed (``spec.replicas`` 0 -> 1, the single-stack benchmark's "change one"),
one removed. Each edit is given as the bindings file the merge request proposes, so the
pipeline's ``preview --bindings-file`` sees exactly what a reviewer would.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.workload import EXPIRES, PREFIX, Workload
from components.placement import Placement, binding_counts, shard_loads
from components.sharding import suggested_shards

USERS_PER_WORKSPACE = 20
QUICK_SIZE = 60
QUICK_SHARDS = 3
ADDED = f"{PREFIX}-added"


class PlanError(ValueError):
    """A size or shard count the benchmark cannot run; the message names the flag."""


def default_shards(size: int) -> int:
    """The shard count the program suggests for ``size`` bindings (at least 2: one shard is
    the single-stack benchmark, ``python -m bench``)."""
    return max(2, suggested_shards(size))


def check_shards(size: int, shards: int) -> None:
    if size < 3:
        raise PlanError(f"--sizes {size}: the one-binding edits need at least 3 bindings")
    if shards < 2:
        raise PlanError(f"--shards {shards}: a sharded environment has at least 2 shards")
    if shards > size:
        raise PlanError(f"--shards {shards}: more shards than the {size} bindings")


def workload(size: int, namespace: str) -> Workload:
    return Workload(size, namespace, per_workspace=USERS_PER_WORKSPACE)


def bindings_per_shard(manifests: Iterable[Any], shards: int) -> list[int]:
    """How many bindings each shard holds (index order) once the runner has placed every
    workspace of a new environment (:mod:`components.placement`)."""
    counts = binding_counts(manifests)
    return shard_loads(Placement().extended(counts, shards), counts, shards)


@dataclass(frozen=True)
class Edit:
    """One merge of the pipeline: the proposed bindings file and the binding it concerns."""

    step: str
    """``add-one``, ``change-one`` or ``remove-one``."""
    action: str
    """What happens to the cluster after review: ``create``, ``replicas`` or ``delete``."""
    manifest: dict[str, Any]
    """The binding as created or changed, or as it was before its removal."""
    proposed: list[dict[str, Any]]
    """Every binding after the edit: the file the merge request proposes."""

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])


def edits(base: Workload) -> list[Edit]:
    """The three one-binding edits, applied in order on top of ``base``'s bindings."""
    if base.size < 3:
        raise PlanError(f"--sizes {base.size}: the one-binding edits need at least 3 bindings")
    current = base.manifests()
    added = base.manifest(0)
    added["metadata"]["name"] = ADDED
    added["spec"] = {**added["spec"], "username": "user-added@example.org", "expires": EXPIRES}
    current = [*current, added]
    result = [Edit("add-one", "create", added, copy.deepcopy(current))]

    changed = copy.deepcopy(current[1])
    changed["spec"]["replicas"] = 1
    current = [changed if m["metadata"]["name"] == changed["metadata"]["name"] else m
               for m in current]  # fmt: skip
    result.append(Edit("change-one", "replicas", changed, copy.deepcopy(current)))

    removed = current[base.size - 1]
    current = [m for m in current if m["metadata"]["name"] != removed["metadata"]["name"]]
    result.append(Edit("remove-one", "delete", removed, copy.deepcopy(current)))
    return result
