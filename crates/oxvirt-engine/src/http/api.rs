//! `/ovirt-engine/api`: authentication, the API root, and the collections implemented so far.

use super::{Accept, AppState, Failure, Reply};
use crate::app::{ClusterAdd, ClusterUpdate, DataCenterAdd, DataCenterUpdate, HostAdd, ListQuery, Named};
use crate::auth::Principal;
use crate::model::{Architecture, Cluster, DataCenter, Version};
use crate::ovirt::tree::{Reference, TypedId};
use crate::ovirt::{Element, api_href, parse_body, parse_search};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use oxvirt_types::{ClusterId, DataCenterId, ErrorKind, HostId};
use serde::Deserialize;
use std::sync::Arc;

/// The collections the API root links to (grows as they are implemented).
const COLLECTIONS: &[&str] = &["clusters", "datacenters", "events", "hosts"];

pub(super) fn router(app: Arc<crate::app::App>) -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/datacenters", get(data_center_list).post(data_center_add))
        .route("/datacenters/{id}", get(data_center_get).put(data_center_update).delete(data_center_remove))
        .route("/clusters", get(cluster_list).post(cluster_add))
        .route("/clusters/{id}", get(cluster_get).put(cluster_update).delete(cluster_remove))
        .route("/events", get(event_list))
        .route("/hosts", get(host_list).post(host_add))
        .route("/hosts/{id}", get(host_get).delete(host_remove))
        .route("/hosts/{id}/{action}", axum::routing::post(host_action))
        .fallback(|| async {
            Failure::new(ErrorKind::NotFound, "no such resource in the API (see /ovirt-engine/api for the collections)")
        })
        .layer(axum::middleware::from_fn_with_state(app, authenticate))
}

/// Every API call needs `Authorization: Bearer <SSO token>` or HTTP Basic credentials.
async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let principal = if let Some(token) = header.strip_prefix("Bearer ") {
        app.principal_from_token(token.trim())
    } else if let Some(b64) = header.strip_prefix("Basic ") {
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok().and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => app.principal_from_password(user, password).await.ok(),
            None => None,
        }
    } else {
        None
    };
    match principal {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => Failure::new(
            ErrorKind::Unauthenticated,
            "authentication required: log in through /ovirt-engine/sso/oauth/token or use HTTP Basic with user@profile",
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct EventParams {
    from: Option<String>,
    #[serde(flatten)]
    list: ListParams,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    search: Option<String>,
    max: Option<String>,
    case_sensitive: Option<String>,
}

impl ListParams {
    fn query(&self) -> Result<ListQuery, Failure> {
        let search = self.search.as_deref().filter(|s| !s.trim().is_empty()).map(parse_search).transpose()?;
        let max = match self.max.as_deref() {
            None | Some("-1") => None,
            Some(m) => Some(m.parse::<u32>().map_err(|_| {
                Failure::new(ErrorKind::InvalidInput, format!("max must be a non-negative number, not '{m}'"))
            })?),
        };
        let case_sensitive = matches!(self.case_sensitive.as_deref(), Some("true"));
        Ok(ListQuery { search, max, case_sensitive })
    }
}

fn body(headers: &HeaderMap, bytes: &Bytes, root: &str) -> Result<Element, Failure> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mut el = parse_body(content_type, bytes)?;
    el.expect_root(root)?;
    Ok(el)
}

/// A required reference to another object (`<cluster id="…"/>` or by `<name>`), as the app
/// layer takes it; `what` names the object that needs it, for the error.
fn required_ref<T: TypedId>(el: &Element, child: &str, what: &str) -> Result<Named<T>, Failure> {
    match el.reference_to::<T>(child)? {
        Some(Reference::Id(i)) => Ok(Named::Id(i)),
        Some(Reference::Name(n)) => Ok(Named::Name(n)),
        None => Err(Failure::new(ErrorKind::InvalidInput, format!("{what} needs a {child} (by id or name)"))),
    }
}

fn id<T: std::str::FromStr<Err = oxvirt_types::ids::IdParseError>>(text: &str) -> Result<T, Failure> {
    // oVirt answers an unparsable id with 404: no object can have it.
    text.parse::<T>().map_err(|e| Failure::new(ErrorKind::NotFound, e.to_string()))
}

fn version_el(v: Version) -> Element {
    Element::new("version").int_child("major", v.major).int_child("minor", v.minor)
}

async fn root(State(app): State<AppState>, Accept(fmt): Accept) -> Result<Reply, Failure> {
    let counts = app.summary().await?;
    let pair =
        |name: &str, total: u64, active: u64| Element::new(name).int_child("total", total).int_child("active", active);
    let mut el = Element::new("api")
        .href(api_href(""))
        .child(
            Element::new("product_info").text_child("name", "oxvirt").text_child("vendor", "oxvirt").child(
                Element::new("version")
                    .text_child("full_version", env!("CARGO_PKG_VERSION"))
                    .int_child("major", Version::CURRENT.major)
                    .int_child("minor", Version::CURRENT.minor)
                    .int_child("build", 0)
                    .int_child("revision", 0),
            ),
        )
        .child(Element::new("special_objects").reference(
            "blank_template",
            crate::model::BLANK_TEMPLATE_ID,
            api_href(&format!("templates/{}", crate::model::BLANK_TEMPLATE_ID)),
        ))
        .child(
            Element::new("summary")
                .child(pair("hosts", counts.hosts_total, counts.hosts_active))
                .child(pair("storage_domains", counts.storage_domains_total, counts.storage_domains_active))
                .child(pair("users", counts.users_total, counts.users_active))
                .child(pair("vms", counts.vms_total, counts.vms_active)),
        );
    for c in COLLECTIONS {
        el = el.link(c, api_href(c));
    }
    Ok(Reply::new(fmt, StatusCode::OK, &el))
}

// ---- data centers ------------------------------------------------------------------------

fn data_center_el(dc: &DataCenter) -> Element {
    Element::new("data_center")
        .href(api_href(&format!("datacenters/{}", dc.id)))
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
    Query(p): Query<ListParams>,
) -> Result<Reply, Failure> {
    let dcs = app.data_center_list(&p.query()?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("data_centers", dcs.iter().map(data_center_el))))
}

