//! A VM's disk attachments (`/vms/{id}/diskattachments`): attach an existing disk or create
//! one with the attachment; detach, or delete the disk with it.

use super::*;
use crate::app::{AttachmentDisk, DiskAttachmentAdd, DiskAttachmentUpdate};
use oxvirt_engine_db::model::{DiskAttachment, DiskInterface};
use oxvirt_types::{DiskId, VmId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vms/{id}/diskattachments", get(attachment_list).post(attachment_add))
        .route("/vms/{id}/diskattachments/{disk}", get(attachment_get).put(attachment_update).delete(attachment_remove))
}

/// An attachment on its own (its disk as a reference; `follow=` embeds it).
fn attachment_plain(a: &DiskAttachment) -> Element {
    attachment_el(a, None)
}

to_element!(DiskAttachment, "disk_attachments", attachment_plain);

pub(super) fn attachment_el(a: &DiskAttachment, disk: Option<Element>) -> Element {
    let disk = disk.unwrap_or_else(|| Element::new("disk").href(href_of(a.disk_id)).id(a.disk_id));
    Element::new("disk_attachment")
        .href(sub_href(a.vm_id, "diskattachments", a.disk_id))
        .id(a.disk_id)
        .bool_child("active", a.active)
        .bool_child("bootable", a.bootable)
        .enum_child("interface", a.interface.as_str())
        .bool_child("pass_discard", false)
        .bool_child("read_only", a.read_only)
        .bool_child("uses_scsi_reservation", false)
        .child(disk)
        .reference_id("vm", a.vm_id)
}

async fn attachment_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
) -> Result<Reply, Failure> {
    let list = app.disk_attachment_list(vm).await?;
    Ok(Reply::list(fmt, &list))
}

async fn attachment_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((vm, disk)): IdPath<(VmId, DiskId)>,
) -> Result<Reply, Failure> {
    let a = app.disk_attachment_get(vm, disk).await?;
    Ok(Reply::ok(fmt, &a))
}

impl FromElement for DiskAttachmentUpdate {
    const ROOT: &'static str = "disk_attachment";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let disk = el.child_named("disk").map(super::disks::disk_fields_from).transpose()?;
        Ok(DiskAttachmentUpdate { disk, ..attachment_fields(el)? })
    }
}

fn attachment_fields(el: &Element) -> Result<DiskAttachmentUpdate, Failure> {
    Ok(DiskAttachmentUpdate {
        disk: None,
        interface: el.parsed("interface", "virtio, virtio_scsi or ide", DiskInterface::from_wire)?,
        bootable: el.bool("bootable")?,
        active: el.bool("active")?,
        read_only: el.bool("read_only")?,
    })
}

impl FromElement for DiskAttachmentAdd {
    const ROOT: &'static str = "disk_attachment";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let Some(disk) = el.child_named("disk") else {
            return Err(invalid("a disk attachment needs a disk: an existing one by id, or a new one"));
        };
        let fields = attachment_fields(el)?;
        let disk = match disk.own_id::<DiskId>()? {
            Some(existing) => AttachmentDisk::Existing(existing, super::disks::disk_fields_from(disk)?),
            None => AttachmentDisk::New(super::disks::disk_add_from(disk)?),
        };
        Ok(DiskAttachmentAdd {
            disk,
            interface: fields.interface,
            bootable: fields.bootable,
            active: fields.active,
            read_only: fields.read_only,
        })
    }
}

async fn attachment_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    JobOpts(opts): JobOpts,
    Body(req): Body<DiskAttachmentAdd>,
) -> Result<Reply, Failure> {
    let a = app.disk_attachment_add(&who, vm, req, &opts).await?;
    Ok(Reply::created(fmt, &a))
}

async fn attachment_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((vm, disk)): IdPath<(VmId, DiskId)>,
    JobOpts(opts): JobOpts,
    Body(req): Body<DiskAttachmentUpdate>,
) -> Result<Reply, Failure> {
    let a = app.disk_attachment_update(&who, vm, disk, req, &opts).await?;
    Ok(Reply::ok(fmt, &a))
}

async fn attachment_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((vm, disk)): IdPath<(VmId, DiskId)>,
    Params(p): Params<DetachOnlyParams>,
    JobOpts(opts): JobOpts,
) -> Result<Removed, Failure> {
    // oVirt's default for a disk attachment is to detach only, keeping the disk.
    let detach_only = flag(p.detach_only.as_deref(), "detach_only")?.unwrap_or(true);
    app.disk_attachment_remove(&who, vm, disk, detach_only, &opts).await?;
    Ok(Removed)
}
