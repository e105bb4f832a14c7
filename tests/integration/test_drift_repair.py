"""Guacamole rows changed behind the program's back are found and repaired without a refresh.

The edits are the ones a platform really sees: the legacy operator resumed for a minute resets
every VNC password parameter to ``1234``; someone edits a connection's hostname, deletes a READ
permission, or disables a user in the Guacamole UI. ``scripts/watch up --repair-drift`` repairs
them (a plain ``up`` does not even notice), the watcher repairs them at start-up and at its
periodic resync, and a legitimate program change made at the same time is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components import naming
from sandbox.environment import BROWSER_NAMESPACE, Sandbox
from sandbox.pulumi_cli import PulumiCli, change_summary
from tests.integration.helpers_guacamole import (
    assert_passwords_agree,
    binding,
    connection_parameters,
    query,
    run_watch,
    stack_with_bindings,
)
from tests.integration.test_watch import Watcher, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

NAMESPACE = "drift"
WORKSPACE = "drift-workspace"
USERS = ["dana@example.org", "eli@example.org", "fay@example.org", "gus@example.org"]


@pytest.fixture(scope="module")
def stack(program_dir: Path, sandbox: Sandbox) -> PulumiCli:
    manifests = [binding(NAMESPACE, f"drift-{i}", WORKSPACE, u) for i, u in enumerate(USERS)]
    return stack_with_bindings(program_dir, sandbox, "drift", NAMESPACE, manifests)


def tamper(sandbox: Sandbox) -> None:
    """The four out-of-band edits, confined to this test's workspace."""
    in_workspace = (
        "SELECT c.connection_id FROM guacamole_connection AS c"
        " JOIN guacamole_connection_group AS g ON g.connection_group_id = c.parent_id"
        " WHERE g.connection_group_name = %s"
    )
    # The legacy operator's reset, for every connection it knows.
    query(
        sandbox,
        "UPDATE guacamole_connection_parameter SET parameter_value = '1234'"
        f" WHERE parameter_name = 'password' AND connection_id IN ({in_workspace})",
        WORKSPACE,
    )
    query(
        sandbox,
        "UPDATE guacamole_connection_parameter SET parameter_value = 'attacker.example'"
        f" WHERE parameter_name = 'hostname' AND connection_id IN ({in_workspace}"
        " AND c.connection_name = %s)",
        WORKSPACE,
        USERS[1],
    )
    query(
        sandbox,
        "DELETE FROM guacamole_connection_permission AS p USING guacamole_entity AS e"
        " WHERE p.entity_id = e.entity_id AND e.name = %s",
        f"{WORKSPACE}@{USERS[2]}",
    )
    query(
        sandbox,
        "UPDATE guacamole_user AS u SET disabled = true FROM guacamole_entity AS e"
        " WHERE u.entity_id = e.entity_id AND e.name = %s",
        f"{WORKSPACE}@{USERS[3]}",
    )


def drift_left(sandbox: Sandbox) -> list[str]:
    """What is still wrong, by user (empty when every owned field is back)."""
    wrong: list[str] = []
    params = connection_parameters(sandbox, WORKSPACE)
    for user in USERS:
        mine = params.get(user, {})
        if mine.get("password") in (None, "1234"):
            wrong.append(f"{user}: password")
        expected = naming.connection_hostname(
            naming.deployment_name(WORKSPACE, user), BROWSER_NAMESPACE, "cluster.local"
        )
        if mine.get("hostname") != expected:
            wrong.append(f"{user}: hostname {mine.get('hostname')}")
        [(readable, disabled)] = query(
            sandbox,
            "SELECT EXISTS (SELECT 1 FROM guacamole_connection_permission AS p"
            "   JOIN guacamole_connection AS c ON c.connection_id = p.connection_id"
            "   WHERE p.entity_id = e.entity_id AND p.permission = 'READ'"
            "   AND c.connection_name = %s), u.disabled"
            " FROM guacamole_entity AS e JOIN guacamole_user AS u ON u.entity_id = e.entity_id"
            " WHERE e.name = %s",
            user,
            f"{WORKSPACE}@{user}",
        )
        if not readable:
            wrong.append(f"{user}: READ")
        if disabled:
            wrong.append(f"{user}: disabled")
    return wrong


def test_pipeline_up_repairs_drift_and_keeps_a_program_change(
    stack: PulumiCli, sandbox: Sandbox
) -> None:
    assert drift_left(sandbox) == []
    tamper(sandbox)
    assert len(drift_left(sandbox)) == len(USERS) + 3

    # Without the option nothing notices (the recorded outputs still look right).
    plain = run_watch(stack, "up")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert len(drift_left(sandbox)) == len(USERS) + 3

    # A legitimate change made meanwhile must survive the repair.
    stack.config_set("disablePaste", "false")
    repaired = run_watch(stack, "up", "--repair-drift")
    output = repaired.stdout + repaired.stderr
    assert repaired.returncode == 0, output
    assert "drift in" in output
    assert drift_left(sandbox) == []
    assert_passwords_agree(sandbox, WORKSPACE, USERS)
    params = connection_parameters(sandbox, WORKSPACE)
    assert {p["disable-paste"] for p in params.values()} == {"false"}
    assert "1234" not in output

    # Converged: the next preview, and a refresh followed by a preview, change nothing.
    assert change_summary(stack.preview_json()) == {}
    clean = run_watch(stack, "up", "--repair-drift")
    assert clean.returncode == 0 and "match the state" in clean.stdout + clean.stderr


@pytest.fixture
def watcher(stack: PulumiCli, tmp_path: Path) -> Iterator[Watcher]:
    running = Watcher(stack, tmp_path / "watch.log")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.terminate()


def test_watcher_repairs_drift_at_start_up_and_at_resync(
    watcher: Watcher, sandbox: Sandbox
) -> None:
    tamper(sandbox)
    watcher.start("--resync-interval", "20")
    wait_until("the start-up run to repair the drift", lambda: drift_left(sandbox) == [], watcher)
    assert watcher.logged("drift in")
    wait_until("the start-up run to finish", lambda: watcher.logged("up finished in"), watcher)

    tamper(sandbox)
    wait_until(
        "the periodic resync to repair the drift", lambda: drift_left(sandbox) == [], watcher
    )
    assert_passwords_agree(sandbox, WORKSPACE, USERS)
    assert watcher.terminate() == 0, watcher.output()[-4000:]
