-- Guacamole-compatible PostgreSQL schema (JDBC auth extension, 1.5.x layout).
--
-- Written for awms-browser-workspaces from the published table definitions: 5 enum types and
-- 23 tables whose names, columns, keys, cascades and indexes are the ones the Guacamole
-- PostgreSQL extension expects. The 1.6.x variant is produced from this file by
-- components.guacamole.schema.schema_sql("1.6"), which adds the single 1.6 difference (the
-- 'AUDIT' system permission) after these statements.
--
-- Keep this file free of psql meta-commands: it is executed verbatim by apply_schema().

-- ---------------------------------------------------------------------------------------------
-- Enum types
-- ---------------------------------------------------------------------------------------------

CREATE TYPE guacamole_connection_group_type AS ENUM ('ORGANIZATIONAL', 'BALANCING');

CREATE TYPE guacamole_entity_type AS ENUM ('USER', 'USER_GROUP');

CREATE TYPE guacamole_object_permission_type AS ENUM ('READ', 'UPDATE', 'DELETE', 'ADMINISTER');

CREATE TYPE guacamole_system_permission_type AS ENUM (
    'CREATE_CONNECTION',
    'CREATE_CONNECTION_GROUP',
    'CREATE_SHARING_PROFILE',
    'CREATE_USER',
    'CREATE_USER_GROUP',
    'ADMINISTER'
);

CREATE TYPE guacamole_proxy_encryption_method AS ENUM ('NONE', 'SSL');

-- ---------------------------------------------------------------------------------------------
-- Connection groups and connections
-- ---------------------------------------------------------------------------------------------

