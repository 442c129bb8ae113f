#!/usr/bin/env bash
# The README's test command: set-up, then formatting, lints and every test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet 2>&1 | tee /tmp/unival-test.log
# unival-runtime without its optional features (FFmpeg, libsndfile, nokhwa, cpal): it builds, passes its unit
# tests, and links none of them.
cargo build -p unival-runtime --no-default-features --quiet
cargo clippy -p unival-runtime --no-default-features --lib --tests --quiet -- -D warnings
cargo test -p unival-runtime --no-default-features --lib --quiet
if cargo tree -p unival-runtime --no-default-features -e normal --prefix none |
  grep -E '^(ffmpeg|nokhwa|cpal)'; then
  echo "unival-runtime --no-default-features still depends on the crates above" >&2
  exit 1
fi
