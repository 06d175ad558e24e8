//! The guest operating systems the engine knows (`/operatingsystems`): oVirt's catalog of OS
//! types, the values a VM's or template's `os.type` takes.
//!
//! Why a fixed table: oVirt ships its catalog as `osinfo-defaults.properties`; clients list it
//! to offer OS types and send the unique name back in `<os><type>`. The ids, unique names,
//! descriptions and architectures here are oVirt's own (its properties file), so an id or a
//! name a client learned from oVirt means the same here. It has no rows of its own: nothing to
//! store, only to serve.

use super::{AppError, ListQuery, Result};
use oxvirt_engine_db::model::Architecture;

/// One guest operating system of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatingSystem {
    /// oVirt's numeric OS id; the API serves it as the object's id.
    pub id: u32,
    /// The unique name a VM's `os.type` carries (`rhel_9x64`).
    pub name: &'static str,
    /// What people call it (`Red Hat Enterprise Linux 9.x x64`).
    pub description: &'static str,
    pub architecture: Architecture,
}

const fn os(id: u32, name: &'static str, description: &'static str, architecture: Architecture) -> OperatingSystem {
    OperatingSystem { id, name, description, architecture }
}

/// oVirt's catalog, by id.
pub const OPERATING_SYSTEMS: &[OperatingSystem] = &[
    os(0, "other", "Other OS", Architecture::X86_64),
    os(1, "windows_xp", "Windows XP", Architecture::X86_64),
    os(3, "windows_2003", "Windows 2003", Architecture::X86_64),
    os(4, "windows_2008", "Windows 2008", Architecture::X86_64),
    os(5, "other_linux", "Linux", Architecture::X86_64),
    os(7, "rhel_5", "Red Hat Enterprise Linux 5.x", Architecture::X86_64),
    os(8, "rhel_4", "Red Hat Enterprise Linux 4.x", Architecture::X86_64),
    os(9, "rhel_3", "Red Hat Enterprise Linux 3.x", Architecture::X86_64),
    os(10, "windows_2003x64", "Windows 2003 x64", Architecture::X86_64),
    os(11, "windows_7", "Windows 7", Architecture::X86_64),
    os(12, "windows_7x64", "Windows 7 x64", Architecture::X86_64),
    os(13, "rhel_5x64", "Red Hat Enterprise Linux 5.x x64", Architecture::X86_64),
    os(14, "rhel_4x64", "Red Hat Enterprise Linux 4.x x64", Architecture::X86_64),
    os(15, "rhel_3x64", "Red Hat Enterprise Linux 3.x x64", Architecture::X86_64),
    os(16, "windows_2008x64", "Windows 2008 x64", Architecture::X86_64),
    os(18, "rhel_6", "Red Hat Enterprise Linux 6.x", Architecture::X86_64),
    os(19, "rhel_6x64", "Red Hat Enterprise Linux 6.x x64", Architecture::X86_64),
    os(20, "windows_8", "Windows 8", Architecture::X86_64),
    os(21, "windows_8x64", "Windows 8 x64", Architecture::X86_64),
    os(23, "windows_2012x64", "Windows 2012 x64", Architecture::X86_64),
    os(24, "rhel_7x64", "Red Hat Enterprise Linux 7.x x64", Architecture::X86_64),
    os(26, "windows_10", "Windows 10", Architecture::X86_64),
    os(27, "windows_10x64", "Windows 10 x64", Architecture::X86_64),
    os(28, "rhel_atomic7x64", "Red Hat Atomic 7.x x64", Architecture::X86_64),
    os(29, "windows_2016x64", "Windows 2016 x64", Architecture::X86_64),
    os(30, "rhel_8x64", "Red Hat Enterprise Linux 8.x x64", Architecture::X86_64),
    os(31, "windows_2019x64", "Windows 2019 x64", Architecture::X86_64),
    os(33, "other_linux_kernel_4", "Other Linux (kernel 4.x)", Architecture::X86_64),
    os(34, "rhel_9x64", "Red Hat Enterprise Linux 9.x x64", Architecture::X86_64),
    os(35, "rhcos_x64", "Red Hat Enterprise Linux CoreOS", Architecture::X86_64),
    os(36, "windows_11", "Windows 11", Architecture::X86_64),
    os(37, "windows_2022", "Windows 2022", Architecture::X86_64),
    os(38, "windows_2025", "Windows 2025", Architecture::X86_64),
    os(39, "rhel_10x64", "Red Hat Enterprise Linux 10.x x64", Architecture::X86_64),
    os(1001, "other_ppc64", "Other OS", Architecture::Ppc64),
    os(1002, "other_linux_ppc64", "Linux", Architecture::Ppc64),
    os(1003, "rhel_6_ppc64", "Red Hat Enterprise Linux up to 6.8", Architecture::Ppc64),
    os(1004, "sles_11_ppc64", "SUSE Linux Enterprise Server 11", Architecture::Ppc64),
    os(1005, "ubuntu_14_04_ppc64", "Ubuntu Trusty Tahr LTS+", Architecture::Ppc64),
    os(1006, "rhel_7_ppc64", "Red Hat Enterprise Linux 7.x", Architecture::Ppc64),
    os(1007, "rhel_6_9_plus_ppc64", "Red Hat Enterprise Linux 6.9+", Architecture::Ppc64),
    os(1008, "rhel_8_ppc64", "Red Hat Enterprise Linux 8.x", Architecture::Ppc64),
    os(1009, "rhel_9_ppc64", "Red Hat Enterprise Linux 9.x", Architecture::Ppc64),
    os(1193, "sles_11", "SUSE Linux Enterprise Server 11+", Architecture::X86_64),
    os(1252, "ubuntu_12_04", "Ubuntu Precise Pangolin LTS", Architecture::X86_64),
    os(1253, "ubuntu_12_10", "Ubuntu Quantal Quetzal", Architecture::X86_64),
    os(1254, "ubuntu_13_04", "Ubuntu Raring Ringtails", Architecture::X86_64),
    os(1255, "ubuntu_13_10", "Ubuntu Saucy Salamander", Architecture::X86_64),
    os(1256, "ubuntu_14_04", "Ubuntu Trusty Tahr LTS+", Architecture::X86_64),
    os(1257, "ubuntu_18_04", "Ubuntu Bionic Beaver LTS+", Architecture::X86_64),
    os(1300, "debian_7", "Debian 7+", Architecture::X86_64),
    os(1301, "debian_9", "Debian 9+", Architecture::X86_64),
    os(1500, "freebsd", "FreeBSD 9.2", Architecture::X86_64),
    os(1501, "freebsdx64", "FreeBSD 9.2 x64", Architecture::X86_64),
    os(2001, "other_s390x", "Other OS", Architecture::S390x),
    os(2002, "other_linux_s390x", "Linux", Architecture::S390x),
    os(2003, "rhel_7_s390x", "Red Hat Enterprise Linux 7.x", Architecture::S390x),
    os(2004, "sles_12_s390x", "SUSE Linux Enterprise Server 12", Architecture::S390x),
    os(2005, "ubuntu_16_04_s390x", "Ubuntu Xenial Xerus LTS+", Architecture::S390x),
];

impl super::App {
    /// The catalog, by id; `max` limits it. It cannot be searched (as in oVirt).
    pub fn operating_system_list(&self, q: &ListQuery) -> Result<Vec<OperatingSystem>> {
        if q.has_search() {
            return Err(AppError::InvalidInput(
                "operating systems cannot be searched; list them all (max= limits the list)".into(),
            ));
        }
        let max = q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        Ok(OPERATING_SYSTEMS.iter().take(max).copied().collect())
    }

    /// One operating system by its id (oVirt's numeric id, as text).
    pub fn operating_system_get(&self, id: &str) -> Result<OperatingSystem> {
        OPERATING_SYSTEMS.iter().find(|o| o.id.to_string() == id).copied().ok_or_else(|| {
            AppError::NotFound(format!(
                "no operating system has id '{id}'; GET /ovirt-engine/api/operatingsystems lists them"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_other_comes_first() {
        let mut ids = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for o in OPERATING_SYSTEMS {
            assert!(ids.insert(o.id), "id {} twice", o.id);
            assert!(names.insert(o.name), "name {} twice", o.name);
        }
        assert_eq!(OPERATING_SYSTEMS[0], os(0, "other", "Other OS", Architecture::X86_64));
    }
}
