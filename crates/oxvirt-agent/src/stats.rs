//! Host and VM statistics, sampled on an interval and served from memory.
//!
//! Why sampled, not computed per request: CPU usage is a rate (a difference between two
//! samples), and the engine polls many hosts; answering from the last sample keeps a stats
//! request cheap and its numbers comparable, whatever the request rate.

use crate::host::HostStatsSampler;
use crate::vms::VmService;
use oxvirt_agent_api::v1::{DiskCounters, HostStats, NicCounters, VmRunState, VmStats};
use oxvirt_agent_server::registry::now_ms;
use oxvirt_types::{ByteSize, VmId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Latest {
    host: Option<HostStats>,
    vms: HashMap<VmId, VmStats>,
    /// (cpu_time_ns, sampled_at_ms) of the previous sample, per VM.
    previous_cpu: HashMap<VmId, (u64, u64)>,
}

#[derive(Debug)]
pub struct StatsService {
    vms: Arc<VmService>,
    sampler: Mutex<HostStatsSampler>,
    latest: Mutex<Latest>,
}

impl StatsService {
    /// Samples once now, then every `interval` in the background.
    pub async fn start(vms: Arc<VmService>, interval: Duration) -> Arc<Self> {
        let service = Arc::new(Self { vms, sampler: Mutex::new(HostStatsSampler::new()), latest: Mutex::default() });
        service.sample().await;
        crate::spawn_periodic(&service, interval, |service: Arc<Self>| async move { service.sample().await });
        service
    }

    pub fn host(&self) -> Option<HostStats> {
        self.lock().host.clone()
    }

    pub fn vms(&self) -> Vec<VmStats> {
        let mut all: Vec<VmStats> = self.lock().vms.values().cloned().collect();
        all.sort_by_key(|s| s.vm_id);
        all
    }

    pub fn vm(&self, id: VmId) -> Option<VmStats> {
        self.lock().vms.get(&id).cloned()
    }

    /// Takes one sample of the host and of every live VM.
    pub async fn sample(&self) {
        let host = self.sampler.lock().unwrap_or_else(|p| p.into_inner()).sample();
        match host {
            Ok(h) => self.lock().host = Some(h),
            Err(e) => tracing::warn!(error = %e, "cannot sample host statistics"),
        }
        let live: Vec<VmId> = self
            .vms
            .registry()
            .snapshot()
            .vms
            .into_iter()
            .filter(|v| v.state != VmRunState::Down)
            .map(|v| v.id)
            .collect();
        let mut fresh = HashMap::new();
        for id in live {
            let Ok(c) = self.vms.hypervisor().domain_counters(id).await else { continue };
            let now = now_ms();
            let previous = self.lock().previous_cpu.insert(id, (c.cpu_time_ns, now));
            let cpu_usage_percent = match previous {
                Some((cpu, at)) if now > at && c.cpu_time_ns >= cpu => {
                    (c.cpu_time_ns - cpu) as f64 / ((now - at) as f64 * 1_000_000.0) * 100.0
                }
                _ => 0.0,
            };
            fresh.insert(
                id,
                VmStats {
                    vm_id: id,
                    sampled_at_ms: now,
                    cpu_time_ns: c.cpu_time_ns,
                    cpu_usage_percent,
                    memory: ByteSize(c.memory_kib * 1024),
                    disks: c
                        .disks
                        .into_iter()
                        .map(|(target, read_bytes, write_bytes, read_ops, write_ops)| DiskCounters {
                            target,
                            read_bytes,
                            write_bytes,
                            read_ops,
                            write_ops,
                        })
                        .collect(),
                    nics: c
                        .nics
                        .into_iter()
                        .map(|(name, rx_bytes, tx_bytes, rx_packets, tx_packets)| NicCounters {
                            name,
                            rx_bytes,
                            tx_bytes,
                            rx_packets,
                            tx_packets,
                        })
                        .collect(),
                },
            );
        }
        let mut latest = self.lock();
        latest.previous_cpu.retain(|id, _| fresh.contains_key(id));
        latest.vms = fresh;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }
}
