/* vhd/identity.c - changing who a VHD is (set_id: footer unique id) and who its parent is
 * (set_parent: parent id, time stamp, unicode name, locators), both crash-ordered.
 * Layer: format/vhd. Reached through vf_image_set_id / vf_image_set_parent (image.c), used by
 * the merger. Crash behaviour of each step: docs/formats/vhd.md "Identity changes (merger)". */
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

static vf_status vhd_put_footer(vf_vhd *v, uint64_t off, vf_error *err)
{
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&v->footer, raw);
    return vf_io_write(v->io, raw, VHD_FOOTER_SIZE, off, err);
}

/* Trailing footer first, durable; then the copy at 0. A crash between the two leaves a valid
 * EOF footer whose copy differs: VF_OPEN_RECOVER opens it and the next flush repairs it. */
vf_status vf_vhd_set_id(vf_image *img, const uint8_t id[16], vf_error *err)
{
    vf_vhd *v = img->priv;
    vf_vhd_footer old = v->footer;
    memcpy(v->footer.unique_id, id, 16);
    vf_status st = vhd_put_footer(v, v->footer_off, err);
    if (st != VF_OK) {
        /* A short write tore the footer at EOF: put the old one back (best effort). */
        vf_vhd_footer mine = v->footer;
        v->footer = old;
        vhd_put_footer(v, v->footer_off, NULL);
        v->footer = mine;
        return st;
    }
    if ((st = vf_io_sync(v->io, err)) != VF_OK)
        return st;
    v->footer_len = VHD_FOOTER_SIZE;
    if (v->footer_off + VHD_FOOTER_SIZE > v->file_size)
        v->file_size = v->footer_off + VHD_FOOTER_SIZE; /* a legacy 511-byte footer grew */
    if (v->footer.disk_type != VF_DISK_FIXED) {
        if ((st = vhd_put_footer(v, 0, err)) != VF_OK || (st = vf_io_sync(v->io, err)) != VF_OK)
            return st;
        v->copy_differs = false;
        v->footer_dirty = false;
    }
    memcpy(img->info.id, id, 16);
    img->info.file_size = v->file_size;
    return VF_OK;
}

/* Usable bytes of old locator slot i: its reserved space, if that space is clear of every
 * other structure (a producer may have reserved less than it claims). */
