//! The oxvirt host agent: the only part of oxvirt that touches libvirt, QEMU, disk images and
//! host networking on a host (VDSM's role in oVirt).
//!
//! Today it serves the unauthenticated health endpoint of the agent API ([`api`]); the VM
//! lifecycle over libvirt, storage, networks, hooks and the mTLS transport come with the host
//! agent issue and slot in as sibling modules of `api`.

pub mod api;
pub mod config;
pub mod hooks;
pub mod host;
pub mod hypervisor;
pub mod network;
pub mod storage;
pub mod tls;

use anyhow::Context as _;
use config::AgentConfig;

/// Serves the agent API until SIGTERM or Ctrl-C.
pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state dir {}", config.state_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is another agent running? see --listen)", config.listen))?;
    tracing::info!(addr = %config.listen, state_dir = %config.state_dir.display(), "agent listening");
    axum::serve(listener, api::router())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("agent API server failed")?;
    tracing::info!("agent stopped");
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}
