#!/bin/sh
# bad-reader.sh - a broken reader written for the conformance tests: it reads the chain with
# `vhdfold export` and then flips the byte at OFFSET (default 300000) of the view, so its digest
# is wrong and the first differing byte is known; OFFSET `data` flips the first byte that is not
# zero (a view of zeros is read correctly). With --raw OUT it leaves that view in OUT (the
# runner's --reader-raw).
# Usage: bad-reader.sh VHDFOLD [--raw OUT] FILE    (OFFSET from $BAD_READER_OFFSET)
set -eu
tool="$1"
shift
out=""
if [ "$1" = --raw ]; then
  out="$2"
  shift 2
fi
off="${BAD_READER_OFFSET:-300000}"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$tool" export "$1" "$tmp.raw" >/dev/null
mv "$tmp.raw" "$tmp"
/usr/bin/python3 - "$tmp" "$off" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    off = sys.argv[2]
    if off == "data":
        data = f.read()
        nz = [i for i in range(0, len(data), 4096) if data[i:i + 4096].strip(b"\0")]
        if not nz:
            sys.exit(0)
        off = nz[0] + next(k for k, v in enumerate(data[nz[0]:nz[0] + 4096]) if v)
    off = int(off)
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PYEOF
if [ -n "$out" ]; then
  cp "$tmp" "$out"
else
  echo "$(sha256sum <"$tmp" | cut -d' ' -f1)  $1"
fi
