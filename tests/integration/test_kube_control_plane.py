"""The local Kubernetes control plane really runs: etcd + kube-apiserver + controller-manager.

Binaries come from the built toolchain (``etcd``, ``kube-apiserver``,
``kube-controller-manager``, from toolchain/etcd and toolchain/kubernetes); a missing toolchain
fails the run through the ``toolchain_bin`` fixture instead of skipping.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from sandbox.kube import (
    APISERVER_BINARY,
    KubeControlPlane,
    apply_manifests,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def bin_dir(toolchain_bin: Path) -> Path:
    return toolchain_bin


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl must be on PATH"
    return subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _pid_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return True
    return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _binary_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / APISERVER_BINARY), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    match = re.search(r"v\d+\.\d+\.\d+\S*", out)
    assert match, out
    return match.group(0)


def test_control_plane_runs_deployments(bin_dir: Path, tmp_path: Path) -> None:
    plane = KubeControlPlane(tmp_path / "cp", bin_dir)
    plane.start()
    try:
        assert plane.is_running()
        assert plane.kubeconfig.is_file()

        ready = _kubectl(plane.kubeconfig, "get", "--raw=/readyz")
        assert ready.returncode == 0, ready.stderr
        assert ready.stdout.strip() == "ok"

        # Released version numbers, not the v0.0.0 of an unversioned build: the Pulumi
        # Kubernetes provider refuses a cluster it cannot place.
        expected = _binary_version(bin_dir)
        major, minor = expected.lstrip("v").split(".")[:2]
        raw = _kubectl(plane.kubeconfig, "get", "--raw=/version")
        assert raw.returncode == 0, raw.stderr
        version = json.loads(raw.stdout)
        assert version["gitVersion"] == expected
        assert (version["major"], version["minor"]) == (major, minor)
        assert int(major) >= 1

        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        apps = client.AppsV1Api(api)
        deployment = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web", namespace="default"),
            spec=client.V1DeploymentSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels={"app": "web"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "web"}),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="web", image="example.invalid/web:1")]
                    ),
                ),
            ),
        )
        created = apps.create_namespaced_deployment("default", deployment)

        # kube-controller-manager's deployment controller creates the ReplicaSet; the
        # replicaset controller then creates a Pod that nothing ever schedules.
        owned = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            owned = [
                rs
                for rs in apps.list_namespaced_replica_set("default").items
                if any(
                    ref.uid == created.metadata.uid for ref in rs.metadata.owner_references or []
                )
            ]
            if owned:
                break
            time.sleep(0.5)
        assert owned, "no ReplicaSet was created for the Deployment"
        assert owned[0].spec.replicas == 1
        api.close()

        # A later process (say a CLI's `stop`) only has the serialised state.
        state = json.loads(json.dumps(plane.to_state()))
        assert set(state["ports"]) == {
            "etcd_client",
            "etcd_peer",
            "apiserver",
            "controller_manager",
        }
        pids = {p["name"]: p["pid"] for p in state["processes"]}
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}

        revived = KubeControlPlane.from_state(state)
        assert revived.is_running()
        assert revived.server_url == plane.server_url
        revived.stop()
        assert not revived.is_running()
        assert all(_pid_gone(pid) for pid in pids.values()), pids
        assert not plane.is_running()
    finally:
        plane.stop()
    plane.stop()  # idempotent


def test_two_instances_side_by_side(bin_dir: Path, tmp_path: Path) -> None:
    first = KubeControlPlane(tmp_path / "a", bin_dir, with_controller_manager=False)
    second = KubeControlPlane(tmp_path / "b", bin_dir, with_controller_manager=False)
    with first, second:
        assert first.is_running() and second.is_running()
        assert not set(first.ports.values()) & set(second.ports.values())
        assert first.server_url != second.server_url

        manifest = tmp_path / "widgets.yaml"
        manifest.write_text(WIDGET_MANIFEST)
        applied = apply_manifests(first.kubeconfig, [manifest])
        assert "customresourcedefinition.apiextensions.k8s.io/widgets.example.com" in applied
        assert any(name.endswith("/one") for name in applied), applied

        got = _kubectl(first.kubeconfig, "get", "widgets.example.com", "one", "-o", "name")
        assert got.returncode == 0, got.stderr
        other = _kubectl(second.kubeconfig, "get", "crd", "widgets.example.com")
        assert other.returncode != 0, "the second cluster must not see the first one's CRD"

        # Re-applying is idempotent (server-side apply).
        assert apply_manifests(first.kubeconfig, [manifest]) == applied
        pids = list(first.pids.values()) + list(second.pids.values())
    assert all(_pid_gone(pid) for pid in pids), pids


# A CRD and an object of its kind in one file: apply_manifests waits for the CRD to be
# Established and applies the object again.
WIDGET_MANIFEST = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: one
  namespace: default
spec:
  size: 3
"""
