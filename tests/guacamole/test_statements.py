"""SQL budget: a no-op plan issues zero SQL; a binding's create issues a small, fixed number.

Counts come from pg_stat_statements (the sandbox preloads it), filtered to the test database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import pytest

from components.guacamole.providers import (
    ConnectionGroupProvider,
    ConnectionProvider,
    UserProvider,
)

from .conftest import GuacDb, Providers, configure_request
from .helpers import (
    checked,
    connection_news,
    create_binding,
    reset_statement_stats,
    statements_in,
    total_calls,
)

T = TypeVar("T")

# Exact budgets (client statements, BEGIN/COMMIT included); print them with `pytest -s`.
GROUP_CREATE = 5  # BEGIN, advisory lock, lookup, INSERT, COMMIT (once per workspace)
# BEGIN, entity, user row, self READ, ownership mark, connection, parameters,
# READ on connection + group, COMMIT: the whole binding in one transaction
CONNECTION_CREATE = 9
CONNECTION_REFRESH = 4  # BEGIN READ ONLY, connection with its grants, user, COMMIT
GROUP_REFRESH = 3  # BEGIN READ ONLY, group, COMMIT


def _binding(providers: Providers, workspace: str, username: str):
    return create_binding(
        providers.group, providers.connection, workspace=workspace, username=username
    )


def test_noop_plan_issues_zero_sql(providers: Providers, guac_db: GuacDb):
    bindings = [_binding(providers, "ws", f"user{i}") for i in range(3)]
    with guac_db.admin() as admin:
        reset_statement_stats(admin)
        for b in bindings:
            # What the engine calls for an unchanged resource during `pulumi up`: check + diff.
            for provider, result, news in (
                (providers.group, b.group, {"group_name": "ws"}),
                (providers.connection, b.connection, b.connection_inputs),
            ):
                inputs = checked(provider, news)
                diff = provider.diff(result.id, result.outs, inputs)
                assert diff.changes is False
        stats = statements_in(admin, guac_db.name)
    assert stats == {}, stats


def test_diff_works_without_any_database(guac_db: GuacDb, monkeypatch: pytest.MonkeyPatch):
    """Configured with an unreachable DSN, check/diff still work: they never connect."""
    monkeypatch.delenv("AWMS_GUACAMOLE_DATABASE_URL")
    unreachable = "postgresql://nobody:secret@127.0.0.1:1/nowhere?connect_timeout=1"
    for provider, news, outs in (
        (ConnectionGroupProvider(), {"group_name": "ws"}, None),
        (UserProvider(), {"username": "ws@u"}, None),
    ):
        provider.configure(configure_request(unreachable))
        inputs = checked(provider, news)
        olds = (
            {
                **inputs,
                "at_root": True,
                "organizational": True,
                "self_read": True,
                "has_user_row": True,
                "enabled": True,
            }
            if outs is None
            else outs
        )
        assert provider.diff("1", olds, inputs).changes is False
    connection = ConnectionProvider()
    connection.configure(configure_request(unreachable))
    inputs = checked(
        connection,
        {
            "group_id": 1.0,
            "username": "ws@u",
            "connection_name": "u",
            "hostname": "h",
            "password": "p",
        },
    )
    olds = {
        **inputs,
        "is_vnc": True,
        "read_on_connection": True,
        "read_on_group": True,
        "has_user_row": True,
        "self_read": True,
        "enabled": True,
        "unmanaged_parameters": [],
    }
    assert connection.diff("3", olds, inputs).changes is False
    assert connection.diff("3", {**olds, "enabled": False}, inputs).changes is True


def _measure(
    admin: psycopg.Connection[Any], dbname: str, action: Callable[[], T]
) -> tuple[T, dict[str, int]]:
    reset_statement_stats(admin)
    result = action()
    return result, statements_in(admin, dbname)


def test_statements_per_binding(providers: Providers, guac_db: GuacDb, capsys):
    g, c = providers.group, providers.connection
    with guac_db.admin() as admin:
        _binding(providers, "warmup", "w")  # pool connections are opened outside the count
        group, group_stats = _measure(
            admin, guac_db.name, lambda: g.create(checked(g, {"group_name": "ws"}))
        )
        inputs = connection_news(c, group_id=group.id, workspace="ws", username="alice")
        connection, connection_stats = _measure(admin, guac_db.name, lambda: c.create(inputs))
        _, connection_refresh = _measure(
            admin, guac_db.name, lambda: c.read(connection.id, connection.outs)
        )
        _, group_refresh = _measure(admin, guac_db.name, lambda: g.read(group.id, group.outs))
        _, update_stats = _measure(
            admin,
            guac_db.name,
            lambda: c.update(connection.id, connection.outs, {**inputs, "password": "rotated"}),
        )
        _, delete_stats = _measure(
            admin, guac_db.name, lambda: c.delete(connection.id, connection.outs)
        )
    with capsys.disabled():
        print(
            f"\nSQL statements: per binding {total_calls(connection_stats)}, per workspace group "
            f"{total_calls(group_stats)}, refresh of a binding {total_calls(connection_refresh)}, "
            f"password rotation {total_calls(update_stats)}, revocation "
            f"{total_calls(delete_stats)}, no-op up 0"
        )
    assert total_calls(group_stats) == GROUP_CREATE, group_stats
    assert total_calls(connection_stats) == CONNECTION_CREATE, connection_stats
    for stats in (group_stats, connection_stats, update_stats, delete_stats):
        # One transaction per provider operation.
        assert sum(n for q, n in stats.items() if q.upper().startswith("BEGIN")) == 1
        assert sum(n for q, n in stats.items() if q.upper() == "COMMIT") == 1
    # refresh reads in read-only transactions only
    assert total_calls(connection_refresh) == CONNECTION_REFRESH, connection_refresh
    assert total_calls(group_refresh) == GROUP_REFRESH, group_refresh
    for stats in (connection_refresh, group_refresh):
        assert any(q.upper() == "BEGIN READ ONLY" for q in stats)
        assert not any(
            q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "WITH")) for q in stats
        )
