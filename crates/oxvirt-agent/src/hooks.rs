//! VDSM-style hook scripts: site-specific executables run at points of a VM's life, which may
//! edit the domain XML before libvirt sees it or veto the operation.
//!
//! Why VDSM's contract, unchanged: oVirt administrators have hooks written for VDSM
//! (`vdsm-hook-*` packages, in-house scripts). Keeping the same directory layout, environment
//! and exit codes lets them move over by copying them to `<dir>/<hook_point>/`:
//!
//! - The executables of `<dir>/<hook_point>/` run one after the other in byte-wise order of
//!   their names (`10_foo` before `20_bar`). Dotfiles, directories and files without an
//!   execute bit are skipped and logged. A missing directory means no hooks.
//! - The domain XML is in a temporary file (mode 0600: it may hold a VNC password) whose path
//!   is in `$_hook_domxml`. A hook may rewrite the file; the next hook and the caller see the
//!   edit. A hook that leaves malformed XML stops the chain, naming the hook.
//! - The environment is cleared and fixed (hooks run as root; nothing of the agent's
//!   environment leaks in): `PATH`, `LANG`, `HOME`, plus `vmId`, `vmName`, `_hook_domxml` and
//!   the VM's custom properties (name = property name). A property is not exported, with a
//!   warning, when its name is not a valid environment name, would override a variable set
//!   here, or could be read by a shell, loader or interpreter rather than by a hook: names
//!   without a lowercase letter (`BASH_ENV`, `PYTHONPATH`, `PERL5OPT`, `GCONV_PATH`, `LD_*`,
//!   `IFS` … are all upper case) and the lowercase ones tools honour (`http_proxy` and the
//!   like). VDSM's property names are lower case (`sap_agent`, `hugepages`, `vhost`). The
//!   engine checks properties against its allowlist first; this is the host's own defence.
//! - Exit 0: success. Exit 1: the hook failed, the chain continues, its stderr becomes a
//!   warning of the [`HookOutcome`]. Exit 2: the hook failed and the chain stops with
//!   [`HookError::Failed`] carrying its stderr (so a failing `before_vm_start` aborts the start
//!   with the hook's own message). VDSM reserves codes above 2 and treats them like 1 (logged
//!   as unexpected, chain continues); so do we, and likewise for a hook killed by a signal.
//!   Note: VDSM additionally fails a `before_vm_start` after the chain if *any* hook exited
//!   non-zero; here that policy is the caller's, which gets every such failure as a warning.
//! - A hook that has not exited and closed its output within the timeout (default 60 s) is
//!   killed, with every process of its process group (each hook runs in a group of its own,
//!   identified by the hook's PID), and the chain stops with [`HookError::TimedOut`].
//! - A hook that cannot be started at all (no `#!` line, bad interpreter) stops the chain: we
//!   cannot tell what it would have vetoed.

use oxvirt_types::{ErrorKind, VmId};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// How long one hook may run before it is killed.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
use oxvirt_types::hook_env::BASE_ENV;
pub use oxvirt_types::hook_env::{DOMXML_ENV, VM_ID_ENV, VM_NAME_ENV};
/// Bytes kept of a hook's stdout and stderr each; the rest is read and dropped.
const MAX_CAPTURED_OUTPUT: usize = 64 * 1024;

/// A point of a VM's life where hooks run; also the name of the hooks' directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    /// Before the domain is created: hooks may edit the XML or veto the start (exit 2).
    BeforeVmStart,
    /// After the domain was created.
    AfterVmStart,
    /// Before the domain is destroyed.
    BeforeVmDestroy,
    /// After the domain was destroyed (or went down by itself).
    AfterVmDestroy,
}

impl HookPoint {
    pub const ALL: &'static [HookPoint] =
        &[HookPoint::BeforeVmStart, HookPoint::AfterVmStart, HookPoint::BeforeVmDestroy, HookPoint::AfterVmDestroy];

    /// The directory name, as VDSM spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookPoint::BeforeVmStart => "before_vm_start",
            HookPoint::AfterVmStart => "after_vm_start",
            HookPoint::BeforeVmDestroy => "before_vm_destroy",
            HookPoint::AfterVmDestroy => "after_vm_destroy",
        }
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The VM the hooks run for.
#[derive(Debug, Clone, Copy)]
pub struct HookVm<'a> {
    pub id: VmId,
    pub name: &'a str,
    /// oVirt's custom properties, exported to the hooks as environment variables.
    pub custom_properties: &'a BTreeMap<String, String>,
}

