//! A VM's network interfaces (`/vms/{id}/nics`), with MACs from the pool.

use super::*;
use crate::app::{NicAdd, NicUpdate};
use oxvirt_engine_db::model::{MacAddress, Nic, NicInterface};
use oxvirt_types::{NicId, VmId, VnicProfileId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vms/{id}/nics", get(nic_list).post(nic_add))
        .route("/vms/{id}/nics/{nic}", get(nic_get).put(nic_update).delete(nic_remove))
}

to_element!(Nic, "nics", nic_el);

fn nic_el(n: &Nic) -> Element {
    let mut el = Element::new("nic")
        .href(sub_href(n.vm_id, "nics", n.id))
        .id(n.id)
        .text_child("name", &n.name)
        .text_child("description", &n.description)
        .text_child("comment", &n.comment)
        .enum_child("interface", n.interface.as_str())
        .bool_child("linked", n.linked)
        .child(Element::new("mac").text_child("address", n.mac.to_string()))
        .bool_child("plugged", n.plugged);
    if let Some(p) = n.vnic_profile_id {
        el = el.reference_id("vnic_profile", p);
    }
    // Empty until network filters and guest-agent reports exist; clients follow both links.
    el.reference_id("vm", n.vm_id).sub_links(&["networkfilterparameters", "reporteddevices"])
}

async fn nic_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
) -> Result<Reply, Failure> {
    let nics = app.nic_list(vm).await?;
    Ok(Reply::list(fmt, &nics))
}

async fn nic_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((vm, nic)): IdPath<(VmId, NicId)>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.nic_get(vm, nic).await?))
}

fn nic_mac(el: &Element) -> Result<Option<MacAddress>, Failure> {
    el.child_named("mac")
        .and_then(|m| m.text("address"))
        .filter(|a| !a.is_empty())
        .map(|a| a.parse::<MacAddress>().map_err(|e| invalid(e.to_string())))
        .transpose()
}

impl FromElement for NicAdd {
    const ROOT: &'static str = "nic";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(NicAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            interface: el.parsed("interface", "virtio, e1000 or rtl8139", NicInterface::from_wire)?,
            vnic_profile: el.id_of::<VnicProfileId>("vnic_profile")?,
            mac: nic_mac(el)?,
            linked: el.bool("linked")?,
            plugged: el.bool("plugged")?,
        })
    }
}

async fn nic_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    Body(req): Body<NicAdd>,
) -> Result<Reply, Failure> {
    let nic = app.nic_add(&who, vm, req).await?;
    Ok(Reply::created(fmt, &nic))
}

impl FromElement for NicUpdate {
    const ROOT: &'static str = "nic";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let vnic_profile = match el.child_named("vnic_profile") {
            None => None,
            // `<vnic_profile/>` empties the NIC (no network).
            Some(p) if p.is_empty() => Some(None),
            Some(_) => Some(el.id_of::<VnicProfileId>("vnic_profile")?),
        };
        Ok(NicUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            interface: el.parsed("interface", "virtio, e1000 or rtl8139", NicInterface::from_wire)?,
            vnic_profile,
            linked: el.bool("linked")?,
            plugged: el.bool("plugged")?,
        })
    }
}

async fn nic_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((vm, nic)): IdPath<(VmId, NicId)>,
    Body(req): Body<NicUpdate>,
) -> Result<Reply, Failure> {
    let nic = app.nic_update(&who, vm, nic, req).await?;
    Ok(Reply::ok(fmt, &nic))
}

async fn nic_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((vm, nic)): IdPath<(VmId, NicId)>,
) -> Result<Removed, Failure> {
    app.nic_remove(&who, vm, nic).await?;
    Ok(Removed)
}
