//! File storage domains and their volumes, laid out as oVirt/VDSM lays out file domains.
//!
//! # Why VDSM's layout
//!
//! A storage domain outlives hosts, agents and even the engine's database: an administrator
//! can import a domain into another setup and find every disk again. So the domain describes
//! itself, in plain text, next to the data (as VDSM's file domains do):
//!
//! ```text
//! <root>/<sd-id>/dom_md/metadata                  KEY=VALUE: SDUUID, DESCRIPTION (the name),
//!                                                 CLASS (Data|Iso|Backup), TYPE (LOCALFS|
//!                                                 POSIXFS|NFS), VERSION, CTIME, REMOTE_PATH
//! <root>/<sd-id>/images/<image-id>/<volume-id>        the volume (qcow2 or raw file)
//! <root>/<sd-id>/images/<image-id>/<volume-id>.meta   KEY=VALUE: DOMAIN, IMAGE, VOLUUID,
//!                                                 PUUID (+ PIMAGE), FORMAT (COW|RAW), TYPE
//!                                                 (SPARSE|PREALLOCATED), CAP (bytes),
//!                                                 DESCRIPTION, CTIME, LEGALITY, GEN, DISKTYPE,
//!                                                 then a line EOF
//! ```
//!
//! `<root>` is the local directory of a `localfs` connection, or the mount point of a `posixfs`
//! / `nfs` connection (`<mount_root>/<spec with _ doubled and / turned into _>`, as VDSM's
//! `/rhev/data-center/mnt/...`). An image is oVirt's disk (a [`DiskId`]); its volumes form a
//! qcow2 chain. Keys follow VDSM (format 5: `CAP` in bytes); the few oxvirt additions are
//! `CTIME` on the domain, `VOLUUID` and `PIMAGE` (the parent's image: VDSM hard-links a
//! template's volume into each image that uses it, we point at it with a relative backing file
//! `../<parent-image>/<parent-volume>` instead, so that the domain stays relocatable). Not
//! carried over from VDSM: sanlock leases (`dom_md/ids`, `leases`), the mailboxes and the
//! storage pool's master domain, which belong to multi-host coordination (the SPM), and
//! `VOLTYPE`, which we derive from the parents recorded in the metadata instead of storing.
//!
//! # Consistency
//!
//! Metadata files are replaced atomically. A volume is made under a temporary name, its
//! metadata is written `LEGALITY=ILLEGAL` before the file gets its real name and flipped to
//! `LEGAL` last, so a crash leaves at worst a volume marked illegal (which is never handed to
//! the hypervisor and can be deleted); any error in between removes what was made, including
//! an image directory created for it. Mutations of one domain's volumes are serialised by a
//! per-domain lock (one agent per host; cross-host coordination is the engine's job, as the SPM
//! is oVirt's); reads take no lock. Every operation first checks that the domain is still
//! where it should be (for mounts: that the mount point really is a mount) so that nothing is
//! ever written into an empty mount-point directory on the host's root file system.
//!
//! # Agent restarts
//!
//! Which domains are attached, how, and whether the agent mounted them is kept in
//! `<state_dir>/storage-domains.json` (written atomically). Mounts outlive the agent; on
//! [`StorageManager::open`] each known domain is re-verified and problems are logged — a domain
//! whose storage went away (e.g. after a host reboot) stays known and reports `Unavailable`
//! until it is attached again with the same connection, which remounts it.

mod layout;
mod metadata;
mod mount;
mod qemu_img;

pub use qemu_img::QemuImgError;

