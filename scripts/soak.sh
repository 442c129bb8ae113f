#!/usr/bin/env bash
# Soak run of the live web server (not run in CI; figures in BENCHMARKS.md, "Soak").
#
#   scripts/soak.sh [MINUTES]      (default 60)
#
# Two `unival live … --serve` processes play the same 15 fps video file in a loop:
#   - caption: `live caption` (the demo bundle models/caption, exported as scripts/demo.sh does);
#   - vqa:     `live vqa` (the demo checkpoint exported for VQA into models/vqa), sent a new
#              question every 10 s through POST /question.
# Each has three page viewers connected for the whole run (curl on /stream.mjpg and /events).
# Every minute the resident memory, open file descriptors and threads of both servers are read
# from /proc into $SOAK_DIR/soak.csv; the end prints first/last/max per process and the counts
# of results, events and questions. Exit code 1 when a server died or a sample is missing.
#
# Environment: UNIVAL_BIN (default target/release/unival, else target/debug/unival),
# SOAK_DIR (default target/soak), SOAK_PORT (default 18470; the vqa server uses SOAK_PORT+1).
# All traffic stays on 127.0.0.1; every loop is bounded by MINUTES.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
minutes="${1:-60}"
case "$minutes" in
  '' | *[!0-9]* | 0) echo "soak: MINUTES must be a positive whole number (got '$minutes')" >&2; exit 2 ;;
esac
dir="${SOAK_DIR:-$root/target/soak}"
port="${SOAK_PORT:-18470}"
bin="${UNIVAL_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$root/target/release/unival" ]; then bin="$root/target/release/unival"
  else bin="$root/target/debug/unival"; fi
