/* compare.c - byte-for-byte comparison of two flattened disks (chains or raw files).
 * Layer: verify. Called through vf_compare (vf_verify.h) by 'vhdfold compare' and the
 * conformance runner. Runs both sides know to be zero are skipped without a read; the rest
 * is compared one 2 MiB block at a time, and a block that differs is not read further. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source_int.h"

#define VF_CMP_B ((uint64_t)VF_COMPARE_BLOCK_BYTES)

typedef struct vf_cmp {
    vf_source *a, *b;
    uint8_t *buf_a, *buf_b;
    vf_compare_result *res;
    uint64_t last_diff_blk; /* the last block counted as differing, or UINT64_MAX */
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

/* Fill buf with [voff, voff+n) of src, or set *filled false when the run there is zero for all
 * n bytes: the caller then compares the other side against zeros, and this side is not read. */
static vf_status vf_cmp_side(vf_cmp *c, vf_source *src, bool zero, uint64_t run, uint64_t voff,
                             uint8_t *buf, size_t n, bool *filled, vf_error *err)
{
    *filled = !(zero && run >= n);
    if (!*filled)
        return VF_OK;
    c->res->read_bytes += n;
    return vf_source_read(src, voff, buf, n, err);
}

/* Compare [voff, bend), bend being a block end; records the block when it differs. */
static vf_status vf_cmp_piece(vf_cmp *c, uint64_t voff, uint64_t bend, bool za, uint64_t ra,
                              bool zb, uint64_t rb, vf_error *err)
{
    size_t n = (size_t)(bend - voff);
    bool fa, fb;
    vf_status st;
    if ((st = vf_cmp_side(c, c->a, za, ra, voff, c->buf_a, n, &fa, err)) != VF_OK ||
        (st = vf_cmp_side(c, c->b, zb, rb, voff, c->buf_b, n, &fb, err)) != VF_OK)
        return st;
    bool same = !fa && !fb ? true
                : fa && fb ? memcmp(c->buf_a, c->buf_b, n) == 0
                           : vf_all_zero(fa ? c->buf_a : c->buf_b, n);
    if (same)
        return VF_OK;
    if (!fa)
        memset(c->buf_a, 0, n);
    if (!fb)
        memset(c->buf_b, 0, n);
    if (c->res->first_diff == VF_OFF_NONE)
        c->res->first_diff = voff + vf_first_mismatch(c->buf_a, c->buf_b, n);
    c->res->diff_blocks++;
    c->res->identical = false;
    c->last_diff_blk = voff / VF_CMP_B;
    return VF_OK;
}

static vf_status vf_cmp_common(vf_cmp *c, uint64_t common, const vf_verify_opts *opts,
                               vf_error *err)
{
    uint64_t voff = 0;
    while (voff < common) {
        if (vf_source_canceled(opts))
            return vf_source_cancel_error(c->a, err);
        bool za, zb;
        uint64_t ra, rb;
        vf_status st;
        if ((st = vf_source_run(c->a, voff, common - voff, &za, &ra, err)) != VF_OK ||
            (st = vf_source_run(c->b, voff, common - voff, &zb, &rb, err)) != VF_OK)
            return st;
        if (za && zb) {
            voff += ra < rb ? ra : rb;
            continue;
        }
        uint64_t bend = (voff / VF_CMP_B + 1) * VF_CMP_B;
        if (bend > common)
            bend = common;
        if ((st = vf_cmp_piece(c, voff, bend, za, ra, zb, rb, err)) != VF_OK)
            return st;
        voff = bend;
        if (opts && opts->progress)
            opts->progress(opts->progress_ctx, voff, common);
    }
    return VF_OK;
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
    uint64_t common = a->size < b->size ? a->size : b->size;
    uint64_t larger = a->size < b->size ? b->size : a->size;
    vf_cmp c = {a, b, malloc(VF_CMP_B), malloc(VF_CMP_B), res, UINT64_MAX};
    vf_status st;
    if (!c.buf_a || !c.buf_b) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating compare buffers");
        goto out;
    }
    st = vf_cmp_common(&c, common, opts, err);
    if (st == VF_OK && a->size != b->size)
        vf_cmp_tail(res, common, larger, c.last_diff_blk == common / VF_CMP_B);
out:
    free(c.buf_a);
    free(c.buf_b);
    return st;
}
