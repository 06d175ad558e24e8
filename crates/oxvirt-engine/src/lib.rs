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
pub mod serve;

use config::EngineConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// Errors that stop the engine from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid configuration: {0}")]
    Config(String),
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
    let engine = Engine::start(config).await?;
    let handle = engine.handle.clone();
    tokio::spawn(shutdown_on_signal(handle));
    engine.serving().await
}

/// A started engine: its jobs recovered, its hosts monitored, its API served on
/// [`Engine::addr`]. The binary waits for a signal; in-process tests (`EngineTestContext`)
/// keep the handle and [`Engine::stop`] it.
#[derive(Debug)]
pub struct Engine {
    app: std::sync::Arc<app::App>,
    addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    server: tokio::task::JoinHandle<Result<(), EngineError>>,
    /// Held while the engine runs: one engine per data directory.
    _data_dir_lock: std::fs::File,
}

/// Locks the data directory for this engine (`engine.lock`) and reads its engine id
/// (`engine-id`, created at first start): jobs leased by an earlier run with this id are this
/// engine's to take over at once, which is only safe while one engine uses the directory.
fn data_dir_claim(dir: &std::path::Path) -> Result<(std::fs::File, String), EngineError> {
    let io = |path: std::path::PathBuf| move |source| EngineError::DataDir { path, source };
    let lock_path = dir.join("engine.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(lock_path.clone()))?;
    if let Err(e) = lock.try_lock() {
        return Err(EngineError::DataDir {
            path: lock_path,
            source: std::io::Error::other(format!(
                "another engine uses this data directory ({e}); stop it, or give this one another --data-dir"
            )),
        });
    }
    let id_path = dir.join("engine-id");
    let id = match std::fs::read_to_string(&id_path) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::new_v4().to_string();
            std::fs::write(&id_path, format!("{id}\n")).map_err(io(id_path.clone()))?;
            id
        }
    };
    Ok((lock, id))
}

impl Engine {
    /// Opens the data dir, PKI and database, recovers jobs, starts monitoring and serves
    /// HTTPS on `listen_address:https_port` (port 0: any free port; see [`Engine::addr`]).
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let vm_policy =
            app::VmPolicy::new(&config.vm_custom_properties, &config.vm_boot_dirs).map_err(EngineError::Config)?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| EngineError::DataDir { path: config.data_dir.clone(), source })?;
        let (data_dir_lock, engine_id) = data_dir_claim(&config.data_dir)?;
        let pki = pki::EnginePki::load_or_create(&config.data_dir.join("pki"), &config.server_names())?;
        let store = oxvirt_engine_db::Store::open(&config.database_url()).await?;
        let (app, generated) = app::App::open(store, pki.clone(), config.admin_password.clone(), vm_policy).await?;
        if let Some(password) = generated {
            // Printed once, at the creation of admin@internal; it is stored only as a hash.
            println!("admin@internal password (shown once): {password}");
            tracing::warn!("admin@internal was created with a generated password, printed once on standard output");
        }
        // Jobs run on the executor; those an earlier run left unfinished are taken over (resumed
        // or unwound) on their own tasks, without holding up serving.
        app.executor_start(app::saga::ExecutorSettings { engine_id, lease: config.job_lease() });
        // Hosts are watched from now on: their VMs reconciled, their status re-checked.
        app.monitor_start(app::monitor::MonitorSettings {
            reconcile_interval: config.reconcile_interval(),
            host_grace: config.host_grace(),
        })
        .await?;
        app.background_start();

        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            pki.server_cert_pem.clone().into_bytes(),
            pki.server_key_pem.clone().into_bytes(),
        )
        .await
        .map_err(EngineError::Tls)?;

        let addr = SocketAddr::new(config.listen_address, config.https_port);
        let handle = axum_server::Handle::new();
        // Descriptors for every connection the cap allows, the database and the hosts.
        let files = serve::open_files_limit_raise(config.max_connections as u64 + 1024);
        if files < config.max_connections as u64 + 64 {
            tracing::warn!(
                open_files = files,
                max_connections = config.max_connections,
                "the open-files limit is below OXVIRT_MAX_CONNECTIONS: the kernel may refuse connections first; raise `ulimit -n`"
            );
        }
        let header_read_timeout = Duration::from_secs(config.header_read_timeout_seconds.max(1));
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
            .handshake_timeout(serve::HANDSHAKE_TIMEOUT.min(header_read_timeout))
            .acceptor(serve::CappedAcceptor::new(config.max_connections));
        let service = http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn({
            let handle = handle.clone();
            async move {
                let mut server = axum_server::bind(addr).acceptor(acceptor).handle(handle);
                server
                    .http_builder()
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                server
                    .http_builder()
                    .http2()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .keep_alive_interval(Some(header_read_timeout))
                    .keep_alive_timeout(serve::HANDSHAKE_TIMEOUT);
                server.serve(service).await.map_err(|source| EngineError::Serve { addr, source })
            }
        });
        let Some(bound) = handle.listening().await else {
            // The server ended before listening: its error says why.
            return Err(match server.await {
                Ok(Err(e)) => e,
                _ => EngineError::Serve { addr, source: std::io::Error::other("the server ended before listening") },
            });
        };
        tracing::info!(addr = %bound, data_dir = %config.data_dir.display(), "engine listening (HTTPS)");
        Ok(Engine { app, addr: bound, handle, server, _data_dir_lock: data_dir_lock })
    }

    /// Where the API is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The application layer (for in-process tests that look behind the API).
    pub fn app(&self) -> &std::sync::Arc<app::App> {
        &self.app
    }

    /// Stops watching hosts, stops serving (gracefully, for at most 10 s) and waits until the
    /// server has ended. Periodic tasks hold the app weakly and end with it.
    pub async fn stop(self) -> Result<(), EngineError> {
        self.app.monitor_stop();
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.serving().await
    }

    async fn serving(self) -> Result<(), EngineError> {
        let result = match self.server.await {
            Ok(r) => r,
            Err(e) => Err(EngineError::Serve { addr: self.addr, source: std::io::Error::other(e.to_string()) }),
        };
        tracing::info!("engine stopped");
        result
    }
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
