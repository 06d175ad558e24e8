//! The store: the engine's database, and the only code in the engine that speaks SQL.
//!
//! Why it is built this way:
//! - **Two backends, one code path.** Small installations and tests use SQLite (a file, WAL
//!   mode, nothing to run); larger ones PostgreSQL. The store talks to both through sqlx's
//!   `Any` driver with *runtime* queries (no `query!` macros, so building needs no database).
//!   Every statement is written once, with `$1, $2, …` placeholders, which both backends
//!   accept. The price is that values cross as the few types `Any` carries — text, 64-bit
//!   integers, booleans — so ids are canonical UUID text, times are milliseconds since the
//!   epoch, sizes are bytes and JSON is text, in both backends alike. (The alternative, an
//!   enum over two typed pools, would write every query and row mapping twice.)
//! - **Where the backends differ**, the difference lives in one place: the migrations (one
//!   directory per backend, `migrations/sqlite` and `migrations/postgres`, the same schema in
//!   spirit and the same constraint names), the per-connection SQLite settings (foreign keys
//!   on, busy timeout, `case_sensitive_like` so that `LIKE` behaves as in PostgreSQL), and how a
//!   transaction begins (`BEGIN IMMEDIATE` on SQLite, so that a transaction that reads and then
//!   writes waits for the write lock instead of failing with "database is locked").
//! - **Real columns, real constraints.** Everything that is searched, joined or filtered on is
//!   a column; names are `UNIQUE` where oVirt requires it (VM, host, cluster, data center,
//!   storage domain and template names globally; networks per data center; vNIC profiles per
//!   network; NICs per VM; users per domain; MACs globally); references are `FOREIGN KEY`s
//!   that either cascade (a VM's NICs and disk attachments, a job's steps, a disk's volumes, a
//!   data center's networks) or refuse (a cluster with hosts). Only opaque blobs (host
//!   capabilities, step data, custom properties) are JSON text. The database, not a
//!   check-then-write in Rust, decides conflicts; [`StoreError`] then names the object.
//! - **Typed, resource-first methods** (`vm_insert`, `vm_list`, `disk_attachment_delete`, …),
//!   the same on [`Store`] (each call on a pooled connection) and on [`StoreTx`] (one
//!   transaction, for multi-row operations such as a VM with its disk and attachment). The
//!   method list below is written once and generates both.
//! - **Migrations run at open**, idempotently (sqlx records applied versions and checksums).
//!   They seed nothing but the `Blank` template.

mod error;
mod filter;
mod sql;

mod affinity_labels;
mod assignments;
mod cluster_networks;
mod clusters;
mod data_centers;
mod disk_attachments;
mod disks;
mod events;
mod hosts;
mod jobs;
mod mac_pools;
mod networks;
mod nics;
mod storage_domains;
mod summary;
mod tags;
mod templates;
mod users;
mod vms;
mod vnic_profiles;
mod volumes;

pub use error::StoreError;
pub use filter::{
    ClusterFilter, DataCenterFilter, DiskFilter, EventFilter, HostFilter, JobFilter, NamePattern, NetworkFilter, Page,
    SortBy, StorageDomainFilter, TemplateFilter, UserFilter, VmFilter,
};

use crate::model::{
    AffinityLabel, Cluster, ClusterNetwork, DataCenter, Disk, DiskAttachment, DiskStatus, Event, EventSeq, Host, Job,
    JobStatus, MacAddress, MacPool, Network, NewEvent, Nic, Step, StorageDomain, StorageDomainAttachment,
    SummaryCounts, Tag, Template, Timestamp, User, Vm, VmRuntime, VnicProfile, VnicProfileId, Volume, VolumeStatus,
};
use error::Result;
use oxvirt_types::{
    AffinityLabelId, ByteSize, ClusterId, DataCenterId, DiskId, HostId, HostStatus, JobId, MacPoolId, NetworkId, NicId,
    StepId, StorageDomainId, StorageDomainStatus, TagId, TemplateId, UserId, VmId, VmStatus, VolumeId,
};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl {
                url: redact(url),
                reason: "expected sqlite:///path/to/engine.db or postgres://user@host/database".into(),
            })
        }
    }
}

