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

/// The SDK's source archive (`ovirt_engine_sdk_python-4.6.3.tar.gz`, with its `examples/`),
/// downloaded once by `scripts/sdk-venv.sh --sdist` (needs PyPI the first time).
pub fn sdk_sdist() -> Result<&'static Path> {
    static SDIST: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SDIST
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sdk-venv.sh");
            let out = Command::new(&script)
                .arg("--sdist")
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!("scripts/sdk-venv.sh --sdist failed:\n{}", String::from_utf8_lossy(&out.stderr)));
            }
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .map(|l| PathBuf::from(l.trim()))
                .ok_or_else(|| "sdk-venv.sh --sdist printed no path".to_owned())
        })
        .as_deref()
        .map_err(|e| TestkitError::Setup(e.clone()))
}
