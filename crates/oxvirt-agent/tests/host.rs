//! `host` on this very machine: real /proc, /sys, rtnetlink and QEMU. Reads only; the probe
//! guests run in QEMU processes of our own, in temp dirs of our own.

use oxvirt_agent::host::{self, Accelerator, GuestRunFailure};
use oxvirt_agent_api::v1::DomainType;
use oxvirt_types::ByteSize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// QEMU as the agent would find it (looked up in PATH).
fn qemu() -> &'static Path {
    Path::new("qemu-system-x86_64")
}

#[test]
fn cpu_info_describes_this_machine() {
    let cpu = host::cpu_info().expect("cpu info");
    println!("{cpu:?}");
    assert!(!cpu.model.is_empty());
    assert!(!cpu.flags.is_empty(), "x86 CPUs have flags");
    assert!(cpu.sockets >= 1 && cpu.cores_per_socket >= 1 && cpu.threads_per_core >= 1);
    let online = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert!(cpu.online_cpus as usize >= online, "{} online, but {online} usable by this process", cpu.online_cpus);
    assert!(cpu.sockets * cpu.cores_per_socket * cpu.threads_per_core >= cpu.online_cpus, "{cpu:?}");
}

#[test]
fn memory_and_hostname_are_the_kernels() {
    let total = host::memory_total().expect("memory");
    assert!(total > ByteSize::from_mib(64), "{total}");
    let uname = std::process::Command::new("uname").arg("-n").output().expect("uname");
    assert_eq!(host::hostname(), String::from_utf8_lossy(&uname.stdout).trim());
}

#[tokio::test]
async fn nics_list_every_link_with_loopback_up_and_addressed() {
    let nics = host::nics().await.expect("nics");
    println!("{nics:#?}");
    let lo = nics.iter().find(|n| n.name == "lo").expect("lo is listed");
    assert!(lo.up);
    assert!(lo.addresses.contains(&"127.0.0.1/8".to_owned()), "{lo:?}");
    assert_eq!(lo.mac, None, "loopback's all-zero address is no MAC");
    assert_eq!(lo.bridge, None);

    // Same names as sysfs shows for this (the test's) network namespace, and the bridges are
    // the links of kind bridge. Other test processes add and remove links in this namespace
    // meanwhile, so the snapshots are retaken until two agree (polled, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let from_netlink: BTreeSet<String> = host::nics().await.expect("nics").into_iter().map(|n| n.name).collect();
        let from_sysfs: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
            .expect("read /sys/class/net")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        let bridges = host::bridges().await.expect("bridges");
        let links = host::links().await.expect("links");
        let bridge_links: Vec<String> = links.iter().filter(|l| l.is_bridge()).map(|l| l.nic.name.clone()).collect();
        if from_netlink == from_sysfs && bridges == bridge_links {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "netlink {from_netlink:?} vs sysfs {from_sysfs:?}; bridges {bridges:?} vs {bridge_links:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for nic in nics.iter().filter(|n| n.mac.is_some()) {
        let mac = nic.mac.as_deref().unwrap_or_default();
        assert_eq!(mac.len(), 17, "{nic:?}");
        assert_eq!(mac, mac.to_lowercase());
    }
}

/// The firmware itself is right: under TCG it walks every step and exits with 67. Without
/// this, a broken firmware would read as "KVM unusable".
#[tokio::test]
async fn the_probe_firmware_runs_to_its_end_under_tcg() {
    let elapsed = host::probe_firmware_run(qemu(), Accelerator::Tcg, Duration::from_secs(60))
        .await
        .expect("the probe guest runs under TCG");
    println!("probe guest under TCG: {elapsed:?}");
}

#[tokio::test]
async fn kvm_probe_decides_and_says_why_not() {
    let started = Instant::now();
    let virtualization = host::kvm_probe(qemu(), host::DEFAULT_KVM_PROBE_TIMEOUT).await;
    println!("kvm_probe after {:?}: {virtualization:?}", started.elapsed());
    match virtualization.domain_type {
        DomainType::Kvm => assert_eq!(virtualization.kvm_unusable_reason, None),
        DomainType::Qemu => {
            let reason = virtualization.kvm_unusable_reason.expect("a reason when KVM is not used");
            assert!(!reason.is_empty());
            if !Path::new("/dev/kvm").exists() {
                assert!(reason.contains("/dev/kvm is missing"), "{reason}");
            }
        }
    }
    assert!(started.elapsed() < host::DEFAULT_KVM_PROBE_TIMEOUT + Duration::from_secs(10), "the probe overran");
}

/// Fault injected: a timeout far shorter than QEMU's start-up. QEMU is killed and reaped, and
/// the failure says how far the guest got (nowhere).
#[tokio::test]
async fn a_guest_that_does_not_finish_in_time_is_killed() {
    let started = Instant::now();
    let failure = host::probe_firmware_run(qemu(), Accelerator::Tcg, Duration::from_millis(1))
        .await
        .expect_err("1ms is too short for QEMU to even start");
    assert!(started.elapsed() < Duration::from_secs(10), "killing QEMU took {:?}", started.elapsed());
    let GuestRunFailure::TimedOut { ref progress, .. } = failure else { panic!("expected a timeout: {failure}") };
    assert_eq!(progress.work_rounds(), 0);
    assert!(failure.to_string().starts_with("a test guest under TCG did not finish within 0.0s: "), "{failure}");
}

/// Fault injected: no such QEMU binary.
#[tokio::test]
async fn a_missing_qemu_is_named() {
    let missing = Path::new("/nonexistent/qemu-system-x86_64");
    let failure = host::probe_firmware_run(missing, Accelerator::Kvm, Duration::from_secs(5))
        .await
        .expect_err("no QEMU, no guest");
    assert!(matches!(failure, GuestRunFailure::Spawn { .. }), "{failure:?}");
    assert!(failure.to_string().contains("/nonexistent/qemu-system-x86_64"), "{failure}");
}

#[test]
fn stats_sampler_reports_a_busy_share_memory_and_counters() {
    let mut sampler = host::HostStatsSampler::new();
    let first = sampler.sample().expect("first sample");
    // Some work, so that the second interval is not empty on an idle machine.
    let mut x = 0u64;
    for i in 0..5_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let second = sampler.sample().expect("second sample");
    println!("{second:?}");
    for stats in [&first, &second] {
        assert!((0.0..=100.0).contains(&stats.cpu_usage_percent), "{}", stats.cpu_usage_percent);
        assert!(stats.memory_used <= stats.memory_total);
        assert_eq!(stats.memory_used.bytes() + stats.memory_free.bytes(), stats.memory_total.bytes());
        assert!(stats.nics.iter().any(|n| n.name == "lo"));
    }
    assert!(second.sampled_at_ms >= first.sampled_at_ms);
    let lo = |s: &oxvirt_agent_api::v1::HostStats| s.nics.iter().find(|n| n.name == "lo").map(|n| n.rx_bytes);
    assert!(lo(&second) >= lo(&first), "counters are monotonic");
}
