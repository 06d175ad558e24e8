//! Where things are inside a domain, and the synchronous file work on them.
//!
//! Every path is built from typed ids (`StorageDomainId`, `DiskId`, `VolumeId`), whose text is
//! always a hyphenated UUID: a request cannot name a path outside the domain. The functions
//! here block (they stat, read and walk files, possibly on NFS); the manager calls them from
//! `spawn_blocking`.

use crate::storage::metadata::{DomainMetadata, Legality, VolumeMetadata};
use crate::storage::{StorageError, show_volume};
use oxvirt_agent_api::v1::{VolumeListEntry, VolumeRef};
use oxvirt_types::{ByteSize, DiskId, StorageDomainId, VolumeId};
use std::collections::{BTreeSet, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// VDSM's "no parent" value of `PUUID`.
pub const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// The suffix of a volume's metadata file.
pub const META_SUFFIX: &str = ".meta";

/// One domain's directory tree: `<root>/<sd-id>/{dom_md/metadata, images/<image>/<volume>[.meta]}`.
#[derive(Debug, Clone)]
pub struct DomainLayout {
    pub id: StorageDomainId,
    /// `<root>/<sd-id>`.
    pub dir: PathBuf,
}

impl DomainLayout {
    pub fn new(root: &Path, id: StorageDomainId) -> Self {
        DomainLayout { id, dir: root.join(id.to_string()) }
    }

    pub fn dom_md_dir(&self) -> PathBuf {
        self.dir.join("dom_md")
    }

    pub fn metadata_path(&self) -> PathBuf {
        self.dom_md_dir().join("metadata")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.dir.join("images")
    }

    pub fn image_dir(&self, image: DiskId) -> PathBuf {
        self.images_dir().join(image.to_string())
    }

    pub fn volume_path(&self, volume: VolumeRef) -> PathBuf {
        self.image_dir(volume.image_id).join(volume.volume_id.to_string())
    }

    pub fn meta_path(&self, volume: VolumeRef) -> PathBuf {
        self.image_dir(volume.image_id).join(format!("{}{META_SUFFIX}", volume.volume_id))
    }

    /// The backing-file name qemu-img records in a child: relative to the child's image
    /// directory, so that the domain can be mounted anywhere.
    pub fn relative_backing(child_image: DiskId, parent: VolumeRef) -> String {
        if parent.image_id == child_image {
            parent.volume_id.to_string()
        } else {
            format!("../{}/{}", parent.image_id, parent.volume_id)
        }
    }

    /// Reads and checks the domain metadata; `Ok(None)` when there is none.
    pub fn read_domain_metadata(&self) -> Result<Option<DomainMetadata>, StorageError> {
        let path = self.metadata_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(format!("read the domain metadata {}", path.display()), e)),
        };
        DomainMetadata::from_text(&text)
            .map(Some)
            .map_err(|e| StorageError::Metadata { path: path.clone(), reason: e.to_string() })
    }

    /// The metadata of the domain that must be here, or why it is not.
    pub fn expect_domain(&self) -> Result<DomainMetadata, StorageError> {
        match self.read_domain_metadata()? {
            None => Err(StorageError::DomainMissing { id: self.id, path: self.metadata_path() }),
            Some(meta) if meta.id != self.id => {
                Err(StorageError::DomainIdMismatch { id: self.id, found: meta.id, path: self.metadata_path() })
            }
            Some(meta) => Ok(meta),
        }
    }

    /// A volume's metadata; `Ok(None)` when the `.meta` file does not exist.
    pub fn read_volume_metadata(&self, volume: VolumeRef) -> Result<Option<VolumeMetadata>, StorageError> {
        let path = self.meta_path(volume);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(format!("read the volume metadata {}", path.display()), e)),
        };
        let meta = VolumeMetadata::from_text(&text, volume.image_id, volume.volume_id)
            .map_err(|e| StorageError::Metadata { path: path.clone(), reason: e.to_string() })?;
        if meta.domain != self.id {
            return Err(StorageError::Metadata {
                path,
                reason: format!("DOMAIN is {}, but the volume is in domain {}", meta.domain, self.id),
            });
        }
        Ok(Some(meta))
    }

    /// The image directories of the domain.
    fn images(&self) -> Result<Vec<DiskId>, StorageError> {
        let dir = self.images_dir();
        let entries = std::fs::read_dir(&dir).map_err(|e| StorageError::io(format!("list {}", dir.display()), e))?;
        let mut images = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io(format!("list {}", dir.display()), e))?;
            if let Some(image) = entry.file_name().to_str().and_then(|n| n.parse::<DiskId>().ok()) {
                images.push(image);
            }
        }
        Ok(images)
    }

    /// The image that already holds a volume (file or metadata) with this id, if any: volume
    /// ids are unique within a domain, as in VDSM.
    pub fn image_holding(&self, volume: VolumeId) -> Result<Option<DiskId>, StorageError> {
        for image in self.images()? {
            let reference = VolumeRef { image_id: image, volume_id: volume };
            if self.volume_path(reference).symlink_metadata().is_ok() || self.meta_path(reference).exists() {
                return Ok(Some(image));
            }
        }
        Ok(None)
    }

    /// Every volume whose metadata parses. Damaged files are logged and skipped: one bad file
    /// must not make the whole domain unusable.
    pub fn all_volumes(&self) -> Result<Vec<VolumeMetadata>, StorageError> {
        let mut volumes = Vec::new();
        for image in self.images()? {
            let dir = self.image_dir(image);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io(format!("list {}", dir.display()), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| StorageError::io(format!("list {}", dir.display()), e))?;
                let name = entry.file_name();
                let Some(volume) =
                    name.to_str().and_then(|n| n.strip_suffix(META_SUFFIX)).and_then(|id| id.parse::<VolumeId>().ok())
                else {
                    continue;
                };
                match self.read_volume_metadata(VolumeRef { image_id: image, volume_id: volume }) {
                    Ok(Some(meta)) => volumes.push(meta),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "skipping a volume whose metadata cannot be read"),
                }
            }
        }
        Ok(volumes)
    }

    /// Every volume of the domain as a storage check needs to see it: each `<volume>` file and
    /// each `<volume>.meta` of every image directory, paired by volume id, sorted by image then
    /// volume. A volume that is not complete (metadata `ILLEGAL`, a file without metadata,
    /// metadata without a file, unreadable metadata) is listed as not legal with the reason;
    /// only a failure to list a directory fails the whole listing. Other names (temporary
    /// files of a creation in progress, non-UUID names) are not volumes and are skipped.
    pub fn volume_list(&self) -> Result<Vec<VolumeListEntry>, StorageError> {
        let mut volumes = Vec::new();
        let mut images = self.images()?;
        images.sort();
        for image in images {
            let dir = self.image_dir(image);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                // Removed meanwhile (its last volume was deleted).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io(format!("list {}", dir.display()), e)),
            };
            let mut ids = BTreeSet::new();
            for entry in entries {
                let entry = entry.map_err(|e| StorageError::io(format!("list {}", dir.display()), e))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let id = name.strip_suffix(META_SUFFIX).unwrap_or(name);
                // Only the canonical spelling: the paths are built from the parsed id.
                if let Some(volume) = id.parse::<VolumeId>().ok().filter(|v| v.to_string() == id) {
                    ids.insert(volume);
                }
            }
            volumes.extend(
                ids.into_iter().filter_map(|volume_id| self.list_entry(VolumeRef { image_id: image, volume_id })),
            );
        }
        Ok(volumes)
    }

    /// One volume of [`Self::volume_list`]; `None` when neither its file nor its metadata is
    /// there any more (deleted while the directory was being read).
    fn list_entry(&self, volume: VolumeRef) -> Option<VolumeListEntry> {
        let path = self.volume_path(volume);
        let meta_path = self.meta_path(volume);
        let file = match path.metadata() {
            Ok(stat) if stat.is_file() => Ok(Some(stat.blocks().saturating_mul(512))),
            Ok(_) => Err(format!("{} is not a regular file; remove it, or delete the volume", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot stat {}: {e}; check the storage", path.display())),
        };
        let meta = self.read_volume_metadata(volume).map_err(|e| e.to_string());
        let problem = match (&meta, &file) {
            (Err(problem), _) | (_, Err(problem)) => Some(problem.clone()),
            (Ok(None), Ok(None)) => return None,
            (Ok(None), Ok(Some(_))) => Some(format!(
                "{} has no metadata ({} is missing): it is not a complete volume; delete the volume, or restore its metadata",
                path.display(),
                meta_path.display()
            )),
            (Ok(Some(_)), Ok(None)) => Some(format!(
                "the metadata file {} describes {}, which is missing; delete the volume",
                meta_path.display(),
                path.display()
            )),
            (Ok(Some(meta)), Ok(Some(_))) if meta.legality != Legality::Legal => {
                Some(StorageError::VolumeIllegal { sd: self.id, volume }.to_string())
            }
            (Ok(Some(_)), Ok(Some(_))) => None,
        };
        let meta = meta.ok().flatten();
        Some(VolumeListEntry {
            image_id: volume.image_id,
            volume_id: volume.volume_id,
            legal: problem.is_none(),
            format: meta.as_ref().map(|m| m.format),
            virtual_size: meta.as_ref().map(|m| m.capacity),
            actual_size: ByteSize(file.ok().flatten().unwrap_or(0)),
            parent: meta.and_then(|m| m.parent),
            problem,
        })
    }

    /// The volumes that have `parent` as their parent.
    pub fn children_of(&self, parent: VolumeRef) -> Result<Vec<VolumeRef>, StorageError> {
        Ok(self.all_volumes()?.into_iter().filter(|v| v.parent == Some(parent)).map(|v| v.reference()).collect())
    }

    /// The chain from `leaf` up to its base, leaf first, following the metadata's parents.
    pub fn chain(&self, leaf: &VolumeMetadata) -> Result<Vec<VolumeRef>, StorageError> {
        let mut chain = vec![leaf.reference()];
        let mut seen: HashSet<VolumeRef> = chain.iter().copied().collect();
        let mut child = leaf.reference();
        let mut next = leaf.parent;
        while let Some(parent) = next {
            if !seen.insert(parent) {
                return Err(StorageError::Metadata {
                    path: self.meta_path(parent),
                    reason: "the chain of parents loops".to_owned(),
                });
            }
            chain.push(parent);
            let meta = self.read_volume_metadata(parent)?.ok_or_else(|| StorageError::Metadata {
                path: self.meta_path(parent),
                reason: format!("it is missing, but volume {} names it as its parent", show_volume(&child)),
            })?;
            child = parent;
            next = meta.parent;
        }
        Ok(chain)
    }
}

/// Total and available bytes of the file system holding `path`.
#[allow(unsafe_code)]
// The statvfs fields are u64 on 64-bit Linux but narrower elsewhere.
#[allow(clippy::useless_conversion)]
pub fn file_system_space(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path contains a NUL byte"))?;
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `buf` points to
    // writable memory of the size of `struct statvfs`, which the call fills in.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the whole struct (and it was zeroed before).
    let stats = unsafe { buf.assume_init() };
    let fragment = u64::from(stats.f_frsize);
    Ok((u64::from(stats.f_blocks).saturating_mul(fragment), u64::from(stats.f_bavail).saturating_mul(fragment)))
}

/// Allocated bytes of one file.
pub fn allocated_size(path: &Path) -> std::io::Result<u64> {
    Ok(path.metadata()?.blocks().saturating_mul(512))
}
