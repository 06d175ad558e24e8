//! The HTTP edge of the engine: routing, parsing, rendering. No business rules live here.
//!
//! Paths follow ovirt-engine's so that oVirt clients and monitoring keep working:
//! `/ovirt-engine/services/health` (load balancers poll it) and
//! `/ovirt-engine/services/pki-resource` (clients fetch the CA from it).

use crate::pki::EnginePki;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pki: Arc<EnginePki>,
}

impl AppState {
    pub fn new(pki: EnginePki) -> Self {
        Self { pki: Arc::new(pki) }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ovirt-engine/services/health", get(health))
        .route("/ovirt-engine/services/pki-resource", get(pki_resource))
        .with_state(state)
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

async fn pki_resource(State(state): State<AppState>, Query(q): Query<PkiResourceQuery>) -> Response {
    match (q.resource.as_deref(), q.format.as_deref()) {
        (Some("ca-certificate"), Some("X509-PEM-CA") | None) => {
            ([(header::CONTENT_TYPE, "application/x-x509-ca-cert")], state.pki.ca_cert_pem.clone()).into_response()
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
