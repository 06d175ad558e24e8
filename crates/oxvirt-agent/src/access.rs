//! Whether QEMU can reach the files of a VM: the user libvirt runs QEMU as, and a check of a
//! path against it, so that a directory QEMU cannot enter is refused up front with its name,
//! the user and the fix — not found out by QEMU as a "Permission denied" deep inside
//! libvirt's error text.
//!
//! Why it is built this way: under `qemu:///system`, QEMU runs as qemu.conf's `user` (and
//! `group`), `libvirt-qemu` on Debian, `qemu` on Fedora — not as the agent (root). libvirt's
//! DAC driver chowns a domain's disk images, kernel and initrd to that user when
//! `dynamic_ownership` is on (the default), but it never touches the directories above them:
//! each must be searchable (`x`) by the user. So every directory on a path is checked; the
//! file itself only when libvirt will not hand it over (`dynamic_ownership = 0`). The check
//! reads mode bits and owners (POSIX ACLs are not read: a directory that only an ACL opens is
//! refused; name the user with `--qemu-user` root to turn the check off). Directories the
//! agent makes itself are made searchable ([`make_traversable`]).

use oxvirt_types::ErrorKind;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Where libvirt's QEMU driver configuration lives on a system host.
pub const DEFAULT_QEMU_CONF: &str = "/etc/libvirt/qemu.conf";

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Denied(Box<Denied>),
    #[error("{} ({what}) does not exist; check the path", path.display())]
    Missing { what: String, path: PathBuf },
    #[error("cannot check whether QEMU can reach {} ({what}): {source}", path.display())]
    Io { what: String, path: PathBuf, source: std::io::Error },
    #[error("the QEMU user {name} ({origin}) is not in /etc/passwd; create it or name another with --qemu-user")]
    UnknownUser { name: String, origin: String },
}

/// QEMU's user may not enter (or read) a path.
#[derive(Debug, thiserror::Error)]
#[error(
    "QEMU runs as user {user} on this host, and {user} cannot {need} {} (mode {mode:04o}, owner {owner}:{group}), \
     which {what} needs; {fix}",
    path.display()
)]
pub struct Denied {
    pub what: String,
    pub path: PathBuf,
    pub user: String,
    pub need: &'static str,
    pub mode: u32,
    pub owner: u32,
    pub group: u32,
    pub fix: String,
}

impl AccessError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AccessError::Denied(_) | AccessError::Missing { .. } => ErrorKind::InvalidInput,
            AccessError::Io { .. } | AccessError::UnknownUser { .. } => ErrorKind::Internal,
        }
    }
}

/// The user (and groups) QEMU runs as, and whether libvirt chowns the files it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuAccess {
    user: String,
    uid: u32,
    gids: Vec<u32>,
    dynamic_ownership: bool,
}

impl QemuAccess {
    /// QEMU as root: every path is reachable (what `qemu.conf` with `user = "root"` means, and
    /// the check turned off).
    pub fn root() -> Self {
        Self { user: "root".to_owned(), uid: 0, gids: vec![0], dynamic_ownership: true }
    }

    /// The QEMU user of `libvirt_uri`: `configured` (a name or `+uid`) when given; else for a
    /// system connection qemu.conf's `user`/`group` (read from `qemu_conf`), falling back to
    /// the distribution's default user (`libvirt-qemu`, `qemu`) or root; for a session
    /// connection the agent's own user. A remote host's files are not checked here (root).
    pub fn resolve(libvirt_uri: &str, configured: Option<&str>, qemu_conf: &Path) -> Result<Self, AccessError> {
        let conf = std::fs::read_to_string(qemu_conf).unwrap_or_default();
        let dynamic_ownership = conf_value(&conf, "dynamic_ownership").is_none_or(|v| v.trim() != "0");
        let (name, group, origin) = if let Some(name) = configured {
            (name.to_owned(), None, "--qemu-user".to_owned())
        } else if is_remote(libvirt_uri) {
            return Ok(Self::root());
        } else if libvirt_uri.contains("/session") {
            let uid = own_uid().unwrap_or(0);
            return Ok(
                Self { user: format!("+{uid}"), uid, gids: Vec::new(), dynamic_ownership: false }.with_user_groups()
            );
        } else {
            match conf_value(&conf, "user") {
                Some(user) => (user, conf_value(&conf, "group"), format!("user in {}", qemu_conf.display())),
                None => {
                    let default = ["libvirt-qemu", "qemu"].into_iter().find(|u| passwd_entry(u).is_some());
                    (default.unwrap_or("root").to_owned(), None, "libvirt's default".to_owned())
                }
            }
        };
        let (uid, primary_gid) = match name.strip_prefix('+').and_then(|n| n.parse::<u32>().ok()) {
            Some(uid) => (uid, None),
            None => {
                let (uid, gid) = passwd_entry(&name).ok_or(AccessError::UnknownUser { name: name.clone(), origin })?;
                (uid, Some(gid))
            }
        };
        let group_gid = group.as_deref().and_then(|g| match g.strip_prefix('+') {
            Some(n) => n.parse().ok(),
            None => group_entry(g),
        });
        let gids = group_gid.or(primary_gid).into_iter().collect();
        Ok(Self { user: name, uid, gids, dynamic_ownership }.with_user_groups())
    }

