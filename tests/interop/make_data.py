#!/usr/bin/env python3
"""Deterministic pseudo-random test content, the same bytes on every machine and Python >= 3.6.

Block k (1 MiB) of file i is SHAKE-128("ccbt-data:<seed>:<i>:<k>") truncated to the block's length,
so content is incompressible, differs between pieces and files, and any block can be regenerated
on its own. About 350 MiB/s per core.

Layouts:
  single:SIZE            one file   OUT/NAME
  multi:S1,S2,...        a folder   OUT/NAME/ with files of those sizes (0 and odd sizes allowed);
                         every third file sits in a subfolder so nested paths are exercised.
SIZE takes an optional K, M or G suffix (binary: 1K = 1024).
"""

import argparse
import hashlib
import os
import sys

BLOCK = 1 << 20
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text):
    """Parse "123", "16K", "3M", "1G" (binary units) into bytes."""
    t = text.strip().upper()
    for suffix in ("IB", "B"):
        if t.endswith(suffix) and len(t) > len(suffix):
            t = t[: -len(suffix)]
            break
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    num = t[: len(t) - len(unit)]
    if not num.isdigit():
        raise ValueError(f"bad size {text!r}")
    return int(num) * UNITS[unit]


def parse_layout(text):
    """Return ("single", [size]) or ("multi", [sizes])."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("single", "multi"):
        raise ValueError(f"layout must be single:SIZE or multi:S1,S2,..., got {text!r}")
    sizes = [parse_size(s) for s in rest.split(",") if s.strip()]
    if kind == "single" and len(sizes) != 1:
        raise ValueError("single: takes exactly one size")
    if kind == "multi" and not sizes:
        raise ValueError("multi: needs at least one size")
    return kind, sizes


def multi_relpath(i):
    """Relative path of file i inside a multi-file folder."""
    name = f"file-{i:03d}.bin"
    return name if i % 3 != 2 else os.path.join(f"sub-{i % 2}", name)


def write_file(path, seed, index, size):
    """Write `size` deterministic bytes for file `index` to `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        k = 0
        left = size
        while left > 0:
            n = min(BLOCK, left)
            f.write(hashlib.shake_128(f"ccbt-data:{seed}:{index}:{k}".encode()).digest(n))
            left -= n
            k += 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="directory to create the content in")
    p.add_argument("--layout", required=True, help="single:SIZE or multi:S1,S2,...")
    p.add_argument("--name", help="file name (single) or folder name (multi); default data.bin / data")
    p.add_argument("--seed", default="0", help="different seeds give different content")
    args = p.parse_args()

    try:
        kind, sizes = parse_layout(args.layout)
    except ValueError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    os.makedirs(args.out, exist_ok=True)
    if kind == "single":
        path = os.path.join(args.out, args.name or "data.bin")
        write_file(path, args.seed, 0, sizes[0])
        print(path)
    else:
        root = os.path.join(args.out, args.name or "data")
        for i, size in enumerate(sizes):
            write_file(os.path.join(root, multi_relpath(i)), args.seed, i, size)
        print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
