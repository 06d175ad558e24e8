//! Reading and atomically writing the files of the state dir.

use super::TlsError;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Mode of private keys and of the enrollment secret.
pub(super) const PRIVATE: u32 = 0o600;
/// Mode of certificates.
pub(super) const PUBLIC: u32 = 0o644;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io { path: path.to_owned(), source }
}

pub(super) fn ensure_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// The file's text, or `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Io { path: path.to_owned(), source }),
    }
}

/// Writes `contents` to `path` so that a crash leaves either the old file or the new one: a
/// temporary file in the same directory (created with `mode`, so a key is never readable by
/// others, not even briefly), fsync, rename, fsync of the directory.
pub(super) fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<(), TlsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover of a crash may have another mode; start afresh so `mode` applies.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(TlsError::Io { path: tmp, source }),
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io(&tmp))?;
    file.write_all(contents.as_bytes()).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

/// Renames `from` to `to` (same directory) and makes the rename durable.
pub(super) fn rename_durable(from: &Path, to: &Path) -> Result<(), TlsError> {
    std::fs::rename(from, to).map_err(io(to))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
