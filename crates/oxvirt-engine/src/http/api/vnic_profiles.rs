//! vNIC profiles (`/vnicprofiles`, `/networks/{id}/vnicprofiles`): what a VM NIC connects
//! to.

use super::*;
use crate::app::{VnicProfileAdd, VnicProfileUpdate};
use oxvirt_engine_db::model::{VnicProfile, VnicProfileId};
use oxvirt_types::NetworkId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vnicprofiles", get(profile_list).post(profile_add))
        .route("/vnicprofiles/{id}", get(profile_get).put(profile_update).delete(profile_remove))
        .route("/networks/{id}/vnicprofiles", get(network_profile_list).post(network_profile_add))
        .route("/networks/{id}/vnicprofiles/{pid}", get(network_profile_get))
}

to_element!(VnicProfile, "vnic_profiles", profile_el);

fn profile_el(p: &VnicProfile) -> Element {
    Element::new("vnic_profile")
        .href(href_of(p.id))
        .id(p.id)
        .text_child("name", &p.name)
        .text_child("description", &p.description)
        .text_child("comment", &p.comment)
        .reference_id("network", p.network_id)
        .child(Element::new("pass_through").enum_child("mode", "disabled"))
        .bool_child("port_mirroring", false)
        .bool_child("migratable", false)
        .sub_links(&["permissions"])
}

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
    Ok(Reply::list(fmt, &profiles))
}

async fn profile_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(p): IdPath<VnicProfileId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.vnic_profile_get(p).await?))
}

/// A `<vnic_profile>` to add; its network comes from the body (`/vnicprofiles`) or the path
/// (`/networks/{id}/vnicprofiles`).
#[derive(Debug)]
struct ProfileAddBody {
    name: String,
    description: Option<String>,
    comment: Option<String>,
    network: Option<NetworkId>,
}

impl FromElement for ProfileAddBody {
    const ROOT: &'static str = "vnic_profile";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(ProfileAddBody {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            network: el.id_of::<NetworkId>("network")?,
        })
    }
}

impl ProfileAddBody {
    fn into_add(self, network: NetworkId) -> VnicProfileAdd {
        VnicProfileAdd { name: self.name, description: self.description, comment: self.comment, network }
    }
}

async fn profile_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<ProfileAddBody>,
) -> Result<Reply, Failure> {
    let network =
        req.network.ok_or_else(|| Failure::new(ErrorKind::InvalidInput, "a vNIC profile needs a network (by id)"))?;
    let profile = app.vnic_profile_add(&who, req.into_add(network)).await?;
    Ok(Reply::created(fmt, &profile))
}

impl FromElement for VnicProfileUpdate {
    const ROOT: &'static str = "vnic_profile";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(VnicProfileUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
        })
    }
}

async fn profile_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(p): IdPath<VnicProfileId>,
    Body(req): Body<VnicProfileUpdate>,
) -> Result<Reply, Failure> {
    let profile = app.vnic_profile_update(&who, p, req).await?;
    Ok(Reply::ok(fmt, &profile))
}

async fn profile_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(p): IdPath<VnicProfileId>,
) -> Result<Removed, Failure> {
    app.vnic_profile_remove(&who, p).await?;
    Ok(Removed)
}

async fn network_profile_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let profiles = app.vnic_profile_list(Some(n), p.query()?.max).await?;
    Ok(Reply::list(fmt, &profiles))
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
    Ok(Reply::ok(fmt, &profile))
}

async fn network_profile_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(n): IdPath<NetworkId>,
    Body(req): Body<ProfileAddBody>,
) -> Result<Reply, Failure> {
    let profile = app.vnic_profile_add(&who, req.into_add(n)).await?;
    Ok(Reply::created(fmt, &profile))
}
