//! Hosts: add (enrolls the agent), get, list, update (name, description, comment, cluster),
//! remove, `activate`/`deactivate`.

use super::*;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosts", get(host_list).post(host_add))
        .route("/hosts/{id}", get(host_get).put(host_update).delete(host_remove))
        .route("/hosts/{id}/{action}", axum::routing::post(host_action))
}

to_element!(oxvirt_engine_db::model::Host, "hosts", host_el);

/// What every host is in oxvirt, in oVirt's terms (see [`Fixed`]): no power management or
/// kdump detection yet (fencing is issue 15), never the SPM (oxvirt has no storage pool
/// manager: priority -1 is oVirt's "never"), the kernel command line left as installed, the
/// firewall left alone.
pub(super) const HOST_FIXED: &[Fixed] = &[
    Fixed::bool("power_management.enabled", false),
    Fixed::bool("power_management.kdump_detection", false),
    Fixed::int("spm.priority", -1),
    Fixed::text("spm.status", "none"),
    Fixed::text("os.custom_kernel_cmdline", ""),
    Fixed::bool("override_iptables", false),
];

fn host_el(h: &oxvirt_engine_db::model::Host) -> Element {
    let caps: Option<oxvirt_agent_api::v1::Capabilities> =
        h.capabilities.as_ref().and_then(|c| serde_json::from_value(c.clone()).ok());
    let mut el = Element::new("host")
        .href(href_of(h.id))
        .id(h.id)
        .text_child("name", &h.name)
        .text_child("description", &h.description)
        .text_child("comment", &h.comment)
        .text_child("address", &h.address)
        .int_child("port", h.port)
        .enum_child("status", h.status.as_str())
        .int_child("memory", h.memory_total.bytes())
        .int_child("max_scheduling_memory", h.max_scheduling_memory.bytes())
        .enum_child("type", "rhel")
        .reference_id("cluster", h.cluster_id)
        .with_fixed(HOST_FIXED);
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
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let hosts = app.host_list(&p.query()?).await?;
    Ok(Reply::list(fmt, &hosts))
}

async fn host_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(h): IdPath<HostId>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.host_get(h).await?))
}

/// `port`: the agent's TCP port.
fn port_of(el: &Element) -> Result<Option<u16>, Failure> {
    el.u64("port")?
        .map(|p| {
            u16::try_from(p).map_err(|_| Failure::new(ErrorKind::InvalidInput, format!("port {p} is out of range")))
        })
        .transpose()
}

impl FromElement for HostAdd {
    const ROOT: &'static str = "host";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        let cluster = required_ref::<ClusterId>(el, "cluster", "a host")?;
        el.accept_fixed(HOST_FIXED);
        let port = port_of(el)?;
        Ok(HostAdd {
            name: el.required_text("name")?,
            description: el.text("description"),
            comment: el.text("comment"),
            address: el.required_text("address")?,
            port,
            cluster,
            enrollment_secret: el.text("root_password"),
        })
    }
}

impl FromElement for HostUpdate {
    const ROOT: &'static str = "host";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_fixed(HOST_FIXED);
        let port = port_of(el)?;
        Ok(HostUpdate {
            name: el.text("name"),
            description: el.text("description"),
            comment: el.text("comment"),
            address: el.text("address"),
            port,
            cluster: optional_ref::<ClusterId>(el, "cluster")?,
        })
    }
}

async fn host_update(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath(host): IdPath<HostId>,
    Body(req): Body<HostUpdate>,
) -> Result<Reply, Failure> {
    let host = app.host_update(&who, host, req).await?;
    Ok(Reply::ok(fmt, &host))
}

async fn host_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    JobOpts(opts): JobOpts,
    Body(req): Body<HostAdd>,
) -> Result<Reply, Failure> {
    let host = app.host_add(&who, req, &opts).await?;
    Ok(Reply::created(fmt, &host))
}

async fn host_remove(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    IdPath(h): IdPath<HostId>,
) -> Result<Removed, Failure> {
    app.host_remove(&who, h).await?;
    Ok(Removed)
}

async fn host_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((h, action)): IdPath<(HostId, Segment)>,
    uri: axum::http::Uri,
    body: Result<Body<ActionBody>, Failure>,
) -> Result<Reply, Failure> {
    let host: HostId = h;
    match action.as_str() {
        "deactivate" => {
            body?;
            app.host_deactivate(&who, host).await?
        }
        "activate" => {
            body?;
            app.host_activate(&who, host).await?
        }
        "refresh" => {
            body?;
            app.host_refresh(&who, host).await?
        }
        _ => return Err(unserved::unknown_action(uri.path(), &["activate", "deactivate", "refresh"])),
    };
    Ok(Reply::action_done(fmt, None))
}
