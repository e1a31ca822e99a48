/* vf_verify.h - the verifier engine: flat and tree digests of a flattened disk, comparison of
 * two disks, and the structural check of a whole chain.
 * Layer: verify (public header of vf_verify). Called by the CLI (digest, export, compare,
 * check), the merger (--verify) and the conformance runner; built on format/ only.
 * Thread safety: each call owns the source it is given for its duration; a source must not be
 * used by two calls at once. The engines start their own threads and join them before
 * returning. */
#ifndef VHDFOLD_VF_VERIFY_H
#define VHDFOLD_VF_VERIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_error.h>
#include <vhdfold/vf_io.h>
#include <vhdfold/vf_report.h>

#include <vhdfold/vf_sha256.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The tree digest's fixed block size (docs/tree-digest.md) and the unit compare counts in. */
#define VF_TREE_BLOCK_BYTES 2097152u
#define VF_COMPARE_BLOCK_BYTES 2097152u

/* --- Sources: what the engines read ------------------------------------------------------- */

/* A flattened disk: a chain (read through vf_chain_map / vf_chain_read, so regions no level
 * holds are known to be zero without reading) or a raw file (every byte read). */
typedef struct vf_source vf_source;

/* Wrap an open chain. With own, the source closes the chain in vf_source_free (even when this
 * call fails); without, the chain is borrowed and must outlive the source. *out is yours:
 * vf_source_free() it. Errors: VF_E_NOMEM. */
VF_API vf_status vf_source_from_chain(vf_chain *c, bool own, vf_source **out, vf_error *err);
/* Wrap a raw disk held in io (its whole length is the disk). Owns io, even on failure. *out
 * is yours: vf_source_free() it. Errors: VF_E_IO (the size), VF_E_NOMEM. */
VF_API vf_status vf_source_from_io(vf_io *io, vf_source **out, vf_error *err);

/* How vf_source_open interprets path. */
typedef enum vf_source_kind {
    VF_SOURCE_AUTO = 0,  /* a VHD/VHDX signature makes it a chain, anything else is raw */
    VF_SOURCE_CHAIN = 1, /* always opened as an image chain */
    VF_SOURCE_RAW = 2,   /* always read as raw bytes, never parsed */
} vf_source_kind;

/* Open path as kind says. copts (may be NULL) are used for chains; its fs opens raw files.
 * AUTO looks for "conectix" at offset 0 or at the last 512/511 bytes, or "vhdxfile" at 0.
 * *out is yours: vf_source_free() it. Errors: those of vf_chain_open for a chain, of
 * vf_fs_open for a raw file, VF_E_INVAL (unknown kind). */
VF_API vf_status vf_source_open(const char *path, vf_source_kind kind, const vf_chain_opts *copts,
                                vf_source **out, vf_error *err);
VF_API void vf_source_free(vf_source *src); /* NULL is fine */

VF_API uint64_t vf_source_size(const vf_source *src);    /* bytes of the flattened disk */
VF_API const char *vf_source_name(const vf_source *src); /* borrowed until free */
VF_API bool vf_source_is_raw(const vf_source *src);      /* read as raw bytes, not a chain */
VF_API vf_chain *vf_source_chain(vf_source *src);        /* NULL for a raw source; borrowed */

/* --- Options shared by every engine ------------------------------------------------------- */

/* Called from the calling thread only, with bytes of the disk accounted for so far. */
typedef void (*vf_progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);

/* How an engine runs. Fill it with vf_verify_opts_init(&o), then set the fields you need by name.
 * The struct may grow: it starts with its own size, only that many bytes are read, and fields past
 * it get their defaults (docs/library.md "Growing structs"). A zeroed struct is refused with
 * VF_E_INVAL. Do not use positional initialisers. */
typedef struct vf_verify_opts {
    size_t struct_size;      /* set by vf_verify_opts_init(): do not touch */
    vf_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    /* When not NULL and it becomes non-zero (from any thread or a signal handler), the engine
     * stops soon and returns VF_E_CANCELED. */
    const atomic_int *cancel;
    unsigned threads;     /* tree digest and compare workers; 0 = one per online core */
    size_t request_bytes; /* flat walk read size; 0 = 4 MiB (rounded to 64 KiB, 64 KiB..64 MiB) */
    unsigned tree_batch;  /* tree digest: blocks with data per batch; 0 = 4096 (tests set less) */
    /* The flat walk (flat digest, export to stdout) hashes runs of 256 KiB and more, and the
     * tree digest the blocks one file holds whole, straight from the page cache through
     * read-only mmap views of locked files. A file truncated by another program while it is
     * mapped then raises SIGBUS in the calling process. true: every byte is read with pread
     * instead (a truncation is VF_E_TRUNCATED or VF_E_IO), at the cost of one copy: for
     * processes that cannot catch SIGBUS (the nbdkit plugin). compare never maps. Added
     * last. */
    bool no_views;
} vf_verify_opts;

