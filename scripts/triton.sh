#!/usr/bin/env bash
# Serves bundles on NVIDIA Triton Inference Server through the `unival` backend (serve/triton).
#
#   scripts/triton.sh fetch              # tritonserver into .cache/triton/ (prints its path)
#   scripts/triton.sh backend            # builds libtriton_unival.so into .cache/triton/backends/unival/
#   scripts/triton.sh serve REPO [ARGS]  # both, then runs the server on 127.0.0.1 with REPO
#                                        # (ARGS go to tritonserver, e.g. --log-verbose=1)
#
# The server comes from the `nvidia-pytriton` wheel on PyPI, which ships a complete
# `tritonserver` (2.51) with its shared libraries: pip is used only as a download client (as
# setup.sh does for ONNX Runtime), the wheel is unpacked and deleted; no Python runs. Wheels
# exist for x86_64 (manylinux_2_35_x86_64) and aarch64 (manylinux_2_35_aarch64). The CPU-only
# server here logs that it finds no CUDA driver and no DCGM, and goes on.
#
# What was needed to make it start on a machine without a GPU: nothing beyond the wheel. The
# binary's RPATH ($ORIGIN/../../../nvidia_pytriton.libs) finds every bundled library (libcudart,
# libtritonserver, libdcgm, libssl, ...) when the wheel's layout is kept, which is why the
# script unpacks `pytriton/tritonserver/` and `nvidia_pytriton.libs/` side by side.
#
# Environment: UNIVAL_TRITON_VERSION (wheel version, default 0.7.0), UNIVAL_TRITON_HTTP /
# _GRPC / _METRICS (ports, default 8000 / 8001 / 8002), UNIVAL_TRITON_PROFILE (cargo profile of
# the backend, default release), ORT_DYLIB_PATH (ONNX Runtime; default: the one setup.sh
# fetched).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${UNIVAL_TRITON_VERSION:-0.7.0}"
cache="$root/.cache/triton"
dist="$cache/$version"
server="$dist/pytriton/tritonserver/bin/tritonserver"
backends="$cache/backends"

fetch() {
  if [ -x "$server" ]; then
    echo "$server"
    return
  fi
  case "$(uname -m)" in
    x86_64) plat=manylinux_2_35_x86_64 ;;
    aarch64) plat=manylinux_2_35_aarch64 ;;
    *) echo "triton.sh: no nvidia-pytriton wheel for $(uname -m)" >&2; exit 1 ;;
  esac
  command -v unzip >/dev/null || { echo "triton.sh: needs unzip (scripts/setup.sh installs it)" >&2; exit 1; }
  echo "triton.sh: fetching tritonserver from nvidia-pytriton $version ($plat, ~55 MB)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$plat" \
    --python-version 3.11 --implementation cp -d "$tmp" "nvidia-pytriton==$version"
  mkdir -p "$dist"
  # The server, its local cache plug-in and the bundled libraries, in the wheel's layout.
  unzip -q -o "$tmp"/nvidia_pytriton-*.whl 'pytriton/tritonserver/bin/*' \
    'pytriton/tritonserver/caches/*' 'nvidia_pytriton.libs/*' -d "$dist"
  chmod +x "$server"
  echo "$server"
}

backend() {
  local profile="${UNIVAL_TRITON_PROFILE:-release}" dir
  cargo build --manifest-path "$root/Cargo.toml" -p unival-triton --profile "$profile" >&2
  dir="$root/target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
  mkdir -p "$backends/unival"
  cp "$dir/libtriton_unival.so" "$backends/unival/libtriton_unival.so"
  echo "$backends/unival/libtriton_unival.so"
}

serve() {
  local repo="${1:?usage: scripts/triton.sh serve REPO [tritonserver args]}"
  shift
  fetch >/dev/null
  backend >/dev/null
  if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    ORT_DYLIB_PATH="$(ls "$root"/.cache/onnxruntime/*/libonnxruntime.so.* 2>/dev/null | sort -V | tail -n1 || true)"
    [ -n "$ORT_DYLIB_PATH" ] || { echo "triton.sh: no ONNX Runtime; run scripts/setup.sh or set ORT_DYLIB_PATH" >&2; exit 1; }
    export ORT_DYLIB_PATH
  fi
  exec "$server" --model-repository="$repo" --backend-directory="$backends" \
    --http-address=127.0.0.1 --http-port="${UNIVAL_TRITON_HTTP:-8000}" \
    --grpc-address=127.0.0.1 --grpc-port="${UNIVAL_TRITON_GRPC:-8001}" \
    --metrics-address=127.0.0.1 --metrics-port="${UNIVAL_TRITON_METRICS:-8002}" \
    --allow-metrics=true --strict-readiness=true "$@"
}

case "${1:-}" in
  fetch) fetch ;;
  backend) backend ;;
  serve) shift; serve "$@" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
