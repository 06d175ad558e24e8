//! Logical networks, vNIC profiles, VM NICs and MAC address allocation.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::NetworkFilter;
use super::sql::{RowExt as _, Sql};
use crate::model::{MacAddress, MacPool, Network, Nic, VnicProfile, VnicProfileId};
use oxvirt_types::{DataCenterId, NetworkId, NicId, VmId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------------------

const NETWORK_COLUMNS: &str = "id, name, data_center_id, description, vm, vlan_id, mtu";

fn network_from_row(r: &AnyRow) -> Result<Network> {
    Ok(Network {
        id: r.parse("id")?,
        name: r.text("name")?,
        data_center_id: r.parse("data_center_id")?,
        description: r.text("description")?,
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
        "INSERT INTO networks (id, name, data_center_id, description, vm, vlan_id, mtu) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        "UPDATE networks SET name = $2, data_center_id = $3, description = $4, vm = $5, vlan_id = $6, mtu = $7 \
         WHERE id = $1",
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

// ---------------------------------------------------------------------------------------
// vNIC profiles
// ---------------------------------------------------------------------------------------

const PROFILE_COLUMNS: &str = "id, name, network_id, description";

fn profile_from_row(r: &AnyRow) -> Result<VnicProfile> {
    Ok(VnicProfile {
        id: r.parse("id")?,
        name: r.text("name")?,
        network_id: r.parse("network_id")?,
        description: r.text("description")?,
    })
}

async fn profile_write(c: &mut AnyConnection, sql: &'static str, p: &VnicProfile, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(p.id.to_string())
        .bind(p.name.clone())
        .bind(p.network_id.to_string())
        .bind(p.description.clone())
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
        "INSERT INTO vnic_profiles (id, name, network_id, description) VALUES ($1, $2, $3, $4)",
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
        "UPDATE vnic_profiles SET name = $2, network_id = $3, description = $4 WHERE id = $1",
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

// ---------------------------------------------------------------------------------------
// NICs
// ---------------------------------------------------------------------------------------

const NIC_COLUMNS: &str = "id, vm_id, name, mac, vnic_profile_id, interface, plugged, linked";

fn nic_from_row(r: &AnyRow) -> Result<Nic> {
    Ok(Nic {
        id: r.parse("id")?,
        vm_id: r.parse("vm_id")?,
        name: r.text("name")?,
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
        "INSERT INTO nics (id, vm_id, name, mac, vnic_profile_id, interface, plugged, linked) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
         linked = $8 WHERE id = $1",
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
    Err(StoreError::MacPoolExhausted { total })
}
