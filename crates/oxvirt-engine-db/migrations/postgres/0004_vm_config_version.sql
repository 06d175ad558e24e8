-- A VM's configuration version: every configuration write is compare-and-set on it and bumps
-- it, so two concurrent updates cannot silently undo each other (last writer wins), and a
-- configuration write never touches the runtime columns the monitor owns.
ALTER TABLE vms ADD COLUMN config_version BIGINT NOT NULL DEFAULT 0;
