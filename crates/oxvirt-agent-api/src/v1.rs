//! Version 1 of the agent API: JSON over HTTPS, every path under `/v1`.
//!
//! | method & path | body → reply |
//! | --- | --- |
//! | `GET /v1/health` (no auth) | → [`Health`] |
//! | `POST /v1/enrollment` (enrollment secret) | [`EnrollmentRequest`] → [`EnrollmentChallenge`] |
//! | `PUT /v1/enrollment` (enrollment secret) | [`EnrollmentCompletion`] → [`Enrolled`] |
//! | `GET /v1/capabilities` | → [`Capabilities`] |
//! | `GET /v1/vms` | → [`VmStateList`] (full state, for reconciliation) |
//! | `POST /v1/vms` | [`VmSpec`] → [`VmState`] (creates and starts a transient domain) |
//! | `GET /v1/vms/{id}` | → [`VmState`] |
//! | `POST /v1/vms/{id}/{action}` | [`VmActionRequest`] → [`VmState`]; action ∈ [`VmAction`] |
//! | `GET /v1/vms/{id}/console?tail_bytes=N` | → [`ConsoleTail`] |
//! | `GET /v1/vms/{id}/stats`, `GET /v1/stats/vms` | → [`VmStats`], `Vec<VmStats>` |
//! | `GET /v1/stats/host` | → [`HostStats`] |
//! | `GET /v1/events?from=G` | → newline-delimited JSON [`EventEnvelope`]s, held open |
//! | `GET /v1/storage-domains` | → `Vec<StorageDomainInfo>` |
//! | `POST /v1/storage-domains` | [`StorageDomainCreate`] → [`StorageDomainInfo`] |
//! | `POST /v1/storage-domains/{sd}/attach` | [`StorageDomainConnection`] → [`StorageDomainInfo`] |
//! | `POST /v1/storage-domains/{sd}/detach` | → `()` |
//! | `GET /v1/storage-domains/{sd}` | → [`StorageDomainInfo`] |
//! | `GET /v1/storage-domains/{sd}/volumes` | → [`VolumeList`] (every volume found, legal or not) |
//! | `POST /v1/storage-domains/{sd}/volumes` | [`VolumeCreate`] → [`VolumeInfo`] |
//! | `GET /v1/storage-domains/{sd}/images/{img}/volumes/{vol}` | → [`VolumeInfo`] |
//! | `POST /v1/storage-domains/{sd}/images/{img}/volumes/{vol}/resize` | [`VolumeResize`] → [`VolumeInfo`] |
//! | `POST /v1/storage-domains/{sd}/images/{img}/volumes/{vol}/sparsify` | → [`VolumeInfo`] |
//! | `DELETE /v1/storage-domains/{sd}/images/{img}/volumes/{vol}` | → `()` |
//!
//! Every error reply is an [`ApiError`] with the HTTP status of its [`ErrorKind`].

