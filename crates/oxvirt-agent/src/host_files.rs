//! Which host files a VM may name: kernels and initrds for direct boot, local storage
//! directories.
//!
//! Why here too (the engine checks the same paths by their letters, `oxvirt_types::host_path`):
//! only the host sees its file system. A path is resolved (symbolic links followed) before it
//! is judged, and the resolved path is what libvirt gets, so a link planted inside a boot
//! directory cannot lead QEMU — or libvirt, which chowns what it hands QEMU — to `/etc/shadow`.

use oxvirt_types::host_path::{SYSTEM_DIRS, in_system_dir};
use std::path::{Path, PathBuf};

pub use oxvirt_types::host_path::DEFAULT_BOOT_DIR;

/// The boot directories and the agent's own directories (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct HostFiles {
    /// Boot directories as configured; resolved at each check (one may appear, or become a
    /// link, after the agent started).
    boot_dirs: Vec<PathBuf>,
    /// Directories of the agent (state, hooks, mounts) that no storage may be in or hold;
    /// resolved at each check, like the boot directories (they may not exist yet at start).
    own_dirs: Vec<PathBuf>,
}

/// Follows symbolic links; `None` for a path that does not exist.
fn resolve(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

impl HostFiles {
    /// Refuses, naming it, a boot directory that is not absolute and normal or is a system
    /// directory (the agent does not start with one: it could never serve a kernel).
    pub fn new(boot_dirs: &[PathBuf], own_dirs: &[&Path]) -> Result<Self, String> {
        for dir in boot_dirs {
            let text = dir.to_string_lossy();
            if let Some(why) = oxvirt_types::host_path::boot_dir_refusal(&text) {
                return Err(format!("--boot-dirs: '{text}' {why}"));
            }
        }
        Ok(Self { boot_dirs: boot_dirs.to_vec(), own_dirs: own_dirs.iter().map(|d| d.to_path_buf()).collect() })
    }

    fn boot_dirs_text(&self) -> String {
        let dirs: Vec<_> = self.boot_dirs.iter().map(|d| d.display().to_string()).collect();
        if dirs.is_empty() { "(none configured)".to_owned() } else { dirs.join(", ") }
    }

    /// The resolved path of a kernel or initrd, or why it may not be booted.
    pub fn boot_file(&self, path: &Path) -> Result<PathBuf, String> {
        let resolved = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot be read ({e}); put it in a boot directory ({})", self.boot_dirs_text()))?;
        let inside = self
            .boot_dirs
            .iter()
            .filter_map(|d| resolve(d))
            .any(|dir| resolved.starts_with(&dir) && resolved != dir && !in_system_dir(&dir));
        if !inside {
            return Err(format!(
                "is not in a boot directory of this host ({}, the agent's --boot-dirs){}",
                self.boot_dirs_text(),
                if resolved != path { format!("; it resolves to {}", resolved.display()) } else { String::new() }
            ));
        }
        if !resolved.is_file() {
            return Err("is not a regular file".to_owned());
        }
        Ok(resolved)
    }

    /// Why an existing directory may not hold a local storage domain, or `None` if it may.
    pub fn storage_dir_refusal(&self, path: &Path) -> Option<String> {
        let resolved = resolve(path)?;
        let via = if resolved != path { format!(" (it resolves to {})", resolved.display()) } else { String::new() };
        if in_system_dir(&resolved) {
            return Some(format!(
                "is a system directory{via} ({} and the root); give a directory of its own",
                SYSTEM_DIRS.join(", ")
            ));
        }
        let mut own_dirs = self.own_dirs.iter().map(|d| resolve(d).unwrap_or_else(|| d.clone()));
        if let Some(own) = own_dirs.find(|d| resolved.starts_with(d) || d.starts_with(&resolved)) {
            return Some(format!(
                "is or holds the agent's own directory {}{via}; give a directory of its own",
                own.display()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_files_resolve_inside_the_boot_dirs_and_links_out_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let boot = tmp.path().join("boot");
        std::fs::create_dir(&boot).expect("boot dir");
        std::fs::write(boot.join("vmlinuz"), b"k").expect("kernel");
        std::os::unix::fs::symlink("/etc/passwd", boot.join("evil")).expect("link");
        std::fs::write(tmp.path().join("outside"), b"x").expect("outside");
        let files = HostFiles::new(std::slice::from_ref(&boot), &[]).expect("a valid boot dir");
        assert!(HostFiles::new(&[PathBuf::from("/boot")], &[]).expect_err("a system dir").contains("--boot-dirs"));
        let ok = files.boot_file(&boot.join("vmlinuz")).expect("inside");
        assert!(ok.ends_with("boot/vmlinuz"), "{}", ok.display());
        let e = files.boot_file(&boot.join("evil")).expect_err("a link out of the boot dir");
        assert!(e.contains("not in a boot directory") && e.contains("/etc/passwd"), "{e}");
        files.boot_file(&boot.join("../outside")).expect_err("'..' out of the boot dir");
        files.boot_file(&tmp.path().join("outside")).expect_err("outside");
        files.boot_file(&boot).expect_err("the directory itself");
        files.boot_file(Path::new("/etc/shadow")).expect_err("a system file");
        let e = files.boot_file(&boot.join("missing")).expect_err("missing");
        assert!(e.contains("cannot be read"), "{e}");
    }

    #[test]
    fn storage_may_not_be_in_system_dirs_nor_hold_the_agents_own() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("agent");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&state).expect("state");
        std::fs::create_dir_all(&data).expect("data");
        std::os::unix::fs::symlink("/etc", tmp.path().join("etc-link")).expect("link");
        let files = HostFiles::new(&[], &[&state]).expect("no boot dirs");
        assert_eq!(files.storage_dir_refusal(&data), None);
        for bad in [
            tmp.path().to_path_buf(),
            state.clone(),
            tmp.path().join("etc-link"),
            PathBuf::from("/etc"),
            PathBuf::from("/"),
        ] {
            assert!(files.storage_dir_refusal(&bad).is_some(), "{} must be refused", bad.display());
        }
    }
}
