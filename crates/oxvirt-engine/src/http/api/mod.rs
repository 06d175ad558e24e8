//! `/ovirt-engine/api`: authentication, the API root, and the collections implemented so far.
//!
//! One submodule per group of collections; each has a `routes()` merged here, renders its
//! entities (`*_el`) and translates requests into calls on the app layer. Helpers shared by
//! all of them (list parameters, body parsing, references, ids) live in this file.

mod affinity_labels;
mod background;
mod cluster_networks;
mod clusters;
mod cross_site;
mod data_centers;
mod disk_attachments;
mod disks;
mod events;
mod host_nics;
mod host_statistics;
mod hosts;
mod jobs;
mod networks;
mod nics;
mod operating_systems;
mod policies;
mod storage_check;
mod storage_domains;
mod tags;
mod templates;
mod unserved;
mod vms;
mod vnic_profiles;

pub(super) use super::repr::to_element;
pub(super) use super::{
    Accept, AppState, Body, Failure, FromElement, IdPath, JobOpts, Params, Removed, Reply, Segment, ToElement,
};
use crate::app::{
    AppError, ClusterAdd, ClusterUpdate, Comparison, Condition, DataCenterAdd, DataCenterUpdate, HostAdd, HostUpdate,
    ListQuery, Named, Sort,
};
use crate::auth::Principal;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use oxvirt_engine_db::model::{Architecture, Cluster, DataCenter, Version};
use oxvirt_ovirt::search::{Operator, PatternPart, SortDirection};
use oxvirt_ovirt::tree::{Reference, TypedId};
use oxvirt_ovirt::{Element, Fixed, api_href, href_of, parse_search, sub_href};
use oxvirt_types::{ClusterId, DataCenterId, ErrorKind, HostId};
use serde::Deserialize;
use std::sync::Arc;

/// The collections the API root links to (grows as they are implemented).
const COLLECTIONS: &[&str] = &[
    "affinitylabels",
    "clusters",
    "datacenters",
    "disks",
    "events",
    "hosts",
    "jobs",
    "macpools",
    "networks",
    "operatingsystems",
    "schedulingpolicies",
    "storagedomains",
    "tags",
    "templates",
    "vms",
    "vnicprofiles",
];

pub(super) fn router(app: Arc<crate::app::App>) -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .merge(background::routes())
        .merge(storage_check::routes())
        .merge(data_centers::routes())
        .merge(clusters::routes())
        .merge(hosts::routes())
        .merge(host_statistics::routes())
        .merge(host_nics::routes())
        .merge(storage_domains::routes())
        .merge(disks::routes())
        .merge(networks::routes())
        .merge(cluster_networks::routes())
        .merge(vnic_profiles::routes())
        .merge(templates::routes())
        .merge(vms::routes())
        .merge(disk_attachments::routes())
        .merge(nics::routes())
        .merge(operating_systems::routes())
        .merge(policies::routes())
        .merge(tags::routes())
        .merge(affinity_labels::routes())
        .merge(events::routes())
        .merge(jobs::routes())
        .fallback(unserved::unserved)
        .method_not_allowed_fallback(unserved::unserved)
        .layer(axum::middleware::from_fn(unserved::query_check))
        .layer(axum::middleware::from_fn_with_state(app, authenticate))
        // Before authentication: a refused cross-site request never uses cached credentials.
        .layer(axum::middleware::from_fn(cross_site::cross_site_check))
}

/// Every API call needs `Authorization: Bearer <SSO token>` or HTTP Basic credentials.
/// A refusal of the password gate (backing off, busy) is answered as such, not as a 401.
async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let source = super::ClientAddress::of(req.extensions()).0;
    let principal = if let Some(token) = header.strip_prefix("Bearer ") {
        app.principal_from_token(token.trim()).await
    } else if let Some(b64) = header.strip_prefix("Basic ") {
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok().and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => match app.principal_from_password(user, password, source).await {
                Err(AppError::BadCredentials) => Ok(None),
                other => other.map(Some),
            },
            None => Ok(None),
        }
    } else {
        Ok(None)
    };
    match principal {
        Ok(Some(p)) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Ok(None) => Failure::new(
            ErrorKind::Unauthenticated,
            "authentication required: log in through /ovirt-engine/sso/oauth/token or use HTTP Basic with user@profile",
        )
        .into_response(),
        Err(e) => Failure::from(e).into_response(),
    }
}

