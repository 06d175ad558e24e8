//! VM NICs and MAC address allocation from the pool.

use super::error::{Result, StoreError, WriteCtx};
use super::sql::RowExt as _;
use crate::model::{MacAddress, MacPool, Nic};
use oxvirt_types::{NicId, VmId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const NIC_COLUMNS: &str = "id, vm_id, name, mac, vnic_profile_id, interface, plugged, linked, description, comment";

fn nic_from_row(r: &AnyRow) -> Result<Nic> {
    Ok(Nic {
        id: r.parse("id")?,
        vm_id: r.parse("vm_id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        mac: r.parse("mac")?,
        vnic_profile_id: r.parse_opt("vnic_profile_id")?,
        interface: r.parse("interface")?,
        plugged: r.flag("plugged")?,
        linked: r.flag("linked")?,
    })
}

async fn nic_write(c: &mut AnyConnection, sql: &'static str, n: &Nic, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(n.id.to_string())
        .bind(n.vm_id.to_string())
        .bind(n.name.clone())
        .bind(n.mac.to_string())
        .bind(n.vnic_profile_id.map(|p| p.to_string()))
        .bind(n.interface.as_str())
        .bind(n.plugged)
        .bind(n.linked)
        .bind(n.description.clone())
        .bind(n.comment.clone())
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "nics", "NIC", format!("NIC '{}' of VM {}", n.name, n.vm_id), n.id)
                .unique(
                    "nics_vm_id_name_key",
                    format!("VM {} already has a NIC named '{}'; choose another name", n.vm_id, n.name),
                )
                .unique("nics_mac_key", format!("MAC address {} is already in use by another NIC", n.mac))
                .reference("nics_vm_id_fkey", "VM", "vms", n.vm_id)
                .reference_opt("nics_vnic_profile_id_fkey", "vNIC profile", "vnic_profiles", n.vnic_profile_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn nic_insert(c: &mut AnyConnection, n: &Nic) -> Result<()> {
    nic_write(
        c,
        "INSERT INTO nics (id, vm_id, name, mac, vnic_profile_id, interface, plugged, linked, description, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        n,
        "adding a NIC",
    )
    .await
    .map(drop)
}

pub(crate) async fn nic_get(c: &mut AnyConnection, id: NicId) -> Result<Nic> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {NIC_COLUMNS} FROM nics WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a NIC"))?;
    nic_from_row(&row.ok_or_else(|| StoreError::not_found("NIC", id))?)
}

/// A VM's NICs, by name.
pub(crate) async fn nic_list_for_vm(c: &mut AnyConnection, vm_id: VmId) -> Result<Vec<Nic>> {
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {NIC_COLUMNS} FROM nics WHERE vm_id = $1 ORDER BY name, id")))
            .bind(vm_id.to_string())
            .fetch_all(&mut *c)
            .await
            .map_err(StoreError::db("listing a VM's NICs"))?;
    rows.iter().map(nic_from_row).collect()
}

pub(crate) async fn nic_update(c: &mut AnyConnection, n: &Nic) -> Result<()> {
    let affected = nic_write(
        c,
        "UPDATE nics SET vm_id = $2, name = $3, mac = $4, vnic_profile_id = $5, interface = $6, plugged = $7, \
         linked = $8, description = $9, comment = $10 WHERE id = $1",
        n,
        "updating a NIC",
    )
    .await?;
    if affected == 0 {
        return Err(StoreError::not_found("NIC", n.id));
    }
    Ok(())
}

pub(crate) async fn nic_delete(c: &mut AnyConnection, id: NicId) -> Result<()> {
    let r = sqlx::query("DELETE FROM nics WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a NIC"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("NIC", id));
    }
    Ok(())
}

/// The lowest address of `pool` no NIC uses. Not a reservation: two concurrent callers may get
/// the same address, and the second `nic_insert` then fails with a conflict (retry it).
pub(crate) async fn mac_allocate(c: &mut AnyConnection, pool: &MacPool) -> Result<MacAddress> {
    let mut total = 0u64;
    for range in &pool.ranges {
        if range.is_empty() {
            continue;
        }
        total = total.saturating_add(range.len());
        // Fixed-width lower-case text sorts like the numbers it spells.
        let used = sqlx::query_scalar::<_, String>("SELECT mac FROM nics WHERE mac >= $1 AND mac <= $2 ORDER BY mac")
            .bind(range.from.to_string())
            .bind(range.to.to_string())
            .fetch_all(&mut *c)
            .await
            .map_err(StoreError::db("reading the MAC addresses in use"))?;
        let mut candidate = range.from.as_u64();
        for text in used {
            let mac: MacAddress = text.parse().map_err(|e: crate::model::MacParseError| StoreError::Corrupt {
                column: "mac".into(),
                detail: e.to_string(),
            })?;
            match mac.as_u64().cmp(&candidate) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => candidate += 1,
                std::cmp::Ordering::Greater => break,
            }
        }
        if candidate <= range.to.as_u64()
            && let Some(mac) = MacAddress::from_u64(candidate)
        {
            return Ok(mac);
        }
    }
    Err(StoreError::MacPoolExhausted { pool: pool.name.clone(), total })
}
