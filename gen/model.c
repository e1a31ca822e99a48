/* model.c - the generator's model: the keyed data function, the extent map of each level,
 * the seeded write plan (which blocks each level touches and how) and the view iterator.
 * Layer: gen. Called by gen.c and digest.c; knows nothing of image files or JSON.
 * Every draw below is part of the frozen definition in docs/gen.md: reorder nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* --- the data function -------------------------------------------------------------------- */

void vf_gen_fill(uint64_t seed, uint32_t level, uint32_t write, uint64_t voff, void *buf,
                 size_t len)
{
    uint8_t *p = buf;
    uint64_t state = vf_gen_key(seed, level, write) + (voff >> 3) * VF_GEN_GAMMA;
    for (size_t k = 0; k + 8 <= len; k += 8) {
        state += VF_GEN_GAMMA;
        uint64_t w = vf_gen_mix(state);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        memcpy(p + k, &w, 8); /* little-endian words on every host */
    }
}

/* --- extent map ----------------------------------------------------------------------------- */

/* Index of the first extent ending after voff (extents are disjoint and sorted). */
static size_t vf_gen_map_find(const vf_gen_map *m, uint64_t voff)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].voff + m->v[mid].len <= voff)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static vf_status vf_gen_map_reserve(vf_gen_map *m, size_t extra, vf_error *err)
{
    if (m->n + extra <= m->cap)
        return VF_OK;
    size_t cap = m->cap ? m->cap * 2 : 64;
    while (cap < m->n + extra)
        cap *= 2;
    vf_gen_ext *v = realloc(m->v, cap * sizeof *v);
    if (!v)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "growing the generator's extent map");
    m->v = v;
    m->cap = cap;
    return VF_OK;
}

vf_status vf_gen_map_put(vf_gen_map *m, uint64_t voff, uint64_t len, uint32_t write, bool zero,
                         vf_error *err)
{
    vf_status st = vf_gen_map_reserve(m, 2, err);
    if (st != VF_OK)
        return st;
    uint64_t end = voff + len;
    size_t i = vf_gen_map_find(m, voff), j = i;
    while (j < m->n && m->v[j].voff < end)
        j++;
    /* [i, j) overlap the new extent; keep their parts outside it. */
    vf_gen_ext repl[3];
    size_t nr = 0;
    if (i < j && m->v[i].voff < voff) {
        repl[nr] = m->v[i];
        repl[nr++].len = voff - m->v[i].voff;
    }
    repl[nr++] = (vf_gen_ext){.voff = voff, .len = len, .write = write, .zero = zero};
    if (i < j && m->v[j - 1].voff + m->v[j - 1].len > end) {
        vf_gen_ext tail = m->v[j - 1];
        uint64_t tail_end = tail.voff + tail.len;
        tail.voff = end;
        tail.len = tail_end - end;
        repl[nr++] = tail;
    }
    memmove(m->v + i + nr, m->v + j, (m->n - j) * sizeof *m->v);
    memcpy(m->v + i, repl, nr * sizeof *repl);
    m->n = m->n - (j - i) + nr;
    return VF_OK;
}

bool vf_gen_map_intersects(const vf_gen_map *m, uint64_t voff, uint64_t len)
{
    size_t i = vf_gen_map_find(m, voff);
    return i < m->n && m->v[i].voff < voff + len;
}

