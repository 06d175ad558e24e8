//! The agent API server (contract: `oxvirt-agent-api`). Handlers parse, call the layer below
//! and render; errors of every module become an [`ApiError`] reply here, in one place.

use crate::Agent;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt as _;
use oxvirt_agent_api::v1::{self, ApiError, EventEnvelope, VmAction, VmActionRequest};
use oxvirt_types::{DiskId, ErrorKind, StorageDomainId, VmId, VolumeId};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle event stream carries a heartbeat line.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// An error on its way to the client: a kind (→ HTTP status) and a message.
#[derive(Debug)]
pub struct ApiFailure(ApiError);

impl ApiFailure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(ApiError { kind, message: message.into() })
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(message = %self.0.message, "request failed");
        }
        (status, Json(self.0)).into_response()
    }
}

macro_rules! failure_from {
    ($($ty:ty),+) => {$(
        impl From<$ty> for ApiFailure {
            fn from(e: $ty) -> Self {
                Self::new(e.kind(), e.to_string())
            }
        }
    )+};
}
failure_from!(crate::vms::VmError, crate::storage::StorageError, crate::AgentError);

type ApiResult<T> = Result<Json<T>, ApiFailure>;

/// `Json<T>` whose rejections (malformed JSON, wrong fields) are [`ApiFailure`]s with kind
/// `invalid_input` and serde's explanation, never axum's plain-text replies.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiFailure;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiFailure::new(ErrorKind::InvalidInput, rejection_message(&e))),
        }
    }
}

fn rejection_message(e: &JsonRejection) -> String {
    format!("malformed request body: {}", e.body_text())
}

/// Parses a typed id from a path segment; a bad one is a 400 naming the kind.
pub fn id<T: std::str::FromStr<Err = oxvirt_types::ids::IdParseError>>(text: &str) -> Result<T, ApiFailure> {
    text.parse::<T>().map_err(|e| ApiFailure::new(ErrorKind::InvalidInput, e.to_string()))
}

pub fn router(agent: Arc<Agent>) -> Router {
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
        .with_state(agent.clone())
        .merge(crate::tls::enrollment_router(agent.identity.clone(), agent.hostname.clone()))
        .fallback(|| async { ApiFailure::new(ErrorKind::NotFound, "no such agent API path (see oxvirt-agent-api v1)") })
        .layer(axum::middleware::from_fn(crate::tls::require_engine))
}

async fn health() -> Json<v1::Health> {
    Json(v1::Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_versions: vec!["v1".to_owned()],
    })
}

async fn capabilities(State(a): State<Arc<Agent>>) -> ApiResult<v1::Capabilities> {
    Ok(Json(a.capabilities().await?))
}

async fn vm_list(State(a): State<Arc<Agent>>) -> ApiResult<v1::VmStateList> {
    Ok(Json(a.vms.vm_list().await?))
}

async fn vm_create(
    State(a): State<Arc<Agent>>,
    Body(spec): Body<v1::VmSpec>,
) -> Result<(StatusCode, Json<v1::VmState>), ApiFailure> {
    Ok((StatusCode::CREATED, Json(a.vms.vm_create(spec).await?)))
}

async fn vm_get(State(a): State<Arc<Agent>>, Path(vm): Path<String>) -> ApiResult<v1::VmState> {
    Ok(Json(a.vms.vm_get(id(&vm)?)?))
}

