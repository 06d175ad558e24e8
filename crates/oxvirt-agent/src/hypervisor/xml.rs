//! Rendering libvirt domain XML from a [`VmSpec`], and reading our mark back.
//!
//! Why pure functions apart from the libvirt calls: the domain XML is the whole contract
//! between the agent and libvirt, so it is built in one place that can be tested without a
//! daemon (unit tests parse the output; one test has `virsh -c test:///default define
//! --validate` check it against libvirt's own schema and post-parse rules).
//!
//! Why validate here and not leave it to libvirt: a bad spec must fail with an error that names
//! the field and says what to do, before anything on the host changes. libvirt's messages
//! ("XML document failed to validate against schema") name neither. Every value that reaches
//! the XML is checked for characters XML cannot carry, then escaped, so names, paths and kernel
//! command lines with `&<>'"` are safe.
//!
//! Choices worth knowing:
//! - `<features><acpi/>` always: without ACPI a guest cannot obey a shutdown request.
//! - The engine's VM id is kept twice: as the domain `<uuid>` and in a `<metadata>` element of
//!   our namespace ([`METADATA_NS`]). The metadata is what marks a domain as ours when the
//!   agent rediscovers domains after a restart ([`vm_id_from_domain_xml`]).
//! - Boot order uses `<os><boot dev=…/>` only, never per-device `<boot order=…>`: libvirt
//!   rejects mixing the two. libvirt gives the "hd" boot slot to the first disk of the domain,
//!   so disks flagged `bootable` are rendered first and get the first target name of their bus
//!   (`vda`, `sda`, `hda`); the others follow in spec order. [`disk_targets`] tells the names.
//! - The disk `<serial>` is the first 20 characters of the disk id (QEMU's limit), as oVirt
//!   does, so a guest can tell its disks apart (`/dev/disk/by-id/virtio-<serial>`).
//! - No `cache=` on disks: `cache='none'` needs O_DIRECT, which tmpfs and some file systems
//!   refuse; libvirt's default works everywhere.
//! - `kvm` domains get `<cpu mode='host-passthrough'>`; `qemu` (TCG) domains get only the
//!   topology, i.e. QEMU's default CPU model, as TCG cannot emulate the host CPU.
//! - A spec's `serial` becomes the SMBIOS system serial number (`<sysinfo type='smbios'>` and
//!   `<os><smbios mode='sysinfo'/>`), with our manufacturer and product and the VM id as the
//!   system UUID (libvirt refuses a sysinfo UUID other than the domain's).
//! - A spec's `cloud_init` is a CD-ROM holding the NoCloud ISO the caller built
//!   ([`RenderOptions::cloud_init_iso`]): on the IDE bus after the IDE disks (`pc` machines),
//!   on SATA after the SCSI disks (`q35`, which has no IDE), read-only.
//! - The serial console is a pty whose output libvirt (virtlogd) also appends to
//!   [`RenderOptions::console_log`] via `<log file=… append='on'/>`, which libvirt 9.0 accepts
//!   inside a pty `<serial>`. A spec without `serial_console` has no serial port at all.

use oxvirt_agent_api::v1::{
    Boot, BootDevice, DiskInterface, DiskSpec, DomainType, GraphicsKind, NicModel, VmSpec, VolumeFormat,
};
use oxvirt_types::{ByteSize, ErrorKind, VmId};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The XML namespace of our `<metadata>` element.
pub const METADATA_NS: &str = "https://oxvirt.org/xmlns/agent/1";
/// The prefix we bind [`METADATA_NS`] to (readers must not rely on it: libvirt may rewrite it).
pub const METADATA_PREFIX: &str = "oxvirt";
/// QEMU machine type when the spec names none.
pub const DEFAULT_MACHINE: &str = "pc";
/// Where VNC listens when the spec says nothing: only local clients (a proxy or SSH tunnel).
pub const DEFAULT_VNC_LISTEN: &str = "127.0.0.1";
/// Longest VM name accepted (oVirt's default `MaxVmNameLength`).
pub const MAX_VM_NAME_LEN: usize = 64;
/// One IDE controller with two buses of two units: `hda`…`hdd`.
pub const MAX_IDE_DISKS: usize = 4;
/// Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.
pub const MAX_BRIDGE_NAME_LEN: usize = 15;
/// QEMU keeps 20 characters of a disk serial (virtio-blk and IDE alike).
pub const DISK_SERIAL_LEN: usize = 20;
/// Longest SMBIOS serial number accepted (oVirt's limit for a custom serial number).
pub const MAX_SERIAL_LEN: usize = 255;
/// The SMBIOS manufacturer and product of our VMs (oVirt's are "oVirt" and "oVirt Node").
pub const SMBIOS_MANUFACTURER: &str = "oxvirt";
pub const SMBIOS_PRODUCT: &str = "oxvirt VM";
/// QEMU's VNC authentication uses at most 8 password characters (libvirt truncates silently).
pub const MAX_VNC_PASSWORD_LEN: usize = 8;

/// A disk of the spec with its image resolved on this host (by the storage module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDisk {
    pub spec: DiskSpec,
    /// The file QEMU opens (for a volume: the leaf of its chain).
    pub path: PathBuf,
    pub format: VolumeFormat,
}

/// Host-side choices that are not part of the VM spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// `kvm` when hardware virtualization works on this host, else `qemu` (TCG).
    pub domain_type: DomainType,
    /// The file the serial console is appended to (absolute).
    pub console_log: PathBuf,
    /// The cloud-init ISO built for the spec's `cloud_init` (absolute); `Some` exactly when
    /// the spec has one.
    pub cloud_init_iso: Option<PathBuf>,
}

/// Why a domain XML could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// A value of the VM spec is out of range or unusable; nothing was changed.
    #[error("invalid spec for VM {vm_id}: {field}: {reason}")]
    InvalidInput { vm_id: VmId, field: String, reason: String },
    /// The resolved disks are not the spec's disks: a bug in the caller.
    #[error("cannot render VM {vm_id}: the resolved disks do not match the spec's disks: {reason} (agent bug)")]
    DisksMismatch { vm_id: VmId, reason: String },
    /// A host-side render option is unusable: a bug or misconfiguration of the agent.
    #[error("cannot render VM {vm_id}: render option {option}: {reason}")]
    InvalidOption { vm_id: VmId, option: &'static str, reason: String },
}

impl XmlError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            XmlError::InvalidInput { .. } => ErrorKind::InvalidInput,
            XmlError::DisksMismatch { .. } | XmlError::InvalidOption { .. } => ErrorKind::Internal,
        }
    }
}

