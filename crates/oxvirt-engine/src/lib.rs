//! The oxvirt engine: the central manager (oVirt's ovirt-engine role).
//!
//! Layering, top to bottom: [`http`] authenticates, parses requests and renders oVirt
//! representations (`oxvirt-ovirt`); [`app`] holds the business rules and the one
//! authorization check; the store (`oxvirt-engine-db`, the only SQL) keeps the model. Beside
//! them: [`pki`] (the engine's CA), [`auth`] (password hashes, SSO tokens), and
//! `oxvirt-agent-client` (the mTLS client of the host agents).

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod pki;

use config::EngineConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// Errors that stop the engine from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot create the data dir {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot set up the engine's certificate authority: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("cannot open the database: {0}")]
    Store(#[from] oxvirt_engine_db::StoreError),
    #[error("cannot start: {0}")]
    App(#[from] app::AppError),
    #[error("cannot load the engine's server certificate: {0}")]
    Tls(std::io::Error),
    #[error("cannot serve HTTPS on {addr}: {source} (is the port in use? set OXVIRT_HTTPS_PORT)")]
    Serve { addr: SocketAddr, source: std::io::Error },
}

/// Runs the engine until SIGTERM or Ctrl-C, then shuts the HTTPS server down gracefully.
pub async fn run(config: EngineConfig) -> Result<(), EngineError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| EngineError::DataDir { path: config.data_dir.clone(), source })?;
    let pki = pki::EnginePki::load_or_create(&config.data_dir.join("pki"), &config.server_names())?;
    let store = oxvirt_engine_db::Store::open(&config.database_url()).await?;
    let (app, generated) = app::App::open(store, pki.clone(), config.admin_password.clone()).await?;
    if let Some(password) = generated {
        // Printed once, at the creation of admin@internal; it is stored only as a hash.
        println!("admin@internal password (shown once): {password}");
        tracing::warn!("admin@internal was created with a generated password, printed once on standard output");
    }
    // Jobs a previous run left unfinished are completed or rolled back before anything else.
    app.jobs_recover().await?;
    // Hosts are watched from now on: their VMs reconciled, their status re-checked.
    app.monitor_start(app::monitor::MonitorSettings {
        reconcile_interval: config.reconcile_interval(),
        host_grace: config.host_grace(),
    })
    .await?;

    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        pki.server_cert_pem.clone().into_bytes(),
        pki.server_key_pem.clone().into_bytes(),
    )
    .await
    .map_err(EngineError::Tls)?;

    let addr = SocketAddr::new(config.listen_address, config.https_port);
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));

    tracing::info!(%addr, data_dir = %config.data_dir.display(), "engine listening (HTTPS)");
    // TCP_NODELAY: a reply written in several pieces must not wait for the client's delayed
    // ACK (Nagle's algorithm), which added ~40 ms to some replies (B3's p99 in docs/BENCHMARKS.md).
    let acceptor =
        axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(axum_server::accept::NoDelayAcceptor::new());
    axum_server::bind(addr)
        .acceptor(acceptor)
        .handle(handle)
        .serve(http::router(app).into_make_service())
        .await
        .map_err(|source| EngineError::Serve { addr, source })?;
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