use crate::access::{self, QemuAccess};
use layout::DomainLayout;
use metadata::{DomainMetadata, Legality, StorageType, VolumeMetadata, write_atomic};
use oxvirt_agent_api::v1::{
    StorageDomainConnection, StorageDomainCreate, StorageDomainInfo, VolumeCreate, VolumeFormat, VolumeInfo,
    VolumeList, VolumeRef,
};
use oxvirt_types::{ByteSize, DiskId, ErrorKind, StorageDomainId, VmId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The file in the state dir that lists attached domains.
pub const STATE_FILE: &str = "storage-domains.json";

/// Sizes must be whole 512-byte sectors (qemu-img would silently round them up).
pub const SECTOR: u64 = 512;

/// The longest domain name or volume description we store.
const MAX_TEXT: usize = 4096;

/// `image/volume`, for messages.
pub(crate) fn show_volume(volume: &VolumeRef) -> String {
    format!("{}/{}", volume.image_id, volume.volume_id)
}

/// What can go wrong in the storage module.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("storage domain {id} is not attached to this host; attach (or create) it first")]
    DomainNotAttached { id: StorageDomainId },
    #[error("storage domain {id} is already attached to this host; detach it first")]
    DomainAlreadyAttached { id: StorageDomainId },
    #[error("storage domain {id} is attached to this host through another connection ({current}); detach it first")]
    DomainAttachedOtherwise { id: StorageDomainId, current: String },
    #[error("{} already exists (a storage domain or other files); use another id or remove it", path.display())]
    DomainExists { id: StorageDomainId, path: PathBuf },
    #[error("there is no storage domain {id} on this connection ({} is missing); check the connection or create the domain", path.display())]
    DomainMissing { id: StorageDomainId, path: PathBuf },
    #[error("{} describes storage domain {found}, not {id}; check the connection", path.display())]
    DomainIdMismatch { id: StorageDomainId, found: StorageDomainId, path: PathBuf },
    #[error("storage domain {id} is unavailable: {reason}")]
    DomainUnavailable { id: StorageDomainId, reason: String },
    #[error("local storage path {}: {reason}", path.display())]
    LocalPath { path: PathBuf, reason: String },
    #[error("cannot mount {spec} at {}: {reason}; check the spec, the file system type and the mount options", mount_point.display())]
    Mount { spec: String, mount_point: PathBuf, reason: String },
    #[error("cannot unmount {}: {reason}; stop what uses it, then detach again", mount_point.display())]
    Unmount { mount_point: PathBuf, reason: String },
    #[error("volume {} does not exist on storage domain {sd}", show_volume(.volume))]
    VolumeNotFound { sd: StorageDomainId, volume: VolumeRef },
    #[error("volume {} already exists on storage domain {sd} (in image {image}); use another volume id", .volume.volume_id)]
    VolumeExists { sd: StorageDomainId, volume: VolumeRef, image: DiskId },
    #[error("parent volume {} does not exist on storage domain {sd}", show_volume(.parent))]
    ParentNotFound { sd: StorageDomainId, parent: VolumeRef },
    #[error("volume {} of storage domain {sd} is the parent of {}; delete (or merge) those first", show_volume(.volume), .children.iter().map(show_volume).collect::<Vec<_>>().join(", "))]
    VolumeHasChildren { sd: StorageDomainId, volume: VolumeRef, children: Vec<VolumeRef> },
    #[error("volume {} of storage domain {sd} is ILLEGAL (its creation did not finish); delete it and create it again", show_volume(.volume))]
    VolumeIllegal { sd: StorageDomainId, volume: VolumeRef },
    #[error("qemu-img failed on volume {volume}: {source}")]
    QemuImg { volume: String, source: qemu_img::QemuImgError },
    #[error("cannot grow volume {volume} through the VM that has it open: {reason}")]
    LiveResize { volume: String, reason: String },
    #[error("volume {volume} is open in running VM {vm}; stop the VM first")]
    VolumeInUse { volume: String, vm: VmId },
    #[error("volume {volume} cannot be sparsified: {reason}")]
    NotSparsifiable { volume: String, reason: String },
    #[error("the metadata file {} is damaged: {reason}; repair or remove it", path.display())]
    Metadata { path: PathBuf, reason: String },
    #[error("the storage state file {}: {reason}; repair or remove it (then attach the domains again)", path.display())]
    State { path: PathBuf, reason: String },
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    QemuAccess(#[from] crate::access::AccessError),
    #[error("{0}")]
    Internal(String),
}

impl StorageError {
    /// How the API layer classifies this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::InvalidInput(_) | StorageError::LocalPath { .. } => ErrorKind::InvalidInput,
            StorageError::DomainNotAttached { .. }
            | StorageError::DomainMissing { .. }
            | StorageError::VolumeNotFound { .. }
            | StorageError::ParentNotFound { .. } => ErrorKind::NotFound,
            StorageError::DomainAlreadyAttached { .. }
            | StorageError::DomainAttachedOtherwise { .. }
            | StorageError::DomainExists { .. }
            | StorageError::DomainIdMismatch { .. }
            | StorageError::VolumeExists { .. }
            | StorageError::VolumeHasChildren { .. }
            | StorageError::VolumeIllegal { .. }
            | StorageError::VolumeInUse { .. }
            | StorageError::NotSparsifiable { .. } => ErrorKind::Conflict,
            StorageError::DomainUnavailable { .. } | StorageError::Mount { .. } | StorageError::Unmount { .. } => {
                ErrorKind::Unavailable
            }
            StorageError::QemuImg { .. }
            | StorageError::LiveResize { .. }
            | StorageError::Metadata { .. }
            | StorageError::State { .. }
            | StorageError::Io { .. }
            | StorageError::Internal(_) => ErrorKind::Internal,
            StorageError::QemuAccess(e) => e.kind(),
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io { what: what.into(), source }
    }
}

/// One attached domain.
#[derive(Debug)]
struct Domain {
    id: StorageDomainId,
    connection: StorageDomainConnection,
    /// Where `<sd-id>` lives: the local path or the mount point.
    root: PathBuf,
    /// For mounted connections: the mount point (equal to `root`).
    mount_point: Option<PathBuf>,
    /// Whether the agent mounted `mount_point` (and so unmounts it when the last domain on it
    /// is detached). A mount found in place is left alone.
    mounted_by_us: AtomicBool,
    /// Serialises changes to this domain's volumes, and detaching against them.
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Domain {
    fn layout(&self) -> DomainLayout {
        DomainLayout::new(&self.root, self.id)
    }

    /// Checks that the domain is where it should be and returns its metadata. Blocking.
    fn verify(&self) -> Result<DomainMetadata, StorageError> {
        if let Some(mount_point) = &self.mount_point {
            let mounted =
                mount::is_mount_point(mount_point).map_err(|e| StorageError::io("read /proc/self/mountinfo", e))?;
            if !mounted {
                return Err(StorageError::DomainUnavailable {
                    id: self.id,
                    reason: format!(
                        "{} is not mounted any more; attach the domain again with the same connection",
                        mount_point.display()
                    ),
                });
            }
        }
        self.layout().expect_domain().map_err(|e| match e {
            StorageError::DomainMissing { path, .. } => StorageError::DomainUnavailable {
                id: self.id,
                reason: format!("{} is missing; check the storage, then attach the domain again", path.display()),
            },
            other => other,
        })
    }
}

/// The persisted form of [`Domain`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DomainRecord {
    id: StorageDomainId,
    connection: StorageDomainConnection,
    root: PathBuf,
    #[serde(default)]
    mount_point: Option<PathBuf>,
    #[serde(default)]
    mounted_by_us: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    domains: Vec<DomainRecord>,
}

/// The result of reaching a connection's storage.
#[derive(Debug)]
struct Connected {
    root: PathBuf,
    mount_point: Option<PathBuf>,
    /// This call mounted it (undo unmounts).
    mounted_now: bool,
    /// This call created the mount-point directory (undo removes it).
    created_mount_dir: bool,
}

/// The storage domains attached to this host and their volumes. `Send + Sync`; share it behind
/// an `Arc`.
#[derive(Debug)]
pub struct StorageManager {
    state_path: PathBuf,
    mount_root: PathBuf,
    domains: Mutex<BTreeMap<StorageDomainId, Arc<Domain>>>,
    /// Serialises create/attach/detach (they change the set of domains and the state file).
    admin: tokio::sync::Mutex<()>,
    /// The user QEMU runs as: a domain's directories must be reachable by it.
    qemu: Arc<QemuAccess>,
    /// Which directories may hold a local domain.
    host_files: crate::host_files::HostFiles,
}

/// Runs blocking file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Internal(format!("a storage task failed: {e}")))?
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn check_text(what: &str, text: &str) -> Result<(), StorageError> {
    if text.len() > MAX_TEXT {
        return Err(StorageError::InvalidInput(format!("the {what} is too long (at most {MAX_TEXT} bytes)")));
    }
    if text.chars().any(char::is_control) {
        return Err(StorageError::InvalidInput(format!(
            "the {what} must not contain line breaks or control characters"
        )));
    }
    Ok(())
}

