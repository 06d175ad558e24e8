//! Hosts (refused removal while VMs run on, migrate to or are placed on them).

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{HostFilter, SortBy};
use super::sql::{RowExt as _, Sql, db_json, db_size};
use crate::model::Host;
use oxvirt_types::{ByteSize, HostId, HostStatus};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const HOST_COLUMNS: &str = "id, name, address, port, cluster_id, status, status_detail, certificate_fingerprint, \
                            capabilities, memory_total, max_scheduling_memory, created, description, comment";

fn host_from_row(r: &AnyRow) -> Result<Host> {
    Ok(Host {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        address: r.text("address")?,
        port: r.int_as("port")?,
        cluster_id: r.parse("cluster_id")?,
        status: r.status("status")?,
        status_detail: r.text_opt("status_detail")?,
        certificate_fingerprint: r.text_opt("certificate_fingerprint")?,
        capabilities: r.json_opt("capabilities")?,
        memory_total: r.size("memory_total")?,
        max_scheduling_memory: r.size("max_scheduling_memory")?,
        created: crate::model::Timestamp(r.int("created")?),
    })
}

fn host_ctx(doing: &str, h: &Host) -> WriteCtx {
    WriteCtx::new(doing, "hosts", "host", format!("host '{}'", h.name), h.id)
        .unique("hosts_name_key", format!("a host named '{}' already exists; choose another name", h.name))
        .unique("hosts_address_key", format!("a host with address '{}' already exists", h.address))
        .reference("hosts_cluster_id_fkey", "cluster", "clusters", h.cluster_id)
}

async fn host_write(c: &mut AnyConnection, sql: &'static str, h: &Host, doing: &str) -> Result<u64> {
    let caps = h.capabilities.as_ref().map(|v| db_json("host capabilities", v)).transpose()?;
    let res = sqlx::query(sql)
        .bind(h.id.to_string())
        .bind(h.name.clone())
        .bind(h.address.clone())
        .bind(i64::from(h.port))
        .bind(h.cluster_id.to_string())
        .bind(h.status.as_str())
        .bind(h.status_detail.clone())
        .bind(h.certificate_fingerprint.clone())
        .bind(caps)
        .bind(db_size("host memory", h.memory_total)?)
        .bind(db_size("host scheduling memory", h.max_scheduling_memory)?)
        .bind(h.created.0)
        .bind(h.description.clone())
        .bind(h.comment.clone())
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => Err(host_ctx(doing, h).explain(c, e).await),
    }
}

pub(crate) async fn host_insert(c: &mut AnyConnection, h: &Host) -> Result<()> {
    host_write(
        c,
        "INSERT INTO hosts (id, name, address, port, cluster_id, status, status_detail, certificate_fingerprint, \
         capabilities, memory_total, max_scheduling_memory, created, description, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        h,
        "adding a host",
    )
    .await
    .map(drop)
}

pub(crate) async fn host_get(c: &mut AnyConnection, id: HostId) -> Result<Host> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a host"))?;
    host_from_row(&row.ok_or_else(|| StoreError::not_found("host", id))?)
}

pub(crate) async fn host_get_by_name(c: &mut AnyConnection, name: &str) -> Result<Host> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a host"))?;
    host_from_row(&row.ok_or_else(|| StoreError::not_found("host", format!("'{name}'")))?)
}

