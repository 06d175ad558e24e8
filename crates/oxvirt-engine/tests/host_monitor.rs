//! Host monitoring end to end: a real engine process watching a real agent in a real test
//! host. Stopping the agent makes the host non-responsive after the grace period (with an
//! audit event); starting it again brings the host back Up. An engine restart re-checks host
//! statuses the same way.
//!
//! The engine runs with a short grace (2 s) and reconcile interval (1 s) so that the tests
//! finish quickly; they wait on the host's status with deadlines, never sleep.

use oxvirt_testkit::agent::{TEST_ENROLLMENT_SECRET, agent_binary};
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::{HostOptions, TestAgent, TestEngine, TestHost, TestNetwork, wait};
use std::time::Duration;

const FAST_MONITOR: &[(&str, &str)] = &[("OXVIRT_HOST_GRACE_SECONDS", "2"), ("OXVIRT_RECONCILE_INTERVAL_SECONDS", "1")];
/// Grace + reconnect backoff + slack for a loaded CI machine.
const STATUS_DEADLINE: Duration = Duration::from_secs(60);

/// The engine's REST API with HTTP Basic as admin@internal, JSON replies.
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(engine: &TestEngine) -> Self {
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("client");
        Self { http, url: engine.api_url.clone() }
    }

    async fn post(&self, path: &str, xml: String) -> serde_json::Value {
        let r = self
            .http
            .post(format!("{}/{path}", self.url))
            .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
            .header("Content-Type", "application/xml")
            .header("Accept", "application/json")
            .body(xml)
            .send()
            .await
            .expect("send");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(status, 201, "POST {path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let r = self
            .http
            .get(format!("{}/{path}", self.url))
            .basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD))
            .header("Accept", "application/json")
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// Adds a data center, a cluster and the agent at `address` as host `h1`; returns its id.
    async fn host_add(&self, address: &str) -> String {
        self.post("datacenters", "<data_center><name>mdc</name><local>false</local></data_center>".into()).await;
        self.post("clusters", "<cluster><name>mcl</name><data_center><name>mdc</name></data_center></cluster>".into())
            .await;
        // `async=false`: the reply comes when the AddHost job has ended (the host is up).
        let host = self
            .post(
                "hosts?async=false",
                format!(
                    "<host><name>h1</name><address>{address}</address>\
                     <root_password>{TEST_ENROLLMENT_SECRET}</root_password>\
                     <cluster><name>mcl</name></cluster></host>"
                ),
            )
            .await;
        assert_eq!(host["status"], "up", "{host}");
        host["id"].as_str().expect("host id").to_owned()
    }

    /// Waits until host `id` has `status`; returns the host.
    async fn host_wait_status(&self, id: &str, status: &str, engine: &TestEngine) -> serde_json::Value {
        let what = format!("host {id} to become {status}");
        let found = wait::until_async(&what, STATUS_DEADLINE, || async {
            self.get(&format!("hosts/{id}")).await.filter(|h| h["status"] == status)
        })
        .await;
        match found {
            Ok(h) => h,
            Err(e) => panic!("{e}; engine log:\n{}", tail(engine)),
        }
    }

    /// The descriptions of all audit events.
    async fn event_descriptions(&self) -> Vec<String> {
        let events = self.get("events").await.expect("events");
        events["event"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["description"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    async fn event_with(&self, needle: &str) -> Option<String> {
        self.event_descriptions().await.into_iter().find(|d| d.contains(needle))
    }
}

fn tail(engine: &TestEngine) -> String {
    let log = std::fs::read_to_string(engine.log_path()).unwrap_or_default();
    log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_monitor_marks_unreachable_host_non_responsive_and_back_up() {
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("mon-host")).expect("test host");
    let mut agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), FAST_MONITOR).await.expect("engine");
    let api = Api::new(&engine);
    let id = api.host_add(&host.address().to_string()).await;

    agent.stop(&mut host);
    let h = api.host_wait_status(&id, "non_responsive", &engine).await;
    let detail = h["status_detail"].as_str().unwrap_or_default().to_owned();
    let event = api.event_with("is non responsive").await;
    assert!(event.as_deref().is_some_and(|e| e.contains("h1") && e.contains("has not answered since")), "{event:?}");
    assert!(detail.contains("has not answered since"), "the host's status detail says why: {h}");

    agent.restart(&mut host).await.expect("agent again");
    api.host_wait_status(&id, "up", &engine).await;
    let event = api.event_with("answers again").await;
    assert!(event.as_deref().is_some_and(|e| e.contains("h1") && e.contains("Up")), "{event:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_restart_rechecks_host_status() {
    let net = TestNetwork::new().expect("network");
    let mut host = TestHost::start(&net, HostOptions::named("mon-restart")).expect("test host");
    let mut agent = TestAgent::start_unenrolled(&mut host, &agent_binary().expect("agent"), &[]).await.expect("agent");
    let mut engine = TestEngine::start(&engine_binary().expect("engine binary"), FAST_MONITOR).await.expect("engine");
    let api = Api::new(&engine);
    let id = api.host_add(&host.address().to_string()).await;

    // The engine is down while the agent goes away: the restarted engine finds out by itself.
    engine.stop();
    agent.stop(&mut host);
    engine.restart().await.expect("engine again");
    api.host_wait_status(&id, "non_responsive", &engine).await;
    assert!(api.event_with("is non responsive").await.is_some());

    // And the other way round: non-responsive in the database, the agent answers → Up.
    engine.stop();
    agent.restart(&mut host).await.expect("agent again");
    engine.restart().await.expect("engine once more");
    api.host_wait_status(&id, "up", &engine).await;
    assert!(api.event_with("answers again").await.is_some());
}
