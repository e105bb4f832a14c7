-- Default administrator, matching what a stock Guacamole installation starts with:
-- user 'guacadmin' with password 'guacadmin' (change it after the first login), all system
-- permissions except AUDIT, and READ/UPDATE/ADMINISTER on itself.
--
-- The salt is the fixed 32-byte value stock installations use; the hash is computed here by
-- Guacamole's rule, SHA-256 over UTF-8(password || uppercase hex of the salt), so that the
-- stored bytes are derived rather than copied.

INSERT INTO guacamole_entity (name, type) VALUES ('guacadmin', 'USER');

INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date)
SELECT e.entity_id,
       sha256(convert_to('guacadmin' || upper(encode(s.salt, 'hex')), 'UTF8')),
       s.salt,
       CURRENT_TIMESTAMP
FROM guacamole_entity AS e
CROSS JOIN (
    VALUES (decode('FE24ADC5E11E2B25288D1704ABE67A79E342ECC26064CE69C5B3177795A82264', 'hex'))
) AS s (salt)
WHERE e.name = 'guacadmin' AND e.type = 'USER';

INSERT INTO guacamole_system_permission (entity_id, permission)
SELECT e.entity_id, p.permission::guacamole_system_permission_type
FROM guacamole_entity AS e
CROSS JOIN unnest(ARRAY[
    'CREATE_CONNECTION',
    'CREATE_CONNECTION_GROUP',
    'CREATE_SHARING_PROFILE',
    'CREATE_USER',
    'CREATE_USER_GROUP',
    'ADMINISTER'
]) AS p (permission)
WHERE e.name = 'guacadmin' AND e.type = 'USER';

INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)
SELECT e.entity_id, u.user_id, p.permission::guacamole_object_permission_type
FROM guacamole_entity AS e
JOIN guacamole_user AS u ON u.entity_id = e.entity_id
CROSS JOIN unnest(ARRAY['READ', 'UPDATE', 'ADMINISTER']) AS p (permission)
WHERE e.name = 'guacadmin' AND e.type = 'USER';
