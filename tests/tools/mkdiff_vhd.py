#!/usr/bin/env python3
"""mkdiff_vhd.py - a small, independent writer of differencing VHDs for the verify CLI tests.

Used by tests/cli/verify_*.sh to build chains without going through vhdfold's own writer (so a
bug shared by our reader and writer cannot hide). Written from the VHD layout
(docs/formats/vhd.md "On-disk structures"):
footer copy at 0, dynamic header at 512, BAT at 1536, one W2ru locator, blocks with a sector
bitmap, footer at the end. Only the standard library.

usage: mkdiff_vhd.py PARENT CHILD [--write OFF:LEN:BYTE]... [--bad-parent-id] [--bad-timestamp]
  OFF and LEN are sector aligned (bytes); BYTE is the fill value (0-255).
  The locator holds PARENT's path relative to CHILD's folder.
"""
import argparse
import os
import struct
import time
import uuid

BS = 2 * 1024 * 1024
SECTOR = 512


def checksum(buf):
    return (~sum(buf)) & 0xFFFFFFFF


def read_parent_footer(path):
    with open(path, "rb") as f:
        f.seek(-512, 2)
        foot = f.read(512)
    if foot[:8] != b"conectix":
        raise SystemExit("%s: no VHD footer at the end" % path)
    ts = struct.unpack(">I", foot[24:28])[0]
    size = struct.unpack(">Q", foot[48:56])[0]
    geom = foot[56:60]
    uid = foot[68:84]
    return ts, size, geom, uid


def footer(size, geom, uid, ts):
    f = bytearray(512)
    f[0:8] = b"conectix"
    struct.pack_into(">IIQI", f, 8, 2, 0x00010000, 512, ts)
    f[28:32] = b"win "
    struct.pack_into(">I4sQQ", f, 32, 0x000A0000, b"Wi2k", size, size)
    f[56:60] = geom
    struct.pack_into(">I", f, 60, 4)
    f[68:84] = uid
    struct.pack_into(">I", f, 64, checksum(f))
    return bytes(f)


def dyn_header(entries, parent_uid, parent_ts, name, loc_off, loc_len):
    h = bytearray(1024)
    h[0:8] = b"cxsparse"
    struct.pack_into(">QQIII", h, 8, 0xFFFFFFFFFFFFFFFF, 1536, 0x00010000, entries, BS)
    h[40:56] = parent_uid
    struct.pack_into(">I", h, 56, parent_ts)
    uname = name.encode("utf-16-be")[:512]
    h[64:64 + len(uname)] = uname
    struct.pack_into(">4sIIIQ", h, 576, b"W2ru", 512, loc_len, 0, loc_off)
    struct.pack_into(">I", h, 36, checksum(h))
    return bytes(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parent")
    ap.add_argument("child")
    ap.add_argument("--write", action="append", default=[])
    ap.add_argument("--bad-parent-id", action="store_true")
    ap.add_argument("--bad-timestamp", action="store_true")
    a = ap.parse_args()
    pts, size, geom, puid = read_parent_footer(a.parent)
    if a.bad_parent_id:
        puid = bytes(b ^ 0xFF for b in puid)
    if a.bad_timestamp:
        pts = (pts + 12345) & 0xFFFFFFFF
    rel = os.path.relpath(os.path.abspath(a.parent), os.path.dirname(os.path.abspath(a.child)))
    w2ru = (".\\" + rel.replace("/", "\\")).encode("utf-16-le")
    entries = (size + BS - 1) // BS
    bat_bytes = (entries * 4 + 511) // 512 * 512
    loc_off = 1536 + bat_bytes
    data_off = loc_off + 512

    # Sector contents per block: {block: {sector_in_block: byte}}
    blocks = {}
    for spec in a.write:
        off, length, val = (int(x, 0) for x in spec.split(":"))
        if off % SECTOR or length % SECTOR or off + length > size:
            raise SystemExit("bad --write %s" % spec)
        for s in range(off // SECTOR, (off + length) // SECTOR):
            blocks.setdefault(s * SECTOR // BS, {})[s % (BS // SECTOR)] = val

    bat = [0xFFFFFFFF] * entries
    body = bytearray()
    pos = data_off
    for b in sorted(blocks):
        bat[b] = pos // SECTOR
        bitmap = bytearray(512)
        data = bytearray(BS)
        for s, val in blocks[b].items():
            bitmap[s // 8] |= 0x80 >> (s % 8)
            data[s * SECTOR:(s + 1) * SECTOR] = bytes([val]) * SECTOR
        body += bitmap + data
        pos += 512 + BS

    ts = int(time.time()) - 946684800
    uid = uuid.uuid4().bytes
    foot = footer(size, geom, uid, ts)
    bat_raw = b"".join(struct.pack(">I", e) for e in bat)
    bat_raw += b"\xff" * (bat_bytes - len(bat_raw))
    with open(a.child, "wb") as f:
        f.write(foot)
        f.write(dyn_header(entries, puid, pts, os.path.basename(a.parent), loc_off, len(w2ru)))
        f.write(bat_raw)
        f.write(w2ru + bytes(512 - len(w2ru)))
        f.write(body)
        f.write(foot)


if __name__ == "__main__":
    main()