void vf_gen_map_free(vf_gen_map *m)
{
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* --- creators and locator modes ----------------------------------------------------------- */

/* Validated options name a format whose driver has a sample (vf_gen_can_create). */
const vf_gen_creator *vf_gen_creator_get(vf_format_kind f, unsigned idx)
{
    const vf_format_samples *r = vf_format_samples_get(f);
    return &r->producers[idx % r->nproducers];
}

const vf_gen_locmode *vf_gen_locmode_get(vf_format_kind f, unsigned idx)
{
    const vf_format_samples *r = vf_format_samples_get(f);
    return &r->locators[idx % r->nlocators];
}

bool vf_gen_has(vf_format_kind f, unsigned feature)
{
    vf_format_limits lim;
    return vf_format_get_limits(f, &lim, NULL) == VF_OK && (lim.features & feature);
}

bool vf_gen_chs_exact(uint64_t size)
{
    const uint64_t max = 65535ull * 16 * 255;
    if (size % 512 || size / 512 > max)
        return false;
    uint64_t t = size / 512, s, h, ch;
    if (t >= 65535ull * 16 * 63) {
        s = 255;
        h = 16;
        ch = t / s;
    } else {
        s = 17;
        ch = t / 17;
        h = (ch + 1023) / 1024;
        if (h < 4)
            h = 4;
        if (ch >= h * 1024 || h > 16) {
            s = 31;
            h = 16;
            ch = t / 31;
        }
        if (ch >= h * 1024) {
            s = 63;
            h = 16;
            ch = t / 63;
        }
    }
    uint64_t c = ch / h;
    if (c > 65535)
        return false;
    return c * h * s == t;
}

/* --- the plan --------------------------------------------------------------------------------- */

typedef struct vf_gen_ctx {
    vf_gen_plan *plan;
    vf_gen_plan_level *lv;
    unsigned level;
    vf_gen_rng r;
    uint32_t next_write;
} vf_gen_ctx;

/* floor(log2(n)) for n >= 1. */
static unsigned vf_gen_log2(uint64_t n)
{
    unsigned b = 0;
    while (n >>= 1)
        b++;
    return b;
}

/* A length in 1..max units, skewed towards short runs: a random scale, then uniform. */
static uint64_t vf_gen_skew(vf_gen_rng *r, uint64_t max)
{
    uint64_t e = vf_gen_below(r, vf_gen_log2(max) + 1);
    uint64_t span = (uint64_t)1 << e;
    return 1 + vf_gen_below(r, span < max ? span : max);
}

static vf_status vf_gen_add(vf_gen_ctx *c, uint64_t voff, uint64_t len, bool zero, vf_error *err)
{
    uint64_t size = c->plan->opts.virtual_size;
    if (c->level == 0)
        zero = false; /* explicit zeros belong to differencing levels */
    if (voff >= size || len == 0)
        return VF_OK;
    if (len > size - voff)
        len = size - voff;
    vf_gen_plan_level *lv = c->lv;
    if (lv->nw == lv->capw) {
        size_t cap = lv->capw ? lv->capw * 2 : 64;
        vf_gen_write *w = realloc(lv->w, cap * sizeof *w);
        if (!w)
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "growing the generator's write plan");
        lv->w = w;
        lv->capw = cap;
    }
    uint32_t wi = c->next_write++;
    lv->w[lv->nw++] = (vf_gen_write){.voff = voff, .len = len, .write = wi, .zero = zero};
    c->plan->total_bytes += len;
    return vf_gen_map_put(&lv->map, voff, len, wi, zero, err);
}

/* 1..4 runs of `unit` granularity (at least one logical sector) starting inside block b; some
 * cross into the next block. */
static vf_status vf_gen_runs(vf_gen_ctx *c, uint64_t b, uint64_t unit, vf_error *err)
{
    if (unit < c->plan->opts.sector_size)
        unit = c->plan->opts.sector_size;
    uint64_t bs = c->plan->opts.block_size, upb = bs / unit;
    uint64_t nruns = 1 + vf_gen_below(&c->r, 4);
    for (uint64_t k = 0; k < nruns; k++) {
        uint64_t start = vf_gen_below(&c->r, upb);
        bool cross = vf_gen_below(&c->r, 8) == 0;
        bool zero = vf_gen_below(&c->r, 16) == 0;
        /* a crossing run covers the rest of the block and goes on into the next one */
        uint64_t n =
            cross ? (upb - start) + vf_gen_skew(&c->r, upb) : vf_gen_skew(&c->r, upb - start);
        vf_status st = vf_gen_add(c, b * bs + start * unit, n * unit, zero, err);
        if (st != VF_OK)
            return st;
    }
    return VF_OK;
}

