//! `make test` smoke check of the benchmark suite: the quick mode of B3 and B5 (SQLite, 1,000
//! VMs) with the debug binaries runs to the end and writes its result files with the
//! expected keys. Never a timed assertion: debug builds on a shared machine say nothing
//! about performance.

use std::path::Path;
use std::process::Command;

fn run_quick(bench: &str, out: &Path) -> serde_json::Value {
    let status = Command::new(env!("CARGO_BIN_EXE_oxvirt-bench"))
        .args([bench, "--quick", "--db", "sqlite", "--out"])
        .arg(out)
        .status()
        .expect("run oxvirt-bench");
    assert!(status.success(), "oxvirt-bench {bench} --quick failed: {status}");
    let files: Vec<_> = std::fs::read_dir(out)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{bench}-"))))
        .collect();
    let json = files.iter().find(|p| p.extension().is_some_and(|e| e == "json")).expect("a JSON result file");
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "md")), "a markdown fragment: {files:?}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("JSON");
    for key in ["bench", "timestamp_utc", "quick", "command", "params", "machine", "results", "figures"] {
        assert!(doc.get(key).is_some(), "{bench} result lacks '{key}': {doc}");
    }
    assert_eq!(doc["bench"], bench);
    assert_eq!(doc["quick"], true);
    for key in ["cpu_model", "cores", "memory_gib", "kernel", "git_commit", "virtualization"] {
        assert!(doc["machine"].get(key).is_some(), "machine facts lack '{key}'");
    }
    doc
}

#[test]
fn bench_quick_b3_api_latency_writes_its_result() {
    let out = tempfile::tempdir().expect("tempdir");
    let doc = run_quick("b3", out.path());
    let r = &doc["results"]["sqlite_1000"];
    for format in ["xml", "json"] {
        for case in ["get_by_id_ms", "list_max_100_ms", "search_name_prefix_ms", "full_list_ms"] {
            assert!(r[format][case]["p50"].is_number(), "{format} {case}: {r}");
        }
        assert!(r[format]["full_list_bytes"].as_u64().unwrap_or(0) > 0, "{format}: {r}");
    }
}

#[test]
fn bench_quick_b5_cold_start_writes_its_result() {
    let out = tempfile::tempdir().expect("tempdir");
    let doc = run_quick("b5", out.path());
    let r = &doc["results"]["sqlite"];
    assert!(r["first_api_answer_ms"].is_number(), "{r}");
    assert!(r["rss_after_bytes"].is_number(), "{r}");
    assert_eq!(r["vms"], 1000);
}

/// B1 quick (3 starts) with a real test host: the guests group runs it (`bench_quick_host_`).
#[test]
fn bench_quick_host_b1_start_overhead_writes_its_result() {
    let out = tempfile::tempdir().expect("tempdir");
    let doc = run_quick("b1", out.path());
    let r = &doc["results"];
    for case in ["start_to_up_ms", "start_post_ms", "virsh_create_ms"] {
        assert_eq!(r[case]["n"], 3, "{case}: {r}");
    }
    assert!(r["ratio_up_vs_virsh"].is_number(), "{r}");
    assert!(!doc["machine"]["virtualization"].as_str().unwrap_or_default().starts_with("no agent"), "{doc}");
}

/// B2 quick (10 VMs with disks) with a real test host.
#[test]
fn bench_quick_host_b2_thin_provisioning_writes_its_result() {
    let out = tempfile::tempdir().expect("tempdir");
    let doc = run_quick("b2", out.path());
    let r = &doc["results"];
    assert_eq!(r["per_vm_ms"]["n"], 10, "{r}");
    assert!(r["ratio"].is_number() && r["qemu_img_loop_total_s"].is_number(), "{r}");
}
