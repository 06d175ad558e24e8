//! B2 thin provisioning: N VMs, each from Blank plus a new 1 GiB COW (qcow2) sparse disk, made
//! through the API one after another on one real test host, against a shell loop of
//! `qemu-img create -f qcow2` for N 1 GiB files in the same kind of directory.
//!
//! Per VM: `POST /vms`, `POST /vms/{id}/diskattachments` with the new disk, then polling
//! `GET /disks/{id}` (every 2 ms) until the disk is `ok`. Total over all VMs, per-VM p50/p99.
//! The baseline is one `sh -c` loop timed as a whole. Ratio of the totals.

use crate::api;
use crate::b1::{RealHost, fmt_ratio};
use crate::machine::Machine;
use crate::report::{Report, fmt_ms};
use crate::stats::{ms, percentile, summary};
use crate::{Options, count};
use anyhow::{Context as _, bail};
use serde_json::json;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;

pub async fn run(opts: &Options, machine: &mut Machine) -> anyhow::Result<Report> {
    let mut report = Report::new("b2", "thin provisioning: VMs with a 1 GiB qcow2 disk vs qemu-img create");
    let n = count(opts, 1000, 10);
    report.params = json!({
        "vms": n,
        "disk": "1 GiB, format cow (qcow2), sparse, virtio, on a localfs data domain of the test host",
        "sequential": true,
        "disk_poll_interval_ms": 2,
        "database": "sqlite",
    });
    println!("B2 {} — parameters: {}", report.title, report.params);
    let setup = RealHost::start("bench-b2", machine).await?;
    let api = &setup.api;
    let domain_dir = setup.host.dir().join("data1");
    std::fs::create_dir_all(&domain_dir)?;
    let sd_id =
        api::local_data_domain(api, "bench-data", "bench-host", &domain_dir.to_string_lossy(), "bench-dc").await?;

    let mut per_vm = Vec::with_capacity(n);
    let (mut vm_add_ms, mut attach_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let total_start = Instant::now();
    for i in 0..n {
        let t0 = Instant::now();
        let vm = api
            .post(
                "/vms",
                &json!({"name": format!("bench-b2-vm-{i:05}"), "cluster": {"name": "bench-cluster"},
                        "template": {"name": "Blank"}, "memory": "268435456"}),
            )
            .await?;
        let vm_id = vm["id"].as_str().context("VM without id")?.to_owned();
        vm_add_ms.push(ms(t0.elapsed()));
        let t1 = Instant::now();
        let attachment = api
            .post(
                &format!("/vms/{vm_id}/diskattachments"),
                &json!({
                    "disk": {"name": format!("bench-b2-disk-{i:05}"), "format": "cow",
                             "provisioned_size": GIB.to_string(), "sparse": "true",
                             "storage_domains": {"storage_domain": [{"id": sd_id}]}},
                    "interface": "virtio", "bootable": "false", "active": "true",
                }),
            )
            .await?;
        attach_ms.push(ms(t1.elapsed()));
        let disk_id =
            attachment["disk"]["id"].as_str().or(attachment["id"].as_str()).context("attachment without disk id")?;
        api.wait_field(
            &format!("/disks/{disk_id}"),
            "status",
            "ok",
            Duration::from_millis(2),
            Duration::from_secs(120),
        )
        .await?;
        per_vm.push(ms(t0.elapsed()));
        if (i + 1) % 100 == 0 || i + 1 == n {
            println!("  {}/{n} VMs with disks, last {:.1} ms", i + 1, per_vm[i]);
        }
    }
    let total = total_start.elapsed();

    // Baseline: the same files with qemu-img in one shell loop, beside the storage domain.
    let baseline_dir = setup.host.dir().join("qemu-img-baseline");
    std::fs::create_dir_all(&baseline_dir)?;
    let t0 = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"i=0; while [ "$i" -lt "$1" ]; do qemu-img create -q -f qcow2 "$0/img-$i.qcow2" 1G || exit 1; i=$((i+1)); done"#)
        .arg(&baseline_dir)
        .arg(n.to_string())
        .status()?;
    let baseline = t0.elapsed();
    if !status.success() {
        bail!("the qemu-img create loop failed: {status}");
    }
    let _ = std::fs::remove_dir_all(&baseline_dir);

    let ratio = total.as_secs_f64() / baseline.as_secs_f64();
    let (p50, p99) = (percentile(&per_vm, 50.0), percentile(&per_vm, 99.0));
    report.figure(
        format!("{n} VMs with a 1 GiB disk through the API, total"),
        format!("{:.2} s", total.as_secs_f64()),
        "",
    );
    report.figure("per VM (add VM + add disk attachment → disk ok) p50", fmt_ms(p50), "");
    report.figure("per VM p99", fmt_ms(p99), "");
    report.figure("  of which POST /vms, p50", fmt_ms(percentile(&vm_add_ms, 50.0)), "");
    report.figure("  of which POST diskattachments (disk created, ok), p50", fmt_ms(percentile(&attach_ms, 50.0)), "");
    report.figure(format!("qemu-img create loop of {n} files, total"), format!("{:.2} s", baseline.as_secs_f64()), "");
    report.figure("qemu-img create per file (total / N)", fmt_ms(Some(ms(baseline) / n as f64)), "");
    report.figure("ratio API total / qemu-img loop total", fmt_ratio(Some(ratio)), "≤ 2");
    report.note("The VMs and disks are left to the test host's teardown (its directory is removed with it).");
    report.results = json!({
        "total_s": total.as_secs_f64(),
        "per_vm_ms": summary(&per_vm),
        "vm_add_ms": summary(&vm_add_ms),
        "disk_attachment_add_ms": summary(&attach_ms),
        "qemu_img_loop_total_s": baseline.as_secs_f64(),
        "qemu_img_per_file_ms": ms(baseline) / n as f64,
        "ratio": ratio,
    });
    report.write(opts, machine)?;
    drop(setup);
    Ok(report)
}
