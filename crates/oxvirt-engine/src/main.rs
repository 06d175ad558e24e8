//! `oxvirt-engine`: parse the command line, set up logging, run the engine until SIGTERM.

use clap::Parser;
use oxvirt_engine::config::EngineConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OXVIRT_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let config = EngineConfig::parse();
    oxvirt_engine::run(config).await?;
    Ok(())
}
