/* merge.c - the reference merger: validates and locks SOURCE's chain, plans the copy, then
 * copies every sector the merged layers define into DESTINATION in flushed batches guarded
 * by the journal, hands DESTINATION a fresh identity, re-points --child files and removes
 * the merged files. Layer: merger. Called through vf_merge_run / the job API (job.c).
 * docs/merge.md explains the phases and why the view from SOURCE never changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_int.h"
#include "merge_int.h"
#include "path.h"

#define VF_MERGE_BATCH_DEFAULT (256u * 1024u * 1024u)
#define VF_MERGE_CHUNK (4u * 1024u * 1024u)
#define VF_MERGE_FIXED_UNIT (2u * 1024u * 1024u) /* "block" used for counting in fixed disks */
#define VF_MERGE_SMALL_ZERO (1024u * 1024u)      /* smaller ZERO runs join the write buffer */
#define VF_MERGE_DIRECT_MIN (64u * 1024u)        /* longer PRESENT runs go file to file */

/* One batch of the copy: it ends at `end` (virtual offset) and allocates about `allocs`
 * blocks. There is one per batch_bytes of merged data: bounded by the data, not the size. */
typedef struct vf_merge_batch {
    uint64_t end, allocs;
} vf_merge_batch;

typedef struct vf_merge_ctx {
    const vf_merge_opts *o;
    vf_merge_result *res;
    vf_error *err;
    const vf_fs *fs;
    bool posix;
    atomic_bool *cancel;
    atomic_uint *percent;
    char *dst_norm, *jpath;
    vf_chain *chain;      /* SOURCE's chain (COPYING) */
    vf_chain *upper;      /* after the copy: SOURCE's levels above DESTINATION, as resolved now */
    size_t k;             /* DESTINATION's level */
    vf_image *dest;       /* borrowed from chain, or dest_owned */
    vf_image *dest_owned; /* resume after the copy: DESTINATION opened alone */
    vf_journal j;
    vf_journal_file jf;
    bool jf_open;
    bool jfile_exists; /* a journal file is there (valid or not): open it, do not create */
    vf_io **child_io;  /* children, opened read-write and locked before the first write */
    uint8_t *buf;
    uint64_t total_bytes, done_bytes, batch_bytes;
    uint64_t heavy_bytes;    /* of done_bytes, those written rather than shared, declared zero
                                or punched (zeros in place) */
    vf_merge_batch *batches; /* from the plan: where each flush+journal batch ends */
    size_t nbatches, cap_batches;
    uint64_t pend_voff; /* the span gathered in buf, not written yet */
    size_t pend_len;
    vf_merge_tracker trk; /* steps and job fields for opts->on_info (progress.c) */
} vf_merge_ctx;

/* --- small helpers --- */

static vf_status vf_merge_nomem(vf_merge_ctx *x, const char *what)
{
    return VF_FAIL_ERRNO(x->err, ENOMEM, VF_OFF_NONE, "merge: allocating %s", what);
}

static void vf_merge_progress(vf_merge_ctx *x)
{
    unsigned pct = x->total_bytes ? (unsigned)(x->done_bytes * 100u / x->total_bytes) : 100u;
    if (pct > 100)
        pct = 100;
    if (x->percent)
        atomic_store(x->percent, pct);
    if (x->o->progress)
        x->o->progress(x->o->progress_user, pct, x->done_bytes, x->total_bytes);
    vf_merge_track_bytes(&x->trk, x->done_bytes, x->total_bytes);
}

/* Asked only where everything written so far is durable (a batch journaled). */
static vf_status vf_merge_check_cancel(vf_merge_ctx *x)
{
    if ((x->cancel && atomic_load(x->cancel)) || (x->o->cancel && atomic_load(x->o->cancel)))
        return VF_FAIL(x->err, VF_E_CANCELED, VF_OFF_NONE,
                       "merge into '%s' canceled; run the merge again to finish it",
                       x->o->destination);
    return VF_OK;
}

static uint64_t vf_merge_unit(const vf_image_info *di)
{
    return di->block_size ? di->block_size : VF_MERGE_FIXED_UNIT;
}

/* Does the format of the merge have feature f (VF_FEATURE_*)? The merger asks the drivers
 * what it must do, never which format it has. */
static bool vf_merge_has(const vf_merge_ctx *x, unsigned f)
{
    vf_format_limits lim;
    return vf_format_get_limits(x->res->format, &lim, NULL) == VF_OK && (lim.features & f);
}

/* A file's size now (0 when it cannot be read: never proves a journal's cursor). */
static uint64_t vf_merge_file_size(vf_io *io)
{
    uint64_t size = 0;
    if (vf_io_size(io, &size, NULL) != VF_OK)
        return 0;
    return size;
}

/* --- validation: DESTINATION's level and what the formats allow --- */

static vf_status vf_merge_find_dest(vf_merge_ctx *x)
{
    vf_chain *c = x->chain;
    size_t depth = vf_chain_depth(c);
    const vf_image_info *si = vf_image_info_get(vf_chain_image(c, 0));
    if (vf_merge_same_file(x->fs, x->o->source, x->o->destination))
        return VF_FAIL(x->err, VF_E_INVAL, VF_OFF_NONE,
                       "SOURCE and DESTINATION are the same file '%s'", x->o->source);
    if (si->type != VF_DISK_DIFF)
        return VF_FAIL(x->err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "SOURCE '%s' is a %s disk, not a differencing disk: it has no ancestor "
                       "to merge into",
                       x->o->source, vf_disk_type_name(si->type));
    for (size_t level = 1; level < depth; level++)
        if (vf_merge_same_file(x->fs, vf_chain_path(c, level), x->o->destination)) {
            x->k = level;
            return VF_OK;
        }
    vf_io *io;
    vf_error e2;
    if (vf_fs_open(x->fs, x->o->destination, VF_IO_RDONLY, &io, &e2) != VF_OK) {
        int errnum = e2.code == VF_E_IO ? e2.sys_errno : 0;
        if (errnum == ENOENT || errnum == ENOTDIR)
            return VF_FAIL_ERRNO(x->err, errnum, VF_OFF_NONE, "DESTINATION '%s' does not exist",
                                 x->o->destination);
    } else {
        vf_io_close(io);
    }
    return VF_FAIL(x->err, VF_E_INVAL, VF_OFF_NONE,
                   "DESTINATION '%s' is not an ancestor of '%s' (its chain has %zu levels, "
                   "base '%s')",
                   x->o->destination, x->o->source, depth, vf_chain_path(c, depth - 1));
}

static vf_status vf_merge_check_level(vf_merge_ctx *x, size_t level)
{
    const vf_image_info *si = vf_image_info_get(vf_chain_image(x->chain, 0));
    const vf_image_info *li = vf_image_info_get(vf_chain_image(x->chain, level));
    const char *path = vf_chain_path(x->chain, level);
    if (li->format != si->format)
        return VF_FAIL(x->err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s' is %s but SOURCE is %s: chains mixing formats cannot merge", path,
                       vf_format_name(li->format), vf_format_name(si->format));
    if (li->logical_sector_size != si->logical_sector_size)
        return VF_FAIL(x->err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s' has %u-byte logical sectors but SOURCE has %u: cannot merge", path,
                       li->logical_sector_size, si->logical_sector_size);
    /* a smaller intermediate reads as zeros past its end (vf_chain_map says ZERO there), and
     * those zeros are merged like any others; DESTINATION is grown to SOURCE's size before
     * the copy (vf_merge_grow), which only keeps SOURCE's view when the new space reads as
     * zeros: a differencing DESTINATION would show its parent there */
    if (level == x->k && li->virtual_size < si->virtual_size && li->type == VF_DISK_DIFF)
        return VF_FAIL(x->err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s' (virtual size %llu) is smaller than SOURCE (%llu) and differencing: "
                       "growing it would show its parent where SOURCE reads zeros",
                       path, (unsigned long long)li->virtual_size,
                       (unsigned long long)si->virtual_size);
    return VF_OK;
}

