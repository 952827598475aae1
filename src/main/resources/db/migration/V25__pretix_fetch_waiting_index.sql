-- Fetches that wait (parked IS NULL), by due time: the webhook's count of waiting fetches
-- (ordersync.pretix.max-waiting-fetches) and the fetch claim read them from this index instead of reading past
-- the parked rows (a flood of made-up order codes leaves them parked for seven days).
CREATE INDEX pretix_fetch_waiting ON pretix_fetch (parked, not_before);
