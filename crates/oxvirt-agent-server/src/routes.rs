//! The route table of the agent API, written once over [`AgentBackend`]: handlers parse the
//! path and body, call the backend and render; the templates are the contract's
//! (`oxvirt_agent_api::v1::paths`), which the engine's client fills in.

use crate::registry::VmRegistry;
use crate::tls::{AgentIdentity, enrollment_router, require_engine};
use crate::{ApiFailure, ApiResult, Body, event_stream, id, vm_action_parse};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use oxvirt_agent_api::v1::{self, paths};
use oxvirt_types::{ByteSize, DiskId, ErrorKind, StorageDomainId, VmId, VolumeId};
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a host agent does behind the API: one method per route. The real agent implements it
/// over libvirt and files, the simulator over memory. Errors are [`ApiFailure`]s (each
/// backend converts its own error enum with `From`).
pub trait AgentBackend: Send + Sync + 'static {
    /// The agent's version, as `GET /v1/health` reports it.
    fn version(&self) -> String;
    /// The TLS identity: enrollment and the `require_engine` gate use it.
    fn identity(&self) -> &Arc<AgentIdentity>;
    /// The host's name, put in the enrollment answer.
    fn hostname(&self) -> &str;
    /// The VM states whose changes `GET /v1/events` streams.
    fn registry(&self) -> &Arc<VmRegistry>;
    /// How long an idle event stream waits before a heartbeat line.
    fn heartbeat(&self) -> Duration;

    fn capabilities(&self) -> impl Future<Output = ApiResult<v1::Capabilities>> + Send;
    fn vm_list(&self) -> impl Future<Output = ApiResult<v1::VmStateList>> + Send;
    fn vm_create(&self, spec: v1::VmSpec) -> impl Future<Output = ApiResult<v1::VmState>> + Send;
    fn vm_get(&self, vm: VmId) -> ApiResult<v1::VmState>;
    /// Takes the `Arc`: an action may leave work behind (an ACPI shutdown's timeout).
    fn vm_action(
        self: &Arc<Self>,
        vm: VmId,
        action: v1::VmAction,
        req: v1::VmActionRequest,
    ) -> impl Future<Output = ApiResult<v1::VmState>> + Send;
    fn vm_console(&self, vm: VmId, tail_bytes: u64) -> impl Future<Output = ApiResult<v1::ConsoleTail>> + Send;
    fn vm_stats(&self, vm: VmId) -> ApiResult<v1::VmStats>;
    fn vm_stats_all(&self) -> Vec<v1::VmStats>;
    fn host_stats(&self) -> ApiResult<v1::HostStats>;
    fn storage_domain_list(&self) -> impl Future<Output = ApiResult<Vec<v1::StorageDomainInfo>>> + Send;
    fn storage_domain_create(
        &self,
        req: v1::StorageDomainCreate,
    ) -> impl Future<Output = ApiResult<v1::StorageDomainInfo>> + Send;
    fn storage_domain_info(&self, sd: StorageDomainId)
    -> impl Future<Output = ApiResult<v1::StorageDomainInfo>> + Send;
    fn storage_domain_attach(
        &self,
        sd: StorageDomainId,
        conn: v1::StorageDomainConnection,
    ) -> impl Future<Output = ApiResult<v1::StorageDomainInfo>> + Send;
    fn storage_domain_detach(&self, sd: StorageDomainId) -> impl Future<Output = ApiResult<()>> + Send;
    /// Every volume on the domain, legal or not (the engine's storage check).
    fn volume_list(&self, sd: StorageDomainId) -> impl Future<Output = ApiResult<v1::VolumeList>> + Send;
    fn volume_create(
        &self,
        sd: StorageDomainId,
        req: v1::VolumeCreate,
    ) -> impl Future<Output = ApiResult<v1::VolumeInfo>> + Send;
    fn volume_info(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
    ) -> impl Future<Output = ApiResult<v1::VolumeInfo>> + Send;
    fn volume_resize(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
        size: ByteSize,
    ) -> impl Future<Output = ApiResult<v1::VolumeInfo>> + Send;
    /// Gives a thin volume's zeroed space back to its storage (refused while a VM has it open,
    /// for preallocated volumes and for volumes in a chain).
    fn volume_sparsify(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
    ) -> impl Future<Output = ApiResult<v1::VolumeInfo>> + Send;
    fn volume_delete(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The whole agent API over `backend`: every route of the contract, enrollment, a JSON 404 for
/// unknown paths, and the `require_engine` gate in front of all but health and enrollment.
pub fn router<B: AgentBackend>(backend: Arc<B>) -> Router {
    let enrollment = enrollment_router(backend.identity().clone(), backend.hostname().to_owned());
    Router::new()
        .route(paths::HEALTH, get(health::<B>))
        .route(paths::CAPABILITIES, get(capabilities::<B>))
        .route(paths::VMS, get(vm_list::<B>).post(vm_create::<B>))
        .route(paths::VM, get(vm_get::<B>))
        .route(paths::VM_CONSOLE, get(vm_console::<B>))
        .route(paths::VM_STATS, get(vm_stats::<B>))
        .route(paths::VM_ACTION, post(vm_action::<B>))
        .route(paths::STATS_HOST, get(host_stats::<B>))
        .route(paths::STATS_VMS, get(vm_stats_all::<B>))
        .route(paths::EVENTS, get(events::<B>))
        .route(paths::STORAGE_DOMAINS, get(domain_list::<B>).post(domain_create::<B>))
        .route(paths::STORAGE_DOMAIN, get(domain_info::<B>))
        .route(paths::STORAGE_DOMAIN_ATTACH, post(domain_attach::<B>))
        .route(paths::STORAGE_DOMAIN_DETACH, post(domain_detach::<B>))
        .route(paths::VOLUMES, get(volume_list::<B>).post(volume_create::<B>))
        .route(paths::VOLUME, get(volume_info::<B>).delete(volume_delete::<B>))
        .route(paths::VOLUME_RESIZE, post(volume_resize::<B>))
        .route(paths::VOLUME_SPARSIFY, post(volume_sparsify::<B>))
        .with_state(backend)
        .merge(enrollment)
        .fallback(|| async { ApiFailure::new(ErrorKind::NotFound, "no such agent API path (see oxvirt-agent-api v1)") })
        .layer(axum::middleware::from_fn(require_engine))
}

type Backend<B> = State<Arc<B>>;
type Reply<T> = ApiResult<Json<T>>;
type Created<T> = ApiResult<(StatusCode, Json<T>)>;

async fn health<B: AgentBackend>(State(b): Backend<B>) -> Json<v1::Health> {
    Json(v1::Health { status: "ok".to_owned(), version: b.version(), api_versions: vec!["v1".to_owned()] })
}

async fn capabilities<B: AgentBackend>(State(b): Backend<B>) -> Reply<v1::Capabilities> {
    Ok(Json(b.capabilities().await?))
}

async fn vm_list<B: AgentBackend>(State(b): Backend<B>) -> Reply<v1::VmStateList> {
    Ok(Json(b.vm_list().await?))
}

async fn vm_create<B: AgentBackend>(State(b): Backend<B>, Body(spec): Body<v1::VmSpec>) -> Created<v1::VmState> {
    Ok((StatusCode::CREATED, Json(b.vm_create(spec).await?)))
}

async fn vm_get<B: AgentBackend>(State(b): Backend<B>, Path(vm): Path<String>) -> Reply<v1::VmState> {
    Ok(Json(b.vm_get(id(&vm)?)?))
}

async fn vm_action<B: AgentBackend>(
    State(b): Backend<B>,
    Path((vm, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Reply<v1::VmState> {
    let vm: VmId = id(&vm)?;
    let (action, req) = vm_action_parse(&action, &body)?;
    Ok(Json(b.vm_action(vm, action, req).await?))
}

/// The query of `GET /v1/vms/{id}/console`.
#[derive(Debug, Deserialize)]
pub struct ConsoleQuery {
    pub tail_bytes: Option<u64>,
}

async fn vm_console<B: AgentBackend>(
    State(b): Backend<B>,
    Path(vm): Path<String>,
    Query(q): Query<ConsoleQuery>,
) -> Reply<v1::ConsoleTail> {
    Ok(Json(b.vm_console(id(&vm)?, q.tail_bytes.unwrap_or(64 * 1024)).await?))
}

async fn vm_stats<B: AgentBackend>(State(b): Backend<B>, Path(vm): Path<String>) -> Reply<v1::VmStats> {
    Ok(Json(b.vm_stats(id(&vm)?)?))
}

async fn vm_stats_all<B: AgentBackend>(State(b): Backend<B>) -> Json<Vec<v1::VmStats>> {
    Json(b.vm_stats_all())
}

async fn host_stats<B: AgentBackend>(State(b): Backend<B>) -> Reply<v1::HostStats> {
    Ok(Json(b.host_stats()?))
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub from: Option<u64>,
    pub stream_id: Option<String>,
}

async fn events<B: AgentBackend>(State(b): Backend<B>, Query(q): Query<EventsQuery>) -> Response {
    event_stream(b.registry().clone(), q.from, q.stream_id, b.heartbeat())
}

async fn domain_list<B: AgentBackend>(State(b): Backend<B>) -> Reply<Vec<v1::StorageDomainInfo>> {
    Ok(Json(b.storage_domain_list().await?))
}

async fn domain_create<B: AgentBackend>(
    State(b): Backend<B>,
    Body(req): Body<v1::StorageDomainCreate>,
) -> Created<v1::StorageDomainInfo> {
    Ok((StatusCode::CREATED, Json(b.storage_domain_create(req).await?)))
}

async fn domain_info<B: AgentBackend>(State(b): Backend<B>, Path(sd): Path<String>) -> Reply<v1::StorageDomainInfo> {
    Ok(Json(b.storage_domain_info(id(&sd)?).await?))
}

async fn domain_attach<B: AgentBackend>(
    State(b): Backend<B>,
    Path(sd): Path<String>,
    Body(conn): Body<v1::StorageDomainConnection>,
) -> Reply<v1::StorageDomainInfo> {
    Ok(Json(b.storage_domain_attach(id(&sd)?, conn).await?))
}

async fn domain_detach<B: AgentBackend>(State(b): Backend<B>, Path(sd): Path<String>) -> Reply<()> {
    b.storage_domain_detach(id(&sd)?).await?;
    Ok(Json(()))
}

async fn volume_list<B: AgentBackend>(State(b): Backend<B>, Path(sd): Path<String>) -> Reply<v1::VolumeList> {
    Ok(Json(b.volume_list(id(&sd)?).await?))
}

async fn volume_create<B: AgentBackend>(
    State(b): Backend<B>,
    Path(sd): Path<String>,
    Body(req): Body<v1::VolumeCreate>,
) -> Created<v1::VolumeInfo> {
    Ok((StatusCode::CREATED, Json(b.volume_create(id(&sd)?, req).await?)))
}

type VolumePath = Path<(String, String, String)>;

fn volume_ref(Path((sd, img, vol)): VolumePath) -> Result<(StorageDomainId, v1::VolumeRef), ApiFailure> {
    Ok((id(&sd)?, v1::VolumeRef { image_id: id::<DiskId>(&img)?, volume_id: id::<VolumeId>(&vol)? }))
}

async fn volume_info<B: AgentBackend>(State(b): Backend<B>, path: VolumePath) -> Reply<v1::VolumeInfo> {
    let (sd, vol) = volume_ref(path)?;
    Ok(Json(b.volume_info(sd, vol).await?))
}

async fn volume_resize<B: AgentBackend>(
    State(b): Backend<B>,
    path: VolumePath,
    Body(req): Body<v1::VolumeResize>,
) -> Reply<v1::VolumeInfo> {
    let (sd, vol) = volume_ref(path)?;
    Ok(Json(b.volume_resize(sd, vol, req.size).await?))
}

async fn volume_sparsify<B: AgentBackend>(State(b): Backend<B>, path: VolumePath) -> Reply<v1::VolumeInfo> {
    let (sd, vol) = volume_ref(path)?;
    Ok(Json(b.volume_sparsify(sd, vol).await?))
}

async fn volume_delete<B: AgentBackend>(State(b): Backend<B>, path: VolumePath) -> Reply<()> {
    let (sd, vol) = volume_ref(path)?;
    b.volume_delete(sd, vol).await?;
    Ok(Json(()))
}
