#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine and runs every test:
# the Rust unit and crate tests, then the end-to-end suite (pytest, boto3 and
# the aws CLI against the real binary). Used by README.md and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# KMS's root-of-trust tests use SoftHSM2, a PKCS#11 token in software
# (Debian's package; each test makes its own token in a temporary directory).
if ! command -v softhsm2-util >/dev/null; then
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $as_root apt-get install -y --no-install-recommends softhsm2 \
        || { $as_root apt-get update && $as_root apt-get install -y --no-install-recommends softhsm2; }
fi

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# The lints are part of the test: formatting, and clippy with warnings as errors.
cargo fmt --all --check
cargo clippy --profile ci --locked --workspace --all-targets -- -D warnings

# The `ci` profile is release without link-time optimization: the same code,
# built in half the time (see Cargo.toml).
cargo build --profile ci --locked --bin rampart
cargo test --profile ci --locked --workspace

export RAMPART_BIN="$PWD/target/ci/rampart"
export PATH="$PWD/$venv/bin:$PATH"
"$venv/bin/python" -m pytest tests/integration -q -p no:cacheprovider "$@"