static vf_status vf_merge_validate(vf_merge_ctx *x)
{
    vf_status st = vf_merge_find_dest(x);
    for (size_t level = 1; st == VF_OK && level <= x->k; level++)
        st = vf_merge_check_level(x, level);
    if (st != VF_OK)
        return st;
    const vf_image_info *si = vf_image_info_get(vf_chain_image(x->chain, 0));
    x->res->format = si->format;
    x->res->dest_level = x->k;
    x->res->virtual_size = si->virtual_size;
    return VF_OK;
}

/* --- the plan: what each layer contributes, what DESTINATION must allocate --- */

/* Would writing into D's block idx allocate it? Conservative (an allocated differencing block
 * whose bits are all clear counts as new): the result only sizes hints and the space check. */
static vf_status vf_merge_needs_alloc(vf_merge_ctx *x, uint64_t idx, vf_extent_kind kind,
                                      bool *needs)
{
    const vf_image_info *di = vf_image_info_get(x->dest);
    *needs = false;
    if (di->type == VF_DISK_FIXED || (kind == VF_EXTENT_ZERO && di->type == VF_DISK_DYNAMIC))
        return VF_OK;
    uint64_t start = idx * di->block_size;
    uint64_t end = start + di->block_size;
    if (start >= di->virtual_size) { /* space DESTINATION gains when it is grown */
        *needs = true;
        return VF_OK;
    }
    if (end > di->virtual_size)
        end = di->virtual_size;
    for (uint64_t v = start; v < end;) {
        vf_extent e;
        vf_status st = vf_image_map(x->dest, v, end - v, &e, x->err);
        if (st != VF_OK)
            return st;
        if (e.kind == VF_EXTENT_PRESENT || e.len == 0)
            return VF_OK;
        v = e.voff + e.len;
    }
    *needs = true;
    return VF_OK;
}

typedef struct vf_merge_tally {
    uint64_t last_block; /* UINT64_MAX: none yet */
    uint64_t *layer_last;
    uint64_t blocks, allocs;
} vf_merge_tally;

/* Count the D blocks that [voff, voff+len) of one run touches. */
static vf_status vf_merge_tally_run(vf_merge_ctx *x, vf_merge_tally *t, const vf_chain_extent *e,
                                    uint64_t voff, uint64_t len, bool per_layer)
{
    uint64_t unit = vf_merge_unit(vf_image_info_get(x->dest));
    for (uint64_t b = voff / unit; b <= (voff + len - 1) / unit; b++) {
        if (per_layer && t->layer_last[e->level] != b) {
            t->layer_last[e->level] = b;
            x->res->layers[e->level].blocks++;
        }
        if (t->last_block == b)
            continue;
        t->last_block = b;
        t->blocks++;
        bool needs;
        vf_status st = vf_merge_needs_alloc(x, b, e->kind, &needs);
        if (st != VF_OK)
            return st;
        t->allocs += needs;
    }
    return VF_OK;
}

static vf_status vf_merge_map(vf_merge_ctx *x, uint64_t voff, uint64_t len, vf_chain_extent *e)
{
    vf_status st = vf_chain_map(x->chain, 0, x->k - 1, voff, len, e, x->err);
    if (st == VF_OK && (e->voff != voff || e->len == 0 || e->len > len ||
                        (e->kind != VF_EXTENT_ABSENT && e->level >= x->k)))
        return VF_FAIL(x->err, VF_E_CORRUPT, VF_OFF_NONE,
                       "merge: chain map at %llu returned an inconsistent run (%llu+%llu, "
                       "level %zu)",
                       (unsigned long long)voff, (unsigned long long)e->voff,
                       (unsigned long long)e->len, e->level);
    return st;
}

static vf_status vf_merge_plan_layers(vf_merge_ctx *x)
{
    vf_merge_result *r = x->res;
    r->layers = calloc(x->k, sizeof *r->layers);
    r->invalidated = calloc(x->k, sizeof *r->invalidated);
    if (!r->layers || !r->invalidated)
        return vf_merge_nomem(x, "the plan");
    r->nlayers = x->k;
    for (size_t i = 0; i < x->k; i++) {
        r->layers[i].path = strdup(vf_chain_path(x->chain, i));
        r->invalidated[i] = strdup(vf_chain_path(x->chain, i));
        if (!r->layers[i].path || !r->invalidated[i])
            return vf_merge_nomem(x, "the plan");
        r->ninvalidated = i + 1;
    }
    return VF_OK;
}

static vf_status vf_merge_push_batch(vf_merge_ctx *x, uint64_t end, uint64_t allocs)
{
    if (x->nbatches == x->cap_batches) {
        size_t cap = x->cap_batches ? x->cap_batches * 2 : 16;
        vf_merge_batch *b = realloc(x->batches, cap * sizeof *b);
        if (!b)
            return vf_merge_nomem(x, "the batch list");
        x->batches = b;
        x->cap_batches = cap;
    }
    x->batches[x->nbatches++] = (vf_merge_batch){end, allocs};
    return VF_OK;
}

/* Account one run (clipped to take bytes) in the plan. */
static vf_status vf_merge_plan_run(vf_merge_ctx *x, vf_merge_tally *t, const vf_chain_extent *e,
                                   uint64_t take, uint64_t cursor)
{
    vf_merge_layer *l = &x->res->layers[e->level];
    *(e->kind == VF_EXTENT_PRESENT ? &l->data_bytes : &l->zero_bytes) += take;
    x->total_bytes += take;
    if (cursor > e->voff)
        x->done_bytes += (cursor < e->voff + take ? cursor : e->voff + take) - e->voff;
    return vf_merge_tally_run(x, t, e, e->voff, take, true);
}

/* One walk over vf_chain_map(0, k-1): per-level figures, blocks to allocate, and the batch
 * boundaries the copy uses (so the copy walks the map only once more). */
static vf_status vf_merge_plan(vf_merge_ctx *x, uint64_t cursor)
{
    vf_status st = vf_merge_plan_layers(x);
    vf_merge_tally t = {UINT64_MAX, calloc(x->k, sizeof(uint64_t)), 0, 0};
    if (st == VF_OK && !t.layer_last)
        st = vf_merge_nomem(x, "the plan");
    for (size_t i = 0; st == VF_OK && i < x->k; i++)
        t.layer_last[i] = UINT64_MAX;
    uint64_t size = x->res->virtual_size, accum = 0, allocs_mark = 0;
    for (uint64_t voff = 0; st == VF_OK && voff < size;) {
        vf_chain_extent e;
        if ((st = vf_merge_map(x, voff, size - voff, &e)) != VF_OK)
            break;
        uint64_t take = e.len;
        if (e.kind != VF_EXTENT_ABSENT) {
            if (take > x->batch_bytes - accum)
                take = x->batch_bytes - accum;
            accum += take;
            st = vf_merge_plan_run(x, &t, &e, take, cursor);
        }
        voff += take;
        if (st == VF_OK && (accum == x->batch_bytes || voff == size)) {
            st = vf_merge_push_batch(x, voff, t.allocs - allocs_mark);
            allocs_mark = t.allocs;
            accum = 0;
        }
    }
    free(t.layer_last);
    const vf_image_info *di = vf_image_info_get(x->dest);
    x->res->bytes_merged = x->total_bytes;
    x->res->blocks_merged = t.blocks;
    x->res->blocks_to_allocate = t.allocs;
    x->res->space_needed =
        t.allocs * vf_image_block_cost(x->dest) + 2u * VF_JOURNAL_SLOT_BYTES + 512u;
    /* a log held in memory is written on the first write: DESTINATION's, and level k-1's
     * (the merge link writes it: VF_FEATURE_MERGE_LINK) */
    x->res->space_needed += di->log_replay_bytes;
    if (x->k >= 1)
        x->res->space_needed +=
            vf_image_info_get(vf_chain_image(x->chain, x->k - 1))->log_replay_bytes;
    return st;
}

