//! The store against both of its backends.
//!
//! Every test body below runs twice: on SQLite (a fresh file in a temporary directory) and on
//! PostgreSQL (a private server from `oxvirt_testkit::postgres`, a fresh database). The
//! `on_both_backends!` list at the end makes `<test>::sqlite` and `<test>::postgres`.

use oxvirt_engine_db::model::*;
use oxvirt_engine_db::store::*;
use oxvirt_testkit::postgres::TestPostgres;
use oxvirt_types::*;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

struct TestDb {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<TestPostgres>,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("engine.db").display());
        let store = Store::open(&url).await.expect("open sqlite store");
        Self { store, url, _dir: Some(dir), pg: None }
    }

    async fn postgres() -> Self {
        let pg = tokio::task::spawn_blocking(TestPostgres::start).await.expect("join").expect("start test PostgreSQL");
        eprintln!("test PostgreSQL started in {:?}", pg.startup_time());
        let url = pg.create_database().expect("create database");
        let store = Store::open(&url).await.expect("open postgres store");
        Self { store, url, _dir: None, pg: Some(pg) }
    }

    /// A second, independent store on the same database (as after an engine restart).
    async fn reopen(&self) -> Store {
        Store::open(&self.url).await.expect("reopen store")
    }
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$test(&db).await;
                db.store.close().await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = super::TestDb::postgres().await;
                super::$test(&db).await;
                db.store.close().await;
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn data_center(name: &str) -> DataCenter {
    DataCenter {
        id: DataCenterId::new_random(),
        name: name.into(),
        description: format!("{name} data center"),
        comment: format!("{name}'s comment"),
        local: false,
        status: DataCenterStatus::Uninitialized,
        version: Version::CURRENT,
    }
}

fn cluster(name: &str, dc: &DataCenter) -> Cluster {
    Cluster {
        id: ClusterId::new_random(),
        name: name.into(),
        description: String::new(),
        comment: format!("{name}'s comment"),
        data_center_id: dc.id,
        cpu_architecture: Architecture::X86_64,
        cpu_type: None,
        version: Version::CURRENT,
        memory_overcommit_percent: 100,
        mac_pool_id: DEFAULT_MAC_POOL_ID,
    }
}

fn host(name: &str, address: &str, cluster: &Cluster) -> Host {
    Host {
        id: HostId::new_random(),
        name: name.into(),
        description: format!("{name} host"),
        comment: format!("{name}'s comment"),
        address: address.into(),
        port: 54321,
        cluster_id: cluster.id,
        status: HostStatus::Installing,
        status_detail: None,
        certificate_fingerprint: None,
        capabilities: None,
        memory_total: ByteSize(0),
        max_scheduling_memory: ByteSize(0),
        created: Timestamp::now(),
    }
}

fn storage_domain(name: &str) -> StorageDomain {
    StorageDomain {
        id: StorageDomainId::new_random(),
        name: name.into(),
        description: String::new(),
        comment: format!("{name}'s comment"),
        domain_type: StorageDomainType::Data,
        connection: StorageConnection::Localfs { path: format!("/srv/{name}") },
        status: StorageDomainStatus::Unattached,
        available: ByteSize::from_gib(100),
        used: ByteSize::from_gib(1),
        committed: ByteSize(0),
        master: false,
        warning_low_space_percent: 10,
        critical_space_action_blocker_gib: 5,
        host_id: None,
        created: Timestamp::now(),
    }
}

fn vm(name: &str, cluster: &Cluster) -> Vm {
    Vm {
        id: VmId::new_random(),
        name: name.into(),
        description: String::new(),
        comment: format!("{name}'s comment"),
        cluster_id: cluster.id,
        template_id: BLANK_TEMPLATE_ID,
        config: VmConfig::blank(),
        placement: Placement::default(),
        delete_protected: false,
        created: Timestamp::now(),
        runtime: VmRuntime::down(),
        config_version: 0,
    }
}

fn disk(alias: &str, sd: &StorageDomain) -> Disk {
    Disk {
        id: DiskId::new_random(),
        alias: alias.into(),
        description: String::new(),
        comment: format!("{alias}'s comment"),
        storage_domain_id: sd.id,
        format: DiskFormat::Cow,
        sparse: true,
        provisioned_size: ByteSize::from_gib(10),
        actual_size: ByteSize(196_616),
        status: DiskStatus::Ok,
        volume_id: VolumeId::new_random(),
        shareable: false,
        wipe_after_delete: false,
        created: Timestamp::now(),
    }
}

fn attachment(vm: &Vm, disk: &Disk, bootable: bool) -> DiskAttachment {
    DiskAttachment {
        vm_id: vm.id,
        disk_id: disk.id,
        interface: DiskInterface::VirtioScsi,
        bootable,
        active: true,
        read_only: false,
    }
}

fn network(name: &str, dc: &DataCenter) -> Network {
    Network {
        id: NetworkId::new_random(),
        name: name.into(),
        data_center_id: dc.id,
        description: String::new(),
        comment: format!("{name}'s comment"),
        vm: true,
        vlan_id: None,
        mtu: 0,
    }
}

fn profile(name: &str, network: &Network) -> VnicProfile {
    VnicProfile {
        id: VnicProfileId::new_random(),
        name: name.into(),
        network_id: network.id,
        description: String::new(),
        comment: format!("{name}'s comment"),
    }
}

fn nic(name: &str, vm: &Vm, mac: &str, profile: Option<&VnicProfile>) -> Nic {
    Nic {
        id: NicId::new_random(),
        vm_id: vm.id,
        name: name.into(),
        description: format!("{name} NIC"),
        comment: format!("{name}'s comment"),
        mac: mac.parse().expect("mac"),
        vnic_profile_id: profile.map(|p| p.id),
        interface: NicInterface::Virtio,
        plugged: true,
        linked: true,
    }
}

fn user(name: &str) -> User {
    User {
        id: UserId::new_random(),
        name: name.into(),
        domain: INTERNAL_DOMAIN.into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        email: None,
        enabled: true,
        created: Timestamp::now(),
    }
}

fn event(description: &str, severity: Severity) -> NewEvent {
    NewEvent {
        time: Timestamp::now(),
        severity,
        code: 153,
        description: description.into(),
        refs: EventRefs::default(),
        correlation_id: None,
        origin: None,
        custom_id: None,
    }
}

/// A data center with one cluster, stored.
async fn dc_and_cluster(store: &Store) -> (DataCenter, Cluster) {
    let dc = data_center("Default");
    store.data_center_insert(&dc).await.expect("insert dc");
    let cl = cluster("Default", &dc);
    store.cluster_insert(&cl).await.expect("insert cluster");
    (dc, cl)
}

#[track_caller]
fn assert_error(err: StoreError, kind: ErrorKind, needles: &[&str]) {
    assert_eq!(err.kind(), kind, "unexpected kind for: {err}");
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "'{text}' should mention '{needle}'");
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// CRUD round trips
// ---------------------------------------------------------------------------------------

async fn data_centers_and_clusters_round_trip(db: &TestDb) {
    let s = &db.store;
    let mut dc = data_center("dc1");
    dc.local = true;
    s.data_center_insert(&dc).await.expect("insert");
    assert_eq!(s.data_center_get(dc.id).await.expect("get"), dc);
    assert_eq!(s.data_center_get_by_name("dc1").await.expect("by name"), dc);
    dc.status = DataCenterStatus::Up;
    dc.description = "changed".into();
    dc.comment = "changed too".into();
    dc.version = Version { major: 4, minor: 6 };
    s.data_center_update(&dc).await.expect("update");
    assert_eq!(s.data_center_get(dc.id).await.expect("get"), dc);

    let mut cl = cluster("cl1", &dc);
    cl.cpu_type = Some("Intel Nehalem Family".into());
    s.cluster_insert(&cl).await.expect("insert cluster");
    assert_eq!(s.cluster_get(cl.id).await.expect("get"), cl);
    assert_eq!(s.cluster_get_by_name("cl1").await.expect("by name"), cl);
    cl.memory_overcommit_percent = 150;
    cl.cpu_architecture = Architecture::Aarch64;
    cl.comment = String::new();
    s.cluster_update(&cl).await.expect("update");
    assert_eq!(s.cluster_list(&ClusterFilter::default()).await.expect("list"), vec![cl.clone()]);
    let filter = ClusterFilter { data_center_id: Some(DataCenterId::new_random()), ..Default::default() };
    assert!(s.cluster_list(&filter).await.expect("list").is_empty());

    // Cluster networks.
    let net = network("ovirtmgmt", &dc);
    s.network_insert(&net).await.expect("network");
    let cn = ClusterNetwork { cluster_id: cl.id, network_id: net.id, required: true };
    s.cluster_network_insert(&cn).await.expect("attach network");
    assert_eq!(s.cluster_network_list(cl.id).await.expect("list"), vec![cn.clone()]);
    assert_error(s.cluster_network_insert(&cn).await.expect_err("twice"), ErrorKind::Conflict, &["already attached"]);
    s.cluster_network_delete(cl.id, net.id).await.expect("detach");
    assert!(s.cluster_network_list(cl.id).await.expect("list").is_empty());

    // A data center with a cluster cannot go; without, it goes with its networks.
    assert_error(
        s.data_center_delete(dc.id).await.expect_err("has a cluster"),
        ErrorKind::Conflict,
        &["still used by clusters"],
    );
    s.cluster_delete(cl.id).await.expect("delete cluster");
    s.data_center_delete(dc.id).await.expect("delete dc");
    assert_error(s.data_center_get(dc.id).await.expect_err("gone"), ErrorKind::NotFound, &["data center"]);
    assert_error(s.network_get(net.id).await.expect_err("cascaded"), ErrorKind::NotFound, &["network"]);
}

