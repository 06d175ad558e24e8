//! oVirt's `Identified`: every named object carries a `description` and a `comment`, which
//! oVirt's clients (the SDK's examples, Ansible's ovirt.ovirt modules) send. They are stored,
//! always rendered (an empty string when unset), settable on add and on update, and kept by
//! an update that does not give them.

use oxvirt_engine_db::model::BLANK_TEMPLATE_ID;
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{GIB, SIM_ENROLLMENT_SECRET, id};
use serde_json::{Value, json};

/// Checks that `entity` carries `description` and `comment`.
#[track_caller]
fn assert_texts(entity: &Value, description: &str, comment: &str) {
    assert_eq!((&entity["description"], &entity["comment"]), (&json!(description), &json!(comment)), "{entity}");
}

/// Updates the comment of the object at `path`, then only its description: the reply and a
/// later read show the comment given and keep it when the update leaves it out.
async fn comment_updated_and_kept(ctx: &EngineTestContext, path: &str) {
    let comment = format!("changed: {path}");
    let updated = ctx.api.put(path, &json!({"comment": comment})).await.unwrap_or_else(|f| panic!("PUT {path}: {f}"));
    assert_eq!(updated["comment"], json!(comment), "{updated}");
    let described = ctx.api.put(path, &json!({"description": "described"})).await;
    let described = described.unwrap_or_else(|f| panic!("PUT {path} without a comment: {f}"));
    assert_texts(&described, "described", &comment);
    assert_texts(&ctx.api.get(path).await.unwrap_or_else(|f| panic!("GET {path}: {f}")), "described", &comment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_named_object_keeps_its_description_and_comment() {
    let ctx = EngineTestContext::start(1).await.expect("context");

    let dc = ctx.api.post("datacenters", &json!({"name": "dc1", "local": false, "comment": "dc1 note"})).await;
    let dc = dc.expect("dc1 with a comment");
    assert_texts(&dc, "", "dc1 note");
    let dc = id(&dc);
    let cluster = json!({"name": "c1", "data_center": {"name": "dc1"}, "description": "c1", "comment": "c1 note"});
    let cluster = ctx.api.post("clusters", &cluster).await.expect("c1 with a comment");
    assert_texts(&cluster, "c1", "c1 note");

    // A host: description and comment on add (hosts have no update).
    let mut body = ctx.host_body(0, &EngineTestContext::host_name(0), "c1", SIM_ENROLLMENT_SECRET);
    body["description"] = json!("rack 4");
    body["comment"] = json!("sim0 note");
    let host = ctx.api.post("hosts", &body).await.expect("add sim0 with a description and a comment");
    assert_texts(&host, "rack 4", "sim0 note");
    let host = ctx.host_wait_status(&id(&host), "up").await.expect("sim0 up");
    assert_texts(&host, "rack 4", "sim0 note");

    let sd = json!({"name": "local0", "type": "data", "host": {"name": EngineTestContext::host_name(0)},
                    "storage": {"type": "localfs", "path": "/oxvirt-sim/local0"}, "comment": "local0 note"});
    let sd = ctx.api.post("storagedomains", &sd).await.expect("local0 with a comment");
    assert_texts(&sd, "", "local0 note");
    let sd = id(&sd);
    let attached = ctx.storage_domain_attach(&dc, &sd).await.expect("attach local0");
    assert_texts(&attached, "", "local0 note");

    // Networks and vNIC profiles; what was created without them renders them empty.
    let networks = ctx.api.list(&format!("datacenters/{dc}/networks"), "network").await.expect("networks");
    assert_texts(&networks[0], "Management Network", "");
    let net = json!({"name": "net1", "data_center": {"id": dc}, "comment": "net1 note"});
    let net = ctx.api.post("networks", &net).await.expect("net1 with a comment");
    assert_texts(&net, "", "net1 note");
    let net = id(&net);
    let profiles = ctx.api.list(&format!("networks/{net}/vnicprofiles"), "vnic_profile").await.expect("profiles");
    assert_texts(&profiles[0], "", "");
    let profile = json!({"name": "p1", "network": {"id": net}, "description": "p1", "comment": "p1 note"});
    let profile = ctx.api.post("vnicprofiles", &profile).await.expect("p1 with a comment");
    assert_texts(&profile, "p1", "p1 note");

    // Templates cannot be added or updated through the API yet: Blank renders its comment
    // (empty), and one the store holds.
    let blank_path = format!("templates/{BLANK_TEMPLATE_ID}");
    assert_texts(&ctx.api.get(&blank_path).await.expect("Blank"), "Blank template", "");
    let store = ctx.store().await.expect("the engine's store");
    let mut blank = store.template_get(BLANK_TEMPLATE_ID).await.expect("Blank in the store");
    blank.comment = "Blank note".into();
    store.template_update(&blank).await.expect("Blank's comment in the store");
    assert_texts(&ctx.api.get(&blank_path).await.expect("Blank"), "Blank template", "Blank note");

    let vm = ctx.vm_add("vm1", "c1", json!({"comment": "vm1 note"})).await.expect("vm1 with a comment");
    assert_texts(&vm, "", "vm1 note");
    let vm = id(&vm);

    // Disks (no update): a floating one, and one made with a VM's disk attachment.
    let disk = json!({"name": "d1", "format": "cow", "provisioned_size": GIB, "comment": "d1 note",
                      "storage_domains": {"storage_domain": [{"id": sd}]}});
    let disk = id(&ctx.api.post("disks", &disk).await.expect("d1 with a comment"));
    assert_texts(&ctx.wait_status(&format!("disks/{disk}"), "ok").await.expect("d1 ok"), "", "d1 note");
    let attachment = json!({"interface": "virtio", "bootable": false, "active": true,
                            "disk": {"name": "d2", "format": "cow", "provisioned_size": GIB, "description": "d2",
                                     "comment": "d2 note", "storage_domains": {"storage_domain": [{"id": sd}]}}});
    let attachment = ctx.api.post(&format!("vms/{vm}/diskattachments"), &attachment).await.expect("d2 attached");
    let d2 = attachment["disk"]["id"].as_str().expect("the new disk's id").to_owned();
    assert_texts(&ctx.wait_status(&format!("disks/{d2}"), "ok").await.expect("d2 ok"), "d2", "d2 note");

    // NICs: description and comment, in JSON and in oVirt's XML.
    let nics = format!("vms/{vm}/nics");
    let nic1 = json!({"name": "nic1", "description": "first NIC", "comment": "nic1 note"});
    let nic1 = ctx.api.post(&nics, &nic1).await.expect("nic1 with a description and a comment");
    assert_texts(&nic1, "first NIC", "nic1 note");
    let nic2 = ctx.api.post(&nics, &json!({"name": "nic2"})).await.expect("nic2 without them");
    assert_texts(&nic2, "", "");
    let xml = "<nic><name>nic3</name><description>third NIC</description><comment>nic3 note</comment></nic>";
    let (status, reply) =
        ctx.api.send_raw(reqwest::Method::POST, &nics, "application/xml", xml).await.expect("a reply to the XML add");
    assert_eq!(status, 201, "{reply}");
    let nic3: Value = serde_json::from_str(&reply).expect("the reply is JSON");
    assert_texts(&nic3, "third NIC", "nic3 note");

    for path in [
        format!("datacenters/{dc}"),
        format!("clusters/{}", id(&cluster)),
        format!("storagedomains/{sd}"),
        format!("networks/{net}"),
        format!("vnicprofiles/{}", id(&profile)),
        format!("vms/{vm}"),
        format!("{nics}/{}", id(&nic1)),
    ] {
        comment_updated_and_kept(&ctx, &path).await;
    }
    // What was not updated is as it was added.
    assert_texts(&ctx.api.get(&format!("hosts/{}", id(&host))).await.expect("sim0"), "rack 4", "sim0 note");
    assert_texts(&ctx.api.get(&format!("{nics}/{}", id(&nic2))).await.expect("nic2"), "", "");
}