use oxvirt_types::{ByteSize, DiskId, ErrorKind, HostId, NicId, StorageDomainId, VmId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Path prefix of this version.
pub const PREFIX: &str = "/v1";

/// `GET /v1/health`: answered without authentication, so that an administrator (and
/// `make up`) can tell "the agent is up" from "the agent is down".
pub const HEALTH_PATH: &str = paths::HEALTH;

/// The route table of this version, spelled once: the server (`oxvirt-agent-server`, used by
/// the real agent and by the simulator) routes these templates, the engine's client
/// (`oxvirt-agent-client`) fills them with [`paths::fill`]. Placeholders are `{name}`, in
/// axum's syntax.
pub mod paths {
    use std::fmt::Display;

    pub const HEALTH: &str = "/v1/health";
    pub const ENROLLMENT: &str = "/v1/enrollment";
    pub const CAPABILITIES: &str = "/v1/capabilities";
    pub const VMS: &str = "/v1/vms";
    pub const VM: &str = "/v1/vms/{id}";
    pub const VM_CONSOLE: &str = "/v1/vms/{id}/console";
    pub const VM_STATS: &str = "/v1/vms/{id}/stats";
    pub const VM_ACTION: &str = "/v1/vms/{id}/{action}";
    pub const STATS_HOST: &str = "/v1/stats/host";
    pub const STATS_VMS: &str = "/v1/stats/vms";
    pub const EVENTS: &str = "/v1/events";
    pub const STORAGE_DOMAINS: &str = "/v1/storage-domains";
    pub const STORAGE_DOMAIN: &str = "/v1/storage-domains/{sd}";
    pub const STORAGE_DOMAIN_ATTACH: &str = "/v1/storage-domains/{sd}/attach";
    pub const STORAGE_DOMAIN_DETACH: &str = "/v1/storage-domains/{sd}/detach";
    pub const VOLUMES: &str = "/v1/storage-domains/{sd}/volumes";
    pub const VOLUME: &str = "/v1/storage-domains/{sd}/images/{img}/volumes/{vol}";
    pub const VOLUME_RESIZE: &str = "/v1/storage-domains/{sd}/images/{img}/volumes/{vol}/resize";
    /// Rewrites a thin volume without its zeroed clusters (no VM may have it open).
    pub const VOLUME_SPARSIFY: &str = "/v1/storage-domains/{sd}/images/{img}/volumes/{vol}/sparsify";

    /// `template` with its placeholders replaced by `args`, in order.
    ///
    /// # Panics
    /// If the number of arguments differs from the number of placeholders: a programming
    /// error that the first test calling the route finds.
    pub fn fill(template: &str, args: &[&(dyn Display + Sync)]) -> String {
        let mut out = String::with_capacity(template.len() + 36 * args.len());
        let mut args = args.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            let arg = args.next().unwrap_or_else(|| panic!("too few arguments for the agent route {template}"));
            out.push_str(&arg.to_string());
            rest = &rest[close..];
        }
        out.push_str(rest);
        assert!(args.next().is_none(), "too many arguments for the agent route {template}");
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fill_replaces_placeholders_in_order() {
            assert_eq!(fill(VOLUME, &[&"sd", &"img", &"vol"]), "/v1/storage-domains/sd/images/img/volumes/vol");
            assert_eq!(fill(VMS, &[]), "/v1/vms");
        }

        #[test]
        #[should_panic(expected = "too few arguments")]
        fn fill_refuses_missing_arguments() {
            fill(VM_ACTION, &[&"id"]);
        }
    }
}

/// Reply of [`HEALTH_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the agent answers.
    pub status: String,
    /// The agent's version (crate version).
    pub version: String,
    /// The API versions this agent serves, e.g. `["v1"]`.
    pub api_versions: Vec<String>,
}

/// The body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// Names the object and says what to do.
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// Enrollment: how an engine comes to trust an agent and vice versa.
//
// 1. The administrator adds the host in the engine with the host's enrollment secret (oVirt
//    clients send it as the host's `root_password`). The agent has the secret from
//    `--enrollment-secret` or generated it at first start into `<state-dir>/enrollment-secret`.
// 2. `POST /v1/enrollment` with the secret: the agent makes its key pair (kept in its state
//    dir) and answers with a certificate signing request and its identity.
// 3. The engine signs the CSR with its CA and sends `PUT /v1/enrollment` with the secret, the
//    certificate and the CA. From then on the agent presents that certificate and accepts only
//    clients whose certificate the engine's CA issued (mTLS). Enrollment calls are refused once
//    enrolled, except from a client certificate of the same CA (re-issuing).
// ---------------------------------------------------------------------------------------

/// `POST /v1/enrollment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentRequest {
    pub secret: String,
    /// Names (DNS or IP) the engine will put in the agent's certificate; the CSR carries them.
    pub names: Vec<String>,
}

/// Reply to [`EnrollmentRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentChallenge {
    pub host_id: HostId,
    pub hostname: String,
    pub csr_pem: String,
}

/// `PUT /v1/enrollment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentCompletion {
    pub secret: String,
    pub certificate_pem: String,
    pub ca_pem: String,
}

/// Reply to [`EnrollmentCompletion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub host_id: HostId,
}

// ---------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------

