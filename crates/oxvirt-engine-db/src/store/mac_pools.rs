//! MAC pools (oVirt's `/macpools`): the ranges a cluster's VM NICs take their addresses from.
//!
//! SQLite cannot add `clusters.mac_pool_id` with both a foreign key and a non-NULL default, so
//! the reference is kept by the statements themselves, on both backends: removing a pool is one
//! `DELETE … WHERE NOT EXISTS` (a cluster naming it), and writing a cluster is one statement
//! that writes only if its pool exists (`clusters.rs`). PostgreSQL's foreign key is a second
//! guard. The built-in `Default` pool is never removed.

use super::error::{Result, StoreError, WriteCtx};
use super::sql::{RowExt as _, Sql, db_json};
use crate::model::{DEFAULT_MAC_POOL_ID, MacPool};
use oxvirt_types::MacPoolId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const MAC_POOL_COLUMNS: &str = "id, name, description, ranges";

fn mac_pool_from_row(r: &AnyRow) -> Result<MacPool> {
    Ok(MacPool {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        ranges: r.json("ranges")?,
    })
}

async fn mac_pool_write(c: &mut AnyConnection, sql: &'static str, p: &MacPool, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(p.id.to_string())
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(db_json("a MAC pool's ranges", &p.ranges)?)
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "mac_pools", "MAC pool", format!("MAC pool '{}'", p.name), p.id).unique(
                "mac_pools_name_key",
                format!("a MAC pool named '{}' already exists; choose another name", p.name),
            );
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn mac_pool_insert(c: &mut AnyConnection, p: &MacPool) -> Result<()> {
    let sql = "INSERT INTO mac_pools (id, name, description, ranges) VALUES ($1, $2, $3, $4)";
    mac_pool_write(c, sql, p, "adding a MAC pool").await.map(drop)
}

pub(crate) async fn mac_pool_get(c: &mut AnyConnection, id: MacPoolId) -> Result<MacPool> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {MAC_POOL_COLUMNS} FROM mac_pools WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a MAC pool"))?;
    mac_pool_from_row(&row.ok_or_else(|| StoreError::not_found("MAC pool", id))?)
}

pub(crate) async fn mac_pool_get_by_name(c: &mut AnyConnection, name: &str) -> Result<MacPool> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {MAC_POOL_COLUMNS} FROM mac_pools WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a MAC pool"))?;
    mac_pool_from_row(&row.ok_or_else(|| StoreError::not_found("MAC pool", format!("'{name}'")))?)
}

/// Every pool, by name.
pub(crate) async fn mac_pool_list(c: &mut AnyConnection) -> Result<Vec<MacPool>> {
    let q = Sql::new(&format!("SELECT {MAC_POOL_COLUMNS} FROM mac_pools ORDER BY name, id"));
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing MAC pools"))?;
    rows.iter().map(mac_pool_from_row).collect()
}

/// Replaces a pool's name, description and ranges. Addresses already given to NICs stay theirs
/// even when a new range no longer covers them (as in oVirt).
pub(crate) async fn mac_pool_update(c: &mut AnyConnection, p: &MacPool) -> Result<()> {
    let sql = "UPDATE mac_pools SET name = $2, description = $3, ranges = $4 WHERE id = $1";
    if mac_pool_write(c, sql, p, "updating a MAC pool").await? == 0 {
        return Err(StoreError::not_found("MAC pool", p.id));
    }
    Ok(())
}

/// Removes a pool; refused for `Default` and while clusters use it (named in the error).
pub(crate) async fn mac_pool_delete(c: &mut AnyConnection, id: MacPoolId) -> Result<()> {
    if id == DEFAULT_MAC_POOL_ID {
        return Err(StoreError::Refused(
            "the Default MAC pool cannot be removed: it is the pool of clusters that name none".to_owned(),
        ));
    }
    let res = sqlx::query(
        "DELETE FROM mac_pools WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM clusters WHERE mac_pool_id = $1)",
    )
    .bind(id.to_string())
    .execute(&mut *c)
    .await;
    match res {
        Ok(r) if r.rows_affected() == 0 => {
            let users: Vec<String> =
                sqlx::query_scalar("SELECT name FROM clusters WHERE mac_pool_id = $1 ORDER BY name")
                    .bind(id.to_string())
                    .fetch_all(&mut *c)
                    .await
                    .map_err(StoreError::db("reading the clusters of a MAC pool"))?;
            if users.is_empty() {
                return Err(StoreError::not_found("MAC pool", id));
            }
            let names = users.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
            let s = if users.len() == 1 { "" } else { "s" };
            Err(StoreError::InUse { object: format!("MAC pool {id}"), by: format!("cluster{s} {names}") })
        }
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a MAC pool", "mac_pools", "MAC pool", format!("MAC pool {id}"), id)
                .dependent(
                    "clusters_mac_pool_id_fkey",
                    "clusters",
                    "SELECT COUNT(*) FROM clusters WHERE mac_pool_id = $1",
                );
            Err(ctx.explain(c, e).await)
        }
    }
}