async fn data_center_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Path(dc): Path<String>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &data_center_el(&app.data_center_get(id(&dc)?).await?)))
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
    Path(dc): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "data_center")?;
    let req = DataCenterUpdate { name: el.text("name"), description: el.text("description"), local: el.bool("local")? };
    let dc = app.data_center_update(&who, id::<DataCenterId>(&dc)?, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &data_center_el(&dc)))
}

async fn data_center_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(dc): Path<String>,
) -> Result<Response, Failure> {
    app.data_center_remove(&who, id::<DataCenterId>(&dc)?).await?;
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
        .href(api_href(&format!("clusters/{}", c.id)))
        .id(c.id)
        .text_child("name", &c.name)
        .text_child("description", &c.description)
        .child(cpu)
        .child(version_el(c.version))
        .child(
            Element::new("memory_policy")
                .child(Element::new("over_commit").int_child("percent", c.memory_overcommit_percent)),
        )
        .reference("data_center", c.data_center_id, api_href(&format!("datacenters/{}", c.data_center_id)))
        .sub_links(&["networks", "permissions"])
}

async fn cluster_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Query(p): Query<ListParams>,
) -> Result<Reply, Failure> {
    let clusters = app.cluster_list(&p.query()?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("clusters", clusters.iter().map(cluster_el))))
}

async fn cluster_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Path(c): Path<String>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &cluster_el(&app.cluster_get(id(&c)?).await?)))
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
    Path(c): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "cluster")?;
    let req = ClusterUpdate {
        name: el.text("name"),
        description: el.text("description"),
        cpu_type: el.child_named("cpu").and_then(|c| c.text("type")),
    };
    let cluster = app.cluster_update(&who, id::<ClusterId>(&c)?, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &cluster_el(&cluster)))
}

async fn cluster_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(c): Path<String>,
) -> Result<Response, Failure> {
    app.cluster_remove(&who, id::<ClusterId>(&c)?).await?;
    Ok(StatusCode::OK.into_response())
}

// ---- events ------------------------------------------------------------------------------

fn event_el(e: &crate::model::Event) -> Element {
    let mut el = Element::new("event")
        .href(api_href(&format!("events/{}", e.id)))
        .id(e.id)
        .text_child("description", &e.description)
        .int_child("code", e.code)
        .enum_child("severity", e.severity.as_str())
        .date_child(
            "time",
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(e.time.0).unwrap_or(0)),
        )
        .text_child("origin", "oVirt");
    if let Some(c) = &e.correlation_id {
        el = el.text_child("correlation_id", c);
    }
    let refs = &e.refs;
    if let Some(id) = refs.data_center_id {
        el = el.reference("data_center", id, api_href(&format!("datacenters/{id}")));
    }
    if let Some(id) = refs.cluster_id {
        el = el.reference("cluster", id, api_href(&format!("clusters/{id}")));
    }
    if let Some(id) = refs.host_id {
        el = el.reference("host", id, api_href(&format!("hosts/{id}")));
    }
    if let Some(id) = refs.vm_id {
        el = el.reference("vm", id, api_href(&format!("vms/{id}")));
    }
    if let Some(id) = refs.storage_domain_id {
        el = el.reference("storage_domain", id, api_href(&format!("storagedomains/{id}")));
    }
    if let Some(id) = refs.user_id {
        el = el.reference("user", id, api_href(&format!("users/{id}")));
    }
    el
}

