#!/usr/bin/env node
// merge072.js - vhdfold conform adapter for Xen Orchestra's vhd-lib 0.7.2 (installed beside
// 4.15.0 as the npm alias vhd-lib-072 by install.sh): merges SOURCE into its parent with the
// old mergeVhd(parentHandler, parentPath, childHandler, childPath), which honours sector
// bitmaps. The parent is merged in place and takes the child's UUID, so the result is
// DESTINATION (--result's default) and SOURCE is invalidated by design.
// Called by `vhdfold conform --dest parent --impl 'node merge072.js {dir} {source} {dest}'`
// (ci/conform, docs/conform.md). Only a merge into SOURCE's parent: 0.7.2 merges one pair.
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
  if (argv.length !== 3) {
    process.stderr.write('usage: merge072.js DIR SOURCE DESTINATION (DESTINATION: the parent)\n')
    return 2
  }
  const dir = path.resolve(argv[0])
  const [child, parent] = argv.slice(1).map(p => path.relative(dir, path.resolve(p)))
  for (const p of [child, parent]) {
    if (p.startsWith('..')) {
      process.stderr.write(`merge072.js: '${p}' is not inside '${dir}'\n`)
      return 2
    }
  }
  const req = createRequire(path.join(installDir(), 'package.json'))
  const mergeVhd = req('vhd-lib-072').mergeVhd
  const { getSyncedHandler } = req('@xen-orchestra/fs')
  const { value: handler, dispose } = await getSyncedHandler({ url: 'file://' + dir })
  try {
    await mergeVhd(handler, parent, handler, child)
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
    process.stderr.write(`merge072.js: vhd-lib 0.7.2 failed: ${String((err && err.message) || err).replace(/\s+/g, ' ')}\n`)
    process.exitCode = 1
  }
)
