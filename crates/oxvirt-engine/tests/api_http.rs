//! The engine's HTTP edge as a plain HTTP client sees it: authentication (Basic, bearer,
//! none), content negotiation (XML default, JSON on request), and faults for bad input —
//! each a clear 4xx, never a crash, and nothing stored.

use oxvirt_testkit::TestEngine;
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};

fn client() -> reqwest::Client {
    reqwest::Client::builder().danger_accept_invalid_certs(true).build().expect("client")
}

#[tokio::test]
async fn authentication_negotiation_and_faults() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let api = engine.api_url.clone();
    let http = client();
    let admin = |rb: reqwest::RequestBuilder| rb.basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD));

    // No credentials, wrong credentials: 401 with a fault.
    let r = http.get(&api).send().await.expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("body").contains("<fault>"));
    let r = http.get(&api).basic_auth("admin@internal", Some("wrong")).send().await.expect("send");
    assert_eq!(r.status(), 401);

    // SSO: a token from the password grant works as a bearer token; a wrong password is an
    // OAuth error in JSON.
    let token: serde_json::Value = http
        .post(format!("https://127.0.0.1:{}/ovirt-engine/sso/oauth/token", engine.port))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=admin%40internal&password={TEST_ADMIN_PASSWORD}&scope=ovirt-app-api"
        ))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let bearer = token["access_token"].as_str().expect("access_token").to_owned();
    let r = http.get(&api).bearer_auth(&bearer).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("<product_info>"));
    let denied: serde_json::Value = http
        .post(format!("https://127.0.0.1:{}/ovirt-engine/sso/oauth/token", engine.port))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=admin%40internal&password=nope")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(denied["error"], "access_denied");

    // JSON on request, XML by default.
    let r =
        admin(http.get(format!("{api}/datacenters")).header("Accept", "application/json")).send().await.expect("send");
    assert_eq!(r.headers()["content-type"], "application/json");
    let r = admin(http.post(format!("{api}/datacenters")))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(r#"{"name": "json-dc", "local": "false", "unknown_field": {"ignored": "yes"}}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let dc: serde_json::Value = r.json().await.expect("json");
    assert_eq!(dc["name"], "json-dc");
    assert!(dc["id"].as_str().is_some_and(|id| id.len() == 36), "{dc}");

    // Malformed bodies and wrong documents: 400 faults; nothing is stored.
    for (content_type, body) in [
        ("application/xml", "<data_center><name>broken</name>"),
        ("application/json", "{\"name\": "),
        ("application/xml", "<cluster><name>wrong-root</name></cluster>"),
        ("application/xml", "<data_center><description>no name</description></data_center>"),
        ("application/xml", "<data_center><name>bad name with spaces</name></data_center>"),
    ] {
        let r = admin(http.post(format!("{api}/datacenters")))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.expect("body");
        assert!(text.contains("<fault>") && text.contains("<detail>"), "{text}");
    }
    let r = admin(http.post(format!("{api}/datacenters")))
        .header("Content-Type", "application/xml")
        .body("<data_center><name>x</name><local>maybe</local></data_center>")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "a boolean that is not one");
    let list = admin(http.get(format!("{api}/datacenters"))).send().await.expect("send").text().await.expect("body");
    assert_eq!(list.matches("<data_center ").count(), 1, "only json-dc exists: {list}");

    // Unknown paths and ids: 404 faults; a bad search: 400.
    for path in ["nothing-here", "datacenters/not-a-uuid", "datacenters/6f0e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"] {
        let r = admin(http.get(format!("{api}/{path}"))).send().await.expect("send");
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.text().await.expect("body").contains("<fault>"));
    }
    let r = admin(http.get(format!("{api}/datacenters?search=name%3D%22unterminated"))).send().await.expect("send");
    assert_eq!(r.status(), 400);
    let r = admin(http.get(format!("{api}/datacenters?search=color%3Dblue"))).send().await.expect("send");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("searchable fields"));
}

