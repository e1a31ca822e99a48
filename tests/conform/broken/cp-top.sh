#!/bin/sh
# cp-top.sh - a broken "merge" written for the conformance tests: it copies SOURCE over
# DESTINATION, so DESTINATION becomes a copy of the top layer alone (its parent link points
# at the wrong image and every lower layer's data is lost). The runner must catch it.
# Usage: cp-top.sh SOURCE DESTINATION
set -eu
cp -- "$1" "$2"
