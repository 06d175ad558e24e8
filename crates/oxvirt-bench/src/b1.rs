//! B1 start overhead: start the same VM N times through the REST API and time it until the
//! engine shows it `up` (the engine sets `up` once the agent reports QEMU running), against
//! `virsh create` of the same domain XML on the same test host.
//!
//! The VM boots the test guest directly (kernel + initrd, no disk). Per start: the latency of
//! the `start` POST itself (it returns once the agent had libvirt create the domain) and the
//! time until `GET /vms/{id}` (polled every millisecond) says `up`. Baseline: the domain XML
//! the agent produced (`virsh dumpxml` while it runs) with another name and UUID and without
//! oxvirt's metadata (so the agent leaves it alone), created with `virsh create` N times,
//! timed until the command returns (QEMU running), destroyed between runs. Medians and ratio.

use crate::api::{self, Api};
use crate::machine::Machine;
use crate::report::{Report, fmt_ms};
use crate::stats::{median, ms, summary};
use crate::{Options, count};
use anyhow::Context as _;
use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::{HostOptions, TestAgent, TestEngine, TestGuest, TestHost, TestNetwork};
use serde_json::json;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(1);

/// A real test host with its agent, an engine (SQLite), and the host Up in `bench-cluster`.
#[derive(Debug)]
pub struct RealHost {
    pub api: Api,
    pub host_id: String,
    // Drop order: engine, agent, host, network.
    pub engine: TestEngine,
    pub agent: TestAgent,
    pub host: TestHost,
    pub net: std::sync::Arc<TestNetwork>,
}

impl RealHost {
    pub async fn start(name: &str, machine: &mut Machine) -> anyhow::Result<Self> {
        let net = TestNetwork::new().context("test network")?;
        let mut host = TestHost::start(&net, HostOptions::named(name)).context("test host")?;
        let agent = TestAgent::start_unenrolled(&mut host, &agent_binary()?, &[]).await.context("agent")?;
        let engine = TestEngine::start(&engine_binary()?, &[]).await.context("engine")?;
        let api = Api::login(&engine.api_url, TEST_ADMIN_PASSWORD).await?;
        api::data_center_and_cluster(&api, "bench-dc", "bench-cluster").await?;
        let host_id =
            api::host_add(&api, "bench-host", &host.address().to_string(), TEST_ENROLLMENT_SECRET, "bench-cluster")
                .await?;
        machine.set_virtualization_from_agent(&agent.state_dir);
        println!("  guests on this host: {}", machine.virtualization);
        Ok(Self { api, host_id, engine, agent, host, net })
    }
}

