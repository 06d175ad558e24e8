//! The MAC pool (`/macpools`) and scheduling policies (`/schedulingpolicies`) clusters refer
//! to: read-only catalogs of what the engine does (see `app::policies`).

use super::*;
use crate::app::{MacPoolView, SchedulingPolicyView};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/macpools", get(mac_pool_list))
        .route("/macpools/{id}", get(mac_pool_get))
        .route("/schedulingpolicies", get(scheduling_policy_list))
        .route("/schedulingpolicies/{id}", get(scheduling_policy_get))
}

fn mac_pool_el(p: &MacPoolView) -> Element {
    let ranges = p
        .pool
        .ranges
        .iter()
        .map(|r| Element::new("range").text_child("from", r.from.to_string()).text_child("to", r.to.to_string()));
    Element::new("mac_pool")
        .href(api_href(&format!("macpools/{}", p.id)))
        .id(p.id)
        .text_child("name", p.name)
        .text_child("description", p.description)
        .bool_child("allow_duplicates", false)
        .bool_child("default_pool", true)
        .child(Element::list("ranges", ranges))
}

to_element!(MacPoolView, "mac_pools", mac_pool_el);

fn scheduling_policy_el(p: &SchedulingPolicyView) -> Element {
    Element::new("scheduling_policy")
        .href(api_href(&format!("schedulingpolicies/{}", p.id)))
        .id(p.id)
        .text_child("name", p.name)
        .text_child("description", p.description)
        .bool_child("default_policy", true)
        .bool_child("locked", true)
}

to_element!(SchedulingPolicyView, "scheduling_policies", scheduling_policy_el);

async fn mac_pool_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.mac_pool_list(&p.query()?)?))
}

async fn mac_pool_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<Segment>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.mac_pool_get(id.as_str())?))
}

async fn scheduling_policy_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.scheduling_policy_list(&p.query()?)?))
}

async fn scheduling_policy_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<Segment>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.scheduling_policy_get(id.as_str())?))
}
