#!/usr/bin/python3
"""sectors.py - where libvhdi's view of a chain differs from a raw image (for attribution).

Usage: /usr/bin/python3 sectors.py FILE EXPECTED.raw [PARENT.raw]
Opens FILE and its parents as flatten.py does, reads the view sector by sector (512 bytes)
and prints each run of differing sectors: its first and last sector, and what libvhdi returned
there: zeros, the bytes of PARENT.raw (the view from FILE's parent, when given: "parent's
data"), or something else. EXPECTED.raw is what the view must be (`vhdfold export FILE
EXPECTED.raw`). Exit 0 when the views are equal, 1 when they differ.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flatten  # noqa: E402 (open_chain)

SECTOR = 512
CHUNK = 1 << 20


def describe(got, parent, s):
    if got == bytes(len(got)):
        return "zeros"
    if parent is not None:
        parent.seek(s * SECTOR)
        if parent.read(len(got)) == got:
            return "parent's data"
    return "other data"


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    opened = []
    top = flatten.open_chain(argv[0], opened)
    want = open(argv[1], "rb")
    parent = open(argv[2], "rb") if len(argv) == 3 else None
    size, off, runs = top.media_size, 0, []
    while off < size:
        n = min(CHUNK, size - off)
        got, exp = top.read_buffer_at_offset(n, off), want.read(n)
        for i in range(0, n, SECTOR):
            if got[i:i + SECTOR] != exp[i:i + SECTOR]:
                s = (off + i) // SECTOR
                what = describe(got[i:i + SECTOR], parent, s)
                if runs and runs[-1][1] == s - 1 and runs[-1][2] == what:
                    runs[-1][1] = s
                else:
                    runs.append([s, s, what])
        off += n
    for first, last, what in runs:
        print(f"sectors {first}-{last} ({last - first + 1}): libvhdi returned {what}")
    for f in reversed(opened):
        f.close()
    return 1 if runs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
