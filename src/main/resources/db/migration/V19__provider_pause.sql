-- A target's Retry-After pauses its provider on every instance, not only on the one that got the answer: each instance
-- writes its own latest pause here (its end and the time its answer came, both the database's time), all of them read
-- the pauses every second and send nothing to the target before the latest end that counts. A manual retry writes the
-- time of the lift into provider_lift: a pause counts only if its answer came after the provider's last lift, so a
-- pause another instance got before the retry and writes after it does not undo the retry, and one it got after the
-- retry is not lifted by it. On an embedded H2 the rows make a pause outlast a restart. ProviderGate, PauseTable.
CREATE TABLE provider_pause (
    provider     VARCHAR(100) NOT NULL,
    instance_id  VARCHAR(200) NOT NULL,
    paused_until TIMESTAMP WITH TIME ZONE NOT NULL,
    paused_at    TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (provider, instance_id)
);
CREATE TABLE provider_lift (
    provider  VARCHAR(100) PRIMARY KEY,
    lifted_at TIMESTAMP WITH TIME ZONE NOT NULL
);
