"""The offline toolchain works end to end: CLI, language host, plugins, dynamic providers.

A tiny stack with one ConfigMap (pulumi-kubernetes) and one dynamic resource goes through
`up`, a no-change `preview` and `destroy` against the sandbox, with plugin downloads disabled.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from sandbox.environment import Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary

SMOKE_PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s
from smoke_provider import Marker

k8s.core.v1.ConfigMap(
    "smoke",
    metadata={"name": "toolchain-smoke", "namespace": "default"},
    data={"hello": "world"},
)
marker = Marker("marker", {"label": "smoke"})
pulumi.export("marker", marker.id)
"""

SMOKE_PROVIDER = """
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class MarkerProvider(ResourceProvider):
    def create(self, props):
        return CreateResult("marker-" + props["label"], dict(props))


class Marker(Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(MarkerProvider(), name, props, opts)
"""


def test_cli_reports_its_version(sandbox: Sandbox) -> None:
    out = subprocess.run(
        ["pulumi", "version"], env=sandbox.env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().startswith("v3.")


def test_kubernetes_plugin_is_installed_without_download(sandbox: Sandbox) -> None:
    out = subprocess.run(
        ["pulumi", "plugin", "ls", "--json"],
        env=sandbox.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    plugins = {(p["name"], p["kind"]) for p in json.loads(out.stdout)}
    assert ("kubernetes", "resource") in plugins


def test_control_plane_and_schema_answer(sandbox: Sandbox) -> None:
    assert sandbox.kubectl("get", "--raw=/readyz").strip() == "ok"
    crd = sandbox.kubectl("get", "crd", "analyticsworkspacebindings.xlscsde.nhs.uk", "-o", "name")
    assert crd.strip().endswith("/analyticsworkspacebindings.xlscsde.nhs.uk")
    out = subprocess.run(
        [
            "psql",
            sandbox.database_url,
            "-XAtc",
            "SELECT count(*) FROM guacamole_entity WHERE name = 'guacadmin'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1"


def test_smoke_stack_up_preview_destroy(sandbox: Sandbox, tmp_path: Path) -> None:
    project = tmp_path / "smoke"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: toolchain-smoke
            runtime:
              name: python
              options:
                virtualenv: {Path(__file__).resolve().parents[2] / ".venv"}
            """
        )
    )
    (project / "__main__.py").write_text(SMOKE_PROGRAM)
    (project / "smoke_provider.py").write_text(SMOKE_PROVIDER)
    cli = PulumiCli(project, "smoke", sandbox.env())
    cli.init_stack()
    cli.up()
    assert cli.outputs()["marker"] == "marker-smoke"
    data = sandbox.kubectl(
        "get", "configmap", "toolchain-smoke", "-n", "default", "-o", "jsonpath={.data.hello}"
    )
    assert data == "world"
    assert change_summary(cli.preview_json()) == {}
    cli.destroy()
    gone = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(sandbox.kube.kubeconfig),
            "get",
            "configmap",
            "toolchain-smoke",
            "-n",
            "default",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert gone.returncode != 0 and "NotFound" in gone.stderr
