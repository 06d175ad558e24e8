//! A disk's volumes (its backing chain).

use super::error::{Result, StoreError, WriteCtx};
use super::sql::{RowExt as _, db_size};
use crate::model::{Timestamp, Volume, VolumeStatus};
use oxvirt_types::{ByteSize, DiskId, VolumeId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const VOLUME_COLUMNS: &str = "id, disk_id, parent_id, format, status, actual_size, created";

fn volume_from_row(r: &AnyRow) -> Result<Volume> {
    Ok(Volume {
        id: r.parse("id")?,
        disk_id: r.parse("disk_id")?,
        parent_id: r.parse_opt("parent_id")?,
        format: r.parse("format")?,
        status: r.parse("status")?,
        actual_size: r.size("actual_size")?,
        created: Timestamp(r.int("created")?),
    })
}

pub(crate) async fn volume_insert(c: &mut AnyConnection, v: &Volume) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO volumes (id, disk_id, parent_id, format, status, actual_size, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(v.id.to_string())
    .bind(v.disk_id.to_string())
    .bind(v.parent_id.map(|p| p.to_string()))
    .bind(v.format.as_str())
    .bind(v.status.as_str())
    .bind(db_size("actual size", v.actual_size)?)
    .bind(v.created.0)
    .execute(&mut *c)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("adding a volume", "volumes", "volume", format!("volume {}", v.id), v.id)
                .reference("volumes_disk_id_fkey", "disk", "disks", v.disk_id)
                .reference_opt("volumes_parent_id_fkey", "parent volume", "volumes", v.parent_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn volume_get(c: &mut AnyConnection, id: VolumeId) -> Result<Volume> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VOLUME_COLUMNS} FROM volumes WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a volume"))?;
    volume_from_row(&row.ok_or_else(|| StoreError::not_found("volume", id))?)
}

/// A disk's volumes, oldest first.
pub(crate) async fn volume_list_for_disk(c: &mut AnyConnection, disk_id: DiskId) -> Result<Vec<Volume>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes WHERE disk_id = $1 ORDER BY created, id"
    )))
    .bind(disk_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("listing a disk's volumes"))?;
    rows.iter().map(volume_from_row).collect()
}

pub(crate) async fn volume_update(
    c: &mut AnyConnection,
    id: VolumeId,
    status: VolumeStatus,
    actual_size: ByteSize,
) -> Result<()> {
    let r = sqlx::query("UPDATE volumes SET status = $2, actual_size = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(db_size("actual size", actual_size)?)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("updating a volume"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("volume", id));
    }
    Ok(())
}

/// Removes a volume. Refused while another volume is based on it.
pub(crate) async fn volume_delete(c: &mut AnyConnection, id: VolumeId) -> Result<()> {
    let res = sqlx::query("DELETE FROM volumes WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("volume", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a volume", "volumes", "volume", format!("volume {id}"), id).dependent(
                "volumes_parent_id_fkey",
                "volumes based on it",
                "SELECT COUNT(*) FROM volumes WHERE parent_id = $1",
            );
            Err(ctx.explain(c, e).await)
        }
    }
}
