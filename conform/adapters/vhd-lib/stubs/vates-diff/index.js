// Stand-in for @vates/diff, which the reachable registry does not serve. vhd-lib requires it
// only from its stream validator, which the merge path never loads; calling it is a bug here.
'use strict'
module.exports = function diff () {
  throw new Error('@vates/diff is a vhdfold stand-in and must not be called')
}
