//! Storage domains and their attachment to data centers.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{SortBy, StorageDomainFilter};
use super::sql::{RowExt as _, Sql, db_size};
use crate::model::{StorageConnection, StorageDomain, StorageDomainAttachment, StorageType, Timestamp};
use oxvirt_types::{ByteSize, DataCenterId, StorageDomainId, StorageDomainStatus};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------
// Storage domains
// ---------------------------------------------------------------------------------------
/// `committed` (what the domain promised its disks) is summed from the disks at every read, not
/// kept in a column: a cached figure lagged behind a removed disk until the next refresh.
const SD_COLUMNS: &str = "id, name, description, domain_type, storage_type, path, spec, vfs_type, mount_options, \
                          status, available, used, \
                          (SELECT CAST(COALESCE(SUM(d.provisioned_size), 0) AS BIGINT) FROM disks d \
                           WHERE d.storage_domain_id = storage_domains.id) AS committed, \
                          master, warning_low_space_percent, \
                          critical_space_action_blocker_gib, created, host_id, comment";

fn sd_from_row(r: &AnyRow) -> Result<StorageDomain> {
    let storage_type: StorageType = r.parse("storage_type")?;
    let missing = |col: &str| StoreError::Corrupt {
        column: col.to_owned(),
        detail: format!("a {storage_type} storage domain needs a {col}"),
    };
    let connection = match storage_type {
        StorageType::Localfs => {
            StorageConnection::Localfs { path: r.text_opt("path")?.ok_or_else(|| missing("path"))? }
        }
        StorageType::Posixfs => StorageConnection::Posixfs {
            spec: r.text_opt("spec")?.ok_or_else(|| missing("spec"))?,
            vfs_type: r.text_opt("vfs_type")?.ok_or_else(|| missing("vfs_type"))?,
            mount_options: r.text_opt("mount_options")?,
        },
        StorageType::Nfs => StorageConnection::Nfs {
            spec: r.text_opt("spec")?.ok_or_else(|| missing("spec"))?,
            mount_options: r.text_opt("mount_options")?,
        },
    };
    Ok(StorageDomain {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        domain_type: r.parse("domain_type")?,
        connection,
        status: r.status("status")?,
        available: r.size("available")?,
        used: r.size("used")?,
        committed: r.size("committed")?,
        master: r.flag("master")?,
        warning_low_space_percent: r.int_as("warning_low_space_percent")?,
        critical_space_action_blocker_gib: r.int_as("critical_space_action_blocker_gib")?,
        host_id: r.parse_opt("host_id")?,
        created: Timestamp(r.int("created")?),
    })
}

async fn sd_write(c: &mut AnyConnection, sql: &'static str, sd: &StorageDomain, doing: &str) -> Result<u64> {
    let (path, spec, vfs_type, mount_options) = match &sd.connection {
        StorageConnection::Localfs { path } => (Some(path.clone()), None, None, None),
        StorageConnection::Posixfs { spec, vfs_type, mount_options } => {
            (None, Some(spec.clone()), Some(vfs_type.clone()), mount_options.clone())
        }
        StorageConnection::Nfs { spec, mount_options } => (None, Some(spec.clone()), None, mount_options.clone()),
    };
    let res = sqlx::query(sql)
        .bind(sd.id.to_string())
        .bind(sd.name.clone())
        .bind(sd.description.clone())
        .bind(sd.domain_type.as_str())
        .bind(sd.connection.storage_type().as_str())
        .bind(path)
        .bind(spec)
        .bind(vfs_type)
        .bind(mount_options)
        .bind(sd.status.as_str())
        .bind(db_size("available space", sd.available)?)
        .bind(db_size("used space", sd.used)?)
        .bind(db_size("committed space", sd.committed)?)
        .bind(sd.master)
        .bind(i64::from(sd.warning_low_space_percent))
        .bind(i64::from(sd.critical_space_action_blocker_gib))
        .bind(sd.created.0)
        .bind(sd.host_id.map(|h| h.to_string()))
        .bind(sd.comment.clone())
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(
                doing,
                "storage_domains",
                "storage domain",
                format!("storage domain '{}'", sd.name),
                sd.id,
            )
            .unique(
                "storage_domains_name_key",
                format!("a storage domain named '{}' already exists; choose another name", sd.name),
            );
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn storage_domain_insert(c: &mut AnyConnection, sd: &StorageDomain) -> Result<()> {
    sd_write(
        c,
        "INSERT INTO storage_domains (id, name, description, domain_type, storage_type, path, spec, vfs_type, \
         mount_options, status, available, used, committed, master, warning_low_space_percent, \
         critical_space_action_blocker_gib, created, host_id, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        sd,
        "adding a storage domain",
    )
    .await
    .map(drop)
}

pub(crate) async fn storage_domain_get(c: &mut AnyConnection, id: StorageDomainId) -> Result<StorageDomain> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SD_COLUMNS} FROM storage_domains WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a storage domain"))?;
    sd_from_row(&row.ok_or_else(|| StoreError::not_found("storage domain", id))?)
}