async fn event_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Query(p): Query<EventParams>,
) -> Result<Reply, Failure> {
    let from = match p.from.as_deref() {
        None => None,
        Some(f) => Some(f.parse::<i64>().map_err(|_| {
            Failure::new(ErrorKind::InvalidInput, format!("from must be an event id (a number), not '{f}'"))
        })?),
    };
    let events = app.event_list(from, &p.list.query()?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("events", events.iter().map(event_el))))
}

// ---- hosts -------------------------------------------------------------------------------

fn host_el(h: &crate::model::Host) -> Element {
    let caps: Option<oxvirt_agent_api::v1::Capabilities> =
        h.capabilities.as_ref().and_then(|c| serde_json::from_value(c.clone()).ok());
    let mut el = Element::new("host")
        .href(api_href(&format!("hosts/{}", h.id)))
        .id(h.id)
        .text_child("name", &h.name)
        .text_child("address", &h.address)
        .int_child("port", h.port)
        .enum_child("status", h.status.as_str())
        .int_child("memory", h.memory_total.bytes())
        .int_child("max_scheduling_memory", h.max_scheduling_memory.bytes())
        .enum_child("type", "rhel")
        .reference("cluster", h.cluster_id, api_href(&format!("clusters/{}", h.cluster_id)));
    if let Some(detail) = &h.status_detail {
        el = el.text_child("status_detail", detail);
    }
    if let Some(c) = caps {
        el = el
            .child(
                Element::new("cpu").text_child("name", &c.cpu.model).child(
                    Element::new("topology")
                        .int_child("sockets", c.cpu.sockets)
                        .int_child("cores", c.cpu.cores_per_socket)
                        .int_child("threads", c.cpu.threads_per_core),
                ),
            )
            .child(Element::new("libvirt_version").text_child("full_version", &c.libvirt_version))
            .child(Element::new("version").text_child("full_version", env!("CARGO_PKG_VERSION")))
            .child(Element::new("hardware_information").text_child("uuid", c.host_id.to_string()))
            .text_child("kdump_status", "disabled");
    }
    el.sub_links(&["statistics", "nics"]).actions(&["activate", "deactivate"])
}

async fn host_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Query(p): Query<ListParams>,
) -> Result<Reply, Failure> {
    let hosts = app.host_list(&p.query()?).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &Element::collection("hosts", hosts.iter().map(host_el))))
}

async fn host_get(State(app): State<AppState>, Accept(fmt): Accept, Path(h): Path<String>) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &host_el(&app.host_get(id(&h)?).await?)))
}

async fn host_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Reply, Failure> {
    let el = body(&headers, &bytes, "host")?;
    let cluster = required_ref::<ClusterId>(&el, "cluster", "a host")?;
    let port = match el.u64("port")? {
        Some(p) => Some(
            u16::try_from(p).map_err(|_| Failure::new(ErrorKind::InvalidInput, format!("port {p} is out of range")))?,
        ),
        None => None,
    };
    let req = HostAdd {
        name: el.required_text("name")?,
        address: el.required_text("address")?,
        port,
        cluster,
        enrollment_secret: el.text("root_password"),
    };
    let host = app.host_add(&who, req).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &host_el(&host)))
}

async fn host_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(h): Path<String>,
) -> Result<Response, Failure> {
    app.host_remove(&who, id::<HostId>(&h)?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn host_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Path((h, action)): Path<(String, String)>,
) -> Result<Reply, Failure> {
    let host: HostId = id(&h)?;
    match action.as_str() {
        "deactivate" => app.host_deactivate(&who, host).await?,
        "activate" => app.host_activate(&who, host).await?,
        other => {
            return Err(Failure::new(
                ErrorKind::NotFound,
                format!("hosts have no action '{other}'; actions: activate, deactivate"),
            ));
        }
    };
    Ok(Reply::new(fmt, StatusCode::OK, &crate::ovirt::action_reply("complete", None)))
}
