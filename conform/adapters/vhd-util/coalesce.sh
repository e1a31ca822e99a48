#!/bin/sh
# coalesce.sh - vhdfold conform merge adapter for blktap's vhd-util (XenServer's VHD tool; not
# packaged for Debian, so only for users who have the binary on PATH). Merges SOURCE into
# DESTINATION, an ancestor at any depth, given as the chain from SOURCE down to DESTINATION:
#   vhdfold conform --impl 'coalesce.sh {chain}' --expect corpus/conform/vhd-util.expect
# `vhd-util coalesce -n CHILD` copies the sectors CHILD holds into CHILD's immediate parent,
# in place (the child is opened read-only and left as it was). The ancestor option `-a` (and
# `-o`, `-x`) went in 2023 (blktap v4.0.x accepts them in getopt but answers with the usage
# text and status 22), so a deeper DESTINATION is reached one level at a time from the top:
# SOURCE into its parent, that parent into its own, and so on. Every intermediate is rewritten
# on the way (each ends up with SOURCE's view) and DESTINATION is the result. vhd-util writes
# its messages to stdout; they go to stderr, the last one of a failure on the adapter's own last
# line, so that the runner quotes it.
# Usage: coalesce.sh SOURCE [INTERMEDIATE...] DESTINATION
set -eu
if ! command -v vhd-util >/dev/null 2>&1; then
  echo "coalesce.sh: no vhd-util on PATH (blktap's vhd-util is not packaged for Debian)" >&2
  exit 127
fi
if [ $# -lt 2 ]; then
  echo "coalesce.sh: want the chain SOURCE [INTERMEDIATE...] DESTINATION" >&2
  exit 2
fi
while [ $# -ge 2 ]; do
  rc=0
  out="$(vhd-util coalesce -n "$1" 2>&1)" || rc=$?
  printf '%s\n' "$out" >&2
  if [ "$rc" != 0 ]; then
    last="$(printf '%s\n' "$out" | tail -n 1)"
    echo "coalesce.sh: 'vhd-util coalesce -n $1' (into '$2'): status $rc: $last" >&2
    exit "$rc"
  fi
  shift
done
