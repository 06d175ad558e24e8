//! Virtual machines (`/vms`): configuration, power actions (`start`, `stop`, `shutdown`,
//! `reboot`), `follow=`, the serial console log (an oxvirt extension) and permissions.

use super::*;
use crate::app::{
    BootProtocol, Initialization, NicConfiguration, PlacementPatch, RunOnce, VmAdd, VmConfigPatch, VmUpdate,
};
use oxvirt_engine_db::model::{
    BootDevice, CpuTopology, DisplayType, HighAvailability, PlacementAffinity, SerialNumber, SerialNumberPolicy, Vm,
    VmConfig, VmType,
};
use oxvirt_types::{ByteSize, HostId, TemplateId, VmId};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vms", get(vm_list).post(vm_add))
        .route("/vms/{id}", get(vm_get).put(vm_update).delete(vm_remove))
        .route("/vms/{id}/serialconsolelog", get(vm_console_log))
        .route("/vms/{id}/permissions", get(vm_permission_list))
        .route("/vms/{id}/{action}", axum::routing::post(vm_action))
}

const VM_ACTIONS: &[&str] = &["start", "stop", "shutdown", "reboot"];

/// `follow=` of a VM request: which sub-collections to inline.
#[derive(Debug, Default)]
struct Follow(BTreeSet<String>);

impl Follow {
    fn parse(text: Option<&str>) -> Result<Self, Failure> {
        let mut set = BTreeSet::new();
        for item in text.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "disk_attachments" | "nics" | "disk_attachments.disk" => {
                    set.insert(item.to_owned());
                }
                other => {
                    return Err(Failure::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "cannot follow '{other}' from a VM; followable: disk_attachments, disk_attachments.disk, nics"
                        ),
                    ));
                }
            }
        }
        if set.contains("disk_attachments.disk") {
            set.insert("disk_attachments".to_owned());
        }
        Ok(Follow(set))
    }

    fn has(&self, what: &str) -> bool {
        self.0.contains(what)
    }
}

#[derive(Debug, Deserialize)]
struct VmListParams {
    follow: Option<String>,
    #[serde(flatten)]
    list: ListParams,
}

