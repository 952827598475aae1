-- The failures of an import's current page in a row: its next try waits as a fetch's does (5 s, 30 s, 2 min,
-- 10 min, then 30 min). Before, a page pretix kept failing was asked for again every 5 s, for as long as it failed.
-- Set back to 0 when a page is stored.
ALTER TABLE pretix_import ADD COLUMN failures INTEGER DEFAULT 0 NOT NULL;
