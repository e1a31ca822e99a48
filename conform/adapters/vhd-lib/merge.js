#!/usr/bin/env node
// merge.js - vhdfold conform adapter for Xen Orchestra's vhd-lib: merges a VHD chain with
// vhd-lib's mergeVhdChain, the way Xen Orchestra merges backups.
// Called by `vhdfold conform --impl 'node merge.js {dir} {chain}' --result {source}`
// (ci/conform, docs/conform.md). {chain} lists SOURCE first, DESTINATION last; vhd-lib wants
// the ancestor first and paths relative to the handler's folder. vhd-lib renames the merged
// ancestor to SOURCE's file name, hence --result {source}.
// vhd-lib itself is installed by install.sh into VF_VHDLIB_DIR (default
// ${XDG_CACHE_HOME:-$HOME/.cache}/vhdfold/vhd-lib), never into the source tree.
'use strict'
const path = require('path')
const os = require('os')
const { createRequire } = require('module')

function installDir () {
  if (process.env.VF_VHDLIB_DIR) return process.env.VF_VHDLIB_DIR
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(cache, 'vhdfold', 'vhd-lib')
}

async function main (argv) {
  if (argv.length < 3) {
    process.stderr.write('usage: merge.js DIR SOURCE [INTERMEDIATE...] DESTINATION\n')
    return 2
  }
  const dir = path.resolve(argv[0])
  const chain = argv.slice(1).map(p => path.relative(dir, path.resolve(p))).reverse()
  for (const p of chain) {
    if (p.startsWith('..')) {
      process.stderr.write(`merge.js: '${p}' is not inside '${dir}'\n`)
      return 2
    }
  }
  const req = createRequire(path.join(installDir(), 'package.json'))
  const { mergeVhdChain } = req('vhd-lib/merge')
  const { getSyncedHandler } = req('@xen-orchestra/fs')
  const { value: handler, dispose } = await getSyncedHandler({ url: 'file://' + dir })
  try {
    await mergeVhdChain(handler, chain, { removeUnused: true, mergeBlockConcurrency: 2 })
  } finally {
    await dispose()
  }
  return 0
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  err => {
    // The stack first, the one-line verdict last: the runner quotes the last line.
    if (err && err.stack) process.stderr.write(`${err.stack}\n`)
    process.stderr.write(`merge.js: vhd-lib failed: ${String((err && err.message) || err).replace(/\s+/g, " ")}\n`)
    process.exitCode = 1
  }
)
