#!/usr/bin/env python3
"""DEV-ONLY: lines per Rust file and its longest functions (brace matching on `fn` items).
Usage: fn_lengths.py FILE... ; not run by CI or the project."""
import re, sys

def functions(text):
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            depth += lines[j].count("{") - lines[j].count("}")
            if "{" in lines[j]:
                started = True
            if started and depth == 0:
                out.append((j - i + 1, m.group(4), i + 1))
                break
            if not started and lines[j].rstrip().endswith(";"):
                break
    return out

for path in sys.argv[1:]:
    text = open(path).read()
    fns = sorted(functions(text), reverse=True)[:3]
    top = ", ".join(f"{n}:{name} ({ln})" for n, name, ln in fns)
    print(f"{text.count(chr(10)):5d}  {path}  longest: {top}")
