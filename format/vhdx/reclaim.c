/* vhdx/reclaim.c - the space a VHDX's structures use (header area, regions, log, payload and
 * sector-bitmap blocks the BAT names), and what uses it: reclaim (space past an allocation
 * mark that nothing names is reused by the next allocations, lowest first, and the file is
 * cut back to what is named), the cut of an unused reservation at flush, and check's report of
 * orphaned space. Layer: format/vhdx. Called by write.c (vx_alloc, flush), check.c and through
 * vf_vhdx_driver.reclaim (docs/merge.md "Resume reuses what it allocated").
 * Spec: docs/formats/vhdx.md "On-disk structures", "Writing". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

static int vx_uspan_cmp(const void *a, const void *b)
{
    const vx_uspan *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

typedef struct vx_ulist {
    vx_uspan *v;
    size_t n, cap;
    uint64_t from;
} vx_ulist;

static bool vx_ulist_add(vx_ulist *l, uint64_t off, uint64_t len)
{
    if (!len || off + len <= l->from)
        return true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        vx_uspan *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (vx_uspan){off, off + len};
    return true;
}

/* Payload (state 6, 7) and sector-bitmap (state 6) blocks; entries past the used ones are
 * not looked at (the BAT walk skips pages it does not hold). */
static bool vx_ulist_blocks(vx_state *st, vx_ulist *l)
{
    uint64_t cr1 = st->chunk_ratio + 1, end = st->bat_entries;
    for (uint64_t i = vf_vhdx_bat_next(st, 0, end); i < end; i = vf_vhdx_bat_next(st, i + 1, end)) {
        uint64_t e = vf_vhdx_bat_get(st, i), off = e & VX_BAT_OFF_MASK;
        unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
        bool sb = i % cr1 == st->chunk_ratio;
        if (sb && state == VX_SB_PRESENT && !vx_ulist_add(l, off, VX_MIB))
            return false;
        if (!sb && (state == VX_PB_FULLY_PRESENT || state == VX_PB_PARTIALLY_PRESENT) &&
            !vx_ulist_add(l, off, st->block_size))
            return false;
    }
    return true;
}

vf_status vf_vhdx_used_spans(vx_state *st, uint64_t from, vx_uspan **out, size_t *n, uint64_t *high,
                             vf_error *err)
{
    vx_ulist l = {NULL, 0, 0, from};
    bool ok = vx_ulist_add(&l, 0, VX_HEADER_AREA) &&
              vx_ulist_add(&l, st->hdr.log_offset, st->hdr.log_length);
    for (uint32_t i = 0; ok && i < st->nregions; i++)
        ok = vx_ulist_add(&l, st->regions[i].off, st->regions[i].len);
    if (ok)
        ok = vx_ulist_blocks(st, &l);
    if (!ok) {
        free(l.v);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': listing the used space", st->name);
    }
    if (l.n > 1) /* qsort wants a non-NULL base even for no elements */
        qsort(l.v, l.n, sizeof *l.v, vx_uspan_cmp);
    *high = from;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].end > *high)
            *high = l.v[i].end;
    *out = l.v;
    *n = l.n;
    return VF_OK;
}

uint64_t vf_vhdx_skip_fit(vx_state *st, uint64_t at, uint64_t len)
{
    while (st->iskip < st->nskip) {
        const vx_uspan *s = &st->skip[st->iskip];
        if (s->end <= at) {
            st->iskip++; /* allocations only move forward: never needed again */
            continue;
        }
        if (at + len <= s->off)
            break;
        at = vx_align_up(s->end, VX_MIB);
        st->iskip++;
    }
    if (st->iskip == st->nskip && st->skip) {
        free(st->skip);
        st->skip = NULL;
        st->nskip = st->iskip = 0;
    }
    return at;
}

/* Where the file must extend to: the allocation point, and the last block still skipped. */
static uint64_t vx_alloc_high(const vx_state *st)
{
    return st->nskip && st->skip_high > st->alloc_next ? st->skip_high : st->alloc_next;
}

