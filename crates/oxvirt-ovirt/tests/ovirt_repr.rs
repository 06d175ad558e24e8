//! SDK compatibility of the oVirt representation layer: what `oxvirt_ovirt` renders is
//! read by the REAL published Python SDK (`ovirt-engine-sdk-python` 4.6.3, its readers and its
//! service code with only the HTTP exchange replaced), and what the SDK's writers send is
//! parsed by `parse_body`. The SDK runs in the venv `scripts/sdk-venv.sh` creates (once; the
//! script locks, so parallel test processes wait for one build).

use oxvirt_ovirt::{
    Element, Format, Reference, ReprError, action_failed, action_reply, api_href, fault, parse_body, to_xml,
};
use oxvirt_types::{
    ClusterId, DataCenterId, DataCenterStatus, HostStatus, NetworkId, StorageDomainStatus, TemplateId, VmId, VmStatus,
};
use serde_json::{Value as Json, json};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

const DC: &str = "5d9e1b36-8c4d-4a3f-9f0e-2b6a1c7d8e90";
const CLUSTER: &str = "0c6f4a2e-1b3d-4e5f-8a9b-7c6d5e4f3a21";
const VM: &str = "7f3b2a1c-9d8e-4f6a-b5c4-d3e2f1a0b9c8";
const VM2: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const TEMPLATE: &str = "00000000-0000-0000-0000-000000000000";
const MAC_POOL: &str = "58ca604b-017d-0374-0220-00000000014e";
const PROFILE: &str = "3e5c7a9b-2d4f-4b6a-8c1e-9f0a2b3c4d5e";

// --- the SDK ------------------------------------------------------------------------------

/// The venv's python (see `oxvirt_testkit::sdk`).
fn sdk_python() -> &'static Path {
    oxvirt_testkit::sdk::sdk_python().expect("the SDK venv")
}

