#!/bin/sh
# empty-dest.sh - a broken merge written for the minimizer's test: it forgets the level just
# above DESTINATION (as drop-level.sh) when the chain has three files or more, or when
# DESTINATION holds no data (a dynamic disk smaller than 64 KiB); else it merges correctly.
# A depth-1 case with all its writes merges correctly, so the minimizer's first round stops at
# depth 2; only once ddmin has removed the base's writes does depth 1 fail, in a second round.
# Usage: empty-dest.sh SOURCE [INTERMEDIATE...] DESTINATION (the runner's {chain})
set -eu
here=$(dirname "$0")
[ $# -ge 2 ] || { echo "empty-dest.sh: want SOURCE ... DESTINATION" >&2; exit 2; }
for dest in "$@"; do :; done
size=$(wc -c <"$dest")
if [ $# -ge 3 ] || [ "$size" -lt 65536 ]; then
  exec "$here/drop-level.sh" "$@"
fi
exec /usr/bin/python3 "$here/vhdmerge.py" --mode correct "$@"