/* Every field at its default (all zero: no progress, no cancel flag, one worker per core,
 * 4 MiB reads). Call it first (the macro passes sizeof the caller's struct). */
VF_API void vf_verify_opts_init_size(vf_verify_opts *o, size_t size);
#define vf_verify_opts_init(o) vf_verify_opts_init_size((o), sizeof *(o))

/* --- The ordered walk (flat digest, export) ----------------------------------------------- */

/* Receives the disk in order, exactly once, from byte 0 to the size. data is NULL for a run
 * known to be zero (len may then be huge); otherwise it holds len bytes, borrowed for the call.
 * A non-VF_OK return stops the walk and is returned (fill err). */
typedef vf_status (*vf_walk_fn)(void *ctx, uint64_t voff, const void *data, uint64_t len,
                                vf_error *err);

/* A reader thread fills a ring of request_bytes buffers (skipping zero runs) while the calling
 * thread runs sink. Returns the first error of either side.
 * Errors: VF_E_CANCELED (opts->cancel was set), VF_E_INVAL (opts not filled by its init),
 * the source's read errors (vf_chain_read), the sink's, VF_E_NOMEM. */
VF_API vf_status vf_verify_walk(vf_source *src, const vf_verify_opts *opts, vf_walk_fn sink,
                                void *ctx, vf_error *err);

/* --- Digests ------------------------------------------------------------------------------ */

/* SHA-256 of the whole flattened disk (equals sha256sum of a raw export).
 * Errors: those of vf_verify_walk. */
VF_API vf_status vf_digest_flat(vf_source *src, const vf_verify_opts *opts,
                                uint8_t md[VF_SHA256_LEN], vf_error *err);

/* Tree digest version 1 (docs/tree-digest.md). Blocks no level holds are never read; the
 * others are hashed on all workers: a block one level's file holds whole is read by its
 * worker (pread, no lock, no mapping), any other block through the chain under a lock.
 * Memory: one 2 MiB buffer per worker plus a fixed window of leaves, whatever the size.
 * Errors: VF_E_CANCELED, VF_E_INVAL (opts), the source's read errors, VF_E_NOMEM, VF_E_IO
 * (a worker thread could not start). */
VF_API vf_status vf_digest_tree(vf_source *src, const vf_verify_opts *opts,
                                uint8_t md[VF_SHA256_LEN], vf_error *err);

/* --- Compare ------------------------------------------------------------------------------ */

typedef struct vf_compare_result {
    bool identical; /* same size and same bytes */
    uint64_t size_a, size_b;
    uint64_t first_diff;  /* first differing byte offset; VF_OFF_NONE when identical. When
                             only the sizes differ, the smaller size. */
    uint64_t diff_blocks; /* VF_COMPARE_BLOCK_BYTES blocks (of the larger disk) holding at
                             least one differing byte; bytes past the smaller size differ */
    uint64_t read_bytes;  /* bytes actually read from both sides (zero runs cost nothing) */
} vf_compare_result;

/* Compare two flattened disks byte for byte. Regions known to be zero in both are skipped;
 * the 2 MiB blocks are compared on opts->threads workers (at most 4; progress is reported on
 * the calling thread), with two 2 MiB buffers each. a and b may be the same source, or share a
 * chain. Returns VF_OK when the comparison ran (identical or not): the answer is in *res,
 * the same for every thread count; an error is one that some worker met first.
 * Errors: VF_E_CANCELED, VF_E_INVAL (opts), either source's read errors, VF_E_NOMEM. */
VF_API vf_status vf_compare(vf_source *a, vf_source *b, const vf_verify_opts *opts,
                            vf_compare_result *res, vf_error *err);

/* --- Chain check -------------------------------------------------------------------------- */

/* vf_image_check on every level, then the links between levels: identity (an error), VHD
 * parent time stamp (a warning), format, sector size and virtual size agreement. Findings go
 * to rep; returns VF_OK when the check ran. Errors: those of vf_image_check. */
VF_API vf_status vf_verify_check_chain(vf_chain *c, vf_report *rep, vf_error *err);

#ifdef __cplusplus
}
#endif
#endif
