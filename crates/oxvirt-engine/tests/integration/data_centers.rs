//! Data centers and clusters: a data center comes with its `ovirtmgmt` network and vNIC
//! profile; names are unique; a cluster names an existing data center; a data center with a
//! cluster is not removed. (Ported from `tests/sdk/slice.py`.)

use super::names;
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::id;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_center_comes_with_its_management_network_and_a_unique_name() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let dc = ctx.data_center_add("dc1").await.expect("dc1");
    assert_eq!((&dc["status"], &dc["local"]), (&json!("uninitialized"), &json!("false")), "{dc}");
    let networks = ctx.api.list(&format!("datacenters/{}/networks", id(&dc)), "network").await.expect("networks");
    assert_eq!(names(&networks), ["ovirtmgmt"]);
    let profiles = ctx.api.list(&format!("networks/{}/vnicprofiles", id(&networks[0])), "vnic_profile").await;
    assert_eq!(names(&profiles.expect("profiles")), ["ovirtmgmt"]);

    ctx.data_center_add("dc1").await.expect_err("a taken name").assert_names(409, &["dc1"]);
    let f = ctx.data_center_add("bad name").await.expect_err("an invalid name");
    f.assert_names(400, &["bad name", "data center name"]);
    assert_eq!(names(&ctx.api.list("datacenters", "data_center").await.expect("list")), ["dc1"]);
    ctx.event_wait(&["Data Center dc1 was added"]).await.expect("event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_names_an_existing_data_center_which_keeps_it_until_it_is_removed() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let dc = id(&ctx.data_center_add("dc1").await.expect("dc1"));
    let f = ctx.cluster_add("orphan", "no-such-dc").await.expect_err("an unknown data center");
    f.assert_names(400, &["no-such-dc"]);
    let cluster = ctx.cluster_add("c1", "dc1").await.expect("c1");
    assert_eq!(cluster["data_center"]["id"], dc, "{cluster}");
    ctx.cluster_add("c1", "dc1").await.expect_err("a taken name").assert_names(409, &["c1"]);

    let f = ctx.api.delete(&format!("datacenters/{dc}")).await.expect_err("a data center with a cluster");
    f.assert_names(409, &["data center dc1", "clusters"]);
    ctx.api.delete(&format!("clusters/{}", id(&cluster))).await.expect("remove c1");
    ctx.api.delete(&format!("datacenters/{dc}")).await.expect("remove dc1");
    ctx.api.get(&format!("datacenters/{dc}")).await.expect_err("dc1 is gone").assert_names(404, &[]);
}