pub async fn run(opts: &Options, machine: &mut Machine) -> anyhow::Result<Report> {
    let mut report = Report::new("b1", "start overhead: REST start vs virsh create");
    let n = count(opts, 20, 3);
    let guest = TestGuest::get().context("the test guest (guest/build.sh)")?;
    report.params = json!({
        "starts": n,
        "vm": "test guest, direct kernel boot, 192 MiB, 1 vCPU, no disk, no NIC",
        "poll_interval_ms": 1,
        "database": "sqlite",
    });
    println!("B1 {} — parameters: {}", report.title, report.params);
    let setup = RealHost::start("bench-b1", machine).await?;
    let api = &setup.api;
    let vm = api
        .post(
            "/vms",
            &json!({
                "name": "bench-b1-vm", "cluster": {"name": "bench-cluster"}, "template": {"name": "Blank"},
                "memory": "201326592", "memory_policy": {"guaranteed": "201326592"},
                "cpu": {"topology": {"sockets": "1", "cores": "1", "threads": "1"}},
                "os": {"type": "other_linux", "kernel": guest.kernel.to_string_lossy(),
                       "initrd": guest.initrd.to_string_lossy(), "cmdline": guest.cmdline},
            }),
        )
        .await?;
    let vm_id = vm["id"].as_str().context("VM without id")?.to_owned();
    let vm_path = format!("/vms/{vm_id}");

    let (mut post_ms, mut up_ms) = (Vec::new(), Vec::new());
    let mut domain_xml = None;
    for i in 0..n {
        let t0 = Instant::now();
        api.action(&format!("{vm_path}/start")).await?;
        let posted = t0.elapsed();
        let up = api.wait_field(&vm_path, "status", "up", POLL, Duration::from_secs(120)).await?;
        post_ms.push(ms(posted));
        up_ms.push(ms(up - t0));
        println!("  start {}/{n}: POST returned {:.1} ms, up after {:.1} ms", i + 1, ms(posted), ms(up - t0));
        if domain_xml.is_none() {
            domain_xml = Some(setup.host.virsh(&["dumpxml", "bench-b1-vm"])?);
        }
        api.action(&format!("{vm_path}/stop")).await?;
        api.wait_field(&vm_path, "status", "down", Duration::from_millis(20), Duration::from_secs(60)).await?;
        oxvirt_testkit::wait::until_ok("the VM's domain to be gone", Duration::from_secs(60), || {
            Ok(setup.host.running_domains()?.is_empty().then_some(()))
        })?;
    }

    let xml = baseline_xml(domain_xml.as_deref().unwrap_or_default())?;
    let xml_path = setup.host.dir().join("bench-b1-baseline.xml");
    std::fs::write(&xml_path, &xml)?;
    let xml_arg = xml_path.to_string_lossy().into_owned();
    let mut virsh_ms = Vec::new();
    for i in 0..n {
        let t0 = Instant::now();
        setup.host.virsh(&["create", &xml_arg])?;
        let d = t0.elapsed();
        virsh_ms.push(ms(d));
        println!("  virsh create {}/{n}: {:.1} ms", i + 1, ms(d));
        setup.host.virsh(&["destroy", "bench-b1-baseline"])?;
    }

    let (m_up, m_post, m_virsh) = (median(&up_ms), median(&post_ms), median(&virsh_ms));
    let ratio = |a: Option<f64>| a.zip(m_virsh).map(|(a, b)| a / b);
    report.figure("REST start → engine shows up, median", fmt_ms(m_up), "");
    report.figure("REST start POST latency, median", fmt_ms(m_post), "");
    report.figure("virsh create, median", fmt_ms(m_virsh), "");
    report.figure("ratio (start → up) / virsh create", fmt_ratio(ratio(m_up)), "≤ 1.05");
    report.figure("ratio (start POST) / virsh create", fmt_ratio(ratio(m_post)), "");
    report.note("virsh create is timed as a whole command run in the test host (nsenter + virsh + libvirt), as a shell user would.");
    report.results = json!({
        "start_to_up_ms": summary(&up_ms),
        "start_post_ms": summary(&post_ms),
        "virsh_create_ms": summary(&virsh_ms),
        "ratio_up_vs_virsh": ratio(m_up),
        "ratio_post_vs_virsh": ratio(m_post),
        "samples": {"start_to_up_ms": up_ms, "start_post_ms": post_ms, "virsh_create_ms": virsh_ms},
    });
    report.write(opts, machine)?;
    Ok(report)
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.3}")).unwrap_or_else(|| "—".to_owned())
}

/// The agent's domain XML as an independent domain: another name and UUID, no oxvirt
/// metadata (the agent adopts domains that carry it), no runtime-only attributes.
fn baseline_xml(xml: &str) -> anyhow::Result<String> {
    let mut out = replace_element(xml, "name", "bench-b1-baseline").context("domain XML without <name>")?;
    // The UUID is in <uuid> and in the SMBIOS <sysinfo> (libvirt wants the two equal).
    let old_uuid = element_text(&out, "uuid").context("domain XML without <uuid>")?.to_owned();
    out = out.replace(&old_uuid, &uuid::Uuid::new_v4().to_string());
    if let (Some(start), Some(end)) = (out.find("<metadata>"), out.find("</metadata>")) {
        out.replace_range(start..end + "</metadata>".len(), "");
    }
    // A live domain's XML carries its id; `virsh create` wants a definition.
    if let Some(start) = out.find("<domain ")
        && let Some(close) = out[start..].find('>')
    {
        let tag = &out[start..start + close];
        let cleaned: String = tag.split(' ').filter(|a| !a.starts_with("id=")).collect::<Vec<_>>().join(" ");
        out.replace_range(start..start + close, &cleaned);
    }
    Ok(out)
}

/// The text of the first `<tag>…</tag>`.
fn element_text<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end]).filter(|t| !t.is_empty())
}

/// Replaces the text of the first `<tag>…</tag>`.
fn replace_element(xml: &str, tag: &str, text: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let mut out = xml.to_owned();
    out.replace_range(start..end, text);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_xml_is_another_domain_without_our_metadata() {
        let xml = "<domain type='kvm' id='3'>\n  <name>vm1</name>\n  <uuid>0f</uuid>\n  <metadata>\n    <ox:vm/>\n  </metadata>\n  <sysinfo type='smbios'><system><entry name='uuid'>0f</entry></system></sysinfo>\n  <memory>1</memory>\n</domain>";
        let out = baseline_xml(xml).expect("xml");
        assert!(!out.contains(">0f<"), "the sysinfo UUID follows the domain's: {out}");
        assert!(out.contains("<name>bench-b1-baseline</name>"), "{out}");
        assert!(!out.contains("<uuid>0f</uuid>") && !out.contains("metadata") && !out.contains("id='3'"), "{out}");
        assert!(out.starts_with("<domain type='kvm'>"), "{out}");
    }
}
