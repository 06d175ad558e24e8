//! External events (`POST /events`): written under their own origin with oVirt's code for
//! their severity, one per (origin, custom_id); read back by id and removed. (oVirt's JSON
//! spells numbers as strings.) The audit log searched by type, severity, user and correlation id.

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
