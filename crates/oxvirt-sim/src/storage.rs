//! **SIMULATION.** Storage domains and volumes kept in memory, shared by every simulated host
//! of the process (as shared storage is shared by real hosts): sizes are recorded, a domain's
//! free space shrinks with what its volumes allocate, and no file is ever written.

use crate::SimError;
use oxvirt_agent_api::v1::{
    StorageDomainCreate, StorageDomainInfo, StorageDomainType, VolumeCreate, VolumeFormat, VolumeInfo, VolumeList,
    VolumeListEntry, VolumeRef,
};
use oxvirt_types::{ByteSize, StorageDomainId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// What a new qcow2 file occupies before any write (header and tables).
const COW_HEADER: u64 = 192 * 1024;

/// Every simulated storage domain.
#[derive(Debug)]
pub struct SharedStorage {
    capacity: ByteSize,
    domains: Mutex<HashMap<StorageDomainId, Domain>>,
}

#[derive(Debug)]
struct Domain {
    name: String,
    domain_type: StorageDomainType,
    volumes: HashMap<VolumeRef, Volume>,
}

#[derive(Debug, Clone)]
struct Volume {
    format: VolumeFormat,
    sparse: bool,
    virtual_size: ByteSize,
    actual_size: ByteSize,
    parent: Option<VolumeRef>,
}

impl SharedStorage {
    pub fn new(capacity: ByteSize) -> Self {
        Self { capacity, domains: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StorageDomainId, Domain>> {
        self.domains.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every domain's id with the volumes it holds (what a storage check compares with the
    /// engine's rows).
    pub fn volumes_by_domain(&self) -> Vec<(StorageDomainId, Vec<VolumeRef>)> {
        self.lock().iter().map(|(id, d)| (*id, d.volumes.keys().copied().collect())).collect()
    }

    /// Formats a new domain.
    pub fn domain_create(&self, req: &StorageDomainCreate) -> Result<StorageDomainInfo, SimError> {
        let mut domains = self.lock();
        if domains.contains_key(&req.id) {
            return Err(SimError::Conflict(format!(
                "storage domain {} already exists ({}): attach it instead of creating it",
                req.id,
                crate::SIMULATED
            )));
        }
        domains
            .insert(req.id, Domain { name: req.name.clone(), domain_type: req.domain_type, volumes: HashMap::new() });
        Ok(self.info_locked(&domains, req.id))
    }

    /// Makes sure domain `id` exists. The simulation keeps no metadata across restarts, so a
    /// domain it does not know is taken as found on the connection (type data, named by id).
    pub fn domain_ensure(&self, id: StorageDomainId) {
        self.lock().entry(id).or_insert_with(|| {
            tracing::info!(sd = %id, "{}: attaching an unknown storage domain; taking it as an empty data domain", crate::SIMULATED);
            Domain { name: id.to_string(), domain_type: StorageDomainType::Data, volumes: HashMap::new() }
        });
    }

    pub fn domain_info(&self, id: StorageDomainId) -> Result<StorageDomainInfo, SimError> {
        let domains = self.lock();
        if !domains.contains_key(&id) {
            return Err(no_domain(id));
        }
        Ok(self.info_locked(&domains, id))
    }

    fn info_locked(&self, domains: &HashMap<StorageDomainId, Domain>, id: StorageDomainId) -> StorageDomainInfo {
        let (name, domain_type, used) = match domains.get(&id) {
            Some(d) => (d.name.clone(), d.domain_type, d.volumes.values().map(|v| v.actual_size.bytes()).sum::<u64>()),
            None => (id.to_string(), StorageDomainType::Data, 0),
        };
        StorageDomainInfo {
            id,
            name,
            domain_type,
            path: domain_path(id),
            total: self.capacity,
            available: ByteSize(self.capacity.bytes().saturating_sub(used)),
            used: ByteSize(used),
        }
    }

    pub fn volume_create(&self, sd: StorageDomainId, req: &VolumeCreate) -> Result<VolumeInfo, SimError> {
        let mut domains = self.lock();
        let used: u64 = domains.get(&sd).ok_or_else(|| no_domain(sd))?.volumes.values().map(|v| v.actual_size.0).sum();
        let domain = domains.get_mut(&sd).ok_or_else(|| no_domain(sd))?;
        let key = VolumeRef { image_id: req.image_id, volume_id: req.volume_id };
        if domain.volumes.contains_key(&key) {
            return Err(SimError::Conflict(format!(
                "volume {} of image {} already exists on storage domain {sd}",
                req.volume_id, req.image_id
            )));
        }
        let parent_size = match &req.parent {
            Some(p) => {
                if req.format != VolumeFormat::Cow {
                    return Err(SimError::InvalidInput(format!(
                        "volume {}: only cow volumes can have a parent",
                        req.volume_id
                    )));
                }
                let parent = domain.volumes.get(p).ok_or_else(|| {
                    SimError::NotFound(format!(
                        "parent volume {} of image {} is not on storage domain {sd}",
                        p.volume_id, p.image_id
                    ))
                })?;
                Some(parent.virtual_size)
            }
            None => None,
        };
        let virtual_size = req.size.or(parent_size).ok_or_else(|| {
            SimError::InvalidInput(format!(
                "volume {}: give a size (only a volume with a parent inherits one)",
                req.volume_id
            ))
        })?;
        let actual = allocation(req.format, req.sparse, virtual_size);
        let available = self.capacity.bytes().saturating_sub(used);
        if actual.bytes() > available {
            return Err(SimError::Conflict(format!(
                "storage domain {sd} has {available} bytes free, volume {} needs {}: free space or make it sparse",
                req.volume_id,
                actual.bytes()
            )));
        }
        domain.volumes.insert(
            key,
            Volume { format: req.format, sparse: req.sparse, virtual_size, actual_size: actual, parent: req.parent },
        );
        volume_info(sd, domain, key)
    }

    /// Every volume of domain `sd`, sorted by image then volume. Simulated volumes are made
    /// whole, so every one is legal.
    pub fn volume_list(&self, sd: StorageDomainId) -> Result<VolumeList, SimError> {
        let domains = self.lock();
        let domain = domains.get(&sd).ok_or_else(|| no_domain(sd))?;
        let mut volumes: Vec<VolumeListEntry> = domain
            .volumes
            .iter()
            .map(|(key, v)| VolumeListEntry {
                image_id: key.image_id,
                volume_id: key.volume_id,
                legal: true,
                format: Some(v.format),
                virtual_size: Some(v.virtual_size),
                actual_size: v.actual_size,
                parent: v.parent,
                problem: None,
            })
            .collect();
        volumes.sort_by_key(|e| (e.image_id, e.volume_id));
        Ok(VolumeList { storage_domain_id: sd, volumes })
    }

    pub fn volume_info(&self, sd: StorageDomainId, vol: VolumeRef) -> Result<VolumeInfo, SimError> {
        let domains = self.lock();
        volume_info(sd, domains.get(&sd).ok_or_else(|| no_domain(sd))?, vol)
    }

    pub fn volume_resize(&self, sd: StorageDomainId, vol: VolumeRef, size: ByteSize) -> Result<VolumeInfo, SimError> {
        let mut domains = self.lock();
        let domain = domains.get_mut(&sd).ok_or_else(|| no_domain(sd))?;
        let v = domain.volumes.get_mut(&vol).ok_or_else(|| no_volume(sd, vol))?;
        if size < v.virtual_size {
            return Err(SimError::InvalidInput(format!(
                "volume {} is {} bytes; it cannot shrink to {}",
                vol.volume_id, v.virtual_size.0, size.0
            )));
        }
        v.virtual_size = size;
        v.actual_size = v.actual_size.max(allocation(v.format, v.sparse, size));
        volume_info(sd, domain, vol)
    }

    /// A simulated guest writes nothing, so a sparsified volume holds its header only. Refused
    /// as the real agent refuses: preallocated volumes and volumes in a chain.
    pub fn volume_sparsify(&self, sd: StorageDomainId, vol: VolumeRef) -> Result<VolumeInfo, SimError> {
        let mut domains = self.lock();
        let domain = domains.get_mut(&sd).ok_or_else(|| no_domain(sd))?;
        let in_chain = domain.volumes.values().any(|v| v.parent == Some(vol));
        let v = domain.volumes.get_mut(&vol).ok_or_else(|| no_volume(sd, vol))?;
        if !v.sparse || v.parent.is_some() || in_chain {
            return Err(SimError::Conflict(format!(
                "volume {} is preallocated or part of a chain; only a thin volume alone can be sparsified",
                vol.volume_id
            )));
        }
        v.actual_size = allocation(v.format, true, v.virtual_size);
        volume_info(sd, domain, vol)
    }

    pub fn volume_delete(&self, sd: StorageDomainId, vol: VolumeRef) -> Result<(), SimError> {
        let mut domains = self.lock();
        let domain = domains.get_mut(&sd).ok_or_else(|| no_domain(sd))?;
        if !domain.volumes.contains_key(&vol) {
            return Err(no_volume(sd, vol));
        }
        if let Some(child) = domain.volumes.iter().find(|(_, v)| v.parent == Some(vol)).map(|(k, _)| *k) {
            return Err(SimError::Conflict(format!(
                "volume {} is the parent of volume {}: delete the child first",
                vol.volume_id, child.volume_id
            )));
        }
        domain.volumes.remove(&vol);
        Ok(())
    }
}

fn allocation(format: VolumeFormat, sparse: bool, size: ByteSize) -> ByteSize {
    match (format, sparse) {
        (_, false) => size,
        (VolumeFormat::Cow, true) => ByteSize(COW_HEADER),
        (VolumeFormat::Raw, true) => ByteSize(0),
    }
}

fn volume_info(sd: StorageDomainId, domain: &Domain, vol: VolumeRef) -> Result<VolumeInfo, SimError> {
    let v = domain.volumes.get(&vol).ok_or_else(|| no_volume(sd, vol))?;
    let mut chain = vec![vol];
    let mut next = v.parent;
    while let Some(p) = next {
        if chain.contains(&p) {
            break;
        }
        chain.push(p);
        next = domain.volumes.get(&p).and_then(|pv| pv.parent);
    }
    Ok(VolumeInfo {
        storage_domain_id: sd,
        image_id: vol.image_id,
        volume_id: vol.volume_id,
        path: domain_path(sd).join("images").join(vol.image_id.to_string()).join(vol.volume_id.to_string()),
        format: v.format,
        virtual_size: v.virtual_size,
        actual_size: v.actual_size,
        parent: v.parent,
        chain,
        // Simulated volumes are created whole, never half-made.
        legal: true,
    })
}

/// A path that says what it is; nothing exists there.
fn domain_path(id: StorageDomainId) -> PathBuf {
    PathBuf::from(format!("/oxvirt-sim/simulated-storage/{id}"))
}

fn no_domain(id: StorageDomainId) -> SimError {
    SimError::NotFound(format!("storage domain {id} is not attached to this host: attach it first"))
}

fn no_volume(sd: StorageDomainId, vol: VolumeRef) -> SimError {
    SimError::NotFound(format!("volume {} of image {} is not on storage domain {sd}", vol.volume_id, vol.image_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_agent_api::v1::StorageDomainConnection;
    use oxvirt_types::{DiskId, VolumeId};

    fn create(
        image: DiskId,
        format: VolumeFormat,
        size: Option<u64>,
        sparse: bool,
        parent: Option<VolumeRef>,
    ) -> VolumeCreate {
        VolumeCreate {
            image_id: image,
            volume_id: VolumeId::new_random(),
            format,
            size: size.map(ByteSize::from_gib),
            sparse,
            parent,
            description: String::new(),
        }
    }

    /// 10 GiB of shared storage with one empty data domain.
    fn storage_with_domain() -> (SharedStorage, StorageDomainId) {
        let storage = SharedStorage::new(ByteSize::from_gib(10));
        let sd = StorageDomainId::new_random();
        storage
            .domain_create(&StorageDomainCreate {
                id: sd,
                name: "d".into(),
                domain_type: StorageDomainType::Data,
                connection: StorageDomainConnection::Localfs { path: "/x".into() },
            })
            .expect("create");
        (storage, sd)
    }

    #[test]
    fn allocations_shrink_free_space_and_chains_follow_parents() {
        let (storage, sd) = storage_with_domain();
        let image = DiskId::new_random();
        let base = storage.volume_create(sd, &create(image, VolumeFormat::Raw, Some(4), false, None)).expect("base");
        assert_eq!(storage.domain_info(sd).expect("info").available, ByteSize::from_gib(6));
        let base_ref = VolumeRef { image_id: image, volume_id: base.volume_id };
        let top =
            storage.volume_create(sd, &create(image, VolumeFormat::Cow, None, true, Some(base_ref))).expect("top");
        assert_eq!(top.virtual_size, ByteSize::from_gib(4), "inherits the parent's size");
        assert_eq!(top.chain.len(), 2);
        assert_eq!(top.chain[1], base_ref);
        let err = storage.volume_delete(sd, base_ref).expect_err("a parent cannot go first");
        assert_eq!(err.kind(), oxvirt_types::ErrorKind::Conflict);
        let err = storage.volume_create(sd, &create(image, VolumeFormat::Raw, Some(7), false, None)).expect_err("full");
        assert_eq!(err.kind(), oxvirt_types::ErrorKind::Conflict);
        storage.volume_delete(sd, VolumeRef { image_id: image, volume_id: top.volume_id }).expect("top");
        storage.volume_delete(sd, base_ref).expect("base");
        assert_eq!(storage.domain_info(sd).expect("info").available, ByteSize::from_gib(10));
    }

    #[test]
    fn the_volume_list_shows_what_was_created_and_not_what_was_deleted() {
        let (storage, sd) = storage_with_domain();
        assert!(storage.volume_list(sd).expect("list").volumes.is_empty());
        let image = DiskId::new_random();
        let base = storage.volume_create(sd, &create(image, VolumeFormat::Raw, Some(1), true, None)).expect("base");
        let base_ref = VolumeRef { image_id: image, volume_id: base.volume_id };
        let top =
            storage.volume_create(sd, &create(image, VolumeFormat::Cow, None, true, Some(base_ref))).expect("top");
        let other = storage
            .volume_create(sd, &create(DiskId::new_random(), VolumeFormat::Cow, Some(2), true, None))
            .expect("other");
        let list = storage.volume_list(sd).expect("list");
        assert_eq!(list.storage_domain_id, sd);
        let mut want: Vec<VolumeInfo> = vec![base, top.clone(), other.clone()];
        want.sort_by_key(|v| (v.image_id, v.volume_id));
        let seen: Vec<_> = list
            .volumes
            .iter()
            .map(|e| (e.image_id, e.volume_id, e.legal, e.format, e.virtual_size, e.actual_size, e.parent))
            .collect();
        let expected: Vec<_> = want
            .iter()
            .map(|v| (v.image_id, v.volume_id, true, Some(v.format), Some(v.virtual_size), v.actual_size, v.parent))
            .collect();
        assert_eq!(seen, expected);
        assert!(list.volumes.iter().all(|e| e.problem.is_none()));

        storage.volume_delete(sd, VolumeRef { image_id: image, volume_id: top.volume_id }).expect("delete top");
        let left: Vec<VolumeRef> =
            storage.volume_list(sd).expect("list").volumes.iter().map(|e| e.reference()).collect();
        let mut want = vec![base_ref, VolumeRef { image_id: other.image_id, volume_id: other.volume_id }];
        want.sort_by_key(|r| (r.image_id, r.volume_id));
        assert_eq!(left, want);

        let missing = StorageDomainId::new_random();
        let err = storage.volume_list(missing).expect_err("no such domain");
        assert_eq!(err.kind(), oxvirt_types::ErrorKind::NotFound);
        assert!(err.to_string().contains(&missing.to_string()), "{err}");
    }
}
