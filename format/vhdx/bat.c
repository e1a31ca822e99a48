/* vhdx/bat.c - the Block Allocation Table: geometry (chunk ratio, entry counts), reading it
 * into memory and validating every entry (state per file type, reserved bits, offsets after
 * the header area, inside the file, not overlapping each other or the other structures, a
 * sector-bitmap block for every chunk with a partially present block).
 * Layer: format/vhdx. Called by vhdx.c (open) and create.c. Spec: MS-VHDX 2.5 via formats.md 3.8.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

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

typedef struct vx_span {
    uint64_t off, len, index;
} vx_span;

static int vx_span_cmp(const void *a, const void *b)
{
    const vx_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* One entry alone: state allowed here, reserved bits clear, block inside the file and clear
 * of the header area, log, BAT and metadata regions. */
static vf_status vx_entry_check(const vx_state *st, uint64_t idx, bool is_sb, uint64_t span,
                                vf_error *err)
{
    uint64_t e = st->bat[idx], where = st->bat_off + 8 * idx;
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

static vf_status vx_overlaps(vx_state *st, vf_error *err)
{
    size_t n = 0;
    for (uint64_t i = 0; i < st->bat_entries; i++) {
        unsigned s = (unsigned)(st->bat[i] & VX_BAT_STATE_MASK);
        n += s == 6 || s == 7;
    }
    if (n < 2)
        return VF_OK;
    vx_span *sp = malloc(n * sizeof *sp); /* bounded by the BAT size */
    if (!sp)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "allocating BAT overlap check");
    size_t k = 0;
    uint64_t cr1 = st->chunk_ratio + 1;
    for (uint64_t i = 0; i < st->bat_entries; i++) {
        unsigned s = (unsigned)(st->bat[i] & VX_BAT_STATE_MASK);
        if (s != 6 && s != 7)
            continue;
        bool is_sb = i % cr1 == st->chunk_ratio;
        uint64_t b = i - i / cr1;
        sp[k].off = st->bat[i] & VX_BAT_OFF_MASK;
        sp[k].len = is_sb ? VX_MIB : vx_block_span(st, b);
        sp[k++].index = i;
    }
    qsort(sp, n, sizeof *sp, vx_span_cmp);
    vf_status s = VF_OK;
    for (size_t i = 1; i < n && !s; i++)
        if (sp[i - 1].off + sp[i - 1].len > sp[i].off)
            s = VF_FAIL(err, VF_E_CORRUPT, st->bat_off + 8 * sp[i].index,
                        "BAT entry %" PRIu64 " block at %" PRIu64
                        " overlaps the block of entry %" PRIu64,
                        sp[i].index, sp[i].off, sp[i - 1].index);
    free(sp);
    return s;
}

static vf_status vx_bat_validate(vx_state *st, vf_error *err)
{
    uint64_t cr1 = st->chunk_ratio + 1;
    for (uint64_t i = 0; i < st->bat_entries; i++) {
        bool is_sb = i % cr1 == st->chunk_ratio;
        uint64_t b = i - i / cr1;
        uint64_t span = is_sb ? VX_MIB : vx_block_span(st, b);
        vf_status s = vx_entry_check(st, i, is_sb, span, err);
        if (s)
            return s;
        if (is_sb || (st->bat[i] & VX_BAT_STATE_MASK) != VX_PB_PARTIALLY_PRESENT)
            continue;
        uint64_t sbi = vf_vhdx_sb_index(st, b / st->chunk_ratio);
        if (sbi >= st->bat_entries || (st->bat[sbi] & VX_BAT_STATE_MASK) != VX_SB_PRESENT)
            return VF_FAIL(err, VF_E_CORRUPT, st->bat_off + 8 * i,
                           "BAT entry %" PRIu64 " (block %" PRIu64
                           ") is partially present but its chunk has no sector bitmap block",
                           i, b);
    }
    return vx_overlaps(st, err);
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
    /* need <= bat_len <= 4 GiB and inside the file: the allocation is file-bounded. */
    st->bat_pages = (size_t)(vx_align_up(need, VX_PAGE) / VX_PAGE);
    size_t alloc_entries = st->bat_pages * (VX_PAGE / 8);
    st->bat = calloc(alloc_entries, 8);
    st->bat_dirty = calloc((st->bat_pages + 7) / 8, 1);
    if (!st->bat || !st->bat_dirty)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "allocating the BAT (%" PRIu64 " bytes)",
                             need);
    uint8_t *raw = malloc(st->bat_pages * VX_PAGE);
    if (!raw)
        return VF_FAIL_ERRNO(err, ENOMEM, st->bat_off, "allocating the BAT");
    vf_status s = vf_vhdx_pread(st, raw, st->bat_pages * VX_PAGE, st->bat_off, err);
    if (!s)
        for (size_t i = 0; i < alloc_entries; i++)
            st->bat[i] = vf_get_le(raw + 8 * i, 8);
    free(raw);
    if (s)
        return s;
    return vx_bat_validate(st, err);
}