/// The libvirt domain XML for `spec`. `disks` are `spec.disks` resolved, in the same order.
pub fn domain_xml(spec: &VmSpec, disks: &[ResolvedDisk], opts: &RenderOptions) -> Result<String, XmlError> {
    let check = Checker { vm_id: spec.id };
    check.vm(spec)?;
    check.disks(spec, disks)?;
    let console_log = check.option_path("console_log", &opts.console_log)?;
    let cloud_init_iso = match (&spec.cloud_init, &opts.cloud_init_iso) {
        (Some(_), Some(iso)) => Some(check.option_path("cloud_init_iso", iso)?),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(XmlError::InvalidOption {
                vm_id: spec.id,
                option: "cloud_init_iso",
                reason: "given without the spec's cloud_init, or missing for it".into(),
            });
        }
    };

    let mut x = XmlWriter::default();
    let domain_type = match opts.domain_type {
        DomainType::Kvm => "kvm",
        DomainType::Qemu => "qemu",
    };
    x.open("domain", &[("type", domain_type)]);
    x.leaf("name", &[], &spec.name);
    x.leaf("uuid", &[], &spec.id.to_string());

    x.open("metadata", &[]);
    x.open(&format!("{METADATA_PREFIX}:vm"), &[(&format!("xmlns:{METADATA_PREFIX}"), METADATA_NS)]);
    x.leaf(&format!("{METADATA_PREFIX}:id"), &[], &spec.id.to_string());
    x.close(&format!("{METADATA_PREFIX}:vm"));
    x.close("metadata");

    if let Some(serial) = &spec.serial {
        x.open("sysinfo", &[("type", "smbios")]);
        x.open("system", &[]);
        x.leaf("entry", &[("name", "manufacturer")], SMBIOS_MANUFACTURER);
        x.leaf("entry", &[("name", "product")], SMBIOS_PRODUCT);
        x.leaf("entry", &[("name", "serial")], serial);
        x.leaf("entry", &[("name", "uuid")], &spec.id.to_string());
        x.close("system");
        x.close("sysinfo");
    }

    x.leaf("memory", &[("unit", "KiB")], &(spec.memory.bytes() / ByteSize::KIB).to_string());
    x.leaf("vcpu", &[("placement", "static")], &spec.cpu.vcpus().to_string());

    x.open("os", &[]);
    let machine = spec.machine.as_deref().unwrap_or(DEFAULT_MACHINE);
    x.leaf("type", &[("arch", "x86_64"), ("machine", machine)], "hvm");
    match &spec.boot {
        Boot::Devices { order } => {
            for device in order {
                x.empty("boot", &[("dev", boot_dev(*device))]);
            }
        }
        Boot::Kernel { kernel, initrd, cmdline } => {
            // Paths were checked to be UTF-8 by `Checker::vm`.
            x.leaf("kernel", &[], &kernel.to_string_lossy());
            if let Some(initrd) = initrd {
                x.leaf("initrd", &[], &initrd.to_string_lossy());
            }
            if !cmdline.is_empty() {
                x.leaf("cmdline", &[], cmdline);
            }
        }
    }
    if spec.serial.is_some() {
        x.empty("smbios", &[("mode", "sysinfo")]);
    }
    x.close("os");

    x.open("features", &[]);
    x.empty("acpi", &[]);
    x.close("features");

    let topology = [
        ("sockets", spec.cpu.sockets.to_string()),
        ("cores", spec.cpu.cores.to_string()),
        ("threads", spec.cpu.threads.to_string()),
    ];
    let topology: Vec<(&str, &str)> = topology.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match opts.domain_type {
        DomainType::Kvm => x.open("cpu", &[("mode", "host-passthrough")]),
        DomainType::Qemu => x.open("cpu", &[]),
    }
    x.empty("topology", &topology);
    x.close("cpu");

    x.leaf("on_poweroff", &[], "destroy");
    x.leaf("on_reboot", &[], "restart");
    x.leaf("on_crash", &[], "destroy");

    x.open("devices", &[]);
    let targets = disk_targets(&spec.disks);
    for index in disk_render_order(&spec.disks) {
        let disk = &spec.disks[index];
        let resolved = &disks[index];
        x.open("disk", &[("type", "file"), ("device", "disk")]);
        let format = match resolved.format {
            VolumeFormat::Cow => "qcow2",
            VolumeFormat::Raw => "raw",
        };
        // I/O errors pause the guest (VDSM's `error_policy='stop'`, what oVirt's disk
        // `propagate_errors=false` means) instead of reaching it as failed reads and writes.
        x.empty("driver", &[("name", "qemu"), ("type", format), ("error_policy", "stop")]);
        x.empty("source", &[("file", &resolved.path.to_string_lossy())]);
        x.empty("target", &[("dev", &targets[index]), ("bus", disk_bus(disk.interface))]);
        if disk.read_only {
            x.empty("readonly", &[]);
        }
        x.leaf("serial", &[], &disk_serial(disk));
        x.close("disk");
    }
    if let Some(iso) = cloud_init_iso {
        let (dev, bus) = cdrom_target(spec);
        x.open("disk", &[("type", "file"), ("device", "cdrom")]);
        x.empty("driver", &[("name", "qemu"), ("type", "raw")]);
        x.empty("source", &[("file", iso)]);
        x.empty("target", &[("dev", &dev), ("bus", bus)]);
        x.empty("readonly", &[]);
        x.close("disk");
    }
    if spec.disks.iter().any(|d| d.interface == DiskInterface::VirtioScsi) {
        x.empty("controller", &[("type", "scsi"), ("index", "0"), ("model", "virtio-scsi")]);
    }

    for nic in &spec.nics {
        x.open("interface", &[("type", "bridge")]);
        x.empty("source", &[("bridge", &nic.network)]);
        x.empty("mac", &[("address", &nic.mac.to_ascii_lowercase())]);
        let model = match nic.model {
            NicModel::Virtio => "virtio",
            NicModel::E1000 => "e1000",
            NicModel::Rtl8139 => "rtl8139",
        };
        x.empty("model", &[("type", model)]);
        x.close("interface");
    }

    if spec.serial_console {
        x.open("serial", &[("type", "pty")]);
        x.empty("log", &[("file", console_log), ("append", "on")]);
        x.empty("target", &[("port", "0")]);
        x.close("serial");
        x.open("console", &[("type", "pty")]);
        x.empty("target", &[("type", "serial"), ("port", "0")]);
        x.close("console");
    }

    if let Some(graphics) = &spec.graphics {
        match graphics.kind {
            GraphicsKind::Vnc => {
                let listen = graphics.listen.as_deref().unwrap_or(DEFAULT_VNC_LISTEN);
                let mut attrs = vec![("type", "vnc"), ("port", "-1"), ("autoport", "yes"), ("listen", listen)];
                if let Some(password) = &graphics.password {
                    attrs.push(("passwd", password));
                }
                x.empty("input", &[("type", "tablet"), ("bus", "usb")]);
                x.empty("graphics", &attrs);
            }
        }
    }
    x.empty("memballoon", &[("model", "none")]);
    x.close("devices");
    x.close("domain");

    let xml = x.finish();
    // Belt and braces: every value was checked above; a character XML cannot carry here is a bug.
    if let Some(bad) = xml.chars().find(|c| !is_xml_char(*c)) {
        return Err(XmlError::InvalidOption {
            vm_id: spec.id,
            option: "rendered XML",
            reason: format!("contains the character {bad:?}, which XML cannot carry"),
        });
    }
    Ok(xml)
}

