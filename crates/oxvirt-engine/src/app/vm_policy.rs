//! What a VM may ask of the host it runs on: which custom properties it may carry, and which
//! host files it may boot as kernel and initrd.
//!
//! Why: custom properties reach the host's hooks as environment variables of processes running
//! as root, so oVirt only accepts properties an administrator declared, each with a pattern
//! its values must match (`PredefinedVMProperties` and `UserDefinedVMProperties` of
//! `engine-config`, syntax `name=regex;name=regex`). We do the same: oVirt's predefined
//! properties, plus those of `--vm-custom-properties` (a name given there replaces the
//! predefined pattern of that name). A VM given an undeclared property, or a value its pattern
//! does not match, is refused with a 400 naming the property — at the request, not at a
//! failed start later. The host agent applies its own rule as well (`oxvirt_types::hook_env`);
//! a declared name that the agent would not export is refused at engine start, so a property
//! the engine accepts always reaches the hooks.
//!
//! Patterns are Rust `regex` syntax (as oVirt's Java patterns without back-references and
//! look-around) and must match the whole value; matching runs in time linear in the value, so
//! no value can make a pattern run for ever.
//!
//! Kernels and initrds are files of the host that QEMU reads into the guest (and libvirt
//! chowns to QEMU's user), so they must be in one of the boot directories
//! (`--vm-boot-dirs`, default [`DEFAULT_BOOT_DIR`]) — checked here by the path's letters,
//! since the engine does not see the hosts' file systems, and again by each agent against its
//! own `--boot-dirs` after resolving symbolic links.

use super::{AppError, Result};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use oxvirt_types::host_path::DEFAULT_BOOT_DIR;

/// oVirt 4.7's predefined VM custom properties and the patterns their values must match.
pub const PREDEFINED_VM_PROPERTIES: &str = "sap_agent=^(true|false)$;\
sndbuf=^[0-9]+$;\
vhost=^(([a-zA-Z0-9_-]*):(true|false))(,(([a-zA-Z0-9_-]*):(true|false)))*$;\
viodiskcache=^(none|writeback|writethrough)$;\
mdev_type=^[^,](,?[0-9A-Za-z_-]+)+$;\
hugepages=^[0-9]+$;\
scsi_hostdev=^(scsi_generic|scsi_block|scsi_hd|virtio_blk_pci)$;\
nvram_template=^.*$;\
extra_cpu_flags=^([+-]?[a-zA-Z0-9_-]+)(,[+-]?[a-zA-Z0-9_-]+)*$";

/// Longest custom property value accepted (it becomes one environment variable of a hook).
pub const MAX_PROPERTY_VALUE_LEN: usize = 4096;

/// One declared property: the pattern as the administrator wrote it, and compiled.
#[derive(Debug, Clone)]
struct PropertyRule {
    pattern: String,
    regex: Regex,
}

/// The rules every VM's configuration is checked against (see the module docs).
#[derive(Debug, Clone)]
pub struct VmPolicy {
    properties: BTreeMap<String, PropertyRule>,
    boot_dirs: Vec<PathBuf>,
}

impl Default for VmPolicy {
    /// oVirt's predefined properties only; kernels from [`DEFAULT_BOOT_DIR`].
    fn default() -> Self {
        Self::new("", &[PathBuf::from(DEFAULT_BOOT_DIR)]).expect("the predefined properties are valid")
    }
}

