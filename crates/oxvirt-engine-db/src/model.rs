//! The engine's domain model: what the engine knows about data centers, clusters, hosts,
//! storage, networks, templates, VMs, disks, users, the audit log and durable jobs.
//!
//! Why these are plain structs with no SQL and no HTTP in them: the store maps them to rows,
//! the HTTP layer maps them to oVirt's XML/JSON, the app layer applies business rules to them,
//! and none of those concerns should leak into the others. The types follow oVirt's API v4
//! model (`ovirt-engine-api-model`) in naming and in the spelling of every enum value on the
//! wire (`as_str`/`from_wire`, and serde), so that mapping to the API is mechanical. Where
//! oxvirt keeps less than oVirt (no quotas, no template versions, no permissions yet), the
//! field is left out rather than stubbed.
//!
//! Choices worth knowing:
//! - Times are [`Timestamp`]s: milliseconds since the Unix epoch, UTC. Both databases store
//!   them as a 64-bit integer; the API layer formats them.
//! - Sizes are [`ByteSize`] (bytes), as in oVirt's API.
//! - A disk's *image id* is its [`DiskId`] (VDSM's "image group" is the disk), as the agent API
//!   assumes; [`Disk::volume_id`] names the active (leaf) volume, [`Volume`]s record the chain.
//! - Events are numbered by [`EventSeq`], a database-assigned increasing integer, because
//!   oVirt clients page the audit log with `from=<last id>`; a UUID cannot do that.
//! - Templates and VMs share [`VmConfig`] (what a template hands down to a VM).
//! - The `Blank` template exists in every installation with [`BLANK_TEMPLATE_ID`] (all zeros),
//!   as in oVirt.

pub use crate::audit_code::AuditCode;
use oxvirt_types::{
    AffinityLabelId, ByteSize, ClusterId, DataCenterId, DataCenterStatus, DiskId, HostId, HostStatus, JobId, MacPoolId,
    NetworkId, NicId, StepId, StorageDomainId, StorageDomainStatus, TagId, TemplateId, UserId, VmId, VmStatus,
    VolumeId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The id of oVirt's `Blank` template, which every installation has.
pub const BLANK_TEMPLATE_ID: TemplateId = TemplateId::from_uuid(Uuid::nil());

/// The domain (authentication profile) of users kept in the engine's own database.
pub const INTERNAL_DOMAIN: &str = "internal";

// ---------------------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------------------

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time (a clock before 1970 reads as the epoch).
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(ms)
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

/// The number of an audit-log event: assigned by the database, increasing, never reused.
/// (oVirt's event ids are integers too; clients ask for "events after N".)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventSeq(pub i64);

impl fmt::Display for EventSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

pub use oxvirt_types::VnicProfileId;

/// A compatibility version (`4.7`): what features a data center or cluster may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// The compatibility level oxvirt implements (oVirt 4.7's API).
    pub const CURRENT: Version = Version { major: 4, minor: 7 };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A MAC address (48 bits), shown lower-case with colons as oVirt does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddress(u64);

impl MacAddress {
    pub const MAX: u64 = (1 << 48) - 1;

    /// `None` when `value` has more than 48 bits.
    pub const fn from_u64(value: u64) -> Option<Self> {
        if value > Self::MAX { None } else { Some(Self(value)) }
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddress({self})")
    }
}

/// Text that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a MAC address: expected six hex pairs separated by colons, e.g. 56:6f:1a:2b:3c:4d")]
pub struct MacParseError(pub String);

impl FromStr for MacAddress {
    type Err = MacParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(text.to_owned());
        let mut value = 0u64;
        let mut parts = 0;
        for part in text.split(':') {
            if part.len() != 2 {
                return Err(err());
            }
            value = (value << 8) | u64::from(u8::from_str_radix(part, 16).map_err(|_| err())?);
            parts += 1;
        }
        if parts != 6 {
            return Err(err());
        }
        Ok(Self(value))
    }
}

impl Serialize for MacAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of MAC addresses a pool hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacRange {
    pub from: MacAddress,
    pub to: MacAddress,
}

