//! The oxvirt engine: the central manager (oVirt's ovirt-engine role).
//!
//! Layering, top to bottom: [`http`] parses requests and renders replies; the app layer
//! (business rules) and the store (the only SQL) come with the engine issue and slot in
//! beneath it. Today the engine owns its PKI ([`pki`]) and answers health and CA requests.

pub mod agent_client;
pub mod auth;
pub mod config;
pub mod http;
pub mod model;
pub mod ovirt;
pub mod pki;
pub mod store;

use anyhow::Context as _;
use config::EngineConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// Runs the engine until SIGTERM or Ctrl-C, then shuts the HTTPS server down gracefully.
pub async fn run(config: EngineConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let pki = pki::EnginePki::load_or_create(&config.data_dir.join("pki"), &config.server_names())
        .context("cannot set up the engine's certificate authority")?;

    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        pki.server_cert_pem.clone().into_bytes(),
        pki.server_key_pem.clone().into_bytes(),
    )
    .await
    .context("cannot load the engine's server certificate")?;

    let addr = SocketAddr::new(config.listen_address, config.https_port);
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));

    let app = http::router(http::AppState::new(pki));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "engine listening (HTTPS)");
    axum_server::bind_rustls(addr, tls)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .with_context(|| format!("cannot serve HTTPS on {addr} (is the port in use? set OXVIRT_HTTPS_PORT)"))?;
    tracing::info!("engine stopped");
    Ok(())
}

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