#[derive(Debug, Deserialize)]
struct FollowParams {
    follow: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConsoleParams {
    tail_bytes: Option<u64>,
}

to_element!(Vm, "vms", vm_el);

fn vm_el(vm: &Vm) -> Element {
    let c = &vm.config;
    let mut os = Element::new("os")
        .child(Element::new("boot").text_list("devices", "device", c.boot.devices.iter().map(|d| d.as_str())))
        .text_child("type", &c.os_type);
    os = os
        .text_child_opt("kernel", c.boot.kernel.as_deref())
        .text_child_opt("initrd", c.boot.initrd.as_deref())
        .text_child_opt("cmdline", c.boot.cmdline.as_deref());
    let mut placement = Element::new("placement_policy").enum_child("affinity", vm.placement.affinity.as_str());
    if let Some(h) = vm.placement.host_id {
        placement = placement.list_child("hosts", [Element::new("host").href(href_of(h)).id(h)]);
    }
    let mut el = Element::new("vm")
        .href(href_of(vm.id))
        .id(vm.id)
        .text_child("name", &vm.name)
        .text_child("description", &vm.description)
        .text_child("comment", &vm.comment)
        .child(
            Element::new("cpu").text_child("architecture", "x86_64").child(
                Element::new("topology")
                    .int_child("cores", c.cpu.cores)
                    .int_child("sockets", c.cpu.sockets)
                    .int_child("threads", c.cpu.threads),
            ),
        )
        .date_child("creation_time", time(vm.created))
        .list_child(
            "custom_properties",
            c.custom_properties
                .iter()
                .map(|(k, v)| Element::new("custom_property").text_child("name", k).text_child("value", v)),
        )
        .bool_child("delete_protected", vm.delete_protected)
        .child_opt(c.display.map(|d| Element::new("display").enum_child("type", d.as_str())))
        .child(
            Element::new("high_availability")
                .bool_child("enabled", c.high_availability.enabled)
                .int_child("priority", c.high_availability.priority),
        )
        .int_child("memory", c.memory.bytes())
        .child(
            Element::new("memory_policy")
                .int_child("guaranteed", c.memory_guaranteed.bytes())
                .int_child("max", c.memory_max.bytes()),
        )
        .child(os)
        .child(placement)
        .enum_child("status", vm.runtime.status.as_str())
        .enum_child("type", c.vm_type.as_str())
        .text_child_opt("custom_emulated_machine", c.machine.as_deref())
        .child_opt(serial_number_el(c))
        .child(console_el(c))
        .bool_child("stateless", false);
    if let Some(t) = vm.runtime.start_time {
        el = el.date_child("start_time", time(t));
    }
    if let Some(t) = vm.runtime.stop_time {
        el = el.date_child("stop_time", time(t));
    }
    el = el.text_child_opt("stop_reason", vm.runtime.stop_reason.as_deref());
    el = el.reference_id("cluster", vm.cluster_id).reference_id("template", vm.template_id);
    if let Some(h) = vm.runtime.host_id {
        el = el.reference_id("host", h);
    }
    el.sub_links(&["diskattachments", "nics", "permissions"]).actions(VM_ACTIONS)
}

async fn vm_el_followed(app: &AppState, vm: &Vm, follow: &Follow) -> Result<Element, Failure> {
    let mut el = vm_el(vm);
    if follow.has("disk_attachments") {
        let attachments = app.disk_attachment_list(vm.id).await?;
        let mut items = Vec::new();
        for a in &attachments {
            let disk = if follow.has("disk_attachments.disk") {
                Some(app.disk_get(a.disk_id).await?.to_element())
            } else {
                None
            };
            items.push(super::disk_attachments::attachment_el(a, disk));
        }
        el = el.list_child("disk_attachments", items);
    }
    if follow.has("nics") {
        let nics = app.nic_list(vm.id).await?;
        el = el.list_child("nics", nics.iter().map(ToElement::to_element));
    }
    Ok(el)
}

async fn vm_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<VmListParams>,
) -> Result<Reply, Failure> {
    let follow = Follow::parse(p.follow.as_deref())?;
    let vms = app.vm_list(&p.list.query()?).await?;
    let mut items = Vec::with_capacity(vms.len());
    for vm in &vms {
        items.push(vm_el_followed(&app, vm, &follow).await?);
    }
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("vms", items)))
}

async fn vm_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    Params(p): Params<FollowParams>,
) -> Result<Reply, Failure> {
    let follow = Follow::parse(p.follow.as_deref())?;
    let vm = app.vm_get(vm).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &vm_el_followed(&app, &vm, &follow).await?))
}

/// `console` of a VM or template: whether it has a serial console.
pub(super) fn console_el(c: &VmConfig) -> Element {
    Element::new("console").bool_child("enabled", c.console_enabled)
}

/// A boolean oxvirt has only as `false` (`stateless`): `false` is accepted, `true` refused
/// with what it needs.
pub(super) fn false_only(el: &Element, name: &str, what: &str, needs: &str) -> Result<(), Failure> {
    match el.bool(name)? {
        Some(true) => Err(invalid(format!("{what}.{name}=true is not supported yet: {needs}"))),
        _ => Ok(()),
    }
}

/// `serial_number` of a VM or template: absent for the default policy, as oVirt renders it.
pub(super) fn serial_number_el(c: &VmConfig) -> Option<Element> {
    let s = c.serial_number.as_ref()?;
    Some(
        Element::new("serial_number")
            .enum_child("policy", s.policy.as_str())
            .text_child_opt("value", s.value.as_deref()),
    )
}

/// `serial_number`: `Some(None)` for policy `none` (back to the default).
fn serial_number_patch(el: &Element) -> Result<Option<Option<SerialNumber>>, Failure> {
    let Some(s) = el.child_named("serial_number") else { return Ok(None) };
    let value = s.text("value");
    let policy = s.text("policy");
    Ok(match policy.as_deref() {
        None if value.is_none() => None,
        None => return Err(invalid("vm.serial_number.value needs serial_number.policy custom beside it")),
        Some("none") if value.is_some() => {
            return Err(invalid("vm.serial_number.value is only used with policy custom, not none"));
        }
        Some("none") => Some(None),
        Some(p) => {
            let policy = SerialNumberPolicy::from_wire(p)
                .ok_or_else(|| invalid(format!("'{p}' is not a serial number policy; use host, vm, custom or none")))?;
            Some(Some(SerialNumber { policy, value }))
        }
    })
}

