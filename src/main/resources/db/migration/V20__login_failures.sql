-- Failed logins counted by every instance on the database together (LoginThrottle, LoginFailureTable): before, each
-- instance counted its own, so behind a load balancer a guesser had as many tries as there were instances. One row
-- per key: the SHA-256 of "client:<address>" or of "user:<the admin's user name>" (other user names are counted in
-- each instance's memory only: a password typed into the name field must not reach the database, even hashed).
CREATE TABLE login_failure (
    key_hash        VARCHAR(64) PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX login_failure_last ON login_failure (last_failure_at);