async fn external_events_are_unique_per_origin(db: &TestDb) {
    let s = &db.store;
    let external = NewEvent { origin: Some("backup".into()), custom_id: Some(7), ..event("done", Severity::Normal) };
    let e = s.event_insert(&external).await.expect("external event");
    assert_eq!(s.event_get(e.id).await.expect("get"), e);
    assert_eq!((e.origin.as_deref(), e.custom_id), (Some("backup"), Some(7)));
    let again = s.event_insert(&external).await.expect_err("the same custom_id again");
    assert!(matches!(&again, StoreError::AlreadyExists(m) if m.contains("custom_id 7")), "{again}");
    s.event_insert(&NewEvent { origin: Some("other".into()), ..external.clone() }).await.expect("another origin");
    s.event_insert(&event("ours", Severity::Normal)).await.expect("the engine's own");
    s.event_insert(&event("ours again", Severity::Normal)).await.expect("without custom ids, never a conflict");
    s.event_delete(e.id).await.expect("remove");
    assert!(matches!(s.event_delete(e.id).await, Err(StoreError::NotFound { .. })));
}

async fn affinity_labels_round_trip(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let mut gpu = AffinityLabel { id: AffinityLabelId::new_random(), name: "gpu".into() };
    s.affinity_label_insert(&gpu).await.expect("insert");
    let taken = AffinityLabel { id: AffinityLabelId::new_random(), name: "gpu".into() };
    assert!(matches!(s.affinity_label_insert(&taken).await, Err(StoreError::AlreadyExists(m)) if m.contains("gpu")));
    gpu.name = "cuda".into();
    s.affinity_label_update(&gpu).await.expect("rename");
    assert_eq!(s.affinity_label_get(gpu.id).await.expect("get"), gpu);
    let v = vm("vm1", &cl);
    s.vm_insert(&v).await.expect("vm");
    let h = host("host1", "192.0.2.10", &cl);
    s.host_insert(&h).await.expect("host");
    assert!(s.vm_affinity_label_add(v.id, gpu.id).await.expect("label"));
    assert!(!s.vm_affinity_label_add(v.id, gpu.id).await.expect("again: nothing"));
    assert!(s.host_affinity_label_add(h.id, gpu.id).await.expect("host"));
    assert_eq!(s.affinity_label_vms(gpu.id).await.expect("vms"), vec![v.id]);
    assert_eq!(s.affinity_label_hosts(gpu.id).await.expect("hosts"), vec![h.id]);
    assert_eq!(s.vm_affinity_label_list(v.id).await.expect("VM's"), vec![gpu.clone()]);
    assert!(s.vm_affinity_label_remove(v.id, gpu.id).await.expect("off"));
    s.affinity_label_delete(gpu.id).await.expect("remove");
    assert!(s.host_affinity_label_list(h.id).await.expect("host's").is_empty());
}

async fn tags_round_trip(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    assert_eq!(s.tag_get(ROOT_TAG_ID).await.expect("root exists").name, "root");
    let env =
        Tag { id: TagId::new_random(), name: "env".into(), description: "d".into(), parent_id: Some(ROOT_TAG_ID) };
    let mut prod =
        Tag { id: TagId::new_random(), name: "prod".into(), description: String::new(), parent_id: Some(env.id) };
    s.tag_insert(&env).await.expect("env");
    s.tag_insert(&prod).await.expect("prod");
    let taken = Tag { id: TagId::new_random(), ..prod.clone() };
    assert!(matches!(s.tag_insert(&taken).await, Err(StoreError::AlreadyExists(m)) if m.contains("prod")));
    prod.description = "production".into();
    s.tag_update(&prod).await.expect("update");
    assert_eq!(s.tag_get_by_name("prod").await.expect("by name"), prod);

    let v = vm("vm1", &cl);
    s.vm_insert(&v).await.expect("vm");
    let h = host("host1", "192.0.2.10", &cl);
    s.host_insert(&h).await.expect("host");
    assert!(s.vm_tag_add(v.id, prod.id).await.expect("assign"));
    assert!(!s.vm_tag_add(v.id, prod.id).await.expect("again: nothing"));
    assert!(s.host_tag_add(h.id, env.id).await.expect("host"));
    assert_eq!(s.vm_tag_list(v.id).await.expect("list"), vec![prod.clone()]);
    let tagged = VmFilter { tag_id: Some(prod.id), ..VmFilter::default() };
    assert_eq!(s.vm_list(&tagged).await.expect("by tag").len(), 1);
    assert_eq!(
        s.host_list(&HostFilter { tag_id: Some(env.id), ..HostFilter::default() }).await.expect("hosts").len(),
        1
    );

    // Removing env takes prod and both assignments.
    s.tag_delete(env.id).await.expect("remove");
    assert!(matches!(s.tag_get(prod.id).await, Err(StoreError::NotFound { .. })));
    assert!(
        s.vm_tag_list(v.id).await.expect("list").is_empty() && s.host_tag_list(h.id).await.expect("list").is_empty()
    );
    assert!(!s.vm_tag_remove(v.id, prod.id).await.expect("nothing to remove"));
    assert_eq!(s.tag_list().await.expect("all").len(), 1, "root stays");
}

async fn hosts_round_trip(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let mut h = host("host1", "192.0.2.10", &cl);
    s.host_insert(&h).await.expect("insert");
    assert_eq!(s.host_get(h.id).await.expect("get"), h);
    assert!(!h.is_enrolled());

    let caps = serde_json::json!({"hostname": "host1", "cpu": {"model": "qemu64", "flags": ["sse2"]}});
    s.host_capabilities_set(h.id, &caps, ByteSize::from_gib(16)).await.expect("caps");
    s.host_status_set(h.id, HostStatus::NonOperational, Some("network ovirtmgmt missing")).await.expect("status");
    let got = s.host_get_by_name("host1").await.expect("by name");
    assert_eq!(got.capabilities, Some(caps));
    assert_eq!(got.memory_total, ByteSize::from_gib(16));
    assert_eq!(got.status, HostStatus::NonOperational);
    assert_eq!(got.status_detail.as_deref(), Some("network ovirtmgmt missing"));

    h = got;
    h.certificate_fingerprint = Some("ab:cd".into());
    h.status = HostStatus::Up;
    h.status_detail = None;
    h.max_scheduling_memory = ByteSize::from_gib(15);
    h.description = "rack 4".into();
    h.comment = "changed".into();
    s.host_update(&h).await.expect("update");
    assert_eq!(s.host_get(h.id).await.expect("get"), h);
    assert!(h.is_enrolled());

    // A VM running on the host keeps it.
    let mut v = vm("on-host", &cl);
    v.runtime = VmRuntime {
        status: VmStatus::Up,
        host_id: Some(h.id),
        start_time: Some(Timestamp::now()),
        ..VmRuntime::down()
    };
    s.vm_insert(&v).await.expect("vm");
    assert_error(s.host_delete(h.id).await.expect_err("busy"), ErrorKind::Conflict, &["VMs running on it"]);
    s.vm_delete(v.id).await.expect("vm delete");
    s.host_delete(h.id).await.expect("delete");
    assert_error(
        s.host_status_set(h.id, HostStatus::Up, None).await.expect_err("gone"),
        ErrorKind::NotFound,
        &["host"],
    );
}

