//! cloud-init NoCloud data sources: the ISO 9660 image labelled `cidata` with `user-data`,
//! `meta-data` and `network-config` that cloud-init (and cloudbase-init) find on a CD-ROM at
//! first boot.
//!
//! Why the agent builds it and the engine writes the files: what goes into them (users,
//! passwords, addresses) is the engine's translation of oVirt's `initialization`; the image
//! must be on the host that runs the VM, in a directory QEMU can enter, and live only as long
//! as the run it was made for (a run-once start). It is removed when the VM goes down and
//! rebuilt at every start that asks for it.
//!
//! Why `genisoimage`: it writes the Rock Ridge and Joliet names (`user-data` is not an ISO 9660
//! level 1 name) every cloud-init reader expects; a missing tool is an error naming the
//! package, before anything else of the start happens.

use oxvirt_agent_api::v1::CloudInit;
use oxvirt_types::{ErrorKind, VmId};
use std::path::{Path, PathBuf};

/// The volume label cloud-init's NoCloud source looks for.
pub const VOLUME_LABEL: &str = "cidata";
/// The tool that writes the image (Debian package of the same name).
pub const ISO_TOOL: &str = "genisoimage";
/// Largest file accepted (cloud-init's own limit for user data is 16 KiB on some clouds; a
/// NoCloud image has none, this only bounds what a request can make the host write).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CloudInitError {
    #[error(
        "cannot build the cloud-init image of VM {vm}: {ISO_TOOL} is not installed on this host; install it \
         (apt install {ISO_TOOL}) or start the VM without cloud-init"
    )]
    ToolMissing { vm: String },
    #[error("cannot build the cloud-init image of VM {vm}: {file} is {len} bytes, more than {MAX_FILE_BYTES}")]
    TooLarge { vm: String, file: &'static str, len: usize },
    #[error("cannot build the cloud-init image of VM {vm} in {path}: {source}")]
    Io { vm: String, path: PathBuf, source: std::io::Error },
    #[error("cannot prepare the directory of cloud-init images {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("cannot build the cloud-init image of VM {vm}: {ISO_TOOL} failed: {stderr}")]
    Tool { vm: String, stderr: String },
}

impl CloudInitError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CloudInitError::ToolMissing { .. } => ErrorKind::Conflict,
            CloudInitError::TooLarge { .. } => ErrorKind::InvalidInput,
            CloudInitError::Io { .. } | CloudInitError::Dir { .. } | CloudInitError::Tool { .. } => ErrorKind::Internal,
        }
    }
}

/// Where VM `id`'s image lives in `dir`.
pub fn iso_path(dir: &Path, id: VmId) -> PathBuf {
    dir.join(format!("{id}.iso"))
}

/// Writes VM `id`'s NoCloud image into `dir` (replacing an earlier one) and returns its path.
pub async fn iso_write(dir: &Path, id: VmId, vm: &str, data: &CloudInit) -> Result<PathBuf, CloudInitError> {
    let mut files = vec![("meta-data", data.meta_data.as_str()), ("user-data", data.user_data.as_str())];
    if let Some(network) = &data.network_config {
        files.push(("network-config", network.as_str()));
    }
    for (file, text) in &files {
        if text.len() > MAX_FILE_BYTES {
            return Err(CloudInitError::TooLarge { vm: vm.to_owned(), file, len: text.len() });
        }
    }
    let io = |path: &Path| {
        let (vm, path) = (vm.to_owned(), path.to_owned());
        move |source| CloudInitError::Io { vm, path, source }
    };
    let staging = dir.join(format!("{id}.files"));
    let _ = tokio::fs::remove_dir_all(&staging).await;
    tokio::fs::create_dir_all(&staging).await.map_err(io(&staging))?;
    let built = async {
        let mut paths = Vec::new();
        for (file, text) in &files {
            let path = staging.join(file);
            tokio::fs::write(&path, text).await.map_err(io(&path))?;
            paths.push(path);
        }
        let partial = dir.join(format!("{id}.iso.partial"));
        let out = tokio::process::Command::new(ISO_TOOL)
            .arg("-quiet")
            .arg("-output")
            .arg(&partial)
            .args(["-volid", VOLUME_LABEL, "-joliet", "-rock"])
            .args(&paths)
            .output()
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => CloudInitError::ToolMissing { vm: vm.to_owned() },
                _ => CloudInitError::Io { vm: vm.to_owned(), path: PathBuf::from(ISO_TOOL), source },
            })?;
        if !out.status.success() {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(CloudInitError::Tool {
                vm: vm.to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        let iso = iso_path(dir, id);
        tokio::fs::rename(&partial, &iso).await.map_err(io(&iso))?;
        Ok(iso)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    built
}

/// Removes VM `id`'s image, if any (the VM is down: the run it was made for is over).
pub fn iso_remove(dir: &Path, id: VmId) {
    let path = iso_path(dir, id);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::debug!(path = %path.display(), "removed a cloud-init image"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a cloud-init image"),
    }
}
