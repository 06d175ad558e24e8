//! vNIC profiles.

use super::error::{Result, StoreError, WriteCtx};
use super::sql::{RowExt as _, Sql};
use crate::model::{VnicProfile, VnicProfileId};
use oxvirt_types::NetworkId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const PROFILE_COLUMNS: &str = "id, name, network_id, description, comment";

fn profile_from_row(r: &AnyRow) -> Result<VnicProfile> {
    Ok(VnicProfile {
        id: r.parse("id")?,
        name: r.text("name")?,
        network_id: r.parse("network_id")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
    })
}

async fn profile_write(c: &mut AnyConnection, sql: &'static str, p: &VnicProfile, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(p.id.to_string())
        .bind(p.name.clone())
        .bind(p.network_id.to_string())
        .bind(p.description.clone())
        .bind(p.comment.clone())
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "vnic_profiles", "vNIC profile", format!("vNIC profile '{}'", p.name), p.id)
                .unique(
                    "vnic_profiles_network_id_name_key",
                    format!(
                        "network {} already has a vNIC profile named '{}'; choose another name",
                        p.network_id, p.name
                    ),
                )
                .reference("vnic_profiles_network_id_fkey", "network", "networks", p.network_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn vnic_profile_insert(c: &mut AnyConnection, p: &VnicProfile) -> Result<()> {
    profile_write(
        c,
        "INSERT INTO vnic_profiles (id, name, network_id, description, comment) VALUES ($1, $2, $3, $4, $5)",
        p,
        "adding a vNIC profile",
    )
    .await
    .map(drop)
}

pub(crate) async fn vnic_profile_get(c: &mut AnyConnection, id: VnicProfileId) -> Result<VnicProfile> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PROFILE_COLUMNS} FROM vnic_profiles WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a vNIC profile"))?;
    profile_from_row(&row.ok_or_else(|| StoreError::not_found("vNIC profile", id))?)
}

/// The profiles of one network, or all, by name.
pub(crate) async fn vnic_profile_list(
    c: &mut AnyConnection,
    network_id: Option<NetworkId>,
) -> Result<Vec<VnicProfile>> {
    let mut q = Sql::new(&format!("SELECT {PROFILE_COLUMNS} FROM vnic_profiles WHERE 1 = 1"));
    q.eq_opt("network_id", network_id.map(|id| id.to_string())).push(" ORDER BY name, id");
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing vNIC profiles"))?;
    rows.iter().map(profile_from_row).collect()
}

pub(crate) async fn vnic_profile_update(c: &mut AnyConnection, p: &VnicProfile) -> Result<()> {
    let n = profile_write(
        c,
        "UPDATE vnic_profiles SET name = $2, network_id = $3, description = $4, comment = $5 WHERE id = $1",
        p,
        "updating a vNIC profile",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("vNIC profile", p.id));
    }
    Ok(())
}

/// Removes a profile. Refused while NICs use it.
pub(crate) async fn vnic_profile_delete(c: &mut AnyConnection, id: VnicProfileId) -> Result<()> {
    let res = sqlx::query("DELETE FROM vnic_profiles WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("vNIC profile", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new(
                "removing a vNIC profile",
                "vnic_profiles",
                "vNIC profile",
                format!("vNIC profile {id}"),
                id,
            )
            .dependent(
                "nics_vnic_profile_id_fkey",
                "VM NICs",
                "SELECT COUNT(*) FROM nics WHERE vnic_profile_id = $1",
            );
            Err(ctx.explain(c, e).await)
        }
    }
}