fn check_size(what: &str, size: ByteSize) -> Result<(), StorageError> {
    if size.bytes() == 0 {
        return Err(StorageError::InvalidInput(format!("the {what} must be greater than zero")));
    }
    if !size.bytes().is_multiple_of(SECTOR) {
        return Err(StorageError::InvalidInput(format!(
            "the {what} ({} bytes) must be a multiple of {SECTOR} bytes",
            size.bytes()
        )));
    }
    if i64::try_from(size.bytes()).is_err() {
        return Err(StorageError::InvalidInput(format!("the {what} ({} bytes) is too large", size.bytes())));
    }
    Ok(())
}

fn describe_connection(connection: &StorageDomainConnection) -> String {
    match connection {
        StorageDomainConnection::Localfs { path } => format!("localfs {}", path.display()),
        StorageDomainConnection::Posixfs { spec, vfs_type, .. } => format!("posixfs {spec} ({vfs_type})"),
        StorageDomainConnection::Nfs { spec, .. } => format!("nfs {spec}"),
    }
}

/// Removes what a failed volume creation made, unless disarmed.
#[derive(Debug, Default)]
struct VolumeCleanup {
    files: Vec<PathBuf>,
    image_dir: Option<PathBuf>,
    armed: bool,
}

impl VolumeCleanup {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for VolumeCleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for file in &self.files {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(path = %file.display(), error = %e, "cannot remove a half-made volume file"),
            }
        }
        if let Some(dir) = &self.image_dir {
            // Only if empty: another volume may have appeared meanwhile.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl StorageManager {
    /// Opens the storage state in `state_dir` (creating the directory if needed); POSIX and NFS
    /// connections are mounted under `mount_root`. Known domains are re-verified; problems are
    /// logged and reported by later calls, not here.
    pub fn open(state_dir: &Path, mount_root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| StorageError::io(format!("create the state dir {}", state_dir.display()), e))?;
        std::fs::create_dir_all(mount_root)
            .map_err(|e| StorageError::io(format!("create the mount root {}", mount_root.display()), e))?;
        // Mountinfo lists real paths: resolve symlinks once, here.
        let mount_root = mount_root
            .canonicalize()
            .map_err(|e| StorageError::io(format!("resolve the mount root {}", mount_root.display()), e))?;
        let state_path = state_dir.join(STATE_FILE);
        let records = match std::fs::read(&state_path) {
            Ok(bytes) => {
                let state: StateFile = serde_json::from_slice(&bytes)
                    .map_err(|e| StorageError::State { path: state_path.clone(), reason: e.to_string() })?;
                if state.version != 1 {
                    return Err(StorageError::State {
                        path: state_path,
                        reason: format!("unknown version {}", state.version),
                    });
                }
                state.domains
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StorageError::io(format!("read {}", state_path.display()), e)),
        };
        let mut domains = BTreeMap::new();
        for record in records {
            let domain = Arc::new(Domain {
                id: record.id,
                connection: record.connection,
                root: record.root,
                mount_point: record.mount_point,
                mounted_by_us: AtomicBool::new(record.mounted_by_us),
                lock: Arc::new(tokio::sync::Mutex::new(())),
            });
            match domain.verify() {
                Ok(_) => tracing::info!(sd = %domain.id, root = %domain.root.display(), "storage domain attached"),
                Err(e) => tracing::warn!(sd = %domain.id, error = %e, "storage domain known but not usable"),
            }
            domains.insert(domain.id, domain);
        }
        Ok(StorageManager {
            state_path,
            mount_root,
            domains: Mutex::new(domains),
            admin: tokio::sync::Mutex::new(()),
            qemu: Arc::new(QemuAccess::root()),
            host_files: Default::default(),
        })
    }

    /// Checks domains against `qemu` (the user QEMU runs as) when they are created or
    /// attached; without it, QEMU is taken to run as root.
    pub fn with_qemu_access(mut self, qemu: Arc<QemuAccess>) -> Self {
        self.qemu = qemu;
        self
    }

    /// Local domains are refused in system directories and in (or around) these directories.
    pub fn with_host_files(mut self, host_files: crate::host_files::HostFiles) -> Self {
        self.host_files = host_files;
        self
    }

    /// Refuses a domain root (`what`) that QEMU could not enter, naming the directory.
    async fn check_reachable(&self, id: StorageDomainId, dir: PathBuf) -> Result<(), StorageError> {
        let qemu = self.qemu.clone();
        blocking(move || qemu.check_dir(&format!("storage domain {id}"), &dir).map_err(StorageError::from)).await
    }

    fn domains(&self) -> MutexGuard<'_, BTreeMap<StorageDomainId, Arc<Domain>>> {
        // The map is always consistent (only inserts and removes), so a poisoned lock is usable.
        self.domains.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ids of the attached domains.
    pub fn domain_ids(&self) -> Vec<StorageDomainId> {
        self.domains().keys().copied().collect()
    }

    fn attached(&self, id: StorageDomainId) -> Result<Arc<Domain>, StorageError> {
        self.domains().get(&id).cloned().ok_or(StorageError::DomainNotAttached { id })
    }

    /// Whether `domain` is still the attached domain of its id (it may have been detached
    /// while we waited for its lock).
    fn still_attached(&self, domain: &Arc<Domain>) -> Result<(), StorageError> {
        match self.domains().get(&domain.id) {
            Some(current) if Arc::ptr_eq(current, domain) => Ok(()),
            _ => Err(StorageError::DomainNotAttached { id: domain.id }),
        }
    }

    /// Writes the state file from the map. Call with `admin` held.
    fn persist(&self) -> Result<(), StorageError> {
        let domains = self
            .domains()
            .values()
            .map(|d| DomainRecord {
                id: d.id,
                connection: d.connection.clone(),
                root: d.root.clone(),
                mount_point: d.mount_point.clone(),
                mounted_by_us: d.mounted_by_us.load(Ordering::SeqCst),
            })
            .collect();
        let json = serde_json::to_vec_pretty(&StateFile { version: 1, domains })
            .map_err(|e| StorageError::Internal(format!("cannot serialise the storage state: {e}")))?;
        write_atomic(&self.state_path, &json)
            .map_err(|e| StorageError::io(format!("write {}", self.state_path.display()), e))
    }

    /// Reaches the connection's storage: checks a local directory, or mounts (unless mounted
    /// already) and verifies the mount.
    async fn connect(&self, connection: &StorageDomainConnection) -> Result<Connected, StorageError> {
        let (spec, vfs_type, options) = match connection {
            StorageDomainConnection::Localfs { path } => {
                if !path.is_absolute() {
                    return Err(StorageError::LocalPath { path: path.clone(), reason: "must be absolute".to_owned() });
                }
                return match std::fs::metadata(path) {
                    Ok(meta) if meta.is_dir() => {
                        if let Some(reason) = self.host_files.storage_dir_refusal(path) {
                            return Err(StorageError::LocalPath { path: path.clone(), reason });
                        }
                        Ok(Connected {
                            root: path.clone(),
                            mount_point: None,
                            mounted_now: false,
                            created_mount_dir: false,
                        })
                    }
                    Ok(_) => Err(StorageError::LocalPath {
                        path: path.clone(),
                        reason: "is not a directory; give an existing directory".to_owned(),
                    }),
                    Err(e) => Err(StorageError::LocalPath {
                        path: path.clone(),
                        reason: format!("{e}; create the directory first"),
                    }),
                };
            }
            StorageDomainConnection::Posixfs { spec, vfs_type, mount_options } => {
                (spec, vfs_type.as_str(), mount_options.as_deref())
            }
            StorageDomainConnection::Nfs { spec, mount_options } => (spec, "nfs", mount_options.as_deref()),
        };
        let escaped = mount::escape_spec(spec).map_err(StorageError::InvalidInput)?;
        mount::check_mount_argument("file system type", vfs_type).map_err(StorageError::InvalidInput)?;
        let options = options.filter(|o| !o.is_empty());
        if let Some(options) = options {
            mount::check_mount_argument("mount options", options).map_err(StorageError::InvalidInput)?;
        }
        let mount_point = self.mount_root.join(escaped);
        let mount_error =
            |reason: String| StorageError::Mount { spec: spec.clone(), mount_point: mount_point.clone(), reason };
        let created_mount_dir = match std::fs::create_dir(&mount_point) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(mount_error(format!("cannot create the mount point: {e}"))),
        };
        let remove_dir = || {
            if created_mount_dir {
                let _ = std::fs::remove_dir(&mount_point);
            }
        };
        let mounted = match mount::is_mount_point(&mount_point) {
            Ok(mounted) => mounted,
            Err(e) => {
                remove_dir();
                return Err(mount_error(format!("cannot read /proc/self/mountinfo: {e}")));
            }
        };
        if mounted {
            tracing::info!(spec, mount_point = %mount_point.display(), "already mounted");
            return Ok(Connected {
                root: mount_point.clone(),
                mount_point: Some(mount_point),
                mounted_now: false,
                created_mount_dir,
            });
        }
        if let Err(reason) = mount::mount(spec, vfs_type, options, &mount_point).await {
            remove_dir();
            return Err(mount_error(reason));
        }
        match mount::is_mount_point(&mount_point) {
            Ok(true) => {}
            Ok(false) => {
                remove_dir();
                return Err(mount_error("mount reported success, but nothing is mounted there".to_owned()));
            }
            Err(e) => {
                let _ = mount::unmount(&mount_point).await;
                remove_dir();
                return Err(mount_error(format!("cannot read /proc/self/mountinfo: {e}")));
            }
        }
        tracing::info!(spec, mount_point = %mount_point.display(), "mounted");
        Ok(Connected {
            root: mount_point.clone(),
            mount_point: Some(mount_point),
            mounted_now: true,
            created_mount_dir,
        })
    }

    /// Undoes [`Self::connect`] after a later failure.
    async fn disconnect_after_failure(&self, connected: &Connected) {
        let Some(mount_point) = &connected.mount_point else { return };
        if connected.mounted_now
            && let Err(reason) = mount::unmount(mount_point).await
        {
            tracing::error!(mount_point = %mount_point.display(), reason, "cannot unmount after a failure");
            return;
        }
        if connected.created_mount_dir {
            let _ = std::fs::remove_dir(mount_point);
        }
    }

    /// Registers a connected domain and writes the state file; undoes both on failure.
    fn register(
        &self,
        id: StorageDomainId,
        connection: &StorageDomainConnection,
        connected: &Connected,
    ) -> Result<Arc<Domain>, StorageError> {
        // A mount shared with a domain of ours that we mounted stays "ours".
        let inherited = connected.mount_point.as_ref().is_some_and(|mp| {
            self.domains()
                .values()
                .any(|d| d.mount_point.as_ref() == Some(mp) && d.mounted_by_us.load(Ordering::SeqCst))
        });
        let domain = Arc::new(Domain {
            id,
            connection: connection.clone(),
            root: connected.root.clone(),
            mount_point: connected.mount_point.clone(),
            mounted_by_us: AtomicBool::new(connected.mounted_now || inherited),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        });
        self.domains().insert(id, domain.clone());
        if let Err(e) = self.persist() {
            self.domains().remove(&id);
            return Err(e);
        }
        Ok(domain)
    }

    /// Formats a new domain on the connection and leaves it attached.
    pub async fn domain_create(&self, req: &StorageDomainCreate) -> Result<StorageDomainInfo, StorageError> {
        if req.name.trim().is_empty() {
            return Err(StorageError::InvalidInput("the storage domain name must not be empty".to_owned()));
        }
        check_text("storage domain name", &req.name)?;
        let _admin = self.admin.lock().await;
        if self.domains().contains_key(&req.id) {
            return Err(StorageError::DomainAlreadyAttached { id: req.id });
        }
        let connected = self.connect(&req.connection).await?;
        if let Err(e) = self.check_reachable(req.id, connected.root.clone()).await {
            self.disconnect_after_failure(&connected).await;
            return Err(e);
        }
        let (storage_type, remote_path) = match &req.connection {
            StorageDomainConnection::Localfs { .. } => (StorageType::Localfs, None),
            StorageDomainConnection::Posixfs { spec, .. } => (StorageType::Posixfs, Some(spec.clone())),
            StorageDomainConnection::Nfs { spec, .. } => (StorageType::Nfs, Some(spec.clone())),
        };
        let meta = DomainMetadata {
            id: req.id,
            name: req.name.clone(),
            domain_type: req.domain_type,
            storage_type,
            version: metadata::DOMAIN_VERSION,
            created: now_secs(),
            remote_path,
        };
        let layout = DomainLayout::new(&connected.root, req.id);
        let root = connected.root.clone();
        let formatted = blocking({
            let layout = layout.clone();
            move || format_domain(&root, &layout, &meta)
        })
        .await;
        if let Err(e) = formatted {
            self.disconnect_after_failure(&connected).await;
            return Err(e);
        }
        let domain = match self.register(req.id, &req.connection, &connected) {
            Ok(domain) => domain,
            Err(e) => {
                let dir = layout.dir.clone();
                let _ = blocking(move || {
                    std::fs::remove_dir_all(&dir).map_err(|e| StorageError::io(format!("remove {}", dir.display()), e))
                })
                .await;
                self.disconnect_after_failure(&connected).await;
                return Err(e);
            }
        };
        tracing::info!(sd = %req.id, root = %domain.root.display(), "storage domain created");
        Self::info_of(domain).await
    }

    /// Attaches an existing domain: reaches the connection and checks that the domain there is
    /// `id`. Attaching an attached domain with the same connection re-verifies it (and mounts it
    /// again if its mount went away).
    pub async fn domain_attach(
        &self,
        id: StorageDomainId,
        connection: &StorageDomainConnection,
    ) -> Result<StorageDomainInfo, StorageError> {
        let _admin = self.admin.lock().await;
        let existing = self.domains().get(&id).cloned();
        if let Some(existing) = &existing
            && existing.connection != *connection
        {
            return Err(StorageError::DomainAttachedOtherwise {
                id,
                current: describe_connection(&existing.connection),
            });
        }
        let connected = self.connect(connection).await?;
        let layout = DomainLayout::new(&connected.root, id);
        let images = layout.images_dir();
        let found = blocking(move || layout.expect_domain()).await;
        let reachable = match found {
            Ok(_) => self.check_reachable(id, images).await,
            Err(e) => Err(e),
        };
        if let Err(e) = reachable {
            self.disconnect_after_failure(&connected).await;
            return Err(e);
        }
        let domain = match existing {
            Some(existing) => {
                if connected.mounted_now {
                    existing.mounted_by_us.store(true, Ordering::SeqCst);
                    self.persist()?;
                }
                existing
            }
            None => match self.register(id, connection, &connected) {
                Ok(domain) => domain,
                Err(e) => {
                    self.disconnect_after_failure(&connected).await;
                    return Err(e);
                }
            },
        };
        tracing::info!(sd = %id, root = %domain.root.display(), "storage domain attached");
        Self::info_of(domain).await
    }

    /// Forgets a domain on this host, unmounting its mount if the agent mounted it and no
    /// other attached domain lives there. Waits for running volume operations on it.
    pub async fn domain_detach(&self, id: StorageDomainId) -> Result<(), StorageError> {
        let _admin = self.admin.lock().await;
        let domain = self.attached(id)?;
        let _volumes = domain.lock.clone().lock_owned().await;
        if let Some(mount_point) = &domain.mount_point {
            let sharer =
                self.domains().values().find(|d| d.id != id && d.mount_point.as_ref() == Some(mount_point)).cloned();
            let ours = domain.mounted_by_us.load(Ordering::SeqCst);
            match sharer {
                Some(sharer) if ours => {
                    // The mount stays for the sharer, which now owns it.
                    sharer.mounted_by_us.store(true, Ordering::SeqCst);
                }
                None if ours => {
                    let mounted = mount::is_mount_point(mount_point)
                        .map_err(|e| StorageError::io("read /proc/self/mountinfo", e))?;
                    if mounted {
                        mount::unmount(mount_point)
                            .await
                            .map_err(|reason| StorageError::Unmount { mount_point: mount_point.clone(), reason })?;
                    }
                    // Only if empty (it is, once unmounted): never remove data.
                    let _ = std::fs::remove_dir(mount_point);
                }
                _ => {}
            }
        }
        self.domains().remove(&id);
        if let Err(e) = self.persist() {
            self.domains().insert(id, domain);
            return Err(e);
        }
        tracing::info!(sd = %id, "storage domain detached");
        Ok(())
    }

    /// The domain's description and space.
    pub async fn domain_info(&self, id: StorageDomainId) -> Result<StorageDomainInfo, StorageError> {
        Self::info_of(self.attached(id)?).await
    }

    async fn info_of(domain: Arc<Domain>) -> Result<StorageDomainInfo, StorageError> {
        blocking(move || {
            let meta = domain.verify()?;
            let layout = domain.layout();
            let (total, available) = layout::file_system_space(&layout.dir)
                .map_err(|e| StorageError::io(format!("statvfs {}", layout.dir.display()), e))?;
            // The file system's used space, as VDSM reports for file domains: statvfs only,
            // so that asking stays cheap however many volumes the domain holds (walking the
            // domain's files made every call O(volumes)).
            let used = total.saturating_sub(available);
            Ok(StorageDomainInfo {
                id: domain.id,
                name: meta.name,
                domain_type: meta.domain_type,
                path: layout.dir,
                total: ByteSize(total),
                available: ByteSize(available),
                used: ByteSize(used),
            })
        })
        .await
    }

    /// Takes the domain's volume lock and checks the domain is still attached and reachable.
    async fn lock_domain(
        &self,
        sd: StorageDomainId,
    ) -> Result<(Arc<Domain>, tokio::sync::OwnedMutexGuard<()>), StorageError> {
        let domain = self.attached(sd)?;
        let guard = domain.lock.clone().lock_owned().await;
        self.still_attached(&domain)?;
        let check = domain.clone();
        blocking(move || check.verify().map(drop)).await?;
        Ok((domain, guard))
    }

    /// Creates a volume (optionally on top of a parent in the same domain).
    pub async fn volume_create(&self, sd: StorageDomainId, req: &VolumeCreate) -> Result<VolumeInfo, StorageError> {
        if let Some(size) = req.size {
            check_size("volume size", size)?;
        }
        check_text("volume description", &req.description)?;
        if req.parent.is_some() {
            if req.format != VolumeFormat::Cow {
                return Err(StorageError::InvalidInput(
                    "a volume with a parent must be in the cow (qcow2) format".to_owned(),
                ));
            }
            if !req.sparse {
                return Err(StorageError::InvalidInput(
                    "a volume with a parent must be sparse (qcow2 cannot preallocate over a backing file)".to_owned(),
                ));
            }
        } else if req.size.is_none() {
            return Err(StorageError::InvalidInput(
                "the volume size is required for a volume without a parent".to_owned(),
            ));
        }
        if req.parent.is_some_and(|p| p.volume_id == req.volume_id) {
            return Err(StorageError::InvalidInput("a volume cannot be its own parent".to_owned()));
        }
        let (domain, guard) = self.lock_domain(sd).await?;
        let layout = domain.layout();
        let reference = VolumeRef { image_id: req.image_id, volume_id: req.volume_id };

        // Phase 1: checks, and the image directory.
        let prepared = blocking({
            let layout = layout.clone();
            let parent = req.parent;
            move || {
                if let Some(image) = layout.image_holding(reference.volume_id)? {
                    return Err(StorageError::VolumeExists { sd: layout.id, volume: reference, image });
                }
                let parent_meta = match parent {
                    None => None,
                    Some(parent) => {
                        let meta = layout
                            .read_volume_metadata(parent)?
                            .ok_or(StorageError::ParentNotFound { sd: layout.id, parent })?;
                        if meta.legality != Legality::Legal {
                            return Err(StorageError::VolumeIllegal { sd: layout.id, volume: parent });
                        }
                        if !layout.volume_path(parent).is_file() {
                            return Err(StorageError::ParentNotFound { sd: layout.id, parent });
                        }
                        Some(meta)
                    }
                };
                let image_dir = layout.image_dir(reference.image_id);
                let created_image_dir = match std::fs::create_dir(&image_dir) {
                    Ok(()) => {
                        // QEMU (another user) opens the volumes in it.
                        access::make_traversable(&image_dir).map_err(|e| {
                            StorageError::io(format!("make {} searchable (o+x)", image_dir.display()), e)
                        })?;
                        true
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                    Err(e) => {
                        return Err(StorageError::io(format!("create the image directory {}", image_dir.display()), e));
                    }
                };
                Ok((parent_meta, created_image_dir))
            }
        })
        .await?;
        let (parent_meta, created_image_dir) = prepared;
        let mut cleanup = VolumeCleanup {
            files: Vec::new(),
            image_dir: created_image_dir.then(|| layout.image_dir(reference.image_id)),
            armed: true,
        };

        let size = match (&parent_meta, req.size) {
            (Some(parent), Some(size)) if size < parent.capacity => {
                return Err(StorageError::InvalidInput(format!(
                    "the volume size ({size}) must not be smaller than its parent's ({})",
                    parent.capacity
                )));
            }
            (_, Some(size)) => size,
            (Some(parent), None) => parent.capacity,
            (None, None) => return Err(StorageError::InvalidInput("the volume size is required".to_owned())),
        };

        // Phase 2: the image, under a temporary name.
        let temp = layout.image_dir(reference.image_id).join(format!(
            ".{}.creating-{}",
            reference.volume_id,
            uuid::Uuid::new_v4().simple()
        ));
        cleanup.files.push(temp.clone());
        let backing =
            parent_meta.as_ref().map(|p| (DomainLayout::relative_backing(reference.image_id, p.reference()), p.format));
        qemu_img::create(
            &temp,
            qemu_img::CreateSpec {
                format: req.format,
                size,
                preallocated: !req.sparse,
                backing: backing.as_ref().map(|(name, format)| (name.as_str(), *format)),
            },
        )
        .await
        .map_err(|source| StorageError::QemuImg { volume: show_volume(&reference), source })?;

        // Phase 3: metadata (ILLEGAL), the real name, then LEGAL.
        let mut meta = VolumeMetadata {
            domain: sd,
            image: reference.image_id,
            volume: reference.volume_id,
            parent: req.parent,
            format: req.format,
            preallocated: !req.sparse,
            capacity: size,
            description: req.description.clone(),
            created: now_secs(),
            legality: Legality::Illegal,
        };
        let meta_path = layout.meta_path(reference);
        let volume_path = layout.volume_path(reference);
        cleanup.files.push(meta_path.clone());
        cleanup.files.push(volume_path.clone());
        // The blocking task owns the cleanup and the domain lock: if our caller goes away
        // mid-way, the task still finishes (or cleans up) before anyone else touches the domain.
        blocking(move || {
            let (mut cleanup, _guard) = (cleanup, guard);
            write_meta(&meta_path, &meta)?;
            std::fs::rename(&temp, &volume_path)
                .map_err(|e| StorageError::io(format!("rename the new volume to {}", volume_path.display()), e))?;
            meta.legality = Legality::Legal;
            write_meta(&meta_path, &meta)?;
            cleanup.disarm();
            Ok(())
        })
        .await?;
        tracing::info!(sd = %sd, volume = %show_volume(&reference), format = ?req.format, size = %size, "volume created");
        volume_info_of(&layout, reference, Some(size)).await
    }

    /// Every volume on the domain, legal or not (see [`VolumeList`]): read from the metadata
    /// and the file system, without qemu-img and without the domain's lock.
    pub async fn volume_list(&self, sd: StorageDomainId) -> Result<VolumeList, StorageError> {
        let domain = self.attached(sd)?;
        blocking(move || {
            domain.verify()?;
            Ok(VolumeList { storage_domain_id: sd, volumes: domain.layout().volume_list()? })
        })
        .await
    }

    /// A volume's sizes, format and chain.
    pub async fn volume_info(&self, sd: StorageDomainId, volume: VolumeRef) -> Result<VolumeInfo, StorageError> {
        let domain = self.attached(sd)?;
        let check = domain.clone();
        blocking(move || check.verify().map(drop)).await?;
        volume_info_of(&domain.layout(), volume, None).await
    }

    /// Grows a volume to `size` (shrinking is refused: it would cut off guest data).
    ///
    /// `live` is asked first, with the volume's path: when a running VM has the file open,
    /// qemu-img must not touch it (QEMU holds its lock and caches its header), so `live` grows
    /// it through that VM's QEMU and answers `Ok(true)`; `Ok(false)` means no VM has it open and
    /// qemu-img grows it. The domain stays locked throughout, and the metadata follows either.
    pub async fn volume_resize(
        &self,
        sd: StorageDomainId,
        volume: VolumeRef,
        size: ByteSize,
        live: impl AsyncFnOnce(&Path) -> Result<bool, String>,
    ) -> Result<VolumeInfo, StorageError> {
        check_size("new volume size", size)?;
        let (domain, _guard) = self.lock_domain(sd).await?;
        let layout = domain.layout();
        let meta = blocking({
            let layout = layout.clone();
            move || {
                let meta = layout.read_volume_metadata(volume)?.ok_or(StorageError::VolumeNotFound { sd, volume })?;
                if meta.legality != Legality::Legal {
                    return Err(StorageError::VolumeIllegal { sd, volume });
                }
                let children = layout.children_of(volume)?;
                if !children.is_empty() {
                    return Err(StorageError::VolumeHasChildren { sd, volume, children });
                }
                Ok(meta)
            }
        })
        .await?;
        let path = layout.volume_path(volume);
        let current = qemu_img::info(&path, meta.format)
            .await
            .map_err(|source| StorageError::QemuImg { volume: show_volume(&volume), source })?;
        let current = ByteSize(current.virtual_size);
        if size < current {
            return Err(StorageError::InvalidInput(format!(
                "volume {} is {current}; shrinking it to {size} is not supported (it would cut off guest data)",
                show_volume(&volume)
            )));
        }
        if size > current {
            let grown_live = live(&path)
                .await
                .map_err(|reason| StorageError::LiveResize { volume: show_volume(&volume), reason })?;
            if !grown_live {
                qemu_img::grow(&path, meta.format, size, meta.preallocated)
                    .await
                    .map_err(|source| StorageError::QemuImg { volume: show_volume(&volume), source })?;
            }
        }
        if meta.capacity != size {
            let meta_path = layout.meta_path(volume);
            let meta = VolumeMetadata { capacity: size, ..meta };
            blocking(move || write_meta(&meta_path, &meta)).await?;
        }
        tracing::info!(sd = %sd, volume = %show_volume(&volume), size = %size, "volume resized");
        volume_info_of(&layout, volume, None).await
    }

    /// Gives the zeroed space of a thin volume back to its storage: qemu-img copies it without
    /// its zeroed clusters to `<volume>.sparsify` beside it, which then replaces it by rename(2)
    /// (same mode and owner), so a crash leaves the old file or the new one, never half of
    /// either; a leftover copy is removed by the next try. Only zeroed space is reclaimed:
    /// space a guest freed without discarding or zeroing it stays (oVirt runs
    /// `virt-sparsify` inside the guest's file systems; that needs libguestfs' appliance).
    ///
    /// Refused for preallocated volumes (their space is meant to stay reserved), volumes in a
    /// chain (a parent or children: copying would flatten or orphan them), and while `open_by`
    /// names a running VM with the file open.
    pub async fn volume_sparsify(
        &self,
        sd: StorageDomainId,
        volume: VolumeRef,
        open_by: impl AsyncFnOnce(&Path) -> Result<Option<VmId>, String>,
    ) -> Result<VolumeInfo, StorageError> {
        let (domain, _guard) = self.lock_domain(sd).await?;
        let layout = domain.layout();
        let shown = show_volume(&volume);
        let meta = blocking({
            let layout = layout.clone();
            let shown = shown.clone();
            move || {
                let meta = layout.read_volume_metadata(volume)?.ok_or(StorageError::VolumeNotFound { sd, volume })?;
                if meta.legality != Legality::Legal {
                    return Err(StorageError::VolumeIllegal { sd, volume });
                }
                let refuse =
                    |reason: &str| StorageError::NotSparsifiable { volume: shown.clone(), reason: reason.into() };
                if meta.preallocated {
                    return Err(refuse("it is preallocated; only thin volumes are sparsified"));
                }
                if meta.parent.is_some() || !layout.children_of(volume)?.is_empty() {
                    return Err(refuse("it is part of a chain of volumes (snapshots or a template)"));
                }
                Ok(meta)
            }
        })
        .await?;
        let path = layout.volume_path(volume);
        match open_by(&path).await {
            Ok(None) => {}
            Ok(Some(vm)) => return Err(StorageError::VolumeInUse { volume: shown, vm }),
            Err(reason) => {
                return Err(StorageError::Internal(format!(
                    "cannot tell whether a VM has volume {shown} open: {reason}"
                )));
            }
        }
        let temp = path.with_extension("sparsify");
        let _ = std::fs::remove_file(&temp);
        if let Err(source) = qemu_img::convert_sparse(&path, &temp, meta.format).await {
            let _ = std::fs::remove_file(&temp);
            return Err(StorageError::QemuImg { volume: shown, source });
        }
        blocking({
            let (path, temp) = (path.clone(), temp.clone());
            move || {
                let io = |what: &str, p: &Path| {
                    let what = format!("{what} {}", p.display());
                    move |e| StorageError::io(what, e)
                };
                let result = (|| {
                    use std::os::unix::fs::MetadataExt as _;
                    let old = std::fs::metadata(&path).map_err(io("read the mode of", &path))?;
                    std::fs::set_permissions(&temp, old.permissions()).map_err(io("set the mode of", &temp))?;
                    std::os::unix::fs::chown(&temp, Some(old.uid()), Some(old.gid()))
                        .map_err(io("set the owner of", &temp))?;
                    std::fs::File::open(&temp).and_then(|f| f.sync_all()).map_err(io("flush", &temp))?;
                    std::fs::rename(&temp, &path).map_err(io("replace", &path))?;
                    let dir = path.parent().unwrap_or(Path::new("/"));
                    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io("flush", dir))
                })();
                if result.is_err() {
                    let _ = std::fs::remove_file(&temp);
                }
                result
            }
        })
        .await?;
        tracing::info!(sd = %sd, volume = %shown, "volume sparsified");
        volume_info_of(&layout, volume, None).await
    }

    /// Deletes a volume (file and metadata, and its image directory once empty). Refused while
    /// another volume has it as its parent.
    pub async fn volume_delete(&self, sd: StorageDomainId, volume: VolumeRef) -> Result<(), StorageError> {
        let (domain, guard) = self.lock_domain(sd).await?;
        let layout = domain.layout();
        // The task holds the lock until it is done, even if our caller goes away.
        blocking(move || {
            let _guard = guard;
            let volume_path = layout.volume_path(volume);
            let meta_path = layout.meta_path(volume);
            if volume_path.symlink_metadata().is_err() && meta_path.symlink_metadata().is_err() {
                return Err(StorageError::VolumeNotFound { sd, volume });
            }
            let children = layout.children_of(volume)?;
            if !children.is_empty() {
                return Err(StorageError::VolumeHasChildren { sd, volume, children });
            }
            for path in [&volume_path, &meta_path] {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::io(format!("remove {}", path.display()), e)),
                }
            }
            // Only if empty: the image's other volumes stay.
            let _ = std::fs::remove_dir(layout.image_dir(volume.image_id));
            Ok(())
        })
        .await?;
        tracing::info!(sd = %sd, volume = %show_volume(&volume), "volume deleted");
        Ok(())
    }

    /// For the hypervisor: the volume's file and format. Fails unless the domain is attached
    /// and reachable and the volume exists and is legal.
    pub async fn volume_path(
        &self,
        sd: StorageDomainId,
        volume: VolumeRef,
    ) -> Result<(PathBuf, VolumeFormat), StorageError> {
        let domain = self.attached(sd)?;
        blocking(move || {
            domain.verify()?;
            let layout = domain.layout();
            let meta = layout.read_volume_metadata(volume)?.ok_or(StorageError::VolumeNotFound { sd, volume })?;
            if meta.legality != Legality::Legal {
                return Err(StorageError::VolumeIllegal { sd, volume });
            }
            let path = layout.volume_path(volume);
            if !path.is_file() {
                return Err(StorageError::Metadata {
                    path: layout.meta_path(volume),
                    reason: format!("it describes {}, which is missing", path.display()),
                });
            }
            Ok((path, meta.format))
        })
        .await
    }
}

