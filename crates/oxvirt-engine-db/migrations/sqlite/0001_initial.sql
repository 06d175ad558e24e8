-- oxvirt engine schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- same tables, columns, constraints and constraint names; only the types differ
-- (SQLite: INTEGER for booleans, 0/1; PostgreSQL: BOOLEAN, BIGINT, COLLATE "C").
--
-- Conventions the store relies on:
--  * ids are canonical lower-case UUID text; times are milliseconds since the epoch (UTC);
--    sizes are bytes; enum values are oVirt's wire spelling.
--  * every UNIQUE/PRIMARY KEY constraint is named <table>_<columns>_key and every foreign key
--    <table>_<column>_fkey, so PostgreSQL's constraint names and SQLite's "UNIQUE constraint
--    failed: <table>.<columns>" messages map to the same key in the store's error mapping.
--  * opaque blobs (host capabilities, step data, custom properties) are JSON text.

CREATE TABLE data_centers (
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    local       INTEGER NOT NULL CHECK (local IN (0, 1)),
    status      TEXT    NOT NULL,
    version_major INTEGER NOT NULL,
    version_minor INTEGER NOT NULL,
    CONSTRAINT data_centers_id_key PRIMARY KEY (id),
    CONSTRAINT data_centers_name_key UNIQUE (name)
);

CREATE TABLE clusters (
    id               TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    data_center_id   TEXT    NOT NULL,
    cpu_architecture TEXT    NOT NULL,
    cpu_type         TEXT,
    version_major    INTEGER NOT NULL,
    version_minor    INTEGER NOT NULL,
    memory_overcommit_percent INTEGER NOT NULL,
    CONSTRAINT clusters_id_key PRIMARY KEY (id),
    CONSTRAINT clusters_name_key UNIQUE (name),
    CONSTRAINT clusters_data_center_id_fkey FOREIGN KEY (data_center_id) REFERENCES data_centers (id)
);
CREATE INDEX clusters_data_center_id ON clusters (data_center_id);

CREATE TABLE hosts (
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    port        INTEGER NOT NULL,
    cluster_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    status_detail TEXT,
    certificate_fingerprint TEXT,
    capabilities TEXT,
    memory_total INTEGER NOT NULL,
    max_scheduling_memory INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    CONSTRAINT hosts_id_key PRIMARY KEY (id),
    CONSTRAINT hosts_name_key UNIQUE (name),
    CONSTRAINT hosts_address_key UNIQUE (address),
    CONSTRAINT hosts_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES clusters (id)
);
CREATE INDEX hosts_cluster_id ON hosts (cluster_id);

CREATE TABLE storage_domains (
    id            TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    domain_type   TEXT    NOT NULL CHECK (domain_type IN ('data', 'iso', 'export')),
    storage_type  TEXT    NOT NULL CHECK (storage_type IN ('localfs', 'posixfs', 'nfs')),
    path          TEXT,
    spec          TEXT,
    vfs_type      TEXT,
    mount_options TEXT,
    status        TEXT    NOT NULL,
    available     INTEGER NOT NULL,
    used          INTEGER NOT NULL,
    committed     INTEGER NOT NULL,
    master        INTEGER NOT NULL CHECK (master IN (0, 1)),
    warning_low_space_percent INTEGER NOT NULL,
    critical_space_action_blocker_gib INTEGER NOT NULL,
    created       INTEGER NOT NULL,
    CONSTRAINT storage_domains_id_key PRIMARY KEY (id),
    CONSTRAINT storage_domains_name_key UNIQUE (name)
);

