//! The agent API server (contract: `oxvirt-agent-api`). Handlers parse and render only.

use axum::routing::get;
use axum::{Json, Router};
use oxvirt_agent_api::v1;

pub fn router() -> Router {
    Router::new().route(v1::HEALTH_PATH, get(health))
}

async fn health() -> Json<v1::Health> {
    Json(v1::Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api_versions: vec!["v1".to_owned()],
    })
}