/// What a chain of hooks produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// The domain XML after the last hook (unchanged when no hook edited it).
    pub domxml: String,
    /// Hooks that failed without stopping the chain, and custom properties not exported.
    pub warnings: Vec<String>,
}

/// Why a chain of hooks stopped.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A hook exited with 2: it refused the operation.
    #[error("{point} hook '{script}' failed (exit code {exit_code}): {message}")]
    Failed { point: HookPoint, script: String, exit_code: i32, message: String },
    #[error(
        "{point} hook '{script}' did not finish within {:.0} s and was killed; fix or remove {}",
        timeout.as_secs_f64(),
        path.display()
    )]
    TimedOut { point: HookPoint, script: String, path: PathBuf, timeout: Duration },
    #[error("cannot start {point} hook {}: {source} (is it an executable with a valid #! line?)", path.display())]
    Spawn { point: HookPoint, path: PathBuf, source: io::Error },
    #[error("{point} hook '{script}' left malformed domain XML ({detail}); fix the script")]
    MalformedDomxml { point: HookPoint, script: String, detail: String },
    #[error("cannot list the {point} hooks in {}: {source} (check its permissions)", path.display())]
    HookDir { point: HookPoint, path: PathBuf, source: io::Error },
    #[error("cannot pass the domain XML to the {point} hooks through {}: {source}", path.display())]
    DomxmlFile { point: HookPoint, path: PathBuf, source: io::Error },
}

impl HookError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // The host's own policy refused the operation; asking again will not help.
            HookError::Failed { .. } => ErrorKind::Conflict,
            // The host is misconfigured or failing; another host may do.
            HookError::TimedOut { .. }
            | HookError::Spawn { .. }
            | HookError::MalformedDomxml { .. }
            | HookError::HookDir { .. }
            | HookError::DomxmlFile { .. } => ErrorKind::Unavailable,
        }
    }
}

/// The hook scripts of one host.
#[derive(Debug, Clone)]
pub struct Hooks {
    dir: PathBuf,
    timeout: Duration,
}

/// One hook to run.
#[derive(Debug)]
struct Script {
    /// The file name, for messages and capabilities (lossy if not UTF-8).
    name: String,
    path: PathBuf,
}