static vf_status vf_merge_check_space(vf_merge_ctx *x)
{
    x->res->free_space = UINT64_MAX;
    if (!x->fs->ops->free_space)
        return VF_OK;
    uint64_t avail;
    vf_status st = x->fs->ops->free_space(x->fs->self, x->o->destination, &avail, x->err);
    if (st != VF_OK)
        return st;
    x->res->free_space = avail;
    if (avail < x->res->space_needed)
        return VF_FAIL_ERRNO(x->err, ENOSPC, VF_OFF_NONE,
                             "not enough free space for merging into '%s': %llu bytes needed "
                             "(%llu new blocks), %llu available",
                             x->o->destination, (unsigned long long)x->res->space_needed,
                             (unsigned long long)x->res->blocks_to_allocate,
                             (unsigned long long)avail);
    return VF_OK;
}

/* --- the copy --- */

/* Long PRESENT runs go file to file (vf_merge_direct, below). Shorter runs and small ZERO
 * runs from different levels that touch each other are gathered in the chunk buffer and
 * written with one vf_image_write (fewer driver calls and bitmap updates); each run is still
 * read once, from its own level. */
static vf_status vf_merge_span_flush(vf_merge_ctx *x)
{
    if (!x->pend_len)
        return VF_OK;
    vf_status st = vf_image_write(x->dest, x->pend_voff, x->buf, x->pend_len, x->err);
    x->done_bytes += x->pend_len;
    x->heavy_bytes += x->pend_len;
    x->pend_len = 0;
    vf_merge_progress(x);
    return st;
}

/* Append a PRESENT run (its bytes) or a small ZERO run (zeros) to the pending span. */
static vf_status vf_merge_span_add(vf_merge_ctx *x, const vf_chain_extent *e)
{
    vf_image *src = vf_chain_image(x->chain, e->level);
    vf_status st = VF_OK;
    for (uint64_t v = e->voff; st == VF_OK && v < e->voff + e->len;) {
        if (x->pend_len && (x->pend_voff + x->pend_len != v || x->pend_len == VF_MERGE_CHUNK) &&
            (st = vf_merge_span_flush(x)) != VF_OK)
            break;
        if (!x->pend_len)
            x->pend_voff = v;
        uint64_t left = e->voff + e->len - v, room = VF_MERGE_CHUNK - x->pend_len;
        size_t n = (size_t)(left < room ? left : room);
        if (e->kind == VF_EXTENT_PRESENT)
            st = vf_image_read(src, v, x->buf + x->pend_len, n, x->err);
        else
            memset(x->buf + x->pend_len, 0, n);
        x->pend_len += n;
        v += n;
    }
    return st;
}

/* A long PRESENT run moves from its level's file straight into DESTINATION (no user-space
 * buffer when both are POSIX files). Not a run the map calls overlaid (a VHDX log replayed in
 * memory overrides its file bytes): it has no file offset and goes through vf_image_read. */
static bool vf_merge_direct_ok(const vf_chain_extent *e)
{
    return e->kind == VF_EXTENT_PRESENT && !e->overlaid && e->len >= VF_MERGE_DIRECT_MIN;
}

/* How much of a direct run to move next: a chunk that ends on one of DESTINATION's block
 * boundaries (so a block the run covers whole arrives in one call, which a VHDX can move
 * instead of cloning it in place: docs/merge.md "Reflinks"), at most a chunk and a block. */
static size_t vf_merge_direct_piece(const vf_merge_ctx *x, uint64_t voff, uint64_t left)
{
    uint64_t bs = vf_image_info_get(x->dest)->block_size, end = voff + VF_MERGE_CHUNK;
    if (bs && bs <= ((uint64_t)1 << 30) && end % bs)
        end += bs - end % bs;
    return (size_t)(left < end - voff ? left : end - voff);
}

/* In chunks, so progress keeps the pace of the buffered path. */
static vf_status vf_merge_direct(vf_merge_ctx *x, const vf_chain_extent *e)
{
    vf_io *src = vf_image_io(vf_chain_image(x->chain, e->level));
    vf_io *dio = vf_image_io(x->dest);
    vf_status st = vf_merge_span_flush(x);
    for (uint64_t done = 0; st == VF_OK && done < e->len;) {
        size_t n = vf_merge_direct_piece(x, e->voff + done, e->len - done);
        uint64_t shared = vf_io_shared_bytes(dio);
        st = vf_image_write_from(x->dest, e->voff + done, src, e->file_off + done, n, x->err);
        shared = vf_io_shared_bytes(dio) - shared;
        done += n;
        x->done_bytes += n;
        x->heavy_bytes += shared < n ? n - shared : 0;
        vf_merge_progress(x);
    }
    return st;
}

/* A large ZERO run for a format whose zeros are a block state (VF_FEATURE_ZERO_BLOCKS). Where
 * DESTINATION already holds data the zeros go in place (vf_image_zero_in_place: punched out
 * of the file, no zero bytes written), so its block keeps the file space it has: a ZERO entry
 * there would leave that space named by nothing (orphaned for check, never reused, the file
 * no smaller). Where it holds none, write_zeroes makes them a block state and allocates
 * nothing. The choice follows only DESTINATION's own map, which a
 * resume finds as the uninterrupted merge found it (a batch changes no PRESENT run into
 * another kind, and publishes what it allocates only at its flush), so both reach the same
 * layout; the bytes overwritten are shadowed by the merged level that defines the zeros,
 * exactly like the data a batch writes in place (docs/merge.md "Space a merge frees"). */
static vf_status vf_merge_zero_run(vf_merge_ctx *x, uint64_t voff, uint64_t len)
{
    vf_status st = vf_merge_span_flush(x);
    for (uint64_t v = voff, end = voff + len; st == VF_OK && v < end;) {
        vf_extent d;
        if ((st = vf_image_map(x->dest, v, end - v, &d, x->err)) != VF_OK)
            break;
        uint64_t n = d.len < end - v ? d.len : end - v;
        if (d.kind == VF_EXTENT_PRESENT)
            st = vf_image_zero_in_place(x->dest, v, n, x->err);
        else
            st = vf_image_write_zeroes(x->dest, v, n, x->err);
        x->done_bytes += n;
        vf_merge_progress(x);
        v += n;
    }
    return st;
}

static vf_status vf_merge_copy_range(vf_merge_ctx *x, uint64_t voff, uint64_t end)
{
    vf_status st = VF_OK;
    while (st == VF_OK && voff < end) {
        vf_chain_extent e;
        if ((st = vf_merge_map(x, voff, end - voff, &e)) != VF_OK)
            break;
        /* VF_FEATURE_ZERO_BLOCKS (VHDX): zeros DESTINATION holds no data for go through
         * write_zeroes, so whole blocks become ZERO entries and a dynamic DESTINATION allocates
         * nothing for them, zeros over its data are written in place (vf_merge_zero_run); a fixed
         * DESTINATION gets them written in place (docs/formats/vhdx.md "Metadata table and
         * items": its blocks stay allocated) */
        bool fixed = vf_image_info_get(x->dest)->type == VF_DISK_FIXED;
        bool small_zero =
            e.kind == VF_EXTENT_ZERO &&
            (fixed || (e.len <= VF_MERGE_SMALL_ZERO && !vf_merge_has(x, VF_FEATURE_ZERO_BLOCKS)));
        if (vf_merge_direct_ok(&e)) {
            st = vf_merge_direct(x, &e);
        } else if (e.kind == VF_EXTENT_PRESENT || small_zero) {
            st = vf_merge_span_add(x, &e);
        } else if (e.kind == VF_EXTENT_ZERO && vf_merge_has(x, VF_FEATURE_ZERO_BLOCKS)) {
            st = vf_merge_zero_run(x, e.voff, e.len);
        } else if (e.kind == VF_EXTENT_ZERO) { /* large: let the driver define zeros */
            if ((st = vf_merge_span_flush(x)) == VF_OK)
                st = vf_image_write_zeroes(x->dest, e.voff, e.len, x->err);
            x->done_bytes += e.len;
            /* ZERO block entries cost no data; other drivers may write the zeros */
            x->heavy_bytes += vf_merge_has(x, VF_FEATURE_ZERO_BLOCKS) ? 0 : e.len;
            vf_merge_progress(x);
        }
        voff += e.len;
    }
    if (st == VF_OK)
        st = vf_merge_span_flush(x);
    x->pend_len = 0;
    return st;
}

