#!/usr/bin/env python3
"""tests/tools/mkjournal.py - writes a merge journal (version 2 layout, docs/merge.md) for a
VHD chain, bound to the files as they are (identities from their footers, file sizes), then
altered as asked: what someone planting a journal beside DESTINATION can do. Test tool only.

usage: mkjournal.py OUT SOURCE [INTERMEDIATE...] DESTINATION [--phase N] [--cursor done|N]
       [--dest-size-delta N] [--children N] [--remove] [--alter-level I] [--version V]"""
import argparse
import hashlib
import os
import struct

SLOT = 128 * 1024


def vhd_identity(path):
    with open(path, "rb") as f:
        f.seek(-512, os.SEEK_END)
        footer = f.read(512)
    assert footer[:8] == b"conectix", path
    return footer[68:84], struct.unpack(">Q", footer[48:56])[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("levels", nargs="+")
    ap.add_argument("--phase", type=int, default=1)
    ap.add_argument("--cursor", default="0")
    ap.add_argument("--dest-size-delta", type=int, default=0)
    ap.add_argument("--children", type=int, default=0)
    ap.add_argument("--remove", action="store_true")
    ap.add_argument("--alter-level", type=int, default=-1)
    ap.add_argument("--version", type=int, default=2)
    a = ap.parse_args()
    ids, sizes = [], []
    for p in a.levels:
        ident, _ = vhd_identity(p)
        ids.append(bytearray(ident))
        sizes.append(os.path.getsize(p))
    _, vsize = vhd_identity(a.levels[0])
    if a.alter_level >= 0:
        ids[a.alter_level][0] ^= 1
    cursor = vsize if a.cursor == "done" else int(a.cursor)
    body = struct.pack("<8I", a.version, a.phase, 1, 0, 1 if a.remove else 0, len(ids),
                       a.children, 0)
    body += struct.pack("<3Q", cursor, vsize, sizes[-1] + a.dest_size_delta)
    body += os.urandom(16) + os.urandom(16) + bytes(32)
    for ident, size in zip(ids, sizes):
        body += bytes(ident) + struct.pack("<Q", size)
    body += b"\x5a" * 32 * a.children
    seq = 3
    head = b"VFMERGE1" + struct.pack("<QII", seq, len(body), 0)
    digest = hashlib.sha256(head + body).digest()
    slot = head + digest + body
    slot += bytes(-len(slot) % 512)
    with open(a.out, "wb") as f:
        f.seek((seq % 2) * SLOT)
        f.write(slot)


if __name__ == "__main__":
    main()
