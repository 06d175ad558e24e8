-- Name searches (`search=name=myvm`, oVirt's default: case-insensitive) compare
-- LOWER(name) = LOWER($1) when the pattern has no wildcard, and bound a prefix pattern
-- (`web*`) by a range of LOWER(name); names are COLLATE "C", so these plain indexes answer
-- both without reading every row of the large collections.
CREATE INDEX vms_name_lower ON vms (LOWER(name));
CREATE INDEX hosts_name_lower ON hosts (LOWER(name));
CREATE INDEX templates_name_lower ON templates (LOWER(name));
CREATE INDEX disks_alias_lower ON disks (LOWER(alias));
