-- Claims read the queue event by event (fairness across events) through this index: the events with
-- waiting rows are found by skipping through it, then each event's first due rows are read in order.
CREATE INDEX sync_queue_event_due ON sync_queue (slot, event_slug, not_before, id);
