//! Does KVM really work here? Decided by running a tiny guest under KVM and watching it finish.
//!
//! `/dev/kvm` existing proves little: under nested virtualization that is broken (or emulated)
//! the device opens, QEMU initialises KVM, and then guests crawl or hang. So [`kvm_probe`]
//! boots a 64 KiB firmware of our own (`probe_firmware.S` next to this file, embedded below as
//! bytes) under `-accel kvm`. It walks what every guest kernel walks — real mode, protected
//! mode, 64-bit long mode with paging, an exception round trip — then runs a fixed loop that
//! takes milliseconds on working KVM, and exits QEMU through `isa-debug-exit` with status 67.
//! It reports its progress on the debug console, so a failure says how far the guest got.
//!
//! Why not just boot to real mode and exit: on the machine this was written on (KVM over
//! `kvm_pvm`, nested), such a guest *does* exit cleanly under KVM, yet a Linux guest is still
//! in its decompressor after a minute: every guest instruction costs microseconds. Only a
//! guest that has to do some work in long mode tells the two apart.
//!
//! The same firmware runs under TCG in the tests, which proves the firmware itself right — a
//! broken firmware would otherwise look like "KVM unusable".

use oxvirt_agent_api::v1::{DomainType, Virtualization};
use oxvirt_types::ErrorKind;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

/// How long [`kvm_probe`] gives the test guest when the caller has no better idea: QEMU's own
/// start-up dominates; a working KVM finishes the guest in milliseconds.
pub const DEFAULT_KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// QEMU's exit status when the probe guest wrote 0x21 to `isa-debug-exit`: `(0x21 << 1) | 1`.
const GUEST_DONE_STATUS: i32 = (0x21 << 1) | 1;
/// The guest's work loop reports progress in this many rounds (see `probe_firmware.S`).
const WORK_ROUNDS: usize = 256;

/// Decides how guests run on this host: [`DomainType::Kvm`] only if a test guest really ran to
/// its end under KVM within `timeout`; otherwise [`DomainType::Qemu`] with the reason.
pub async fn kvm_probe(qemu_binary: &Path, timeout: Duration) -> Virtualization {
    const DEV_KVM: &str = "/dev/kvm";
    let qemu = |reason: String| {
        tracing::warn!(%reason, "KVM is unusable; guests will run under TCG (software emulation)");
        Virtualization { domain_type: DomainType::Qemu, kvm_unusable_reason: Some(reason) }
    };
    match std::fs::OpenOptions::new().read(true).write(true).open(DEV_KVM) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return qemu(format!(
                "{DEV_KVM} is missing (the kvm kernel module is not loaded, or the CPU's virtualization \
                 extensions are disabled or not passed through to this machine)"
            ));
        }
        Err(e) => {
            return qemu(format!("cannot open {DEV_KVM}: {e} (the agent must run as root or in the kvm group)"));
        }
    }
    match probe_firmware_run(qemu_binary, Accelerator::Kvm, timeout).await {
        Ok(elapsed) => {
            tracing::info!(?elapsed, "KVM works: a test guest ran to its end under KVM");
            Virtualization { domain_type: DomainType::Kvm, kvm_unusable_reason: None }
        }
        Err(failure) => qemu(failure.to_string()),
    }
}

/// A QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    Kvm,
    /// QEMU's software emulation.
    Tcg,
}

impl Accelerator {
    /// The `-accel` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

impl fmt::Display for Accelerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accelerator::Kvm => f.write_str("KVM"),
            Accelerator::Tcg => f.write_str("TCG"),
        }
    }
}

/// Why the probe guest did not run to its end. The message is what
/// [`Virtualization::kvm_unusable_reason`] carries.
#[derive(Debug, thiserror::Error)]
pub enum GuestRunFailure {
    #[error("cannot write the test guest's firmware to {path}: {source} (is the temp dir writable? see TMPDIR)")]
    Firmware { path: PathBuf, source: std::io::Error },
    #[error("cannot run {qemu}: {source} (is qemu-system-x86 installed?)")]
    Spawn { qemu: PathBuf, source: std::io::Error },
    #[error("lost track of the QEMU process running the test guest: {0}")]
    Wait(#[source] std::io::Error),
    #[error("{}", stopped_message(*.accel, *.status, .progress, .stderr))]
    Stopped { accel: Accelerator, status: ExitStatus, progress: GuestProgress, stderr: String },
    #[error(
        "a test guest under {accel} did not finish within {:.1}s{}: {}{}",
        .timeout.as_secs_f64(),
        if *.accel == Accelerator::Kvm { " (nested virtualization broken?)" } else { "" },
        .progress,
        qemu_said(.stderr)
    )]
    TimedOut { accel: Accelerator, timeout: Duration, progress: GuestProgress, stderr: String },
}

