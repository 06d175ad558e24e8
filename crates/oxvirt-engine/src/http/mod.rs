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
mod sso;

use crate::app::{App, AppError};
use axum::Router;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxvirt_ovirt::{Element, Format, ReprError, fault};
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
        .nest("/ovirt-engine/api", api::router(app.clone()))
        .layer(axum::middleware::from_fn(render_faults))
        .with_state(app)
}

/// oVirt answers `DB Up!Welcome to Health Status!`; monitoring scripts grep for it.
async fn health() -> &'static str {
    "DB Up!Welcome to Health Status!"
}

#[derive(Debug, Deserialize)]
struct PkiResourceQuery {
    resource: Option<String>,
    format: Option<String>,
}

async fn pki_resource(State(app): State<AppState>, Query(q): Query<PkiResourceQuery>) -> Response {
    match (q.resource.as_deref(), q.format.as_deref()) {
        (Some("ca-certificate"), Some("X509-PEM-CA") | None) => {
            ([(header::CONTENT_TYPE, "application/x-x509-ca-cert")], app.pki().ca_cert_pem.clone()).into_response()
        }
        (resource, format) => (
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported pki-resource request (resource={}, format={}): use resource=ca-certificate&format=X509-PEM-CA\n",
                resource.unwrap_or("-"),
                format.unwrap_or("-")
            ),
        )
            .into_response(),
    }
}

/// A failed request on its way to becoming an oVirt fault.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }

    /// oVirt's `reason` for each kind of failure (its detail carries our message).
    fn reason(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidInput => "Bad Request",
            ErrorKind::Unauthenticated => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "Not Found",
            ErrorKind::Conflict => "Operation Failed",
            ErrorKind::Unavailable => "Service Unavailable",
            ErrorKind::Internal => "Internal Server Error",
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::new(e.kind(), e.to_string())
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
    if failure.kind == ErrorKind::Internal {
        tracing::error!(%method, %path, detail = %failure.detail, "request failed");
    } else {
        tracing::debug!(%method, %path, kind = ?failure.kind, detail = %failure.detail, "request refused");
    }
    let status = resp.status();
    let mut out = Reply::new(format, status, &fault(failure.reason(), &failure.detail)).into_response();
    if failure.kind == ErrorKind::Unauthenticated {
        out.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ENGINE\""));
    }
    out
}

/// A rendered oVirt representation.
#[derive(Debug)]
pub struct Reply {
    format: Format,
    status: StatusCode,
    body: String,
}

impl Reply {
    pub fn new(format: Format, status: StatusCode, root: &Element) -> Self {
        Self { format, status, body: format.render(root) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, self.format.content_type())], self.body).into_response()
    }
}

/// The reply format the request asked for (`Accept`).
#[derive(Debug, Clone, Copy)]
pub struct Accept(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for Accept {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Accept(Format::from_accept(parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))))
    }
}