impl VmPolicy {
    /// The predefined properties plus `user_defined` (`name=regex;name=regex`, empty for none);
    /// kernels and initrds from `boot_dirs`. The error says which setting is wrong and why.
    pub fn new(user_defined: &str, boot_dirs: &[PathBuf]) -> std::result::Result<Self, String> {
        for dir in boot_dirs {
            let text = dir.to_string_lossy();
            if let Some(why) = oxvirt_types::host_path::boot_dir_refusal(&text) {
                return Err(format!("--vm-boot-dirs: '{text}' {why}"));
            }
        }
        let mut properties = BTreeMap::new();
        for (source, spec) in
            [("the predefined properties", PREDEFINED_VM_PROPERTIES), ("--vm-custom-properties", user_defined)]
        {
            for declaration in spec.split(';').map(str::trim).filter(|d| !d.is_empty()) {
                let Some((name, pattern)) = declaration.split_once('=') else {
                    return Err(format!("{source}: '{declaration}' is not of the form name=regex"));
                };
                let name = name.trim();
                if let Some(why) = oxvirt_types::hook_env::name_refusal(name) {
                    return Err(format!(
                        "{source}: custom property '{name}' {why}; hooks would never receive it, choose a lowercase name"
                    ));
                }
                // Anchored whatever the pattern says: the whole value must match.
                let regex = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("{source}: the pattern of custom property '{name}' is not valid: {e}"))?;
                properties.insert(name.to_owned(), PropertyRule { pattern: pattern.to_owned(), regex });
            }
        }
        Ok(Self { properties, boot_dirs: boot_dirs.to_vec() })
    }

    /// Refuses a kernel or initrd path (`field`, e.g. `os.kernel`) outside the boot directories.
    pub fn boot_file_check(&self, vm_name: &str, field: &str, path: &str) -> Result<()> {
        let dirs = || self.boot_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        if let Some(why) = oxvirt_types::host_path::lexical_refusal(path) {
            return Err(AppError::InvalidInput(format!(
                "VM {vm_name}: {field} '{}' {why}; give the absolute path of a file in a boot directory ({})",
                path.escape_debug(),
                dirs()
            )));
        }
        let p = Path::new(path);
        if !self.boot_dirs.iter().any(|d| p.starts_with(d) && p != d) {
            return Err(AppError::InvalidInput(format!(
                "VM {vm_name}: {field} '{path}' is not in a boot directory; put kernels and initrds in {} on the hosts \
                 (the engine's --vm-boot-dirs and each agent's --boot-dirs)",
                dirs()
            )));
        }
        Ok(())
    }

    /// Refuses custom properties that are not declared or whose value does not match.
    pub fn custom_properties_check(&self, vm_name: &str, properties: &BTreeMap<String, String>) -> Result<()> {
        for (name, value) in properties {
            let Some(rule) = self.properties.get(name) else {
                let known = self.properties.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: custom property '{}' is not defined; the engine accepts {known} \
                     (an administrator declares more with the engine's --vm-custom-properties 'name=regex;…')",
                    name.escape_debug()
                )));
            };
            if value.len() > MAX_PROPERTY_VALUE_LEN {
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: the value of custom property '{name}' is {} bytes long; at most {MAX_PROPERTY_VALUE_LEN} are accepted",
                    value.len()
                )));
            }
            if !rule.regex.is_match(value) {
                return Err(AppError::InvalidInput(format!(
                    "VM {vm_name}: the value '{}' of custom property '{name}' does not match its pattern {}",
                    value.escape_debug(),
                    rule.pattern
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn refusal(policy: &VmPolicy, pairs: &[(&str, &str)]) -> String {
        match policy.custom_properties_check("vm1", &props(pairs)) {
            Err(AppError::InvalidInput(m)) => m,
            other => panic!("{pairs:?} must be refused, got {other:?}"),
        }
    }

    #[test]
    fn predefined_properties_are_accepted_with_matching_values_only() {
        let policy = VmPolicy::default();
        policy
            .custom_properties_check(
                "vm1",
                &props(&[("sap_agent", "true"), ("hugepages", "1048576"), ("vhost", "eth0:true")]),
            )
            .expect("declared properties with matching values");
        let m = refusal(&policy, &[("sap_agent", "maybe")]);
        assert!(m.contains("vm1") && m.contains("'sap_agent'") && m.contains("'maybe'"), "{m}");
        // Anchored: a match inside the value is not enough.
        refusal(&policy, &[("hugepages", "12 ; rm -rf /")]);
        let m = refusal(&policy, &[("BASH_ENV", "/tmp/x")]);
        assert!(m.contains("'BASH_ENV' is not defined") && m.contains("--vm-custom-properties"), "{m}");
        refusal(&policy, &[("nvram_template", &"x".repeat(MAX_PROPERTY_VALUE_LEN + 1))]);
    }

    #[test]
    fn kernels_and_initrds_come_from_the_boot_directories_only() {
        let policy = VmPolicy::default();
        policy.boot_file_check("vm1", "os.kernel", "/var/lib/oxvirt/boot/vmlinuz").expect("in the boot dir");
        for bad in [
            "/etc/shadow",
            "/var/lib/oxvirt/boot/../../../etc/shadow",
            "vmlinuz",
            "/var/lib/oxvirt/boot",
            "/var/lib/oxvirt/bootx/k",
        ] {
            match policy.boot_file_check("vm1", "os.initrd", bad) {
                Err(AppError::InvalidInput(m)) => {
                    assert!(m.contains("vm1") && m.contains("os.initrd") && m.contains(DEFAULT_BOOT_DIR), "{m}")
                }
                other => panic!("{bad} must be refused: {other:?}"),
            }
        }
        for dirs in [vec![PathBuf::from("/etc")], vec![PathBuf::from("boot")], vec![PathBuf::from("/")]] {
            let e = VmPolicy::new("", &dirs).expect_err("a bad boot dir");
            assert!(e.contains("--vm-boot-dirs"), "{e}");
        }
    }

    #[test]
    fn administrators_declare_properties_and_dangerous_names_are_refused_at_start() {
        let policy = VmPolicy::new("oxvirt_test=^[a-z]+$; sap_agent=^yes$", &[]).expect("valid declarations");
        policy
            .custom_properties_check("vm1", &props(&[("oxvirt_test", "slice"), ("sap_agent", "yes")]))
            .expect("declared");
        refusal(&policy, &[("sap_agent", "true")]);
        for (spec, says) in [
            ("BASH_ENV=.*", "no lowercase letter"),
            ("http_proxy=.*", "proxy"),
            ("vmId=.*", "would override"),
            ("with-dash=.*", "not a valid environment variable name"),
            ("broken=(", "not valid"),
            ("novalue", "name=regex"),
        ] {
            let e = VmPolicy::new(spec, &[]).expect_err(spec);
            assert!(e.contains("--vm-custom-properties") && e.contains(says), "{spec}: {e}");
        }
    }
}
