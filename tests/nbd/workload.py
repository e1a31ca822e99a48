# workload.py - run inside nbdsh (nbdsh -u URI -c "exec(open(PATH).read())", the connected
# handle is h): a seeded random write workload against a raw-file model of the disk.
# Environment: NBD_MODEL (raw image of the disk before, rewritten with the expected disk after),
# NBD_SEED, NBD_OPS. pwrite at aligned and unaligned offsets, zero, trim when offered (the
# plugin makes trimmed sectors read as zeros); flush at the end, then every byte read back.
import os
import random

model_path = os.environ["NBD_MODEL"]
rng = random.Random(int(os.environ["NBD_SEED"]))
ops = int(os.environ["NBD_OPS"])
with open(model_path, "rb") as f:
    model = bytearray(f.read())
size = h.get_size()
assert size == len(model), (size, len(model))
can_trim = h.can_trim()
sector = h.get_block_size(nbd.SIZE_MINIMUM) or 512
# The plugin advertises the sector as minimum block size but serves any alignment (partial
# sectors read-modify-write): let libnbd send unaligned requests to test that.
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)


def pick(max_len, aligned):
    n = rng.randint(1, max_len)
    off = rng.randrange(0, size - n)
    if aligned:
        off -= off % 4096
        n = max(4096, n - n % 4096)
        n = min(n, size - off)
    return off, n


for i in range(ops):
    kind = rng.random()
    off, n = pick(rng.choice([600, 70000, 300000]), rng.random() < 0.5)
    if kind < 0.7:
        data = rng.randbytes(n)
        h.pwrite(data, off)
        model[off:off + n] = data
    elif kind < 0.85:
        h.zero(n, off)
        model[off:off + n] = bytes(n)
    elif can_trim:
        h.trim(n, off)
        start = -(-off // sector) * sector
        end = (off + n) // sector * sector
        if end > start:
            model[start:end] = bytes(end - start)
h.flush()
step = 4 << 20
for off in range(0, size, step):
    n = min(step, size - off)
    got = h.pread(n, off)
    if got != model[off:off + n]:
        bad = next(i for i in range(n) if got[i] != model[off + i])
        raise SystemExit("read back differs from the model at byte %d" % (off + bad))
# One last write is left unflushed: the server's clean shutdown (SIGTERM) must flush it.
off = rng.randrange(0, size - 65536)
data = rng.randbytes(65536)
h.pwrite(data, off)
model[off:off + 65536] = data
with open(model_path, "wb") as f:
    f.write(model)
print("workload: %d operations, trim %s, read back equal" % (ops, "yes" if can_trim else "no"))
