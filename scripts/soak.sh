#!/usr/bin/env bash
# Soak benchmark of the live loop (not run in CI): `unival live caption` on a looped file source
# for a long run, sampling the process's resident memory every 10 s into a CSV, then printing
# the first, last and largest sample. Flat memory means nothing queues behind a slow model.
#
#   scripts/soak.sh --model models/caption --source video:clip.mp4 [--duration 600]
#                   [--out soak.csv] [-- EXTRA unival FLAGS…]
#
# Uses target/release/unival when built (cargo build --release -p unival-apps), else
# target/debug/unival; UNIVAL_BIN overrides.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$root/models/caption"
source=""
duration=600
out="soak.csv"
interval=10
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --source) source="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$source" in
  video:*|images:*) ;;
  *) echo "soak: --source video:FILE or images:DIR is required" >&2; exit 2 ;;
esac

bin="${UNIVAL_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$root/target/release/unival" ]; then bin="$root/target/release/unival"
  else bin="$root/target/debug/unival"; fi
fi
[ -x "$bin" ] || { echo "soak: no unival binary at $bin (cargo build -p unival-apps)" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$bin" live caption --model "$model" --source "$source" --loop --duration "$duration" --json \
  "${extra[@]}" >"$log" 2>&1 &
pid=$!

echo "seconds,rss_kib" >"$out"
start=$(date +%s)
# The first sample comes one interval in, after the model has loaded.
while sleep "$interval" && kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >>"$out"
done
wait "$pid" || { echo "soak: unival exited with an error:" >&2; tail -n 5 "$log" >&2; exit 1; }

results=$(grep -c '"kind":"caption"' "$log" || true)
summary=$(grep '"kind":"summary"' "$log" || true)
awk -F, -v results="$results" 'NR == 2 {first = $2} NR > 1 {last = $2; if ($2 > max) max = $2; n++}
  END {
    if (n == 0) { print "soak: no RSS samples"; exit 1 }
    printf "samples %d, RSS first %.1f MiB, last %.1f MiB, max %.1f MiB, captions %d\n",
      n, first / 1024, last / 1024, max / 1024, results
  }' "$out"
echo "summary: $summary"
echo "samples in $out"
