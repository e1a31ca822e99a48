/* vhdx/bat.c - the Block Allocation Table: geometry (chunk ratio, entry counts), the table held
 * sparse in memory (4 KiB pages of entries exist only where some entry is non-zero, so memory
 * and the work of map and validation follow the allocated blocks, not the virtual size), its
 * load in large reads, and the validation of every non-zero entry (state per file type,
 * reserved bits, offsets after the header area, inside the file, not overlapping each other or
 * the other structures, a sector-bitmap block for every chunk with a partially present block).
 * Layer: format/vhdx. Called by vhdx.c (open, map), write.c, resize.c, check.c and create.c.
 * Spec: MS-VHDX 2.5; docs/formats/vhdx.md "BAT and chunk ratio".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

#define VX_BAT_READ_CHUNK (64u * VX_KIB) /* bytes read at once by the load (a heap buffer) */

void vf_vhdx_geometry(vx_state *st)
{
    st->chunk_ratio = (VX_SB_BITS * st->lss) / st->block_size; /* both powers of two */
    st->payload_blocks = (st->vsize + st->block_size - 1) / st->block_size;
    st->sb_blocks = (st->payload_blocks + st->chunk_ratio - 1) / st->chunk_ratio;
    if (st->has_parent)
        st->bat_entries = st->sb_blocks * (st->chunk_ratio + 1);
    else
        st->bat_entries = st->payload_blocks + (st->payload_blocks - 1) / st->chunk_ratio;
}

uint64_t vf_vhdx_bat_index(const vx_state *st, uint64_t block)
{
    return block + block / st->chunk_ratio;
}

uint64_t vf_vhdx_sb_index(const vx_state *st, uint64_t chunk)
{
    return chunk * (st->chunk_ratio + 1) + st->chunk_ratio;
}

/* --- the sparse table --- */

static size_t vx_live_words(size_t pages)
{
    return (pages + 63) / 64;
}

vf_status vf_vhdx_bat_grow(vx_state *st, size_t pages, vf_error *err)
{
    size_t old = st->bat_pages;
    if (pages <= old && st->bat_dir)
        return VF_OK;
    uint64_t **dir = realloc(st->bat_dir, (pages ? pages : 1) * sizeof *dir);
    if (!dir)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "growing the BAT directory");
    st->bat_dir = dir;
    memset(dir + old, 0, (pages - old) * sizeof *dir);
    size_t ow = vx_live_words(old), nw = vx_live_words(pages);
    uint64_t *live = realloc(st->bat_live, (nw ? nw : 1) * sizeof *live);
    if (!live)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "growing the BAT directory");
    st->bat_live = live;
    memset(live + ow, 0, (nw - ow) * sizeof *live);
    size_t od = (old + 7) / 8, nd = (pages + 7) / 8;
    uint8_t *dirty = realloc(st->bat_dirty, nd ? nd : 1);
    if (!dirty)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "growing the BAT directory");
    st->bat_dirty = dirty;
    memset(dirty + od, 0, nd - od);
    st->bat_pages = pages;
    return VF_OK;
}

void vf_vhdx_bat_free(vx_state *st)
{
    for (size_t p = 0; st->bat_dir && p < st->bat_pages; p++)
        free(st->bat_dir[p]);
    free(st->bat_dir);
    free(st->bat_live);
    free(st->bat_dirty);
    st->bat_dir = NULL;
    st->bat_live = NULL;
    st->bat_dirty = NULL;
    st->bat_pages = st->bat_held = 0;
}

/* The page of slot p, allocated (all entries zero) when not held yet. */
static vf_status vx_bat_page(vx_state *st, size_t p, uint64_t **out, vf_error *err)
{
    if (!st->bat_dir[p]) {
        st->bat_dir[p] = calloc(VX_BAT_PER_PAGE, sizeof(uint64_t));
        if (!st->bat_dir[p])
            return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off + (uint64_t)p * VX_PAGE,
                                 "allocating a BAT page");
        st->bat_live[p / 64] |= 1ull << (p % 64);
        st->bat_held++;
    }
    *out = st->bat_dir[p];
    return VF_OK;
}