impl MacRange {
    pub fn len(&self) -> u64 {
        if self.to < self.from { 0 } else { self.to.0 - self.from.0 + 1 }
    }
    pub fn is_empty(&self) -> bool {
        self.to < self.from
    }
    pub fn contains(&self, mac: MacAddress) -> bool {
        self.from <= mac && mac <= self.to
    }
}

/// The id of the built-in `Default` MAC pool every cluster starts with (oVirt generates its
/// default pool's id at setup; oxvirt's is fixed).
pub const DEFAULT_MAC_POOL_ID: MacPoolId =
    MacPoolId::from_uuid(Uuid::from_u128(0x5663_f000_0000_4000_8000_0000_0000_0001));

/// Where VM NIC MAC addresses come from: each cluster names one pool (oVirt's `mac_pool`), and
/// a NIC added without a MAC gets the lowest free address of its VM's cluster's pool (see
/// `Store::mac_allocate`). A MAC is unique across all pools (the database enforces it), so
/// overlapping pools never hand out one address twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacPool {
    pub id: MacPoolId,
    /// Unique among MAC pools.
    pub name: String,
    pub description: String,
    pub ranges: Vec<MacRange>,
}

impl MacPool {
    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_MAC_POOL_ID
    }
}

impl Default for MacPool {
    /// The built-in `Default` pool: `56:6f:00:00:00:00`–`56:6f:00:00:ff:ff`, oVirt's `56:6f`
    /// locally administered prefix. (oVirt randomises the middle bytes at setup; installations
    /// should configure theirs.)
    fn default() -> Self {
        Self {
            id: DEFAULT_MAC_POOL_ID,
            name: "Default".to_owned(),
            description: "Default MAC pool".to_owned(),
            ranges: vec![MacRange { from: MacAddress(0x566f_0000_0000), to: MacAddress(0x566f_0000_ffff) }],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Enumerations, spelled as oVirt's API spells them
// ---------------------------------------------------------------------------------------

use oxvirt_types::wire_enum;

wire_enum!(
    /// CPU architecture of a cluster.
    Architecture, "CPU architecture" {
        X86_64 => "x86_64",
        Aarch64 => "aarch64",
        Ppc64 => "ppc64",
        S390x => "s390x",
        Undefined => "undefined",
    }
);

wire_enum!(
    /// What a storage domain holds.
    StorageDomainType, "storage domain type" {
        Data => "data",
        Iso => "iso",
        Export => "export",
    }
);

wire_enum!(
    /// How a file storage domain is reached (oVirt's `storage.type`).
    StorageType, "storage type" {
        Localfs => "localfs",
        Posixfs => "posixfs",
        Nfs => "nfs",
    }
);

wire_enum!(
    /// Disk image format: qcow2 ("copy on write") or raw.
    DiskFormat, "disk format" {
        Cow => "cow",
        Raw => "raw",
    }
);

wire_enum!(
    /// Status of a disk (and of a template: oVirt uses the same three values).
    DiskStatus, "disk status" {
        Ok => "ok",
        /// An operation (creation, copy, snapshot) holds the disk.
        Locked => "locked",
        /// The disk's data is not usable (a failed operation left it half done).
        Illegal => "illegal",
    }
);

/// Status of a template: oVirt spells it like a disk's (`ok`, `locked`, `illegal`).
pub type TemplateStatus = DiskStatus;

wire_enum!(
    /// Status of one volume of a disk's chain.
    VolumeStatus, "volume status" {
        Ok => "ok",
        Locked => "locked",
        Illegal => "illegal",
    }
);

wire_enum!(
    /// How a disk appears to the guest.
    DiskInterface, "disk interface" {
        Virtio => "virtio",
        VirtioScsi => "virtio_scsi",
        Ide => "ide",
    }
);

wire_enum!(
    /// The emulated NIC model (oVirt's `nic.interface`).
    NicInterface, "NIC interface" {
        Virtio => "virtio",
        E1000 => "e1000",
        Rtl8139 => "rtl8139",
    }
);

wire_enum!(
    /// A BIOS boot device.
    BootDevice, "boot device" {
        Hd => "hd",
        Cdrom => "cdrom",
        Network => "network",
    }
);

wire_enum!(
    /// What a VM is optimised for.
    VmType, "VM type" {
        Desktop => "desktop",
        Server => "server",
        HighPerformance => "high_performance",
    }
);

wire_enum!(
    /// The graphical console protocol.
    DisplayType, "display type" {
        Vnc => "vnc",
        Spice => "spice",
    }
);

wire_enum!(
    /// May the VM move between hosts (oVirt's `placement_policy.affinity`)?
    PlacementAffinity, "placement affinity" {
        /// The scheduler may migrate it.
        Migratable => "migratable",
        /// Only an administrator may migrate it.
        UserMigratable => "user_migratable",
        /// It stays on its host.
        Pinned => "pinned",
    }
);

wire_enum!(
    /// Severity of an audit-log event.
    Severity, "severity" {
        Normal => "normal",
        Warning => "warning",
        Error => "error",
        Alert => "alert",
    }
);

wire_enum!(
    /// Status of a job or a step.
    JobStatus, "job status" {
        Started => "started",
        Finished => "finished",
        Failed => "failed",
        Aborted => "aborted",
        Unknown => "unknown",
    }
);

wire_enum!(
    /// The phase a step belongs to (oVirt's `step.type`).
    StepType, "step type" {
        Validating => "validating",
        Executing => "executing",
        Finalizing => "finalizing",
        Rebooting => "rebooting",
        Unknown => "unknown",
    }
);

impl JobStatus {
    /// True once the job (or step) will not change any more.
    pub const fn is_final(self) -> bool {
        matches!(self, JobStatus::Finished | JobStatus::Failed | JobStatus::Aborted)
    }
}

// ---------------------------------------------------------------------------------------
// Data centers, clusters, hosts
// ---------------------------------------------------------------------------------------

/// A data center: owns storage domains and logical networks; clusters live in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCenter {
    pub id: DataCenterId,
    /// Unique among data centers.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    /// A local data center uses host-local storage (one host); a shared one uses NFS & co.
    pub local: bool,
    pub status: DataCenterStatus,
    /// Compatibility version.
    pub version: Version,
}

/// A cluster: hosts of one CPU architecture (and type) inside a data center, among which
/// VMs may migrate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    /// Unique among clusters.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    pub data_center_id: DataCenterId,
    pub cpu_architecture: Architecture,
    /// oVirt's CPU type name (e.g. `Intel Nehalem Family`); `None` until the first host sets it.
    pub cpu_type: Option<String>,
    pub version: Version,
    /// Memory over-commit in percent of physical memory the scheduler may hand out (oVirt's
    /// `memory_policy.over_commit.percent`; 100 = none).
    pub memory_overcommit_percent: u32,
    /// Where the MACs of its VMs' NICs come from.
    pub mac_pool_id: MacPoolId,
}

/// A logical network attached to a cluster (oVirt's "cluster network").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNetwork {
    pub cluster_id: ClusterId,
    pub network_id: NetworkId,
    /// Hosts lacking a required network become non-operational.
    pub required: bool,
}

