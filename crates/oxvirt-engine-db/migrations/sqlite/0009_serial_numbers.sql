-- oVirt's `serial_number` of VMs and templates: the SMBIOS serial number a guest reads. No
-- policy (NULL) is the default, the host's id; `serial_number` holds the custom value.
ALTER TABLE vms ADD COLUMN serial_number_policy TEXT;
ALTER TABLE vms ADD COLUMN serial_number TEXT;
ALTER TABLE templates ADD COLUMN serial_number_policy TEXT;
ALTER TABLE templates ADD COLUMN serial_number TEXT;
