"""Upgrading a live stack written by the program that declared each Guacamole user apart.

Until commit :data:`SEPARATE_USER_COMMIT` a binding's Guacamole user was a resource of its own
(``guacamole:User``) and its connection named the user's entity id. That program, extracted from
the repository with ``git archive``, runs ``up`` on the sandbox with three bindings; one binding
is then deleted and the current program runs ``up`` on the same stack, as a release does:

* the kept bindings keep their connection and user ids (nothing recreated), their users now
  carry the ownership mark, and at no moment of the upgrade run could they not open their
  connection (the login query is polled throughout the run);
* the deleted binding's user and connection are gone;
* the state holds no ``guacamole:User`` any more, and the next preview changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.guacamole.users import OWNER_ATTRIBUTE
from sandbox.environment import BINDINGS_NAMESPACE, Sandbox
from sandbox.program_copy import ArchiveError, archived_program, copy_program
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.conftest import new_stack, running_sandbox
from tests.integration.sampling import Sampler
from tests.integration.test_lifecycle import apply, binding, query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SEPARATE_USER_COMMIT = "d7495bf94752e41ceb6c2f722311c921f78b5d2b"
"""The last commit whose program declared a ``guacamole:User`` per binding."""
STACK = "upgrade"
KEPT = [("up-ann", "up-ws", "ann@x.org"), ("up-bob", "up-ws", "bob@x.org")]
GONE = ("up-cid", "up-ws", "cid@x.org")
KEPT_LOGINS = {f"{ws}@{user}" for _, ws, user in KEPT}

READABLE = (
    "SELECT e.name, e.entity_id, c.connection_id FROM guacamole_entity AS e"
    " JOIN guacamole_user AS u ON u.entity_id = e.entity_id AND NOT u.disabled"
    " JOIN guacamole_connection_permission AS cp"
    "   ON cp.entity_id = e.entity_id AND cp.permission = 'READ'"
    " JOIN guacamole_connection AS c ON c.connection_id = cp.connection_id"
    " JOIN guacamole_connection_group_permission AS gp ON gp.entity_id = e.entity_id"
    "   AND gp.connection_group_id = c.parent_id AND gp.permission = 'READ'"
    " WHERE e.type = 'USER' AND e.name LIKE 'up-ws@%%'"
)
"""Who can sign in and open which connection of the workspace (a Guacamole login's view)."""


def previous_program(dest: Path) -> Path:
    """The program as it was at :data:`SEPARATE_USER_COMMIT`, sharing the checkout's venv."""
    try:
        return archived_program(SEPARATE_USER_COMMIT, dest)
    except ArchiveError as error:
        pytest.fail(str(error), pytrace=False)


class AccessWatch(Sampler):
    """Polls the login query in a thread and keeps every distinct answer it saw."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(interval=0.02)
        self.sandbox = sandbox
        self.seen: list[frozenset[tuple[str, int, int]]] = []

    def take(self) -> None:
        answer = frozenset(query(self.sandbox, READABLE))
        if not self.seen or self.seen[-1] != answer:
            self.seen.append(answer)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("upgrade-sandbox")) as box:
        yield box


@pytest.fixture(scope="module")
def upgraded(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PulumiCli, dict[str, tuple[int, int]], AccessWatch]]:
    """Before: login -> (entity id, connection id) under the previous program; then upgraded."""
    old = new_stack(previous_program(tmp_path_factory.mktemp("previous")), sandbox, STACK)
    apply(sandbox, *(binding(*b) for b in [*KEPT, GONE]))
    old.up()
    types = {r["type"] for r in old.export_state()["deployment"]["resources"]}
    assert "pulumi-python:dynamic/guacamole:User" in types  # the previous shape really ran
    before = {name: (entity, connection) for name, entity, connection in query(sandbox, READABLE)}
    assert set(before) == {*KEPT_LOGINS, f"{GONE[1]}@{GONE[2]}"}

    sandbox.kubectl("delete", "awsb", GONE[0], "-n", BINDINGS_NAMESPACE)
    current = copy_program(tmp_path_factory.mktemp("current") / "awms-browser-workspaces")
    config = f"Pulumi.{STACK}.yaml"
    shutil.copy2(old.project_dir / "stacks" / config, current / "stacks" / config)
    cli = PulumiCli(current, STACK, old.env)
    with AccessWatch(sandbox) as watch:
        cli.up()
    yield cli, before, watch


def test_kept_bindings_keep_their_rows_and_never_lose_access(
    sandbox: Sandbox, upgraded: tuple[PulumiCli, dict[str, tuple[int, int]], AccessWatch]
) -> None:
    _, before, watch = upgraded
    assert watch.samples > 10, "the login query did not run during the upgrade"
    kept = {(name, *before[name]) for name in KEPT_LOGINS}
    for answer in watch.seen:
        assert kept <= answer, f"access lapsed during the upgrade: {sorted(answer)}"
    now = {name: (entity, connection) for name, entity, connection in query(sandbox, READABLE)}
    assert now == {name: before[name] for name in KEPT_LOGINS}
    marked = query(
        sandbox,
        "SELECT e.name, a.attribute_value FROM guacamole_entity AS e"
        " JOIN guacamole_user AS u USING (entity_id)"
        " JOIN guacamole_user_attribute AS a ON a.user_id = u.user_id"
        " WHERE a.attribute_name = %s",
        OWNER_ATTRIBUTE,
    )
    # Each kept user is marked as owned by its own connection.
    assert {name: int(owner) for name, owner in marked} == {
        name: before[name][1] for name in KEPT_LOGINS
    }


def test_the_deleted_binding_loses_its_user_and_connection(
    sandbox: Sandbox, upgraded: tuple[PulumiCli, dict[str, tuple[int, int]], AccessWatch]
) -> None:
    _, before, _ = upgraded
    entity, connection = before[f"{GONE[1]}@{GONE[2]}"]
    assert not query(sandbox, "SELECT 1 FROM guacamole_entity WHERE entity_id = %s", entity)
    assert not query(
        sandbox, "SELECT 1 FROM guacamole_connection WHERE connection_id = %s", connection
    )


def test_the_state_holds_one_resource_per_grant_and_previews_clean(
    upgraded: tuple[PulumiCli, dict[str, tuple[int, int]], AccessWatch],
) -> None:
    cli, _, _ = upgraded
    resources = cli.export_state()["deployment"]["resources"]
    assert not [r for r in resources if r["type"].endswith("guacamole:User")]
    connections = [r for r in resources if r["type"].endswith("guacamole:Connection")]
    assert {r["inputs"]["username"] for r in connections} == KEPT_LOGINS
    assert change_summary(cli.preview_json()) == {}
