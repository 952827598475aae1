-- The dispatcher finds the providers with waiting rows by skipping through this index (rows of a
-- provider whose file is broken or gone are parked or dropped), without scanning the queue.
CREATE INDEX sync_queue_provider ON sync_queue (slot, provider);
