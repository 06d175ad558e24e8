//! Audit-log event codes: oVirt's `AuditLogType` names and numbers.
//!
//! Why oVirt's: clients and monitoring filter the audit log by code (`<code>` of an
//! `<event>`), and oVirt's tooling maps codes to meanings; an event of ours must carry the
//! number oVirt gives the same event, or no code at all that oVirt uses. Names and numbers are
//! copied from ovirt-engine's `AuditLogType.java`; the few events oVirt has no constant for
//! are ours, prefixed `OXVIRT_` and numbered from [`AuditCode::OXVIRT_BASE`], far above
//! oVirt's range, so they can never be read as one of oVirt's.

macro_rules! audit_codes {
    ($($(#[$doc:meta])* $name:ident = $code:expr,)+) => {
        /// One kind of audit-log event.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditCode {
            $($(#[$doc])* $name,)+
        }

        impl AuditCode {
            /// Every code, for tests and documentation.
            pub const ALL: &'static [AuditCode] = &[$(AuditCode::$name,)+];

            /// The number stored and served as the event's `code`.
            pub const fn code(self) -> i32 {
                match self {
                    $(AuditCode::$name => $code,)+
                }
            }

            /// The constant's name, as oVirt spells it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(AuditCode::$name => stringify!($name),)+
                }
            }
        }
    };
}

audit_codes! {
    // Virtual machines.
    USER_RUN_VM = 32,
    USER_STOP_VM = 33,
    USER_ADD_VM = 34,
    USER_UPDATE_VM = 35,
    USER_FAILED_RUN_VM = 54,
    VM_DOWN = 61,
    USER_INITIATED_SHUTDOWN_VM = 73,
    USER_UPDATE_DISK = 86,
    USER_UPDATE_VM_DISK = 88,
    USER_REMOVE_VM_FINISHED = 113,
    VM_DOWN_ERROR = 119,
    VM_SET_TO_UNKNOWN_STATUS = 142,
    USER_STARTED_VM = 153,
    USER_REBOOT_VM = 157,
    VM_PAUSED = 1025,
    // Hosts.
    VDS_FAILURE = 12,
    VDS_DETECTED = 13,
    VDS_ACTIVATE = 16,
    VDS_ACTIVATE_FAILED = 18,
    USER_ADD_VDS = 42,
    USER_FAILED_ADD_VDS = 104,
    USER_UPDATE_VDS = 43,
    USER_REMOVE_VDS = 44,
    USER_VDS_MAINTENANCE_WITHOUT_REASON = 620,
    // Clusters and data centers.
    USER_ADD_CLUSTER = 809,
    USER_UPDATE_CLUSTER = 811,
    USER_REMOVE_CLUSTER = 813,
    USER_ADD_STORAGE_POOL = 950,
    USER_UPDATE_STORAGE_POOL = 952,
    USER_REMOVE_STORAGE_POOL = 954,
    // Networks, vNIC profiles and VM interfaces.
    NETWORK_REMOVE_VM_INTERFACE = 930,
    NETWORK_ADD_VM_INTERFACE = 932,
    NETWORK_UPDATE_VM_INTERFACE = 934,
    NETWORK_ADD_NETWORK = 942,
    NETWORK_REMOVE_NETWORK = 944,
    NETWORK_ATTACH_NETWORK_TO_CLUSTER = 946,
    NETWORK_DETACH_NETWORK_TO_CLUSTER = 948,
    NETWORK_UPDATE_NETWORK = 1114,
    ADD_VNIC_PROFILE = 1122,
    UPDATE_VNIC_PROFILE = 1124,
    REMOVE_VNIC_PROFILE = 1126,
    // Storage domains and disks.
    USER_ADD_STORAGE_DOMAIN = 956,
    USER_ADD_STORAGE_DOMAIN_FAILED = 957,
    USER_UPDATE_STORAGE_DOMAIN = 958,
    USER_REMOVE_STORAGE_DOMAIN = 960,
    USER_ATTACH_STORAGE_DOMAIN_TO_POOL = 962,
    USER_DETACH_STORAGE_DOMAIN_FROM_POOL = 964,
    USER_ACTIVATED_STORAGE_DOMAIN = 966,
    USER_DEACTIVATED_STORAGE_DOMAIN = 968,
    USER_EXTEND_DISK_SIZE_FAILURE = 370,
    USER_EXTEND_DISK_SIZE_SUCCESS = 371,
    USER_FINISHED_REMOVE_DISK = 2014,
    USER_FINISHED_FAILED_REMOVE_DISK = 2015,
    USER_ATTACH_DISK_TO_VM = 2016,
    USER_DETACH_DISK_FROM_VM = 2018,
    USER_ADD_DISK_FINISHED_SUCCESS = 2021,
    USER_ADD_DISK_FINISHED_FAILURE = 2022,
    USER_SPARSIFY_IMAGE_START = 1325,
    USER_SPARSIFY_IMAGE_FINISH_SUCCESS = 1326,
    /// An external event (`POST /events`), by severity.
    EXTERNAL_EVENT_NORMAL = 9801,
    EXTERNAL_EVENT_WARNING = 9802,
    EXTERNAL_EVENT_ERROR = 9803,
    EXTERNAL_ALERT = 9804,
    // oxvirt's own: events oVirt has no constant for.
    /// An ended job was cleared through the API.
    OXVIRT_JOB_CLEARED = AuditCode::OXVIRT_BASE + 1,
    /// Monitoring saw a VM powering down (oVirt logs only a user's shutdown request).
    OXVIRT_VM_POWERING_DOWN = AuditCode::OXVIRT_BASE + 2,
    /// Monitoring saw a VM reach a status that has no event of its own.
    OXVIRT_VM_STATUS_CHANGED = AuditCode::OXVIRT_BASE + 3,
    /// A host runs a domain with oxvirt's metadata that the engine does not place there (an
    /// orphan: left by a crash, or started behind the engine's back).
    OXVIRT_VM_ORPHAN_ON_HOST = AuditCode::OXVIRT_BASE + 4,
    /// The storage check found volumes without a row or rows without a legal volume.
    OXVIRT_STORAGE_LEFTOVERS = AuditCode::OXVIRT_BASE + 5,
    /// A sparsify failed. oVirt has a constant for it (`USER_SPARSIFY_IMAGE_FINISH_FAILURE`)
    /// whose number we could not confirm from its sources; rather than guess one of oVirt's
    /// numbers, the event carries ours.
    OXVIRT_SPARSIFY_IMAGE_FAILED = AuditCode::OXVIRT_BASE + 6,
}

impl AuditCode {
    /// The first number of oxvirt's own codes; oVirt's are all far below it.
    pub const OXVIRT_BASE: i32 = 1_000_000;
}

#[cfg(test)]
mod tests {
    use super::AuditCode;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_ours_are_above_ovirts() {
        let mut seen = HashSet::new();
        for c in AuditCode::ALL {
            assert!(seen.insert(c.code()), "{} reuses code {}", c.name(), c.code());
            assert_eq!(c.name().starts_with("OXVIRT_"), c.code() > AuditCode::OXVIRT_BASE, "{}", c.name());
        }
    }
}
