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