async fn storage_domains_round_trip(db: &TestDb) {
    let s = &db.store;
    let (dc, _cl) = dc_and_cluster(s).await;
    let local = storage_domain("local");
    let mut posix = storage_domain("posix");
    posix.connection =
        StorageConnection::Posixfs { spec: "/dev/vdb".into(), vfs_type: "ext4".into(), mount_options: None };
    let mut nfs = storage_domain("nfs");
    nfs.domain_type = StorageDomainType::Iso;
    nfs.connection =
        StorageConnection::Nfs { spec: "nfs.example:/export/iso".into(), mount_options: Some("vers=4.2".into()) };
    for sd in [&local, &posix, &nfs] {
        s.storage_domain_insert(sd).await.expect("insert");
        assert_eq!(&s.storage_domain_get(sd.id).await.expect("get"), sd);
    }
    assert_eq!(s.storage_domain_get_by_name("nfs").await.expect("by name"), nfs);

    let mut att = StorageDomainAttachment {
        data_center_id: dc.id,
        storage_domain_id: local.id,
        status: StorageDomainStatus::Locked,
    };
    s.storage_domain_attachment_insert(&att).await.expect("attach");
    att.status = StorageDomainStatus::Active;
    s.storage_domain_attachment_update(&att).await.expect("activate");
    assert_eq!(s.storage_domain_attachment_get(dc.id, local.id).await.expect("get"), att);
    assert_eq!(s.storage_domain_attachment_list(Some(dc.id), None).await.expect("list"), vec![att.clone()]);
    assert_eq!(s.storage_domain_attachment_list(None, Some(nfs.id)).await.expect("list"), vec![]);
    assert_error(
        s.storage_domain_attachment_insert(&att).await.expect_err("twice"),
        ErrorKind::Conflict,
        &["already attached"],
    );

    let attached = StorageDomainFilter { data_center_id: Some(dc.id), ..Default::default() };
    assert_eq!(names(&s.storage_domain_list(&attached).await.expect("list"), |d| &d.name), ["local"]);
    let iso = StorageDomainFilter { domain_type: Some(StorageDomainType::Iso), ..Default::default() };
    assert_eq!(names(&s.storage_domain_list(&iso).await.expect("list"), |d| &d.name), ["nfs"]);

    s.storage_domain_space_set(local.id, ByteSize::from_gib(50), ByteSize::from_gib(40)).await.expect("space");
    s.storage_domain_status_set(local.id, StorageDomainStatus::Active).await.expect("status");
    let got = s.storage_domain_get(local.id).await.expect("get");
    assert_eq!(
        (got.available, got.used, got.committed),
        (ByteSize::from_gib(50), ByteSize::from_gib(40), ByteSize(0)),
        "committed is what the domain's disks promise: none yet"
    );
    assert_eq!(got.status, StorageDomainStatus::Active);
    let mut changed = got.clone();
    changed.master = true;
    changed.description = "master".into();
    changed.comment = "the master".into();
    s.storage_domain_update(&changed).await.expect("update");
    assert_eq!(s.storage_domain_get(local.id).await.expect("get"), changed);

    // Attached, or holding disks: cannot go.
    assert_error(
        s.storage_domain_delete(local.id).await.expect_err("attached"),
        ErrorKind::Conflict,
        &["detach it first"],
    );
    s.storage_domain_attachment_delete(dc.id, local.id).await.expect("detach");
    let d = disk("d1", &local);
    s.disk_insert(&d).await.expect("disk");
    assert_error(s.storage_domain_delete(local.id).await.expect_err("has disks"), ErrorKind::Conflict, &["disks"]);
    s.disk_delete(d.id).await.expect("disk delete");
    s.storage_domain_delete(local.id).await.expect("delete");
    assert_error(s.storage_domain_get(local.id).await.expect_err("gone"), ErrorKind::NotFound, &["storage domain"]);
}

/// A storage domain remembers the host it was created through (a localfs domain is reachable
/// from that host only); removing the host forgets it rather than refusing.
async fn storage_domain_remembers_its_host(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let h = host("sdhost", "198.51.100.77", &cl);
    s.host_insert(&h).await.expect("host");
    let mut sd = storage_domain("hosted");
    sd.host_id = Some(h.id);
    s.storage_domain_insert(&sd).await.expect("insert");
    assert_eq!(s.storage_domain_get(sd.id).await.expect("get").host_id, Some(h.id));
    sd.host_id = None;
    s.storage_domain_update(&sd).await.expect("update");
    assert_eq!(s.storage_domain_get(sd.id).await.expect("get").host_id, None);
    sd.host_id = Some(h.id);
    s.storage_domain_update(&sd).await.expect("update");
    s.host_delete(h.id).await.expect("host delete");
    assert_eq!(s.storage_domain_get(sd.id).await.expect("get").host_id, None, "the removed host is forgotten");
}

async fn mac_pools_round_trip_and_clusters_keep_theirs(db: &TestDb) {
    let s = &db.store;
    // The built-in pool is there from the first migration on, and cannot go.
    assert_eq!(s.mac_pool_list().await.expect("list"), vec![MacPool::default()]);
    assert_error(s.mac_pool_delete(DEFAULT_MAC_POOL_ID).await.expect_err("default"), ErrorKind::Conflict, &["Default"]);

    let range = |from: u64, to: u64| MacRange {
        from: MacAddress::from_u64(from).expect("mac"),
        to: MacAddress::from_u64(to).expect("mac"),
    };
    let mut pool = MacPool {
        id: MacPoolId::new_random(),
        name: "lab".into(),
        description: "the lab's".into(),
        ranges: vec![range(0x0200_0000_0000, 0x0200_0000_00ff), range(0x0200_0001_0000, 0x0200_0001_0000)],
    };
    s.mac_pool_insert(&pool).await.expect("insert");
    assert_eq!(s.mac_pool_get(pool.id).await.expect("get"), pool);
    assert_eq!(s.mac_pool_get_by_name("lab").await.expect("by name"), pool);
    let taken = MacPool { id: MacPoolId::new_random(), ..pool.clone() };
    assert_error(s.mac_pool_insert(&taken).await.expect_err("name"), ErrorKind::Conflict, &["MAC pool named 'lab'"]);
    pool.ranges.pop();
    pool.description = "smaller".into();
    s.mac_pool_update(&pool).await.expect("update");
    assert_eq!(s.mac_pool_get(pool.id).await.expect("get"), pool);
    assert_eq!(names(&s.mac_pool_list().await.expect("list"), |p| &p.name), ["Default", "lab"]);

    // A cluster names its pool; a pool that does not exist is refused, one in use stays.
    let dc = data_center("dc");
    s.data_center_insert(&dc).await.expect("dc");
    let mut cl = cluster("c1", &dc);
    cl.mac_pool_id = MacPoolId::new_random();
    assert_error(
        s.cluster_insert(&cl).await.expect_err("no pool"),
        ErrorKind::InvalidInput,
        &["cluster 'c1'", "MAC pool"],
    );
    cl.mac_pool_id = pool.id;
    s.cluster_insert(&cl).await.expect("cluster");
    assert_eq!(s.cluster_get(cl.id).await.expect("get").mac_pool_id, pool.id);
    assert_error(s.mac_pool_delete(pool.id).await.expect_err("in use"), ErrorKind::Conflict, &["cluster 'c1'"]);
    let mut moved = cl.clone();
    moved.mac_pool_id = MacPoolId::new_random();
    assert_error(s.cluster_update(&moved).await.expect_err("no pool"), ErrorKind::InvalidInput, &["MAC pool"]);
    assert_eq!(s.cluster_get(cl.id).await.expect("get"), cl);
    assert_eq!(s.mac_allocate(&pool).await.expect("mac").to_string(), "02:00:00:00:00:00");

    cl.mac_pool_id = DEFAULT_MAC_POOL_ID;
    s.cluster_update(&cl).await.expect("back to Default");
    s.mac_pool_delete(pool.id).await.expect("delete");
    assert_error(s.mac_pool_get(pool.id).await.expect_err("gone"), ErrorKind::NotFound, &["MAC pool"]);
    assert_error(s.mac_pool_delete(pool.id).await.expect_err("gone"), ErrorKind::NotFound, &["MAC pool"]);
}

async fn networks_profiles_and_nics_round_trip(db: &TestDb) {
    let s = &db.store;
    let (dc, cl) = dc_and_cluster(s).await;
    let mut net = network("vmnet", &dc);
    net.vlan_id = Some(100);
    net.mtu = 9000;
    s.network_insert(&net).await.expect("insert");
    assert_eq!(s.network_get(net.id).await.expect("get"), net);
    assert_eq!(s.network_get_by_name(dc.id, "vmnet").await.expect("by name"), net);
    net.vm = false;
    net.vlan_id = None;
    net.comment = "no longer a VM network".into();
    s.network_update(&net).await.expect("update");
    assert_eq!(s.network_get(net.id).await.expect("get"), net);

    let mut p = profile("vmnet", &net);
    s.vnic_profile_insert(&p).await.expect("profile");
    p.description = "default profile".into();
    p.comment = "changed".into();
    s.vnic_profile_update(&p).await.expect("update");
    assert_eq!(s.vnic_profile_get(p.id).await.expect("get"), p);
    assert_eq!(s.vnic_profile_list(Some(net.id)).await.expect("list"), vec![p.clone()]);

    let v = vm("vm1", &cl);
    s.vm_insert(&v).await.expect("vm");
    let pool = MacPool::default();
    let first = s.mac_allocate(&pool).await.expect("mac");
    assert_eq!(first.to_string(), "56:6f:00:00:00:00");
    let mut n1 = nic("nic1", &v, &first.to_string(), Some(&p));
    s.nic_insert(&n1).await.expect("nic");
    let second = s.mac_allocate(&pool).await.expect("mac");
    assert_eq!(second.to_string(), "56:6f:00:00:00:01");
    let n2 = nic("nic2", &v, &second.to_string(), None);
    s.nic_insert(&n2).await.expect("nic2");
    assert_eq!(s.nic_list_for_vm(v.id).await.expect("list"), vec![n1.clone(), n2.clone()]);
    n1.linked = false;
    n1.interface = NicInterface::E1000;
    n1.description = "changed".into();
    n1.comment = String::new();
    s.nic_update(&n1).await.expect("update");
    assert_eq!(s.nic_get(n1.id).await.expect("get"), n1);

    // Gaps are reused; an exhausted pool says so.
    s.nic_delete(n1.id).await.expect("delete");
    assert_eq!(s.mac_allocate(&pool).await.expect("mac"), first);
    let tiny = MacPool { ranges: vec![MacRange { from: second, to: second }], ..MacPool::default() };
    assert_error(
        s.mac_allocate(&tiny).await.expect_err("exhausted"),
        ErrorKind::Conflict,
        &["exhausted", "add a range"],
    );

    // A profile in use cannot go, nor its network; the VM takes its NICs along.
    let n3 = nic("nic3", &v, "56:6f:00:00:00:09", Some(&p));
    s.nic_insert(&n3).await.expect("nic3");
    assert_error(s.vnic_profile_delete(p.id).await.expect_err("in use"), ErrorKind::Conflict, &["VM NICs"]);
    assert_error(s.network_delete(net.id).await.expect_err("in use"), ErrorKind::Conflict, &["VM NICs"]);
    s.vm_delete(v.id).await.expect("vm delete");
    assert_error(s.nic_get(n3.id).await.expect_err("cascaded"), ErrorKind::NotFound, &["NIC"]);
    s.network_delete(net.id).await.expect("network delete");
    assert_error(s.vnic_profile_get(p.id).await.expect_err("cascaded"), ErrorKind::NotFound, &["vNIC profile"]);
}