/// `?detach_only=`: of a VM's or an attachment's remove (keep the disks).
#[derive(Debug, Deserialize)]
struct DetachOnlyParams {
    detach_only: Option<String>,
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
    /// oVirt's list parameters as the app's neutral [`ListQuery`].
    fn query(&self) -> Result<ListQuery, Failure> {
        let search = self.search.as_deref().filter(|s| !s.trim().is_empty()).map(parse_search).transpose()?;
        let max = match self.max.as_deref() {
            None | Some("-1") => None,
            Some(m) => Some(m.parse::<u32>().map_err(|_| {
                Failure::new(ErrorKind::InvalidInput, format!("max must be a non-negative number, not '{m}'"))
            })?),
        };
        let case_sensitive = matches!(self.case_sensitive.as_deref(), Some("true"));
        let mut q = ListQuery { max, case_sensitive, ..ListQuery::default() };
        if let Some(search) = search {
            q.any_of = search.any_of.iter().map(|group| group.iter().map(condition).collect()).collect();
            q.sort = search.sort.map(|s| Sort { field: s.field, descending: s.direction == SortDirection::Desc });
            q.page = search.page;
        }
        Ok(q)
    }
}

fn condition(c: &oxvirt_ovirt::search::Condition) -> Condition {
    let pattern = c
        .value
        .parts()
        .iter()
        .map(|p| match p {
            PatternPart::Literal(t) => t.clone(),
            _ => "*".to_owned(),
        })
        .collect();
    let op = match c.op {
        Operator::Eq => Comparison::Eq,
        Operator::Ne => Comparison::Ne,
        Operator::Lt => Comparison::Lt,
        Operator::Le => Comparison::Le,
        Operator::Gt => Comparison::Gt,
        Operator::Ge => Comparison::Ge,
    };
    Condition { field: c.field.clone(), op, pattern, literal: c.value.as_literal() }
}

/// A required reference to another object (`<cluster id="…"/>` or by `<name>`), as the app
/// layer takes it; `what` names the object that needs it, for the error.
fn required_ref<T: TypedId>(el: &Element, child: &str, what: &str) -> Result<Named<T>, Failure> {
    optional_ref(el, child)?
        .ok_or_else(|| Failure::new(ErrorKind::InvalidInput, format!("{what} needs a {child} (by id or name)")))
}

/// How a body names the object it is (`<network id="…"/>` or `<network><name>…`): by its own
/// id, else by a non-empty name; `None` when it carries neither.
fn own_ref<T: TypedId>(el: &Element) -> Result<Option<Named<T>>, Failure> {
    // With an id, a name beside it only restates which object (the SDK writes both when the
    // client had the object in hand); oVirt goes by the id, so do we.
    let name = el.text("name").filter(|n| !n.trim().is_empty());
    Ok(match el.own_id::<T>()? {
        Some(i) => Some(Named::Id(i)),
        None => name.map(Named::Name),
    })
}

/// An optional reference to another object, by id or name.
fn optional_ref<T: TypedId>(el: &Element, child: &str) -> Result<Option<Named<T>>, Failure> {
    Ok(match el.reference_to::<T>(child)? {
        Some(Reference::Id(i)) => Some(Named::Id(i)),
        Some(Reference::Name(n)) => Some(Named::Name(n)),
        None => None,
    })
}

/// The `<action>` of an action that takes no parameters the engine honours but `async`; an
/// empty body is an empty action. Anything else of the model it carries is refused by
/// [`Body`]. Actions that run no job answer when they are done either way; those that start
/// one apply `asynchronous` with [`ActionBody::job_options`].
#[derive(Debug)]
struct ActionBody {
    asynchronous: Option<bool>,
}

