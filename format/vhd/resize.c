/* vhd/resize.c - changing a VHD's virtual size. Dynamic and differencing: growing the table
 * (in place, after resize_move.c moved any block in its way; new entries unused, then the
 * header's entry count, then the footers, each step durable), and shrinking when no
 * allocated block reaches past the new end (the footers, then the count). A reader sees the
 * old or the new size: the trailing footer decides. Fixed VHDs: resize_fixed.c moves the
 * footer. Layer: format/vhd, reached through vf_vhd_driver.resize / resize_check.
 * Spec: docs/formats/vhd.md "Resizing". */
#include <inttypes.h>
#include <string.h>

#include "vhd_int.h"

/* The first allocated block with bytes at or past `end`, or UINT32_MAX. */
static uint32_t vhd_block_past(const vf_vhd *v, uint64_t end)
{
    for (uint32_t i = 0; i < v->entries; i++)
        if (vf_vhd_bat_get(&v->bat, i) != VHD_BAT_UNUSED && (uint64_t)(i + 1) * v->block_size > end)
            return i;
    return UINT32_MAX;
}

/* The refusals, and the entry count the header needs for new_size. */
static vf_status vhd_resize_plan(const vf_vhd *v, uint64_t new_size, uint32_t *entries,
                                 vf_error *err)
{
    uint64_t old = v->footer.current_size;
    if (new_size % VHD_SECTOR || new_size / VHD_SECTOR > VHD_MAX_SECTORS)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "new virtual size %" PRIu64 " must be a multiple of 512 and at most "
                       "2040 GiB",
                       new_size);
    if (v->footer.disk_type == VF_DISK_FIXED)
        return new_size == old ? VF_OK : vf_vhd_fixed_resize_check(v, new_size, err);
    *entries = v->hdr.max_table_entries;
    uint64_t need = (new_size + v->block_size - 1) / v->block_size;
    if (new_size < old && need < *entries)
        *entries = (uint32_t)need; /* the header counts what the smaller disk has */
    uint32_t b = vhd_block_past(v, new_size < old ? new_size : old);
    if (new_size < old && b != UINT32_MAX)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "cannot shrink to %" PRIu64 " bytes: block %" PRIu32 " (bytes %" PRIu64
                       "..%" PRIu64 ") is allocated past the new end",
                       new_size, b, (uint64_t)b * v->block_size, (uint64_t)(b + 1) * v->block_size);
    if (new_size <= old)
        return VF_OK;
    if (b != UINT32_MAX)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "block %" PRIu32 " is allocated and reaches past the old end %" PRIu64
                       "; not growing over it",
                       b, old);
    if (need <= *entries)
        return VF_OK;
    *entries = (uint32_t)need; /* need <= 2040 GiB / 512 bytes: fits */
    return vf_vhd_table_room_check(v, *entries, err);
}

vf_status vf_vhd_resize_check(const vf_image *img, uint64_t new_size, vf_error *err)
{
    uint32_t entries;
    return vhd_resize_plan(img->priv, new_size, &entries, err);
}

static vf_status vhd_put_entries(vf_vhd *v, uint32_t entries, vf_error *err)
{
    vf_vhd_header nh = v->hdr;
    nh.max_table_entries = entries;
    uint8_t raw[VHD_HEADER_SIZE];
    vf_vhd_header_encode(&nh, raw);
    vf_status st = vf_io_write(v->io, raw, sizeof raw, v->footer.data_offset, err);
    return st == VF_OK ? vf_io_sync(v->io, err) : st;
}

/* New entries unused, durable; then the header that counts them, durable. */
static vf_status vhd_grow_table(vf_vhd *v, uint32_t entries, vf_error *err)
{
    uint8_t unused[VHD_SECTOR];
    memset(unused, 0xFF, sizeof unused);
    uint64_t from = (uint64_t)v->hdr.max_table_entries * 4, to = vf_vhd_bat_bytes(entries);
    vf_status st = VF_OK;
    for (uint64_t at = from; st == VF_OK && at < to; at += VHD_SECTOR) {
        size_t n = to - at < VHD_SECTOR ? (size_t)(to - at) : VHD_SECTOR;
        st = vf_io_write(v->io, unused, n, v->hdr.table_offset + at, err);
    }
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    return st == VF_OK ? vhd_put_entries(v, entries, err) : st;
}

/* The trailing footer (what readers go by), durable, then its copy at offset 0. */
static vf_status vhd_put_footers(vf_vhd *v, uint64_t new_size, vf_error *err)
{
    vf_vhd_footer f = v->footer;
    f.current_size = new_size;
    vf_vhd_chs(new_size, &f.cylinders, &f.heads, &f.sectors_per_track);
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&f, raw);
    vf_status st = vf_io_write(v->io, raw, v->footer_len, v->footer_off, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st == VF_OK)
        st = vf_io_write(v->io, raw, VHD_FOOTER_SIZE, 0, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    return st;
}

/* Growing: the table first, then the footers; shrinking: the footers, then the count.
 * Either way a reader meets a table covering at least the size its footer says. */
static vf_status vhd_dynamic_resize(vf_vhd *v, uint64_t new_size, uint32_t entries, vf_error *err)
{
    vf_status st = VF_OK;
    if (entries > v->hdr.max_table_entries &&
        ((st = vf_vhd_table_make_room(v, entries, err)) != VF_OK ||
         (st = vhd_grow_table(v, entries, err)) != VF_OK))
        return st;
    if ((st = vhd_put_footers(v, new_size, err)) != VF_OK)
        return st;
    if (entries < v->hdr.max_table_entries)
        st = vhd_put_entries(v, entries, err);
    return st;
}

vf_status vf_vhd_resize(vf_image *img, uint64_t new_size, vf_error *err)
{
    vf_vhd *v = img->priv;
    uint32_t entries;
    vf_status st = vhd_resize_plan(v, new_size, &entries, err);
    if (st != VF_OK || (new_size == v->footer.current_size && v->footer.disk_type != VF_DISK_FIXED))
        return st;
    if ((st = vf_vhd_flush(img, err)) != VF_OK) /* pending blocks first: the table is final */
        return st;
    st = v->footer.disk_type == VF_DISK_FIXED ? vf_vhd_fixed_resize(v, new_size, err)
                                              : vhd_dynamic_resize(v, new_size, entries, err);
    if (st != VF_OK)
        return st;
    unsigned flags = v->flags; /* re-read the whole state from the file, as an open does */
    vf_vhd_close(img);
    return vf_vhd_open(img, flags, err);
}
