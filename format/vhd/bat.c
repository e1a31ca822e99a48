/* vhd/bat.c - the Block Allocation Table: size, decode, per-sector encode and validation of
 * every allocated entry against the file and the metadata.
 * Layer: format/vhd. Called by vhd.c (open), write.c (publishing entries) and check.c.
 * Spec: VHD spec 1.0 "Block Allocation Table and Data Blocks" (formats.md 2.9). */
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

uint64_t vf_vhd_bat_bytes(uint32_t entries)
{
    uint64_t raw = (uint64_t)entries * 4;
    return (raw + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

void vf_vhd_bat_decode(const uint8_t *buf, uint32_t entries, uint32_t *bat)
{
    for (uint32_t i = 0; i < entries; i++)
        bat[i] = (uint32_t)vf_get_be(buf + (size_t)i * 4, 4);
}

void vf_vhd_bat_encode_sector(const uint32_t *bat, uint32_t entries, uint32_t idx, uint8_t *out)
{
    memset(out, 0xFF, VHD_SECTOR);
    uint64_t first = (uint64_t)idx * (VHD_SECTOR / 4);
    for (uint32_t j = 0; j < VHD_SECTOR / 4 && first + j < entries; j++)
        vf_put_be32(out + j * 4, bat[first + j]);
}

typedef struct vhd_blk {
    uint64_t off;
    uint32_t idx;
} vhd_blk;

static int vhd_blk_cmp(const void *a, const void *b)
{
    const vhd_blk *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Single entries first (cheap, precise messages), then neighbours after sorting by offset. */
vf_status vf_vhd_bat_validate(const uint32_t *bat, uint32_t entries, uint64_t block_total,
                              const vf_vhd_range *meta, size_t nmeta, uint64_t limit, vf_error *err)
{
    uint32_t used = 0;
    for (uint32_t i = 0; i < entries; i++) {
        if (bat[i] == VHD_BAT_UNUSED)
            continue;
        uint64_t off = (uint64_t)bat[i] * VHD_SECTOR;
        if (!vf_range_ok(off, block_total, limit))
            return VF_FAIL(err, VF_E_TRUNCATED, off,
                           "block allocation table: 'entry %u' (sector %u) puts the block at "
                           "%llu..%llu, past the end of data (%llu)",
                           i, bat[i], (unsigned long long)off,
                           (unsigned long long)(off + block_total), (unsigned long long)limit);
        for (size_t m = 0; m < nmeta; m++)
            if (vf_ranges_overlap(off, block_total, meta[m].off, meta[m].len))
                return VF_FAIL(err, VF_E_CORRUPT, off,
                               "block allocation table: 'entry %u' (sector %u) overlaps the %s "
                               "at %llu",
                               i, bat[i], meta[m].what, (unsigned long long)meta[m].off);
        used++;
    }
    if (used < 2)
        return VF_OK;
    /* used <= entries, already bounded by the file size (the BAT fits in the file). */
    vhd_blk *list = malloc((size_t)used * sizeof *list);
    if (!list)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "block allocation table: no memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < entries; i++)
        if (bat[i] != VHD_BAT_UNUSED)
            list[n++] = (vhd_blk){(uint64_t)bat[i] * VHD_SECTOR, i};
    qsort(list, n, sizeof *list, vhd_blk_cmp);
    vf_status st = VF_OK;
    for (uint32_t k = 1; k < n; k++) {
        if (list[k].off < list[k - 1].off + block_total) {
            st = VF_FAIL(err, VF_E_CORRUPT, list[k].off,
                         "block allocation table: 'entry %u' (block at %llu) overlaps 'entry %u' "
                         "(block at %llu)",
                         list[k].idx, (unsigned long long)list[k].off, list[k - 1].idx,
                         (unsigned long long)list[k - 1].off);
            break;
        }
    }
    free(list);
    return st;
}
