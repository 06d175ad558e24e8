//! Disks (removed with their volumes and attachments).

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{DiskFilter, SortBy};
use super::sql::{RowExt as _, Sql, cas_missed, db_size};
use crate::model::{Disk, DiskStatus, Timestamp};
use oxvirt_types::DiskId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const DISK_COLUMNS: &str = "id, alias, description, storage_domain_id, format, sparse, provisioned_size, actual_size, \
                            status, volume_id, shareable, wipe_after_delete, created, comment";

fn disk_from_row(r: &AnyRow) -> Result<Disk> {
    Ok(Disk {
        id: r.parse("id")?,
        alias: r.text("alias")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        storage_domain_id: r.parse("storage_domain_id")?,
        format: r.parse("format")?,
        sparse: r.flag("sparse")?,
        provisioned_size: r.size("provisioned_size")?,
        actual_size: r.size("actual_size")?,
        status: r.parse("status")?,
        volume_id: r.parse("volume_id")?,
        shareable: r.flag("shareable")?,
        wipe_after_delete: r.flag("wipe_after_delete")?,
        created: Timestamp(r.int("created")?),
    })
}

/// Binds a disk's columns as $1..$14 (and `guard`, the status it must have, as $15).
async fn disk_write(
    c: &mut AnyConnection,
    sql: &'static str,
    d: &Disk,
    doing: &str,
    guard: Option<DiskStatus>,
) -> Result<u64> {
    let mut q = sqlx::query(sql)
        .bind(d.id.to_string())
        .bind(d.alias.clone())
        .bind(d.description.clone())
        .bind(d.storage_domain_id.to_string())
        .bind(d.format.as_str())
        .bind(d.sparse)
        .bind(db_size("provisioned size", d.provisioned_size)?)
        .bind(db_size("actual size", d.actual_size)?)
        .bind(d.status.as_str())
        .bind(d.volume_id.to_string())
        .bind(d.shareable)
        .bind(d.wipe_after_delete)
        .bind(d.created.0)
        .bind(d.comment.clone());
    if let Some(status) = guard {
        q = q.bind(status.as_str());
    }
    let res = q.execute(&mut *c).await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "disks", "disk", format!("disk '{}' ({})", d.alias, d.id), d.id).reference(
                "disks_storage_domain_id_fkey",
                "storage domain",
                "storage_domains",
                d.storage_domain_id,
            );
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn disk_insert(c: &mut AnyConnection, d: &Disk) -> Result<()> {
    disk_write(
        c,
        "INSERT INTO disks (id, alias, description, storage_domain_id, format, sparse, provisioned_size, actual_size, \
         status, volume_id, shareable, wipe_after_delete, created, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        d,
        "adding a disk",
        None,
    )
    .await
    .map(drop)
}

pub(crate) async fn disk_get(c: &mut AnyConnection, id: DiskId) -> Result<Disk> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DISK_COLUMNS} FROM disks WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a disk"))?;
    disk_from_row(&row.ok_or_else(|| StoreError::not_found("disk", id))?)
}

pub(crate) async fn disk_list(c: &mut AnyConnection, f: &DiskFilter) -> Result<Vec<Disk>> {
    let mut q = Sql::new(&format!("SELECT {DISK_COLUMNS} FROM disks WHERE 1 = 1"));
    q.name_like("alias", &f.name)
        .eq_opt("status", f.status.map(|s| s.as_str().to_owned()))
        .eq_opt("storage_domain_id", f.storage_domain_id.map(|id| id.to_string()));
    if let Some(vm) = f.vm_id {
        q.push(" AND id IN (SELECT disk_id FROM disk_attachments WHERE vm_id = ").bind(vm.to_string()).push(")");
    }
    let column = match f.page.sort_by {
        SortBy::Name => "alias",
        SortBy::Status => "status",
        SortBy::Created => "created",
    };
    q.order_and_page(column, &f.page, &["alias", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing disks"))?;
    rows.iter().map(disk_from_row).collect()
}

pub(crate) async fn disk_update(c: &mut AnyConnection, d: &Disk) -> Result<()> {
    let n = disk_write(
        c,
        "UPDATE disks SET alias = $2, description = $3, storage_domain_id = $4, format = $5, sparse = $6, \
         provisioned_size = $7, actual_size = $8, status = $9, volume_id = $10, shareable = $11, \
         wipe_after_delete = $12, created = $13, comment = $14 WHERE id = $1",
        d,
        "updating a disk",
        None,
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("disk", d.id));
    }
    Ok(())
}

/// Writes a disk only while its status is `from` (compare-and-set); whether it was written.
pub(crate) async fn disk_update_from(c: &mut AnyConnection, d: &Disk, from: DiskStatus) -> Result<bool> {
    let n = disk_write(
        c,
        "UPDATE disks SET alias = $2, description = $3, storage_domain_id = $4, format = $5, sparse = $6, \
         provisioned_size = $7, actual_size = $8, status = $9, volume_id = $10, shareable = $11, \
         wipe_after_delete = $12, created = $13, comment = $14 WHERE id = $1 AND status = $15",
        d,
        "updating a disk",
        Some(from),
    )
    .await?;
    if n > 0 { Ok(true) } else { cas_missed(c, "disks", "disk", d.id).await }
}

pub(crate) async fn disk_status_set(c: &mut AnyConnection, id: DiskId, status: DiskStatus) -> Result<()> {
    let r = sqlx::query("UPDATE disks SET status = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(status.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("setting a disk's status"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("disk", id));
    }
    Ok(())
}

/// Moves a disk to `to` only when its status is one of `from` (compare-and-set); returns
/// whether it moved. A missing disk is `NotFound`.
pub(crate) async fn disk_status_move(
    c: &mut AnyConnection,
    id: DiskId,
    from: &[DiskStatus],
    to: DiskStatus,
) -> Result<bool> {
    if from.is_empty() {
        return Ok(false);
    }
    let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
    let mut q = Sql::new("UPDATE disks SET status = ");
    q.bind(to.as_str()).push(" WHERE id = ").bind(id.to_string()).and_in("status", &from);
    let r = q.build()?.execute(&mut *c).await.map_err(StoreError::db("moving a disk's status"))?;
    if r.rows_affected() > 0 { Ok(true) } else { cas_missed(c, "disks", "disk", id).await }
}

/// Removes a disk with its volumes and its attachments. Refused while its volumes back other
/// disks' volumes (a template's disk with thin clones).
pub(crate) async fn disk_delete(c: &mut AnyConnection, id: DiskId) -> Result<()> {
    let res = sqlx::query("DELETE FROM disks WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("disk", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a disk", "disks", "disk", format!("disk {id}"), id).dependent(
                "volumes_parent_id_fkey",
                "volumes of other disks based on it",
                "SELECT COUNT(*) FROM volumes v JOIN volumes p ON v.parent_id = p.id \
                 WHERE p.disk_id = $1 AND v.disk_id <> $1",
            );
            Err(ctx.explain(c, e).await)
        }
    }
}