    /// Adds the user's supplementary groups (libvirt starts QEMU with them).
    fn with_user_groups(mut self) -> Self {
        let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
        for line in groups.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if let [_, _, gid, members, ..] = fields[..]
                && members.split(',').any(|m| m == self.user)
                && let Ok(gid) = gid.parse()
            {
                self.gids.push(gid);
            }
        }
        self.gids.sort_unstable();
        self.gids.dedup();
        self
    }

    /// The same user with `dynamic_ownership` as given (for tests of the file check).
    pub fn with_dynamic_ownership(mut self, on: bool) -> Self {
        self.dynamic_ownership = on;
        self
    }

    /// The user's name (or `+uid`).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Checks that QEMU can enter directory `dir` and every directory above it. `what` says
    /// who needs it ("storage domain data1").
    pub fn check_dir(&self, what: &str, dir: &Path) -> Result<(), AccessError> {
        if self.is_root() {
            return Ok(());
        }
        for path in with_resolved(dir) {
            for ancestor in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
                self.check_one(what, ancestor, Need::Search)?;
            }
        }
        Ok(())
    }

    /// Checks that QEMU can reach file `file` (every directory above it searchable) and, when
    /// libvirt does not chown it (`dynamic_ownership = 0`), read it.
    pub fn check_file(&self, what: &str, file: &Path) -> Result<(), AccessError> {
        if self.is_root() {
            return Ok(());
        }
        for path in with_resolved(file) {
            if let Some(parent) = path.parent() {
                self.check_dir(what, parent)?;
            }
            if self.dynamic_ownership {
                std::fs::metadata(&path).map_err(|source| io_error(what, &path, source))?;
            } else {
                self.check_one(what, &path, Need::Read)?;
            }
        }
        Ok(())
    }

    fn check_one(&self, what: &str, path: &Path, need: Need) -> Result<(), AccessError> {
        let meta = std::fs::metadata(path).map_err(|source| io_error(what, path, source))?;
        let mode = meta.permissions().mode() & 0o7777;
        if permits(mode, meta.uid(), meta.gid(), self.uid, &self.gids, need) {
            return Ok(());
        }
        let user = &self.user;
        let shown = path.display();
        let fix = match need {
            Need::Search => format!(
                "let it in with `chmod o+x {shown}` (or `setfacl -m u:{user}:x {shown}`), or move the files to a directory user {user} can enter"
            ),
            Need::Read => format!("let it read with `chmod o+r {shown}` (or `setfacl -m u:{user}:r {shown}`)"),
        };
        Err(AccessError::Denied(Box::new(Denied {
            what: what.to_owned(),
            path: path.to_owned(),
            user: user.clone(),
            need: need.verb(),
            mode,
            owner: meta.uid(),
            group: meta.gid(),
            fix,
        })))
    }
}

fn io_error(what: &str, path: &Path, source: std::io::Error) -> AccessError {
    match source.kind() {
        std::io::ErrorKind::NotFound => AccessError::Missing { what: what.to_owned(), path: path.to_owned() },
        _ => AccessError::Io { what: what.to_owned(), path: path.to_owned(), source },
    }
}

/// Makes `dir`, a directory the agent created, searchable by everyone (`o+x`): QEMU, which
/// runs as another user, must pass through it to the images below. Changes nothing else.
pub fn make_traversable(dir: &Path) -> std::io::Result<()> {
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o111 != 0o111 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode((mode | 0o111) & 0o7777))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Search,
    Read,
}

impl Need {
    fn verb(self) -> &'static str {
        match self {
            Need::Search => "enter the directory",
            Need::Read => "read the file",
        }
    }

    /// The owner's bit; group and other are this shifted right by 3 and 6.
    fn owner_bit(self) -> u32 {
        match self {
            Need::Search => 0o100,
            Need::Read => 0o400,
        }
    }
}

/// Whether mode bits `mode` of a file owned by `owner:group` let `uid` (in `gids`) do `need`:
/// the owner's bits apply to the owner, else the group's to a member, else the others'.
fn permits(mode: u32, owner: u32, group: u32, uid: u32, gids: &[u32], need: Need) -> bool {
    let bit = need.owner_bit();
    if uid == 0 {
        return true;
    }
    if uid == owner {
        mode & bit != 0
    } else if gids.contains(&group) {
        mode & (bit >> 3) != 0
    } else {
        mode & (bit >> 6) != 0
    }
}

