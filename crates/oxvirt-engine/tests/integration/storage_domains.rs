//! Storage domains and floating disks: a domain is created through an existing Up host;
//! attaching activates it and brings its data center up; maintenance and back; detach and
//! removal only from the right state; a local domain only in its host's data center and only
//! active through that host; disks on an active data domain, counted in its `committed`.
//! (Ported from `tests/sdk/storage.py`, which runs them against a real host.)

use super::names;
use oxvirt_engine_db::model::DiskStatus;
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{Database, GIB, id};
use oxvirt_types::{DataCenterStatus, DiskId, StorageDomainId, StorageDomainStatus, VolumeId};
use serde_json::json;

/// Whether simulated host `index` has storage domain `sd` attached (connected).
fn sim_has_domain(ctx: &EngineTestContext, index: usize, sd: &str) -> bool {
    ctx.sim_host(index).domain_list().iter().any(|d| d.id.to_string() == sd)
}

async fn attaching_a_domain_activates_it_and_brings_the_data_center_up(database: Database) {
    let ctx = EngineTestContext::options().hosts(1).database(database).start().await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let dc = ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1");
    assert_eq!(dc["status"], "uninitialized", "a data center without storage: {dc}");

    let sd = ctx.storage_domain_add_local("local0", "sim0").await.expect("local0 through sim0");
    assert_eq!(
        (&sd["status"], &sd["type"], &sd["master"], &sd["storage"]["type"], &sd["storage"]["path"]),
        (&json!("unattached"), &json!("data"), &json!("false"), &json!("localfs"), &json!("/oxvirt-sim/local0")),
        "{sd}"
    );
    assert_eq!(sd["host"]["id"], s.hosts[0], "the host it was created through is recorded: {sd}");
    let sd_id = id(&sd);
    assert!(sim_has_domain(&ctx, 0, &sd_id), "the domain was created on sim0");

    let attached = ctx.storage_domain_attach(&s.dc, &sd_id).await.expect("attach local0 to dc1");
    assert_eq!((&attached["status"], &attached["master"]), (&json!("active"), &json!("true")), "{attached}");
    assert_eq!(attached["data_center"]["id"], s.dc, "{attached}");
    let dc = ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1");
    assert_eq!(dc["status"], "up", "an active data domain and an Up host: {dc}");
    assert_eq!(ctx.api.get(&format!("storagedomains/{sd_id}")).await.expect("local0")["status"], "active");
    let active = ctx.api.list("storagedomains?search=status%3Dactive", "storage_domain").await.expect("search");
    assert_eq!(names(&active), ["local0"]);
    let in_dc = ctx.api.list(&format!("datacenters/{}/storagedomains", s.dc), "storage_domain").await.expect("list");
    assert_eq!(names(&in_dc), ["local0"]);

    // Behind the API: the rows say the same.
    let store = ctx.store().await.expect("store");
    let row = store.storage_domain_get(sd_id.parse::<StorageDomainId>().expect("id")).await.expect("row");
    assert_eq!((row.status, row.master), (StorageDomainStatus::Active, true));
    let dc_row = store.data_center_get(s.dc.parse().expect("dc id")).await.expect("dc row");
    assert_eq!(dc_row.status, DataCenterStatus::Up);
    ctx.event_wait(&["local0", "was attached to Data Center dc1"]).await.expect("attach event");
    ctx.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_a_domain_activates_it_and_brings_the_data_center_up_on_sqlite() {
    attaching_a_domain_activates_it_and_brings_the_data_center_up(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_a_domain_activates_it_and_brings_the_data_center_up_on_postgresql() {
    attaching_a_domain_activates_it_and_brings_the_data_center_up(Database::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_puts_domain_and_data_center_in_maintenance_and_activating_brings_both_back() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let attached = format!("datacenters/{}/storagedomains/{}", s.dc, s.sd());

    let reply = ctx.api.action(&attached, "deactivate").await.expect("deactivate local0");
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(ctx.api.get(&attached).await.expect("local0")["status"], "maintenance");
    let dc = ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1");
    assert_eq!(dc["status"], "maintenance", "no active data domain: {dc}");
    assert!(!sim_has_domain(&ctx, 0, s.sd()), "the host disconnected the domain");

    ctx.api.action(&attached, "activate").await.expect("activate local0");
    assert_eq!(ctx.api.get(&attached).await.expect("local0")["status"], "active");
    assert_eq!(ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1")["status"], "up");
    assert!(sim_has_domain(&ctx, 0, s.sd()), "the host connected the domain again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_domain_is_neither_attached_twice_detached_nor_removed() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");

    let again = ctx.storage_domain_attach(&s.dc, s.sd()).await.expect_err("attached twice");
    again.assert_names(409, &["local0", "already attached", "dc1"]);
    let detach = ctx.api.delete(&format!("datacenters/{}/storagedomains/{}", s.dc, s.sd())).await;
    detach.expect_err("detaching an active domain").assert_names(409, &["local0", "dc1", "maintenance"]);
    let remove = ctx.api.delete(&format!("storagedomains/{}?host=sim0", s.sd())).await;
    remove.expect_err("removing an attached domain").assert_names(409, &["local0", "dc1", "detach"]);

    // Nothing changed.
    let sd = ctx.api.get(&format!("datacenters/{}/storagedomains/{}", s.dc, s.sd())).await.expect("still attached");
    assert_eq!(sd["status"], "active", "{sd}");
    assert_eq!(ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1")["status"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_in_maintenance_is_detached_unattached_and_then_removed() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let attached = format!("datacenters/{}/storagedomains/{}", s.dc, s.sd());
    ctx.api.action(&attached, "deactivate").await.expect("deactivate");

    ctx.api.delete(&attached).await.expect("detach from maintenance");
    assert!(
        ctx.api.list(&format!("datacenters/{}/storagedomains", s.dc), "storage_domain").await.expect("list").is_empty()
    );
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!((&sd["status"], &sd["master"]), (&json!("unattached"), &json!("false")), "{sd}");
    let dc = ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1");
    assert_eq!(dc["status"], "uninitialized", "no data domain left: {dc}");

    ctx.api.delete(&format!("storagedomains/{}?host=sim0", s.sd())).await.expect("remove the unattached domain");
    assert!(ctx.api.list("storagedomains", "storage_domain").await.expect("list").is_empty());
    ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect_err("gone").assert_names(404, &[]);
    assert!(!sim_has_domain(&ctx, 0, s.sd()), "the host forgot the domain");
    ctx.event_wait(&["local0", "was removed"]).await.expect("removal event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_is_created_only_through_an_existing_up_host_with_a_free_name_and_an_absolute_path() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let body = |name: &str, host: &str, path: &str| json!({"name": name, "type": "data", "host": {"name": host}, "storage": {"type": "localfs", "path": path}});

    let f = ctx.api.post("storagedomains", &body("nohost", "nosuch", "/a")).await.expect_err("unknown host");
    f.assert_names(400, &["host 'nosuch' does not exist"]);
    let f = ctx.api.post("storagedomains", &body("rel", "sim0", "not/absolute")).await.expect_err("relative path");
    f.assert_names(400, &["rel", "not/absolute", "absolute"]);
    let f = ctx.api.post("storagedomains", &json!({"name": "nostorage", "host": {"name": "sim0"}})).await;
    f.expect_err("no storage").assert_names(400, &["nostorage", "storage"]);
    let tape = json!({"name": "tape", "host": {"name": "sim0"}, "storage": {"type": "tape", "path": "/t"}});
    ctx.api.post("storagedomains", &tape).await.expect_err("unknown storage type").assert_names(400, &["tape"]);
    assert!(ctx.api.list("storagedomains", "storage_domain").await.expect("list").is_empty(), "nothing stored");

    ctx.storage_domain_add_local("local0", "sim0").await.expect("local0");
    let f = ctx.storage_domain_add_local("local0", "sim0").await.expect_err("a taken name");
    f.assert_names(409, &["local0", "already exists"]);

    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "deactivate").await.expect("sim0 to maintenance");
    let f = ctx.storage_domain_add_local("local1", "sim0").await.expect_err("through a host in maintenance");
    f.assert_names(409, &["sim0", "maintenance", "Up host"]);
    assert_eq!(names(&ctx.api.list("storagedomains", "storage_domain").await.expect("list")), ["local0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_domain_attaches_only_to_the_data_center_of_its_host() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let dc2 = id(&ctx.data_center_add("dc2").await.expect("dc2"));
    let sd = id(&ctx.storage_domain_add_local("local0", "sim0").await.expect("local0 through sim0"));

    let f = ctx.storage_domain_attach(&dc2, &sd).await.expect_err("attach to another data center");
    f.assert_names(409, &["local0", "dc2", "local storage"]);
    assert!(
        ctx.api.list(&format!("datacenters/{dc2}/storagedomains"), "storage_domain").await.expect("list").is_empty()
    );
    assert_eq!(ctx.api.get(&format!("storagedomains/{sd}")).await.expect("local0")["status"], "unattached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_domain_is_activated_only_through_its_own_up_host() {
    let ctx = EngineTestContext::start(2).await.expect("context");
    let s = ctx.setup_with_local_domain(2, 0).await.expect("dc1 up with local0 on sim0, sim1 up too");
    let attached = format!("datacenters/{}/storagedomains/{}", s.dc, s.sd());
    assert!(!sim_has_domain(&ctx, 1, s.sd()), "sim1 cannot reach sim0's local storage and was not connected");
    ctx.api.action(&attached, "deactivate").await.expect("deactivate");
    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "deactivate").await.expect("sim0 to maintenance");

    // sim1 is Up in the same data center, but local storage is reachable from sim0 only.
    let f = ctx.api.action(&attached, "activate").await.expect_err("activation without its host");
    f.assert_names(409, &["dc1", "local0", "local storage", "activate a host"]);
    assert_eq!(ctx.api.get(&attached).await.expect("local0")["status"], "maintenance");
    assert!(!sim_has_domain(&ctx, 1, s.sd()), "sim1 was not connected");

    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "activate").await.expect("sim0 up again");
    ctx.api.action(&attached, "activate").await.expect("activate through sim0");
    assert_eq!(ctx.api.get(&attached).await.expect("local0")["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_that_cannot_activate_is_undone() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let sd = id(&ctx.storage_domain_add_local("local0", "sim0").await.expect("local0"));
    ctx.api.action(&format!("hosts/{}", s.hosts[0]), "deactivate").await.expect("sim0 to maintenance");

    let f = ctx.storage_domain_attach(&s.dc, &sd).await.expect_err("attach without an Up host");
    f.assert_names(409, &["local0", "dc1", "Up host"]);
    assert!(
        ctx.api.list(&format!("datacenters/{}/storagedomains", s.dc), "storage_domain").await.expect("list").is_empty()
    );
    let sd = ctx.api.get(&format!("storagedomains/{sd}")).await.expect("local0");
    assert_eq!((&sd["status"], &sd["master"]), (&json!("unattached"), &json!("false")), "{sd}");
    assert_eq!(ctx.api.get(&format!("datacenters/{}", s.dc)).await.expect("dc1")["status"], "uninitialized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floating_disk_is_made_on_the_domain_counted_in_committed_and_removed_with_its_volume() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let disk = ctx
        .api
        .post(
            "disks",
            &json!({"name": "d1", "description": "first", "format": "cow", "sparse": true, "provisioned_size": GIB,
                    "storage_domains": {"storage_domain": [{"id": s.sd()}]}}),
        )
        .await
        .expect("add disk d1");
    let disk_id = id(&disk);
    let disk = ctx.wait_status(&format!("disks/{disk_id}"), "ok").await.expect("d1 ok");
    assert_eq!(
        (&disk["provisioned_size"], &disk["format"], &disk["sparse"]),
        (&json!(GIB.to_string()), &json!("cow"), &json!("true")),
        "{disk}"
    );
    assert_eq!(disk["storage_domains"]["storage_domain"][0]["id"], s.sd(), "{disk}");
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!(sd["committed"], GIB.to_string(), "the disk's provisioned size is committed: {sd}");
    assert_eq!(names(&ctx.api.list("disks?search=name%3Dd1", "disk").await.expect("search")), ["d1"]);

    // The volume exists on the (simulated) storage.
    let sd_id: StorageDomainId = s.sd().parse().expect("sd id");
    let volume = oxvirt_agent_api::v1::VolumeRef {
        image_id: disk_id.parse::<DiskId>().expect("disk id"),
        volume_id: disk["image_id"].as_str().expect("image_id").parse::<VolumeId>().expect("volume id"),
    };
    let info = ctx.sim_host(0).storage().volume_info(sd_id, volume).expect("the volume exists");
    assert_eq!(info.virtual_size, oxvirt_types::ByteSize(GIB));
    let row = ctx.store().await.expect("store").disk_get(volume.image_id).await.expect("disk row");
    assert_eq!(row.status, DiskStatus::Ok);

    ctx.api.delete(&format!("disks/{disk_id}")).await.expect("remove d1");
    ctx.wait_gone(&format!("disks/{disk_id}")).await.expect("d1 is gone");
    assert!(ctx.sim_host(0).storage().volume_info(sd_id, volume).is_err(), "the volume is gone");
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!(sd["committed"], "0", "{sd}");
    ctx.event_wait(&["d1", "was successfully added"]).await.expect("add event");
    ctx.event_wait(&["d1", "was successfully removed"]).await.expect("remove event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_needs_a_size_a_thin_cow_format_and_an_active_domain() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let disk = |name: &str, format: &str, sparse: bool| {
        json!({"name": name, "format": format, "sparse": sparse, "provisioned_size": GIB,
               "storage_domains": {"storage_domain": [{"id": s.sd()}]}})
    };
    let f = ctx.api.post("disks", &disk("thick", "cow", false)).await.expect_err("preallocated cow");
    f.assert_names(400, &["cow", "sparse"]);
    let nosize = json!({"name": "nosize", "format": "cow", "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
    ctx.api.post("disks", &nosize).await.expect_err("no size").assert_names(400, &["nosize", "provisioned_size"]);

    ctx.api.action(&format!("datacenters/{}/storagedomains/{}", s.dc, s.sd()), "deactivate").await.expect("deactivate");
    let f = ctx.api.post("disks", &disk("later", "raw", false)).await.expect_err("on a domain in maintenance");
    f.assert_names(409, &["local0", "not active"]);
    assert!(ctx.api.list("disks", "disk").await.expect("list").is_empty(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_holding_disks_is_not_removed() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let disk = json!({"name": "d1", "format": "raw", "provisioned_size": GIB,
                      "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
    ctx.api.post("disks", &disk).await.expect("add d1");
    let attached = format!("datacenters/{}/storagedomains/{}", s.dc, s.sd());
    ctx.api.action(&attached, "deactivate").await.expect("deactivate");
    ctx.api.delete(&attached).await.expect("detach");

    let f = ctx.api.delete(&format!("storagedomains/{}", s.sd())).await.expect_err("removal with a disk on it");
    f.assert_names(409, &["local0", "d1", "remove them first"]);
    assert_eq!(names(&ctx.api.list("storagedomains", "storage_domain").await.expect("list")), ["local0"]);
}

/// The storage check (an oxvirt extension) finds what a domain holds that no row knows, and
/// rows whose volume is gone; it only reports, deleting nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_check_lists_volumes_without_a_row_and_rows_without_a_volume() {
    use oxvirt_agent_api::v1;
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("setup");
    let check_path = format!("oxvirt/storagedomains/{}/check", s.sd());
    let clean = ctx.api.get(&check_path).await.expect("check");
    assert_eq!(clean["clean"], "true", "{clean}");

    let body = json!({"name": "kept", "format": "cow", "sparse": true, "provisioned_size": GIB,
                      "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
    let kept = ctx.api.post("disks?async=false", &body).await.expect("disk");
    let sd: StorageDomainId = s.sd().parse().expect("sd id");
    // A volume nobody recorded (as a host that died mid-job could leave).
    let stray = v1::VolumeCreate {
        image_id: DiskId::new_random(),
        volume_id: VolumeId::new_random(),
        format: v1::VolumeFormat::Cow,
        size: Some(oxvirt_types::ByteSize(GIB)),
        sparse: true,
        parent: None,
        description: "stray".into(),
    };
    ctx.sim_host(0).storage().volume_create(sd, &stray).expect("a stray volume");
    // A recorded disk whose volume vanished.
    let kept_ref = v1::VolumeRef {
        image_id: id(&kept).parse().expect("disk id"),
        volume_id: kept["image_id"].as_str().expect("image_id").parse().expect("volume id"),
    };
    ctx.sim_host(0).storage().volume_delete(sd, kept_ref).expect("delete behind the engine's back");

    let found = ctx.api.get(&check_path).await.expect("check");
    assert_eq!(found["clean"], "false", "{found}");
    let text = found.to_string();
    assert!(text.contains(&stray.volume_id.to_string()), "the stray volume is listed: {found}");
    assert!(text.contains(&kept_ref.volume_id.to_string()) && text.contains("kept"), "the row without volume: {found}");
    assert_eq!(ctx.api.get(&format!("disks/{}", id(&kept))).await.expect("kept")["status"], "ok", "nothing changed");
    ctx.api
        .get("oxvirt/storagedomains/00000000-0000-0000-0000-000000000009/check")
        .await
        .expect_err("no such")
        .assert_names(404, &[]);
}
