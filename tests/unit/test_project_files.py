"""CRDs, sample manifests and stack files: valid, and consistent with the code that reads them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import naming
from components.binding_source import FileBindingSource
from components.bindings import Binding, parse_binding
from components.planning import ProblemKind, plan_workspaces
from components.settings import DEFAULTS, settings_from_values

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "awms-browser-workspaces"


def _crd(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "crds" / name).read_text())
    return document


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_binding_crd_matches_the_legacy_definition():
    crd = _crd("analyticsworkspacebinding.yaml")
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "analyticsworkspacebindings.xlscsde.nhs.uk"
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "AnalyticsWorkspaceBinding"
    assert spec["names"]["shortNames"] == ["awsb"]
    assert spec["names"]["categories"] == ["krap"]
    (version,) = spec["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
    }
    assert [(c["name"], c["jsonPath"], c["type"]) for c in version["additionalPrinterColumns"]] == [
        ("Workspace", ".spec.workspace", "string"),
        ("Expires", ".spec.expires", "string"),
        ("Status", ".status.statusText", "string"),
        ("Deployment", ".status.deploymentName", "string"),
        ("Replicas", ".spec.replicas", "integer"),
    ]
    binding_spec = _schema(crd)["properties"]["spec"]
    assert binding_spec["required"] == ["workspace", "expires"]
    assert binding_spec["anyOf"] == [{"required": ["username"]}, {"required": ["claims"]}]
    props = binding_spec["properties"]
    assert set(props) == {"comments", "workspace", "replicas", "expires", "username", "claims"}
    assert props["replicas"] == {**props["replicas"], "type": "integer", "default": 0}
    assert props["expires"]["format"] == "date"
    assert props["claims"]["items"]["properties"]["operator"]["pattern"] == (
        "EQUALS|NOT EQUALS|IN|NOT IN"
    )
    status = _schema(crd)["properties"]["status"]["properties"]
    assert {k: v["type"] for k, v in status.items()} == {
        "statusText": "string",
        "deploymentName": "string",
        "lastActiveCheck": "string",
        "replicas": "integer",
    }


def test_workspace_crd_matches_the_legacy_definition():
    crd = _crd("analyticsworkspace.yaml")
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "analyticsworkspaces.xlscsde.nhs.uk"
    assert spec["names"]["shortNames"] == ["aws"]
    assert spec["names"]["categories"] == ["krap", "krap-core"]
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}
    assert [c["jsonPath"] for c in version["additionalPrinterColumns"]] == [
        ".spec.displayName",
        ".spec.validity.expires",
        ".status.statusText",
        ".status.persistentVolumeClaim",
    ]
    workspace_spec = _schema(crd)["properties"]["spec"]
    assert workspace_spec["required"] == ["displayName", "description", "validity"]
    assert workspace_spec["anyOf"] == [
        {"required": ["jupyterWorkspace"]},
        {"required": ["virtualMachineWorkspace"]},
    ]
    assert workspace_spec["properties"]["validity"]["required"] == ["availableFrom", "expires"]
    status = _schema(crd)["properties"]["status"]["properties"]
    assert status["statusText"]["default"] == "Waiting"


def test_samples_plan_into_four_workspaces_and_one_expiry():
    loaded = FileBindingSource(ROOT / "stacks" / "samples").load()
    parsed = [parse_binding(item.manifest, item.origin) for item in loaded]
    assert all(isinstance(binding, Binding) for binding in parsed)
    assert all("@" in binding.username for binding in parsed if isinstance(binding, Binding))
    plan = plan_workspaces(parsed, date(2025, 6, 1))
    assert {(p.workspace, p.username) for p in plan.workspaces} == {
        ("default-generic-workspace", "jane.doe@example.org"),
        ("default-generic-workspace", "john.smith@example.org"),
        ("omop-workspace", "jane.doe@example.org"),
        ("omop-workspace", "sam.jones@example.org"),
    }
    assert [p.kind for p in plan.problems] == [ProblemKind.EXPIRED]
    schema = _schema(_crd("analyticsworkspacebinding.yaml"))["properties"]["spec"]["properties"]
    for item in loaded:
        assert set(item.manifest["spec"]) <= set(schema)
        assert isinstance(item.manifest["spec"]["expires"], str)  # quoted, as the API returns it
    for workspace_plan in plan.workspaces:
        assert len(naming.deployment_name(workspace_plan.workspace, workspace_plan.username)) == 32


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_only_set_known_settings(stack: str):
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    values = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        assert namespace == PROJECT, key
        assert name in DEFAULTS, key
        values[name] = value
    settings = settings_from_values(values)
    assert settings.namespace == "guacamole"
    assert settings.await_deployments is False
