//! Storage domains (`/storagedomains`) and their attachment to data centers
//! (`/datacenters/{id}/storagedomains` with `activate`/`deactivate`).

use super::*;
use crate::app::{StorageDomainAdd, StorageDomainRemove, StorageDomainUpdate};
use oxvirt_engine_db::model::{StorageConnection, StorageDomain, StorageDomainType, StorageType};
use oxvirt_types::StorageDomainId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/storagedomains", get(storage_domain_list).post(storage_domain_add))
        .route("/storagedomains/{id}", get(storage_domain_get).put(storage_domain_update).delete(storage_domain_remove))
        .route("/datacenters/{id}/storagedomains", get(attached_list).post(attached_add))
        .route("/datacenters/{id}/storagedomains/{sd}", get(attached_get).delete(attached_remove))
        .route("/datacenters/{id}/storagedomains/{sd}/{action}", axum::routing::post(attached_action))
}

// ---- storage domains ---------------------------------------------------------------------
fn storage_el(c: &StorageConnection) -> Element {
    let el = Element::new("storage").enum_child("type", c.storage_type().as_str());
    match c {
        StorageConnection::Localfs { path } => el.text_child("path", path),
        StorageConnection::Posixfs { spec, vfs_type, mount_options } => el
            .text_child("path", spec)
            .text_child("vfs_type", vfs_type)
            .text_child_opt("mount_options", mount_options.clone()),
        StorageConnection::Nfs { spec, mount_options } => {
            let (address, path) = spec.split_once(':').unwrap_or(("", spec.as_str()));
            el.text_child("address", address)
                .text_child("path", path)
                .text_child_opt("mount_options", mount_options.clone())
        }
    }
}

/// A storage domain; `dc` when shown as attached to that data center (with its actions).
fn storage_domain_el(sd: &StorageDomain, dc: Option<DataCenterId>) -> Element {
    let href = match dc {
        Some(dc) => sub_href(dc, "storagedomains", sd.id),
        None => href_of(sd.id),
    };
    let mut el = Element::new("storage_domain")
        .href(href)
        .id(sd.id)
        .text_child("name", &sd.name)
        .text_child("description", &sd.description)
        .text_child("comment", &sd.comment)
        .enum_child("type", sd.domain_type.as_str())
        .enum_child("status", sd.status.as_str())
        .enum_child("external_status", "ok")
        .bool_child("master", sd.master)
        .int_child("available", sd.available.bytes())
        .int_child("used", sd.used.bytes())
        .int_child("committed", sd.committed.bytes())
        .enum_child("storage_format", "v5")
        .int_child("block_size", 512)
        .bool_child("backup", false)
        .bool_child("wipe_after_delete", false)
        .bool_child("discard_after_delete", false)
        .int_child("warning_low_space_indicator", sd.warning_low_space_percent)
        .int_child("critical_space_action_blocker", sd.critical_space_action_blocker_gib)
        .child(storage_el(&sd.connection));
    if let Some(h) = sd.host_id {
        el = el.reference_id("host", h);
    }
    match dc {
        Some(dc) => el.reference_id("data_center", dc).sub_links(&["disks"]).actions(&["activate", "deactivate"]),
        None => el.sub_links(&["disks", "permissions"]),
    }
}

async fn storage_domain_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let sds = app.storage_domain_list(&p.query()?).await?;
    Ok(Reply::new(
        fmt,
        StatusCode::OK,
        &Element::collection("storage_domains", sds.iter().map(|sd| storage_domain_el(sd, None))),
    ))
}

async fn storage_domain_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(sd): IdPath<StorageDomainId>,
) -> Result<Reply, Failure> {
    Ok(Reply::new(fmt, StatusCode::OK, &storage_domain_el(&app.storage_domain_get(sd).await?, None)))
}

/// oVirt's `<storage>` of a new domain (`types.HostStorage`).
fn connection_from(el: &Element, name: &str) -> Result<StorageConnection, Failure> {
    let Some(st) = el.child_named("storage") else {
        return Err(invalid(format!(
            "storage domain {name} needs a <storage> with a type (localfs, posixfs or nfs) and a path"
        )));
    };
    let storage_type = st
        .parsed("type", "localfs, posixfs or nfs", StorageType::from_wire)?
        .ok_or_else(|| invalid(format!("storage domain {name}: storage needs a type (localfs, posixfs or nfs)")))?;
    let path = st.text("path").filter(|p| !p.trim().is_empty());
    let address = st.text("address").filter(|a| !a.trim().is_empty());
    let mount_options = st.text("mount_options").filter(|m| !m.trim().is_empty());
    let need_path = || invalid(format!("storage domain {name}: storage of type {storage_type} needs a path"));
    Ok(match storage_type {
        StorageType::Localfs => StorageConnection::Localfs { path: path.ok_or_else(need_path)? },
        StorageType::Nfs => {
            let path = path.ok_or_else(need_path)?;
            let address = address
                .ok_or_else(|| invalid(format!("storage domain {name}: nfs storage needs the server's address")))?;
            StorageConnection::Nfs { spec: format!("{address}:{path}"), mount_options }
        }
        StorageType::Posixfs => {
            let path = path.ok_or_else(need_path)?;
            let vfs_type = st
                .text("vfs_type")
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| invalid(format!("storage domain {name}: posixfs storage needs a vfs_type")))?;
            let spec = match address {
                Some(a) => format!("{a}:{path}"),
                None => path,
            };
            StorageConnection::Posixfs { spec, vfs_type, mount_options }
        }
    })
}

