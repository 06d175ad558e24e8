//! Data centers and clusters.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/datacenters", get(data_center_list).post(data_center_add))
        .route("/datacenters/{id}", get(data_center_get).put(data_center_update).delete(data_center_remove))
        .route("/clusters", get(cluster_list).post(cluster_add))
        .route("/clusters/{id}", get(cluster_get).put(cluster_update).delete(cluster_remove))
}

// ---- data centers ------------------------------------------------------------------------

fn data_center_el(dc: &DataCenter) -> Element {
    Element::new("data_center")
        .href(href_of(dc.id))
        .id(dc.id)
        .text_child("name", &dc.name)
        .text_child("description", &dc.description)
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
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("data_centers", dcs.iter().map(data_center_el))))
}

async fn data_center_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &data_center_el(&app.data_center_get(dc).await?)))
}

async fn data_center_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "data_center")?;
    let req = DataCenterAdd {
        name: el.required_text("name")?,
        description: el.text("description"),
        local: el.bool("local")?,
    };
    let dc = app.data_center_add(&who, req).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &data_center_el(&dc)))
}

async fn data_center_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "data_center")?;
    let req = DataCenterUpdate { name: el.text("name"), description: el.text("description"), local: el.bool("local")? };
    let dc = app.data_center_update(&who, dc, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &data_center_el(&dc)))
}

async fn data_center_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(dc): IdPath<DataCenterId>,
) -> Result<Response, Failure> {
    app.data_center_remove(&who, dc).await?;
    // The SDK accepts only 200 for a removal (204 makes it fail).
    Ok(StatusCode::OK.into_response())
}

// ---- clusters ----------------------------------------------------------------------------

fn cluster_el(c: &Cluster) -> Element {
    let mut cpu = Element::new("cpu").enum_child("architecture", c.cpu_architecture.as_str());
    if let Some(t) = &c.cpu_type {
        cpu = cpu.text_child("type", t);
    }
    Element::new("cluster")
        .href(href_of(c.id))
        .id(c.id)
        .text_child("name", &c.name)
        .text_child("description", &c.description)
        .child(cpu)
        .child(version_el(c.version))
        .child(
            Element::new("memory_policy")
                .child(Element::new("over_commit").int_child("percent", c.memory_overcommit_percent)),
        )
        .reference_id("data_center", c.data_center_id)
        .sub_links(&["networks", "permissions"])
}

async fn cluster_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let clusters = app.cluster_list(&p.query()?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("clusters", clusters.iter().map(cluster_el))))
}

async fn cluster_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &cluster_el(&app.cluster_get(c).await?)))
}

async fn cluster_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "cluster")?;
    let data_center = required_ref::<DataCenterId>(&el, "data_center", "a cluster")?;
    let cpu_architecture = match el.child_named("cpu").and_then(|c| c.text("architecture")) {
        Some(a) => Some(a.parse::<Architecture>().map_err(|e| Failure::new(ErrorKind::InvalidInput, e.to_string()))?),
        None => None,
    };
    let cpu_type = el.child_named("cpu").and_then(|c| c.text("type"));
    let req = ClusterAdd {
        name: el.required_text("name")?,
        description: el.text("description"),
        data_center,
        cpu_architecture,
        cpu_type,
    };
    let cluster = app.cluster_add(&who, req).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &cluster_el(&cluster)))
}

async fn cluster_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "cluster")?;
    let req = ClusterUpdate {
        name: el.text("name"),
        description: el.text("description"),
        cpu_type: el.child_named("cpu").and_then(|c| c.text("type")),
    };
    let cluster = app.cluster_update(&who, c, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &cluster_el(&cluster)))
}

async fn cluster_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(c): IdPath<ClusterId>,
) -> Result<Response, Failure> {
    app.cluster_remove(&who, c).await?;
    Ok(StatusCode::OK.into_response())
}
