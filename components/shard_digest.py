"""One digest of everything a stack's run depends on, so an environment run can skip the shards
nothing touched (pure).

The program exports it (output ``inputDigest``) only once every resource it declared has been
applied, so a failed or killed run leaves the previous digest and the shard is run again next
time. The runner computes the same digest from the bindings it reads before running; equal
digests mean the run would find the stack as it left it. What goes in:

* the run context (:data:`CONTEXT_ENV`, set by the runner): a digest of the program's code and
  of the environment's stack configuration, so a new release or a settings change runs every
  shard;
* the shard (index and count);
* each of the shard's bindings as the program reads it: namespace, name and ``spec`` (not its
  ``status``, which the program writes, nor ``metadata.resourceVersion``);
* which of them have expired by today, so an expiry runs the shard on the day it happens.

Out-of-band edits to objects or rows do not change the digest: the drift check and the periodic
full run (``--all-shards``) are what find those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.sharding import ShardScope, workspace_named

CONTEXT_ENV = "AWMS_RUN_CONTEXT"
"""Environment variable carrying the run context to the program."""


def binding_view(manifest: Any) -> Any:
    """The part of a binding manifest the program's result depends on."""
    if not isinstance(manifest, Mapping):
        return repr(manifest)
    metadata = manifest.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return {
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "spec": manifest.get("spec"),
    }


def input_digest(
    context: str, scope: ShardScope, manifests: Iterable[Any], expired: Iterable[str]
) -> str:
    """The digest of the shard's part of ``manifests`` (every binding of the environment);
    ``expired`` may name bindings of any shard, only the shard's own count."""
    mine = [binding_view(m) for m in manifests if scope.owns(workspace_named(m))]
    keys = {f"{v['namespace']}/{v['name']}" for v in mine if isinstance(v, Mapping)}
    payload = {
        "context": context,
        "shard": [scope.index, scope.count],
        "bindings": sorted(json.dumps(v, sort_keys=True, default=str) for v in mine),
        "expired": sorted(key for key in expired if key in keys),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def input_digests(
    context: str, scopes: Sequence[ShardScope], manifests: Iterable[Any], expired: Iterable[str]
) -> list[str]:
    """:func:`input_digest` of each of an environment's ``scopes`` (same count and placement),
    with one pass over the bindings instead of one per shard: the runner needs every shard's
    digest on every run, and shards grow with the environment, so a pass per shard would make
    each run cost the square of the fleet."""
    if not scopes:
        return []
    by_owner: dict[int | None, list[Any]] = {}
    owners_of_key: dict[str, set[int | None]] = {}
    for manifest in manifests:
        owner = scopes[0].owner(workspace_named(manifest))
        by_owner.setdefault(owner, []).append(manifest)
        key = _key(manifest)
        if key is not None:
            owners_of_key.setdefault(key, set()).add(owner)
    expired_by_owner: dict[int | None, list[str]] = {}
    for key in expired:
        for owner in owners_of_key.get(key, ()):
            expired_by_owner.setdefault(owner, []).append(key)
    return [
        input_digest(
            context, scope, by_owner.get(scope.index, []), expired_by_owner.get(scope.index, [])
        )
        for scope in scopes
    ]


def _key(manifest: Any) -> str | None:
    """``namespace/name`` as :func:`input_digest` keys a binding (``None``: not a mapping)."""
    view = binding_view(manifest)
    return f"{view['namespace']}/{view['name']}" if isinstance(view, Mapping) else None
