/* tree.c - the tree digest (docs/tree-digest.md, version 1) on all cores.
 * Layer: verify. Called through vf_digest_tree (vf_verify.h) by the CLI and the merger.
 * The disk is taken in batches of up to VF_TREE_BATCH_BLOCKS blocks that hold data, however
 * far apart: the calling thread asks the chain which blocks no level holds (their leaf is a
 * constant, nothing is read) until the batch is full, then it and the helper threads share
 * the batch's blocks, a group of a few at a time: locate them under a lock (the chain is not
 * thread safe), hash them outside it. The leaves then go into the root in order, the constant
 * ones between them from a prepared run, so memory stays fixed (one block buffer per thread,
 * at most 32 MiB of blocks mapped in all, one batch of leaves) and every thread has work
 * even when the data is thinly spread over a huge disk.
 * The blocks of a group that one level's file holds whole as stored (the common case), one
 * after the other (back to back, or a VHD's sector bitmap apart), are hashed straight from
 * the page cache through one read-only mapping (a view, io_view.h), unmapped when the group
 * is done: no copy, and one unmap (which interrupts the other cores to flush their TLBs) per
 * group, not per block. Without views (no_views, a file not locked, a mapping refused) such a
 * block is read with pread outside the lock, in pieces small enough to stay in the core's
 * cache, each hashed as it arrives. The measurements behind this: docs/performance.md
 * "Issue 19, fourth pass: tree digest from mappings". */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_int.h"

#define VF_TREE_BATCH_BLOCKS 4096u
#define VF_TREE_ZERO_RUN 2048u /* constant leaves fed to the root per update */
#define VF_TREE_MAX_THREADS 64u
#define VF_TREE_TAG "vhdfold-tree-v1"
/* A stored block is read and hashed in pieces of this size (a core's L2 holds one). */
#define VF_TREE_PIECE (256u << 10)
/* Blocks a thread takes at a time, and the block bytes all threads together keep mapped at
 * most (the group shrinks as the threads grow: 8 blocks each on 2 cores, 1 from 16 cores on;
 * beyond 16 threads a worker that finds the budget spent reads instead of mapping). The gaps
 * mapped between blocks add at most 1/32 (64 KiB per 2 MiB block). */
#define VF_TREE_GROUP_MAX 8u
#define VF_TREE_MAP_BUDGET (32u << 20)
/* Stored blocks of one file at most this far apart share a mapping, the bytes between them
 * mapped unread: a VHD puts each block's 512-byte sector bitmap between the data of two
 * blocks written one after the other. */
#define VF_TREE_MAP_GAP (64u << 10)

/* What each thread hashes with: a block buffer, its own SHA-256 context, and the mapping of
 * the run of blocks it is hashing (map.base NULL: none), bytes [map_off, map_off+map_bytes)
 * of the file map_io. */
typedef struct vf_tree_worker {
    uint8_t *buf;
    vf_sha256 *h;
    vf_io_view map;
    vf_io *map_io;
    uint64_t map_off, map_bytes;
    size_t map_blocks; /* block bytes of the mapping, counted in vf_tree.mapped */
} vf_tree_worker;

/* Where block voff of a group lies: io NULL when no one file holds it whole as stored. */
typedef struct vf_tree_loc {
    uint64_t voff;
    size_t len;
    vf_io *io;
    uint64_t foff;
} vf_tree_loc;

