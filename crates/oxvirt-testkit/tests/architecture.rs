//! The architecture's invariants (ARCHITECTURE.md, "Architecture invariants"), checked on the
//! workspace itself so that a change that breaks one fails `make test` instead of a review:
//! which crate may link what (from `cargo metadata`), and which layer may name which (from
//! the sources).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Files below `dir` (but not below `except`) whose code mentions `needle` (comments aside).
fn offenders(dir: &Path, except: Option<&Path>, needle: &str) -> Vec<String> {
    rust_files(dir)
        .into_iter()
        .filter(|p| except.is_none_or(|e| !p.starts_with(e)))
        .filter(|p| {
            let text = std::fs::read_to_string(p).expect("read source");
            text.lines().any(|l| {
                let code = l.split("//").next().unwrap_or_default();
                code.contains(needle)
            })
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// The workspace's packages and, for each, its normal (non-dev, non-build) dependencies.
fn dependency_graph() -> HashMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(workspace())
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let mut graph = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let name = names[node["id"].as_str().expect("node id")].to_owned();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null())))
            .map(|d| names[d["pkg"].as_str().expect("dep pkg")].to_owned())
            .collect();
        graph.insert(name, deps);
    }
    graph
}

/// Everything `package` links, transitively (normal dependencies only).
fn links(graph: &HashMap<String, Vec<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![package.to_owned()];
    while let Some(p) = todo.pop() {
        for d in graph.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn only_the_agent_links_libvirt_and_only_its_hypervisor_module_names_it() {
    let graph = dependency_graph();
    let linking: Vec<&String> =
        graph.keys().filter(|p| p.starts_with("oxvirt") && links(&graph, p).contains("virt")).collect();
    assert_eq!(linking, vec!["oxvirt-agent"], "crates that link libvirt (the `virt` crate)");
    let agent = workspace().join("crates/oxvirt-agent/src");
    let bad = offenders(&agent, Some(&agent.join("hypervisor")), "virt::");
    assert!(bad.is_empty(), "libvirt named outside the agent's hypervisor module: {bad:?}");
}

#[test]
fn the_simulator_links_neither_the_real_agent_nor_libvirt() {
    let sim = links(&dependency_graph(), "oxvirt-sim");
    assert!(sim.contains("oxvirt-agent-server"), "the simulator serves the shared agent API: {sim:?}");
    assert!(!sim.contains("oxvirt-agent") && !sim.contains("virt"), "oxvirt-sim links: {sim:?}");
}

#[test]
fn only_the_engine_db_crate_links_sqlx() {
    let graph = dependency_graph();
    let direct: Vec<&String> = graph
        .iter()
        .filter(|(p, deps)| p.starts_with("oxvirt") && deps.contains(&"sqlx".to_owned()))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(direct, vec!["oxvirt-engine-db"], "crates that depend on sqlx directly");
    let db = workspace().join("crates/oxvirt-engine-db/src");
    let bad = offenders(&db, Some(&db.join("store")), "sqlx");
    assert!(bad.is_empty(), "in oxvirt-engine-db only the store speaks SQL: {bad:?}");
}

#[test]
fn http_never_names_the_store_and_the_app_never_sees_the_ovirt_search_syntax() {
    let engine = workspace().join("crates/oxvirt-engine/src");
    let bad = offenders(&engine.join("http"), None, "oxvirt_engine_db::store");
    assert!(bad.is_empty(), "the HTTP layer must call the app layer, not the store: {bad:?}");
    let bad = offenders(&engine.join("app"), None, "oxvirt_ovirt::search");
    assert!(bad.is_empty(), "the app layer takes a neutral ListQuery, not the oVirt search AST: {bad:?}");
}
