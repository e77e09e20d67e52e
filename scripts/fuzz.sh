#!/usr/bin/env bash
# The long fuzz run: every target of the property-based harness (crates/{wire,
# sigv4,policy}/tests/fuzz.rs) with CASES inputs each (default 1,000,000).
# The test command runs the same targets with 1,000 inputs each.
#
# usage: scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
for crate in rampart-wire rampart-sigv4 rampart-policy; do
    echo "== $crate: $cases inputs per target"
    start=$(date +%s)
    RAMPART_FUZZ_CASES=$cases cargo test --profile ci --locked -p "$crate" --test fuzz -- --test-threads 2
    echo "== $crate: $(( $(date +%s) - start )) s"
done
