//! `qemu-img`, run as a child process.
//!
//! The image formats are QEMU's business, so QEMU's own tool writes and reads them (as in
//! VDSM) rather than our code poking at qcow2 headers. Runs go through `tokio::process` because
//! a preallocation or a resize on slow storage can take a long time and must not hold a
//! runtime thread; the child is killed if the caller's future is dropped. The format is always
//! passed explicitly (`-f`): probing a raw image's format is a known hole (a guest can write a
//! qcow2 header into its raw disk).

use oxvirt_agent_api::v1::VolumeFormat;
use oxvirt_types::ByteSize;
use serde::Deserialize;
use std::ffi::{OsStr, OsString};
use std::path::Path;

/// qemu-img's name for a format.
pub const fn format_name(format: VolumeFormat) -> &'static str {
    match format {
        VolumeFormat::Cow => "qcow2",
        VolumeFormat::Raw => "raw",
    }
}

/// A failed run: the command line and what qemu-img said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{command}` failed: {reason}")]
pub struct QemuImgError {
    pub command: String,
    pub reason: String,
}

async fn run(args: &[OsString]) -> Result<Vec<u8>, QemuImgError> {
    let command_line = {
        let mut text = "qemu-img".to_owned();
        for a in args {
            text.push(' ');
            text.push_str(&a.to_string_lossy());
        }
        text
    };
    let output = tokio::process::Command::new("qemu-img")
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| QemuImgError { command: command_line.clone(), reason: format!("cannot run qemu-img: {e}") })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(QemuImgError { command: command_line, reason: format!("{}: {}", output.status, stderr.trim()) })
    }
}

fn os(text: &str) -> OsString {
    OsString::from(text)
}

/// What a new image looks like.
#[derive(Debug, Clone, Copy)]
pub struct CreateSpec<'a> {
    pub format: VolumeFormat,
    pub size: ByteSize,
    pub preallocated: bool,
    /// The backing file, relative to the new file's directory, and its format.
    pub backing: Option<(&'a str, VolumeFormat)>,
}

/// `qemu-img create`.
pub async fn create(path: &Path, spec: CreateSpec<'_>) -> Result<(), QemuImgError> {
    let mut args = vec![os("create"), os("-q"), os("-f"), os(format_name(spec.format))];
    if spec.preallocated {
        args.push(os("-o"));
        args.push(os("preallocation=falloc"));
    }
    if let Some((backing, backing_format)) = spec.backing {
        args.push(os("-b"));
        args.push(os(backing));
        args.push(os("-F"));
        args.push(os(format_name(backing_format)));
    }
    args.push(path.as_os_str().to_owned());
    args.push(os(&spec.size.bytes().to_string()));
    run(&args).await.map(drop)
}

/// `qemu-img resize` to a larger size.
pub async fn grow(path: &Path, format: VolumeFormat, size: ByteSize, preallocated: bool) -> Result<(), QemuImgError> {
    let mut args = vec![os("resize"), os("-q"), os("-f"), os(format_name(format))];
    if preallocated {
        args.push(os("--preallocation=falloc"));
    }
    args.push(path.as_os_str().to_owned());
    args.push(os(&size.bytes().to_string()));
    run(&args).await.map(drop)
}

/// `qemu-img convert` of a whole image to a new file of the same format. Zeroed clusters (or
/// blocks of a raw image) are not written to the copy (qemu-img's default `-S 4k`), so the copy
/// holds only what the guest really stored: how a thin volume is sparsified.
pub async fn convert_sparse(from: &Path, to: &Path, format: VolumeFormat) -> Result<(), QemuImgError> {
    let f = format_name(format);
    let args = vec![
        os("convert"),
        os("-q"),
        os("-f"),
        os(f),
        os("-O"),
        os(f),
        from.as_os_str().to_owned(),
        to.as_os_str().to_owned(),
    ];
    run(&args).await.map(drop)
}

/// The parts of `qemu-img info --output=json` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInfo {
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
}

/// `qemu-img info` (with `-U`, so that it also works while a VM holds the image's lock).
pub async fn info(path: &Path, format: VolumeFormat) -> Result<ImageInfo, QemuImgError> {
    let args =
        vec![os("info"), os("-U"), os("--output=json"), os("-f"), os(format_name(format)), OsStr::new(path).to_owned()];
    let stdout = run(&args).await?;
    serde_json::from_slice(&stdout).map_err(|e| QemuImgError {
        command: format!("qemu-img info --output=json {}", path.display()),
        reason: format!("unexpected output: {e}"),
    })
}
