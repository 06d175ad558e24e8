//! Agent configuration: command-line flags, each with an `OXVIRT_AGENT_*` environment variable.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "oxvirt-agent", version, about = "The oxvirt host agent")]
pub struct AgentConfig {
    /// Address and port of the agent API.
    #[arg(long, env = "OXVIRT_AGENT_LISTEN", default_value = "127.0.0.1:54321")]
    pub listen: SocketAddr,

    /// Where the agent keeps its key, certificates and state.
    #[arg(long, env = "OXVIRT_AGENT_STATE_DIR", default_value = "/var/lib/oxvirt-agent")]
    pub state_dir: PathBuf,

    /// libvirt connection URI.
    #[arg(long, env = "OXVIRT_AGENT_LIBVIRT_URI", default_value = "qemu:///system")]
    pub libvirt_uri: String,
}
