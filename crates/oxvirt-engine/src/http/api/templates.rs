//! Templates (`/templates`): `Blank` and, later, templates made from VMs.

use super::*;
use oxvirt_engine_db::model::Template;
use oxvirt_types::TemplateId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/templates", get(template_list).post(template_add))
        .route("/templates/{id}", get(template_get))
        .route("/templates/{id}/diskattachments", get(template_disk_attachments))
        .route("/templates/{id}/nics", get(template_nics))
}

to_element!(Template, "templates", template_el);

pub(super) fn template_el(t: &Template) -> Element {
    let href = href_of(t.id);
    let c = &t.config;
    let mut os = Element::new("os").text_child("type", &c.os_type);
    let boot = Element::new("boot").text_list("devices", "device", c.boot.devices.iter().map(|d| d.as_str()));
    if let Some(k) = &c.boot.kernel {
        os = os.text_child("kernel", k);
    }
    if let Some(i) = &c.boot.initrd {
        os = os.text_child("initrd", i);
    }
    if let Some(l) = &c.boot.cmdline {
        os = os.text_child("cmdline", l);
    }
    let mut el = Element::new("template")
        .href(href.clone())
        .id(t.id)
        .text_child("name", &t.name)
        .text_child("description", &t.description)
        .text_child("comment", &t.comment)
        .date_child("creation_time", oxvirt_ovirt::date::from_epoch_millis(t.created.as_millis()))
        .enum_child("status", t.status.as_str())
        .enum_child("type", c.vm_type.as_str())
        .int_child("memory", c.memory.bytes())
        .child(
            Element::new("memory_policy")
                .int_child("guaranteed", c.memory_guaranteed.bytes())
                .int_child("max", c.memory_max.bytes()),
        )
        .child(
            Element::new("cpu").child(
                Element::new("topology")
                    .int_child("sockets", c.cpu.sockets)
                    .int_child("cores", c.cpu.cores)
                    .int_child("threads", c.cpu.threads),
            ),
        )
        .child(os.child(boot))
        .child(
            Element::new("high_availability")
                .bool_child("enabled", c.high_availability.enabled)
                .int_child("priority", c.high_availability.priority),
        )
        .bool_child("stateless", false)
        .bool_child("delete_protected", false)
        .text_child("origin", "ovirt")
        .child(
            Element::new("version")
                .text_child("version_name", "base version")
                .int_child("version_number", 1)
                .reference("base_template", t.id, href),
        )
        .list_child(
            "custom_properties",
            c.custom_properties
                .iter()
                .map(|(k, v)| Element::new("custom_property").text_child("name", k).text_child("value", v)),
        );
    if let Some(m) = &c.machine {
        el = el.text_child("custom_emulated_machine", m);
    }
    if let Some(d) = c.display {
        el = el.child(Element::new("display").enum_child("type", d.as_str()));
    }
    el = el.child_opt(super::vms::serial_number_el(c)).child(super::vms::console_el(c));
    if let Some(cl) = t.cluster_id {
        el = el.reference_id("cluster", cl);
    }
    el.sub_links(&["diskattachments", "nics", "permissions", "cdroms", "graphicsconsoles", "watchdogs", "tags"])
}

async fn template_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let templates = app.template_list(&p.query()?).await?;
    Ok(Reply::list(fmt, &templates))
}

async fn template_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(t): IdPath<TemplateId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.template_get(t).await?))
}

async fn template_add(State(app): State<AppState>, Extension(who): Extension<Principal>) -> Result<Reply, Failure> {
    app.template_add(&who).await?;
    Err(Failure::new(ErrorKind::Internal, "template creation returned without a template"))
}

/// Templates have no disks or NICs yet (only `Blank` exists, and it has none).
async fn template_disk_attachments(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(t): IdPath<TemplateId>,
) -> Result<Reply, Failure> {
    app.template_get(t).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("disk_attachments", [])))
}

async fn template_nics(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(t): IdPath<TemplateId>,
) -> Result<Reply, Failure> {
    app.template_get(t).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("nics", [])))
}
