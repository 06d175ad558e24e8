//! Object statuses, spelled as oVirt's API v4 spells them (lower-case, `snake_case`).
//!
//! Clients written for oVirt switch on these strings, so the variants and their wire names
//! mirror oVirt's model (`types/*Status.java` in ovirt-engine-api-model) one to one, even
//! where oxvirt does not produce a state yet: an unknown status string would break them.

/// The error when text is not one of an enum's wire spellings; lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {what}: expected one of {expected}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub text: String,
    pub expected: String,
}

/// Declares an enum spelled on the wire as oVirt spells it: `as_str`, `from_wire`, `ALL`,
/// `Display`, `FromStr` (errors with [`UnknownValue`]) and serde, all from one list.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the wire (oVirt API v4) and in the database.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses the wire spelling; `None` for anything else.
            pub fn from_wire(text: &str) -> Option<Self> {
                match text { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::status::UnknownValue;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::from_wire(text).ok_or_else(|| $crate::status::UnknownValue {
                    what: $what,
                    text: text.to_owned(),
                    expected: [$($wire),+].join(", "),
                })
            }
        }
    };
}

wire_enum!(
    /// Status of a virtual machine.
    VmStatus, "VM status" {
        Unassigned => "unassigned",
        Down => "down",
        Up => "up",
        PoweringUp => "powering_up",
        Paused => "paused",
        Migrating => "migrating",
        Unknown => "unknown",
        NotResponding => "not_responding",
        WaitForLaunch => "wait_for_launch",
        RebootInProgress => "reboot_in_progress",
        SavingState => "saving_state",
        RestoringState => "restoring_state",
        Suspended => "suspended",
        ImageLocked => "image_locked",
        PoweringDown => "powering_down",
    }
);

wire_enum!(
    /// Status of a host.
    HostStatus, "host status" {
        Down => "down",
        Error => "error",
        Initializing => "initializing",
        Installing => "installing",
        InstallFailed => "install_failed",
        Maintenance => "maintenance",
        NonOperational => "non_operational",
        NonResponsive => "non_responsive",
        PendingApproval => "pending_approval",
        PreparingForMaintenance => "preparing_for_maintenance",
        Connecting => "connecting",
        Reboot => "reboot",
        Unassigned => "unassigned",
        Up => "up",
        InstallingOs => "installing_os",
        Kdumping => "kdumping",
    }
);

wire_enum!(
    /// Status of a storage domain (in a data center).
    StorageDomainStatus, "storage domain status" {
        Active => "active",
        Inactive => "inactive",
        Locked => "locked",
        Mixed => "mixed",
        Unattached => "unattached",
        Maintenance => "maintenance",
        PreparingForMaintenance => "preparing_for_maintenance",
        Detaching => "detaching",
        Activating => "activating",
        Unknown => "unknown",
    }
);

wire_enum!(
    /// Status of a data center.
    DataCenterStatus, "data center status" {
        Uninitialized => "uninitialized",
        Up => "up",
        Maintenance => "maintenance",
        NotOperational => "not_operational",
        Problematic => "problematic",
        Contend => "contend",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_for_every_variant() {
        for s in VmStatus::ALL {
            assert_eq!(VmStatus::from_wire(s.as_str()), Some(*s));
            let json = serde_json::to_string(s).expect("serialise");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        for s in HostStatus::ALL {
            assert_eq!(HostStatus::from_wire(s.as_str()), Some(*s));
        }
        assert_eq!(VmStatus::WaitForLaunch.as_str(), "wait_for_launch");
        assert_eq!(HostStatus::NonResponsive.as_str(), "non_responsive");
        assert_eq!(VmStatus::from_wire("Up"), None, "oVirt spells statuses lower-case");
    }
}
