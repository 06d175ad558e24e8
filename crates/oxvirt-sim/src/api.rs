//! **SIMULATION.** The agent API (`oxvirt-agent-api` v1) of one simulated host: the same
//! paths, bodies, errors and gate as the real agent's `oxvirt_agent::api::router`, over the
//! simulated host's state. Enrollment and the event stream are the real agent's own code.

use crate::{SimError, SimHost};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use oxvirt_agent::api::{ApiFailure, Body, ConsoleQuery, EventsQuery, id};
use oxvirt_agent_api::v1;
use oxvirt_types::{DiskId, ErrorKind, StorageDomainId, VmId, VolumeId};
use std::sync::Arc;

/// Rendered like every agent error: an `ApiError` with the status of its kind.
impl From<SimError> for ApiFailure {
    fn from(e: SimError) -> Self {
        ApiFailure::new(e.kind(), e.to_string())
    }
}

type ApiResult<T> = Result<Json<T>, ApiFailure>;
type Host = State<Arc<SimHost>>;

/// The router of one simulated host, with the real agent's enrollment endpoints and
/// `require_engine` gate.
pub fn router(host: Arc<SimHost>) -> Router {
    Router::new()
        .route(v1::HEALTH_PATH, get(health))
        .route("/v1/capabilities", get(capabilities))
        .route("/v1/vms", get(vm_list).post(vm_create))
        .route("/v1/vms/{id}", get(vm_get))
        .route("/v1/vms/{id}/console", get(vm_console))
        .route("/v1/vms/{id}/stats", get(vm_stats))
        .route("/v1/vms/{id}/{action}", post(vm_action))
        .route("/v1/stats/host", get(host_stats))
        .route("/v1/stats/vms", get(vm_stats_all))
        .route("/v1/events", get(events))
        .route("/v1/storage-domains", get(domain_list).post(domain_create))
        .route("/v1/storage-domains/{sd}", get(domain_info))
        .route("/v1/storage-domains/{sd}/attach", post(domain_attach))
        .route("/v1/storage-domains/{sd}/detach", post(domain_detach))
        .route("/v1/storage-domains/{sd}/volumes", post(volume_create))
        .route("/v1/storage-domains/{sd}/images/{img}/volumes/{vol}", get(volume_info).delete(volume_delete))
        .route("/v1/storage-domains/{sd}/images/{img}/volumes/{vol}/resize", post(volume_resize))
        .with_state(host.clone())
        .merge(oxvirt_agent::tls::enrollment_router(host.identity().clone(), host.hostname().to_owned()))
        .fallback(|| async {
            ApiFailure::new(
                ErrorKind::NotFound,
                "no such agent API path (see oxvirt-agent-api v1; simulated by oxvirt-sim)",
            )
        })
        .layer(axum::middleware::from_fn(oxvirt_agent::tls::require_engine))
        .layer(axum::middleware::map_response(label))
}

/// Header on every reply of a simulated host, refusals included.
pub const SIMULATED_HEADER: &str = "x-oxvirt-simulated";

async fn label(mut resp: Response) -> Response {
    resp.headers_mut().insert(SIMULATED_HEADER, axum::http::HeaderValue::from_static(crate::SIMULATED));
    resp
}

async fn health() -> Json<v1::Health> {
    Json(v1::Health {
        status: "ok".to_owned(),
        // The version says what answers: a simulated host.
        version: format!("{}-oxvirt-sim", env!("CARGO_PKG_VERSION")),
        api_versions: vec!["v1".to_owned()],
    })
}

async fn capabilities(State(h): Host) -> Json<v1::Capabilities> {
    Json(h.capabilities())
}

async fn vm_list(State(h): Host) -> Json<v1::VmStateList> {
    Json(h.vm_list())
}

async fn vm_create(
    State(h): Host,
    Body(spec): Body<v1::VmSpec>,
) -> Result<(StatusCode, Json<v1::VmState>), ApiFailure> {
    Ok((StatusCode::CREATED, Json(h.vm_create(spec).await?)))
}

async fn vm_get(State(h): Host, Path(vm): Path<String>) -> ApiResult<v1::VmState> {
    Ok(Json(h.vm_get(id(&vm)?)?))
}

