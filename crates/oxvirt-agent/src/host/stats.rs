//! Host statistics for `GET /v1/stats/host`: CPU busy share, memory, NIC counters.
//!
//! The kernel only keeps CPU time counters since boot, so a busy *share* needs two readings;
//! [`HostStatsSampler`] keeps the previous one, and the agent keeps one sampler so that each
//! report covers the interval since the last. NIC counters are reported raw (monotonic
//! totals) for the engine to turn into rates, as VDSM does.

use super::memory::read_meminfo;
use super::{HostError, read_text};
use oxvirt_agent_api::v1::{HostStats, NicCounters};
use oxvirt_types::ByteSize;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const PROC_STAT: &str = "/proc/stat";
const SYS_CLASS_NET: &str = "/sys/class/net";

/// Samples host statistics; remembers the previous CPU reading between calls.
#[derive(Debug)]
pub struct HostStatsSampler {
    previous: Option<CpuTimes>,
    last_percent: f64,
}

impl Default for HostStatsSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl HostStatsSampler {
    /// Takes the first CPU reading now, so that the first [`sample`](Self::sample) covers the
    /// time since construction. If `/proc/stat` cannot be read now, the first sample covers the
    /// time since boot instead.
    pub fn new() -> Self {
        let previous = read_text(PROC_STAT).ok().and_then(|text| parse_proc_stat(&text).ok());
        Self { previous, last_percent: 0.0 }
    }

    /// CPU busy share since the previous sample, memory, and per-NIC counters.
    pub fn sample(&mut self) -> Result<HostStats, HostError> {
        let now = parse_proc_stat(&read_text(PROC_STAT)?)
            .map_err(|detail| HostError::Parse { path: Path::new(PROC_STAT).to_owned(), detail })?;
        // Two samples within one clock tick see no time pass: report the last share again and
        // keep the older reading, so that the next interval is measured from it.
        if let Some(percent) = busy_percent(self.previous.unwrap_or_default(), now) {
            self.last_percent = percent;
            self.previous = Some(now);
        }
        let memory = read_meminfo()?;
        Ok(HostStats {
            sampled_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            cpu_usage_percent: self.last_percent,
            memory_total: memory.total,
            memory_used: ByteSize(memory.total.bytes().saturating_sub(memory.available.bytes())),
            memory_free: memory.available,
            nics: nic_counters(Path::new(SYS_CLASS_NET))?,
        })
    }
}

/// Aggregate CPU time of all CPUs, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

/// The `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal guest
/// guest_nice. `guest` and `guest_nice` are already included in `user` and `nice`, so they are
/// not added again; idle time is `idle + iowait`.
fn parse_proc_stat(text: &str) -> Result<CpuTimes, String> {
    let line = text.lines().find(|l| l.starts_with("cpu ")).ok_or("no aggregate 'cpu' line")?;
    let fields = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse::<u64>().map_err(|e| format!("'{f}' in '{line}': {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if fields.len() < 4 {
        return Err(format!("too few fields in '{line}'"));
    }
    let total: u64 = fields.iter().sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Ok(CpuTimes { busy: total - idle, total })
}

/// Busy share between two readings, 0–100; `None` if no time passed.
fn busy_percent(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let total = after.total.checked_sub(before.total).filter(|t| *t > 0)?;
    let busy = after.busy.saturating_sub(before.busy).min(total);
    Some((busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0))
}

/// Counters of every interface under `dir` (`/sys/class/net`), sorted by name. An interface
/// that vanishes while being read is left out.
fn nic_counters(dir: &Path) -> Result<Vec<NicCounters>, HostError> {
    let entries = std::fs::read_dir(dir).map_err(|source| HostError::Read { path: dir.to_owned(), source })?;
    let mut nics = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| HostError::Read { path: dir.to_owned(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let statistics = entry.path().join("statistics");
        let counter = |file: &str| -> Result<Option<u64>, HostError> {
            let path = statistics.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|e| HostError::Parse { path, detail: format!("'{}' is not a counter: {e}", text.trim()) }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(HostError::Read { path, source }),
            }
        };
        let (Some(rx_bytes), Some(tx_bytes), Some(rx_packets), Some(tx_packets)) =
            (counter("rx_bytes")?, counter("tx_bytes")?, counter("rx_packets")?, counter("tx_packets")?)
        else {
            continue;
        };
        nics.push(NicCounters { name, rx_bytes, tx_bytes, rx_packets, tx_packets });
    }
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nics)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_1: &str = "cpu  139731 0 30547 102877 1822 0 573 4419 0 0\n\
                          cpu0 69652 0 14391 53241 540 0 44 2156 0 0\nintr 1263045 0 0\nctxt 2908124\n";
    const STAT_2: &str = "cpu  139831 0 30647 103077 1822 0 573 4419 0 0\n\
                          cpu0 69702 0 14441 53341 540 0 44 2156 0 0\n";

    #[test]
    fn proc_stat_aggregate_line_splits_busy_and_idle() {
        let t = parse_proc_stat(STAT_1).expect("parse");
        assert_eq!(t.total, 139731 + 30547 + 102877 + 1822 + 573 + 4419);
        assert_eq!(t.busy, 139731 + 30547 + 573 + 4419);
    }

    #[test]
    fn busy_share_is_measured_over_the_interval() {
        let (a, b) = (parse_proc_stat(STAT_1).expect("1"), parse_proc_stat(STAT_2).expect("2"));
        // +100 user, +100 system, +200 idle.
        assert_eq!(busy_percent(a, b), Some(50.0));
        assert_eq!(busy_percent(a, a), None, "no time passed");
        assert_eq!(busy_percent(b, a), None, "counters went backwards");
    }

    #[test]
    fn garbled_proc_stat_is_an_error() {
        assert!(parse_proc_stat("intr 1 2 3\n").expect_err("must fail").contains("'cpu'"));
        assert!(parse_proc_stat("cpu  1 x 3 4\n").expect_err("must fail").contains("'x'"));
        assert!(parse_proc_stat("cpu  1 2\n").expect_err("must fail").contains("too few"));
    }

    #[test]
    fn nic_counters_read_a_sysfs_tree_and_skip_vanished_interfaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, base) in [("eth0", 10), ("lo", 1)] {
            let stats = dir.path().join(name).join("statistics");
            std::fs::create_dir_all(&stats).expect("mkdir");
            for (i, file) in ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"].iter().enumerate() {
                std::fs::write(stats.join(file), format!("{}\n", base + i)).expect("write");
            }
        }
        std::fs::create_dir_all(dir.path().join("gone")).expect("mkdir gone");
        let nics = nic_counters(dir.path()).expect("counters");
        assert_eq!(
            nics,
            vec![
                NicCounters { name: "eth0".into(), rx_bytes: 10, tx_bytes: 11, rx_packets: 12, tx_packets: 13 },
                NicCounters { name: "lo".into(), rx_bytes: 1, tx_bytes: 2, rx_packets: 3, tx_packets: 4 },
            ]
        );
    }
}
