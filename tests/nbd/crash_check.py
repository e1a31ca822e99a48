#!/usr/bin/env python3
# crash_check.py FLUSHED LOG AFTER SECTOR - judge the disk read after a kill -9 (see
# nbd_crash.sh): every sector no logged write touched equals the flushed disk; a sector that
# later writes touched equals either the flushed disk or the disk after one of those writes
# (applied in order). Exit 1 naming the first sector that is none of those.
import hashlib
import random
import sys

flushed, log_path, after_path, sector = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(flushed, "rb") as f:
    cur = bytearray(f.read())
with open(after_path, "rb") as f:
    after = f.read()
if len(after) != len(cur):
    sys.exit("size %d after the crash, %d before" % (len(after), len(cur)))
size = len(cur)


def one_write(seed):  # as crash_workload.py
    r = random.Random(seed)
    n = r.randint(1, 200000)
    off = r.randrange(0, size - n)
    return off, r.randbytes(n)


def digest(b):
    return hashlib.sha256(b).digest()


allowed = {}  # sector -> digests it may hold besides the flushed one
writes = 0
with open(log_path) as log:
    for line in log:
        parts = line.split()
        if len(parts) != 3:
            continue  # the line being written when the client died
        off, n, seed = map(int, parts)
        woff, data = one_write(seed)
        assert (woff, len(data)) == (off, n), line
        first = off // sector
        for s in range(first, (off + n - 1) // sector + 1):
            allowed.setdefault(s, {digest(cur[s * sector:(s + 1) * sector])})
        cur[off:off + n] = data
        for s in range(first, (off + n - 1) // sector + 1):
            allowed[s].add(digest(cur[s * sector:(s + 1) * sector]))
        writes += 1
with open(flushed, "rb") as f:
    base = f.read()
landed = 0
for s in range(size // sector):
    got = after[s * sector:(s + 1) * sector]
    if s not in allowed:
        if got != base[s * sector:(s + 1) * sector]:
            sys.exit("sector %d (byte %d) was flushed and not written again, but differs"
                     % (s, s * sector))
    elif digest(got) not in allowed[s]:
        sys.exit("sector %d (byte %d) holds neither the flushed bytes nor a later write's"
                 % (s, s * sector))
    elif got != base[s * sector:(s + 1) * sector]:
        landed += 1
print("crash_check: %d writes after the flush, %d of their sectors landed, the rest as flushed"
      % (writes, landed))