/// What oVirt's model has and the engine does not serve answers by the model: a sub-collection
/// not populated yet is an empty list (of an existing object only), an unknown path a 404
/// fault, a known path with a wrong verb a 405 fault, an unimplemented method a 400 fault —
/// never an empty body. A body's model element that nothing read is refused with a 400 naming
/// it and nothing is stored; an element outside the model is ignored. `/api/v4` is an alias.
#[tokio::test]
async fn unserved_paths_and_unread_fields_answer_by_the_model() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let api = engine.api_url.clone();
    let http = client();
    let admin = |rb: reqwest::RequestBuilder| {
        rb.basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD)).header("Content-Type", "application/xml")
    };
    let send = |rb: reqwest::RequestBuilder| async move {
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };
    let id_in = |xml: &str| {
        let start = xml.find(" id=\"").expect("an id") + 5;
        xml[start..start + 36].to_owned()
    };

    // A refused model element: 400 naming it, and no data center made.
    let (status, body) = send(admin(http.post(format!("{api}/datacenters"))).body(
        "<data_center><name>refused</name><local>false</local><mac_pool><name>x</name></mac_pool></data_center>",
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("data_center.mac_pool is not supported yet"), "{body}");
    let (_, list) = send(admin(http.get(format!("{api}/datacenters?search=name%3Drefused")))).await;
    assert!(!list.contains("<name>refused</name>"), "{list}");
    // An element outside the model is ignored, as oVirt does.
    let (status, dc) =
        send(admin(http.post(format!("{api}/datacenters"))).body(
            "<data_center><name>fid</name><local>false</local><no_such_element>1</no_such_element></data_center>",
        ))
        .await;
    assert_eq!(status, 201, "{dc}");
    let dc = id_in(&dc);
    let (status, cluster) = send(
        admin(http.post(format!("{api}/clusters")))
            .body(format!("<cluster><name>fidc</name><data_center id=\"{dc}\"/></cluster>")),
    )
    .await;
    assert_eq!(status, 201, "{cluster}");
    let cluster = id_in(&cluster);
    let (status, vm) = send(admin(http.post(format!("{api}/vms"))).body(format!(
        "<vm><name>fidvm</name><cluster id=\"{cluster}\"/><template><name>Blank</name></template></vm>"
    )))
    .await;
    assert_eq!(status, 201, "{vm}");
    let vm = id_in(&vm);

    // A known sub-collection not populated yet: an empty list with the SDK's collection name;
    // its items and the sub-collections of a missing VM are 404 faults.
    let (status, body) = send(admin(http.get(format!("{api}/vms/{vm}/numanodes")))).await;
    assert_eq!((status, body.contains("<vm_numa_nodes")), (200, true), "{body}");
    let (status, body) = send(admin(http.get(format!("{api}/vms/{vm}/watchdogs")))).await;
    assert_eq!((status, body.contains("<watchdogs")), (200, true), "{body}");
    let (status, body) = send(admin(http.get(format!("{api}/vms/{vm}/numanodes/{vm}")))).await;
    assert_eq!((status, body.contains("<fault>")), (404, true), "{body}");
    let missing = "7f3b2a1c-9d8e-4f6a-b5c4-d3e2f1a0b9c8";
    let (status, body) = send(admin(http.get(format!("{api}/vms/{missing}/numanodes")))).await;
    assert_eq!((status, body.contains("<fault>")), (404, true), "{body}");

    // Unknown path: 404 fault; known path, wrong verb: 405 fault naming the verbs.
    let (status, body) = send(admin(http.get(format!("{api}/no_such_collection")))).await;
    assert_eq!((status, body.contains("no such resource")), (404, true), "{body}");
    let (status, body) = send(admin(http.put(format!("{api}/vms")))).await;
    assert_eq!((status, body.contains("GET, POST")), (405, true), "{body}");
    // A sub-collection whose objects exist but are not served is refused, never answered
    // empty: a storage domain's disks (the data center has none, but the rule does not look).
    let (status, body) = send(admin(http.get(format!("{api}/storagedomains/{dc}/disks")))).await;
    assert_eq!((status, body.contains("not supported by oxvirt yet")), (400, true), "{body}");
    // A data center's clusters are served.
    let (status, body) = send(admin(http.get(format!("{api}/datacenters/{dc}/clusters")))).await;
    assert_eq!((status, body.contains("<name>fidc</name>")), (200, true), "{body}");
    let (status, _) = send(admin(http.get(format!("{api}/datacenters/{dc}/clusters/{cluster}")))).await;
    assert_eq!(status, 200);
    // A method of the model that is not implemented: refused, saying so.
    let (status, body) = send(admin(http.post(format!("{api}/vms/{vm}/numanodes"))).body("<vm_numa_node/>")).await;
    assert_eq!((status, body.contains("not supported by oxvirt yet")), (400, true), "{body}");

    // A reason is honoured by stop and shutdown only: on start it is refused, naming it.
    let (status, body) =
        send(admin(http.post(format!("{api}/vms/{vm}/start"))).body("<action><reason>r</reason></action>")).await;
    assert_eq!((status, body.contains("action.reason is not supported by start")), (400, true), "{body}");

    // The v4 alias serves the same API.
    let (status, body) = send(admin(http.get(format!("{api}/v4/vms/{vm}")))).await;
    assert_eq!((status, body.contains("<name>fidvm</name>")), (200, true), "{body}");
}

