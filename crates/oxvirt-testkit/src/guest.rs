//! The test guest: a Debian kernel plus a busybox initramfs, built by `guest/build.sh` from
//! Debian packages (see `guest/README.md` for the recipe and the console line formats).
//!
//! On its serial console the guest prints one `OXVIRT-DISK …` line per disk and one
//! `OXVIRT-NIC …` line per NIC, then the marker `OXVIRT-GUEST-UP disks=… nics=… uptime=…`,
//! then `OXVIRT-TICK <n> uptime=<s>` every 2 s; on the ACPI power button it prints
//! `OXVIRT-GUEST-POWEROFF` and powers off. [`ConsoleLog`] reads that file.

use crate::{Result, TestkitError, wait};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The built guest's files.
#[derive(Debug, Clone)]
pub struct TestGuest {
    /// Folder holding everything below.
    pub dir: PathBuf,
    /// Kernel for direct kernel boot.
    pub kernel: PathBuf,
    /// Initramfs for direct kernel boot.
    pub initrd: PathBuf,
    /// Bootable qcow2 disk image (syslinux on FAT) holding the same kernel and initramfs.
    pub disk_image: PathBuf,
    /// Kernel command line for direct kernel boot.
    pub cmdline: String,
}

static GUEST: OnceLock<Result<TestGuest, String>> = OnceLock::new();

impl TestGuest {
    /// Builds the guest if its recipe changed (cached in `target/oxvirt-guest`), once per
    /// process; `guest/build.sh` locks against parallel builds.
    pub fn get() -> Result<&'static TestGuest> {
        GUEST
            .get_or_init(|| Self::build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TestkitError::Setup(e.clone()))
    }

    /// The directory every build of the guest is cached under (`OXVIRT_GUEST_DIR`, else
    /// `target/oxvirt-guest`), as an absolute path without `.` or `..`: test engines and agents
    /// allow kernels and initrds from it (their boot directories), without building the guest.
    pub fn cache_root() -> PathBuf {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir =
            std::env::var_os("OXVIRT_GUEST_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("target/oxvirt-guest"));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let mut normal = PathBuf::new();
        for c in dir.components() {
            match c {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                c => normal.push(c),
            }
        }
        normal
    }

    fn build() -> Result<TestGuest> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = repo.join("guest/build.sh");
        let out = Self::cache_root();
        let stdout = crate::proc::run_stdout(Command::new(&script).arg(&out))?;
        let dir = PathBuf::from(
            stdout
                .lines()
                .last()
                .ok_or_else(|| TestkitError::Setup("guest/build.sh printed no directory".into()))?
                .trim(),
        );
        let cmdline_path = dir.join("cmdline");
        let cmdline = std::fs::read_to_string(&cmdline_path)
            .map_err(|source| TestkitError::Io { path: cmdline_path, source })?
            .trim()
            .to_owned();
        Ok(TestGuest {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            disk_image: dir.join("disk.qcow2"),
            cmdline,
            dir,
        })
    }

    /// Domain XML booting this guest's kernel directly under TCG, with its serial console
    /// written to `console_log` and the given qcow2 disks attached as virtio disks
    /// (`vda`, `vdb`, …). For tests that drive libvirt themselves; the agent renders its own.
    pub fn direct_boot_domain_xml(&self, name: &str, memory_mib: u64, console_log: &Path, disks: &[&Path]) -> String {
        let mut devices = String::new();
        for (i, disk) in disks.iter().enumerate() {
            let dev = format!("vd{}", (b'a' + i as u8) as char);
            devices.push_str(&format!(
                "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
                 <source file='{}'/><target dev='{dev}' bus='virtio'/></disk>\n",
                xml_escape(&disk.display().to_string())
            ));
        }
        format!(
            "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel><initrd>{initrd}</initrd><cmdline>{cmdline}</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
{devices}    <serial type='file'><source path='{log}' append='on'/></serial>
    <console type='file'><source path='{log}' append='on'/><target type='serial'/></console>
  </devices>
</domain>
",
            name = xml_escape(name),
            kernel = xml_escape(&self.kernel.display().to_string()),
            initrd = xml_escape(&self.initrd.display().to_string()),
            cmdline = xml_escape(&self.cmdline),
            log = xml_escape(&console_log.display().to_string()),
        )
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

/// What the guest reported in its `OXVIRT-GUEST-UP` marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestMarker {
    pub disks: Vec<String>,
    pub nics: Vec<String>,
}

