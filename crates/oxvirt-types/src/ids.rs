//! Typed identifiers.
//!
//! Every object oxvirt manages is named by a UUID, as in oVirt. (Audit-log events are the
//! exception: oVirt numbers them, and clients poll "events after N"; see the engine's
//! `model::EventSeq`.) A bare `Uuid` (or worse a
//! `String`) crossing a module border invites passing a disk id where a VM id belongs; the
//! newtypes below make that a compile error. They serialise as the plain UUID string, so the
//! wire formats (oVirt's API, the agent API) are unaffected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The error when text is not a valid id; names what kind of id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {kind} id: expected a UUID such as 123e4567-e89b-12d3-a456-426614174000")]
pub struct IdParseError {
    pub kind: &'static str,
    pub text: String,
}

/// What every typed id knows of itself, for code generic over ids (path extractors, messages).
pub trait TypedId: Copy + fmt::Display + FromStr<Err = IdParseError> + Send + Sync + 'static {
    /// What the id names, for messages ("vm", "host", ...).
    const KIND: &'static str;
}

/// An id of an object that oVirt's API v4 serves in a top-level collection
/// (`/ovirt-engine/api/<COLLECTION>/<id>`), so that a reference to it can build its own `href`.
/// Ids of objects that live only under another (a VM's NIC, a job's step, a disk's volume)
/// have none.
pub trait TopLevelId: TypedId {
    /// The collection's path segment, spelled as oVirt spells it (`storagedomains`).
    const COLLECTION: &'static str;
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal $(, $collection:literal)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// What this id names, for messages ("vm", "host", ...).
            pub const KIND: &'static str = $kind;

            /// A fresh random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl TypedId for $name {
            const KIND: &'static str = $kind;
        }

        $(impl TopLevelId for $name {
            const COLLECTION: &'static str = $collection;
        })?

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| IdParseError { kind: $kind, text: text.to_owned() })
            }
        }
    };
}

typed_id!(/// A virtual machine.
    VmId, "vm", "vms");
typed_id!(/// A host (hypervisor) running the oxvirt agent. Equal to the host's libvirt `host_uuid`.
    HostId, "host", "hosts");
typed_id!(/// A data center: the unit that owns storage domains and logical networks.
    DataCenterId, "data center", "datacenters");
typed_id!(/// A cluster of compatible hosts inside a data center.
    ClusterId, "cluster", "clusters");
typed_id!(/// A storage domain (data, ISO or export).
    StorageDomainId, "storage domain", "storagedomains");
typed_id!(/// A virtual disk (oVirt's "image group": a chain of volumes).
    DiskId, "disk", "disks");
typed_id!(/// One volume (file) of a disk's chain: the leaf or a snapshot/template parent.
    VolumeId, "volume");
typed_id!(/// A VM template.
    TemplateId, "template", "templates");
typed_id!(/// A logical network.
    NetworkId, "network", "networks");
typed_id!(/// A vNIC profile: how a VM NIC attaches to a logical network.
    VnicProfileId, "vnic profile", "vnicprofiles");
typed_id!(/// A virtual NIC of a VM.
    NicId, "nic");
typed_id!(/// A durable multi-step job.
    JobId, "job", "jobs");
typed_id!(/// One step of a job.
    StepId, "step");
typed_id!(/// A user (internal or from a directory).
    UserId, "user", "users");
typed_id!(/// A network interface of a host (derived from the host and the interface name).
    HostNicId, "host NIC");
typed_id!(/// A tag (a free label on VMs and hosts, in a tree).
    TagId, "tag", "tags");
typed_id!(/// An affinity label (a mark on VMs and hosts for placement).
    AffinityLabelId, "affinity label", "affinitylabels");
typed_id!(/// A MAC pool (the addresses a cluster's VM NICs get).
    MacPoolId, "MAC pool", "macpools");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_text_and_json() {
        let id = VmId::new_random();
        let text = id.to_string();
        assert_eq!(text.parse::<VmId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialise");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<VmId>(&json).expect("deserialise"), id);
    }

    #[test]
    fn bad_id_names_the_kind_and_the_text() {
        let err = "not-a-uuid".parse::<HostId>().expect_err("must fail");
        assert_eq!(err.kind, "host");
        assert!(err.to_string().contains("'not-a-uuid' is not a valid host id"), "{err}");
    }
}
