-- One running import per event: a second POST of the same event (a double click, a retried command) answers with
-- the running import (409) instead of starting another that reads every page again. running_event holds the slug
-- while the import runs and is set to NULL by the step that ends it (done, failed, canceled); NULLs do not collide
-- in a UNIQUE constraint (H2 and PostgreSQL), so any number of finished imports of an event are kept.
ALTER TABLE pretix_import ADD COLUMN running_event VARCHAR(200);
-- imports started twice before this version: the newest of an event holds the slot, the older run on without it
UPDATE pretix_import SET running_event = event_slug WHERE state = 'running'
    AND id IN (SELECT MAX(id) FROM pretix_import WHERE state = 'running' GROUP BY event_slug);
ALTER TABLE pretix_import ADD CONSTRAINT pretix_import_one_running UNIQUE (running_event);
-- the retention purge deletes finished imports by their last change
CREATE INDEX pretix_import_updated ON pretix_import (updated_at);
