#!/usr/bin/env bash
# Fuzzes every target for a set time and keeps what it learns (not run in CI; CI replays the
# saved corpus: tests/tests/fuzz_corpus.rs, apps/tests/fuzz_web_corpus.rs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]     (default 60 s per target; all targets)
#
# Targets (bodies in tests/support/fuzz_targets/): image, video, audio, manifest, tokenizer,
# prompts, web. `web` talks to a `unival live caption --serve` this script starts on
# 127.0.0.1 (the demo bundle, as scripts/demo.sh exports it).
#
# With `cargo fuzz` (cargo install cargo-fuzz) it runs libFuzzer on the machine's stable
# toolchain (RUSTC_BOOTSTRAP=1 lets stable accept the -Z flags cargo fuzz passes; no sanitizer,
# so no nightly runtime is needed): the growing corpus is kept in fuzz/work/<target>/
# (git-ignored) next to the seeds of fuzz/corpus/<target>/; FUZZ_MERGE=1 merges what is new
# into fuzz/corpus/<target>/ to commit. Without cargo fuzz (or with FUZZ_ENGINE=mutate) it runs
# the coverage-free mutation runner of the test crates instead. Crashing inputs land in
# fuzz/artifacts/<target>/: add them to fuzz/corpus/<target>/ with the fix, so CI replays them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]* | 0) echo "fuzz: SECONDS must be a positive whole number (got '$seconds')" >&2; exit 2 ;;
esac
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(image video audio manifest tokenizer prompts web)
port="${FUZZ_PORT:-18480}"

engine="${FUZZ_ENGINE:-}"
if [ -z "$engine" ]; then
  if cargo fuzz --version >/dev/null 2>&1; then engine=libfuzzer; else engine=mutate; fi
fi
echo "fuzz: $engine, $seconds s per target: ${targets[*]}" >&2

server_pid=""
trap '[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true' EXIT
# The live server the web target talks to (the demo bundle on the demo pictures).
start_server() {
  cargo build -q -p unival-apps
  local bin="$root/target/debug/unival"
  "$bin" inspect models/caption >/dev/null 2>&1 ||
    "$bin" export --checkpoint models/checkpoints/demo_shapes.pt --task caption --out models/caption >&2
  "$bin" live caption --model models/caption --source images:models/demo-images --loop --fps 5 \
    --beam 1 --max-len-b 4 --serve "127.0.0.1:$port" >/dev/null 2>target/fuzz-web-server.log &
  server_pid=$!
  for _ in $(seq 1 120); do
    grep -qs "serving http://" target/fuzz-web-server.log && return 0
    sleep 0.5
  done
  echo "fuzz: the web server did not start:" >&2
  tail -n 5 target/fuzz-web-server.log >&2
  exit 1
}

status=0
for t in "${targets[@]}"; do
  if [ "$engine" = libfuzzer ]; then
    extra=()
    if [ "$t" = web ]; then
      [ -n "$server_pid" ] || start_server
      export UNIVAL_FUZZ_WEB="127.0.0.1:$port"
      extra=(-dict=fuzz/web.dict -timeout=30)
    fi
    mkdir -p "fuzz/work/$t"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer none "$t" \
      "fuzz/work/$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=4096 -print_final_stats=1 "${extra[@]}" >"fuzz/work/$t.log" 2>&1; then
      echo "fuzz: $t found a crash (fuzz/artifacts/$t/, log fuzz/work/$t.log)" >&2
      status=1
    fi
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY)|panicked" "fuzz/work/$t.log" |
      sed "s/^/$t: /" || true
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
      RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer none "$t" \
        "fuzz/corpus/$t" "fuzz/work/$t" -- -merge=1 >/dev/null 2>&1 || true
    fi
  else
    mkdir -p fuzz/work
    if [ "$t" = web ]; then
      test=(-p unival-apps --test fuzz_web_corpus -- --ignored web_mutation_fuzz)
    else
      test=(-p unival-tests --test fuzz_corpus -- --ignored mutation_fuzz)
    fi
    if ! UNIVAL_FUZZ_SECONDS="$seconds" UNIVAL_FUZZ_TARGETS="$t" cargo test -q "${test[@]}" \
      --nocapture >"fuzz/work/$t.log" 2>&1; then
      echo "fuzz: $t found a crash (fuzz/artifacts/$t/, log fuzz/work/$t.log)" >&2
      status=1
    fi
    grep -E "^FUZZ|CRASH|panicked" "fuzz/work/$t.log" || true
  fi
done
exit "$status"