/* A run starting in the last quarter of block b and ending in block b+1. */
static vf_status vf_gen_crossing(vf_gen_ctx *c, uint64_t b, vf_error *err)
{
    uint64_t ss = c->plan->opts.sector_size, bs = c->plan->opts.block_size, spb = bs / ss;
    uint64_t start = spb - 1 - vf_gen_below(&c->r, spb / 4);
    uint64_t n = (spb - start) + 1 + vf_gen_below(&c->r, spb);
    return vf_gen_add(c, b * bs + start * ss, n * ss, false, err);
}

/* Zeros over part of the block, preferably where a lower level holds data. */
static vf_status vf_gen_zeros(vf_gen_ctx *c, uint64_t b, vf_error *err)
{
    uint64_t ss = c->plan->opts.sector_size, bs = c->plan->opts.block_size, spb = bs / ss;
    uint64_t start = vf_gen_below(&c->r, spb);
    uint64_t n = vf_gen_skew(&c->r, spb - start);
    for (unsigned l = 0; l < c->level; l++) {
        const vf_gen_map *m = &c->plan->lv[l].map;
        size_t i = vf_gen_map_find(m, b * bs);
        if (i < m->n && m->v[i].voff < (b + 1) * bs && !m->v[i].zero) {
            /* aim at that level's data: start where its extent starts (sector aligned) */
            uint64_t at = m->v[i].voff > b * bs ? m->v[i].voff : b * bs;
            start = (at - b * bs) / ss;
            n = vf_gen_skew(&c->r, spb - start);
            break;
        }
    }
    return vf_gen_add(c, b * bs + start * ss, n * ss, true, err);
}

static vf_status vf_gen_block(vf_gen_ctx *c, uint64_t b, vf_error *err)
{
    uint64_t bs = c->plan->opts.block_size;
    switch (c->plan->opts.profile) {
    case VF_GEN_PROFILE_BLOCKS:
        return vf_gen_add(c, b * bs, bs, vf_gen_below(&c->r, 8) == 0, err);
    case VF_GEN_PROFILE_ALIGNED:
        return vf_gen_runs(c, b, 4096, err);
    case VF_GEN_PROFILE_SECTOR:
        return vf_gen_runs(c, b, 512, err);
    case VF_GEN_PROFILE_MIXED:
        break;
    }
    switch (vf_gen_below(&c->r, 8)) {
    case 0:
    case 1:
        return vf_gen_add(c, b * bs, bs, false, err);
    case 2:
    case 3:
        return vf_gen_runs(c, b, 4096, err);
    case 4:
    case 5:
        return vf_gen_runs(c, b, 512, err);
    case 6:
        return vf_gen_crossing(c, b, err);
    default:
        return vf_gen_zeros(c, b, err);
    }
}

