//! External events (`POST /events`): written under their own origin with oVirt's code for
//! their severity, one per (origin, custom_id); read back by id and removed. (oVirt's JSON
//! spells numbers as strings.) The audit log searched by type, severity, user and correlation id,
//! and by the name of the VM, host or cluster an event is about.

use oxvirt_testkit::EngineTestContext;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_event_is_logged_once_per_custom_id_and_can_be_removed() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let dc = ctx.api.post("datacenters", &json!({"name": "dc1", "local": false})).await.expect("dc");
    let body = json!({
        "description": "backup of dc1 finished",
        "severity": "warning",
        "origin": "backup-tool",
        "custom_id": 7,
        "data_center": {"id": dc["id"]},
    });
    let e = ctx.api.post("events", &body).await.expect("add an external event");
    assert_eq!(
        (&e["origin"], &e["custom_id"], &e["code"]),
        (&json!("backup-tool"), &json!("7"), &json!("9802")),
        "{e}"
    );
    assert_eq!(e["data_center"]["id"], dc["id"]);
    let id = e["id"].as_str().expect("id").to_owned();
    let got = ctx.api.get(&format!("events/{id}")).await.expect("get by id");
    assert_eq!(got["description"], "backup of dc1 finished");
    let listed = ctx.api.list("events", "event").await.expect("list");
    assert_eq!(listed.iter().filter(|x| x["origin"] == "backup-tool").count(), 1);

    ctx.api.post("events", &body).await.expect_err("the same custom_id twice").assert_names(409, &["custom_id 7"]);
    let ours = json!({"description": "x", "severity": "normal", "origin": "oVirt", "custom_id": 1});
    ctx.api.post("events", &ours).await.expect_err("oVirt's own origin").assert_names(400, &["origin"]);
    let nowhere = json!({"description": "x", "severity": "normal", "origin": "t", "custom_id": 2,
                         "vm": {"id": "11111111-2222-3333-4444-555555555555"}});
    ctx.api.post("events", &nowhere).await.expect_err("a VM that does not exist").assert_names(400, &["11111111"]);
    let flood = json!({"description": "x", "severity": "normal", "origin": "t", "custom_id": 3, "flood_rate": 30});
    ctx.api.post("events", &flood).await.expect_err("flood protection").assert_names(400, &["event.flood_rate"]);

    ctx.api.delete(&format!("events/{id}")).await.expect("remove");
    ctx.api.get(&format!("events/{id}")).await.expect_err("gone").assert_names(404, &[&id]);
    ctx.api.get("events/not-a-number").await.expect_err("not an event id").assert_names(404, &["not-a-number"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_searched_by_type_severity_user_and_correlation_id() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    for (i, severity) in ["normal", "warning", "error", "alert"].iter().enumerate() {
        let body = json!({"description": format!("e-{severity}"), "severity": severity, "origin": "t", "custom_id": i,
                          "correlation_id": "corr-1"});
        ctx.api.post("events", &body).await.expect("external event");
    }
    let search = |q: &'static str| {
        let ctx = &ctx;
        async move {
            let path = format!(
                "events?search={}",
                q.replace(' ', "%20").replace('=', "%3D").replace('>', "%3E").replace('<', "%3C")
            );
            let listed = ctx.api.list(&path, "event").await.unwrap_or_else(|f| panic!("{q}: {f}"));
            let mut mine: Vec<String> = listed
                .iter()
                .filter(|e| e["origin"] == "t")
                .map(|e| e["description"].as_str().unwrap_or_default().to_owned())
                .collect();
            mine.sort();
            mine
        }
    };
    assert_eq!(search("severity=error").await, ["e-error"]);
    assert_eq!(search("severity>warning").await, ["e-alert", "e-error"]);
    assert_eq!(search("severity>=warning and severity<alert").await, ["e-error", "e-warning"]);
    assert_eq!(search("severity<=normal").await, ["e-normal"]);
    assert!(search("severity<normal").await.is_empty());
    // oVirt's codes for external events: 9801 normal … 9804 alert.
    assert_eq!(search("type=9802").await, ["e-warning"]);
    assert_eq!(search("usrname=admin@internal and type=9804").await, ["e-alert"]);
    assert!(search("usrname=nobody").await.is_empty());
    assert_eq!(search("correlation_id=corr-1").await.len(), 4);
    for (q, words) in [
        ("type=abc", &["abc", "not a number"][..]),
        ("severity=bad", &["bad", "severity"]),
        ("severity!=normal", &["!="]),
        ("color=red", &["color", "type, severity"]),
        ("type=1 or type=2", &["or"]),
    ] {
        let path = format!("events?search={}", q.replace(' ', "%20").replace('=', "%3D"));
        ctx.api.get(&path).await.expect_err(q).assert_names(400, words);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_searched_by_the_name_of_the_vm_host_or_cluster_they_are_about() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("dc1, c1 and sim0 up");
    let vm = oxvirt_testkit::engine_context::id(&ctx.vm_add("vm1", "c1", json!({})).await.expect("vm1"));
    // Events about another VM must not match.
    ctx.vm_add("vm2", "c1", json!({})).await.expect("vm2");
    let about = |q: &str, what: &str, id: String| {
        let ctx = &ctx;
        let (q, what) = (q.replace('=', "%3D").replace(' ', "%20"), what.to_owned());
        async move {
            let events = ctx.api.list(&format!("events?search={q}"), "event").await.expect("search");
            assert!(!events.is_empty(), "{q}: no event");
            assert!(events.iter().all(|e| e[what.as_str()]["id"] == id.as_str()), "{q}: {events:?}");
        }
    };
    about("vm.name=vm1", "vm", vm.clone()).await;
    about("vm=vm1 and type=34", "vm", vm.clone()).await;
    about("host.name=sim0", "host", s.hosts[0].clone()).await;
    about("cluster.name=c1", "cluster", s.cluster.clone()).await;
    let none = ctx.api.list("events?search=vm.name%3Dnope", "event").await.expect("no such VM");
    assert!(none.is_empty(), "a name no VM has matches nothing: {none:?}");
    let f = ctx.api.get("events?search=vm.name%3Dvm*").await.expect_err("wildcard");
    f.assert_names(400, &["vm.name", "without wildcards"]);
}
