-- A save through the editor reaches every instance on the database: the change keeps the text it saved, the versions
-- it replaced and made (the editor's hashes), and which process made it. Each other instance whose file is still the
-- replaced version writes the new text into its own mappings/ (MappingEditor.applyEditsOfOthers); rows of earlier
-- versions have none of these and are only history. The signature is an HMAC with the key derived from the admin
-- credentials (UiSessions): a row written by someone who can write to the database but does not know them is not
-- applied anywhere.
ALTER TABLE mapping_change ADD COLUMN base_version VARCHAR(32);
ALTER TABLE mapping_change ADD COLUMN new_version VARCHAR(32);
ALTER TABLE mapping_change ADD COLUMN content ${text};
ALTER TABLE mapping_change ADD COLUMN instance_id VARCHAR(200);
ALTER TABLE mapping_change ADD COLUMN incarnation VARCHAR(64);
ALTER TABLE mapping_change ADD COLUMN signature VARCHAR(64);
CREATE INDEX mapping_change_changed ON mapping_change (changed_at);

-- One row per provider whose file was saved through the editor: a save locks it (SELECT … FOR UPDATE) while it checks
-- that no other instance saved from the same version a moment ago, writes the file and records the change.
CREATE TABLE mapping_lock (
    provider    VARCHAR(100) PRIMARY KEY
);
