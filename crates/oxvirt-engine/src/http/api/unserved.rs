//! What the API answers where no handler serves a request, judged against oVirt's model
//! ([`oxvirt_ovirt::model::METHODS`]):
//! - a path the model does not have: a 404 fault naming it;
//! - a path the model has, with a verb it does not: a 405 fault naming the verbs it has;
//! - a sub-collection of an existing object that the engine does not populate yet
//!   (`/vms/{id}/numanodes`, `/vms/{id}/nics/{id}/networkfilterparameters`): an empty list with
//!   the collection's element name, which is the truth (a VM of ours has no NUMA nodes), and
//!   its items a 404;
//! - any other method of the model (an add, update, remove or action not implemented): a 400
//!   fault saying it is not supported yet — refused, never an empty 405 or a silent success.
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
    let path = uri.path();
    let path = path.strip_prefix(oxvirt_ovirt::API_PREFIX).unwrap_or(path);
    let path = path.strip_prefix("/v4").filter(|p| p.is_empty() || p.starts_with('/')).unwrap_or(path);
    let verb = match method {
        HttpMethod::GET | HttpMethod::HEAD => Verb::Get,
        HttpMethod::POST => Verb::Post,
        HttpMethod::PUT => Verb::Put,
        HttpMethod::DELETE => Verb::Delete,
        _ => return Err(Failure::new(ErrorKind::InvalidInput, format!("oVirt's API has no {method} requests"))),
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
        Kind::List => {
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
        Kind::Get if segments.len() >= 3 => {
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
    let path = path.strip_prefix(oxvirt_ovirt::API_PREFIX).unwrap_or(path);
    let path = path.strip_prefix("/v4").filter(|p| p.starts_with('/')).unwrap_or(path);
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