pub(crate) async fn host_list(c: &mut AnyConnection, f: &HostFilter) -> Result<Vec<Host>> {
    let mut q = Sql::new(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE 1 = 1"));
    q.name_like("name", &f.name)
        .eq_opt("status", f.status.map(|s| s.as_str().to_owned()))
        .eq_opt("cluster_id", f.cluster_id.map(|id| id.to_string()));
    if let Some(tag) = f.tag_id {
        q.push(" AND id IN (SELECT host_id FROM host_tags WHERE tag_id = ").bind(tag.to_string()).push(")");
    }
    let column = match f.page.sort_by {
        SortBy::Name => "name",
        SortBy::Status => "status",
        SortBy::Created => "created",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing hosts"))?;
    rows.iter().map(host_from_row).collect()
}

pub(crate) async fn host_update(c: &mut AnyConnection, h: &Host) -> Result<()> {
    let n = host_write(
        c,
        "UPDATE hosts SET name = $2, address = $3, port = $4, cluster_id = $5, status = $6, status_detail = $7, \
         certificate_fingerprint = $8, capabilities = $9, memory_total = $10, max_scheduling_memory = $11, \
         created = $12, description = $13, comment = $14 WHERE id = $1",
        h,
        "updating a host",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("host", h.id));
    }
    Ok(())
}

pub(crate) async fn host_config_update_from(c: &mut AnyConnection, h: &Host, from: HostStatus) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE hosts SET name = $2, description = $3, comment = $4, cluster_id = $5 WHERE id = $1 AND status = $6",
    )
    .bind(h.id.to_string())
    .bind(h.name.clone())
    .bind(h.description.clone())
    .bind(h.comment.clone())
    .bind(h.cluster_id.to_string())
    .bind(from.as_str())
    .execute(&mut *c)
    .await;
    match res {
        Ok(r) if r.rows_affected() > 0 => Ok(true),
        Ok(_) => super::sql::cas_missed(c, "hosts", "host", h.id).await,
        Err(e) => Err(host_ctx("updating a host", h).explain(c, e).await),
    }
}

/// Sets a host's status and its explanation (monitoring writes this often; no read first).
/// Moves a host to `to` only from one of `from` (compare-and-set); returns whether it moved.
pub(crate) async fn host_status_move(
    c: &mut AnyConnection,
    id: HostId,
    from: &[HostStatus],
    to: HostStatus,
    detail: Option<&str>,
) -> Result<bool> {
    if from.is_empty() {
        return Ok(false);
    }
    let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
    let mut q = super::sql::Sql::new("UPDATE hosts SET status = ");
    q.bind(to.as_str()).push(", status_detail = ").bind(detail.map(str::to_owned));
    q.push(" WHERE id = ").bind(id.to_string()).and_in("status", &from);
    let r = q.build()?.execute(&mut *c).await.map_err(StoreError::db("moving a host's status"))?;
    if r.rows_affected() > 0 { Ok(true) } else { super::sql::cas_missed(c, "hosts", "host", id).await }
}

pub(crate) async fn host_status_set(
    c: &mut AnyConnection,
    id: HostId,
    status: HostStatus,
    detail: Option<&str>,
) -> Result<()> {
    let r = sqlx::query("UPDATE hosts SET status = $2, status_detail = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(detail.map(str::to_owned))
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("setting a host's status"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("host", id));
    }
    Ok(())
}

/// Records a host's capabilities (as reported by its agent) and its physical memory.
pub(crate) async fn host_capabilities_set(
    c: &mut AnyConnection,
    id: HostId,
    capabilities: &serde_json::Value,
    memory_total: ByteSize,
) -> Result<()> {
    let r = sqlx::query("UPDATE hosts SET capabilities = $2, memory_total = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(db_json("host capabilities", capabilities)?)
        .bind(db_size("host memory", memory_total)?)
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("recording a host's capabilities"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("host", id));
    }
    Ok(())
}

/// Removes a host. Refused while VMs run on it, migrate to it or are placed on it.
pub(crate) async fn host_delete(c: &mut AnyConnection, id: HostId) -> Result<()> {
    let res = sqlx::query("DELETE FROM hosts WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("host", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a host", "hosts", "host", format!("host {id}"), id)
                .dependent("vms_host_id_fkey", "VMs running on it", "SELECT COUNT(*) FROM vms WHERE host_id = $1")
                .dependent(
                    "vms_migrating_to_host_id_fkey",
                    "VMs migrating to it",
                    "SELECT COUNT(*) FROM vms WHERE migrating_to_host_id = $1",
                )
                .dependent(
                    "vms_placement_host_id_fkey",
                    "VMs placed on it",
                    "SELECT COUNT(*) FROM vms WHERE placement_host_id = $1",
                );
            Err(ctx.explain(c, e).await)
        }
    }
}
