-- UI sessions in the database, so every instance on it knows them: a login on one instance is good on the others
-- (no sticky sessions behind a load balancer), a logout on one ends the session on all, and a restart keeps them.
-- Only a hash of the session's id is stored: the rows give no cookie that works. The cookie also carries a MAC over
-- the id with a key derived from the admin credentials and from the secret below, so a session ends when the
-- credentials change, and a row written into this table by someone who can write to the database is no login.
CREATE TABLE ui_session (
    id_hash     VARCHAR(64) PRIMARY KEY,
    actor       VARCHAR(200) NOT NULL,
    created_at  TIMESTAMP WITH TIME ZONE NOT NULL,
    expires_at  TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX ui_session_expires ON ui_session (expires_at);

-- Secrets the instances on one database share, created by the first instance that needs one.
CREATE TABLE shared_secret (
    name        VARCHAR(100) PRIMARY KEY,
    secret      VARCHAR(200) NOT NULL,
    created_at  TIMESTAMP WITH TIME ZONE NOT NULL
);
