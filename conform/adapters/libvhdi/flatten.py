#!/usr/bin/python3
"""flatten.py - vhdfold conform reader adapter for libyal's libvhdi (Debian python3-libvhdi).

Opens FILE and its parents with pyvhdi (each parent attached with set_parent), reads the whole
flattened disk and prints its SHA-256 followed by the file name, like sha256sum; with
--raw OUT it writes the flattened disk to OUT instead (`conform --reader-raw`).
Called by `vhdfold conform --reader '/usr/bin/python3 flatten.py {top}'` (ci/conform).
Parents are looked up beside the child: the stored parent name as a relative path (with '\\'
turned into '/'), then its last component. libvhdi 20210425 returns no parent name for a
differencing VHDX (parent_filename is None), so then the parent is the file beside the child
whose identifier is the child's parent_identifier. Run with Debian's /usr/bin/python3: pyvhdi is
packaged for it, not for other Pythons on PATH.
"""
import hashlib
import os
import sys

import pyvhdi

CHUNK = 1 << 20


def find_by_identifier(here, want, path):
    """The file in folder here whose identifier is want (libvhdi gives no VHDX parent name)."""
    for entry in sorted(os.listdir(here)):
        cand = os.path.join(here, entry)
        if cand == os.path.abspath(path) or not entry.endswith((".vhd", ".vhdx")):
            continue
        g = pyvhdi.file()
        try:
            g.open(cand)
            ident = g.identifier
        except OSError:
            continue
        finally:
            g.close()
        if ident == want:
            return cand
    raise SystemExit(f"flatten.py: no file beside '{path}' has the parent identifier {want}")


def open_chain(path, opened):
    f = pyvhdi.file()
    f.open(path)
    opened.append(f)
    name = f.parent_filename
    parent_id = f.parent_identifier
    if not name and parent_id:
        here = os.path.dirname(os.path.abspath(path))
        f.set_parent(open_chain(find_by_identifier(here, parent_id, path), opened))
    elif name:
        here = os.path.dirname(os.path.abspath(path))
        rel = name.replace("\\", "/")
        candidates = [os.path.join(here, rel), os.path.join(here, os.path.basename(rel))]
        found = next((c for c in candidates if os.path.isfile(c)), None)
        if not found:
            raise SystemExit(f"flatten.py: parent of '{path}' not found; tried {candidates}")
        f.set_parent(open_chain(found, opened))
    return f


def main(argv):
    raw = None
    if len(argv) == 3 and argv[0] == "--raw":
        raw, argv = open(argv[1], "wb"), argv[2:]
    if len(argv) != 1:
        sys.stderr.write("usage: flatten.py [--raw OUT] FILE\n")
        return 2
    opened = []
    top = open_chain(argv[0], opened)
    h = hashlib.sha256()
    size, off = top.media_size, 0
    while off < size:
        n = min(CHUNK, size - off)
        data = top.read_buffer_at_offset(n, off)
        if len(data) != n:
            raise SystemExit(f"flatten.py: short read at offset {off} of '{argv[0]}'")
        if raw:
            raw.write(data)
        else:
            h.update(data)
        off += n
    for f in reversed(opened):
        f.close()
    if raw:
        raw.close()
    else:
        print(f"{h.hexdigest()}  {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
