//! The storage check: what a storage domain holds against what the database says it holds.
//!
//! Why: jobs create a volume's row before the volume and delete the volume before its row, and
//! undo what they leave half-done; still, a host that died mid-job, an administrator's hands
//! in the domain directory or a bug can leave a volume nobody knows (space lost) or a row whose
//! volume is gone or illegal (a VM that will not start). Such things are *found*, not assumed
//! away: `GET /ovirt-engine/api/oxvirt/storagedomains/{id}/check` (an oxvirt extension) lists
//! them for one domain, and a periodic task checks every active domain and logs an audit event
//! when what it finds changes. Nothing is deleted: the administrator decides.

use super::{App, Result};
use oxvirt_engine_db::model::{AuditCode, DiskStatus, EventRefs, Severity};
use oxvirt_engine_db::store::{DiskFilter, StorageDomainFilter};
use oxvirt_types::{DiskId, StorageDomainId, StorageDomainStatus, VolumeId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How often every active domain is checked.
pub const PERIOD: Duration = Duration::from_secs(10 * 60);

/// What one check of a domain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageCheck {
    pub storage_domain_id: StorageDomainId,
    pub storage_domain_name: String,
    /// Volumes on the storage with no row (image id, volume id).
    pub volumes_without_row: Vec<(DiskId, VolumeId)>,
    /// Rows (disk alias, image id, volume id) whose volume is missing or not legal.
    pub rows_without_legal_volume: Vec<(String, DiskId, VolumeId)>,
}

impl StorageCheck {
    pub fn is_clean(&self) -> bool {
        self.volumes_without_row.is_empty() && self.rows_without_legal_volume.is_empty()
    }
}

impl App {
    /// Compares the volumes a host lists on the domain with the rows of its disks. Disks that
    /// are `locked` (a job works on them) are left out: their volume may rightly be half-made.
    pub async fn storage_domain_check(&self, id: StorageDomainId) -> Result<StorageCheck> {
        let sd = self.store.storage_domain_get(id).await?;
        let host = self.storage_domain_host(&sd).await?;
        let listed = self.agent_for(&host)?.volume_list(sd.id).await?;
        let disks =
            self.store.disk_list(&DiskFilter { storage_domain_id: Some(sd.id), ..DiskFilter::default() }).await?;
        let mut rows = BTreeMap::new();
        let mut busy = BTreeSet::new();
        for d in &disks {
            if d.status == DiskStatus::Locked {
                busy.insert(d.id);
                continue;
            }
            for v in self.store.volume_list_for_disk(d.id).await? {
                rows.insert((d.id, v.id), d.alias.clone());
            }
        }
        let on_storage: BTreeMap<(DiskId, VolumeId), bool> =
            listed.volumes.iter().map(|v| ((v.image_id, v.volume_id), v.legal)).collect();
        let volumes_without_row =
            on_storage.keys().filter(|k| !rows.contains_key(*k) && !busy.contains(&k.0)).copied().collect();
        let rows_without_legal_volume = rows
            .iter()
            .filter(|(k, _)| on_storage.get(*k) != Some(&true))
            .map(|((img, vol), alias)| (alias.clone(), *img, *vol))
            .collect();
        Ok(StorageCheck {
            storage_domain_id: sd.id,
            storage_domain_name: sd.name,
            volumes_without_row,
            rows_without_legal_volume,
        })
    }

    /// The periodic check of every active domain: an audit event for each domain whose
    /// findings changed since the last run (so a finding is reported once, not every period).
    pub async fn storage_check_run(&self) -> Result<Vec<StorageCheck>> {
        let domains = self
            .store
            .storage_domain_list(&StorageDomainFilter {
                status: Some(StorageDomainStatus::Active),
                ..Default::default()
            })
            .await?;
        let mut found = Vec::new();
        for sd in domains {
            let check = match self.storage_domain_check(sd.id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(sd = %sd.name, error = %e, "cannot check a storage domain");
                    continue;
                }
            };
            let changed = {
                let mut last = self.storage_checks.lock().unwrap_or_else(|p| p.into_inner());
                last.insert(sd.id, check.clone()).as_ref() != Some(&check)
            };
            if changed && !check.is_clean() {
                let text = format!(
                    "Storage domain {} holds {} volume(s) the engine has no row for ({}) and {} disk volume(s) that \
                     are missing or not legal ({}); look at them and remove what nobody needs.",
                    check.storage_domain_name,
                    check.volumes_without_row.len(),
                    check.volumes_without_row.iter().map(|(i, v)| format!("{i}/{v}")).collect::<Vec<_>>().join(", "),
                    check.rows_without_legal_volume.len(),
                    check
                        .rows_without_legal_volume
                        .iter()
                        .map(|(a, i, v)| format!("{a} {i}/{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                tracing::warn!(sd = %check.storage_domain_name, "storage check found leftovers");
                let refs = EventRefs { storage_domain_id: Some(check.storage_domain_id), ..EventRefs::default() };
                self.audit_engine(Severity::Warning, AuditCode::OXVIRT_STORAGE_LEFTOVERS, text, refs).await;
            }
            found.push(check);
        }
        Ok(found)
    }
}
