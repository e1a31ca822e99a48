/* vhdx/overlay.c - the log overlay: file bytes that a VHDX holds after log replay (or after a
 * write this handle has not published yet) but that are not on disk. Records are kept in the
 * order they were added (later ones override earlier ones); a sorted index of disjoint
 * segments, each naming the record that wins there, answers lookups by binary search.
 * The index is built once after a replay (a sweep with a heap: O(n log n) for n records) and
 * kept up to date when single records are added later (a binary search and one memmove).
 * Layer: format/vhdx. Used by vhdx.c (reads, map), log.c (replay), write.c and bitmap.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

/* First segment whose end is past off (nseg when none). */
size_t vf_vhdx_overlay_find(vx_state *st, uint64_t off)
{
    size_t lo = 0, hi = st->nseg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        st->log_stats.ovl_steps++;
        if (st->seg[mid].end > off)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static vf_status vx_seg_reserve(vx_state *st, size_t n, vf_error *err)
{
    if (n <= st->seg_cap)
        return VF_OK;
    size_t cap = st->seg_cap ? st->seg_cap : 16;
    while (cap < n)
        cap *= 2;
    vx_seg *s = realloc(st->seg, cap * sizeof *s);
    if (!s)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': growing the log overlay index",
                             st->name);
    st->seg = s;
    st->seg_cap = cap;
    return VF_OK;
}

/* A max-heap of record indices: the newest record (highest index) on top. */
static void vx_heap_push(size_t *h, size_t *n, size_t v, uint64_t *steps)
{
    size_t i = (*n)++;
    while (i && h[(i - 1) / 2] < v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
        ++*steps;
    }
    h[i] = v;
}

static void vx_heap_pop(size_t *h, size_t *n, uint64_t *steps)
{
    size_t v = h[--*n], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] > h[c])
            c++;
        if (h[c] <= v)
            break;
        h[i] = h[c];
        i = c;
        ++*steps;
    }
    if (*n)
        h[i] = v;
}

static int vx_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort record indices by offset (merge sort: no global comparator state, stable). */
static void vx_sort_recs(const vx_ovl *r, size_t *idx, size_t *tmp, size_t n, uint64_t *steps)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                ++*steps;
                tmp[k++] = r[idx[b]].off < r[idx[a]].off ? idx[b++] : idx[a++];
            }
            while (a < mid)
                tmp[k++] = idx[a++];
            while (b < hi)
                tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

/* The sweep: at each boundary, the newest record still covering it wins up to the next. */
static vf_status vx_index_sweep(vx_state *st, const size_t *idx, const uint64_t *bnd, size_t nb,
                                size_t *heap, vf_error *err)
{
    size_t nh = 0, j = 0;
    st->nseg = 0;
    for (size_t i = 0; i + 1 < nb; i++) {
        uint64_t x = bnd[i];
        while (j < st->novl && st->ovl[idx[j]].off == x)
            vx_heap_push(heap, &nh, idx[j++], &st->log_stats.ovl_steps);
        while (nh && st->ovl[heap[0]].off + st->ovl[heap[0]].len <= x)
            vx_heap_pop(heap, &nh, &st->log_stats.ovl_steps);
        if (!nh)
            continue;
        vx_seg *prev = st->nseg ? &st->seg[st->nseg - 1] : NULL;
        if (prev && prev->rec == heap[0] && prev->end == x) {
            prev->end = bnd[i + 1];
            continue;
        }
        vf_status s = vx_seg_reserve(st, st->nseg + 1, err);
        if (s)
            return s;
        st->seg[st->nseg++] = (vx_seg){x, bnd[i + 1], heap[0]};
    }
    return VF_OK;
}

