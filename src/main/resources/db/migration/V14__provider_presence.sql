-- Which instance runs which provider, until when (refreshed every few seconds by each instance). An instance that
-- finds queued rows of a provider it cannot run (no mapping file here, or a broken one) drops or parks them only
-- when no live instance runs that provider: during a rolling deploy, an instance that has not yet got a new
-- provider's file must not drop the rows an instance that has it queued.
CREATE TABLE provider_presence (
    instance_id VARCHAR(200) NOT NULL,
    provider    VARCHAR(100) NOT NULL,
    seen_until  TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (instance_id, provider)
);
