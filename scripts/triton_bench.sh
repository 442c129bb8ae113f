#!/usr/bin/env bash
# Throughput of a Triton server running the unival backend with 1, 4 and 16 concurrent clients
# (benchmark, not in CI; figures in BENCHMARKS.md, "Triton"). Bounded and on 127.0.0.1 only.
#
#   scripts/triton_bench.sh [BUNDLE] [ITEMS]     (default models/caption, 48 pictures)
#
# Serves BUNDLE (a caption bundle; scripts/demo.sh makes models/caption) with dynamic batching up
# to 16, sends ITEMS pictures (the demo images, repeated) through `unival remote caption` at each
# concurrency, and prints items/s, the ratio to one client, and the mean batch the server ran
# (requests / executions, from its Prometheus metrics). UNIVAL_TRITON_PROFILE picks the backend's
# build profile (scripts/triton.sh; default release).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${1:-$root/models/caption}"
items="${2:-48}"
port=18300
unival="$root/target/release/unival"
[ -x "$unival" ] || unival="$root/target/debug/unival"
[ -x "$unival" ] || { echo "triton_bench: build unival first (cargo build -p unival-apps)" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$unival" triton-repo --out "$work/repo" --model "$bundle" --max-batch 16 >/dev/null
name="$(basename "$bundle")"
UNIVAL_TRITON_HTTP=$port UNIVAL_TRITON_GRPC=$((port + 1)) UNIVAL_TRITON_METRICS=$((port + 2)) \
  "$root/scripts/triton.sh" serve "$work/repo" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 1
done
curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null || { echo "triton_bench: server not ready" >&2; exit 1; }

mkdir -p "$work/pics"
mapfile -t sources < <(ls "$root"/models/demo-images/*.png)
for i in $(seq 0 $((items - 1))); do
  ln -s "${sources[$((i % ${#sources[@]}))]}" "$work/pics/$(printf '%04d' "$i").png"
done

metric() { # counter name → its value for the model
  curl -s "http://127.0.0.1:$((port + 2))/metrics" |
    awk -v m="$1" -v n="model=\"$name\"" '$1 ~ "^"m"\\{" && index($1, n) { print $2 }'
}

# One warm-up pass so every run finds the sessions loaded.
"$unival" remote caption --server "http://127.0.0.1:$port" --model-name "$name" \
  "$work"/pics/0000.png >/dev/null
base=""
printf '%-8s %8s %10s %10s %12s\n' clients items seconds items/s mean_batch
for clients in 1 4 16; do
  req0="$(metric nv_inference_request_success)" exec0="$(metric nv_inference_exec_count)"
  start="$(date +%s.%N)"
  "$unival" remote caption --server "http://127.0.0.1:$port" --model-name "$name" \
    --concurrency "$clients" "$work"/pics/*.png >/dev/null
  end="$(date +%s.%N)"
  req1="$(metric nv_inference_request_success)" exec1="$(metric nv_inference_exec_count)"
  rate="$(awk -v n="$items" -v a="$start" -v b="$end" 'BEGIN { print n / (b - a) }')"
  [ -n "$base" ] || base="$rate"
  awk -v c="$clients" -v n="$items" -v a="$start" -v b="$end" -v r="$rate" -v r1="$base" \
    -v q="$((req1 - req0))" -v e="$((exec1 - exec0))" 'BEGIN {
      printf "%-8s %8s %10.2f %10.3f %12.2f   (%.2fx one client)\n", c, n, b - a, r, q / e, r / r1 }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
