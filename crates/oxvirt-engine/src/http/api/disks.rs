//! Floating disks (`/disks`): virtual disks on a storage domain, attached to VMs or not.

use super::*;
use crate::app::{DiskAdd, DiskFields};
use oxvirt_engine_db::model::{Disk, DiskFormat};
use oxvirt_types::{ByteSize, DiskId, StorageDomainId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/disks", get(disk_list).post(disk_add))
        .route("/disks/{id}", get(disk_get).put(disk_update).delete(disk_remove))
        .route("/disks/{id}/{action}", axum::routing::post(disk_action))
}

to_element!(Disk, "disks", disk_el);

/// A disk as oVirt shows it (also embedded by VMs' disk attachments).
/// What every disk is in oxvirt (see [`Fixed`]): a data image (no ISO or memory-dump disks,
/// no direct LUNs yet), whose I/O errors pause the VM rather than reach the guest (the
/// agent's `error_policy='stop'`), without incremental backup.
pub(super) const DISK_FIXED: &[Fixed] = &[
    Fixed::text("storage_type", "image"),
    Fixed::text("content_type", "data"),
    Fixed::bool("propagate_errors", false),
    Fixed::text("backup", "none"),
];

pub(super) fn disk_el(disk: &Disk) -> Element {
    let sd = disk.storage_domain_id;
    let mut el = Element::new("disk")
        .href(href_of(disk.id))
        .id(disk.id)
        .text_child("name", &disk.alias)
        .text_child("alias", &disk.alias)
        .text_child("description", &disk.description)
        .text_child("comment", &disk.comment)
        .enum_child("format", disk.format.as_str())
        .bool_child("sparse", disk.sparse)
        .int_child("provisioned_size", disk.provisioned_size.bytes())
        .int_child("actual_size", disk.actual_size.bytes())
        .int_child("total_size", disk.actual_size.bytes())
        .enum_child("status", disk.status.as_str())
        .text_child("image_id", disk.volume_id.to_string())
        .with_fixed(DISK_FIXED)
        .bool_child("shareable", disk.shareable)
        .bool_child("wipe_after_delete", disk.wipe_after_delete);
    if disk.format == DiskFormat::Cow {
        el = el.enum_child("qcow_version", "qcow2_v3");
    }
    el.child(Element::list("storage_domains", [Element::new("storage_domain").id(sd).href(href_of(sd))]))
        .sub_links(&["permissions", "statistics"])
}

async fn disk_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let disks = app.disk_list(&p.query()?).await?;
    Ok(Reply::list(fmt, &disks))
}

async fn disk_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(d): IdPath<DiskId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.disk_get(d).await?))
}

/// oVirt's `<disk>` of a new disk, as the app layer takes it (also for VMs' disk attachments).
impl FromElement for DiskAdd {
    const ROOT: &'static str = "disk";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        disk_add_from(el)
    }
}

/// A new disk's fields (also of a disk created with an attachment).
pub(super) fn disk_add_from(el: &Element) -> Result<DiskAdd, Failure> {
    let name = el.text("name").or_else(|| el.text("alias")).unwrap_or_default();
    el.accept_fixed(DISK_FIXED);
    let format = el
        .parsed("format", "cow or raw", DiskFormat::from_wire)?
        .ok_or_else(|| invalid(format!("disk {name} needs a format: cow (qcow2) or raw")))?;
    let size = match el.u64("provisioned_size")? {
        Some(s) => s,
        None => el.u64("size")?.ok_or_else(|| invalid(format!("disk {name} needs a provisioned_size in bytes")))?,
    };
    let storage_domain = match el.child_named("storage_domains") {
        Some(list) => required_ref::<StorageDomainId>(list, "storage_domain", "a disk's storage_domains")?,
        None => required_ref::<StorageDomainId>(el, "storage_domain", "a new disk (in storage_domains)")?,
    };
    Ok(DiskAdd {
        name,
        description: el.text("description").unwrap_or_default(),
        comment: el.text("comment"),
        storage_domain,
        format,
        sparse: el.bool("sparse")?,
        provisioned_size: ByteSize(size),
        shareable: el.bool("shareable")?.unwrap_or(false),
        wipe_after_delete: el.bool("wipe_after_delete")?.unwrap_or(false),
    })
}

/// What an attachment of an existing disk restates about it (checked by the app against the
/// disk).
pub(super) fn disk_fields_from(el: &Element) -> Result<DiskFields, Failure> {
    el.accept_fixed(DISK_FIXED);
    let storage_domain = match el.child_named("storage_domains") {
        Some(list) => optional_ref::<StorageDomainId>(list, "storage_domain")?,
        None => optional_ref::<StorageDomainId>(el, "storage_domain")?,
    };
    Ok(DiskFields {
        id: el.own_id::<DiskId>()?,
        name: el.text("name").or_else(|| el.text("alias")),
        description: el.text("description"),
        format: el.parsed("format", "cow or raw", DiskFormat::from_wire)?,
        sparse: el.bool("sparse")?,
        provisioned_size: el.u64("provisioned_size")?.map(ByteSize),
        storage_domain,
        shareable: el.bool("shareable")?,
        wipe_after_delete: el.bool("wipe_after_delete")?,
    })
}

async fn disk_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    JobOpts(opts): JobOpts,
    Body(req): Body<DiskAdd>,
) -> Result<Reply, Failure> {
    let disk = app.disk_add(&who, req, &opts).await?;
    Ok(Reply::created(fmt, &disk))
}

/// `PUT /disks/{id}`: the body is a disk (its id, when given, must be the path's).
pub(super) struct DiskUpdate(DiskFields);

impl FromElement for DiskUpdate {
    const ROOT: &'static str = "disk";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(DiskUpdate(disk_fields_from(el)?))
    }
}

async fn disk_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(d): IdPath<DiskId>,
    JobOpts(opts): JobOpts,
    Body(DiskUpdate(req)): Body<DiskUpdate>,
) -> Result<Reply, Failure> {
    let disk = app.disk_update(&who, d, req, &opts).await?;
    Ok(Reply::ok(fmt, &disk))
}

/// The disk actions served; the model's others answer with the unserved rule's fault.
const DISK_ACTIONS: &[&str] = &["sparsify", "reduce"];

async fn disk_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((d, action)): IdPath<(DiskId, Segment)>,
    JobOpts(opts): JobOpts,
    uri: axum::http::Uri,
    body: Result<Body<ActionBody>, Failure>,
) -> Result<Reply, Failure> {
    let disk: DiskId = d;
    if !DISK_ACTIONS.contains(&action.as_str()) {
        return Err(unserved::unknown_action(uri.path(), DISK_ACTIONS));
    }
    let Body(body) = body?;
    let opts = body.job_options(opts);
    match action.as_str() {
        "sparsify" => app.disk_sparsify(&who, disk, &opts).await?,
        _ => app.disk_reduce(&who, disk).await?,
    }
    Ok(Reply::action_done(fmt, None))
}

async fn disk_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(d): IdPath<DiskId>,
    JobOpts(opts): JobOpts,
) -> Result<Removed, Failure> {
    app.disk_remove(&who, d, &opts).await?;
    Ok(Removed)
}
