#!/usr/bin/env python3
"""tree_digest.py - independent reference for the vhdfold tree digest (docs/tree-digest.md, v1).

Used by the verify tests (tests/verify.cmake, tests/unit/test_digest.c, tests/cli/) to check
`vhdfold digest --mode tree` against a raw export. Written from the definition only:
root = SHA-256("vhdfold-tree-v1\\0" || V (LE64) || B (LE32) || 4 zero bytes || leaf_0 .. leaf_N-1),
leaf_i = SHA-256 of the i-th 2 MiB block of the flattened disk (the last may be shorter).

usage: tree_digest.py RAW [RAW...]   prints "HEX  RAW" per file, like sha256sum
"""
import hashlib
import struct
import sys

BLOCK = 2 * 1024 * 1024
TAG = b"vhdfold-tree-v1\x00"


def tree_digest(path):
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        root = hashlib.sha256()
        root.update(TAG)
        root.update(struct.pack("<Q", size))
        root.update(struct.pack("<I", BLOCK))
        root.update(bytes(4))
        left = size
        while left > 0:
            want = min(BLOCK, left)
            chunk = f.read(want)
            if len(chunk) != want:
                raise IOError("%s: short read" % path)
            root.update(hashlib.sha256(chunk).digest())
            left -= want
    return root.hexdigest()


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: tree_digest.py RAW [RAW...]\n")
        return 2
    for path in argv[1:]:
        print("%s  %s" % (tree_digest(path), path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
