#!/usr/bin/python3
"""fake_vhdfold.py - a stand-in for the vhdfold binary in the runner's own tests.

Layer: tests (conform). `vhdfold conform --vhdfold fake_vhdfold.py` drives it, so runner.sh
can test the runner's logic (verdicts, expectations, timeouts, touched files, shards, reports)
in milliseconds and independently of the real formats. Its "images" are plain files holding
the flattened view itself: merging is a copy, the digest is the file's SHA-256.
Commands: gen [--seed N] [--depth D] [--size S] [other gen options ignored] OUTDIR,
digest FILE, check FILE, export FILE OUT, merge SOURCE DEST.
"""
import hashlib
import os
import random
import shutil
import sys


def size_of(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def gen(args):
    opts, out = {}, args[-1]
    it = iter(args[:-1])
    for a in it:
        opts[a] = next(it)
    seed, depth = int(opts.get("--seed", "0")), int(opts.get("--depth", "3"))
    size = size_of(opts.get("--size", "1M")) // 16  # small: the runner does not care
    rng = random.Random(seed)
    view = bytearray(size)
    levels = []
    for lv in range(depth + 1):
        for _ in range(4):
            off = rng.randrange(0, size - 4096)
            view[off:off + 4096] = rng.randbytes(4096)
        name = f"{lv:02d}-{'base' if lv == 0 else 'diff'}.img"
        with open(os.path.join(out, name), "wb") as f:
            f.write(view)
        levels.append({"level": depth - lv, "file": name, "type": "dynamic",
                       "sha256": hashlib.sha256(view).hexdigest()})
    import json
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"schema": 2, "format": "fake", "seed": str(seed), "virtual_size": size,
                   "levels": levels}, f)
    return 0


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "gen":
        return gen(args)
    if cmd in ("digest", "check", "export") and not os.path.isfile(args[0]):
        sys.stderr.write(f"vhdfold: cannot open '{args[0]}': no such file\n")
        return 4
    if cmd == "digest":
        with open(args[0], "rb") as f:
            print(f"{hashlib.sha256(f.read()).hexdigest()}  {args[0]}")
        return 0
    if cmd == "check":
        if os.path.getsize(args[0]) % 512:
            print(f"'{args[0]}': file size is not a multiple of 512")
            return 1
        return 0
    if cmd == "export":
        shutil.copyfile(args[0], args[1])
        return 0
    if cmd == "merge":
        shutil.copyfile(args[0], args[1])
        return 0
    sys.stderr.write(f"fake vhdfold: unknown command '{cmd}'\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
