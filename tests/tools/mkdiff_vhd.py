#!/usr/bin/env python3
"""mkdiff_vhd.py - a small, independent writer of differencing VHDs for the verify CLI tests.

Used by tests/cli/verify_*.sh to build chains without going through vhdfold's own writer (so a
bug shared by our reader and writer cannot hide). Written from the VHD layout
(docs/formats/vhd.md "On-disk structures"):
footer copy at 0, dynamic header at 512, BAT at 1536, one W2ru locator, blocks with a sector
bitmap, footer at the end. Only the standard library.

usage: mkdiff_vhd.py PARENT CHILD [--write OFF:LEN:BYTE]... [--bad-parent-id] [--bad-timestamp]
                     [--w2ru TEXT | --no-w2ru] [--w2ku TEXT] [--name TEXT] [--macx HEX]
  OFF and LEN are sector aligned (bytes); BYTE is the fill value (0-255).
  The W2ru locator holds PARENT's path relative to CHILD's folder unless --w2ru gives its
  text (stored as given) or --no-w2ru leaves it out; --w2ku adds an absolute locator with
  TEXT; --name sets the parent unicode name (default: PARENT's file name). A locator's data
  takes as many sectors as it needs. --macx adds a MacX locator holding the bytes HEX as they
  are (a file URL, UTF-8 by the format, so tests can store bytes that are not).
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


def dyn_header(entries, parent_uid, parent_ts, name, locs):
    """locs: (code, offset, data) for each parent locator entry, at most 8."""
    h = bytearray(1024)
    h[0:8] = b"cxsparse"
    struct.pack_into(">QQIII", h, 8, 0xFFFFFFFFFFFFFFFF, 1536, 0x00010000, entries, BS)
    h[40:56] = parent_uid
    struct.pack_into(">I", h, 56, parent_ts)
    uname = name.encode("utf-16-be")[:510]
    h[64:64 + len(uname)] = uname
    for i, (code, off, data) in enumerate(locs):
        space = (len(data) + 511) // 512 * 512
        struct.pack_into(">4sIIIQ", h, 576 + 24 * i, code, space, len(data), 0, off)
    struct.pack_into(">I", h, 36, checksum(h))
    return bytes(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parent")
    ap.add_argument("child")
    ap.add_argument("--write", action="append", default=[])
    ap.add_argument("--bad-parent-id", action="store_true")
    ap.add_argument("--bad-timestamp", action="store_true")
    ap.add_argument("--w2ru")
    ap.add_argument("--no-w2ru", action="store_true")
    ap.add_argument("--w2ku")
    ap.add_argument("--name")
    ap.add_argument("--macx")
    a = ap.parse_args()
    pts, size, geom, puid = read_parent_footer(a.parent)
    if a.bad_parent_id:
        puid = bytes(b ^ 0xFF for b in puid)
    if a.bad_timestamp:
        pts = (pts + 12345) & 0xFFFFFFFF
    rel = os.path.relpath(os.path.abspath(a.parent), os.path.dirname(os.path.abspath(a.child)))
    texts = []
    if not a.no_w2ru:
        w2ru = a.w2ru if a.w2ru is not None else ".\\" + rel.replace("/", "\\")
        texts.append((b"W2ru", w2ru.encode("utf-16-le")))
    if a.w2ku is not None:
        texts.append((b"W2ku", a.w2ku.encode("utf-16-le")))
    if a.macx is not None:
        texts.append((b"MacX", bytes.fromhex(a.macx)))
    entries = (size + BS - 1) // BS
    bat_bytes = (entries * 4 + 511) // 512 * 512
    locs = []
    pos = 1536 + bat_bytes
    for code, data in texts:
        locs.append((code, pos, data))
        pos += (len(data) + 511) // 512 * 512
    data_off = max(pos, 1536 + bat_bytes + 512)

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
        name = a.name if a.name is not None else os.path.basename(a.parent)
        f.write(dyn_header(entries, puid, pts, name, locs))
        f.write(bat_raw)
        for _, _, data in locs:
            f.write(data + bytes((len(data) + 511) // 512 * 512 - len(data)))
        f.write(bytes(data_off - f.tell()))
        f.write(body)
        f.write(foot)


if __name__ == "__main__":
    main()
