//! `TestPostgres`: a private PostgreSQL server for one test.
//!
//! Why one server per test (and not one per test process behind a `OnceLock`): nextest runs
//! every test in a process of its own, so a per-process server *is* a per-test server there;
//! under `cargo test` a server in a static would never be stopped (statics are not dropped).
//! A server that belongs to a value is stopped by its `Drop`, also when the test panics.
//!
//! Why it is cheap: `initdb` (≈0.7 s on tmpfs, ≈1.5 s on disk) runs once per boot and
//! PostgreSQL major version into a template cluster `template-<version>` (built under a
//! temporary name and renamed into place, so parallel tests never see half a template); each
//! test copies it, starts `postgres` on it (≈0.1 s) and creates databases (≈0.05 s each).
//! Clusters live in `/dev/shm/oxvirt-testkit-postgres` (tmpfs: copying the template's thousand
//! files takes ≈0.07 s there and ≈1 s on this machine's disk), or in `$OXVIRT_TEST_PG_DIR`, or
//! in [`crate::base_dir`]`/postgres` when there is no `/dev/shm`.
//!
//! Isolation: the server listens on a unix socket in its own directory only
//! (`listen_addresses=''`), so it cannot clash with the machine's clusters (`pg_lsclusters`),
//! never uses port 5432's socket, and needs no free TCP port. PostgreSQL refuses to run as
//! root, so when the tests run as root the server runs as the `postgres` user (through
//! `setpriv`, which `exec`s: the server is our child, stopped by PID). Durability is traded
//! for speed (`fsync=off`): the data is thrown away anyway. A server whose test process died
//! without dropping it is found by the owner PID in its directory name and stopped (after
//! checking that the PID really runs on that data directory) by the next `TestPostgres::start`.

use crate::proc::{alive, run, run_stdout, tail};
use crate::{Result, TestkitError, wait};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The port number names the socket file (`.s.PGSQL.<port>`) in the server's own directory;
/// no TCP port is opened.
const PORT: u16 = 55432;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(15);

static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(1);

/// A running private PostgreSQL server. Dropping it stops the server and removes its files.
#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    bindir: PathBuf,
    child: Child,
    next_database: AtomicU32,
    startup: Duration,
}

/// How to run PostgreSQL's programs: as ourselves, or (when we are root) as `postgres`.
#[derive(Debug, Clone)]
struct RunAs {
    /// `Some((uid, gid))` of the `postgres` user when we are root.
    postgres: Option<(u32, u32)>,
}

impl RunAs {
    fn detect() -> Result<Self> {
        let me =
            std::fs::metadata("/proc/self").map_err(|source| TestkitError::Io { path: "/proc/self".into(), source })?;
        if std::os::unix::fs::MetadataExt::uid(&me) != 0 {
            return Ok(Self { postgres: None });
        }
        let id = |flag: &str| -> Result<u32> {
            let out = run_stdout(Command::new("id").args([flag, "postgres"])).map_err(|e| {
                TestkitError::Setup(format!(
                    "PostgreSQL refuses to run as root and there is no `postgres` user to run it as ({e}); \
                     install the postgresql package (scripts/install-deps.sh test)"
                ))
            })?;
            out.trim()
                .parse()
                .map_err(|_| TestkitError::Setup(format!("`id {flag} postgres` printed '{}'", out.trim())))
        };
        Ok(Self { postgres: Some((id("-u")?, id("-g")?)) })
    }

    fn command(&self, program: &Path) -> Command {
        match self.postgres {
            Some(_) => {
                let mut cmd = Command::new("setpriv");
                cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// Makes `path` belong to whoever runs the server.
    fn own(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.postgres {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|source| TestkitError::Io { path: path.to_owned(), source })?;
        }
        Ok(())
    }
}

impl TestPostgres {
    /// Starts a private server and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        let started = Instant::now();
        let bindir = find_bindir()?;
        let run_as = RunAs::detect()?;
        let root = clusters_dir()?;
        sweep_stale(&root);

        let template = ensure_template(&root, &bindir, &run_as)?;
        let dir = root.join(format!("c{}-{}", std::process::id(), NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| TestkitError::Io { path: dir.clone(), source })?;
        }
        mkdir(&dir, 0o700)?;
        run_as.own(&dir)?;
        // From here on a failure must remove `dir`: a guard does until the server runs.
        let guard = DirGuard(dir.clone());
        let data = dir.join("data");
        run(Command::new("cp").arg("-a").arg(&template).arg(&data))?;

        let log_path = dir.join("postgres.log");
        let log =
            std::fs::File::create(&log_path).map_err(|source| TestkitError::Io { path: log_path.clone(), source })?;
        let log_err = log.try_clone().map_err(|source| TestkitError::Io { path: log_path.clone(), source })?;
        let mut cmd = run_as.command(&bindir.join("postgres"));
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(PORT.to_string())
            .arg("-k")
            .arg(&dir)
            .args(["-c", "listen_addresses="])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=50"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = cmd.spawn().map_err(|e| TestkitError::Command {
            command: format!("{cmd:?}"),
            detail: format!("cannot start (is util-linux's setpriv installed?): {e}"),
        })?;
        std::mem::forget(guard);
        let mut server = Self { dir, bindir, child, next_database: AtomicU32::new(1), startup: Duration::ZERO };