impl ActionBody {
    /// `opts` with the body's `async`, which wins over the query's.
    fn job_options(&self, mut opts: crate::app::JobOptions) -> crate::app::JobOptions {
        if let Some(a) = self.asynchronous {
            opts.asynchronous = Some(a);
        }
        opts
    }
}

impl FromElement for ActionBody {
    const ROOT: &'static str = "action";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(ActionBody { asynchronous: el.bool("async")? })
    }
}

/// A 400 fault with `message`.
fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorKind::InvalidInput, message.into())
}

/// A boolean query parameter (`true`/`false`, also `1`/`0`, any case).
fn flag(text: Option<&str>, name: &str) -> Result<Option<bool>, Failure> {
    match text {
        None => Ok(None),
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(invalid(format!("{name} must be true or false, not '{t}'"))),
        },
    }
}

/// A model time as the representation's date.
fn time(t: oxvirt_engine_db::model::Timestamp) -> std::time::SystemTime {
    oxvirt_ovirt::date::from_epoch_millis(t.as_millis())
}

/// The compatibility version every data center and cluster has: a request naming it is
/// honoured, another is refused.
const VERSION_FIXED: &[Fixed] = &[
    Fixed::int("version.major", Version::CURRENT.major as i64),
    Fixed::int("version.minor", Version::CURRENT.minor as i64),
];

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
        .child(
            Element::new("special_objects").reference_id("blank_template", oxvirt_engine_db::model::BLANK_TEMPLATE_ID),
        )
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

/// Every table of fixed values, with the model type it is below: each path must be a chain of
/// the type's attributes ending in a scalar of the value's kind (an enum's value among the
/// enum's), so a table cannot render or accept what oVirt's model does not have.
#[cfg(test)]
const FIXED_TABLES: &[(&str, &[Fixed])] = &[
    ("cluster", clusters::CLUSTER_FIXED),
    ("cluster", VERSION_FIXED),
    ("data_center", VERSION_FIXED),
    ("host", hosts::HOST_FIXED),
    ("disk", disks::DISK_FIXED),
];

#[cfg(test)]
mod fixed_tests {
    use super::FIXED_TABLES;
    use oxvirt_ovirt::FixedValue;
    use oxvirt_ovirt::model::{self, Ty};

    #[test]
    fn fixed_tables_follow_the_model() {
        for (root, table) in FIXED_TABLES {
            for f in *table {
                let mut def = model::struct_def(root).unwrap_or_else(|| panic!("{root} is not a model type"));
                let parts: Vec<&str> = f.path.split('.').collect();
                for (i, part) in parts.iter().enumerate() {
                    let attr = def.attribute(part).unwrap_or_else(|| panic!("{root}.{}: no {part}", f.path));
                    assert!(!attr.list, "{root}.{}: {part} is a list", f.path);
                    let last = i + 1 == parts.len();
                    match (attr.ty, last) {
                        (Ty::Struct(ty), false) => def = model::struct_def(ty).expect("struct"),
                        (_, false) => panic!("{root}.{}: {part} is not a structure", f.path),
                        (Ty::Boolean, true) => assert!(matches!(f.value, FixedValue::Bool(_)), "{root}.{}", f.path),
                        (Ty::Integer, true) => assert!(matches!(f.value, FixedValue::Int(_)), "{root}.{}", f.path),
                        (Ty::String, true) => assert!(matches!(f.value, FixedValue::Text(_)), "{root}.{}", f.path),
                        (Ty::Enum(e), true) => {
                            let FixedValue::Text(v) = f.value else { panic!("{root}.{} is an enum", f.path) };
                            let values = model::enum_def(e).expect("enum").values;
                            assert!(values.contains(&v), "{root}.{}: {v} is not one of {values:?}", f.path);
                        }
                        (ty, true) => panic!("{root}.{}: a fixed {ty:?} is not supported", f.path),
                    }
                }
            }
        }
    }
}