static uint64_t vhd_slot_room(const vf_vhd *v, size_t i)
{
    const vf_vhd_ploc *l = &v->hdr.loc[i];
    if (l->code == VHD_PLAT_NONE || l->off % VHD_SECTOR)
        return 0;
    uint64_t room = vf_vhd_ploc_space_bytes(l);
    if (room < l->len || !vf_range_ok(l->off, room, v->data_end))
        return 0;
    vf_vhd_range meta[3 + VHD_LOCATORS];
    vf_vhd_meta_ranges(v, meta);
    for (size_t m = 0; m < 3; m++)
        if (vf_ranges_overlap(l->off, room, meta[m].off, meta[m].len))
            return 0;
    for (size_t j = 0; j < VHD_LOCATORS; j++)
        if (j != i && v->hdr.loc[j].code != VHD_PLAT_NONE &&
            vf_ranges_overlap(l->off, room, v->hdr.loc[j].off, v->hdr.loc[j].len))
            return 0;
    for (uint32_t b = vf_vhd_bat_next(&v->bat, 0, v->entries); b < v->entries;
         b = vf_vhd_bat_next(&v->bat, b + 1, v->entries))
        if (vf_ranges_overlap(l->off, room, (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR,
                              v->block_total))
            return 0;
    return room;
}

/* Place the new locators into old slots' space when every one fits; false otherwise. */
static bool vhd_place_in_old(const vf_vhd *v, vf_vhd_header *nh)
{
    bool used[VHD_LOCATORS] = {false};
    uint64_t off[VHD_LOCATORS], room[VHD_LOCATORS];
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        room[i] = vhd_slot_room(v, i);
    for (size_t n = 0; n < VHD_LOCATORS; n++) {
        if (nh->loc[n].code == VHD_PLAT_NONE)
            continue;
        size_t pick = VHD_LOCATORS;
        for (size_t i = 0; i < VHD_LOCATORS && pick == VHD_LOCATORS; i++)
            if (!used[i] && room[i] >= nh->loc[n].space)
                pick = i;
        if (pick == VHD_LOCATORS)
            return false;
        used[pick] = true;
        off[n] = v->hdr.loc[pick].off;
    }
    for (size_t n = 0; n < VHD_LOCATORS; n++)
        if (nh->loc[n].code != VHD_PLAT_NONE)
            nh->loc[n].off = off[n];
    return true;
}

static vf_status vhd_refresh_text(vf_vhd *v, uint8_t *blobs[VHD_LOCATORS], vf_error *err)
{
    for (size_t i = 0; i < VHD_LOCATORS; i++) {
        free(v->loc_text[i]);
        v->loc_text[i] = NULL;
        if (blobs[i]) {
            vf_status st = vf_vhd_locator_decode(v->hdr.loc[i].code, blobs[i], v->hdr.loc[i].len,
                                                 &v->loc_text[i], err);
            if (st != VF_OK)
                return st;
        }
    }
    size_t cap = VHD_PARENT_NAME_BYTES / 2 * 3 + 1, n;
    if (!v->parent_name && !(v->parent_name = malloc(cap)))
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent name: no memory");
    return vf_utf16_to_utf8(v->hdr.parent_name, VHD_PARENT_NAME_BYTES, true, v->parent_name, cap,
                            &n, err);
}

/* Locator data first (reused slots or fresh space at the end of data), durable; then the
 * whole 1024-byte header in one write, durable. */
vf_status vf_vhd_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err)
{
    vf_vhd *v = img->priv;
    vf_vhd_header nh = v->hdr;
    uint8_t *blobs[VHD_LOCATORS] = {NULL};
    uint64_t end;
    vf_status st = vf_vhd_flush(img, err); /* nothing pending while the layout changes */
    if (st == VF_OK)
        st = vf_vhd_build_link(&nh, link, 0, blobs, &end, err);
    if (st != VF_OK)
        goto out;
    if (!vhd_place_in_old(v, &nh)) {
        uint64_t at;
        if ((st = vf_vhd_alloc_space(v, end, &at, err)) != VF_OK)
            goto out;
        for (size_t i = 0; i < VHD_LOCATORS; i++)
            nh.loc[i].off += nh.loc[i].code != VHD_PLAT_NONE ? at : 0;
    }
    for (size_t i = 0; i < VHD_LOCATORS && st == VF_OK; i++)
        if (blobs[i])
            st = vf_io_write(v->io, blobs[i], nh.loc[i].space, nh.loc[i].off, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    uint8_t raw[VHD_HEADER_SIZE];
    if (st == VF_OK) {
        vf_vhd_header_encode(&nh, raw);
        st = vf_io_write(v->io, raw, VHD_HEADER_SIZE, v->footer.data_offset, err);
        if (st != VF_OK) { /* a short write tore the header: put the old one back */
            vf_vhd_header old = v->hdr;
            vf_vhd_header_encode(&old, raw);
            vf_io_write(v->io, raw, VHD_HEADER_SIZE, v->footer.data_offset, NULL);
        }
    }
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st != VF_OK)
        goto out;
    v->hdr = nh;
    memcpy(img->info.parent_id, nh.parent_id, 16);
    img->info.parent_timestamp = nh.parent_timestamp;
    st = vhd_refresh_text(v, blobs, err);
    if (st == VF_OK)
        st = vf_vhd_flush(img, err); /* gives back space a reservation left unused */
out:
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        free(blobs[i]);
    return st;
}
