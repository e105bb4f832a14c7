"""The bootstrap providers against a real PostgreSQL: grants, roles and schema changed by hand
are seen by refresh and repaired (or refused) by update."""

from __future__ import annotations

import pytest
from psycopg import sql

from components.guacamole.dbadmin.errors import BootstrapError

from .bootstrap_helpers import bootstrap, denied
from .conftest import AdminProviders, BootstrapTarget

pytestmark = pytest.mark.postgres


def test_refresh_shows_revoked_grants_as_drift_and_update_repairs_them(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target)
    grants = admin_providers.grants
    with target.admin(target.database) as admin:
        admin.execute(
            sql.SQL("REVOKE DELETE ON guacamole_user FROM {}").format(sql.Identifier(target.login))
        )
        admin.execute(
            sql.SQL("GRANT TRUNCATE ON guacamole_entity TO {}").format(sql.Identifier(target.login))
        )
        admin.execute(
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE ALL ON SEQUENCES"
                " FROM {}"
            ).format(sql.Identifier(target.owner), sql.Identifier(target.login))
        )
        admin.execute(
            sql.SQL("GRANT TEMPORARY ON DATABASE {} TO PUBLIC").format(
                sql.Identifier(target.database)
            )
        )

    refreshed = grants.read(done.grants.id, done.grants.outs)
    assert refreshed.id == done.grants.id
    assert refreshed.outs["drift"] == [
        f"database {target.database} for PUBLIC: has TEMPORARY, wants nothing",
        "table guacamole_entity: has DELETE, INSERT, SELECT, TRUNCATE, UPDATE, wants DELETE, "
        "INSERT, SELECT, UPDATE",
        "table guacamole_user: has INSERT, SELECT, UPDATE, wants DELETE, INSERT, SELECT, UPDATE",
        f"default privileges of {target.owner} on sequences: has nothing, wants SELECT, USAGE",
    ]
    diff = grants.diff(done.grants.id, refreshed.outs, done.inputs["grants"])
    assert diff.changes is True and diff.replaces == []

    updated = grants.update(done.grants.id, refreshed.outs, done.inputs["grants"])
    assert updated.outs["drift"] == []
    again = grants.read(done.grants.id, updated.outs)
    assert again.outs["drift"] == []
    assert grants.diff(done.grants.id, again.outs, done.inputs["grants"]).changes is False
    with target.as_login() as conn:
        conn.execute("DELETE FROM guacamole_user WHERE false")
        assert denied(conn, "TRUNCATE guacamole_entity")


def test_refresh_sees_role_drift_and_update_repairs_it(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target)
    roles = admin_providers.role
    login = sql.Identifier(target.login)
    with target.admin() as admin:
        admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD 'changed-out-of-band' CREATEDB").format(login)
        )
        admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(target.owner), login))

    refreshed = roles.read(target.login, done.login.outs)
    assert refreshed.outs["password_current"] is False
    assert refreshed.outs["privileged_attributes"] == ["CREATEDB"]
    assert refreshed.outs["member_of"] == [target.owner]
    assert roles.diff(target.login, refreshed.outs, done.inputs["login"]).changes is True

    updated = roles.update(target.login, refreshed.outs, done.inputs["login"])
    again = roles.read(target.login, updated.outs)
    assert again.outs["password_current"] is True
    assert again.outs["privileged_attributes"] == [] and again.outs["member_of"] == []
    assert roles.diff(target.login, again.outs, done.inputs["login"]).changes is False
    target.as_login().close()  # the desired password works again


def test_refresh_of_a_dropped_role_or_database_forgets_it(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target)
    with target.admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(target.database)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(target.login)))
    assert admin_providers.database.read(target.database, done.database.outs).id == ""
    assert admin_providers.schema.read(target.database, done.schema.outs).id == ""
    assert admin_providers.grants.read(done.grants.id, done.grants.outs).id == ""
    assert admin_providers.role.read(target.login, done.login.outs).id == ""
    assert admin_providers.role.read(target.owner, done.owner.outs).id == target.owner


def test_schema_drift_is_repaired_or_refused(
    admin_providers: AdminProviders, target: BootstrapTarget
):
    done = bootstrap(admin_providers, target)
    schema = admin_providers.schema
    with target.admin(target.database) as admin:
        admin.execute(
            sql.SQL("ALTER TABLE guacamole_user_history OWNER TO {}").format(
                sql.Identifier(target.login)
            )
        )
    refreshed = schema.read(target.database, done.schema.outs)
    assert refreshed.outs["foreign_owned"] == [
        f"table guacamole_user_history (owner {target.login})",
        f"sequence guacamole_user_history_history_id_seq (owner {target.login})",
    ]
    assert schema.diff(target.database, refreshed.outs, done.inputs["schema"]).changes is True
    repaired = schema.update(target.database, refreshed.outs, done.inputs["schema"])
    assert repaired.outs["foreign_owned"] == []

    upgrade = {**done.inputs["schema"], "version": "1.6"}
    assert schema.diff(target.database, repaired.outs, upgrade).changes is True
    upgraded = schema.update(target.database, repaired.outs, upgrade)
    assert upgraded.outs["installed_version"] == "1.6"
    assert schema.diff(target.database, upgraded.outs, upgrade).changes is False

    with target.admin(target.database) as admin:
        admin.execute("DROP TABLE guacamole_user_history")
    broken = schema.read(target.database, upgraded.outs)
    assert broken.outs["missing_tables"] == ["guacamole_user_history"]
    assert broken.outs["current"] is False
    with pytest.raises(BootstrapError, match=r"incomplete.*guacamole_user_history"):
        schema.update(target.database, broken.outs, upgrade)


def test_a_1_6_schema_is_never_downgraded(admin_providers: AdminProviders, target: BootstrapTarget):
    done = bootstrap(admin_providers, target, version="1.6")
    schema = admin_providers.schema
    older = {**done.inputs["schema"], "version": "1.5"}
    updated = schema.update(target.database, done.schema.outs, older)
    assert updated.outs["installed_version"] == "1.6" and updated.outs["current"] is True
    refreshed = schema.read(target.database, updated.outs)
    assert schema.diff(target.database, refreshed.outs, older).changes is False