/// `path` and, when it differs, the path with symlinks resolved (QEMU passes both).
fn with_resolved(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_owned()];
    if let Ok(real) = path.canonicalize()
        && real != path
    {
        out.push(real);
    }
    out
}

/// A URI naming a host (`qemu+ssh://host/system`): its files are not ours to check.
fn is_remote(uri: &str) -> bool {
    uri.split_once("://").is_some_and(|(_, rest)| {
        let host = rest.split('/').next().unwrap_or("");
        !host.is_empty() && host != "localhost"
    })
}

/// The value of `key = value` in libvirt's config syntax, quotes removed, comments ignored.
fn conf_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `(uid, gid)` of `name` in /etc/passwd.
fn passwd_entry(name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            [n, _, uid, gid, ..] if n == name => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// The gid of group `name` in /etc/group.
fn group_entry(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            [n, _, gid, ..] if n == name => gid.parse().ok(),
            _ => None,
        }
    })
}

/// The agent's effective uid, from /proc (no libc call needed).
fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:")?.split_whitespace().nth(1)?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_of_owner_group_and_others_decide() {
        let (owner, group, user) = (1000, 100, 65534);
        assert!(permits(0o755, owner, group, user, &[], Need::Search));
        assert!(!permits(0o750, owner, group, user, &[], Need::Search));
        assert!(permits(0o750, owner, group, user, &[group], Need::Search));
        assert!(!permits(0o700, owner, group, user, &[group], Need::Search));
        assert!(permits(0o700, user, group, user, &[], Need::Search));
        // The owner's bits win even when others' would allow.
        assert!(!permits(0o007, user, group, user, &[], Need::Read));
        assert!(permits(0o644, owner, group, user, &[], Need::Read));
        assert!(!permits(0o640, owner, group, user, &[], Need::Read));
        assert!(permits(0o000, owner, group, 0, &[], Need::Read), "root passes");
    }

    #[test]
    fn qemu_conf_values_are_read_like_libvirt_writes_them() {
        let conf = "#user = \"nobody\"\nuser = \"libvirt-qemu\"  # the default\ngroup=\"kvm\"\ndynamic_ownership = 0\n";
        assert_eq!(conf_value(conf, "user").as_deref(), Some("libvirt-qemu"));
        assert_eq!(conf_value(conf, "group").as_deref(), Some("kvm"));
        assert_eq!(conf_value(conf, "dynamic_ownership").as_deref(), Some("0"));
        assert_eq!(conf_value(conf, "security_driver"), None);
        assert!(is_remote("qemu+ssh://other/system"));
        assert!(!is_remote("qemu:///system"));
        assert!(!is_remote("qemu+tcp://localhost/system"));
    }

    #[test]
    fn a_configured_user_is_resolved_and_a_closed_directory_is_named_with_the_fix() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let conf = tmp.path().join("qemu.conf");
        std::fs::write(&conf, "user = \"root\"\n").expect("conf");
        assert!(QemuAccess::resolve("qemu:///system", None, &conf).expect("root").is_root());
        let nobody = QemuAccess::resolve("qemu:///system", Some("nobody"), &conf).expect("nobody");
        assert_eq!(nobody.user(), "nobody");
        assert!(!nobody.is_root());
        let unknown = QemuAccess::resolve("qemu:///system", Some("no-such-user-here"), &conf).expect_err("unknown");
        assert!(unknown.to_string().contains("--qemu-user"), "{unknown}");

        // The tempdir is 0700 (root's): nobody cannot enter it.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let kernel = tmp.path().join("vmlinuz");
        std::fs::write(&kernel, b"not really a kernel").expect("kernel");
        let err = nobody.check_file("the kernel of VM k", &kernel).expect_err("closed directory");
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(text.contains(&tmp.path().display().to_string()), "names the directory: {text}");
        assert!(text.contains("nobody") && text.contains("chmod o+x"), "names the user and the fix: {text}");
        assert!(text.contains("the kernel of VM k"), "{text}");

        make_traversable(tmp.path()).expect("o+x");
        assert_eq!(std::fs::metadata(tmp.path()).expect("meta").permissions().mode() & 0o777, 0o711);
        nobody.check_file("the kernel of VM k", &kernel).expect("libvirt chowns the file itself");
        std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let strict = nobody.clone().with_dynamic_ownership(false);
        let err = strict.check_file("the kernel of VM k", &kernel).expect_err("unreadable file");
        assert!(err.to_string().contains("read the file") && err.to_string().contains("chmod o+r"), "{err}");
        let missing = nobody.check_file("the initrd of VM k", &tmp.path().join("nothing")).expect_err("missing");
        assert!(matches!(missing, AccessError::Missing { .. }), "{missing}");
    }
}
