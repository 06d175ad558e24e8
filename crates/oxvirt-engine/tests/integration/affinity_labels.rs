//! Affinity labels: unique names, put on VMs and hosts once however often asked, listed from
//! both sides; removing a label takes it off everything.

use super::{names, vm_add_sized};
use oxvirt_testkit::EngineTestContext;
use oxvirt_testkit::engine_context::id;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_labels_mark_vms_and_hosts_and_list_from_both_sides() {
    let ctx = EngineTestContext::start(1).await.expect("context");
    let s = ctx.setup(1).await.expect("setup");
    let gpu = ctx.api.post("affinitylabels", &json!({"name": "gpu"})).await.expect("add");
    ctx.api.post("affinitylabels", &json!({"name": "gpu"})).await.expect_err("unique").assert_names(409, &["gpu"]);
    let label = id(&gpu);
    let vm = vm_add_sized(&ctx, "render", 1 << 30).await;
    for _ in 0..2 {
        ctx.api.post(&format!("affinitylabels/{label}/vms"), &json!({"id": vm})).await.expect("label the VM, twice");
    }
    ctx.api.post(&format!("hosts/{}/affinitylabels", s.hosts[0]), &json!({"id": label})).await.expect("label the host");

    let vms = ctx.api.list(&format!("affinitylabels/{label}/vms"), "vm").await.expect("the label's VMs");
    assert_eq!(vms.iter().map(|v| v["id"].clone()).collect::<Vec<_>>(), [json!(vm)], "once");
    assert_eq!(
        names(&ctx.api.list(&format!("vms/{vm}/affinitylabels"), "affinity_label").await.expect("VM's")),
        ["gpu"]
    );
    let hosts = ctx.api.list(&format!("affinitylabels/{label}/hosts"), "host").await.expect("the label's hosts");
    assert_eq!(hosts.len(), 1);
    let f = ctx.api.post(&format!("affinitylabels/{label}/vms"), &json!({"name": "render"})).await.expect_err("by id");
    f.assert_names(400, &["id"]);

    ctx.api.delete(&format!("affinitylabels/{label}/vms/{vm}")).await.expect("take it off the VM");
    ctx.api
        .delete(&format!("affinitylabels/{label}/vms/{vm}"))
        .await
        .expect_err("not on it")
        .assert_names(404, &["gpu"]);
    let renamed = ctx.api.put(&format!("affinitylabels/{label}"), &json!({"name": "cuda"})).await.expect("rename");
    assert_eq!(renamed["name"], "cuda");
    ctx.api.delete(&format!("affinitylabels/{label}")).await.expect("remove");
    assert!(
        ctx.api
            .list(&format!("hosts/{}/affinitylabels", s.hosts[0]), "affinity_label")
            .await
            .expect("host's")
            .is_empty()
    );
}
