//! `oxvirt-agent`: parse the command line, set up logging, serve the agent API until SIGTERM.

use clap::Parser;
use oxvirt_agent::config::AgentConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OXVIRT_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    oxvirt_agent::run(AgentConfig::parse()).await?;
    Ok(())
}
