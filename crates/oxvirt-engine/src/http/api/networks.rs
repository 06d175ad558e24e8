//! Logical networks (`/networks`, `/datacenters/{id}/networks`).

use super::*;
use crate::app::{NetworkAdd, NetworkUpdate};
use oxvirt_engine_db::model::Network;
use oxvirt_types::NetworkId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(network_list).post(network_add))
        .route("/networks/{id}", get(network_get).put(network_update).delete(network_remove))
        .route("/datacenters/{id}/networks", get(data_center_network_list).post(data_center_network_add))
        .route(
            "/datacenters/{id}/networks/{nid}",
            get(data_center_network_get).put(data_center_network_update).delete(data_center_network_remove),
        )
}

// ---- rendering ---------------------------------------------------------------------------

to_element!(Network, "networks", network_el);

fn network_el(n: &Network) -> Element {
    let mut usages = Vec::new();
    if n.name == crate::app::MANAGEMENT_NETWORK {
        usages.extend(["management", "display", "migration", "default_route"]);
    }
    if n.vm {
        usages.push("vm");
    }
    let mut el = Element::new("network")
        .href(href_of(n.id))
        .id(n.id)
        .text_child("name", &n.name)
        .text_child("description", &n.description)
        .text_child("comment", &n.comment)
        .reference_id("data_center", n.data_center_id)
        .int_child("mtu", n.mtu)
        .bool_child("stp", false)
        .bool_child("port_isolation", false)
        .text_child("vdsm_name", &n.name)
        .text_list("usages", "usage", usages);
    if let Some(vlan) = n.vlan_id {
        el = el.child(Element::new("vlan").attr("id", vlan.to_string()));
    }
    el.sub_links(&["permissions", "vnicprofiles", "networklabels"])
}

// ---- parsing -----------------------------------------------------------------------------
/// `usages` present: a VM network exactly when it lists `vm`; absent: the default.
fn vm_usage(el: &Element) -> Option<bool> {
    el.child_named("usages").map(|_| el.texts("usages", "usage").iter().any(|u| u == "vm"))
}

fn vlan_id(el: &Element) -> Result<Option<u16>, Failure> {
    let Some(vlan) = el.child_named("vlan") else { return Ok(None) };
    let Some(text) = vlan.attr_value("id").map(str::to_owned).or_else(|| vlan.text("id")) else {
        return Ok(None);
    };
    text.trim().parse::<u16>().map(Some).map_err(|_| {
        Failure::new(ErrorKind::InvalidInput, format!("the VLAN id must be a number 0-4094, not '{text}'"))
    })
}

fn mtu(el: &Element) -> Result<Option<u32>, Failure> {
    match el.u64("mtu")? {
        None => Ok(None),
        Some(m) => u32::try_from(m)
            .map(Some)
            .map_err(|_| Failure::new(ErrorKind::InvalidInput, format!("MTU {m} is out of range"))),
    }
}

/// A `<network>` to add; its data center comes from the body (`/networks`) or the path
/// (`/datacenters/{id}/networks`).
#[derive(Debug)]
struct NetworkAddBody {
    data_center: Option<Named<DataCenterId>>,
    add: NetworkAdd,
}

impl FromElement for NetworkAddBody {
    const ROOT: &'static str = "network";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let data_center = optional_ref::<DataCenterId>(el, "data_center")?;
        Ok(NetworkAddBody {
            add: NetworkAdd {
                name: el.required_text("name")?,
                description: el.text("description"),
                comment: el.text("comment"),
                // Replaced by the body's or the path's before use.
                data_center: Named::Name(String::new()),
                vm: vm_usage(el),
                vlan_id: vlan_id(el)?,
                mtu: mtu(el)?,
            },
            data_center,
        })
    }
}

impl FromElement for NetworkUpdate {
    const ROOT: &'static str = "network";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(NetworkUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            mtu: mtu(el)?,
        })
    }
}

// ---- networks ----------------------------------------------------------------------------
async fn network_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let networks = app.network_list(&p.query()?, None).await?;
    Ok(Reply::list(fmt, &networks))
}

async fn network_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.network_get(n).await?))
}

async fn network_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<NetworkAddBody>,
) -> Result<Reply, Failure> {
    let data_center = req.data_center.ok_or_else(|| invalid("a network needs a data_center (by id or name)"))?;
    let network = app.network_add(&who, NetworkAdd { data_center, ..req.add }).await?;
    Ok(Reply::created(fmt, &network))
}

async fn network_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    Body(req): Body<NetworkUpdate>,
) -> Result<Reply, Failure> {
    let network = app.network_update(&who, n, req).await?;
    Ok(Reply::ok(fmt, &network))
}

async fn network_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(n): IdPath<NetworkId>,
) -> Result<Removed, Failure> {
    app.network_remove(&who, n).await?;
    Ok(Removed)
}

// ---- data center networks ----------------------------------------------------------------
/// A network of `dc`, or 404 when it belongs to another data center.
async fn network_of_data_center(app: &AppState, dc: DataCenterId, n: NetworkId) -> Result<Network, Failure> {
    let network = app.network_get(n).await?;
    if network.data_center_id != dc {
        return Err(Failure::new(ErrorKind::NotFound, format!("data center {dc} has no network {}", network.id)));
    }
    Ok(network)
}

async fn data_center_network_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let networks = app.network_list(&p.query()?, Some(dc)).await?;
    Ok(Reply::list(fmt, &networks))
}

async fn data_center_network_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &network_of_data_center(&app, dc, n).await?))
}

async fn data_center_network_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Body(req): Body<NetworkAddBody>,
) -> Result<Reply, Failure> {
    let network = app.network_add(&who, NetworkAdd { data_center: Named::Id(dc), ..req.add }).await?;
    Ok(Reply::created(fmt, &network))
}

async fn data_center_network_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
    Body(req): Body<NetworkUpdate>,
) -> Result<Reply, Failure> {
    let existing = network_of_data_center(&app, dc, n).await?;
    let network = app.network_update(&who, existing.id, req).await?;
    Ok(Reply::ok(fmt, &network))
}

async fn data_center_network_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
) -> Result<Removed, Failure> {
    let existing = network_of_data_center(&app, dc, n).await?;
    app.network_remove(&who, existing.id).await?;
    Ok(Removed)
}
