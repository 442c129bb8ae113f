#!/usr/bin/env python3
"""DEV-ONLY (never run by the project or its tests): checks that Pillow 10.0.0 reads the small
hand-built BMP files of runtime/src/vision/decode/bmp/tests.rs as those tests expect.

Run in a throwaway venv:
    python3 -m venv /tmp/pil10 && /tmp/pil10/bin/pip install Pillow==10.0.0
    /tmp/pil10/bin/python scripts/dev/bmp_quirks_check.py
Files are written to a temporary folder and opened by path, as the original does.
"""

import os
import struct
import tempfile

import PIL
from PIL import Image, ImageFile

assert PIL.__version__ == "10.0.0", PIL.__version__
ImageFile.LOAD_TRUNCATED_IMAGES = True
PALETTE = [(10, 20, 30), (200, 0, 0), (0, 200, 0), (0, 0, 200)]


def info(width, height, bits, compression, colours, extra=b"", palette=()):
    out = struct.pack("<IiiHHI12xI4x", 40, width, height, 1, bits, compression, colours)
    out += extra
    for r, g, b in palette:
        out += bytes([b, g, r, 0])
    return out


def bmp(width, height, bits, compression, pixels, colours=None, extra=b"", palette=PALETTE):
    colours = len(palette) if colours is None else colours
    head = info(width, height, bits, compression, colours, extra, palette)
    offset = 14 + len(head)
    return b"BM" + struct.pack("<I4xI", offset + len(pixels), offset) + head + bytes(pixels)


def direct(width, height, bits, compression, pixels, extra=b""):
    return bmp(width, height, bits, compression, pixels, 0, extra, ())


def colours(indices):
    return [PALETTE[i] if i < len(PALETTE) else (i, i, i) for i in indices]


def read(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.bmp")
        with open(path, "wb") as f:
            f.write(data)
        try:
            with Image.open(path) as im:
                return list(im.convert("RGB").getdata())
        except Exception as e:  # noqa: BLE001 - the refusal is the datum
            return f"refused: {type(e).__name__}: {e}"


def check(name, data, expected):
    got = read(data)
    ok = got == expected or (expected == "refused" and isinstance(got, str))
    print(f"{'ok ' if ok else 'BAD'} {name}: {got if not ok else ''}")
    return ok


def masks(*values):
    return b"".join(struct.pack("<I", v) for v in values)


def words(*values):
    return b"".join(struct.pack("<H", v) for v in values)


CASES = [
    ("rle8 delta", bmp(4, 2, 8, 1, [2, 1, 0, 2, 9, 9, 1, 0, 1, 3, 0, 0, 3, 2, 1, 1, 0, 1]),
     colours([2, 2, 2, 1, 1, 1, 0, 3])),
    ("rle8 clip/spill", bmp(4, 3, 8, 1, [6, 1, 0, 5, 2, 2, 2, 2, 3, 0, 0, 0, 0, 1]),
     colours([3, 0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1])),
    ("rle8 short", bmp(4, 4, 8, 1, [6, 1, 0, 5, 2, 2, 2, 2, 3, 0, 0, 0, 0, 1]), "refused"),
    ("rle4 odd literal", bmp(4, 1, 4, 2, [0, 3, 0x12, 0x30, 2, 0x31, 0, 0, 0, 1]),
     colours([1, 2, 3, 0])),
    ("rle delta cut", bmp(4, 1, 8, 1, [0, 2, 1, 0, 5]), "refused"),
    ("rle rgb", direct(4, 1, 24, 1, [4, 0, 0, 1]), "refused"),
    ("bgr15", direct(4, 1, 16, 0, words(0x7FFF, 0x0001, 0x0421, 0x7C00)),
     [(255, 255, 255), (0, 0, 8), (8, 8, 8), (255, 0, 0)]),
    ("bgr16", direct(2, 1, 16, 3, words(0x0020, 0xFFFF), masks(0xF800, 0x7E0, 0x1F)),
     [(0, 4, 0), (255, 255, 255)]),
    ("bitfields outside table", direct(1, 1, 32, 3, [1, 2, 3, 4], masks(0xFF, 0xFF00, 0xFF0000)),
     "refused"),
    ("truncated rows", bmp(2, 3, 8, 0, [1, 2, 0, 0]), colours([0, 0, 0, 0, 1, 2])),
    ("grey palette", bmp(3, 1, 8, 0, [2, 1, 200, 0], palette=[(0,) * 3, (1,) * 3, (2,) * 3]),
     [(2,) * 3, (1,) * 3, (200,) * 3]),
    ("index past palette", bmp(2, 1, 8, 0, [3, 7, 0, 0]), colours([3, 7])),
    ("dib top-down bitfields",
     info(1, -2, 32, 3, 0, masks(0xFF0000, 0xFF00, 0xFF)) + bytes([3, 2, 1, 0, 6, 5, 4, 0]),
     [(1, 2, 3), (4, 5, 6)]),
]

fixed = bytearray(bmp(1, 1, 8, 0, [2, 0, 0, 0]))
fixed[10:14] = struct.pack("<I", 54)
CASES.append(("offset after header", bytes(fixed), colours([2])))
bad_size = bytearray(bmp(1, 1, 8, 0, [0] * 4))
bad_size[14] = 41
CASES += [
    ("header size 41", bytes(bad_size), "refused"),
    ("depth 2", bmp(1, 1, 2, 0, [0] * 4), "refused"),
    ("compression 4", direct(1, 1, 24, 4, [0] * 4), "refused"),
    ("zero width", bmp(0, 1, 8, 0, [0] * 4), "refused"),
    ("300 colours", bmp(1, 1, 8, 0, [0] * 4, palette=[(1, 2, 3)] * 300), "refused"),
    ("short file header", b"BM\0\0\0\0", "refused"),
    ("short bitmap header", direct(1, 1, 24, 0, [])[:30], "refused"),
]
RAMP16 = [(i, i, i) for i in range(16)]
NIBBLES = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]
CASES += [
    ("4-bit grey ramp, mapped overlapping rows", bmp(8, 2, 4, 0, NIBBLES, palette=RAMP16),
     [(v,) * 3 for v in NIBBLES[4:] + [0] * 4 + NIBBLES]),
    ("4-bit grey ramp, short file: blank", bmp(8, 2, 4, 0, NIBBLES[:7], palette=RAMP16),
     [(0, 0, 0)] * 16),
    ("8-bit black/white palette read as bits", bmp(4, 1, 8, 0, [0b1010_0000, 9, 9, 9],
     palette=[(0, 0, 0), (255, 255, 255)]), [(255,) * 3, (0,) * 3, (255,) * 3, (0,) * 3]),
]

if __name__ == "__main__":
    results = [check(*case) for case in CASES]
    print(f"{sum(results)}/{len(results)} as the Rust tests expect")
    raise SystemExit(0 if all(results) else 1)