typedef struct vf_tree {
    vf_source *src;
    const vf_verify_opts *opts;
    uint64_t nblocks;
    pthread_mutex_t io_mu;         /* serialises reads of the source */
    pthread_mutex_t mu;            /* guards the fields below */
    pthread_cond_t go, idle, leaf; /* leaf: a leaf of the batch is ready (or a failure) */
    unsigned gen, busy;
    bool quit;
    vf_status st; /* first failure of any thread */
    vf_error err;
    atomic_int failed;
    /* The batch: blocks [first, end), of which todo[] (increasing) hold data; leaves[i] is
     * the leaf of block todo[i], every other block's leaf is a constant. */
    uint64_t first, end;
    uint64_t todo[VF_TREE_BATCH_BLOCKS];
    size_t ntodo, cap; /* cap: blocks with data per batch, 1..VF_TREE_BATCH_BLOCKS */
    size_t group;      /* blocks a thread takes at a time, 1..VF_TREE_GROUP_MAX */
    bool views;        /* hash stored blocks from mappings (not no_views) */
    atomic_size_t next;
    atomic_size_t mapped; /* block bytes all workers hold mapped, <= VF_TREE_MAP_BUDGET */
    atomic_size_t peak;   /* the most of them held at once (src->tree_map_peak at the end) */
    uint8_t leaves[VF_TREE_BATCH_BLOCKS][VF_SHA256_LEN];
    bool done[VF_TREE_BATCH_BLOCKS];               /* leaves[i] is ready; guarded by mu */
    uint8_t zlast[VF_SHA256_LEN];                  /* leaf of a short, zero last block */
    uint8_t zrun[VF_TREE_ZERO_RUN][VF_SHA256_LEN]; /* the leaf of a zero block, repeated */
} vf_tree;

static void vf_tree_fail(vf_tree *t, vf_status st, const vf_error *err)
{
    pthread_mutex_lock(&t->mu);
    if (t->st == VF_OK) {
        t->st = st;
        t->err = *err;
    }
    atomic_store(&t->failed, 1);
    pthread_cond_broadcast(&t->leaf);
    pthread_mutex_unlock(&t->mu);
}

/* Read n bytes of a level's file at off: pread from this thread when the backend allows
 * (no lock), else under the source lock. */
static vf_status vf_tree_read_stored(vf_tree *t, vf_io *io, void *buf, size_t n, uint64_t off,
                                     vf_error *err)
{
    vf_status st;
    if (vf_io_read_shared(io, buf, n, off, &st, err))
        return st;
    pthread_mutex_lock(&t->io_mu);
    st = vf_io_read(io, buf, n, off, err);
    pthread_mutex_unlock(&t->io_mu);
    return st;
}

/* Locate the k blocks todo[j..j+k) under the source lock. */
static void vf_tree_locate(vf_tree *t, size_t j, size_t k, vf_tree_loc *loc)
{
    pthread_mutex_lock(&t->io_mu);
    for (size_t i = 0; i < k; i++) {
        uint64_t voff = t->todo[j + i] * VF_TREE_BLOCK_BYTES, left = t->src->size - voff;
        loc[i].voff = voff;
        loc[i].len = left < VF_TREE_BLOCK_BYTES ? (size_t)left : VF_TREE_BLOCK_BYTES;
        if (!vf_source_locate(t->src, voff, loc[i].len, &loc[i].io, &loc[i].foff))
            loc[i].io = NULL;
    }
    pthread_mutex_unlock(&t->io_mu);
}

/* A block no one file holds whole: read through the chain under the lock, then hash. */
static vf_status vf_tree_hash_read(vf_tree *t, const vf_tree_loc *l, vf_tree_worker *w, uint8_t *md,
                                   vf_error *err)
{
    pthread_mutex_lock(&t->io_mu);
    vf_status st = vf_source_read(t->src, l->voff, w->buf, l->len, err);
    pthread_mutex_unlock(&t->io_mu);
    return st == VF_OK ? vf_sha256_once(w->buf, l->len, md, err) : st;
}

/* A stored block read in cache-sized pieces, each hashed as it arrives. */
static vf_status vf_tree_hash_pieces(vf_tree *t, const vf_tree_loc *l, vf_tree_worker *w,
                                     uint8_t *md, vf_error *err)
{
    vf_status st = VF_OK;
    for (size_t pos = 0, n; st == VF_OK && pos < l->len; pos += n) {
        n = l->len - pos < VF_TREE_PIECE ? l->len - pos : VF_TREE_PIECE;
        if ((st = vf_tree_read_stored(t, l->io, w->buf, n, l->foff + pos, err)) == VF_OK)
            st = vf_sha256_update(w->h, w->buf, n, err);
    }
    return st == VF_OK ? vf_sha256_final(w->h, md, err) : st;
}