/// The configuration fields of a `<vm>` body.
fn config_patch(el: &Element) -> Result<VmConfigPatch, Failure> {
    false_only(el, "stateless", el.name(), "stateless VMs come with VM pools")?;
    let bytes = |v: Option<u64>| v.map(ByteSize);
    let policy = el.child_named("memory_policy");
    let cpu = match el.at("cpu/topology") {
        None => None,
        Some(t) => Some(CpuTopology {
            sockets: small(t.u64("sockets")?, "cpu.topology.sockets")?.unwrap_or(1),
            cores: small(t.u64("cores")?, "cpu.topology.cores")?.unwrap_or(1),
            threads: small(t.u64("threads")?, "cpu.topology.threads")?.unwrap_or(1),
        }),
    };
    let os = el.child_named("os");
    let boot_devices = match os.and_then(|o| o.at("boot/devices")) {
        None => None,
        Some(d) => Some(boot_devices_parse(d)?),
    };
    let high_availability = match el.child_named("high_availability") {
        None => None,
        Some(ha) => Some(HighAvailability {
            enabled: ha.bool("enabled")?.unwrap_or(false),
            priority: ha.i64("priority")?.map(|p| p.clamp(0, 100) as i32).unwrap_or(0),
        }),
    };
    let custom_properties = match el.child_named("custom_properties") {
        None => None,
        Some(list) => {
            let mut map = BTreeMap::new();
            for p in list.children_named("custom_property") {
                let name = p.required_text("name")?;
                map.insert(name, p.text("value").unwrap_or_default());
            }
            Some(map)
        }
    };
    Ok(VmConfigPatch {
        memory: bytes(el.u64("memory")?),
        memory_guaranteed: bytes(policy.map(|p| p.u64("guaranteed")).transpose()?.flatten()),
        memory_max: bytes(policy.map(|p| p.u64("max")).transpose()?.flatten()),
        cpu,
        os_type: os.and_then(|o| o.text("type")),
        vm_type: el.parsed("type", "desktop, server or high_performance", VmType::from_wire)?,
        machine: el.text("custom_emulated_machine"),
        boot_devices,
        kernel: os.and_then(|o| o.text("kernel")),
        initrd: os.and_then(|o| o.text("initrd")),
        cmdline: os.and_then(|o| o.text("cmdline")),
        display: match el.child_named("display") {
            Some(d) => d.parsed("type", "vnc or spice", DisplayType::from_wire)?,
            None => None,
        },
        high_availability,
        custom_properties,
        serial_number: serial_number_patch(el)?,
        console_enabled: el.child_named("console").map(|c| c.bool("enabled")).transpose()?.flatten(),
    })
}

fn small(v: Option<u64>, what: &str) -> Result<Option<u16>, Failure> {
    v.map(|n| u16::try_from(n).map_err(|_| invalid(format!("{what} {n} is too large")))).transpose()
}

impl FromElement for VmAdd {
    const ROOT: &'static str = "vm";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let template = optional_ref::<TemplateId>(el, "template")?;
        Ok(VmAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            cluster: required_ref(el, "cluster", "a VM")?,
            template,
            config: config_patch(el)?,
            delete_protected: el.bool("delete_protected")?,
            placement: placement_patch(el)?,
        })
    }
}

async fn vm_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<VmAdd>,
) -> Result<Reply, Failure> {
    let vm = app.vm_add(&who, req).await?;
    Ok(Reply::created(fmt, &vm))
}

impl FromElement for VmUpdate {
    const ROOT: &'static str = "vm";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(VmUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            config: config_patch(el)?,
            delete_protected: el.bool("delete_protected")?,
            placement: placement_patch(el)?,
        })
    }
}

