-- oVirt's `console.enabled` of VMs and templates: whether the guest has a serial console.
-- oxvirt's VMs have always had one, so existing rows keep it.
ALTER TABLE vms ADD COLUMN console_enabled INTEGER NOT NULL DEFAULT 1 CHECK (console_enabled IN (0, 1));
ALTER TABLE templates ADD COLUMN console_enabled INTEGER NOT NULL DEFAULT 1 CHECK (console_enabled IN (0, 1));
