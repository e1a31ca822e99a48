/* vhd/repair.c - the VHD repair that cannot lose data: a dynamic or differencing VHD whose
 * trailing footer is missing (the file cut short) or damaged gets it back from the identical
 * copy at offset 0, written after the end of every structure the tables point at; one whose
 * copy at offset 0 differs from a good trailing footer gets the copy rewritten. Anything
 * else that keeps the image from opening is refused as unsafe. Layer: format/vhd, reached
 * through vf_vhd_driver.repair (vf_image_repair). Spec: docs/formats/vhd.md "Repairing the footer".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../endian.h"
#include "vhd_int.h"

typedef struct vhd_rep {
    vf_io *io;
    const char *name;
    uint64_t size;
    uint8_t copy[VHD_FOOTER_SIZE];
    vf_vhd_footer f;
    vf_vhd_header h;
    uint64_t used_end; /* end of the last header, table, locator or block */
} vhd_rep;

static void vhd_rep_end(vhd_rep *r, uint64_t off, uint64_t len)
{
    uint64_t end = off > UINT64_MAX - len ? UINT64_MAX : off + len; /* hostile offsets */
    if (end > r->used_end)
        r->used_end = end;
}

/* The trailing sector holds a footer that parses: the trouble is elsewhere. */
static bool vhd_rep_tail_ok(vhd_rep *r, vf_error *why)
{
    uint8_t tail[VHD_FOOTER_SIZE];
    vf_vhd_footer f;
    if (r->size < VHD_FOOTER_SIZE ||
        vf_io_read(r->io, tail, sizeof tail, r->size - VHD_FOOTER_SIZE, why) != VF_OK)
        return false;
    if (memcmp(tail, "conectix", 8) != 0 && memcmp(tail + 1, "conectix", 8) == 0)
        return true; /* a legacy 511-byte footer: not ours to touch */
    return vf_vhd_footer_parse(tail, &f, false, why) == VF_OK;
}

/* The end of every structure the header and BAT point at; false (with why) when the tables
 * themselves are unreadable. */
static bool vhd_rep_used_end(vhd_rep *r, char *why, size_t why_len)
{
    uint8_t hb[VHD_HEADER_SIZE];
    vf_error e;
    if (vf_io_read(r->io, hb, sizeof hb, r->f.data_offset, &e) != VF_OK ||
        vf_vhd_header_parse(hb, &r->h, false, &e) != VF_OK) {
        snprintf(why, why_len, "the dynamic header at %llu is unreadable: %.400s",
                 (unsigned long long)r->f.data_offset, e.msg);
        return false;
    }
    r->used_end = VHD_FOOTER_SIZE;
    vhd_rep_end(r, r->f.data_offset, VHD_HEADER_SIZE);
    uint64_t bat_len = vf_vhd_bat_bytes(r->h.max_table_entries);
    vhd_rep_end(r, r->h.table_offset, bat_len);
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        if (r->h.loc[i].code != VHD_PLAT_NONE && r->h.loc[i].len)
            vhd_rep_end(r, r->h.loc[i].off, r->h.loc[i].len);
    if (r->h.table_offset > r->size || bat_len > r->size - r->h.table_offset) {
        snprintf(why, why_len,
                 "the block allocation table at %llu (%llu bytes) lies past the "
                 "end of the file (%llu)",
                 (unsigned long long)r->h.table_offset, (unsigned long long)bat_len,
                 (unsigned long long)r->size);
        return false;
    }
    uint8_t *bat = malloc(bat_len ? bat_len : 1);
    if (!bat || vf_io_read(r->io, bat, bat_len, r->h.table_offset, &e) != VF_OK) {
        snprintf(why, why_len, "the block allocation table is unreadable: %.400s",
                 bat ? e.msg : "out of memory");
        free(bat);
        return false;
    }
    uint64_t block = vf_vhd_bitmap_bytes(r->h.block_size) + (uint64_t)r->h.block_size;
    for (uint32_t i = 0; i < r->h.max_table_entries; i++) {
        uint32_t s = (uint32_t)vf_get_be(bat + (size_t)i * 4, 4);
        if (s != UINT32_MAX)
            vhd_rep_end(r, (uint64_t)s * VHD_SECTOR, block);
    }
    free(bat);
    return true;
}

static vf_status vhd_rep_opens(vf_io *io, const char *name, vf_error *why)
{
    vf_image *img;
    vf_status st = vf_image_open(io, name, 0, &img, why);
    vf_image_close(img);
    return st;
}

/* The trailing footer is good but the image does not open: when the copy at offset 0 differs
 * from it and the image opens with the trailing footer copied there, the copy is rewritten.
 * The trailing footer is authoritative: readers go by it, and every writer (resize, set_id,
 * set_parent) makes it durable before it writes the copy, so the copy is at worst one step
 * behind. Anything else: refused with the open's error. */