async fn vm_action(
    State(a): State<Arc<Agent>>,
    Path((vm, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<v1::VmState> {
    let vm: VmId = id(&vm)?;
    let (action, req) = vm_action_parse(&action, &body)?;
    Ok(Json(a.vms.vm_action(vm, action, req).await?))
}

/// The action segment and body of `POST /v1/vms/{id}/{action}` (an empty body is the default
/// request). Public for the simulated agent, which must parse them the same way.
pub fn vm_action_parse(action: &str, body: &[u8]) -> Result<(VmAction, VmActionRequest), ApiFailure> {
    let action = VmAction::from_path(action).ok_or_else(|| {
        let known: Vec<&str> = VmAction::ALL.iter().map(|a| a.as_str()).collect();
        ApiFailure::new(ErrorKind::NotFound, format!("unknown VM action '{action}'; known: {}", known.join(", ")))
    })?;
    let req: VmActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        VmActionRequest::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiFailure::new(ErrorKind::InvalidInput, format!("malformed action body: {e}")))?
    };
    Ok((action, req))
}

/// The query of `GET /v1/vms/{id}/console`.
#[derive(Debug, Deserialize)]
pub struct ConsoleQuery {
    pub tail_bytes: Option<u64>,
}

async fn vm_console(
    State(a): State<Arc<Agent>>,
    Path(vm): Path<String>,
    Query(q): Query<ConsoleQuery>,
) -> ApiResult<v1::ConsoleTail> {
    Ok(Json(a.vms.console_tail(id(&vm)?, q.tail_bytes.unwrap_or(64 * 1024)).await?))
}

async fn vm_stats(State(a): State<Arc<Agent>>, Path(vm): Path<String>) -> ApiResult<v1::VmStats> {
    let vm: VmId = id(&vm)?;
    a.vms.vm_get(vm)?;
    a.stats.vm(vm).map(Json).ok_or_else(|| {
        ApiFailure::new(
            ErrorKind::NotFound,
            format!("no statistics sampled yet for VM {vm}; they come every stats interval"),
        )
    })
}

async fn vm_stats_all(State(a): State<Arc<Agent>>) -> ApiResult<Vec<v1::VmStats>> {
    Ok(Json(a.stats.vms()))
}

async fn host_stats(State(a): State<Arc<Agent>>) -> ApiResult<v1::HostStats> {
    a.stats
        .host()
        .map(Json)
        .ok_or_else(|| ApiFailure::new(ErrorKind::Unavailable, "host statistics are not sampled yet"))
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub from: Option<u64>,
    pub stream_id: Option<String>,
}

/// Streams events as newline-delimited JSON: first everything after `from`, then each new
/// generation as it is recorded, with a heartbeat line when idle. Never ends by itself.
async fn events(State(a): State<Arc<Agent>>, Query(q): Query<EventsQuery>) -> Response {
    event_stream(a.vms.registry().clone(), q.from, q.stream_id, HEARTBEAT_EVERY)
}

/// The `GET /v1/events` reply for `registry`: the events after `from` (default: the newest
/// generation) of `stream_id`, then each new generation as it is recorded, with a heartbeat
/// line after `heartbeat` of silence. Public so that the simulated agent (`oxvirt-sim`) serves
/// exactly the same stream.
pub fn event_stream(
    registry: Arc<crate::registry::VmRegistry>,
    from: Option<u64>,
    stream_id: Option<String>,
    heartbeat: Duration,
) -> Response {
    let start = from.unwrap_or_else(|| registry.generation());
    let rx = registry.subscribe();
    let state = (registry, rx, start, stream_id);
    let lines = futures::stream::unfold(state, move |(registry, mut rx, from, stream_id)| async move {
        loop {
            let batch = registry.events_since(stream_id.as_deref(), from);
            if !batch.is_empty() {
                let next = batch.iter().map(crate::registry::generation_of).max().unwrap_or(from);
                let mut text = String::new();
                for e in &batch {
                    text.push_str(&serde_json::to_string(e).unwrap_or_default());
                    text.push('\n');
                }
                // After a resync the client continues in this stream.
                let stream_id = Some(registry.stream_id().to_owned());
                return Some((Ok::<_, std::convert::Infallible>(text), (registry, rx, next, stream_id)));
            }
            match tokio::time::timeout(heartbeat, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return None, // registry gone: agent shutting down
                Err(_) => {
                    let hb = EventEnvelope::Heartbeat { stream_id: registry.stream_id().to_owned(), generation: from };
                    let text = format!("{}\n", serde_json::to_string(&hb).unwrap_or_default());
                    return Some((Ok(text), (registry, rx, from, stream_id)));
                }
            }
        }
    });
    ([(axum::http::header::CONTENT_TYPE, "application/x-ndjson")], axum::body::Body::from_stream(lines.boxed()))
        .into_response()
}

async fn domain_list(State(a): State<Arc<Agent>>) -> ApiResult<Vec<v1::StorageDomainInfo>> {
    let mut out = Vec::new();
    for sd in a.storage.domain_ids() {
        out.push(a.storage.domain_info(sd).await?);
    }
    Ok(Json(out))
}

async fn domain_create(
    State(a): State<Arc<Agent>>,
    Body(req): Body<v1::StorageDomainCreate>,
) -> Result<(StatusCode, Json<v1::StorageDomainInfo>), ApiFailure> {
    Ok((StatusCode::CREATED, Json(a.storage.domain_create(&req).await?)))
}

async fn domain_info(State(a): State<Arc<Agent>>, Path(sd): Path<String>) -> ApiResult<v1::StorageDomainInfo> {
    Ok(Json(a.storage.domain_info(id::<StorageDomainId>(&sd)?).await?))
}

async fn domain_attach(
    State(a): State<Arc<Agent>>,
    Path(sd): Path<String>,
    Body(conn): Body<v1::StorageDomainConnection>,
) -> ApiResult<v1::StorageDomainInfo> {
    Ok(Json(a.storage.domain_attach(id(&sd)?, &conn).await?))
}

async fn domain_detach(State(a): State<Arc<Agent>>, Path(sd): Path<String>) -> ApiResult<()> {
    a.storage.domain_detach(id(&sd)?).await?;
    Ok(Json(()))
}

async fn volume_create(
    State(a): State<Arc<Agent>>,
    Path(sd): Path<String>,
    Body(req): Body<v1::VolumeCreate>,
) -> Result<(StatusCode, Json<v1::VolumeInfo>), ApiFailure> {
    Ok((StatusCode::CREATED, Json(a.storage.volume_create(id(&sd)?, &req).await?)))
}

fn volume_ref(img: &str, vol: &str) -> Result<v1::VolumeRef, ApiFailure> {
    Ok(v1::VolumeRef { image_id: id::<DiskId>(img)?, volume_id: id::<VolumeId>(vol)? })
}

async fn volume_info(
    State(a): State<Arc<Agent>>,
    Path((sd, img, vol)): Path<(String, String, String)>,
) -> ApiResult<v1::VolumeInfo> {
    Ok(Json(a.storage.volume_info(id(&sd)?, volume_ref(&img, &vol)?).await?))
}

async fn volume_resize(
    State(a): State<Arc<Agent>>,
    Path((sd, img, vol)): Path<(String, String, String)>,
    Body(req): Body<v1::VolumeResize>,
) -> ApiResult<v1::VolumeInfo> {
    Ok(Json(a.storage.volume_resize(id(&sd)?, volume_ref(&img, &vol)?, req.size).await?))
}

async fn volume_delete(
    State(a): State<Arc<Agent>>,
    Path((sd, img, vol)): Path<(String, String, String)>,
) -> ApiResult<()> {
    a.storage.volume_delete(id(&sd)?, volume_ref(&img, &vol)?).await?;
    Ok(Json(()))
}
