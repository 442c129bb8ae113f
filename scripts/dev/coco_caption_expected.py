#!/usr/bin/env python3
"""DEV-ONLY: expected caption metrics from pycocoevalcap 1.2 (the tool behind the paper's numbers).

The project never runs Python; this script writes the reference numbers that
metrics/tests/coco_caption_parity.rs compares the Rust metrics with.

Set-up (Java 17 present):
    python3 -m venv /tmp/cocoeval && /tmp/cocoeval/bin/pip install numpy
    /tmp/cocoeval/bin/pip install --no-deps pycocoevalcap==1.2
    pip download --no-deps --no-binary=:all: aac-metrics==0.6.0 -d /tmp/aac && tar xzf ...
Run:
    /tmp/cocoeval/bin/python scripts/dev/coco_caption_expected.py \
        --aac-data /tmp/aac/aac_metrics-0.6.0/data --out metrics/testdata

Writes:
  coco_caption_expected.json: per set, the CSV's sha256, item count and corpus metrics
      (Bleu_1..4, METEOR, ROUGE_L, CIDEr) as pycocoevalcap computes them;
  ptb_expected.json: the PTB tokenisation (after pycocoevalcap's punctuation removal) of every
      line of metrics/testdata/ptb_cases.txt and of the tricky_captions.csv captions.
"""
import argparse
import csv
import hashlib
import json
from pathlib import Path

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

CAND_COLUMNS = ("caption_predicted", "candidate")


def load_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())
    cand = next(c for c in CAND_COLUMNS if c in fields)
    refs = [c for c in fields if c.startswith("caption_") and c[8:].isdigit() or c.startswith("reference")]
    return [(r[cand], [r[c] for c in refs if r[c]]) for r in rows]


def tokenize(texts):
    out = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
    return [out[i][0] for i in range(len(texts))]


def score(items):
    gts = {i: [{"caption": r} for r in refs] for i, (_, refs) in enumerate(items)}
    res = {i: [{"caption": c}] for i, (c, _) in enumerate(items)}
    tok = PTBTokenizer()
    gts, res = tok.tokenize(gts), tok.tokenize(res)
    out = {}
    bleu, _ = Bleu(4).compute_score(gts, res)
    for k, v in enumerate(bleu):
        out[f"Bleu_{k + 1}"] = v
    out["METEOR"], _ = Meteor().compute_score(gts, res)
    out["ROUGE_L"], _ = Rouge().compute_score(gts, res)
    out["CIDEr"], _ = Cider().compute_score(gts, res)
    return {k: float(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aac-data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    sets = {
        "aac_example_1": args.aac_data / "example_1.csv",
        "aac_example_2": args.aac_data / "example_2.csv",
        "tricky_captions": args.out / "tricky_captions.csv",
    }
    expected = {}
    for name, path in sets.items():
        items = load_csv(path)
        expected[name] = {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "items": len(items),
            "metrics": score(items),
        }
        print(name, expected[name])
    (args.out / "coco_caption_expected.json").write_text(json.dumps(expected, indent=1) + "\n")

    cases = (args.out / "ptb_cases.txt").read_text().splitlines()
    tricky = [t for c, refs in load_csv(sets["tricky_captions"]) for t in [c, *refs]]
    inputs = cases + tricky
    ptb = [{"input": t, "tokens": o} for t, o in zip(inputs, tokenize(inputs))]
    (args.out / "ptb_expected.json").write_text(json.dumps(ptb, indent=0, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
