#!/bin/bash
# `make test`: installs what the suite needs (apt), builds the test guest, then runs
# formatting and lint checks and every test (unit, integration, end-to-end).
# Exit status is the verdict. Needs root: test hosts use namespaces and their own libvirtd.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/install-deps.sh test
echo "== test guest"
guest/build.sh >/dev/null

# Every package of the lock file, for every platform: tests/architecture.rs reads the whole
# graph with `cargo metadata --offline`, which needs the crates a build for this machine skips.
echo "== cargo fetch"
cargo fetch --locked

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked
else
  cargo test --workspace --locked
fi
echo "== make test passed in $(( $(date +%s) - start )) s"
