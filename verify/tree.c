/* tree.c - the tree digest (docs/tree-digest.md, version 1) on all cores.
 * Layer: verify. Called through vf_digest_tree (vf_verify.h) by the CLI and the merger.
 * The disk is taken in batches of blocks. For each batch the calling thread asks the chain
 * which blocks no level holds (their leaf is a constant, nothing is read), then it and the
 * helper threads share the remaining blocks: read one block under a lock (the chain is not
 * thread safe), hash it outside the lock. The batch's leaves then go into the root in order,
 * so memory stays fixed: one block buffer per thread and one batch of leaves. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_int.h"

#define VF_TREE_BATCH_BLOCKS 4096u
#define VF_TREE_MAX_THREADS 64u
#define VF_TREE_TAG "vhdfold-tree-v1"

typedef struct vf_tree {
    vf_source *src;
    const vf_verify_opts *opts;
    uint64_t nblocks;
    pthread_mutex_t io_mu; /* serialises reads of the source */
    pthread_mutex_t mu;    /* guards the fields below */
    pthread_cond_t go, idle;
    unsigned gen, busy;
    bool quit;
    vf_status st; /* first failure of any thread */
    vf_error err;
    atomic_int failed;
    /* The batch being hashed: blocks first + todo[i]; leaves indexed from first. */
    uint64_t first;
    uint32_t todo[VF_TREE_BATCH_BLOCKS];
    size_t ntodo;
    atomic_size_t next;
    uint8_t leaves[VF_TREE_BATCH_BLOCKS][VF_SHA256_LEN];
} vf_tree;

static void vf_tree_fail(vf_tree *t, vf_status st, const vf_error *err)
{
    pthread_mutex_lock(&t->mu);
    if (t->st == VF_OK) {
        t->st = st;
        t->err = *err;
    }
    atomic_store(&t->failed, 1);
    pthread_mutex_unlock(&t->mu);
}

static vf_status vf_tree_hash_block(vf_tree *t, uint64_t blk, uint8_t *buf, uint8_t *md,
                                    vf_error *err)
{
    uint64_t voff = blk * VF_TREE_BLOCK_BYTES;
    uint64_t left = t->src->size - voff;
    size_t len = left < VF_TREE_BLOCK_BYTES ? (size_t)left : VF_TREE_BLOCK_BYTES;
    pthread_mutex_lock(&t->io_mu);
    vf_status st = vf_source_read(t->src, voff, buf, len, err);
    pthread_mutex_unlock(&t->io_mu);
    if (st != VF_OK)
        return st;
    return vf_sha256_once(buf, len, md, err);
}

/* Take blocks of the current batch until none is left (or someone failed). The calling
 * thread (report) also reports progress: the blocks it takes come in increasing order. */
static void vf_tree_work(vf_tree *t, uint8_t *buf, bool report)
{
    vf_error err;
    vf_error_clear(&err);
    for (;;) {
        size_t j = atomic_fetch_add(&t->next, 1);
        if (j >= t->ntodo || atomic_load(&t->failed))
            return;
        vf_status st;
        if (report && t->opts && t->opts->progress)
            t->opts->progress(t->opts->progress_ctx,
                              (t->first + t->todo[j]) * (uint64_t)VF_TREE_BLOCK_BYTES,
                              t->src->size);
        if (vf_source_canceled(t->opts))
            st = vf_source_cancel_error(t->src, &err);
        else
            st = vf_tree_hash_block(t, t->first + t->todo[j], buf, t->leaves[t->todo[j]], &err);
        if (st != VF_OK) {
            vf_tree_fail(t, st, &err);
            return;
        }
    }
}

