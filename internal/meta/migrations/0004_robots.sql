-- User groups, group membership of users, and robot accounts with their permissions.

-- Harbor's user groups: group_type 1 LDAP (identified by its DN), 2 HTTP, 3 OIDC (identified by
-- name). Groups are project members through project_members (entity_type 'g').
CREATE TABLE user_groups (
    id            {{ID}},
    group_name    TEXT NOT NULL,
    group_type    INTEGER NOT NULL,
    ldap_group_dn TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_groups_ldap_dn ON user_groups (ldap_group_dn) WHERE group_type = 1;
CREATE UNIQUE INDEX user_groups_name ON user_groups (group_type, group_name) WHERE group_type <> 1;

-- Which users belong to which groups. An identity provider (LDAP, OIDC) refreshes a user's rows
-- when the user logs in; authorization reads them to give group members their group's role.
CREATE TABLE user_group_members (
    group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members (user_id);

-- Robot accounts. name is the login without the configurable prefix: "project+name" for project
-- robots, "name" for system robots (project_id NULL), so changing robot_name_prefix keeps every
-- robot working. expires_at is in Unix seconds as Harbor's API shows it, -1 for never.
-- secret_hash is an argon2id hash; the secret itself is shown once and never stored.
CREATE TABLE robots (
    id           {{ID}},
    name         TEXT{{C}} NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    project_id   BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL,
    duration     BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    creator_type TEXT NOT NULL,
    creator_ref  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX robots_project ON robots (project_id);

-- What a robot may do: kind 'system' (project_id NULL, namespace "/") or 'project' (project_id
-- set, or NULL for every project: namespace "*"). Permissions name projects by id, so a deleted
-- and re-created project of the same name does not inherit grants.
CREATE TABLE robot_permissions (
    id         {{ID}},
    robot_id   BIGINT NOT NULL REFERENCES robots (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    action     TEXT NOT NULL,
    effect     TEXT NOT NULL DEFAULT 'allow'
);
CREATE INDEX robot_permissions_robot ON robot_permissions (robot_id);
CREATE INDEX robot_permissions_project ON robot_permissions (project_id);
