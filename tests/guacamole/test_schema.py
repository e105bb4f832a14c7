"""The Guacamole schema: tables, enums, constraints, the admin seed, and apply_schema."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from components.guacamole.schema import (
    ENUM_TYPES,
    TABLES,
    SchemaError,
    SchemaOutcome,
    apply_schema,
    normalise_version,
    schema_sql,
)
from sandbox.postgres import PostgresServer

from .conftest import GuacDb
from .helpers import first_column, one, scalar

# Guacamole's stock salt for guacadmin and the hash it ships (uppercase hex).
GUACADMIN_SALT = "FE24ADC5E11E2B25288D1704ABE67A79E342ECC26064CE69C5B3177795A82264"
GUACADMIN_HASH = "CA458A7D494E3BE824F5E1E175A1556C0F8EEF2C2D7DF3633BEC4A29C4411960"
# guacamole_system_permission_type, in upstream's declaration order
SYSTEM_PERMISSIONS = [
    "CREATE_CONNECTION",
    "CREATE_CONNECTION_GROUP",
    "CREATE_SHARING_PROFILE",
    "CREATE_USER",
    "CREATE_USER_GROUP",
    "ADMINISTER",
]


def _enum_labels(conn: psycopg.Connection[Any], type_name: str) -> list[str]:
    return first_column(
        conn,
        "SELECT e.enumlabel FROM pg_enum AS e JOIN pg_type AS t ON t.oid = e.enumtypid"
        " WHERE t.typname = %s ORDER BY e.enumsortorder",
        (type_name,),
    )


_empty_counter = itertools.count()


@pytest.fixture
def empty_db(pg_server: PostgresServer) -> Iterator[GuacDb]:
    """A database without any schema."""
    name = f"guac_empty_{next(_empty_counter)}"
    dsn = pg_server.create_database(name, "pw", owner="guacamole_app")
    yield GuacDb(name=name, dsn=dsn, admin_dsn=pg_server.admin_dsn)
    pg_server.drop_database(name, drop_owner=False)


def test_known_vector_is_independent_of_the_implementation():
    digest = hashlib.sha256(("guacadmin" + GUACADMIN_SALT).encode()).hexdigest().upper()
    assert digest == GUACADMIN_HASH
    lower = hashlib.sha256(("guacadmin" + GUACADMIN_SALT.lower()).encode()).hexdigest().upper()
    assert lower != GUACADMIN_HASH  # the rule really is uppercase hex


def test_all_tables_and_enums_exist(guac_db: GuacDb):
    assert len(TABLES) == 23 and len(ENUM_TYPES) == 5
    with guac_db.connect() as conn:
        tables = set(
            first_column(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        types = set(first_column(conn, "SELECT typname FROM pg_type WHERE typtype = 'e'"))
    assert tables == set(TABLES)
    assert set(ENUM_TYPES) <= types


def test_enum_values_in_declared_order_for_1_5(guac_db: GuacDb):
    with guac_db.connect() as conn:
        assert _enum_labels(conn, "guacamole_connection_group_type") == [
            "ORGANIZATIONAL",
            "BALANCING",
        ]
        assert _enum_labels(conn, "guacamole_entity_type") == ["USER", "USER_GROUP"]
        assert _enum_labels(conn, "guacamole_object_permission_type") == [
            "READ",
            "UPDATE",
            "DELETE",
            "ADMINISTER",
        ]
        assert _enum_labels(conn, "guacamole_system_permission_type") == SYSTEM_PERMISSIONS
        assert _enum_labels(conn, "guacamole_proxy_encryption_method") == ["NONE", "SSL"]


def test_1_6_adds_audit_before_administer(empty_db: GuacDb):
    with empty_db.connect() as conn:
        assert apply_schema(conn, "1.6.0") is SchemaOutcome.CREATED
        labels = _enum_labels(conn, "guacamole_system_permission_type")
    assert labels[-2:] == ["AUDIT", "ADMINISTER"]
    assert len(labels) == 7


def test_apply_is_idempotent_and_upgrades(empty_db: GuacDb):
    with empty_db.connect() as conn:
        assert apply_schema(conn, "1.5") is SchemaOutcome.CREATED
        assert apply_schema(conn, "1.5.5") is SchemaOutcome.PRESENT
        assert "AUDIT" not in _enum_labels(conn, "guacamole_system_permission_type")
        assert apply_schema(conn, "1.6") is SchemaOutcome.UPGRADED
        assert apply_schema(conn, "1.6") is SchemaOutcome.PRESENT
        assert apply_schema(conn, "1.5") is SchemaOutcome.PRESENT  # never downgrades
        assert scalar(conn, "SELECT count(*) FROM guacamole_entity") == 1


def test_partial_schema_is_refused(empty_db: GuacDb):
    with empty_db.connect() as conn:
        conn.execute("CREATE TABLE guacamole_entity (entity_id int)")
        with pytest.raises(SchemaError, match="22 of 23 tables are missing"):
            apply_schema(conn)


def test_schema_sql_differs_only_by_audit():
    v15 = schema_sql("1.5")
    v16 = schema_sql("1.6")
    assert v16.startswith(v15)
    extra = v16[len(v15) :]
    assert "'AUDIT'" in extra and extra.count(";") == 1
    assert "guacadmin" not in schema_sql("1.5", seed_admin=False)
    with pytest.raises(ValueError, match="unsupported"):
        normalise_version("1.4.0")


def test_guacadmin_seed(guac_db: GuacDb):
    with guac_db.connect() as conn:
        salt, digest = one(
            conn,
            "SELECT u.password_salt, u.password_hash FROM guacamole_user AS u"
            " JOIN guacamole_entity AS e USING (entity_id) WHERE e.name = 'guacadmin'",
        )
        system = set(first_column(conn, "SELECT permission::text FROM guacamole_system_permission"))
        self_perms = set(
            first_column(
                conn,
                "SELECT p.permission::text FROM guacamole_user_permission AS p"
                " JOIN guacamole_user AS u ON u.user_id = p.affected_user_id"
                " WHERE p.entity_id = u.entity_id",
            )
        )
    assert bytes(salt).hex().upper() == GUACADMIN_SALT
    assert bytes(digest).hex().upper() == GUACADMIN_HASH
    assert system == set(SYSTEM_PERMISSIONS)  # guacadmin holds every system permission
    assert self_perms == {"READ", "UPDATE", "ADMINISTER"}


def test_constraints_behave_like_upstream(guac_db: GuacDb):
    with guac_db.connect() as conn:
        # NULL parent: the unique constraint does not stop duplicate root groups...
        for _ in range(2):
            conn.execute(
                "INSERT INTO guacamole_connection_group (connection_group_name) VALUES ('dup')"
            )
        # ...but it does inside a group.
        gid = scalar(conn, "SELECT min(connection_group_id) FROM guacamole_connection_group")
        conn.execute(
            "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
            " VALUES ('c', %s, 'vnc')",
            (gid,),
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO guacamole_connection (connection_name, parent_id, protocol)"
                " VALUES ('c', %s, 'vnc')",
                (gid,),
            )
        # Deleting an entity cascades to its user row and permissions.
        eid = scalar(
            conn,
            "INSERT INTO guacamole_entity (name, type) VALUES ('x', 'USER') RETURNING entity_id",
        )
        conn.execute(
            "INSERT INTO guacamole_user (entity_id, password_hash, password_date)"
            " VALUES (%s, '\\x00', now())",
            (eid,),
        )
        conn.execute(
            "INSERT INTO guacamole_connection_group_permission VALUES (%s, %s, 'READ')",
            (eid, gid),
        )
        conn.execute("DELETE FROM guacamole_entity WHERE entity_id = %s", (eid,))
        assert scalar(conn, "SELECT count(*) FROM guacamole_user WHERE entity_id = %s", (eid,)) == 0
        assert scalar(conn, "SELECT count(*) FROM guacamole_connection_group_permission") == 0
        # password_date has no default
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(
                "INSERT INTO guacamole_user (entity_id, password_hash) VALUES (1, '\\x00')"
            )


def test_indexes_exist(guac_db: GuacDb):
    with guac_db.connect() as conn:
        names = set(
            first_column(conn, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        )
    for expected in (
        "guacamole_connection_group_parent_id",
        "guacamole_connection_parent_id",
        "guacamole_connection_permission_entity_id",
        "guacamole_connection_history_connection_id_start_date",
        "guacamole_user_history_user_id_start_date",
        "guacamole_user_password_history_user_id",
    ):
        assert expected in names