fi
[ -x "$bin" ] || { echo "soak: no unival binary at $bin (cargo build --release -p unival-apps)" >&2; exit 1; }
mkdir -p "$dir"
rm -f "$dir"/*.log "$dir"/*.err "$dir"/*.jsonl "$dir"/*.sse "$dir"/soak.csv

# The bundles: the demo checkpoint exported for caption and for vqa, when not there yet.
bundle() { # task dir [export flags…]
  if ! "$bin" inspect "$2" >/dev/null 2>&1; then
    "$bin" export --checkpoint "$root/models/checkpoints/demo_shapes.pt" --task "$1" --out "$2" \
      "${@:3}" >&2
  fi
}
bundle caption "$root/models/caption"
# The demo checkpoint's image position table (image_bucket_size 8) covers 128 px, the size its
# caption task was trained at; VQA's default 480 px would index past it.
bundle vqa "$root/models/vqa-128" --image-size 128

# The file source: 20 s of moving test pattern at 15 fps (the ffmpeg CLI of scripts/setup.sh).
clip="$dir/clip15.mp4"
[ -f "$clip" ] || ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=15:duration=20 \
  -pix_fmt yuv420p "$clip"

seconds=$((minutes * 60))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# serve NAME PORT TASK MODEL [FLAGS…]: starts one server and waits for its "serving" line.
serve() {
  local name=$1 p=$2 task=$3 model=$4
  shift 4
  "$bin" live "$task" --model "$model" --source "video:$clip" --loop --json \
    --serve "127.0.0.1:$p" --duration $((seconds + 30)) "$@" \
    >"$dir/$name.jsonl" 2>"$dir/$name.log" </dev/null &
  server_pid=$!
  for _ in $(seq 1 240); do
    grep -qs "serving http://" "$dir/$name.log" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "soak: the $name server did not start:" >&2
  tail -n 5 "$dir/$name.log" >&2
  exit 1
}
serve caption "$port" caption "$root/models/caption"
caption_pid=$server_pid
pids+=("$caption_pid")
serve vqa "$((port + 1))" vqa "$root/models/vqa-128"
vqa_pid=$server_pid
pids+=("$vqa_pid")

# Three page viewers per server, connected for the whole run.
for p in "$port" "$((port + 1))"; do
  for v in 1 2 3; do
    # Ends by itself at the end of the run, so it prints its byte count (a killed curl prints none).
    curl -sN --max-time "$seconds" "http://127.0.0.1:$p/stream.mjpg" -o /dev/null \
      -w "%{size_download}\n" >"$dir/mjpeg-$p-$v.log" 2>&1 &
    pids+=($!)
    curl -sN --max-time "$((seconds + 60))" "http://127.0.0.1:$p/events" >"$dir/events-$p-$v.sse" 2>&1 &
    pids+=($!)
    sleep 1
  done
done

# A question every 10 s to the vqa server (status codes kept).
questions=("what color is the shape?" "what shape is it?" "how many shapes are there?"
  "is there a circle?" "what is in the picture?")
(
  n=0
  end=$(($(date +%s) + seconds))
  while [ "$(date +%s)" -lt "$end" ]; do
    q="${questions[$((n % ${#questions[@]}))]}"
    curl -sS -o /dev/null -w "%{http_code} %{time_total}\n" --max-time 5 -X POST \
      -H 'Content-Type: application/json' --data "{\"question\":\"$q\"}" \
      "http://127.0.0.1:$((port + 1))/question" >>"$dir/questions.log" 2>>"$dir/questions.err" || true
    n=$((n + 1))
    sleep 10
  done
) &
pids+=($!)

# sample NAME PID MINUTE: one CSV row from /proc.
sample() {
  local rss threads fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$2/status" 2>/dev/null || true)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$2/status" 2>/dev/null || true)
  fds=$(ls "/proc/$2/fd" 2>/dev/null | wc -l)
  [ -n "$rss" ] || return 1
  echo "$3,$1,$rss,$fds,$threads,$(grep -c '"kind":"\(caption\|answer\)"' "$dir/$1.jsonl" || true)" >>"$dir/soak.csv"
}
echo "minute,process,rss_kib,fds,threads,results" >"$dir/soak.csv"
echo "soak: $minutes min, $bin, servers on 127.0.0.1:$port (caption) and :$((port + 1)) (vqa); samples in $dir/soak.csv" >&2
status=0
sample caption "$caption_pid" 0 && sample vqa "$vqa_pid" 0 || status=1
for m in $(seq 1 "$minutes"); do
  sleep 60
  sample caption "$caption_pid" "$m" || { echo "soak: caption server gone at minute $m" >&2; status=1; }
  sample vqa "$vqa_pid" "$m" || { echo "soak: vqa server gone at minute $m" >&2; status=1; }
done

# The end: stop the viewers and the servers (Ctrl-C: a clean summary line), then report.
cleanup_viewers() { for p in "${pids[@]:2}"; do kill "$p" 2>/dev/null || true; done; }
cleanup_viewers
kill -INT "$caption_pid" "$vqa_pid" 2>/dev/null || true
wait "$caption_pid" || status=1
wait "$vqa_pid" || status=1

awk -F, 'NR > 1 {
    if (!($2 in first)) { first[$2] = $3; ffd[$2] = $4; fth[$2] = $5 }
    last[$2] = $3; lfd[$2] = $4; lth[$2] = $5; res[$2] = $6
    if ($3 > max[$2]) max[$2] = $3
    if ($4 > mfd[$2]) mfd[$2] = $4
  }
  END {
    for (p in first)
      printf "%-7s RSS first %.1f MiB, last %.1f MiB, max %.1f MiB; fds first %d, last %d, max %d; threads first %d, last %d; results %d\n",
        p, first[p] / 1024, last[p] / 1024, max[p] / 1024, ffd[p], lfd[p], mfd[p], fth[p], lth[p], res[p]
  }' "$dir/soak.csv"
for p in "$port" "$((port + 1))"; do
  echo "viewers on :$p: events received $(cat "$dir"/events-"$p"-*.sse | grep -c '^data:' || true)," \
    "MJPEG bytes $(awk '{s += $1} END {print s + 0}' "$dir"/mjpeg-"$p"-*.log)"
done
echo "questions: $(wc -l <"$dir/questions.log") sent, $(grep -c '^204 ' "$dir/questions.log" || true) accepted (204)"
echo "caption summary: $(grep '"kind":"summary"' "$dir/caption.jsonl" || echo none)"
echo "vqa summary:     $(grep '"kind":"summary"' "$dir/vqa.jsonl" || echo none)"
exit "$status"
