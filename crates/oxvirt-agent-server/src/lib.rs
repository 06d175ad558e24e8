//! The server side of the agent API (`oxvirt-agent-api` v1), shared by the real host agent
//! (`oxvirt-agent`, over libvirt) and the simulated one (`oxvirt-sim`).
//!
//! Why a crate of its own: what makes a host agent *look* like one to the engine — its TLS
//! identity and enrollment ([`tls`]), the VM state registry and its generation-numbered event
//! stream ([`registry`], [`event_stream`]), the route table and the way errors and bodies are
//! rendered ([`router`], [`ApiFailure`], [`Body`]) — must be the same code for both, so that
//! the simulator can be trusted in engine tests and benchmarks. Before this crate the
//! simulator reused those parts by linking the whole real agent, and with it libvirt; now it
//! links neither. A backend implements [`AgentBackend`] (one method per route); the router,
//! the gate (`require_engine`), enrollment and the event stream are written once here.

pub mod registry;
mod routes;
pub mod tls;

pub use routes::{AgentBackend, ConsoleQuery, EventsQuery, router};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use oxvirt_agent_api::v1::{ApiError, EventEnvelope, VmAction, VmActionRequest};
use oxvirt_types::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

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

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiFailure>;

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

/// The action segment and body of `POST /v1/vms/{id}/{action}` (an empty body is the default
/// request).
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

/// The `GET /v1/events` reply for `registry`: the events after `from` (default: the newest
/// generation) of `stream_id`, then each new generation as it is recorded, with a heartbeat
/// line after `heartbeat` of silence. Newline-delimited JSON; never ends by itself.
pub fn event_stream(
    registry: Arc<registry::VmRegistry>,
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
                let next = batch.iter().map(registry::generation_of).max().unwrap_or(from);
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