-- A data domain is attached to at most one data center, ISO and export domains to several
-- (oVirt's rule): the app layer checks that; the table only records pairs.
CREATE TABLE storage_domain_attachments (
    data_center_id    TEXT NOT NULL,
    storage_domain_id TEXT NOT NULL,
    status            TEXT NOT NULL,
    CONSTRAINT storage_domain_attachments_data_center_id_storage_domain_id_key
        PRIMARY KEY (data_center_id, storage_domain_id),
    CONSTRAINT storage_domain_attachments_data_center_id_fkey
        FOREIGN KEY (data_center_id) REFERENCES data_centers (id),
    CONSTRAINT storage_domain_attachments_storage_domain_id_fkey
        FOREIGN KEY (storage_domain_id) REFERENCES storage_domains (id)
);
CREATE INDEX storage_domain_attachments_storage_domain_id ON storage_domain_attachments (storage_domain_id);

-- A data center's networks go with it (oVirt removes them together).
CREATE TABLE networks (
    id             TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    data_center_id TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    vm             INTEGER NOT NULL CHECK (vm IN (0, 1)),
    vlan_id        INTEGER,
    mtu            INTEGER NOT NULL,
    CONSTRAINT networks_id_key PRIMARY KEY (id),
    CONSTRAINT networks_data_center_id_name_key UNIQUE (data_center_id, name),
    CONSTRAINT networks_data_center_id_fkey
        FOREIGN KEY (data_center_id) REFERENCES data_centers (id) ON DELETE CASCADE
);

CREATE TABLE cluster_networks (
    cluster_id TEXT    NOT NULL,
    network_id TEXT    NOT NULL,
    required   INTEGER NOT NULL CHECK (required IN (0, 1)),
    CONSTRAINT cluster_networks_cluster_id_network_id_key PRIMARY KEY (cluster_id, network_id),
    CONSTRAINT cluster_networks_cluster_id_fkey
        FOREIGN KEY (cluster_id) REFERENCES clusters (id) ON DELETE CASCADE,
    CONSTRAINT cluster_networks_network_id_fkey
        FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE
);
CREATE INDEX cluster_networks_network_id ON cluster_networks (network_id);

CREATE TABLE vnic_profiles (
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    network_id  TEXT NOT NULL,
    description TEXT NOT NULL,
    CONSTRAINT vnic_profiles_id_key PRIMARY KEY (id),
    CONSTRAINT vnic_profiles_network_id_name_key UNIQUE (network_id, name),
    CONSTRAINT vnic_profiles_network_id_fkey
        FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE
);

-- Templates and VMs share the VM configuration columns (memory … custom_properties).
CREATE TABLE templates (
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    cluster_id  TEXT,
    memory            INTEGER NOT NULL,
    memory_guaranteed INTEGER NOT NULL,
    memory_max        INTEGER NOT NULL,
    cpu_sockets INTEGER NOT NULL,
    cpu_cores   INTEGER NOT NULL,
    cpu_threads INTEGER NOT NULL,
    os_type     TEXT    NOT NULL,
    vm_type     TEXT    NOT NULL,
    machine     TEXT,
    boot_devices TEXT   NOT NULL,
    kernel      TEXT,
    initrd      TEXT,
    cmdline     TEXT,
    display     TEXT,
    ha_enabled  INTEGER NOT NULL CHECK (ha_enabled IN (0, 1)),
    ha_priority INTEGER NOT NULL,
    custom_properties TEXT NOT NULL,
    status      TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    CONSTRAINT templates_id_key PRIMARY KEY (id),
    CONSTRAINT templates_name_key UNIQUE (name),
    CONSTRAINT templates_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES clusters (id)
);

CREATE TABLE vms (
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    cluster_id  TEXT    NOT NULL,
    template_id TEXT    NOT NULL,
    memory            INTEGER NOT NULL,
    memory_guaranteed INTEGER NOT NULL,
    memory_max        INTEGER NOT NULL,
    cpu_sockets INTEGER NOT NULL,
    cpu_cores   INTEGER NOT NULL,
    cpu_threads INTEGER NOT NULL,
    os_type     TEXT    NOT NULL,
    vm_type     TEXT    NOT NULL,
    machine     TEXT,
    boot_devices TEXT   NOT NULL,
    kernel      TEXT,
    initrd      TEXT,
    cmdline     TEXT,
    display     TEXT,
    ha_enabled  INTEGER NOT NULL CHECK (ha_enabled IN (0, 1)),
    ha_priority INTEGER NOT NULL,
    custom_properties TEXT NOT NULL,
    placement_affinity TEXT NOT NULL,
    placement_host_id  TEXT,
    delete_protected INTEGER NOT NULL CHECK (delete_protected IN (0, 1)),
    created     INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    host_id     TEXT,
    migrating_to_host_id TEXT,
    start_time  INTEGER,
    stop_time   INTEGER,
    stop_reason TEXT,
    CONSTRAINT vms_id_key PRIMARY KEY (id),
    CONSTRAINT vms_name_key UNIQUE (name),
    CONSTRAINT vms_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES clusters (id),
    CONSTRAINT vms_template_id_fkey FOREIGN KEY (template_id) REFERENCES templates (id),
    CONSTRAINT vms_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts (id),
    CONSTRAINT vms_migrating_to_host_id_fkey FOREIGN KEY (migrating_to_host_id) REFERENCES hosts (id),
    CONSTRAINT vms_placement_host_id_fkey FOREIGN KEY (placement_host_id) REFERENCES hosts (id)
);
CREATE INDEX vms_cluster_id ON vms (cluster_id);
CREATE INDEX vms_host_id ON vms (host_id);
CREATE INDEX vms_status ON vms (status);

CREATE TABLE disks (
    id                TEXT    NOT NULL,
    alias             TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    storage_domain_id TEXT    NOT NULL,
    format            TEXT    NOT NULL CHECK (format IN ('cow', 'raw')),
    sparse            INTEGER NOT NULL CHECK (sparse IN (0, 1)),
    provisioned_size  INTEGER NOT NULL,
    actual_size       INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    volume_id         TEXT    NOT NULL,
    shareable         INTEGER NOT NULL CHECK (shareable IN (0, 1)),
    wipe_after_delete INTEGER NOT NULL CHECK (wipe_after_delete IN (0, 1)),
    created           INTEGER NOT NULL,
    CONSTRAINT disks_id_key PRIMARY KEY (id),
    CONSTRAINT disks_storage_domain_id_fkey FOREIGN KEY (storage_domain_id) REFERENCES storage_domains (id)
);
CREATE INDEX disks_storage_domain_id ON disks (storage_domain_id);

-- A disk's volumes go with the disk; a volume that is another's parent cannot go first.
CREATE TABLE volumes (
    id          TEXT    NOT NULL,
    disk_id     TEXT    NOT NULL,
    parent_id   TEXT,
    format      TEXT    NOT NULL CHECK (format IN ('cow', 'raw')),
    status      TEXT    NOT NULL,
    actual_size INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    CONSTRAINT volumes_id_key PRIMARY KEY (id),
    CONSTRAINT volumes_disk_id_fkey FOREIGN KEY (disk_id) REFERENCES disks (id) ON DELETE CASCADE,
    CONSTRAINT volumes_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES volumes (id)
);
CREATE INDEX volumes_disk_id ON volumes (disk_id);
CREATE INDEX volumes_parent_id ON volumes (parent_id);

-- An attachment goes with its VM and with its disk.
CREATE TABLE disk_attachments (
    vm_id     TEXT    NOT NULL,
    disk_id   TEXT    NOT NULL,
    interface TEXT    NOT NULL,
    bootable  INTEGER NOT NULL CHECK (bootable IN (0, 1)),
    active    INTEGER NOT NULL CHECK (active IN (0, 1)),
    read_only INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    CONSTRAINT disk_attachments_vm_id_disk_id_key PRIMARY KEY (vm_id, disk_id),
    CONSTRAINT disk_attachments_vm_id_fkey FOREIGN KEY (vm_id) REFERENCES vms (id) ON DELETE CASCADE,
    CONSTRAINT disk_attachments_disk_id_fkey FOREIGN KEY (disk_id) REFERENCES disks (id) ON DELETE CASCADE
);
CREATE INDEX disk_attachments_disk_id ON disk_attachments (disk_id);
-- At most one bootable disk per VM.
CREATE UNIQUE INDEX disk_attachments_vm_id_key ON disk_attachments (vm_id) WHERE bootable = 1;

CREATE TABLE nics (
    id              TEXT    NOT NULL,
    vm_id           TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    mac             TEXT    NOT NULL,
    vnic_profile_id TEXT,
    interface       TEXT    NOT NULL,
    plugged         INTEGER NOT NULL CHECK (plugged IN (0, 1)),
    linked          INTEGER NOT NULL CHECK (linked IN (0, 1)),
    CONSTRAINT nics_id_key PRIMARY KEY (id),
    CONSTRAINT nics_vm_id_name_key UNIQUE (vm_id, name),
    CONSTRAINT nics_mac_key UNIQUE (mac),
    CONSTRAINT nics_vm_id_fkey FOREIGN KEY (vm_id) REFERENCES vms (id) ON DELETE CASCADE,
    CONSTRAINT nics_vnic_profile_id_fkey FOREIGN KEY (vnic_profile_id) REFERENCES vnic_profiles (id)
);
CREATE INDEX nics_vnic_profile_id ON nics (vnic_profile_id);

CREATE TABLE users (
    id            TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    domain        TEXT    NOT NULL,
    password_hash TEXT,
    email         TEXT,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created       INTEGER NOT NULL,
    CONSTRAINT users_id_key PRIMARY KEY (id),
    CONSTRAINT users_domain_name_key UNIQUE (domain, name)
);

-- The audit log keeps ids, not foreign keys: it outlives the objects it mentions.
-- AUTOINCREMENT: ids increase and are never reused, even after the newest rows are deleted.
CREATE TABLE events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    time              INTEGER NOT NULL,
    severity          TEXT    NOT NULL,
    code              INTEGER NOT NULL,
    description       TEXT    NOT NULL,
    vm_id             TEXT,
    host_id           TEXT,
    cluster_id        TEXT,
    data_center_id    TEXT,
    storage_domain_id TEXT,
    template_id       TEXT,
    user_id           TEXT,
    correlation_id    TEXT
);
CREATE INDEX events_time ON events (time);

