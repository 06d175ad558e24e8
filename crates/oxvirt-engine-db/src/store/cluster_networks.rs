//! Networks attached to clusters.

use super::error::{Result, StoreError, WriteCtx};
use super::sql::RowExt as _;
use crate::model::ClusterNetwork;
use oxvirt_types::{ClusterId, NetworkId};
use sqlx::AnyConnection;

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
