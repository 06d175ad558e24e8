//! Affinity labels (`/affinitylabels`), the VMs and hosts carrying each
//! (`/affinitylabels/{id}/vms`, `…/hosts`), and the labels of a VM or host
//! (`/vms/{id}/affinitylabels`, `/hosts/{id}/affinitylabels`).

use super::*;
use crate::app::Tagged;
use axum::http::StatusCode;
use oxvirt_engine_db::model::AffinityLabel;
use oxvirt_ovirt::Format;
use oxvirt_types::{AffinityLabelId, VmId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/affinitylabels", get(label_list).post(label_add))
        .route("/affinitylabels/{id}", get(label_get).put(label_update).delete(label_remove))
        .route("/affinitylabels/{id}/vms", get(label_vm_list).post(label_vm_add))
        .route("/affinitylabels/{id}/vms/{vm}", axum::routing::delete(label_vm_remove))
        .route("/affinitylabels/{id}/hosts", get(label_host_list).post(label_host_add))
        .route("/affinitylabels/{id}/hosts/{host}", axum::routing::delete(label_host_remove))
        .route("/vms/{id}/affinitylabels", get(vm_label_list).post(vm_label_add))
        .route("/vms/{id}/affinitylabels/{label}", axum::routing::delete(vm_label_remove))
        .route("/hosts/{id}/affinitylabels", get(host_label_list).post(host_label_add))
        .route("/hosts/{id}/affinitylabels/{label}", axum::routing::delete(host_label_remove))
}

fn label_el(l: &AffinityLabel) -> Element {
    Element::new("affinity_label")
        .href(href_of(l.id))
        .id(l.id)
        .text_child("name", &l.name)
        .bool_child("read_only", false)
        .sub_links(&["vms", "hosts"])
}

to_element!(AffinityLabel, "affinity_labels", label_el);

/// A label's name; `read_only` only at false (every label can be changed) and
/// `has_implicit_affinity_group` only at false (labels imply no affinity group yet).
struct LabelBody {
    name: Option<String>,
}

impl FromElement for LabelBody {
    const ROOT: &'static str = "affinity_label";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_default("read_only", "false");
        el.accept_default("has_implicit_affinity_group", "false");
        Ok(LabelBody { name: el.text("name") })
    }
}

/// `<vm id="…"/>` or `<host id="…"/>` (or `<affinity_label id="…"/>`): by id, as oVirt takes them.
struct IdBody<T>(T);

macro_rules! id_body {
    ($t:ty, $root:literal, $what:literal) => {
        impl FromElement for IdBody<$t> {
            const ROOT: &'static str = $root;
            fn from_element(el: &Element) -> Result<Self, Failure> {
                let _ = el.text("name");
                el.own_id::<$t>()?
                    .map(IdBody)
                    .ok_or_else(|| invalid(concat!("give the ", $what, "'s id (<", $root, " id=\"…\"/>)")))
            }
        }
    };
}
id_body!(VmId, "vm", "VM");
id_body!(HostId, "host", "host");
id_body!(AffinityLabelId, "affinity_label", "affinity label");

/// A list of references (`<vms><vm href id/></vms>`).
fn references<T: oxvirt_ovirt::TopLevelId>(fmt: Format, list: &str, item: &str, ids: &[T]) -> Reply {
    let items = ids.iter().map(|id| Element::new(item).href(href_of(*id)).id(id));
    Reply::new(fmt, StatusCode::OK, &Element::list(list, items))
}

async fn label_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.affinity_label_list(&p.query()?).await?))
}

async fn label_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.affinity_label_get(l).await?))
}

async fn label_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<LabelBody>,
) -> Result<Reply, Failure> {
    let name = req.name.ok_or_else(|| invalid("an affinity label needs a name"))?;
    Ok(Reply::created(fmt, &app.affinity_label_add(&who, name).await?))
}

async fn label_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
    Body(req): Body<LabelBody>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.affinity_label_update(&who, l, req.name).await?))
}

async fn label_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(l): IdPath<AffinityLabelId>,
) -> Result<Removed, Failure> {
    app.affinity_label_remove(&who, l).await?;
    Ok(Removed)
}

async fn label_vm_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
) -> Result<Reply, Failure> {
    Ok(references(fmt, "vms", "vm", &app.affinity_label_vms(l).await?))
}

async fn label_vm_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
    Body(IdBody(vm)): Body<IdBody<VmId>>,
) -> Result<Reply, Failure> {
    app.labelled_add(&who, Tagged::Vm(vm), l).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &Element::new("vm").href(href_of(vm)).id(vm)))
}

async fn label_vm_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((l, vm)): IdPath<(AffinityLabelId, VmId)>,
) -> Result<Removed, Failure> {
    app.labelled_remove(&who, Tagged::Vm(vm), l).await?;
    Ok(Removed)
}

async fn label_host_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
) -> Result<Reply, Failure> {
    Ok(references(fmt, "hosts", "host", &app.affinity_label_hosts(l).await?))
}

async fn label_host_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(l): IdPath<AffinityLabelId>,
    Body(IdBody(host)): Body<IdBody<HostId>>,
) -> Result<Reply, Failure> {
    app.labelled_add(&who, Tagged::Host(host), l).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &Element::new("host").href(href_of(host)).id(host)))
}

async fn label_host_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((l, host)): IdPath<(AffinityLabelId, HostId)>,
) -> Result<Removed, Failure> {
    app.labelled_remove(&who, Tagged::Host(host), l).await?;
    Ok(Removed)
}

async fn vm_label_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.labelled_list(Tagged::Vm(vm)).await?))
}

async fn vm_label_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    Body(IdBody(l)): Body<IdBody<AffinityLabelId>>,
) -> Result<Reply, Failure> {
    app.labelled_add(&who, Tagged::Vm(vm), l).await?;
    Ok(Reply::created(fmt, &app.affinity_label_get(l).await?))
}

async fn vm_label_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((vm, l)): IdPath<(VmId, AffinityLabelId)>,
) -> Result<Removed, Failure> {
    app.labelled_remove(&who, Tagged::Vm(vm), l).await?;
    Ok(Removed)
}

async fn host_label_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(host): IdPath<HostId>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.labelled_list(Tagged::Host(host)).await?))
}

async fn host_label_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(host): IdPath<HostId>,
    Body(IdBody(l)): Body<IdBody<AffinityLabelId>>,
) -> Result<Reply, Failure> {
    app.labelled_add(&who, Tagged::Host(host), l).await?;
    Ok(Reply::created(fmt, &app.affinity_label_get(l).await?))
}

async fn host_label_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((host, l)): IdPath<(HostId, AffinityLabelId)>,
) -> Result<Removed, Failure> {
    app.labelled_remove(&who, Tagged::Host(host), l).await?;
    Ok(Removed)
}