/* A resumed copy first gives back what the interrupted batch allocated and never published:
 * DESTINATION's driver reuses the space past the journal's allocation mark that nothing in
 * the file names, so the finished file is laid out as by an uninterrupted merge
 * (docs/merge.md "Resume reuses what it allocated"). Any mark is safe (the driver never
 * reuses named space); a forged one only loses that layout. */
static vf_status vf_merge_reclaim(vf_merge_ctx *x)
{
    if (!x->res->resumed)
        return VF_OK;
    vf_status st = vf_image_reclaim(x->dest, x->j.alloc_mark, x->err);
    if (st != VF_OK)
        vf_error_prefix(x->err, "reusing the space of the interrupted batch: ");
    return st;
}

/* Batches whose bytes the file system shared (reflinks) cost next to nothing to copy again,
 * so they do not each end with a flush and a journal record: a group of batches goes on
 * while what it really wrote (merged bytes less shared ones and ZERO entries) stays under
 * one batch size, up to VF_MERGE_GROUP_MAX batches. The journal still records only flushed batch
 * ends, so the crash contract is the one of a single larger batch (docs/merge.md "Reflinks"). */
#define VF_MERGE_GROUP_MAX 64u

typedef struct vf_merge_group {
    uint64_t heavy0, shared0; /* heavy_bytes and shared bytes at the last flush */
    unsigned batches;
} vf_merge_group;

static void vf_merge_group_start(vf_merge_ctx *x, vf_merge_group *g)
{
    g->heavy0 = x->heavy_bytes;
    g->shared0 = vf_io_shared_bytes(vf_image_io(x->dest));
    g->batches = 0;
}

/* May the batch just copied go without its own flush? Never the last one, nor when a stop
 * was asked for (the stop comes at a flushed batch end). */
static bool vf_merge_group_goes_on(vf_merge_ctx *x, vf_merge_group *g, bool last)
{
    bool shared = vf_io_shared_bytes(vf_image_io(x->dest)) > g->shared0;
    bool stop =
        (x->cancel && atomic_load(x->cancel)) || (x->o->cancel && atomic_load(x->o->cancel));
    return !last && !stop && shared && ++g->batches < VF_MERGE_GROUP_MAX &&
           x->heavy_bytes - g->heavy0 < x->batch_bytes;
}

static vf_status vf_merge_copy(vf_merge_ctx *x)
{
    vf_status st = vf_merge_reclaim(x);
    uint64_t start = 0;
    vf_merge_group g;
    vf_merge_group_start(x, &g);
    vf_merge_track_step(&x->trk, VF_MERGE_STEP_COPY, x->done_bytes, x->total_bytes);
    vf_merge_progress(x);
    for (size_t i = 0; st == VF_OK && i < x->nbatches; i++) {
        const vf_merge_batch *b = &x->batches[i];
        uint64_t from = start > x->j.cursor ? start : x->j.cursor;
        start = b->end;
        if (b->end <= x->j.cursor)
            continue; /* durable before an interruption */
        if ((st = vf_image_reserve(x->dest, b->allocs, x->err)) != VF_OK ||
            (st = vf_merge_copy_range(x, from, b->end)) != VF_OK)
            break;
        if (vf_merge_group_goes_on(x, &g, i + 1 == x->nbatches))
            continue;
        if ((st = vf_image_flush(x->dest, x->err)) != VF_OK)
            break;
        x->j.cursor = b->end; /* everything below is durable in DESTINATION */
        x->j.dest_size = vf_merge_file_size(vf_image_io(x->dest));
        x->j.alloc_mark = x->j.dest_size; /* where the next batch allocates from */
        st = vf_journal_store(&x->jf, &x->j, x->err);
        vf_merge_group_start(x, &g);
        if (st == VF_OK && i + 1 < x->nbatches)
            st = vf_merge_check_cancel(x); /* the batch is durable: a clean place to stop */
    }
    if (st == VF_OK)
        vf_merge_track_step(&x->trk, VF_MERGE_STEP_FLUSH, 0, 0);
    return st;
}

/* --- verification --- */

static void vf_merge_hex(const uint8_t md[VF_SHA256_LEN], char out[65])
{
    vf_sha256_hex(md, out);
}

/* Options of every chain the merge opens: the caller's parent policy, SOURCE and
 * DESTINATION named (a parent reached through a locator the policy refuses is still found
 * when it is one of them). names must outlive the vf_chain_open call. */
static vf_chain_opts vf_merge_chain_opts(const vf_merge_ctx *x, bool lock, const char *names[2])
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = x->fs;
    co.lock = lock;
    co.allow_absolute_parents = x->o->allow_absolute_parents;
    co.parent_dir = x->o->parent_dir;
    names[0] = x->o->source;
    names[1] = x->o->destination;
    co.named = names;
    co.nnamed = 2;
    return co;
}

/* Digest the view from DESTINATION (a chain of its own, no locks: we hold them) and compare
 * with expect; on a mismatch find the first differing byte when SOURCE's chain is open. */
static vf_status vf_merge_verify_dest(vf_merge_ctx *x, vf_merge_verify mode,
                                      const uint8_t expect[VF_SHA256_LEN])
{
    const char *names[2];
    vf_chain_opts co = vf_merge_chain_opts(x, false, names);
    vf_chain *dc;
    vf_status st = vf_chain_open(x->o->destination, &co, &dc, x->err);
    if (st != VF_OK)
        return st;
    uint8_t md[VF_SHA256_LEN];
    vf_merge_track_step(&x->trk, VF_MERGE_STEP_VERIFY_AFTER, 0, x->res->virtual_size);
    if ((st = vf_merge_digest(dc, mode, x->res->virtual_size, md, &x->trk, x->o->cancel, x->err)) ==
        VF_OK) {
        x->res->digest_mode = mode;
        vf_merge_hex(expect, x->res->digest_before);
        vf_merge_hex(md, x->res->digest_after);
        if (memcmp(md, expect, sizeof md) != 0) {
            x->res->verify_mismatch = true;
            bool found = false;
            if (x->chain)
                st = vf_merge_first_diff(x->chain, dc, x->res->virtual_size, &found,
                                         &x->res->mismatch_voff, x->err);
            char where[64] = "";
            if (found)
                snprintf(where, sizeof where, " at byte %llu",
                         (unsigned long long)x->res->mismatch_voff);
            if (st == VF_OK)
                st = VF_FAIL(x->err, VF_E_CORRUPT, VF_OFF_NONE,
                             "verification failed: the view from '%s' after the merge differs "
                             "from the view from '%s' before%s",
                             x->o->destination, x->o->source, where);
        }
    }
    vf_chain_close(dc);
    return st;
}

/* --- children (--child) --- */

/* Digest (tree) of a child's view; with check_parent, also prove it is a child of SOURCE. */
static vf_status vf_merge_child_digest(vf_merge_ctx *x, const char *path, bool check_parent,
                                       uint8_t md[VF_SHA256_LEN])
{
    const char *names[2];
    vf_chain_opts co = vf_merge_chain_opts(x, false, names);
    vf_chain *cc;
    vf_status st = vf_chain_open(path, &co, &cc, x->err);
    if (st != VF_OK)
        return st;
    if (check_parent &&
        (vf_chain_depth(cc) < 2 || !vf_merge_same_file(x->fs, vf_chain_path(cc, 1), x->o->source)))
        st = VF_FAIL(x->err, VF_E_INVAL, VF_OFF_NONE, "--child '%s' is not a child of SOURCE '%s'",
                     path, x->o->source);
    if (st == VF_OK)
        st = vf_merge_digest(cc, VF_MERGE_VERIFY_TREE, vf_chain_virtual_size(cc), md, NULL, NULL,
                             x->err);
    vf_chain_close(cc);
    return st;
}