async fn templates_and_vms_round_trip(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let blank = s.template_get(BLANK_TEMPLATE_ID).await.expect("Blank is seeded");
    assert_eq!(blank.name, "Blank");
    assert_eq!(blank.cluster_id, None);
    assert_eq!(blank.config, VmConfig::blank());
    assert_error(s.template_delete(BLANK_TEMPLATE_ID).await.expect_err("Blank stays"), ErrorKind::Conflict, &["Blank"]);

    let mut config = VmConfig::blank();
    config.memory = ByteSize::from_mib(1536);
    config.cpu = CpuTopology { sockets: 2, cores: 2, threads: 2 };
    config.os_type = "rhel_9x64".into();
    config.vm_type = VmType::HighPerformance;
    config.machine = Some("q35".into());
    config.boot = BootConfig {
        devices: vec![BootDevice::Network, BootDevice::Hd],
        kernel: Some("/boot/vmlinuz".into()),
        initrd: Some("/boot/initrd".into()),
        cmdline: Some("console=ttyS0".into()),
    };
    config.display = None;
    config.high_availability = HighAvailability { enabled: true, priority: 50 };
    config.custom_properties =
        BTreeMap::from([("sap_agent".into(), "true".into()), ("hugepages".into(), "1048576".into())]);
    let mut t = Template {
        id: TemplateId::new_random(),
        name: "rhel9".into(),
        description: "RHEL 9".into(),
        comment: "golden image".into(),
        cluster_id: Some(cl.id),
        config: config.clone(),
        status: TemplateStatus::Locked,
        created: Timestamp::now(),
    };
    s.template_insert(&t).await.expect("template");
    assert_eq!(s.template_get(t.id).await.expect("get"), t);
    t.status = TemplateStatus::Ok;
    t.comment = "changed".into();
    s.template_update(&t).await.expect("update");
    assert_eq!(s.template_get_by_name("rhel9").await.expect("by name"), t);
    let in_cluster = TemplateFilter { cluster_id: Some(cl.id), ..Default::default() };
    assert_eq!(names(&s.template_list(&in_cluster).await.expect("list"), |t| &t.name), ["Blank", "rhel9"]);

    let mut v = vm("web1", &cl);
    v.template_id = t.id;
    v.config = config;
    v.description = "web server".into();
    v.delete_protected = true;
    v.placement = Placement { affinity: PlacementAffinity::UserMigratable, host_id: None };
    s.vm_insert(&v).await.expect("insert");
    let got = s.vm_get(v.id).await.expect("get");
    assert_eq!(got, v);
    assert_eq!(
        got.config.custom_properties.keys().collect::<Vec<_>>(),
        ["hugepages", "sap_agent"],
        "custom properties come back sorted by name"
    );
    assert_eq!(s.vm_get_by_name("web1").await.expect("by name"), v);

    v.config.memory = ByteSize::from_gib(4);
    v.config.boot.devices = vec![];
    v.name = "web01".into();
    v.comment = "changed".into();
    s.vm_update(&v).await.expect("update");
    assert_eq!(s.vm_get(v.id).await.expect("get"), v);

    // Runtime: unconditional, then compare-and-set.
    let h = host("h1", "192.0.2.1", &cl);
    s.host_insert(&h).await.expect("host");
    let starting = VmRuntime { status: VmStatus::WaitForLaunch, host_id: Some(h.id), ..VmRuntime::down() };
    assert!(s.vm_runtime_set(v.id, &starting, None).await.expect("set"));
    let up = VmRuntime { status: VmStatus::Up, start_time: Some(Timestamp(1_700_000_000_000)), ..starting.clone() };
    assert!(!s.vm_runtime_set(v.id, &up, Some(&[VmStatus::PoweringUp])).await.expect("cas miss"));
    assert_eq!(s.vm_get(v.id).await.expect("get").runtime, starting);
    assert!(s.vm_runtime_set(v.id, &up, Some(&[VmStatus::WaitForLaunch, VmStatus::PoweringUp])).await.expect("cas"));
    let held = s.host_memory_committed().await.expect("memory held per host");
    assert_eq!(held, vec![(h.id, s.vm_get(v.id).await.expect("get").config.memory_guaranteed)]);
    let got = s.vm_get(v.id).await.expect("get");
    assert_eq!(got.runtime, up);
    assert_eq!(got.config, v.config, "runtime updates leave the configuration alone");
    assert_error(
        s.vm_runtime_set(VmId::new_random(), &up, None).await.expect_err("missing"),
        ErrorKind::NotFound,
        &["VM"],
    );
    let bad_host = VmRuntime { host_id: Some(HostId::new_random()), ..up.clone() };
    assert_error(
        s.vm_runtime_set(v.id, &bad_host, None).await.expect_err("no host"),
        ErrorKind::InvalidInput,
        &["host"],
    );

    assert_error(s.template_delete(t.id).await.expect_err("used"), ErrorKind::Conflict, &["VMs based on it"]);
    s.vm_delete(v.id).await.expect("delete");
    s.template_delete(t.id).await.expect("template delete");
    assert_error(s.vm_get(v.id).await.expect_err("gone"), ErrorKind::NotFound, &["VM", &v.id.to_string()]);
}

