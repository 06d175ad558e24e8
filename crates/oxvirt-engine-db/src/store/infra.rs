//! Data centers, clusters (and their networks), hosts.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{ClusterFilter, DataCenterFilter, HostFilter, SortBy};
use super::sql::{RowExt as _, Sql, db_json, db_size};
use crate::model::{Cluster, ClusterNetwork, DataCenter, Host, Version};
use oxvirt_types::{ByteSize, ClusterId, DataCenterId, HostId, HostStatus, NetworkId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------
// Data centers
// ---------------------------------------------------------------------------------------

const DC_COLUMNS: &str = "id, name, description, local, status, version_major, version_minor";

fn dc_from_row(r: &AnyRow) -> Result<DataCenter> {
    Ok(DataCenter {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        local: r.flag("local")?,
        status: r.status("status")?,
        version: Version { major: r.int_as("version_major")?, minor: r.int_as("version_minor")? },
    })
}

fn dc_ctx(doing: &str, dc: &DataCenter) -> WriteCtx {
    WriteCtx::new(doing, "data_centers", "data center", format!("data center '{}'", dc.name), dc.id).unique(
        "data_centers_name_key",
        format!("a data center named '{}' already exists; choose another name", dc.name),
    )
}

pub(crate) async fn data_center_insert(c: &mut AnyConnection, dc: &DataCenter) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO data_centers (id, name, description, local, status, version_major, version_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    );
    let res = bind_dc(q, dc).execute(&mut *c).await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => Err(dc_ctx("adding a data center", dc).explain(c, e).await),
    }
}

fn bind_dc<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    dc: &DataCenter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(dc.id.to_string())
        .bind(dc.name.clone())
        .bind(dc.description.clone())
        .bind(dc.local)
        .bind(dc.status.as_str())
        .bind(i64::from(dc.version.major))
        .bind(i64::from(dc.version.minor))
}

pub(crate) async fn data_center_get(c: &mut AnyConnection, id: DataCenterId) -> Result<DataCenter> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DC_COLUMNS} FROM data_centers WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a data center"))?;
    dc_from_row(&row.ok_or_else(|| StoreError::not_found("data center", id))?)
}

pub(crate) async fn data_center_get_by_name(c: &mut AnyConnection, name: &str) -> Result<DataCenter> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DC_COLUMNS} FROM data_centers WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a data center"))?;
    dc_from_row(&row.ok_or_else(|| StoreError::not_found("data center", format!("'{name}'")))?)
}

pub(crate) async fn data_center_list(c: &mut AnyConnection, f: &DataCenterFilter) -> Result<Vec<DataCenter>> {
    let mut q = Sql::new(&format!("SELECT {DC_COLUMNS} FROM data_centers WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("status", f.status.map(|s| s.as_str().to_owned()));
    let column = match f.page.sort_by {
        SortBy::Status => "status",
        SortBy::Name | SortBy::Created => "name",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing data centers"))?;
    rows.iter().map(dc_from_row).collect()
}

pub(crate) async fn data_center_update(c: &mut AnyConnection, dc: &DataCenter) -> Result<()> {
    let q = sqlx::query(
        "UPDATE data_centers SET name = $2, description = $3, local = $4, status = $5, version_major = $6, \
         version_minor = $7 WHERE id = $1",
    );
    match bind_dc(q, dc).execute(&mut *c).await {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("data center", dc.id)),
        Ok(_) => Ok(()),
        Err(e) => Err(dc_ctx("updating a data center", dc).explain(c, e).await),
    }
}

/// Removes a data center with its networks. Refused while clusters or storage domains are in it.
pub(crate) async fn data_center_delete(c: &mut AnyConnection, id: DataCenterId) -> Result<()> {
    let res = sqlx::query("DELETE FROM data_centers WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("data center", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx =
                WriteCtx::new("removing a data center", "data_centers", "data center", format!("data center {id}"), id)
                    .dependent(
                        "clusters_data_center_id_fkey",
                        "clusters",
                        "SELECT COUNT(*) FROM clusters WHERE data_center_id = $1",
                    )
                    .dependent(
                        "storage_domain_attachments_data_center_id_fkey",
                        "attached storage domains",
                        "SELECT COUNT(*) FROM storage_domain_attachments WHERE data_center_id = $1",
                    );
            Err(ctx.explain(c, e).await)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------------------

const CLUSTER_COLUMNS: &str = "id, name, description, data_center_id, cpu_architecture, cpu_type, version_major, \
                               version_minor, memory_overcommit_percent";

fn cluster_from_row(r: &AnyRow) -> Result<Cluster> {
    Ok(Cluster {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        data_center_id: r.parse("data_center_id")?,
        cpu_architecture: r.parse("cpu_architecture")?,
        cpu_type: r.text_opt("cpu_type")?,
        version: Version { major: r.int_as("version_major")?, minor: r.int_as("version_minor")? },
        memory_overcommit_percent: r.int_as("memory_overcommit_percent")?,
    })
}

fn cluster_ctx(doing: &str, cl: &Cluster) -> WriteCtx {
    WriteCtx::new(doing, "clusters", "cluster", format!("cluster '{}'", cl.name), cl.id)
        .unique("clusters_name_key", format!("a cluster named '{}' already exists; choose another name", cl.name))
        .reference("clusters_data_center_id_fkey", "data center", "data_centers", cl.data_center_id)
}

fn bind_cluster<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    cl: &Cluster,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(cl.id.to_string())
        .bind(cl.name.clone())
        .bind(cl.description.clone())
        .bind(cl.data_center_id.to_string())
        .bind(cl.cpu_architecture.as_str())
        .bind(cl.cpu_type.clone())
        .bind(i64::from(cl.version.major))
        .bind(i64::from(cl.version.minor))
        .bind(i64::from(cl.memory_overcommit_percent))
}

pub(crate) async fn cluster_insert(c: &mut AnyConnection, cl: &Cluster) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO clusters (id, name, description, data_center_id, cpu_architecture, cpu_type, version_major, \
         version_minor, memory_overcommit_percent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    );
    match bind_cluster(q, cl).execute(&mut *c).await {
        Ok(_) => Ok(()),
        Err(e) => Err(cluster_ctx("adding a cluster", cl).explain(c, e).await),
    }
}

pub(crate) async fn cluster_get(c: &mut AnyConnection, id: ClusterId) -> Result<Cluster> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a cluster"))?;
    cluster_from_row(&row.ok_or_else(|| StoreError::not_found("cluster", id))?)
}

pub(crate) async fn cluster_get_by_name(c: &mut AnyConnection, name: &str) -> Result<Cluster> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a cluster"))?;
    cluster_from_row(&row.ok_or_else(|| StoreError::not_found("cluster", format!("'{name}'")))?)
}

