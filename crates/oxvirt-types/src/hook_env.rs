//! Which VM custom properties may become environment variables of the host's hooks.
//!
//! Why here: hooks run as root with each custom property of the VM exported under the
//! property's name, so a property named `BASH_ENV`, `LD_PRELOAD` or `http_proxy` would steer
//! the shell, loader or tools a hook runs rather than the hook itself. The engine refuses such
//! names when a VM is given them (and in its allowlist of properties); the agent refuses to
//! export them (a host defends itself whatever the engine sent). Both must apply the same
//! rule, or a property the engine accepted would be dropped silently on the host.

/// The fixed environment every hook starts with (the agent's own is not passed).
pub const BASE_ENV: &[(&str, &str)] =
    &[("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("LANG", "C.UTF-8"), ("HOME", "/root")];
/// The environment variable holding the path of the domain XML file.
pub const DOMXML_ENV: &str = "_hook_domxml";
/// The environment variable holding the VM's id.
pub const VM_ID_ENV: &str = "vmId";
/// The environment variable holding the VM's name.
pub const VM_NAME_ENV: &str = "vmName";
/// Variables the agent sets for each hook besides [`BASE_ENV`].
pub const PROTECTED_ENV: &[&str] = &[DOMXML_ENV, VM_ID_ENV, VM_NAME_ENV];
/// Lowercase variables that tools run by hooks honour.
pub const TOOL_ENV: &[&str] = &["http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy"];

/// Why a custom property with this name may not be exported to hooks, or `None` if it may.
/// Names must be valid environment names, must not override a variable the agent sets, and
/// need a lowercase letter: the variables shells, loaders and interpreters read (`BASH_ENV`,
/// `ENV`, `IFS`, `LD_*`, `PYTHONPATH`, `PERL5OPT`, `GCONV_PATH` …) are all upper case, VDSM's
/// property names (`sap_agent`, `hugepages`, `vhost`) all lower case. The proxy variables are
/// refused in any case.
pub fn name_refusal(name: &str) -> Option<&'static str> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        Some("is not a valid environment variable name (use letters, digits and '_', not starting with a digit)")
    } else if PROTECTED_ENV.contains(&name) || BASE_ENV.iter().any(|(k, _)| *k == name) {
        Some("would override a variable the host agent sets for hooks")
    } else if !name.chars().any(|c| c.is_ascii_lowercase()) {
        Some("has no lowercase letter: such names are read by shells, loaders and interpreters, not only by hooks")
    } else if TOOL_ENV.contains(&name.to_ascii_lowercase().as_str()) {
        Some("is a proxy variable the tools hooks run would honour")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::name_refusal;

    #[test]
    fn names_shells_loaders_and_tools_read_are_refused_and_vdsm_names_pass() {
        for ok in ["sap_agent", "hugepages", "vhost", "viodiskcache", "oxvirt_test", "_x1", "mdev_type"] {
            assert_eq!(name_refusal(ok), None, "{ok}");
        }
        for bad in [
            "BASH_ENV",
            "ENV",
            "IFS",
            "LD_PRELOAD",
            "PYTHONPATH",
            "PERL5OPT",
            "GCONV_PATH",
            "PATH",
            "HOME",
            "vmId",
            "vmName",
            "_hook_domxml",
            "http_proxy",
            "HTTPS_PROXY",
            "No_Proxy",
            "",
            "1abc",
            "a-b",
            "a=b",
            "é",
        ] {
            assert!(name_refusal(bad).is_some(), "{bad} must be refused");
        }
    }
}
