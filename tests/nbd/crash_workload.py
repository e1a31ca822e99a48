# crash_workload.py - run inside nbdsh (handle h) by nbd_crash.sh. Phase 1: NBD_OPS seeded
# writes, then a flush; once it is acknowledged the model (the disk as flushed) is saved to
# NBD_FLUSHED and NBD_MARK is created. Phase 2: writes without a flush until the server dies;
# each one is logged to NBD_LOG (offset length seed) BEFORE it is sent, so the log lists
# every write that may have reached the files. Environment also: NBD_MODEL (disk before).
import os
import random

rng = random.Random(int(os.environ["NBD_SEED"]))
with open(os.environ["NBD_MODEL"], "rb") as f:
    model = bytearray(f.read())
size = h.get_size()
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)


def one_write(seed):
    r = random.Random(seed)
    n = r.randint(1, 200000)
    off = r.randrange(0, size - n)
    return off, r.randbytes(n)


for i in range(int(os.environ["NBD_OPS"])):
    off, data = one_write(rng.getrandbits(62))
    h.pwrite(data, off)
    model[off:off + len(data)] = data
h.flush()
tmp = os.environ["NBD_FLUSHED"] + ".tmp"
with open(tmp, "wb") as f:
    f.write(model)
os.rename(tmp, os.environ["NBD_FLUSHED"])
open(os.environ["NBD_MARK"], "w").close()
with open(os.environ["NBD_LOG"], "w", buffering=1) as log:
    while True:
        seed = rng.getrandbits(62)
        off, data = one_write(seed)
        log.write("%d %d %d\n" % (off, len(data), seed))
        log.flush()
        h.pwrite(data, off)
