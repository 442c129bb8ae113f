#!/usr/bin/env bash
# Reference data of the caption metrics (called by scripts/setup.sh; idempotent):
#   - pycocoevalcap 1.2's METEOR 1.5 jar and its paraphrase table, from the PyPI wheel (pip as a
#     download client only) into .cache/pycocoevalcap/meteor/; `unival score` runs it under Java
#     to compute METEOR exactly as pycocoevalcap does (Java: Debian default-jre-headless);
#   - aac-metrics 0.6.0's example caption sets (example_1.csv, example_2.csv), from its PyPI sdist
#     into .cache/aac-metrics/data/, for metrics/tests/coco_caption_parity.rs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
meteor="$root/.cache/pycocoevalcap/meteor"
aac="$root/.cache/aac-metrics/data"

if ! command -v java >/dev/null 2>&1; then
  echo "setup: installing Debian package default-jre-headless (METEOR)" >&2
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo -E)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$meteor/meteor-1.5.jar" ] || [ ! -f "$meteor/data/paraphrase-en.gz" ]; then
  echo "setup: fetching pycocoevalcap 1.2's METEOR jar from PyPI (wheel, used as an archive)" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "pycocoevalcap==1.2"
  mkdir -p "$meteor/data"
  unzip -q -j -o "$tmp"/pycocoevalcap-1.2-*.whl 'pycocoevalcap/meteor/meteor-1.5.jar' -d "$meteor"
  unzip -q -j -o "$tmp"/pycocoevalcap-1.2-*.whl 'pycocoevalcap/meteor/data/paraphrase-en.gz' -d "$meteor/data"
fi
if [ ! -f "$aac/example_1.csv" ] || [ ! -f "$aac/example_2.csv" ]; then
  echo "setup: fetching aac-metrics 0.6.0's example caption sets from PyPI (sdist, used as an archive)" >&2
  python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$tmp" "aac-metrics==0.6.0"
  mkdir -p "$aac"
  tar -xzf "$tmp"/aac_metrics-0.6.0.tar.gz -C "$tmp" aac_metrics-0.6.0/data/example_1.csv aac_metrics-0.6.0/data/example_2.csv
  cp "$tmp"/aac_metrics-0.6.0/data/example_{1,2}.csv "$aac/"
fi
