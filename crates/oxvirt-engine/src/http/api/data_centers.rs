//! Data centers (`/datacenters`): the top of the object tree, owning clusters, logical
//! networks and (attached) storage domains.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/datacenters", get(data_center_list).post(data_center_add))
        .route("/datacenters/{id}", get(data_center_get).put(data_center_update).delete(data_center_remove))
}

to_element!(DataCenter, "data_centers", data_center_el);

fn data_center_el(dc: &DataCenter) -> Element {
    Element::new("data_center")
        .href(href_of(dc.id))
        .id(dc.id)
        .text_child("name", &dc.name)
        .text_child("description", &dc.description)
        .text_child("comment", &dc.comment)
        .bool_child("local", dc.local)
        .enum_child("status", dc.status.as_str())
        .text_child("storage_format", "v5")
        .child(version_el(dc.version))
        .child(Element::list("supported_versions", [version_el(Version::CURRENT)]))
        .sub_links(&["clusters", "networks", "storagedomains"])
}

async fn data_center_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let dcs = app.data_center_list(&p.query()?).await?;
    Ok(Reply::list(fmt, &dcs))
}

async fn data_center_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.data_center_get(dc).await?))
}

impl FromElement for DataCenterAdd {
    const ROOT: &'static str = "data_center";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_fixed(VERSION_FIXED);
        Ok(DataCenterAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            local: el.bool("local")?,
        })
    }
}

async fn data_center_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<DataCenterAdd>,
) -> Result<Reply, Failure> {
    let dc = app.data_center_add(&who, req).await?;
    Ok(Reply::created(fmt, &dc))
}

impl FromElement for DataCenterUpdate {
    const ROOT: &'static str = "data_center";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_fixed(VERSION_FIXED);
        Ok(DataCenterUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            local: el.bool("local")?,
        })
    }
}

async fn data_center_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Body(req): Body<DataCenterUpdate>,
) -> Result<Reply, Failure> {
    let dc = app.data_center_update(&who, dc, req).await?;
    Ok(Reply::ok(fmt, &dc))
}

async fn data_center_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(dc): IdPath<DataCenterId>,
) -> Result<Removed, Failure> {
    app.data_center_remove(&who, dc).await?;
    // The SDK accepts only 200 for a removal (204 makes it fail).
    Ok(Removed)
}
