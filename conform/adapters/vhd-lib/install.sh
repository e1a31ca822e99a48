#!/usr/bin/env bash
# install.sh - installs Xen Orchestra's vhd-lib for the conformance adapter (merge.js) from
# this folder's package.json and package-lock.json, outside the source tree.
# Target: $VF_VHDLIB_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/vhdfold/vhd-lib.
# Why overrides: the registry reachable here serves vhd-lib 4.15.0 but not every package it
# names: xo-remote-parser is pinned to 0.5.0 (it parses file:// URLs as 0.10 does) and
# @vates/diff and @vates/stream-reader, needed only by vhd-lib's stream validator, point at the
# local stand-ins in stubs/. Installs only when the lock file changed since the last install.
# Called by ci/conform; safe to run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${VF_VHDLIB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vhdfold/vhd-lib}"
stamp="$dest/.vhdfold-lock.sha256"
want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dest/node_modules/vhd-lib" ]; then
  echo "install.sh: vhd-lib already installed in $dest"
  exit 0
fi
command -v npm >/dev/null || { echo "install.sh: npm is missing (apt-get install npm)" >&2; exit 4; }
mkdir -p "$dest"
rm -rf "$dest/node_modules" "$dest/stubs"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cp -r "$here/stubs" "$dest/stubs"
(cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
echo "$want" > "$stamp"
echo "install.sh: vhd-lib installed in $dest"
