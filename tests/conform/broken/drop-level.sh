#!/bin/sh
# drop-level.sh - a broken merge written for the conformance tests: it merges the chain it is
# given but forgets the level just above DESTINATION (with a 2-level chain, that is SOURCE
# itself: DESTINATION is left as it was and the merge reports success). The runner must judge
# it `digest`, and --minimize must shrink its failures to a 2-level chain with few writes.
# Usage: drop-level.sh SOURCE [INTERMEDIATE...] DESTINATION (the runner's {chain})
set -eu
here=$(dirname "$0")
n=$#
[ "$n" -ge 2 ] || { echo "drop-level.sh: want SOURCE ... DESTINATION" >&2; exit 2; }
i=0
keep=""
for f in "$@"; do
  i=$((i + 1))
  [ "$i" -eq $((n - 1)) ] && continue # the level just above DESTINATION
  keep="$keep $f"
done
# shellcheck disable=SC2086 # generated names, no spaces
set -- $keep
[ $# -ge 2 ] || exit 0 # only DESTINATION left: nothing merged, success claimed
exec /usr/bin/python3 "$here/vhdmerge.py" --mode correct "$@"
