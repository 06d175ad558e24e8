-- External events (oVirt's POST /events): a monitoring system or a playbook writes into the
-- audit log under its own origin, with its own id for the event (custom_id); oVirt's own
-- events have neither. One origin cannot reuse a custom_id.
ALTER TABLE events ADD COLUMN origin TEXT;
ALTER TABLE events ADD COLUMN custom_id INTEGER;
CREATE UNIQUE INDEX events_origin_custom_id_key ON events (origin, custom_id);
