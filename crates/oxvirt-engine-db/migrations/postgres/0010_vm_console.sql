-- oVirt's `console.enabled` of VMs and templates: whether the guest has a serial console.
-- oxvirt's VMs have always had one, so existing rows keep it.
ALTER TABLE vms ADD COLUMN console_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE templates ADD COLUMN console_enabled BOOLEAN NOT NULL DEFAULT TRUE;
