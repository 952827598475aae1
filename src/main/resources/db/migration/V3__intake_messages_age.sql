-- The reaper deletes message ids older than seven days every few seconds: find them by age, not by scan.
CREATE INDEX intake_message_age ON intake_message (received_at);