/// `placement_policy`: the affinity, and at most one host (oxvirt keeps one per VM; oVirt's
/// several dedicated hosts are refused rather than reduced to one). An empty `<hosts/>`
/// clears the host.
fn placement_patch(el: &Element) -> Result<PlacementPatch, Failure> {
    let Some(p) = el.child_named("placement_policy") else { return Ok(PlacementPatch::default()) };
    let affinity = p.parsed("affinity", "migratable, user_migratable or pinned", PlacementAffinity::from_wire)?;
    let host = match p.child_named("hosts") {
        None => None,
        Some(hosts) => {
            let mut each = hosts.children_named("host");
            match (each.next(), each.next()) {
                (None, _) => Some(None),
                (Some(h), None) => Some(Some(match own_ref::<HostId>(h)? {
                    Some(named) => named,
                    None => return Err(invalid("placement_policy.hosts.host needs an id or a name")),
                })),
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "placement_policy.hosts: oxvirt places a VM on one host (preferred, or required when \
                         pinned); give one host",
                    ));
                }
            }
        }
    };
    Ok(PlacementPatch { affinity, host })
}

async fn vm_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    Body(req): Body<VmUpdate>,
) -> Result<Reply, Failure> {
    let vm = app.vm_update(&who, vm, req).await?;
    Ok(Reply::ok(fmt, &vm))
}

async fn vm_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(vm): IdPath<VmId>,
    Params(p): Params<DetachOnlyParams>,
    JobOpts(opts): JobOpts,
) -> Result<Removed, Failure> {
    // oVirt removes a VM's disks with it unless `detach_only=true`.
    let detach_only = flag(p.detach_only.as_deref(), "detach_only")?.unwrap_or(false);
    app.vm_remove(&who, vm, detach_only, &opts).await?;
    Ok(Removed)
}

async fn vm_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((vm, action)): IdPath<(VmId, Segment)>,
    JobOpts(mut opts): JobOpts,
    uri: axum::http::Uri,
    body: Result<Body<VmActionBody>, Failure>,
) -> Result<Reply, Failure> {
    if !VM_ACTIONS.contains(&action.as_str()) {
        return Err(unserved::unknown_action(uri.path(), VM_ACTIONS));
    }
    let Body(body) = body?;
    if (body.run_once.boot_devices.is_some() || body.run_once.initialization.is_some()) && action.as_str() != "start" {
        return Err(invalid(format!("action.vm is not supported by {}", action.as_str())));
    }
    let reason = body.reason;
    // Only stop and shutdown take a reason (oVirt's model): on start or reboot it would be
    // dropped, so it is refused.
    if reason.is_some() && !matches!(action.as_str(), "stop" | "shutdown") {
        return Err(Failure::new(
            ErrorKind::InvalidInput,
            format!("action.reason is not supported by {}", action.as_str()),
        ));
    }
    // oVirt's action element carries `async` too: `false` answers when the job has ended.
    if let Some(asynchronous) = body.asynchronous {
        opts.asynchronous = Some(asynchronous);
    }
    let done = match action.as_str() {
        "start" => app.vm_start(&who, vm, body.run_once, &opts).await?,
        "stop" => app.vm_stop(&who, vm, reason, &opts).await?,
        "shutdown" => app.vm_shutdown(&who, vm, reason, &opts).await?,
        "reboot" => app.vm_reboot(&who, vm, &opts).await?,
        _ => return Err(unserved::unknown_action(uri.path(), VM_ACTIONS)),
    };
    Ok(Reply::action_done(fmt, Some(done.to_element())))
}

/// What a VM action's `<action>` may carry that the engine honours: `reason` (stop, shutdown),
/// `async`, and for a start the run-once parts of `vm` (`os.boot.devices`, `initialization`
/// with `use_cloud_init`). Anything else of the model is refused.
#[derive(Debug)]
struct VmActionBody {
    reason: Option<String>,
    asynchronous: Option<bool>,
    run_once: RunOnce,
}

