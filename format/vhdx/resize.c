/* vhdx/resize.c - changing a VHDX's virtual size. Growing (the merger needs it when SOURCE is
 * larger than DESTINATION): the Virtual Disk Size metadata item and the new BAT entries are
 * published through the log in one flush, after the data that the new size exposes is
 * durable. Shrinking, when nothing is allocated past the new end: the size item and the
 * emptied entries past it, through the log in one flush.
 * Layer: format/vhdx. Called through vf_vhdx_driver.resize (vf_image_resize).
 * Spec: docs/formats/vhdx.md "Growing the virtual size", "BAT and chunk ratio". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

static const uint8_t vx_zero_buf[64 * 1024];

/* The size is acceptable and the BAT region holds every entry it needs (we never move the
 * BAT: that would need a region-table rewrite, which the log cannot carry). */
static vf_status vx_resize_check(const vx_state *st, uint64_t new_size, vx_state *g, vf_error *err)
{
    if (new_size % st->lss || new_size > VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "new virtual size %" PRIu64 " must be a multiple of the %" PRIu32
                       "-byte sector and at most 64 TiB",
                       new_size, st->lss);
    memset(g, 0, sizeof *g);
    g->lss = st->lss;
    g->block_size = st->block_size;
    g->has_parent = st->has_parent;
    g->vsize = new_size;
    vf_vhdx_geometry(g);
    if (new_size > st->vsize && g->bat_entries > st->bat_len / 8)
        return VF_FAIL(err, VF_E_UNSUPPORTED, st->bat_off,
                       "growing to %" PRIu64 " bytes needs %" PRIu64
                       " BAT entries; the BAT region holds %" PRIu64
                       " (relocating the BAT is not supported)",
                       new_size, g->bat_entries, st->bat_len / 8);
    return VF_OK;
}

/* A short old last block that is partially present must mark no sector past the old end
 * as present (those bytes would appear): refused otherwise, before anything is written. */
static vf_status vx_tail_bits_check(vx_state *st, vf_error *err)
{
    uint64_t in = st->vsize % st->block_size, b = st->vsize / st->block_size;
    if (in == 0 || (vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, b)) & VX_BAT_STATE_MASK) !=
                       VX_PB_PARTIALLY_PRESENT)
        return VF_OK;
    const uint8_t *bits;
    vf_status s = vf_vhdx_sb_bits(st, b, &bits, err);
    for (uint64_t k = in / st->lss; !s && k < st->block_size / st->lss; k++)
        if (vx_bit(bits, k))
            return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                           "block %" PRIu64 " marks sector %" PRIu64
                           " past the virtual size as present; not growing over it",
                           b, k);
    return s;
}

/* A short old last block that is fully present: the bytes past the old end become visible,
 * so they are zeroed (data, durable before the metadata that exposes them). */
static vf_status vx_old_tail(vx_state *st, vf_error *err)
{
    uint64_t in = st->vsize % st->block_size;
    uint64_t e = vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, st->vsize / st->block_size));
    if (in == 0 || (e & VX_BAT_STATE_MASK) != VX_PB_FULLY_PRESENT)
        return VF_OK;
    uint64_t off = (e & VX_BAT_OFF_MASK) + in, end = (e & VX_BAT_OFF_MASK) + st->block_size;
    uint64_t real;
    vf_status s = vf_io_size(st->io, &real, err);
    if (!s && end > real) /* writers may stop the last block at the old end */
        s = vf_io_set_size(st->io, end, err);
    for (; !s && off < end; off += sizeof vx_zero_buf) {
        uint64_t n = end - off < sizeof vx_zero_buf ? end - off : sizeof vx_zero_buf;
        s = vf_vhdx_pwrite(st, vx_zero_buf, (size_t)n, off, err);
    }
    if (!s && end > st->file_size)
        st->file_size = end;
    if (!s && end > st->alloc_next)
        st->alloc_next = vx_align_up(end, VX_MIB);
    return s;
}

/* Make room in memory for the new entry count (whole 4 KiB pages, as bat.c reads them; the
 * new slots hold no page: their entries read as zero). */
static vf_status vx_bat_grow(vx_state *st, uint64_t entries, vf_error *err)
{
    return vf_vhdx_bat_grow(st, (size_t)(vx_align_up(entries * 8, VX_PAGE) / VX_PAGE), err);
}

/* Entries [from, to) become zero in memory and every page they touch is marked for the log
 * (the bytes on disk past the old entries may be anything): a step per page, not per entry. */
