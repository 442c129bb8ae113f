#!/usr/bin/env bash
# Benchmarks captioning on an NVIDIA GPU: `unival bench --preset base` with the CUDA and the
# TensorRT execution providers, one JSON report each.
#
# The GPU build of ONNX Runtime comes from the PyPI wheel `onnxruntime-gpu` (pip is only a
# download client, as in scripts/setup.sh; no Python runs in the project), unpacked into
# .cache/onnxruntime-gpu/<version>/. Unless the machine already has them (`--system-cuda`),
# the CUDA 12 runtime, cuBLAS, cuFFT, cuRAND, cuDNN 9 and TensorRT 10 libraries come from
# NVIDIA's PyPI wheels into the same directory. Without network, put the wheels in a directory
# and pass it as UNIVAL_GPU_WHEELS (they are then unpacked from there).
#
# Usage: scripts/gpu-bench.sh [--system-cuda] [--out DIR] [-- extra `unival bench` flags]
# Env:   UNIVAL_ORT_VERSION (default 1.22.1), UNIVAL_GPU_WHEELS (pre-downloaded wheels).
# Writes DIR/cuda.json and DIR/tensorrt.json (DIR default: bench-results/gpu-<date>); exits 1
# if either run failed (the other still runs), 2 when there is no NVIDIA GPU.
set -euo pipefail

ORT_VERSION="${UNIVAL_ORT_VERSION:-1.22.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/onnxruntime-gpu/$ORT_VERSION"
out="$root/bench-results/gpu-$(date +%Y%m%d-%H%M%S)"
system_cuda=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --system-cuda) system_cuda=1 ;;
    --out) out="$2"; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "gpu-bench: unknown argument $1 (see the header of $0)" >&2; exit 64 ;;
  esac
  shift
done

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-bench: no NVIDIA GPU here (nvidia-smi not found); run this on a machine with one" >&2
  exit 2
fi
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-bench: nvidia-smi found but it lists no GPU (driver not loaded?):" >&2
  nvidia-smi -L >&2 || true
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2

# Wheels to unpack: ONNX Runtime's GPU build, and the CUDA/TensorRT libraries it links to.
wheels=("onnxruntime-gpu==$ORT_VERSION")
if [ "$system_cuda" -eq 0 ]; then
  wheels+=(nvidia-cuda-runtime-cu12 nvidia-cublas-cu12 nvidia-cufft-cu12 nvidia-curand-cu12
    nvidia-cuda-nvrtc-cu12 "nvidia-cudnn-cu12>=9,<10" "tensorrt-cu12-libs>=10,<11")
fi

if ! ls "$cache"/libonnxruntime.so.* >/dev/null 2>&1; then
  src="${UNIVAL_GPU_WHEELS:-}"
  if [ -z "$src" ]; then
    src="$(mktemp -d)"
    trap 'rm -rf "$src"' EXIT
    echo "gpu-bench: downloading ${wheels[*]} from PyPI" >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --python-version 3.11 --implementation cp -d "$src" "${wheels[@]}"
  fi
  mkdir -p "$cache"
  found=0
  for whl in "$src"/*.whl; do
    [ -e "$whl" ] || continue
    # Only the shared libraries, flattened into one directory (found by the loader via
    # LD_LIBRARY_PATH below and by ONNX Runtime next to itself).
    unzip -q -j -o "$whl" '*.so' '*.so.*' -d "$cache" 2>/dev/null || true
    found=1
  done
  if [ "$found" -eq 0 ] || ! ls "$cache"/libonnxruntime.so.* >/dev/null 2>&1; then
    echo "gpu-bench: no onnxruntime-gpu wheel in $src" >&2
    exit 1
  fi
fi
lib="$(ls "$cache"/libonnxruntime.so.* | head -n1)"
if [ ! -e "$cache/libonnxruntime_providers_cuda.so" ]; then
  echo "gpu-bench: $cache has no libonnxruntime_providers_cuda.so (not a GPU build?)" >&2
  exit 1
fi
export ORT_DYLIB_PATH="$lib"
export LD_LIBRARY_PATH="$cache${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "gpu-bench: ONNX Runtime $lib" >&2

cd "$root"
cargo build --release -p unival-apps
mkdir -p "$out"
status=0
for device in cuda tensorrt; do
  echo "gpu-bench: unival bench --preset base --device $device" >&2
  if target/release/unival bench --preset base --device "$device" --iterations 10 \
      --out "$out/$device.json" "${extra[@]}" 2> "$out/$device.log"; then
    echo "gpu-bench: wrote $out/$device.json" >&2
  else
    echo "gpu-bench: $device run failed; last lines of $out/$device.log:" >&2
    tail -n 20 "$out/$device.log" >&2
    status=1
  fi
done
exit "$status"
