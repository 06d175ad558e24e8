//! The HTTP edge of the engine: routing, authentication, content negotiation, rendering.
//! No business rules live here: handlers translate oVirt representations into calls on the
//! [`App`] and back.
//!
//! Paths follow ovirt-engine's so that oVirt clients keep working: the API under
//! `/ovirt-engine/api`, SSO under `/ovirt-engine/sso/oauth/token` and
//! `/ovirt-engine/services/sso-logout`, `/ovirt-engine/services/health` and
//! `/ovirt-engine/services/pki-resource`.
//!
//! Errors are rendered in exactly one place ([`render_faults`]): a handler's [`Failure`]
//! becomes an oVirt `<fault>` (or its JSON form, by the request's `Accept`) with the HTTP
//! status of its [`ErrorKind`].

mod api;
mod extract;
pub(crate) mod repr;
mod sso;

pub use extract::{Accept, ClientAddress, IdPath, JobOpts, Params, Segment};
pub use repr::{Body, FromElement, Removed, Reply, ToElement};

use crate::app::{App, AppError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxvirt_ovirt::{Format, ReprError, fault};
use oxvirt_types::ErrorKind;
use serde::Deserialize;
use std::sync::Arc;

pub type AppState = Arc<App>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ovirt-engine/services/health", get(health))
        .route("/ovirt-engine/services/pki-resource", get(pki_resource))
        .route("/ovirt-engine/sso/oauth/token", post(sso::token))
        .route("/ovirt-engine/services/sso-logout", post(sso::logout))
        // `/ovirt-engine/api/v4` is oVirt's explicit-version alias of the API.
        .nest("/ovirt-engine/api/v4", api::router(app.clone()))
        .nest("/ovirt-engine/api", api::router(app.clone()))
        .layer(axum::middleware::from_fn(render_faults))
        .with_state(app)
}

/// oVirt answers `DB Up!Welcome to Health Status!` once its database answers a query
/// (monitoring scripts grep for it), and an error with `DB Down!` otherwise.
async fn health(State(app): State<AppState>) -> Response {
    match app.health_check().await {
        Ok(()) => "DB Up!Welcome to Health Status!".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "DB Down!").into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct PkiResourceQuery {
    resource: Option<String>,
    format: Option<String>,
}

async fn pki_resource(State(app): State<AppState>, Params(q): Params<PkiResourceQuery>) -> Result<Response, Failure> {
    match (q.resource.as_deref(), q.format.as_deref()) {
        (Some("ca-certificate"), Some("X509-PEM-CA") | None) => {
            Ok(([(header::CONTENT_TYPE, "application/x-x509-ca-cert")], app.pki().ca_cert_pem.clone()).into_response())
        }
        (resource, format) => Err(Failure::new(
            ErrorKind::InvalidInput,
            format!(
                "unsupported pki-resource request (resource={}, format={}): use resource=ca-certificate&format=X509-PEM-CA",
                resource.unwrap_or("-"),
                format.unwrap_or("-")
            ),
        )),
    }
}

/// A failed request on its way to becoming an oVirt fault.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
    /// When to ask again (`Retry-After`, seconds), for throttled or busy refusals.
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), retry_after: None }
    }

    /// oVirt's `reason` for each kind of failure (its detail carries our message).
    fn reason(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidInput => "Bad Request",
            ErrorKind::Unauthenticated => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "Not Found",
            ErrorKind::MethodNotAllowed => "Method Not Allowed",
            ErrorKind::Conflict => "Operation Failed",
            ErrorKind::Throttled => "Too Many Requests",
            ErrorKind::Unavailable => "Service Unavailable",
            ErrorKind::Internal => "Internal Server Error",
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure { retry_after: e.retry_after(), ..Failure::new(e.kind(), e.to_string()) }
    }
}

impl From<ReprError> for Failure {
    fn from(e: ReprError) -> Self {
        Failure::new(e.kind(), e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Renders every [`Failure`] as a fault in the format the request accepts; logs server errors.
async fn render_faults(req: Request, next: Next) -> Response {
    let format = Format::from_accept(req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let Some(failure) = resp.extensions_mut().remove::<Failure>() else { return resp };
    let detail = if failure.kind == ErrorKind::Internal {
        // The text of an internal error (a database message, a path) stays in the log; the
        // client gets a reference to find it there.
        let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        tracing::error!(%method, %path, %reference, detail = %failure.detail, "request failed");
        format!("internal error in the engine; its log has the details under reference {reference}")
    } else {
        tracing::debug!(%method, %path, kind = ?failure.kind, detail = %failure.detail, "request refused");
        failure.detail.clone()
    };
    let status = resp.status();
    let mut out = Reply::new(format, status, &fault(failure.reason(), &detail)).into_response();
    if failure.kind == ErrorKind::Unauthenticated {
        out.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ENGINE\""));
    }
    if let Some(secs) = failure.retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    out
}