impl GuestMarker {
    /// Parses `OXVIRT-GUEST-UP disks=vda,vdb nics=eth0 uptime=1.23`.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("OXVIRT-GUEST-UP")?;
        let field = |key: &str| -> Vec<String> {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .filter(|v| *v != "-")
                .map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Some(Self { disks: field("disks"), nics: field("nics") })
    }
}

/// A guest's serial console log file.
#[derive(Debug, Clone)]
pub struct ConsoleLog {
    path: PathBuf,
}

impl ConsoleLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log's complete lines so far (missing file = none yet).
    pub fn lines(&self) -> Vec<String> {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete.lines().map(|l| l.trim_end_matches('\r').to_owned()).collect()
    }

    /// Waits for the first complete line satisfying `pred`.
    pub fn wait_for_line(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<String> {
        wait::until(&format!("{what} on console {}", self.path.display()), timeout, || {
            self.lines().into_iter().find(|l| pred(l))
        })
        .map_err(|e| self.with_tail(e))
    }

    /// Waits for the boot marker and parses it.
    pub fn wait_for_marker(&self, timeout: Duration) -> Result<GuestMarker> {
        let line = self.wait_for_line("the OXVIRT-GUEST-UP marker", timeout, |l| l.starts_with("OXVIRT-GUEST-UP"))?;
        GuestMarker::parse(&line).ok_or_else(|| TestkitError::Setup(format!("unparsable marker line: {line}")))
    }

    /// The highest `OXVIRT-TICK <n>` seen so far.
    pub fn last_tick(&self) -> Option<u64> {
        self.lines()
            .iter()
            .filter_map(|l| l.strip_prefix("OXVIRT-TICK ")?.split_whitespace().next()?.parse().ok())
            .max()
    }

    /// Waits until a tick numbered above `after` appears; returns its number.
    pub fn wait_for_tick_after(&self, after: u64, timeout: Duration) -> Result<u64> {
        wait::until(&format!("a tick after {after}"), timeout, || self.last_tick().filter(|t| *t > after))
            .map_err(|e| self.with_tail(e))
    }

    fn with_tail(&self, err: TestkitError) -> TestkitError {
        TestkitError::Setup(format!("{err}; console tail:\n{}", crate::proc::tail(&self.path, 1500)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_parses_lists_and_dashes() {
        let m = GuestMarker::parse("OXVIRT-GUEST-UP disks=vda,sda nics=eth0 uptime=1.52").expect("parse");
        assert_eq!(m.disks, vec!["vda", "sda"]);
        assert_eq!(m.nics, vec!["eth0"]);
        let empty = GuestMarker::parse("OXVIRT-GUEST-UP disks=- nics=- uptime=0.9").expect("parse");
        assert!(empty.disks.is_empty() && empty.nics.is_empty());
        assert_eq!(GuestMarker::parse("OXVIRT-TICK 3 uptime=7"), None);
    }

    #[test]
    fn console_log_ignores_an_unfinished_last_line() {
        let dir = std::env::temp_dir().join(format!("oxvirt-testkit-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("console.log");
        std::fs::write(&path, "boot\r\nOXVIRT-TICK 1 uptime=2\nOXVIRT-TICK 2 upt").expect("write");
        let log = ConsoleLog::new(&path);
        assert_eq!(log.lines(), vec!["boot", "OXVIRT-TICK 1 uptime=2"]);
        assert_eq!(log.last_tick(), Some(1));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn domain_xml_has_acpi_and_escapes_paths() {
        let guest = TestGuest {
            dir: "/g".into(),
            kernel: "/g/vmlinuz".into(),
            initrd: "/g/initrd.img".into(),
            disk_image: "/g/disk.qcow2".into(),
            cmdline: "console=ttyS0".into(),
        };
        let xml = guest.direct_boot_domain_xml("vm1", 128, Path::new("/tmp/a&b.log"), &[Path::new("/d/1.qcow2")]);
        assert!(xml.contains("<features><acpi/></features>"), "guests cannot power off without ACPI");
        assert!(xml.contains("/tmp/a&amp;b.log"));
        assert!(xml.contains("<target dev='vda' bus='virtio'/>"));
    }
}