static vf_status vf_merge_lock_children(vf_merge_ctx *x)
{
    x->child_io = calloc(x->j.nchildren ? x->j.nchildren : 1, sizeof *x->child_io);
    if (!x->child_io)
        return vf_merge_nomem(x, "child handles");
    for (size_t i = 0; i < x->j.nchildren; i++) {
        const char *path = x->o->children[i]; /* never a path from the journal */
        vf_status st = vf_fs_open(x->fs, path, VF_IO_RDWR, &x->child_io[i], x->err);
        if (st == VF_OK)
            st = vf_io_lock(x->child_io[i], true, x->err);
        if (st != VF_OK) {
            vf_error_prefix(x->err, "--child '%s': ", path);
            return st;
        }
    }
    return VF_OK;
}

/* Before its header is rewritten: the --child file's parent is SOURCE (or, after an
 * interruption, already DESTINATION with its new identity). */
static vf_status vf_merge_child_binds(vf_merge_ctx *x, vf_image *img, const char *path)
{
    const vf_image_info *ci = vf_image_info_get(img);
    if (ci->has_parent &&
        (!memcmp(ci->parent_id, x->j.levels[0].id, 16) || !memcmp(ci->parent_id, x->j.new_id, 16)))
        return VF_OK;
    return VF_FAIL(x->err, VF_E_INVAL, VF_OFF_NONE,
                   "--child '%s' is not a child of SOURCE '%s' (its parent link names another "
                   "identity)",
                   path, x->o->source);
}

static vf_status vf_merge_repoint(vf_merge_ctx *x, size_t i)
{
    const vf_journal_child *ch = &x->j.children[i];
    const char *path = x->o->children[i];
    const vf_image_info *di = vf_image_info_get(x->dest);
    char *abs = vf_merge_path_abs(path, true);
    char *dir = abs ? vf_path_dirname(abs) : NULL;
    char *rel = dir ? vf_merge_path_relative(dir, x->dst_norm) : NULL;
    free(abs);
    vf_status st = rel ? VF_OK : vf_merge_nomem(x, "a parent path");
    vf_parent_link link = {{0}, di->timestamp, rel, x->posix ? x->dst_norm : NULL, 0};
    memcpy(link.id, di->id, sizeof link.id);
    vf_image *img = NULL;
    vf_io *io = x->child_io[i];
    x->child_io[i] = NULL;
    if (st == VF_OK)
        /* a resumed merge may find the child's header torn by an interrupted set_parent:
         * RECOVER accepts it (every other field still validated) and set_parent rewrites it */
        st = vf_image_open(io, path, VF_OPEN_RDWR | (x->res->resumed ? VF_OPEN_RECOVER : 0u), &img,
                           x->err);
    else
        vf_io_close(io);
    if (st == VF_OK)
        st = vf_merge_child_binds(x, img, path);
    if (st == VF_OK && (st = vf_image_set_parent(img, &link, x->err)) == VF_OK)
        st = vf_image_flush(img, x->err);
    vf_image_close(img);
    free(dir);
    free(rel);
    uint8_t md[VF_SHA256_LEN];
    if (st == VF_OK && (st = vf_merge_child_digest(x, path, false, md)) == VF_OK &&
        memcmp(md, ch->digest, sizeof md) != 0)
        st = VF_FAIL(x->err, VF_E_CORRUPT, VF_OFF_NONE,
                     "--child '%s': its view changed when re-pointed at '%s'", path,
                     x->o->destination);
    return st;
}

static vf_status vf_merge_children(vf_merge_ctx *x)
{
    if (x->j.nchildren == 0)
        return VF_OK;
    x->j.phase = VF_MERGE_PHASE_CHILDREN;
    vf_status st = vf_journal_store(&x->jf, &x->j, x->err);
    if (st == VF_OK && !x->child_io)
        st = vf_merge_lock_children(x);
    for (size_t i = 0; st == VF_OK && i < x->j.nchildren; i++)
        st = vf_merge_repoint(x, i);
    return st;
}

/* --- the journal record of a new merge --- */

/* Version 2 records no path: levels are bound by identity and file size, children by the
 * digest of their view, the merge by a random id (docs/merge.md). */
static vf_status vf_merge_journal_new(vf_merge_ctx *x)
{
    vf_journal *j = &x->j;
    j->phase = VF_MERGE_PHASE_COPYING;
    j->format = x->res->format;
    j->remove_merged = x->o->remove_merged;
    j->virtual_size = x->res->virtual_size;
    j->nlevels = x->k + 1;
    j->levels = calloc(j->nlevels, sizeof *j->levels);
    j->children = calloc(x->o->nchildren ? x->o->nchildren : 1, sizeof *j->children);
    if (!j->levels || !j->children)
        return vf_merge_nomem(x, "the journal record");
    for (size_t i = 0; i <= x->k; i++) {
        vf_image *img = vf_chain_image(x->chain, i);
        memcpy(j->levels[i].id, vf_image_info_get(img)->id, 16);
        j->levels[i].file_size = vf_merge_file_size(vf_image_io(img));
    }
    j->dest_size = j->levels[x->k].file_size;
    j->alloc_mark = j->dest_size;
    for (size_t i = 0; i < x->o->nchildren; i++) {
        j->nchildren = i + 1;
        vf_status st = vf_merge_child_digest(x, x->o->children[i], true, j->children[i].digest);
        if (st != VF_OK)
            return st;
    }
    vf_status st = vf_random_id(j->merge_id, x->err);
    j->has_link_id = vf_merge_has(x, VF_FEATURE_MERGE_LINK);
    if (st == VF_OK && j->has_link_id)
        st = vf_random_id(j->link_id, x->err);
    if (st == VF_OK)
        st = vf_random_id(j->new_id, x->err);
    return st;
}

/* --- phases --- */

static vf_status vf_merge_open_chain(vf_merge_ctx *x)
{
    const char *names[2];
    vf_chain_opts co = vf_merge_chain_opts(x, true, names);
    vf_status st = vf_chain_open(x->o->source, &co, &x->chain, x->err);
    if (st == VF_OK)
        st = vf_merge_validate(x);
    if (st == VF_OK)
        x->dest = vf_chain_image(x->chain, x->k);
    return st;
}

/* Digest of the view from SOURCE before anything is written (recorded in the journal). */
static vf_status vf_merge_digest_before(vf_merge_ctx *x)
{
    if (x->o->verify == VF_MERGE_VERIFY_NONE || x->j.digest_mode == x->o->verify)
        return VF_OK;
    vf_merge_track_step(&x->trk, VF_MERGE_STEP_VERIFY_BEFORE, 0, x->res->virtual_size);
    vf_status st = vf_merge_digest(x->chain, x->o->verify, x->res->virtual_size, x->j.digest_before,
                                   &x->trk, x->o->cancel, x->err);
    if (st == VF_OK)
        x->j.digest_mode = x->o->verify;
    return st;
}

/* The format's link (VF_FEATURE_MERGE_LINK, e.g. VHDX: docs/merge.md "VHDX: the identity
 * protocol"): the journaled link id binds level k-1 to DESTINATION and becomes DESTINATION's
 * identity before the first data write. Redone on every resume (the driver makes it
 * idempotent). */
static vf_status vf_merge_link(vf_merge_ctx *x)
{
    if (!vf_merge_has(x, VF_FEATURE_MERGE_LINK))
        return VF_OK;
    vf_image *lk = vf_chain_image(x->chain, x->k - 1);
    vf_status st = vf_image_merge_link(x->dest, lk, x->j.link_id, x->err);
    /* refused before writing (e.g. level k-1's locator has no room for the entry): no merge
     * began, so no journal stays behind to demand one */
    if (st == VF_E_UNSUPPORTED) {
        vf_error e2;
        (void)vf_journal_remove(&x->jf, &e2); /* closes it even when the removal fails */
        x->jf_open = false;
    }
    return st;
}

