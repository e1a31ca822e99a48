#!/usr/bin/env python3
"""json_schema.py - every command's JSON against its schema (docs/json.md, docs/schemas/).

The commands come from `vhdfold help`, not from a list here: a command without a
docs/schemas/<command>.schema.json, or without a row in CASES below, fails the test. Each row
runs the command with --json on good and bad input (chains made by `vhdfold gen` in a private
folder) and checks: the exit code; the document validates against the command's schema
(JSON Schema draft 2020-12, references to docs/schemas/common.schema.json resolved locally);
the head comes first in order (schema, command, status, exit, error) with `exit` equal to the
process's exit code and `error.code` equal to `status`; no number is written as a string but
seeds; `level` 0 is the named file. Every command with a --json flag is also given an unknown
option: the usage error is one JSON document on stdout (VF_E_INVAL, exit 2) and one line on
stderr; so is an unknown command given with --json (`vhdfold bogus --json`, `vhdfold --json
bogus`), validated against docs/schemas/vhdfold.schema.json. A row may end with a check of its
own on the document (a pending merge journal: `pending_merge` set). Needs python3-jsonschema
(exit 77, skipped, without it).
Environment: VHDFOLD, VF_SOURCE_DIR. Registered by tests/options.cmake.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("json_schema.py: python3-jsonschema is not installed; skipped")
    sys.exit(77)

VHDFOLD = os.environ["VHDFOLD"]
SCHEMAS = os.path.join(os.environ["VF_SOURCE_DIR"], "docs", "schemas")
HEAD = ["schema", "command", "status", "exit", "error"]
SEED_KEYS = {"seed", "gen_seed"}

# The checks a row may end with.
PENDING = (lambda d: d["pending_merge"] and d["pending_merge"]["source_level"] == 0
           and d["pending_merge"]["destination_level"] == 2 and not d["pending_merge"]["running"]
           and d["pending_merge"]["command"].startswith("vhdfold merge "),
           "pending_merge names the journal's merge: SOURCE level 0, DESTINATION level 2")
PENDING_BELOW = (lambda d: d["pending_merge"] and d["pending_merge"]["source_level"] is None
                 and d["pending_merge"]["destination_level"] == 1,
                 "pending_merge: DESTINATION level 1, SOURCE above the named file (null)")
NO_PENDING = (lambda d: "pending_merge" in d and d["pending_merge"] is None,
              "pending_merge is null")
REFUSED = (lambda d: d["error"]["name"] == "VF_E_STATE" and "is part of a merge" in
           d["error"]["message"] and "pending merge journal" in d["error"]["message"],
           "refused: VF_E_STATE, 'is part of a merge', the journal named")

# One row per command: (what, argv after the command, exit codes accepted, where the JSON is:
# None for stdout, else the argv placeholder of the file the command writes[, (a test on the
# document, what it says)]). Placeholders in braces are the fixtures of make_fixtures; {p_*}
# name a private copy of the VHD chain with the journal of an interrupted merge of its top into
# its base (tests/tools/mkjournal.py). A new command adds its rows here and its schema in
# docs/schemas/<command>.schema.json (docs/json.md "Adding a command").
CASES = {
    "info": [
        ("a VHD chain", ["--json", "{vhd}"], {0}, None),
        ("a VHDX chain", ["--json", "{vhdx}"], {0}, None),
        ("not an image", ["--json", "{bad}"], {3}, None),
        ("a missing parent", ["--json", "{orphan}"], {3}, None),
        ("no such file", ["--json", "{nofile}"], {4}, None),
        ("two files", ["--json", "{vhd}", "{vhdx}"], {0}, None),
        ("a good and a bad file", ["--json", "{vhd}", "{bad}"], {3}, None),
        ("a pending merge journal", ["--json", "{p_top}"], {0}, None, PENDING),
        ("no journal", ["--json", "{vhd}"], {0}, None, NO_PENDING),
    ],
    "check": [
        ("a VHD chain", ["--json", "{vhd}"], {0}, None),
        ("a VHDX chain", ["--json", "{vhdx}"], {0}, None),
        ("a missing parent", ["--json", "{orphan}"], {1}, None),
        ("not an image", ["--json", "{bad}"], {3}, None),
        ("two files", ["--json", "{vhd}", "{vhdx}"], {0}, None),
        ("a pending merge journal", ["--json", "{p_top}"], {0}, None, PENDING),
        ("a pending merge journal, below SOURCE", ["--json", "{p_mid}"], {0}, None, PENDING_BELOW),
        ("no journal", ["--json", "{vhd}"], {0}, None, NO_PENDING),
    ],
    "digest": [
        ("flat", ["--json", "{vhd}"], {0}, None),
        ("tree", ["--json", "--mode", "tree", "{vhdx}"], {0}, None),
        ("raw", ["--json", "--raw", "{bad}"], {0}, None),
        ("not an image", ["--json", "{bad}"], {3}, None),
        ("two files", ["--json", "{vhd}", "{vhdx}"], {0}, None),
        ("a good and a bad file", ["--json", "{vhd}", "{bad}"], {3}, None),
        ("a pending merge journal", ["--json", "{p_top}"], {0}, None, PENDING),
        ("a pending merge journal, tree", ["--json", "--mode", "tree", "{p_mid}"], {0}, None,
         PENDING_BELOW),
        ("raw beside a journal", ["--json", "--raw", "{p_top}"], {0}, None, NO_PENDING),
        ("no journal", ["--json", "{vhd}"], {0}, None, NO_PENDING),
    ],
    "export": [
        ("to a file", ["--json", "{vhd}", "{out}"], {0}, None),
        ("not an image", ["--json", "{bad}", "{out}"], {3}, None),
        ("--json with OUT -", ["--json", "{vhd}", "-"], {2}, None),
    ],
    "compare": [
        ("identical", ["--json", "{vhd}", "{vhd}"], {0}, None),
        ("different", ["--json", "{vhd}", "{vhd1}"], {1}, None),
        ("not an image, read as raw", ["--json", "{vhd}", "{bad}"], {1}, None),
        ("no such file", ["--json", "{vhd}", "{nofile}"], {4}, None),
    ],
    "gen": [
        ("a VHD chain", ["--json", "--seed", "3", "--size", "1M", "--depth", "1", "{dir}"], {0},
         None),
        ("a VHDX chain, seed 2^63-1", ["--json", "--format", "vhdx", "--seed",
                                        "9223372036854775807", "--size", "2M", "--depth", "1",
                                        "{dir}"], {0}, None),
        ("an OUTDIR holding a chain", ["--json", "--seed", "3", "--size", "1M", "{chaindir}"], {2},
         None),
        ("a thinned chain", ["--json", "--seed", "3", "--size", "4M", "--block-size", "512K",
                             "--depth", "1", "--density", "0.5", "--writes", "1:1", "{dir}"], {0},
         None, (lambda d: d["manifest"]["writes_selected"] == "1:1", "writes_selected is 1:1")),
        ("--list-writes", ["--list-writes", "--seed", "3", "--size", "4M", "--block-size", "512K",
                           "--depth", "1", "--density", "0.5", "{dir}"], {0}, None,
         (lambda d: len(d["writes"]) > 0 and {w["level"] for w in d["writes"]} == {0, 1},
          "writes listed for levels 0 and 1")),
        ("--list-writes, an OUTDIR holding a chain", ["--list-writes", "--seed", "3", "--size",
                                                      "1M", "{chaindir}"], {2}, None),
        ("--list-writes, a bad selector", ["--list-writes", "--seed", "3", "--size", "1M",
                                           "--depth", "1", "--writes", "7:1", "{dir}"], {2}, None),
        ("--list-writes with --json", ["--list-writes", "--json", "--seed", "3", "{dir}"], {2},
         None),
    ],
    "merge": [
        ("a dry run", ["--json", "--dry-run", "{m_top}", "{m_base}"], {0}, None),
        ("a merge", ["--json", "--verify", "{m_top}", "{m_mid}"], {0}, None),
        ("not an image", ["--json", "{bad}", "{vhd1}"], {3}, None),
        ("not an ancestor", ["--json", "{vhd}", "{vhdx}"], {2}, None),
    ],
    "create": [
        ("a dynamic image", ["--json", "--size", "4M", "{out}.vhd"], {0}, None),
        ("a differencing child", ["--json", "--parent", "{vhd}", "{out}.vhd"], {0}, None),
        ("an existing FILE", ["--json", "--size", "4M", "{vhd}"], {2}, None),
        ("a parent that is not an image", ["--json", "--parent", "{bad}", "{out}.vhd"], {3}, None),
    ],
    "set-parent": [
        ("the same parent", ["--json", "{m_mid}", "{m_base}"], {0}, None),
        ("not an image", ["--json", "{m_mid}", "{bad}"], {3}, None),
        ("CHILD in a pending merge", ["--json", "{p_mid}", "{p_base}"], {2}, None, REFUSED),
    ],
    "convert": [
        ("to VHDX", ["--json", "--format", "vhdx", "{vhd}", "{out}.vhdx"], {0}, None),
        ("not an image", ["--json", "{bad}", "{out}.vhd"], {3}, None),
        ("-U beside a pending merge journal", ["--json", "-U", "{p_top}", "{out}.vhd"], {0},
         None),
    ],
    "map": [
        ("a VHD chain", ["--json", "{vhd}"], {0}, None),
        ("a VHDX chain", ["--json", "{vhdx}"], {0}, None),
        ("not an image", ["--json", "{bad}"], {3}, None),
    ],
    "repair": [
        ("nothing to repair, dry run", ["--json", "--dry-run", "{m_top}"], {0}, None),
        ("nothing to repair", ["--json", "{m_top}"], {0}, None),
        ("not an image", ["--json", "{bad}"], {3}, None),
        ("a level of a pending merge", ["--json", "{p_mid}"], {2}, None, REFUSED),
    ],
    "resize": [
        ("grow a VHD", ["--json", "--size", "8M", "{m_top}"], {0}, None),
        ("not an image", ["--json", "--size", "8M", "{bad}"], {3}, None),
        ("shrink below the data", ["--json", "--size", "1M", "{m_top}"], {1, 2, 3}, None),
        ("a level of a pending merge", ["--json", "--size", "8M", "{p_top}"], {2}, None, REFUSED),
    ],
    "conform": [
        ("one passing case", ["--cases", "1", "--size", "1M", "--depth", "1", "--json",
                              "{report}"], {0}, "{report}"),
        ("a failing merge command", ["--cases", "1", "--size", "1M", "--depth", "1", "--impl",
                                     "false", "--json", "{report}"], {1}, "{report}"),
    ],
}

FAILS = []
CHECKS = 0


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        fail(msg)
    return cond


def run(args, **kw):
    return subprocess.run([VHDFOLD] + args, capture_output=True, text=True, timeout=120, **kw)


def commands():
    """The commands `vhdfold help` lists (the lines under "commands:")."""
    out = run(["help"]).stdout
    body = out.split("commands:", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*) ", body, re.M)]


def has_json_flag(cmd):
    """Whether CMD --help lists --json as a flag (no argument)."""
    return re.search(r"^  --json(  |$)", run([cmd, "--help"]).stdout, re.M) is not None


def load_schemas():
    schemas = {}
    for name in sorted(os.listdir(SCHEMAS)):
        if name.endswith(".schema.json"):
            with open(os.path.join(SCHEMAS, name)) as f:
                schemas[name[:-len(".schema.json")]] = json.load(f)
    return schemas


def validator_for(schema, schemas):
    """A draft 2020-12 validator resolving urn:vhdfold:schema:* to the files here."""
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
        reg = Registry().with_resources(
            [(s["$id"], Resource.from_contents(s, default_specification=DRAFT202012))
             for s in schemas.values()])
        return cls(schema, registry=reg)
    except ImportError:  # jsonschema before 4.18 (Debian 12): the RefResolver store
        store = {s["$id"]: s for s in schemas.values()}
        return cls(schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store))


def numbers_as_strings(doc, path="$"):
    """Paths of strings that are whole numbers under keys other than the seeds."""
    found = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v) \
                    and k not in SEED_KEYS:
                found.append(f"{path}.{k}")
            found += numbers_as_strings(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += numbers_as_strings(v, f"{path}[{i}]")
    return found


def check_doc(cmd, what, doc, rc, validator, named):
    """The rules of docs/json.md on one document."""
    errs = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errs[:5]:
        fail(f"{cmd} ({what}): schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    check(not errs, f"{cmd} ({what}): validates against {cmd}.schema.json")
    check(list(doc)[:5] == HEAD, f"{cmd} ({what}): head first, got keys {list(doc)[:5]}")
    check(doc.get("command") == cmd, f"{cmd} ({what}): command is '{doc.get('command')}'")
    check(doc.get("exit") == rc, f"{cmd} ({what}): exit {doc.get('exit')} but the process {rc}")
    err = doc.get("error")
    if err is not None:
        check(err.get("code") == doc.get("status"), f"{cmd} ({what}): error.code != status")
    strs = numbers_as_strings(doc)
    check(not strs, f"{cmd} ({what}): numbers as strings at {strs}")
    levels = doc.get("levels")
    if cmd == "info" and levels and named:
        check([lv["level"] for lv in levels] == list(range(len(levels))),
              f"{cmd} ({what}): levels numbered 0.. from the top")
        check(levels[0]["file"] == named, f"{cmd} ({what}): level 0 is the named file")


def make_fixtures(tmp):
    def gen(name, *args):
        d = os.path.join(tmp, name)
        r = run(["gen", "--progress", "none", *args, d])
        if r.returncode:
            sys.exit(f"json_schema.py: vhdfold gen {args} failed: {r.stderr}")
        return d

    vhd = gen("vhd", "--seed", "11", "--size", "4M", "--block-size", "512K", "--depth", "2",
              "--density", "0.5")
    vhdx = gen("vhdx", "--format", "vhdx", "--seed", "12", "--size", "4M", "--depth", "1",
               "--density", "0.5")
    os.mkdir(os.path.join(tmp, "orphan"))
    shutil.copy(os.path.join(vhd, "02-diff.vhd"), os.path.join(tmp, "orphan"))
    with open(os.path.join(tmp, "bad.vhd"), "wb") as f:
        f.write(bytes(range(256)) * 16)
    fx = {"vhd": f"{vhd}/02-diff.vhd", "vhd1": f"{vhd}/01-diff.vhd",
          "vhdx": f"{vhdx}/01-diff.vhdx", "bad": f"{tmp}/bad.vhd",
          "orphan": f"{tmp}/orphan/02-diff.vhd", "nofile": f"{tmp}/no-such.vhd",
          "chaindir": vhd}
    return fx


def with_journal(fx):
    """fx with p_top, p_mid, p_base: the row's copy of the VHD chain (m_*) with the journal of an
    interrupted merge of its top into its base beside the base."""
    mkj = os.path.join(os.environ["VF_SOURCE_DIR"], "tests", "tools", "mkjournal.py")
    levels = [fx["m_top"], fx["m_mid"], fx["m_base"]]
    subprocess.run([sys.executable, mkj, fx["m_base"] + ".vfmerge", *levels, "--phase", "1",
                    "--cursor", "0"], check=True)
    return dict(fx, p_top=levels[0], p_mid=levels[1], p_base=levels[2])


def fresh(tmp, fx, n):
    """Per row: new output names and a private copy of the VHD chain to merge."""
    m = os.path.join(tmp, f"m{n}")
    shutil.copytree(os.path.dirname(fx["vhd"]), m)
    return dict(fx, out=f"{tmp}/out{n}.raw", dir=f"{tmp}/gen{n}", report=f"{tmp}/report{n}.json",
                m_top=f"{m}/02-diff.vhd", m_mid=f"{m}/01-diff.vhd", m_base=f"{m}/00-base.vhd")


def run_row(cmd, row, fx, validator):
    what, argv, exits, where, *more = row
    if any("{p_" in a for a in argv):
        fx = with_journal(fx)
    args = [a.format(**fx) for a in argv]
    r = run([cmd, *args])
    check(r.returncode in exits, f"{cmd} ({what}): exit {r.returncode}, want {sorted(exits)} "
                                 f"(stderr: {r.stderr.strip()})")
    text = r.stdout
    if where:
        path = where.format(**fx)
        text = open(path).read() if os.path.exists(path) else ""
    try:
        doc = json.loads(text)
    except ValueError as e:
        fail(f"{cmd} ({what}): not one JSON document ({e}): {text[:200]!r}")
        return
    named = args[-1] if cmd == "info" else None
    check_doc(cmd, what, doc, r.returncode, validator, named)
    if more:
        test, says = more[0]
        try:
            ok = bool(test(doc))
        except (KeyError, TypeError, IndexError):
            ok = False
        check(ok, f"{cmd} ({what}): {says}: {json.dumps(doc)[:300]}")
    if r.returncode >= 2 and not where:
        check(r.stderr.strip() != "", f"{cmd} ({what}): no message on stderr")


def usage_row(cmd, validator):
    """An unknown option with --json: one JSON document on stdout, one line on stderr."""
    r = run([cmd, "--json", "--no-such-option"])
    check(r.returncode == 2, f"{cmd} usage error: exit {r.returncode}, want 2")
    check(len(r.stderr.splitlines()) == 1, f"{cmd} usage error: stderr {r.stderr!r}, want 1 line")
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        fail(f"{cmd} usage error: stdout is not JSON: {r.stdout[:200]!r}")
        return
    check_doc(cmd, "usage error", doc, r.returncode, validator, None)
    check(doc.get("error") and doc["error"]["name"] == "VF_E_INVAL",
          f"{cmd} usage error: error.name is not VF_E_INVAL")
    r = run([cmd, "--no-such-option"])
    check(r.stdout == "", f"{cmd} usage error without --json: stdout {r.stdout[:80]!r}")


def unknown_command_rows(schemas):
    """An unknown command with --json (after it, before it, as a prefix): exit 2, one line on
    stderr, the error document of vhdfold.schema.json on stdout; without --json stdout empty."""
    validator = validator_for(schemas["vhdfold"], schemas)
    for argv in (["bogus", "--json"], ["--json", "bogus"], ["bogus", "x", "--js"],
                 ["help", "bogus", "--json"]):
        what = " ".join(argv)
        r = run(argv)
        check(r.returncode == 2, f"vhdfold {what}: exit {r.returncode}, want 2")
        check(len(r.stderr.splitlines()) == 1, f"vhdfold {what}: stderr {r.stderr!r}, want 1 line")
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            fail(f"vhdfold {what}: stdout is not JSON: {r.stdout[:200]!r}")
            continue
        check_doc("vhdfold", what, doc, r.returncode, validator, None)
        msg = (doc.get("error") or {}).get("message", "")
        check("unknown command '" in msg and msg in r.stderr,
              f"vhdfold {what}: the message {msg!r} is not the one on stderr {r.stderr!r}")
    for argv in (["bogus"], ["bogus", "--", "--json"]):
        r = run(argv)
        check(r.returncode == 2 and r.stdout == "",
              f"vhdfold {' '.join(argv)}: exit {r.returncode}, stdout {r.stdout[:80]!r}")


def main():
    cmds = commands()
    check(len(cmds) >= 8, f"vhdfold help lists {cmds}")
    schemas = load_schemas()
    check("common" in schemas, "docs/schemas/common.schema.json exists")
    for extra in sorted(set(schemas) - set(cmds) - {"common", "vhdfold"}):
        fail(f"docs/schemas/{extra}.schema.json names no command of `vhdfold help`")
    tmp = tempfile.mkdtemp(prefix="vf-json-")
    try:
        fx = make_fixtures(tmp)
        if check("vhdfold" in schemas, "docs/schemas/vhdfold.schema.json exists"):
            unknown_command_rows(schemas)
        n = 0
        for cmd in cmds:
            if not check(cmd in schemas, f"{cmd}: no docs/schemas/{cmd}.schema.json"):
                continue
            if not check(cmd in CASES, f"{cmd}: no row in CASES of tests/cli/json_schema.py"):
                continue
            validator = validator_for(schemas[cmd], schemas)
            for row in CASES[cmd]:
                n += 1
                run_row(cmd, row, fresh(tmp, fx, n), validator)
            if has_json_flag(cmd):
                usage_row(cmd, validator)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"json_schema.py: {len(cmds)} commands, {CHECKS} checks, {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
