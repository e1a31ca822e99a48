/* walk.c - the ordered walk over a flattened disk, and the flat digest built on it.
 * Layer: verify. A reader thread maps the disk (zero runs are passed on without a read) and
 * fills a small ring of large buffers while the calling thread consumes them in order, so
 * reading overlaps hashing (or writing, for 'vhdfold export'). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "opts_int.h"
#include "source_int.h"

#define VF_WALK_SLOTS 4
#define VF_WALK_DEFAULT_REQ (4u << 20)
#define VF_WALK_MIN_REQ (64u << 10)
#define VF_WALK_MAX_REQ (64u << 20)
/* Data runs at least this long in one file are viewed (mapped) rather than read. */
#define VF_WALK_VIEW_MIN (256u << 10)
/* Zero runs are handed on in pieces this big so progress and cancellation stay responsive. */
#define VF_WALK_ZERO_PIECE (256ull << 20)

typedef struct vf_walk_item {
    uint64_t voff, len;
    bool zero;
    vf_io_view view; /* mapped: the bytes are view.data, not the slot's buffer */
} vf_walk_item;

typedef struct vf_walk {
    vf_source *src;
    const vf_verify_opts *opts;
    size_t req_bytes;
    pthread_mutex_t mu;
    pthread_cond_t can_put, can_get;
    vf_walk_item slots[VF_WALK_SLOTS];
    uint8_t *bufs[VF_WALK_SLOTS];
    size_t head, count; /* consumer takes slots[head]; count slots are filled */
    bool done;          /* the reader will add nothing more */
    bool stop;          /* the consumer wants the reader to quit */
    vf_status reader_st;
    vf_error reader_err;
} vf_walk;

static size_t vf_walk_req_bytes(const vf_verify_opts *opts)
{
    size_t req = opts && opts->request_bytes ? opts->request_bytes : VF_WALK_DEFAULT_REQ;
    if (req < VF_WALK_MIN_REQ)
        req = VF_WALK_MIN_REQ;
    if (req > VF_WALK_MAX_REQ)
        req = VF_WALK_MAX_REQ;
    return req & ~(size_t)(VF_WALK_MIN_REQ - 1);
}

/* Wait for a free slot; false when the consumer asked to stop. */
static bool vf_walk_reserve(vf_walk *w, size_t *idx)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == VF_WALK_SLOTS && !w->stop)
        pthread_cond_wait(&w->can_put, &w->mu);
    bool go = !w->stop;
    *idx = (w->head + w->count) % VF_WALK_SLOTS;
    pthread_mutex_unlock(&w->mu);
    return go;
}

/* Fill one slot with the run at voff (outside the lock: the consumer cannot see it yet). */
static vf_status vf_walk_fill(vf_walk *w, size_t idx, uint64_t voff, vf_error *err)
{
    uint64_t left = w->src->size - voff, run;
    bool zero;
    vf_status st = vf_source_run(w->src, voff, left, &zero, &run, err);
    if (st != VF_OK)
        return st;
    vf_walk_item *it = &w->slots[idx];
    it->voff = voff;
    it->zero = zero;
    /* The slot's last view is dropped here, on the reader's thread, so the hashing thread
     * pays for no munmap (nor its TLB flushes' bookkeeping). */
    vf_io_view_unmap(&it->view);
    if (zero) {
        it->len = run < VF_WALK_ZERO_PIECE ? run : VF_WALK_ZERO_PIECE;
        return VF_OK;
    }
    /* A whole request even when the data run is shorter: the chain read fills any absent
     * sectors inside it with zeros, and one large read beats many small ones. */
    size_t vlen;
    if (run >= VF_WALK_VIEW_MIN && !(w->opts && w->opts->no_views) &&
        vf_source_view(w->src, voff, VF_WALK_VIEW_MIN, w->req_bytes, &it->view, &vlen)) {
        it->len = vlen;
        return VF_OK;
    }
    it->len = left < w->req_bytes ? left : w->req_bytes;
    return vf_source_read(w->src, voff, w->bufs[idx], (size_t)it->len, err);
}

