#!/usr/bin/python3
"""vhdmerge.py - a small VHD merger written for the conformance tests, with deliberate bugs.

Layer: tests (conform). `vhdfold conform --impl 'python3 vhdmerge.py --mode M {chain}'` runs it;
tests/conform/*.sh assert that the runner catches every broken mode within 50 cases and that
the `correct` mode passes (so a caught mode is caught for its bug, not for this script's).

Usage: vhdmerge.py --mode MODE SOURCE [INTERMEDIATE...] DESTINATION
Modes:
  correct       sector-granular merge (top-most defining layer wins), as docs/merge.md
                "Semantics and refusals"
  top-only      merges only SOURCE into DESTINATION, forgetting the layers in between
  whole-blocks  copies every allocated block whole, ignoring sector bitmaps (vhd-lib 4.15)
  no-zeros      skips sectors whose data is all zeros (forgets explicit zeros)
  bat-first     publishes the first new block's BAT entry before its data, then is killed
  fail-midway   merges correctly the first half of the blocks, then exits 1 (DESTINATION
                changed, SOURCE's view intact: a plain `exit` failure)
  retag-then-fail  gives DESTINATION a new unique id, merges half, then exits 1: SOURCE's
                chain no longer opens (the `damage` failure, vhd-lib 0.7.2's pattern)
"""
import os
import signal
import struct
import sys

SECTOR = 512
UNUSED = 0xFFFFFFFF


