-- The host a storage domain was created through. A localfs domain is a directory on that
-- host and reachable from it only; for shared domains it is the host that formatted it.
-- Forgetting the host (SET NULL) leaves the domain, which then has to be reached anew.
ALTER TABLE storage_domains ADD COLUMN host_id TEXT
    CONSTRAINT storage_domains_host_id_fkey REFERENCES hosts (id) ON DELETE SET NULL;
