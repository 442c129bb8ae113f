#!/usr/bin/env bash
# DEV-ONLY (h-export refactor check): exports a fixed set of bundles with the built `unival`
# into $1 (default /tmp/h-export-new) and, when $2 is given, `cmp`s every file against the
# bundles in $2 (e.g. /tmp/h-export-ref). Not run by CI.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${1:-/tmp/h-export-new}
REF=${2:-}
BIN=${UNIVAL_BIN:-target/debug/unival}
DEMO=models/checkpoints/demo_shapes.pt
ORA=../shared/oracle/dev/checkpoints
rm -rf "$OUT"; mkdir -p "$OUT"
fail=0
run() { # name, args...
  local name=$1; shift
  if ! "$BIN" export "$@" --out "$OUT/$name" >"$OUT/$name.log" 2>&1; then
    echo "EXPORT FAILED: $name"; tail -3 "$OUT/$name.log"; fail=1
  fi
}
for p in fp32 fp16 int8 int4; do
  run "demo-$p" --checkpoint $DEMO --task caption --precision $p
done
for p in int8 int4; do
  run "demo-$p-convs" --checkpoint $DEMO --task caption --precision $p --quantize-convs all
done
for t in audio_caption video_caption; do
  for p in fp32 int8; do run "av-$t-$p" --checkpoint $ORA/micro_av_fp16.pt --task $t --precision $p; done
done
for t in refcoco vqa; do
  for p in fp32 int8; do run "img-$t-$p" --checkpoint $ORA/micro_img_fp16.pt --task $t --precision $p; done
done
if [ -n "$REF" ]; then
  same=0; diff=0
  for f in $(cd "$REF" && find . -type f ! -name '*.log' | sort); do
    if cmp -s "$REF/$f" "$OUT/$f"; then same=$((same+1)); else echo "DIFFERS: $f"; diff=$((diff+1)); fi
  done
  extra=$(cd "$OUT" && find . -type f ! -name '*.log' | while read -r f; do [ -e "$REF/$f" ] || echo "$f"; done)
  [ -n "$extra" ] && echo "EXTRA: $extra" && diff=$((diff+1))
  echo "cmp: $same identical, $diff differ"
  [ $diff -eq 0 ] || fail=1
fi
exit $fail
