#!/usr/bin/env python3
"""crosscheck.py - the verifier against independent paths, over many generated chains.

For each seed 1..N, one VHD and one VHDX chain (every generator profile, depths 1..5):
  1. `vhdfold digest` (flat) and `vhdfold digest --mode tree` of every level equal the
     generator's manifest (the reader and the generator's model agree);
  2. the tree digest recomputed here with hashlib from `vhdfold export` of the top equals
     ours (docs/tree-digest.md, an independent implementation in a few lines);
  3. `vhdfold compare TOP RAW` says identical, and after one byte of the raw copy is flipped
     at a seed-chosen offset it says different (exit 1) and names exactly that offset;
  4. on VHD chains whose writes are 4 KiB aligned (profiles aligned and blocks), Debian's
     python3-libvhdi (conform/adapters/libvhdi/flatten.py, run with /usr/bin/python3) gives
     the manifest's flat digest of the top;
  5. every chain is merged (top into a seed-chosen ancestor, --verify) and the
     destination's flat digest, ours and `7zz x -so DEST | sha256sum`, equal the manifest's
     digest of the top, and `vhdfold check` of the destination is clean.
Environment: VHDFOLD (the built CLI), VF_SOURCE_DIR (the source tree); CASES (default 200).
Prints one line per failure and ends with "N passed, N failed".
"""
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

VHDFOLD = os.environ["VHDFOLD"]
SRC = os.environ["VF_SOURCE_DIR"]
CASES = int(os.environ.get("CASES", "200"))
PROFILES = ["mixed", "aligned", "sector", "blocks"]
FLATTEN = os.path.join(SRC, "conform", "adapters", "libvhdi", "flatten.py")
TREE_BLOCK = 2 * 1024 * 1024


def run(args, ok=(0,)):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode not in ok:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def first_hex(text):
    return text.split()[0]


def tree_digest(path):
    """docs/tree-digest.md, written independently of the C implementation."""
    size = os.path.getsize(path)
    h = hashlib.sha256(b"vhdfold-tree-v1\0" + struct.pack("<QII", size, TREE_BLOCK, 0))
    with open(path, "rb") as f:
        while True:
            chunk = f.read(TREE_BLOCK)
            if not chunk:
                break
            h.update(hashlib.sha256(chunk).digest())
    return h.hexdigest()


def case_options(seed, fmt):
    profile = PROFILES[(seed // 2) % len(PROFILES)]
    depth = 1 + seed % 5
    base = "fixed" if seed % 5 == 0 else "dynamic"
    size = "4M" if fmt == "vhd" else "6M"
    return ["--format", fmt, "--seed", str(seed), "--depth", str(depth), "--size", size,
            "--base", base, "--profile", profile, "--density", "0.6"], fmt, profile


def check_levels(d, manifest):
    for level in manifest["levels"]:
        path = os.path.join(d, level["file"])
        flat = first_hex(run([VHDFOLD, "digest", path]).stdout)
        assert flat == level["sha256"], f"{level['file']}: flat {flat} != manifest"
        tree = first_hex(run([VHDFOLD, "digest", "--mode", "tree", path]).stdout)
        assert tree == level["tree"], f"{level['file']}: tree {tree} != manifest"


def check_compare(top, raw, seed):
    p = run([VHDFOLD, "compare", top, raw, "--json"])
    assert json.loads(p.stdout)["identical"] is True, "compare of top and its export"
    size = os.path.getsize(raw)
    off = random.Random(seed).randrange(size)
    with open(raw, "r+b") as f:
        f.seek(off)
        byte = f.read(1)[0]
        f.seek(off)
        f.write(bytes([byte ^ 0x5A]))
    p = run([VHDFOLD, "compare", top, raw, "--json"], ok=(1,))
    r = json.loads(p.stdout)
    assert r["identical"] is False, "flipped byte not seen"
    assert r["first_difference"] == off, f"first difference {r['first_difference']} != {off}"


def check_libvhdi(top, want):
    p = run(["/usr/bin/python3", FLATTEN, top])
    got = first_hex(p.stdout)
    assert got == want, f"libvhdi {got} != manifest {want}"


def check_merge(d, manifest, seed):
    levels = manifest["levels"]
    depth = len(levels) - 1
    want = levels[-1]["sha256"]
    top = os.path.join(d, levels[-1]["file"])
    dest = os.path.join(d, levels[random.Random(seed).randrange(depth)]["file"])
    run([VHDFOLD, "merge", top, dest, "--verify", "--progress=none"])
    got = first_hex(run([VHDFOLD, "digest", dest]).stdout)
    assert got == want, f"merged {os.path.basename(dest)}: {got} != manifest top {want}"
    p = subprocess.run(f"7zz x -so '{dest}' 2>/dev/null | sha256sum", shell=True,
                       capture_output=True, text=True)
    assert first_hex(p.stdout) == want, f"7-Zip reads the merged destination as {p.stdout}"
    run([VHDFOLD, "check", dest])


def one_case(seed, fmt, work):
    d = os.path.join(work, f"c{seed}-{fmt}")
    opts, fmt, profile = case_options(seed, fmt)
    run([VHDFOLD, "gen", "--progress=none"] + opts + [d])
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    check_levels(d, manifest)
    top = os.path.join(d, manifest["levels"][-1]["file"])
    raw = os.path.join(d, "top.raw")
    run([VHDFOLD, "export", top, raw])
    tree = tree_digest(raw)
    assert tree == manifest["levels"][-1]["tree"], f"python tree {tree} != manifest"
    check_compare(top, raw, seed)
    libvhdi = fmt == "vhd" and profile in ("aligned", "blocks")
    if libvhdi:
        check_libvhdi(top, manifest["levels"][-1]["sha256"])
    if len(manifest["levels"]) > 1:
        check_merge(d, manifest, seed)
    shutil.rmtree(d)
    return libvhdi


def guarded(case, work):
    """(case, libvhdi used, failure text or None)"""
    seed, fmt = case
    try:
        return case, one_case(seed, fmt, work), None
    except AssertionError as e:
        return case, False, str(e)


def main():
    work = tempfile.mkdtemp(prefix="vf-crosscheck-")
    passed = failed = libvhdi = 0
    try:
        # Cases wait mostly on fsync in gen: a few at a time keep both cores busy.
        with ThreadPoolExecutor(max_workers=4) as pool:
            cases = [(seed, fmt) for seed in range(1, CASES + 1) for fmt in ("vhd", "vhdx")]
            for case, used, fail in pool.map(lambda c: guarded(c, work), cases):
                if fail is None:
                    passed += 1
                    libvhdi += used
                    continue
                failed += 1
                opts, _, _ = case_options(*case)
                print(f"case {case[0]} {case[1]}: FAIL {fail}\n  reproduce: vhdfold gen {' '.join(opts)} DIR")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"crosscheck: {CASES} VHD and {CASES} VHDX chains, {libvhdi} also read by libvhdi")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
