#!/bin/bash
# `make bench`: installs what is missing (apt, as for the tests: QEMU, libvirt, PostgreSQL,
# guest build tools), builds release binaries (engine, agent, bench, and the simulator
# oxvirt-sim when its crate exists), builds the test guest, then runs `oxvirt-bench all`
# with the extra arguments given (`make bench ARGS=--quick`, `scripts/bench.sh b3 --db sqlite`).
# Results: target/bench/<bench>-<UTC timestamp>.{json,md}; see docs/BENCHMARKS.md.
# Needs root (test hosts use namespaces and their own libvirtd). Run it on an otherwise idle
# machine: other builds or tests distort every figure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test
packages=(-p oxvirt-engine -p oxvirt-agent -p oxvirt-bench)
[ -f crates/oxvirt-sim/Cargo.toml ] && packages+=(-p oxvirt-sim)
echo "== cargo build --release ${packages[*]}"
cargo build --release --locked "${packages[@]}"
echo "== test guest"
guest/build.sh >/dev/null

# The first argument may name one benchmark (b1..b5, all); default: all.
bench=all
case "${1:-}" in b1|b2|b3|b4|b5|all) bench=$1; shift ;; esac
echo "== target/release/oxvirt-bench $bench $*"
exec target/release/oxvirt-bench "$bench" "$@"