pub(crate) async fn storage_domain_get_by_name(c: &mut AnyConnection, name: &str) -> Result<StorageDomain> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SD_COLUMNS} FROM storage_domains WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a storage domain"))?;
    sd_from_row(&row.ok_or_else(|| StoreError::not_found("storage domain", format!("'{name}'")))?)
}

pub(crate) async fn storage_domain_list(c: &mut AnyConnection, f: &StorageDomainFilter) -> Result<Vec<StorageDomain>> {
    let mut q = Sql::new(&format!("SELECT {SD_COLUMNS} FROM storage_domains WHERE 1 = 1"));
    q.name_like("name", &f.name)
        .eq_opt("status", f.status.map(|s| s.as_str().to_owned()))
        .eq_opt("domain_type", f.domain_type.map(|t| t.as_str().to_owned()));
    if let Some(dc) = f.data_center_id {
        q.push(" AND id IN (SELECT storage_domain_id FROM storage_domain_attachments WHERE data_center_id = ")
            .bind(dc.to_string())
            .push(")");
    }
    let column = match f.page.sort_by {
        SortBy::Name => "name",
        SortBy::Status => "status",
        SortBy::Created => "created",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing storage domains"))?;
    rows.iter().map(sd_from_row).collect()
}

pub(crate) async fn storage_domain_update(c: &mut AnyConnection, sd: &StorageDomain) -> Result<()> {
    let n = sd_write(
        c,
        "UPDATE storage_domains SET name = $2, description = $3, domain_type = $4, storage_type = $5, path = $6, \
         spec = $7, vfs_type = $8, mount_options = $9, status = $10, available = $11, used = $12, committed = $13, \
         master = $14, warning_low_space_percent = $15, critical_space_action_blocker_gib = $16, created = $17, \
         host_id = $18, comment = $19 WHERE id = $1",
        sd,
        "updating a storage domain",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("storage domain", sd.id));
    }
    Ok(())
}

pub(crate) async fn storage_domain_status_set(
    c: &mut AnyConnection,
    id: StorageDomainId,
    status: StorageDomainStatus,
) -> Result<()> {
    let r = sqlx::query("UPDATE storage_domains SET status = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(status.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("setting a storage domain's status"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("storage domain", id));
    }
    Ok(())
}

/// Records space figures reported by a host.
pub(crate) async fn storage_domain_space_set(
    c: &mut AnyConnection,
    id: StorageDomainId,
    available: ByteSize,
    used: ByteSize,
) -> Result<()> {
    let r = sqlx::query("UPDATE storage_domains SET available = $2, used = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(db_size("available space", available)?)
        .bind(db_size("used space", used)?)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("recording a storage domain's space"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("storage domain", id));
    }
    Ok(())
}