typedef struct vf_tree_helper {
    vf_tree *t;
    pthread_t thread;
    uint8_t *buf;
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
        vf_tree_work(t, h->buf, false);
        pthread_mutex_lock(&t->mu);
        if (--t->busy == 0)
            pthread_cond_signal(&t->idle);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Sort the batch [first, first+n) into constant leaves and blocks to hash (t->todo). A run
 * that every level leaves absent or zero covers whole blocks, which are never read. */
static vf_status vf_tree_plan(vf_tree *t, uint64_t n, const uint8_t zfull[VF_SHA256_LEN],
                              const uint8_t zlast[VF_SHA256_LEN], vf_error *err)
{
    uint64_t size = t->src->size;
    uint64_t end_off = (t->first + n) * VF_TREE_BLOCK_BYTES;
    if (end_off > size)
        end_off = size;
    t->ntodo = 0;
    uint64_t i = 0;
    while (i < n) {
        uint64_t pos = (t->first + i) * VF_TREE_BLOCK_BYTES;
        uint64_t bend = pos + VF_TREE_BLOCK_BYTES < size ? pos + VF_TREE_BLOCK_BYTES : size;
        bool zero = true;
        while (pos < bend) {
            uint64_t run;
            vf_status st = vf_source_run(t->src, pos, end_off - pos, &zero, &run, err);
            if (st != VF_OK)
                return st;
            if (!zero)
                break;
            pos += run;
        }
        if (!zero) {
            t->todo[t->ntodo++] = (uint32_t)i++;
            continue;
        }
        /* Zero from the block's start to pos: every block wholly inside is constant. */
        uint64_t upto = pos >= end_off ? n : pos / VF_TREE_BLOCK_BYTES - t->first;
        for (; i < upto; i++) {
            bool last = t->first + i == t->nblocks - 1 && size % VF_TREE_BLOCK_BYTES;
            memcpy(t->leaves[i], last ? zlast : zfull, VF_SHA256_LEN);
        }
    }
    return VF_OK;
}

/* Hash the batch's blocks on every thread; returns the first failure. */
static vf_status vf_tree_run_batch(vf_tree *t, unsigned nhelpers, uint8_t *buf, vf_error *err)
{
    if (t->ntodo) {
        atomic_store(&t->next, 0);
        pthread_mutex_lock(&t->mu);
        t->busy = nhelpers;
        t->gen++;
        pthread_cond_broadcast(&t->go);
        pthread_mutex_unlock(&t->mu);
        vf_tree_work(t, buf, true);
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

static vf_status vf_tree_loop(vf_tree *t, vf_sha256 *root, unsigned nhelpers, uint8_t *buf,
                              vf_error *err)
{
    uint8_t zfull[VF_SHA256_LEN], zlast[VF_SHA256_LEN];
    vf_status st = vf_tree_zero_leaves(t->src->size, zfull, zlast, err);
    for (t->first = 0; st == VF_OK && t->first < t->nblocks; t->first += VF_TREE_BATCH_BLOCKS) {
        uint64_t n = t->nblocks - t->first;
        if (n > VF_TREE_BATCH_BLOCKS)
            n = VF_TREE_BATCH_BLOCKS;
        if (vf_source_canceled(t->opts))
            return vf_source_cancel_error(t->src, err);
        if ((st = vf_tree_plan(t, n, zfull, zlast, err)) != VF_OK ||
            (st = vf_tree_run_batch(t, nhelpers, buf, err)) != VF_OK ||
            (st = vf_sha256_update(root, t->leaves, (size_t)n * VF_SHA256_LEN, err)) != VF_OK)
            return st;
        if (t->opts && t->opts->progress) {
            uint64_t done = (t->first + n) * VF_TREE_BLOCK_BYTES;
            t->opts->progress(t->opts->progress_ctx, done < t->src->size ? done : t->src->size,
                              t->src->size);
        }
    }
    return st;
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
    unsigned nthreads = vf_tree_threads(opts), started = 0;
    vf_tree *t = calloc(1, sizeof *t);
    vf_tree_helper *helpers = calloc(nthreads, sizeof *helpers);
    uint8_t *buf = malloc(VF_TREE_BLOCK_BYTES);
    vf_sha256 *root = NULL;
    vf_status st;
    if (!t || !helpers || !buf) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': allocating the tree digest", src->name);
        goto fail;
    }
    t->src = src;
    t->opts = opts;
    t->nblocks = (src->size + VF_TREE_BLOCK_BYTES - 1) / VF_TREE_BLOCK_BYTES;
    pthread_mutex_init(&t->io_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->go, NULL);
    pthread_cond_init(&t->idle, NULL);
    if ((st = vf_sha256_new(&root, err)) != VF_OK ||
        (st = vf_tree_prefix(root, src->size, err)) != VF_OK)
        goto destroy;
    /* Helpers are an optimisation: when one cannot start, fewer threads do the work. */
    for (; started + 1 < nthreads; started++) {
        helpers[started].t = t;
        if (!(helpers[started].buf = malloc(VF_TREE_BLOCK_BYTES)) ||
            pthread_create(&helpers[started].thread, NULL, vf_tree_helper_main,
                           &helpers[started]) != 0) {
            free(helpers[started].buf);
            helpers[started].buf = NULL;
            break;
        }
    }
    st = vf_tree_loop(t, root, started, buf, err);
    vf_tree_stop(t, helpers, started);
    if (st == VF_OK)
        st = vf_sha256_final(root, md, err);
destroy:
    pthread_cond_destroy(&t->idle);
    pthread_cond_destroy(&t->go);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->io_mu);
fail:
    vf_sha256_free(root);
    if (helpers)
        for (unsigned i = 0; i < nthreads; i++)
            free(helpers[i].buf);
    free(helpers);
    free(buf);
    free(t);
    return st;
}
