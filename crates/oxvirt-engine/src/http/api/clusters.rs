//! Clusters (`/clusters`): hosts of one CPU architecture in a data center, the migration
//! domain of their VMs.

use super::*;
use crate::app::NONE_SCHEDULING_POLICY_ID;
use oxvirt_types::MacPoolId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(cluster_list).post(cluster_add))
        .route("/clusters/{id}", get(cluster_get).put(cluster_update).delete(cluster_remove))
        .route("/datacenters/{id}/clusters", get(data_center_cluster_list))
        .route("/datacenters/{id}/clusters/{cid}", get(data_center_cluster_get))
}

to_element!(Cluster, "clusters", cluster_el);

/// What every cluster is in oxvirt, in oVirt's terms: rendered on each and accepted when a
/// request says the same (see [`Fixed`]). No memory ballooning or KSM, no fencing and no
/// migration on host errors yet (issue 15), Linux bridges (`legacy` switch), a virt cluster.
pub(super) const CLUSTER_FIXED: &[Fixed] = &[
    Fixed::bool("ballooning_enabled", false),
    Fixed::bool("gluster_service", false),
    Fixed::bool("virt_service", true),
    Fixed::bool("threads_as_cores", false),
    Fixed::bool("ha_reservation", false),
    Fixed::bool("trusted_service", false),
    Fixed::bool("maintenance_reason_required", false),
    Fixed::bool("optional_reason", false),
    Fixed::text("switch_type", "legacy"),
    Fixed::bool("ksm.enabled", false),
    Fixed::bool("ksm.merge_across_nodes", true),
    Fixed::bool("fencing_policy.enabled", false),
    Fixed::bool("fencing_policy.skip_if_sd_active.enabled", false),
    Fixed::bool("fencing_policy.skip_if_connectivity_broken.enabled", false),
    Fixed::int("fencing_policy.skip_if_connectivity_broken.threshold", 50),
    Fixed::bool("fencing_policy.skip_if_gluster_bricks_up", false),
    Fixed::bool("fencing_policy.skip_if_gluster_quorum_not_met", false),
    Fixed::text("error_handling.on_error", "do_not_migrate"),
    Fixed::text("migration.auto_converge", "inherit"),
    Fixed::text("migration.compressed", "inherit"),
    Fixed::text("migration.encrypted", "inherit"),
    Fixed::text("migration.bandwidth.assignment_method", "auto"),
];

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
        .with_fixed(CLUSTER_FIXED)
        // Hosts of the cluster must offer /dev/urandom to guests (every Linux host does).
        .text_list("required_rng_sources", "required_rng_source", ["urandom"])
        .reference_id("data_center", c.data_center_id)
        .reference_id("mac_pool", c.mac_pool_id)
        .reference(
            "scheduling_policy",
            NONE_SCHEDULING_POLICY_ID,
            api_href(&format!("schedulingpolicies/{NONE_SCHEDULING_POLICY_ID}")),
        )
        .sub_links(&["networks", "permissions"])
}

/// The parts of a cluster request that only restate what every cluster is: the fixed values,
/// the compatibility version, the one scheduling policy (by id or name).
fn cluster_fixed_accept(el: &Element) {
    el.accept_fixed(CLUSTER_FIXED);
    el.accept_fixed(VERSION_FIXED);
    let (name, id, policy_name) = ("scheduling_policy", NONE_SCHEDULING_POLICY_ID, "none");
    // Looked at on a copy (reading marks): only a reference to the one policy is read; any
    // other stays unread, to be refused by its name.
    let probe = el.clone();
    let Some(r) = probe.child_named(name) else { return };
    let names = match r.attr_value("id").map(str::to_owned).or_else(|| r.text("id")) {
        Some(given) => given == id && r.text("name").is_none_or(|n| n == policy_name),
        None => r.text("name").is_some_and(|n| n == policy_name),
    };
    if names && let Some(real) = el.child_named(name) {
        real.mark_read_whole();
    }
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
        cluster_fixed_accept(el);
        Ok(ClusterAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            data_center,
            cpu_architecture,
            cpu_type,
            mac_pool: optional_ref::<MacPoolId>(el, "mac_pool")?,
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
        cluster_fixed_accept(el);
        Ok(ClusterUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            cpu_type: el.child_named("cpu").and_then(|c| c.text("type")),
            mac_pool: optional_ref::<MacPoolId>(el, "mac_pool")?,
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