static void vf_tree_unmap(vf_tree *t, vf_tree_worker *w)
{
    bool held = w->map.base != NULL;
    vf_io_view_unmap(&w->map); /* gone before its bytes return to the budget */
    if (held)
        atomic_fetch_sub(&t->mapped, w->map_blocks);
    w->map_io = NULL;
    w->map_blocks = 0;
}

/* Take n block bytes of the mapping budget; false (nothing taken) when it would overflow. */
static bool vf_tree_budget_take(vf_tree *t, size_t n)
{
    size_t before = atomic_fetch_add(&t->mapped, n);
    if (before + n > VF_TREE_MAP_BUDGET) {
        atomic_fetch_sub(&t->mapped, n);
        return false;
    }
    size_t seen = atomic_load(&t->peak);
    while (before + n > seen && !atomic_compare_exchange_weak(&t->peak, &seen, before + n))
        ;
    return true;
}

/* Whether stored block b follows block a in a's file, at most VF_TREE_MAP_GAP bytes on. */
static bool vf_tree_follows(const vf_tree_loc *a, const vf_tree_loc *b)
{
    uint64_t end = a->foff + a->len;
    return b->io == a->io && b->foff >= end && b->foff - end <= VF_TREE_MAP_GAP;
}

/* Map the run of stored blocks that starts at loc[i], each following the one before in its
 * file, up to the group's end; false (nothing mapped) when the budget is spent or the
 * mapping is refused. */
static bool vf_tree_map_run(vf_tree *t, const vf_tree_loc *loc, size_t i, size_t k,
                            vf_tree_worker *w)
{
    size_t r = i + 1, blocks = loc[i].len;
    while (r < k && vf_tree_follows(&loc[r - 1], &loc[r]))
        blocks += loc[r++].len;
    uint64_t bytes = loc[r - 1].foff + loc[r - 1].len - loc[i].foff;
    if (bytes > SIZE_MAX || !vf_tree_budget_take(t, blocks))
        return false;
    if (!vf_io_view_map(loc[i].io, loc[i].foff, (size_t)bytes, &w->map)) {
        atomic_fetch_sub(&t->mapped, blocks);
        return false;
    }
    w->map_io = loc[i].io;
    w->map_off = loc[i].foff;
    w->map_bytes = bytes;
    w->map_blocks = blocks;
    return true;
}

/* The leaf of block loc[i] of a group of k: from the worker's mapping when the block lies in
 * it, else from a new mapping of the run from it on, else read. */
static vf_status vf_tree_leaf(vf_tree *t, const vf_tree_loc *loc, size_t i, size_t k,
                              vf_tree_worker *w, uint8_t *md, vf_error *err)
{
    const vf_tree_loc *l = &loc[i];
    if (!l->io)
        return vf_tree_hash_read(t, l, w, md, err);
    bool inside = w->map.base && l->io == w->map_io && l->foff >= w->map_off &&
                  l->foff - w->map_off + l->len <= w->map_bytes;
    if (!inside) {
        vf_tree_unmap(t, w);
        inside = t->views && vf_tree_map_run(t, loc, i, k, w);
    }
    if (!inside)
        return vf_tree_hash_pieces(t, l, w, md, err);
    return vf_sha256_once(w->map.data + (l->foff - w->map_off), l->len, md, err);
}

/* Hash the next untaken group of the batch; false when none is left or a thread failed.
 * The calling thread (report) also reports progress. */
static bool vf_tree_take(vf_tree *t, vf_tree_worker *w, bool report)
{
    size_t j = atomic_fetch_add(&t->next, t->group);
    if (j >= t->ntodo || atomic_load(&t->failed))
        return false;
    size_t k = t->ntodo - j < t->group ? t->ntodo - j : t->group;
    vf_tree_loc loc[VF_TREE_GROUP_MAX];
    vf_tree_locate(t, j, k, loc);
    vf_status st = VF_OK;
    vf_error err;
    vf_error_clear(&err);
    for (size_t i = 0; st == VF_OK && i < k; i++) {
        if (report && t->opts && t->opts->progress)
            t->opts->progress(t->opts->progress_ctx, loc[i].voff, t->src->size);
        st = vf_source_canceled(t->opts) ? vf_source_cancel_error(t->src, &err)
                                         : vf_tree_leaf(t, loc, i, k, w, t->leaves[j + i], &err);
        if (st == VF_OK) {
            pthread_mutex_lock(&t->mu);
            t->done[j + i] = true;
            pthread_cond_broadcast(&t->leaf);
            pthread_mutex_unlock(&t->mu);
        }
    }
    vf_tree_unmap(t, w);
    if (st != VF_OK)
        vf_tree_fail(t, st, &err);
    return st == VF_OK;
}

