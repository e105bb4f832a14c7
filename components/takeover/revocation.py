"""``AccessRevocation``: the identities whose access must be absent, kept absent.

Inputs list, per identity (legacy deployment name as ``key``), what must not exist: the
Guacamole login (disabled, no permissions), the browser connection, and (for identities this
program never applied) the Deployment and Service. ``create``/``update`` remove them:

1. Guacamole first, one transaction per identity, so access ends before anything else is tried
   and one bad row cannot keep the others;
2. then the Kubernetes objects, only those carrying the purpose label and not applied by this
   program's field manager (the engine deletes its own).

Every failure is collected and raised at the end, after every identity was tried; the next run
retries (each step is idempotent). ``read`` checks each recorded identity again and reports what
came back in ``present``, so ``pulumi refresh`` (then ``preview``/``up``) shows and repairs an
out-of-band re-creation. ``diff`` asks for work only for identities not yet revoked or found
present again (:func:`components.takeover.kube.has_new_work`); ``delete`` does nothing: an absence
needs no undoing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    DiffResult,
    ReadResult,
)

from components.guacamole.providers import _GuacamoleProvider
from components.guacamole.revocation import AccessTarget, revoke, still_present
from components.kube_client import client
from components.manifests import PURPOSE, PURPOSE_LABEL
from components.takeover.inventory import applied_by_us
from components.takeover.kube import (
    REQUEST_TIMEOUT,
    ConvergingProvider,
    KubeAccess,
    has_new_work,
    plain_list,
    plain_map,
)

_RESOURCE_ID = "access-revocations"
_TARGET_KEYS = ("user", "group", "connection", "deployment", "service")


def _target(entry: Mapping[str, Any]) -> AccessTarget:
    return AccessTarget(
        user=entry.get("user"),
        group=entry.get("group"),
        connection=entry.get("connection"),
        drop_group=bool(entry.get("dropGroup")),
    )


def _targets(entry: Mapping[str, Any] | None) -> tuple[Any, ...]:
    return tuple((entry or {}).get(key) for key in _TARGET_KEYS)


class AccessRevocationProvider(ConvergingProvider, KubeAccess, _GuacamoleProvider):
    """Removes and watches what the listed identities must not have."""

    RESOURCE_ID = _RESOURCE_ID

    def configure(self, req: ConfigureRequest) -> None:
        super().configure(req)
        self.configure_kube(req)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        if not isinstance(news.get("namespace"), str) or not news.get("namespace"):
            failures.append(CheckFailure("namespace", "must be a non-empty string"))
        for index, entry in enumerate(plain_list(news.get("entries"))):
            if not isinstance(plain_map(entry).get("key"), str):
                failures.append(CheckFailure(f"entries[{index}].key", "must be a string"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        entries = [plain_map(e) for e in plain_list(news.get("entries"))]
        previous = {plain_map(e).get("key"): plain_map(e) for e in plain_list(olds.get("entries"))}
        done = [
            key
            for key in plain_list(olds.get("revoked"))
            if _targets(previous.get(key))
            == _targets(next((e for e in entries if e.get("key") == key), None))
        ]
        present = [str(plain_map(p).get("key")) for p in plain_list(olds.get("present"))]
        # ``live``: the program's own scan saw part of it this run (say, a re-created connection).
        present += [str(e["key"]) for e in entries if e.get("live")]
        changed = olds.get("namespace") != news.get("namespace") or has_new_work(
            (e["key"] for e in entries), done, present
        )
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        namespace = str(props.get("namespace") or "")
        present = []
        for entry in (plain_map(e) for e in plain_list(props.get("entries"))):
            target = _target(entry)
            found = self._db().run(lambda cur: still_present(cur, target), read_only=True)  # noqa: B023
            found += self._objects_present(namespace, entry)
            if found:
                present.append({"key": entry.get("key"), "found": found})
        return ReadResult(id_, {**props, "present": present})

    # -- the work -------------------------------------------------------------------------------
    def _converge(self, props: dict[str, Any]) -> dict[str, Any]:
        namespace = str(props["namespace"])
        entries = [plain_map(e) for e in plain_list(props.get("entries"))]
        errors: list[str] = []
        for entry in entries:  # Guacamole first: access ends before anything else is tried
            target = _target(entry)
            try:
                for line in self._db().run(lambda cur: revoke(cur, target)):  # noqa: B023
                    pulumi.log.info(f"{entry.get('reason')} {entry.get('key')}: {line}")
            except Exception as error:  # reported below; the others go on
                errors.append(f"{entry.get('key')}: Guacamole: {error}")
        for entry in entries:
            try:
                self._delete_objects(namespace, entry)
            except Exception as error:  # reported below
                errors.append(f"{entry.get('key')}: Kubernetes: {_short(error)}")
        if errors:
            raise RuntimeError(
                "revocation incomplete (retried by the next run): " + "; ".join(errors)
            )
        return {**props, "revoked": [e.get("key") for e in entries], "present": []}

    def _kinds(self, entry: Mapping[str, Any]) -> list[tuple[str, str]]:
        kinds = []
        if entry.get("deployment"):
            kinds.append(("Deployment", str(entry["deployment"])))
        if entry.get("service"):
            kinds.append(("Service", str(entry["service"])))
        return kinds

    def _read_object(self, kind: str, namespace: str, name: str) -> Any | None:
        api = self.api_client()
        try:
            if kind == "Deployment":
                return client.AppsV1Api(api).read_namespaced_deployment(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT
                )
            return client.CoreV1Api(api).read_namespaced_service(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def _objects_present(self, namespace: str, entry: Mapping[str, Any]) -> list[str]:
        return [
            f"{kind} {name}"
            for kind, name in self._kinds(entry)
            if _removable(self._read_object(kind, namespace, name))
        ]

    def _delete_objects(self, namespace: str, entry: Mapping[str, Any]) -> None:
        api = self.api_client()
        for kind, name in self._kinds(entry):
            live = self._read_object(kind, namespace, name)
            if live is None or not _removable(live):
                continue
            options = client.V1DeleteOptions(
                preconditions=client.V1Preconditions(uid=live.metadata.uid),
                propagation_policy="Background",
            )
            try:
                if kind == "Deployment":
                    client.AppsV1Api(api).delete_namespaced_deployment(
                        name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT
                    )
                else:
                    client.CoreV1Api(api).delete_namespaced_service(
                        name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT
                    )
            except client.ApiException as error:
                if error.status != 404:
                    raise
            pulumi.log.info(f"{entry.get('reason')} {entry.get('key')}: deleted {kind} {name}")


def _removable(live: Any | None) -> bool:
    """A legacy object: carries the purpose label and was never applied by this program."""
    if live is None:
        return False
    labels = live.metadata.labels or {}
    return labels.get(PURPOSE_LABEL) == PURPOSE and not applied_by_us(live.metadata.annotations)


def _short(error: BaseException) -> str:
    if isinstance(error, client.ApiException):
        return f"{error.status} {error.reason}"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else error.__class__.__name__


class AccessRevocation(pulumi.dynamic.Resource, module="awms", name="AccessRevocation"):
    """Identities whose access must stay absent (see the module docstring)."""

    revoked: pulumi.Output[list[str]]
    present: pulumi.Output[list[Any]]

    def __init__(
        self,
        resource_name: str,
        *,
        namespace: str,
        entries: list[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            AccessRevocationProvider(),
            resource_name,
            {"namespace": namespace, "entries": entries, "revoked": None, "present": None},
            opts,
        )
