//! Test hosts: isolated "hypervisors" on one machine, each with a private libvirtd.
//!
//! Layout of one host (see the crate docs for why):
//! - network namespace `oxtN-<name>` with `eth0` (veth, peer on the test bridge) at
//!   `198.18.N.<k>`, and `lo`;
//! - an *anchor* process (`sleep infinity`) that owns a private mount + UTS namespace in
//!   which `/run` is a fresh tmpfs and `/var/lib/libvirt`, `/var/log/libvirt`,
//!   `/var/cache/libvirt`, `/etc/libvirt` are bind mounts of the host's own state dir;
//! - `virtlogd` and `libvirtd --listen` started in those namespaces as our children
//!   (foreground, so their PIDs are ours to stop), `libvirtd` listening on TCP 16509 of the
//!   host's address for peer-to-peer migration.
//!
//! Commands run "on" the host through `nsenter -t <anchor> -m -n -u`.

use crate::net::{TestNetwork, remove_netns_and_its_processes};
use crate::proc::{self, run, run_stdout, stop_child, tail};
use crate::{Result, TestkitError, wait};
use std::io::BufRead as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long libvirtd may take to answer after start (TCG probing is slow on 2 cores).
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What a test may choose about a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Short name, also the host's hostname (`[a-z0-9-]`, at most 20 characters).
    pub name: String,
    /// libvirt `host_uuid`; random when `None`. Must differ between hosts for migration.
    pub host_uuid: Option<Uuid>,
}

impl HostOptions {
    pub fn named(name: &str) -> Self {
        Self { name: name.to_owned(), host_uuid: None }
    }
}

/// One running test host. Dropping it tears it down (see [`TestHost::teardown`]).
#[derive(Debug)]
pub struct TestHost {
    net: Arc<TestNetwork>,
    name: String,
    netns: String,
    address: Ipv4Addr,
    host_uuid: Uuid,
    dir: PathBuf,
    anchor: Option<Child>,
    virtlogd: Option<Child>,
    libvirtd: Option<Child>,
    spawned: Vec<(String, Child)>,
    torn_down: bool,
}

impl TestHost {
    /// Starts a host on `net` and returns once its libvirtd answers and is warmed up.
    pub fn start(net: &Arc<TestNetwork>, options: HostOptions) -> Result<Self> {
        let name = options.name;
        if name.is_empty()
            || name.len() > 20
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(TestkitError::Setup(format!(
                "test host name '{name}' must be 1-20 characters of a-z, 0-9 and '-'"
            )));
        }
        for dir in ["/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/etc/libvirt"] {
            if !Path::new(dir).is_dir() {
                return Err(TestkitError::Setup(format!(
                    "{dir} is missing (a test host mounts its own over it): run scripts/install-deps.sh test"
                )));
            }
        }
        let number = net.next_host_number()?;
        let netns = format!("{}{name}", net.netns_prefix());
        let dir = crate::base_dir().join(format!("{}-{netns}", std::process::id()));
        let mut host = Self {
            net: net.clone(),
            name,
            address: net.host_address(number),
            host_uuid: options.host_uuid.unwrap_or_else(Uuid::new_v4),
            netns,
            dir,
            anchor: None,
            virtlogd: None,
            libvirtd: None,
            spawned: Vec::new(),
            torn_down: false,
        };
        // Any error from here on drops `host`, which tears down whatever was made.
        host.write_state_dir()?;
        host.create_network(number)?;
        host.start_anchor()?;
        host.start_daemons()?;
        host.virsh(&["domcapabilities", "--virttype", "qemu"])?; // warm-up, see crate docs
        tracing::info!(host = %host.name, address = %host.address, dir = %host.dir.display(), "test host up");
        Ok(host)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address on the test network.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// libvirt's `host_uuid` of this host.
    pub fn host_uuid(&self) -> Uuid {
        self.host_uuid
    }

    /// The host's state dir (configs, daemon logs, libvirt state); kept after a failed test.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The network namespace's name (for `ip netns exec`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// URI another host's libvirtd uses to reach this one (migration destination).
    pub fn remote_uri(&self) -> String {
        format!("qemu+tcp://{}/system", self.address)
    }

    /// URI that reaches this host's libvirtd from the test process (root namespaces).
    pub fn local_uri(&self) -> Result<String> {
        Ok(format!("qemu:///system?socket=/proc/{}/root/run/libvirt/libvirt-sock", self.anchor_pid()?))
    }

    /// The host's file system as the test process reaches it (`/proc/<anchor>/root`): its
    /// own `/run` (libvirt's live domain XML in `run/libvirt/qemu/<name>.xml`) included.
    pub fn root_dir(&self) -> Result<PathBuf> {
        Ok(PathBuf::from(format!("/proc/{}/root", self.anchor_pid()?)))
    }

