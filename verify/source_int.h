/* source_int.h - the body of vf_source and the helpers the verifier engines share.
 * Layer: verify (internal). Included by source.c, walk.c, tree.c and compare.c, and by the
 * unit tests that count the engines' work (test_digest.c: tree_map_peak). */
#ifndef VHDFOLD_VERIFY_SOURCE_INT_H
#define VHDFOLD_VERIFY_SOURCE_INT_H

#include "io_view.h"
#include "vf_verify.h"

struct vf_source {
    vf_chain *chain; /* a chain source, or NULL for raw */
    bool own_chain;
    size_t depth;
    uint32_t sector_bytes; /* the chain's logical sector size (map alignment) */
    vf_io *io;             /* a raw source, owned */
    uint64_t size;
    char *name;
    size_t tree_map_peak; /* block bytes the last tree digest held mapped at once, at most */
};

/* The run at voff (at most len bytes): *zero when every level leaves it absent or zero, so it
 * needs no read; *run_bytes is its length (> 0). Raw sources always answer data for len. */
vf_status vf_source_run(vf_source *src, uint64_t voff, uint64_t len, bool *zero,
                        uint64_t *run_bytes, vf_error *err);
/* The flattened bytes [voff, voff+len). Not thread safe: callers serialise. */
vf_status vf_source_read(vf_source *src, uint64_t voff, void *buf, size_t len, vf_error *err);

/* A view (no copy) of the flattened bytes at voff when one level's file holds a run of at
 * least min bytes there contiguously: maps up to max bytes of it and sets *len. False when
 * the run is shorter, zero, overlaid or not in a plain file: vf_source_read it instead. Views
 * are the digests' zero-copy path; not thread safe, like vf_source_read. */
bool vf_source_view(vf_source *src, uint64_t voff, size_t min, size_t max, vf_io_view *v,
                    size_t *len);

/* Where the flattened bytes [voff, voff+len) lie when one level's file holds them whole and
 * as stored (not zero, not overlaid), or when the source is raw (its file at voff): *io
 * (borrowed from the chain or the source) at *file_off. False
 * otherwise: vf_source_read them. Not thread safe (it maps the chain); the bytes may then
 * be read from *io with vf_io_read_shared outside the caller's lock. */
bool vf_source_locate(vf_source *src, uint64_t voff, uint64_t len, vf_io **io, uint64_t *file_off);

/* Replace *opts (when not NULL) by own, a library-sized copy of it (docs/library.md "Growing
 * structs"); VF_E_INVAL / VF_E_UNSUPPORTED for a struct this library cannot take. */
vf_status vf_verify_adopt(const vf_verify_opts **opts, vf_verify_opts *own, vf_error *err);
bool vf_source_canceled(const vf_verify_opts *opts);
vf_status vf_source_cancel_error(const vf_source *src, vf_error *err);

#endif
