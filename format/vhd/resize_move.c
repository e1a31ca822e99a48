/* vhd/resize_move.c - room for a larger block allocation table when a dynamic or differencing
 * VHD grows past what its table can hold in place: every block in the way is copied to the
 * end of the file and its BAT entry pointed at the copy (each step durable, the old disk
 * showing throughout), and the trailing footer moves past the new table's end when the table
 * would reach it. resize.c then writes the new entries into the freed space. Layer:
 * format/vhd. Spec: docs/formats/vhd.md "Resizing". */
#include <inttypes.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

static bool vhd_in_way(const vf_vhd *v, uint32_t i, uint64_t start, uint64_t len)
{
    uint32_t s = vf_vhd_bat_get(&v->bat, i);
    return s != VHD_BAT_UNUSED &&
           vf_ranges_overlap((uint64_t)s * VHD_SECTOR, v->block_total, start, len);
}

vf_status vf_vhd_table_room_check(const vf_vhd *v, uint32_t entries, vf_error *err)
{
    uint64_t start = v->hdr.table_offset, len = vf_vhd_bat_bytes(entries);
    if (vf_ranges_overlap(start, len, v->footer.data_offset, VHD_HEADER_SIZE))
        return VF_FAIL(err, VF_E_UNSUPPORTED, v->footer.data_offset,
                       "growing needs %" PRIu32 " block table entries; the dynamic header lies "
                       "where the larger table would go",
                       entries);
    for (size_t k = 0; k < VHD_LOCATORS; k++)
        if (v->hdr.loc[k].code != VHD_PLAT_NONE && v->hdr.loc[k].len &&
            vf_ranges_overlap(start, len, v->hdr.loc[k].off, v->hdr.loc[k].len))
            return VF_FAIL(err, VF_E_UNSUPPORTED, v->hdr.loc[k].off,
                           "growing needs %" PRIu32 " block table entries; parent locator %zu's "
                           "data lies where the larger table would go (locators are not moved)",
                           entries, k);
    if (v->footer_len != VHD_FOOTER_SIZE || v->footer_off % VHD_SECTOR)
        return VF_FAIL(err, VF_E_UNSUPPORTED, v->footer_off,
                       "growing the block table needs a 512-byte footer on a sector boundary");
    uint64_t end = v->footer_off > start + len ? v->footer_off : start + len;
    for (uint32_t i = vf_vhd_bat_next(&v->bat, 0, v->entries); i < v->entries;
         i = vf_vhd_bat_next(&v->bat, i + 1, v->entries))
        if (vhd_in_way(v, i, start, len))
            end += v->block_total;
    if (end / VHD_SECTOR >= VHD_BAT_UNUSED)
        return VF_FAIL(err, VF_E_LIMIT, v->footer_off,
                       "moving the blocks in the way of the larger table would pass 2 TiB");
    return VF_OK;
}

/* The current footer (old size) at `at`, durable: the new end of the file. A failed or short
 * write is cut back so the old footer ends the file again (best effort). */
static vf_status vhd_move_footer(vf_vhd *v, uint64_t at, vf_error *err)
{
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&v->footer, raw);
    vf_status st = vf_io_write(v->io, raw, sizeof raw, at, err);
    if (st != VF_OK) {
        (void)vf_io_set_size(v->io, v->file_size, NULL);
        return st;
    }
    if ((st = vf_io_sync(v->io, err)) != VF_OK)
        return st;
    v->footer_off = at;
    v->file_size = at + VHD_FOOTER_SIZE;
    return VF_OK;
}

/* A move that failed after its footer went to the new end: the footer back at `at` (where
 * the copy was to start) and the file cut after it, so a rerun finds the file as it was and
 * leaves no orphaned block behind (best effort: the first failure stops the undo). */
static void vhd_unmove_footer(vf_vhd *v, uint64_t at)
{
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&v->footer, raw);
    if (vf_io_write(v->io, raw, sizeof raw, at, NULL) != VF_OK ||
        vf_io_sync(v->io, NULL) != VF_OK ||
        vf_io_set_size(v->io, at + VHD_FOOTER_SIZE, NULL) != VF_OK)
        return;
    v->footer_off = at;
    v->file_size = at + VHD_FOOTER_SIZE;
}

/* The entry of block i pointing at sector `sector`, durable. A failed write puts the old
 * sector back (best effort); *old_back says whether the file's entry is the old one again
 * (written and synced), so the caller may cut away the copy. */
static vf_status vhd_point_entry(vf_vhd *v, uint32_t i, uint32_t sector, bool *old_back,
                                 vf_error *err)
{
    uint32_t old = vf_vhd_bat_get(&v->bat, i), s = i / (VHD_SECTOR / 4);
    uint8_t sec[VHD_SECTOR];
    vf_vhd_bat_set(&v->bat, i, sector);
    vf_vhd_bat_encode_sector(&v->bat, s, sec);
    uint64_t at = v->hdr.table_offset + (uint64_t)s * VHD_SECTOR;
    vf_status st = vf_io_write(v->io, sec, sizeof sec, at, err);
    if (st == VF_OK && (st = vf_io_sync(v->io, err)) == VF_OK)
        return VF_OK;
    vf_vhd_bat_set(&v->bat, i, old);
    vf_vhd_bat_encode_sector(&v->bat, s, sec);
    *old_back =
        vf_io_write(v->io, sec, sizeof sec, at, NULL) == VF_OK && vf_io_sync(v->io, NULL) == VF_OK;
    return st;
}

/* Block i to the end of data: the footer after it first, then the copy, then the entry. On
 * a failure after the footer moved, the footer comes back and the copy is cut off. */
static vf_status vhd_move_block(vf_vhd *v, uint32_t i, vf_error *err)
{
    uint64_t src = (uint64_t)vf_vhd_bat_get(&v->bat, i) * VHD_SECTOR, dst = v->footer_off;
    vf_status st = vhd_move_footer(v, dst + v->block_total, err);
    if (st != VF_OK)
        return st;
    bool old_entry = true; /* the file's entry for i still points at src */
    st = vf_io_copy(v->io, dst, v->io, src, v->block_total, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st == VF_OK)
        st = vhd_point_entry(v, i, (uint32_t)(dst / VHD_SECTOR), &old_entry, err);
    if (st != VF_OK && old_entry)
        vhd_unmove_footer(v, dst);
    return st;
}

vf_status vf_vhd_table_make_room(vf_vhd *v, uint32_t entries, vf_error *err)
{
    uint64_t start = v->hdr.table_offset, len = vf_vhd_bat_bytes(entries);
    vf_status st = VF_OK;
    for (uint32_t i = vf_vhd_bat_next(&v->bat, 0, v->entries); st == VF_OK && i < v->entries;
         i = vf_vhd_bat_next(&v->bat, i + 1, v->entries))
        if (vhd_in_way(v, i, start, len))
            st = vhd_move_block(v, i, err);
    if (st == VF_OK && start + len > v->footer_off)
        st = vhd_move_footer(v, start + len, err);
    return st;
}
