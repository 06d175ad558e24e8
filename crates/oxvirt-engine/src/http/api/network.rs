//! Logical networks (`/networks`, `/datacenters/{id}/networks`), cluster networks
//! (`/clusters/{id}/networks`) and vNIC profiles (`/vnicprofiles`, `/networks/{id}/vnicprofiles`).

use super::*;
use crate::app::{NetworkAdd, NetworkUpdate, VnicProfileAdd, VnicProfileUpdate};
use oxvirt_engine_db::model::{ClusterNetwork, Network, VnicProfile, VnicProfileId};
use oxvirt_types::NetworkId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(network_list).post(network_add))
        .route("/networks/{id}", get(network_get).put(network_update).delete(network_remove))
        .route("/networks/{id}/vnicprofiles", get(network_profile_list).post(network_profile_add))
        .route("/networks/{id}/vnicprofiles/{pid}", get(network_profile_get))
        .route("/datacenters/{id}/networks", get(data_center_network_list).post(data_center_network_add))
        .route(
            "/datacenters/{id}/networks/{nid}",
            get(data_center_network_get).put(data_center_network_update).delete(data_center_network_remove),
        )
        .route("/clusters/{id}/networks", get(cluster_network_list).post(cluster_network_attach))
        .route("/clusters/{id}/networks/{nid}", get(cluster_network_get).delete(cluster_network_detach))
        .route("/vnicprofiles", get(profile_list).post(profile_add))
        .route("/vnicprofiles/{id}", get(profile_get).put(profile_update).delete(profile_remove))
}

// ---- rendering ---------------------------------------------------------------------------

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

/// A network as seen from a cluster: oVirt adds the attachment's `required`, `display` and
/// `status`, and the cluster reference.
fn cluster_network_el(n: &Network, cn: &ClusterNetwork) -> Element {
    let mut el = network_el(n);
    el.set_attr("href", sub_href(cn.cluster_id, "networks", n.id));
    el.bool_child("required", cn.required)
        .bool_child("display", n.name == crate::app::MANAGEMENT_NETWORK)
        .enum_child("status", "operational")
        .reference_id("cluster", cn.cluster_id)
}

fn profile_el(p: &VnicProfile) -> Element {
    Element::new("vnic_profile")
        .href(href_of(p.id))
        .id(p.id)
        .text_child("name", &p.name)
        .text_child("description", &p.description)
        .reference_id("network", p.network_id)
        .child(Element::new("pass_through").enum_child("mode", "disabled"))
        .bool_child("port_mirroring", false)
        .bool_child("migratable", false)
        .sub_links(&["permissions"])
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

fn network_add_req(el: &Element, data_center: Named<DataCenterId>) -> Result<NetworkAdd, Failure> {
    Ok(NetworkAdd {
        name: el.required_text("name")?,
        description: el.text("description"),
        data_center,
        vm: vm_usage(el),
        vlan_id: vlan_id(el)?,
        mtu: mtu(el)?,
    })
}

fn network_update_req(el: &Element) -> Result<NetworkUpdate, Failure> {
    Ok(NetworkUpdate { name: el.text("name"), description: el.text("description"), mtu: mtu(el)? })
}

// ---- networks ----------------------------------------------------------------------------

async fn network_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let networks = app.network_list(&p.query()?, None).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("networks", networks.iter().map(network_el))))
}

async fn network_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &network_el(&app.network_get(n).await?)))
}

async fn network_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "network")?;
    let data_center = required_ref::<DataCenterId>(&el, "data_center", "a network")?;
    let network = app.network_add(&who, network_add_req(&el, data_center)?).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &network_el(&network)))
}

async fn network_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "network")?;
    let network = app.network_update(&who, n, network_update_req(&el)?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &network_el(&network)))
}

async fn network_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(n): IdPath<NetworkId>,
) -> Result<Response, Failure> {
    app.network_remove(&who, n).await?;
    Ok(StatusCode::OK.into_response())
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
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("networks", networks.iter().map(network_el))))
}

async fn data_center_network_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &network_el(&network_of_data_center(&app, dc, n).await?)))
}

async fn data_center_network_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "network")?;
    let network = app.network_add(&who, network_add_req(&el, Named::Id(dc))?).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &network_el(&network)))
}

async fn data_center_network_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "network")?;
    let existing = network_of_data_center(&app, dc, n).await?;
    let network = app.network_update(&who, existing.id, network_update_req(&el)?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &network_el(&network)))
}

