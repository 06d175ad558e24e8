//! Proves the test-host harness against real libvirtd and QEMU: two hosts come up with their
//! own libvirtd, the test guest boots on one, live-migrates to the other and keeps ticking,
//! and teardown leaves nothing behind — also when the test panics.
//!
//! Needs root and `scripts/install-deps.sh test` (run by `make test`).

use oxvirt_testkit::host::pid_alive;
use oxvirt_testkit::{ConsoleLog, HostOptions, TestGuest, TestHost, TestNetwork};
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

fn netns_names() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn link_exists(name: &str) -> bool {
    Command::new("ip").args(["link", "show", name]).output().expect("ip link show").status.success()
}

/// The machine's own libvirtd/virtlogd (those in our mount namespace; test hosts' daemons
/// live in their own): they must be the very same processes after the test.
fn machine_libvirt_daemons() -> Vec<i32> {
    let own_mnt = std::fs::read_link("/proc/self/ns/mnt").expect("own mount ns");
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            matches!(comm.trim(), "libvirtd" | "virtlogd")
                && std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().as_ref() == Some(&own_mnt)
        })
        .collect()
}

#[test]
fn two_hosts_boot_a_guest_and_live_migrate_it_then_leave_nothing_behind() {
    let machine_daemons = machine_libvirt_daemons();
    let guest = TestGuest::get().expect("test guest");
    let net = TestNetwork::new().expect("test network");
    let bridge = net.bridge();
    let a = TestHost::start(&net, HostOptions::named("host-a")).expect("host a");
    let b = TestHost::start(&net, HostOptions::named("host-b")).expect("host b");

    // Each host has its own libvirtd, answering read-only virsh, with its own host_uuid.
    assert!(a.running_domains().expect("virsh -r on a").is_empty());
    assert!(b.running_domains().expect("virsh -r on b").is_empty());
    assert!(a.virsh(&["capabilities"]).expect("caps a").contains(&format!("<uuid>{}</uuid>", a.host_uuid())));
    assert!(b.virsh(&["capabilities"]).expect("caps b").contains(&format!("<uuid>{}</uuid>", b.host_uuid())));
    assert_ne!(a.host_uuid(), b.host_uuid());
    // ...reachable from the test process too, without entering the namespaces.
    let from_outside = Command::new("virsh")
        .args(["-r", "-c", &a.local_uri().expect("uri"), "hostname"])
        .output()
        .expect("virsh from the root namespace");
    assert_eq!(String::from_utf8_lossy(&from_outside.stdout).trim(), "host-a", "{from_outside:?}");

    // Boot the test guest on host A with a real qcow2 disk.
    let disk = a.dir().join("disk0.qcow2");
    let made = Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&disk).arg("64M").status();
    assert!(made.expect("qemu-img").success());
    let console = ConsoleLog::new(a.dir().join("mig-vm-console.log"));
    let xml_path = a.dir().join("mig-vm.xml");
    std::fs::write(&xml_path, guest.direct_boot_domain_xml("mig-vm", 128, console.path(), &[&disk])).expect("xml");
    a.virsh(&["create", &xml_path.display().to_string()]).expect("virsh create on host a");
    let marker = console.wait_for_marker(BOOT_TIMEOUT).expect("guest boots on host a");
    assert_eq!(marker.disks, vec!["vda"], "the guest sees its one virtio disk");
    console.wait_for_tick_after(0, BOOT_TIMEOUT).expect("guest ticks on host a");

    // Live-migrate peer to peer: host A's libvirtd talks to host B's over the test network.
    // Both hosts see the disk at the same path (one machine), i.e. shared storage; libvirt
    // cannot tell, hence --unsafe.
    a.virsh(&["migrate", "--live", "--p2p", "--unsafe", "mig-vm", &b.remote_uri()]).expect("live migration a -> b");
    assert_eq!(b.running_domains().expect("list b"), vec!["mig-vm"]);
    assert!(a.running_domains().expect("list a").is_empty(), "the source must have let go of the guest");

    // The same guest keeps running on B: ticks continue from where they were, no new boot.
    let at_switch = console.last_tick().expect("ticks before migration");
    let later = console.wait_for_tick_after(at_switch, Duration::from_secs(30)).expect("guest keeps ticking on b");
    assert!(later > at_switch);
    let boots = console.lines().iter().filter(|l| l.starts_with("OXVIRT-GUEST-UP")).count();
    assert_eq!(boots, 1, "a live migration must not reboot the guest");

    // Teardown: every process of both hosts gone, namespaces and bridge removed.
    let pids: Vec<i32> = a.pids().into_iter().chain(b.pids()).collect();
    assert!(pids.len() >= 7, "anchor + virtlogd + libvirtd per host + the guest's QEMU: {pids:?}");
    let (netns_a, netns_b) = (a.netns().to_owned(), b.netns().to_owned());
    let (dir_a, dir_b) = (a.dir().to_owned(), b.dir().to_owned());
    drop(a);
    drop(b);
    drop(net);
    let alive: Vec<i32> = pids.iter().copied().filter(|p| pid_alive(*p)).collect();
    assert!(alive.is_empty(), "processes left after teardown: {alive:?}");
    let names = netns_names();
    assert!(!names.contains(&netns_a) && !names.contains(&netns_b), "namespaces left: {names:?}");
    assert!(!link_exists(&bridge), "bridge {bridge} left behind");
    assert!(!dir_a.exists() && !dir_b.exists(), "state dirs of a passing test are removed");
    for pid in machine_daemons {
        assert!(pid_alive(pid), "the machine's own libvirt daemon (pid {pid}) must be untouched");
    }
}

#[test]
fn a_panicking_test_still_tears_its_host_down() {
    let net = TestNetwork::new().expect("test network");
    let (tx, rx) = std::sync::mpsc::channel();
    let net2 = net.clone();
    let result = std::thread::spawn(move || {
        let host = TestHost::start(&net2, HostOptions::named("doomed")).expect("host");
        tx.send((host.pids(), host.netns().to_owned(), host.dir().to_owned())).expect("send");
        panic!("simulated test failure");
    })
    .join();
    assert!(result.is_err(), "the thread must have panicked");
    let (pids, netns, dir) = rx.recv().expect("host facts");
    assert!(pids.len() >= 3, "anchor, virtlogd, libvirtd: {pids:?}");
    let alive: Vec<i32> = pids.iter().copied().filter(|p| pid_alive(*p)).collect();
    assert!(alive.is_empty(), "processes left after a panic: {alive:?}");
    assert!(!netns_names().contains(&netns), "namespace {netns} left after a panic");
    assert!(dir.join("libvirtd.stderr").exists(), "a failed test keeps the host's logs for diagnosis");
    std::fs::remove_dir_all(&dir).expect("clean the kept dir");
}