/// A query parameter of oVirt's model that the method does not honour is refused before
/// anything happens (`POST /vms?clone=true` makes no VM); one it honours, or one outside the
/// model, passes.
#[tokio::test]
async fn unhonoured_query_parameters_of_the_model_are_refused() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let api = engine.api_url.clone();
    let http = client();
    let admin = |rb: reqwest::RequestBuilder| {
        rb.basic_auth("admin@internal", Some(TEST_ADMIN_PASSWORD)).header("Content-Type", "application/xml")
    };
    let r = admin(http.post(format!("{api}/datacenters")))
        .body("<data_center><name>qdc</name><local>false</local></data_center>")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let r = admin(http.get(format!("{api}/datacenters/5d9e1b36-8c4d-4a3f-9f0e-2b6a1c7d8e90?follow=clusters")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "follow is a parameter of the model that a data center get does not honour");
    assert!(r.text().await.expect("body").contains("query parameter follow of GET /datacenters/{id}"));
    let r = admin(http.post(format!("{api}/vms?clone=true&clone_permissions=true")))
        .body("<vm><name>qvm</name><cluster><name>Default</name></cluster></vm>")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(body.contains("query parameters clone, clone_permissions of POST /vms are not supported yet"), "{body}");
    let r = admin(http.get(format!("{api}/vms?search=name%3Dqvm"))).send().await.expect("send");
    assert!(!r.text().await.expect("body").contains("<name>qvm</name>"), "nothing was made");
    // Honoured, honoured everywhere, and outside the model: answered.
    for query in ["search=name%3Dqdc&max=5", "all_content=true", "not_a_model_parameter=1"] {
        let r = admin(http.get(format!("{api}/datacenters?{query}"))).send().await.expect("send");
        assert_eq!(r.status(), 200, "{query}");
    }
    // A parameter at the value the engine implements anyway passes; any other is refused.
    let r = admin(http.post(format!("{api}/vms?clone=false")))
        .body("<vm><name>qvm</name><cluster><name>nope</name></cluster></vm>")
        .send()
        .await
        .expect("send");
    let body = r.text().await.expect("body");
    assert!(!body.contains("query parameter"), "clone=false is what the engine does: {body}");
}

/// A user backing off after failed logins is answered 429 with `Retry-After` (on the API and
/// on SSO), without a password check.
#[tokio::test]
async fn a_backing_off_login_is_told_when_to_retry() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    let http = client();
    for _ in 0..5 {
        let r = http.get(&engine.api_url).basic_auth("ghost@internal", Some("x")).send().await.expect("send");
        assert_eq!(r.status(), 401);
    }
    let r = http.get(&engine.api_url).basic_auth("ghost@internal", Some("x")).send().await.expect("send");
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.text().await.expect("body").contains("too many failed logins for ghost@internal"));
    let r = http
        .post(format!("https://127.0.0.1:{}/ovirt-engine/sso/oauth/token", engine.port))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=ghost%40internal&password=x")
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let denied: serde_json::Value = r.json().await.expect("json");
    assert_eq!(denied["error"], "access_denied");
}
