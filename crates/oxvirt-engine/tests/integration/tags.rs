//! Tags: a tree under `root` with unique names, assigned to VMs and hosts (once, however
//! often asked), found by `tag=` searches; removing a tag takes its subtags and assignments.

use super::{names, vm_add_sized};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::id;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_form_a_tree_and_mark_vms_and_hosts_for_searches() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("setup");
    let root = ctx.api.get("tags/00000000-0000-0000-0000-000000000000").await.expect("the root tag");
    assert_eq!(root["name"], "root");

    let env = ctx.api.post("tags", &json!({"name": "env", "description": "environments"})).await.expect("env");
    assert_eq!(env["parent"]["id"], root["id"], "a new tag goes under root: {env}");
    let prod = ctx.api.post("tags", &json!({"name": "prod", "parent": {"name": "env"}})).await.expect("prod");
    assert_eq!(prod["parent"]["id"], env["id"]);
    ctx.api.post("tags", &json!({"name": "prod"})).await.expect_err("a name is unique").assert_names(409, &["prod"]);
    let cycle = json!({"parent": {"id": prod["id"]}});
    ctx.api
        .put(&format!("tags/{}", id(&env)), &cycle)
        .await
        .expect_err("under its own subtag")
        .assert_names(400, &["env"]);
    ctx.api
        .delete("tags/00000000-0000-0000-0000-000000000000")
        .await
        .expect_err("root stays")
        .assert_names(409, &["root"]);

    let (web, db) = (vm_add_sized(&ctx, "web", 1 << 30).await, vm_add_sized(&ctx, "db", 1 << 30).await);
    for _ in 0..2 {
        ctx.api.post(&format!("vms/{web}/tags"), &json!({"name": "prod"})).await.expect("assign, twice");
    }
    let tags = ctx.api.list(&format!("vms/{web}/tags"), "tag").await.expect("web's tags");
    assert_eq!(tags.iter().map(|t| t["name"].clone()).collect::<Vec<_>>(), [json!("prod")], "once");
    ctx.api.post(&format!("hosts/{}/tags", s.hosts[0]), &json!({"id": env["id"]})).await.expect("host tag");

    assert_eq!(names(&ctx.api.list("vms?search=tag%3Dprod", "vm").await.expect("search")), ["web"]);
    assert!(ctx.api.list("vms?search=tag%3Dnone-such", "vm").await.expect("no such tag").is_empty());
    assert_eq!(ctx.api.list("hosts?search=tag%3Denv", "host").await.expect("hosts").len(), 1);
    ctx.api
        .get(&format!("vms/{db}/tags/{}", id(&prod)))
        .await
        .expect_err("db is not tagged")
        .assert_names(404, &["db"]);

    // Removing env takes prod and both assignments.
    ctx.api.delete(&format!("tags/{}", id(&env))).await.expect("remove env");
    ctx.api.get(&format!("tags/{}", id(&prod))).await.expect_err("subtag gone").assert_names(404, &[&id(&prod)]);
    assert!(ctx.api.list(&format!("vms/{web}/tags"), "tag").await.expect("web's tags").is_empty());
    assert!(ctx.api.list(&format!("hosts/{}/tags", s.hosts[0]), "tag").await.expect("host's tags").is_empty());
}
