#!/usr/bin/env python3
"""DEV-ONLY: writes the audio format fixtures and the original's expected values.

Not run by the project, its build or its tests. Run once in a throwaway venv:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install soundfile 'numpy<2' \
        torch==2.1.2 torchaudio==2.1.2
    /tmp/venv/bin/python scripts/dev/audio_format_fixtures.py
Needs Debian's sonic-pi-samples (CC0 recordings) and sox.

The original's chain (issue 11): soundfile.read (float64) -> np.mean(axis=1) ->
torchaudio.transforms.Resample(orig, 48000) on the float32 tensor (only when orig != 48000) ->
float32_to_int16 / int16_to_float32. Expected values are recorded as the int16 codes
`trunc(clip(x, -1, 1) * 32767)` the round trip produces, plus SHA-256 of the float64 mono
signal for the formats that must decode exactly.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
import torch
import torchaudio

OUT = os.path.join(os.path.dirname(__file__), "../../runtime/src/audio/testdata/formats")
SAMPLES = "/usr/share/sonic-pi/samples"


def sox(args):
    subprocess.run(["sox", *args], check=True)


def mono(path):
    data, rate = sf.read(path)
    if data.ndim > 1:
        data = np.mean(data, axis=1)
    return data, rate


def codes_f64(x):
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


def original_codes(x, rate):
    """The original's int16 codes for mono float64 `x` at `rate`."""
    if rate == 48000:
        return codes_f64(x)
    t = torch.from_numpy(x).float()
    y = torchaudio.transforms.Resample(rate, 48000)(t).numpy()
    return (np.clip(y, -1.0, 1.0) * 32767.0).astype(np.int16)


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    # 48 kHz stereo source: 3000 frames of drums from 0.5 s (sox's resampler, then soundfile).
    src48 = os.path.join(tmp, "src48.wav")
    sox([f"{SAMPLES}/loop_amen.flac", "-b", "32", "-e", "floating-point", src48,
         "rate", "-v", "48000", "trim", "0.5", "3000s"])
    stereo, _ = sf.read(src48)
    stereo = 0.9 * stereo / np.max(np.abs(stereo))
    six = np.stack([stereo[:, 0], stereo[:, 1], 0.5 * stereo[:, 0], -0.25 * stereo[:, 1],
                    stereo[:, 0] * 0.1, stereo[:, 1] * 0.7], axis=1)[:1200]
    nine = np.concatenate([six, six[:, :3] * 0.3], axis=1)[:600]
    exact = [
        # name, data, format, subtype
        ("pcm_u8.wav", stereo, "WAV", "PCM_U8"),
        ("pcm16.wav", stereo, "WAV", "PCM_16"),
        ("pcm24.wav", stereo[:1500], "WAV", "PCM_24"),
        ("pcm32.wav", stereo[:1000], "WAV", "PCM_32"),
        ("float32.wav", stereo[:1000] * 1.5, "WAV", "FLOAT"),
        ("float64.wav", stereo[:500], "WAV", "DOUBLE"),
        ("alaw.wav", stereo, "WAV", "ALAW"),
        ("ulaw.wav", stereo, "WAV", "ULAW"),
        ("ima_adpcm.wav", stereo, "WAV", "IMA_ADPCM"),
        ("ms_adpcm.wav", stereo, "WAV", "MS_ADPCM"),
        ("gsm610.wav", stereo[:, 0], "WAV", "GSM610"),
        ("pcm16.flac", stereo, "FLAC", "PCM_16"),
        ("pcm24.flac", stereo[:1500], "FLAC", "PCM_24"),
        ("pcm16.w64", stereo[:1000], "W64", "PCM_16"),
        ("pcm16.aiff", stereo[:1000], "AIFF", "PCM_16"),
        ("float32.aiff", stereo[:500], "AIFF", "FLOAT"),
        ("ulaw.au", stereo[:1000], "AU", "ULAW"),
        ("pcm16_6ch.wav", six, "WAVEX", "PCM_16"),
        ("pcm16_9ch.wav", nine, "WAVEX", "PCM_16"),
    ]
    lossy = [
        ("vorbis.ogg", stereo, "OGG", "VORBIS"),
        ("opus.ogg", stereo, "OGG", "OPUS"),
        ("mp3.mp3", stereo, "MP3", "MPEG_LAYER_III"),
    ]
    manifest = {"libsndfile": sf.__libsndfile_version__, "exact": [], "lossy": [],
                "resampled": [], "truncated": []}
    for name, data, fmt, sub in exact + lossy:
        path = os.path.join(OUT, name)
        sf.write(path, data, 48000, format=fmt, subtype=sub)
        x, rate = mono(path)
        info = sf.info(path)
        entry = {"file": name, "rate": rate, "channels": info.channels, "frames": len(x),
                 "sha256_f64": sha(x.astype("<f8")),
                 "sha256_codes": sha(original_codes(x, rate).astype("<i2"))}
        if (name, data, fmt, sub) in lossy:
            np.save(os.path.join(OUT, name + ".codes.npy"), original_codes(x, rate))
            manifest["lossy"].append(entry)
        else:
            manifest["exact"].append(entry)
    # Resampled inputs: mono and stereo 16-bit WAVs of 0.1 s at other rates (sox's resampler).
    for rate, ch in [(8000, 1), (11025, 1), (16000, 1), (22050, 2), (32000, 1), (44100, 2),
                     (96000, 1)]:
        name = f"rate{rate}_{ch}ch.wav"
        path = os.path.join(OUT, name)
        sox([f"{SAMPLES}/loop_amen.flac", "-b", "16", "-c", str(ch), path,
             "rate", "-v", str(rate), "trim", "0.5", "0.1", "gain", "-n", "-1"])
        x, r = mono(path)
        codes = original_codes(x, r)
        np.save(os.path.join(OUT, name + ".codes.npy"), codes)
        manifest["resampled"].append({"file": name, "rate": r, "channels": ch, "frames": len(x),
                                      "sha256_f64": sha(x.astype("<f8")),
                                      "out_len": len(codes)})
    # Truncated copies (made by the tests from the committed files): soundfile reads what is
    # there without complaint.
    for name, keep in [("pcm16.wav", 5000), ("pcm24.wav", 4000), ("ima_adpcm.wav", 2500),
                       ("pcm16.flac", 3000)]:
        raw = open(os.path.join(OUT, name), "rb").read()[:keep]
        cut = os.path.join(tmp, "cut_" + name)
        open(cut, "wb").write(raw)
        try:
            x, rate = mono(cut)
            manifest["truncated"].append({"file": name, "keep_bytes": keep, "frames": len(x),
                                          "sha256_f64": sha(x.astype("<f8"))})
        except Exception as e:  # noqa: BLE001
            manifest["truncated"].append({"file": name, "keep_bytes": keep, "error": str(e)})
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(json.dumps(manifest, indent=1)[:3000], file=sys.stderr)


if __name__ == "__main__":
    main()
