//! VMs and their devices: added from `Blank` down, faults that store nothing; start, stop and
//! ACPI shutdown on a simulated host; a crash seen by the engine; disk attachments (a new disk
//! made with one, an existing disk, detach keeping or deleting it, one bootable disk); NICs
//! with MACs from the pool; what a running VM refuses until it is stopped; the SMBIOS serial
//! number policies; run-once starts (boot order, cloud-init) that leave the VM as it was.
//! (Ported from `tests/sdk/vms.py`, which runs them against a real host and guest.)

use super::{names, vm_add_sized, vm_host, vm_start_up};
use oxvirt_agent_api::v1;
use oxvirt_testkit::engine_context::{GIB, MIB, id};
use oxvirt_testkit::{EngineTestContext, EngineTestOptions};
use serde_json::{Value, json};

/// A floating thin disk `name` of 1 GiB on `sd`; its id.
async fn disk_add(ctx: &EngineTestContext, name: &str, sd: &str) -> String {
    let body = json!({"name": name, "format": "cow", "sparse": true, "provisioned_size": GIB,
                      "storage_domains": {"storage_domain": [{"id": sd}]}});
    let disk = id(&ctx.api.post("disks", &body).await.unwrap_or_else(|f| panic!("add disk {name}: {f}")));
    ctx.wait_status(&format!("disks/{disk}"), "ok").await.expect("the disk is ok");
    disk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_is_added_from_blank_down_and_refused_additions_store_nothing() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let custom = json!({"memory": 256 * MIB, "description": "first",
                        "custom_properties": {"custom_property": [{"name": "oxvirt_test", "value": "x"}]}});
    let vm = ctx.vm_add("vm1", "c1", custom).await.expect("add vm1");
    assert_eq!((&vm["status"], &vm["memory"]), (&json!("down"), &json!((256 * MIB).to_string())), "{vm}");
    assert_eq!(vm["template"]["id"], "00000000-0000-0000-0000-000000000000", "from Blank: {vm}");
    assert_eq!(vm["cluster"]["id"], s.cluster, "{vm}");
    assert_eq!(vm["custom_properties"]["custom_property"][0]["name"], "oxvirt_test", "{vm}");
    assert!(vm_host(&vm).is_none(), "a down VM has no host: {vm}");

    let f = ctx.vm_add("bad", "no-such-cluster", json!({})).await.expect_err("unknown cluster");
    f.assert_names(400, &["no-such-cluster"]);
    ctx.vm_add("vm1", "c1", json!({})).await.expect_err("a taken name").assert_names(409, &["vm1", "already exists"]);
    let f = ctx.vm_add("tiny", "c1", json!({"memory": MIB})).await.expect_err("too little memory");
    f.assert_names(400, &["tiny", "16 MiB"]);
    let (status, body) = ctx
        .api
        .send_raw(reqwest::Method::POST, "vms", "application/json", "{\"name\": ")
        .await
        .expect("a reply to a malformed body");
    assert_eq!(status, 400, "{body}");
    let f = ctx.api.get("vms/00000000-0000-0000-0000-00000000beef").await.expect_err("an unknown VM");
    f.assert_names(404, &[]);
    assert_eq!(names(&ctx.api.list("vms", "vm").await.expect("list")), ["vm1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_properties_are_accepted_only_when_declared_and_matching_their_pattern() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let props = |pairs: &[(&str, &str)]| {
        let list: Vec<_> = pairs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
        json!({"custom_properties": {"custom_property": list}})
    };
    // oVirt's predefined property and the one the test engine declares.
    let vm = ctx.vm_add("vm1", "c1", props(&[("sap_agent", "true"), ("oxvirt_test", "a1")])).await.expect("declared");
    let vm_id = id(&vm);
    for (pairs, words) in [
        (vec![("BASH_ENV", "/tmp/x.sh")], vec!["BASH_ENV", "not defined", "--vm-custom-properties"]),
        (vec![("LD_PRELOAD", "/tmp/x.so")], vec!["LD_PRELOAD", "not defined"]),
        (vec![("sap_agent", "maybe")], vec!["sap_agent", "maybe", "does not match"]),
        (vec![("oxvirt_test", "UPPER")], vec!["oxvirt_test", "UPPER"]),
    ] {
        ctx.vm_add("refused", "c1", props(&pairs))
            .await
            .expect_err("undeclared or mismatched")
            .assert_names(400, &words);
        ctx.api
            .put(&format!("vms/{vm_id}"), &props(&pairs))
            .await
            .expect_err("an update is checked alike")
            .assert_names(400, &words);
    }
    let stored = ctx.api.get(&format!("vms/{vm_id}")).await.expect("vm1");
    assert_eq!(stored["custom_properties"], vm["custom_properties"], "refused updates changed nothing: {stored}");
    assert_eq!(names(&ctx.api.list("vms", "vm").await.expect("list")), ["vm1"], "refused additions stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernels_and_initrds_come_only_from_the_boot_directories() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let boot_dir = oxvirt_testkit::TestGuest::cache_root();
    let kernel = boot_dir.join("any/vmlinuz").display().to_string();
    let os = |kernel: &str, initrd: &str| json!({"os": {"type": "other_linux", "kernel": kernel, "initrd": initrd}});
    let vm = ctx.vm_add("vm1", "c1", os(&kernel, &kernel)).await.expect("from the boot directory");
    let vm_id = id(&vm);
    let traversal = format!("{}/../../../etc/shadow", boot_dir.display());
    for (k, i, words) in [
        ("/etc/shadow", kernel.as_str(), vec!["os.kernel", "/etc/shadow", "not in a boot directory", "--vm-boot-dirs"]),
        (kernel.as_str(), "/root/.ssh/id_ed25519", vec!["os.initrd", "/root/.ssh/id_ed25519"]),
        (kernel.as_str(), traversal.as_str(), vec!["os.initrd", "'..'"]),
        ("vmlinuz", kernel.as_str(), vec!["os.kernel", "absolute"]),
    ] {
        ctx.vm_add("refused", "c1", os(k, i)).await.expect_err("outside the boot dirs").assert_names(400, &words);
        let f = ctx.api.put(&format!("vms/{vm_id}"), &os(k, i)).await.expect_err("an update is checked alike");
        f.assert_names(400, &words);
    }
    let stored = ctx.api.get(&format!("vms/{vm_id}")).await.expect("vm1");
    assert_eq!(stored["os"]["kernel"], json!(kernel), "refused updates changed nothing: {stored}");
    assert_eq!(names(&ctx.api.list("vms", "vm").await.expect("list")), ["vm1"], "refused additions stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_runs_the_vm_on_a_simulated_host_and_stop_brings_it_down() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;

    let reply = ctx.api.action(&format!("vms/{vm}"), "start").await.expect("start");
    assert_eq!(reply["status"], "complete", "{reply}");
    let up = ctx.vm_wait_status(&vm, "up").await.expect("up");
    assert_eq!(vm_host(&up), Some(s.hosts[0].clone()), "{up}");
    assert!(up["start_time"].is_number(), "{up}");
    assert_eq!(ctx.sim_hosts_running(&vm), [0], "the simulated host runs it");
    let f = ctx.api.action(&format!("vms/{vm}"), "start").await.expect_err("started twice");
    f.assert_names(409, &["vm1", "up", "only a down VM"]);

    ctx.api.action(&format!("vms/{vm}"), "stop").await.expect("stop");
    let down = ctx.vm_wait_status(&vm, "down").await.expect("down");
    assert!(vm_host(&down).is_none(), "{down}");
    assert_eq!(down["stop_reason"], "stopped", "{down}");
    assert!(ctx.sim_hosts_running(&vm).is_empty(), "the simulated host no longer runs it");
    let f = ctx.api.action(&format!("vms/{vm}"), "stop").await.expect_err("stopping a down VM");
    f.assert_names(409, &["vm1", "down", "nothing to stop"]);
    for words in [&["vm1", "was started"][..], &["vm1", "asked to stop"]] {
        ctx.event_wait(words).await.expect("event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_powers_the_guest_off_over_acpi_and_keeps_the_reason_given() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    vm_start_up(&ctx, &vm).await;

    let reply = ctx.api.action_with(&format!("vms/{vm}"), "shutdown", &json!({"reason": "maintenance window"})).await;
    let reply = reply.expect("shutdown");
    // The simulated guest powers off 200 ms after the request: on a loaded machine the reply
    // may already see it down.
    let status = reply["vm"]["status"].as_str().unwrap_or_default();
    assert!(matches!(status, "powering_down" | "down"), "the guest was asked: {reply}");
    ctx.event_wait(&["vm1", "was asked to shut down"]).await.expect("the request is in the audit log");
    let down = ctx.vm_wait_status(&vm, "down").await.expect("the guest powered off");
    assert_eq!(down["stop_reason"], "maintenance window", "{down}");
    assert!(ctx.sim_hosts_running(&vm).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_whose_qemu_crashes_goes_down_with_reason_crashed() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    vm_start_up(&ctx, &vm).await;

    // FAULT INJECTION: the simulated QEMU dies.
    ctx.sim_host(0).vm_crash(vm.parse().expect("vm id")).expect("crash vm1");
    let down = ctx.vm_wait_status(&vm, "down").await.expect("the engine sees it down");
    assert_eq!(down["stop_reason"], "crashed", "{down}");
    assert!(vm_host(&down).is_none(), "{down}");
    vm_start_up(&ctx, &vm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_attachment_with_a_new_disk_creates_the_disk_on_its_domain() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let disk = ctx.vm_disk_add(&vm, "vm1-disk1", s.sd(), GIB).await.expect("a new disk attached");
    assert_eq!((&disk["name"], &disk["provisioned_size"]), (&json!("vm1-disk1"), &json!(GIB.to_string())), "{disk}");
    assert_eq!(disk["storage_domains"]["storage_domain"][0]["id"], s.sd(), "{disk}");

    let attachments = ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await.expect("list");
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    let a = &attachments[0];
    assert_eq!((&a["disk"]["id"], &a["interface"], &a["active"]), (&disk["id"], &json!("virtio"), &json!("true")));
    let followed = ctx.api.get(&format!("vms/{vm}?follow=disk_attachments.disk")).await.expect("follow");
    let inlined = &followed["disk_attachments"]["disk_attachment"][0]["disk"];
    assert_eq!((&inlined["name"], &inlined["status"]), (&json!("vm1-disk1"), &json!("ok")), "{followed}");
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!(sd["committed"], GIB.to_string(), "{sd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_disk_is_attached_once_and_an_unknown_one_is_refused_naming_it() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let disk = disk_add(&ctx, "d1", s.sd()).await;
    let attachments = format!("vms/{vm}/diskattachments");

    let a = ctx.api.post(&attachments, &json!({"disk": {"id": disk}, "bootable": true})).await.expect("attach d1");
    assert_eq!((&a["disk"]["id"], &a["bootable"]), (&json!(disk), &json!("true")), "{a}");
    let f = ctx.api.post(&attachments, &json!({"disk": {"id": disk}})).await.expect_err("attached twice");
    f.assert_names(409, &[&disk, "vm1", "already attached"]);
    let missing = "6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    let f = ctx.api.post(&attachments, &json!({"disk": {"id": missing}})).await.expect_err("an unknown disk");
    f.assert_names(400, &[missing, "does not exist"]);
    let f = ctx.api.post(&attachments, &json!({"bootable": true})).await.expect_err("no disk");
    f.assert_names(400, &["needs a disk"]);
    assert_eq!(ctx.api.list(&attachments, "disk_attachment").await.expect("list").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_boots_from_one_disk_only() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let (d1, d2) = (disk_add(&ctx, "d1", s.sd()).await, disk_add(&ctx, "d2", s.sd()).await);
    let attachments = format!("vms/{vm}/diskattachments");
    ctx.api.post(&attachments, &json!({"disk": {"id": d1}, "bootable": true})).await.expect("d1 bootable");

    let f = ctx.api.post(&attachments, &json!({"disk": {"id": d2}, "bootable": true})).await.expect_err("second");
    f.assert_names(409, &[&d2, "vm1", "bootable"]);
    ctx.api.post(&attachments, &json!({"disk": {"id": d2}, "bootable": false})).await.expect("d2 not bootable");
    let f = ctx.api.put(&format!("{attachments}/{d2}"), &json!({"bootable": true})).await;
    f.expect_err("made bootable beside d1").assert_names(409, &["bootable"]);
}

/// A new disk is made only for an attachment that can be made: a refusal leaves no disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_attachment_of_a_new_disk_leaves_no_disk_behind() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let d1 = disk_add(&ctx, "d1", s.sd()).await;
    let first = json!({"disk": {"id": d1}, "bootable": true});
    ctx.api.post(&format!("vms/{vm}/diskattachments"), &first).await.expect("d1 bootable");
    let second = json!({"disk": {"name": "d2", "format": "cow", "sparse": true, "provisioned_size": GIB,
                                 "storage_domains": {"storage_domain": [{"id": s.sd()}]}},
                        "bootable": true});
    let f = ctx.api.post(&format!("vms/{vm}/diskattachments"), &second).await.expect_err("a second bootable disk");
    f.assert_names(409, &["vm1", "bootable"]);
    assert_eq!(names(&ctx.api.list("disks", "disk").await.expect("disks")), ["d1"], "the refusal made no disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaching_a_disk_keeps_it_floating_and_detach_only_false_deletes_it() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let disk = id(&ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.expect("d1 attached"));
    let attachment = format!("vms/{vm}/diskattachments/{disk}");

    ctx.api.delete(&attachment).await.expect("detach");
    assert!(ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await.expect("list").is_empty());
    assert_eq!(ctx.api.get(&format!("disks/{disk}")).await.expect("d1 is kept")["status"], "ok");

    ctx.api.post(&format!("vms/{vm}/diskattachments"), &json!({"disk": {"id": disk}})).await.expect("attach again");
    ctx.api.delete(&format!("{attachment}?detach_only=false")).await.expect("detach and delete");
    ctx.wait_gone(&format!("disks/{disk}")).await.expect("d1 is deleted");
    let sd = ctx.api.get(&format!("storagedomains/{}", s.sd())).await.expect("local0");
    assert_eq!(sd["committed"], "0", "{sd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nics_get_the_lowest_free_mac_of_the_pool_and_a_taken_mac_is_refused() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let (vm1, vm2) = (vm_add_sized(&ctx, "vm1", GIB).await, vm_add_sized(&ctx, "vm2", GIB).await);
    let nics = format!("vms/{vm1}/nics");

    let nic1 = ctx.api.post(&nics, &json!({"name": "nic1", "interface": "virtio"})).await.expect("nic1");
    let nic2 = ctx.api.post(&nics, &json!({"name": "nic2"})).await.expect("nic2");
    assert_eq!(
        (&nic1["mac"]["address"], &nic2["mac"]["address"]),
        (&json!("56:6f:00:00:00:00"), &json!("56:6f:00:00:00:01")),
        "MACs from the pool (56:6f:…), lowest free first"
    );
    let profiles = ctx.api.list("vnicprofiles", "vnic_profile").await.expect("profiles");
    assert_eq!(names(&profiles), ["ovirtmgmt"]);
    assert_eq!(nic1["vnic_profile"]["id"], profiles[0]["id"], "the management network by default: {nic1}");

    let taken = json!({"name": "nic3", "mac": {"address": "56:6f:00:00:00:01"}});
    let f = ctx.api.post(&format!("vms/{vm2}/nics"), &taken).await.expect_err("a MAC in use");
    f.assert_names(409, &["nic3", "56:6f:00:00:00:01", "vm2", "already in use"]);
    ctx.api.post(&nics, &json!({"name": "nic1"})).await.expect_err("a taken name").assert_names(409, &["nic1", "vm1"]);

    // A removed NIC's MAC goes back to the pool.
    ctx.api.delete(&format!("{nics}/{}", id(&nic1))).await.expect("remove nic1");
    let again = ctx.api.post(&format!("vms/{vm2}/nics"), &json!({"name": "nic1"})).await.expect("nic1 of vm2");
    assert_eq!(again["mac"]["address"], "56:6f:00:00:00:00", "{again}");
    let listed = ctx.api.list(&nics, "nic").await.expect("nics of vm1");
    assert_eq!(names(&listed), ["nic2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_s_mac_pool_gives_its_nics_their_addresses_and_stays_while_used() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let pools = ctx.api.list("macpools", "mac_pool").await.expect("pools");
    assert_eq!(names(&pools), ["Default"]);
    assert_eq!(pools[0]["default_pool"], "true", "{}", pools[0]);

    // Refused: no range, a reversed one, one with multicast addresses, duplicates.
    let pool = |ranges: Value| json!({"name": "lab", "ranges": {"range": ranges}});
    let bad = [
        (json!({"name": "lab"}), vec!["'lab'", "at least one range"]),
        (pool(json!([{"from": "02:00:00:00:00:10", "to": "02:00:00:00:00:01"}])), vec!["from <= to"]),
        (pool(json!([{"from": "03:00:00:00:00:00", "to": "03:00:00:00:00:ff"}])), vec!["multicast"]),
        (pool(json!([{"from": "02:00:00:00:00:00", "to": "02:zz:00:00:00:ff"}])), vec!["range.to", "02:zz"]),
        (json!({"name": "lab", "allow_duplicates": true}), vec!["mac_pool.allow_duplicates=true"]),
        (json!({"name": "lab", "default_pool": true}), vec!["default_pool", "Default"]),
    ];
    for (body, needles) in bad {
        ctx.api.post("macpools", &body).await.expect_err("refused").assert_names(400, &needles);
    }
    let lab = pool(json!([{"from": "02:00:00:00:00:00", "to": "02:00:00:00:00:01"}]));
    let lab = ctx.api.post("macpools", &lab).await.expect("lab");
    assert_eq!(lab["default_pool"], "false", "{lab}");
    let lab_id = id(&lab);

    // The cluster names it; its VMs' NICs take its addresses, lowest first, until none is left.
    let f = ctx.api.put(&format!("clusters/{}", s.cluster), &json!({"mac_pool": {"name": "nope"}})).await;
    f.expect_err("an unknown pool").assert_names(400, &["MAC pool", "nope"]);
    let cl = ctx.api.put(&format!("clusters/{}", s.cluster), &json!({"mac_pool": {"name": "lab"}})).await;
    assert_eq!(cl.expect("c1 uses lab")["mac_pool"]["id"], lab_id.as_str());
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let nics = format!("vms/{vm}/nics");
    for (name, mac) in [("nic1", "02:00:00:00:00:00"), ("nic2", "02:00:00:00:00:01")] {
        let nic = ctx.api.post(&nics, &json!({"name": name})).await.expect("nic");
        assert_eq!(nic["mac"]["address"], mac, "{nic}");
    }
    let f = ctx.api.post(&nics, &json!({"name": "nic3"})).await.expect_err("exhausted");
    f.assert_names(409, &["MAC pool 'lab'", "exhausted", "add a range"]);
    let wider = json!({"ranges": {"range": [{"from": "02:00:00:00:00:00", "to": "02:00:00:00:00:0f"}]}});
    ctx.api.put(&format!("macpools/{lab_id}"), &wider).await.expect("wider");
    let nic3 = ctx.api.post(&nics, &json!({"name": "nic3"})).await.expect("nic3");
    assert_eq!(nic3["mac"]["address"], "02:00:00:00:00:02", "{nic3}");

    // A pool in use stays, naming who uses it; Default always stays.
    let f = ctx.api.delete(&format!("macpools/{lab_id}")).await.expect_err("in use");
    f.assert_names(409, &["MAC pool 'lab'", "cluster 'c1'", "another MAC pool"]);
    let default = id(&pools[0]);
    ctx.api.delete(&format!("macpools/{default}")).await.expect_err("Default").assert_names(409, &["Default"]);
    ctx.api.put(&format!("clusters/{}", s.cluster), &json!({"mac_pool": {"id": default}})).await.expect("back");
    ctx.api.delete(&format!("macpools/{lab_id}")).await.expect("lab removed");
    let nic4 = ctx.api.post(&nics, &json!({"name": "nic4"})).await.expect("nic4");
    assert_eq!(nic4["mac"]["address"], "56:6f:00:00:00:00", "from Default again: {nic4}");
    assert_eq!(names(&ctx.api.list("macpools", "mac_pool").await.expect("pools")), ["Default"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_vm_keeps_its_disks_nics_and_storage_until_it_is_stopped() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let disk = id(&ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.expect("d1 attached"));
    let nic = id(&ctx.api.post(&format!("vms/{vm}/nics"), &json!({"name": "nic1"})).await.expect("nic1"));
    vm_start_up(&ctx, &vm).await;
    let attachment = format!("vms/{vm}/diskattachments/{disk}");

    ctx.api.delete(&attachment).await.expect_err("detach").assert_names(409, &["vm1", "up", "detach a disk"]);
    let f = ctx.api.put(&attachment, &json!({"interface": "ide"})).await.expect_err("change the interface");
    f.assert_names(409, &["vm1", "up", "interface"]);
    let f = ctx.api.delete(&format!("vms/{vm}/nics/{nic}")).await.expect_err("remove the NIC");
    f.assert_names(409, &["vm1", "up", "remove a NIC"]);
    let f = ctx.api.delete(&format!("disks/{disk}")).await.expect_err("delete its disk");
    f.assert_names(409, &["d1", "vm1", "up", "stop the VM"]);
    let f = ctx.api.action(&format!("datacenters/{}/storagedomains/{}", s.dc, s.sd()), "deactivate").await;
    f.expect_err("deactivate its storage").assert_names(409, &["local0", "d1", "vm1", "stop the VM"]);
    ctx.api.delete(&format!("vms/{vm}")).await.expect_err("remove it").assert_names(409, &["vm1", "up", "stop it"]);
    assert_eq!(ctx.api.list(&format!("vms/{vm}/diskattachments"), "disk_attachment").await.expect("list").len(), 1);

    ctx.api.action(&format!("vms/{vm}"), "stop").await.expect("stop");
    ctx.vm_wait_status(&vm, "down").await.expect("down");
    ctx.api.put(&attachment, &json!({"interface": "ide"})).await.expect("interface of a down VM");
    ctx.api.delete(&format!("vms/{vm}/nics/{nic}")).await.expect("remove the NIC of a down VM");
    ctx.api.delete(&format!("vms/{vm}")).await.expect("remove the down VM (and its disk)");
    ctx.wait_gone(&format!("disks/{disk}")).await.expect("its disk went with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_vm_with_detach_only_keeps_its_disks_and_delete_protection_refuses() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup_with_local_domain(1, 0).await.expect("dc1 up with local0");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let disk = id(&ctx.vm_disk_add(&vm, "d1", s.sd(), GIB).await.expect("d1 attached"));
    ctx.api.put(&format!("vms/{vm}"), &json!({"delete_protected": true})).await.expect("protect");

    let f = ctx.api.delete(&format!("vms/{vm}")).await.expect_err("a protected VM");
    f.assert_names(409, &["vm1", "delete-protected"]);
    ctx.api.put(&format!("vms/{vm}"), &json!({"delete_protected": false})).await.expect("unprotect");
    ctx.api.delete(&format!("vms/{vm}?detach_only=true")).await.expect("remove, keeping disks");
    ctx.api.get(&format!("vms/{vm}")).await.expect_err("vm1 is gone").assert_names(404, &[]);
    assert_eq!(ctx.api.get(&format!("disks/{disk}")).await.expect("d1 is kept")["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restart_leaves_a_running_vm_running_and_up() {
    let mut ctx = EngineTestOptions::default()
        .hosts(1)
        .mode(oxvirt_testkit::engine_context::EngineMode::Binary)
        .start()
        .await
        .expect("context with the engine binary");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    vm_start_up(&ctx, &vm).await;
    let vm_id = vm.parse().expect("vm id");
    let before = ctx.sim_host(0).registry().get(vm_id).expect("the VM runs on sim0");

    ctx.engine_restart().await.expect("restart the engine");
    // The client's SSO token died with the engine: it logs in again by itself.
    let up = ctx.vm_wait_status(&vm, "up").await.expect("still up");
    assert_eq!(ctx.sim_hosts_running(&vm), [0], "{up}");
    let after = ctx.sim_host(0).registry().get(vm_id).expect("the VM still runs");
    assert_eq!(after.generation, before.generation, "the restarted engine did not touch it: {before:?} {after:?}");
    ctx.api.action(&format!("vms/{vm}"), "stop").await.expect("the restarted engine stops it");
    ctx.vm_wait_status(&vm, "down").await.expect("down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_number_policies_reach_the_host_and_bad_ones_are_refused() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let path = format!("vms/{vm}");
    let serial_of_a_run = || async {
        vm_start_up(&ctx, &vm).await;
        let serial = ctx.sim_vm_spec(&vm).expect("the host got a spec").serial;
        ctx.api.action(&path, "stop").await.expect("stop");
        ctx.vm_wait_status(&vm, "down").await.expect("down");
        serial
    };

    // The default policy (rendered absent, as oVirt does): the host's id.
    let got = ctx.api.get(&path).await.expect("get");
    assert!(got.get("serial_number").is_none(), "{got}");
    assert_eq!(serial_of_a_run().await, Some(s.hosts[0].clone()));

    let set = ctx
        .api
        .put(&path, &json!({"serial_number": {"policy": "custom", "value": "myserial"}}))
        .await
        .expect("custom serial number");
    assert_eq!(set["serial_number"], json!({"policy": "custom", "value": "myserial"}), "{set}");
    assert_eq!(serial_of_a_run().await.as_deref(), Some("myserial"));

    let set = ctx.api.put(&path, &json!({"serial_number": {"policy": "vm"}})).await.expect("policy vm");
    assert_eq!(set["serial_number"], json!({"policy": "vm"}), "{set}");
    assert_eq!(serial_of_a_run().await, Some(vm.clone()));

    let refused: &[(Value, &[&str])] = &[
        (json!({"policy": "custom"}), &["vm1", "serial_number.value", "custom"]),
        (json!({"policy": "custom", "value": "a\u{7}b"}), &["vm1", "serial_number.value", "printable"]),
        (json!({"policy": "host", "value": "x"}), &["serial_number.value", "custom", "host"]),
        (json!({"policy": "none", "value": "x"}), &["serial_number.value", "custom", "none"]),
        (json!({"policy": "bogus"}), &["bogus", "serial number policy"]),
        (json!({"value": "x"}), &["serial_number.value", "policy"]),
    ];
    for (serial, words) in refused {
        let f = ctx.api.put(&path, &json!({"serial_number": serial})).await.expect_err("refused");
        f.assert_names(400, words);
    }
    let got = ctx.api.get(&path).await.expect("get");
    assert_eq!(got["serial_number"], json!({"policy": "vm"}), "refusals changed nothing: {got}");

    // `none` returns to the default.
    let set = ctx.api.put(&path, &json!({"serial_number": {"policy": "none"}})).await.expect("policy none");
    assert!(set.get("serial_number").is_none(), "{set}");
    assert_eq!(serial_of_a_run().await, Some(s.hosts[0].clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serial_console_is_on_by_default_and_off_when_disabled_and_stateless_is_refused() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let path = format!("vms/{vm}");
    let console_of_a_run = || async {
        vm_start_up(&ctx, &vm).await;
        let console = ctx.sim_vm_spec(&vm).expect("the host got a spec").serial_console;
        ctx.api.action(&path, "stop").await.expect("stop");
        ctx.vm_wait_status(&vm, "down").await.expect("down");
        console
    };

    let got = ctx.api.get(&path).await.expect("get");
    assert_eq!((&got["console"], &got["stateless"]), (&json!({"enabled": "true"}), &json!("false")), "{got}");
    assert!(console_of_a_run().await, "a serial console by default");

    let set = ctx.api.put(&path, &json!({"console": {"enabled": false}})).await.expect("disable the console");
    assert_eq!(set["console"], json!({"enabled": "false"}), "{set}");
    assert!(!console_of_a_run().await, "no serial console once disabled");

    ctx.api.put(&path, &json!({"stateless": false})).await.expect("stateless=false is what the VM is");
    let f = ctx.api.put(&path, &json!({"stateless": true, "console": {"enabled": true}})).await.expect_err("stateless");
    f.assert_names(400, &["vm.stateless", "pools"]);
    let got = ctx.api.get(&path).await.expect("get");
    assert_eq!(got["console"], json!({"enabled": "false"}), "the refused update changed nothing: {got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_once_start_boots_as_asked_with_cloud_init_for_that_run_only() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = vm_add_sized(&ctx, "vm1", GIB).await;
    let path = format!("vms/{vm}");
    let initialization = json!({
        "host_name": "myvm.example.com",
        "user_name": "root",
        "root_password": "redhat123",
        "nic_configurations": {"nic_configuration": [{
            "name": "eth0", "on_boot": true, "boot_protocol": "static",
            "ip": {"version": "v4", "address": "192.168.0.100", "netmask": "255.255.255.0", "gateway": "192.168.0.1"}
        }]},
        "dns_servers": "192.168.0.1 192.168.0.2",
        "dns_search": "example.com",
        "custom_script": "write_files:\n  - content: hi\n    path: /tmp/greeting.txt\n",
    });

    // Refusals change nothing and name what to do.
    let refused: &[(&str, Value, &[&str])] = &[
        ("start", json!({"vm": {"initialization": initialization}}), &["initialization", "use_cloud_init"]),
        ("start", json!({"use_cloud_init": true}), &["use_cloud_init", "initialization"]),
        ("start", json!({"vm": {"memory": GIB}}), &["action.vm.memory", "not supported"]),
        (
            "start",
            json!({"use_cloud_init": true, "vm": {"initialization": {"host_name": "a b"}}}),
            &["vm1", "initialization.host_name"],
        ),
        (
            "start",
            json!({"use_cloud_init": true, "vm": {"initialization": {"windows_license_key": "x"}}}),
            &["windows_license_key", "not supported"],
        ),
        ("start", json!({"vm": {"os": {"boot": {"devices": {"device": ["floppy"]}}}}}), &["floppy", "boot device"]),
        ("start", json!({"vm": {"os": {"boot": {"devices": {"device": ["hd", "hd"]}}}}}), &["vm1", "hd", "twice"]),
        ("stop", json!({"vm": {"os": {"boot": {"devices": {"device": ["hd"]}}}}}), &["action.vm", "stop"]),
    ];
    for (action, body, words) in refused {
        let f = ctx.api.action_with(&path, action, body).await.expect_err("refused");
        f.assert_names(400, words);
    }
    assert_eq!(ctx.api.get(&path).await.expect("get")["status"], "down");

    let body = json!({
        "use_cloud_init": true,
        "vm": {"os": {"boot": {"devices": {"device": ["network", "cdrom"]}}}, "initialization": initialization},
    });
    let reply = ctx.api.action_with(&path, "start", &body).await.expect("run once");
    assert_eq!(reply["status"], "complete", "{reply}");
    ctx.vm_wait_status(&vm, "up").await.expect("up");
    let spec = ctx.sim_vm_spec(&vm).expect("spec");
    assert_eq!(spec.boot, v1::Boot::Devices { order: vec![v1::BootDevice::Network, v1::BootDevice::Cdrom] });
    let ci = spec.cloud_init.expect("cloud-init data source");
    assert!(ci.meta_data.contains("local-hostname: \"myvm.example.com\""), "{}", ci.meta_data);
    assert!(ci.user_data.contains("root:$6$") && !ci.user_data.contains("redhat123"), "{}", ci.user_data);
    assert!(ci.user_data.contains("path: /tmp/greeting.txt"), "{}", ci.user_data);
    let net = ci.network_config.expect("network-config");
    assert!(net.contains("\"192.168.0.100/24\"") && net.contains("search: [\"example.com\"]"), "{net}");
    // Nothing of it is stored on the VM.
    let got = ctx.api.get(&path).await.expect("get");
    assert_eq!(got["os"]["boot"]["devices"]["device"], json!(["hd"]), "{got}");

    ctx.api.action(&path, "stop").await.expect("stop");
    ctx.vm_wait_status(&vm, "down").await.expect("down");
    vm_start_up(&ctx, &vm).await;
    let spec = ctx.sim_vm_spec(&vm).expect("spec");
    assert_eq!(spec.boot, v1::Boot::Devices { order: vec![v1::BootDevice::Hd] }, "a plain start boots as configured");
    assert!(spec.cloud_init.is_none(), "no cloud-init without run once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_searches_group_conditions_in_parentheses() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    for name in ["web1", "web2", "db"] {
        vm_add_sized(&ctx, name, GIB).await;
    }
    let search = |q: &'static str| {
        let ctx = &ctx;
        async move {
            let path = format!("vms?max=2&search={}", q.replace(' ', "%20").replace('=', "%3D"));
            let listed = ctx.api.list(&path, "vm").await.unwrap_or_else(|f| panic!("{q}: {f}"));
            // In the order the engine answered (`names` would sort them).
            listed.iter().map(|v| v["name"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(search("(name=web1 or name=db) and status=down sortby name").await, ["db", "web1"]);
    assert_eq!(search("name=web* and (status=up or status=down) sortby name").await, ["web1", "web2"]);
    // Two name conditions in one group were once silently reduced to the last: refused now.
    let f = ctx.api.get("vms?search=name%3Dweb*%20and%20(status%3Dup%20or%20name%3Dweb2)").await;
    f.expect_err("two names in a group").assert_names(400, &["two name conditions"]);
    assert_eq!(search("name!=web* or (name=web1 status=down) sortby name").await, ["db", "web1"]);
    assert_eq!(search("name!=db sortby name desc").await, ["web2", "web1"]);
    // max=2: the first two of db, web1, web2 (each VM once, though two groups match web2).
    assert_eq!(search("(name=web2 or name=db) or name=web*").await, ["db", "web1"]);
    assert_eq!(search("name=web1 or name=db or name=web2 sortby name desc page 2").await, ["db"]);
    assert_eq!(search("name=db or name=web2 sortby name desc").await, ["web2", "db"]);
    assert_eq!(search("(name=db or name=web2) and (status=down or status=up) sortby name desc").await, ["web2", "db"]);
    // Every collection searched by name takes 'or' the same way.
    for (collection, item, expected) in
        [("hosts", "host", "sim0"), ("clusters", "cluster", "c1"), ("datacenters", "data_center", "dc1")]
    {
        let path = format!("{collection}?search=name%3D{expected}%20or%20name%3Dnone-such");
        assert_eq!(names(&ctx.api.list(&path, item).await.expect(collection)), [expected], "{collection}");
    }
    let f = ctx.api.get("vms?search=(name%3Dweb1").await.expect_err("unbalanced");
    f.assert_names(400, &["never closed"]);
}
