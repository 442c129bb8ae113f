#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian machine, without any
# network but the package registries:
#   - Debian packages the crates build against (FFmpeg's libav* headers and clang/libclang for the
#     `ffmpeg-next` bindings of the video input, also used by `nokhwa`'s V4L2 bindings for
#     cameras; ALSA's libasound2-dev for `cpal` microphones, whose alsa.conf the FIFO-fed test
#     microphone includes; libsndfile1-dev for audio-file decoding (what `soundfile` wraps);
#     the `ffmpeg` CLI makes the video tests' clips;
#     `chromium` and `chromium-driver` for the live web page's browser test; `ca-certificates`,
#     the trusted roots `unival pull` verifies HTTPS servers with; `curl` carries the Triton
#     test's gRPC calls over HTTP/2);
#   - the ONNX Runtime shared library, taken from the official PyPI wheel (pip is used only as a
#     download client; no Python runs in the project) into .cache/onnxruntime/<version>/;
#   - tritonserver from the nvidia-pytriton wheel (55 MB, seconds) into .cache/triton/, for the
#     Triton backend's test (scripts/triton.sh fetch).
# Idempotent: a second run does nothing that is already done.
set -euo pipefail

ORT_VERSION="${UNIVAL_ORT_VERSION:-1.22.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/onnxruntime/$ORT_VERSION"

need_apt=()
for pkg in unzip pkg-config clang libclang-dev \
  libavcodec-dev libavformat-dev libavfilter-dev libswscale-dev libswresample-dev \
  libavutil-dev ffmpeg libasound2-dev libsndfile1-dev libjpeg62-turbo-dev chromium chromium-driver ca-certificates curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install: ${need_apt[*]}" >&2; exit 1; }
    sudo=(sudo -E)
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

lib="$(ls "$cache"/libonnxruntime.so.* 2>/dev/null | head -n1 || true)"
if [ -z "$lib" ]; then
  echo "setup: fetching ONNX Runtime $ORT_VERSION from PyPI (wheel, used as an archive)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  arch="$(uname -m)"
  case "$arch" in
    x86_64) plat=manylinux_2_27_x86_64 ;;
    aarch64) plat=manylinux_2_27_aarch64 ;;
    *) echo "setup: no ONNX Runtime wheel for $arch; set ORT_DYLIB_PATH to your own build" >&2; exit 1 ;;
  esac
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform "$plat" --python-version 3.11 --implementation cp \
    -d "$tmp" "onnxruntime==$ORT_VERSION"
  wheel="$(ls "$tmp"/onnxruntime-*.whl)"
  mkdir -p "$cache"
  unzip -q -j -o "$wheel" 'onnxruntime/capi/libonnxruntime.so.*' -d "$cache"
  lib="$(ls "$cache"/libonnxruntime.so.* | head -n1)"
fi
echo "setup: ONNX Runtime library: $lib" >&2
echo "setup: tritonserver: $("$root/scripts/triton.sh" fetch)" >&2
"$root/scripts/setup_image_suites.sh"
"$root/scripts/setup_metrics.sh"
