//! Facts about the machine a figure was measured on: a number means little without them.

use serde_json::{Value, json};
use std::path::Path;

/// CPU model, cores, memory, kernel, git commit, and how guests run (`kvm`/`qemu` as the
/// agent's KVM probe says, when a benchmark ran a real agent; else whether `/dev/kvm` exists).
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub git_commit: String,
    pub virtualization: String,
    pub load_average: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        let git_commit = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let dirty = std::process::Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .ok()
            .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
        let virtualization = if Path::new("/dev/kvm").exists() {
            "no agent in this benchmark; /dev/kvm exists".to_owned()
        } else {
            "no agent in this benchmark; no /dev/kvm (TCG)".to_owned()
        };
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel,
            git_commit: if dirty { format!("{git_commit}+dirty") } else { git_commit },
            virtualization,
            load_average: load_average(),
        }
    }

    /// Records what the agent's KVM probe decided (`<agent state dir>/kvm-probe.json`).
    pub fn set_virtualization_from_agent(&mut self, agent_state_dir: &Path) {
        let text = std::fs::read_to_string(agent_state_dir.join("kvm-probe.json")).unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let domain_type = find_key(&value, "domain_type").and_then(Value::as_str).map(str::to_owned);
        let reason = find_key(&value, "kvm_unusable_reason").and_then(Value::as_str).map(str::to_owned);
        self.virtualization = match (domain_type.as_deref(), reason) {
            (Some("kvm"), _) => "KVM (agent's probe)".to_owned(),
            (Some(other), Some(r)) => {
                let short = r.split(':').next().unwrap_or(&r).trim();
                format!("TCG ({other}; agent's KVM probe: {short})")
            }
            (Some(other), None) => format!("TCG ({other}, agent's probe)"),
            (None, _) => format!("unknown (no readable kvm-probe.json in {})", agent_state_dir.display()),
        };
    }

    pub fn to_json(&self) -> Value {
        json!({
            "cpu_model": self.cpu_model,
            "cores": self.cores,
            "memory_gib": self.memory_gib,
            "kernel": self.kernel,
            "git_commit": self.git_commit,
            "virtualization": self.virtualization,
            "load_average_at_start": self.load_average,
        })
    }

    pub fn print(&self) {
        println!(
            "machine: {} ({} cores), {} GiB memory, kernel {}",
            self.cpu_model, self.cores, self.memory_gib, self.kernel
        );
        println!(
            "         git {}; guests: {}; load average at start {}",
            self.git_commit, self.virtualization, self.load_average
        );
    }

    /// One line for markdown tables.
    pub fn short(&self) -> String {
        format!(
            "{} ({} cores, {} GiB), kernel {}, {}, git {}",
            self.cpu_model, self.cores, self.memory_gib, self.kernel, self.virtualization, self.git_commit
        )
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn find_key<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(key).or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}
