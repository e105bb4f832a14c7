"""The legacy AWMS Guacamole operator's handler, reproduced to build legacy state in tests.

Why: a hand-over test is only worth something if the objects and rows it starts from are the
ones the running platform really has. This module writes them the way the published KOPF operator
does (fact sheet ``awms-operator.md`` sections 1.3-1.7 and 7), not the way this program would:

* Kubernetes writes go through the kubernetes Python client's ``create_namespaced_*`` /
  ``patch_namespaced_*`` calls with ``V1Deployment``/``V1Service`` bodies (read first, create on
  404, otherwise a strategic-merge patch of the whole object). No ``fieldManager`` is sent, so the
  API server records the client's user agent, ``OpenAPI-Generator``, with operation ``Update``.
* The Deployment has the purpose label, the deployment-name selector and pod label, the
  workspace/username pod annotations, one container named after the Deployment with the unnamed
  port 5900, ``BROWSER_URL`` as its only env entry (``value`` unset when the operator has no
  ``BROWSER_URL``), the two read-only mounts and their ConfigMap volumes; the Service is headless.
* The Guacamole rows are written with psycopg2, statement by statement, in the legacy order:
  each step SELECTs, INSERTs when missing and SELECTs again; the group has a NULL parent; the
  user gets the constant 48-byte "hash" and "salt"; every permission is READ; the connection
  parameters include the password ``1234``; one commit at the very end, after the Kubernetes
  calls and the status patches.
* The binding's status gets ``deploymentName`` (when it differs) and ``statusText: READY``
  (when it was PROVISIONING), through the status subresource.

It never reads ``spec.expires`` (expired bindings are provisioned like any other) and has no
delete handler: :meth:`LegacyOperator.forget` removes a binding and leaves everything it
provisioned behind, as deleting a binding under the legacy operator does. KOPF's own bookkeeping
(its progress annotations on bindings, the ``DbUpsert`` events) is not reproduced: nothing reads
it, and this program does not depend on it.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib import parse

import psycopg2
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP = "xlscsde.nhs.uk"
VERSION = "v1"
PLURAL = "analyticsworkspacebindings"
PROVISIONING = "PROVISIONING"
READY = "READY"
MAX_CONNECTIONS = 1000
MAX_CONNECTIONS_PER_USER = 1000
FIELD_MANAGER = "OpenAPI-Generator"
"""What the API server records as the legacy writer (derived from the client's user agent)."""
LEGACY_VNC_PASSWORD = "1234"
# The operator's constants: 64 hex characters decoded as base64, i.e. 48 bytes each.
_HASH_TEXT = "a42b83d79d300dbcd585c8d8f12564d3c5951578d057879c428bc553d84b7ede"
_SALT_TEXT = "e52dc1ea654a674ece9232116bba5bb4f8aed12baeb797d09109807d63f9027b"


def legacy_deployment_name(workspace: str, username: str) -> str:
    """The operator's name, computed here on its own so the emulation does not trust naming.py."""
    url = f"https://workspaces.xlscsde.nhs.uk/{parse.quote(workspace)}/{parse.quote(username)}"
    return uuid.uuid5(uuid.NAMESPACE_URL, url).hex


@dataclass
class LegacyOperator:
    """One legacy operator deployment: its namespace, image, ``BROWSER_URL`` and database."""

    kubeconfig: Path
    database_url: str
    namespace: str = "guacamole"
    image: str = "lscsde/analytics-vnc-client:0.1.5"
    browser_url: str | None = None

    def __post_init__(self) -> None:
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    # -- what kopf drives ---------------------------------------------------------------------
    def resume(self) -> list[str]:
        """What an operator start does: the handler runs for every binding in every namespace."""
        handled = []
        for body in self._bindings():
            self.handle(body)
            handled.append(f"{body['metadata']['namespace']}/{body['metadata']['name']}")
        return handled

    def handle(self, body: Mapping[str, Any]) -> None:
        """The create/update/resume handler for one binding, step by step as the operator runs."""
        workspace = body.get("spec", {}).get("workspace")
        username = body.get("spec", {}).get("username")
        name = body.get("status", {}).get(
            "deploymentName", legacy_deployment_name(workspace, username)
        )
        body = self._patch_deployment_name(body, name)
        status_text = body.get("status", {}).get("statusText", PROVISIONING)
        conn = psycopg2.connect(self.database_url)
        cur = conn.cursor()
        group_id = _connection_group(cur, workspace)
        connection_id = _connection(cur, group_id, username)
        entity_id = _user_entity(cur, f"{workspace}@{username}")
        user_id = _user(cur, entity_id)
        _permission(cur, "guacamole_user_permission", "affected_user_id", user_id, entity_id)
        _permission(
            cur, "guacamole_connection_group_permission", "connection_group_id", group_id, entity_id
        )
        hostname = f"client-{name}.{self.namespace}.svc.cluster.local"
        for parameter, value in (
            ("disable-copy", "true"),
            ("disable-paste", "true"),
            ("hostname", hostname),
            ("password", LEGACY_VNC_PASSWORD),
            ("port", "5900"),
        ):
            _connection_parameter(cur, connection_id, parameter, value)
        self.write_objects(name, username, workspace, body.get("spec", {}).get("replicas", 0))
        _permission(
            cur, "guacamole_connection_permission", "connection_id", connection_id, entity_id
        )
        if status_text == PROVISIONING:
            self._patch_status(body, {"statusText": READY})
        conn.commit()
        conn.close()

    def write_objects(self, name: str, username: str, workspace: str, replicas: int = 0) -> None:
        """The handler's Kubernetes half: read, then create or patch the Deployment and Service."""
        self._apply_deployment(name, username, workspace, replicas)
        self._apply_service(name, username, workspace)

    def create_binding(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create a binding and run the handler for it (kopf's ``on.create``)."""
        metadata = manifest["metadata"]
        created: dict[str, Any] = self._custom.create_namespaced_custom_object(
            GROUP, VERSION, metadata["namespace"], PLURAL, dict(manifest)
        )
        self.handle(created)
        return created

    def forget(self, namespace: str, name: str) -> None:
        """Delete a binding: the operator has no delete handler, so nothing else happens."""
        self._custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    # -- Kubernetes ---------------------------------------------------------------------------
    def _bindings(self) -> Iterator[dict[str, Any]]:
        listed = self._custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        yield from listed.get("items", [])

    def _patch_deployment_name(self, body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        if body.get("status", {}).get("deploymentName", "") == name:
            return body
        return self._patch_status(body, {"deploymentName": name})

    def _patch_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self._custom.patch_namespaced_custom_object_status(
            group=GROUP,
            version=VERSION,
            body={"status": status},
            plural=PLURAL,
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
        )
        return patched

    def _apply_deployment(self, name: str, username: str, workspace: str, replicas: int) -> None:
        deployment = self._deployment(name, username, workspace, replicas)
        try:
            self._apps.read_namespaced_deployment(name=name, namespace=self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            self._apps.create_namespaced_deployment(body=deployment, namespace=self.namespace)
            return
        self._apps.patch_namespaced_deployment(name=name, namespace=self.namespace, body=deployment)

    def _apply_service(self, name: str, username: str, workspace: str) -> None:
        service_name = f"client-{name}"
        service = _service(service_name, name, username, workspace)
        try:
            self._core.read_namespaced_service(name=service_name, namespace=self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            self._core.create_namespaced_service(body=service, namespace=self.namespace)
            return
        self._core.patch_namespaced_service(
            name=service_name, namespace=self.namespace, body=service
        )

    def _deployment(
        self, name: str, username: str, workspace: str, replicas: int
    ) -> client.V1Deployment:
        container = client.V1Container(
            name=name,
            image=self.image,
            ports=[client.V1ContainerPort(container_port=5900)],
            env=[client.V1EnvVar(name="BROWSER_URL", value=self.browser_url)],
            volume_mounts=[
                client.V1VolumeMount(
                    name="guacamole-certificates",
                    mount_path="/usr/lib/firefox/distribution/certs",
                    read_only=True,
                ),
                client.V1VolumeMount(
                    name="firefox-config",
                    mount_path="/usr/lib/firefox/distribution",
                    read_only=True,
                ),
            ],
        )
        template = client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(
                labels={"xlscsde.nhs.uk/deployment-name": name},
                annotations={
                    "xlscsde.nhs.uk/workspace": workspace,
                    "xlscsde.nhs.uk/username": username,
                },
            ),
            spec=client.V1PodSpec(
                containers=[container],
                volumes=[
                    client.V1Volume(
                        name="guacamole-certificates",
                        config_map=client.V1ConfigMapVolumeSource(
                            name="xlscsde-enterprise-certificate"
                        ),
                    ),
                    client.V1Volume(
                        name="firefox-config",
                        config_map=client.V1ConfigMapVolumeSource(name="firefox-config"),
                    ),
                ],
            ),
        )
        spec = client.V1DeploymentSpec(
            replicas=replicas,
            template=template,
            selector={"matchLabels": {"xlscsde.nhs.uk/deployment-name": name}},
        )
        return client.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=client.V1ObjectMeta(
                name=name, labels={"xlscsde.nhs.uk/purpose": "workspace-client"}
            ),
            spec=spec,
        )


def _service(service_name: str, name: str, username: str, workspace: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(
            name=service_name,
            annotations={
                "xlscsde.nhs.uk/workspace": workspace,
                "xlscsde.nhs.uk/username": username,
            },
            labels={"xlscsde.nhs.uk/purpose": "workspace-client"},
        ),
        spec=client.V1ServiceSpec(
            selector={"xlscsde.nhs.uk/deployment-name": name},
            cluster_ip="None",
            type="ClusterIP",
            ports=[client.V1ServicePort(port=5900, target_port=5900)],
        ),
    )


# -- Guacamole SQL, in the operator's statement order (SELECT, INSERT if missing, SELECT) ------


def _connection_group(cur: Any, name: str) -> int:
    select = (
        "SELECT connection_group_id FROM public.guacamole_connection_group"
        " WHERE connection_group_name = %s;"
    )
    cur.execute(select, [name])
    found = cur.fetchone()
    if not found:
        cur.execute(
            "INSERT INTO public.guacamole_connection_group (connection_group_name, type,"
            " max_connections, max_connections_per_user, enable_session_affinity)"
            " VALUES (%s, 'ORGANIZATIONAL', %s, %s, true);",
            [name, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_USER],
        )
        cur.execute(select, [name])
        found = cur.fetchone()
    return int(found[0])


def _connection(cur: Any, group_id: int, name: str) -> int:
    select = (
        "SELECT connection_id FROM public.guacamole_connection"
        " WHERE parent_id = %s and connection_name = %s;"
    )
    cur.execute(select, [group_id, name])
    found = cur.fetchone()
    if not found:
        cur.execute(
            "INSERT INTO public.guacamole_connection (parent_id, connection_name, protocol,"
            " failover_only) VALUES (%s, %s, 'vnc', false);",
            [group_id, name],
        )
        cur.execute(select, [group_id, name])
        found = cur.fetchone()
    return int(found[0])


def _user_entity(cur: Any, name: str) -> int:
    select = "SELECT entity_id FROM public.guacamole_entity where name = %s"
    cur.execute(select, [name])
    found = cur.fetchone()
    if not found:
        cur.execute("INSERT INTO public.guacamole_entity (name, type) VALUES (%s, 'USER');", [name])
        cur.execute(select, [name])
        found = cur.fetchone()
    return int(found[0])


def _user(cur: Any, entity_id: int) -> int:
    password_hash = base64.decodebytes(_HASH_TEXT.encode("ascii"))
    password_salt = base64.decodebytes(_SALT_TEXT.encode("ascii"))
    select = "SELECT user_id FROM public.guacamole_user where entity_id = %s"
    cur.execute(select, [entity_id])
    found = cur.fetchone()
    if not found:
        cur.execute(
            "INSERT INTO public.guacamole_user (entity_id, disabled, expired, password_hash,"
            " password_salt, password_date) VALUES (%s, false, false, %s, %s, %s);",
            [entity_id, password_hash, password_salt, datetime.datetime.now()],
        )
        cur.execute(select, [entity_id])
        found = cur.fetchone()
    return int(found[0])


def _permission(cur: Any, table: str, key_column: str, key: int, entity_id: int) -> None:
    """The operator's three permission setters: SELECT, then INSERT READ when missing."""
    cur.execute(
        f'SELECT "permission" FROM public.{table} WHERE {key_column} = %s and entity_id = %s;',
        [key, entity_id],
    )
    if not cur.fetchone():
        cur.execute(
            f'INSERT INTO public.{table} ({key_column}, entity_id, "permission")'
            " VALUES (%s, %s, %s);",
            [key, entity_id, "READ"],
        )


def _connection_parameter(cur: Any, connection_id: int, name: str, value: str) -> None:
    cur.execute(
        "SELECT parameter_value FROM public.guacamole_connection_parameter"
        " WHERE connection_id = %s and parameter_name = %s;",
        [connection_id, name],
    )
    current = cur.fetchone()
    if not current:
        cur.execute(
            "INSERT INTO public.guacamole_connection_parameter"
            " (connection_id, parameter_name, parameter_value) VALUES (%s, %s, %s);",
            [connection_id, name, value],
        )
    elif current != value:  # a row tuple against a string: always true, as in the operator
        cur.execute(
            "UPDATE public.guacamole_connection_parameter SET parameter_value = %s"
            " WHERE connection_id = %s AND parameter_name = %s;",
            [value, connection_id, name],
        )