/// `GET /v1/capabilities`: what this host is and can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The host's identity: libvirt's `host_uuid`.
    pub host_id: HostId,
    pub hostname: String,
    pub cpu: CpuInfo,
    pub memory: ByteSize,
    pub virtualization: Virtualization,
    pub libvirt_version: String,
    pub qemu_version: String,
    pub nics: Vec<HostNic>,
    pub bridges: Vec<String>,
    /// Installed hook scripts, by hook point (`before_vm_start` → `["10_foo"]`).
    pub hooks: BTreeMap<String, Vec<String>>,
    pub storage_domains: Vec<StorageDomainId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    pub model: String,
    pub flags: Vec<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub threads_per_core: u32,
    pub online_cpus: u32,
}

/// How guests run on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtualization {
    /// `kvm` when hardware virtualization works, else `qemu` (TCG, software emulation).
    pub domain_type: DomainType,
    /// Why KVM is not used, when it is not (e.g. "/dev/kvm missing", "KVM_CREATE_VM failed").
    pub kvm_unusable_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainType {
    Kvm,
    Qemu,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNic {
    pub name: String,
    pub mac: Option<String>,
    pub addresses: Vec<String>,
    pub up: bool,
    /// The bridge this NIC is enslaved to, if any.
    pub bridge: Option<String>,
}

// ---------------------------------------------------------------------------------------
// VMs
// ---------------------------------------------------------------------------------------

/// Everything the agent needs to run a VM. The engine's database is the source of truth;
/// the agent creates a *transient* libvirt domain from this (domain name = `name`, domain
/// UUID = `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmSpec {
    pub id: VmId,
    pub name: String,
    pub cpu: CpuTopology,
    pub memory: ByteSize,
    /// QEMU machine type (`pc`, `q35`, …); `None` = `pc`.
    #[serde(default)]
    pub machine: Option<String>,
    pub boot: Boot,
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    #[serde(default)]
    pub nics: Vec<NicSpec>,
    #[serde(default)]
    pub graphics: Option<Graphics>,
    /// oVirt's custom properties: passed to hook scripts as environment variables.
    #[serde(default)]
    pub custom_properties: BTreeMap<String, String>,
    /// The SMBIOS serial number the guest reads (`None`: QEMU's default, none).
    #[serde(default)]
    pub serial: Option<String>,
    /// A cloud-init NoCloud data source the agent attaches as a CD-ROM for this run only.
    #[serde(default)]
    pub cloud_init: Option<CloudInit>,
    /// A serial console (a pty on the first serial port, logged to the VM's console log);
    /// `false` gives the guest no serial port at all (oVirt's `console.enabled=false`).
    #[serde(default = "serial_console_default")]
    pub serial_console: bool,
}

/// Specs from engines older than the field had a serial console always.
fn serial_console_default() -> bool {
    true
}

/// The files of a cloud-init NoCloud data source (an ISO 9660 image labelled `cidata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInit {
    /// `meta-data` (YAML: `instance-id`, `local-hostname`).
    pub meta_data: String,
    /// `user-data` (a `#cloud-config` document, or a script).
    pub user_data: String,
    /// `network-config` (cloud-init network configuration, version 1); `None`: no file.
    #[serde(default)]
    pub network_config: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTopology {
    pub sockets: u16,
    pub cores: u16,
    pub threads: u16,
}

