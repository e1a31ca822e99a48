/* digest.c - flat and tree digests of one level's view, computed from the generator's model:
 * the bytes of each run are produced by the data function while hashing, so the disk is
 * never held in memory and zero regions cost nothing in the tree digest. Both digests share
 * one pass over the bytes, or (split) the flat digest walks the view on a thread of its own.
 * Layer: gen. Called by gen.c. Tree digest: docs/tree-digest.md (version 1). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"
#include "vf_sha256.h"

#define VF_TREE_BLOCK (2u << 20)
#define VF_GEN_HASH_CHUNK (1u << 20)

typedef struct vf_gen_hasher {
    vf_sha256 *flat; /* NULL when the flat digest is not wanted here */
    vf_sha256 *leaf, *root;
    uint64_t size;
    uint64_t leaf_fill; /* bytes of the current tree block hashed so far */
    uint8_t zero_leaf[VF_SHA256_LEN];
    uint8_t *buf;
} vf_gen_hasher;

static vf_status vf_gen_leaf_done(vf_gen_hasher *h, const uint8_t *leaf, vf_error *err)
{
    h->leaf_fill = 0;
    return vf_sha256_update(h->root, leaf, VF_SHA256_LEN, err);
}

/* Feed [voff, voff+len) lying inside one tree block. */
static vf_status vf_gen_hash_piece(vf_gen_hasher *h, const vf_gen_plan *plan,
                                   const vf_gen_span *run, uint64_t voff, uint64_t len,
                                   vf_error *err)
{
    uint64_t bstart = voff / VF_TREE_BLOCK * VF_TREE_BLOCK;
    uint64_t blen = h->size - bstart < VF_TREE_BLOCK ? h->size - bstart : VF_TREE_BLOCK;
    bool zero = run->level < 0 || run->zero;
    vf_status st = VF_OK;
    if (zero) {
        if (h->flat && (st = vf_sha256_update_zeros(h->flat, len, err)) != VF_OK)
            return st;
        if (voff == bstart && len == VF_TREE_BLOCK) /* a whole zero block: the constant */
            return vf_gen_leaf_done(h, h->zero_leaf, err);
        if ((st = vf_sha256_update_zeros(h->leaf, len, err)) != VF_OK)
            return st;
    } else {
        for (uint64_t done = 0; done < len;) {
            size_t n = (size_t)(len - done < VF_GEN_HASH_CHUNK ? len - done : VF_GEN_HASH_CHUNK);
            vf_gen_fill(plan->opts.seed, (uint32_t)run->level, run->write, voff + done, h->buf, n);
            if ((h->flat && (st = vf_sha256_update(h->flat, h->buf, n, err)) != VF_OK) ||
                (st = vf_sha256_update(h->leaf, h->buf, n, err)) != VF_OK)
                return st;
            done += n;
        }
    }
    h->leaf_fill += len;
    if (h->leaf_fill == blen) {
        uint8_t md[VF_SHA256_LEN];
        if ((st = vf_sha256_final(h->leaf, md, err)) != VF_OK)
            return st;
        return vf_gen_leaf_done(h, md, err);
    }
    return VF_OK;
}

static vf_status vf_gen_hash_run(vf_gen_hasher *h, const vf_gen_plan *plan, const vf_gen_span *run,
                                 vf_error *err)
{
    uint64_t voff = run->voff, end = run->voff + run->len;
    while (voff < end) {
        uint64_t bend = (voff / VF_TREE_BLOCK + 1) * VF_TREE_BLOCK;
        uint64_t n = (end < bend ? end : bend) - voff;
        vf_status st = vf_gen_hash_piece(h, plan, run, voff, n, err);
        if (st != VF_OK)
            return st;
        voff += n;
    }
    return VF_OK;
}

static vf_status vf_gen_hasher_init(vf_gen_hasher *h, uint64_t size, bool flat, vf_error *err)
{
    memset(h, 0, sizeof *h);
    h->size = size;
    vf_status st;
    if ((flat && (st = vf_sha256_new(&h->flat, err)) != VF_OK) ||
        (st = vf_sha256_new(&h->leaf, err)) != VF_OK ||
        (st = vf_sha256_new(&h->root, err)) != VF_OK)
        return st;
    if (!(h->buf = malloc(VF_GEN_HASH_CHUNK)))
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the digest buffer");
    if ((st = vf_sha256_update_zeros(h->leaf, VF_TREE_BLOCK, err)) != VF_OK ||
        (st = vf_sha256_final(h->leaf, h->zero_leaf, err)) != VF_OK)
        return st;
    uint8_t head[32] = "vhdfold-tree-v1"; /* 15 characters and a NUL, then V, B, 0 */
    for (unsigned i = 0; i < 8; i++)
        head[16 + i] = (uint8_t)(size >> (8 * i));
    for (unsigned i = 0; i < 4; i++)
        head[24 + i] = (uint8_t)(VF_TREE_BLOCK >> (8 * i));
    return vf_sha256_update(h->root, head, sizeof head, err);
}

