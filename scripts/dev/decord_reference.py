#!/usr/bin/env python3
"""DEV-ONLY: run decord 0.6.0 itself (the original UnIVAL's video reader) on the clips the Rust
tests synthesise, to learn what the tests must assert. The project never runs this; CI does not
need decord. Needs numpy and the ffmpeg CLI.

    pip download decord==0.6.0 --no-deps --only-binary=:all: --python-version 3.10 \
        --platform manylinux2010_x86_64 -d /tmp/decord-wheel
    python3 -m zipfile -e /tmp/decord-wheel/decord-0.6.0-*.whl /tmp/decord-wheel/x
    python3 scripts/dev/decord_reference.py /tmp/decord-wheel/x [../shared/oracle/dev/video_decode]

The wheel bundles FFmpeg 4.1 (libswscale 5.3) and its pure-Python ctypes wrapper loads on
Python 3.11. For each clip it prints decord's len, average fps and an md5 prefix per frame (or
the error), and the same for the ffmpeg CLI's RGB24 frames with `scale=…:flags=bilinear` (what
the runtime builds), so differences show at a glance. With the oracle directory it also checks
that decord reproduces `video_decode/*.frames.npy`.

What it showed (2026-12, FFmpeg 5.1 CLI):
- video_decode: decord == oracle on all 10 clips; the runtime's graph with flags=bilinear equals
  decord on all 10 (FFmpeg ≥ 5 defaults the scale filter to bicubic: 3 odd-height 4:2:0 clips
  then differ by up to 102 levels).
- rotate=180: decord's frames are the unrotated ones turned by half; rotate=90/270: decord's
  get_batch raises ("The size must exactly match").
- edit list (`-ss 0.45 -c copy`): len 30 (packets), frames 0..24 the shown ones, 25..29 repeat
  the last frame.
- MPEG-2 in TS: len 15, frames 3..14 all equal frame 2 (decord's seek); H.264 in TS: raises.
- VFR mkv: len 15, fps 10, frames in order; VFR mp4: len 15, fps 2.0 (FFmpeg 5.1 says 5.0).
- audio-only, truncated, zero-byte files: decord raises.
"""

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def md5(frame):
    return hashlib.md5(frame.tobytes()).hexdigest()[:6]


def make_clips(d: Path):
    src = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10"]
    x264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    vfr = ["-vf", "setpts='N*N/2/TB/10'", "-fps_mode", "passthrough"]
    ffmpeg(*src, "-frames:v", "12", *x264, str(d / "base.mp4"))
    for deg in (90, 180, 270):
        ffmpeg("-i", str(d / "base.mp4"), "-c", "copy", "-metadata:s:v:0", f"rotate={deg}",
               str(d / f"rot{deg}.mp4"))
    ffmpeg(*src, "-frames:v", "15", *x264, "-bf", "2", str(d / "h264.ts"))
    ffmpeg(*src, "-frames:v", "15", "-c:v", "mpeg2video", str(d / "mpeg2.ts"))
    ffmpeg(*src, "-frames:v", "15", *vfr, *x264, str(d / "vfr.mkv"))
    ffmpeg(*src, "-frames:v", "15", *vfr, *x264, str(d / "vfr.mp4"))
    ffmpeg(*src, "-frames:v", "30", *x264, "-g", "10", "-bf", "2", str(d / "long.mp4"))
    ffmpeg("-ss", "0.45", "-i", str(d / "long.mp4"), "-c", "copy", str(d / "edit.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(d / "tone.m4a"))
    data = (d / "base.mp4").read_bytes()
    (d / "cut_end.mp4").write_bytes(data[:-200])
    (d / "zero.mp4").write_bytes(b"")


def cli_frames(path: Path, w: int, h: int):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-noautorotate", "-i", str(path), "-vsync", "passthrough",
         "-vf", f"scale={w}:{h}:flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def report(decord, path: Path):
    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        n = len(vr)
        frames = vr.get_batch(list(range(n))).asnumpy()
        print(f"{path.name}: decord len {n} fps {vr.get_avg_fps()} "
              f"{[md5(f) for f in frames]}")
        h, w = frames.shape[1:3]
        cli = cli_frames(path, w, h)
        print(f"{path.name}: cli    n {len(cli)} {[md5(f) for f in cli]}")
    except Exception as e:  # decord raises DECORDError / RuntimeError
        first = str(e).strip().splitlines()[0][:160]
        print(f"{path.name}: decord ERROR {type(e).__name__}: {first}")


def check_oracle(decord, d: Path):
    cases = json.loads((d / "cases.json").read_text())["cases"]
    for c in cases:
        vr = decord.VideoReader(str(d / c["file"]), num_threads=1)
        got = vr.get_batch(c["indices"]).asnumpy()
        want = np.load(d / c["frames"])
        n, h, w, _ = c["shape"]
        ours = cli_frames(d / c["file"], w, h)[c["indices"]]
        print(f"{c['file']}: decord == oracle {np.array_equal(got, want)}, "
              f"bilinear graph == oracle {np.array_equal(ours, want)}")


def main():
    sys.path.insert(0, sys.argv[1])
    import decord  # noqa: E402  (from the unpacked wheel)

    if len(sys.argv) > 2:
        check_oracle(decord, Path(sys.argv[2]))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_clips(d)
        for name in ["base.mp4", "rot90.mp4", "rot180.mp4", "rot270.mp4", "h264.ts", "mpeg2.ts",
                     "vfr.mkv", "vfr.mp4", "long.mp4", "edit.mp4", "tone.m4a", "cut_end.mp4",
                     "zero.mp4"]:
            report(decord, d / name)


if __name__ == "__main__":
    main()
