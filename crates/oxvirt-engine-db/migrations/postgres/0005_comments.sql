-- oVirt's `Identified` gives every object a name, a description and a comment, and its
-- clients (the SDK's examples, Ansible's ovirt.ovirt modules) send them: every named object
-- keeps its comment (rendered as an empty string when none was given), and hosts and VM NICs,
-- which had no description, get one.
ALTER TABLE data_centers ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE clusters ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE storage_domains ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE networks ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE vnic_profiles ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE disks ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE nics ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE nics ADD COLUMN comment TEXT NOT NULL DEFAULT '';
