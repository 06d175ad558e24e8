//! The README's SDK example runs as written against what `make up` sets up (a `Default` data
//! center and cluster, one Up host, the `data` storage domain), with only its connection
//! parameters pointed at a test engine. The example is read from README.md itself, so the
//! two cannot drift apart.

use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::{HostOptions, TestAgent, TestEngine, TestHost, TestNetwork};
use std::path::Path;
use std::process::Command;

const MARKER: &str = "<!-- readme-example:";

/// The first ```python block after the marker comment in README.md.
fn readme_example() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).expect("README.md");
    let after = &readme[readme.find(MARKER).expect("the README marks its example")..];
    let start = after.find("```python\n").expect("a python block after the marker") + "```python\n".len();
    let end = after[start..].find("```").expect("the block ends") + start;
    after[start..end].to_owned()
}

fn python(args: &[&str], stdin_script: Option<&str>) -> String {
    use std::io::Write as _;
    let mut cmd = Command::new(oxvirt_testkit::sdk::sdk_python().expect("SDK venv"));
    cmd.args(args).env("PYTHONDONTWRITEBYTECODE", "1");
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("python");
    if let Some(script) = stdin_script {
        child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write script");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("python output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_host_readme_example_creates_and_starts_a_vm() {
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("readme-host")).expect("test host");
    let _agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let domain_dir = host.dir().join("data");
    std::fs::create_dir_all(&domain_dir).expect("domain dir");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/make_up_like.py");
    python(
        &[
            &setup.to_string_lossy(),
            &engine.api_url,
            TEST_ADMIN_PASSWORD,
            &engine.ca_file.to_string_lossy(),
            &host.address().to_string(),
            TEST_ENROLLMENT_SECRET,
            &domain_dir.to_string_lossy(),
        ],
        None,
    );

    let example = readme_example();
    for needle in ["https://localhost:8443/ovirt-engine/api", "\"PASSWORD\"", "/var/lib/oxvirt/pki/ca.pem"] {
        assert!(example.contains(needle), "the README example should contain {needle}");
    }
    let script = example
        .replace("https://localhost:8443/ovirt-engine/api", &engine.api_url)
        .replace("\"PASSWORD\"", &format!("\"{TEST_ADMIN_PASSWORD}\""))
        .replace("/var/lib/oxvirt/pki/ca.pem", &engine.ca_file.to_string_lossy());
    let out = python(&["-"], Some(&script));
    assert!(out.contains("vm1 is up on this-host"), "{out}");
    assert_eq!(host.running_domains().expect("domains"), vec!["vm1".to_owned()]);
}
