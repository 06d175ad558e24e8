//! What the API answers where no handler serves a request, judged against oVirt's model
//! ([`oxvirt_ovirt::model::METHODS`]):
//! - a path the model does not have: a 404 fault naming it;
//! - a path the model has, with a verb it does not: a 405 fault naming the verbs it has;
//! - a sub-collection of an existing object that is empty by construction, because oxvirt
//!   never makes what it holds ([`EMPTY_SUB_COLLECTIONS`]: `/vms/{id}/numanodes`,
//!   `/vms/{id}/nics/{id}/networkfilterparameters`): an empty list with the collection's
//!   element name, which is the truth, and its items a 404. A sub-collection whose objects do
//!   exist without being served (`/datacenters/{id}/clusters`, `/storagedomains/{id}/disks`)
//!   is not empty and is refused like any other unserved method;
//! - any other method of the model (a top-level collection, an add, update, remove or action
//!   not implemented): a 400 fault saying it is not supported yet — refused, never an empty
//!   405 or a silent success.
//!
//! Why here and not per resource: every object advertises links and oVirt clients (Ansible's
//! modules above all) list sub-collections they know of whether or not they were advertised;
//! one rule answers all of them the same way.

use super::*;
use axum::http::{Method as HttpMethod, Uri};
use oxvirt_ovirt::model::{self, Kind, Ty, Verb};
use oxvirt_types::{ClusterId, DataCenterId, DiskId, NetworkId, NicId, StorageDomainId, TemplateId, VmId};

pub(super) async fn unserved(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    method: HttpMethod,
    uri: Uri,
) -> Result<Reply, Failure> {
    let path = api_path(uri.path());
    let Some(verb) = model_verb(&method) else {
        return Err(Failure::new(ErrorKind::InvalidInput, format!("oVirt's API has no {method} requests")));
    };
    let methods = model::methods_matching(path);
    if methods.is_empty() {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!("no such resource in the API: {path} (see /ovirt-engine/api for the collections)"),
        ));
    }
    let Some(m) = methods.iter().find(|m| m.verb == verb) else {
        let verbs: Vec<&str> = methods.iter().map(|m| verb_name(m.verb)).collect();
        return Err(Failure::new(
            ErrorKind::MethodNotAllowed,
            format!("{path} answers {}, not {method}", verbs.join(", ")),
        ));
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match m.kind {
        // A top-level collection not served is not known to be empty (there are users and
        // roles, say, before `/users` and `/roles` exist): refused, not answered empty.
        Kind::List if EMPTY_SUB_COLLECTIONS.contains(&m.path) => {
            parent_exists(&app, &segments[..segments.len() - 1]).await?;
            let plural = m
                .params
                .iter()
                .find_map(|p| match p.attribute.ty {
                    Ty::Struct(s) if p.output && p.attribute.list => model::struct_def(s).map(|d| d.plural),
                    _ => None,
                })
                .unwrap_or(segments[segments.len() - 1]);
            Ok(Reply::new(fmt, StatusCode::OK, &Element::collection(plural, std::iter::empty())))
        }
        Kind::Get if segments.len() >= 3 && EMPTY_SUB_COLLECTIONS.contains(&parent_path(m.path)) => {
            parent_exists(&app, &segments[..segments.len() - 2]).await?;
            Err(Failure::new(
                ErrorKind::NotFound,
                format!("{path}: there is no such {}", segments[segments.len() - 2].trim_end_matches('s')),
            ))
        }
        _ => Err(Failure::new(
            ErrorKind::InvalidInput,
            format!(
                "{} {path} ({}.{} of oVirt's API) is not supported by oxvirt yet",
                method,
                m.service.trim_end_matches("Service"),
                m.name
            ),
        )),
    }
}

/// A request path relative to the API root (`/vms/123`), from the nested router's view or the
/// full one, `/v4` alias included.
pub(super) fn api_path(path: &str) -> &str {
    let path = path.strip_prefix(oxvirt_ovirt::API_PREFIX).unwrap_or(path);
    path.strip_prefix("/v4").filter(|p| p.is_empty() || p.starts_with('/')).unwrap_or(path)
}

pub(super) fn model_verb(method: &HttpMethod) -> Option<Verb> {
    Some(match *method {
        HttpMethod::GET | HttpMethod::HEAD => Verb::Get,
        HttpMethod::POST => Verb::Post,
        HttpMethod::PUT => Verb::Put,
        HttpMethod::DELETE => Verb::Delete,
        _ => return None,
    })
}

