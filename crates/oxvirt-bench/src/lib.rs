//! The benchmark suite of issue 5: B1 start overhead, B2 thin provisioning, B3 API latency,
//! B4 scale steady state (simulated hosts), B5 cold start.
//!
//! Why a separate crate: every figure comes from the real parts the tests use
//! (`oxvirt-testkit`: test hosts with their own libvirtd, the real engine and agent binaries,
//! a private PostgreSQL), measured from outside the engine, the way a user of the API sees it.
//! The engine library is linked only to fill databases with many VMs fast (B3/B5 setup, never
//! measured). A release `oxvirt-bench` finds release `oxvirt-engine`/`oxvirt-agent`/`oxvirt-sim`
//! next to itself (`target/release/`), a debug one the debug binaries.
//!
//! Each run prints the machine's facts, the exact command line and parameters, the figures
//! next to their targets, and writes `<out>/<bench>-<UTC timestamp>.json` plus a markdown
//! table fragment (`.md`) for `docs/BENCHMARKS.md`. `--quick` shrinks every N: it is a smoke
//! check (run by `make test`), never a measurement to compare with the targets.

pub mod api;
pub mod b1;
pub mod b2;
pub mod b3;
pub mod b4;
pub mod b5;
pub mod machine;
pub mod populate;
pub mod procfs;
pub mod report;
pub mod stats;

use std::path::PathBuf;

pub use report::Report;

/// Which database backends a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbChoice {
    Sqlite,
    Postgres,
    Both,
}

impl DbChoice {
    pub fn backends(self) -> Vec<Db> {
        match self {
            DbChoice::Sqlite => vec![Db::Sqlite],
            DbChoice::Postgres => vec![Db::Postgres],
            DbChoice::Both => vec![Db::Sqlite, Db::Postgres],
        }
    }
}

/// One database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn as_str(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

/// What every benchmark is given.
#[derive(Debug, Clone)]
pub struct Options {
    /// Small N everywhere: a smoke check, not a measurement.
    pub quick: bool,
    /// Overrides the main count of a benchmark (B1 starts, B2 VMs, B3/B5 VMs in the DB, B4 hosts).
    pub n: Option<usize>,
    /// B3: requests per case.
    pub requests: Option<usize>,
    /// B4: VMs per simulated host.
    pub vms_per_host: Option<usize>,
    /// B4: length of the steady-state window.
    pub steady_secs: Option<u64>,
    pub db: DbChoice,
    pub out: PathBuf,
    /// The command line as typed, for the report.
    pub command_line: String,
}

/// `n` unless `--n` overrides it.
pub fn count(opts: &Options, full: usize, quick: usize) -> usize {
    opts.n.unwrap_or(if opts.quick { quick } else { full })
}

/// A path next to the running executable (`target/<profile>/<name>`), where cargo puts the
/// other binaries of the same build.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow::anyhow!("the executable {} has no folder", exe.display()))?;
    // A test executable lives in target/<profile>/deps/.
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let candidate = d.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "the {name} binary is not built next to {}: run `cargo build --release -p {name}` (or `make bench`)",
        exe.display()
    )
}