        let pid_file = data.join("postmaster.pid");
        let ready = wait::until_ok("the test PostgreSQL server to accept connections", START_TIMEOUT, || {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(TestkitError::Setup(format!(
                    "PostgreSQL exited at start ({status}); its log says:\n{}",
                    tail(&log_path, 4000)
                )));
            }
            // pg_ctl's own readiness test: line 8 of postmaster.pid turns to "ready".
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            Ok(text.lines().nth(7).is_some_and(|l| l.trim() == "ready").then_some(()))
        });
        if let Err(e) = ready {
            return Err(match e {
                TestkitError::Timeout { .. } => {
                    TestkitError::Setup(format!("{e}; PostgreSQL's log says:\n{}", tail(&log_path, 4000)))
                }
                other => other,
            });
        }
        server.startup = started.elapsed();
        Ok(server)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self) -> Result<String> {
        let name = format!("test_{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        self.create_database_named(&name)
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database_named(&self, name: &str) -> Result<String> {
        run(Command::new(self.bindir.join("createdb"))
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(PORT.to_string())
            .args(["-U", "postgres", name]))?;
        Ok(self.url(name))
    }

    /// The URL of database `name` on this server (unix socket, user `postgres`, no password).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@localhost/{database}?host={}&port={PORT}", self.dir.display())
    }

    /// The directory holding the server's socket (and its data and log).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server's (postmaster's) PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long [`TestPostgres::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        if std::thread::panicking() {
            eprintln!(
                "test PostgreSQL server log ({}):\n{}",
                self.dir.join("postgres.log").display(),
                tail(&self.dir.join("postgres.log"), 4000)
            );
        }
        // SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, write, exit.
        signal(pid, libc::SIGINT);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            if Instant::now() >= deadline {
                signal(pid, libc::SIGKILL);
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(wait::POLL_INTERVAL);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a directory when a start fails half way.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours. The PID is our own
    // child's (or, in the sweep, a postmaster proven to run on our data directory).
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

/// PostgreSQL's programs: `$OXVIRT_TEST_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<major>/bin` (Debian's layout).
fn find_bindir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("OXVIRT_TEST_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        TestkitError::Setup(
            "no PostgreSQL server under /usr/lib/postgresql/<version>/bin: install the postgresql package \
             (scripts/install-deps.sh test) or set OXVIRT_TEST_PG_BINDIR"
                .into(),
        )
    })
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    let io = |source| TestkitError::Io { path: path.to_owned(), source };
    std::fs::create_dir_all(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)
}

/// Where clusters live (see the module docs), traversable by the `postgres` user.
fn clusters_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("OXVIRT_TEST_PG_DIR") {
        let dir = PathBuf::from(dir);
        mkdir(&dir, 0o755)?;
        return Ok(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let dir = shm.join("oxvirt-testkit-postgres");
        mkdir(&dir, 0o755)?;
        return Ok(dir);
    }
    let base = crate::base_dir();
    std::fs::create_dir_all(&base).map_err(|source| TestkitError::Io { path: base.clone(), source })?;
    let meta = std::fs::metadata(&base).map_err(|source| TestkitError::Io { path: base.clone(), source })?;
    if meta.permissions().mode() & 0o001 == 0 {
        return Err(TestkitError::Setup(format!(
            "{} must be searchable by other users (chmod o+x) for the postgres user to reach its test clusters",
            base.display()
        )));
    }
    let root = base.join("postgres");
    mkdir(&root, 0o755)?;
    Ok(root)
}

/// The template cluster for this PostgreSQL version, made once with `initdb`.
fn ensure_template(root: &Path, bindir: &Path, run_as: &RunAs) -> Result<PathBuf> {
    let version = bindir.parent().and_then(|p| p.file_name()).and_then(|v| v.to_str()).unwrap_or("custom").to_owned();
    let template = root.join(format!("template-{version}"));
    if template.join("PG_VERSION").exists() {
        return Ok(template);
    }
    let building = root.join(format!("template-{version}.tmp-{}-{}", std::process::id(), nanos()));
    mkdir(&building, 0o700)?;
    run_as.own(&building)?;
    let guard = DirGuard(building.clone());
    run(run_as.command(&bindir.join("initdb")).arg("-D").arg(&building).args([
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]))?;
    match std::fs::rename(&building, &template) {
        Ok(()) => std::mem::forget(guard),
        // Another test process finished first; ours is dropped by the guard.
        Err(_) if template.join("PG_VERSION").exists() => {}
        Err(source) => return Err(TestkitError::Io { path: template, source }),
    }
    Ok(template)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Stops and removes clusters (and half-built templates) whose test process is gone.
fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = if let Some(rest) = name.strip_prefix('c') {
            rest.split('-').next().and_then(|p| p.parse::<i32>().ok())
        } else if let Some((_, rest)) = name.split_once(".tmp-") {
            rest.split('-').next().and_then(|p| p.parse::<i32>().ok())
        } else {
            None
        };
        let Some(owner) = owner else { continue };
        if owner == std::process::id() as i32 || alive(owner) {
            continue;
        }
        let data = entry.path().join("data");
        if let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let on_our_data = String::from_utf8_lossy(&cmdline).contains(&*data.to_string_lossy());
            if alive(pid) && on_our_data {
                // SIGQUIT: immediate shutdown; the postmaster takes its backends with it.
                signal(pid, libc::SIGQUIT);
                let deadline = Instant::now() + STOP_GRACE;
                while alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(wait::POLL_INTERVAL);
                }
                if alive(pid) {
                    signal(pid, libc::SIGKILL);
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
