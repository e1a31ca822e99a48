#!/usr/bin/env python3
"""tight_locator.py - leave a differencing VHDX's parent locator item no slack at all.

Test support for the VHDX merge protocol (docs/merge.md "VHDX: the identity protocol"): the
merge adds 'parent_linkage2' to level k-1's locator, which must then grow or move. This tool
rewrites a VHDX written by `vhdfold gen` (no pending log entries) in place, written from the
metadata layout (docs/formats/vhdx.md "Metadata table and items"), standard library only:

  tight_locator.py FILE          move the locator item to the very end of the metadata region,
                                 so no byte follows it (its old bytes are zeroed: free space)
  tight_locator.py FILE --fill   also cover every other free byte of the region with user
                                 metadata items (not required), so the region is full

The disk's view is unchanged: only the locator's place moves (and user items are added).
"""
import argparse
import struct
import sys
import uuid

RT_OFF = 192 * 1024  # region table 1 (region table 2 at 256 KiB is identical)
META_GUID = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
LOC_GUID = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
TABLE = 64 * 1024  # the metadata table; items follow it
ITEM_MAX = 1024 * 1024


def find_metadata(f):
    f.seek(RT_OFF)
    rt = f.read(64 * 1024)
    if rt[:4] != b"regi":
        sys.exit("no region table signature")
    count = struct.unpack_from("<I", rt, 8)[0]
    for i in range(count):
        e = 16 + 32 * i
        if rt[e : e + 16] == META_GUID:
            off, length = struct.unpack_from("<QI", rt, e + 16)
            return off, length
    sys.exit("no metadata region")


def entries(table):
    count = struct.unpack_from("<H", table, 10)[0]
    out = []
    for i in range(count):
        e = 32 + 32 * i
        gid = table[e : e + 16]
        off, length, flags = struct.unpack_from("<III", table, e + 16)
        out.append([gid, off, length, flags])
    return out


def write_table(table, ents):
    t = bytearray(table[:32]) + bytes(TABLE - 32)
    struct.pack_into("<H", t, 10, len(ents))
    for i, (gid, off, length, flags) in enumerate(ents):
        e = 32 + 32 * i
        t[e : e + 16] = gid
        struct.pack_into("<IIII", t, e + 16, off, length, flags, 0)
    return bytes(t)


def gaps(ents, end):
    used = sorted((o, o + l) for _, o, l, _ in ents if l)
    cur, out = TABLE, []
    for a, b in used + [(end, end)]:
        if a > cur:
            out.append((cur, a))
        cur = max(cur, b)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--fill", action="store_true")
    a = ap.parse_args()
    with open(a.file, "r+b") as f:
        moff, mlen = find_metadata(f)
        f.seek(moff)
        region = bytearray(f.read(mlen))
        if region[:8] != b"metadata":
            sys.exit("no metadata table signature")
        ents = entries(region)
        loc = [e for e in ents if e[0] == LOC_GUID and not e[3] & 1]
        if not loc:
            sys.exit("no parent locator item")
        loc = loc[0]
        item = bytes(region[loc[1] : loc[1] + loc[2]])
        region[loc[1] : loc[1] + loc[2]] = bytes(loc[2])
        loc[1] = mlen - loc[2]
        for e in ents:
            if e is not loc and e[2] and e[1] < mlen and e[1] + e[2] > loc[1]:
                sys.exit("an item already lies at the region's end")
        region[loc[1] : mlen] = item
        if a.fill:
            for g0, g1 in gaps(ents, mlen):
                while g0 < g1:
                    n = min(g1 - g0, ITEM_MAX)
                    ents.append([uuid.uuid4().bytes_le, g0, n, 1])  # IsUser, not required
                    g0 += n
        region[:TABLE] = write_table(region, ents)
        f.seek(moff)
        f.write(region)
    free = sum(b - a for a, b in gaps(ents, mlen))
    print("%s: locator %d bytes at %d of %d, %d bytes free" % (a.file, loc[2], loc[1], mlen, free))


if __name__ == "__main__":
    main()