/// The engine's database. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A transaction with the same methods as [`Store`]. Dropped without [`StoreTx::commit`], it
/// rolls back: nothing it wrote remains.
pub struct StoreTx {
    tx: sqlx::Transaction<'static, Any>,
}

impl std::fmt::Debug for StoreTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTx").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating when missing) the database at `url` and brings its schema up to date.
    ///
    /// - `sqlite:///var/lib/oxvirt/engine.db` (or `sqlite:relative.db`): the file is created if
    ///   missing (its directory must exist) and switched to WAL mode; every connection turns
    ///   foreign keys on and waits up to 10 s for a lock.
    /// - `postgres://user[:password]@host[:port]/database` (or with `?host=/socket/dir`): the
    ///   database must exist.
    pub async fn open(url: &str) -> Result<Store> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let connect_url = match backend {
            Backend::Sqlite => sqlite_create_if_missing(url),
            Backend::Postgres => url.to_owned(),
        };
        let unavailable = |source| StoreError::Unavailable { url: redact(url), source };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(
                            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA case_sensitive_like = ON;",
                        )
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(unavailable)?;

        if backend == Backend::Sqlite && !connect_url.contains(":memory:") && !connect_url.contains("mode=memory") {
            // WAL lets readers proceed while a writer commits; the mode is stored in the file.
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&pool)
                .await
                .map_err(StoreError::db("switching the database to WAL mode"))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::InvalidValue(format!(
                    "the SQLite database {} cannot use WAL mode (it reports '{mode}'); put it on a local file system",
                    redact(url)
                )));
            }
        }

        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|source| StoreError::Migration { url: redact(url), source })?;
        tracing::debug!(url = %redact(url), ?backend, "store open");
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<StoreTx> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(StoreError::db("starting a transaction"))?;
        Ok(StoreTx { tx })
    }

    /// Checks that the database answers a query (for the health endpoint).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *conn)
            .await
            .map(drop)
            .map_err(StoreError::db("checking that the database answers"))
    }

    /// SQLite's journal mode (`wal` once open); `None` on PostgreSQL.
    pub async fn sqlite_journal_mode(&self) -> Result<Option<String>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("reading the journal mode"))?;
        Ok(Some(mode))
    }

    /// The schema as the database reports it: every table (but the migration bookkeeping)
    /// with its column names. The two backends must report the same (a test compares them).
    pub async fn schema_describe(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        use sqlx::Row as _;
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
                 ORDER BY m.name, p.cid"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
                 ORDER BY table_name, ordinal_position"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(StoreError::db("reading the schema"))?;
        let mut tables = std::collections::BTreeMap::<String, Vec<String>>::new();
        for row in rows {
            let table: String = row.try_get(0).map_err(StoreError::db("reading the schema"))?;
            let column: String = row.try_get(1).map_err(StoreError::db("reading the schema"))?;
            tables.entry(table).or_default().push(column);
        }
        Ok(tables)
    }

    /// Closes every connection (waits for those in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<Any>> {
        self.pool.acquire().await.map_err(StoreError::db("taking a database connection"))
    }
}

impl StoreTx {
    /// Makes everything written in the transaction durable.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(StoreError::db("committing a transaction"))
    }

    /// Discards everything written in the transaction (as dropping it does).
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await.map_err(StoreError::db("rolling back a transaction"))
    }
}

/// `mode=rwc` (create if missing) unless the URL chooses a mode.
fn sqlite_create_if_missing(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Writes each method twice: on [`Store`] (a pooled connection per call) and on [`StoreTx`]
/// (inside the transaction), both calling the same function of a resource module.
macro_rules! store_methods {
    ($( $(#[$doc:meta])* $module:ident :: $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    let mut conn = self.acquire().await?;
                    $module::$name(&mut conn, $($arg),*).await
                }
            )*
        }

        impl StoreTx {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$ret> {
                    $module::$name(&mut self.tx, $($arg),*).await
                }
            )*
        }
    };
}

