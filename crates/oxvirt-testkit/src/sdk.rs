//! The published oVirt Python SDK (ovirt-engine-sdk-python 4.6.3), our acceptance client,
//! in a venv that `scripts/sdk-venv.sh` creates once (`target/sdk-venv`).

use crate::{Result, TestkitError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The venv's python, created on first use (the script locks against parallel builds).
pub fn sdk_python() -> Result<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sdk-venv.sh");
            let out = Command::new(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "scripts/sdk-venv.sh failed (run `scripts/install-deps.sh test` for its build packages):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                .last()
                .map(|l| PathBuf::from(l.trim()))
                .ok_or_else(|| "sdk-venv.sh printed no path".to_owned())
        })
        .as_deref()
        .map_err(|e| TestkitError::Setup(e.clone()))
}