CREATE TABLE jobs (
    id             TEXT    NOT NULL,
    action_type    TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    start_time     INTEGER NOT NULL,
    end_time       INTEGER,
    last_updated   INTEGER NOT NULL,
    auto_cleared   INTEGER NOT NULL CHECK (auto_cleared IN (0, 1)),
    external       INTEGER NOT NULL CHECK (external IN (0, 1)),
    owner_id       TEXT,
    correlation_id TEXT,
    CONSTRAINT jobs_id_key PRIMARY KEY (id),
    CONSTRAINT jobs_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE steps (
    id             TEXT    NOT NULL,
    job_id         TEXT    NOT NULL,
    parent_step_id TEXT,
    number         INTEGER NOT NULL,
    step_type      TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    start_time     INTEGER NOT NULL,
    end_time       INTEGER,
    progress       INTEGER CHECK (progress BETWEEN 0 AND 100),
    data           TEXT    NOT NULL,
    CONSTRAINT steps_id_key PRIMARY KEY (id),
    CONSTRAINT steps_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    CONSTRAINT steps_parent_step_id_fkey FOREIGN KEY (parent_step_id) REFERENCES steps (id) ON DELETE CASCADE
);
CREATE INDEX steps_job_id ON steps (job_id);
CREATE INDEX steps_parent_step_id ON steps (parent_step_id);

-- oVirt's Blank template: every installation has it, with the all-zeros id (1 GiB, 1 vCPU,
-- boot from disk, VNC), created 2008-04-01 as in oVirt.
INSERT INTO templates (id, name, description, cluster_id, memory, memory_guaranteed, memory_max,
    cpu_sockets, cpu_cores, cpu_threads, os_type, vm_type, machine, boot_devices, kernel, initrd, cmdline,
    display, ha_enabled, ha_priority, custom_properties, status, created)
VALUES ('00000000-0000-0000-0000-000000000000', 'Blank', 'Blank template', NULL,
    1073741824, 1073741824, 4294967296, 1, 1, 1, 'other', 'server', NULL, 'hd', NULL, NULL, NULL,
    'vnc', 0, 0, '{}', 'ok', 1207008000000);
