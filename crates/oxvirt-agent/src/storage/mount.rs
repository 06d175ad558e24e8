//! Mounting POSIX and NFS connections, and telling a mount point from a plain directory.
//!
//! Mount points are derived from the spec the way VDSM derives them (`fileUtils.transformPath`):
//! `_` is doubled, then `/` becomes `_`, so distinct specs never share a mount point and the
//! result is a single path component under the agent's mount root — never `.`/`..`, never a
//! path with a `/` in it. We use the `mount`/`umount` programs, as VDSM does, so that every
//! file system helper (`mount.nfs`, FUSE helpers) works; each run has a deadline because an
//! unreachable NFS server can block a mount for minutes.
//!
//! "Is it mounted?" is answered from `/proc/self/mountinfo` (this process's mount namespace),
//! never from `mount`'s exit status alone: writing a domain into an empty directory that was
//! supposed to be a mount would silently put data on the host's root file system.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::time::Duration;

/// How long `mount` or `umount` may take before we give up (and kill it).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest file name Linux file systems accept.
const NAME_MAX: usize = 255;

/// The directory name (under the mount root) for a mount spec, or why the spec is unusable.
pub fn escape_spec(spec: &str) -> Result<String, String> {
    if spec.is_empty() {
        return Err("the mount spec is empty".to_owned());
    }
    if spec.starts_with('-') {
        return Err(format!("the mount spec {spec:?} must not start with '-'"));
    }
    if spec.chars().any(|c| c.is_control()) {
        return Err(format!("the mount spec {spec:?} must not contain control characters"));
    }
    let escaped = spec.replace('_', "__").replace('/', "_");
    if escaped == "." || escaped == ".." {
        return Err(format!("the mount spec {spec:?} is not a device or a remote path"));
    }
    if escaped.len() > NAME_MAX {
        return Err(format!("the mount spec {spec:?} is too long (at most {NAME_MAX} bytes once escaped)"));
    }
    Ok(escaped)
}

/// Checks a file system type or an option string passed to `mount`.
pub fn check_mount_argument(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if value.starts_with('-') || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("the {what} {value:?} must not start with '-' or contain spaces or control characters"));
    }
    Ok(())
}

/// Undoes the octal escapes of `/proc/self/mountinfo` (`\040` is a space, etc.).
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = u32::from(bytes[i + 1] - b'0') * 64
                + u32::from(bytes[i + 2] - b'0') * 8
                + u32::from(bytes[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The mount points listed in a mountinfo text (field 5 of each line).
pub fn mount_points(mountinfo: &str) -> Vec<Vec<u8>> {
    mountinfo.lines().filter_map(|line| line.split(' ').nth(4)).map(unescape_mountinfo).collect()
}

/// Whether `path` (absolute, without symlinks) is a mount point in this mount namespace.
pub fn is_mount_point(path: &Path) -> std::io::Result<bool> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let wanted = path.as_os_str().as_bytes();
    Ok(mount_points(&mountinfo).iter().any(|m| m.as_slice() == wanted))
}

/// Runs a mount-related command with [`COMMAND_TIMEOUT`]; `Err` carries a readable reason.
async fn run(program: &str, args: &[&OsStr]) -> Result<(), String> {
    let mut command = tokio::process::Command::new(program);
    command.args(args).env("LC_ALL", "C").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let shown = || {
        let mut text = program.to_owned();
        for a in args {
            text.push(' ');
            text.push_str(&a.to_string_lossy());
        }
        text
    };
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
        Err(_) => return Err(format!("`{}` did not finish within {} s", shown(), COMMAND_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("cannot run `{}`: {e}", shown())),
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("`{}` failed ({}): {}", shown(), output.status, stderr.trim()))
    }
}

/// `mount -t <vfs_type> [-o <options>] <spec> <mount_point>`.
pub async fn mount(spec: &str, vfs_type: &str, options: Option<&str>, mount_point: &Path) -> Result<(), String> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("-t"), OsStr::new(vfs_type)];
    if let Some(options) = options {
        args.push(OsStr::new("-o"));
        args.push(OsStr::new(options));
    }
    args.push(OsStr::new(spec));
    args.push(mount_point.as_os_str());
    run("mount", &args).await
}

/// `umount <mount_point>`.
pub async fn unmount(mount_point: &Path) -> Result<(), String> {
    run("umount", &[mount_point.as_os_str()]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_escape_like_vdsm_and_stay_one_component() {
        assert_eq!(escape_spec("/dev/loop3").as_deref(), Ok("_dev_loop3"));
        assert_eq!(escape_spec("server:/export/data").as_deref(), Ok("server:_export_data"));
        // `_` is doubled first, so these two do not collide.
        assert_eq!(escape_spec("a_b").as_deref(), Ok("a__b"));
        assert_eq!(escape_spec("a/b").as_deref(), Ok("a_b"));
        assert_eq!(escape_spec("/../..").as_deref(), Ok("_.._.."));
        for bad in ["", ".", "..", "-oremount", "a\nb"] {
            assert!(escape_spec(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(escape_spec(&"x".repeat(300)).is_err());
    }

    #[test]
    fn mount_arguments_are_checked() {
        assert!(check_mount_argument("file system type", "ext4").is_ok());
        assert!(check_mount_argument("mount options", "rw,noatime,context=\"a b\"").is_err());
        assert!(check_mount_argument("mount options", "-o").is_err());
        assert!(check_mount_argument("file system type", "").is_err());
    }

    #[test]
    fn mountinfo_fields_are_unescaped() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    90 27 7:0 / /tmp/with\\040space rw shared:1 - ext4 /dev/loop0 rw\n";
        assert_eq!(mount_points(text), vec![b"/".to_vec(), b"/tmp/with space".to_vec()]);
    }

    #[test]
    fn a_plain_directory_is_not_a_mount_point_but_proc_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let canonical = dir.path().canonicalize().expect("canonical");
        assert!(!is_mount_point(&canonical).expect("mountinfo"));
        assert!(is_mount_point(Path::new("/proc")).expect("mountinfo"));
    }
}
