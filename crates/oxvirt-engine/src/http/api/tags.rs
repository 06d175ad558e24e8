//! Tags (`/tags`) and the tags assigned to VMs and hosts (`/vms/{id}/tags`,
//! `/hosts/{id}/tags`).

use super::*;
use crate::app::{TagAdd, TagUpdate, Tagged};
use oxvirt_engine_db::model::Tag;
use oxvirt_types::{TagId, VmId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tags", get(tag_list).post(tag_add))
        .route("/tags/{id}", get(tag_get).put(tag_update).delete(tag_remove))
        .route("/vms/{id}/tags", get(vm_tag_list).post(vm_tag_add))
        .route("/vms/{id}/tags/{tag}", get(vm_tag_get).delete(vm_tag_remove))
        .route("/hosts/{id}/tags", get(host_tag_list).post(host_tag_add))
        .route("/hosts/{id}/tags/{tag}", get(host_tag_get).delete(host_tag_remove))
}

fn tag_el(t: &Tag) -> Element {
    let el = Element::new("tag")
        .href(href_of(t.id))
        .id(t.id)
        .text_child("name", &t.name)
        .text_child("description", &t.description);
    match t.parent_id {
        Some(p) => el.reference_id("parent", p),
        None => el,
    }
}

to_element!(Tag, "tags", tag_el);

impl FromElement for TagAdd {
    const ROOT: &'static str = "tag";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(TagAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            parent: optional_ref::<TagId>(el, "parent")?,
        })
    }
}

impl FromElement for TagUpdate {
    const ROOT: &'static str = "tag";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(TagUpdate {
            name: el.text("name"),
            description: el.text("description"),
            parent: optional_ref::<TagId>(el, "parent")?,
        })
    }
}

/// An assignment names the tag (by id or name).
struct TagRef(Named<TagId>);

impl FromElement for TagRef {
    const ROOT: &'static str = "tag";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        own_ref::<TagId>(el)?.map(TagRef).ok_or_else(|| invalid("assigning a tag needs the tag's id or name"))
    }
}

async fn tag_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.tag_list(&p.query()?).await?))
}

async fn tag_get(State(app): State<AppState>, Accept(fmt): Accept, IdPath(t): IdPath<TagId>) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.tag_get(t).await?))
}

async fn tag_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<TagAdd>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.tag_add(&who, req).await?))
}

async fn tag_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(t): IdPath<TagId>,
    Body(req): Body<TagUpdate>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.tag_update(&who, t, req).await?))
}

async fn tag_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(t): IdPath<TagId>,
) -> Result<Removed, Failure> {
    app.tag_remove(&who, t).await?;
    Ok(Removed)
}

async fn vm_tag_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.tagged_list(Tagged::Vm(vm)).await?))
}

async fn vm_tag_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(vm): IdPath<VmId>,
    Body(TagRef(tag)): Body<TagRef>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.tagged_add(&who, Tagged::Vm(vm), &tag).await?))
}

async fn vm_tag_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((vm, tag)): IdPath<(VmId, TagId)>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.tagged_get(Tagged::Vm(vm), tag).await?))
}

async fn vm_tag_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((vm, tag)): IdPath<(VmId, TagId)>,
) -> Result<Removed, Failure> {
    app.tagged_remove(&who, Tagged::Vm(vm), tag).await?;
    Ok(Removed)
}

async fn host_tag_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(host): IdPath<HostId>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.tagged_list(Tagged::Host(host)).await?))
}

async fn host_tag_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(host): IdPath<HostId>,
    Body(TagRef(tag)): Body<TagRef>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.tagged_add(&who, Tagged::Host(host), &tag).await?))
}

async fn host_tag_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((host, tag)): IdPath<(HostId, TagId)>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.tagged_get(Tagged::Host(host), tag).await?))
}

async fn host_tag_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((host, tag)): IdPath<(HostId, TagId)>,
) -> Result<Removed, Failure> {
    app.tagged_remove(&who, Tagged::Host(host), tag).await?;
    Ok(Removed)
}