vf_status vf_vhdx_trim_reserve(vx_state *st, vf_error *err)
{
    if (!st->reserved || st->leave_dirty || st->log_open)
        return VF_OK;
    uint64_t real = 0, keep = vx_alloc_high(st);
    vf_status s = vf_io_size(st->io, &real, err);
    if (!s && real > keep && keep >= st->reserve_base)
        s = vf_io_set_size(st->io, keep, err);
    if (s)
        return s;
    if (real > keep && keep >= st->reserve_base)
        st->file_size = keep;
    st->reserved = false;
    return VF_OK;
}

vf_status vf_vhdx_reclaim(vf_image *img, uint64_t mark, vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_settle(img, err); /* a held replay first: it names blocks too */
    if (s)
        return s;
    if (st->any_dirty || st->log_open || st->skip)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "'%s': space is reclaimed before the handle's first write", st->name);
    uint64_t real = 0;
    if ((s = vf_io_size(st->io, &real, err)))
        return s;
    uint64_t from = vx_align_up(mark, VX_MIB);
    if (mark == 0 || from >= real || from >= st->alloc_next)
        return VF_OK; /* nothing past the mark */
    vx_uspan *sp = NULL;
    size_t n = 0;
    uint64_t high = 0;
    if ((s = vf_vhdx_used_spans(st, from, &sp, &n, &high, err)))
        return s;
    high = vx_align_up(high, VX_MIB);
    if (real > high && (s = vf_io_set_size(st->io, high, err))) { /* names nothing */
        free(sp);
        return s;
    }
    if (real > high)
        st->file_size = high;
    st->skip = sp;
    st->nskip = n;
    st->iskip = 0;
    st->skip_high = high;
    st->alloc_next = from;
    if (from < st->move_below)
        st->move_below = from; /* blocks past the mark were placed by the run resumed */
    img->info.file_size = st->file_size;
    return VF_OK;
}

/* check: the bytes of [0, file size) that no structure names (blocks written before a crash
 * and never published, a reservation never used), as warnings; gaps that hold no data (the
 * holes a merge leaves where blocks moved away: docs/merge.md "Reflinks") cost no space and
 * are summed up in one note. */
#define VX_CHECK_MAX_GAPS 16u
typedef struct vx_gaps {
    uint64_t listed, more, holes, hole_bytes;
} vx_gaps;

static vf_status vx_check_gap(vf_image *img, vx_state *st, uint64_t from, uint64_t to,
                              vf_report *rep, vx_gaps *g, vf_error *err)
{
    bool data = true;
    vf_status s = vf_io_has_data(st->io, from, to - from, &data, err);
    if (s || !data) {
        g->holes += !s;
        g->hole_bytes += s ? 0 : to - from;
        return s;
    }
    if (g->listed == VX_CHECK_MAX_GAPS) {
        g->more++;
        return VF_OK;
    }
    g->listed++;
    vf_report_add(rep, VF_SEV_WARNING, VF_E_CORRUPT, from, img->name,
                  "orphaned space: bytes %" PRIu64 "..%" PRIu64 " belong to no structure", from,
                  to);
    return VF_OK;
}

vf_status vf_vhdx_check_space(vf_image *img, vx_state *st, vf_report *rep, vf_error *err)
{
    vx_uspan *sp = NULL;
    size_t n = 0;
    uint64_t high = 0, cur = 0;
    vx_gaps g = {0, 0, 0, 0};
    vf_status s = vf_vhdx_used_spans(st, 0, &sp, &n, &high, err);
    for (size_t i = 0; !s && i <= n; i++) {
        uint64_t next = i < n ? sp[i].off : st->file_size;
        if (next > cur)
            s = vx_check_gap(img, st, cur, next, rep, &g, err);
        if (i < n && sp[i].end > cur)
            cur = sp[i].end;
    }
    free(sp);
    if (s)
        return s;
    if (g.more)
        vf_report_add(rep, VF_SEV_WARNING, VF_E_CORRUPT, VF_OFF_NONE, img->name,
                      "orphaned space: %" PRIu64 " more gaps not listed", g.more);
    if (g.holes)
        vf_report_add(rep, VF_SEV_INFO, VF_OK, VF_OFF_NONE, img->name,
                      "free space: %" PRIu64 " bytes in %" PRIu64
                      " holes belong to no structure and hold no data",
                      g.hole_bytes, g.holes);
    return VF_OK;
}
