#!/usr/bin/env python3
# tests/merge/progress_json.py - the --progress=json stream (issue 15 item 5): every line one
# JSON object with the job fields Hyper-V names (JobState, PercentComplete, ElapsedTime,
# ErrorCode, ErrorDescription) plus phase, bytes_done, bytes_total, rate, eta; PercentComplete
# never decreases; the merge's phases come in order; the last line is the final state
# (7 completed, 10 for a failure with its status code). Also digest, export, compare and gen,
# which use the same model. Env (from ctest): VHDFOLD = the built CLI. Layer: tests (cli).
import json
import os
import subprocess
import sys
import tempfile

V = os.environ["VHDFOLD"]
FIELDS = ("JobState", "PercentComplete", "ElapsedTime", "ErrorCode", "ErrorDescription",
          "phase", "bytes_done", "bytes_total", "rate", "eta")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def stream(args):
    p = subprocess.run([V] + args, capture_output=True, text=True, timeout=120)
    objs = []
    for line in p.stderr.splitlines():
        if line.startswith("{"):
            objs.append(json.loads(line))
        elif line.strip():
            objs.append({"_text": line})
    return p.returncode, [o for o in objs if "_text" not in o], p


def check_stream(name, objs, final_state, final_code):
    check(len(objs) >= 2, f"{name}: fewer than 2 progress lines")
    if not objs:
        return
    for o in objs:
        missing = [f for f in FIELDS if f not in o]
        check(not missing, f"{name}: fields missing {missing} in {o}")
        if missing:
            return
        check(o["bytes_done"] <= o["bytes_total"] or o["bytes_total"] == 0,
              f"{name}: bytes_done past bytes_total in {o}")
        check(0 <= o["PercentComplete"] <= 100, f"{name}: percent out of range in {o}")
    pcts = [o["PercentComplete"] for o in objs]
    check(all(a <= b for a, b in zip(pcts, pcts[1:])), f"{name}: percent decreases: {pcts}")
    el = [o["ElapsedTime"] for o in objs]
    check(all(a <= b for a, b in zip(el, el[1:])), f"{name}: ElapsedTime decreases")
    check(all(o["JobState"] == 4 for o in objs[:-1]), f"{name}: a non-final line not running")
    last = objs[-1]
    check(last["JobState"] == final_state, f"{name}: final JobState {last['JobState']}")
    check(last["ErrorCode"] == final_code, f"{name}: final ErrorCode {last['ErrorCode']}")
    check(last["phase"] == "done", f"{name}: final phase {last['phase']}")
    if final_state == 7:
        check(last["PercentComplete"] == 100, f"{name}: final percent {last['PercentComplete']}")
        check(last["ErrorDescription"] == "", f"{name}: description on success")
    else:
        check(last["ErrorDescription"] != "", f"{name}: no ErrorDescription on failure")


with tempfile.TemporaryDirectory() as tmp:
    chain = os.path.join(tmp, "c")
    rc, objs, _ = stream(["gen", "--seed", "77", "--depth", "2", "--size", "24M", "--density",
                          "0.5", "--progress=json", chain])
    check(rc == 0, f"gen exit {rc}")
    check_stream("gen", objs, 7, 0)
    top = os.path.join(chain, "02-diff.vhd")
    for cmd in (["digest", top], ["digest", "--mode=tree", top],
                ["export", top, os.path.join(tmp, "flat.raw")], ["compare", top, top]):
        rc, objs, _ = stream(cmd[:1] + ["--progress=json"] + cmd[1:])
        check(rc == 0, f"{cmd[0]} exit {rc}")
        check_stream(" ".join(cmd[:2]), objs, 7, 0)

    rc, objs, p = stream(["merge", "--progress=json", "--verify", "--batch-size", "1M", top,
                          os.path.join(chain, "00-base.vhd")])
    check(rc == 0, f"merge exit {rc}: {p.stderr[-300:]}")
    check_stream("merge", objs, 7, 0)
    order = ["open", "verify-before", "copy", "flush", "verify-after", "identity", "done"]
    seen = []
    for o in objs:
        if not seen or seen[-1] != o["phase"]:
            seen.append(o["phase"])
    check(seen == order, f"merge phases {seen}, want {order}")
    copy = [o for o in objs if o["phase"] == "copy"]
    check(any(o["bytes_done"] == o["bytes_total"] > 0 for o in copy), "merge: copy never ends")
    check(sum(1 for o in objs if o["phase"] == "verify-before") > 2 and
          sum(1 for o in objs if o["phase"] == "verify-after") > 2,
          "merge: the digests before and after report no progress of their own")

    chain2 = os.path.join(tmp, "c2")
    subprocess.run([V, "gen", "--seed", "78", "--depth", "1", "--size", "4M", "--progress=none",
                    chain2], check=True, capture_output=True, timeout=120)
    rc, objs, _ = stream(["merge", "--progress=json", os.path.join(chain2, "01-diff.vhd"),
                          os.path.join(tmp, "missing.vhd")])
    check(rc == 4, f"failed merge exit {rc}")
    check_stream("failed merge", objs, 10, 32779)

# plain and bar: the same shape for every command
import re
with tempfile.TemporaryDirectory() as tmp:
    chain = os.path.join(tmp, "p")
    subprocess.run([V, "gen", "--seed", "79", "--depth", "2", "--size", "16M", "--progress=none",
                    chain], check=True, capture_output=True, timeout=120)
    top = os.path.join(chain, "02-diff.vhd")
    runs = [["digest", top], ["export", top, os.path.join(tmp, "flat.raw")],
            ["compare", top, top], ["gen", "--seed", "80", "--size", "8M", os.path.join(tmp, "g")],
            ["merge", "--verify", "--batch-size", "1M", top]]
    for cmd in runs:
        p = subprocess.run([V, cmd[0], "--progress=plain"] + cmd[1:], capture_output=True,
                           text=True, timeout=120)
        lines = p.stderr.splitlines()
        check(p.returncode == 0, f"plain {cmd[0]}: exit {p.returncode}")
        check(lines and all(re.fullmatch(r"\d{1,3}% completed", l) for l in lines),
              f"plain {cmd[0]}: lines {lines[:3]}")
        check(lines and lines[-1] == "100% completed", f"plain {cmd[0]}: ends {lines[-1:]}")
    subprocess.run([V, "gen", "--seed", "81", "--depth", "1", "--size", "16M", "--progress=none",
                    os.path.join(tmp, "b")], check=True, capture_output=True, timeout=120)
    p = subprocess.run([V, "merge", "--progress=bar", os.path.join(tmp, "b", "01-diff.vhd")],
                       capture_output=True, text=True, timeout=120)
    draws = [d for d in p.stderr.replace("\n", "\r").split("\r") if d.strip()]
    bar = re.compile(r"merge [a-z-]+ \[[#.]+\] +\d+% .+ of .+, .+/s, ETA [0-9:-]+\x1b\[K")
    check(draws and all(bar.fullmatch(d) for d in draws), f"bar: draws {draws[:2]}")
    check(any(" copy " in d for d in draws), "bar: no copy phase drawn")

if failures:
    print(f"progress_json: {len(failures)} failure(s)")
    sys.exit(1)
print("progress_json: all checks passed")
