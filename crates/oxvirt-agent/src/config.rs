//! Agent configuration: command-line flags, each with an `OXVIRT_AGENT_*` environment variable.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "oxvirt-agent", version, about = "The oxvirt host agent")]
pub struct AgentConfig {
    /// Address and port of the agent API (HTTPS; mTLS once enrolled).
    #[arg(long, env = "OXVIRT_AGENT_LISTEN", default_value = "0.0.0.0:54321")]
    pub listen: SocketAddr,

    /// Where the agent keeps its key, certificates, console logs and state.
    #[arg(long, env = "OXVIRT_AGENT_STATE_DIR", default_value = "/var/lib/oxvirt-agent")]
    pub state_dir: PathBuf,

    /// libvirt connection URI.
    #[arg(long, env = "OXVIRT_AGENT_LIBVIRT_URI", default_value = "qemu:///system")]
    pub libvirt_uri: String,

    /// The secret an engine must present to enroll this host. When unset, one is generated at
    /// first start into `<state-dir>/enrollment-secret`.
    #[arg(long, env = "OXVIRT_AGENT_ENROLLMENT_SECRET", hide_env_values = true)]
    pub enrollment_secret: Option<String>,

    /// Folder of VDSM-style hook scripts (`<dir>/<hook_point>/<executable>`).
    #[arg(long, env = "OXVIRT_AGENT_HOOKS_DIR", default_value = "/etc/oxvirt/hooks")]
    pub hooks_dir: PathBuf,

    /// Directories VM kernels and initrds (direct boot) may come from, comma separated; a file
    /// is judged after its symbolic links are followed.
    #[arg(long, env = "OXVIRT_AGENT_BOOT_DIRS", value_delimiter = ',', default_value = crate::host_files::DEFAULT_BOOT_DIR)]
    pub boot_dirs: Vec<PathBuf>,

    /// Where POSIX and NFS storage connections are mounted (default `<state-dir>/mnt`).
    #[arg(long, env = "OXVIRT_AGENT_MOUNT_ROOT")]
    pub mount_root: Option<PathBuf>,

    /// Seconds between statistics samples.
    #[arg(long, env = "OXVIRT_AGENT_STATS_INTERVAL", default_value_t = 15)]
    pub stats_interval_secs: u64,

    /// Seconds between full reconciles of the VM registry with libvirt.
    #[arg(long, env = "OXVIRT_AGENT_RECONCILE_INTERVAL", default_value_t = 15)]
    pub reconcile_interval_secs: u64,

    /// The QEMU binary the KVM probe runs.
    #[arg(long, env = "OXVIRT_AGENT_QEMU", default_value = "/usr/bin/qemu-system-x86_64")]
    pub qemu_binary: PathBuf,

    /// The user QEMU runs as, whose access to storage directories, kernels and initrds is
    /// checked before they are used (a name or `+uid`; `root` turns the check off). Default:
    /// `user` in `--qemu-conf` (libvirt's default user when it names none).
    #[arg(long, env = "OXVIRT_AGENT_QEMU_USER")]
    pub qemu_user: Option<String>,

    /// libvirt's QEMU driver configuration, read for `user`, `group` and `dynamic_ownership`.
    #[arg(long, env = "OXVIRT_AGENT_QEMU_CONF", default_value = crate::access::DEFAULT_QEMU_CONF)]
    pub qemu_conf: PathBuf,

    /// Seconds a libvirt call may take before the request that made it fails (libvirtd hung).
    #[arg(long, env = "OXVIRT_AGENT_LIBVIRT_CALL_TIMEOUT", default_value_t = 60)]
    pub libvirt_call_timeout_secs: u64,

    /// Seconds starting a domain (QEMU's start) may take.
    #[arg(long, env = "OXVIRT_AGENT_LIBVIRT_CREATE_TIMEOUT", default_value_t = 100)]
    pub libvirt_create_timeout_secs: u64,
}