impl Hooks {
    /// Hooks under `dir` (`<dir>/<hook_point>/<script>`), each allowed [`DEFAULT_HOOK_TIMEOUT`].
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, timeout: DEFAULT_HOOK_TIMEOUT }
    }

    /// The same hooks with another per-hook timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Installed executables per hook point, in the order they run (for capabilities). Points
    /// without hooks are left out; an unreadable directory is logged and left out.
    pub fn installed(&self) -> BTreeMap<String, Vec<String>> {
        let mut installed = BTreeMap::new();
        for &point in HookPoint::ALL {
            match self.scripts(point) {
                Ok(scripts) if !scripts.is_empty() => {
                    installed.insert(point.as_str().to_owned(), scripts.into_iter().map(|s| s.name).collect());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "hooks not listed"),
            }
        }
        installed
    }

    /// Runs the scripts of `point` in sorted (byte-wise name) order, VDSM's contract (see the
    /// module docs). Returns the domain XML as the hooks left it.
    pub async fn run(&self, point: HookPoint, vm: &HookVm<'_>, domxml: &str) -> Result<HookOutcome, HookError> {
        let scripts = self.scripts(point)?;
        let mut outcome = HookOutcome { domxml: domxml.to_owned(), warnings: Vec::new() };
        if scripts.is_empty() {
            return Ok(outcome);
        }
        let env = hook_env(vm, &mut outcome.warnings);
        let file = DomxmlFile::create(point, vm.id, domxml).await?;
        let mut common_env: Vec<(OsString, OsString)> =
            env.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect();
        common_env.push((DOMXML_ENV.into(), file.path.clone().into_os_string()));
        common_env.push((VM_ID_ENV.into(), vm.id.to_string().into()));
        common_env.push((VM_NAME_ENV.into(), vm.name.into()));

        for script in &scripts {
            let started = Instant::now();
            let finished = self.run_script(point, script, &common_env).await?;
            let stderr = String::from_utf8_lossy(&finished.stderr).trim().to_owned();
            tracing::info!(
                %point, vm_id = %vm.id, hook = %script.name, status = %finished.status,
                elapsed_ms = started.elapsed().as_millis() as u64, stderr = %stderr, "hook ran"
            );
            tracing::debug!(%point, hook = %script.name, stdout = %String::from_utf8_lossy(&finished.stdout).trim());
            let said = if stderr.is_empty() { "(nothing on stderr)".to_owned() } else { stderr };
            let code = finished.status.code();
            if code == Some(2) {
                return Err(HookError::Failed { point, script: script.name.clone(), exit_code: 2, message: said });
            }

            let edited = file.read().await?;
            if edited != outcome.domxml {
                if let Err(e) = roxmltree::Document::parse(&edited) {
                    return Err(HookError::MalformedDomxml {
                        point,
                        script: script.name.clone(),
                        detail: e.to_string(),
                    });
                }
                outcome.domxml = edited;
            }

            match code {
                Some(0) => {}
                Some(1) => {
                    outcome.warnings.push(format!("{point} hook '{}' failed (exit code 1): {said}", script.name));
                }
                Some(code) => {
                    outcome.warnings.push(format!(
                        "{point} hook '{}' failed with the unexpected exit code {code} (only 0, 1 and 2 are \
                         defined; treated as 1): {said}",
                        script.name
                    ));
                }
                None => {
                    let signal = finished.status.signal().map_or_else(|| "?".to_owned(), |s| s.to_string());
                    outcome
                        .warnings
                        .push(format!("{point} hook '{}' was killed by signal {signal}: {said}", script.name));
                }
            }
        }
        for warning in &outcome.warnings {
            tracing::warn!(%point, vm_id = %vm.id, "{warning}");
        }
        Ok(outcome)
    }

    /// The executables of `point`, sorted byte-wise by name; a missing directory is empty.
    fn scripts(&self, point: HookPoint) -> Result<Vec<Script>, HookError> {
        let dir = self.dir.join(point.as_str());
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(HookError::HookDir { point, path: dir, source }),
        };
        let mut scripts = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| HookError::HookDir { point, path: dir.clone(), source })?;
            let file_name = entry.file_name();
            let path = entry.path();
            if file_name.as_bytes().starts_with(b".") {
                tracing::info!(hook = %path.display(), "dotfile in a hook directory skipped");
                continue;
            }
            // Follows symlinks, as exec does.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                    scripts.push(Script { name: file_name.to_string_lossy().into_owned(), path });
                }
                Ok(meta) if meta.is_file() => {
                    tracing::warn!(hook = %path.display(), "hook file is not executable, skipped (chmod +x it to run it)");
                }
                Ok(_) => tracing::info!(hook = %path.display(), "not a file, skipped"),
                Err(e) => tracing::warn!(hook = %path.display(), error = %e, "unreadable hook skipped"),
            }
        }
        // Byte-wise, like VDSM's sorted(glob(...)) of UTF-8 names.
        scripts.sort_by(|a, b| a.path.file_name().map(|n| n.as_bytes()).cmp(&b.path.file_name().map(|n| n.as_bytes())));
        Ok(scripts)
    }

    async fn run_script(
        &self,
        point: HookPoint,
        script: &Script,
        env: &[(OsString, OsString)],
    ) -> Result<std::process::Output, HookError> {
        let mut child = tokio::process::Command::new(&script.path)
            .env_clear()
            .envs(BASE_ENV.iter().copied())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that a timeout kills what the hook started too.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HookError::Spawn { point, path: script.path.clone(), source })?;
        let group = ProcessGroup { pgid: child.id().and_then(|pid| i32::try_from(pid).ok()) };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let finished = tokio::time::timeout(self.timeout, async {
            let (status, stdout, stderr) = tokio::join!(child.wait(), drain(stdout), drain(stderr));
            (status, stdout, stderr)
        })
        .await;
        match finished {
            Ok((Ok(status), stdout, stderr)) => {
                group.disarm();
                Ok(std::process::Output { status, stdout, stderr })
            }
            Ok((Err(source), _, _)) => Err(HookError::Spawn { point, path: script.path.clone(), source }),
            Err(_elapsed) => {
                tracing::warn!(%point, hook = %script.name, timeout_s = self.timeout.as_secs_f64(), "hook timed out, killing it");
                drop(group); // SIGKILL to the hook's process group
                if let Err(e) = child.wait().await {
                    tracing::warn!(%point, hook = %script.name, error = %e, "cannot reap a killed hook");
                }
                Err(HookError::TimedOut {
                    point,
                    script: script.name.clone(),
                    path: script.path.clone(),
                    timeout: self.timeout,
                })
            }
        }
    }
}

