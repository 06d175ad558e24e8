//! Networks attached to clusters (`/clusters/{id}/networks`): an attachment carries
//! `required`, and the cluster's view of the network.

use super::*;
use oxvirt_engine_db::model::{ClusterNetwork, Network};
use oxvirt_types::NetworkId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clusters/{id}/networks", get(cluster_network_list).post(cluster_network_attach))
        .route("/clusters/{id}/networks/{nid}", get(cluster_network_get).delete(cluster_network_detach))
}

/// A network as seen from a cluster: oVirt adds the attachment's `required`, `display` and
/// `status`, and the cluster reference.
fn cluster_network_el(n: &Network, cn: &ClusterNetwork) -> Element {
    let mut el = n.to_element();
    el.set_attr("href", sub_href(cn.cluster_id, "networks", n.id));
    el.bool_child("required", cn.required)
        .bool_child("display", n.name == crate::app::MANAGEMENT_NETWORK)
        .enum_child("status", "operational")
        .reference_id("cluster", cn.cluster_id)
}

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
    Body(req): Body<NetworkAttachBody>,
) -> Result<Reply, Failure> {
    let (net, cn) = app.cluster_network_attach(&who, c, req.network, req.required).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &cluster_network_el(&net, &cn)))
}

/// The body of an attach is the network itself (`<network id="…"/>`, or by name within the
/// cluster's data center) with `required`.
#[derive(Debug)]
struct NetworkAttachBody {
    network: Named<NetworkId>,
    required: Option<bool>,
}

impl FromElement for NetworkAttachBody {
    const ROOT: &'static str = "network";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let network = own_ref::<NetworkId>(el)?.ok_or_else(|| {
            Failure::new(ErrorKind::InvalidInput, "attaching a network needs the network's id or name")
        })?;
        Ok(NetworkAttachBody { network, required: el.bool("required")? })
    }
}

async fn cluster_network_detach(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((c, n)): IdPath<(ClusterId, NetworkId)>,
) -> Result<Removed, Failure> {
    app.cluster_network_detach(&who, c, n).await?;
    Ok(Removed)
}
