//! **FAULT INJECTION for reliability tests.** The simulator's control API: plain HTTP, no
//! authentication — bind it to a loopback address only.
//!
//! | method & path | effect |
//! | --- | --- |
//! | `GET /hosts` | every simulated host: index, address, port, host id, enrolled, frozen, VM counts |
//! | `POST /hosts/{n}/freeze[?mode=refuse\|hang]` | host `n` stops answering: open connections drop; new ones are refused (default) or hang |
//! | `POST /hosts/{n}/thaw` | host `n` answers again |
//! | `POST /hosts/{n}/vms/{id}/crash` | VM `id` on host `n` goes down with reason `crashed` (and an event) |
//!
//! `n` is the host's index (0-based, as `GET /hosts` lists it).

use crate::host::FreezeMode;
use crate::{SIMULATED, SimHost, Simulator};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use oxvirt_types::{HostId, VmId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `GET /hosts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostList {
    /// Always says this is a simulation and a fault injection API.
    pub simulation: String,
    pub hosts: Vec<HostSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostSummary {
    pub index: usize,
    pub address: String,
    pub port: u16,
    pub host_id: HostId,
    pub hostname: String,
    pub enrolled: bool,
    pub frozen: bool,
    /// VMs not down.
    pub vms_running: usize,
    /// VMs the host reports, down ones included.
    pub vms_known: usize,
}

impl HostSummary {
    pub fn of(h: &SimHost) -> Self {
        Self {
            index: h.index,
            address: h.address().to_string(),
            port: h.port(),
            host_id: h.host_id(),
            hostname: h.hostname().to_owned(),
            enrolled: h.identity().is_enrolled(),
            frozen: h.is_frozen(),
            vms_running: h.live_vm_count(),
            vms_known: h.registry().snapshot().vms.len(),
        }
    }
}

/// The control router over `sim`'s hosts.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/hosts", get(hosts))
        .route("/hosts/{n}/freeze", post(freeze))
        .route("/hosts/{n}/thaw", post(thaw))
        .route("/hosts/{n}/vms/{id}/crash", post(crash))
        .fallback(|| async {
            failure(
                StatusCode::NOT_FOUND,
                "no such control path: see GET /hosts, POST /hosts/{n}/freeze|thaw, POST /hosts/{n}/vms/{id}/crash",
            )
        })
        .with_state(sim)
}

fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "simulation": SIMULATED, "error": message.into() });
    (status, Json(body)).into_response()
}

fn host(sim: &Simulator, n: usize) -> Result<&Arc<SimHost>, Box<Response>> {
    sim.host(n).ok_or_else(|| {
        Box::new(failure(
            StatusCode::NOT_FOUND,
            format!("no simulated host {n}: hosts are numbered 0..{}", sim.hosts().len()),
        ))
    })
}

async fn hosts(State(sim): State<Arc<Simulator>>) -> Json<HostList> {
    Json(HostList {
        simulation: format!("{SIMULATED}: fault injection control API"),
        hosts: sim.hosts().iter().map(|h| HostSummary::of(h)).collect(),
    })
}

#[derive(Debug, Deserialize)]
struct FreezeQuery {
    #[serde(default)]
    mode: FreezeMode,
}

async fn freeze(State(sim): State<Arc<Simulator>>, Path(n): Path<usize>, Query(q): Query<FreezeQuery>) -> Response {
    match host(&sim, n) {
        Ok(h) => match h.freeze(q.mode).await {
            Ok(()) => Json(HostSummary::of(h)).into_response(),
            Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(r) => *r,
    }
}

async fn thaw(State(sim): State<Arc<Simulator>>, Path(n): Path<usize>) -> Response {
    match host(&sim, n) {
        Ok(h) => match h.thaw().await {
            Ok(()) => Json(HostSummary::of(h)).into_response(),
            Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(r) => *r,
    }
}

async fn crash(State(sim): State<Arc<Simulator>>, Path((n, vm)): Path<(usize, String)>) -> Response {
    let h = match host(&sim, n) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let Ok(vm) = vm.parse::<VmId>() else {
        return failure(StatusCode::BAD_REQUEST, format!("'{vm}' is not a VM id"));
    };
    match h.vm_crash(vm) {
        Ok(state) => Json(state).into_response(),
        Err(e) => failure(StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::NOT_FOUND), e.to_string()),
    }
}

/// Serves the control API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim)).with_graceful_shutdown(shutdown).await
}