/// The custom properties that may be exported, with a warning for each that may not.
fn hook_env(vm: &HookVm<'_>, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (name, value) in vm.custom_properties {
        let refusal = if let Some(why) = oxvirt_types::hook_env::name_refusal(name) {
            Some(why)
        } else if value.contains('\0') {
            Some("has a value containing a NUL byte")
        } else {
            None
        };
        match refusal {
            Some(why) => warnings.push(format!(
                "custom property '{}' of VM {} {why}; not passed to hooks",
                name.escape_debug(),
                vm.id
            )),
            None => env.push((name.clone(), value.clone())),
        }
    }
    env
}

/// Reads a pipe to its end, keeping the first [`MAX_CAPTURED_OUTPUT`] bytes.
async fn drain(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else { return kept };
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_CAPTURED_OUTPUT - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// The process group of a running hook, killed on drop unless disarmed (when the hook
/// finished). Dropping it also covers the caller's future being cancelled mid-hook.
#[derive(Debug)]
struct ProcessGroup {
    pgid: Option<i32>,
}

impl ProcessGroup {
    fn disarm(mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.filter(|p| *p > 1) {
            kill_process_group(pgid);
        }
    }
}

/// SIGKILL to every process of group `pgid` (a hook's PID: it leads the group we made).
#[allow(unsafe_code)]
fn kill_process_group(pgid: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours. A negative pid names
    // a process group; `pgid > 1` is checked by the caller, so this never means "all
    // processes" (-1) or our own group (0). ESRCH (group already gone) is fine to ignore.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// The temporary file holding the domain XML for a chain of hooks; removed on drop.
#[derive(Debug)]
struct DomxmlFile {
    point: HookPoint,
    path: PathBuf,
}

impl DomxmlFile {
    async fn create(point: HookPoint, vm_id: VmId, domxml: &str) -> Result<Self, HookError> {
        let path = std::env::temp_dir().join(format!("oxvirt-hook-{point}-{vm_id}-{}.xml", uuid::Uuid::new_v4()));
        let io_err = |source| HookError::DomxmlFile { point, path: path.clone(), source };
        let mut file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).await.map_err(io_err)?;
        // From here on the file exists: the guard removes it whatever happens.
        let guard = Self { point, path: path.clone() };
        file.write_all(domxml.as_bytes()).await.map_err(io_err)?;
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        Ok(guard)
    }

    /// The file's content now (a hook may have rewritten or replaced it).
    async fn read(&self) -> Result<String, HookError> {
        let bytes = tokio::fs::read(&self.path).await.map_err(|source| HookError::DomxmlFile {
            point: self.point,
            path: self.path.clone(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|e| HookError::DomxmlFile {
            point: self.point,
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 after a hook ran: {e}")),
        })
    }
}

impl Drop for DomxmlFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a hook's domain XML file"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_points_are_spelled_as_vdsm_spells_them() {
        let names: Vec<_> = HookPoint::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["before_vm_start", "after_vm_start", "before_vm_destroy", "after_vm_destroy"]);
    }

    #[test]
    fn custom_properties_that_cannot_be_exported_are_warned_about() {
        let props: BTreeMap<String, String> = [
            ("sap_agent", "true"),
            ("_private", "x"),
            ("9lives", "x"),
            ("with-dash", "x"),
            ("", "x"),
            ("vmId", "spoofed"),
            ("PATH", "/tmp"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("BASH_ENV", "/tmp/x.sh"),
            ("PYTHONPATH", "/tmp"),
            ("PERL5OPT", "-d"),
            ("GCONV_PATH", "/tmp"),
            ("HTTP_PROXY", "x"),
            ("http_proxy", "x"),
            ("HOME", "/tmp"),
            ("nul", "a\0b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let vm = HookVm { id: VmId::new_random(), name: "vm", custom_properties: &props };
        let mut warnings = Vec::new();
        let env = hook_env(&vm, &mut warnings);
        let names: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["_private", "sap_agent"]);
        assert_eq!(warnings.len(), 14, "{warnings:#?}");
        for refused in ["BASH_ENV", "PYTHONPATH", "PERL5OPT", "GCONV_PATH", "HTTP_PROXY", "http_proxy", "HOME"] {
            assert!(warnings.iter().any(|w| w.contains(&format!("'{refused}'"))), "{refused}: {warnings:#?}");
        }
        assert!(warnings.iter().any(|w| w.contains("'with-dash'") && w.contains("not a valid")), "{warnings:#?}");
    }
}