/// A hypervisor running the oxvirt agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// The host's libvirt `host_uuid`, learned at enrollment.
    pub id: HostId,
    /// Unique among hosts.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    /// DNS name or IP address the engine reaches the agent at; unique among hosts.
    pub address: String,
    /// The agent's port (54321, VDSM's, by default).
    pub port: u16,
    pub cluster_id: ClusterId,
    pub status: HostStatus,
    /// Why the host is in its status (e.g. why non-operational), for the administrator.
    pub status_detail: Option<String>,
    /// SHA-256 fingerprint (`AB:CD:…`) of the self-signed bootstrap certificate the agent
    /// presented when this engine enrolled it (the agent logs its own at start, for the
    /// administrator to compare); `None` for hosts enrolled before it was recorded.
    pub certificate_fingerprint: Option<String>,
    /// The last `GET /v1/capabilities` answer, as JSON (opaque to the store).
    pub capabilities: Option<serde_json::Value>,
    /// Physical memory (0 until capabilities are known).
    pub memory_total: ByteSize,
    /// Memory the scheduler may still place VMs into.
    pub max_scheduling_memory: ByteSize,
    pub created: Timestamp,
}

impl Host {
    pub fn is_enrolled(&self) -> bool {
        self.certificate_fingerprint.is_some()
    }
}

