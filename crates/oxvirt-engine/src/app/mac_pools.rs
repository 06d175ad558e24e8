//! MAC pools (`/macpools`): named sets of MAC address ranges; each cluster names one, and a NIC
//! added without a MAC gets the lowest free address of its VM's cluster's pool.
//!
//! Where oxvirt differs from oVirt, and why: a MAC is unique across *all* pools (oVirt keeps it
//! unique per pool), because one database constraint then guarantees that no two NICs in the
//! installation ever share an address, whatever pools overlap; `allow_duplicates=true` is
//! refused for the same reason. Ranges may not include multicast addresses (a NIC with one
//! would not work), so a range stays within one first octet, which must be even.

use super::{App, AppError, ListQuery, Named, Result, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_engine_db::model::{MacPool, MacRange};
use oxvirt_engine_db::store::StoreError;
use oxvirt_types::MacPoolId;

#[derive(Debug, Clone)]
pub struct MacPoolAdd {
    pub name: String,
    pub description: Option<String>,
    pub ranges: Vec<MacRange>,
    /// What the request said of `default_pool` (only `false` can be true of a new pool).
    pub default_pool: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct MacPoolUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub ranges: Option<Vec<MacRange>>,
    pub default_pool: Option<bool>,
}

/// A pool's ranges must each be ordered and free of multicast addresses, and there must be one.
fn ranges_check(name: &str, ranges: &[MacRange]) -> Result<()> {
    if ranges.is_empty() {
        return Err(AppError::InvalidInput(format!(
            "MAC pool '{name}' needs at least one range (mac_pool.ranges.range with from and to)"
        )));
    }
    for r in ranges {
        if r.is_empty() {
            return Err(AppError::InvalidInput(format!(
                "MAC pool '{name}': range {}–{} ends before it starts; give from <= to",
                r.from, r.to
            )));
        }
        let first_octet = |m: oxvirt_engine_db::model::MacAddress| m.as_u64() >> 40;
        if first_octet(r.from) != first_octet(r.to) || first_octet(r.from) & 1 == 1 {
            return Err(AppError::InvalidInput(format!(
                "MAC pool '{name}': range {}–{} includes multicast addresses (an odd first octet); \
                 keep a range within one even first octet, e.g. 02:00:00:00:00:00–02:00:00:00:ff:ff",
                r.from, r.to
            )));
        }
    }
    Ok(())
}

fn default_pool_check(pool: &MacPool, said: Option<bool>) -> Result<()> {
    match said {
        Some(d) if d != pool.is_default() => Err(AppError::InvalidInput(format!(
            "mac_pool.default_pool cannot be set: the built-in pool Default is the only default pool \
             (MAC pool '{}' {})",
            pool.name,
            if pool.is_default() { "is it" } else { "is not" }
        ))),
        _ => Ok(()),
    }
}

impl App {
    pub(super) async fn mac_pool_resolve(&self, named: &Named<MacPoolId>) -> Result<MacPool> {
        let found = match named {
            Named::Id(id) => self.store.mac_pool_get(*id).await,
            Named::Name(n) => self.store.mac_pool_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "MAC pool", named))
    }

    /// Every pool, by name; `max` limits the list (pools cannot be searched, as in oVirt).
    pub async fn mac_pool_list(&self, q: &ListQuery) -> Result<Vec<MacPool>> {
        if q.has_search() {
            return Err(AppError::InvalidInput("MAC pools cannot be searched; list them all".into()));
        }
        let mut pools = self.store.mac_pool_list().await?;
        pools.truncate(q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX)));
        Ok(pools)
    }

    pub async fn mac_pool_get(&self, id: MacPoolId) -> Result<MacPool> {
        Ok(self.store.mac_pool_get(id).await?)
    }

    pub async fn mac_pool_add(&self, _who: &Principal, req: MacPoolAdd) -> Result<MacPool> {
        name_check("MAC pool", &req.name)?;
        let pool = MacPool {
            id: MacPoolId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            ranges: req.ranges,
        };
        default_pool_check(&pool, req.default_pool)?;
        ranges_check(&pool.name, &pool.ranges)?;
        self.store.mac_pool_insert(&pool).await?;
        Ok(pool)
    }

    /// Changes a pool. NICs keep the addresses they have even when a new range no longer covers
    /// them (as in oVirt); only new NICs see the new ranges.
    pub async fn mac_pool_update(&self, _who: &Principal, id: MacPoolId, req: MacPoolUpdate) -> Result<MacPool> {
        let mut pool = self.store.mac_pool_get(id).await?;
        default_pool_check(&pool, req.default_pool)?;
        if let Some(name) = req.name {
            name_check("MAC pool", &name)?;
            pool.name = name;
        }
        if let Some(d) = req.description {
            pool.description = d;
        }
        if let Some(r) = req.ranges {
            ranges_check(&pool.name, &r)?;
            pool.ranges = r;
        }
        self.store.mac_pool_update(&pool).await?;
        Ok(pool)
    }

    pub async fn mac_pool_remove(&self, _who: &Principal, id: MacPoolId) -> Result<()> {
        let pool = self.store.mac_pool_get(id).await?;
        self.store.mac_pool_delete(id).await.map_err(|e| match e {
            StoreError::InUse { by, .. } => AppError::Conflict(format!(
                "MAC pool '{}' cannot be removed while {by} use it: give them another MAC pool first",
                pool.name
            )),
            other => other.into(),
        })
    }
}
