-- MAC pools: each cluster names the pool its VMs' NICs take their MAC addresses from
-- (oVirt's `/macpools` and `cluster.mac_pool`). `ranges` is a JSON list of inclusive
-- {"from", "to"} ranges. The built-in `Default` pool (fixed id) is every existing cluster's.
CREATE TABLE mac_pools (
    id          TEXT NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    ranges      TEXT NOT NULL,
    CONSTRAINT mac_pools_id_key PRIMARY KEY (id),
    CONSTRAINT mac_pools_name_key UNIQUE (name)
);
INSERT INTO mac_pools (id, name, description, ranges)
    VALUES ('5663f000-0000-4000-8000-000000000001', 'Default', 'Default MAC pool',
            '[{"from":"56:6f:00:00:00:00","to":"56:6f:00:00:ff:ff"}]');
ALTER TABLE clusters ADD COLUMN mac_pool_id TEXT NOT NULL DEFAULT '5663f000-0000-4000-8000-000000000001';
ALTER TABLE clusters ADD CONSTRAINT clusters_mac_pool_id_fkey FOREIGN KEY (mac_pool_id) REFERENCES mac_pools (id);
CREATE INDEX clusters_mac_pool_id ON clusters (mac_pool_id);