vf_status vf_vhdx_bat_set(vx_state *st, uint64_t i, uint64_t e, vf_error *err)
{
    if (i >= (uint64_t)st->bat_pages * VX_BAT_PER_PAGE)
        return VF_FAIL(err, VF_E_INVAL, st->bat_off,
                       "BAT entry %" PRIu64 " is past the %zu pages held", i, st->bat_pages);
    size_t p = (size_t)(i / VX_BAT_PER_PAGE);
    if (!e && !st->bat_dir[p])
        return VF_OK; /* already zero: a page is only held for non-zero entries */
    uint64_t *pg = NULL;
    vf_status s = vx_bat_page(st, p, &pg, err);
    if (!s)
        pg[i % VX_BAT_PER_PAGE] = e;
    return s;
}

/* The first held slot at or after p, or bat_pages. */
static size_t vx_next_held(vx_state *st, size_t p)
{
    size_t nw = vx_live_words(st->bat_pages);
    size_t w = p / 64;
    if (w >= nw)
        return st->bat_pages;
    uint64_t bits = st->bat_live[w] & (~0ull << (p % 64));
    st->bat_steps++;
    while (!bits) {
        if (++w >= nw)
            return st->bat_pages;
        bits = st->bat_live[w];
        st->bat_steps++;
    }
    size_t k = 0;
    while (!((bits >> k) & 1u))
        k++;
    return w * 64 + k;
}

uint64_t vf_vhdx_bat_next(vx_state *st, uint64_t from, uint64_t end)
{
    uint64_t cap = (uint64_t)st->bat_pages * VX_BAT_PER_PAGE;
    if (end > cap)
        end = cap;
    uint64_t i = from;
    while (i < end) {
        size_t p = (size_t)(i / VX_BAT_PER_PAGE);
        const uint64_t *pg = st->bat_dir[p];
        if (!pg) {
            uint64_t next = (uint64_t)vx_next_held(st, p + 1) * VX_BAT_PER_PAGE;
            i = next;
            continue;
        }
        uint64_t stop = (uint64_t)(p + 1) * VX_BAT_PER_PAGE;
        if (stop > end)
            stop = end;
        for (; i < stop; i++) {
            st->bat_steps++;
            if (pg[i % VX_BAT_PER_PAGE])
                return i;
        }
    }
    return end;
}

/* --- validation --- */

/* One entry alone: state allowed here, reserved bits clear, block inside the file and clear
 * of the header area, log, BAT and metadata regions. */
static vf_status vx_entry_check(const vx_state *st, uint64_t idx, uint64_t e, bool is_sb,
                                uint64_t span, vf_error *err)
{
    uint64_t where = st->bat_off + 8 * idx;
    unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
    if (e & VX_BAT_RESERVED_MASK)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "BAT entry %" PRIu64 " has reserved bits set (0x%016" PRIx64 ")", idx, e);
    bool ok = is_sb ? (state == VX_SB_NOT_PRESENT || (state == VX_SB_PRESENT && st->has_parent))
                    : (state <= 3 || state == 6 || (state == 7 && st->has_parent));
    if (!ok)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "BAT entry %" PRIu64 " (%s) has state %u, invalid in a%s file", idx,
                       is_sb ? "sector bitmap" : "payload", state,
                       st->has_parent ? " differencing" : " non-differencing");
    if (state != 6 && state != 7)
        return VF_OK;
    uint64_t off = e & VX_BAT_OFF_MASK;
    if (off < VX_HEADER_AREA)
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "BAT entry %" PRIu64 " points at %" PRIu64 ", inside the header area", idx,
                       off);
    if (!vf_range_ok(off, span, st->file_size))
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "BAT entry %" PRIu64 " block at %" PRIu64 " (%" PRIu64
                       " bytes) runs past the file end %" PRIu64,
                       idx, off, span, st->file_size);
    const uint64_t fixed[3][2] = {{st->hdr.log_offset, st->hdr.log_length},
                                  {st->bat_off, st->bat_len},
                                  {st->meta_off, st->meta_len}};
    static const char *const names[3] = {"log", "BAT region", "metadata region"};
    for (int k = 0; k < 3; k++)
        if (vf_ranges_overlap(off, span, fixed[k][0], fixed[k][1]))
            return VF_FAIL(err, VF_E_CORRUPT, where,
                           "BAT entry %" PRIu64 " block at %" PRIu64 " overlaps the %s", idx, off,
                           names[k]);
    return VF_OK;
}