static vf_status vx_zero_entries(vx_state *st, uint64_t from, uint64_t to, vf_error *err)
{
    for (uint64_t i = vf_vhdx_bat_next(st, from, to); i < to; i = vf_vhdx_bat_next(st, i + 1, to)) {
        vf_status s = vf_vhdx_bat_set(st, i, 0, err);
        if (s)
            return s;
    }
    for (uint64_t p = from / VX_BAT_PER_PAGE; from < to && p <= (to - 1) / VX_BAT_PER_PAGE; p++)
        vf_vhdx_bat_mark(st, p * VX_BAT_PER_PAGE);
    return VF_OK;
}

/* New entries: NOT_PRESENT (dynamic, differencing: zeros or the parent show through), or for
 * fixed files new blocks allocated at the end of the file (they read as zeros). */
static vf_status vx_new_entries(vx_state *st, const vx_state *g, vf_error *err)
{
    uint64_t first = st->payload_blocks; /* a short old last block is already allocated */
    vf_status s = vx_zero_entries(st, st->bat_entries, g->bat_entries, err);
    if (s)
        return s;
    bool fixed = !st->has_parent && (st->fp_flags & VX_FP_LEAVE_ALLOCATED);
    for (uint64_t b = first; fixed && b < g->payload_blocks; b++) {
        uint64_t off, next;
        if (vf_add_u64(st->alloc_next, st->block_size, &next) || next > 2 * VX_MAX_VSIZE)
            return VF_FAIL(err, VF_E_LIMIT, st->alloc_next, "the file cannot grow any further");
        off = st->alloc_next;
        st->alloc_next = next;
        uint64_t idx = b + b / st->chunk_ratio;
        if ((s = vf_vhdx_bat_set(st, idx, off | VX_PB_FULLY_PRESENT, err)))
            return s;
        st->nalloc++;
        vf_vhdx_bat_mark(st, idx);
    }
    if (fixed && st->alloc_next > st->file_size) {
        if ((s = vf_io_set_size(st->io, st->alloc_next, err)))
            return s;
        st->file_size = st->alloc_next;
    }
    return VF_OK;
}

static vf_status vx_stage_size(vx_state *st, uint64_t new_size, vf_error *err)
{
    for (uint32_t i = 0; i < st->nitems; i++) {
        if (memcmp(st->items[i].id, vx_guid_vdisk_size, 16) != 0 ||
            (st->items[i].flags & VX_MD_IS_USER))
            continue;
        uint8_t v[8];
        vf_put_le64(v, new_size);
        return vf_vhdx_stage(st, st->meta_off + st->items[i].off, v, sizeof v, err);
    }
    return VF_FAIL(err, VF_E_CORRUPT, st->meta_off, "no Virtual Disk Size metadata item");
}

/* Shrinking: the block holding the new end keeps nothing past it (partially present: no
 * sector past it marked present; fully present: the bytes past it, up to the old end, read as
 * zeros), and no block wholly past it nor the sector bitmap of a chunk wholly past it is
 * allocated. Reads are bounded by one block. */
static vf_status vx_shrink_check(vx_state *st, const vx_state *g, vf_error *err)
{
    uint64_t n = g->vsize, in = n % st->block_size, b = n / st->block_size;
    uint64_t e = in ? vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, b)) : 0;
    vf_status s = VF_OK;
    if ((e & VX_BAT_STATE_MASK) == VX_PB_PARTIALLY_PRESENT) {
        const uint8_t *bits;
        s = vf_vhdx_sb_bits(st, b, &bits, err);
        for (uint64_t k = in / st->lss; !s && k < st->block_size / st->lss; k++)
            if (vx_bit(bits, k))
                return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                               "cannot shrink to %" PRIu64 " bytes: block %" PRIu64
                               " holds sector %" PRIu64 " past the new end",
                               n, b, k);
    } else if ((e & VX_BAT_STATE_MASK) == VX_PB_FULLY_PRESENT) {
        uint64_t end = st->vsize < (b + 1) * st->block_size ? st->vsize : (b + 1) * st->block_size;
        uint8_t buf[4096];
        for (uint64_t at = n; !s && at < end; at += sizeof buf) {
            size_t len = end - at < sizeof buf ? (size_t)(end - at) : sizeof buf;
            s = vf_vhdx_pread(st, buf, len, (e & VX_BAT_OFF_MASK) + (at - b * st->block_size), err);
            for (size_t i = 0; !s && i < len; i++)
                if (buf[i])
                    return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                                   "cannot shrink to %" PRIu64 " bytes: byte %" PRIu64
                                   " past the new end is not zero (block %" PRIu64 ")",
                                   n, at + i, b);
        }
    }
    for (uint64_t k = g->payload_blocks; !s && k < st->payload_blocks; k++) {
        uint64_t st8 = vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, k)) & VX_BAT_STATE_MASK;
        if (st8 == VX_PB_FULLY_PRESENT || st8 == VX_PB_PARTIALLY_PRESENT)
            return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                           "cannot shrink to %" PRIu64 " bytes: block %" PRIu64 " (bytes %" PRIu64
                           "..%" PRIu64 ") is allocated past the new end",
                           n, k, k * st->block_size, (k + 1) * st->block_size);
    }
    for (uint64_t c = g->sb_blocks; !s && c < st->sb_blocks; c++) {
        uint64_t i = vf_vhdx_sb_index(st, c);
        if (i < st->bat_entries && (vf_vhdx_bat_get(st, i) & VX_BAT_STATE_MASK) == VX_SB_PRESENT)
            return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                           "cannot shrink to %" PRIu64 " bytes: the sector bitmap of chunk %" PRIu64
                           " (past the new end) is allocated",
                           n, c);
    }
    return s;
}

