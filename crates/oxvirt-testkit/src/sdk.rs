//! The published oVirt Python SDK (ovirt-engine-sdk-python 4.6.3), our acceptance client,
//! in a venv that `scripts/sdk-venv.sh` creates once (`target/sdk-venv`).

use crate::{Result, TestkitError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path `scripts/sdk-venv.sh [arg]` prints last (it builds what is missing, once).
fn venv_script(arg: Option<&str>) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sdk-venv.sh");
    let shown = format!("scripts/sdk-venv.sh{}", arg.map(|a| format!(" {a}")).unwrap_or_default());
    let out = Command::new(&script).args(arg).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed (run `scripts/install-deps.sh test` for its build packages):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("{shown} printed no path"))
}

/// The venv's python, created on first use (the script locks against parallel builds).
pub fn sdk_python() -> Result<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(|| venv_script(None)).as_deref().map_err(|e| TestkitError::Setup(e.clone()))
}

/// `ansible-playbook` of Ansible 9.13.0 (with the bundled `ovirt.ovirt` collection), added to
/// the SDK's venv once by `scripts/sdk-venv.sh --ansible` (needs PyPI the first time).
pub fn ansible_playbook() -> Result<&'static Path> {
    static PLAYBOOK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PLAYBOOK.get_or_init(|| venv_script(Some("--ansible"))).as_deref().map_err(|e| TestkitError::Setup(e.clone()))
}

/// The SDK's source archive (`ovirt_engine_sdk_python-4.6.3.tar.gz`, with its `examples/`),
/// downloaded once by `scripts/sdk-venv.sh --sdist` (needs PyPI the first time).
pub fn sdk_sdist() -> Result<&'static Path> {
    static SDIST: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SDIST.get_or_init(|| venv_script(Some("--sdist"))).as_deref().map_err(|e| TestkitError::Setup(e.clone()))
}