impl CpuTopology {
    pub fn vcpus(&self) -> u32 {
        // Saturating: 65535³ does not fit a u32, and a wrapped product could pass a limit.
        u32::from(self.sockets).saturating_mul(u32::from(self.cores)).saturating_mul(u32::from(self.threads))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Boot {
    /// Boot from devices in this order (BIOS boot order).
    Devices { order: Vec<BootDevice> },
    /// Direct kernel boot: files on the host.
    Kernel {
        kernel: PathBuf,
        #[serde(default)]
        initrd: Option<PathBuf>,
        #[serde(default)]
        cmdline: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootDevice {
    Hd,
    Cdrom,
    Network,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpec {
    pub id: DiskId,
    pub interface: DiskInterface,
    pub source: DiskSource,
    #[serde(default)]
    pub bootable: bool,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskInterface {
    Virtio,
    VirtioScsi,
    Ide,
}

/// Where a disk's data is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DiskSource {
    /// The leaf volume of an image on an attached storage domain; the agent resolves the path
    /// and the format from the volume's metadata.
    Volume { storage_domain_id: StorageDomainId, image_id: DiskId, volume_id: VolumeId },
    /// A file on the host (e.g. an ISO image), used as is.
    File { path: PathBuf, format: VolumeFormat },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    pub id: NicId,
    /// `52:54:00:xx:xx:xx` style, lower-case.
    pub mac: String,
    pub model: NicModel,
    /// The logical network; on the host, the Linux bridge of the same name.
    pub network: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NicModel {
    Virtio,
    E1000,
    Rtl8139,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graphics {
    pub kind: GraphicsKind,
    /// Address VNC listens on (default `127.0.0.1`).
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphicsKind {
    Vnc,
}

/// What libvirt says a VM is doing. The engine maps this onto oVirt's `VmStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VmRunState {
    /// QEMU is running the guest.
    Running,
    Paused,
    /// An ACPI shutdown was requested and the guest has not powered off yet.
    PoweringDown,
    /// No QEMU process: the domain is gone (transient domains vanish when they stop).
    Down,
}

/// Why a VM went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    /// The guest powered itself off (or obeyed an ACPI shutdown).
    Shutdown,
    /// Destroyed on request (or after a shutdown timeout).
    Destroyed,
    /// QEMU crashed or was killed from outside.
    Crashed,
    /// QEMU failed to start.
    Failed,
    /// Migrated away.
    Migrated,
    Unknown,
}

/// One VM as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    pub id: VmId,
    pub name: String,
    pub state: VmRunState,
    #[serde(default)]
    pub down_reason: Option<DownReason>,
    /// The QEMU process, while there is one.
    #[serde(default)]
    pub pid: Option<u32>,
    /// VNC port, once QEMU has one.
    #[serde(default)]
    pub vnc_port: Option<u16>,
    /// The generation of the last event about this VM.
    pub generation: u64,
}

/// `GET /v1/vms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStateList {
    /// Identifies this run of the agent; generations restart when it changes.
    pub stream_id: String,
    /// The newest generation included.
    pub generation: u64,
    pub vms: Vec<VmState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VmAction {
    /// Hard power-off (the domain vanishes).
    Destroy,
    /// ACPI power button; destroy after `timeout_secs` if the guest has not powered off.
    Shutdown,
    /// ACPI reboot.
    Reboot,
    /// Hard reset.
    Reset,
    Pause,
    Resume,
}

impl VmAction {
    pub const ALL: &'static [VmAction] =
        &[VmAction::Destroy, VmAction::Shutdown, VmAction::Reboot, VmAction::Reset, VmAction::Pause, VmAction::Resume];

    /// The path segment (`/v1/vms/{id}/<this>`).
    pub const fn as_str(self) -> &'static str {
        match self {
            VmAction::Destroy => "destroy",
            VmAction::Shutdown => "shutdown",
            VmAction::Reboot => "reboot",
            VmAction::Reset => "reset",
            VmAction::Pause => "pause",
            VmAction::Resume => "resume",
        }
    }

    pub fn from_path(segment: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == segment)
    }
}

/// Body of `POST /v1/vms/{id}/{action}` (may be empty JSON `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmActionRequest {
    /// For `shutdown`: seconds to wait for the guest before destroying it (default 120).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `GET /v1/vms/{id}/console?tail_bytes=N`: the end of the VM's serial console log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleTail {
    pub vm_id: VmId,
    /// Size of the whole log in bytes.
    pub total_bytes: u64,
    /// The last `tail_bytes` bytes (lossy UTF-8).
    pub text: String,
}

// ---------------------------------------------------------------------------------------
// Events: `GET /v1/events?from=G` streams one JSON object per line, newest last, and stays
// open. Generations increase by one per event within a stream (one run of the agent). If the
// engine asks `from` a generation the agent no longer holds, or of another stream, the first
// line is a `resync`: fetch `GET /v1/vms` and continue from its generation.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventEnvelope {
    /// A VM changed state.
    Vm { stream_id: String, generation: u64, timestamp_ms: u64, vm: VmState },
    /// The engine must re-read the full state.
    Resync { stream_id: String, generation: u64 },
    /// Sent when the stream has been idle for a while, so that both ends notice a dead peer.
    Heartbeat { stream_id: String, generation: u64 },
}

// ---------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    pub sampled_at_ms: u64,
    /// Busy share of all CPUs since the previous sample, 0–100.
    pub cpu_usage_percent: f64,
    pub memory_total: ByteSize,
    pub memory_used: ByteSize,
    pub memory_free: ByteSize,
    pub nics: Vec<NicCounters>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicCounters {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmStats {
    pub vm_id: VmId,
    pub sampled_at_ms: u64,
    pub cpu_time_ns: u64,
    /// Share of one host CPU used since the previous sample (may exceed 100 with several vCPUs).
    pub cpu_usage_percent: f64,
    pub memory: ByteSize,
    pub disks: Vec<DiskCounters>,
    pub nics: Vec<NicCounters>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskCounters {
    /// Guest-side target (`vda`, `sda`).
    pub target: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

// ---------------------------------------------------------------------------------------
// Storage: file storage domains with oVirt's layout
// (`<mount>/<sd-id>/dom_md/metadata`, `<mount>/<sd-id>/images/<image-id>/<volume-id>[.meta]`).
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageDomainType {
    Data,
    Iso,
    Export,
}

/// Where a file storage domain's files are and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StorageDomainConnection {
    /// A local directory.
    Localfs { path: PathBuf },
    /// A POSIX file system: `spec` is what `mount` takes (a device or `server:/export`).
    Posixfs {
        spec: String,
        vfs_type: String,
        #[serde(default)]
        mount_options: Option<String>,
    },
    /// NFS: `server:/export`.
    Nfs {
        spec: String,
        #[serde(default)]
        mount_options: Option<String>,
    },
}

/// `POST /v1/storage-domains`: format a new domain on the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDomainCreate {
    pub id: StorageDomainId,
    pub name: String,
    pub domain_type: StorageDomainType,
    pub connection: StorageDomainConnection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDomainInfo {
    pub id: StorageDomainId,
    pub name: String,
    pub domain_type: StorageDomainType,
    /// The domain's root on this host (`<mount>/<sd-id>`).
    pub path: PathBuf,
    pub total: ByteSize,
    pub available: ByteSize,
    /// Bytes allocated by the domain's files.
    pub used: ByteSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeFormat {
    /// qcow2 ("copy on write" in oVirt's terms).
    Cow,
    Raw,
}

/// `POST /v1/storage-domains/{sd}/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCreate {
    pub image_id: DiskId,
    pub volume_id: VolumeId,
    pub format: VolumeFormat,
    /// Virtual size. With a parent it may be omitted (inherits the parent's).
    #[serde(default)]
    pub size: Option<ByteSize>,
    /// Sparse (thin) or fully allocated.
    #[serde(default = "default_true")]
    pub sparse: bool,
    /// Backing volume (same domain) for snapshots and thin template clones; `cow` only.
    #[serde(default)]
    pub parent: Option<VolumeRef>,
    #[serde(default)]
    pub description: String,
}

fn default_true() -> bool {
    true
}

/// A volume on a storage domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VolumeRef {
    pub image_id: DiskId,
    pub volume_id: VolumeId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeResize {
    pub size: ByteSize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub storage_domain_id: StorageDomainId,
    pub image_id: DiskId,
    pub volume_id: VolumeId,
    pub path: PathBuf,
    pub format: VolumeFormat,
    pub virtual_size: ByteSize,
    /// Bytes allocated on disk.
    pub actual_size: ByteSize,
    pub parent: Option<VolumeRef>,
    /// This volume then its ancestors, leaf first.
    pub chain: Vec<VolumeRef>,
    /// False when its creation did not finish (VDSM's `LEGALITY=ILLEGAL`, e.g. the agent died
    /// mid-way): such a volume is never handed to the hypervisor and should be deleted. The
    /// engine's crash recovery tells "complete" from "half made" by it.
    #[serde(default = "default_true")]
    pub legal: bool,
}

/// `GET /v1/storage-domains/{sd}/volumes`: every volume found on the domain, complete or not,
/// so that the engine can compare the domain with its database (volumes without a row, rows
/// without a legal volume). Listing takes no lock: a volume being created or deleted while the
/// list is made shows up as not legal, exactly as [`VolumeInfo`] would report it then, so a
/// check must leave alone the volumes that a running job of its own is working on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeList {
    pub storage_domain_id: StorageDomainId,
    /// Sorted by image, then volume.
    pub volumes: Vec<VolumeListEntry>,
}

/// One volume of a [`VolumeList`]: what its metadata and its file say, without asking qemu-img
/// (a listing costs no process per volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeListEntry {
    pub image_id: DiskId,
    pub volume_id: VolumeId,
    /// True only for a complete volume: its metadata says `LEGAL` and its file is there. False
    /// for one whose creation did not finish (`LEGALITY=ILLEGAL`), a volume file without
    /// metadata, metadata without a file, or metadata that cannot be read; `problem` says which.
    pub legal: bool,
    /// `None` when there is no readable metadata to say.
    #[serde(default)]
    pub format: Option<VolumeFormat>,
    /// The virtual size the metadata records (VDSM's `CAP`); `None` without readable metadata.
    #[serde(default)]
    pub virtual_size: Option<ByteSize>,
    /// Bytes allocated on disk (zero when the file is missing).
    pub actual_size: ByteSize,
    #[serde(default)]
    pub parent: Option<VolumeRef>,
    /// Why the volume is not legal, naming the file and what to do; `None` when it is legal.
    #[serde(default)]
    pub problem: Option<String>,
}

impl VolumeListEntry {
    pub fn reference(&self) -> VolumeRef {
        VolumeRef { image_id: self.image_id, volume_id: self.volume_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_json_shape_is_stable() {
        let h = Health { status: "ok".into(), version: "0.1.0".into(), api_versions: vec!["v1".into()] };
        let json = serde_json::to_value(&h).expect("serialise");
        assert_eq!(json, serde_json::json!({"status": "ok", "version": "0.1.0", "api_versions": ["v1"]}));
    }

    #[test]
    fn vm_spec_round_trips_and_defaults_optional_parts() {
        let json = serde_json::json!({
            "id": "6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "name": "vm1",
            "cpu": {"sockets": 1, "cores": 2, "threads": 1},
            "memory": 134217728,
            "boot": {"kind": "kernel", "kernel": "/g/vmlinuz", "cmdline": "console=ttyS0"},
        });
        let spec: VmSpec = serde_json::from_value(json).expect("minimal spec parses");
        assert_eq!(spec.cpu.vcpus(), 2);
        assert!(spec.disks.is_empty() && spec.nics.is_empty() && spec.machine.is_none());
        let back: VmSpec = serde_json::from_value(serde_json::to_value(&spec).expect("ser")).expect("de");
        assert_eq!(back, spec);
    }

    #[test]
    fn actions_round_trip_through_their_path_segment() {
        for a in VmAction::ALL {
            assert_eq!(VmAction::from_path(a.as_str()), Some(*a));
        }
        assert_eq!(VmAction::from_path("explode"), None);
    }

    #[test]
    fn a_volume_list_entry_needs_only_ids_legality_and_allocation() {
        let json = serde_json::json!({
            "image_id": "6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "volume_id": "7f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "legal": false,
            "actual_size": 4096,
        });
        let entry: VolumeListEntry = serde_json::from_value(json).expect("minimal entry parses");
        assert!(entry.format.is_none() && entry.virtual_size.is_none() && entry.parent.is_none());
        assert_eq!(entry.reference().volume_id, entry.volume_id);
    }

    #[test]
    fn event_envelopes_are_tagged_by_type() {
        let e = EventEnvelope::Resync { stream_id: "s".into(), generation: 7 };
        assert_eq!(
            serde_json::to_value(&e).expect("ser"),
            serde_json::json!({"type": "resync", "stream_id": "s", "generation": 7})
        );
    }
}