/* SOURCE larger than DESTINATION (never a differencing one: vf_merge_check_level): grow it
 * with vf_image_resize; the new space reads as zeros, as it did past DESTINATION's end. */
static vf_status vf_merge_grow(vf_merge_ctx *x)
{
    if (vf_image_info_get(x->dest)->virtual_size >= x->res->virtual_size)
        return VF_OK;
    vf_status st = vf_image_resize(x->dest, x->res->virtual_size, x->err);
    if (st == VF_OK)
        st = vf_image_flush(x->dest, x->err);
    if (st != VF_OK)
        vf_error_prefix(x->err, "growing DESTINATION to SOURCE's size: ");
    return st;
}

/* Formats with a merge link: the resize comes after the link (VHDX: a resize is a
 * user-visible change, and it must not draw a DataWriteGuid of its own). Its refusals were
 * checked before the journal (vf_image_resize_check); should the driver still refuse,
 * nothing of the data was touched: vf_image_merge_unlink gives DESTINATION its old identity
 * back (siblings of level k-1 open again; level k-1 keeps a harmless extra binding) and the
 * journal goes, so the refusal leaves no merge behind. */
static vf_status vf_merge_grow_linked(vf_merge_ctx *x)
{
    if (!vf_merge_has(x, VF_FEATURE_MERGE_LINK))
        return VF_OK;
    vf_status st = vf_merge_grow(x);
    if (st != VF_E_UNSUPPORTED && st != VF_E_INVAL)
        return st;
    vf_error e2;
    vf_error_clear(&e2);
    if (vf_image_merge_unlink(x->dest, x->j.levels[x->k].id, &e2) == VF_OK) {
        (void)vf_journal_remove(&x->jf, &e2); /* closes it even when the removal fails */
        x->jf_open = false;
    }
    return st;
}

/* Everything up to and including the copy: fresh merges and resumes in COPYING (their chain
 * is open and the journal was bound to it by vf_merge_resume). */
static vf_status vf_merge_copy_phase(vf_merge_ctx *x, bool resuming)
{
    vf_status st = x->chain ? VF_OK : vf_merge_open_chain(x);
    if (st == VF_OK && !resuming)
        st = vf_merge_journal_new(x);
    if (st == VF_OK)
        st = vf_merge_plan(x, x->j.cursor);
    if (st != VF_OK || x->o->dry_run)
        return st;
    /* locks and checks: all before the first byte is written anywhere */
    if ((st = vf_chain_reopen_rw(x->chain, x->k, x->err)) != VF_OK)
        return st;
    /* the merge link writes level k-1 too (VHDX: parent_linkage2) */
    bool linked = vf_merge_has(x, VF_FEATURE_MERGE_LINK);
    if (linked && (st = vf_chain_reopen_rw(x->chain, x->k - 1, x->err)) != VF_OK)
        return st;
    x->dest = vf_chain_image(x->chain, x->k);
    bool before = x->o->verify != VF_MERGE_VERIFY_NONE && x->j.digest_mode != x->o->verify;
    vf_merge_track_plan(&x->trk, before ? x->res->virtual_size : 0, x->done_bytes, x->total_bytes,
                        x->o->verify != VF_MERGE_VERIFY_NONE ? x->res->virtual_size : 0);
    if ((st = vf_merge_lock_children(x)) != VF_OK || (st = vf_merge_check_space(x)) != VF_OK ||
        (st = vf_merge_digest_before(x)) != VF_OK || (st = vf_merge_check_cancel(x)) != VF_OK)
        return st; /* canceled here: nothing written, no journal */
    /* without a link (VHD) a driver that cannot grow DESTINATION refuses here, before any
     * write; with one, the growth comes after the link (vf_merge_grow_linked), so its refusals
     * are asked for now, writing nothing */
    if (!linked && (st = vf_merge_grow(x)) != VF_OK)
        return st;
    if (linked && vf_image_info_get(x->dest)->virtual_size < x->res->virtual_size &&
        (st = vf_image_resize_check(x->dest, x->res->virtual_size, x->err)) != VF_OK) {
        vf_error_prefix(x->err, "growing DESTINATION to SOURCE's size: ");
        return st;
    }
    /* the journal is durable (file, directory entry, record) before DESTINATION changes */
    if ((st = vf_journal_open(x->fs, x->jpath, !x->jfile_exists, &x->jf, x->err)) != VF_OK)
        return st;
    x->jf_open = true;
    if ((st = vf_journal_store(&x->jf, &x->j, x->err)) != VF_OK ||
        (st = vf_merge_link(x)) != VF_OK || (st = vf_merge_grow_linked(x)) != VF_OK ||
        (st = vf_merge_copy(x)) != VF_OK || (st = vf_image_flush(x->dest, x->err)) != VF_OK)
        return st;
    if (x->j.digest_mode != VF_MERGE_VERIFY_NONE && x->o->verify != VF_MERGE_VERIFY_NONE)
        st = vf_merge_verify_dest(x, x->j.digest_mode, x->j.digest_before);
    return st;
}

/* Resume after the copy: DESTINATION alone (SOURCE no longer opens through it once its id
 * changed), recovering an interrupted footer update. Checked by vf_resume_decide. */
static vf_status vf_merge_open_dest_alone(vf_merge_ctx *x)
{
    vf_io *io;
    vf_status st = vf_fs_open(x->fs, x->o->destination, VF_IO_RDWR, &io, x->err);
    if (st == VF_OK && (st = vf_io_lock(io, true, x->err)) != VF_OK)
        vf_io_close(io);
    if (st == VF_OK)
        st = vf_image_open(io, x->o->destination, VF_OPEN_RDWR | VF_OPEN_RECOVER, &x->dest_owned,
                           x->err);
    if (st != VF_OK)
        return st;
    x->dest = x->dest_owned;
    x->k = x->j.nlevels - 1;
    const vf_image_info *di = vf_image_info_get(x->dest);
    x->res->format = di->format;
    x->res->dest_level = x->k;
    x->res->virtual_size = x->j.virtual_size;
    return VF_OK;
}

/* The merged files as this invocation resolved them: levels 0..k-1 of SOURCE's chain, or
 * the levels above DESTINATION still there after an interrupted removal. */
static vf_chain *vf_merge_upper_chain(const vf_merge_ctx *x, size_t *n)
{
    if (x->chain) {
        *n = x->k;
        return x->chain;
    }
    *n = x->upper ? vf_chain_depth(x->upper) : 0;
    return x->upper;
}

static vf_status vf_merge_list_invalidated(vf_merge_ctx *x)
{
    size_t n;
    vf_chain *c = vf_merge_upper_chain(x, &n);
    x->res->invalidated = calloc(n ? n : 1, sizeof *x->res->invalidated);
    if (!x->res->invalidated)
        return vf_merge_nomem(x, "the result");
    for (size_t i = 0; i < n; i++) {
        if (!(x->res->invalidated[i] = strdup(vf_chain_path(c, i))))
            return vf_merge_nomem(x, "the result");
        x->res->ninvalidated = i + 1;
    }
    return VF_OK;
}

static vf_status vf_merge_identity(vf_merge_ctx *x)
{
    x->j.phase = VF_MERGE_PHASE_IDENTITY;
    vf_status st = vf_journal_store(&x->jf, &x->j, x->err);
    if (st == VF_OK && (st = vf_image_set_id(x->dest, x->j.new_id, x->err)) == VF_OK)
        st = vf_image_flush(x->dest, x->err);
    return st;
}

static vf_status vf_merge_remove_one(vf_merge_ctx *x, const char *path)
{
    vf_error e2;
    vf_error_clear(&e2);
    vf_status st = vf_fs_remove(x->fs, path, &e2);
    if (st == VF_E_IO && e2.sys_errno == ENOENT)
        st = VF_OK; /* removed before an interruption */
    else if (st != VF_OK && x->err)
        *x->err = e2;
    if (st == VF_OK && x->fs->ops->sync_dir) /* takes the file's path */
        st = x->fs->ops->sync_dir(x->fs->self, path, x->err);
    return st;
}

