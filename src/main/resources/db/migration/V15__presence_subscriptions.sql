-- What each instance's providers are queued for (triggers and filter, JSON): an instance without a provider's file
-- queues the events it accepts for that provider as the instance that runs it says, instead of not at all.
-- Null from instances of an earlier version, which announce only the provider's name.
ALTER TABLE provider_presence ADD COLUMN subscription ${document};