async fn disks_volumes_and_attachments_round_trip(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let sd = storage_domain("data1");
    s.storage_domain_insert(&sd).await.expect("sd");
    let mut base = disk("base", &sd);
    s.disk_insert(&base).await.expect("disk");
    assert_eq!(s.disk_get(base.id).await.expect("get"), base);
    base.status = DiskStatus::Locked;
    base.provisioned_size = ByteSize::from_gib(20);
    base.shareable = true;
    base.wipe_after_delete = true;
    base.format = DiskFormat::Raw;
    base.sparse = false;
    base.comment = "changed".into();
    assert_eq!(
        s.storage_domain_get(sd.id).await.expect("sd").committed,
        ByteSize::from_gib(10),
        "the one disk promises 10 GiB"
    );
    s.disk_update(&base).await.expect("update");
    assert_eq!(s.disk_get(base.id).await.expect("get"), base);
    assert_eq!(s.storage_domain_get(sd.id).await.expect("sd").committed, ByteSize::from_gib(20));
    s.disk_status_set(base.id, DiskStatus::Ok).await.expect("status");
    // Compare-and-set: a disk moves only from an expected status.
    assert!(!s.disk_status_move(base.id, &[DiskStatus::Locked], DiskStatus::Illegal).await.expect("cas"));
    assert!(s.disk_status_move(base.id, &[DiskStatus::Ok], DiskStatus::Locked).await.expect("cas"));
    assert!(s.disk_status_move(base.id, &[DiskStatus::Locked], DiskStatus::Ok).await.expect("cas"));
    assert_error(
        s.disk_status_move(DiskId::new_random(), &[DiskStatus::Ok], DiskStatus::Locked).await.expect_err("missing"),
        ErrorKind::NotFound,
        &["disk"],
    );
    assert_eq!(s.disk_get(base.id).await.expect("get").status, DiskStatus::Ok);

    // A chain: base volume, a snapshot on top, and another disk's volume based on it.
    let v0 = Volume {
        id: base.volume_id,
        disk_id: base.id,
        parent_id: None,
        format: DiskFormat::Raw,
        status: VolumeStatus::Ok,
        actual_size: ByteSize::from_gib(20),
        created: Timestamp(1),
    };
    s.volume_insert(&v0).await.expect("v0");
    let v1 = Volume {
        id: VolumeId::new_random(),
        parent_id: Some(v0.id),
        format: DiskFormat::Cow,
        created: Timestamp(2),
        ..v0.clone()
    };
    s.volume_insert(&v1).await.expect("v1");
    assert_eq!(s.volume_list_for_disk(base.id).await.expect("list"), vec![v0.clone(), v1.clone()]);
    s.volume_update(v1.id, VolumeStatus::Illegal, ByteSize(4096)).await.expect("update");
    assert_eq!(s.volume_get(v1.id).await.expect("get").status, VolumeStatus::Illegal);
    assert_error(s.volume_delete(v0.id).await.expect_err("has child"), ErrorKind::Conflict, &["volumes based on it"]);
    let orphan = Volume { id: VolumeId::new_random(), parent_id: Some(VolumeId::new_random()), ..v1.clone() };
    assert_error(s.volume_insert(&orphan).await.expect_err("no parent"), ErrorKind::InvalidInput, &["parent volume"]);

    let clone = disk("clone", &sd);
    s.disk_insert(&clone).await.expect("clone");
    let cv = Volume { id: clone.volume_id, disk_id: clone.id, parent_id: Some(v1.id), ..v1.clone() };
    s.volume_insert(&cv).await.expect("clone volume");
    assert_error(s.disk_delete(base.id).await.expect_err("backs a clone"), ErrorKind::Conflict, &["based on it"]);

    // Attachments: one bootable disk per VM; a shareable disk on two VMs.
    let vm1 = vm("vm1", &cl);
    let vm2 = vm("vm2", &cl);
    s.vm_insert(&vm1).await.expect("vm1");
    s.vm_insert(&vm2).await.expect("vm2");
    let boot = attachment(&vm1, &clone, true);
    s.disk_attachment_insert(&boot).await.expect("attach boot");
    assert_error(
        s.disk_attachment_insert(&attachment(&vm1, &base, true)).await.expect_err("second bootable"),
        ErrorKind::Conflict,
        &["already has a bootable disk"],
    );
    let mut data = attachment(&vm1, &base, false);
    s.disk_attachment_insert(&data).await.expect("attach data");
    s.disk_attachment_insert(&attachment(&vm2, &base, true)).await.expect("shared");
    assert_error(s.disk_attachment_insert(&data).await.expect_err("twice"), ErrorKind::Conflict, &["already attached"]);
    assert_eq!(s.disk_attachment_list_for_vm(vm1.id).await.expect("list"), vec![boot.clone(), data.clone()]);
    assert_eq!(s.disk_attachment_list_for_disk(base.id).await.expect("list").len(), 2);
    data.read_only = true;
    data.interface = DiskInterface::Ide;
    data.active = false;
    s.disk_attachment_update(&data).await.expect("update");
    assert_eq!(s.disk_attachment_get(vm1.id, base.id).await.expect("get"), data);
    let vm1_disks = DiskFilter { vm_id: Some(vm1.id), ..Default::default() };
    assert_eq!(names(&s.disk_list(&vm1_disks).await.expect("list"), |d| &d.alias), ["base", "clone"]);

    // Removing a VM removes its attachments, not its disks; removing a disk its volumes.
    s.vm_delete(vm1.id).await.expect("vm delete");
    assert!(s.disk_attachment_list_for_vm(vm1.id).await.expect("list").is_empty());
    s.disk_get(clone.id).await.expect("the disk stays");
    s.disk_attachment_delete(vm2.id, base.id).await.expect("detach");
    assert_error(
        s.disk_attachment_delete(vm2.id, base.id).await.expect_err("gone"),
        ErrorKind::NotFound,
        &["disk attachment"],
    );
    s.disk_delete(clone.id).await.expect("clone delete");
    assert_error(s.volume_get(cv.id).await.expect_err("cascaded"), ErrorKind::NotFound, &["volume"]);
    s.disk_delete(base.id).await.expect("base delete");
    assert!(s.volume_list_for_disk(base.id).await.expect("list").is_empty());
    assert_eq!(
        s.storage_domain_get(sd.id).await.expect("sd").committed,
        ByteSize(0),
        "a removed disk no longer counts in its domain's committed size"
    );
}

async fn users_round_trip(db: &TestDb) {
    let s = &db.store;
    let mut admin = user("admin");
    s.user_insert(&admin).await.expect("insert");
    assert_eq!(s.user_get(admin.id).await.expect("get"), admin);
    assert_eq!(s.user_get_by_name("internal", "admin").await.expect("by name"), admin);
    admin.email = Some("admin@example.org".into());
    admin.enabled = false;
    admin.password_hash = None;
    s.user_update(&admin).await.expect("update");
    assert_eq!(s.user_get(admin.id).await.expect("get"), admin);
    let mut ldap = user("admin");
    ldap.domain = "example.org".into();
    s.user_insert(&ldap).await.expect("same name, other domain");
    let internal = UserFilter { domain: Some("internal".into()), ..Default::default() };
    assert_eq!(s.user_list(&internal).await.expect("list"), vec![admin.clone()]);
    assert_eq!(s.user_list(&UserFilter::default()).await.expect("list").len(), 2);
    s.user_delete(admin.id).await.expect("delete");
    assert_error(
        s.user_get_by_name("internal", "admin").await.expect_err("gone"),
        ErrorKind::NotFound,
        &["admin@internal"],
    );
}

async fn jobs_and_steps_round_trip(db: &TestDb) {
    let s = &db.store;
    let owner = user("admin");
    s.user_insert(&owner).await.expect("user");
    let mut job = Job {
        id: JobId::new_random(),
        action_type: "AddVm".into(),
        description: "Creating VM web1".into(),
        status: JobStatus::Started,
        start_time: Timestamp(1000),
        end_time: None,
        last_updated: Timestamp(1000),
        auto_cleared: true,
        external: false,
        owner_id: Some(owner.id),
        correlation_id: Some("req-1".into()),
        params: serde_json::json!({"vm_id": "x", "disks": [1, 2]}),
        lease_owner: Some("engine-a/run-1".into()),
        lease_until: Some(Timestamp(5000)),
    };
    s.job_insert(&job).await.expect("job");
    assert_eq!(s.job_get(job.id).await.expect("get"), job);
    let outer = Step {
        id: StepId::new_random(),
        job_id: job.id,
        parent_step_id: None,
        number: 1,
        step_type: StepType::Executing,
        description: "create volume".into(),
        status: JobStatus::Started,
        start_time: Timestamp(1001),
        end_time: None,
        progress: Some(0),
        data: serde_json::json!({"undo": {"volume_delete": {"sd": "x", "vol": "y"}}}),
    };
    s.step_insert(&outer).await.expect("step");
    let mut inner = Step {
        id: StepId::new_random(),
        parent_step_id: Some(outer.id),
        number: 2,
        description: "qemu-img create".into(),
        data: serde_json::json!(null),
        ..outer.clone()
    };
    s.step_insert(&inner).await.expect("inner step");
    inner.status = JobStatus::Finished;
    inner.end_time = Some(Timestamp(1500));
    inner.progress = Some(100);
    inner.data = serde_json::json!({"done": true});
    s.step_update(&inner).await.expect("update step");
    assert_eq!(s.step_get(inner.id).await.expect("get"), inner);
    assert_eq!(s.step_list_for_job(job.id).await.expect("steps"), vec![outer.clone(), inner.clone()]);
    let bad = Step { progress: Some(101), id: StepId::new_random(), ..inner.clone() };
    assert_error(s.step_insert(&bad).await.expect_err("progress"), ErrorKind::InvalidInput, &["0-100"]);
    let lost = Step { id: StepId::new_random(), job_id: JobId::new_random(), parent_step_id: None, ..inner.clone() };
    assert_error(s.step_insert(&lost).await.expect_err("no job"), ErrorKind::InvalidInput, &["job", "does not exist"]);

    // Unfinished jobs are what a restarted engine resumes.
    let mut done = Job { id: JobId::new_random(), start_time: Timestamp(500), ..job.clone() };
    done.status = JobStatus::Finished;
    done.end_time = Some(Timestamp(600));
    s.job_insert(&done).await.expect("done job");
    assert_eq!(s.jobs_unfinished().await.expect("unfinished"), vec![job.clone()]);
    assert_eq!(s.job_list(&JobFilter::default()).await.expect("list"), vec![job.clone(), done.clone()], "newest first");
    let by_corr = JobFilter { correlation_id: Some("req-1".into()), oldest_first: true, ..Default::default() };
    assert_eq!(s.job_list(&by_corr).await.expect("list").len(), 2);

    // Leases: a live lease of another engine is not taken; an earlier run of the same engine's
    // is, at once; an expired one is, by anyone. Only the holder renews and ends the job.
    assert!(
        !s.job_lease_take(job.id, "engine-b/run-1", "engine-b/", Timestamp(4000), Timestamp(9000)).await.expect("take")
    );
    assert!(
        s.job_lease_take(job.id, "engine-a/run-2", "engine-a/", Timestamp(4000), Timestamp(9000)).await.expect("take")
    );
    assert!(
        !s.job_lease_take(job.id, "engine-a/run-2", "engine-a/", Timestamp(4000), Timestamp(9500)).await.expect("own")
    );
    assert!(s.job_lease_extend(job.id, "engine-a/run-2", Timestamp(12_000)).await.expect("renew"));
    assert!(!s.job_lease_extend(job.id, "engine-a/run-1", Timestamp(13_000)).await.expect("not the holder"));
    assert!(
        s.job_lease_take(job.id, "engine-b/run-1", "engine-b/", Timestamp(12_001), Timestamp(20_000))
            .await
            .expect("expired")
    );
    assert!(!s.job_end(job.id, "engine-a/run-2", JobStatus::Failed, Timestamp(2000)).await.expect("not the holder"));
    assert!(s.job_end(job.id, "engine-b/run-1", JobStatus::Failed, Timestamp(2000)).await.expect("end"));
    assert!(!s.job_end(job.id, "engine-b/run-1", JobStatus::Finished, Timestamp(2100)).await.expect("ended already"));
    let ended = s.job_get(job.id).await.expect("get");
    assert_eq!(
        (ended.status, ended.end_time, ended.lease_owner.clone()),
        (JobStatus::Failed, Some(Timestamp(2000)), None)
    );
    assert_eq!(ended.params, job.params, "parameters kept");
    job = ended;
    assert!(s.jobs_unfinished().await.expect("unfinished").is_empty());
    // Removing the owner leaves the job ownerless.
    s.user_delete(owner.id).await.expect("user delete");
    assert_eq!(s.job_get(job.id).await.expect("get").owner_id, None);

    assert_eq!(s.job_delete_cleared_before(Timestamp(1000)).await.expect("clear"), 1, "only `done` ended before 1000");
    s.job_delete(job.id).await.expect("delete");
    assert_error(s.step_get(outer.id).await.expect_err("cascaded"), ErrorKind::NotFound, &["step"]);
}