/* Bytes of payload block b that carry virtual data (the last block may be short). */
static uint64_t vx_block_span(const vx_state *st, uint64_t b)
{
    uint64_t start = b * st->block_size;
    uint64_t left = st->vsize - start;
    return left < st->block_size ? left : st->block_size;
}

typedef struct vx_span {
    uint64_t off, len, index;
} vx_span;

static int vx_span_cmp(const void *a, const void *b)
{
    const vx_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static bool vx_allocated(uint64_t e)
{
    unsigned s = (unsigned)(e & VX_BAT_STATE_MASK);
    return s == 6 || s == 7;
}

/* No two allocated blocks share a byte: n (the allocated entries) spans sorted by offset. */
static vf_status vx_overlaps(vx_state *st, size_t n, vf_error *err)
{
    if (n < 2)
        return VF_OK;
    vx_span *sp = malloc(n * sizeof *sp); /* bounded by the BAT size */
    if (!sp)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "allocating BAT overlap check");
    size_t k = 0;
    uint64_t cr1 = st->chunk_ratio + 1, end = st->bat_entries;
    for (uint64_t i = vf_vhdx_bat_next(st, 0, end); i < end && k < n;
         i = vf_vhdx_bat_next(st, i + 1, end)) {
        uint64_t e = vf_vhdx_bat_get(st, i);
        if (!vx_allocated(e))
            continue;
        bool is_sb = i % cr1 == st->chunk_ratio;
        sp[k].off = e & VX_BAT_OFF_MASK;
        sp[k].len = is_sb ? VX_MIB : vx_block_span(st, i - i / cr1);
        sp[k++].index = i;
    }
    qsort(sp, k, sizeof *sp, vx_span_cmp);
    vf_status s = VF_OK;
    for (size_t i = 1; i < k && !s; i++)
        if (sp[i - 1].off + sp[i - 1].len > sp[i].off)
            s = VF_FAIL(err, VF_E_CORRUPT, st->bat_off + 8 * sp[i].index,
                        "BAT entry %" PRIu64 " block at %" PRIu64
                        " overlaps the block of entry %" PRIu64,
                        sp[i].index, sp[i].off, sp[i - 1].index);
    free(sp);
    return s;
}

/* Entry i (non-zero) alone, and its chunk's sector bitmap when it is partially present. */
static vf_status vx_entry_validate(vx_state *st, uint64_t i, uint64_t e, vf_error *err)
{
    uint64_t cr1 = st->chunk_ratio + 1;
    bool is_sb = i % cr1 == st->chunk_ratio;
    uint64_t b = i - i / cr1;
    vf_status s = vx_entry_check(st, i, e, is_sb, is_sb ? VX_MIB : vx_block_span(st, b), err);
    if (s || is_sb || (e & VX_BAT_STATE_MASK) != VX_PB_PARTIALLY_PRESENT)
        return s;
    uint64_t sbi = vf_vhdx_sb_index(st, b / st->chunk_ratio);
    if (sbi >= st->bat_entries || (vf_vhdx_bat_get(st, sbi) & VX_BAT_STATE_MASK) != VX_SB_PRESENT)
        return VF_FAIL(err, VF_E_CORRUPT, st->bat_off + 8 * i,
                       "BAT entry %" PRIu64 " (block %" PRIu64
                       ") is partially present but its chunk has no sector bitmap block",
                       i, b);
    return VF_OK;
}

