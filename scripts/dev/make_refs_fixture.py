#!/usr/bin/env python3
"""DEV-ONLY: writes apps/src/commands/eval/readers/testdata/refs_tiny.p, a two-ref RefCOCO
`refs(unc).p` in the layout of the REFER toolkit (pickle protocol 2, as the released files), for the
`unival eval refcoco` reader's unit test. The project never runs Python."""
import pickle
from pathlib import Path

refs = [
    {"sent_ids": [10, 11], "file_name": "COCO_train2014_000000000042_7.jpg", "ann_id": 7,
     "ref_id": 1, "image_id": 42, "split": "val", "category_id": 1,
     "sentences": [{"tokens": ["man", "left"], "raw": "Man on the LEFT", "sent_id": 10, "sent": "man on the left"},
                   {"tokens": ["left", "guy"], "raw": "left guy", "sent_id": 11, "sent": "left guy"}]},
    {"sent_ids": [12], "file_name": "COCO_train2014_000000000043_8.jpg", "ann_id": 8,
     "ref_id": 2, "image_id": 43, "split": "train", "category_id": 1,
     "sentences": [{"tokens": ["dog"], "raw": "dog", "sent_id": 12, "sent": "dog"}]},
]
out = Path(__file__).resolve().parents[2] / "apps/src/commands/eval/readers/testdata/refs_tiny.p"
out.write_bytes(pickle.dumps(refs, protocol=2))
print(out)