impl FromElement for VmActionBody {
    const ROOT: &'static str = "action";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let vm = el.child_named("vm");
        let boot_devices = match vm.and_then(|v| v.at("os/boot/devices")) {
            None => None,
            Some(d) => Some(boot_devices_parse(d)?),
        };
        let use_cloud_init = el.bool("use_cloud_init")?;
        let initialization = match (vm.and_then(|v| v.child_named("initialization")), use_cloud_init) {
            (Some(init), Some(true)) => Some(initialization_parse(init)?),
            (Some(_), _) => {
                return Err(invalid(
                    "action.vm.initialization is used only with action.use_cloud_init=true (oxvirt supports \
                     cloud-init, not sysprep or ignition); set it",
                ));
            }
            (None, Some(true)) => {
                return Err(invalid(
                    "action.use_cloud_init needs action.vm.initialization: oxvirt keeps no initialization on the \
                     VM; give it with the start",
                ));
            }
            (None, _) => None,
        };
        Ok(VmActionBody {
            reason: el.text("reason"),
            asynchronous: el.bool("async")?,
            run_once: RunOnce { boot_devices, initialization },
        })
    }
}

fn boot_devices_parse(devices: &Element) -> Result<Vec<BootDevice>, Failure> {
    devices
        .children_named("device")
        .filter_map(Element::own_text)
        .map(|t| {
            BootDevice::from_wire(&t)
                .ok_or_else(|| invalid(format!("'{t}' is not a boot device; use hd, cdrom or network")))
        })
        .collect()
}

/// oVirt's `initialization`, the fields cloud-init gets; the others of the model stay unread
/// and are refused.
fn initialization_parse(el: &Element) -> Result<Initialization, Failure> {
    let mut nic_configurations = Vec::new();
    if let Some(list) = el.child_named("nic_configurations") {
        for nic in list.children_named("nic_configuration") {
            let ip = nic.child_named("ip");
            if let Some(version) = ip.and_then(|ip| ip.text("version"))
                && version != "v4"
            {
                return Err(invalid(format!(
                    "initialization.nic_configurations.nic_configuration.ip.version {version}: ip carries IPv4 \
                     (v4); IPv6 configuration is not supported yet"
                )));
            }
            let boot_protocol = match nic.text("boot_protocol") {
                None => None,
                Some(p) => Some(BootProtocol::from_wire(&p).ok_or_else(|| {
                    invalid(format!(
                        "initialization.nic_configurations.nic_configuration.boot_protocol '{p}' is not supported; \
                         use dhcp, static or none"
                    ))
                })?),
            };
            nic_configurations.push(NicConfiguration {
                name: nic.required_text("name")?,
                on_boot: nic.bool("on_boot")?,
                boot_protocol,
                address: ip.and_then(|ip| ip.text("address")),
                netmask: ip.and_then(|ip| ip.text("netmask")),
                gateway: ip.and_then(|ip| ip.text("gateway")),
            });
        }
    }
    Ok(Initialization {
        host_name: el.text("host_name"),
        user_name: el.text("user_name"),
        root_password: el.text("root_password"),
        authorized_ssh_keys: el.text("authorized_ssh_keys"),
        regenerate_ssh_keys: el.bool("regenerate_ssh_keys")?,
        timezone: el.text("timezone"),
        dns_servers: el.text("dns_servers"),
        dns_search: el.text("dns_search"),
        nic_configurations,
        custom_script: el.text("custom_script"),
    })
}

async fn vm_console_log(
    State(app): State<AppState>,
    IdPath(vm): IdPath<VmId>,
    Params(p): Params<ConsoleParams>,
) -> Result<Response, Failure> {
    let text = app.vm_console_tail(vm, p.tail_bytes.unwrap_or(65536)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

async fn vm_permission_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
) -> Result<Reply, Failure> {
    let permissions = app.vm_permissions(vm).await?;
    let items = permissions.iter().map(|p| {
        Element::new("permission")
            .href(sub_href(vm, "permissions", p.id))
            .id(p.id)
            .reference("role", p.role_id, api_href(&format!("roles/{}", p.role_id)))
            .reference_id("user", p.user_id)
            .reference_id("vm", vm)
    });
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("permissions", items)))
}

