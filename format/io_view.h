/* io_view.h - read-only views of file bytes straight from the page cache (mmap), for readers
 * that only look at the bytes (the flat walk, the tree digest): no copy into a buffer of ours; and
 * a pread that several threads may issue on one handle at once (the tree digest's workers). Layer:
 * format (internal). Implemented in io_file.c; used by verify/source.c and tree.c. */
#ifndef VHDFOLD_FORMAT_IO_VIEW_H
#define VHDFOLD_FORMAT_IO_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_io.h>

typedef struct vf_io_view {
    const uint8_t *data; /* the bytes asked for */
    void *base;          /* the mapping (page aligned), NULL when none */
    size_t map_len;
} vf_io_view;

/* Map bytes [off, off+len) of io for reading. False (nothing mapped) when io is not a regular
 * POSIX file, the range is not wholly inside the file now, or mmap fails: read instead. The
 * file is checked against its size first; a file truncated by another process while mapped
 * faults (SIGBUS) on the next access (docs/performance.md "Issue 19: at the limits"): views are for
 * the digests (vf_verify_opts.no_views turns them off), where the chain's advisory locks keep
 * vhdfold's writers away. */
/* Only a handle holding its lock (vf_io_lock) is mapped: an unlocked one (--force-share,
 * beside a running merge that may trim the file) is read, so a truncation is an error, not a
 * signal. */
bool vf_io_view_map(vf_io *io, uint64_t off, size_t len, vf_io_view *v);
/* Drop a view (one that was never mapped is fine). */
void vf_io_view_unmap(vf_io_view *v);

/* Read bytes [off, off+len) of io into buf with pread, touching no state of the handle, so
 * several threads may read one handle at once (the tree digest's workers). False when io is
 * not a POSIX file: nothing read, read it through vf_io_read under the caller's lock. True
 * otherwise, *st the read's status (VF_E_TRUNCATED for a file cut short meanwhile: an
 * error, never a signal). */
bool vf_io_read_shared(vf_io *io, void *buf, size_t len, uint64_t off, vf_status *st,
                       vf_error *err);

#endif