/* --remove-merged of this run only: the files resolved now, deepest first, so that an
 * interrupted removal leaves SOURCE and the levels below it, which a rerun resolves again. */
static vf_status vf_merge_remove(vf_merge_ctx *x)
{
    if (!x->o->remove_merged) {
        if (x->j.remove_merged)
            snprintf(x->res->note, sizeof x->res->note,
                     "the merged files were not removed: the interrupted merge asked for "
                     "--remove-merged, this run did not");
        return VF_OK;
    }
    size_t n;
    vf_chain *c = vf_merge_upper_chain(x, &n);
    char **paths = calloc(n ? n : 1, sizeof *paths);
    vf_status st = paths ? VF_OK : vf_merge_nomem(x, "the removal list");
    for (size_t i = 0; st == VF_OK && i < n; i++)
        if (!(paths[i] = strdup(vf_chain_path(c, i))))
            st = vf_merge_nomem(x, "the removal list");
    x->j.phase = VF_MERGE_PHASE_REMOVING;
    x->j.remove_merged = true;
    if (st == VF_OK)
        st = vf_journal_store(&x->jf, &x->j, x->err);
    vf_chain_close(x->chain); /* our handles and locks on the files being removed */
    vf_chain_close(x->upper);
    x->chain = x->upper = NULL;
    x->dest = x->dest_owned;
    for (size_t i = n; st == VF_OK && i-- > 0;)
        st = vf_merge_remove_one(x, paths[i]);
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
    return st;
}

/* After the copy: identity, verification of a resumed merge, children, removal, journal. */
static vf_status vf_merge_finish(vf_merge_ctx *x, vf_merge_phase from, bool verified)
{
    vf_status st = VF_OK;
    vf_merge_track_step(&x->trk, VF_MERGE_STEP_IDENTITY, 0, 0);
    if (from <= VF_MERGE_PHASE_IDENTITY)
        st = vf_merge_identity(x);
    if (st == VF_OK && !verified && x->o->verify != VF_MERGE_VERIFY_NONE) {
        if (x->j.digest_mode != VF_MERGE_VERIFY_NONE)
            st = vf_merge_verify_dest(x, x->j.digest_mode, x->j.digest_before);
        else
            snprintf(x->res->note, sizeof x->res->note,
                     "not verified: the interrupted merge was started without --verify and "
                     "SOURCE no longer opens through DESTINATION");
    }
    if (st == VF_OK && from <= VF_MERGE_PHASE_CHILDREN)
        st = vf_merge_children(x);
    if (st == VF_OK)
        st = vf_merge_remove(x);
    if (st == VF_OK) {
        st = vf_journal_remove(&x->jf, x->err);
        x->jf_open = false;
    }
    return st;
}

/* --- the run --- */

static vf_status vf_merge_load_journal(vf_merge_ctx *x, bool *have)
{
    bool found;
    vf_error e2;
    vf_error_clear(&e2);
    vf_status st = vf_journal_load(x->fs, x->jpath, &found, &x->j, &e2);
    *have = found && st == VF_OK;
    x->jfile_exists = found;
    if (st == VF_E_FORMAT) {
        /* No valid record: the merge never wrote DESTINATION (the first record is durable
         * before that), so starting afresh is safe; the copy re-checks the chain. */
        snprintf(x->res->note, sizeof x->res->note,
                 "ignored unreadable merge journal '%s' (no DESTINATION write had happened)",
                 x->jpath);
        vf_journal_free(&x->j);
        return VF_OK;
    }
    if (st == VF_E_BUSY)
        return vf_merge_in_use(x->fs, x->o->source, x->o->destination, x->jpath, x->err);
    if (st != VF_OK && x->err)
        *x->err = e2;
    if (st == VF_OK && !found && x->o->resume)
        return VF_FAIL(x->err, VF_E_STATE, VF_OFF_NONE,
                       "--resume: no interrupted merge into '%s' (no journal '%s')",
                       x->o->destination, x->jpath);
    return st;
}

/* A journal that does not bind this very merge is never used, and never silently ignored. */
static vf_status vf_merge_refuse_journal(vf_merge_ctx *x, const char *why)
{
    return VF_FAIL(x->err, VF_E_STATE, VF_OFF_NONE,
                   "merge journal '%s' refused: %s; delete it with rm if no merge is running "
                   "(it does not match merging '%s' into '%s')",
                   x->jpath, why, x->o->source, x->o->destination);
}

/* Facts while SOURCE's chain opens through DESTINATION (the copy phase). */
static vf_status vf_merge_facts_in_chain(vf_merge_ctx *x, vf_resume_facts *f, uint8_t (*ids)[16],
                                         uint64_t *sizes, uint8_t (*digests)[VF_SHA256_LEN])
{
    f->dest_in_chain = true;
    f->nlevels = x->k + 1;
    for (size_t i = 0; i <= x->k; i++) {
        vf_image *img = vf_chain_image(x->chain, i);
        memcpy(ids[i], vf_image_info_get(img)->id, 16);
        sizes[i] = vf_merge_file_size(vf_image_io(img));
    }
    memcpy(f->dest_id, ids[x->k], 16);
    f->dest_size = sizes[x->k];
    for (size_t i = 0; i < x->o->nchildren; i++) {
        vf_status st = vf_merge_child_digest(x, x->o->children[i], true, digests[i]);
        if (st != VF_OK)
            return st;
    }
    f->child_digests = (const uint8_t(*)[VF_SHA256_LEN])digests;
    return VF_OK;
}

/* SOURCE's levels above DESTINATION, resolved from SOURCE now: all k of them, or (while
 * removing, deepest first) as many as are still there. */
static void vf_merge_open_upper(vf_merge_ctx *x)
{
    size_t k = x->j.nlevels - 1;
    size_t least = x->j.phase == VF_MERGE_PHASE_REMOVING ? 1 : k;
    const char *names[2];
    vf_chain_opts co = vf_merge_chain_opts(x, true, names);
    for (size_t d = k; d >= least && !x->upper; d--)
        if (vf_chain_open_upper(x->o->source, &co, d, &x->upper, NULL) != VF_OK)
            x->upper = NULL;
}

/* Facts after the copy: DESTINATION alone, the levels above it resolved from SOURCE. */
static vf_status vf_merge_facts_after(vf_merge_ctx *x, vf_resume_facts *f, uint8_t (*ids)[16],
                                      uint64_t *sizes)
{
    vf_status st = vf_merge_open_dest_alone(x);
    if (st != VF_OK)
        return st;
    memcpy(f->dest_id, vf_image_info_get(x->dest)->id, 16);
    f->dest_size = vf_merge_file_size(vf_image_io(x->dest));
    vf_merge_open_upper(x);
    f->nlevels = x->upper ? vf_chain_depth(x->upper) : 0;
    for (size_t i = 0; i < f->nlevels; i++) {
        vf_image *img = vf_chain_image(x->upper, i);
        memcpy(ids[i], vf_image_info_get(img)->id, 16);
        sizes[i] = vf_merge_file_size(vf_image_io(img));
    }
    if (f->nlevels && f->nlevels + 1 == x->j.nlevels) {
        const vf_image_info *li = vf_image_info_get(vf_chain_image(x->upper, f->nlevels - 1));
        f->has_upper_parent = li->has_parent;
        memcpy(f->upper_parent_id, li->parent_id, 16);
        f->has_upper_parent_id2 = li->has_parent_id2;
        memcpy(f->upper_parent_id2, li->parent_id2, 16);
    }
    return VF_OK;
}

