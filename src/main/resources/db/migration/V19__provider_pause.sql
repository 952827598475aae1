-- A target's Retry-After pauses its provider on every instance, not only on the one that got the answer: the instance
-- that got it writes the end of the pause here with the time the answer came (both the database's time), the others
-- read it every second and send nothing to the target before it. A manual retry writes lifted_at: a pause counts only
-- if its answer came after the last lift, so a pause another instance had not written yet does not undo the retry.
-- On an embedded H2 the row makes a pause outlast a restart. ProviderGate, PauseTable.
CREATE TABLE provider_pause (
    provider     VARCHAR(100) PRIMARY KEY,
    paused_until TIMESTAMP WITH TIME ZONE NOT NULL,
    paused_at    TIMESTAMP WITH TIME ZONE NOT NULL,
    lifted_at    TIMESTAMP WITH TIME ZONE,
    instance_id  VARCHAR(200) NOT NULL
);
