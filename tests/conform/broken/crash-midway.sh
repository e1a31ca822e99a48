#!/bin/sh
# crash-midway.sh - a broken merge written for the conformance tests: it starts rewriting
# DESTINATION in place by copying the first half of SOURCE's bytes over it, then fails (exit 1)
# as a merge that crashes midway would. DESTINATION's structures and data are overwritten, so
# SOURCE's chain no longer reads as before: the runner must judge it `damage`, not `exit`.
# Usage: crash-midway.sh SOURCE DESTINATION
set -eu
size=$(wc -c <"$1")
head -c $((size / 2)) "$1" | dd of="$2" conv=notrunc status=none
echo "crash-midway.sh: stopped after $((size / 2)) of $size bytes" >&2
exit 1
