#!/usr/bin/env bash
# The README's main job on a fresh machine: set-up, build, export the trained toy-domain
# checkpoint shipped in models/checkpoints/ to an ONNX bundle, and caption its test images.
# Usage: scripts/demo.sh [IMAGES...]   (default: ../shared/demo/test/*.png, else models/demo-images)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo build --release -p unival-apps --quiet
unival=target/release/unival
# Export when there is no bundle yet, or when the one there no longer loads (e.g. an older
# manifest format).
if ! "$unival" inspect models/caption >/dev/null 2>&1; then
  "$unival" export --checkpoint models/checkpoints/demo_shapes.pt --task caption --out models/caption
fi
"$unival" inspect models/caption >/dev/null
if [ $# -gt 0 ]; then
  images=("$@")
else
  shopt -s nullglob
  images=(../shared/demo/test/*.png)
  [ ${#images[@]} -gt 0 ] || images=(models/demo-images/*.png)
fi
"$unival" caption --model models/caption "${images[@]}"
