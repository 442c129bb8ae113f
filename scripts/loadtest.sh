#!/usr/bin/env bash
# Load test of the Triton backend, bounded and on 127.0.0.1 only: CLIENTS concurrent clients
# (default 32) send a mix of good pictures and broken files for DURATION seconds (default 300)
# to a tritonserver serving a caption bundle, then it checks that
#   - no response was lost, every good picture got a result and every broken file an error;
#   - the server never restarted (same process, alive at the end);
#   - its memory stayed flat: the median RSS of the last quarter of the run is within 15 %
#     (plus 32 MiB) of the median of the second quarter (the first quarter is warm-up).
#
#   scripts/loadtest.sh [--duration S] [--clients N] [--model BUNDLE] [--port P]
#
# Without --model a tiny synthetic caption bundle is made. Needs scripts/setup.sh (ONNX
# Runtime, tritonserver). Prints a summary; exit code 1 if a check failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration=300 clients=32 model="" port=18100
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d)"
server_pid="" sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --manifest-path "$root/Cargo.toml" -p unival-apps --bin unival --quiet
unival="$root/target/debug/unival"
if [ -z "$model" ]; then
  "$unival" export synth --preset tiny --out "$work/tiny.pt" >/dev/null
  "$unival" export --checkpoint "$work/tiny.pt" --task caption --out "$work/caption" >/dev/null
  model="$work/caption"
fi
"$unival" triton-repo --out "$work/repo" --model "$model" --max-batch 8 >/dev/null
name="$(basename "$(cd "$model" && pwd)")"

# Inputs: the demo pictures and two broken files (not a picture; a truncated PNG).
mkdir -p "$work/in"
cp "$root"/models/demo-images/*.png "$work/in/"
echo "not a picture" >"$work/in/broken-text.png"
head -c 200 "$root/models/demo-images/100000.png" >"$work/in/broken-truncated.png"
# One round: one request per client, the inputs taken in turn (every 7th is truncated, every
# 7th is text), so a round stays short and the time bound holds.
inputs=("$work"/in/*.png)
files=() good=0 broken=0
for i in $(seq 0 $((clients - 1))); do
  f="${inputs[$((i % ${#inputs[@]}))]}"
  files+=("$f")
  case "$f" in */broken-*) broken=$((broken + 1)) ;; *) good=$((good + 1)) ;; esac
done

UNIVAL_TRITON_HTTP=$port UNIVAL_TRITON_GRPC=$((port + 1)) UNIVAL_TRITON_METRICS=$((port + 2)) \
  "$root/scripts/triton.sh" serve "$work/repo" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 240); do
  curl -sf "127.0.0.1:$port/v2/health/ready" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done
# triton.sh execs tritonserver, so $server_pid is the server itself.
rss() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }

echo "loadtest: $clients clients for ${duration}s on 127.0.0.1:$port, model $name" >&2
end=$(( $(date +%s) + duration ))
rounds=0 sent=0 answered=0 errors=0 lost=0
: >"$work/rss"
: >"$work/errors"
: >"$work/out.all"
# The server's resident memory every 2 s.
(while kill -0 "$server_pid" 2>/dev/null; do rss >>"$work/rss"; sleep 2; done) &
sampler_pid=$!
while [ "$(date +%s)" -lt "$end" ]; do
  rounds=$((rounds + 1))
  set +e
  "$unival" remote caption --server "http://127.0.0.1:$port" --model-name "$name" \
    --concurrency "$clients" --json "${files[@]}" >"$work/out" 2>"$work/err"
  set -e
  ok=$(wc -l <"$work/out")
  bad=$(grep -c '^error: ' "$work/err" || true)
  grep '^error: ' "$work/err" >>"$work/errors" || true
  cat "$work/out" >>"$work/out.all"
  sent=$((sent + ${#files[@]}))
  answered=$((answered + ok))
  errors=$((errors + bad))
  lost=$((lost + good + broken - ok - bad))
done
kill "$sampler_pid" 2>/dev/null || true

alive=yes
kill -0 "$server_pid" 2>/dev/null || alive=no
restarts=$(grep -c 'Started HTTPService' "$work/server.log" || true)
# RSS medians of the second and last quarters of the samples.
read -r q2 q4 < <(awk '
  { v[NR] = $1 }
  function median(a, b,   n, i, j, t, s) {
    n = 0; for (i = a; i <= b; i++) s[++n] = v[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
    return s[int((n + 1) / 2)]
  }
  END { q = int(NR / 4); if (q < 1) { print 0, 0; exit } print median(q + 1, 2 * q), median(NR - q + 1, NR) }' "$work/rss")
flat=yes
[ "$q2" -gt 0 ] || { flat=no; echo "loadtest: too few memory samples; run longer" >&2; }
[ "$q4" -le $(( q2 * 115 / 100 + 32768 )) ] || flat=no

# A good picture must never fail, a broken file never be answered.
good_failed=$(grep -vc 'broken-' "$work/errors" || true)
broken_answered=$(grep -c 'broken-' "$work/out.all" 2>/dev/null || true)
printf 'rounds %d, requests %d, answers %d, errors %d (good inputs failed: %d), lost %d\n' \
  "$rounds" "$sent" "$answered" "$errors" "$good_failed" "$lost"
sed -E 's/^error: [^:]*: //' "$work/errors" | sort | uniq -c | sort -rn | head -5
printf 'server alive: %s, started %d time(s); RSS second quarter %d KiB, last quarter %d KiB (flat: %s)\n' \
  "$alive" "$restarts" "$q2" "$q4" "$flat"
curl -s "127.0.0.1:$((port + 2))/metrics" | grep -E "^nv_inference_(request_success|request_failure\{.*BACKEND)" || true
[ "$lost" -eq 0 ] && [ "$good_failed" -eq 0 ] && [ "${broken_answered:-0}" -eq 0 ] && [ "$alive" = yes ] && [ "$restarts" -eq 1 ] && [ "$flat" = yes ]