    /// A command that runs inside this host (its network, mount and UTS namespaces).
    /// Use absolute paths: the working directory is not carried into the namespaces.
    pub fn command(&self, program: &str) -> Result<Command> {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.anchor_pid()?.to_string(), "-m", "-n", "-u", "--", program]);
        Ok(cmd)
    }

    /// Runs `virsh -c qemu:///system ARGS` on this host; returns stdout, errors with stderr.
    pub fn virsh(&self, args: &[&str]) -> Result<String> {
        run_stdout(self.command("virsh")?.args(["-c", "qemu:///system"]).args(args))
    }

    /// Names of the domains running on this host, asked with read-only `virsh -r`.
    pub fn running_domains(&self) -> Result<Vec<String>> {
        let out = run_stdout(self.command("virsh")?.args(["-r", "-c", "qemu:///system", "list", "--name"]))?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// Starts a long-running process on this host (e.g. an agent), tracked and stopped by PID
    /// at teardown. Its stdout and stderr are appended to `<dir>/<label>.log`.
    pub fn spawn(&mut self, label: &str, mut command: Command) -> Result<u32> {
        let log = self.dir.join(format!("{label}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        let err = out.try_clone().map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| TestkitError::Setup(format!("cannot start {label} on host {}: {e}", self.name)))?;
        let pid = child.id();
        self.spawned.push((label.to_owned(), child));
        Ok(pid)
    }

    /// Stops the spawned process(es) labelled `label` (SIGTERM, then SIGKILL after a grace
    /// period), by PID; other processes of the host are untouched.
    pub fn stop_spawned(&mut self, label: &str) {
        let mut kept = Vec::new();
        for (l, mut child) in self.spawned.drain(..) {
            if l == label {
                stop_child(&mut child, STOP_GRACE);
            } else {
                kept.push((l, child));
            }
        }
        self.spawned = kept;
    }

    /// PIDs of every process this host runs: those inside its network namespace (anchor,
    /// daemons, guests' QEMU) plus the children we started. For leak checks.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = run_stdout(Command::new("ip").args(["netns", "pids", &self.netns]))
            .map(|out| out.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        for child in [&self.anchor, &self.virtlogd, &self.libvirtd].into_iter().flatten() {
            pids.push(child.id() as i32);
        }
        pids.extend(self.spawned.iter().map(|(_, c)| c.id() as i32));
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Destroys the host's guests, stops its processes (ours only, by PID), removes its
    /// namespaces and — unless the test is panicking or `OXVIRT_TESTKIT_KEEP` is set — its
    /// state dir. Idempotent; also run by `Drop`.
    pub fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        for (_, child) in &mut self.spawned {
            stop_child(child, STOP_GRACE);
        }
        if self.libvirtd.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))) {
            for domain in self.running_domains().unwrap_or_default() {
                if let Err(e) = self.virsh(&["destroy", &domain]) {
                    tracing::warn!(host = %self.name, %domain, error = %e, "cannot destroy a guest; it is killed below");
                }
            }
        }
        for child in [&mut self.libvirtd, &mut self.virtlogd].into_iter().flatten() {
            stop_child(child, STOP_GRACE);
        }
        // Whatever still lives in our network namespace (a QEMU whose libvirtd died, the
        // anchor) is ours; the namespace is removed after it.
        if let Some(anchor) = &mut self.anchor {
            stop_child(anchor, STOP_GRACE);
        }
        remove_netns_and_its_processes(&self.netns);
        if std::thread::panicking() || std::env::var_os("OXVIRT_TESTKIT_KEEP").is_some() {
            eprintln!("test host {}: state and logs kept in {}", self.name, self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn anchor_pid(&self) -> Result<u32> {
        self.anchor
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| TestkitError::Setup(format!("test host {} has no namespaces (not started)", self.name)))
    }

    fn write_state_dir(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        for sub in ["varlib", "varlog", "cache", "etc"] {
            let path = self.dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| TestkitError::Io { path, source })?;
        }
        let files = [
            (
                "etc/libvirtd.conf",
                format!(
                    "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"{addr}\"\nauth_tcp = \"none\"\n\
                     host_uuid = \"{uuid}\"\nlog_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n",
                    addr = self.address,
                    uuid = self.host_uuid
                ),
            ),
            (
                "etc/qemu.conf",
                format!(
                    "user = \"root\"\ngroup = \"root\"\ncgroup_controllers = [ ]\nmigration_host = \"{}\"\n",
                    self.address
                ),
            ),
            ("etc/virtlogd.conf", String::new()),
            ("etc/libvirt.conf", String::new()),
        ];
        for (rel, text) in files {
            let path = self.dir.join(rel);
            std::fs::write(&path, text).map_err(|source| TestkitError::Io { path, source })?;
        }
        Ok(())
    }

    fn create_network(&self, number: u8) -> Result<()> {
        let veth = format!("{}v{number}", self.net.bridge());
        run(Command::new("ip").args(["netns", "add", &self.netns]))?;
        run(Command::new("ip").args([
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &self.netns,
        ]))?;
        run(Command::new("ip").args(["link", "set", &veth, "master", &self.net.bridge(), "up"]))?;
        let ns = |args: &[&str]| run(Command::new("ip").args(["-n", &self.netns]).args(args)).map(drop);
        ns(&["addr", "add", &format!("{}/24", self.address), "dev", "eth0"])?;
        ns(&["link", "set", "eth0", "up"])?;
        ns(&["link", "set", "lo", "up"])
    }

    fn start_anchor(&mut self) -> Result<()> {
        const SCRIPT: &str = r#"set -e
hostname "$OXT_HOSTNAME"
mount -t tmpfs -o mode=755 oxt-run /run
mkdir -p /run/lock /run/libvirt
mount --bind "$OXT_DIR/varlib" /var/lib/libvirt
mount --bind "$OXT_DIR/varlog" /var/log/libvirt
mount --bind "$OXT_DIR/cache" /var/cache/libvirt
mount --bind "$OXT_DIR/etc" /etc/libvirt
echo ready
exec sleep infinity
"#;
        let err_log = self.dir.join("anchor.log");
        let err =
            std::fs::File::create(&err_log).map_err(|source| TestkitError::Io { path: err_log.clone(), source })?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "unshare", "--mount", "--uts", "--propagation", "private", "--"])
            .args(["/bin/sh", "-c", SCRIPT])
            .env("OXT_HOSTNAME", &self.name)
            .env("OXT_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| TestkitError::Setup(format!("cannot start the namespace anchor of {}: {e}", self.name)))?;
        // The script prints `ready` after its mounts; EOF means it failed (see anchor.log).
        let mut line = String::new();
        let stdout = child.stdout.take();
        self.anchor = Some(child);
        if let Some(out) = stdout {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            return Err(TestkitError::Setup(format!(
                "namespaces of test host {} failed: {}",
                self.name,
                tail(&err_log, 2000)
            )));
        }
        Ok(())
    }

    fn start_daemons(&mut self) -> Result<()> {
        let anchor = self.anchor_pid()?;
        let run_dir = PathBuf::from(format!("/proc/{anchor}/root/run/libvirt"));

        let mut virtlogd = self.command("virtlogd")?;
        virtlogd.args(["-f", "/etc/libvirt/virtlogd.conf"]);
        self.virtlogd = Some(self.spawn_daemon("virtlogd", virtlogd)?);
        let sock = run_dir.join("virtlogd-sock");
        wait::until_ok(&format!("virtlogd of test host {}", self.name), DAEMON_START_TIMEOUT, || {
            self.check_daemon_alive("virtlogd")?;
            Ok(sock.exists().then_some(()))
        })?;

        self.start_libvirtd()
    }

    /// Stops this host's libvirtd (SIGTERM, by PID) and starts it again, as a package upgrade
    /// would; guests keep running. Returns once the new libvirtd answers.
    pub fn libvirtd_restart(&mut self) -> Result<()> {
        if let Some(mut old) = self.libvirtd.take() {
            stop_child(&mut old, STOP_GRACE);
        }
        self.start_libvirtd()
    }

    fn start_libvirtd(&mut self) -> Result<()> {
        let mut libvirtd = self.command("libvirtd")?;
        libvirtd.args(["--listen", "-f", "/etc/libvirt/libvirtd.conf"]);
        self.libvirtd = Some(self.spawn_daemon("libvirtd", libvirtd)?);
        wait::until_ok(&format!("libvirtd of test host {} to answer", self.name), DAEMON_START_TIMEOUT, || {
            self.check_daemon_alive("libvirtd")?;
            Ok(self.virsh(&["version"]).ok().map(drop))
        })
    }

    fn spawn_daemon(&self, label: &str, mut command: Command) -> Result<Child> {
        let log = self.dir.join(format!("{label}.stderr"));
        let out = std::fs::File::create(&log).map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        let err = out.try_clone().map_err(|source| TestkitError::Io { path: log.clone(), source })?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| TestkitError::Setup(format!("cannot start {label} on test host {}: {e}", self.name)))
    }

    fn check_daemon_alive(&mut self, label: &str) -> Result<()> {
        let child = match label {
            "virtlogd" => self.virtlogd.as_mut(),
            _ => self.libvirtd.as_mut(),
        };
        if let Some(Ok(Some(status))) = child.map(|c| c.try_wait()) {
            return Err(TestkitError::Setup(format!(
                "{label} of test host {} exited ({status}): {}{}",
                self.name,
                tail(&self.dir.join(format!("{label}.stderr")), 2000),
                tail(&self.dir.join("varlog/libvirtd.log"), 2000)
            )));
        }
        Ok(())
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// True while `pid` is a live process (for tests asserting that teardown left nothing).
pub fn pid_alive(pid: i32) -> bool {
    proc::alive(pid)
}