pub(crate) async fn cluster_list(c: &mut AnyConnection, f: &ClusterFilter) -> Result<Vec<Cluster>> {
    let mut q = Sql::new(&format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("data_center_id", f.data_center_id.map(|id| id.to_string()));
    q.order_and_page("name", &f.page, &["id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing clusters"))?;
    rows.iter().map(cluster_from_row).collect()
}

pub(crate) async fn cluster_update(c: &mut AnyConnection, cl: &Cluster) -> Result<()> {
    let q = sqlx::query(
        "UPDATE clusters SET name = $2, description = $3, data_center_id = $4, cpu_architecture = $5, cpu_type = $6, \
         version_major = $7, version_minor = $8, memory_overcommit_percent = $9 WHERE id = $1",
    );
    match bind_cluster(q, cl).execute(&mut *c).await {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("cluster", cl.id)),
        Ok(_) => Ok(()),
        Err(e) => Err(cluster_ctx("updating a cluster", cl).explain(c, e).await),
    }
}

/// Removes a cluster (and its network attachments). Refused while hosts, VMs or templates
/// are in it.
pub(crate) async fn cluster_delete(c: &mut AnyConnection, id: ClusterId) -> Result<()> {
    let res = sqlx::query("DELETE FROM clusters WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("cluster", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a cluster", "clusters", "cluster", format!("cluster {id}"), id)
                .dependent("hosts_cluster_id_fkey", "hosts", "SELECT COUNT(*) FROM hosts WHERE cluster_id = $1")
                .dependent("vms_cluster_id_fkey", "VMs", "SELECT COUNT(*) FROM vms WHERE cluster_id = $1")
                .dependent(
                    "templates_cluster_id_fkey",
                    "templates",
                    "SELECT COUNT(*) FROM templates WHERE cluster_id = $1",
                );
            Err(ctx.explain(c, e).await)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cluster networks
// ---------------------------------------------------------------------------------------

pub(crate) async fn cluster_network_insert(c: &mut AnyConnection, cn: &ClusterNetwork) -> Result<()> {
    let res = sqlx::query("INSERT INTO cluster_networks (cluster_id, network_id, required) VALUES ($1, $2, $3)")
        .bind(cn.cluster_id.to_string())
        .bind(cn.network_id.to_string())
        .bind(cn.required)
        .execute(&mut *c)
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new(
                "attaching a network to a cluster",
                "cluster_networks",
                "cluster network",
                format!("the attachment of network {} to cluster {}", cn.network_id, cn.cluster_id),
                cn.cluster_id,
            )
            .unique(
                "cluster_networks_cluster_id_network_id_key",
                format!("network {} is already attached to cluster {}", cn.network_id, cn.cluster_id),
            )
            .reference("cluster_networks_cluster_id_fkey", "cluster", "clusters", cn.cluster_id)
            .reference("cluster_networks_network_id_fkey", "network", "networks", cn.network_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn cluster_network_list(c: &mut AnyConnection, cluster_id: ClusterId) -> Result<Vec<ClusterNetwork>> {
    let rows = sqlx::query(
        "SELECT cn.cluster_id, cn.network_id, cn.required FROM cluster_networks cn \
         JOIN networks n ON n.id = cn.network_id WHERE cn.cluster_id = $1 ORDER BY n.name",
    )
    .bind(cluster_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("listing a cluster's networks"))?;
    rows.iter()
        .map(|r| {
            Ok(ClusterNetwork {
                cluster_id: r.parse("cluster_id")?,
                network_id: r.parse("network_id")?,
                required: r.flag("required")?,
            })
        })
        .collect()
}

pub(crate) async fn cluster_network_delete(
    c: &mut AnyConnection,
    cluster_id: ClusterId,
    network_id: NetworkId,
) -> Result<()> {
    let r = sqlx::query("DELETE FROM cluster_networks WHERE cluster_id = $1 AND network_id = $2")
        .bind(cluster_id.to_string())
        .bind(network_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("detaching a network from a cluster"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("cluster network", format!("{network_id} in cluster {cluster_id}")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

const HOST_COLUMNS: &str = "id, name, address, port, cluster_id, status, status_detail, certificate_fingerprint, \
                            capabilities, memory_total, max_scheduling_memory, created";

fn host_from_row(r: &AnyRow) -> Result<Host> {
    Ok(Host {
        id: r.parse("id")?,
        name: r.text("name")?,
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
         capabilities, memory_total, max_scheduling_memory, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
         created = $12 WHERE id = $1",
        h,
        "updating a host",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("host", h.id));
    }
    Ok(())
}

/// Sets a host's status and its explanation (monitoring writes this often; no read first).
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