/// Property-based fuzzing of the VM body translators followed by the app's checks: whatever
/// a client sends yields a configuration that obeys the rules, or `InvalidInput` naming the
/// problem — never a panic, an overflow or another kind of error (`make fuzz` runs 10⁷ cases).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::app::{AppError, cloud_init_build, vm_config_apply};
    use oxvirt_types::ErrorKind;
    use proptest::prelude::*;
    use serde_json::{Value as J, json};

    /// Numbers at and around the limits (u16, u32, i64, u64 bounds, the 2048×2048×1024
    /// topology that wraps a u32) and some ordinary ones, as JSON numbers or strings.
    fn number() -> impl Strategy<Value = J> {
        let edge = prop_oneof![
            Just(0u64),
            Just(1),
            Just(512),
            Just(1024),
            Just(2048),
            Just(65_535),
            Just(65_536),
            Just(16 * 1024 * 1024),
            Just(u64::from(u32::MAX)),
            Just(i64::MAX as u64),
            Just(u64::MAX),
            any::<u64>(),
            0u64..4096,
        ];
        prop_oneof![
            edge.clone().prop_map(J::from),
            edge.prop_map(|n| J::from(n.to_string())),
            any::<i64>().prop_map(|n| J::from(n.to_string())),
            "[0-9a-z.+-]{0,6}".prop_map(J::from),
        ]
    }

    fn word() -> impl Strategy<Value = J> {
        prop_oneof![
            Just(J::from("")),
            Just(J::from("hd")),
            Just(J::from("custom")),
            Just(J::from("none")),
            Just(J::from("vm")),
            Just(J::from("vnc")),
            Just(J::from("true")),
            Just(J::from("q35")),
            "\\PC{0,8}".prop_map(J::from),
            any::<String>().prop_map(J::from),
        ]
    }

    /// A `<vm>` body with any subset of the configuration fields the engine honours.
    fn vm_body() -> impl Strategy<Value = J> {
        let fields = (
            proptest::option::of(number()),
            proptest::option::of((proptest::option::of(number()), proptest::option::of(number()))),
            proptest::option::of((number(), number(), number())),
            proptest::option::of((word(), proptest::collection::vec(word(), 0..4))),
            proptest::option::of((word(), word(), word())),
            proptest::option::of((word(), number())),
            proptest::option::of(proptest::collection::vec((word(), word()), 0..3)),
            proptest::option::of((word(), proptest::option::of(word()))),
            proptest::option::of((word(), word(), word())),
        );
        fields.prop_map(|(memory, policy, topology, boot, kernel, ha, props, serial, misc)| {
            let mut vm = serde_json::Map::new();
            if let Some(m) = memory {
                vm.insert("memory".into(), m);
            }
            if let Some((g, mx)) = policy {
                let mut p = serde_json::Map::new();
                if let Some(g) = g {
                    p.insert("guaranteed".into(), g);
                }
                if let Some(mx) = mx {
                    p.insert("max".into(), mx);
                }
                vm.insert("memory_policy".into(), J::Object(p));
            }
            if let Some((s, c, t)) = topology {
                vm.insert("cpu".into(), json!({"topology": {"sockets": s, "cores": c, "threads": t}}));
            }
            let mut os = serde_json::Map::new();
            if let Some((os_type, devices)) = boot {
                os.insert("type".into(), os_type);
                os.insert("boot".into(), json!({"devices": {"device": devices}}));
            }
            if let Some((k, i, c)) = kernel {
                os.insert("kernel".into(), k);
                os.insert("initrd".into(), i);
                os.insert("cmdline".into(), c);
            }
            if !os.is_empty() {
                vm.insert("os".into(), J::Object(os));
            }
            if let Some((enabled, priority)) = ha {
                vm.insert("high_availability".into(), json!({"enabled": enabled, "priority": priority}));
            }
            if let Some(props) = props {
                let items: Vec<J> = props.into_iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
                vm.insert("custom_properties".into(), json!({"custom_property": items}));
            }
            if let Some((policy, value)) = serial {
                vm.insert("serial_number".into(), json!({"policy": policy, "value": value}));
            }
            if let Some((t, machine, display)) = misc {
                vm.insert("type".into(), t);
                vm.insert("custom_emulated_machine".into(), machine);
                vm.insert("display".into(), json!({"type": display}));
            }
            J::Object(vm)
        })
    }

    fn only_invalid_input(kind: ErrorKind, what: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(kind, ErrorKind::InvalidInput, "{}", what);
        Ok(())
    }

    proptest! {
        #[test]
        fn fuzz_vm_bodies_yield_a_valid_configuration_or_invalid_input(body in vm_body()) {
            let text = body.to_string();
            let mut el = match oxvirt_ovirt::parse_body(Some("application/json"), text.as_bytes()) {
                Ok(el) => el,
                Err(_) => return Ok(()),
            };
            if el.expect_root("vm").is_err() {
                return Ok(());
            }
            let update = match VmUpdate::from_element(&el) {
                Ok(u) => u,
                Err(f) => return only_invalid_input(f.kind, &format!("{f:?} for {text}")),
            };
            let mut config = VmConfig::blank();
            match vm_config_apply(&mut config, update.config, "fuzz", &crate::app::VmPolicy::default()) {
                Ok(()) => {
                    prop_assert!(config.cpu.vcpus() >= 1 && config.cpu.vcpus() <= 512, "{:?} from {}", config.cpu, text);
                    prop_assert!(config.memory.bytes() >= 16 * 1024 * 1024, "{}", text);
                    prop_assert!(config.memory_guaranteed <= config.memory && config.memory <= config.memory_max, "{}", text);
                    if let Some(s) = &config.serial_number {
                        prop_assert_eq!(s.value.is_some(), s.policy == SerialNumberPolicy::Custom, "{}", text);
                    }
                }
                Err(e) => only_invalid_input(e.kind(), &format!("{e} for {text}"))?,
            }
        }

        #[test]
        fn fuzz_run_once_bodies_yield_cloud_init_files_or_invalid_input(
            host in proptest::option::of(word()),
            user in proptest::option::of(word()),
            // Rarely: hashing the password (5000 SHA-512 rounds) would dominate the run.
            password in proptest::option::weighted(0.02, word()),
            keys in proptest::option::of(word()),
            tz in proptest::option::of(word()),
            dns in proptest::option::of(word()),
            search in proptest::option::of(word()),
            script in proptest::option::of(word()),
            nics in proptest::collection::vec((word(), word(), word(), word(), word(), word()), 0..3),
        ) {
            let mut init = serde_json::Map::new();
            for (k, v) in [("host_name", host), ("user_name", user), ("root_password", password),
                ("authorized_ssh_keys", keys), ("timezone", tz), ("dns_servers", dns), ("dns_search", search),
                ("custom_script", script)] {
                if let Some(v) = v {
                    init.insert(k.into(), v);
                }
            }
            let nics: Vec<J> = nics.into_iter().map(|(name, on_boot, protocol, address, netmask, gateway)| json!({
                "name": name, "on_boot": on_boot, "boot_protocol": protocol,
                "ip": {"address": address, "netmask": netmask, "gateway": gateway},
            })).collect();
            init.insert("nic_configurations".into(), json!({"nic_configuration": nics}));
            let text = json!({"use_cloud_init": true, "vm": {"initialization": init}}).to_string();
            let mut el = match oxvirt_ovirt::parse_body(Some("application/json"), text.as_bytes()) {
                Ok(el) => el,
                Err(_) => return Ok(()),
            };
            if el.expect_root("action").is_err() {
                return Ok(());
            }
            let body = match VmActionBody::from_element(&el) {
                Ok(b) => b,
                Err(f) => return only_invalid_input(f.kind, &format!("{f:?} for {text}")),
            };
            let init = body.run_once.initialization.expect("use_cloud_init with an initialization");
            match cloud_init_build(oxvirt_types::VmId::new_random(), "fuzz", &init) {
                Ok(files) => prop_assert!(files.user_data.starts_with("#cloud-config\n"), "{}", text),
                Err(e) => {
                    prop_assert!(matches!(e, AppError::InvalidInput(_)), "{} for {}", e, text);
                }
            }
        }
    }
}