fn write_meta(path: &Path, meta: &VolumeMetadata) -> Result<(), StorageError> {
    let text = meta.to_text().map_err(|e| StorageError::InvalidInput(e.to_string()))?;
    write_atomic(path, text.as_bytes()).map_err(|e| StorageError::io(format!("write {}", path.display()), e))
}

/// Lays out a new domain under a temporary name and renames it into place, so that a failure
/// never leaves a half-formatted domain.
fn format_domain(root: &Path, layout: &DomainLayout, meta: &DomainMetadata) -> Result<(), StorageError> {
    if layout.metadata_path().exists() {
        return Err(StorageError::DomainExists { id: layout.id, path: layout.dir.clone() });
    }
    let text = meta.to_text().map_err(|e| StorageError::InvalidInput(e.to_string()))?;
    let temp = root.join(format!(".{}.creating-{}", layout.id, uuid::Uuid::new_v4().simple()));
    let temp_layout = DomainLayout { id: layout.id, dir: temp.clone() };
    let result = (|| {
        let io = |what: &str, path: &Path| {
            let what = format!("{what} {}", path.display());
            move |e| StorageError::io(what, e)
        };
        std::fs::create_dir(&temp).map_err(io("create", &temp))?;
        std::fs::create_dir(temp_layout.dom_md_dir()).map_err(io("create", &temp_layout.dom_md_dir()))?;
        std::fs::create_dir(temp_layout.images_dir()).map_err(io("create", &temp_layout.images_dir()))?;
        // QEMU, running as another user, passes through both to the volumes.
        for dir in [temp.clone(), temp_layout.images_dir()] {
            access::make_traversable(&dir).map_err(io("make searchable (o+x)", &dir))?;
        }
        write_atomic(&temp_layout.metadata_path(), text.as_bytes())
            .map_err(io("write", &temp_layout.metadata_path()))?;
        // rename(2) replaces an empty directory and fails on a non-empty one.
        std::fs::rename(&temp, &layout.dir).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTEMPTY) | Some(libc::EEXIST) | Some(libc::ENOTDIR) | Some(libc::EISDIR) => {
                StorageError::DomainExists { id: layout.id, path: layout.dir.clone() }
            }
            _ => StorageError::io(format!("rename {} to {}", temp.display(), layout.dir.display()), e),
        })?;
        std::fs::File::open(root).and_then(|f| f.sync_all()).map_err(io("flush", root))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

