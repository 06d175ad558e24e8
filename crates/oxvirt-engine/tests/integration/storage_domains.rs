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
async fn a_domain_is_created_only_through_an_existing_up_host_with_a_free_name_and_a_directory_of_its_own() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let body = |name: &str, host: &str, path: &str| json!({"name": name, "type": "data", "host": {"name": host}, "storage": {"type": "localfs", "path": path}});

    let f = ctx.api.post("storagedomains", &body("nohost", "nosuch", "/a")).await.expect_err("unknown host");
    f.assert_names(400, &["host 'nosuch' does not exist"]);
    let f = ctx.api.post("storagedomains", &body("rel", "sim0", "not/absolute")).await.expect_err("relative path");
    f.assert_names(400, &["rel", "not/absolute", "absolute"]);
    for (path, says) in
        [("/etc", "system directory"), ("/", "system directory"), ("/srv/../etc", "'..'"), ("/proc/1", "system")]
    {
        let f = ctx.api.post("storagedomains", &body("misplaced", "sim0", path)).await.expect_err("a misplaced path");
        f.assert_names(400, &["misplaced", path, says]);
    }
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
async fn a_disk_grows_by_update_never_shrinks_and_refuses_what_an_update_cannot_change() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let body = json!({"name": "d1", "format": "cow", "sparse": true, "provisioned_size": GIB,
                      "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
    let disk_id = id(&ctx.api.post("disks", &body).await.expect("add disk d1"));
    let path = format!("disks/{disk_id}");
    let disk = ctx.wait_status(&path, "ok").await.expect("d1 ok");
    let sd_id: StorageDomainId = s.sd().parse().expect("sd id");
    let volume = oxvirt_agent_api::v1::VolumeRef {
        image_id: disk_id.parse::<DiskId>().expect("disk id"),
        volume_id: disk["image_id"].as_str().expect("image_id").parse::<VolumeId>().expect("volume id"),
    };
    let virtual_size = || ctx.sim_host(0).storage().volume_info(sd_id, volume).expect("the volume").virtual_size;

    // The whole disk restated (as Ansible sends it) is no change: no job, nothing moves.
    let same = json!({"name": "d1", "format": "cow", "sparse": true, "provisioned_size": GIB.to_string(),
                      "storage_domains": {"storage_domain": [{"id": s.sd()}]}, "id": disk_id});
    let d = ctx.api.put(&path, &same).await.expect("restate d1");
    assert_eq!((&d["status"], &d["provisioned_size"]), (&json!("ok"), &json!(GIB.to_string())), "{d}");
    // (No count of all jobs: the setup's own jobs may still be ending or be cleared meanwhile.)
    let extends = |jobs: &[serde_json::Value]| {
        jobs.iter().filter(|j| j["description"].as_str().is_some_and(|t| t.contains("Extending disk d1"))).count()
    };
    assert_eq!(extends(&ctx.api.list("jobs", "job").await.expect("jobs")), 0, "a restated disk starts no job");

    // A bigger size grows the volume (a job; the disk is locked until it is done).
    ctx.api.put(&path, &json!({"provisioned_size": 2 * GIB})).await.expect("grow d1");
    let d = ctx.wait_status(&path, "ok").await.expect("d1 ok again");
    assert_eq!(d["provisioned_size"], (2 * GIB).to_string(), "{d}");
    assert_eq!(virtual_size(), oxvirt_types::ByteSize(2 * GIB), "the volume grew");
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!(sd["committed"], (2 * GIB).to_string(), "{sd}");
    ctx.event_wait(&["d1", "successfully updated to 2 GB"]).await.expect("extend event");
    let jobs = ctx.api.list("jobs", "job").await.expect("jobs");
    assert!(
        jobs.iter().any(|j| j["description"].as_str().is_some_and(|t| t.contains("Extending disk d1"))),
        "{jobs:?}"
    );

    // Refused, naming the field and the way: nothing stored changes.
    let f = ctx.api.put(&path, &json!({"provisioned_size": GIB})).await.expect_err("shrink");
    f.assert_names(400, &["d1", "shrinking", "not supported"]);
    let f = ctx.api.put(&path, &json!({"format": "raw"})).await.expect_err("convert");
    f.assert_names(400, &["d1", "format", "copy the disk"]);
    let f = ctx.api.put(&path, &json!({"sparse": false})).await.expect_err("preallocate");
    f.assert_names(400, &["d1", "preallocated"]);
    let f = ctx.api.put(&path, &json!({"shareable": true})).await.expect_err("share a cow disk");
    f.assert_names(400, &["d1", "shareable", "raw"]);
    let f = ctx.api.put(&path, &json!({"name": " "})).await.expect_err("an empty name");
    f.assert_names(400, &["d1", "name cannot be empty"]);
    let f = ctx.api.put(&path, &json!({"id": s.sd()})).await.expect_err("another id");
    f.assert_names(400, &["d1", "path"]);
    for too_big in [u64::MAX, 1 << 63] {
        let f = ctx.api.put(&path, &json!({"provisioned_size": too_big.to_string()})).await.expect_err("too big");
        f.assert_names(400, &["provisioned_size", "beyond"]);
    }
    let d = ctx.api.get(&path).await.expect("d1");
    assert_eq!((&d["provisioned_size"], &d["format"]), (&json!((2 * GIB).to_string()), &json!("cow")), "{d}");
    assert_eq!(virtual_size(), oxvirt_types::ByteSize(2 * GIB));

    // Name, description and wipe-after-delete change at once.
    let d = ctx
        .api
        .put(&path, &json!({"name": "d1-renamed", "description": "bigger", "wipe_after_delete": true}))
        .await
        .expect("rename d1");
    assert_eq!(
        (&d["name"], &d["description"], &d["wipe_after_delete"]),
        (&json!("d1-renamed"), &json!("bigger"), &json!("true"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_of_a_running_vm_grows_through_its_attachment_and_restated_fields_are_no_change() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm =
        id(&ctx.vm_add("vm1", "c1", json!({"memory": GIB, "memory_policy": {"guaranteed": GIB}})).await.expect("vm1"));
    let disk = id(&ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.expect("d1 attached"));
    ctx.api.action(&format!("vms/{vm}"), "start").await.expect("start vm1");
    ctx.vm_wait_status(&vm, "up").await.expect("vm1 up");
    ctx.wait_status(&format!("disks/{disk}"), "ok").await.expect("the start released d1");
    let attachment = format!("vms/{vm}/diskattachments/{disk}");
    let a = ctx.api.get(&attachment).await.expect("attachment");

    // What Ansible's ovirt_disk sends: the attachment restated with the disk inside it, bigger.
    let body = json!({"interface": a["interface"], "bootable": a["bootable"], "active": true,
                      "disk": {"id": disk, "name": "d1", "provisioned_size": 3 * GIB, "format": "cow"}});
    ctx.api.put(&attachment, &body).await.expect("grow d1 through the attachment of running vm1");
    let d = ctx.wait_status(&format!("disks/{disk}"), "ok").await.expect("d1 ok");
    assert_eq!(d["provisioned_size"], (3 * GIB).to_string(), "{d}");
    assert_eq!(ctx.api.get(&format!("vms/{vm}")).await.expect("vm1")["status"], "up", "vm1 kept running");
    // A change of the interface is still refused while it runs.
    let f = ctx.api.put(&attachment, &json!({"interface": "ide"})).await.expect_err("change the interface");
    f.assert_names(409, &["vm1", "up", "interface"]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparsify_gives_back_a_thin_disk_s_space_and_reduce_says_it_needs_a_block_domain() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = id(&ctx.vm_add("vm1", "c1", json!({"memory": GIB})).await.expect("vm1"));
    let disk = id(&ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.expect("d1 attached"));
    let path = format!("disks/{disk}");

    ctx.api.action(&path, "sparsify").await.expect("sparsify d1");
    let d = ctx.wait_status(&path, "ok").await.expect("d1 ok again");
    assert_eq!(d["provisioned_size"], GIB.to_string(), "the guest's size is kept: {d}");
    let events = ctx.api.list("events?search=type%3D1325", "event").await.expect("start events");
    assert!(events.iter().any(|e| e["description"] == "Started to sparsify d1"), "{events:?}");
    let done = ctx.api.list("events?search=type%3D1326", "event").await.expect("done events");
    assert!(done.iter().any(|e| e["description"] == "d1 sparsified successfully."), "{done:?}");

    // Refused, saying why: a running VM's disk, a preallocated disk, reduce on a file domain.
    ctx.api.action(&format!("vms/{vm}"), "start").await.expect("start vm1");
    ctx.vm_wait_status(&vm, "up").await.expect("vm1 up");
    let f = ctx.api.action(&path, "sparsify").await.expect_err("while vm1 runs");
    f.assert_names(409, &["d1", "vm1", "up", "stop the VM"]);
    let thick = json!({"name": "thick", "format": "raw", "sparse": false, "provisioned_size": GIB,
                       "storage_domains": {"storage_domain": [{"id": s.sd()}]}});
    let thick = id(&ctx.api.post("disks", &thick).await.expect("thick"));
    ctx.wait_status(&format!("disks/{thick}"), "ok").await.expect("thick ok");
    let f = ctx.api.action(&format!("disks/{thick}"), "sparsify").await.expect_err("preallocated");
    f.assert_names(409, &["thick", "preallocated"]);
    let f = ctx.api.action(&format!("disks/{thick}"), "reduce").await.expect_err("a file domain");
    f.assert_names(409, &["thick", "local0", "block domains"]);
    let f = ctx.api.action(&path, "move").await.expect_err("not served");
    assert!(f.to_string().contains("sparsify"), "names the served actions: {f}");
    assert_eq!(ctx.api.get(&path).await.expect("d1")["status"], "ok", "refusals change nothing");
}
