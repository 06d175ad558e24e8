#!/bin/bash
# Runs every property-based fuzz target (tests named fuzz_*: the XML/JSON readers, search,
# dates, the VM body translators with the app's checks, cloud-init, the agent's domain XML
# renderer and storage metadata reader) with CASES inputs each (default 10^7), in a release
# build, one target at a time. Prints each target's time; the figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-10000000}
export PROPTEST_CASES=$cases
# Shrinking a failure of 10^7 cases can take long; it still ends, with the minimal input.
echo "fuzz: $cases cases per target (release build)"
start=$(date +%s)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --release --lib --tests --no-fail-fast \
    --test-threads 1 -E 'test(/fuzz_/)' --status-level pass --final-status-level pass
else
  cargo test --workspace --locked --release --lib --tests --no-fail-fast -- --test-threads 1 fuzz_
fi
echo "fuzz: all targets passed $cases cases in $(( $(date +%s) - start )) s"
