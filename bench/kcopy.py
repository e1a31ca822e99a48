#!/usr/bin/env python3
# bench/kcopy.py - the kernel's copy limit for bench/run: copies SRC with copy_file_range in
# 2 MiB pieces (page cache to page cache, no user-space buffer, as a merge on a file system
# without reflinks does) on THREADS threads, into one new file DST or, with --files, into
# THREADS files DST.0, DST.1, ... (each thread its own share of SRC), then fsyncs what it wrote.
# The one-file and the many-files times show whether a second thread can speed up the copy into
# one file, which is what a merge writes (docs/performance.md "What stands in the way").
# usage: bench/kcopy.py SRC DST THREADS [--files]
import os
import sys
import threading

PIECE = 2 << 20


def copy_range(fin, fout, off, end):
    """Copy [off, end) of fin to the same offsets of fout."""
    while off < end:
        n = os.copy_file_range(fin, fout, min(PIECE, end - off), off, off)
        if n <= 0:
            raise OSError(f"copy_file_range made no progress at offset {off}")
        off += n


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] != "--files"):
        sys.exit("usage: kcopy.py SRC DST THREADS [--files]")
    src, dst, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    many = len(sys.argv) == 5
    size = os.path.getsize(src)
    fin = os.open(src, os.O_RDONLY)
    names = [f"{dst}.{k}" for k in range(threads)] if many else [dst]
    outs = [os.open(n, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for n in names]
    lock = threading.Lock()
    state = {"next": 0, "error": None}

    def shared_file():  # every thread takes the next piece of SRC into the one DST
        while True:
            with lock:
                off = state["next"]
                state["next"] += PIECE
            if off >= size:
                return
            copy_range(fin, outs[0], off, min(off + PIECE, size))

    def own_file(k):  # thread k copies its contiguous share into DST.k
        share = (size + threads - 1) // threads
        copy_range(fin, outs[k], k * share, min((k + 1) * share, size))

    def run(fn, *args):
        try:
            fn(*args)
        except OSError as exc:
            state["error"] = exc

    work = [threading.Thread(target=run, args=(own_file, k) if many else (shared_file,))
            for k in range(threads)]
    for t in work:
        t.start()
    for t in work:
        t.join()
    if state["error"]:
        sys.exit(f"kcopy.py: {state['error']}")
    for fd in outs:
        os.fsync(fd)
        os.close(fd)


if __name__ == "__main__":
    main()