// ---------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------

async fn taken_names_are_conflicts_that_name_the_object(db: &TestDb) {
    let s = &db.store;
    let (dc, cl) = dc_and_cluster(s).await;
    let err = s.data_center_insert(&data_center("Default")).await.expect_err("dc name");
    assert_error(err, ErrorKind::Conflict, &["a data center named 'Default' already exists"]);
    let err = s.cluster_insert(&cluster("Default", &dc)).await.expect_err("cluster name");
    assert_error(err, ErrorKind::Conflict, &["a cluster named 'Default' already exists"]);

    let v = vm("x", &cl);
    s.vm_insert(&v).await.expect("vm");
    assert_error(
        s.vm_insert(&vm("x", &cl)).await.expect_err("vm name"),
        ErrorKind::Conflict,
        &["a VM named 'x' already exists"],
    );
    let same_id = Vm { name: "y".into(), ..v.clone() };
    assert_error(
        s.vm_insert(&same_id).await.expect_err("vm id"),
        ErrorKind::Conflict,
        &["a VM with id", &v.id.to_string()],
    );
    let mut renamed = vm("z", &cl);
    s.vm_insert(&renamed).await.expect("z");
    renamed.name = "x".into();
    assert_error(s.vm_update(&renamed).await.expect_err("rename onto x"), ErrorKind::Conflict, &["a VM named 'x'"]);

    s.host_insert(&host("h1", "10.0.0.1", &cl)).await.expect("host");
    assert_error(
        s.host_insert(&host("h1", "10.0.0.2", &cl)).await.expect_err("name"),
        ErrorKind::Conflict,
        &["host named 'h1'"],
    );
    assert_error(
        s.host_insert(&host("h2", "10.0.0.1", &cl)).await.expect_err("address"),
        ErrorKind::Conflict,
        &["address '10.0.0.1'"],
    );
    s.storage_domain_insert(&storage_domain("sd")).await.expect("sd");
    assert_error(
        s.storage_domain_insert(&storage_domain("sd")).await.expect_err("sd"),
        ErrorKind::Conflict,
        &["storage domain named 'sd'"],
    );
    let t = Template {
        id: TemplateId::new_random(),
        name: "Blank".into(),
        description: String::new(),
        comment: String::new(),
        cluster_id: None,
        config: VmConfig::blank(),
        status: TemplateStatus::Ok,
        created: Timestamp::now(),
    };
    assert_error(s.template_insert(&t).await.expect_err("template"), ErrorKind::Conflict, &["template named 'Blank'"]);

    // Network names are unique per data center only.
    s.network_insert(&network("net", &dc)).await.expect("net");
    assert_error(
        s.network_insert(&network("net", &dc)).await.expect_err("net"),
        ErrorKind::Conflict,
        &["network named 'net'"],
    );
    let dc2 = data_center("other");
    s.data_center_insert(&dc2).await.expect("dc2");
    let net2 = network("net", &dc2);
    s.network_insert(&net2).await.expect("same name in another data center");
    s.vnic_profile_insert(&profile("p", &net2)).await.expect("profile");
    assert_error(
        s.vnic_profile_insert(&profile("p", &net2)).await.expect_err("profile"),
        ErrorKind::Conflict,
        &["vNIC profile named 'p'"],
    );

    s.nic_insert(&nic("nic1", &v, "56:6f:00:00:00:01", None)).await.expect("nic");
    assert_error(
        s.nic_insert(&nic("nic1", &v, "56:6f:00:00:00:02", None)).await.expect_err("nic name"),
        ErrorKind::Conflict,
        &["NIC named 'nic1'"],
    );
    let other = vm("other", &cl);
    s.vm_insert(&other).await.expect("other vm");
    assert_error(
        s.nic_insert(&nic("nic1", &other, "56:6f:00:00:00:01", None)).await.expect_err("mac"),
        ErrorKind::Conflict,
        &["MAC address 56:6f:00:00:00:01 is already in use"],
    );

    s.user_insert(&user("admin")).await.expect("user");
    assert_error(
        s.user_insert(&user("admin")).await.expect_err("user"),
        ErrorKind::Conflict,
        &["'admin@internal' already exists"],
    );
}

async fn dangling_references_name_what_is_missing(db: &TestDb) {
    let s = &db.store;
    let (dc, cl) = dc_and_cluster(s).await;
    let ghost_dc = data_center("ghost");
    let orphan = cluster("orphan", &ghost_dc);
    let err = s.cluster_insert(&orphan).await.expect_err("no dc");
    assert_error(
        err,
        ErrorKind::InvalidInput,
        &["cluster 'orphan'", &format!("data center {}, which does not exist", ghost_dc.id)],
    );

    let mut v = vm("v", &cl);
    v.cluster_id = ClusterId::new_random();
    let err = s.vm_insert(&v).await.expect_err("no cluster");
    assert_error(err, ErrorKind::InvalidInput, &["VM 'v'", &format!("cluster {}", v.cluster_id), "does not exist"]);
    let mut v = vm("v", &cl);
    v.template_id = TemplateId::new_random();
    let err = s.vm_insert(&v).await.expect_err("no template");
    assert_error(err, ErrorKind::InvalidInput, &[&format!("template {}", v.template_id), "does not exist"]);
    let mut v = vm("v", &cl);
    v.placement.host_id = Some(HostId::new_random());
    assert_error(s.vm_insert(&v).await.expect_err("no host"), ErrorKind::InvalidInput, &["host", "does not exist"]);

    let d = disk("d", &storage_domain("nowhere"));
    assert_error(
        s.disk_insert(&d).await.expect_err("no sd"),
        ErrorKind::InvalidInput,
        &["storage domain", "does not exist"],
    );
    let v = vm("v", &cl);
    s.vm_insert(&v).await.expect("vm");
    let att = DiskAttachment { disk_id: DiskId::new_random(), ..attachment(&v, &d, true) };
    assert_error(
        s.disk_attachment_insert(&att).await.expect_err("no disk"),
        ErrorKind::InvalidInput,
        &[&format!("disk {}", att.disk_id), "does not exist"],
    );
    let n = nic("nic1", &v, "56:6f:00:00:00:01", Some(&profile("p", &network("n", &dc))));
    assert_error(
        s.nic_insert(&n).await.expect_err("no profile"),
        ErrorKind::InvalidInput,
        &["vNIC profile", "does not exist"],
    );
    assert_error(
        s.host_insert(&host("h", "h.example", &cluster("nope", &dc))).await.expect_err("no cluster"),
        ErrorKind::InvalidInput,
        &["host 'h'", "cluster", "does not exist"],
    );
    let att = StorageDomainAttachment {
        data_center_id: dc.id,
        storage_domain_id: StorageDomainId::new_random(),
        status: StorageDomainStatus::Active,
    };
    assert_error(
        s.storage_domain_attachment_insert(&att).await.expect_err("no sd"),
        ErrorKind::InvalidInput,
        &["storage domain", "does not exist"],
    );

    // Removing what others use is refused and says by whom.
    s.host_insert(&host("h", "h.example", &cl)).await.expect("host");
    assert_error(s.cluster_delete(cl.id).await.expect_err("in use"), ErrorKind::Conflict, &["still used by hosts"]);
}