/* Zero entries are NOT_PRESENT with no offset, valid everywhere: only the others are looked
 * at, in index order (the first bad entry is the one reported). */
static vf_status vx_bat_validate(vx_state *st, vf_error *err)
{
    size_t nalloc = 0;
    uint64_t end = st->bat_entries;
    for (uint64_t i = vf_vhdx_bat_next(st, 0, end); i < end; i = vf_vhdx_bat_next(st, i + 1, end)) {
        uint64_t e = vf_vhdx_bat_get(st, i);
        vf_status s = vx_entry_validate(st, i, e, err);
        if (s)
            return s;
        nalloc += vx_allocated(e);
    }
    return vx_overlaps(st, nalloc, err);
}

static bool vx_page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[VX_PAGE];
    return memcmp(p, zero, VX_PAGE) == 0;
}

/* Keep the non-zero pages of n pages read into raw, the first being slot first. */
static vf_status vx_bat_decode(vx_state *st, const uint8_t *raw, size_t first, size_t n,
                               vf_error *err)
{
    for (size_t k = 0; k < n; k++) {
        const uint8_t *src = raw + k * VX_PAGE;
        if (vx_page_is_zero(src))
            continue;
        uint64_t *pg = NULL;
        vf_status s = vx_bat_page(st, first + k, &pg, err);
        if (s)
            return s;
        for (size_t j = 0; j < VX_BAT_PER_PAGE; j++)
            pg[j] = vf_get_le(src + 8 * j, 8);
    }
    return VF_OK;
}

/* The table in reads of VX_BAT_READ_CHUNK; all-zero pages are dropped as they are read. */
static vf_status vx_bat_load(vx_state *st, vf_error *err)
{
    const size_t per = VX_BAT_READ_CHUNK / VX_PAGE;
    uint8_t *raw = malloc(VX_BAT_READ_CHUNK);
    if (!raw)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "allocating a BAT read buffer");
    vf_status s = VF_OK;
    for (size_t p = 0; !s && p < st->bat_pages; p += per) {
        size_t n = st->bat_pages - p < per ? st->bat_pages - p : per;
        s = vf_vhdx_pread(st, raw, n * VX_PAGE, st->bat_off + (uint64_t)p * VX_PAGE, err);
        if (!s)
            s = vx_bat_decode(st, raw, p, n, err);
    }
    free(raw);
    return s;
}

vf_status vf_vhdx_bat_read(vx_state *st, vf_error *err)
{
    vf_vhdx_geometry(st);
    uint64_t need;
    if (vf_mul_u64(st->bat_entries, 8, &need) || need > st->bat_len)
        return VF_FAIL(err, VF_E_CORRUPT, st->bat_off,
                       "BAT region holds %" PRIu64 " bytes, %" PRIu64
                       " entries (chunk ratio %" PRIu64 ") are needed",
                       st->bat_len, st->bat_entries, st->chunk_ratio);
    if (!vf_range_ok(st->bat_off, st->bat_len, st->file_size))
        return VF_FAIL(err, VF_E_TRUNCATED, st->bat_off,
                       "BAT region at %" PRIu64 " runs past the end of the file", st->bat_off);
    /* need <= bat_len <= 4 GiB and inside the file: the directory (8 bytes per 4 KiB page)
     * is file-bounded, and pages are only held where the file has non-zero entries. */
    vf_status s = vf_vhdx_bat_grow(st, (size_t)(vx_align_up(need, VX_PAGE) / VX_PAGE), err);
    if (!s)
        s = vx_bat_load(st, err);
    return s ? s : vx_bat_validate(st, err);
}
