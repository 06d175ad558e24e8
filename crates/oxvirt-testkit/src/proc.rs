//! Process plumbing: running commands with useful errors, and stopping exactly the
//! processes we started, by PID.

use crate::{Result, TestkitError};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs `cmd` to completion; a non-zero exit is an error carrying its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| TestkitError::Command { command: shown.clone(), detail: format!("cannot start: {e}") })?;
    if !out.status.success() {
        return Err(TestkitError::Command {
            command: shown,
            detail: format!("{} — {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(out)
}

/// Runs `cmd` and returns its stdout as text.
pub(crate) fn run_stdout(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&run(cmd)?.stdout).into_owned())
}

/// True while `pid` names a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the parenthesised comm
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a stale pid gives
    // ESRCH, which is fine to ignore here.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; reaps the child so no zombie stays.
pub(crate) fn stop_child(child: &mut Child, grace: Duration) {
    let pid = child.id() as i32;
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, libc::SIGKILL);
    let _ = child.wait();
}

/// Stops a process that is not our child (e.g. a QEMU whose libvirtd died): SIGTERM, wait,
/// SIGKILL. Only called for PIDs proven to live in one of our own namespaces.
pub(crate) fn stop_pid(pid: i32, grace: Duration) {
    if !alive(pid) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, libc::SIGKILL);
}

/// Last `max` bytes of a log file, for error messages.
pub(crate) fn tail(path: &Path, max: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
