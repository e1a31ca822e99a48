/* compare.c - byte-for-byte comparison of two flattened disks (chains or raw files).
 * Layer: verify. Called through vf_compare (vf_verify.h) by 'vhdfold compare', convert's
 * verification and the conformance runner. Runs both sides know to be zero are skipped
 * without a read; the rest is compared one piece at a time, a piece running to the end of its
 * 2 MiB block, so each block is judged by one piece. The calling thread and helper threads
 * (one per core, at most VF_CMP_MAX_THREADS) take pieces in turn: the sources are asked where
 * a piece lies under one lock (they are not thread safe), and a side that one level's file
 * holds whole as stored is then read outside it (pread, vf_io_read_shared), so the reads and
 * the comparisons of two pieces run side by side; any other piece is read under the lock.
 * compare never maps (vf_verify_opts.no_views). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_int.h"

#define VF_CMP_B ((uint64_t)VF_COMPARE_BLOCK_BYTES)
#define VF_CMP_MAX_THREADS 4u

/* What a piece needs from one side: nothing (zero throughout), bytes located in one file
 * (read outside the lock), or bytes already read through the chain under the lock. */
typedef struct vf_cmp_side {
    bool filled; /* buf holds the piece (or will, from io) */
    vf_io *io;   /* not NULL: read the piece from io at foff outside the lock */
    uint64_t foff;
    uint8_t *buf;
} vf_cmp_side;

typedef struct vf_cmp {
    vf_source *a, *b;
    const vf_verify_opts *opts;
    vf_compare_result *res;
    pthread_mutex_t mu; /* the sources, the cursor, res, done and the error below */
    uint64_t cursor, common, done;
    bool tail_counted; /* the block holding byte `common` was counted as differing */
    bool failed;
    vf_status st;
    vf_error err;
} vf_cmp;

static bool vf_all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Index of the first byte where p and q differ (they are known to differ). */
static size_t vf_first_mismatch(const uint8_t *p, const uint8_t *q, size_t n)
{
    size_t i = 0;
    while (i + 4096 <= n && memcmp(p + i, q + i, 4096) == 0)
        i += 4096;
    while (i < n && p[i] == q[i])
        i++;
    return i;
}

/* Record the first error (under the lock); the others stop at their next claim. */
static void vf_cmp_fail(vf_cmp *c, vf_status st, const vf_error *err)
{
    if (c->failed)
        return;
    c->failed = true;
    c->st = st;
    c->err = *err;
}

/* Under the lock: what side src needs for [voff, voff+n), its run there being (zero, run).
 * A side not zero for all n bytes is located, or read now through the chain. */
static vf_status vf_cmp_plan_side(vf_cmp *c, vf_source *src, bool zero, uint64_t run, uint64_t voff,
                                  size_t n, vf_cmp_side *s, vf_error *err)
{
    s->io = NULL;
    s->filled = !(zero && run >= n);
    if (!s->filled)
        return VF_OK;
    c->res->read_bytes += n;
    if (vf_source_locate(src, voff, n, &s->io, &s->foff))
        return VF_OK;
    s->io = NULL;
    return vf_source_read(src, voff, s->buf, n, err);
}

/* Under the lock: the next piece [*voff, *voff + *n), both sides planned; false when none is
 * left or the comparison stopped. Zero runs of both sides are skipped here. */
static bool vf_cmp_claim(vf_cmp *c, vf_cmp_side *sa, vf_cmp_side *sb, uint64_t *voff, size_t *n)
{
    vf_error err;
    vf_status st = VF_OK;
    while (!c->failed && c->cursor < c->common) {
        if (vf_source_canceled(c->opts)) {
            st = vf_source_cancel_error(c->a, &err);
            break;
        }
        uint64_t at = c->cursor, left = c->common - at, ra, rb;
        bool za, zb;
        if ((st = vf_source_run(c->a, at, left, &za, &ra, &err)) != VF_OK ||
            (st = vf_source_run(c->b, at, left, &zb, &rb, &err)) != VF_OK)
            break;
        if (za && zb) {
            uint64_t skip = ra < rb ? ra : rb;
            c->cursor += skip;
            c->done += skip;
            continue;
        }
        uint64_t bend = (at / VF_CMP_B + 1) * VF_CMP_B;
        *voff = at;
        *n = (size_t)((bend < c->common ? bend : c->common) - at);
        c->cursor = at + *n;
        if ((st = vf_cmp_plan_side(c, c->a, za, ra, at, *n, sa, &err)) != VF_OK ||
            (st = vf_cmp_plan_side(c, c->b, zb, rb, at, *n, sb, &err)) != VF_OK)
            break;
        return true;
    }
    if (st != VF_OK)
        vf_cmp_fail(c, st, &err);
    return false;
}

/* Outside the lock: the located side's bytes, by pread; through the handle's own read, under
 * the lock, when it is no POSIX file (the memory backend). */
