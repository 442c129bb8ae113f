#!/usr/bin/env python3
"""DEV-ONLY (never run by the project or its tests): records how Pillow 10.0.0 reads every file
of the image test suites, as the fixture `tests/fixtures/pillow10_images.json`.

Reference behaviour is the original's: `Image.open(f).convert("RGB")` with
`ImageFile.LOAD_TRUNCATED_IMAGES = True` and `Image.MAX_IMAGE_PIXELS = None`.

Run in a throwaway venv:
    python3 -m venv /tmp/pil10 && /tmp/pil10/bin/pip install Pillow==10.0.0
    scripts/setup_image_suites.sh            # unpacks the suites into .cache/image-suites/
    /tmp/pil10/bin/python scripts/dev/pillow_expected.py .cache/image-suites > tests/fixtures/pillow10_images.json

Each entry, keyed by `<suite>/<path inside the suite>`:
  {"format": "PNG", "width": W, "height": H, "sha256": hex of the RGB bytes, "truncated": bool}
  {"format": "TIFF", "width": W, "height": H, "skipped": "format"}   (a format the runtime does not read)
  {"format": "GIF", "width": W, "height": H, "skipped": "bomb"}      (over 2 x 89,478,485 pixels)
  {"error": "<ExceptionType>: message"}                                (Pillow refuses)
"""

import hashlib
import json
import os
import sys
import warnings

import PIL
from PIL import Image, ImageFile

assert PIL.__version__ == "10.0.0", PIL.__version__

SUITES = {
    "pillow": "Pillow-10.0.0/Tests/images",
    "pngsuite": "pngsuite",
}
# Formats the runtime decodes (Pillow's format names); others are recorded without pixels.
READ_FORMATS = {"PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP"}
BOMB_PIXELS = 2 * 89_478_485

Image.MAX_IMAGE_PIXELS = None


def decode(path, truncated_ok):
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
    with Image.open(path) as im:
        im.load()
        return im.convert("RGB")


def record(path):
    # Open under the original's setting: some chunk handlers (e.g. PNG zTXt past
    # MAX_TEXT_CHUNK) only refuse when truncated images are not allowed, and `decode` below
    # leaves the flag as its last call set it.
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt, (w, h) = im.format, im.size
    except Exception as e:  # noqa: BLE001 - the refusal itself is the datum
        return {"error": f"{type(e).__name__}: {e}"}
    head = {"format": fmt, "width": w, "height": h}
    if fmt not in READ_FORMATS:
        return {**head, "skipped": "format"}
    if w * h > BOMB_PIXELS:
        return {**head, "skipped": "bomb"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rgb = decode(path, True)  # the original's setting gives the pixels
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}
    # Informative only: whether Pillow needs LOAD_TRUNCATED_IMAGES for this file at all.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decode(path, False)
        truncated = False
    except Exception:  # noqa: BLE001
        truncated = True
    return {
        "format": fmt,
        "width": rgb.width,
        "height": rgb.height,
        "sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
        "truncated": truncated,
    }


def main():
    root = sys.argv[1]
    out = {}
    for suite, sub in SUITES.items():
        base = os.path.join(root, sub)
        for dirpath, _, files in os.walk(base):
            for name in files:
                path = os.path.join(dirpath, name)
                key = f"{suite}/{os.path.relpath(path, base)}"
                print(key, file=sys.stderr, flush=True)
                out[key] = record(path)
    json.dump(dict(sorted(out.items())), sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
