"""Upgrading a live stack whose every binding had a NetworkPolicy of its own.

Until commit :data:`PER_BINDING_POLICY_COMMIT` each binding declared ``NetworkPolicy
client-<name>`` selecting its pods by the legacy ``deployment-name`` label. Now one policy per
workspace selects them by the workspace label their pod template carries. That program, extracted
with ``git archive``, runs ``up`` on the sandbox with three bindings in two workspaces; then one
binding is deleted (the last of its workspace) and the current program runs ``up`` on the same
stack, as a release does. Throughout that run a thread lists the Deployments and NetworkPolicies
every few milliseconds:

* at every sample, each Deployment's pod template (what its pods carry) is selected by at least
  one NetworkPolicy: the workspace's policy exists before a template gains the label, and the
  per-binding ones go only after;
* afterwards each kept Deployment is the same object (same uid) with the workspace label, the
  per-binding policies are gone, one policy per workspace with bindings remains, and the next
  preview changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from components.manifests import WORKSPACE_LABEL
from components.naming import deployment_name, network_policy_name, workspace_network_policy_name
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, Sandbox
from sandbox.program_copy import ArchiveError, archived_program, copy_program
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack, running_sandbox
from tests.integration.sampling import Sampler
from tests.integration.test_lifecycle import apply, binding

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PER_BINDING_POLICY_COMMIT = "f037e187c2c6983880598014a84a65e5b68bf823"
"""The last commit whose program declared a NetworkPolicy per binding."""
STACK = "upgrade-fence"
KEPT = [("fence-ann", "fence-ws", "ann@x.org"), ("fence-bob", "fence-ws", "bob@x.org")]
GONE = ("fence-cid", "fence-other", "cid@x.org")
"""The only binding of its workspace: deleted before the upgrade run."""


class FenceWatch(Sampler):
    """Samples, in a thread, which Deployments' pod templates no NetworkPolicy selects."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(interval=0.01)
        api = config.new_client_from_config(str(kubeconfig))
        self.apps = client.AppsV1Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.unfenced: list[tuple[int, list[str]]] = []

    def sample(self) -> list[str]:
        """Deployments whose template labels match no policy's ``matchLabels``."""
        policies = self.networking.list_namespaced_network_policy(BROWSER_NAMESPACE).items
        selectors = [p.spec.pod_selector.match_labels or {} for p in policies]
        deployments = self.apps.list_namespaced_deployment(BROWSER_NAMESPACE).items
        return sorted(
            d.metadata.name
            for d in deployments
            if not any(
                s and s.items() <= (d.spec.template.metadata.labels or {}).items()
                for s in selectors
            )
        )

    def take(self) -> None:
        unfenced = self.sample()
        if unfenced:
            self.unfenced.append((self.samples, unfenced))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("upgrade-fence-sandbox")) as box:
        yield box


def _deployments(sandbox: Sandbox) -> dict[str, Any]:
    apps = client.AppsV1Api(config.new_client_from_config(str(sandbox.kube.kubeconfig)))
    return {d.metadata.name: d for d in apps.list_namespaced_deployment(BROWSER_NAMESPACE).items}


@pytest.fixture(scope="module")
def upgraded(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PulumiCli, dict[str, str], FenceWatch]]:
    """Before: Deployment name -> uid under the previous program; then upgraded."""
    try:
        previous = archived_program(PER_BINDING_POLICY_COMMIT, tmp_path_factory.mktemp("previous"))
    except ArchiveError as error:
        pytest.fail(str(error), pytrace=False)
    old = new_stack(previous, sandbox, STACK)
    apply(sandbox, *(binding(*b) for b in [*KEPT, GONE]))
    old.up()
    watch = FenceWatch(sandbox.kube.kubeconfig)
    assert watch.sample() == []
    networking = watch.networking.list_namespaced_network_policy(BROWSER_NAMESPACE).items
    everyone = [deployment_name(ws, user) for _, ws, user in [*KEPT, GONE]]
    # The previous shape really ran: a policy per binding, none per workspace.
    assert {p.metadata.name for p in networking} == {network_policy_name(n) for n in everyone}
    before = {name: d.metadata.uid for name, d in _deployments(sandbox).items()}
    assert set(before) == set(everyone)

    sandbox.kubectl("delete", "awsb", GONE[0], "-n", BINDINGS_NAMESPACE)
    current = copy_program(tmp_path_factory.mktemp("current") / "awms-browser-workspaces")
    stack_file = f"Pulumi.{STACK}.yaml"
    shutil.copy2(old.project_dir / "stacks" / stack_file, current / "stacks" / stack_file)
    cli = PulumiCli(current, STACK, old.env)
    with watch:
        cli.up()
    yield cli, before, watch


def test_no_pod_template_is_ever_outside_every_policy(
    upgraded: tuple[PulumiCli, dict[str, str], FenceWatch],
) -> None:
    _, _, watch = upgraded
    assert watch.samples > 10, "the objects were not sampled during the upgrade"
    assert watch.unfenced == [], f"(sample, Deployments no policy selected): {watch.unfenced}"


def test_kept_deployments_are_updated_in_place_under_their_workspace_policy(
    sandbox: Sandbox, upgraded: tuple[PulumiCli, dict[str, str], FenceWatch]
) -> None:
    _, before, watch = upgraded
    kept = {deployment_name(ws, user) for _, ws, user in KEPT}
    now = _deployments(sandbox)
    assert set(now) == kept
    for name in kept:
        assert now[name].metadata.uid == before[name], f"{name} was recreated"
        assert now[name].spec.template.metadata.labels[WORKSPACE_LABEL] == "fence-ws"
    policies = watch.networking.list_namespaced_network_policy(BROWSER_NAMESPACE).items
    assert {p.metadata.name for p in policies} == {workspace_network_policy_name("fence-ws")}


def test_the_state_holds_one_policy_per_workspace_and_previews_clean(
    upgraded: tuple[PulumiCli, dict[str, str], FenceWatch],
) -> None:
    cli, _, _ = upgraded
    resources = cli.export_state()["deployment"]["resources"]
    policies = [r for r in resources if r["type"].endswith("NetworkPolicy")]
    assert [r["urn"].rsplit("::", 1)[-1] for r in policies] == ["network-policy-fence-ws"]
    assert change_summary(cli.preview_json()) == {}