async fn vm_action(
    State(h): Host,
    Path((vm, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<v1::VmState> {
    let vm: VmId = id(&vm)?;
    let (action, req) = oxvirt_agent::api::vm_action_parse(&action, &body)?;
    Ok(Json(h.vm_action(vm, action, req).await?))
}

async fn vm_console(
    State(h): Host,
    Path(vm): Path<String>,
    Query(q): Query<ConsoleQuery>,
) -> ApiResult<v1::ConsoleTail> {
    Ok(Json(h.console_tail(id(&vm)?, q.tail_bytes.unwrap_or(64 * 1024))?))
}

async fn vm_stats(State(h): Host, Path(vm): Path<String>) -> ApiResult<v1::VmStats> {
    Ok(Json(h.vm_stats(id(&vm)?)?))
}

async fn vm_stats_all(State(h): Host) -> Json<Vec<v1::VmStats>> {
    Json(h.vm_stats_all())
}

async fn host_stats(State(h): Host) -> Json<v1::HostStats> {
    Json(h.host_stats())
}

async fn events(State(h): Host, Query(q): Query<EventsQuery>) -> Response {
    oxvirt_agent::api::event_stream(h.registry().clone(), q.from, q.stream_id, h.params().heartbeat)
}

async fn domain_list(State(h): Host) -> Json<Vec<v1::StorageDomainInfo>> {
    Json(h.domain_list())
}

async fn domain_create(
    State(h): Host,
    Body(req): Body<v1::StorageDomainCreate>,
) -> Result<(StatusCode, Json<v1::StorageDomainInfo>), ApiFailure> {
    Ok((StatusCode::CREATED, Json(h.domain_create(&req)?)))
}

async fn domain_info(State(h): Host, Path(sd): Path<String>) -> ApiResult<v1::StorageDomainInfo> {
    Ok(Json(h.domain_info(id::<StorageDomainId>(&sd)?)?))
}

async fn domain_attach(
    State(h): Host,
    Path(sd): Path<String>,
    Body(conn): Body<v1::StorageDomainConnection>,
) -> ApiResult<v1::StorageDomainInfo> {
    Ok(Json(h.domain_attach(id(&sd)?, &conn)?))
}

async fn domain_detach(State(h): Host, Path(sd): Path<String>) -> ApiResult<()> {
    h.domain_detach(id(&sd)?)?;
    Ok(Json(()))
}

async fn volume_create(
    State(h): Host,
    Path(sd): Path<String>,
    Body(req): Body<v1::VolumeCreate>,
) -> Result<(StatusCode, Json<v1::VolumeInfo>), ApiFailure> {
    let sd: StorageDomainId = id(&sd)?;
    Ok((StatusCode::CREATED, Json(h.domain_check(sd)?.volume_create(sd, &req)?)))
}

fn volume_ref(img: &str, vol: &str) -> Result<v1::VolumeRef, ApiFailure> {
    Ok(v1::VolumeRef { image_id: id::<DiskId>(img)?, volume_id: id::<VolumeId>(vol)? })
}

async fn volume_info(
    State(h): Host,
    Path((sd, img, vol)): Path<(String, String, String)>,
) -> ApiResult<v1::VolumeInfo> {
    let sd: StorageDomainId = id(&sd)?;
    Ok(Json(h.domain_check(sd)?.volume_info(sd, volume_ref(&img, &vol)?)?))
}

async fn volume_resize(
    State(h): Host,
    Path((sd, img, vol)): Path<(String, String, String)>,
    Body(req): Body<v1::VolumeResize>,
) -> ApiResult<v1::VolumeInfo> {
    let sd: StorageDomainId = id(&sd)?;
    Ok(Json(h.domain_check(sd)?.volume_resize(sd, volume_ref(&img, &vol)?, req.size)?))
}

async fn volume_delete(State(h): Host, Path((sd, img, vol)): Path<(String, String, String)>) -> ApiResult<()> {
    let sd: StorageDomainId = id(&sd)?;
    h.domain_check(sd)?.volume_delete(sd, volume_ref(&img, &vol)?)?;
    Ok(Json(()))
}