impl GuestRunFailure {
    /// How the API layer should classify this failure (it only surfaces if a caller asks for a
    /// guest run directly; [`kvm_probe`] turns it into a reason).
    pub fn kind(&self) -> ErrorKind {
        match self {
            GuestRunFailure::Wait(_) => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        }
    }
}

fn stopped_message(accel: Accelerator, status: ExitStatus, progress: &GuestProgress, stderr: &str) -> String {
    if progress.is_empty() {
        format!("QEMU could not start a test guest under {accel} ({status}){}", qemu_said(stderr))
    } else {
        format!(
            "a test guest under {accel} stopped before its end ({status}; a guest crash resets it, which \
             -no-reboot turns into an exit): {progress}{}",
            qemu_said(stderr)
        )
    }
}

fn qemu_said(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!("; QEMU said: {stderr}") }
}

/// How far the probe guest got: the marks it wrote to the debug console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestProgress(String);

impl GuestProgress {
    pub fn new(marks: impl Into<String>) -> Self {
        Self(marks.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Rounds of the work loop done, out of 256.
    pub fn work_rounds(&self) -> usize {
        self.0.chars().filter(|c| *c == '.').count()
    }
}

impl fmt::Display for GuestProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reached = |mark: char| self.0.contains(mark);
        if reached('E') {
            write!(
                f,
                "it reached 64-bit mode and handled an exception, but did only {} of {WORK_ROUNDS} rounds of a \
                 loop that working KVM runs in milliseconds",
                self.work_rounds()
            )
        } else if reached('L') {
            f.write_str("it reached 64-bit long mode but did not get through an exception round trip")
        } else if reached('P') {
            f.write_str("it reached protected mode but not 64-bit long mode with paging")
        } else if reached('R') {
            f.write_str("it ran in real mode but did not reach protected mode")
        } else {
            f.write_str("it never executed its first instruction")
        }
    }
}

/// Runs the probe firmware under `accel` and returns how long QEMU took, start to exit, if
/// the guest ran to its end within `timeout`. On timeout QEMU is killed (by PID) and reaped.
pub async fn probe_firmware_run(
    qemu_binary: &Path,
    accel: Accelerator,
    timeout: Duration,
) -> Result<Duration, GuestRunFailure> {
    let dir =
        ScratchDir::create().map_err(|source| GuestRunFailure::Firmware { path: std::env::temp_dir(), source })?;
    let firmware = dir.path().join("firmware.bin");
    std::fs::write(&firmware, firmware_image())
        .map_err(|source| GuestRunFailure::Firmware { path: firmware.clone(), source })?;
    let progress_file = dir.path().join("progress");

    let mut command = tokio::process::Command::new(qemu_binary);
    command
        .args(["-accel", accel.as_str(), "-machine", "pc", "-m", "16", "-display", "none"])
        .args(["-nodefaults", "-no-user-config", "-no-reboot", "-bios"])
        .arg(&firmware)
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-chardev"])
        .arg(format!("file,id=progress,path={}", qemu_option_value(&progress_file)))
        .args(["-device", "isa-debugcon,iobase=0xe9,chardev=progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child =
        command.spawn().map_err(|source| GuestRunFailure::Spawn { qemu: qemu_binary.to_owned(), source })?;
    let stderr_reader = child.stderr.take().map(|mut stderr| {
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes).await;
            bytes
        })
    });

    let outcome = tokio::time::timeout(timeout, child.wait()).await;
    let elapsed = started.elapsed();
    let status = match outcome {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => return Err(GuestRunFailure::Wait(e)),
        Err(_elapsed) => {
            // `start_kill` sends SIGKILL to the child's PID; `wait` reaps it.
            if let Err(e) = child.start_kill() {
                tracing::warn!(pid = ?child.id(), error = %e, "cannot kill the probe's QEMU");
            }
            child.wait().await.map_err(GuestRunFailure::Wait)?;
            None
        }
    };
    let stderr = match stderr_reader {
        // QEMU is gone, so its end of the pipe is closed; the bound only guards against a
        // grandchild that inherited it.
        Some(reader) => match tokio::time::timeout(Duration::from_secs(1), reader).await {
            Ok(Ok(bytes)) => tidy_stderr(&bytes),
            _ => String::new(),
        },
        None => String::new(),
    };
    let progress = GuestProgress::new(std::fs::read_to_string(&progress_file).unwrap_or_default());
    match status {
        Some(status) if status.code() == Some(GUEST_DONE_STATUS) => Ok(elapsed),
        Some(status) => Err(GuestRunFailure::Stopped { accel, status, progress, stderr }),
        None => Err(GuestRunFailure::TimedOut { accel, timeout, progress, stderr }),
    }
}

