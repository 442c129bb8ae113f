#!/usr/bin/env bash
# Downloads the public image test suites the decoder parity test checks every file of, into
# .cache/image-suites/ (called by scripts/setup.sh; idempotent):
#   - Pillow 10.0.0's own `Tests/images`, from its source archive on PyPI (pip is only the
#     download client; nothing is built or run);
#   - libpng's PngSuite (`contrib/pngsuite`), from Debian's libpng1.6 source archive, fetched
#     from the Debian pool (UNIVAL_DEBIAN_MIRROR overrides http://deb.debian.org/debian).
# Both archives are pinned by SHA-256.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/image-suites"
pillow_sha=9c82b5b3e043c7af0d95792d0d20ccf68f61a1fec6b3530e718b688422727396
libpng_file=libpng1.6_1.6.39.orig.tar.gz
libpng_sha=a00e9d2f2f664186e4202db9299397f851aea71b36a35e74910b8820e380d441

if [ -f "$dest/.done" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check() { # file sha
  echo "$2  $1" | sha256sum -c --quiet - || { echo "setup: $1: unexpected SHA-256" >&2; exit 1; }
}

echo "setup: fetching Pillow 10.0.0 Tests/images (sdist from PyPI, used as an archive)" >&2
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "Pillow==10.0.0"
check "$tmp/Pillow-10.0.0.tar.gz" "$pillow_sha"

mirror="${UNIVAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
echo "setup: fetching PngSuite ($libpng_file from $mirror)" >&2
curl -sSf -o "$tmp/$libpng_file" "${mirror%/}/pool/main/libp/libpng1.6/$libpng_file"
check "$tmp/$libpng_file" "$libpng_sha"

rm -rf "$dest"
mkdir -p "$dest"
tar -xzf "$tmp/Pillow-10.0.0.tar.gz" -C "$dest" Pillow-10.0.0/Tests/images
tar -xzf "$tmp/$libpng_file" -C "$tmp" libpng-1.6.39/contrib/pngsuite
mv "$tmp/libpng-1.6.39/contrib/pngsuite" "$dest/pngsuite"
touch "$dest/.done"
echo "setup: image suites in $dest" >&2