impl FromElement for StorageDomainAdd {
    const ROOT: &'static str = "storage_domain";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let name = el.required_text("name")?;
        let domain_type =
            el.parsed("type", "data, iso or export", StorageDomainType::from_wire)?.unwrap_or(StorageDomainType::Data);
        let host = required_ref::<HostId>(el, "host", "a new storage domain (the host to create it through)")?;
        let connection = connection_from(el, &name)?;
        Ok(StorageDomainAdd {
            name,
            description: el.text("description"),
            comment: el.text("comment"),
            domain_type,
            host,
            connection,
        })
    }
}

async fn storage_domain_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    JobOpts(opts): JobOpts,
    Body(req): Body<StorageDomainAdd>,
) -> Result<Reply, Failure> {
    let sd = app.storage_domain_add(&who, req, &opts).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &storage_domain_el(&sd, None)))
}

impl FromElement for StorageDomainUpdate {
    const ROOT: &'static str = "storage_domain";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        Ok(StorageDomainUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
        })
    }
}

async fn storage_domain_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(sd): IdPath<StorageDomainId>,
    Body(req): Body<StorageDomainUpdate>,
) -> Result<Reply, Failure> {
    let sd = app.storage_domain_update(&who, sd, req).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &storage_domain_el(&sd, None)))
}

#[derive(Debug, Deserialize)]
struct RemoveParams {
    host: Option<String>,
    format: Option<String>,
}

async fn storage_domain_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(sd): IdPath<StorageDomainId>,
    Params(p): Params<RemoveParams>,
) -> Result<Removed, Failure> {
    let format = flag(p.format.as_deref(), "format")?.unwrap_or(false);
    let host = p.host.filter(|h| !h.is_empty()).map(|h| match h.parse::<HostId>() {
        Ok(i) => Named::Id(i),
        Err(_) => Named::Name(h),
    });
    app.storage_domain_remove(&who, sd, StorageDomainRemove { host, format }).await?;
    Ok(Removed)
}

// ---- attached storage domains -------------------------------------------------------------
async fn attached_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let sds = app.data_center_storage_domain_list(dc, &p.query()?).await?;
    Ok(Reply::new(
        fmt,
        StatusCode::OK,
        &Element::collection("storage_domains", sds.iter().map(|sd| storage_domain_el(sd, Some(dc)))),
    ))
}

async fn attached_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((dc, sd)): IdPath<(DataCenterId, StorageDomainId)>,
) -> Result<Reply, Failure> {
    let sd = app.data_center_storage_domain_get(dc, sd).await?;
    Ok(Reply::new(fmt, StatusCode::OK, &storage_domain_el(&sd, Some(dc))))
}

async fn attached_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(dc): IdPath<DataCenterId>,
    Body(AttachBody(sd_ref)): Body<AttachBody>,
) -> Result<Reply, Failure> {
    let sd = app.data_center_storage_domain_attach(&who, dc, &sd_ref).await?;
    Ok(Reply::new(fmt, StatusCode::CREATED, &storage_domain_el(&sd, Some(dc))))
}

/// The body of an attach: the storage domain, by id or name.
#[derive(Debug)]
struct AttachBody(Named<StorageDomainId>);

impl FromElement for AttachBody {
    const ROOT: &'static str = "storage_domain";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        own_ref::<StorageDomainId>(el)?
            .map(AttachBody)
            .ok_or_else(|| invalid("attaching needs the storage domain's id or name: <storage_domain id=\"…\"/>"))
    }
}

async fn attached_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath((dc, sd)): IdPath<(DataCenterId, StorageDomainId)>,
) -> Result<Removed, Failure> {
    app.data_center_storage_domain_detach(&who, dc, sd).await?;
    Ok(Removed)
}

async fn attached_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((dc, sd, action)): IdPath<(DataCenterId, StorageDomainId, Segment)>,
    uri: axum::http::Uri,
    body: Result<Body<ActionBody>, Failure>,
) -> Result<Reply, Failure> {
    let (dc, sd): (DataCenterId, StorageDomainId) = (dc, sd);
    match action.as_str() {
        "activate" => {
            body?;
            app.data_center_storage_domain_activate(&who, dc, sd).await?
        }
        "deactivate" => {
            body?;
            app.data_center_storage_domain_deactivate(&who, dc, sd).await?
        }
        _ => return Err(unserved::unknown_action(uri.path(), &["activate", "deactivate"])),
    };
    Ok(Reply::action_done(fmt, None))
}
