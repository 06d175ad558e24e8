//! Object statuses, spelled as oVirt's API v4 spells them (lower-case, `snake_case`).
//!
//! Clients written for oVirt switch on these strings, so the variants and their wire names
//! mirror oVirt's model (`types/*Status.java` in ovirt-engine-api-model) one to one, even
//! where oxvirt does not produce a state yet: an unknown status string would break them.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the wire (oVirt API v4).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses the wire spelling; `None` for anything else.
            pub fn from_wire(text: &str) -> Option<Self> {
                match text { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Status of a virtual machine.
    VmStatus {
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
    HostStatus {
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
    StorageDomainStatus {
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
    DataCenterStatus {
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
