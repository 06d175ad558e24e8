//! The HTTP side of the transport: the [`require_engine`] gate and the enrollment endpoints.

use super::{AgentIdentity, Peer, TlsError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use oxvirt_agent_api::v1;
use oxvirt_types::ErrorKind;
use std::sync::Arc;

/// `POST` (begin) and `PUT` (complete) enrollment.
pub const ENROLLMENT_PATH: &str = v1::paths::ENROLLMENT;

/// Whether the server configuration of the connection's handshake was the enrolled one; set
/// by [`super::serve`] next to the [`Peer`], so the 401 can say *why* the call is refused.
#[derive(Clone, Copy, Debug)]
pub(super) struct EnrolledAtHandshake(pub(super) bool);

/// axum middleware (`axum::middleware::from_fn(require_engine)`) for the agent API: lets
/// `GET /v1/health` and the enrollment calls through (they authenticate by other means), and
/// answers every other request with 401 and an [`v1::ApiError`] unless the connection's
/// client certificate was issued by the engine's CA ([`Peer::Engine`]).
pub async fn require_engine(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == v1::HEALTH_PATH || path == ENROLLMENT_PATH || req.extensions().get::<Peer>() == Some(&Peer::Engine) {
        return next.run(req).await;
    }
    let enrolled = req.extensions().get::<EnrolledAtHandshake>().is_some_and(|e| e.0);
    let message = if enrolled {
        "this call needs a client certificate issued by the engine's CA: only the engine that enrolled this host may \
         make it"
    } else {
        "this host is not enrolled: add it to an engine with its enrollment secret"
    };
    api_error(ErrorKind::Unauthenticated, message)
}

/// The enrollment endpoints ([`ENROLLMENT_PATH`]), to merge into the agent API's router.
/// `hostname` is reported to the engine in the challenge.
pub fn enrollment_router(identity: Arc<AgentIdentity>, hostname: String) -> Router {
    Router::new()
        .route(ENROLLMENT_PATH, post(enrollment_begin).put(enrollment_complete))
        .with_state(Arc::new(EnrollmentState { identity, hostname }))
}

#[derive(Debug)]
struct EnrollmentState {
    identity: Arc<AgentIdentity>,
    hostname: String,
}

async fn enrollment_begin(
    State(state): State<Arc<EnrollmentState>>,
    peer: Option<Extension<Peer>>,
    body: Result<Json<v1::EnrollmentRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(rejection) => return bad_body(rejection),
    };
    let peer = peer.map_or(Peer::Anonymous, |Extension(peer)| peer);
    // Key generation and file writes: off the async worker threads.
    let outcome =
        tokio::task::spawn_blocking(move || state.identity.enrollment_begin(&req, &state.hostname, peer)).await;
    render(outcome)
}

async fn enrollment_complete(
    State(state): State<Arc<EnrollmentState>>,
    peer: Option<Extension<Peer>>,
    body: Result<Json<v1::EnrollmentCompletion>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(rejection) => return bad_body(rejection),
    };
    let peer = peer.map_or(Peer::Anonymous, |Extension(peer)| peer);
    let outcome = tokio::task::spawn_blocking(move || state.identity.enrollment_complete(&req, peer)).await;
    render(outcome)
}

fn render<T: serde::Serialize>(outcome: Result<Result<T, TlsError>, tokio::task::JoinError>) -> Response {
    match outcome {
        Ok(Ok(reply)) => Json(reply).into_response(),
        Ok(Err(e)) => {
            if e.kind() == ErrorKind::Internal {
                tracing::error!(error = %e, "enrollment failed");
            }
            api_error(e.kind(), e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "enrollment task failed");
            api_error(ErrorKind::Internal, "the enrollment failed unexpectedly: see the agent's log")
        }
    }
}

fn bad_body(rejection: JsonRejection) -> Response {
    api_error(ErrorKind::InvalidInput, format!("the enrollment request body is not valid: {}", rejection.body_text()))
}

/// Rendered by the API layer's one error renderer, like every other agent error.
fn api_error(kind: ErrorKind, message: impl Into<String>) -> Response {
    crate::ApiFailure::new(kind, message).into_response()
}
