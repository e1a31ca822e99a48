/* vhdx/bitmap.c - sector-bitmap blocks: the bits of one payload block (LSB first, cached for
 * map()) and setting bits for newly written sectors of a partially present block (the
 * changed 4 KiB pages wait in the overlay until flush publishes them through the log).
 * Layer: format/vhdx. Called by vhdx.c (map) and write.c. Spec: docs/formats/vhdx.md "Sector-bitmap
 * blocks". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

/* File offset of block's first bitmap byte, and how many bytes it has. */
static vf_status vx_sb_where(const vx_state *st, uint64_t block, uint64_t *off, size_t *bytes,
                             vf_error *err)
{
    uint64_t sbi = vf_vhdx_sb_index(st, block / st->chunk_ratio);
    uint64_t e = sbi < st->bat_entries ? vf_vhdx_bat_get(st, sbi) : 0;
    if ((e & VX_BAT_STATE_MASK) != VX_SB_PRESENT)
        return VF_FAIL(err, VF_E_CORRUPT, st->bat_off + 8 * sbi,
                       "block %" PRIu64 " is partially present but has no sector bitmap block",
                       block);
    *bytes = st->block_size / st->lss / 8; /* 32 .. 65536 */
    *off = (e & VX_BAT_OFF_MASK) + (block % st->chunk_ratio) * *bytes;
    return VF_OK;
}

vf_status vf_vhdx_sb_bits(vx_state *st, uint64_t block, const uint8_t **bits, vf_error *err)
{
    if (st->sb.block == block && st->sb.bits) {
        *bits = st->sb.bits;
        return VF_OK;
    }
    uint64_t off = 0;
    size_t bytes = 0;
    vf_status s = vx_sb_where(st, block, &off, &bytes, err);
    if (s)
        return s;
    if (st->sb.bytes != bytes) {
        free(st->sb.bits);
        st->sb.bits = malloc(bytes);
        st->sb.bytes = st->sb.bits ? bytes : 0;
        if (!st->sb.bits)
            return VF_FAIL_ERRNO(err, ENOMEM, off, "allocating a sector bitmap");
    }
    st->sb.block = UINT64_MAX;
    if ((s = vf_vhdx_pread(st, st->sb.bits, bytes, off, err)))
        return s;
    st->sb.block = block;
    *bits = st->sb.bits;
    return VF_OK;
}

vf_status vf_vhdx_sb_set(vx_state *st, uint64_t block, uint64_t first_sector, uint64_t nsectors,
                         vf_error *err)
{
    uint64_t off = 0;
    size_t bytes = 0;
    vf_status s = vx_sb_where(st, block, &off, &bytes, err);
    if (s)
        return s;
    st->sb.block = UINT64_MAX; /* the cache is stale from here on */
    uint8_t page[VX_PAGE];
    uint64_t cur_page = UINT64_MAX;
    for (uint64_t k = first_sector; k < first_sector + nsectors; k++) {
        uint64_t byte_off = off + k / 8, pg = byte_off / VX_PAGE * VX_PAGE;
        if (pg != cur_page) {
            if (cur_page != UINT64_MAX &&
                (s = vf_vhdx_overlay_add(st, cur_page, VX_PAGE, page, true, err)))
                return s;
            if ((s = vf_vhdx_pread(st, page, VX_PAGE, pg, err)))
                return s;
            cur_page = pg;
        }
        page[byte_off - pg] |= (uint8_t)(1u << (k % 8));
    }
    if (cur_page != UINT64_MAX)
        s = vf_vhdx_overlay_add(st, cur_page, VX_PAGE, page, true, err);
    return s;
}