static vf_status vhd_rep_copy(vhd_rep *r, bool apply, const vf_error *failed, vf_repair_plan *plan,
                              vf_error *err)
{
    uint8_t tail[VHD_FOOTER_SIZE];
    vf_vhd_footer f;
    vf_error e;
    vf_io *view;
    if (vf_io_read(r->io, tail, sizeof tail, r->size - VHD_FOOTER_SIZE, &e) != VF_OK ||
        memcmp(tail, "conectix", 8) != 0 || vf_vhd_footer_parse(tail, &f, false, &e) != VF_OK ||
        (f.disk_type != VF_DISK_DYNAMIC && f.disk_type != VF_DISK_DIFF) ||
        r->size < 2 * VHD_FOOTER_SIZE ||
        vf_io_read(r->io, r->copy, sizeof r->copy, 0, &e) != VF_OK ||
        memcmp(r->copy, tail, sizeof tail) == 0) {
        vf_repair_refuse(plan, "%s", failed->msg);
        return VF_OK;
    }
    vf_status st = vf_io_with_head(r->io, tail, &view, err);
    if (st != VF_OK)
        return st;
    if (vhd_rep_opens(view, r->name, &e) != VF_OK) {
        vf_repair_refuse(plan, "%s", failed->msg);
        return VF_OK;
    }
    vf_repair_add(plan,
                  "'%s': write the trailing footer over the copy at offset 0 (the copies "
                  "differ, e.g. after a crash between a resize's or an identity change's two "
                  "footer writes; the trailing footer is the one written first)",
                  r->name);
    if (!apply)
        return VF_OK;
    if ((st = vf_io_write(r->io, tail, sizeof tail, 0, err)) != VF_OK ||
        (st = vf_io_sync(r->io, err)) != VF_OK)
        return st;
    vf_io *b;
    if ((st = vf_io_borrow(r->io, &b, err)) != VF_OK)
        return st;
    if (vhd_rep_opens(b, r->name, &e) != VF_OK)
        return VF_FAIL(err, VF_E_CORRUPT, 0, "'%s': still does not open after the repair: %s",
                       r->name, e.msg);
    return VF_OK;
}

/* Plan (and make) the footer restore; the image failed to open with `why`. */
static vf_status vhd_rep_footer(vhd_rep *r, bool apply, const vf_error *failed,
                                vf_repair_plan *plan, vf_error *err)
{
    vf_error e;
    if (vhd_rep_tail_ok(r, &e))
        return vhd_rep_copy(r, apply, failed, plan, err);
    char tail_why[VF_ERROR_MSG_MAX];
    snprintf(tail_why, sizeof tail_why, "%s", e.msg);
    if (r->size < VHD_FOOTER_SIZE || vf_io_read(r->io, r->copy, sizeof r->copy, 0, &e) != VF_OK ||
        vf_vhd_footer_parse(r->copy, &r->f, false, &e) != VF_OK ||
        (r->f.disk_type != VF_DISK_DYNAMIC && r->f.disk_type != VF_DISK_DIFF)) {
        vf_repair_refuse(plan,
                         "'%s': the trailing footer is not valid and there is no good "
                         "copy at offset 0 to restore it from (%s)",
                         r->name, failed->msg);
        return VF_OK;
    }
    char why[VF_ERROR_MSG_MAX];
    if (!vhd_rep_used_end(r, why, sizeof why)) {
        vf_repair_refuse(plan, "'%s': %s", r->name, why);
        return VF_OK;
    }
    if (r->size < r->used_end) {
        vf_repair_refuse(plan,
                         "'%s': the file ends at %llu but its tables point up to %llu: "
                         "data is missing, not only the footer",
                         r->name, (unsigned long long)r->size, (unsigned long long)r->used_end);
        return VF_OK;
    }
    bool cut = r->size < r->used_end + VHD_FOOTER_SIZE;
    uint64_t at = cut ? r->used_end : r->size - VHD_FOOTER_SIZE;
    vf_io *view;
    vf_status st = vf_io_with_tail(r->io, at, r->copy, &view, err);
    if (st != VF_OK)
        return st;
    if (vhd_rep_opens(view, r->name, &e) != VF_OK) {
        vf_repair_refuse(plan,
                         "'%s': restoring the footer from the copy at offset 0 would not "
                         "give an image that opens: %s",
                         r->name, e.msg);
        return VF_OK;
    }
    vf_repair_add(plan,
                  "'%s': write the footer copy from offset 0 as the trailing footer at "
                  "offset %llu (%s)",
                  r->name, (unsigned long long)at,
                  cut ? "the file is cut short: the trailing footer is missing" : tail_why);
    if (!apply)
        return VF_OK;
    if ((st = vf_io_write(r->io, r->copy, sizeof r->copy, at, err)) != VF_OK ||
        (st = vf_io_sync(r->io, err)) != VF_OK)
        return st;
    vf_io *b;
    if ((st = vf_io_borrow(r->io, &b, err)) != VF_OK)
        return st;
    if (vhd_rep_opens(b, r->name, &e) != VF_OK)
        return VF_FAIL(err, VF_E_CORRUPT, at, "'%s': still does not open after the repair: %s",
                       r->name, e.msg);
    return VF_OK;
}

vf_status vf_vhd_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                        vf_error *err)
{
    vhd_rep r;
    memset(&r, 0, sizeof r);
    r.io = io;
    r.name = name;
    vf_status st = vf_io_size(io, &r.size, err);
    if (st != VF_OK)
        return st;
    vf_io *b;
    if ((st = vf_io_borrow(io, &b, err)) != VF_OK)
        return st;
    vf_error failed;
    st = vhd_rep_opens(b, name, &failed);
    if (st == VF_OK)
        return VF_OK; /* nothing to repair */
    if (st == VF_E_IO || st == VF_E_NOMEM) {
        *err = failed;
        return st;
    }
    return vhd_rep_footer(&r, apply, &failed, plan, err);
}
