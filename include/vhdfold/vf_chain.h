/* vf_chain.h - an image and all its ancestors, opened, validated and linked; flattened reads.
 * Layer: format (public). Parents are found through the image's locators (docs/chain.md
 * gives the order), opened through a vf_fs, and bound by identity at every link. */
#ifndef VHDFOLD_VF_CHAIN_H
#define VHDFOLD_VF_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"
#include "vf_image.h"
#include "vf_io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VF_CHAIN_DEFAULT_MAX_DEPTH 1024

/* How to open a chain. Fill it with vf_chain_opts_init(&o), then set the fields you need by name.
 * The struct may grow: it starts with its own size, only that many bytes are read, and fields past
 * it get their defaults (docs/library.md "Growing structs"). A zeroed struct is refused with
 * VF_E_INVAL. Do not use positional initialisers. */
typedef struct vf_chain_opts {
    size_t struct_size;  /* set by vf_chain_opts_init(): do not touch */
    const vf_fs *fs;     /* NULL = vf_fs_posix() */
    unsigned max_depth;  /* images in the chain at most; 0 = VF_CHAIN_DEFAULT_MAX_DEPTH */
    unsigned open_flags; /* VF_OPEN_* for the top image; ancestors are opened read-only */
    bool lock;           /* take shared OFD locks (exclusive on a writable top) */
    /* --- where parents may be looked for (docs/chain.md, "Policy") --- */
    /* Follow locators holding POSIX absolute paths ("/srv/p.vhd") as they are. false: such a
     * path is never opened; its base name is looked for in the search folder instead. */
    bool allow_absolute_parents;
    /* Non-NULL: parents are looked for only inside this directory (copied): relative paths
     * that stay inside it and file names, opened without following any symbolic link below
     * it. NULL: beside each child, as its locators say. */
    const char *parent_dir;
    /* Files the caller names itself (the merge DESTINATION, say): when no locator finds a
     * parent, each is tried and taken when its identity binds, whatever the policy. Borrowed
     * during vf_chain_open only. */
    const char *const *named;
    size_t nnamed;
} vf_chain_opts;

/* Every field at its default (all zero). Call it first (the macro passes sizeof the caller's
 * struct). */
VF_API void vf_chain_opts_init_size(vf_chain_opts *o, size_t size);
#define vf_chain_opts_init(o) vf_chain_opts_init_size((o), sizeof *(o))

typedef struct vf_chain vf_chain;

/* Open path and every ancestor. Level 0 is path itself, level depth-1 the base. *out is
 * yours: vf_chain_close() it (NULL on failure).
 * Errors: VF_E_CHAIN (a parent missing, with every path tried in the message; an identity
 * mismatch; a loop; more than max_depth levels), VF_E_FORMAT / VF_E_TRUNCATED /
 * VF_E_CORRUPT / VF_E_UNSUPPORTED (an image of the chain, named), VF_E_BUSY (a lock held
 * elsewhere), VF_E_INVAL (opts not filled by its init), VF_E_IO, VF_E_NOMEM. */
VF_API vf_status vf_chain_open(const char *path, const vf_chain_opts *opts, vf_chain **out,
                               vf_error *err);
/* The same, but only the top `levels` images (levels >= 1): the last one may have a parent
 * that is not opened (the merger resolves SOURCE's levels above a re-identified DESTINATION).
 * *out is yours as with vf_chain_open. Errors: those of vf_chain_open; VF_E_INVAL for
 * levels 0. */
VF_API vf_status vf_chain_open_upper(const char *path, const vf_chain_opts *opts, size_t levels,
                                     vf_chain **out, vf_error *err);
/* Open path and as many ancestors as resolve, for describing a chain that breaks (info).
 * When path itself opens: VF_OK, *out holds levels 0..depth-1, and *brk says why level depth
 * could not be opened (code VF_OK when the chain is whole; a VF_E_CHAIN "parent not found",
 * an image's VF_E_FORMAT, VF_E_BUSY...). The last level may then have a parent that is not
 * opened: reads of what it leaves undefined return zeros, so the view is not the disk's.
 * When path fails: that error, *out NULL, brk cleared. *out is yours: vf_chain_close() it;
 * brk may be NULL. Errors: those of vf_chain_open for the top image. */