/// QEMU's stderr on one line, capped.
fn tidy_stderr(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let text = String::from_utf8_lossy(bytes);
    let mut line = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    if line.len() > MAX {
        let mut cut = MAX;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// QEMU's option parser ends a value at a comma; a literal comma is written twice.
fn qemu_option_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// A private temp dir removed on drop.
#[derive(Debug)]
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> std::io::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("oxvirt-kvm-probe-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove the KVM probe's temp dir");
        }
    }
}

/// Size of the firmware image: QEMU maps a 64 KiB BIOS at 0xFFFF0000 and at 0xF0000.
const FIRMWARE_SIZE: usize = 0x10000;
/// Where the CPU starts: 0xFFFFFFF0, i.e. 16 bytes before the end of the image.
const RESET_VECTOR_OFFSET: usize = 0xFFF0;

/// The probe firmware: [`FIRMWARE_MAIN`] at offset 0, zeros, [`FIRMWARE_RESET`] at 0xFFF0.
pub(crate) fn firmware_image() -> Vec<u8> {
    let mut image = vec![0u8; FIRMWARE_SIZE];
    image[..FIRMWARE_MAIN.len()].copy_from_slice(FIRMWARE_MAIN);
    image[RESET_VECTOR_OFFSET..RESET_VECTOR_OFFSET + FIRMWARE_RESET.len()].copy_from_slice(FIRMWARE_RESET);
    image
}

/// The reset vector: `ljmp $0xf000, $0` (to `main` through the real-mode alias at 0xF0000).
const FIRMWARE_RESET: &[u8] = &[0xea, 0x00, 0x00, 0x00, 0xf0];