/// The query parameters of oVirt's model that each method served honours (model paths, ids as
/// `{id}`). Every other parameter of the model a request carries is refused by
/// [`query_check`] before the handler runs; a handler that starts reading one must list it
/// here (until then its clients get a 400, never a silent drop).
const QUERY_HONOURED: &[(Verb, &str, &[&str])] = &[
    (Verb::Get, "/affinitylabels", &["max"]),
    (Verb::Get, "/clusters", LIST),
    (Verb::Get, "/datacenters", LIST),
    (Verb::Get, "/datacenters/{id}/clusters", LIST),
    (Verb::Get, "/datacenters/{id}/networks", &["max"]),
    (Verb::Get, "/datacenters/{id}/storagedomains", &["max"]),
    (Verb::Get, "/disks", LIST),
    (Verb::Delete, "/disks/{id}", &["async"]),
    (Verb::Get, "/events", &["from", "search", "max", "case_sensitive"]),
    (Verb::Get, "/hosts", LIST),
    (Verb::Get, "/jobs", LIST),
    (Verb::Get, "/macpools", &["max"]),
    (Verb::Get, "/networks", LIST),
    (Verb::Get, "/networks/{id}/vnicprofiles", &["max"]),
    (Verb::Get, "/operatingsystems", &["max"]),
    (Verb::Get, "/schedulingpolicies", &["max"]),
    (Verb::Get, "/storagedomains", LIST),
    (Verb::Get, "/tags", &["max"]),
    (Verb::Delete, "/storagedomains/{id}", &["host", "format"]),
    (Verb::Get, "/templates", LIST),
    (Verb::Get, "/vms", &["follow", "search", "max", "case_sensitive"]),
    (Verb::Get, "/vms/{id}", &["follow"]),
    (Verb::Delete, "/vms/{id}", &["detach_only", "async"]),
    (Verb::Delete, "/vms/{id}/diskattachments/{id}", &["detach_only"]),
    (Verb::Get, "/vnicprofiles", &["max"]),
];

const LIST: &[&str] = &["search", "max", "case_sensitive"];

/// Honoured by every method that has it: `all_content=true` asks for the attributes oVirt
/// leaves out by default, and the engine always renders everything it has.
const HONOURED_EVERYWHERE: &[&str] = &["all_content"];

/// Accepted everywhere at the value that is what the engine does anyway (clients such as
/// Ansible's modules send them with their defaults): no clone of a template's disks or
/// permissions, the administrator's unfiltered view, no forcing, no links to follow (what
/// Ansible's info modules send when not asked to follow any), a host activated once installed.
const HONOURED_AT: &[(&str, &str)] = &[
    ("clone", "false"),
    ("clone_permissions", "false"),
    ("filter", "false"),
    ("force", "false"),
    ("follow", ""),
    ("activate", "true"),
];

/// The query parameters of `m` in oVirt's model: its input parameters but the entity an add
/// or update carries in its body. (An action's parameters are all in its body.)
fn model_query_params(m: &model::Method) -> impl Iterator<Item = &'static str> + '_ {
    m.params
        .iter()
        .filter(move |p| {
            p.input
                && m.kind != Kind::Action
                && !(matches!(m.kind, Kind::Add | Kind::Update) && p.output && matches!(p.attribute.ty, Ty::Struct(_)))
        })
        .map(|p| p.attribute.name)
}

/// Refuses a query parameter of oVirt's model that the method does not honour
/// ([`QUERY_HONOURED`]): `POST /vms?clone=true` is a 400, not a VM made without cloning.
/// Parameters outside the model are left alone.
pub(super) async fn query_check(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (Some(query), Some(verb)) = (req.uri().query(), model_verb(req.method())) else {
        return next.run(req).await;
    };
    let path = api_path(req.uri().path());
    let Some(m) = model::methods_matching(path).into_iter().find(|m| m.verb == verb) else {
        return next.run(req).await;
    };
    let honoured =
        QUERY_HONOURED.iter().find(|(v, p, _)| *v == verb && *p == m.path).map(|(_, _, k)| *k).unwrap_or(&[]);
    let mut refused: Vec<&str> = Vec::new();
    for (key, value) in query.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, ""))) {
        if let Some(name) = model_query_params(m).find(|n| *n == key)
            && !honoured.contains(&name)
            && !HONOURED_EVERYWHERE.contains(&name)
            && !HONOURED_AT.iter().any(|(n, v)| *n == name && value.eq_ignore_ascii_case(v))
            && !refused.contains(&name)
        {
            refused.push(name);
        }
    }
    if refused.is_empty() {
        return next.run(req).await;
    }
    Failure::new(
        ErrorKind::InvalidInput,
        format!(
            "query parameter{} {} of {} {} {} not supported yet",
            if refused.len() > 1 { "s" } else { "" },
            refused.join(", "),
            verb_name(verb),
            m.path,
            if refused.len() > 1 { "are" } else { "is" }
        ),
    )
    .into_response()
}

