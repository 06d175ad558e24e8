//! `oxvirt-sim`: **simulated** host agents for engine tests and scale benchmarks. See the
//! library's docs for what is simulated and what is not.

use clap::Parser;
use oxvirt_sim::{HostParams, Placement, SIMULATED, SimConfig, Simulator};
use oxvirt_types::ByteSize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// SIMULATION: serves N fake host agents (no guests run) that speak the real agent API.
#[derive(Debug, Parser)]
#[command(name = "oxvirt-sim", version)]
struct Args {
    /// How many simulated hosts.
    #[arg(long, default_value_t = 1)]
    hosts: usize,
    /// Host i listens on this address + i (127.0.0.0/8 is all loopback on Linux).
    #[arg(long, default_value = "127.1.0.1")]
    first_address: Ipv4Addr,
    /// The port every host listens on (with --first-address).
    #[arg(long, default_value_t = oxvirt_agent_api::DEFAULT_AGENT_PORT)]
    port: u16,
    /// Instead: every host on 127.0.0.1, host i on port P + i.
    #[arg(long, value_name = "P")]
    base_port: Option<u16>,
    /// Per-host identity and enrollment (kept across restarts).
    #[arg(long)]
    state_dir: PathBuf,
    /// The enrollment secret of every host; without it each host generates one into its state dir.
    #[arg(long, env = "OXVIRT_SIM_ENROLLMENT_SECRET")]
    enrollment_secret: Option<String>,
    #[arg(long, default_value_t = 16)]
    cpus: u32,
    #[arg(long, default_value_t = 64)]
    memory_gib: u64,
    /// Time a VM takes to reach running (the create call returns then).
    #[arg(long, default_value_t = 200)]
    launch_delay_ms: u64,
    /// Time a VM takes to power off after an ACPI shutdown.
    #[arg(long, default_value_t = 500)]
    shutdown_delay_ms: u64,
    #[arg(long, default_value_t = 15)]
    stats_interval_secs: u64,
    /// Heartbeat interval of idle event streams.
    #[arg(long, default_value_t = 15)]
    heartbeat_secs: u64,
    /// Capacity of each simulated storage domain.
    #[arg(long, default_value_t = 1024)]
    storage_gib: u64,
    /// FAULT INJECTION control API (plain HTTP, no authentication): keep it on loopback.
    #[arg(long, value_name = "ADDR:PORT")]
    control: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OXVIRT_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let placement = match args.base_port {
        Some(base) => Placement::Ports { address: Ipv4Addr::LOCALHOST, base },
        None => Placement::Addresses { first: args.first_address, port: args.port },
    };
    let config = SimConfig {
        hosts: args.hosts,
        placement,
        state_dir: args.state_dir,
        enrollment_secret: args.enrollment_secret.filter(|s| !s.is_empty()),
        host: HostParams {
            cpus: args.cpus.max(1),
            memory: ByteSize::from_gib(args.memory_gib.max(1)),
            launch_delay: Duration::from_millis(args.launch_delay_ms),
            shutdown_delay: Duration::from_millis(args.shutdown_delay_ms),
            stats_interval: Duration::from_secs(args.stats_interval_secs.max(1)),
            heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
            storage_capacity: ByteSize::from_gib(args.storage_gib),
        },
    };
    let sim = Arc::new(Simulator::start(config).await?);
    if let (Some(first), Some(last)) = (sim.hosts().first(), sim.hosts().last()) {
        println!(
            "{SIMULATED}: {} simulated hosts, {}:{} .. {}:{}",
            sim.hosts().len(),
            first.address(),
            first.port(),
            last.address(),
            last.port()
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let control = match args.control {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on --control {addr}: {e}"))?;
            let bound = listener.local_addr().unwrap_or(addr);
            println!("{SIMULATED}: fault injection control API on http://{bound}/hosts");
            let mut rx = stop_rx.clone();
            Some(tokio::spawn(oxvirt_sim::control::serve(listener, sim.clone(), async move {
                let _ = rx.wait_for(|s| *s).await;
            })))
        }
        None => None,
    };
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    if let Some(c) = control {
        let _ = c.await;
    }
    sim.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("{SIMULATED}: shutting down");
}
