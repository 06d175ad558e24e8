//! Disk attachments of VMs.

use super::error::{Result, StoreError, WriteCtx};
use super::sql::RowExt as _;
use crate::model::DiskAttachment;
use oxvirt_types::{DiskId, VmId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const ATTACHMENT_COLUMNS: &str = "vm_id, disk_id, interface, bootable, active, read_only";

fn attachment_from_row(r: &AnyRow) -> Result<DiskAttachment> {
    Ok(DiskAttachment {
        vm_id: r.parse("vm_id")?,
        disk_id: r.parse("disk_id")?,
        interface: r.parse("interface")?,
        bootable: r.flag("bootable")?,
        active: r.flag("active")?,
        read_only: r.flag("read_only")?,
    })
}

fn attachment_ctx(doing: &str, a: &DiskAttachment) -> WriteCtx {
    WriteCtx::new(
        doing,
        "disk_attachments",
        "disk attachment",
        format!("the attachment of disk {} to VM {}", a.disk_id, a.vm_id),
        a.vm_id,
    )
    .unique("disk_attachments_vm_id_disk_id_key", format!("disk {} is already attached to VM {}", a.disk_id, a.vm_id))
    .unique(
        "disk_attachments_vm_id_key",
        format!("VM {} already has a bootable disk; a VM boots from one disk only", a.vm_id),
    )
    .reference("disk_attachments_vm_id_fkey", "VM", "vms", a.vm_id)
    .reference("disk_attachments_disk_id_fkey", "disk", "disks", a.disk_id)
}

async fn attachment_write(c: &mut AnyConnection, sql: &'static str, a: &DiskAttachment, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(a.vm_id.to_string())
        .bind(a.disk_id.to_string())
        .bind(a.interface.as_str())
        .bind(a.bootable)
        .bind(a.active)
        .bind(a.read_only)
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => Err(attachment_ctx(doing, a).explain(c, e).await),
    }
}

pub(crate) async fn disk_attachment_insert(c: &mut AnyConnection, a: &DiskAttachment) -> Result<()> {
    attachment_write(
        c,
        "INSERT INTO disk_attachments (vm_id, disk_id, interface, bootable, active, read_only) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        a,
        "attaching a disk",
    )
    .await
    .map(drop)
}

pub(crate) async fn disk_attachment_get(c: &mut AnyConnection, vm_id: VmId, disk_id: DiskId) -> Result<DiskAttachment> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM disk_attachments WHERE vm_id = $1 AND disk_id = $2"
    )))
    .bind(vm_id.to_string())
    .bind(disk_id.to_string())
    .fetch_optional(&mut *c)
    .await
    .map_err(StoreError::db("reading a disk attachment"))?;
    attachment_from_row(
        &row.ok_or_else(|| StoreError::not_found("disk attachment", format!("{disk_id} of VM {vm_id}")))?,
    )
}

/// A VM's disk attachments: the bootable one first, then by disk alias.
pub(crate) async fn disk_attachment_list_for_vm(c: &mut AnyConnection, vm_id: VmId) -> Result<Vec<DiskAttachment>> {
    let rows = sqlx::query(
        "SELECT a.vm_id, a.disk_id, a.interface, a.bootable, a.active, a.read_only FROM disk_attachments a \
         JOIN disks d ON d.id = a.disk_id WHERE a.vm_id = $1 ORDER BY a.bootable DESC, d.alias, a.disk_id",
    )
    .bind(vm_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("listing a VM's disk attachments"))?;
    rows.iter().map(attachment_from_row).collect()
}

/// Where a disk is attached (several VMs for a shareable disk).
pub(crate) async fn disk_attachment_list_for_disk(
    c: &mut AnyConnection,
    disk_id: DiskId,
) -> Result<Vec<DiskAttachment>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM disk_attachments WHERE disk_id = $1 ORDER BY vm_id"
    )))
    .bind(disk_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("listing a disk's attachments"))?;
    rows.iter().map(attachment_from_row).collect()
}

pub(crate) async fn disk_attachment_update(c: &mut AnyConnection, a: &DiskAttachment) -> Result<()> {
    let n = attachment_write(
        c,
        "UPDATE disk_attachments SET interface = $3, bootable = $4, active = $5, read_only = $6 \
         WHERE vm_id = $1 AND disk_id = $2",
        a,
        "updating a disk attachment",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("disk attachment", format!("{} of VM {}", a.disk_id, a.vm_id)));
    }
    Ok(())
}

pub(crate) async fn disk_attachment_delete(c: &mut AnyConnection, vm_id: VmId, disk_id: DiskId) -> Result<()> {
    let r = sqlx::query("DELETE FROM disk_attachments WHERE vm_id = $1 AND disk_id = $2")
        .bind(vm_id.to_string())
        .bind(disk_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("detaching a disk"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("disk attachment", format!("{disk_id} of VM {vm_id}")));
    }
    Ok(())
}
