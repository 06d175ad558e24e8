//! `oxvirt-bench`: the benchmark suite (issue 5). See the library docs and `docs/BENCHMARKS.md`.

use clap::{Parser, Subcommand};
use oxvirt_bench::machine::Machine;
use oxvirt_bench::{DbChoice, Options};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "oxvirt-bench", version, about = "oxvirt's benchmarks (B1–B5 of issue 5)")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
    /// Small N everywhere: a smoke check, never a measurement to compare with the targets.
    #[arg(long, global = true)]
    quick: bool,
    /// The main count: B1 starts, B2 VMs, B3/B5 VMs in the database (one size), B4 hosts (one count).
    #[arg(long, global = true)]
    n: Option<usize>,
    /// B3: requests per case (default 500; quick 50).
    #[arg(long, global = true)]
    requests: Option<usize>,
    /// B4: VMs per simulated host (default 50; quick 2).
    #[arg(long, global = true)]
    vms_per_host: Option<usize>,
    /// B4: seconds of steady state to sample (default 300; quick 10).
    #[arg(long, global = true)]
    steady_secs: Option<u64>,
    /// Database backends for B3/B5 (B4 uses the first of them).
    #[arg(long, global = true, value_enum, default_value = "both")]
    db: DbChoice,
    /// Where result files go.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
enum Bench {
    /// B1 start overhead: REST start → up vs `virsh create` of the same domain XML.
    B1,
    /// B2 thin provisioning: VMs with a 1 GiB qcow2 disk each vs a `qemu-img create` loop.
    B2,
    /// B3 API latency with 10,000 and 100,000 VMs in the database.
    B3,
    /// B4 scale steady state with simulated hosts (needs oxvirt-sim).
    B4,
    /// B5 cold start with 100,000 VMs in the database.
    B5,
    /// B1 … B5 in order; a failing benchmark does not stop the others.
    All,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oxvirt-bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let command_line =
        std::env::args().map(|a| if a.contains(' ') { format!("'{a}'") } else { a }).collect::<Vec<_>>().join(" ");
    let opts = Options {
        quick: args.quick,
        n: args.n,
        requests: args.requests,
        vms_per_host: args.vms_per_host,
        steady_secs: args.steady_secs,
        db: args.db,
        out: args.out,
        command_line,
    };
    let benches = match args.bench {
        Bench::All => vec![Bench::B1, Bench::B2, Bench::B3, Bench::B4, Bench::B5],
        b => vec![b],
    };
    let mut failed = Vec::new();
    for bench in benches {
        let mut machine = Machine::probe();
        println!(
            "== oxvirt-bench {bench:?}{}",
            if opts.quick { " (quick: a smoke check, not a measurement)" } else { "" }
        );
        println!("command: {}", opts.command_line);
        machine.print();
        let result = runtime.block_on(async {
            match bench {
                Bench::B1 => oxvirt_bench::b1::run(&opts, &mut machine).await,
                Bench::B2 => oxvirt_bench::b2::run(&opts, &mut machine).await,
                Bench::B3 => oxvirt_bench::b3::run(&opts, &machine).await,
                Bench::B4 => oxvirt_bench::b4::run(&opts, &mut machine).await,
                Bench::B5 => oxvirt_bench::b5::run(&opts, &machine).await,
                Bench::All => unreachable!("expanded above"),
            }
        });
        if let Err(e) = result {
            eprintln!("oxvirt-bench {bench:?} FAILED: {e:#}");
            failed.push(format!("{bench:?}"));
        }
    }
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("oxvirt-bench: failed: {}", failed.join(", "));
        std::process::ExitCode::FAILURE
    }
}
