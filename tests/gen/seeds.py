#!/usr/bin/env python3
# seeds.py - the generator's cross-check over many seeds: for every case (formats, profiles,
# depths 0..64, sizes, block sizes, base types, densities) `vhdfold gen` builds a chain, and
# every level's manifest sha256 must equal `vhdfold digest LEVEL` (our reader) and
# `7zz x -so LEVEL | sha256sum` (7-Zip); the top's tree digest must equal
# `vhdfold digest --mode tree`. Usage: seeds.py [PART NPARTS] (cases i with i % NPARTS == PART).
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


def case(i):
    fmt = "vhdx" if i % 3 == 2 else "vhd"
    args = ["--format", fmt, "--seed", str(1 + i * 7919), "--profile", PROFILES[i % 4]]
    if i % 27 == 13:  # some deep chains, kept small
        depth, size, density = DEEP[(i // 27) % len(DEEP)], "2M", "0.2"
    else:
        depth, size, density = i % 9, SIZES[i % len(SIZES)], DENSITIES[(i // 4) % 4]
    if fmt == "vhdx" and size[-1].isdigit() and int(size) % 4096:
        size = str((int(size) + 4095) // 4096 * 4096)  # gen keeps VHDX sizes 4 KiB multiples
    blocks = ["1M", "2M"] if fmt == "vhdx" else ["512K", "1M", "2M"]
    args += ["--depth", str(depth), "--size", size, "--density", density,
             "--block-size", blocks[(i // 3) % len(blocks)]]
    if i % 5:
        args += ["--base", "fixed" if (i // 5) % 2 else "dynamic"]
    return args


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
    failures, cases, levels = [], 0, 0
    try:
        for i in range(part, NCASES, nparts):
            args = case(i)
            out = os.path.join(tmp, "c%03d" % i)
            p = subprocess.run([VHDFOLD, "gen"] + args + ["--progress", "none", out],
                               capture_output=True, text=True, check=False)
            if p.returncode != 0:
                failures.append("case %d %s: gen exit %d: %s" % (i, args, p.returncode,
                                                                 p.stderr.strip()))
                continue
            with open(os.path.join(out, "manifest.json")) as f:
                man = json.load(f)
            for lv in man["levels"]:
                path = os.path.join(out, lv["file"])
                ours, seven = digest(path), sha_7zz(path)
                if ours != lv["sha256"] or seven != lv["sha256"]:
                    failures.append("case %d %s level %d: manifest %s, vhdfold %s, 7zz %s" % (
                        i, " ".join(args), lv["level"], lv["sha256"], ours, seven))
                levels += 1
            top = man["levels"][-1]
            tree = digest(os.path.join(out, top["file"]), "tree")
            if tree != top["tree"]:
                failures.append("case %d %s: tree digest manifest %s, vhdfold %s" % (
                    i, " ".join(args), top["tree"], tree))
            cases += 1
            shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures[:20]:
        print("FAIL", f)
    print("%d cases, %d levels checked against vhdfold digest and 7zz, %d failures" % (
        cases, levels, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
