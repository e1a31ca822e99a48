/* digest.c - digests of a chain's flattened view for merge --verify and --child checks, and
 * the first differing byte when a verification fails. Layer: merger; a thin adapter over the
 * verifier (verify/vf_verify.h: vf_digest_flat, vf_digest_tree on every core, vf_compare), so
 * the merger and `vhdfold digest` compute the very same digests.
 * A view shorter than its chain (DESTINATION larger than SOURCE: only SOURCE's size is
 * compared) goes through a small read-only vf_io over vf_chain_read; that case reads every
 * byte, since the verifier's sources cannot be windowed yet. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"
#include "vf_verify.h"

/* [0, size) of a chain's view as a raw disk. */
typedef struct vf_prefix {
    vf_chain *chain; /* borrowed */
    uint64_t size;
} vf_prefix;

static vf_status vf_prefix_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_prefix *p = self;
    if (off > p->size || len > p->size - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off, "read of %zu bytes past the %llu-byte view", len,
                       (unsigned long long)p->size);
    return vf_chain_read(p->chain, off, buf, len, e);
}

static vf_status vf_prefix_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    (void)self, (void)buf, (void)len;
    return VF_FAIL(e, VF_E_INVAL, off, "the merge's verification view is read-only");
}

static vf_status vf_prefix_sync(void *self, vf_error *e)
{
    (void)self, (void)e;
    return VF_OK;
}

static vf_status vf_prefix_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((vf_prefix *)self)->size;
    return VF_OK;
}

static vf_status vf_prefix_set_size(void *self, uint64_t size, vf_error *e)
{
    (void)self;
    return VF_FAIL(e, VF_E_INVAL, size, "the merge's verification view is read-only");
}

static vf_status vf_prefix_lock(void *self, bool exclusive, vf_error *e)
{
    (void)self, (void)exclusive, (void)e;
    return VF_OK; /* the chain's own handles hold the locks */
}

static void vf_prefix_close(void *self)
{
    free(self);
}

static const vf_io_ops vf_prefix_ops = {
    .read_at = vf_prefix_read,
    .write_at = vf_prefix_write,
    .sync = vf_prefix_sync,
    .get_size = vf_prefix_size,
    .set_size = vf_prefix_set_size,
    .lock = vf_prefix_lock,
    .close = vf_prefix_close,
};

/* A verifier source for [0, size) of c's view: the chain itself (sparse-aware) when size is
 * its whole size, else the raw prefix. Yours: vf_source_free (c stays open, borrowed). */
static vf_status vf_merge_source(vf_chain *c, uint64_t size, vf_source **out, vf_error *err)
{
    *out = NULL;
    if (size > vf_chain_virtual_size(c))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "merge: cannot digest %llu bytes of '%s' (%llu bytes)",
                       (unsigned long long)size, vf_chain_path(c, 0),
                       (unsigned long long)vf_chain_virtual_size(c));
    if (size == vf_chain_virtual_size(c))
        return vf_source_from_chain(c, false, out, err);
    vf_prefix *p = malloc(sizeof *p);
    if (!p)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge: allocating a digest view");
    p->chain = c;
    p->size = size;
    vf_io *io;
    vf_status st = vf_io_new(&vf_prefix_ops, p, vf_chain_path(c, 0), false, &io, err);
    return st == VF_OK ? vf_source_from_io(io, out, err) : st;
}

vf_status vf_merge_digest(vf_chain *c, vf_merge_verify mode, uint64_t size,
                          uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    vf_source *src;
    vf_status st = vf_merge_source(c, size, &src, err);
    if (st != VF_OK)
        return st;
    vf_verify_opts vo;
    vf_verify_opts_init(&vo); /* threads 0: one worker per online core */
    st = mode == VF_MERGE_VERIFY_FLAT ? vf_digest_flat(src, &vo, md, err)
                                      : vf_digest_tree(src, &vo, md, err);
    vf_source_free(src);
    return st;
}

vf_status vf_merge_first_diff(vf_chain *a, vf_chain *b, uint64_t size, bool *found, uint64_t *voff,
                              vf_error *err)
{
    *found = false;
    *voff = 0;
    vf_source *sa = NULL, *sb = NULL;
    vf_status st = vf_merge_source(a, size, &sa, err);
    if (st == VF_OK)
        st = vf_merge_source(b, size, &sb, err);
    vf_verify_opts vo;
    vf_verify_opts_init(&vo);
    vf_compare_result cr;
    if (st == VF_OK && (st = vf_compare(sa, sb, &vo, &cr, err)) == VF_OK && !cr.identical) {
        *found = true;
        *voff = cr.first_diff;
    }
    vf_source_free(sa);
    vf_source_free(sb);
    return st;
}
