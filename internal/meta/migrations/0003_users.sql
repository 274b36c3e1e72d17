-- Users and portal sessions.
--
-- Users are deleted softly, as Harbor does: the row stays, renamed "<name>#<id>", so projects it
-- owns and audit lines that name it stay consistent, while the name and e-mail become free again
-- ('#' is not allowed in user names, so a deleted row never matches a login).
ALTER TABLE users ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;

-- Harbor keeps e-mail addresses unique; accounts without one (the bootstrapped admin) are exempt.
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';

-- Portal sessions (cookie "sid"). Only the SHA-256 of the random session id is stored, so a copy
-- of the database does not hand out live sessions; every replica can check any session.
-- expires_at slides forward as the session is used; seen_at limits those writes to one a minute.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