/* Entries of blocks past the new end, and sector bitmap entries of chunks past it, become
 * NOT_PRESENT (none is allocated: vx_shrink_check), so a later grow finds them empty. */
static vf_status vx_shrink_entries(vx_state *st, const vx_state *g, vf_error *err)
{
    uint64_t keep_sb = g->sb_blocks ? vf_vhdx_sb_index(st, g->sb_blocks - 1) : UINT64_MAX;
    uint64_t from = vf_vhdx_bat_index(st, g->payload_blocks), to = st->bat_entries;
    for (uint64_t i = vf_vhdx_bat_next(st, from, to); i < to; i = vf_vhdx_bat_next(st, i + 1, to)) {
        if (i == keep_sb)
            continue;
        vf_status s = vf_vhdx_bat_set(st, i, 0, err);
        if (s)
            return s;
        vf_vhdx_bat_mark(st, i);
    }
    return VF_OK;
}

static vf_status vx_check_any(vx_state *st, uint64_t new_size, vx_state *g, vf_error *err)
{
    vf_status s = vx_resize_check(st, new_size, g, err);
    if (s)
        return s;
    return new_size < st->vsize ? vx_shrink_check(st, g, err) : vx_tail_bits_check(st, err);
}

vf_status vf_vhdx_resize_check(const vf_image *img, uint64_t new_size, vf_error *err)
{
    vx_state g;
    return vx_check_any(vx_st(img), new_size, &g, err);
}

/* The emptied entries and the size item through the log in one flush; the BAT keeps the pages
 * it holds (flush writes every dirty one, past the new entry count too). */
static vf_status vx_shrink(vf_image *img, vx_state *st, const vx_state *g, vf_error *err)
{
    vf_status s;
    if ((s = vf_vhdx_begin_modify(st, true, img, err)) || (s = vx_shrink_entries(st, g, err)) ||
        (s = vx_stage_size(st, g->vsize, err)))
        return s;
    st->vsize = g->vsize;
    st->payload_blocks = g->payload_blocks;
    st->sb_blocks = g->sb_blocks;
    st->bat_entries = g->bat_entries;
    if ((s = vf_vhdx_flush(img, err)))
        return s;
    vf_vhdx_fill_info(img);
    return VF_OK;
}

vf_status vf_vhdx_resize(vf_image *img, uint64_t new_size, vf_error *err)
{
    vx_state *st = vx_st(img);
    vx_state g;
    vf_status s = vx_check_any(st, new_size, &g, err);
    if (s || new_size == st->vsize)
        return s; /* refusals (VF_E_UNSUPPORTED, VF_E_INVAL) come before any write */
    /* The size is user-visible: new FileWriteGuid and DataWriteGuid on an opened file. */
    if (new_size < st->vsize)
        return vx_shrink(img, st, &g, err);
    if ((s = vf_vhdx_begin_modify(st, true, img, err)) || (s = vx_old_tail(st, err)) ||
        (s = vx_bat_grow(st, g.bat_entries, err)) || (s = vx_new_entries(st, &g, err)) ||
        (s = vx_stage_size(st, new_size, err)))
        return s;
    st->vsize = new_size;
    st->payload_blocks = g.payload_blocks;
    st->sb_blocks = g.sb_blocks;
    st->bat_entries = g.bat_entries;
    /* data durable, then BAT pages and the size item through the log (size item last) */
    if ((s = vf_vhdx_flush(img, err)))
        return s;
    vf_vhdx_fill_info(img);
    return VF_OK;
}