static vf_status vf_cmp_fetch(vf_cmp *c, vf_cmp_side *s, size_t n, vf_error *err)
{
    vf_status st = VF_OK;
    if (!s->io || vf_io_read_shared(s->io, s->buf, n, s->foff, &st, err))
        return st;
    pthread_mutex_lock(&c->mu);
    st = vf_io_read(s->io, s->buf, n, s->foff, err);
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* Outside the lock: where the piece first differs, or VF_OFF_NONE. */
static uint64_t vf_cmp_judge(vf_cmp_side *sa, vf_cmp_side *sb, uint64_t voff, size_t n)
{
    if (!sa->filled && !sb->filled)
        return VF_OFF_NONE;
    if (sa->filled && sb->filled ? memcmp(sa->buf, sb->buf, n) == 0
                                 : vf_all_zero(sa->filled ? sa->buf : sb->buf, n))
        return VF_OFF_NONE;
    if (!sa->filled)
        memset(sa->buf, 0, n);
    if (!sb->filled)
        memset(sb->buf, 0, n);
    return voff + vf_first_mismatch(sa->buf, sb->buf, n);
}

/* Under the lock: the piece's verdict into res (pieces finish in any order). */
static void vf_cmp_record(vf_cmp *c, uint64_t voff, size_t n, uint64_t diff)
{
    c->done += n;
    if (diff == VF_OFF_NONE)
        return;
    vf_compare_result *res = c->res;
    if (res->first_diff == VF_OFF_NONE || diff < res->first_diff)
        res->first_diff = diff;
    res->diff_blocks++;
    res->identical = false;
    if (voff / VF_CMP_B == c->common / VF_CMP_B)
        c->tail_counted = true;
}

/* One thread's share: claim, read, judge, record, until no piece is left. The calling thread
 * (report true) also reports progress, which the API promises on that thread only. */
static void vf_cmp_work(vf_cmp *c, uint8_t *bufs, bool report)
{
    vf_cmp_side sa = {.buf = bufs}, sb = {.buf = bufs + VF_CMP_B};
    uint64_t voff;
    size_t n;
    pthread_mutex_lock(&c->mu);
    while (vf_cmp_claim(c, &sa, &sb, &voff, &n)) {
        pthread_mutex_unlock(&c->mu);
        vf_error err;
        vf_status st = vf_cmp_fetch(c, &sa, n, &err);
        if (st == VF_OK)
            st = vf_cmp_fetch(c, &sb, n, &err);
        uint64_t diff = st == VF_OK ? vf_cmp_judge(&sa, &sb, voff, n) : VF_OFF_NONE;
        pthread_mutex_lock(&c->mu);
        if (st != VF_OK)
            vf_cmp_fail(c, st, &err);
        else
            vf_cmp_record(c, voff, n, diff);
        if (report && c->opts && c->opts->progress)
            c->opts->progress(c->opts->progress_ctx, c->done, c->common);
    }
    pthread_mutex_unlock(&c->mu);
}

typedef struct vf_cmp_helper {
    vf_cmp *c;
    uint8_t *bufs;
    pthread_t th;
} vf_cmp_helper;

static void *vf_cmp_helper_main(void *arg)
{
    vf_cmp_helper *h = arg;
    vf_cmp_work(h->c, h->bufs, false);
    return NULL;
}

static unsigned vf_cmp_threads(const vf_verify_opts *opts)
{
    long n = opts && opts->threads ? (long)opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > (long)VF_CMP_MAX_THREADS ? VF_CMP_MAX_THREADS : (unsigned)n;
}

/* The common bytes on the calling thread and up to threads-1 helpers (one that cannot start,
 * or get its buffers, is simply not there: the others do its share). */
static vf_status vf_cmp_common(vf_cmp *c, unsigned threads, vf_error *err)
{
    uint8_t *own = malloc(2 * VF_CMP_B);
    if (!own)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating compare buffers");
    vf_cmp_helper helpers[VF_CMP_MAX_THREADS];
    unsigned started = 0;
    for (unsigned i = 1; i < threads; i++) {
        vf_cmp_helper *h = &helpers[started];
        h->c = c;
        if (!(h->bufs = malloc(2 * VF_CMP_B)))
            break;
        if (pthread_create(&h->th, NULL, vf_cmp_helper_main, h) != 0) {
            free(h->bufs);
            break;
        }
        started++;
    }
    vf_cmp_work(c, own, true);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(helpers[i].th, NULL);
        free(helpers[i].bufs);
    }
    free(own);
    if (!c->failed && c->common && c->opts && c->opts->progress) /* helpers' last pieces */
        c->opts->progress(c->opts->progress_ctx, c->common, c->common);
    if (c->failed && err)
        *err = c->err;
    return c->failed ? c->st : VF_OK;
}

/* Bytes past the smaller disk differ; count their blocks not already counted. */
static void vf_cmp_tail(vf_compare_result *res, uint64_t common, uint64_t larger,
                        bool common_tail_block_counted)
{
    if (res->first_diff == VF_OFF_NONE)
        res->first_diff = common;
    uint64_t first_blk = common / VF_CMP_B;
    uint64_t end_blk = (larger + VF_CMP_B - 1) / VF_CMP_B;
    if (common % VF_CMP_B && common_tail_block_counted)
        first_blk++;
    res->diff_blocks += end_blk - first_blk;
    res->identical = false;
}

vf_status vf_compare(vf_source *a, vf_source *b, const vf_verify_opts *opts, vf_compare_result *res,
                     vf_error *err)
{
    memset(res, 0, sizeof *res);
    vf_verify_opts own;
    vf_status ast = vf_verify_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    res->size_a = a->size;
    res->size_b = b->size;
    res->first_diff = VF_OFF_NONE;
    res->identical = true;
    vf_cmp c;
    memset(&c, 0, sizeof c);
    c.a = a;
    c.b = b;
    c.opts = opts;
    c.res = res;
    c.common = a->size < b->size ? a->size : b->size;
    uint64_t larger = a->size < b->size ? b->size : a->size;
    pthread_mutex_init(&c.mu, NULL);
    vf_status st = vf_cmp_common(&c, vf_cmp_threads(opts), err);
    pthread_mutex_destroy(&c.mu);
    if (st == VF_OK && a->size != b->size)
        vf_cmp_tail(res, c.common, larger, c.tail_counted);
    return st;
}
