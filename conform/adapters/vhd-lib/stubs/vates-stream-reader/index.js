// Stand-in for @vates/stream-reader, which the reachable registry does not serve. vhd-lib
// requires it only from its stream validator, which the merge path never loads.
'use strict'
class StreamReader {
  constructor () {
    throw new Error('@vates/stream-reader is a vhdfold stand-in and must not be used')
  }
}
module.exports = StreamReader
module.exports.StreamReader = StreamReader