VF_API vf_status vf_chain_open_partial(const char *path, const vf_chain_opts *opts, vf_chain **out,
                                       vf_error *brk, vf_error *err);
/* After a partial open that broke: the file a locator of the last level found that did not
 * become level depth (it has another identity, or it is in use), as resolved; NULL when there
 * is none (nothing found) or the chain is whole. A merge past its copy gives DESTINATION a new
 * identity, so this is where its journal is looked for. Borrowed until vf_chain_close. */
VF_API const char *vf_chain_beyond(const vf_chain *c);
VF_API void vf_chain_close(vf_chain *c); /* NULL is fine */

/* Number of levels opened (1 for a disk with no parent). */
VF_API size_t vf_chain_depth(const vf_chain *c);
/* The image of level (< depth); borrowed until vf_chain_close: do not close it. */
VF_API vf_image *vf_chain_image(const vf_chain *c, size_t level);
VF_API const char *vf_chain_path(const vf_chain *c, size_t level); /* as resolved */
/* Which locator resolved level (level >= 1), e.g. "W2ru", or "named" for a file of
 * opts.named; "" for level 0. Borrowed until vf_chain_close, like vf_chain_path. */
VF_API const char *vf_chain_via(const vf_chain *c, size_t level);
VF_API uint64_t vf_chain_virtual_size(const vf_chain *c); /* the top's virtual size */

/* Reopen one level read-write (and lock it exclusively when opts.lock), re-checking that it
 * is still the same image (identity). Used by the merger for its destination. Images and
 * pointers of that level handed out before are invalid afterwards.
 * Errors: VF_E_CHAIN (the file now holds another image), VF_E_BUSY (another process holds
 * a lock), VF_E_STATE (an earlier failed reopen left the chain broken: close it), VF_E_INVAL (level
 * out of range); an already writable level is VF_OK, those
 * of opening an image, VF_E_IO. */
VF_API vf_status vf_chain_reopen_rw(vf_chain *c, size_t level, vf_error *err);

/* The flattened disk from the top: reads the top-most level defining each sector; what no
 * level defines reads as zeros. [voff, voff+len) must lie within the virtual size.
 * Errors: VF_E_INVAL (outside the disk), VF_E_STATE (the chain is broken, see
 * vf_chain_reopen_rw), VF_E_CORRUPT / VF_E_FORMAT (a level's metadata found bad while
 * reading), VF_E_IO. */
VF_API vf_status vf_chain_read(vf_chain *c, uint64_t voff, void *buf, size_t len, vf_error *err);

/* The flattened view restricted to levels [from, to] (inclusive): the run starting at voff
 * (at most len long) and the top-most level in range that defines it. ABSENT means no level
 * in range defines it (reads as zero when `to` is the base, else falls to level to+1). */
typedef struct vf_chain_extent {
    uint64_t voff, len;
    vf_extent_kind kind; /* PRESENT: data in `level`; ZERO: `level` defines zeros; ABSENT */
    size_t level;        /* PRESENT/ZERO: which level defines the run */
    uint64_t file_off;   /* PRESENT from file data: offset in that level's file */
    bool overlaid;       /* PRESENT, no file_off: read through vf_image_read (vf_extent) */
} vf_chain_extent;

/* Fill *ext with the run at voff (sector aligned, < virtual size) of levels [from, to].
 * Errors: VF_E_INVAL (levels or offset out of range), VF_E_STATE (the chain is broken),
 * VF_E_CORRUPT / VF_E_FORMAT (a level's metadata), VF_E_IO. */
VF_API vf_status vf_chain_map(vf_chain *c, size_t from, size_t to, uint64_t voff, uint64_t len,
                              vf_chain_extent *ext, vf_error *err);

#ifdef __cplusplus
}
#endif
#endif
