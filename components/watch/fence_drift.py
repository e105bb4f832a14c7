"""Find the browsers' fence changed behind the program's back, without a refresh.

Why: pulumi-kubernetes compares the program's inputs with the state, so a NetworkPolicy deleted
or widened with ``kubectl``, a pod template edited by hand (stripped of the label the policy
selects, so its pods run unfenced; ``privileged: true``; another image) or a Service opened up
(``NodePort``, an external IP) stays in place: ``up`` does not see it and a refresh repairs only
fields that were removed. This check lists the workspaces' NetworkPolicies, Deployments,
Services and VNC Secrets (a few label-selected LISTs, whatever the fleet size) and compares
them with what the state recorded:

* a NetworkPolicy the state records is gone, or its ``spec`` is not the one recorded (every rule
  is the program's, so any difference, added or removed, is drift);
* a Deployment or Service the state records is gone, or its pod template or its ``spec``
  differs from the recorded one (:mod:`components.watch.spec_drift`: a recorded field changed
  or missing, or a field added by another field manager);
* a browser's VNC Secret is gone, or a key of its ``data`` or its ``type`` is not the recorded
  one: the browser reads its password from it when it starts, guacd sends the recorded one, so
  a hand-reset password locks the user out at the next login (or lets in whoever set it).
  Drift names the keys, never their values.

Repair: an object that is gone is refreshed out of the state and the ``up`` that follows creates
it again. One that was changed is first put back as the state records it (:func:`restore`,
under the program's field manager, guarded by the ``resourceVersion`` read), then refreshed.
Putting back what the state records, not what the program now declares, keeps a legitimate
program change for the ``up`` to apply (:mod:`components.watch.drift` runs the checks). One more
LIST per namespace finds the NetworkPolicies that are not the program's; one that selects a
browser and allows it traffic is named in a warning (:mod:`components.watch.foreign_policies`).
Pure apart from :func:`read_live`, :func:`read_foreign_policies`, :func:`restore` and
:func:`repair`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.guacamole.drift import GONE, Drift
from components.kube_client import new_api_client
from components.manifests import DEPLOYMENT_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, WORKSPACE_LABEL
from components.watch.exported_state import SECRET_SIGNATURE, decoded
from components.watch.foreign_policies import widening_policies
from components.watch.spec_drift import POD_TEMPLATE, SERVICE_SPEC, Scope, restored, spec_drift

log = logging.getLogger(__name__)

POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
SERVICE_TYPE = "kubernetes:core/v1:Service"
SECRET_TYPE = "kubernetes:core/v1:Secret"  # noqa: S105 - a resource type
KINDS = {
    POLICY_TYPE: "networkpolicies",
    DEPLOYMENT_TYPE: "deployments",
    SERVICE_TYPE: "services",
    SECRET_TYPE: "secrets",
}
SCOPES: dict[str, Scope] = {"deployments": POD_TEMPLATE, "services": SERVICE_SPEC}
"""Where a Deployment's and a Service's compared fields live (a policy's whole ``spec``)."""
PROVIDER_TYPE = "pulumi:providers:kubernetes"
_PER_SELECTOR = 50
"""Label values per ``in (...)`` selector, so a request line stays short."""
_TIMEOUT = (5, 20)
"""Connect and read timeouts, short: the ``up`` this check precedes may carry revocations, and
an API server that hangs must not hold them back for long (a failed check is only logged)."""


@dataclass(frozen=True)
class RecordedObject:
    """A fence object as the state's inputs declare it."""

    urn: str
    kind: str
    """``networkpolicies``, ``deployments`` or ``services``."""
    namespace: str
    name: str
    inputs: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def listing_label(self) -> str:
        """The label the check lists this kind by: a VNC Secret carries its Deployment's name
        (not the workspace's), the other objects their workspace."""
        return DEPLOYMENT_LABEL if self.kind == "secrets" else WORKSPACE_LABEL

    @property
    def listing_value(self) -> str | None:
        labels = (self.inputs.get("metadata") or {}).get("labels") or {}
        value = labels.get(self.listing_label)
        return value if isinstance(value, str) else None


def recorded_objects(deployment: Mapping[str, Any] | None) -> list[RecordedObject]:
    """Every live NetworkPolicy, Deployment, Service and Secret in an exported deployment, its
    secret inputs decoded (pure)."""
    found: list[RecordedObject] = []
    for resource in (deployment or {}).get("resources") or []:
        kind = KINDS.get(str(resource.get("type", "")))
        if kind is None or resource.get("delete") or not resource.get("id"):
            continue
        namespace, _, name = str(resource["id"]).rpartition("/")
        inputs = decoded(resource.get("inputs"))
        if namespace and name and isinstance(inputs, Mapping):
            found.append(RecordedObject(str(resource["urn"]), kind, namespace, name, inputs))
    return found


def kubeconfig_of(deployment: Mapping[str, Any] | None) -> str | None:
    """The kubeconfig the stack's kubernetes provider was given, if any: the check must read the
    cluster the provider writes to."""
    for resource in (deployment or {}).get("resources") or []:
        if str(resource.get("type")) == PROVIDER_TYPE and not resource.get("delete"):
            value = (resource.get("inputs") or {}).get("kubeconfig")
            if isinstance(value, str) and value:
                return value
    return None


def compare(
    recorded: RecordedObject, live: Mapping[str, Any] | None, accepted: Collection[str] = ()
) -> tuple[str, ...]:
    """The drifted fields of one object (pure); empty when it is as recorded. Additions by the
    ``accepted`` field managers are not drift (a policy's spec is the program's alone)."""
    if live is None:
        return (GONE,)
    if recorded.kind == "networkpolicies":
        return () if live.get("spec") == recorded.inputs.get("spec") else ("spec",)
    if recorded.kind == "secrets":
        return secret_drift(recorded.inputs, live)
    return spec_drift(SCOPES[recorded.kind], recorded.inputs, live, accepted)


def secret_drift(recorded: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[str, ...]:
    """A VNC Secret's drifted fields, named without their values (pure): every key of ``data``
    is the program's, so a changed, added or removed key is drift, as is another ``type``."""
    want = recorded.get("data") or {}
    if SECRET_SIGNATURE in want:
        return ()  # exported without its secrets: nothing to compare, never written back
    have = live.get("data") or {}
    keys = sorted(k for k in {*want, *have} if want.get(k) != have.get(k))
    fields = tuple(f"data[{k}]" for k in keys)
    if live.get("type", "Opaque") != recorded.get("type", "Opaque"):
        fields += ("type",)
    return fields


def find_fence_drift(
    recorded: Iterable[RecordedObject],
    live: Mapping[tuple[str, str, str], Mapping[str, Any]],
    accepted: Collection[str] = (),
) -> list[Drift]:
    """Compare every recorded object with the live one under its key (pure)."""
    found: list[Drift] = []
    for item in recorded:
        fields = compare(item, live.get(item.key), accepted)
        if fields:
            found.append(Drift(item.urn, fields))
    return found


def selectors(recorded: Iterable[RecordedObject]) -> dict[tuple[str, str], list[str]]:
    """(kind, namespace) -> the label selectors that list the recorded objects: by workspace
    label where they carry one (so a shard lists only its own), a Secret by its Deployment's
    name, else everything of the kind."""
    values: dict[tuple[str, str], set[str | None]] = {}
    label: dict[tuple[str, str], str] = {}
    for item in recorded:
        values.setdefault((item.kind, item.namespace), set()).add(item.listing_value)
        label[(item.kind, item.namespace)] = item.listing_label
    result: dict[tuple[str, str], list[str]] = {}
    for where, labels in values.items():
        if None in labels:
            result[where] = [""]
            continue
        ordered = sorted(v for v in labels if v is not None)
        result[where] = [
            f"{label[where]} in ({','.join(ordered[i : i + _PER_SELECTOR])})"
            for i in range(0, len(ordered), _PER_SELECTOR)
        ]
    return result


def read_live(
    api: client.ApiClient, recorded: list[RecordedObject]
) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """The live objects the recorded ones could be, keyed like :attr:`RecordedObject.key`."""
    listers = {
        "networkpolicies": client.NetworkingV1Api(api).list_namespaced_network_policy,
        "deployments": client.AppsV1Api(api).list_namespaced_deployment,
        "services": client.CoreV1Api(api).list_namespaced_service,
        "secrets": client.CoreV1Api(api).list_namespaced_secret,
    }
    live: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for (kind, namespace), chosen in selectors(recorded).items():
        for selector in chosen:
            response = listers[kind](
                namespace,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
            for item in json.loads(response.data).get("items") or []:
                live[(kind, namespace, str(item["metadata"]["name"]))] = item
    # One not listed may only have lost its label: look it up before calling it deleted.
    readers = {
        "networkpolicies": client.NetworkingV1Api(api).read_namespaced_network_policy,
        "deployments": client.AppsV1Api(api).read_namespaced_deployment,
        "services": client.CoreV1Api(api).read_namespaced_service,
        "secrets": client.CoreV1Api(api).read_namespaced_secret,
    }
    for item in recorded:
        if item.key in live:
            continue
        try:
            response = readers[item.kind](
                item.name, item.namespace, _preload_content=False, _request_timeout=_TIMEOUT
            )
        except ApiException as error:
            if error.status == 404:
                continue
            raise
        live[item.key] = json.loads(response.data)
    return live


def restore(
    api: client.ApiClient,
    item: RecordedObject,
    live: Mapping[str, Any],
    accepted: Collection[str] = (),
) -> None:
    """Put a changed (not deleted) object's fence fields back as the state records them.

    ``live`` is the object as :func:`read_live` read it, replaced with its ``resourceVersion``,
    so a write made since is refused (409), not overwritten, and the next check looks again.
    A replace, not an apply: only it removes the fields another manager added. A Deployment
    keeps its live ``replicas`` (the login path's) and everything outside the template, a
    Service the addresses the server allocated; both keep the ``accepted`` managers' additions.
    """
    if item.kind == "secrets":
        body = {**live, "data": item.inputs.get("data") or {}, "type": item.inputs.get("type")}
        client.CoreV1Api(api).replace_namespaced_secret(
            item.name, item.namespace, body, field_manager=FIELD_MANAGER, _request_timeout=_TIMEOUT
        )
        return
    spec: Any
    if item.kind == "networkpolicies":
        spec = item.inputs.get("spec")
    elif item.kind == "deployments":
        spec = {**live["spec"], "template": restored(POD_TEMPLATE, item.inputs, live, accepted)}
    else:
        spec = restored(SERVICE_SPEC, item.inputs, live, accepted)
    replace = {
        "networkpolicies": client.NetworkingV1Api(api).replace_namespaced_network_policy,
        "deployments": client.AppsV1Api(api).replace_namespaced_deployment,
        "services": client.CoreV1Api(api).replace_namespaced_service,
    }[item.kind]
    replace(
        item.name,
        item.namespace,
        {**live, "spec": spec},
        field_manager=FIELD_MANAGER,
        _request_timeout=_TIMEOUT,
    )


def read_foreign_policies(
    api: client.ApiClient, recorded: list[RecordedObject]
) -> list[Mapping[str, Any]]:
    """The NetworkPolicies not labelled as this program's in the browsers' namespaces (one
    LIST per namespace; the program's own are compared with the state instead)."""
    found: list[Mapping[str, Any]] = []
    for namespace in sorted({item.namespace for item in recorded if item.kind == "deployments"}):
        response = client.NetworkingV1Api(api).list_namespaced_network_policy(
            namespace,
            label_selector=f"{MANAGED_BY_LABEL}!={FIELD_MANAGER}",
            _preload_content=False,
            _request_timeout=_TIMEOUT,
        )
        found += json.loads(response.data).get("items") or []
    return found


def live_template_labels(
    recorded: list[RecordedObject], live: Mapping[tuple[str, str, str], Mapping[str, Any]]
) -> dict[str, Mapping[str, str]]:
    """``namespace/name`` -> the labels the recorded Deployment's pods carry now (pure)."""
    labels: dict[str, Mapping[str, str]] = {}
    for item in recorded:
        if item.kind == "deployments" and item.key in live:
            template = POD_TEMPLATE.part(live[item.key])
            labels[f"{item.namespace}/{item.name}"] = (template.get("metadata") or {}).get(
                "labels"
            ) or {}
    return labels


def repair(
    kubeconfig: str | None, recorded: list[RecordedObject], accepted: Collection[str] = ()
) -> list[Drift]:
    """Find the fence's drift in the provider's cluster and put changed objects back (deleted
    ones are left to the refresh and the ``up``); warn of policies that are not the program's
    and widen it (:mod:`components.watch.foreign_policies`). ``accepted``: the field managers
    whose additions to a pod template or Service are neither drift nor undone."""
    api = new_api_client(kubeconfig)
    try:
        live = read_live(api, recorded)
        drifted = find_fence_drift(recorded, live, accepted)
        by_urn = {item.urn: item for item in recorded}
        for drift in drifted:
            if drift.fields != (GONE,):
                item = by_urn[drift.urn]
                try:
                    restore(api, item, live[item.key], accepted)
                except ApiException as error:  # e.g. 409: written since it was read
                    log.warning(
                        "could not put back %s %s/%s (HTTP %s); the next check tries again",
                        item.kind,
                        item.namespace,
                        item.name,
                        error.status,
                    )
        foreign = read_foreign_policies(api, recorded)
        for warning in widening_policies(foreign, live_template_labels(recorded, live)):
            log.warning("%s", warning)
        return drifted
    finally:
        api.close()