class Vhd:
    """One VHD file: footer, dynamic header, BAT (read-only views plus block writes)."""

    def __init__(self, path, writable=False):
        self.path = path
        self.f = open(path, "r+b" if writable else "rb")
        self.f.seek(0, os.SEEK_END)
        self.file_size = self.f.tell()
        self.f.seek(self.file_size - SECTOR)
        self.footer = self.f.read(SECTOR)
        if self.footer[:8] != b"conectix":
            raise SystemExit(f"vhdmerge: '{path}': footer cookie is not 'conectix'")
        self.size = struct.unpack(">Q", self.footer[48:56])[0]
        self.type = struct.unpack(">I", self.footer[60:64])[0]
        if self.type == 2:
            return
        if self.type not in (3, 4):
            raise SystemExit(f"vhdmerge: '{path}': footer disk type {self.type} is not 2, 3 or 4")
        hdr_off = struct.unpack(">Q", self.footer[16:24])[0]
        self.f.seek(hdr_off)
        hdr = self.f.read(1024)
        if hdr[:8] != b"cxsparse":
            raise SystemExit(f"vhdmerge: '{path}': dynamic header cookie is not 'cxsparse'")
        self.bat_off = struct.unpack(">Q", hdr[16:24])[0]
        self.entries = struct.unpack(">I", hdr[28:32])[0]
        self.block = struct.unpack(">I", hdr[32:36])[0]
        self.spb = self.block // SECTOR
        self.bitmap_bytes = ((self.spb + 7) // 8 + SECTOR - 1) // SECTOR * SECTOR
        self.f.seek(self.bat_off)
        self.bat = list(struct.unpack(f">{self.entries}I", self.f.read(4 * self.entries)))
        self.bitmaps = {}

    def bitmap(self, b):
        if b not in self.bitmaps:
            self.f.seek(self.bat[b] * SECTOR)
            self.bitmaps[b] = bytearray(self.f.read(self.bitmap_bytes))
        return self.bitmaps[b]

    def allocated(self, b):
        return self.type == 2 or (b < self.entries and self.bat[b] != UNUSED)

    def block_sectors(self, b, whole_blocks=False):
        """{index in block: bytes} for the sectors of block b this file defines."""
        if not self.allocated(b):
            return {}
        bitmap = self.bitmap(b)
        self.f.seek(self.bat[b] * SECTOR + self.bitmap_bytes)
        data = self.f.read(self.block)
        out = {}
        for k in range(self.spb):
            if whole_blocks or bitmap[k // 8] & (0x80 >> (k % 8)):
                out[k] = data[k * SECTOR:(k + 1) * SECTOR]
        return out

    def write_sectors(self, writes, kill_after_bat=False):
        """writes: {sector: bytes}. Allocates blocks at the end of data as needed."""
        if self.type == 2:
            for s, data in sorted(writes.items()):
                self.f.seek(s * SECTOR)
                self.f.write(data)
            self.f.flush()
            return
        by_block = {}
        for s, data in writes.items():
            by_block.setdefault(s // self.spb, {})[s % self.spb] = data
        for b in sorted(by_block):
            self.write_block(b, by_block[b], kill_after_bat)

    def write_block(self, b, sectors, kill_after_bat):
        new = self.bat[b] == UNUSED
        if new:
            end = self.file_size - SECTOR
            bitmap = bytearray(self.bitmap_bytes)
            if self.type == 3:  # dynamic: every sector reads as written (zeros)
                for k in range(self.spb):
                    bitmap[k // 8] |= 0x80 >> (k % 8)
            data = bytearray(self.block)
            self.bat[b] = end // SECTOR
            self.file_size = end + self.bitmap_bytes + self.block + SECTOR
            self.f.seek(self.file_size - SECTOR)
            self.f.write(self.footer)
            if kill_after_bat:  # the bug: the BAT entry goes out before the data
                self.put_bat(b)
                self.f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        else:
            bitmap = self.bitmap(b)
            self.f.seek(self.bat[b] * SECTOR + self.bitmap_bytes)
            data = bytearray(self.f.read(self.block))
        for k, sec in sectors.items():
            data[k * SECTOR:(k + 1) * SECTOR] = sec
            bitmap[k // 8] |= 0x80 >> (k % 8)
        self.f.seek(self.bat[b] * SECTOR + self.bitmap_bytes)
        self.f.write(data)
        self.f.flush()
        self.f.seek(self.bat[b] * SECTOR)
        self.f.write(bitmap)
        self.bitmaps[b] = bitmap
        if new:
            self.put_bat(b)
        self.f.flush()

    def retag(self):
        """A new unique id in the footer (and its copy at offset 0 of a dynamic disk)."""
        footer = bytearray(self.footer)
        footer[68:84] = bytes((x * 37 + 11) & 0xFF for x in footer[68:84])
        footer[64:68] = b"\0\0\0\0"
        footer[64:68] = struct.pack(">I", (~sum(footer)) & 0xFFFFFFFF)
        self.footer = bytes(footer)
        self.f.seek(self.file_size - SECTOR)
        self.f.write(self.footer)
        if self.type != 2:
            self.f.seek(0)
            self.f.write(self.footer)
        self.f.flush()

    def put_bat(self, b):
        self.f.seek(self.bat_off + 4 * b)
        self.f.write(struct.pack(">I", self.bat[b]))


def merged_sectors(layers, mode):
    """{sector: bytes} that DESTINATION must receive; layers run from SOURCE down and are
    differencing disks (DESTINATION is the only one that may be fixed or dynamic)."""
    if mode == "top-only":
        layers = layers[:1]
    top = layers[0]
    nblocks = (top.size + top.block - 1) // top.block
    out = {}
    for b in range(nblocks):
        block = {}
        for layer in reversed(layers):  # lower layers first, upper ones overwrite
            block.update(layer.block_sectors(b, whole_blocks=(mode == "whole-blocks")))
        for k, data in block.items():
            s = b * top.spb + k
            if s * SECTOR >= top.size:
                continue
            if mode == "no-zeros" and data == bytes(SECTOR):
                continue
            out[s] = data
    return out


def main(argv):
    if len(argv) < 4 or argv[0] != "--mode":
        sys.stderr.write(__doc__)
        return 2
    mode, files = argv[1], argv[2:]
    modes = ("correct", "top-only", "whole-blocks", "no-zeros", "bat-first", "fail-midway",
             "retag-then-fail")
    if mode not in modes:
        sys.stderr.write(f"vhdmerge: unknown mode '{mode}'\n")
        return 2
    layers = [Vhd(p) for p in files[:-1]]
    if any(layer.type != 4 or layer.block != layers[0].block for layer in layers):
        sys.stderr.write("vhdmerge: merged layers must be differencing disks of one block size\n")
        return 2
    dest = Vhd(files[-1], writable=True)
    writes = merged_sectors(layers, mode)
    if mode in ("fail-midway", "retag-then-fail"):
        if mode == "retag-then-fail":
            dest.retag()
        spb = layers[0].spb
        blocks = sorted({s // spb for s in writes})
        half = set(blocks[: (len(blocks) + 1) // 2])
        dest.write_sectors({s: d for s, d in writes.items() if s // spb in half})
        sys.stderr.write(f"vhdmerge: {mode}: stopped after {len(half)} of {len(blocks)} blocks\n")
        return 1
    dest.write_sectors(writes, kill_after_bat=(mode == "bat-first"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
