//! Engine configuration: command-line flags, each with an `OXVIRT_*` environment variable.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "oxvirt-engine", version, about = "The oxvirt engine (central manager)")]
pub struct EngineConfig {
    /// Where the engine keeps its database, PKI and logs.
    #[arg(long, env = "OXVIRT_DATA_DIR", default_value = "/var/lib/oxvirt")]
    pub data_dir: PathBuf,

    /// HTTPS port of the API.
    #[arg(long, env = "OXVIRT_HTTPS_PORT", default_value_t = 8443)]
    pub https_port: u16,

    /// Address to listen on.
    #[arg(long, env = "OXVIRT_LISTEN_ADDRESS", default_value = "0.0.0.0")]
    pub listen_address: IpAddr,

    /// The database: `sqlite:///path/engine.db` or `postgres://user@host/db`. Default: an
    /// SQLite file `engine.db` in the data dir.
    #[arg(long, env = "OXVIRT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Password of `admin@internal`, used only when the engine creates that user (first
    /// start); when unset then, one is generated and printed once.
    #[arg(long, env = "OXVIRT_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Extra DNS names or IP addresses the server certificate must cover (comma separated).
    /// `localhost`, `127.0.0.1` and this machine's hostname are always covered.
    #[arg(long, env = "OXVIRT_SERVER_NAMES", value_delimiter = ',')]
    pub server_names: Vec<String>,

    /// Seconds between full reconciles of each host's VMs against its agent's full state
    /// (between them, the host's event stream keeps the engine current).
    #[arg(long, env = "OXVIRT_RECONCILE_INTERVAL_SECONDS", default_value_t = 15)]
    pub reconcile_interval_seconds: u64,

    /// Seconds a host's agent may go unanswered before the host is marked non-responsive
    /// (and its running VMs unknown).
    #[arg(long, env = "OXVIRT_HOST_GRACE_SECONDS", default_value_t = 20)]
    pub host_grace_seconds: u64,

    /// Seconds a running job's lease holds without renewal: after that (the engine that ran it
    /// is gone) another engine may take the job over. A restarted engine takes over its own
    /// earlier jobs at once.
    #[arg(long, env = "OXVIRT_JOB_LEASE_SECONDS", default_value_t = 30)]
    pub job_lease_seconds: u64,

    /// VM custom properties the engine accepts besides oVirt's predefined ones (`sap_agent`,
    /// `sndbuf`, `vhost`, `viodiskcache`, `mdev_type`, `hugepages`, `scsi_hostdev`,
    /// `nvram_template`, `extra_cpu_flags`), as oVirt's `UserDefinedVMProperties`:
    /// `name=regex;name=regex`. Values must match the whole pattern. Names need a lowercase
    /// letter (they become environment variables of the hooks, which run as root).
    #[arg(long, env = "OXVIRT_VM_CUSTOM_PROPERTIES", default_value = "")]
    pub vm_custom_properties: String,

    /// Directories of the hosts that VM kernels and initrds (`os.kernel`, `os.initrd`) may come
    /// from (comma separated); each agent checks its own `--boot-dirs` as well.
    #[arg(long, env = "OXVIRT_VM_BOOT_DIRS", value_delimiter = ',', default_value = crate::app::DEFAULT_BOOT_DIR)]
    pub vm_boot_dirs: Vec<PathBuf>,

    /// Connections the API serves at once; past it new connections are closed at once.
    #[arg(long, env = "OXVIRT_MAX_CONNECTIONS", default_value_t = crate::serve::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Seconds a client may take to send a request's headers, and a kept-alive connection may
    /// stay idle before its next request.
    #[arg(long, env = "OXVIRT_HEADER_READ_TIMEOUT_SECONDS", default_value_t = crate::serve::DEFAULT_HEADER_READ_TIMEOUT.as_secs())]
    pub header_read_timeout_seconds: u64,
}

impl EngineConfig {
    /// The database URL: the configured one, else `sqlite://<data-dir>/engine.db`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("engine.db").display()))
    }

    /// How often each host is fully reconciled (at least one second).
    pub fn reconcile_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.reconcile_interval_seconds.max(1))
    }

    /// How long a job's lease holds (at least one second).
    pub fn job_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_lease_seconds.max(1))
    }

    /// How long an unanswering host stays Up before it is marked non-responsive.
    pub fn host_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.host_grace_seconds)
    }

    /// All names the server certificate covers, de-duplicated, in a stable order.
    pub fn server_names(&self) -> Vec<String> {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        if let Some(host) = hostname() {
            names.push(host);
        }
        names.extend(self.server_names.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()));
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
