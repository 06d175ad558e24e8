//! MAC pools (`/macpools`, see `app::mac_pools`) and the scheduling policies
//! (`/schedulingpolicies`, a read-only catalog, see `app::policies`) clusters refer to.

use super::*;
use crate::app::{MacPoolAdd, MacPoolUpdate, SchedulingPolicyView};
use oxvirt_engine_db::model::{MacPool, MacRange};
use oxvirt_types::MacPoolId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/macpools", get(mac_pool_list).post(mac_pool_add))
        .route("/macpools/{id}", get(mac_pool_get).put(mac_pool_update).delete(mac_pool_remove))
        .route("/schedulingpolicies", get(scheduling_policy_list))
        .route("/schedulingpolicies/{id}", get(scheduling_policy_get))
}

fn mac_pool_el(p: &MacPool) -> Element {
    let ranges = p
        .ranges
        .iter()
        .map(|r| Element::new("range").text_child("from", r.from.to_string()).text_child("to", r.to.to_string()));
    Element::new("mac_pool")
        .href(href_of(p.id))
        .id(p.id)
        .text_child("name", &p.name)
        .text_child("description", &p.description)
        .bool_child("allow_duplicates", false)
        .bool_child("default_pool", p.is_default())
        .child(Element::list("ranges", ranges))
}

to_element!(MacPool, "mac_pools", mac_pool_el);

/// `ranges`: `None` when the request has none; each range needs both ends.
fn mac_ranges(el: &Element) -> Result<Option<Vec<MacRange>>, Failure> {
    let Some(list) = el.child_named("ranges") else { return Ok(None) };
    let mac = |r: &Element, end: &str| -> Result<_, Failure> {
        let text = r.text(end).ok_or_else(|| invalid(format!("mac_pool.ranges.range needs {end}")))?;
        text.trim()
            .to_ascii_lowercase()
            .parse()
            .map_err(|e: oxvirt_engine_db::model::MacParseError| invalid(format!("mac_pool.ranges.range.{end}: {e}")))
    };
    list.children_named("range")
        .map(|r| Ok(MacRange { from: mac(r, "from")?, to: mac(r, "to")? }))
        .collect::<Result<Vec<_>, Failure>>()
        .map(Some)
}

/// `allow_duplicates` is honoured at false only: a MAC is unique across the installation.
fn mac_pool_duplicates(el: &Element) -> Result<(), Failure> {
    super::vms::false_only(
        el,
        "allow_duplicates",
        "mac_pool",
        "oxvirt keeps every MAC address unique across all pools, so no two NICs ever share one",
    )
}

impl FromElement for MacPoolAdd {
    const ROOT: &'static str = "mac_pool";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        mac_pool_duplicates(el)?;
        Ok(MacPoolAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            ranges: mac_ranges(el)?.unwrap_or_default(),
            default_pool: el.bool("default_pool")?,
        })
    }
}

impl FromElement for MacPoolUpdate {
    const ROOT: &'static str = "mac_pool";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        mac_pool_duplicates(el)?;
        Ok(MacPoolUpdate {
            name: el.text("name"),
            description: el.text("description"),
            ranges: mac_ranges(el)?,
            default_pool: el.bool("default_pool")?,
        })
    }
}

async fn mac_pool_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.mac_pool_list(&p.query()?).await?))
}

async fn mac_pool_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<MacPoolId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.mac_pool_get(id).await?))
}

async fn mac_pool_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<MacPoolAdd>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.mac_pool_add(&who, req).await?))
}

async fn mac_pool_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<MacPoolId>,
    Body(req): Body<MacPoolUpdate>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.mac_pool_update(&who, id, req).await?))
}

async fn mac_pool_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(id): IdPath<MacPoolId>,
) -> Result<Removed, Failure> {
    app.mac_pool_remove(&who, id).await?;
    Ok(Removed)
}

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
