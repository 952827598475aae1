-- Issue 18: every index on sync_queue that contains slot is written three times per sync (the row's insert,
-- the claim that moves it to 'inflight', its delete), and on H2 each write copies a B-tree path.
-- sync_queue_due (slot, not_before): no statement reads it since claims go event by event through
-- sync_queue_event_due (slot, event_slug, not_before, id), which serves every "due" question.
-- sync_queue_lease (slot, lease_until): only the lease expiry check read it, and that reads the in-flight rows
-- (at most the workers of every instance) through sync_queue_provider (slot, provider) as cheaply.
DROP INDEX sync_queue_due;
DROP INDEX sync_queue_lease;