static void *vf_walk_reader(void *arg)
{
    vf_walk *w = arg;
    uint64_t voff = 0;
    vf_status st = VF_OK;
    vf_error err;
    vf_error_clear(&err);
    while (voff < w->src->size) {
        size_t idx;
        if (!vf_walk_reserve(w, &idx))
            break;
        if (vf_source_canceled(w->opts)) {
            st = vf_source_cancel_error(w->src, &err);
            break;
        }
        if ((st = vf_walk_fill(w, idx, voff, &err)) != VF_OK)
            break;
        pthread_mutex_lock(&w->mu);
        w->count++;
        pthread_cond_signal(&w->can_get);
        pthread_mutex_unlock(&w->mu);
        voff += w->slots[idx].len;
    }
    pthread_mutex_lock(&w->mu);
    w->reader_st = st;
    if (st != VF_OK)
        w->reader_err = err;
    w->done = true;
    pthread_cond_broadcast(&w->can_get);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Take the next filled slot; false when the reader has finished and nothing is left. */
static bool vf_walk_take(vf_walk *w, vf_walk_item *it, const uint8_t **buf)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == 0 && !w->done)
        pthread_cond_wait(&w->can_get, &w->mu);
    bool got = w->count > 0;
    if (got) {
        *it = w->slots[w->head];
        *buf = it->view.base ? it->view.data : w->bufs[w->head];
    }
    pthread_mutex_unlock(&w->mu);
    return got;
}

static void vf_walk_release(vf_walk *w)
{
    pthread_mutex_lock(&w->mu);
    w->head = (w->head + 1) % VF_WALK_SLOTS;
    w->count--;
    pthread_cond_signal(&w->can_put);
    pthread_mutex_unlock(&w->mu);
}

static vf_status vf_walk_consume(vf_walk *w, vf_walk_fn sink, void *ctx, vf_error *err)
{
    const vf_verify_opts *opts = w->opts;
    vf_walk_item it;
    const uint8_t *buf;
    while (vf_walk_take(w, &it, &buf)) {
        if (vf_source_canceled(opts))
            return vf_source_cancel_error(w->src, err);
        vf_status st = sink(ctx, it.voff, it.zero ? NULL : buf, it.len, err);
        vf_walk_release(w);
        if (st != VF_OK)
            return st;
        if (opts && opts->progress)
            opts->progress(opts->progress_ctx, it.voff + it.len, w->src->size);
    }
    return VF_OK;
}

static void vf_walk_free_bufs(vf_walk *w)
{
    for (size_t i = 0; i < VF_WALK_SLOTS; i++) {
        vf_io_view_unmap(&w->slots[i].view); /* the last views of every slot */
        free(w->bufs[i]);
    }
}

void vf_verify_opts_init_size(vf_verify_opts *o, size_t size)
{
    vf_verify_opts def;
    memset(&def, 0, sizeof def);
    vf_opts_fill(o, size, &def, sizeof def);
}

vf_status vf_verify_walk(vf_source *src, const vf_verify_opts *opts, vf_walk_fn sink, void *ctx,
                         vf_error *err)
{
    vf_verify_opts own;
    vf_status ast = vf_verify_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    vf_walk w;
    memset(&w, 0, sizeof w);
    w.src = src;
    w.opts = opts;
    w.req_bytes = vf_walk_req_bytes(opts);
    for (size_t i = 0; i < VF_WALK_SLOTS; i++) {
        if (!(w.bufs[i] = malloc(w.req_bytes))) {
            vf_walk_free_bufs(&w);
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': allocating read buffers",
                                 src->name);
        }
    }
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.can_put, NULL);
    pthread_cond_init(&w.can_get, NULL);
    pthread_t reader;
    vf_status st;
    int rc = pthread_create(&reader, NULL, vf_walk_reader, &w);
    if (rc != 0) {
        st = VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "'%s': starting the reader thread", src->name);
        goto fail;
    }
    st = vf_walk_consume(&w, sink, ctx, err);
    pthread_mutex_lock(&w.mu);
    w.stop = true;
    pthread_cond_broadcast(&w.can_put);
    pthread_mutex_unlock(&w.mu);
    pthread_join(reader, NULL);
    if (st == VF_OK && w.reader_st != VF_OK) {
        st = w.reader_st;
        if (err)
            *err = w.reader_err;
    }
fail:
    pthread_cond_destroy(&w.can_get);
    pthread_cond_destroy(&w.can_put);
    pthread_mutex_destroy(&w.mu);
    vf_walk_free_bufs(&w);
    return st;
}

static vf_status vf_flat_sink(void *ctx, uint64_t voff, const void *data, uint64_t len,
                              vf_error *err)
{
    (void)voff;
    vf_sha256 *h = ctx;
    if (!data)
        return vf_sha256_update_zeros(h, len, err);
    return vf_sha256_update(h, data, (size_t)len, err);
}

vf_status vf_digest_flat(vf_source *src, const vf_verify_opts *opts, uint8_t md[VF_SHA256_LEN],
                         vf_error *err)
{
    vf_verify_opts own;
    vf_status ast = vf_verify_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    vf_sha256 *h;
    vf_status st = vf_sha256_new(&h, err);
    if (st != VF_OK)
        return st;
    st = vf_verify_walk(src, opts, vf_flat_sink, h, err);
    if (st == VF_OK)
        st = vf_sha256_final(h, md, err);
    vf_sha256_free(h);
    return st;
}