/// Sub-collections (model paths) that are empty for every object of oxvirt, because nothing in
/// oxvirt makes what they hold: no vNUMA nodes, watchdogs, CD-ROM or floppy devices, host
/// devices, snapshots, backups, tags on templates, affinity groups, guest-agent
/// reports, errata,
/// network filter parameters, fence agents, Gluster volumes or iSCSI bonds. Each entry must
/// stay true: when oxvirt starts making such objects, the entry goes and a handler serves them.
const EMPTY_SUB_COLLECTIONS: &[&str] = &[
    "/vms/{id}/applications",
    "/vms/{id}/backups",
    "/vms/{id}/cdroms",
    "/vms/{id}/checkpoints",
    "/vms/{id}/hostdevices",
    "/vms/{id}/katelloerrata",
    "/vms/{id}/mediateddevices",
    "/vms/{id}/nics/{id}/networkfilterparameters",
    "/vms/{id}/nics/{id}/reporteddevices",
    "/vms/{id}/numanodes",
    "/vms/{id}/reporteddevices",
    "/vms/{id}/sessions",
    "/vms/{id}/snapshots",
    "/vms/{id}/watchdogs",
    "/hosts/{id}/fenceagents",
    "/hosts/{id}/katelloerrata",
    "/templates/{id}/cdroms",
    "/templates/{id}/tags",
    "/templates/{id}/watchdogs",
    "/clusters/{id}/affinitygroups",
    "/clusters/{id}/glusterhooks",
    "/clusters/{id}/glustervolumes",
    "/datacenters/{id}/iscsibonds",
];

/// `/vms/{id}/numanodes` of `/vms/{id}/numanodes/{id}`.
fn parent_path(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(p, _)| p)
}

fn verb_name(v: Verb) -> &'static str {
    match v {
        Verb::Get => "GET",
        Verb::Post => "POST",
        Verb::Put => "PUT",
        Verb::Delete => "DELETE",
    }
}

/// 404 unless the object at `segments` (`vms/<id>`, `vms/<id>/nics/<id>`) exists. Objects of
/// collections the engine does not serve do not exist.
async fn parent_exists(app: &AppState, segments: &[&str]) -> Result<(), Failure> {
    fn id<T: std::str::FromStr>(s: &str) -> Result<T, Failure> {
        s.parse().map_err(|_| Failure::new(ErrorKind::NotFound, format!("'{s}' is not the id of anything")))
    }
    match segments {
        ["vms", v] => {
            app.vm_get(id::<VmId>(v)?).await?;
        }
        ["vms", v, "nics", n] => {
            app.nic_get(id::<VmId>(v)?, id::<NicId>(n)?).await?;
        }
        ["vms", v, "diskattachments", d] => {
            app.disk_attachment_get(id::<VmId>(v)?, id::<DiskId>(d)?).await?;
        }
        ["hosts", h] => {
            app.host_get(id::<HostId>(h)?).await?;
        }
        ["hosts", h, "nics", n] => {
            app.host_nic_get(id::<HostId>(h)?, id(n)?).await?;
        }
        ["clusters", c] => {
            app.cluster_get(id::<ClusterId>(c)?).await?;
        }
        ["datacenters", d] => {
            app.data_center_get(id::<DataCenterId>(d)?).await?;
        }
        ["storagedomains", s] => {
            app.storage_domain_get(id::<StorageDomainId>(s)?).await?;
        }
        ["disks", d] => {
            app.disk_get(id::<DiskId>(d)?).await?;
        }
        ["networks", n] => {
            app.network_get(id::<NetworkId>(n)?).await?;
        }
        ["vnicprofiles", p] => {
            app.vnic_profile_get(id(p)?).await?;
        }
        ["templates", t] => {
            app.template_get(id::<TemplateId>(t)?).await?;
        }
        _ => {
            return Err(Failure::new(
                ErrorKind::NotFound,
                format!("/{} is not served by oxvirt yet", segments.join("/")),
            ));
        }
    }
    Ok(())
}

/// The answer to `POST <path>` for an action a handler does not implement (`path` as
/// requested, `/vms/123/migrate`): a 400 saying it is not supported yet when oVirt's model has
/// it, else a 404 naming the actions there are (`served`).
pub(super) fn unknown_action(path: &str, served: &[&str]) -> Failure {
    let path = api_path(path);
    match model::methods_matching(path).iter().find(|m| m.verb == Verb::Post) {
        Some(m) => Failure::new(
            ErrorKind::InvalidInput,
            format!(
                "POST {path} ({}.{} of oVirt's API) is not supported by oxvirt yet; actions served here: {}",
                m.service.trim_end_matches("Service"),
                m.name,
                served.join(", ")
            ),
        ),
        None => Failure::new(
            ErrorKind::NotFound,
            format!("no such action: POST {path}; actions served here: {}", served.join(", ")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_empty_sub_collection_is_a_list_of_the_model() {
        for path in EMPTY_SUB_COLLECTIONS {
            assert!(
                model::METHODS.iter().any(|m| m.path == *path && m.kind == Kind::List),
                "{path} is not a list of the model"
            );
        }
    }

    #[test]
    fn every_honoured_query_parameter_is_one_of_the_model() {
        let mut wrong = Vec::new();
        for (verb, path, keys) in QUERY_HONOURED {
            let Some(m) = model::METHODS.iter().find(|m| m.verb == *verb && m.path == *path) else {
                wrong.push(format!("{} {path} is not a method of the model", verb_name(*verb)));
                continue;
            };
            for k in *keys {
                if !model_query_params(m).any(|n| n == *k) {
                    wrong.push(format!("{k} is not a query parameter of {} {path}", verb_name(*verb)));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
