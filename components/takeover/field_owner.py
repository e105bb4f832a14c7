"""``FieldOwnerTakeover``: hand the legacy writer's field ownership to this program's manager.

Why: the legacy operator wrote with plain create/patch calls, so its fields belong to the
``Update`` manager ``OpenAPI-Generator``. A server-side apply by another manager, even forced,
never removes fields it does not own: the legacy ``BROWSER_URL`` env entry and the like stay, and
every preview after the hand-over shows a diff. Kubernetes documents the way out for moving from
client-side to server-side apply (client-go's ``csaupgrade``): merge the old manager's field set
into the applier's ``Apply`` entry and drop the old entry, in one JSON patch of
``metadata.managedFields`` guarded by the object's ``resourceVersion``. The next apply then owns
those fields and removes whatever it no longer declares. :func:`upgrade_managed_fields` is that
merge, as a pure function.

The Deployments and Services depend on this resource, so it runs before their first apply.
``pending`` lists the objects the program is about to apply that still have a legacy entry (what
it saw at its start, so a preview shows the hand-over coming); ``create``/``update`` upgrade those
and any object this program already applied that a legacy writer touched again; ``read`` reports
the latter (``remaining``). Orphans and expired bindings' objects are never taken over: they are
not the program's to apply, and the revocation deletes them. Only entries of the listed legacy
managers with operation ``Update`` on the main resource are moved: the controllers' status
writes, other tools' managers and the login fast path's own manager keep theirs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    DiffResult,
    ReadResult,
)

from components.dynamic_provider import StatelessProvider
from components.kube_client import client
from components.takeover.inventory import (
    WHOLE_NAMESPACE,
    RawObject,
    applied_by_us,
    is_legacy_entry,
    list_browser_objects,
)
from components.takeover.kube import (
    REQUEST_TIMEOUT,
    ConvergingProvider,
    KubeAccess,
    plain_list,
    plain_map,
)

_RESOURCE_ID = "field-owner-takeover"
_ATTEMPTS = 3


def _union(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Union of two ``FieldsV1`` trees (nested maps whose leaves are empty maps)."""
    out = copy.deepcopy(dict(left))
    for key, value in right.items():
        if key in out and isinstance(out[key], Mapping) and isinstance(value, Mapping):
            out[key] = _union(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def upgrade_managed_fields(
    entries: Sequence[Mapping[str, Any]], legacy: Sequence[str], manager: str
) -> list[dict[str, Any]] | None:
    """``managedFields`` with the legacy entries merged into ``manager``'s Apply entry.

    None when there is nothing to move. Mirrors client-go ``csaupgrade.UpgradeManagedFields``.
    """
    moved = [e for e in entries if is_legacy_entry(e, legacy)]
    if not moved:
        return None
    ours = next(
        (
            e
            for e in entries
            if e.get("manager") == manager
            and e.get("operation") == "Apply"
            and not e.get("subresource")
        ),
        None,
    )
    fields: dict[str, Any] = dict((ours or {}).get("fieldsV1") or {})
    for entry in moved:
        fields = _union(fields, entry.get("fieldsV1") or {})
    base = ours or moved[-1]
    merged: dict[str, Any] = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": base.get("apiVersion"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if base.get("time"):
        merged["time"] = base["time"]
    kept = [dict(e) for e in entries if e is not ours and not is_legacy_entry(e, legacy)]
    return [*kept, merged]


class FieldOwnerTakeoverProvider(ConvergingProvider, KubeAccess, StatelessProvider):
    """Moves legacy field ownership of purpose-labelled objects to the program's manager."""

    RESOURCE_ID = _RESOURCE_ID

    def configure(self, req: ConfigureRequest) -> None:
        self.configure_kube(req)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure(key, "must be a non-empty string")
            for key in ("namespace", "fieldManager")
            if not isinstance(news.get(key), str) or not news.get(key)
        ]
        selectors = news.get("selectors")
        if selectors is not None and not (
            isinstance(selectors, list | tuple) and all(isinstance(s, str) and s for s in selectors)
        ):
            failures.append(CheckFailure("selectors", "must be a list of non-empty strings"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # ``selectors`` only narrows where to look; a shard gaining a workspace is no work.
        changed = any(olds.get(k) != news.get(k) for k in ("namespace", "fieldManager")) or (
            plain_list(olds.get("legacyManagers")) != plain_list(news.get("legacyManagers"))
        )
        # ``pending`` is what the program saw at its start: any entry is work to do now.
        changed = (
            changed
            or bool(plain_list(news.get("pending")))
            or bool(plain_list(olds.get("remaining")))
        )
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        legacy = [str(m) for m in plain_list(props.get("legacyManagers"))]
        remaining = [
            f"{kind}/{_name(item)}"
            for kind, item in self._objects(str(props["namespace"]), props)
            if _applied_by_us(item) and any(is_legacy_entry(e, legacy) for e in _entries(item))
        ]
        return ReadResult(id_, {**props, "remaining": remaining})

    def _converge(self, props: dict[str, Any]) -> dict[str, Any]:
        namespace = str(props["namespace"])
        manager = str(props["fieldManager"])
        legacy = [str(m) for m in plain_list(props.get("legacyManagers"))]
        pending = {str(p) for p in plain_list(props.get("pending"))}
        taken: list[str] = []
        for kind, item in self._objects(namespace, props):
            label = f"{kind}/{_name(item)}"
            wanted = label in pending or _applied_by_us(item)
            if wanted and self._upgrade(kind, namespace, item, legacy, manager):
                taken.append(label)
        if taken:
            pulumi.log.info(f"field ownership of {len(taken)} object(s) moved to {manager}")
        return {**props, "takenOver": sorted(taken), "remaining": []}

    def _objects(self, namespace: str, props: Mapping[str, Any]) -> list[tuple[str, RawObject]]:
        """The objects ``selectors`` name: a shard lists only its own workspaces' objects (and
        unlabelled ones), so its cost does not grow with the fleet."""
        api = self.api_client()
        return list_browser_objects(api, namespace, _selectors(props), REQUEST_TIMEOUT)

    def _upgrade(
        self, kind: str, namespace: str, item: RawObject, legacy: list[str], manager: str
    ) -> bool:
        """Patch one object, re-reading it after a concurrent write; False if nothing to move."""
        api = self.api_client()
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        name = _name(item)
        for _attempt in range(_ATTEMPTS):
            upgraded = upgrade_managed_fields(_entries(item), legacy, manager)
            if upgraded is None:
                return False
            patch = [
                {
                    "op": "test",
                    "path": "/metadata/resourceVersion",
                    "value": _metadata(item).get("resourceVersion"),
                },
                {"op": "replace", "path": "/metadata/managedFields", "value": upgraded},
            ]
            try:
                if kind == "Deployment":
                    apps.patch_namespaced_deployment(
                        name, namespace, patch, _request_timeout=REQUEST_TIMEOUT
                    )
                else:
                    core.patch_namespaced_service(
                        name, namespace, patch, _request_timeout=REQUEST_TIMEOUT
                    )
                return True
            except client.ApiException as error:
                if error.status == 404:
                    return False
                if error.status not in (409, 422):
                    raise
            read_call = (
                apps.read_namespaced_deployment
                if kind == "Deployment"
                else core.read_namespaced_service
            )
            item = json.loads(
                read_call(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT, _preload_content=False
                ).data
            )
        raise RuntimeError(f"{kind} {namespace}/{name} kept changing; field ownership not moved")


def _selectors(props: Mapping[str, Any]) -> list[str]:
    """Where to look; a state written before the input existed looks at the whole namespace."""
    return [str(s) for s in plain_list(props.get("selectors"))] or [WHOLE_NAMESPACE]


def _metadata(item: RawObject) -> Mapping[str, Any]:
    return plain_map(item.get("metadata"))


def _name(item: RawObject) -> str:
    return str(_metadata(item).get("name"))


def _applied_by_us(item: RawObject) -> bool:
    return applied_by_us(_metadata(item).get("annotations"))


def _entries(item: RawObject) -> list[dict[str, Any]]:
    entries = plain_list(_metadata(item).get("managedFields"))
    return [dict(e) for e in entries if isinstance(e, Mapping)]


class FieldOwnerTakeover(pulumi.dynamic.Resource, module="awms", name="FieldOwnerTakeover"):
    """Runs before every Deployment/Service apply; see the module docstring."""

    taken_over: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        namespace: str,
        field_manager: str,
        legacy_managers: Sequence[str],
        pending: Sequence[str],
        selectors: Sequence[str] = (WHOLE_NAMESPACE,),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            FieldOwnerTakeoverProvider(),
            resource_name,
            {
                "namespace": namespace,
                "fieldManager": field_manager,
                "legacyManagers": list(legacy_managers),
                "pending": list(pending),
                "selectors": list(selectors),
                "takenOver": None,
                "remaining": None,
            },
            opts,
        )