/// The engine's VM id recorded in our `<metadata>` element of a domain XML (as libvirt returns
/// it), or `None` when the domain is not one of ours or the XML is unreadable.
pub fn vm_id_from_domain_xml(xml: &str) -> Option<VmId> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let domain = doc.root_element();
    if !domain.has_tag_name("domain") {
        return None;
    }
    let metadata = domain.children().find(|n| n.has_tag_name("metadata"))?;
    let vm = metadata.children().find(|n| n.has_tag_name((METADATA_NS, "vm")))?;
    let id = vm.children().find(|n| n.has_tag_name((METADATA_NS, "id")))?;
    id.text()?.trim().parse().ok()
}

/// The guest-side target name (`vda`, `sdb`, `hda`, …) [`domain_xml`] gives each disk, in the
/// order of `disks`. Bootable disks get the first names of their bus (see the module docs).
pub fn disk_targets(disks: &[DiskSpec]) -> Vec<String> {
    let mut targets = vec![String::new(); disks.len()];
    let (mut virtio, mut scsi, mut ide) = (0usize, 0usize, 0usize);
    for index in disk_render_order(disks) {
        let (prefix, counter) = match disks[index].interface {
            DiskInterface::Virtio => ("vd", &mut virtio),
            DiskInterface::VirtioScsi => ("sd", &mut scsi),
            DiskInterface::Ide => ("hd", &mut ide),
        };
        targets[index] = format!("{prefix}{}", disk_letters(*counter));
        *counter += 1;
    }
    targets
}

/// The target name and bus of the cloud-init CD-ROM: after the disks of its bus.
fn cdrom_target(spec: &VmSpec) -> (String, &'static str) {
    let count = |interface| spec.disks.iter().filter(|d| d.interface == interface).count();
    if is_q35(spec) {
        (format!("sd{}", disk_letters(count(DiskInterface::VirtioScsi))), "sata")
    } else {
        (format!("hd{}", disk_letters(count(DiskInterface::Ide))), "ide")
    }
}

fn is_q35(spec: &VmSpec) -> bool {
    spec.machine.as_deref().is_some_and(|m| m == "q35" || m.starts_with("pc-q35"))
}

/// Indices of `disks`: bootable ones first, each group in spec order.
fn disk_render_order(disks: &[DiskSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..disks.len()).collect();
    order.sort_by_key(|&i| !disks[i].bootable); // stable: false (bootable) first
    order
}

/// libvirt's disk-name suffix: 0 → `a`, 25 → `z`, 26 → `aa`, 27 → `ab`, …
fn disk_letters(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index;
    loop {
        letters.push(char::from(b'a' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    letters.iter().rev().collect()
}

fn disk_bus(interface: DiskInterface) -> &'static str {
    match interface {
        DiskInterface::Virtio => "virtio",
        DiskInterface::VirtioScsi => "scsi",
        DiskInterface::Ide => "ide",
    }
}

fn disk_serial(disk: &DiskSpec) -> String {
    disk.id.to_string().chars().take(DISK_SERIAL_LEN).collect()
}

fn boot_dev(device: BootDevice) -> &'static str {
    match device {
        BootDevice::Hd => "hd",
        BootDevice::Cdrom => "cdrom",
        BootDevice::Network => "network",
    }
}

/// Characters of XML 1.0's `Char` production, minus the control characters we never pass on.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
}

/// Validation of a spec, producing errors that name the field.
struct Checker {
    vm_id: VmId,
}

impl Checker {
    fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> XmlError {
        XmlError::InvalidInput { vm_id: self.vm_id, field: field.into(), reason: reason.into() }
    }

    /// Printable text: no control characters (which XML cannot carry or which make no sense in
    /// a name, path or command line).
    fn text(&self, field: &str, value: &str) -> Result<(), XmlError> {
        match value.chars().find(|c| c.is_control() || !is_xml_char(*c)) {
            Some(c) => Err(self.invalid(field, format!("contains the control character {c:?}; remove it"))),
            None => Ok(()),
        }
    }