store_methods! {
    // Data centers
    /// Adds a data center; its name must be unused.
    data_centers::data_center_insert(dc: &DataCenter) -> ();
    data_centers::data_center_get(id: DataCenterId) -> DataCenter;
    data_centers::data_center_get_by_name(name: &str) -> DataCenter;
    data_centers::data_center_list(filter: &DataCenterFilter) -> Vec<DataCenter>;
    /// Replaces the data center's columns.
    data_centers::data_center_update(dc: &DataCenter) -> ();
    /// Removes a data center with its networks; refused while clusters or storage domains are in it.
    data_centers::data_center_delete(id: DataCenterId) -> ();

    // Clusters
    /// Adds a cluster; its name must be unused and its data center must exist.
    clusters::cluster_insert(cluster: &Cluster) -> ();
    clusters::cluster_get(id: ClusterId) -> Cluster;
    clusters::cluster_get_by_name(name: &str) -> Cluster;
    clusters::cluster_list(filter: &ClusterFilter) -> Vec<Cluster>;
    clusters::cluster_update(cluster: &Cluster) -> ();
    /// Removes a cluster; refused while hosts, VMs or templates are in it.
    clusters::cluster_delete(id: ClusterId) -> ();
    /// Attaches a network (of the cluster's data center) to a cluster.
    cluster_networks::cluster_network_insert(cluster_network: &ClusterNetwork) -> ();
    cluster_networks::cluster_network_list(cluster_id: ClusterId) -> Vec<ClusterNetwork>;
    cluster_networks::cluster_network_delete(cluster_id: ClusterId, network_id: NetworkId) -> ();

    // Hosts
    /// Adds a host; its name and address must be unused and its cluster must exist.
    hosts::host_insert(host: &Host) -> ();
    hosts::host_get(id: HostId) -> Host;
    hosts::host_get_by_name(name: &str) -> Host;
    hosts::host_list(filter: &HostFilter) -> Vec<Host>;
    hosts::host_update(host: &Host) -> ();
    /// Writes what an administrator sets of a host (name, description, comment, cluster) only
    /// while its status is `from` (compare-and-set); whether it was written.
    hosts::host_config_update_from(host: &Host, from: HostStatus) -> bool;
    /// Sets a host's status and its explanation.
    hosts::host_status_set(id: HostId, status: HostStatus, detail: Option<&str>) -> ();
    /// Moves a host's status to `to` only from one of `from` (compare-and-set); whether it moved.
    hosts::host_status_move(id: HostId, from: &[HostStatus], to: HostStatus, detail: Option<&str>) -> bool;
    /// Records a host's capabilities (JSON, as the agent reported them) and physical memory.
    hosts::host_capabilities_set(id: HostId, capabilities: &serde_json::Value, memory_total: ByteSize) -> ();
    /// Removes a host; refused while VMs run on it, migrate to it or are placed on it.
    hosts::host_delete(id: HostId) -> ();

    // Storage domains
    /// Adds a storage domain; its name must be unused.
    storage_domains::storage_domain_insert(sd: &StorageDomain) -> ();
    storage_domains::storage_domain_get(id: StorageDomainId) -> StorageDomain;
    storage_domains::storage_domain_get_by_name(name: &str) -> StorageDomain;
    storage_domains::storage_domain_list(filter: &StorageDomainFilter) -> Vec<StorageDomain>;
    storage_domains::storage_domain_update(sd: &StorageDomain) -> ();
    storage_domains::storage_domain_status_set(id: StorageDomainId, status: StorageDomainStatus) -> ();
    /// Records space figures reported by a host (free, used); `committed` is always summed.
    storage_domains::storage_domain_space_set(id: StorageDomainId, available: ByteSize, used: ByteSize) -> ();
    /// Removes a storage domain; refused while it holds disks or is attached to a data center.
    storage_domains::storage_domain_delete(id: StorageDomainId) -> ();
    /// Attaches a storage domain to a data center.
    storage_domains::storage_domain_attachment_insert(attachment: &StorageDomainAttachment) -> ();
    storage_domains::storage_domain_attachment_get(
        data_center_id: DataCenterId, storage_domain_id: StorageDomainId
    ) -> StorageDomainAttachment;
    /// Attachments of a data center, of a storage domain, or all.
    storage_domains::storage_domain_attachment_list(
        data_center_id: Option<DataCenterId>, storage_domain_id: Option<StorageDomainId>
    ) -> Vec<StorageDomainAttachment>;
    /// Sets the attachment's status (the domain's status in that data center).
    storage_domains::storage_domain_attachment_update(attachment: &StorageDomainAttachment) -> ();
    /// Detaches a storage domain from a data center.
    storage_domains::storage_domain_attachment_delete(
        data_center_id: DataCenterId, storage_domain_id: StorageDomainId
    ) -> ();

    // Disks and volumes
    /// Adds a disk; its storage domain must exist.
    disks::disk_insert(disk: &Disk) -> ();
    disks::disk_get(id: DiskId) -> Disk;
    disks::disk_list(filter: &DiskFilter) -> Vec<Disk>;
    disks::disk_update(disk: &Disk) -> ();
    /// Writes a disk only while its status is `from` (compare-and-set); whether it was written.
    disks::disk_update_from(disk: &Disk, from: DiskStatus) -> bool;
    disks::disk_status_set(id: DiskId, status: DiskStatus) -> ();
    /// Moves a disk's status to `to` only from one of `from` (compare-and-set); whether it moved.
    disks::disk_status_move(id: DiskId, from: &[DiskStatus], to: DiskStatus) -> bool;
    /// Removes a disk with its volumes and attachments; refused while other disks are based on it.
    disks::disk_delete(id: DiskId) -> ();
    /// Records a volume of a disk's chain.
    volumes::volume_insert(volume: &Volume) -> ();
    volumes::volume_get(id: VolumeId) -> Volume;
    /// A disk's volumes, oldest first.
    volumes::volume_list_for_disk(disk_id: DiskId) -> Vec<Volume>;
    volumes::volume_update(id: VolumeId, status: VolumeStatus, actual_size: ByteSize) -> ();
    /// Removes a volume; refused while another volume is based on it.
    volumes::volume_delete(id: VolumeId) -> ();

    // MAC pools
    /// Adds a MAC pool; its name must be unused.
    mac_pools::mac_pool_insert(pool: &MacPool) -> ();
    mac_pools::mac_pool_get(id: MacPoolId) -> MacPool;
    mac_pools::mac_pool_get_by_name(name: &str) -> MacPool;
    mac_pools::mac_pool_list() -> Vec<MacPool>;
    mac_pools::mac_pool_update(pool: &MacPool) -> ();
    /// Removes a MAC pool; refused for `Default` and while clusters use it.
    mac_pools::mac_pool_delete(id: MacPoolId) -> ();

    // Networks, vNIC profiles, NICs
    /// Adds a logical network; its name must be unused in its data center.
    networks::network_insert(network: &Network) -> ();
    networks::network_get(id: NetworkId) -> Network;
    networks::network_get_by_name(data_center_id: DataCenterId, name: &str) -> Network;
    networks::network_list(filter: &NetworkFilter) -> Vec<Network>;
    networks::network_update(network: &Network) -> ();
    /// Removes a network with its vNIC profiles; refused while VM NICs use them.
    networks::network_delete(id: NetworkId) -> ();
    /// Adds a vNIC profile; its name must be unused on its network.
    affinity_labels::affinity_label_insert(label: &AffinityLabel) -> ();
    affinity_labels::affinity_label_get(id: AffinityLabelId) -> AffinityLabel;
    affinity_labels::affinity_label_list() -> Vec<AffinityLabel>;
    affinity_labels::affinity_label_update(label: &AffinityLabel) -> ();
    /// Removes a label and its assignments.
    affinity_labels::affinity_label_delete(id: AffinityLabelId) -> ();
    affinity_labels::affinity_label_vms(label: AffinityLabelId) -> Vec<VmId>;
    affinity_labels::affinity_label_hosts(label: AffinityLabelId) -> Vec<HostId>;
    /// Puts a label on a VM; `false` when it already had it.
    affinity_labels::vm_affinity_label_list(vm: VmId) -> Vec<AffinityLabel>;
    affinity_labels::host_affinity_label_list(host: HostId) -> Vec<AffinityLabel>;
    affinity_labels::vm_affinity_label_add(vm: VmId, label: AffinityLabelId) -> bool;
    affinity_labels::vm_affinity_label_remove(vm: VmId, label: AffinityLabelId) -> bool;
    affinity_labels::host_affinity_label_add(host: HostId, label: AffinityLabelId) -> bool;
    affinity_labels::host_affinity_label_remove(host: HostId, label: AffinityLabelId) -> bool;
    tags::tag_insert(tag: &Tag) -> ();
    tags::tag_get(id: TagId) -> Tag;
    tags::tag_get_by_name(name: &str) -> Tag;
    tags::tag_list() -> Vec<Tag>;
    tags::tag_update(tag: &Tag) -> ();
    /// Removes a tag with its subtags and their assignments.
    tags::tag_delete(id: TagId) -> ();
    tags::vm_tag_list(vm: VmId) -> Vec<Tag>;
    /// Assigns a tag to a VM; `false` when it already was.
    tags::vm_tag_add(vm: VmId, tag: TagId) -> bool;
    /// Unassigns a tag from a VM; `false` when it was not assigned.
    tags::vm_tag_remove(vm: VmId, tag: TagId) -> bool;
    tags::host_tag_list(host: HostId) -> Vec<Tag>;
    tags::host_tag_add(host: HostId, tag: TagId) -> bool;
    tags::host_tag_remove(host: HostId, tag: TagId) -> bool;

    vnic_profiles::vnic_profile_insert(profile: &VnicProfile) -> ();
    vnic_profiles::vnic_profile_get(id: VnicProfileId) -> VnicProfile;
    /// The profiles of one network, or all.
    vnic_profiles::vnic_profile_list(network_id: Option<NetworkId>) -> Vec<VnicProfile>;
    vnic_profiles::vnic_profile_update(profile: &VnicProfile) -> ();
    /// Removes a vNIC profile; refused while NICs use it.
    vnic_profiles::vnic_profile_delete(id: VnicProfileId) -> ();
    /// Adds a NIC; its name must be unused on its VM and its MAC everywhere.
    nics::nic_insert(nic: &Nic) -> ();
    nics::nic_get(id: NicId) -> Nic;
    nics::nic_list_for_vm(vm_id: VmId) -> Vec<Nic>;
    nics::nic_update(nic: &Nic) -> ();
    nics::nic_delete(id: NicId) -> ();
    /// The lowest MAC address of the pool no NIC uses (not reserved: a racing `nic_insert`
    /// of the same address fails with a conflict; retry).
    nics::mac_allocate(pool: &MacPool) -> MacAddress;

    // Templates, VMs, disk attachments
    /// Adds a template; its name must be unused.
    templates::template_insert(template: &Template) -> ();
    templates::template_get(id: TemplateId) -> Template;
    templates::template_get_by_name(name: &str) -> Template;
    /// Templates; with a cluster, those of the cluster plus the cluster-less ones (`Blank`).
    templates::template_list(filter: &TemplateFilter) -> Vec<Template>;
    templates::template_update(template: &Template) -> ();
    /// Removes a template; refused for `Blank` and while VMs are based on it.
    templates::template_delete(id: TemplateId) -> ();
    /// Adds a VM; its name must be unused, its cluster and template must exist.
    vms::vm_insert(vm: &Vm) -> ();
    vms::vm_get(id: VmId) -> Vm;
    vms::vm_get_by_name(name: &str) -> Vm;
    vms::vm_list(filter: &VmFilter) -> Vec<Vm>;
    /// Replaces every column of the VM.
    vms::vm_update(vm: &Vm) -> ();
    /// Writes the VM's configuration (not its runtime) if its `config_version` is unchanged,
    /// bumping it (compare-and-set); whether it was written.
    vms::vm_config_update(vm: &Vm) -> bool;
    /// Sets what the VM is doing, leaving its configuration alone. With `expected` statuses,
    /// only when the VM is in one of them; returns whether it changed.
    vms::vm_runtime_set(id: VmId, runtime: &VmRuntime, expected: Option<&[VmStatus]>) -> bool;
    /// Guaranteed memory held on each host by VMs that are not down (one query).
    vms::host_memory_committed() -> Vec<(HostId, ByteSize)>;
    /// Removes a VM with its NICs and disk attachments (not its disks).
    vms::vm_delete(id: VmId) -> ();
    /// Removes a VM only while it is in `status` (compare-and-set); whether it was removed.
    vms::vm_delete_in_status(id: VmId, status: VmStatus) -> bool;
    /// Attaches a disk to a VM; at most one attachment per VM is bootable.
    disk_attachments::disk_attachment_insert(attachment: &DiskAttachment) -> ();
    disk_attachments::disk_attachment_get(vm_id: VmId, disk_id: DiskId) -> DiskAttachment;
    /// A VM's attachments, the bootable one first.
    disk_attachments::disk_attachment_list_for_vm(vm_id: VmId) -> Vec<DiskAttachment>;
    /// Where a disk is attached.
    disk_attachments::disk_attachment_list_for_disk(disk_id: DiskId) -> Vec<DiskAttachment>;
    disk_attachments::disk_attachment_update(attachment: &DiskAttachment) -> ();
    disk_attachments::disk_attachment_delete(vm_id: VmId, disk_id: DiskId) -> ();

    // Users
    /// Adds a user; `name@domain` must be unused.
    users::user_insert(user: &User) -> ();
    users::user_get(id: UserId) -> User;
    /// The user `name@domain`.
    users::user_get_by_name(domain: &str, name: &str) -> User;
    users::user_list(filter: &UserFilter) -> Vec<User>;
    users::user_update(user: &User) -> ();
    users::user_delete(id: UserId) -> ();

    // Events
    /// Appends an event to the audit log; the database numbers it (increasing). On PostgreSQL
    /// a number is taken at insert and seen at commit: write events in short transactions (or
    /// none), so that a reader following `from=` does not pass one that is still committing.
    events::event_insert(event: &NewEvent) -> Event;
    events::event_get(id: EventSeq) -> Event;
    events::event_delete(id: EventSeq) -> ();
    events::event_list(filter: &EventFilter) -> Vec<Event>;
    /// Up to `max` events numbered above `from` (all when `None`), oldest first.
    events::event_list_since(from: Option<EventSeq>, max: u32) -> Vec<Event>;
    /// Removes events older than `before`; returns how many.
    events::event_delete_before(before: Timestamp) -> u64;

    // Jobs and steps
    jobs::job_insert(job: &Job) -> ();
    jobs::job_get(id: JobId) -> Job;
    jobs::job_list(filter: &JobFilter) -> Vec<Job>;
    jobs::job_update(job: &Job) -> ();
    /// Removes a job with its steps.
    jobs::job_delete(id: JobId) -> ();
    /// Takes a started job's lease for `owner` when it is free, expired (before `now`) or held by
    /// an earlier run of the same engine (`engine_prefix`); whether it was taken.
    jobs::job_lease_take(
        id: JobId, owner: &str, engine_prefix: &str, now: Timestamp, until: Timestamp
    ) -> bool;
    /// Extends `owner`'s lease on started job `id` to `until`; whether it holds it.
    jobs::job_lease_extend(id: JobId, owner: &str, until: Timestamp) -> bool;
    /// Ends a started job `owner` holds (compare-and-set), releasing the lease; whether it ended.
    jobs::job_end(id: JobId, owner: &str, status: JobStatus, end: Timestamp) -> bool;
    /// Jobs still `started`, oldest first: what to resume or roll back after a restart.
    jobs::jobs_unfinished() -> Vec<Job>;
    /// Removes auto-cleared jobs that ended before `before`; returns how many.
    jobs::job_delete_cleared_before(before: Timestamp) -> u64;
    /// Ends a started external job and its running steps; `false` when it was not started.
    jobs::job_external_end(id: JobId, status: JobStatus, end: Timestamp) -> bool;
    /// Ends a started step; `false` when it was not started.
    jobs::step_end(id: StepId, status: JobStatus, end: Timestamp) -> bool;
    jobs::step_insert(step: &Step) -> ();
    jobs::step_get(id: StepId) -> Step;
    /// A job's steps in order.
    jobs::step_list_for_job(job_id: JobId) -> Vec<Step>;
    jobs::step_update(step: &Step) -> ();

    /// Object counts for the API's summary.
    summary::summary_counts() -> SummaryCounts;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_passwords_hidden() {
        assert_eq!(Backend::from_url("sqlite:///var/lib/oxvirt/engine.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgresql://u@h/db").ok(), Some(Backend::Postgres));
        let err = Backend::from_url("mysql://root:secret@h/db").expect_err("unsupported");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(redact("postgres://u:secret@h:5/db?x=1"), "postgres://u:***@h:5/db?x=1");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(sqlite_create_if_missing("sqlite:///a/b.db"), "sqlite:///a/b.db?mode=rwc");
        assert_eq!(sqlite_create_if_missing("sqlite:///a/b.db?mode=ro"), "sqlite:///a/b.db?mode=ro");
    }
}