vf_status vf_vhdx_overlay_index(vx_state *st, vf_error *err)
{
    if (st->seg_ok)
        return VF_OK;
    size_t n = st->novl;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx), *tmp = malloc((n ? n : 1) * sizeof *tmp);
    uint64_t *bnd = malloc((n ? 2 * n : 1) * sizeof *bnd);
    vf_status s = VF_OK;
    if (!idx || !tmp || !bnd) {
        s = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': indexing the log overlay", st->name);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        bnd[2 * i] = st->ovl[i].off;
        bnd[2 * i + 1] = st->ovl[i].off + st->ovl[i].len;
    }
    vx_sort_recs(st->ovl, idx, tmp, n, &st->log_stats.ovl_steps);
    qsort(bnd, 2 * n, sizeof *bnd, vx_cmp_u64);
    st->log_stats.ovl_steps += 2 * n; /* the qsort, counted as one step per boundary */
    size_t nb = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (!nb || bnd[nb - 1] != bnd[i])
            bnd[nb++] = bnd[i];
    s = vx_index_sweep(st, idx, bnd, nb, tmp, err); /* tmp is free now: the heap */
    st->seg_ok = s == VF_OK;
out:
    free(idx);
    free(tmp);
    free(bnd);
    return s;
}

/* Record r (the newest) now wins over [off, end): replace the segments it covers, keeping
 * what sticks out on either side. */
static vf_status vx_index_insert(vx_state *st, size_t r, vf_error *err)
{
    uint64_t a = st->ovl[r].off, b = a + st->ovl[r].len;
    size_t i = vf_vhdx_overlay_find(st, a), j = i;
    while (j < st->nseg && st->seg[j].off < b) {
        j++;
        st->log_stats.ovl_steps++;
    }
    vx_seg put[3];
    size_t np = 0;
    if (i < j && st->seg[i].off < a)
        put[np++] = (vx_seg){st->seg[i].off, a, st->seg[i].rec};
    put[np++] = (vx_seg){a, b, r};
    if (i < j && st->seg[j - 1].end > b)
        put[np++] = (vx_seg){b, st->seg[j - 1].end, st->seg[j - 1].rec};
    vf_status s = vx_seg_reserve(st, st->nseg - (j - i) + np, err);
    if (s)
        return s;
    memmove(&st->seg[i + np], &st->seg[j], (st->nseg - j) * sizeof *st->seg);
    memcpy(&st->seg[i], put, np * sizeof *put);
    st->nseg = st->nseg - (j - i) + np;
    st->log_stats.ovl_steps += st->nseg - i; /* the memmove */
    return VF_OK;
}

static vf_status vx_rec_append(vx_state *st, vx_ovl **out, vf_error *err)
{
    if (st->novl == st->ovl_cap) {
        size_t cap = st->ovl_cap ? 2 * st->ovl_cap : 16;
        vx_ovl *n = realloc(st->ovl, cap * sizeof *n);
        if (!n)
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': growing the log overlay",
                                 st->name);
        st->ovl = n;
        st->ovl_cap = cap;
    }
    *out = &st->ovl[st->novl];
    memset(*out, 0, sizeof **out);
    return VF_OK;
}

/* Keep the index current when it is built; otherwise it is built on the next lookup. */
static vf_status vx_rec_commit(vx_state *st, vf_error *err)
{
    st->novl++;
    return st->seg_ok ? vx_index_insert(st, st->novl - 1, err) : VF_OK;
}

vf_status vf_vhdx_overlay_add(vx_state *st, uint64_t off, uint64_t len, const uint8_t *data,
                              bool pending, vf_error *err)
{
    if (data && len == VX_PAGE) {
        /* the same page again, and nothing newer over it: rewrite it in place */
        vf_status s0 = vf_vhdx_overlay_index(st, err);
        if (s0)
            return s0;
        size_t i = vf_vhdx_overlay_find(st, off);
        if (i < st->nseg && st->seg[i].off == off && st->seg[i].end == off + len) {
            vx_ovl *o = &st->ovl[st->seg[i].rec];
            if (o->data && o->off == off && o->len == len) {
                memcpy(o->data, data, VX_PAGE);
                o->pending |= pending;
                return VF_OK;
            }
        }
    }
    vx_ovl *o = NULL;
    vf_status s = vx_rec_append(st, &o, err);
    if (s)
        return s;
    o->off = off;
    o->len = len;
    o->pending = pending;
    o->src = VX_OVL_ZEROS;
    if (data) {
        o->data = malloc((size_t)len); /* data runs are single 4 KiB pages */
        if (!o->data)
            return VF_FAIL_ERRNO(err, ENOMEM, off, "allocating a log overlay page");
        memcpy(o->data, data, (size_t)len);
    }
    return vx_rec_commit(st, err);
}