/// Builds a [`VolumeInfo`]: qemu-img for the virtual size, the file system for the allocation,
/// the metadata for the chain.
/// A volume's description. `known_virtual_size` skips asking qemu-img (a process per call)
/// when the caller just made the image with that size.
async fn volume_info_of(
    layout: &DomainLayout,
    volume: VolumeRef,
    known_virtual_size: Option<ByteSize>,
) -> Result<VolumeInfo, StorageError> {
    let sd = layout.id;
    let (meta, chain, actual) = blocking({
        let layout = layout.clone();
        move || {
            let meta = layout.read_volume_metadata(volume)?.ok_or(StorageError::VolumeNotFound { sd, volume })?;
            let path = layout.volume_path(volume);
            let actual = match layout::allocated_size(&path) {
                Ok(actual) => actual,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StorageError::Metadata {
                        path: layout.meta_path(volume),
                        reason: format!("it describes {}, which is missing", path.display()),
                    });
                }
                Err(e) => return Err(StorageError::io(format!("stat {}", path.display()), e)),
            };
            let chain = layout.chain(&meta)?;
            Ok((meta, chain, actual))
        }
    })
    .await?;
    let path = layout.volume_path(volume);
    let virtual_size = match known_virtual_size {
        Some(size) => size,
        None => ByteSize(
            qemu_img::info(&path, meta.format)
                .await
                .map_err(|source| StorageError::QemuImg { volume: show_volume(&volume), source })?
                .virtual_size,
        ),
    };
    Ok(VolumeInfo {
        storage_domain_id: sd,
        image_id: volume.image_id,
        volume_id: volume.volume_id,
        path,
        format: meta.format,
        virtual_size,
        actual_size: ByteSize(actual),
        parent: meta.parent,
        chain,
        legal: meta.legality == Legality::Legal,
    })
}

/// The `live` answer of [`StorageManager::volume_resize`] where no VM can have the volume open
/// (tests, and tools that run without a hypervisor): qemu-img grows it.
pub async fn not_open_by_a_vm(_path: &Path) -> Result<bool, String> {
    Ok(false)
}

/// The `open_by` answer of [`StorageManager::volume_sparsify`] where no VM can have the volume
/// open (tests, and tools that run without a hypervisor).
pub async fn open_by_no_vm(_path: &Path) -> Result<Option<VmId>, String> {
    Ok(None)
}
