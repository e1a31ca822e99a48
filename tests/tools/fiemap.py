#!/usr/bin/env python3
"""tests/tools/fiemap.py - count a file's extents through the FIEMAP ioctl (Linux), for tests
that check reflinks: prints one JSON object {"extents": N, "shared_extents": N, "bytes": N,
"shared_bytes": N}, where shared means FIEMAP_EXTENT_SHARED (the extent is also another
file's). Layer: tests (tools). usage: fiemap.py FILE"""
import fcntl
import json
import os
import struct
import sys

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_SHARED = 0x2000
HEAD = struct.Struct("=QQIIII")  # start, length, flags, mapped_extents, extent_count, reserved
EXTENT = struct.Struct("=QQQQQIIII")  # logical, physical, length, 2 reserved, flags, 3 reserved
BATCH = 256


def extents(fd):
    """Yield (logical, length, flags) of every extent, BATCH at a time."""
    start = 0
    while True:
        req = bytearray(HEAD.pack(start, 2**64 - 1 - start, FIEMAP_FLAG_SYNC, 0, BATCH, 0))
        req += bytes(EXTENT.size * BATCH)
        fcntl.ioctl(fd, FS_IOC_FIEMAP, req)
        mapped = HEAD.unpack_from(req)[3]
        if mapped == 0:
            return
        for i in range(mapped):
            ext = EXTENT.unpack_from(req, HEAD.size + i * EXTENT.size)
            yield ext[0], ext[2], ext[5]
            if ext[5] & FIEMAP_EXTENT_LAST:
                return
            start = ext[0] + ext[2]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fiemap.py FILE")
    fd = os.open(sys.argv[1], os.O_RDONLY)
    out = {"extents": 0, "shared_extents": 0, "bytes": 0, "shared_bytes": 0}
    try:
        for _, length, flags in extents(fd):
            out["extents"] += 1
            out["bytes"] += length
            if flags & FIEMAP_EXTENT_SHARED:
                out["shared_extents"] += 1
                out["shared_bytes"] += length
    finally:
        os.close(fd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