// ---------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------

/// Where a file storage domain lives and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum StorageConnection {
    /// A local directory on the host.
    Localfs { path: String },
    /// A POSIX file system: `spec` is what `mount` takes.
    Posixfs { spec: String, vfs_type: String, mount_options: Option<String> },
    /// NFS: `server:/export`.
    Nfs { spec: String, mount_options: Option<String> },
}

impl StorageConnection {
    pub fn storage_type(&self) -> StorageType {
        match self {
            StorageConnection::Localfs { .. } => StorageType::Localfs,
            StorageConnection::Posixfs { .. } => StorageType::Posixfs,
            StorageConnection::Nfs { .. } => StorageType::Nfs,
        }
    }
}

/// A storage domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDomain {
    pub id: StorageDomainId,
    /// Unique among storage domains.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    pub domain_type: StorageDomainType,
    pub connection: StorageConnection,
    /// `unattached` while attached to no data center; see [`StorageDomainAttachment`] for the
    /// status within a data center.
    pub status: StorageDomainStatus,
    /// Free bytes, as last reported by a host.
    pub available: ByteSize,
    /// Bytes in use, as last reported by a host.
    pub used: ByteSize,
    /// Bytes promised to disks (sum of provisioned sizes).
    pub committed: ByteSize,
    /// The master domain of its data center holds the pool metadata (oVirt).
    pub master: bool,
    /// Warn when free space drops below this share (percent).
    pub warning_low_space_percent: u32,
    /// Block new disks when free space drops below this many GiB.
    pub critical_space_action_blocker_gib: u32,
    /// The host it was created through. A `localfs` domain is a directory on that host and
    /// is reachable from it only; `None` once that host is removed.
    pub host_id: Option<HostId>,
    pub created: Timestamp,
}

/// A storage domain attached to a data center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDomainAttachment {
    pub data_center_id: DataCenterId,
    pub storage_domain_id: StorageDomainId,
    pub status: StorageDomainStatus,
}

// ---------------------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------------------

/// A logical network of a data center. On hosts a VM network is a Linux bridge of its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: NetworkId,
    /// Unique within its data center.
    pub name: String,
    pub data_center_id: DataCenterId,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    /// A VM network carries VM traffic (has a bridge); a non-VM network does not.
    pub vm: bool,
    pub vlan_id: Option<u16>,
    /// 0 = the host's default.
    pub mtu: u32,
}

/// A tag: a free label on VMs and hosts. Tags form one tree under [`ROOT_TAG_ID`] (`root`,
/// which exists from the start and cannot be changed); names are unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    pub description: String,
    /// `None` only for `root`.
    pub parent_id: Option<TagId>,
}

/// An affinity label: a named mark on VMs and hosts (placement will run a VM only on hosts
/// with its labels once scheduling policies exist; now stored and listed). Names are unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffinityLabel {
    pub id: AffinityLabelId,
    pub name: String,
}

/// oVirt's built-in root tag (all zeros).
pub const ROOT_TAG_ID: TagId = TagId::from_uuid(Uuid::nil());

/// A vNIC profile: how VM NICs connect to a network. NICs name a profile, not a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnicProfile {
    pub id: VnicProfileId,
    /// Unique per network.
    pub name: String,
    pub network_id: NetworkId,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
}

// ---------------------------------------------------------------------------------------
// Templates and VMs
// ---------------------------------------------------------------------------------------

/// CPU topology: vCPUs = sockets × cores × threads.
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

/// How a VM boots: BIOS devices in order, optionally a kernel given directly (paths on hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootConfig {
    pub devices: Vec<BootDevice>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
}

/// High availability: restart the VM elsewhere when its host fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HighAvailability {
    pub enabled: bool,
    /// Higher restarts first (oVirt uses 1, 50, 100).
    pub priority: i32,
}

wire_enum!(
    /// Where a VM's SMBIOS serial number comes from (oVirt's `serial_number.policy`; its
    /// fourth value, `none`, means "the default" and is an absent [`SerialNumber`] here).
    SerialNumberPolicy, "serial number policy" {
        /// The id of the host the VM runs on (oVirt's default).
        Host => "host",
        /// The VM's own id.
        Vm => "vm",
        /// The administrator's value.
        Custom => "custom",
    }
);