/// Removes a storage domain. Refused while it holds disks or is attached to a data center.
pub(crate) async fn storage_domain_delete(c: &mut AnyConnection, id: StorageDomainId) -> Result<()> {
    let res = sqlx::query("DELETE FROM storage_domains WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("storage domain", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new(
                "removing a storage domain",
                "storage_domains",
                "storage domain",
                format!("storage domain {id}"),
                id,
            )
            .dependent(
                "disks_storage_domain_id_fkey",
                "disks",
                "SELECT COUNT(*) FROM disks WHERE storage_domain_id = $1",
            )
            .dependent(
                "storage_domain_attachments_storage_domain_id_fkey",
                "data centers it is attached to (detach it first)",
                "SELECT COUNT(*) FROM storage_domain_attachments WHERE storage_domain_id = $1",
            );
            Err(ctx.explain(c, e).await)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Storage domain attachments
// ---------------------------------------------------------------------------------------
fn attachment_from_row(r: &AnyRow) -> Result<StorageDomainAttachment> {
    Ok(StorageDomainAttachment {
        data_center_id: r.parse("data_center_id")?,
        storage_domain_id: r.parse("storage_domain_id")?,
        status: r.status("status")?,
    })
}

pub(crate) async fn storage_domain_attachment_insert(c: &mut AnyConnection, a: &StorageDomainAttachment) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO storage_domain_attachments (data_center_id, storage_domain_id, status) VALUES ($1, $2, $3)",
    )
    .bind(a.data_center_id.to_string())
    .bind(a.storage_domain_id.to_string())
    .bind(a.status.as_str())
    .execute(&mut *c)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new(
                "attaching a storage domain",
                "storage_domain_attachments",
                "storage domain attachment",
                format!("the attachment of storage domain {} to data center {}", a.storage_domain_id, a.data_center_id),
                a.storage_domain_id,
            )
            .unique(
                "storage_domain_attachments_data_center_id_storage_domain_id_key",
                format!(
                    "storage domain {} is already attached to data center {}",
                    a.storage_domain_id, a.data_center_id
                ),
            )
            .reference(
                "storage_domain_attachments_data_center_id_fkey",
                "data center",
                "data_centers",
                a.data_center_id,
            )
            .reference(
                "storage_domain_attachments_storage_domain_id_fkey",
                "storage domain",
                "storage_domains",
                a.storage_domain_id,
            );
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn storage_domain_attachment_get(
    c: &mut AnyConnection,
    data_center_id: DataCenterId,
    storage_domain_id: StorageDomainId,
) -> Result<StorageDomainAttachment> {
    let row = sqlx::query(
        "SELECT data_center_id, storage_domain_id, status FROM storage_domain_attachments \
         WHERE data_center_id = $1 AND storage_domain_id = $2",
    )
    .bind(data_center_id.to_string())
    .bind(storage_domain_id.to_string())
    .fetch_optional(&mut *c)
    .await
    .map_err(StoreError::db("reading a storage domain attachment"))?;
    let row = row.ok_or_else(|| {
        StoreError::not_found("storage domain", format!("{storage_domain_id} in data center {data_center_id}"))
    })?;
    attachment_from_row(&row)
}

/// Attachments of a data center, or of a storage domain, or all (by data center, then domain).
pub(crate) async fn storage_domain_attachment_list(
    c: &mut AnyConnection,
    data_center_id: Option<DataCenterId>,
    storage_domain_id: Option<StorageDomainId>,
) -> Result<Vec<StorageDomainAttachment>> {
    let mut q =
        Sql::new("SELECT data_center_id, storage_domain_id, status FROM storage_domain_attachments WHERE 1 = 1");
    q.eq_opt("data_center_id", data_center_id.map(|id| id.to_string()))
        .eq_opt("storage_domain_id", storage_domain_id.map(|id| id.to_string()))
        .push(" ORDER BY data_center_id, storage_domain_id");
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing storage domain attachments"))?;
    rows.iter().map(attachment_from_row).collect()
}

pub(crate) async fn storage_domain_attachment_update(c: &mut AnyConnection, a: &StorageDomainAttachment) -> Result<()> {
    let r = sqlx::query(
        "UPDATE storage_domain_attachments SET status = $3 WHERE data_center_id = $1 AND storage_domain_id = $2",
    )
    .bind(a.data_center_id.to_string())
    .bind(a.storage_domain_id.to_string())
    .bind(a.status.as_str())
    .execute(&mut *c)
    .await
    .map_err(StoreError::db("updating a storage domain attachment"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found(
            "storage domain",
            format!("{} in data center {}", a.storage_domain_id, a.data_center_id),
        ));
    }
    Ok(())
}

pub(crate) async fn storage_domain_attachment_delete(
    c: &mut AnyConnection,
    data_center_id: DataCenterId,
    storage_domain_id: StorageDomainId,
) -> Result<()> {
    let r = sqlx::query("DELETE FROM storage_domain_attachments WHERE data_center_id = $1 AND storage_domain_id = $2")
        .bind(data_center_id.to_string())
        .bind(storage_domain_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("detaching a storage domain"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found(
            "storage domain",
            format!("{storage_domain_id} in data center {data_center_id}"),
        ));
    }
    Ok(())
}