async fn missing_objects_are_not_found(db: &TestDb) {
    let s = &db.store;
    let id = VmId::new_random();
    assert_error(s.vm_get(id).await.expect_err("get"), ErrorKind::NotFound, &[&format!("VM {id} does not exist")]);
    assert_error(
        s.vm_get_by_name("nope").await.expect_err("by name"),
        ErrorKind::NotFound,
        &["VM 'nope' does not exist"],
    );
    assert_error(s.vm_delete(id).await.expect_err("delete"), ErrorKind::NotFound, &["VM"]);
    let dc = data_center("dc");
    assert_error(s.data_center_update(&dc).await.expect_err("update"), ErrorKind::NotFound, &["data center"]);
    assert_error(s.cluster_get_by_name("c").await.expect_err("cluster"), ErrorKind::NotFound, &["cluster 'c'"]);
    assert_error(s.disk_get(DiskId::new_random()).await.expect_err("disk"), ErrorKind::NotFound, &["disk"]);
    assert_error(s.job_get(JobId::new_random()).await.expect_err("job"), ErrorKind::NotFound, &["job"]);
    assert_error(s.event_get(EventSeq(42)).await.expect_err("event"), ErrorKind::NotFound, &["event 42"]);
    assert_error(s.nic_delete(NicId::new_random()).await.expect_err("nic"), ErrorKind::NotFound, &["NIC"]);
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

async fn vm_filters_match_sort_and_page(db: &TestDb) {
    let s = &db.store;
    let (dc, cl) = dc_and_cluster(s).await;
    let cl2 = cluster("second", &dc);
    s.cluster_insert(&cl2).await.expect("cluster 2");
    let specs = [
        ("Web1", VmStatus::Up, &cl),
        ("web2", VmStatus::Down, &cl),
        ("WEB3", VmStatus::Paused, &cl2),
        ("db1", VmStatus::Up, &cl2),
        ("a_b", VmStatus::Down, &cl),
        ("axb", VmStatus::Down, &cl),
        ("100%", VmStatus::Down, &cl),
    ];
    for (i, (name, status, cluster)) in specs.iter().enumerate() {
        let mut v = vm(name, cluster);
        v.runtime.status = *status;
        v.created = Timestamp(i as i64);
        s.vm_insert(&v).await.expect("vm");
    }
    let list = |f: VmFilter| async move { names(&s.vm_list(&f).await.expect("list"), |v| &v.name) };

    assert_eq!(list(VmFilter::default()).await, ["100%", "WEB3", "Web1", "a_b", "axb", "db1", "web2"], "by bytes");
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::new("web*")), ..Default::default() }).await,
        ["WEB3", "Web1", "web2"]
    );
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::case_sensitive("web*")), ..Default::default() }).await,
        ["web2"]
    );
    assert_eq!(list(VmFilter { name: Some(NamePattern::new("*1")), ..Default::default() }).await, ["Web1", "db1"]);
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::new("a_b")), ..Default::default() }).await,
        ["a_b"],
        "_ is literal"
    );
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::new("*%")), ..Default::default() }).await,
        ["100%"],
        "% is literal"
    );
    assert_eq!(list(VmFilter { name: Some(NamePattern::new("WEB1")), ..Default::default() }).await, ["Web1"]);
    assert!(list(VmFilter { name: Some(NamePattern::case_sensitive("WEB1")), ..Default::default() }).await.is_empty());
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::new("web*").negate()), ..Default::default() }).await,
        ["100%", "a_b", "axb", "db1"],
        "name!=web*"
    );
    assert_eq!(
        list(VmFilter { name: Some(NamePattern::new("WEB1").negate()), ..Default::default() }).await,
        ["100%", "WEB3", "a_b", "axb", "db1", "web2"]
    );

    assert_eq!(list(VmFilter { status: Some(VmStatus::Up), ..Default::default() }).await, ["Web1", "db1"]);
    assert_eq!(list(VmFilter { cluster_id: Some(cl2.id), ..Default::default() }).await, ["WEB3", "db1"]);
    let up_in_cl2 = VmFilter { status: Some(VmStatus::Up), cluster_id: Some(cl2.id), ..Default::default() };
    assert_eq!(list(up_in_cl2).await, ["db1"]);

    let by_status = VmFilter { page: Page { sort_by: SortBy::Status, ..Page::default() }, ..Default::default() };
    assert_eq!(
        list(by_status).await,
        ["100%", "a_b", "axb", "web2", "WEB3", "Web1", "db1"],
        "down, paused, up; then name"
    );
    let by_status_desc = VmFilter {
        page: Page { sort_by: SortBy::Status, descending: true, limit: Some(3), ..Page::default() },
        ..Default::default()
    };
    assert_eq!(list(by_status_desc).await, ["Web1", "db1", "WEB3"]);
    let newest = VmFilter {
        page: Page { sort_by: SortBy::Created, descending: true, limit: Some(2), ..Page::default() },
        ..Default::default()
    };
    assert_eq!(list(newest).await, ["100%", "axb"]);

    // Paging walks the whole list exactly once.
    let mut seen = Vec::new();
    for page in 0..4 {
        let f = VmFilter {
            page: Page { limit: Some(2), offset: page * 2, descending: true, ..Page::default() },
            ..Default::default()
        };
        seen.extend(list(f).await);
    }
    assert_eq!(seen, ["web2", "db1", "axb", "a_b", "Web1", "WEB3", "100%"]);
    assert_eq!(
        list(VmFilter { page: Page { offset: 5, ..Page::default() }, ..Default::default() }).await,
        ["db1", "web2"],
        "offset without limit"
    );
}