/// A VM's SMBIOS serial number (`/sys/class/dmi/id/product_serial` in a Linux guest): what
/// licensed software and inventory tools inside guests read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialNumber {
    pub policy: SerialNumberPolicy,
    /// The custom serial number; `Some` exactly when the policy is `custom`.
    pub value: Option<String>,
}

/// What a template hands down to the VMs made from it (and what a VM then owns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmConfig {
    pub memory: ByteSize,
    /// Memory the scheduler guarantees (oVirt's `memory_policy.guaranteed`).
    pub memory_guaranteed: ByteSize,
    /// Upper bound for memory hot plug (oVirt's `memory_policy.max`).
    pub memory_max: ByteSize,
    pub cpu: CpuTopology,
    /// oVirt's OS type name (`other`, `rhel_9x64`, `windows_2022`, …).
    pub os_type: String,
    pub vm_type: VmType,
    /// QEMU machine type; `None` = the cluster's default.
    pub machine: Option<String>,
    pub boot: BootConfig,
    /// Graphical console; `None` = headless (serial console only).
    pub display: Option<DisplayType>,
    pub high_availability: HighAvailability,
    /// oVirt's custom properties: handed to hooks on the host. Sorted by name.
    pub custom_properties: BTreeMap<String, String>,
    /// `None`: the default policy (the host's id, as oVirt's clusters default to).
    pub serial_number: Option<SerialNumber>,
    /// A serial console (oVirt's `console.enabled`). On by default, unlike oVirt: the serial
    /// console is where the engine and the portals read a guest's boot log.
    pub console_enabled: bool,
}

impl VmConfig {
    /// oVirt's `Blank` template configuration: 1 GiB, one vCPU, boot from disk.
    pub fn blank() -> Self {
        Self {
            memory: ByteSize::from_gib(1),
            memory_guaranteed: ByteSize::from_gib(1),
            memory_max: ByteSize::from_gib(4),
            cpu: CpuTopology { sockets: 1, cores: 1, threads: 1 },
            os_type: "other".to_owned(),
            vm_type: VmType::Server,
            machine: None,
            boot: BootConfig { devices: vec![BootDevice::Hd], kernel: None, initrd: None, cmdline: None },
            display: Some(DisplayType::Vnc),
            high_availability: HighAvailability::default(),
            custom_properties: BTreeMap::new(),
            serial_number: None,
            console_enabled: true,
        }
    }
}

/// A VM template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: TemplateId,
    /// Unique among templates.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    /// `None` for `Blank` (usable in every cluster).
    pub cluster_id: Option<ClusterId>,
    pub config: VmConfig,
    pub status: TemplateStatus,
    pub created: Timestamp,
}

/// Where a VM may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub affinity: PlacementAffinity,
    /// Preferred (or, when pinned, required) host.
    pub host_id: Option<HostId>,
}

impl Default for Placement {
    fn default() -> Self {
        Self { affinity: PlacementAffinity::Migratable, host_id: None }
    }
}

/// What a VM is doing now: written by the engine's monitoring, not by the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmRuntime {
    pub status: VmStatus,
    /// The host it runs on (oVirt's `vm.host`, "run on"); `None` when down.
    pub host_id: Option<HostId>,
    /// The destination while migrating.
    pub migrating_to_host_id: Option<HostId>,
    /// When it last started.
    pub start_time: Option<Timestamp>,
    /// When it last stopped.
    pub stop_time: Option<Timestamp>,
    /// Why it last stopped (oVirt's `stop_reason`, given by the user or by the engine).
    pub stop_reason: Option<String>,
}

impl VmRuntime {
    /// A VM that never ran.
    pub fn down() -> Self {
        Self {
            status: VmStatus::Down,
            host_id: None,
            migrating_to_host_id: None,
            start_time: None,
            stop_time: None,
            stop_reason: None,
        }
    }
}

