"""The placement map of a sharded environment on the real sandbox.

The environment ``placeenv`` (``shards: 3``) starts with no map: the first ``scripts/watch up``
places its six workspaces (4, 3, 2, 1, 1 and 1 bindings) four bindings to a shard and stores the
map in a ConfigMap. Then: a deleted map is rebuilt from the shards' own state and nothing moves;
a shard run directly with no map is refused before it deletes anything; a preview places a new
workspace without storing it; a map that names a shard the environment lacks stops the run; a
binding to a new workspace is placed on the emptiest shard and granted there; each shard lists
only its own workspaces' objects by label, and still finds the legacy operator's unlabelled ones.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from components.kube_client import new_api_client
from components.manifests import WORKSPACE_ANNOTATION, WORKSPACE_LABEL, workspace_label_value
from components.naming import guacamole_username
from components.placement import Placement, shard_loads
from components.takeover.inventory import read_objects
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack, placement_store, run_watch, running_sandbox
from tests.integration.test_lifecycle import active_logins, apply, binding
from tests.legacy_operator import LegacyOperator, legacy_deployment_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

SHARDS = 3
STACK = "placeenv"
SIZES = {"pl-a": 4, "pl-b": 3, "pl-c": 2, "pl-d": 1, "pl-e": 1, "pl-f": 1}
BINDINGS = [(f"p-{ws}-{i}", ws, f"u{i}@x.org") for ws, size in SIZES.items() for i in range(size)]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("placement-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def env(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, STACK)
    cli.config_set("shards", str(SHARDS))
    apply(sandbox, *(binding(*spec) for spec in BINDINGS))
    yield cli


def check(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-4000:]
    return output


def shard_cli(env: PulumiCli, index: int) -> PulumiCli:
    return PulumiCli(env.project_dir, f"{STACK}.shard-{index}", env.env)


def stored(sandbox: Sandbox) -> Placement:
    found = placement_store(sandbox, STACK).read()
    assert found.resource_version is not None, "no placement map stored"
    return found.placement


def delete_map(sandbox: Sandbox) -> None:
    store = placement_store(sandbox, STACK)
    client.CoreV1Api(new_api_client(str(sandbox.kube.kubeconfig))).delete_namespaced_config_map(
        store.name, store.namespace
    )


def held(env: PulumiCli) -> dict[str, int]:
    """Workspace -> the shard whose state holds its Guacamole users."""
    found: dict[str, int] = {}
    for index in range(SHARDS):
        for resource in shard_cli(env, index).export_state()["deployment"]["resources"]:
            if resource["type"].endswith("guacamole:Connection"):
                workspace = resource["inputs"]["username"].partition("@")[0]
                assert found.setdefault(workspace, index) == index, workspace
    return found


def logins(sandbox: Sandbox) -> set[str]:
    return active_logins(sandbox, "pl-")


def test_a_new_environment_is_placed_evenly_and_the_map_stored(env: PulumiCli, sandbox: Sandbox):
    assert placement_store(sandbox, STACK).read().resource_version is None
    check(run_watch(env, "up"))
    placement = stored(sandbox)
    assert shard_loads(placement, SIZES, SHARDS) == [4, 4, 4]
    assert held(env) == {ws: placement.shard_of(ws) for ws in SIZES}
    assert logins(sandbox) == {guacamole_username(ws, user) for _, ws, user in BINDINGS}


def test_a_deleted_map_is_rebuilt_from_the_shards_and_nothing_moves(
    env: PulumiCli, sandbox: Sandbox
):
    before = stored(sandbox)
    delete_map(sandbox)
    output = check(run_watch(env, "up", "--all-shards"))
    assert "rebuilt from the shards' state" in output
    assert stored(sandbox) == before
    for index in range(SHARDS):
        assert change_summary(shard_cli(env, index).preview_json()) == {}


def test_a_shard_run_without_its_map_is_refused_before_anything_is_deleted(
    env: PulumiCli, sandbox: Sandbox
):
    before = logins(sandbox)
    delete_map(sandbox)
    result = shard_cli(env, 1).run("up", "--yes", "--skip-preview", check=False)
    assert "does not exist" in result.output and "scripts/watch up" in result.output
    assert logins(sandbox) == before
    check(run_watch(env, "up"))
    assert logins(sandbox) == before


def test_a_preview_places_a_new_workspace_without_storing_it(
    env: PulumiCli, sandbox: Sandbox, tmp_path: Path
):
    before = stored(sandbox)
    # The bindings as the cluster holds them (with their defaults), plus one to a new workspace.
    current = json.loads(sandbox.kubectl("get", "awsb", "-n", "jupyterhub", "-o", "json"))
    proposed: list[dict[str, Any]] = [
        {
            **{k: item[k] for k in ("apiVersion", "kind", "spec")},
            "metadata": {k: item["metadata"][k] for k in ("name", "namespace")},
        }
        for item in current["items"]
    ]
    proposed.append(binding("p-new-0", "pl-new", "u0@x.org"))
    file = tmp_path / "bindings.yaml"
    file.write_text(yaml.safe_dump_all(proposed), encoding="utf-8")
    review = check(run_watch(env, "preview", "--bindings-file", str(file)))
    assert f"{SHARDS} shard(s), 1 touched" in review
    assert "granted  u0@x.org  workspace pl-new" in review
    assert stored(sandbox) == before


def test_a_map_naming_a_shard_the_environment_lacks_stops_the_run(env: PulumiCli, sandbox: Sandbox):
    before = stored(sandbox)
    store = placement_store(sandbox, STACK)
    store.update(lambda found: found.placement.with_entries({"pl-a": 7}), SHARDS)
    output = check(run_watch(env, "up"), 1)
    assert "pl-a -> 7" in output and "shard-move" in output
    assert guacamole_username("pl-a", "u0@x.org") in logins(sandbox)
    store.update(lambda found: before, SHARDS)
    check(run_watch(env, "up"))


def test_a_binding_to_a_new_workspace_goes_to_the_emptiest_shard(env: PulumiCli, sandbox: Sandbox):
    apply(sandbox, binding("p-pl-a-4", "pl-a", "u4@x.org"))
    apply(sandbox, binding("p-pl-g-0", "pl-g", "u0@x.org"))
    before = held(env)
    output = check(run_watch(env, "up"))
    placement = stored(sandbox)
    loads = Counter({i: 0 for i in range(SHARDS)})
    for ws, size in {**SIZES, "pl-a": 5}.items():
        loads[before[ws]] += size
    assert placement.shard_of("pl-g") == min(range(SHARDS), key=lambda i: (loads[i], i))
    assert {ws: placement.shard_of(ws) for ws in before} == before
    assert held(env)["pl-g"] == placement.shard_of("pl-g")
    assert guacamole_username("pl-g", "u0@x.org") in logins(sandbox)
    assert "2 to update" in output


def test_a_writer_holding_an_old_version_of_the_map_loses_to_the_newer_one(
    env: PulumiCli, sandbox: Sandbox
):
    store = placement_store(sandbox, STACK)
    first = store.read()
    assert first.resource_version is not None
    newer = first.placement.with_entries({"pl-race-a": 0})
    assert store.write(newer, SHARDS, first.resource_version)
    stale = first.placement.with_entries({"pl-race-b": 1})
    assert not store.write(stale, SHARDS, first.resource_version)  # the API server says 409
    assert stored(sandbox) == newer
    store.write(first.placement, SHARDS, store.read().resource_version)


def test_each_shard_lists_its_own_labelled_objects_and_finds_legacy_leftovers(
    env: PulumiCli, sandbox: Sandbox
):
    api = new_api_client(str(sandbox.kube.kubeconfig))
    apps = client.AppsV1Api(api)
    for deployment in apps.list_namespaced_deployment(BROWSER_NAMESPACE).items:
        workspace = deployment.spec.template.metadata.annotations[WORKSPACE_ANNOTATION]
        assert deployment.metadata.labels[WORKSPACE_LABEL] == workspace_label_value(workspace)
    # A binding the legacy operator provisioned and that was then deleted: its objects carry
    # no workspace label and its login still works.
    operator = LegacyOperator(sandbox.kube.kubeconfig, sandbox.database_url, BROWSER_NAMESPACE)
    operator.create_binding(binding("p-gone", "pl-b", "gone@x.org"))
    operator.forget("jupyterhub", "p-gone")
    gone = guacamole_username("pl-b", "gone@x.org")
    assert gone in logins(sandbox)

    listed = {(o.kind, o.workspace) for o in read_objects(api, BROWSER_NAMESPACE, {"pl-a"})}
    assert listed == {
        ("Deployment", "pl-a"),
        ("Service", "pl-a"),
        *(
            (kind, "pl-b")
            for kind in ("Deployment", "Service")  # the unlabelled leftovers
        ),
    }

    name = legacy_deployment_name("pl-b", "gone@x.org")
    home = stored(sandbox).shard_of("pl-b")
    check(run_watch(env, "up", "--all-shards"))
    for index in range(SHARDS):
        outputs = shard_cli(env, index).outputs()
        reported = {o["deploymentName"] for o in outputs.get("orphans", [])}
        assert reported == ({name} if index == home else set()), index
    env.config_set("legacyOrphans", "remove")
    check(run_watch(env, "up", "--all-shards"))
    assert gone not in logins(sandbox)
    left = {d.metadata.name for d in apps.list_namespaced_deployment(BROWSER_NAMESPACE).items}
    assert name not in left
    for index in range(SHARDS):
        assert change_summary(shard_cli(env, index).preview_json()) == {}