/// Runs `code` (see `tests/support/ovirt_sdk_harness.py` for what it can use) and returns `out`.
fn sdk(code: &str, inputs: Json) -> Json {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ovirt_sdk_harness.py");
    let mut child = Command::new(sdk_python())
        .arg(&harness)
        .current_dir(std::env::temp_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the SDK's python");
    let request = json!({ "code": code, "inputs": inputs }).to_string();
    child.stdin.take().expect("stdin").write_all(request.as_bytes()).expect("write to python");
    let out = child.wait_with_output().expect("python runs");
    assert!(out.status.success(), "the SDK snippet failed:\n{}\n{}", code, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the harness prints JSON")
}

/// What the SDK reads from `element` rendered as our XML.
fn sdk_reads(element: &Element) -> Json {
    sdk("out['obj'] = dump(read(inputs['xml']))", json!({ "xml": to_xml(element) }))["obj"].clone()
}

fn xml_reply(status: u16, element: &Element) -> Json {
    json!([status, to_xml(element), "application/xml"])
}

// --- what the engine renders ----------------------------------------------------------------

fn version(major: u32, minor: u32) -> Element {
    Element::new("version").int_child("major", major).int_child("minor", minor)
}

fn data_center() -> Element {
    Element::new("data_center")
        .href(api_href(&format!("datacenters/{DC}")))
        .id(DC)
        .actions(&["cleanfinishedtasks", "forceselectspm"])
        .text_child("name", "Default")
        .text_child("description", "The <default> data center & co")
        .bool_child("local", false)
        .enum_child("quota_mode", "disabled")
        .enum_child("status", DataCenterStatus::Up)
        .enum_child("storage_format", "v5")
        .list_child("supported_versions", [version(4, 7), version(4, 8)])
        .child(version(4, 8))
        .reference("mac_pool", MAC_POOL, api_href(&format!("macpools/{MAC_POOL}")))
        .sub_links(&["clusters", "storagedomains", "networks", "permissions", "quotas", "qoss", "iscsibonds"])
}

fn cluster() -> Element {
    Element::new("cluster")
        .href(api_href(&format!("clusters/{CLUSTER}")))
        .id(CLUSTER)
        .text_child("name", "Default")
        .child(Element::new("cpu").enum_child("architecture", "x86_64").text_child("type", "Intel Nehalem Family"))
        .reference("data_center", DC, api_href(&format!("datacenters/{DC}")))
        .bool_child("ha_reservation", true)
        .child(version(4, 8))
        .sub_links(&["networks", "permissions", "glustervolumes"])
}

fn vm(id: &str, name: &str, status: VmStatus) -> Element {
    let href = api_href(&format!("vms/{id}"));
    Element::new("vm")
        .href(href)
        .id(id)
        .actions(&["start", "stop", "shutdown", "suspend", "reboot", "migrate"])
        .text_child("name", name)
        .text_child("description", "web server \"front\" <1>")
        .int_child("memory", 2_147_483_648_u64)
        .child(
            Element::new("cpu")
                .enum_child("architecture", "x86_64")
                .child(Element::new("topology").int_child("cores", 2).int_child("sockets", 1).int_child("threads", 1)),
        )
        .child(
            Element::new("os")
                .text_child("type", "other")
                .child(Element::new("boot").text_list("devices", "device", ["hd", "network"]))
                .text_child("kernel", "/boot/vmlinuz")
                .text_child("initrd", "/boot/initrd.img")
                .text_child("cmdline", "console=ttyS0"),
        )
        .enum_child("status", status)
        .child(Element::new("high_availability").bool_child("enabled", false).int_child("priority", 0))
        .list_child(
            "custom_properties",
            [
                Element::new("custom_property").text_child("name", "hugepages").text_child("value", "1048576"),
                Element::new("custom_property").text_child("name", "sap_agent").text_child("value", "true"),
            ],
        )
        .bool_child("stateless", false)
        .date_child("creation_time", UNIX_EPOCH + Duration::from_millis(1_705_314_030_123))
        .reference("cluster", CLUSTER, api_href(&format!("clusters/{CLUSTER}")))
        .reference("template", TEMPLATE, api_href(&format!("templates/{TEMPLATE}")))
        .sub_links(&["diskattachments", "nics", "snapshots", "permissions", "statistics"])
}

// --- the SDK reads what we render -----------------------------------------------------------

#[test]
fn sdk_reads_a_data_center() {
    let dc = sdk_reads(&data_center());
    assert_eq!(dc["id"], DC);
    assert_eq!(dc["href"], format!("/ovirt-engine/api/datacenters/{DC}"));
    assert_eq!(dc["name"], "Default");
    assert_eq!(dc["description"], "The <default> data center & co");
    assert_eq!(dc["local"], false);
    assert_eq!(dc["status"], "DataCenterStatus:up");
    assert_eq!(dc["quota_mode"], "QuotaModeType:disabled");
    assert_eq!(dc["storage_format"], "StorageFormat:v5");
    assert_eq!(dc["version"], json!({"major": 4, "minor": 8}));
    assert_eq!(dc["supported_versions"]["items"], json!([{"major": 4, "minor": 7}, {"major": 4, "minor": 8}]));
    assert_eq!(dc["mac_pool"], json!({"id": MAC_POOL, "href": format!("/ovirt-engine/api/macpools/{MAC_POOL}")}));
    // links give the sub-collections their hrefs
    assert_eq!(dc["clusters"], json!({"href": format!("/ovirt-engine/api/datacenters/{DC}/clusters"), "items": []}));
    assert_eq!(dc["storage_domains"]["href"], format!("/ovirt-engine/api/datacenters/{DC}/storagedomains"));
    assert_eq!(dc["iscsi_bonds"]["href"], format!("/ovirt-engine/api/datacenters/{DC}/iscsibonds"));
}

#[test]
fn sdk_reads_a_cluster_with_nested_references() {
    let cluster = sdk_reads(&cluster());
    assert_eq!(cluster["id"], CLUSTER);
    assert_eq!(cluster["name"], "Default");
    assert_eq!(cluster["cpu"], json!({"architecture": "Architecture:x86_64", "type": "Intel Nehalem Family"}));
    assert_eq!(cluster["data_center"]["id"], DC);
    assert_eq!(cluster["data_center"]["href"], format!("/ovirt-engine/api/datacenters/{DC}"));
    assert_eq!(cluster["ha_reservation"], true);
    assert_eq!(cluster["networks"]["href"], format!("/ovirt-engine/api/clusters/{CLUSTER}/networks"));
    assert_eq!(cluster["version"], json!({"major": 4, "minor": 8}));
}

#[test]
fn sdk_reads_a_vm_with_its_typed_reader() {
    // as the task's example does: an XmlReader and VmReader.read_one, no registry
    let out = sdk(
        r#"
        import io
        cursor = xml.XmlReader(io.BytesIO(inputs['xml'].encode('utf-8')))
        vm = readers.VmReader.read_one(cursor)
        cursor.close()
        out['vm'] = dump(vm)
        out['status_is_up'] = vm.status is types.VmStatus.UP
        out['boot_is_enum'] = vm.os.boot.devices == [types.BootDevice.HD, types.BootDevice.NETWORK]
        out['created_utc'] = vm.creation_time.utcoffset().total_seconds() == 0
        "#,
        json!({ "xml": to_xml(&vm(VM, "web01", VmStatus::Up)) }),
    );
    assert_eq!(out["status_is_up"], true);
    assert_eq!(out["boot_is_enum"], true);
    assert_eq!(out["created_utc"], true);
    let vm = &out["vm"];
    assert_eq!(vm["id"], VM);
    assert_eq!(vm["name"], "web01");
    assert_eq!(vm["description"], "web server \"front\" <1>");
    assert_eq!(vm["memory"], 2_147_483_648_u64);
    assert_eq!(vm["status"], "VmStatus:up");
    assert_eq!(vm["cpu"]["topology"], json!({"cores": 2, "sockets": 1, "threads": 1}));
    assert_eq!(vm["cpu"]["architecture"], "Architecture:x86_64");
    assert_eq!(vm["os"]["type"], "other");
    assert_eq!(vm["os"]["boot"]["devices"], json!(["BootDevice:hd", "BootDevice:network"]));
    assert_eq!(vm["os"]["kernel"], "/boot/vmlinuz");
    assert_eq!(vm["os"]["initrd"], "/boot/initrd.img");
    assert_eq!(vm["os"]["cmdline"], "console=ttyS0");
    assert_eq!(vm["high_availability"], json!({"enabled": false, "priority": 0}));
    assert_eq!(
        vm["custom_properties"]["items"],
        json!([{"name": "hugepages", "value": "1048576"}, {"name": "sap_agent", "value": "true"}])
    );
    assert_eq!(vm["stateless"], false);
    assert_eq!(vm["creation_time"], "2024-01-15T10:20:30.123000+00:00");
    assert_eq!(vm["cluster"]["id"], CLUSTER);
    assert_eq!(vm["template"]["id"], TEMPLATE);
    assert_eq!(vm["nics"]["href"], format!("/ovirt-engine/api/vms/{VM}/nics"));
    assert_eq!(vm["disk_attachments"]["href"], format!("/ovirt-engine/api/vms/{VM}/diskattachments"));
}

#[test]
fn sdk_reads_a_collection_of_vms() {
    let vms = Element::collection("vms", [vm(VM, "web01", VmStatus::Up), vm(VM2, "db01", VmStatus::Down)]);
    let out = sdk(
        r#"
        vms = read(inputs['vms'])
        out['is_list'] = isinstance(vms, list)
        out['vms'] = [(v.id, v.name, dump(v.status), v.cluster.id) for v in vms]
        out['empty'] = dump(read(inputs['empty']))
        "#,
        json!({ "vms": to_xml(&vms), "empty": to_xml(&Element::collection("vms", [])) }),
    );
    assert_eq!(out["is_list"], true);
    assert_eq!(out["vms"], json!([[VM, "web01", "VmStatus:up", CLUSTER], [VM2, "db01", "VmStatus:down", CLUSTER]]));
    assert_eq!(out["empty"]["items"], json!([]));
}

#[test]
fn every_oxvirt_status_spelling_is_an_sdk_enum_value() {
    fn names<T: Copy>(all: &[T], wire: fn(T) -> &'static str) -> Json {
        all.iter().map(|s| wire(*s)).collect()
    }
    let out = sdk(
        r#"
        for cls, names in inputs.items():
            enum_type = getattr(types, cls)
            out[cls] = [n for n in names if reader.Reader.parse_enum(enum_type, n) is None]
        "#,
        json!({
            "VmStatus": names(VmStatus::ALL, VmStatus::as_str),
            "HostStatus": names(HostStatus::ALL, HostStatus::as_str),
            "StorageDomainStatus": names(StorageDomainStatus::ALL, StorageDomainStatus::as_str),
            "DataCenterStatus": names(DataCenterStatus::ALL, DataCenterStatus::as_str),
        }),
    );
    assert_eq!(out.as_object().map(|o| o.len()), Some(4));
    for (cls, unknown) in out.as_object().expect("object") {
        assert_eq!(unknown, &json!([]), "{cls} values the SDK does not know (it would read them as None)");
    }
}

// --- the SDK's services over our replies -----------------------------------------------------

#[test]
fn sdk_raises_our_faults_with_the_right_class() {
    let not_found = fault("Operation Failed", &format!("Entity not found: VM {VM}"));
    let conflict = fault("Operation Failed", "[Cannot add VM. The name web01 is already in use.]");
    let out = sdk(
        r#"
        conn = FakeConnection(inputs['replies'])
        vms = conn.system().vms_service()
        out['not_found'] = call(lambda: vms.vm_service(inputs['vm']).get())
        out['conflict'] = call(lambda: vms.add(types.Vm(name='web01')))
        out['denied'] = call(lambda: vms.list())
        out['bare_404'] = call(lambda: vms.vm_service(inputs['vm']).get())
        out['json_fault'] = call(lambda: vms.vm_service(inputs['vm']).get())
        out['entity_as_fault'] = call(lambda: vms.vm_service(inputs['vm']).get())
        "#,
        json!({
            "vm": VM,
            "replies": [
                xml_reply(404, &not_found),
                xml_reply(409, &conflict),
                xml_reply(403, &fault("Operation Failed", "user is not authorized")),
                [404, "", "application/xml"],
                [404, Format::Json.render(&not_found), "application/json"],
                xml_reply(500, &vm(VM, "web01", VmStatus::Up)),
            ],
        }),
    );
    assert_eq!(out["not_found"]["error"], "NotFoundError");
    assert_eq!(out["not_found"]["code"], 404);
    assert_eq!(
        out["not_found"]["message"],
        format!(
            "Fault reason is \"Operation Failed\". Fault detail is \"Entity not found: VM {VM}\". HTTP response code is 404."
        )
    );
    assert_eq!(out["not_found"]["fault"]["detail"], format!("Entity not found: VM {VM}"));
    assert_eq!(out["conflict"]["error"], "Error");
    assert_eq!(out["conflict"]["code"], 409);
    assert_eq!(out["conflict"]["fault"]["reason"], "Operation Failed");
    assert_eq!(out["denied"]["error"], "AuthError");
    // an empty 404 still is a NotFoundError, with only the status to tell
    assert_eq!(out["bare_404"]["error"], "NotFoundError");
    assert_eq!(out["bare_404"]["message"], "HTTP response code is 404.");
    // pitfalls: a fault in JSON, or any other document, loses the fault and the class
    assert_eq!(out["json_fault"]["error"], "Error");
    assert!(out["json_fault"]["message"].as_str().is_some_and(|m| m.contains("isn't the expected XML")));
    assert_eq!(out["entity_as_fault"]["message"], "Expected a fault, but got Vm");
}

#[test]
fn sdk_actions_accept_our_action_replies() {
    let out = sdk(
        r#"
        conn = FakeConnection(inputs['replies'])
        vm = conn.system().vms_service().vm_service(inputs['vm'])
        out['start'] = call(lambda: vm.start())
        out['stop_202'] = call(lambda: vm.stop())
        out['failed'] = call(lambda: vm.shutdown())
        out['failed_with_200'] = call(lambda: vm.reboot())
        out['empty_body'] = call(lambda: vm.suspend())
        out['requests'] = conn.requests
        "#,
        json!({
            "vm": VM,
            "replies": [
                xml_reply(200, &action_reply("complete", None)),
                xml_reply(202, &action_reply("pending", Some(Element::new("job").id("4f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f")))),
                xml_reply(409, &action_failed("Operation Failed", "[Cannot shutdown VM. VM is not running.]")),
                xml_reply(200, &action_failed("Operation Failed", "[host went away]")),
                [200, "", "application/xml"],
            ],
        }),
    );
    assert_eq!(out["start"], json!({"ok": null}));
    assert_eq!(out["stop_202"], json!({"ok": null}));
    assert_eq!(out["failed"]["error"], "Error");
    assert_eq!(out["failed"]["fault"]["detail"], "[Cannot shutdown VM. VM is not running.]");
    assert_eq!(out["failed_with_200"]["error"], "Error", "a fault inside <action> fails even with 200");
    assert_eq!(out["empty_body"]["error"], "Error", "an action needs an <action> body");

    // and what the SDK sent for the actions is what the engine will parse
    let requests = out["requests"].as_array().expect("requests");
    let start = &requests[0];
    assert_eq!(start["method"], "POST");
    assert_eq!(start["path"], format!("/vms/{VM}/start"));
    let mut action = parse_body(Some("application/xml"), body_of(start).as_bytes()).expect("the SDK's action parses");
    assert_eq!(action.expect_root("action"), Ok(()));
    assert!(action.children().is_empty(), "{action:?}");
    assert_eq!(requests[1]["path"], format!("/vms/{VM}/stop"));
}

#[test]
fn sdk_verbs_accept_the_statuses_we_document() {
    let added = vm(VM, "web01", VmStatus::Down);
    let out = sdk(
        r#"
        conn = FakeConnection(inputs['replies'])
        vms = conn.system().vms_service()
        vm = vms.vm_service(inputs['vm'])
        out['add_201'] = call(lambda: vms.add(types.Vm(name='web01')).id)
        out['add_202'] = call(lambda: vms.add(types.Vm(name='web01')).id)
        out['update_200'] = call(lambda: vm.update(types.Vm(memory=1024)).name)
        out['update_201'] = call(lambda: vm.update(types.Vm(memory=1024)).name)
        out['remove_200'] = call(lambda: vm.remove())
        out['remove_204'] = call(lambda: vm.remove())
        out['get_200'] = call(lambda: vm.get().name)
        out['list_search'] = call(lambda: len(vms.list(search='name=web* and status=up', max=10)))
        out['requests'] = conn.requests
        "#,
        json!({
            "vm": VM,
            "replies": [
                xml_reply(201, &added),
                xml_reply(202, &added),
                xml_reply(200, &added),
                xml_reply(201, &added),
                [200, "", "application/xml"],
                [204, "", "application/xml"],
                xml_reply(200, &added),
                xml_reply(200, &Element::collection("vms", [added.clone()])),
            ],
        }),
    );
    assert_eq!(out["add_201"], json!({"ok": VM}));
    assert_eq!(out["add_202"], json!({"ok": VM}));
    assert_eq!(out["update_200"], json!({"ok": "web01"}));
    assert_eq!(out["update_201"]["error"], "Error", "update accepts only 200");
    assert_eq!(out["remove_200"], json!({"ok": null}));
    assert_eq!(out["remove_204"]["error"], "Error", "remove accepts only 200");
    assert_eq!(out["remove_204"]["message"], "HTTP response code is 204.");
    assert_eq!(out["get_200"], json!({"ok": "web01"}));
    assert_eq!(out["list_search"], json!({"ok": 1}));
    let list = &out["requests"][7];
    assert_eq!(list["method"], "GET");
    assert_eq!(list["query"], json!({"search": "name=web* and status=up", "max": "10"}), "the SDK sends max as text");
    let search = oxvirt_ovirt::parse_search("name=web* and status=up").expect("parses");
    assert_eq!(search.any_of[0].len(), 2);
}

// --- the engine parses what the SDK's writers send -------------------------------------------

fn body_of(request: &Json) -> String {
    request["body"].as_str().expect("a request body").to_owned()
}

/// The XML the SDK's writer produces for the object built by `code` (assigned to `obj`).
fn sdk_writes(code: &str) -> Element {
    let out = sdk(&format!("{code}\nout['xml'] = write(obj)"), json!({}));
    let xml = out["xml"].as_str().expect("xml text");
    parse_body(Some("application/xml"), xml.as_bytes()).unwrap_or_else(|e| panic!("cannot parse\n{xml}\n{e}"))
}

#[test]
fn engine_parses_the_vm_the_sdk_adds() {
    let mut vm = sdk_writes(
        r#"
obj = types.Vm(
    name='web01',
    description='front <end> & "quotes"',
    cluster=types.Cluster(name='Default'),
    template=types.Template(name='Blank'),
    memory=2 * 1024**3,
    cpu=types.Cpu(topology=types.CpuTopology(cores=2, sockets=1, threads=1)),
    os=types.OperatingSystem(
        type='other',
        boot=types.Boot(devices=[types.BootDevice.HD, types.BootDevice.NETWORK]),
        kernel='/boot/vmlinuz', initrd='/boot/initrd.img', cmdline='console=ttyS0',
    ),
    high_availability=types.HighAvailability(enabled=False, priority=1),
    custom_properties=[types.CustomProperty(name='hugepages', value='1048576')],
    stateless=True,
    type=types.VmType.SERVER,
)"#,
    );
    assert_eq!(vm.expect_root("vm"), Ok(()));
    assert_eq!(vm.required_text("name"), Ok("web01".into()));
    assert_eq!(vm.text("description").as_deref(), Some("front <end> & \"quotes\""));
    assert_eq!(vm.reference_to::<ClusterId>("cluster"), Ok(Some(Reference::Name("Default".into()))));
    assert_eq!(vm.reference_to::<TemplateId>("template"), Ok(Some(Reference::Name("Blank".into()))));
    assert_eq!(vm.id_of::<ClusterId>("cluster"), Err(ReprError::ReferenceNeedsId { element: "cluster of vm".into() }));
    assert_eq!(vm.u64("memory"), Ok(Some(2 * 1024 * 1024 * 1024)));
    let topology = vm.at("cpu/topology").expect("topology");
    assert_eq!(
        (topology.u64("cores"), topology.u64("sockets"), topology.u64("threads")),
        (Ok(Some(2)), Ok(Some(1)), Ok(Some(1)))
    );
    let os = vm.child_named("os").expect("os");
    assert_eq!(os.text("type").as_deref(), Some("other"));
    assert_eq!(os.at("boot").map(|b| b.texts("devices", "device")), Some(vec!["hd".into(), "network".into()]));
    assert_eq!(os.text("kernel").as_deref(), Some("/boot/vmlinuz"));
    assert_eq!(vm.at("high_availability").map(|h| h.bool("enabled")), Some(Ok(Some(false))));
    let properties: Vec<_> = vm
        .at("custom_properties")
        .map(|l| l.children_named("custom_property").map(|p| (p.text("name"), p.text("value"))).collect())
        .unwrap_or_default();
    assert_eq!(properties, vec![(Some("hugepages".into()), Some("1048576".into()))]);
    assert_eq!(vm.bool("stateless"), Ok(Some(true)));
    assert_eq!(vm.text("type").as_deref(), Some("server"));
    assert_eq!(vm.parsed("status", "a VM status", VmStatus::from_wire), Ok(None), "the SDK sends no status");
}

#[test]
fn engine_parses_references_by_id() {
    let vm = sdk_writes(&format!(
        "obj = types.Vm(id='{VM}', cluster=types.Cluster(id='{CLUSTER}'), template=types.Template(id='{TEMPLATE}'))"
    ));
    assert_eq!(vm.own_id::<VmId>(), Ok(Some(VM.parse().expect("uuid"))));
    assert_eq!(vm.id_of::<ClusterId>("cluster"), Ok(Some(CLUSTER.parse().expect("uuid"))));
    assert_eq!(vm.reference_to::<TemplateId>("template"), Ok(Some(Reference::Id(TEMPLATE.parse().expect("uuid")))));
    let bad = sdk_writes("obj = types.Vm(cluster=types.Cluster(id='not-a-uuid'))");
    let err = bad.id_of::<ClusterId>("cluster").expect_err("not a UUID");
    assert_eq!(err.kind().http_status(), 400);
    assert!(err.to_string().contains("'not-a-uuid' is not a valid value for the id of cluster of vm"), "{err}");
}

#[test]
fn engine_parses_the_data_center_the_sdk_adds() {
    let mut dc = sdk_writes("obj = types.DataCenter(name='dc1', description='lab', local=False)");
    assert_eq!(dc.expect_root("data_center"), Ok(()));
    assert_eq!(dc.required_text("name"), Ok("dc1".into()));
    assert_eq!(dc.text("description").as_deref(), Some("lab"));
    assert_eq!(dc.bool("local"), Ok(Some(false)));
    assert_eq!(dc.own_id::<DataCenterId>(), Ok(None));
    assert_eq!(dc.expect_root("vm").map_err(|e| e.kind().http_status()), Err(400));
}

#[test]
fn engine_parses_the_disk_attachment_the_sdk_adds() {
    let mut attachment = sdk_writes(
        r#"
obj = types.DiskAttachment(
    disk=types.Disk(
        name='web01_disk1',
        format=types.DiskFormat.COW,
        provisioned_size=10 * 1024**3,
        sparse=True,
        storage_domains=[types.StorageDomain(name='data1')],
    ),
    interface=types.DiskInterface.VIRTIO_SCSI,
    bootable=True,
    active=True,
)"#,
    );
    assert_eq!(attachment.expect_root("disk_attachment"), Ok(()));
    assert_eq!(attachment.text("interface").as_deref(), Some("virtio_scsi"));
    assert_eq!(attachment.bool("bootable"), Ok(Some(true)));
    assert_eq!(attachment.bool("active"), Ok(Some(true)));
    let disk = attachment.child_named("disk").expect("disk");
    assert_eq!(disk.text("name").as_deref(), Some("web01_disk1"));
    assert_eq!(disk.text("format").as_deref(), Some("cow"));
    assert_eq!(disk.u64("provisioned_size"), Ok(Some(10 * 1024 * 1024 * 1024)));
    assert_eq!(disk.bool("sparse"), Ok(Some(true)));
    let domains = disk.child_named("storage_domains").expect("storage_domains");
    let names: Vec<_> = domains.children_named("storage_domain").map(|d| d.text("name")).collect();
    assert_eq!(names, vec![Some("data1".to_owned())]);
}

#[test]
fn engine_parses_the_nic_the_sdk_adds() {
    let mut nic = sdk_writes(&format!(
        "obj = types.Nic(name='nic1', interface=types.NicInterface.VIRTIO, vnic_profile=types.VnicProfile(id='{PROFILE}'))"
    ));
    assert_eq!(nic.expect_root("nic"), Ok(()));
    assert_eq!(nic.required_text("name"), Ok("nic1".into()));
    assert_eq!(nic.text("interface").as_deref(), Some("virtio"));
    // vNIC profiles have no typed id in oxvirt_types yet; any typed id parses a UUID
    assert_eq!(nic.id_of::<NetworkId>("vnic_profile").map(|id| id.map(|i| i.to_string())), Ok(Some(PROFILE.into())));
}

#[test]
fn engine_parses_the_actions_the_sdk_sends() {
    let mut start = sdk_writes("obj = types.Action()");
    assert_eq!(start.expect_root("action"), Ok(()));
    assert!(start.is_empty(), "{start:?}");
    let migrate = sdk_writes(&format!(
        "obj = types.Action(host=types.Host(name='host2'), force=True, async_=False, vm=types.Vm(id='{VM}'))"
    ));
    assert_eq!(migrate.reference_to::<VmId>("vm"), Ok(Some(Reference::Id(VM.parse().expect("uuid")))));
    assert_eq!(migrate.at("host").and_then(|h| h.text("name")).as_deref(), Some("host2"));
    assert_eq!(migrate.bool("force"), Ok(Some(true)));
    assert_eq!(migrate.bool("async"), Ok(Some(false)), "async_ is written as <async>");
}