/// A virtual machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vm {
    pub id: VmId,
    /// Unique among VMs.
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    pub cluster_id: ClusterId,
    /// The template it was made from (`Blank` when none).
    pub template_id: TemplateId,
    pub config: VmConfig,
    pub placement: Placement,
    /// Refuse to remove the VM while set.
    pub delete_protected: bool,
    pub created: Timestamp,
    pub runtime: VmRuntime,
    /// Bumped by every configuration write, which is compare-and-set on it.
    pub config_version: i64,
}

// ---------------------------------------------------------------------------------------
// Disks, volumes, attachments, NICs
// ---------------------------------------------------------------------------------------

/// A virtual disk (VDSM's "image"): a chain of volumes on one storage domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Also the image id on the storage domain.
    pub id: DiskId,
    /// oVirt's `alias` (shown as the disk's name); not unique.
    pub alias: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    pub storage_domain_id: StorageDomainId,
    pub format: DiskFormat,
    /// Thin (sparse) or preallocated.
    pub sparse: bool,
    /// Virtual size the guest sees.
    pub provisioned_size: ByteSize,
    /// Bytes allocated on storage, as last measured.
    pub actual_size: ByteSize,
    pub status: DiskStatus,
    /// The active (leaf) volume the VM writes to.
    pub volume_id: VolumeId,
    /// May be attached to several VMs at once.
    pub shareable: bool,
    /// Overwrite the data with zeros when removing the disk.
    pub wipe_after_delete: bool,
    pub created: Timestamp,
}

/// One volume of a disk's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    pub disk_id: DiskId,
    /// The backing volume (possibly of a template's disk); `None` for a base volume.
    pub parent_id: Option<VolumeId>,
    pub format: DiskFormat,
    pub status: VolumeStatus,
    pub actual_size: ByteSize,
    pub created: Timestamp,
}

/// A disk attached to a VM. oVirt's API names an attachment by the disk's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskAttachment {
    pub vm_id: VmId,
    pub disk_id: DiskId,
    pub interface: DiskInterface,
    /// At most one attachment per VM is bootable (the database enforces it).
    pub bootable: bool,
    /// Plugged: the guest sees the disk.
    pub active: bool,
    pub read_only: bool,
}

/// A VM's virtual NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub id: NicId,
    pub vm_id: VmId,
    /// Unique per VM (`nic1`, `nic2`, …).
    pub name: String,
    pub description: String,
    /// oVirt's `comment` (free text for administrators); empty when none.
    pub comment: String,
    /// Unique among all NICs.
    pub mac: MacAddress,
    /// `None` = no network ("empty profile").
    pub vnic_profile_id: Option<VnicProfileId>,
    pub interface: NicInterface,
    /// The guest sees the NIC.
    pub plugged: bool,
    /// The virtual cable is connected.
    pub linked: bool,
}

// ---------------------------------------------------------------------------------------
// Users, events, jobs
// ---------------------------------------------------------------------------------------

/// A user. Internal users (domain [`INTERNAL_DOMAIN`]) carry a password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// The name within its domain (`admin` of `admin@internal`); unique per domain.
    pub name: String,
    pub domain: String,
    /// An argon2 PHC string (`$argon2id$…`); the store never sees a clear-text password.
    pub password_hash: Option<String>,
    pub email: Option<String>,
    /// A disabled user cannot log in.
    pub enabled: bool,
    pub created: Timestamp,
}

impl User {
    /// `name@domain`, as oVirt shows and accepts it.
    pub fn principal(&self) -> String {
        format!("{}@{}", self.name, self.domain)
    }
}

/// The objects an event is about. Ids only: the audit log outlives the objects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventRefs {
    pub vm_id: Option<VmId>,
    pub host_id: Option<HostId>,
    pub cluster_id: Option<ClusterId>,
    pub data_center_id: Option<DataCenterId>,
    pub storage_domain_id: Option<StorageDomainId>,
    pub template_id: Option<TemplateId>,
    pub user_id: Option<UserId>,
}

