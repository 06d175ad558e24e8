//! Host paths that API clients name: a VM's kernel and initrd, a local storage domain's
//! directory.
//!
//! Why a shared rule: the agent runs as root and libvirt hands each VM's files to QEMU (and,
//! with dynamic ownership, chowns them to QEMU's user), so a kernel of `/etc/shadow` or an
//! initrd of `/root/.ssh/id_ed25519` would be read into a guest, and a storage domain in
//! `/etc` would have volumes created among the host's configuration. The engine refuses such
//! paths when they are given (a 400 naming the field) by their letters; the agent, which
//! sees the real file system, resolves symbolic links first and applies its own directories.

use std::path::Path;

/// Where kernels and initrds for direct boot are kept on hosts unless configured otherwise
/// (the engine's `--vm-boot-dirs`, the agent's `--boot-dirs`).
pub const DEFAULT_BOOT_DIR: &str = "/var/lib/oxvirt/boot";

/// Directories of the operating system: nothing an API client names may be in them.
pub const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin", "/sys",
    "/usr",
];

/// Why `path` is not an absolute path in normal form (`/a/b`: no `.`, `..`, empty or trailing
/// components, no NUL), or `None` if it is.
pub fn lexical_refusal(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("is not an absolute path");
    }
    if path.contains('\0') {
        return Some("contains a NUL byte");
    }
    if path.len() > 1 && (path.ends_with('/') || path.contains("//")) {
        return Some("is not in normal form (empty components)");
    }
    // By the letters: `Path::components` drops inner `.` components.
    if path.split('/').any(|c| c == "." || c == "..") {
        return Some("contains '.' or '..' components");
    }
    None
}

/// Why `dir` cannot be a boot directory (not absolute and normal, or a system directory whose
/// files — the host's own initramfs, keys — must never reach a guest), or `None` if it can.
pub fn boot_dir_refusal(dir: &str) -> Option<&'static str> {
    lexical_refusal(dir).or_else(|| {
        in_system_dir(Path::new(dir))
            .then_some("is a system directory (or the root); give a directory of its own, such as /var/lib/oxvirt/boot")
    })
}

/// Is `path` the root directory or in (or one of) [`SYSTEM_DIRS`]? Compared by components.
pub fn in_system_dir(path: &Path) -> bool {
    path == Path::new("/") || SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_absolute_paths_pass_and_the_rest_is_named() {
        for ok in ["/", "/var/lib/oxvirt/boot/vmlinuz", "/srv/storage"] {
            assert_eq!(lexical_refusal(ok), None, "{ok}");
        }
        for bad in ["vmlinuz", "", "/var/../etc/shadow", "/var/./x", "/var//x", "/var/x/", "/a\0b"] {
            assert!(lexical_refusal(bad).is_some(), "{bad:?}");
        }
        assert!(in_system_dir(Path::new("/etc/shadow")) && in_system_dir(Path::new("/")));
        assert!(in_system_dir(Path::new("/proc/self/environ")) && in_system_dir(Path::new("/usr")));
        assert_eq!(boot_dir_refusal(DEFAULT_BOOT_DIR), None);
        assert!(boot_dir_refusal("/boot").is_some() && boot_dir_refusal("boot").is_some());
        assert!(!in_system_dir(Path::new("/etcetera")) && !in_system_dir(Path::new("/var/lib/oxvirt")));
    }
}
