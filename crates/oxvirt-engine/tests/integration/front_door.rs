//! The engine's front door: failed password checks back off per user and per source before
//! any hash runs (unknown users exactly like known ones), verified credentials and tokens
//! keep working meanwhile, a token dies with its user's right to log in, and what another web
//! site could make a browser send is refused before authentication.

use oxvirt_engine_db::model::{Timestamp, User};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::{ApiClient, Auth};
use oxvirt_types::UserId;
use serde_json::json;
use std::time::{Duration, Instant};

/// Waits (deadline 20 s) until `login` gets a token: its backoff has passed.
async fn login_when_admitted(client: &ApiClient) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.login().await {
            Ok(token) => return token,
            Err(f) if f.status == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(f) => panic!("login after the backoff: {f:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_back_off_per_user_then_per_source_while_verified_credentials_keep_working() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let basic = ctx.api.clone().with_auth(Auth::Basic);
    basic.get("").await.expect("admin's Basic credentials, verified once and cached");
    let token = ctx.api.login().await.expect("a token before the guessing");
    let bearer = ctx.api.clone().with_auth(Auth::Token(token));

    // A second user (FAULT INJECTION through the store: the user API is not there yet), whose
    // password no request has verified: nothing of it is cached.
    let store = ctx.store().await.expect("store");
    store
        .user_insert(&User {
            id: UserId::new_random(),
            name: "ops".into(),
            domain: "internal".into(),
            password_hash: Some(oxvirt_engine::auth::password_hash("ops-pw").expect("hash")),
            email: None,
            enabled: true,
            created: Timestamp::now(),
        })
        .await
        .expect("ops@internal");

    // Five wrong passwords for ops are answered 401; the sixth attempt is not checked at
    // all, even with the right password, and says why and for whom.
    let wrong = basic.clone().with_credentials("ops@internal", "wrong");
    for _ in 0..5 {
        wrong.get("").await.expect_err("a wrong password").assert_names(401, &[]);
    }
    wrong.get("").await.expect_err("backing off").assert_names(429, &["too many failed logins", "ops@internal"]);
    let fresh = ctx.api.clone().with_credentials("ops@internal", "ops-pw");
    let refused = fresh.login().await.expect_err("the right password waits too (SSO)");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert!(refused.detail.contains("ops@internal"), "{refused:?}");
    // Meanwhile other users' verified credentials and tokens still work.
    basic.get("").await.expect("cached Basic credentials skip the check");
    bearer.get("").await.expect("a token is not a password check");

    // An unknown user is treated exactly like a known one: 401 five times, then backing off.
    let ghost = basic.clone().with_credentials("ghost@internal", "whatever");
    for _ in 0..5 {
        ghost.get("").await.expect_err("no such user").assert_names(401, &[]);
    }
    ghost.get("").await.expect_err("backing off").assert_names(429, &["ghost@internal"]);

    // After the wait the right password logs in, and ops's failures are forgotten.
    login_when_admitted(&fresh).await;
    wrong.get("").await.expect_err("a wrong password, checked again").assert_names(401, &[]);

    // The source: 20 failures from this address (whichever users) and a new user waits too.
    // So far: 5 + 5 + 1. Nine more users fail once each.
    for n in 0..9 {
        basic.clone().with_credentials(&format!("guess{n}@internal"), "x").get("").await.expect_err("fails");
    }
    basic
        .clone()
        .with_credentials("someone-new@internal", "x")
        .get("")
        .await
        .expect_err("this address is backing off")
        .assert_names(429, &["address 127.0.0.1"]);
    basic.get("").await.expect("cached credentials still work from a backing-off address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_cached_credentials_die_when_their_user_is_disabled() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let token = ctx.api.login().await.expect("token");
    let bearer = ctx.api.clone().with_auth(Auth::Token(token));
    let basic = ctx.api.clone().with_auth(Auth::Basic);
    bearer.get("").await.expect("the token works");
    basic.get("").await.expect("Basic works (and is cached)");

    // FAULT INJECTION through the store: the user management API is not there yet.
    let store = ctx.store().await.expect("store");
    let mut admin = store.user_get_by_name("internal", "admin").await.expect("admin");
    admin.enabled = false;
    store.user_update(&admin).await.expect("disable admin");
    bearer.get("").await.expect_err("the token of a disabled user").assert_names(401, &[]);
    basic.get("").await.expect_err("cached credentials of a disabled user").assert_names(401, &[]);

    admin.enabled = true;
    store.user_update(&admin).await.expect("enable admin");
    bearer.get("").await.expect_err("the token stays revoked").assert_names(401, &[]);
    basic.get("").await.expect("a new check of the password works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_are_refused_before_authentication_and_store_nothing() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let (status, text) = ctx
        .api
        .send_raw(reqwest::Method::POST, "datacenters", "application/x-www-form-urlencoded", "name=formdc")
        .await
        .expect("reply");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("application/x-www-form-urlencoded") && text.contains("application/xml"), "{text}");
    let (status, text) = ctx
        .api
        .send_raw(reqwest::Method::POST, "datacenters", "text/plain; charset=utf-8", "<x/>")
        .await
        .expect("reply");
    assert_eq!(status, 400, "{text}");

    let evil = ctx.api.clone().with_header("Origin", "https://evil.example");
    evil.post("datacenters", &json!({"name": "evildc", "local": false}))
        .await
        .expect_err("another site's page")
        .assert_names(403, &["https://evil.example", "cross-site"]);
    let own_origin = ctx.api.base().trim_end_matches("/ovirt-engine/api").to_owned();
    let own = ctx.api.clone().with_header("Origin", &own_origin);
    own.post("datacenters", &json!({"name": "owndc", "local": false})).await.expect("the engine's own origin");

    let names: Vec<String> = ctx
        .api
        .list("datacenters", "data_center")
        .await
        .expect("list")
        .iter()
        .filter_map(|dc| dc["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["owndc"], "nothing refused was stored");
}

/// Waits (up to `deadline`) until the server closes `stream`: a read returns end of file or
/// a reset. True if it did.
async fn closed_by_server(stream: &mut tokio::net::TcpStream, deadline: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 256];
    let until = Instant::now() + deadline;
    loop {
        match tokio::time::timeout(until.saturating_duration_since(Instant::now()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A client of its own (no connection pooled by earlier calls) as admin@internal.
fn fresh_client(ctx: &EngineTestContext) -> ApiClient {
    let url = format!("https://{}/ovirt-engine/api", ctx.api_addr());
    ApiClient::new(
        &url,
        &ctx.data_dir().join("pki/ca.pem"),
        "admin@internal",
        oxvirt_testkit::engine::TEST_ADMIN_PASSWORD,
    )
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_leave_the_api_answering() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let mut idle = Vec::new();
    for i in 0..1000 {
        let c = tokio::net::TcpStream::connect(ctx.api_addr()).await;
        idle.push(c.unwrap_or_else(|e| panic!("idle connection {i}: {e} (open-files limit of the test?)")));
    }
    let api = fresh_client(&ctx);
    let root = api.get("").await.expect("the API answers a new client while 1,000 connections idle");
    assert!(root["product_info"].is_object(), "{root}");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_close_and_silent_or_slow_clients_time_out() {
    let ctx =
        oxvirt_testkit::EngineTestOptions { max_connections: 8, header_read_timeout_seconds: 1, ..Default::default() }
            .hosts(0)
            .start()
            .await
            .expect("context");
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(tokio::net::TcpStream::connect(ctx.api_addr()).await.expect("a connection within the cap"));
    }
    // The kernel completes the ninth connection; the engine closes it at once.
    let mut ninth = tokio::net::TcpStream::connect(ctx.api_addr()).await.expect("tcp");
    assert!(closed_by_server(&mut ninth, Duration::from_secs(5)).await, "past the cap a connection is closed");
    // Connections that never start a TLS handshake are closed after the timeout, freeing their slots.
    for (i, c) in held.iter_mut().enumerate() {
        assert!(closed_by_server(c, Duration::from_secs(15)).await, "silent connection {i} closed");
    }
    let api = fresh_client(&ctx);
    api.get("").await.expect("the slots are free again");

    // After the handshake, a request whose headers never end is closed too (a real TLS client).
    let mut slow = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &ctx.api_addr().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_client");
    let mut stdin = slow.stdin.take().expect("stdin");
    use tokio::io::AsyncWriteExt as _;
    stdin.write_all(b"GET /ovirt-engine/api HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.expect("a partial header");
    stdin.flush().await.expect("flush");
    let mut stdout = slow.stdout.take().expect("stdout");
    let mut out = Vec::new();
    use tokio::io::AsyncReadExt as _;
    let ended = tokio::time::timeout(Duration::from_secs(15), stdout.read_to_end(&mut out)).await;
    assert!(ended.is_ok(), "the engine closed a connection whose headers did not arrive in time");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("CONNECTED") && out.contains("Verify return code"), "the TLS handshake was made: {out}");
    assert!(!out.contains("HTTP/1.1 200"), "no request was served: {out}");
    drop(stdin);
}
