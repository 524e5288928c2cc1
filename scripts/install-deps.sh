#!/usr/bin/env bash
# Installs what building, testing and benchmarking multiproc needs on a fresh Debian machine with rustup.
# Idempotent: does nothing that is already there.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi
for comp in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
    rustup component add "$comp"
  fi
done
# A C compiler for crates that build C (and the linker).
if ! command -v cc >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq build-essential
fi
# python3: the Python interop tests and example (feature `python`) talk to its standard
# multiprocessing.connection, and the side-by-side benchmark baseline runs on it.
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3
fi
# cargo-deny checks advisories, licenses and sources (deny.toml); built from source once (a few minutes).
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install --locked cargo-deny
fi
cargo --version
rustc --version
cargo deny --version
