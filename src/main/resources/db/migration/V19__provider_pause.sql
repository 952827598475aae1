-- A target's Retry-After pauses its provider on every instance, not only on the one that got the answer: the instance
-- that got it writes the end of the pause here (the database's time), the others read it every second and send
-- nothing to the target before it. A manual retry deletes the row. On an embedded H2 the row makes a pause outlast a
-- restart. ProviderGate, PauseTable.
CREATE TABLE provider_pause (
    provider     VARCHAR(100) PRIMARY KEY,
    paused_until TIMESTAMP WITH TIME ZONE NOT NULL,
    instance_id  VARCHAR(200) NOT NULL
);
