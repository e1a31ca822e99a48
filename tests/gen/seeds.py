#!/usr/bin/env python3
# seeds.py - the generator's cross-check over many seeds: for every case (formats, profiles,
# depths 0..64, sizes, block sizes, base types, densities) `vhdfold gen` builds a chain, and
# every level's manifest sha256 must equal `vhdfold digest LEVEL` (our reader) and
# `7zz x -so LEVEL | sha256sum` (7-Zip); the top's tree digest must equal
# `vhdfold digest --mode tree`. Every VHD case also builds a smaller VHDX companion chain from
# the same seed, so all 216 cases cover VHDX (block sizes 1, 2, 32 and 256 MiB, 512- and
# 4096-byte sectors, trims, dirty levels). Levels left dirty (pending log entries) must report
# a log replay in `vhdfold info --json`; 7-Zip does not replay logs, so it is compared only on
# levels below the first dirty one.
# Usage: seeds.py [PART NPARTS] (cases i with i % NPARTS == PART).
# Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

VHDFOLD = os.environ["VHDFOLD"]
NCASES = 216
SIZES = ["1M", str(2 * 2**20 + 512), "4M", "8390656", "6M", "16M", str(3 * 2**20 + 4096)]
PROFILES = ["mixed", "aligned", "sector", "blocks"]
DENSITIES = ["0.1", "0.3", "0.5", "0.9"]
DEEP = [16, 24, 32, 48, 64]


VX_BLOCKS = ["1M", "2M", "32M", "256M"]


def vhdx_extras(i, size):
    """VHDX variety on top of a case: block size, sector size, dirty levels."""
    block = VX_BLOCKS[(i // 3) % 4]
    if block == "256M" and parse_size(size) > 8 * 2**20:
        block = "32M"  # 256 MiB blocks only on small disks: keep the files sparse and quick
    args = ["--block-size", block]
    if i % 4 == 1:
        args += ["--sector-size", "4096"]
    elif i % 4 == 3:
        args += ["--sector-size", "512"]
    if i % 7 == 3:
        args += ["--dirty", "top"]
    elif i % 11 == 5:
        args += ["--dirty", "all"]
    return args


def parse_size(text):
    mult = {"K": 2**10, "M": 2**20, "G": 2**30}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def with_arg(args, name, value):
    out = list(args)
    if name in out:
        k = out.index(name)
        del out[k:k + 2]
    return out + [name, value]


def vhdx_companion(i, args):
    """The VHDX chain built beside VHD case i: same seed, profile, density and base."""
    out = with_arg(args, "--format", "vhdx")
    depth = int(out[out.index("--depth") + 1])
    depth = min(depth, 5 if depth >= 16 else 3)  # keep the companions cheap
    size = parse_size(out[out.index("--size") + 1])
    size = min((size + 4095) // 4096 * 4096, 8 * 2**20)
    out = with_arg(with_arg(out, "--depth", str(depth)), "--size", str(size))
    extras = vhdx_extras(i + 1, str(size))
    for name, value in zip(extras[::2], extras[1::2]):
        out = with_arg(out, name, value)
    if "4096" in extras and size % 8192:  # 7-Zip: an even number of 4 KiB sectors
        out = with_arg(out, "--size", str((size + 8191) // 8192 * 8192))
    return out


def case(i):
    fmt = "vhdx" if i % 3 == 2 else "vhd"
    args = ["--format", fmt, "--seed", str(1 + i * 7919), "--profile", PROFILES[i % 4]]
    if i % 27 == 13:  # some deep chains, kept small
        depth, size, density = DEEP[(i // 27) % len(DEEP)], "2M", "0.2"
    else:
        depth, size, density = i % 9, SIZES[i % len(SIZES)], DENSITIES[(i // 4) % 4]
    if fmt == "vhdx" and size[-1].isdigit() and int(size) % 4096:
        size = str((int(size) + 4095) // 4096 * 4096)  # gen keeps VHDX sizes 4 KiB multiples
    args += ["--depth", str(depth), "--size", size, "--density", density]
    if fmt == "vhdx":
        args += vhdx_extras(i, size)
        if "4096" in args and parse_size(size) % 8192:  # 7-Zip: an even number of sectors
            args = with_arg(args, "--size", str((parse_size(size) + 8191) // 8192 * 8192))
    else:
        args += ["--block-size", ["512K", "1M", "2M"][(i // 3) % 3]]
    if i % 5:
        args += ["--base", "fixed" if (i // 5) % 2 else "dynamic"]
    return args


def info_replayed(path):
    p = subprocess.run([VHDFOLD, "info", "--json", path], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        return "info failed (%d): %s" % (p.returncode, p.stderr.strip())
    return json.loads(p.stdout)["levels"][0]["vhdx"]["log_replayed"]


def check_chain(i, args, out, failures):
    """Build one chain and compare every level; returns the number of levels checked."""
    p = subprocess.run([VHDFOLD, "gen"] + args + ["--progress", "none", out],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        failures.append("case %d %s: gen exit %d: %s" % (i, " ".join(args), p.returncode,
                                                         p.stderr.strip()))
        return 0
    with open(os.path.join(out, "manifest.json")) as f:
        man = json.load(f)
    dirty_below = False  # a lower level is dirty: 7-Zip cannot read this view
    for lv in man["levels"]:
        path = os.path.join(out, lv["file"])
        dirty = lv.get("dirty", False)
        ours = digest(path)
        seven = lv["sha256"] if dirty or dirty_below else sha_7zz(path)
        if ours != lv["sha256"] or seven != lv["sha256"]:
            failures.append("case %d %s level %d: manifest %s, vhdfold %s, 7zz %s" % (
                i, " ".join(args), lv["level"], lv["sha256"], ours, seven))
        if dirty and lv["type"] != "fixed" and lv["writes"] > 0:
            replayed = info_replayed(path)
            if replayed is not True:
                failures.append("case %d %s level %d: dirty, but log_replayed is %s" % (
                    i, " ".join(args), lv["level"], replayed))
        dirty_below |= dirty
    top = man["levels"][-1]
    tree = digest(os.path.join(out, top["file"]), "tree")
    if tree != top["tree"]:
        failures.append("case %d %s: tree digest manifest %s, vhdfold %s" % (
            i, " ".join(args), top["tree"], tree))
    shutil.rmtree(out)
    return len(man["levels"])


def sha_7zz(path):
    p = subprocess.run(["7zz", "x", "-so", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        return "7zz failed: " + p.stderr.decode(errors="replace").strip()
    return hashlib.sha256(p.stdout).hexdigest()


def digest(path, mode="flat"):
    p = subprocess.run([VHDFOLD, "digest", "--mode", mode, path], capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        return "digest failed (%d): %s" % (p.returncode, p.stderr.strip())
    return p.stdout.split()[0]


def main():
    part, nparts = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (0, 1)
    tmp = tempfile.mkdtemp(prefix="vf-gen-seeds-")
    failures, cases, levels, vhdx = [], 0, 0, 0
    try:
        for i in range(part, NCASES, nparts):
            args = case(i)
            chains = [args] if "vhdx" in args else [args, vhdx_companion(i, args)]
            for k, a in enumerate(chains):
                n = check_chain(i, a, os.path.join(tmp, "c%03d-%d" % (i, k)), failures)
                levels += n
                vhdx += 1 if n and "vhdx" in a else 0
            cases += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:20]:
        print("FAIL", f)
    print("%d cases (%d VHDX chains), %d levels checked against vhdfold digest and 7zz, "
          "%d failures" % (cases, vhdx, levels, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
