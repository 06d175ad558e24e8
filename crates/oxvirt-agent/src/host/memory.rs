//! Host memory from `/proc/meminfo`.
//!
//! "Free" means `MemAvailable` — what can be given to new guests without swapping, page cache
//! included — not `MemFree`, which counts the cache as used and makes a busy host look full.

use super::{HostError, read_text};
use oxvirt_types::ByteSize;
use std::path::Path;

pub(super) const PROC_MEMINFO: &str = "/proc/meminfo";

/// Total usable RAM of the host.
pub fn memory_total() -> Result<ByteSize, HostError> {
    Ok(read_meminfo()?.total)
}

pub(super) fn read_meminfo() -> Result<Meminfo, HostError> {
    parse_meminfo(&read_text(PROC_MEMINFO)?)
        .map_err(|detail| HostError::Parse { path: Path::new(PROC_MEMINFO).to_owned(), detail })
}

/// The parts of `/proc/meminfo` the agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meminfo {
    pub total: ByteSize,
    /// `MemAvailable`, or `MemFree` on kernels older than 3.14 that lack it.
    pub available: ByteSize,
}

fn parse_meminfo(text: &str) -> Result<Meminfo, String> {
    let mut total = None;
    let mut available = None;
    let mut free = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let slot = match key.trim() {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            "MemFree" => &mut free,
            _ => continue,
        };
        *slot = Some(parse_kib(value).map_err(|e| format!("{}: {e}", key.trim()))?);
    }
    let total = total.ok_or("no MemTotal line")?;
    let available = available.or(free).ok_or("neither a MemAvailable nor a MemFree line")?;
    Ok(Meminfo { total, available })
}

/// `   24684092 kB` → bytes.
fn parse_kib(value: &str) -> Result<ByteSize, String> {
    let mut words = value.split_whitespace();
    let number: u64 = words.next().ok_or("no value")?.parse().map_err(|e| format!("'{}': {e}", value.trim()))?;
    match words.next() {
        Some("kB") => Ok(ByteSize(number.saturating_mul(ByteSize::KIB))),
        None => Ok(ByteSize(number)),
        Some(unit) => Err(format!("unknown unit '{unit}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_total_and_available_in_bytes() {
        let text = "MemTotal:       24684092 kB\nMemFree:        20881384 kB\nMemAvailable:   23786712 kB\n\
                    Buffers:           22216 kB\nHugePages_Total:       0\n";
        let m = parse_meminfo(text).expect("parse");
        assert_eq!(m.total, ByteSize(24_684_092 * 1024));
        assert_eq!(m.available, ByteSize(23_786_712 * 1024));
    }

    #[test]
    fn old_kernels_without_memavailable_fall_back_to_memfree() {
        let m = parse_meminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n").expect("parse");
        assert_eq!(m.available, ByteSize::from_mib(1));
    }

    #[test]
    fn missing_or_garbled_lines_are_errors() {
        assert!(parse_meminfo("MemFree: 1 kB\n").expect_err("must fail").contains("MemTotal"));
        assert!(parse_meminfo("MemTotal: lots kB\nMemFree: 1 kB\n").expect_err("must fail").contains("MemTotal"));
        assert!(parse_meminfo("MemTotal: 1 MB\nMemFree: 1 kB\n").expect_err("must fail").contains("unit"));
    }
}