static void vf_gen_hasher_free(vf_gen_hasher *h)
{
    vf_sha256_free(h->flat);
    vf_sha256_free(h->leaf);
    vf_sha256_free(h->root);
    free(h->buf);
}

/* The tree digest, and the flat one too when sha256 is not NULL, in one pass. */
static vf_status vf_gen_tree_level(const vf_gen_plan *plan, unsigned top, uint8_t *sha256,
                                   uint8_t tree[32], vf_error *err)
{
    vf_gen_hasher h;
    vf_gen_view v = {0};
    vf_status st = vf_gen_hasher_init(&h, plan->opts.virtual_size, sha256 != NULL, err);
    if (st == VF_OK)
        st = vf_gen_view_init(&v, plan, top, err);
    vf_gen_span run;
    while (st == VF_OK && vf_gen_view_next(&v, &run))
        st = vf_gen_hash_run(&h, plan, &run, err);
    if (st == VF_OK && sha256)
        st = vf_sha256_final(h.flat, sha256, err);
    if (st == VF_OK)
        st = vf_sha256_final(h.root, tree, err);
    vf_gen_view_free(&v);
    vf_gen_hasher_free(&h);
    return st;
}

/* SHA-256 of the whole view, in order. */
static vf_status vf_gen_flat_runs(vf_sha256 *flat, uint8_t *buf, const vf_gen_plan *plan,
                                  vf_gen_view *v, vf_error *err)
{
    vf_gen_span run;
    vf_status st = VF_OK;
    while (st == VF_OK && vf_gen_view_next(v, &run)) {
        if (run.level < 0 || run.zero) {
            st = vf_sha256_update_zeros(flat, run.len, err);
            continue;
        }
        for (uint64_t done = 0; st == VF_OK && done < run.len;) {
            size_t n =
                (size_t)(run.len - done < VF_GEN_HASH_CHUNK ? run.len - done : VF_GEN_HASH_CHUNK);
            vf_gen_fill(plan->opts.seed, (uint32_t)run.level, run.write, run.voff + done, buf, n);
            st = vf_sha256_update(flat, buf, n, err);
            done += n;
        }
    }
    return st;
}

static vf_status vf_gen_flat_level(const vf_gen_plan *plan, unsigned top, uint8_t sha256[32],
                                   vf_error *err)
{
    vf_sha256 *flat = NULL;
    vf_gen_view v = {0};
    uint8_t *buf = malloc(VF_GEN_HASH_CHUNK);
    vf_status st =
        buf ? VF_OK : VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the digest buffer");
    if (st == VF_OK)
        st = vf_sha256_new(&flat, err);
    if (st == VF_OK)
        st = vf_gen_view_init(&v, plan, top, err);
    if (st == VF_OK)
        st = vf_gen_flat_runs(flat, buf, plan, &v, err);
    if (st == VF_OK)
        st = vf_sha256_final(flat, sha256, err);
    vf_gen_view_free(&v);
    vf_sha256_free(flat);
    free(buf);
    return st;
}

/* The flat digest's thread: it only reads the plan, which nobody changes meanwhile. */
typedef struct vf_gen_flat_job {
    const vf_gen_plan *plan;
    unsigned top;
    uint8_t *sha256;
    vf_status st;
    vf_error err;
} vf_gen_flat_job;

static void *vf_gen_flat_main(void *arg)
{
    vf_gen_flat_job *job = arg;
    job->st = vf_gen_flat_level(job->plan, job->top, job->sha256, &job->err);
    return NULL;
}

vf_status vf_gen_digest_level(const vf_gen_plan *plan, unsigned top, bool flat, bool split,
                              uint8_t sha256[32], uint8_t tree[32], vf_error *err)
{
    vf_gen_flat_job job = {.plan = plan, .top = top, .sha256 = sha256, .st = VF_OK};
    pthread_t tid;
    if (!flat || !split || pthread_create(&tid, NULL, vf_gen_flat_main, &job) != 0)
        return vf_gen_tree_level(plan, top, flat ? sha256 : NULL, tree, err);
    vf_status st = vf_gen_tree_level(plan, top, NULL, tree, err);
    pthread_join(tid, NULL);
    if (st == VF_OK && job.st != VF_OK) {
        st = job.st;
        if (err)
            *err = job.err;
    }
    return st;
}
