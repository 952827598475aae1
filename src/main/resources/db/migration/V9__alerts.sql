-- Issue 17, point 6: operational alerts. One row per alert key (e.g. parked:crm): when it was last sent.
-- An instance sends an alert only after claiming its key (an update that needs sent_at older than the
-- minimum interval, or the first insert), so several instances send it once, and a flood is cut to one
-- alert per key and interval.
CREATE TABLE alert_sent (
    alert_key  VARCHAR(300) PRIMARY KEY,
    sent_at    TIMESTAMP WITH TIME ZONE NOT NULL
);