async fn data_center_network_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((dc, n)): IdPath<(DataCenterId, NetworkId)>,
) -> Result<Response, Failure> {
    let existing = network_of_data_center(&app, dc, n).await?;
    app.network_remove(&who, existing.id).await?;
    Ok(StatusCode::OK.into_response())
}

// ---- cluster networks --------------------------------------------------------------------

async fn cluster_network_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
) -> Result<Reply, Failure> {
    let attached = app.cluster_networks(c).await?;
    Ok(Reply::new(
        fmt,
        StatusCode::OK,
        &Element::collection("networks", attached.iter().map(|(n, cn)| cluster_network_el(n, cn))),
    ))
}

async fn cluster_network_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((c, n)): IdPath<(ClusterId, NetworkId)>,
) -> Result<Reply, Failure> {
    let cluster: ClusterId = c;
    let network: NetworkId = n;
    let attached = app.cluster_networks(cluster).await?;
    let (net, cn) = attached.iter().find(|(net, _)| net.id == network).ok_or_else(|| {
        Failure::new(ErrorKind::NotFound, format!("network {network} is not attached to cluster {cluster}"))
    })?;
    Ok(Reply::new(fmt, StatusCode::OK, &cluster_network_el(net, cn)))
}

async fn cluster_network_attach(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "network")?;
    // The body is the network itself (`<network id="…"/>`, or by name within the cluster's
    // data center).
    let network = match (el.own_id::<NetworkId>()?, el.text("name")) {
        (Some(i), _) => Named::Id(i),
        (None, Some(name)) => Named::Name(name),
        (None, None) => {
            return Err(Failure::new(ErrorKind::InvalidInput, "attaching a network needs the network's id or name"));
        }
    };
    let (net, cn) = app.cluster_network_attach(&who, c, network, el.bool("required")?).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &cluster_network_el(&net, &cn)))
}

async fn cluster_network_detach(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((c, n)): IdPath<(ClusterId, NetworkId)>,
) -> Result<Response, Failure> {
    app.cluster_network_detach(&who, c, n).await?;
    Ok(StatusCode::OK.into_response())
}

// ---- vNIC profiles -----------------------------------------------------------------------

async fn profile_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let q = p.query()?;
    if q.has_search() {
        return Err(Failure::new(ErrorKind::InvalidInput, "vNIC profiles cannot be searched; list them all"));
    }
    let profiles = app.vnic_profile_list(None, q.max).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("vnic_profiles", profiles.iter().map(profile_el))))
}

async fn profile_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(p): IdPath<VnicProfileId>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &profile_el(&app.vnic_profile_get(p).await?)))
}

fn profile_add_req(el: &Element, network: NetworkId) -> Result<VnicProfileAdd, Failure> {
    Ok(VnicProfileAdd { name: el.required_text("name")?, description: el.text("description"), network })
}

async fn profile_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "vnic_profile")?;
    let network = el
        .id_of::<NetworkId>("network")?
        .ok_or_else(|| Failure::new(ErrorKind::InvalidInput, "a vNIC profile needs a network (by id)"))?;
    let profile = app.vnic_profile_add(&who, profile_add_req(&el, network)?).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &profile_el(&profile)))
}

async fn profile_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(p): IdPath<VnicProfileId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "vnic_profile")?;
    let req = VnicProfileUpdate { name: el.text("name"), description: el.text("description") };
    let profile = app.vnic_profile_update(&who, p, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &profile_el(&profile)))
}

async fn profile_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(p): IdPath<VnicProfileId>,
) -> Result<Response, Failure> {
    app.vnic_profile_remove(&who, p).await?;
    Ok(StatusCode::OK.into_response())
}

async fn network_profile_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let profiles = app.vnic_profile_list(Some(n), p.query()?.max).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("vnic_profiles", profiles.iter().map(profile_el))))
}

async fn network_profile_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((n, p)): IdPath<(NetworkId, VnicProfileId)>,
) -> Result<Reply, Failure> {
    let network: NetworkId = n;
    let profile = app.vnic_profile_get(p).await?;
    if profile.network_id != network {
        return Err(Failure::new(ErrorKind::NotFound, format!("network {network} has no vNIC profile {}", profile.id)));
    }
    Ok(Reply::new(fmt, StatusCode::OK, &profile_el(&profile)))
}

async fn network_profile_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "vnic_profile")?;
    let profile = app.vnic_profile_add(&who, profile_add_req(&el, n)?).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &profile_el(&profile)))
}