/// `probe_firmware.S` from `main` to `idt_desc`, assembled (GNU as 2.40); the comments are
/// `objdump`'s listing (offset: instruction).
#[rustfmt::skip]
const FIRMWARE_MAIN: &[u8] = &[
    // real mode (16-bit)
    // main:
    0xfa,                                        // 0000: cli
    0xfc,                                        // 0001: cld
    0xb0, 0x52,                                  // 0002: mov $0x52,%al
    0xe6, 0xe9,                                  // 0004: out %al,$0xe9
    0xb8, 0x00, 0xf0,                            // 0006: mov $0xf000,%ax
    0x8e, 0xd8,                                  // 0009: mov %ax,%ds
    0x66, 0x0f, 0x01, 0x16, 0x50, 0x01,          // 000b: lgdtl 0x150
    0x0f, 0x20, 0xc0,                            // 0011: mov %cr0,%eax
    0x0c, 0x01,                                  // 0014: or $0x1,%al
    0x0f, 0x22, 0xc0,                            // 0016: mov %eax,%cr0
    0x66, 0xea, 0x21, 0x00, 0x0f, 0x00, 0x08, 0x00, // 0019: ljmpl $0x8,$0xf0021
    // protected mode (32-bit)
    // pm32:
    0x66, 0xb8, 0x10, 0x00,                      // 0021: mov $0x10,%ax
    0x8e, 0xd8,                                  // 0025: mov %eax,%ds
    0x8e, 0xc0,                                  // 0027: mov %eax,%es
    0x8e, 0xd0,                                  // 0029: mov %eax,%ss
    0xb0, 0x50,                                  // 002b: mov $0x50,%al
    0xe6, 0xe9,                                  // 002d: out %al,$0xe9
    0xbf, 0x00, 0x10, 0x00, 0x00,                // 002f: mov $0x1000,%edi
    0x31, 0xc0,                                  // 0034: xor %eax,%eax
    0xb9, 0x00, 0x0c, 0x00, 0x00,                // 0036: mov $0xc00,%ecx
    0xf3, 0xab,                                  // 003b: rep stos %eax,%es:(%edi)
    0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, // 003d: movl $0x2003,0x1000
    0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00, // 0047: movl $0x3003,0x2000
    0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, // 0051: movl $0x83,0x3000
    0xb8, 0x00, 0x10, 0x00, 0x00,                // 005b: mov $0x1000,%eax
    0x0f, 0x22, 0xd8,                            // 0060: mov %eax,%cr3
    0x0f, 0x20, 0xe0,                            // 0063: mov %cr4,%eax
    0x83, 0xc8, 0x20,                            // 0066: or $0x20,%eax
    0x0f, 0x22, 0xe0,                            // 0069: mov %eax,%cr4
    0xb9, 0x80, 0x00, 0x00, 0xc0,                // 006c: mov $0xc0000080,%ecx
    0x0f, 0x32,                                  // 0071: rdmsr
    0x0d, 0x00, 0x01, 0x00, 0x00,                // 0073: or $0x100,%eax
    0x0f, 0x30,                                  // 0078: wrmsr
    0x0f, 0x20, 0xc0,                            // 007a: mov %cr0,%eax
    0x0d, 0x00, 0x00, 0x00, 0x80,                // 007d: or $0x80000000,%eax
    0x0f, 0x22, 0xc0,                            // 0082: mov %eax,%cr0
    0xea, 0x8c, 0x00, 0x0f, 0x00, 0x18, 0x00,    // 0085: ljmp $0x18,$0xf008c
    // long mode (64-bit)
    // lm64:
    0x66, 0xb8, 0x10, 0x00,                      // 008c: mov $0x10,%ax
    0x8e, 0xd0,                                  // 0090: mov %eax,%ss
    0xbc, 0x00, 0x80, 0x00, 0x00,                // 0092: mov $0x8000,%esp
    0xb0, 0x4c,                                  // 0097: mov $0x4c,%al
    0xe6, 0xe9,                                  // 0099: out %al,$0xe9
    0xbf, 0x00, 0x40, 0x00, 0x00,                // 009b: mov $0x4000,%edi
    0x31, 0xc0,                                  // 00a0: xor %eax,%eax
    0xb9, 0x00, 0x02, 0x00, 0x00,                // 00a2: mov $0x200,%ecx
    0xf3, 0x48, 0xab,                            // 00a7: rep stos %rax,%es:(%rdi)
    0x66, 0xc7, 0x04, 0x25, 0xe0, 0x40, 0x00, 0x00, 0x16, 0x01, // 00aa: movw $0x116,0x40e0
    0x66, 0xc7, 0x04, 0x25, 0xe2, 0x40, 0x00, 0x00, 0x18, 0x00, // 00b4: movw $0x18,0x40e2
    0x66, 0xc7, 0x04, 0x25, 0xe4, 0x40, 0x00, 0x00, 0x00, 0x8e, // 00be: movw $0x8e00,0x40e4
    0x66, 0xc7, 0x04, 0x25, 0xe6, 0x40, 0x00, 0x00, 0x0f, 0x00, // 00c8: movw $0xf,0x40e6
    0x0f, 0x01, 0x1c, 0x25, 0x56, 0x01, 0x0f, 0x00, // 00d2: lidt 0xf0156
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x78, 0x56, 0x34, 0x12, // 00da: movl $0x12345678,0x200000
    0x81, 0x3c, 0x25, 0x00, 0x00, 0x20, 0x00, 0x78, 0x56, 0x34, 0x12, // 00e5: cmpl $0x12345678,0x200000
    0x75, 0x21,                                  // 00f0: jne 0x113
    0xb0, 0x45,                                  // 00f2: mov $0x45,%al
    0xe6, 0xe9,                                  // 00f4: out %al,$0xe9
    0xbb, 0x00, 0x01, 0x00, 0x00,                // 00f6: mov $0x100,%ebx
    // round:
    0xb9, 0x00, 0x00, 0x01, 0x00,                // 00fb: mov $0x10000,%ecx
    // spin:
    0x48, 0x01, 0xca,                            // 0100: add %rcx,%rdx
    0xff, 0xc9,                                  // 0103: dec %ecx
    0x75, 0xf9,                                  // 0105: jne 0x100
    0xb0, 0x2e,                                  // 0107: mov $0x2e,%al
    0xe6, 0xe9,                                  // 0109: out %al,$0xe9
    0xff, 0xcb,                                  // 010b: dec %ebx
    0x75, 0xec,                                  // 010d: jne 0xfb
    0xb0, 0x21,                                  // 010f: mov $0x21,%al
    0xe6, 0xf4,                                  // 0111: out %al,$0xf4
    // halt:
    0xf4,                                        // 0113: hlt
    0xeb, 0xfd,                                  // 0114: jmp 0x113
    // pf_handler:
    0xc7, 0x04, 0x25, 0x08, 0x30, 0x00, 0x00, 0x83, 0x00, 0x20, 0x00, // 0116: movl $0x200083,0x3008
    0x0f, 0x20, 0xd8,                            // 0121: mov %cr3,%rax
    0x0f, 0x22, 0xd8,                            // 0124: mov %rax,%cr3
    0x48, 0x83, 0xc4, 0x08,                      // 0127: add $0x8,%rsp
    0x48, 0xcf,                                  // 012b: iretq
    0x00, 0x00, 0x00,                            // 012d: .p2align 3, 0
    // gdt: null, 0x08 32-bit code, 0x10 data, 0x18 64-bit code
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0130: .quad 0x0000000000000000
    0xff, 0xff, 0x00, 0x00, 0x00, 0x9b, 0xcf, 0x00, // 0138: .quad 0x00cf9b000000ffff
    0xff, 0xff, 0x00, 0x00, 0x00, 0x93, 0xcf, 0x00, // 0140: .quad 0x00cf93000000ffff
    0xff, 0xff, 0x00, 0x00, 0x00, 0x9b, 0xaf, 0x00, // 0148: .quad 0x00af9b000000ffff
    0x1f, 0x00, 0x30, 0x01, 0x0f, 0x00,          // 0150: gdt_desc: limit, base
    0xff, 0x0f, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0156: idt_desc: limit, base
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_64_kib_with_the_reset_jump_16_bytes_before_its_end() {
        let image = firmware_image();
        assert_eq!(image.len(), 65536);
        assert_eq!(&image[..3], &[0xfa, 0xfc, 0xb0], "cli; cld; mov $'R', %al");
        assert_eq!(&image[0xFFF0..0xFFF5], &[0xea, 0x00, 0x00, 0x00, 0xf0], "ljmp $0xf000, $0");
    }

    /// The embedded bytes are `probe_firmware.S`, assembled: the source is what reviewers read.
    /// Needs binutils (`as`, `ld`), which the Rust toolchain needs to link anyway.
    #[test]
    fn the_embedded_firmware_is_the_assembled_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("probe_firmware.S");
        std::fs::write(&source, include_str!("probe_firmware.S")).expect("write source");
        let run = |program: &str, args: &[&str]| {
            let out = std::process::Command::new(program)
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {program} (install binutils): {e}"));
            assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run("as", &["--64", "-o", "fw.o", "probe_firmware.S"]);
        run("ld", &["-m", "elf_x86_64", "-e", "main", "-Ttext=0", "--oformat", "binary", "-o", "fw.bin", "fw.o"]);
        let assembled = std::fs::read(dir.path().join("fw.bin")).expect("read fw.bin");
        assert!(assembled == firmware_image(), "kvm.rs's bytes differ from probe_firmware.S: re-paste the listing");
    }

    #[test]
    fn progress_says_how_far_the_guest_got() {
        assert_eq!(GuestProgress::new("").to_string(), "it never executed its first instruction");
        assert!(GuestProgress::new("RP").to_string().contains("protected mode but not 64-bit"));
        let slow = GuestProgress::new("RPLE...");
        assert_eq!(slow.work_rounds(), 3);
        assert!(slow.to_string().contains("did only 3 of 256 rounds"), "{slow}");
    }

    #[test]
    fn a_timeout_under_kvm_reads_as_a_reason() {
        let failure = GuestRunFailure::TimedOut {
            accel: Accelerator::Kvm,
            timeout: Duration::from_secs(5),
            progress: GuestProgress::new("RPLE.."),
            stderr: "warning: host doesn't support requested feature".into(),
        };
        let reason = failure.to_string();
        assert!(
            reason.starts_with("a test guest under KVM did not finish within 5.0s (nested virtualization broken?): "),
            "{reason}"
        );
        assert!(reason.ends_with("; QEMU said: warning: host doesn't support requested feature"), "{reason}");
    }

    #[test]
    fn qemu_stderr_is_one_capped_line_and_commas_are_escaped() {
        assert_eq!(tidy_stderr(b"a\n\n  b  \n"), "a; b");
        assert!(tidy_stderr(&[b'x'; 2000]).chars().count() <= 601);
        assert_eq!(qemu_option_value(Path::new("/tmp/a,b/progress")), "/tmp/a,,b/progress");
    }
}