-- parent_id NULL means "child of the virtual ROOT group". The unique constraint does not stop
-- duplicate names at ROOT (NULLs are distinct); writers must serialise creates themselves.
CREATE TABLE guacamole_connection_group (
    connection_group_id      serial       NOT NULL,
    parent_id                integer,
    connection_group_name    varchar(128) NOT NULL,
    type                     guacamole_connection_group_type NOT NULL DEFAULT 'ORGANIZATIONAL',
    max_connections          integer,
    max_connections_per_user integer,
    enable_session_affinity  boolean      NOT NULL DEFAULT FALSE,

    PRIMARY KEY (connection_group_id),
    CONSTRAINT connection_group_name_parent UNIQUE (connection_group_name, parent_id),
    CONSTRAINT guacamole_connection_group_ibfk_1 FOREIGN KEY (parent_id)
        REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_group_parent_id ON guacamole_connection_group (parent_id);

CREATE TABLE guacamole_connection (
    connection_id            serial       NOT NULL,
    connection_name          varchar(128) NOT NULL,
    parent_id                integer,
    protocol                 varchar(32)  NOT NULL,
    max_connections          integer,
    max_connections_per_user integer,
    connection_weight        integer,
    failover_only            boolean      NOT NULL DEFAULT FALSE,
    proxy_port               integer,
    proxy_hostname           varchar(512),
    proxy_encryption_method  guacamole_proxy_encryption_method,

    PRIMARY KEY (connection_id),
    CONSTRAINT connection_name_parent UNIQUE (connection_name, parent_id),
    CONSTRAINT guacamole_connection_ibfk_1 FOREIGN KEY (parent_id)
        REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_parent_id ON guacamole_connection (parent_id);

-- ---------------------------------------------------------------------------------------------
-- Entities: every user and user group is an entity; permissions are held by entities.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE guacamole_entity (
    entity_id serial       NOT NULL,
    name      varchar(128) NOT NULL,
    type      guacamole_entity_type NOT NULL,

    PRIMARY KEY (entity_id),
    CONSTRAINT guacamole_entity_name_scope UNIQUE (type, name)
);

CREATE TABLE guacamole_user (
    user_id             serial      NOT NULL,
    entity_id           integer     NOT NULL,
    password_hash       bytea       NOT NULL,
    password_salt       bytea,
    password_date       timestamptz NOT NULL,
    disabled            boolean     NOT NULL DEFAULT FALSE,
    expired             boolean     NOT NULL DEFAULT FALSE,
    access_window_start time,
    access_window_end   time,
    valid_from          date,
    valid_until         date,
    timezone            varchar(64),
    full_name           varchar(256),
    email_address       varchar(256),
    organization        varchar(256),
    organizational_role varchar(256),

    PRIMARY KEY (user_id),
    CONSTRAINT guacamole_user_single_entity UNIQUE (entity_id),
    CONSTRAINT guacamole_user_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);

CREATE TABLE guacamole_user_group (
    user_group_id serial  NOT NULL,
    entity_id     integer NOT NULL,
    disabled      boolean NOT NULL DEFAULT FALSE,

    PRIMARY KEY (user_group_id),
    CONSTRAINT guacamole_user_group_single_entity UNIQUE (entity_id),
    CONSTRAINT guacamole_user_group_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);

CREATE TABLE guacamole_user_group_member (
    user_group_id    integer NOT NULL,
    member_entity_id integer NOT NULL,

    PRIMARY KEY (user_group_id, member_entity_id),
    CONSTRAINT guacamole_user_group_member_parent FOREIGN KEY (user_group_id)
        REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_user_group_member_entity FOREIGN KEY (member_entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);

-- ---------------------------------------------------------------------------------------------
-- Sharing profiles
-- ---------------------------------------------------------------------------------------------

CREATE TABLE guacamole_sharing_profile (
    sharing_profile_id    serial       NOT NULL,
    sharing_profile_name  varchar(128) NOT NULL,
    primary_connection_id integer      NOT NULL,

    PRIMARY KEY (sharing_profile_id),
    CONSTRAINT sharing_profile_name_primary UNIQUE (sharing_profile_name, primary_connection_id),
    CONSTRAINT guacamole_sharing_profile_ibfk_1 FOREIGN KEY (primary_connection_id)
        REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_sharing_profile_primary_connection_id
    ON guacamole_sharing_profile (primary_connection_id);

-- ---------------------------------------------------------------------------------------------
-- Parameters and attributes (name/value pairs)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE guacamole_connection_parameter (
    connection_id   integer       NOT NULL,
    parameter_name  varchar(128)  NOT NULL,
    parameter_value varchar(4096) NOT NULL,

    PRIMARY KEY (connection_id, parameter_name),
    CONSTRAINT guacamole_connection_parameter_ibfk_1 FOREIGN KEY (connection_id)
        REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_parameter_connection_id
    ON guacamole_connection_parameter (connection_id);

CREATE TABLE guacamole_sharing_profile_parameter (
    sharing_profile_id integer       NOT NULL,
    parameter_name     varchar(128)  NOT NULL,
    parameter_value    varchar(4096) NOT NULL,

    PRIMARY KEY (sharing_profile_id, parameter_name),
    CONSTRAINT guacamole_sharing_profile_parameter_ibfk_1 FOREIGN KEY (sharing_profile_id)
        REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_sharing_profile_parameter_sharing_profile_id
    ON guacamole_sharing_profile_parameter (sharing_profile_id);

CREATE TABLE guacamole_user_attribute (
    user_id         integer       NOT NULL,
    attribute_name  varchar(128)  NOT NULL,
    attribute_value varchar(4096) NOT NULL,

    PRIMARY KEY (user_id, attribute_name),
    CONSTRAINT guacamole_user_attribute_ibfk_1 FOREIGN KEY (user_id)
        REFERENCES guacamole_user (user_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_user_attribute_user_id ON guacamole_user_attribute (user_id);

CREATE TABLE guacamole_user_group_attribute (
    user_group_id   integer       NOT NULL,
    attribute_name  varchar(128)  NOT NULL,
    attribute_value varchar(4096) NOT NULL,

    PRIMARY KEY (user_group_id, attribute_name),
    CONSTRAINT guacamole_user_group_attribute_ibfk_1 FOREIGN KEY (user_group_id)
        REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_user_group_attribute_user_group_id
    ON guacamole_user_group_attribute (user_group_id);

CREATE TABLE guacamole_connection_attribute (
    connection_id   integer       NOT NULL,
    attribute_name  varchar(128)  NOT NULL,
    attribute_value varchar(4096) NOT NULL,

    PRIMARY KEY (connection_id, attribute_name),
    CONSTRAINT guacamole_connection_attribute_ibfk_1 FOREIGN KEY (connection_id)
        REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_attribute_connection_id
    ON guacamole_connection_attribute (connection_id);

CREATE TABLE guacamole_connection_group_attribute (
    connection_group_id integer       NOT NULL,
    attribute_name      varchar(128)  NOT NULL,
    attribute_value     varchar(4096) NOT NULL,

    PRIMARY KEY (connection_group_id, attribute_name),
    CONSTRAINT guacamole_connection_group_attribute_ibfk_1 FOREIGN KEY (connection_group_id)
        REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_group_attribute_connection_group_id
    ON guacamole_connection_group_attribute (connection_group_id);

CREATE TABLE guacamole_sharing_profile_attribute (
    sharing_profile_id integer       NOT NULL,
    attribute_name     varchar(128)  NOT NULL,
    attribute_value    varchar(4096) NOT NULL,

    PRIMARY KEY (sharing_profile_id, attribute_name),
    CONSTRAINT guacamole_sharing_profile_attribute_ibfk_1 FOREIGN KEY (sharing_profile_id)
        REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_sharing_profile_attribute_sharing_profile_id
    ON guacamole_sharing_profile_attribute (sharing_profile_id);

-- ---------------------------------------------------------------------------------------------
-- Permissions (held by an entity: a user or a user group)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE guacamole_connection_permission (
    entity_id     integer NOT NULL,
    connection_id integer NOT NULL,
    permission    guacamole_object_permission_type NOT NULL,

    PRIMARY KEY (entity_id, connection_id, permission),
    CONSTRAINT guacamole_connection_permission_ibfk_1 FOREIGN KEY (connection_id)
        REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_connection_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_permission_connection_id
    ON guacamole_connection_permission (connection_id);
CREATE INDEX guacamole_connection_permission_entity_id
    ON guacamole_connection_permission (entity_id);

CREATE TABLE guacamole_connection_group_permission (
    entity_id           integer NOT NULL,
    connection_group_id integer NOT NULL,
    permission          guacamole_object_permission_type NOT NULL,

    PRIMARY KEY (entity_id, connection_group_id, permission),
    CONSTRAINT guacamole_connection_group_permission_ibfk_1 FOREIGN KEY (connection_group_id)
        REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_connection_group_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_connection_group_permission_connection_group_id
    ON guacamole_connection_group_permission (connection_group_id);
CREATE INDEX guacamole_connection_group_permission_entity_id
    ON guacamole_connection_group_permission (entity_id);

CREATE TABLE guacamole_sharing_profile_permission (
    entity_id          integer NOT NULL,
    sharing_profile_id integer NOT NULL,
    permission         guacamole_object_permission_type NOT NULL,

    PRIMARY KEY (entity_id, sharing_profile_id, permission),
    CONSTRAINT guacamole_sharing_profile_permission_ibfk_1 FOREIGN KEY (sharing_profile_id)
        REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_sharing_profile_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_sharing_profile_permission_sharing_profile_id
    ON guacamole_sharing_profile_permission (sharing_profile_id);
CREATE INDEX guacamole_sharing_profile_permission_entity_id
    ON guacamole_sharing_profile_permission (entity_id);

CREATE TABLE guacamole_system_permission (
    entity_id  integer NOT NULL,
    permission guacamole_system_permission_type NOT NULL,

    PRIMARY KEY (entity_id, permission),
    CONSTRAINT guacamole_system_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_system_permission_entity_id ON guacamole_system_permission (entity_id);

-- affected_user_id is a user_id (not an entity_id): the target of the permission.
CREATE TABLE guacamole_user_permission (
    entity_id        integer NOT NULL,
    affected_user_id integer NOT NULL,
    permission       guacamole_object_permission_type NOT NULL,

    PRIMARY KEY (entity_id, affected_user_id, permission),
    CONSTRAINT guacamole_user_permission_ibfk_1 FOREIGN KEY (affected_user_id)
        REFERENCES guacamole_user (user_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_user_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_user_permission_affected_user_id
    ON guacamole_user_permission (affected_user_id);
CREATE INDEX guacamole_user_permission_entity_id ON guacamole_user_permission (entity_id);

CREATE TABLE guacamole_user_group_permission (
    entity_id              integer NOT NULL,
    affected_user_group_id integer NOT NULL,
    permission             guacamole_object_permission_type NOT NULL,

    PRIMARY KEY (entity_id, affected_user_group_id, permission),
    CONSTRAINT guacamole_user_group_permission_affected_user_group FOREIGN KEY (affected_user_group_id)
        REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE,
    CONSTRAINT guacamole_user_group_permission_entity FOREIGN KEY (entity_id)
        REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_user_group_permission_affected_user_group_id
    ON guacamole_user_group_permission (affected_user_group_id);
CREATE INDEX guacamole_user_group_permission_entity_id
    ON guacamole_user_group_permission (entity_id);

-- ---------------------------------------------------------------------------------------------
-- History
-- ---------------------------------------------------------------------------------------------

CREATE TABLE guacamole_connection_history (
    history_id           serial       NOT NULL,
    user_id              integer      DEFAULT NULL,
    username             varchar(128) NOT NULL,
    remote_host          varchar(256) DEFAULT NULL,
    connection_id        integer      DEFAULT NULL,
    connection_name      varchar(128) NOT NULL,
    sharing_profile_id   integer      DEFAULT NULL,
    sharing_profile_name varchar(128) DEFAULT NULL,
    start_date           timestamptz  NOT NULL,
    end_date             timestamptz  DEFAULT NULL,

    PRIMARY KEY (history_id),
    CONSTRAINT guacamole_connection_history_ibfk_1 FOREIGN KEY (user_id)
        REFERENCES guacamole_user (user_id) ON DELETE SET NULL,
    CONSTRAINT guacamole_connection_history_ibfk_2 FOREIGN KEY (connection_id)
        REFERENCES guacamole_connection (connection_id) ON DELETE SET NULL,
    CONSTRAINT guacamole_connection_history_ibfk_3 FOREIGN KEY (sharing_profile_id)
        REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE SET NULL
);
CREATE INDEX guacamole_connection_history_user_id ON guacamole_connection_history (user_id);
CREATE INDEX guacamole_connection_history_connection_id
    ON guacamole_connection_history (connection_id);
CREATE INDEX guacamole_connection_history_sharing_profile_id
    ON guacamole_connection_history (sharing_profile_id);
CREATE INDEX guacamole_connection_history_start_date
    ON guacamole_connection_history (start_date);
CREATE INDEX guacamole_connection_history_end_date ON guacamole_connection_history (end_date);
CREATE INDEX guacamole_connection_history_connection_id_start_date
    ON guacamole_connection_history (connection_id, start_date);

CREATE TABLE guacamole_user_history (
    history_id  serial       NOT NULL,
    user_id     integer      DEFAULT NULL,
    username    varchar(128) NOT NULL,
    remote_host varchar(256) DEFAULT NULL,
    start_date  timestamptz  NOT NULL,
    end_date    timestamptz  DEFAULT NULL,

    PRIMARY KEY (history_id),
    CONSTRAINT guacamole_user_history_ibfk_1 FOREIGN KEY (user_id)
        REFERENCES guacamole_user (user_id) ON DELETE SET NULL
);
CREATE INDEX guacamole_user_history_user_id ON guacamole_user_history (user_id);
CREATE INDEX guacamole_user_history_start_date ON guacamole_user_history (start_date);
CREATE INDEX guacamole_user_history_end_date ON guacamole_user_history (end_date);
CREATE INDEX guacamole_user_history_user_id_start_date
    ON guacamole_user_history (user_id, start_date);

CREATE TABLE guacamole_user_password_history (
    password_history_id serial      NOT NULL,
    user_id             integer     NOT NULL,
    password_hash       bytea       NOT NULL,
    password_salt       bytea,
    password_date       timestamptz NOT NULL,

    PRIMARY KEY (password_history_id),
    CONSTRAINT guacamole_user_password_history_ibfk_1 FOREIGN KEY (user_id)
        REFERENCES guacamole_user (user_id) ON DELETE CASCADE
);
CREATE INDEX guacamole_user_password_history_user_id
    ON guacamole_user_password_history (user_id);