async fn other_collections_filter(db: &TestDb) {
    let s = &db.store;
    let (dc, cl) = dc_and_cluster(s).await;
    let mut h1 = host("alpha", "10.0.0.1", &cl);
    h1.status = HostStatus::Up;
    s.host_insert(&h1).await.expect("h1");
    s.host_insert(&host("beta", "10.0.0.2", &cl)).await.expect("h2");
    let up = HostFilter { status: Some(HostStatus::Up), ..Default::default() };
    assert_eq!(names(&s.host_list(&up).await.expect("hosts"), |h| &h.name), ["alpha"]);
    let b = HostFilter { name: Some(NamePattern::new("B*")), ..Default::default() };
    assert_eq!(names(&s.host_list(&b).await.expect("hosts"), |h| &h.name), ["beta"]);

    let up_dc = DataCenterFilter { status: Some(DataCenterStatus::Up), ..Default::default() };
    assert!(s.data_center_list(&up_dc).await.expect("dcs").is_empty());
    let def = DataCenterFilter { name: Some(NamePattern::new("def*")), ..Default::default() };
    assert_eq!(s.data_center_list(&def).await.expect("dcs"), vec![dc.clone()]);

    let sd = storage_domain("data");
    s.storage_domain_insert(&sd).await.expect("sd");
    let mut d1 = disk("root", &sd);
    d1.status = DiskStatus::Locked;
    s.disk_insert(&d1).await.expect("d1");
    s.disk_insert(&disk("swap", &sd)).await.expect("d2");
    let locked = DiskFilter { status: Some(DiskStatus::Locked), ..Default::default() };
    assert_eq!(names(&s.disk_list(&locked).await.expect("disks"), |d| &d.alias), ["root"]);
    let on_sd = DiskFilter {
        storage_domain_id: Some(sd.id),
        page: Page { descending: true, ..Page::default() },
        ..Default::default()
    };
    assert_eq!(names(&s.disk_list(&on_sd).await.expect("disks"), |d| &d.alias), ["swap", "root"]);

    s.network_insert(&network("ovirtmgmt", &dc)).await.expect("net");
    let nf = NetworkFilter { data_center_id: Some(dc.id), name: Some(NamePattern::new("*MGMT")), ..Default::default() };
    assert_eq!(names(&s.network_list(&nf).await.expect("nets"), |n| &n.name), ["ovirtmgmt"]);
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

async fn event_ids_increase_and_page(db: &TestDb) {
    let s = &db.store;
    let vm_id = VmId::new_random();
    let mut ids = Vec::new();
    for i in 0..25 {
        let severity = if i % 5 == 4 { Severity::Error } else { Severity::Normal };
        let mut e = event(&format!("event {i}"), severity);
        e.time = Timestamp(1_000 + i);
        if i % 2 == 0 {
            e.refs.vm_id = Some(vm_id);
        }
        let stored = s.event_insert(&e).await.expect("insert");
        assert_eq!(stored.description, e.description);
        ids.push(stored.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert_eq!(s.event_get(ids[3]).await.expect("get").description, "event 3");

    // Follow the log in pages, as `GET /events?from=N` does.
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let page = s.event_list_since(from, 10).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        from = page.last().map(|e| e.id);
        seen.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, ids);
    assert!(s.event_list_since(ids.last().copied(), 10).await.expect("after the last").is_empty());

    let errors = EventFilter { min_severity: Some(Severity::Warning), ..Default::default() };
    assert_eq!(s.event_list(&errors).await.expect("errors").len(), 5);
    let newest_for_vm = EventFilter { vm_id: Some(vm_id), descending: true, limit: Some(2), ..Default::default() };
    let got = s.event_list(&newest_for_vm).await.expect("vm events");
    assert_eq!(names(&got, |e| &e.description), ["event 24", "event 22"]);
    assert_eq!(got[0].refs.vm_id, Some(vm_id));

    // Aging removes old events; numbering never goes back.
    assert_eq!(s.event_delete_before(Timestamp(1_020)).await.expect("age"), 20);
    let next = s.event_insert(&event("after aging", Severity::Alert)).await.expect("insert");
    assert!(next.id > *ids.last().expect("ids"));
    assert_eq!(s.event_list_since(None, 100).await.expect("all").len(), 6);
}

// ---------------------------------------------------------------------------------------
// Transactions, summary, durability
// ---------------------------------------------------------------------------------------

async fn failed_transaction_leaves_nothing(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let sd = storage_domain("data");
    s.storage_domain_insert(&sd).await.expect("sd");

    // VM + disk written, then the attachment fails (it names a disk that does not exist).
    let v = vm("atomic", &cl);
    let d = disk("atomic_disk", &sd);
    let mut tx = s.begin().await.expect("begin");
    tx.vm_insert(&v).await.expect("vm in tx");
    tx.disk_insert(&d).await.expect("disk in tx");
    let bad = DiskAttachment { disk_id: DiskId::new_random(), ..attachment(&v, &d, true) };
    let err = tx.disk_attachment_insert(&bad).await.expect_err("attachment fails");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    drop(tx);
    assert_error(s.vm_get(v.id).await.expect_err("no VM"), ErrorKind::NotFound, &["VM"]);
    assert_error(s.disk_get(d.id).await.expect_err("no disk"), ErrorKind::NotFound, &["disk"]);
    assert!(s.disk_attachment_list_for_vm(v.id).await.expect("list").is_empty());

    // An explicit rollback discards as well.
    let mut tx = s.begin().await.expect("begin");
    tx.vm_insert(&v).await.expect("vm in tx");
    assert_eq!(tx.vm_get(v.id).await.expect("visible inside"), v);
    tx.rollback().await.expect("rollback");
    assert!(s.vm_get(v.id).await.is_err());

    // The same three writes, committed, are all there.
    let mut tx = s.begin().await.expect("begin");
    tx.vm_insert(&v).await.expect("vm");
    tx.disk_insert(&d).await.expect("disk");
    tx.disk_attachment_insert(&attachment(&v, &d, true)).await.expect("attachment");
    tx.commit().await.expect("commit");
    assert_eq!(s.vm_get(v.id).await.expect("vm"), v);
    assert_eq!(s.disk_get(d.id).await.expect("disk"), d);
    assert_eq!(s.disk_attachment_list_for_vm(v.id).await.expect("list").len(), 1);
}

async fn concurrent_transactions_all_commit(db: &TestDb) {
    let s = &db.store;
    let (_dc, cl) = dc_and_cluster(s).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = s.clone();
        let cl = cl.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.expect("begin");
            // Read, then write: the pattern that fails with "database is locked" on SQLite
            // unless transactions take the write lock up front.
            let before = tx.vm_list(&VmFilter::default()).await.expect("list").len();
            tx.vm_insert(&vm(&format!("c{i}"), &cl)).await.expect("insert");
            tx.event_insert(&event(&format!("VM c{i} added ({before} before)"), Severity::Normal))
                .await
                .expect("event");
            tx.commit().await.expect("commit");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(s.vm_list(&VmFilter::default()).await.expect("list").len(), 8);
    assert_eq!(s.event_list_since(None, 100).await.expect("events").len(), 8);
}

async fn summary_counts_what_the_api_root_shows(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.summary_counts().await.expect("empty"), SummaryCounts::default());
    let (dc, cl) = dc_and_cluster(s).await;
    let mut up = vm("up", &cl);
    up.runtime.status = VmStatus::Up;
    s.vm_insert(&up).await.expect("vm");
    s.vm_insert(&vm("down", &cl)).await.expect("vm");
    let mut h = host("h", "h", &cl);
    h.status = HostStatus::Up;
    s.host_insert(&h).await.expect("host");
    let sd = storage_domain("sd");
    s.storage_domain_insert(&sd).await.expect("sd");
    s.storage_domain_insert(&storage_domain("sd2")).await.expect("sd2");
    let att = StorageDomainAttachment {
        data_center_id: dc.id,
        storage_domain_id: sd.id,
        status: StorageDomainStatus::Active,
    };
    s.storage_domain_attachment_insert(&att).await.expect("attach");
    s.user_insert(&user("admin")).await.expect("user");
    let mut disabled = user("old");
    disabled.enabled = false;
    s.user_insert(&disabled).await.expect("user");
    assert_eq!(
        s.summary_counts().await.expect("counts"),
        SummaryCounts {
            vms_total: 2,
            vms_active: 1,
            hosts_total: 1,
            hosts_active: 1,
            storage_domains_total: 2,
            storage_domains_active: 1,
            users_total: 2,
            users_active: 1,
        }
    );
}

async fn data_survives_reopen_and_migrations_are_idempotent(db: &TestDb) {
    let (_dc, cl) = dc_and_cluster(&db.store).await;
    let v = vm("persistent", &cl);
    db.store.vm_insert(&v).await.expect("vm");
    let e = db.store.event_insert(&event("before restart", Severity::Normal)).await.expect("event");
    db.store.close().await;

    // Open again (migrations run again and change nothing), twice, concurrently.
    let (a, b) = tokio::join!(db.reopen(), db.reopen());
    assert_eq!(a.vm_get(v.id).await.expect("vm survives"), v);
    assert_eq!(b.event_get(e.id).await.expect("event survives").description, "before restart");
    let blanks = TemplateFilter { name: Some(NamePattern::new("Blank")), ..Default::default() };
    assert_eq!(a.template_list(&blanks).await.expect("templates").len(), 1, "Blank is seeded once");
    let next = b.event_insert(&event("after restart", Severity::Normal)).await.expect("event");
    assert!(next.id > e.id);
    a.close().await;
    b.close().await;
}

async fn sqlite_runs_in_wal_mode(db: &TestDb) {
    let mode = db.store.sqlite_journal_mode().await.expect("journal mode");
    match db.store.backend() {
        Backend::Sqlite => {
            assert_eq!(mode.as_deref(), Some("wal"));
            let path = db.url.trim_start_matches("sqlite://");
            assert!(std::path::Path::new(&format!("{path}-wal")).exists(), "the WAL file exists next to {path}");
        }
        Backend::Postgres => {
            assert_eq!(mode, None);
            assert!(db.pg.as_ref().is_some_and(|pg| pg.pid() > 0));
        }
    }
    db.store.ping().await.expect("ping");
}

on_both_backends!(
    data_centers_and_clusters_round_trip,
    tags_round_trip,
    affinity_labels_round_trip,
    external_events_are_unique_per_origin,
    hosts_round_trip,
    storage_domains_round_trip,
    storage_domain_remembers_its_host,
    networks_profiles_and_nics_round_trip,
    mac_pools_round_trip_and_clusters_keep_theirs,
    templates_and_vms_round_trip,
    disks_volumes_and_attachments_round_trip,
    users_round_trip,
    jobs_and_steps_round_trip,
    taken_names_are_conflicts_that_name_the_object,
    dangling_references_name_what_is_missing,
    missing_objects_are_not_found,
    vm_filters_match_sort_and_page,
    other_collections_filter,
    event_ids_increase_and_page,
    failed_transaction_leaves_nothing,
    concurrent_transactions_all_commit,
    summary_counts_what_the_api_root_shows,
    data_survives_reopen_and_migrations_are_idempotent,
    sqlite_runs_in_wal_mode,
);

// ---------------------------------------------------------------------------------------
// Backend-independent checks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_urls_are_refused_clearly() {
    let err = Store::open("mysql://root:secret@db/engine").await.expect_err("unsupported");
    assert_error(err, ErrorKind::InvalidInput, &["sqlite:///", "postgres://"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_dir = format!("sqlite://{}/no/such/dir/engine.db", dir.path().display());
    let err = Store::open(&missing_dir).await.expect_err("no directory");
    assert_error(err, ErrorKind::Unavailable, &["cannot open the database"]);
}

/// The two migration trees make the same schema: the same tables with the same columns, in
/// the same order (a migration added to one tree only fails here, not in production).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().await;
    let postgres = TestDb::postgres().await;
    let a = sqlite.store.schema_describe().await.expect("sqlite schema");
    let b = postgres.store.schema_describe().await.expect("postgres schema");
    assert!(a.contains_key("vms") && a.len() > 10, "the schema is read: {a:?}");
    for table in a.keys().chain(b.keys()) {
        assert_eq!(a.get(table), b.get(table), "table {table}: SQLite (left) and PostgreSQL (right) differ");
    }
}

/// Compile-time check: the store's futures are `Send`, so HTTP handlers and spawned tasks can
/// await them (never called; it only has to type-check).
#[allow(dead_code)]
fn store_futures_are_send(store: &Store, tx: &mut StoreTx, vm: &Vm, filter: &VmFilter) {
    fn send<T: Send>(_: T) {}
    send(Store::open("sqlite::memory:"));
    send(store.vm_insert(vm));
    send(store.vm_list(filter));
    send(store.begin());
    send(tx.vm_insert(vm));
    send(tx.vm_runtime_set(vm.id, &vm.runtime, Some(&[VmStatus::Down])));
}
