//! Clusters (refused removal while hosts, VMs or templates are in them).

use super::error::{Result, StoreError, WriteCtx};
use super::filter::ClusterFilter;
use super::sql::{RowExt as _, Sql};
use crate::model::{Cluster, Version};
use oxvirt_types::ClusterId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const CLUSTER_COLUMNS: &str = "id, name, description, data_center_id, cpu_architecture, cpu_type, version_major, \
                               version_minor, memory_overcommit_percent, comment, mac_pool_id";

fn cluster_from_row(r: &AnyRow) -> Result<Cluster> {
    Ok(Cluster {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        data_center_id: r.parse("data_center_id")?,
        cpu_architecture: r.parse("cpu_architecture")?,
        cpu_type: r.text_opt("cpu_type")?,
        version: Version { major: r.int_as("version_major")?, minor: r.int_as("version_minor")? },
        memory_overcommit_percent: r.int_as("memory_overcommit_percent")?,
        mac_pool_id: r.parse("mac_pool_id")?,
    })
}

fn cluster_ctx(doing: &str, cl: &Cluster) -> WriteCtx {
    WriteCtx::new(doing, "clusters", "cluster", format!("cluster '{}'", cl.name), cl.id)
        .unique("clusters_name_key", format!("a cluster named '{}' already exists; choose another name", cl.name))
        .reference("clusters_data_center_id_fkey", "data center", "data_centers", cl.data_center_id)
        .reference("clusters_mac_pool_id_fkey", "MAC pool", "mac_pools", cl.mac_pool_id)
}

/// The error of a cluster write that wrote nothing because its MAC pool does not exist.
fn mac_pool_missing(cl: &Cluster) -> StoreError {
    StoreError::MissingReference {
        object: format!("cluster '{}'", cl.name),
        what: "MAC pool",
        id: cl.mac_pool_id.to_string(),
    }
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
        .bind(cl.comment.clone())
        .bind(cl.mac_pool_id.to_string())
}

/// Adds a cluster; one statement that writes only if its MAC pool exists (see `mac_pools.rs`).
pub(crate) async fn cluster_insert(c: &mut AnyConnection, cl: &Cluster) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO clusters (id, name, description, data_center_id, cpu_architecture, cpu_type, version_major, \
         version_minor, memory_overcommit_percent, comment, mac_pool_id) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM mac_pools WHERE id = $11)",
    );
    match bind_cluster(q, cl).execute(&mut *c).await {
        Ok(r) if r.rows_affected() == 0 => Err(mac_pool_missing(cl)),
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
         version_major = $7, version_minor = $8, memory_overcommit_percent = $9, comment = $10, mac_pool_id = $11 \
         WHERE id = $1 AND EXISTS (SELECT 1 FROM mac_pools WHERE id = $11)",
    );
    match bind_cluster(q, cl).execute(&mut *c).await {
        Ok(r) if r.rows_affected() == 0 => match cluster_get(c, cl.id).await {
            Ok(_) => Err(mac_pool_missing(cl)),
            Err(e) => Err(e),
        },
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
