//! Operating systems: oVirt's catalog, read-only — its ids, unique names and architectures;
//! `max` limits the list, a search is refused, an unknown id is a 404 that names it.

use oxvirt_testkit::EngineTestContext;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_ovirts_operating_systems_by_id_and_refuses_a_search() {
    let ctx = EngineTestContext::start(0).await.expect("context");
    let all = ctx.api.list("operatingsystems", "operating_system").await.expect("list");
    assert!(all.len() > 40, "the whole catalog: {} entries", all.len());
    let rhel9 = all.iter().find(|o| o["name"] == "rhel_9x64").expect("rhel_9x64 is listed");
    assert_eq!(rhel9["id"], "34", "oVirt's id: {rhel9}");
    assert_eq!(rhel9["description"], "Red Hat Enterprise Linux 9.x x64");
    assert_eq!(rhel9["architecture"], "x86_64");

    let two = ctx.api.list("operatingsystems?max=2", "operating_system").await.expect("max=2");
    let names: Vec<&str> = two.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["other", "windows_xp"], "by id, limited by max");

    let other = ctx.api.get("operatingsystems/0").await.expect("get by id");
    assert_eq!((&other["name"], &other["description"]), (&"other".into(), &"Other OS".into()), "{other}");
    ctx.api.get("operatingsystems/99999").await.expect_err("an unknown id").assert_names(404, &["99999"]);
    let f = ctx.api.list("operatingsystems?search=name%3Drhel*", "operating_system").await.expect_err("a search");
    f.assert_names(400, &["cannot be searched"]);
}
