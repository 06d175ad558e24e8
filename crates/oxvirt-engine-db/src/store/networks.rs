//! Logical networks.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::NetworkFilter;
use super::sql::{RowExt as _, Sql};
use crate::model::Network;
use oxvirt_types::{DataCenterId, NetworkId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const NETWORK_COLUMNS: &str = "id, name, data_center_id, description, vm, vlan_id, mtu, comment";

fn network_from_row(r: &AnyRow) -> Result<Network> {
    Ok(Network {
        id: r.parse("id")?,
        name: r.text("name")?,
        data_center_id: r.parse("data_center_id")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        vm: r.flag("vm")?,
        vlan_id: r.int_as_opt("vlan_id")?,
        mtu: r.int_as("mtu")?,
    })
}

async fn network_write(c: &mut AnyConnection, sql: &'static str, n: &Network, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(n.id.to_string())
        .bind(n.name.clone())
        .bind(n.data_center_id.to_string())
        .bind(n.description.clone())
        .bind(n.vm)
        .bind(n.vlan_id.map(i64::from))
        .bind(i64::from(n.mtu))
        .bind(n.comment.clone())
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "networks", "network", format!("network '{}'", n.name), n.id)
                .unique(
                    "networks_data_center_id_name_key",
                    format!(
                        "a network named '{}' already exists in data center {}; choose another name",
                        n.name, n.data_center_id
                    ),
                )
                .reference("networks_data_center_id_fkey", "data center", "data_centers", n.data_center_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn network_insert(c: &mut AnyConnection, n: &Network) -> Result<()> {
    network_write(
        c,
        "INSERT INTO networks (id, name, data_center_id, description, vm, vlan_id, mtu, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        n,
        "adding a network",
    )
    .await
    .map(drop)
}

pub(crate) async fn network_get(c: &mut AnyConnection, id: NetworkId) -> Result<Network> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a network"))?;
    network_from_row(&row.ok_or_else(|| StoreError::not_found("network", id))?)
}

pub(crate) async fn network_get_by_name(
    c: &mut AnyConnection,
    data_center_id: DataCenterId,
    name: &str,
) -> Result<Network> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NETWORK_COLUMNS} FROM networks WHERE data_center_id = $1 AND name = $2"
    )))
    .bind(data_center_id.to_string())
    .bind(name.to_owned())
    .fetch_optional(&mut *c)
    .await
    .map_err(StoreError::db("reading a network"))?;
    network_from_row(
        &row.ok_or_else(|| StoreError::not_found("network", format!("'{name}' in data center {data_center_id}")))?,
    )
}

pub(crate) async fn network_list(c: &mut AnyConnection, f: &NetworkFilter) -> Result<Vec<Network>> {
    let mut q = Sql::new(&format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("data_center_id", f.data_center_id.map(|id| id.to_string()));
    q.order_and_page("name", &f.page, &["data_center_id", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing networks"))?;
    rows.iter().map(network_from_row).collect()
}

pub(crate) async fn network_update(c: &mut AnyConnection, n: &Network) -> Result<()> {
    let affected = network_write(
        c,
        "UPDATE networks SET name = $2, data_center_id = $3, description = $4, vm = $5, vlan_id = $6, mtu = $7, \
         comment = $8 WHERE id = $1",
        n,
        "updating a network",
    )
    .await?;
    if affected == 0 {
        return Err(StoreError::not_found("network", n.id));
    }
    Ok(())
}

/// Removes a network with its vNIC profiles and cluster attachments. Refused while VM NICs
/// use one of its profiles.
pub(crate) async fn network_delete(c: &mut AnyConnection, id: NetworkId) -> Result<()> {
    let res = sqlx::query("DELETE FROM networks WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("network", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a network", "networks", "network", format!("network {id}"), id)
                .dependent(
                    "nics_vnic_profile_id_fkey",
                    "VM NICs (through its vNIC profiles)",
                    "SELECT COUNT(*) FROM nics \
                 WHERE vnic_profile_id IN (SELECT id FROM vnic_profiles WHERE network_id = $1)",
                );
            Err(ctx.explain(c, e).await)
        }
    }
}
