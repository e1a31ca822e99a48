/* vhd/bitmap.c - the per-block sector bitmap: size, MSB-first bit access, runs of equal bits.
 * Layer: format/vhd. Called by vhd.c (map), write.c (setting bits) and check.c.
 * Spec: VHD spec 1.0 "Block Allocation Table and Data Blocks" (docs/formats/vhd.md "Sector
 * bitmap"): sector k of a block is bit 7 - (k mod 8) of byte k / 8. */
#include "vhd_int.h"

uint32_t vf_vhd_bitmap_bytes(uint32_t block_size)
{
    uint32_t spb = block_size / VHD_SECTOR;
    uint32_t raw = (spb + 7) / 8;
    return (raw + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

bool vf_vhd_bitmap_get(const uint8_t *bm, uint32_t k)
{
    return ((unsigned)bm[k / 8] >> (7u - k % 8u)) & 1u;
}

void vf_vhd_bitmap_set(uint8_t *bm, uint32_t first, uint32_t count)
{
    uint32_t k = first, end = first + count;
    while (k < end && k % 8)
        bm[k / 8] |= (uint8_t)(0x80u >> (k % 8)), k++;
    while (end - k >= 8)
        bm[k / 8] = 0xFF, k += 8;
    while (k < end)
        bm[k / 8] |= (uint8_t)(0x80u >> (k % 8)), k++;
}

uint32_t vf_vhd_bitmap_run(const uint8_t *bm, uint32_t k, uint32_t end, bool *bit)
{
    bool b = vf_vhd_bitmap_get(bm, k);
    uint8_t whole = b ? 0xFF : 0x00;
    uint32_t i = k + 1;
    while (i < end) {
        if (i % 8 == 0 && end - i >= 8 && bm[i / 8] == whole) {
            i += 8;
            continue;
        }
        if (vf_vhd_bitmap_get(bm, i) != b)
            break;
        i++;
    }
    *bit = b;
    return i - k;
}

bool vf_vhd_bitmap_padding_dirty(const uint8_t *bm, uint32_t spb, uint32_t bytes)
{
    uint64_t bits = (uint64_t)bytes * 8;
    for (uint64_t k = spb; k < bits; k++) {
        if (k % 8 == 0) {
            for (uint64_t j = k / 8; j < bytes; j++)
                if (bm[j])
                    return true;
            return false;
        }
        if (vf_vhd_bitmap_get(bm, (uint32_t)k))
            return true;
    }
    return false;
}