static void vf_tree_work(vf_tree *t, vf_tree_worker *w)
{
    while (vf_tree_take(t, w, false))
        ;
}

/* Is leaf j ready? With wait, block until it is or a thread failed. */
static bool vf_tree_ready(vf_tree *t, size_t j, bool wait)
{
    pthread_mutex_lock(&t->mu);
    while (wait && !t->done[j] && !atomic_load(&t->failed))
        pthread_cond_wait(&t->leaf, &t->mu);
    bool ready = t->done[j];
    pthread_mutex_unlock(&t->mu);
    return ready;
}

typedef struct vf_tree_helper {
    vf_tree *t;
    pthread_t thread;
    vf_tree_worker w;
} vf_tree_helper;

static void *vf_tree_helper_main(void *arg)
{
    vf_tree_helper *h = arg;
    vf_tree *t = h->t;
    unsigned seen = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (t->gen == seen && !t->quit)
            pthread_cond_wait(&t->go, &t->mu);
        if (t->quit)
            break;
        seen = t->gen;
        pthread_mutex_unlock(&t->mu);
        vf_tree_work(t, &h->w);
        pthread_mutex_lock(&t->mu);
        if (--t->busy == 0)
            pthread_cond_signal(&t->idle);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Fill the batch from t->first: the blocks holding data go to t->todo until it is full or the
 * disk ends; t->end is where the batch stops. A run that every level leaves absent or zero
 * covers whole blocks, which are never read. */
static vf_status vf_tree_plan(vf_tree *t, vf_error *err)
{
    uint64_t size = t->src->size, b = t->first;
    t->ntodo = 0;
    while (b < t->nblocks && t->ntodo < t->cap) {
        uint64_t pos = b * VF_TREE_BLOCK_BYTES;
        uint64_t bend = pos + VF_TREE_BLOCK_BYTES < size ? pos + VF_TREE_BLOCK_BYTES : size;
        bool zero = true;
        while (pos < bend) {
            uint64_t run;
            vf_status st = vf_source_run(t->src, pos, size - pos, &zero, &run, err);
            if (st != VF_OK)
                return st;
            if (!zero)
                break;
            pos += run;
        }
        if (!zero)
            t->todo[t->ntodo++] = b++;
        else /* zero from b's start to pos (past b's end): whole blocks inside are constant */
            b = pos >= size ? t->nblocks : pos / VF_TREE_BLOCK_BYTES;
    }
    t->end = b;
    return VF_OK;
}

/* Feed the constant leaves of blocks [from, to), all zero, into the root. */
static vf_status vf_tree_feed_zero(vf_tree *t, vf_sha256 *root, uint64_t from, uint64_t to,
                                   vf_error *err)
{
    bool short_last = to == t->nblocks && t->src->size % VF_TREE_BLOCK_BYTES;
    uint64_t full = to - from - (short_last && to > from);
    vf_status st = VF_OK;
    while (st == VF_OK && full) {
        uint64_t n = full < VF_TREE_ZERO_RUN ? full : VF_TREE_ZERO_RUN;
        st = vf_sha256_update(root, t->zrun, (size_t)n * VF_SHA256_LEN, err);
        full -= n;
    }
    if (st == VF_OK && short_last && to > from)
        st = vf_sha256_update(root, t->zlast, VF_SHA256_LEN, err);
    return st;
}

/* The calling thread's share of a batch: feed the root in block order as the leaves become
 * ready, and hash blocks itself whenever the next leaf is not ready yet, so the root's
 * hashing overlaps the helpers' work instead of following it. */
static vf_status vf_tree_drive(vf_tree *t, vf_sha256 *root, vf_tree_worker *w, vf_error *err)
{
    uint64_t b = t->first;
    size_t fed = 0;
    vf_status st = VF_OK;
    while (st == VF_OK && fed < t->ntodo && !atomic_load(&t->failed)) {
        if (b < t->todo[fed]) { /* the constant leaves before the next block with data */
            st = vf_tree_feed_zero(t, root, b, t->todo[fed], err);
            b = t->todo[fed];
        } else if (vf_tree_ready(t, fed, false)) {
            st = vf_sha256_update(root, t->leaves[fed], VF_SHA256_LEN, err);
            b = t->todo[fed++] + 1;
        } else if (!vf_tree_take(t, w, true)) {
            (void)vf_tree_ready(t, fed, true); /* the rest is in the helpers' hands */
        }
    }
    if (st == VF_OK && fed == t->ntodo)
        st = vf_tree_feed_zero(t, root, b, t->end, err);
    if (st != VF_OK)
        vf_tree_fail(t, st, err);
    return st;
}

/* Hash the batch's blocks on every thread and feed its leaves into the root; returns the
 * first failure of any thread. */
static vf_status vf_tree_run_batch(vf_tree *t, vf_sha256 *root, unsigned nhelpers,
                                   vf_tree_worker *w, vf_error *err)
{
    memset(t->done, 0, t->ntodo * sizeof t->done[0]);
    atomic_store(&t->next, 0);
    if (t->ntodo) {
        pthread_mutex_lock(&t->mu);
        t->busy = nhelpers;
        t->gen++;
        pthread_cond_broadcast(&t->go);
        pthread_mutex_unlock(&t->mu);
    }
    (void)vf_tree_drive(t, root, w, err);
    if (t->ntodo) {
        pthread_mutex_lock(&t->mu);
        while (t->busy > 0)
            pthread_cond_wait(&t->idle, &t->mu);
        pthread_mutex_unlock(&t->mu);
    }
    if (t->st != VF_OK && err)
        *err = t->err;
    return t->st;
}

static vf_status vf_tree_zero_leaves(uint64_t size, uint8_t zfull[VF_SHA256_LEN],
                                     uint8_t zlast[VF_SHA256_LEN], vf_error *err)
{
    vf_sha256 *h;
    vf_status st = vf_sha256_new(&h, err);
    if (st != VF_OK)
        return st;
    uint64_t tail = size % VF_TREE_BLOCK_BYTES;
    if ((st = vf_sha256_update_zeros(h, VF_TREE_BLOCK_BYTES, err)) == VF_OK &&
        (st = vf_sha256_final(h, zfull, err)) == VF_OK &&
        (st = vf_sha256_update_zeros(h, tail, err)) == VF_OK)
        st = vf_sha256_final(h, zlast, err);
    vf_sha256_free(h);
    return st;
}

/* The root's fixed prefix: tag and NUL, V (LE64), B (LE32), 4 zero bytes. */
static vf_status vf_tree_prefix(vf_sha256 *root, uint64_t size, vf_error *err)
{
    uint8_t pre[32] = VF_TREE_TAG;
    for (unsigned i = 0; i < 8; i++)
        pre[16 + i] = (uint8_t)(size >> (8 * i));
    for (unsigned i = 0; i < 4; i++)
        pre[24 + i] = (uint8_t)(VF_TREE_BLOCK_BYTES >> (8 * i));
    return vf_sha256_update(root, pre, sizeof pre, err);
}

static unsigned vf_tree_threads(const vf_verify_opts *opts)
{
    long n = opts && opts->threads ? (long)opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > (long)VF_TREE_MAX_THREADS ? VF_TREE_MAX_THREADS : (unsigned)n;
}

static vf_status vf_tree_loop(vf_tree *t, vf_sha256 *root, unsigned nhelpers, vf_tree_worker *w,
                              vf_error *err)
{
    vf_status st = vf_tree_zero_leaves(t->src->size, t->zrun[0], t->zlast, err);
    for (unsigned i = 1; i < VF_TREE_ZERO_RUN; i++)
        memcpy(t->zrun[i], t->zrun[0], VF_SHA256_LEN);
    for (t->first = 0; st == VF_OK && t->first < t->nblocks; t->first = t->end) {
        if (vf_source_canceled(t->opts))
            return vf_source_cancel_error(t->src, err);
        if ((st = vf_tree_plan(t, err)) != VF_OK ||
            (st = vf_tree_run_batch(t, root, nhelpers, w, err)) != VF_OK)
            return st;
        if (t->opts && t->opts->progress) {
            uint64_t done = t->end * VF_TREE_BLOCK_BYTES;
            t->opts->progress(t->opts->progress_ctx, done < t->src->size ? done : t->src->size,
                              t->src->size);
        }
    }
    return st;
}

static void vf_tree_worker_free(vf_tree_worker *w)
{
    free(w->buf);
    vf_sha256_free(w->h);
    w->buf = NULL;
    w->h = NULL;
}

static void vf_tree_stop(vf_tree *t, vf_tree_helper *helpers, unsigned started)
{
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(helpers[i].thread, NULL);
}

vf_status vf_digest_tree(vf_source *src, const vf_verify_opts *opts, uint8_t md[VF_SHA256_LEN],
                         vf_error *err)
{
    vf_verify_opts own;
    vf_status ast = vf_verify_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    unsigned nthreads = vf_tree_threads(opts), started = 0;
    vf_tree *t = calloc(1, sizeof *t);
    vf_tree_helper *helpers = calloc(nthreads, sizeof *helpers);
    vf_tree_worker self = {.buf = malloc(VF_TREE_BLOCK_BYTES)};
    vf_sha256 *root = NULL;
    vf_status st;
    if (!t || !helpers || !self.buf) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': allocating the tree digest", src->name);
        goto fail;
    }
    t->src = src;
    t->opts = opts;
    t->cap = opts && opts->tree_batch && opts->tree_batch < VF_TREE_BATCH_BLOCKS
                 ? opts->tree_batch
                 : VF_TREE_BATCH_BLOCKS;
    t->nblocks = (src->size + VF_TREE_BLOCK_BYTES - 1) / VF_TREE_BLOCK_BYTES;
    t->group = VF_TREE_MAP_BUDGET / ((size_t)nthreads * VF_TREE_BLOCK_BYTES);
    t->group = t->group < 1 ? 1 : t->group > VF_TREE_GROUP_MAX ? VF_TREE_GROUP_MAX : t->group;
    t->views = !(opts && opts->no_views);
    pthread_mutex_init(&t->io_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->go, NULL);
    pthread_cond_init(&t->idle, NULL);
    pthread_cond_init(&t->leaf, NULL);
    if ((st = vf_sha256_new(&root, err)) != VF_OK || (st = vf_sha256_new(&self.h, err)) != VF_OK ||
        (st = vf_tree_prefix(root, src->size, err)) != VF_OK)
        goto destroy;
    /* Helpers are an optimisation: when one cannot start, fewer threads do the work. */
    for (; started + 1 < nthreads; started++) {
        vf_tree_helper *h = &helpers[started];
        h->t = t;
        if (!(h->w.buf = malloc(VF_TREE_BLOCK_BYTES)) || vf_sha256_new(&h->w.h, NULL) != VF_OK ||
            pthread_create(&h->thread, NULL, vf_tree_helper_main, h) != 0) {
            vf_tree_worker_free(&h->w);
            break;
        }
    }
    st = vf_tree_loop(t, root, started, &self, err);
    vf_tree_stop(t, helpers, started);
    src->tree_map_peak = atomic_load(&t->peak);
    if (st == VF_OK)
        st = vf_sha256_final(root, md, err);
destroy:
    pthread_cond_destroy(&t->leaf);
    pthread_cond_destroy(&t->idle);
    pthread_cond_destroy(&t->go);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->io_mu);
fail:
    vf_sha256_free(root);
    if (helpers)
        for (unsigned i = 0; i < nthreads; i++)
            vf_tree_worker_free(&helpers[i].w);
    free(helpers);
    vf_tree_worker_free(&self);
    free(t);
    return st;
}