static void vf_gen_id(vf_gen_rng *r, uint8_t id[16])
{
    uint64_t a = vf_gen_next(r), b = vf_gen_next(r);
    for (unsigned i = 0; i < 8; i++) {
        id[i] = (uint8_t)(a >> (8 * i));
        id[8 + i] = (uint8_t)(b >> (8 * i));
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* RFC 4122 version 4, variant 1 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* Identity, time stamp, creator, locators: the first draws of the level's stream. */
static void vf_gen_level_meta(vf_gen_ctx *c, uint32_t parent_ts)
{
    vf_gen_plan_level *lv = c->lv;
    const vf_gen_opts *o = &c->plan->opts;
    vf_gen_id(&c->r, lv->id);
    /* 2020-01-01 in the VHD epoch (2000-01-01), plus up to 5 years; children later. */
    if (c->level == 0)
        lv->timestamp = 631152000u + (uint32_t)vf_gen_below(&c->r, 157680000u);
    else
        lv->timestamp = parent_ts + 1 + (uint32_t)vf_gen_below(&c->r, 2592000u);
    unsigned eligible[16], ne = 0;
    bool chs_ok = vf_gen_chs_exact(o->virtual_size);
    size_t ncreators = vf_format_samples_get(o->format)->nproducers;
    for (unsigned i = 0; i < ncreators; i++)
        if (chs_ok || !vf_gen_creator_get(o->format, i)->chs_sized)
            eligible[ne++] = i;
    lv->creator = eligible[vf_gen_below(&c->r, ne)];
    size_t nmodes = vf_format_samples_get(o->format)->nlocators;
    lv->locmode = (unsigned)vf_gen_below(&c->r, nmodes);
}

/* True when a level below the context's holds data (not explicit zeros) in [voff, voff+len). */
static bool vf_gen_lower_data(const vf_gen_ctx *c, uint64_t voff, uint64_t len)
{
    for (unsigned l = 0; l < c->level; l++) {
        const vf_gen_map *m = &c->plan->lv[l].map;
        for (size_t i = vf_gen_map_find(m, voff); i < m->n && m->v[i].voff < voff + len; i++)
            if (!m->v[i].zero)
                return true;
    }
    return false;
}

/* VHDX differencing levels trim: after the level's planned writes, each block holding a lower
 * level's data is zeroed whole (the ZERO block state) when below(8) == 0, drawn in block order
 * from the stream key(seed, level, VF_GEN_WRITE_TRIM). */
static vf_status vf_gen_trims(vf_gen_ctx *c, vf_error *err)
{
    uint64_t bs = c->plan->opts.block_size, size = c->plan->opts.virtual_size;
    vf_gen_rng t;
    vf_gen_rng_init(&t, vf_gen_key(c->plan->opts.seed, c->level, VF_GEN_WRITE_TRIM));
    for (uint64_t b = 0; b * bs < size; b++) {
        if (!vf_gen_lower_data(c, b * bs, bs) || vf_gen_below(&t, 8) != 0)
            continue;
        vf_status st = vf_gen_add(c, b * bs, bs, true, err);
        if (st != VF_OK)
            return st;
        c->lv->w[c->lv->nw - 1].trim = true;
    }
    return VF_OK;
}

static vf_status vf_gen_plan_level_build(vf_gen_plan *plan, unsigned level, vf_error *err)
{
    vf_gen_ctx c = {.plan = plan, .lv = &plan->lv[level], .level = level, .next_write = 1};
    vf_gen_rng_init(&c.r, vf_gen_key(plan->opts.seed, level, VF_GEN_WRITE_PLAN));
    vf_gen_level_meta(&c, level ? plan->lv[level - 1].timestamp : 0);
    if (level == 0)
        c.lv->type = plan->opts.base == VF_GEN_BASE_FIXED ? VF_DISK_FIXED : VF_DISK_DYNAMIC;
    else
        c.lv->type = VF_DISK_DIFF;
    uint64_t bs = plan->opts.block_size;
    uint64_t nblocks = (plan->opts.virtual_size + bs - 1) / bs;
    for (uint64_t b = 0; b < nblocks; b++) {
        if (vf_gen_below(&c.r, 1000000) >= plan->opts.density_ppm)
            continue;
        vf_status st = vf_gen_block(&c, b, err);
        if (st != VF_OK)
            return st;
    }
    if (vf_gen_has(plan->opts.format, VF_FEATURE_ZERO_BLOCKS) && level > 0)
        return vf_gen_trims(&c, err);
    return VF_OK;
}

vf_status vf_gen_plan_build(const vf_gen_opts *opts, vf_gen_plan *plan, vf_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->opts = *opts;
    if (plan->opts.base == VF_GEN_BASE_AUTO) {
        vf_gen_rng g;
        vf_gen_rng_init(&g, vf_gen_key(opts->seed, VF_GEN_LEVEL_GLOBAL, VF_GEN_WRITE_PLAN));
        plan->opts.base = vf_gen_below(&g, 4) == 0 ? VF_GEN_BASE_FIXED : VF_GEN_BASE_DYNAMIC;
    }
    /* VHDX's logical sector under the mixed profile: output 1 of the chain-wide stream, odd
     * means 4096 (random access, so it does not depend on whether the base was drawn), for
     * sizes that are a multiple of 8192 (an even number of 4 KiB sectors, for 7-Zip). */
    if (plan->opts.sector_size == 0) {
        uint64_t k = vf_gen_key(opts->seed, VF_GEN_LEVEL_GLOBAL, VF_GEN_WRITE_PLAN);
        vf_format_limits lim = {0};
        (void)vf_format_get_limits(opts->format, &lim, NULL);
        bool big = (lim.sector_sizes & VF_SECTOR_4096) && opts->profile == VF_GEN_PROFILE_MIXED &&
                   lim.portable_sectors &&
                   opts->virtual_size % (4096ull * lim.portable_sectors) == 0 &&
                   (vf_gen_at(k, 1) & 1u);
        plan->opts.sector_size = big ? 4096u : 512u;
    }
    plan->nlevels = opts->depth + 1;
    plan->lv = calloc(plan->nlevels, sizeof *plan->lv);
    if (!plan->lv)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the generator's plan");
    vf_status st = VF_OK;
    for (unsigned l = 0; st == VF_OK && l < plan->nlevels; l++)
        st = vf_gen_plan_level_build(plan, l, err);
    /* --writes: drawn whole first, then thinned, so the writes kept are the full plan's */
    if (st == VF_OK)
        st = vf_gen_select_apply(plan, err);
    if (st != VF_OK)
        vf_gen_plan_free(plan);
    return st;
}

void vf_gen_plan_free(vf_gen_plan *plan)
{
    if (!plan || !plan->lv)
        return;
    for (unsigned l = 0; l < plan->nlevels; l++) {
        free(plan->lv[l].w);
        vf_gen_map_free(&plan->lv[l].map);
    }
    free(plan->lv);
    plan->lv = NULL;
}

/* --- the view ------------------------------------------------------------------------------ */

vf_status vf_gen_view_init(vf_gen_view *v, const vf_gen_plan *plan, unsigned top, vf_error *err)
{
    v->plan = plan;
    v->top = top;
    v->pos = 0;
    v->idx = calloc(top + 1, sizeof *v->idx);
    if (!v->idx)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a view of the model");
    return VF_OK;
}

bool vf_gen_view_next(vf_gen_view *v, vf_gen_span *run)
{
    uint64_t size = v->plan->opts.virtual_size;
    if (v->pos >= size)
        return false;
    uint64_t limit = size; /* where a higher level starts defining bytes */
    for (int l = (int)v->top; l >= 0; l--) {
        const vf_gen_map *m = &v->plan->lv[l].map;
        size_t *i = &v->idx[l];
        while (*i < m->n && m->v[*i].voff + m->v[*i].len <= v->pos)
            (*i)++; /* positions only grow, so each level's index only moves forward */
        if (*i == m->n)
            continue;
        const vf_gen_ext *e = &m->v[*i];
        if (e->voff <= v->pos) {
            uint64_t end = e->voff + e->len;
            *run = (vf_gen_span){.voff = v->pos,
                                 .len = (end < limit ? end : limit) - v->pos,
                                 .level = l,
                                 .write = e->write,
                                 .zero = e->zero};
            v->pos += run->len;
            return true;
        }
        if (e->voff < limit)
            limit = e->voff;
    }
    *run = (vf_gen_span){.voff = v->pos, .len = limit - v->pos, .level = -1};
    v->pos = limit;
    return true;
}

void vf_gen_view_free(vf_gen_view *v)
{
    free(v->idx);
    v->idx = NULL;
}