    fn abs_path<'p>(&self, field: &str, path: &'p Path) -> Result<&'p str, XmlError> {
        let text = path
            .to_str()
            .ok_or_else(|| self.invalid(field, format!("{} is not valid UTF-8; rename the file", path.display())))?;
        if !path.is_absolute() {
            return Err(self.invalid(field, format!("'{text}' is not an absolute path")));
        }
        self.text(field, text)?;
        Ok(text)
    }

    fn option_path<'p>(&self, option: &'static str, path: &'p Path) -> Result<&'p str, XmlError> {
        self.abs_path(option, path).map_err(|e| match e {
            XmlError::InvalidInput { reason, .. } => XmlError::InvalidOption { vm_id: self.vm_id, option, reason },
            other => other,
        })
    }

    fn vm(&self, spec: &VmSpec) -> Result<(), XmlError> {
        let name = &spec.name;
        if name.trim().is_empty() {
            return Err(self.invalid("name", "is empty; give the VM a name"));
        }
        if name.chars().count() > MAX_VM_NAME_LEN {
            return Err(self.invalid("name", format!("is longer than {MAX_VM_NAME_LEN} characters; shorten it")));
        }
        if name.contains('/') {
            return Err(self.invalid("name", "contains '/', which libvirt refuses in domain names"));
        }
        self.text("name", name)?;

        let cpu = spec.cpu;
        for (field, value) in [("cpu.sockets", cpu.sockets), ("cpu.cores", cpu.cores), ("cpu.threads", cpu.threads)] {
            if value == 0 {
                return Err(self.invalid(field, "is 0; a VM needs at least one of each"));
            }
        }

        let memory = spec.memory.bytes();
        if memory == 0 {
            return Err(self.invalid("memory", "is 0; give the VM some memory"));
        }
        if !memory.is_multiple_of(ByteSize::KIB) {
            return Err(self.invalid("memory", format!("{memory} bytes is not a whole number of KiB")));
        }

        if let Some(machine) = &spec.machine
            && (machine.is_empty() || !machine.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(self.invalid(
                "machine",
                format!("'{}' is not a QEMU machine type (such as pc or q35)", machine.escape_debug()),
            ));
        }

        match &spec.boot {
            Boot::Devices { order } => {
                for (i, device) in order.iter().enumerate() {
                    if order[..i].contains(device) {
                        return Err(self.invalid(
                            format!("boot.order[{i}]"),
                            format!("{} is listed twice; list each boot device once", boot_dev(*device)),
                        ));
                    }
                }
            }
            Boot::Kernel { kernel, initrd, cmdline } => {
                self.abs_path("boot.kernel", kernel)?;
                if let Some(initrd) = initrd {
                    self.abs_path("boot.initrd", initrd)?;
                }
                self.text("boot.cmdline", cmdline)?;
            }
        }

        let is_q35 = is_q35(spec);
        let mut disk_ids = HashSet::new();
        let mut ide = 0;
        for (i, disk) in spec.disks.iter().enumerate() {
            if !disk_ids.insert(disk.id) {
                return Err(self.invalid(format!("disks[{i}].id"), format!("disk {} is attached twice", disk.id)));
            }
            if disk.interface == DiskInterface::Ide {
                ide += 1;
                if is_q35 {
                    return Err(self.invalid(
                        format!("disks[{i}].interface"),
                        "q35 machines have no IDE controller; use virtio or virtio_scsi",
                    ));
                }
                if ide > MAX_IDE_DISKS {
                    return Err(self.invalid(
                        format!("disks[{i}].interface"),
                        format!("at most {MAX_IDE_DISKS} IDE disks fit; use virtio or virtio_scsi for the others"),
                    ));
                }
            }
        }

        if spec.cloud_init.is_some() && !is_q35 && ide >= MAX_IDE_DISKS {
            return Err(self.invalid(
                "cloud_init",
                format!(
                    "the cloud-init CD-ROM needs an IDE slot and {MAX_IDE_DISKS} IDE disks use them all; move a \
                     disk to virtio"
                ),
            ));
        }
        if let Some(serial) = &spec.serial {
            self.text("serial", serial)?;
            if serial.is_empty() || serial.chars().count() > MAX_SERIAL_LEN {
                return Err(self.invalid("serial", format!("must be 1 to {MAX_SERIAL_LEN} characters")));
            }
        }

        let mut macs = HashSet::new();
        for (i, nic) in spec.nics.iter().enumerate() {
            self.mac(&format!("nics[{i}].mac"), &nic.mac)?;
            if !macs.insert(nic.mac.to_ascii_lowercase()) {
                return Err(self.invalid(format!("nics[{i}].mac"), format!("{} is used by two NICs", nic.mac)));
            }
            self.bridge(&format!("nics[{i}].network"), &nic.network)?;
        }

        if let Some(graphics) = &spec.graphics {
            if let Some(listen) = &graphics.listen
                && listen.parse::<IpAddr>().is_err()
            {
                return Err(self.invalid(
                    "graphics.listen",
                    format!("'{}' is not an IP address (such as 127.0.0.1 or 0.0.0.0)", listen.escape_debug()),
                ));
            }
            if let Some(password) = &graphics.password {
                self.text("graphics.password", password)?;
                if password.is_empty() {
                    return Err(self.invalid("graphics.password", "is empty; omit it for no password"));
                }
                if password.chars().count() > MAX_VNC_PASSWORD_LEN {
                    return Err(self.invalid(
                        "graphics.password",
                        format!("VNC uses at most {MAX_VNC_PASSWORD_LEN} characters of a password; shorten it"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `xx:xx:xx:xx:xx:xx`, hexadecimal, unicast (libvirt refuses multicast addresses).
    fn mac(&self, field: &str, mac: &str) -> Result<(), XmlError> {
        let octets: Vec<&str> = mac.split(':').collect();
        let well_formed =
            octets.len() == 6 && octets.iter().all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
        if !well_formed {
            return Err(self.invalid(
                field,
                format!("'{}' is not a MAC address of the form 52:54:00:12:34:56", mac.escape_debug()),
            ));
        }
        let first = u8::from_str_radix(octets[0], 16).map_err(|_| self.invalid(field, "bad first octet"))?;
        if first & 1 == 1 {
            return Err(self.invalid(field, format!("{mac} is a multicast address; a NIC needs a unicast one")));
        }
        Ok(())
    }

    /// A Linux bridge name: 1–15 bytes of letters, digits, `_`, `.`, `-` (and not `.`/`..`).
    fn bridge(&self, field: &str, name: &str) -> Result<(), XmlError> {
        if name.is_empty() || name.len() > MAX_BRIDGE_NAME_LEN {
            return Err(self.invalid(
                field,
                format!(
                    "'{}' is not a usable bridge name: it must be 1 to {MAX_BRIDGE_NAME_LEN} characters",
                    name.escape_debug()
                ),
            ));
        }
        if name == "." || name == ".." || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(self.invalid(
                field,
                format!("'{}' is not a usable bridge name: use letters, digits, '_', '.' and '-'", name.escape_debug()),
            ));
        }
        Ok(())
    }

    fn disks(&self, spec: &VmSpec, disks: &[ResolvedDisk]) -> Result<(), XmlError> {
        if disks.len() != spec.disks.len() {
            return Err(XmlError::DisksMismatch {
                vm_id: self.vm_id,
                reason: format!("the spec has {} disks, {} were resolved", spec.disks.len(), disks.len()),
            });
        }
        for (i, (wanted, resolved)) in spec.disks.iter().zip(disks).enumerate() {
            if wanted.id != resolved.spec.id {
                return Err(XmlError::DisksMismatch {
                    vm_id: self.vm_id,
                    reason: format!("disk {i} is {} in the spec but {} resolved", wanted.id, resolved.spec.id),
                });
            }
            self.abs_path(&format!("disks[{i}] (disk {}) path", wanted.id), &resolved.path)?;
        }
        Ok(())
    }
}

/// A minimal indenting XML writer: attribute values and text are always escaped.
#[derive(Debug, Default)]
struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            let _ = write!(self.out, " {key}='");
            escape_into(&mut self.out, value);
            self.out.push('\'');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(name, attrs);
        self.out.push('>');
        escape_into(&mut self.out, text);
        let _ = writeln!(self.out, "</{name}>");
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        let _ = writeln!(self.out, "</{name}>");
    }

    fn finish(self) -> String {
        self.out
    }
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_agent_api::v1::{CloudInit, CpuTopology, DiskSource, Graphics, NicSpec};
    use oxvirt_types::{DiskId, NicId, StorageDomainId, VolumeId};
    use std::collections::BTreeMap;
    use std::process::Command;

    fn volume_disk(interface: DiskInterface) -> DiskSpec {
        DiskSpec {
            id: DiskId::new_random(),
            interface,
            source: DiskSource::Volume {
                storage_domain_id: StorageDomainId::new_random(),
                image_id: DiskId::new_random(),
                volume_id: VolumeId::new_random(),
            },
            bootable: false,
            read_only: false,
        }
    }

    fn resolve(disks: &[DiskSpec]) -> Vec<ResolvedDisk> {
        disks
            .iter()
            .enumerate()
            .map(|(i, d)| ResolvedDisk {
                spec: d.clone(),
                path: PathBuf::from(format!("/srv/sd/images/{}/vol{i}", d.id)),
                format: if i % 2 == 0 { VolumeFormat::Cow } else { VolumeFormat::Raw },
            })
            .collect()
    }

    fn opts(domain_type: DomainType) -> RenderOptions {
        RenderOptions {
            domain_type,
            console_log: PathBuf::from("/var/log/oxvirt/console/vm1.log"),
            cloud_init_iso: None,
        }
    }

    /// Direct kernel boot, two virtio disks, one virtio-scsi, one IDE, a NIC and VNC.
    fn full_spec() -> VmSpec {
        let mut iso = volume_disk(DiskInterface::Ide);
        iso.source = DiskSource::File { path: PathBuf::from("/isos/tools.iso"), format: VolumeFormat::Raw };
        iso.read_only = true;
        VmSpec {
            id: VmId::new_random(),
            name: "vm1".into(),
            cpu: CpuTopology { sockets: 2, cores: 2, threads: 1 },
            memory: ByteSize::from_mib(256),
            machine: None,
            boot: Boot::Kernel {
                kernel: PathBuf::from("/guest/vmlinuz"),
                initrd: Some(PathBuf::from("/guest/initrd.img")),
                cmdline: "console=ttyS0 quiet".into(),
            },
            disks: vec![
                volume_disk(DiskInterface::Virtio),
                volume_disk(DiskInterface::Virtio),
                volume_disk(DiskInterface::VirtioScsi),
                iso,
            ],
            nics: vec![NicSpec {
                id: NicId::new_random(),
                mac: "52:54:00:AB:cd:01".into(),
                model: NicModel::Virtio,
                network: "ovirtmgmt".into(),
            }],
            graphics: Some(Graphics { kind: GraphicsKind::Vnc, listen: None, password: Some("s3cret".into()) }),
            custom_properties: BTreeMap::new(),
            serial: None,
            cloud_init: None,
            serial_console: true,
        }
    }

    const CLOUD_INIT_ISO: &str = "/var/lib/oxvirt/cloud-init/vm1.iso";

    fn render(spec: &VmSpec, domain_type: DomainType) -> Result<String, XmlError> {
        let opts = RenderOptions {
            cloud_init_iso: spec.cloud_init.as_ref().map(|_| PathBuf::from(CLOUD_INIT_ISO)),
            ..opts(domain_type)
        };
        domain_xml(spec, &resolve(&spec.disks), &opts)
    }

    fn cloud_init() -> CloudInit {
        CloudInit { meta_data: "instance-id: x\n".into(), user_data: "#cloud-config\n".into(), network_config: None }
    }

    #[test]
    fn a_spec_without_a_serial_console_has_no_serial_port() {
        let with = render(&full_spec(), DomainType::Qemu).expect("renders");
        let doc = roxmltree::Document::parse(&with).expect("well-formed XML");
        let devices = child(doc.root_element(), "devices");
        assert_eq!((children(devices, "serial").len(), children(devices, "console").len()), (1, 1));

        let spec = VmSpec { serial_console: false, ..full_spec() };
        let without = render(&spec, DomainType::Qemu).expect("renders");
        let doc = roxmltree::Document::parse(&without).expect("well-formed XML");
        let devices = child(doc.root_element(), "devices");
        assert_eq!((children(devices, "serial").len(), children(devices, "console").len()), (0, 0), "{without}");
    }

    #[test]
    fn serial_number_and_cloud_init_render_sysinfo_and_a_cdrom() {
        let mut spec = full_spec();
        spec.serial = Some("myserial & co".into());
        spec.cloud_init = Some(cloud_init());
        let xml = render(&spec, DomainType::Qemu).expect("renders");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let domain = doc.root_element();
        let sysinfo = child(domain, "sysinfo");
        assert_eq!(sysinfo.attribute("type"), Some("smbios"));
        let entries: Vec<(Option<&str>, Option<&str>)> =
            children(child(sysinfo, "system"), "entry").iter().map(|e| (e.attribute("name"), e.text())).collect();
        let id = spec.id.to_string();
        assert_eq!(
            entries,
            [
                (Some("manufacturer"), Some(SMBIOS_MANUFACTURER)),
                (Some("product"), Some(SMBIOS_PRODUCT)),
                (Some("serial"), Some("myserial & co")),
                (Some("uuid"), Some(id.as_str())),
            ]
        );
        assert_eq!(child(child(domain, "os"), "smbios").attribute("mode"), Some("sysinfo"));
        let cdroms: Vec<_> = children(child(domain, "devices"), "disk")
            .into_iter()
            .filter(|d| d.attribute("device") == Some("cdrom"))
            .collect();
        assert_eq!(cdroms.len(), 1);
        let target = child(cdroms[0], "target");
        // full_spec has one IDE disk (hda): the CD-ROM comes after it.
        assert_eq!((target.attribute("dev"), target.attribute("bus")), (Some("hdb"), Some("ide")));
        assert_eq!(child(cdroms[0], "source").attribute("file"), Some(CLOUD_INIT_ISO));
        child(cdroms[0], "readonly");

        spec.machine = Some("q35".into());
        spec.disks.retain(|d| d.interface != DiskInterface::Ide);
        let xml = render(&spec, DomainType::Qemu).expect("renders");
        assert!(
            xml.contains("<target dev='sdb' bus='sata'/>") || xml.contains("<target dev=\"sdb\" bus=\"sata\"/>"),
            "{xml}"
        );

        // Without a serial number, no sysinfo; the ISO option must match the spec.
        spec.serial = None;
        let xml = render(&spec, DomainType::Qemu).expect("renders");
        assert!(!xml.contains("sysinfo") && !xml.contains("smbios"), "{xml}");
        let err = domain_xml(&spec, &resolve(&spec.disks), &opts(DomainType::Qemu)).expect_err("no ISO path");
        assert!(matches!(err, XmlError::InvalidOption { option: "cloud_init_iso", .. }), "{err}");
    }

    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        node.children()
            .find(|n| n.has_tag_name(name))
            .unwrap_or_else(|| panic!("<{name}> under <{:?}>", node.tag_name()))
    }

    fn children<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Vec<roxmltree::Node<'a, 'i>> {
        node.children().filter(|n| n.has_tag_name(name)).collect()
    }

    fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> String {
        child(node, name).text().unwrap_or_default().to_owned()
    }

    #[test]
    fn kernel_boot_vm_with_all_device_kinds_renders_every_element() {
        let spec = full_spec();
        let xml = render(&spec, DomainType::Kvm).expect("renders");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let domain = doc.root_element();
        assert_eq!(domain.tag_name().name(), "domain");
        assert_eq!(domain.attribute("type"), Some("kvm"));
        assert_eq!(text_of(domain, "name"), "vm1");
        assert_eq!(text_of(domain, "uuid"), spec.id.to_string());
        assert_eq!(child(domain, "memory").attribute("unit"), Some("KiB"));
        assert_eq!(text_of(domain, "memory"), (256 * 1024).to_string());
        assert_eq!(text_of(domain, "vcpu"), "4");

        let os = child(domain, "os");
        let os_type = child(os, "type");
        assert_eq!(os_type.text(), Some("hvm"));
        assert_eq!(os_type.attribute("arch"), Some("x86_64"));
        assert_eq!(os_type.attribute("machine"), Some("pc"));
        assert_eq!(text_of(os, "kernel"), "/guest/vmlinuz");
        assert_eq!(text_of(os, "initrd"), "/guest/initrd.img");
        assert_eq!(text_of(os, "cmdline"), "console=ttyS0 quiet");
        assert!(children(os, "boot").is_empty(), "no boot devices with a kernel");

        child(child(domain, "features"), "acpi");
        let cpu = child(domain, "cpu");
        assert_eq!(cpu.attribute("mode"), Some("host-passthrough"));
        let topology = child(cpu, "topology");
        assert_eq!(
            (topology.attribute("sockets"), topology.attribute("cores"), topology.attribute("threads")),
            (Some("2"), Some("2"), Some("1"))
        );
        assert_eq!(text_of(domain, "on_poweroff"), "destroy");
        assert_eq!(text_of(domain, "on_reboot"), "restart");
        assert_eq!(text_of(domain, "on_crash"), "destroy");

        let devices = child(domain, "devices");
        let disks = children(devices, "disk");
        assert_eq!(disks.len(), 4);
        let expected =
            [("vda", "virtio", "qcow2"), ("vdb", "virtio", "raw"), ("sda", "scsi", "qcow2"), ("hda", "ide", "raw")];
        let resolved = resolve(&spec.disks);
        for (i, disk) in disks.iter().enumerate() {
            let (dev, bus, format) = expected[i];
            assert_eq!(disk.attribute("type"), Some("file"));
            assert_eq!(disk.attribute("device"), Some("disk"));
            let driver = child(*disk, "driver");
            assert_eq!((driver.attribute("name"), driver.attribute("type")), (Some("qemu"), Some(format)));
            assert_eq!(driver.attribute("cache"), None);
            assert_eq!(driver.attribute("error_policy"), Some("stop"), "propagate_errors=false");
            assert_eq!(child(*disk, "source").attribute("file"), resolved[i].path.to_str());
            let target = child(*disk, "target");
            assert_eq!((target.attribute("dev"), target.attribute("bus")), (Some(dev), Some(bus)));
            let serial = text_of(*disk, "serial");
            assert_eq!(serial.len(), DISK_SERIAL_LEN);
            assert!(spec.disks[i].id.to_string().starts_with(&serial));
            assert_eq!(disk.children().any(|n| n.has_tag_name("readonly")), i == 3, "only the ISO is read-only");
            assert!(children(*disk, "boot").is_empty(), "no per-device boot order");
        }
        assert_eq!(disk_targets(&spec.disks), ["vda", "vdb", "sda", "hda"]);

        let controllers = children(devices, "controller");
        assert_eq!(controllers.len(), 1);
        assert_eq!(
            (controllers[0].attribute("type"), controllers[0].attribute("model")),
            (Some("scsi"), Some("virtio-scsi"))
        );

        let interface = child(devices, "interface");
        assert_eq!(interface.attribute("type"), Some("bridge"));
        assert_eq!(child(interface, "source").attribute("bridge"), Some("ovirtmgmt"));
        assert_eq!(child(interface, "mac").attribute("address"), Some("52:54:00:ab:cd:01"));
        assert_eq!(child(interface, "model").attribute("type"), Some("virtio"));

        let serial = child(devices, "serial");
        assert_eq!(serial.attribute("type"), Some("pty"));
        let log = child(serial, "log");
        assert_eq!(log.attribute("file"), Some("/var/log/oxvirt/console/vm1.log"));
        assert_eq!(log.attribute("append"), Some("on"));
        assert_eq!(child(serial, "target").attribute("port"), Some("0"));
        let console_target = child(child(devices, "console"), "target");
        assert_eq!((console_target.attribute("type"), console_target.attribute("port")), (Some("serial"), Some("0")));

        let graphics = child(devices, "graphics");
        assert_eq!(graphics.attribute("type"), Some("vnc"));
        assert_eq!(graphics.attribute("port"), Some("-1"));
        assert_eq!(graphics.attribute("autoport"), Some("yes"));
        assert_eq!(graphics.attribute("listen"), Some(DEFAULT_VNC_LISTEN));
        assert_eq!(graphics.attribute("passwd"), Some("s3cret"));
        let input = child(devices, "input");
        assert_eq!((input.attribute("type"), input.attribute("bus")), (Some("tablet"), Some("usb")));
        assert_eq!(child(devices, "memballoon").attribute("model"), Some("none"));
    }

    #[test]
    fn device_boot_on_tcg_lists_boot_devices_and_uses_no_host_cpu() {
        let mut spec = full_spec();
        spec.boot = Boot::Devices { order: vec![BootDevice::Cdrom, BootDevice::Hd, BootDevice::Network] };
        spec.machine = Some("pc-i440fx-7.2".into());
        spec.graphics = None;
        let xml = render(&spec, DomainType::Qemu).expect("renders");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let domain = doc.root_element();
        assert_eq!(domain.attribute("type"), Some("qemu"));
        let os = child(domain, "os");
        assert_eq!(child(os, "type").attribute("machine"), Some("pc-i440fx-7.2"));
        let boots: Vec<_> = children(os, "boot").iter().filter_map(|b| b.attribute("dev")).collect();
        assert_eq!(boots, ["cdrom", "hd", "network"]);
        assert!(os.children().all(|n| !n.has_tag_name("kernel") && !n.has_tag_name("cmdline")));
        let cpu = child(domain, "cpu");
        assert_eq!(cpu.attribute("mode"), None, "TCG cannot pass the host CPU through");
        child(cpu, "topology");
        let devices = child(domain, "devices");
        assert!(children(devices, "graphics").is_empty() && children(devices, "input").is_empty());
    }

    #[test]
    fn bootable_disk_comes_first_and_takes_the_first_name_of_its_bus() {
        let mut spec = full_spec();
        spec.disks[1].bootable = true; // the second virtio disk
        assert_eq!(disk_targets(&spec.disks), ["vdb", "vda", "sda", "hda"]);
        let xml = render(&spec, DomainType::Qemu).expect("renders");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let devices = child(doc.root_element(), "devices");
        let first = children(devices, "disk")[0];
        assert_eq!(child(first, "target").attribute("dev"), Some("vda"));
        assert!(spec.disks[1].id.to_string().starts_with(&text_of(first, "serial")));
    }

    #[test]
    fn disk_names_continue_past_z_like_libvirt() {
        assert_eq!(disk_letters(0), "a");
        assert_eq!(disk_letters(25), "z");
        assert_eq!(disk_letters(26), "aa");
        assert_eq!(disk_letters(27), "ab");
        assert_eq!(disk_letters(26 + 26 * 26), "aaa");
    }

    #[test]
    fn special_characters_are_escaped_everywhere() {
        let mut spec = full_spec();
        spec.name = r#"a&b<c>'d"e"#.into();
        spec.boot = Boot::Kernel {
            kernel: PathBuf::from("/g/&<vmlinuz>'\""),
            initrd: None,
            cmdline: r#"init=/bin/sh -c "echo a&b <x> 'y'""#.into(),
        };
        spec.graphics = Some(Graphics { kind: GraphicsKind::Vnc, listen: None, password: Some("p&<'\">".into()) });
        let mut disks = resolve(&spec.disks);
        disks[0].path = PathBuf::from("/srv/it's <a> & \"b\".img");
        let opts = RenderOptions {
            domain_type: DomainType::Qemu,
            console_log: PathBuf::from("/log/a&b<'>.log"),
            cloud_init_iso: None,
        };
        let xml = domain_xml(&spec, &disks, &opts).expect("renders");
        let doc = roxmltree::Document::parse(&xml).expect("escaped XML parses");
        let domain = doc.root_element();
        assert_eq!(text_of(domain, "name"), spec.name);
        let os = child(domain, "os");
        assert_eq!(text_of(os, "kernel"), "/g/&<vmlinuz>'\"");
        assert_eq!(text_of(os, "cmdline"), r#"init=/bin/sh -c "echo a&b <x> 'y'""#);
        let devices = child(domain, "devices");
        let first_disk = children(devices, "disk")[0];
        assert_eq!(child(first_disk, "source").attribute("file"), Some("/srv/it's <a> & \"b\".img"));
        assert_eq!(child(child(devices, "serial"), "log").attribute("file"), Some("/log/a&b<'>.log"));
        assert_eq!(child(devices, "graphics").attribute("passwd"), Some("p&<'\">"));
    }

    #[test]
    fn metadata_round_trips_and_foreign_domains_are_not_ours() {
        let spec = full_spec();
        let xml = render(&spec, DomainType::Kvm).expect("renders");
        assert_eq!(vm_id_from_domain_xml(&xml), Some(spec.id));

        // libvirt may rebind the prefix: only the namespace counts.
        let rebound = xml.replace("oxvirt:", "ns0:").replace("xmlns:oxvirt", "xmlns:ns0");
        assert_eq!(vm_id_from_domain_xml(&rebound), Some(spec.id));

        let foreign = "<domain type='kvm'><name>x</name><uuid>6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b</uuid>\
                       <metadata><other:vm xmlns:other='https://example.org/x'><other:id>\
                       6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b</other:id></other:vm></metadata></domain>";
        assert_eq!(vm_id_from_domain_xml(foreign), None);
        assert_eq!(vm_id_from_domain_xml("<domain type='kvm'><name>x</name></domain>"), None);
        assert_eq!(vm_id_from_domain_xml("not xml"), None);
        let bad_id = xml.replace(&spec.id.to_string(), "not-a-uuid");
        assert_eq!(vm_id_from_domain_xml(&bad_id), None);
    }

    fn invalid_field(spec: &VmSpec) -> String {
        match render(spec, DomainType::Kvm) {
            Err(e @ XmlError::InvalidInput { .. }) => {
                assert_eq!(e.kind(), ErrorKind::InvalidInput);
                let XmlError::InvalidInput { field, .. } = e else { unreachable!() };
                field
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn invalid_specs_are_refused_naming_the_field() {
        type Edit = fn(&mut VmSpec);
        let cases: &[(&str, Edit)] = &[
            ("name", |s| s.name = String::new()),
            ("name", |s| s.name = "a/b".into()),
            ("name", |s| s.name = "a\nb".into()),
            ("name", |s| s.name = "x".repeat(MAX_VM_NAME_LEN + 1)),
            ("memory", |s| s.memory = ByteSize(0)),
            ("memory", |s| s.memory = ByteSize(1000)),
            ("cpu.cores", |s| s.cpu.cores = 0),
            ("machine", |s| s.machine = Some("pc'; rm".into())),
            ("serial", |s| s.serial = Some(String::new())),
            ("serial", |s| s.serial = Some("a\u{7}b".into())),
            ("serial", |s| s.serial = Some("x".repeat(MAX_SERIAL_LEN + 1))),
            ("boot.kernel", |s| {
                s.boot = Boot::Kernel { kernel: PathBuf::from("vmlinuz"), initrd: None, cmdline: String::new() }
            }),
            ("boot.cmdline", |s| {
                s.boot = Boot::Kernel { kernel: PathBuf::from("/k"), initrd: None, cmdline: "a\u{1}b".into() }
            }),
            ("boot.order[1]", |s| s.boot = Boot::Devices { order: vec![BootDevice::Hd, BootDevice::Hd] }),
            ("nics[0].mac", |s| s.nics[0].mac = "52:54:00:ab:cd".into()),
            ("nics[0].mac", |s| s.nics[0].mac = "52:54:00:ab:cd:zz".into()),
            ("nics[0].mac", |s| s.nics[0].mac = "01:00:5e:00:00:01".into()),
            ("nics[0].network", |s| s.nics[0].network = "a-very-long-bridge".into()),
            ("nics[0].network", |s| s.nics[0].network = "br 0".into()),
            ("nics[0].network", |s| s.nics[0].network = String::new()),
            ("graphics.listen", |s| {
                s.graphics = Some(Graphics { kind: GraphicsKind::Vnc, listen: Some("'x".into()), password: None })
            }),
            ("graphics.password", |s| {
                s.graphics =
                    Some(Graphics { kind: GraphicsKind::Vnc, listen: None, password: Some("123456789".into()) })
            }),
            ("disks[1].id", |s| s.disks[1].id = s.disks[0].id),
            ("disks[3].interface", |s| s.machine = Some("q35".into())),
        ];
        for (field, edit) in cases {
            let mut spec = full_spec();
            edit(&mut spec);
            assert_eq!(&invalid_field(&spec), field, "spec edited for {field}");
        }

        let mut spec = full_spec();
        for _ in 0..MAX_IDE_DISKS {
            spec.disks.push(volume_disk(DiskInterface::Ide));
        }
        assert_eq!(invalid_field(&spec), format!("disks[{}].interface", 3 + MAX_IDE_DISKS));

        // Four IDE disks leave the cloud-init CD-ROM no IDE slot.
        let mut spec = full_spec();
        for _ in 1..MAX_IDE_DISKS {
            spec.disks.push(volume_disk(DiskInterface::Ide));
        }
        spec.cloud_init = Some(cloud_init());
        assert_eq!(invalid_field(&spec), "cloud_init");
    }

    #[test]
    fn resolved_disks_must_match_the_spec() {
        let spec = full_spec();
        let mut disks = resolve(&spec.disks);
        disks.pop();
        let err = domain_xml(&spec, &disks, &opts(DomainType::Kvm)).expect_err("one disk short");
        assert!(matches!(err, XmlError::DisksMismatch { .. }) && err.kind() == ErrorKind::Internal, "{err}");

        let mut disks = resolve(&spec.disks);
        disks.swap(0, 1);
        let err = domain_xml(&spec, &disks, &opts(DomainType::Kvm)).expect_err("disks out of order");
        assert!(matches!(err, XmlError::DisksMismatch { .. }), "{err}");

        let mut disks = resolve(&spec.disks);
        disks[2].path = PathBuf::from("relative.img");
        let err = domain_xml(&spec, &disks, &opts(DomainType::Kvm)).expect_err("relative path");
        assert!(matches!(&err, XmlError::InvalidInput { field, .. } if field.starts_with("disks[2]")), "{err}");

        let bad_opts = RenderOptions {
            domain_type: DomainType::Kvm,
            console_log: PathBuf::from("console.log"),
            cloud_init_iso: None,
        };
        let err = domain_xml(&spec, &resolve(&spec.disks), &bad_opts).expect_err("relative console log");
        assert!(matches!(err, XmlError::InvalidOption { option: "console_log", .. }), "{err}");
    }

    /// Runs `virsh -c test:///default` (libvirt's in-process test driver: no daemon, nothing
    /// persists) with its user dirs in `home`, so that nothing outside the temp dir is touched.
    fn virsh_test_driver(home: &Path, commands: &str) -> std::process::Output {
        Command::new("virsh")
            .args(["-q", "-c", "test:///default", commands])
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env_remove("LIBVIRT_DEFAULT_URI")
            .output()
            .expect("virsh runs (package libvirt-clients)")
    }

    #[test]
    fn libvirt_accepts_the_rendered_xml_against_its_schema() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut kernel_kvm = full_spec();
        kernel_kvm.name = "oxvirt-kernel-kvm".into();
        let mut devices_qemu = full_spec();
        devices_qemu.name = "oxvirt-devices-qemu".into();
        devices_qemu.boot = Boot::Devices { order: vec![BootDevice::Hd, BootDevice::Cdrom, BootDevice::Network] };
        devices_qemu.disks[0].bootable = true;
        devices_qemu.serial = Some("myserial".into());
        devices_qemu.cloud_init = Some(cloud_init());
        let mut minimal_q35 = full_spec();
        minimal_q35.name = "oxvirt-minimal-q35".into();
        minimal_q35.machine = Some("q35".into());
        minimal_q35.disks.clear();
        minimal_q35.nics.clear();
        minimal_q35.graphics = Some(Graphics { kind: GraphicsKind::Vnc, listen: Some("::".into()), password: None });
        minimal_q35.boot = Boot::Devices { order: vec![] };
        minimal_q35.cloud_init = Some(cloud_init());

        for (spec, domain_type) in
            [(&kernel_kvm, DomainType::Kvm), (&devices_qemu, DomainType::Qemu), (&minimal_q35, DomainType::Qemu)]
        {
            let xml = render(spec, domain_type).expect("renders");
            let file = tmp.path().join(format!("{}.xml", spec.name));
            std::fs::write(&file, &xml).expect("write XML");
            let out =
                virsh_test_driver(tmp.path(), &format!("define --validate {}; dumpxml {}", file.display(), spec.name));
            assert!(
                out.status.success(),
                "libvirt refused the XML of {}: {}\n{xml}",
                spec.name,
                String::from_utf8_lossy(&out.stderr)
            );
            // What libvirt keeps of the domain still carries our mark.
            let dumped = String::from_utf8_lossy(&out.stdout);
            assert_eq!(vm_id_from_domain_xml(&dumped), Some(spec.id), "metadata lost by libvirt:\n{dumped}");
        }

        // The validation is real: a schema violation is refused.
        let broken = render(&kernel_kvm, DomainType::Kvm).expect("renders").replace("<vcpu ", "<vcpu bogus='1' ");
        let file = tmp.path().join("broken.xml");
        std::fs::write(&file, broken).expect("write XML");
        let out = virsh_test_driver(tmp.path(), &format!("define --validate {}", file.display()));
        assert!(!out.status.success(), "virsh accepted a schema violation");
    }

    /// Property-based fuzzing of the renderer: any spec renders XML that parses and carries
    /// the VM id (and its name), or is refused as invalid input naming a field — never a panic
    /// or a document libvirt would misread (`make fuzz` runs 10⁷ cases).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                "[a-z0-9._-]{1,12}",
                "\\PC{0,16}",
                any::<String>(),
                Just("a'b\"c<d>&e".to_owned()),
            ]
        }

        fn interface() -> impl Strategy<Value = DiskInterface> {
            prop_oneof![Just(DiskInterface::Virtio), Just(DiskInterface::VirtioScsi), Just(DiskInterface::Ide)]
        }

        fn device() -> impl Strategy<Value = BootDevice> {
            prop_oneof![Just(BootDevice::Hd), Just(BootDevice::Cdrom), Just(BootDevice::Network)]
        }

        fn spec() -> impl Strategy<Value = VmSpec> {
            let basics = (
                prop_oneof![text(), "[a-z][a-z0-9-]{0,70}"],
                (any::<u16>(), any::<u16>(), any::<u16>()),
                prop_oneof![
                    Just(0u64),
                    Just(1000),
                    Just(256 * 1024 * 1024),
                    any::<u64>().prop_map(|m| m & !1023),
                    any::<u64>()
                ],
                proptest::option::of(prop_oneof![Just("q35".to_owned()), Just("pc".to_owned()), text()]),
                prop_oneof![
                    proptest::collection::vec(device(), 0..4).prop_map(|order| Boot::Devices { order }),
                    (text(), proptest::option::of(text()), text()).prop_map(|(k, i, c)| Boot::Kernel {
                        kernel: PathBuf::from(format!("/{k}")),
                        initrd: i.map(PathBuf::from),
                        cmdline: c,
                    }),
                ],
            );
            let devices = (
                proptest::collection::vec((interface(), any::<bool>(), any::<bool>()), 0..7),
                proptest::collection::vec((text(), prop_oneof![Just("52:54:00:aa:bb:cc".to_owned()), text()]), 0..3),
                proptest::option::of((proptest::option::of(text()), proptest::option::of(text()))),
                proptest::option::of(text()),
                any::<bool>(),
                any::<bool>(),
            );
            (basics, devices).prop_map(
                |((name, cpu, memory, machine, boot), (disks, nics, graphics, serial, ci, console))| VmSpec {
                    id: VmId::new_random(),
                    name,
                    cpu: CpuTopology { sockets: cpu.0, cores: cpu.1, threads: cpu.2 },
                    memory: ByteSize(memory),
                    machine,
                    boot,
                    disks: disks
                        .into_iter()
                        .map(|(interface, bootable, read_only)| DiskSpec {
                            bootable,
                            read_only,
                            ..volume_disk(interface)
                        })
                        .collect(),
                    nics: nics
                        .into_iter()
                        .map(|(network, mac)| NicSpec {
                            id: NicId::new_random(),
                            mac,
                            model: NicModel::Virtio,
                            network,
                        })
                        .collect(),
                    graphics: graphics.map(|(listen, password)| Graphics { kind: GraphicsKind::Vnc, listen, password }),
                    custom_properties: BTreeMap::new(),
                    serial,
                    cloud_init: ci.then(cloud_init),
                    serial_console: console,
                },
            )
        }

        proptest! {
            #[test]
            fn fuzz_any_spec_renders_xml_carrying_the_vm_or_is_invalid_input(spec in spec()) {
                match render(&spec, DomainType::Qemu) {
                    Ok(xml) => {
                        let doc = roxmltree::Document::parse(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
                        prop_assert_eq!(text_of(doc.root_element(), "name"), spec.name.clone());
                        prop_assert_eq!(vm_id_from_domain_xml(&xml), Some(spec.id), "{}", xml);
                        if let Some(serial) = &spec.serial {
                            prop_assert!(xml.contains("<sysinfo"), "serial {:?} dropped: {}", serial, xml);
                        }
                    }
                    Err(e) => prop_assert!(matches!(e, XmlError::InvalidInput { .. }), "{e}"),
                }
            }
        }
    }
}