vf_status vf_vhdx_overlay_add_log(vx_state *st, uint64_t off, uint64_t src, const uint8_t lead[8],
                                  const uint8_t trail[4], vf_error *err)
{
    vx_ovl *o = NULL;
    vf_status s = vx_rec_append(st, &o, err);
    if (s)
        return s;
    o->off = off;
    o->len = VX_PAGE;
    o->src = src;
    memcpy(o->lead, lead, 8);
    memcpy(o->trail, trail, 4);
    return vx_rec_commit(st, err);
}

/* Bytes [a, b) of record o (file offsets inside it) into dst. */
static vf_status vx_rec_copy(vx_state *st, const vx_ovl *o, uint64_t a, uint64_t b, uint8_t *dst,
                             vf_error *err)
{
    size_t r0 = (size_t)(a - o->off), r1 = (size_t)(b - o->off);
    if (o->data) {
        memcpy(dst, o->data + r0, r1 - r0);
        return VF_OK;
    }
    if (o->src == VX_OVL_ZEROS) {
        memset(dst, 0, r1 - r0);
        return VF_OK;
    }
    /* a page replayed from the log: bytes 0..8 and 4092..4096 came from its descriptor,
     * the rest is read from the log's data sector */
    for (size_t k = r0; k < r1 && k < 8; k++)
        dst[k - r0] = o->lead[k];
    size_t f0 = r0 > 8 ? r0 : 8, f1 = r1 < 4092 ? r1 : 4092;
    if (f0 < f1) {
        vf_status s = vf_vhdx_pread_raw(st, dst + (f0 - r0), f1 - f0, o->src + f0, err);
        if (s)
            return s;
    }
    for (size_t k = r0 > 4092 ? r0 : 4092; k < r1; k++)
        dst[k - r0] = o->trail[k - 4092];
    return VF_OK;
}

vf_status vf_vhdx_overlay_apply(vx_state *st, uint8_t *buf, size_t len, uint64_t off, vf_error *err)
{
    if (!st->novl)
        return VF_OK;
    vf_status s = vf_vhdx_overlay_index(st, err);
    uint64_t end = off + len;
    for (size_t i = s ? st->nseg : vf_vhdx_overlay_find(st, off);
         !s && i < st->nseg && st->seg[i].off < end; i++) {
        const vx_seg *g = &st->seg[i];
        st->log_stats.ovl_steps++;
        uint64_t a = g->off > off ? g->off : off, b = g->end < end ? g->end : end;
        s = vx_rec_copy(st, &st->ovl[g->rec], a, b, buf + (a - off), err);
    }
    return s;
}

vf_status vf_vhdx_overlay_clip(vx_state *st, uint64_t fo, uint64_t *len, bool *covered,
                               vf_error *err)
{
    *covered = false;
    if (!st->novl)
        return VF_OK;
    vf_status s = vf_vhdx_overlay_index(st, err);
    if (s)
        return s;
    size_t i = vf_vhdx_overlay_find(st, fo);
    if (i == st->nseg || st->seg[i].off >= fo + *len)
        return VF_OK;
    if (st->seg[i].off > fo) {
        *len = st->seg[i].off - fo;
        return VF_OK;
    }
    uint64_t e = st->seg[i].end;
    while (++i < st->nseg && st->seg[i].off == e && e < fo + *len)
        e = st->seg[i].end;
    *covered = true;
    if (e - fo < *len)
        *len = e - fo;
    return VF_OK;
}

void vf_vhdx_overlay_free(vx_state *st)
{
    for (size_t i = 0; i < st->novl; i++)
        free(st->ovl[i].data);
    free(st->ovl);
    free(st->seg);
    st->ovl = NULL;
    st->seg = NULL;
    st->novl = st->ovl_cap = st->nseg = st->seg_cap = 0;
    st->seg_ok = false;
}