/* Gather what this invocation resolves itself, and let vf_resume_decide rule. */
static vf_status vf_merge_judge(vf_merge_ctx *x, vf_resume_plan *plan, uint8_t (*ids)[16],
                                uint64_t *sizes, uint8_t (*digests)[VF_SHA256_LEN])
{
    vf_resume_facts f;
    memset(&f, 0, sizeof f);
    f.ids = (const uint8_t(*)[16])ids;
    f.file_sizes = sizes;
    f.nchildren = x->o->nchildren;
    vf_status st = vf_merge_open_chain(x);
    if (st == VF_OK && x->k + 1 != x->j.nlevels)
        return vf_merge_refuse_journal(x, "DESTINATION is at another level of SOURCE's chain");
    if (st == VF_OK) {
        f.format = x->res->format;
        f.virtual_size = x->res->virtual_size;
        if ((st = vf_merge_facts_in_chain(x, &f, ids, sizes, digests)) != VF_OK)
            return st;
    } else {
        /* no chain through DESTINATION: only a merge past its copy can go on */
        vf_chain_close(x->chain);
        x->chain = NULL;
        if (x->j.phase == VF_MERGE_PHASE_COPYING)
            return st;
        if (x->o->dry_run)
            return VF_FAIL(x->err, VF_E_STATE, VF_OFF_NONE,
                           "a merge into '%s' stopped in phase '%s' (journal '%s'); run it "
                           "again without --dry-run to finish it",
                           x->o->destination, vf_merge_phase_name(x->j.phase), x->jpath);
        vf_error_clear(x->err);
        if ((st = vf_merge_facts_after(x, &f, ids, sizes)) != VF_OK)
            return st;
        f.format = x->res->format;
        f.virtual_size = vf_image_info_get(x->dest)->virtual_size;
        if (f.nlevels)
            f.virtual_size = vf_image_info_get(vf_chain_image(x->upper, 0))->virtual_size;
        else if (f.virtual_size >= x->j.virtual_size)
            f.virtual_size = x->j.virtual_size; /* SOURCE is gone; DESTINATION was grown */
    }
    vf_resume_decide(&x->j, &f, plan);
    if (plan->action == VF_RESUME_REFUSE)
        return vf_merge_refuse_journal(x, plan->why);
    return VF_OK;
}

/* A journal was found: bind it to this merge, then go on where vf_resume_decide says. */
static vf_status vf_merge_resume(vf_merge_ctx *x)
{
    size_t n = x->j.nlevels, nc = x->o->nchildren;
    uint8_t(*ids)[16] = calloc(n, sizeof *ids);
    uint64_t *sizes = calloc(n, sizeof *sizes);
    uint8_t(*digests)[VF_SHA256_LEN] = calloc(nc ? nc : 1, sizeof *digests);
    vf_resume_plan plan;
    vf_status st = ids && sizes && digests ? vf_merge_judge(x, &plan, ids, sizes, digests)
                                           : vf_merge_nomem(x, "the resume check");
    free(ids);
    free(sizes);
    free(digests);
    if (st != VF_OK)
        return st;
    x->res->resumed = true;
    x->res->resumed_from = x->j.phase;
    if (plan.action == VF_RESUME_LATER) {
        if ((st = vf_merge_list_invalidated(x)) == VF_OK &&
            (st = vf_journal_open(x->fs, x->jpath, false, &x->jf, x->err)) == VF_OK)
            x->jf_open = true;
        return st == VF_OK ? vf_merge_finish(x, x->j.phase, false) : st;
    }
    if (plan.action == VF_RESUME_RESTART) {
        x->j.cursor = 0;
        x->j.phase = VF_MERGE_PHASE_COPYING;
        x->j.dest_size = vf_merge_file_size(vf_image_io(x->dest));
        x->j.alloc_mark = x->j.dest_size;
        snprintf(x->res->note, sizeof x->res->note, "merge journal '%s': %s", x->jpath, plan.why);
    }
    if ((st = vf_merge_copy_phase(x, true)) != VF_OK || x->o->dry_run)
        return st;
    return vf_merge_finish(x, VF_MERGE_PHASE_IDENTITY,
                           x->o->verify == VF_MERGE_VERIFY_NONE ||
                               x->j.digest_mode != VF_MERGE_VERIFY_NONE);
}

static vf_status vf_merge_steps(vf_merge_ctx *x)
{
    bool have;
    vf_status st = vf_merge_load_journal(x, &have);
    if (st != VF_OK)
        return st;
    if (have)
        return vf_merge_resume(x);
    if ((st = vf_merge_copy_phase(x, false)) != VF_OK || x->o->dry_run)
        return st;
    return vf_merge_finish(x, VF_MERGE_PHASE_IDENTITY,
                           x->o->verify == VF_MERGE_VERIFY_NONE ||
                               x->j.digest_mode != VF_MERGE_VERIFY_NONE);
}

static vf_status vf_merge_ctx_init(vf_merge_ctx *x)
{
    const vf_merge_opts *o = x->o;
    if (!o->source || !o->destination || !*o->source || !*o->destination ||
        (o->nchildren && !o->children) || o->verify > VF_MERGE_VERIFY_TREE)
        return VF_FAIL(x->err, VF_E_INVAL, VF_OFF_NONE,
                       "merge: SOURCE and DESTINATION are required");
    x->fs = o->fs ? o->fs : vf_fs_posix();
    x->posix = x->fs == vf_fs_posix();
    x->batch_bytes =
        o->batch_bytes ? (o->batch_bytes + 0xFFFFFu) & ~(uint64_t)0xFFFFF : VF_MERGE_BATCH_DEFAULT;
    x->dst_norm = vf_merge_path_abs(o->destination, x->posix);
    x->jpath = vf_merge_journal_path(o->destination);
    x->buf = malloc(VF_MERGE_CHUNK);
    if (!x->dst_norm || !x->jpath || !x->buf)
        return vf_merge_nomem(x, "buffers");
    return VF_OK;
}

static void vf_merge_ctx_free(vf_merge_ctx *x)
{
    if (x->jf_open)
        vf_journal_close(&x->jf);
    for (size_t i = 0; x->child_io && i < x->j.nchildren; i++)
        vf_io_close(x->child_io[i]);
    free(x->child_io);
    free(x->batches);
    vf_chain_close(x->chain);
    vf_chain_close(x->upper);
    vf_image_close(x->dest_owned);
    vf_journal_free(&x->j);
    free(x->dst_norm);
    free(x->jpath);
    free(x->buf);
}

int vf_merge_run_ex(const vf_merge_opts *opts, vf_merge_result *res, atomic_bool *cancel,
                    atomic_uint *percent)
{
    memset(res, 0, sizeof *res);
    res->free_space = UINT64_MAX;
    vf_error_clear(&res->err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vf_merge_ctx x = {0};
    x.o = opts;
    x.res = res;
    x.err = &res->err;
    x.cancel = cancel;
    x.percent = percent;
    vf_merge_track_start(&x.trk, opts->on_info, opts->info_user);
    vf_status st = vf_merge_ctx_init(&x);
    if (st == VF_OK)
        st = vf_merge_steps(&x);
    vf_merge_ctx_free(&x);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (st == VF_OK && !opts->dry_run && percent)
        atomic_store(percent, 100u);
    res->err.code = st;
    res->status =
        res->verify_mismatch ? VF_MERGE_FAILED : vf_merge_status_from(st, res->err.sys_errno);
    vf_merge_track_end(&x.trk, res->status, &res->err);
    return res->status;
}

int vf_merge_run(const vf_merge_opts *user, vf_merge_result *res)
{
    vf_merge_opts own;
    vf_status st = vf_merge_opts_adopt(&own, user, &res->err);
    if (st == VF_OK)
        return vf_merge_run_ex(&own, res, NULL, NULL);
    vf_error e = res->err;
    memset(res, 0, sizeof *res);
    res->free_space = UINT64_MAX;
    res->err = e;
    res->status = vf_merge_status_from(st, 0);
    return res->status;
}

void vf_merge_result_free(vf_merge_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nlayers; i++)
        free(res->layers[i].path);
    for (size_t i = 0; i < res->ninvalidated; i++)
        free(res->invalidated[i]);
    free(res->layers);
    free(res->invalidated);
    memset(res, 0, sizeof *res);
}
