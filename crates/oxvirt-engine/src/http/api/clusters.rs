//! Clusters (`/clusters`): hosts of one CPU architecture in a data center, the migration
//! domain of their VMs.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(cluster_list).post(cluster_add))
        .route("/clusters/{id}", get(cluster_get).put(cluster_update).delete(cluster_remove))
        .route("/datacenters/{id}/clusters", get(data_center_cluster_list))
        .route("/datacenters/{id}/clusters/{cid}", get(data_center_cluster_get))
}

to_element!(Cluster, "clusters", cluster_el);

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
        .text_child("comment", &c.comment)
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
    let clusters = app.cluster_list(&p.query()?, None).await?;
    Ok(Reply::list(fmt, &clusters))
}

/// `/datacenters/{id}/clusters`: the clusters of one data center.
async fn data_center_cluster_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let clusters = app.cluster_list(&p.query()?, Some(dc)).await?;
    Ok(Reply::list(fmt, &clusters))
}

/// One cluster of a data center; a cluster of another data center is not found here.
async fn data_center_cluster_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((dc, c)): IdPath<(DataCenterId, ClusterId)>,
) -> Result<Reply, Failure> {
    let (dc, c): (DataCenterId, ClusterId) = (dc, c);
    let cluster = app.cluster_get(c).await?;
    if cluster.data_center_id != dc {
        return Err(Failure::new(ErrorKind::NotFound, format!("data center {dc} has no cluster {}", cluster.name)));
    }
    Ok(Reply::ok(fmt, &cluster))
}

async fn cluster_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.cluster_get(c).await?))
}

impl FromElement for ClusterAdd {
    const ROOT: &'static str = "cluster";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let data_center = required_ref::<DataCenterId>(el, "data_center", "a cluster")?;
        let cpu_architecture = match el.child_named("cpu").and_then(|c| c.text("architecture")) {
            Some(a) => {
                Some(a.parse::<Architecture>().map_err(|e| Failure::new(ErrorKind::InvalidInput, e.to_string()))?)
            }
            None => None,
        };
        let cpu_type = el.child_named("cpu").and_then(|c| c.text("type"));
        Ok(ClusterAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            data_center,
            cpu_architecture,
            cpu_type,
        })
    }
}

async fn cluster_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<ClusterAdd>,
) -> Result<Reply, Failure> {
    let cluster = app.cluster_add(&who, req).await?;
    Ok(Reply::created(fmt, &cluster))
}

impl FromElement for ClusterUpdate {
    const ROOT: &'static str = "cluster";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(ClusterUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            cpu_type: el.child_named("cpu").and_then(|c| c.text("type")),
        })
    }
}

async fn cluster_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(c): IdPath<ClusterId>,
    Body(req): Body<ClusterUpdate>,
) -> Result<Reply, Failure> {
    let cluster = app.cluster_update(&who, c, req).await?;
    Ok(Reply::ok(fmt, &cluster))
}

async fn cluster_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(c): IdPath<ClusterId>,
) -> Result<Removed, Failure> {
    app.cluster_remove(&who, c).await?;
    Ok(Removed)
}