/// An audit-log entry as it is written ([`Event`] once numbered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub time: Timestamp,
    pub severity: Severity,
    /// oVirt's audit log type code (e.g. 153 = VM started).
    pub code: i32,
    pub description: String,
    pub refs: EventRefs,
    /// Ties the event to the request (and job) that caused it.
    pub correlation_id: Option<String>,
    /// An external event's origin (the system that wrote it); `None` for the engine's own.
    pub origin: Option<String>,
    /// An external event's id in its origin's terms (unique per origin).
    pub custom_id: Option<i64>,
}

/// An audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventSeq,
    pub time: Timestamp,
    pub severity: Severity,
    pub code: i32,
    pub description: String,
    pub refs: EventRefs,
    pub correlation_id: Option<String>,
    pub origin: Option<String>,
    pub custom_id: Option<i64>,
}

/// A durable, possibly long operation (adding a host, creating a disk, …), run by the
/// engine's executor as a saga: its `params` are written before it acts, each step's result
/// in its [`Step`]; a job whose runner is gone (lease expired, or held by an earlier run of the
/// same engine) is taken over and resumed or unwound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    /// What kind of operation, for the code that resumes it (`AddVm`, `AddHost`, …).
    pub action_type: String,
    pub description: String,
    pub status: JobStatus,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    pub last_updated: Timestamp,
    /// Removed automatically some time after it ends.
    pub auto_cleared: bool,
    /// Created through the API by an outside tool rather than by the engine.
    pub external: bool,
    pub owner_id: Option<UserId>,
    pub correlation_id: Option<String>,
    /// What the job was asked to do (JSON; `Null` for jobs not run by the executor).
    pub params: serde_json::Value,
    /// The executor running it (`<engine id>/<run id>`), while it runs.
    pub lease_owner: Option<String>,
    /// Until when the lease holds unless renewed.
    pub lease_until: Option<Timestamp>,
}

/// One step of a job (steps may nest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub job_id: JobId,
    pub parent_step_id: Option<StepId>,
    /// Order among its siblings, from 1.
    pub number: u32,
    pub step_type: StepType,
    pub description: String,
    pub status: JobStatus,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    /// 0–100 when known.
    pub progress: Option<u8>,
    /// What the step needs to resume or undo after a crash (opaque to the store).
    pub data: serde_json::Value,
}

/// Object counts for the API's root summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SummaryCounts {
    pub vms_total: u64,
    /// VMs not down.
    pub vms_active: u64,
    pub hosts_total: u64,
    /// Hosts up.
    pub hosts_active: u64,
    pub storage_domains_total: u64,
    /// Storage domains active in some data center.
    pub storage_domains_active: u64,
    pub users_total: u64,
    /// Users enabled.
    pub users_active: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_address_parses_and_prints_lower_case() {
        let mac: MacAddress = "56:6F:00:0a:FF:01".parse().expect("parse");
        assert_eq!(mac.to_string(), "56:6f:00:0a:ff:01");
        assert_eq!(mac.as_u64(), 0x566f_000a_ff01);
        for bad in ["56:6f:00:0a:ff", "56:6f:00:0a:ff:01:02", "zz:6f:00:0a:ff:01", "566f000aff01", ""] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad} must be rejected");
        }
        let json = serde_json::to_string(&mac).expect("ser");
        assert_eq!(json, "\"56:6f:00:0a:ff:01\"");
        assert_eq!(serde_json::from_str::<MacAddress>(&json).expect("de"), mac);
    }

    #[test]
    fn wire_enums_round_trip_and_name_the_choices() {
        for s in DiskInterface::ALL {
            assert_eq!(s.as_str().parse::<DiskInterface>(), Ok(*s));
            assert_eq!(serde_json::to_string(s).expect("ser"), format!("\"{}\"", s.as_str()));
        }
        let err = "scsi".parse::<DiskInterface>().expect_err("unknown");
        assert_eq!(err.to_string(), "'scsi' is not a valid disk interface: expected one of virtio, virtio_scsi, ide");
    }

    #[test]
    fn blank_template_id_is_all_zeros() {
        assert_eq!(BLANK_TEMPLATE_ID.to_string(), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn mac_range_length_counts_both_ends() {
        let pool = MacPool::default();
        assert_eq!(pool.ranges[0].len(), 65536);
        let r = MacRange { from: MacAddress(10), to: MacAddress(9) };
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
    }
}
