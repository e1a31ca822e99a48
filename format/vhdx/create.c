/* vhdx/create.c - creating fixed, dynamic and differencing VHDX files: layout (header area,
 * 1 MiB log at 1 MiB, 1 MiB metadata region at 2 MiB, BAT at 3 MiB, data after it), both
 * headers, both region tables, the system metadata items and the parent locator. The new file
 * is then opened through the ordinary open path, which validates what was written.
 * Layer: format/vhdx. Called through vf_vhdx_driver.create. Spec: docs/formats/vhdx.md "Layout",
 * "On-disk structures". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

#define VX_CREATE_LOG_OFF (1ull * VX_MIB)
#define VX_CREATE_META_OFF (2ull * VX_MIB)
#define VX_CREATE_BAT_OFF (3ull * VX_MIB)
#define VX_ITEMS_OFF (64u * VX_KIB)
#define VX_LOCATOR_OFF (128u * VX_KIB)

static vf_status vx_opts_check(const vf_create_opts *o, uint32_t *bs, uint32_t *lss, uint32_t *pss,
                               vf_error *err)
{
    *bs = o->block_size ? o->block_size : VX_DEFAULT_BLOCK;
    *lss = o->logical_sector_size ? o->logical_sector_size : 512;
    *pss = o->physical_sector_size ? o->physical_sector_size : *lss;
    if (!vf_is_pow2(*bs) || *bs < VX_MIN_BLOCK || *bs > VX_MAX_BLOCK)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "VHDX block size %" PRIu32 " is not a power of two in 1..256 MiB", *bs);
    if ((*lss != 512 && *lss != 4096) || (*pss != 512 && *pss != 4096))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "VHDX sector sizes must be 512 or 4096");
    if (!o->virtual_size || o->virtual_size % *lss || o->virtual_size > VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "VHDX virtual size %" PRIu64
                       " must be non-zero, a multiple of the sector size and at most 64 TiB",
                       o->virtual_size);
    if (o->type != VF_DISK_FIXED && o->type != VF_DISK_DYNAMIC && o->type != VF_DISK_DIFF)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "unknown disk type %d", (int)o->type);
    if (o->type == VF_DISK_DIFF && !o->parent)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "a differencing image needs a parent");
    return VF_OK;
}

static void vx_put_entry(uint8_t *tab, unsigned i, const uint8_t *id, uint32_t off, uint32_t len,
                         uint32_t flags)
{
    uint8_t *e = tab + 32 + 32 * i;
    memcpy(e, id, 16);
    vf_put_le32(e + 16, off);
    vf_put_le32(e + 20, len);
    vf_put_le32(e + 24, flags);
}

/* The 1 MiB metadata region: table, the five system items, the locator for a child. */
static vf_status vx_metadata_build(const vf_create_opts *o, uint32_t bs, uint32_t lss, uint32_t pss,
                                   uint8_t *m, vf_error *err)
{
    memcpy(m, "metadata", 8);
    uint8_t page83[16];
    memcpy(page83, o->page83, 16);
    vf_status s = VF_OK;
    if (vx_guid_is_zero(page83) && (s = vf_random_id(page83, err)))
        return s;
    uint32_t fp = o->type == VF_DISK_FIXED  ? VX_FP_LEAVE_ALLOCATED
                  : o->type == VF_DISK_DIFF ? VX_FP_HAS_PARENT
                                            : 0;
    uint8_t *it = m + VX_ITEMS_OFF;
    vf_put_le32(it, bs);
    vf_put_le32(it + 4, fp);
    vf_put_le64(it + 8, o->virtual_size);
    memcpy(it + 16, page83, 16);
    vf_put_le32(it + 32, lss);
    vf_put_le32(it + 36, pss);
    const uint32_t vd = VX_MD_IS_VIRTUAL_DISK | VX_MD_IS_REQUIRED;
    vx_put_entry(m, 0, vx_guid_file_params, VX_ITEMS_OFF, 8, VX_MD_IS_REQUIRED);
    vx_put_entry(m, 1, vx_guid_vdisk_size, VX_ITEMS_OFF + 8, 8, vd);
    vx_put_entry(m, 2, vx_guid_page83, VX_ITEMS_OFF + 16, 16, vd);
    vx_put_entry(m, 3, vx_guid_lss, VX_ITEMS_OFF + 32, 4, vd);
    vx_put_entry(m, 4, vx_guid_pss, VX_ITEMS_OFF + 36, 4, vd);
    uint16_t count = 5;
    if (o->type == VF_DISK_DIFF) {
        uint8_t *loc;
        uint32_t len;
        if ((s = vf_vhdx_link_encode(o->parent, &loc, &len, err)))
            return s;
        if (len > VX_MIB - VX_LOCATOR_OFF) {
            free(loc);
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "parent locator is too large");
        }
        memcpy(m + VX_LOCATOR_OFF, loc, len);
        free(loc);
        vx_put_entry(m, 5, vx_guid_parent_locator, VX_LOCATOR_OFF, len, VX_MD_IS_REQUIRED);
        count = 6;
    }
    vf_put_le16(m + 10, count);
    return VF_OK;
}

static vf_status vx_write_layout(vf_image *img, const vf_create_opts *o, vx_state *g, uint8_t *buf,
                                 vf_error *err)
{
    vf_io *io = img->io;
    uint64_t data_start = VX_CREATE_BAT_OFF + g->bat_len;
    uint64_t end = data_start;
    if (o->type == VF_DISK_FIXED)
        end += g->payload_blocks * g->block_size;
    vf_status s = vf_io_set_size(io, end, err);
    /* headers: sequence 1 in slot 0, 2 in slot 1 (current) */
    vx_header h = {.version = 1, .log_length = VX_MIB, .log_offset = VX_CREATE_LOG_OFF};
    memcpy(h.fwg, o->file_write_guid, 16);
    memcpy(h.dwg, o->id, 16);
    if (!s && vx_guid_is_zero(h.fwg))
        s = vf_random_id(h.fwg, err);
    if (!s && vx_guid_is_zero(h.dwg))
        s = vf_random_id(h.dwg, err);
    for (unsigned i = 0; i < 2 && !s; i++) {
        h.seq = 1 + i;
        vf_vhdx_header_encode(&h, buf);
        s = vf_io_write(io, buf, VX_HEADER_SIZE, VX_HEADER_SLOT_OFF(i), err);
    }
    vx_region r[2] = {{.off = VX_CREATE_BAT_OFF, .len = (uint32_t)g->bat_len, .flags = 1},
                      {.off = VX_CREATE_META_OFF, .len = VX_MIB, .flags = 1}};
    memcpy(r[0].guid, vx_guid_bat, 16);
    memcpy(r[1].guid, vx_guid_metadata, 16);
    vf_vhdx_region_encode(r, 2, buf);
    for (unsigned i = 0; i < 2 && !s; i++)
        s = vf_io_write(io, buf, VX_RT_SIZE, VX_RT_OFF(i), err);
    if (s)
        return s;
    memset(buf, 0, VX_MIB);
    if ((s = vx_metadata_build(o, g->block_size, g->lss, g->pss, buf, err)) ||
        (s = vf_io_write(io, buf, VX_MIB, VX_CREATE_META_OFF, err)))
        return s;
    if (o->type == VF_DISK_FIXED) {
        /* every payload entry FULLY_PRESENT, blocks laid out in order after the BAT */
        for (uint64_t at = 0; !s && at < g->bat_len; at += VX_MIB) {
            memset(buf, 0, VX_MIB);
            for (uint64_t j = 0; j < VX_MIB / 8; j++) {
                uint64_t i = at / 8 + j;
                uint64_t cr1 = g->chunk_ratio + 1;
                if (i >= g->bat_entries || i % cr1 == g->chunk_ratio)
                    continue;
                uint64_t b = i - i / cr1;
                vf_put_le64(buf + 8 * j, (data_start + b * g->block_size) | VX_PB_FULLY_PRESENT);
            }
            s = vf_io_write(io, buf, VX_MIB, VX_CREATE_BAT_OFF + at, err);
        }
    }
    if (!s)
        s = vf_io_sync(io, err);
    if (s)
        return s;
    /* The identifier last: a half-created file never probes as VHDX. */
    memset(buf, 0, 64 * VX_KIB);
    memcpy(buf, "vhdxfile", 8);
    static const char creator[] = "vhdfold";
    for (size_t i = 0; i < sizeof creator - 1; i++)
        vf_put_le16(buf + 8 + 2 * i, (uint16_t)creator[i]);
    s = vf_io_write(io, buf, 64 * VX_KIB, 0, err);
    if (!s)
        s = vf_io_sync(io, err);
    return s;
}

vf_status vf_vhdx_create(vf_image *img, const vf_create_opts *opts, vf_error *err)
{
    vx_state g;
    memset(&g, 0, sizeof g);
    uint64_t size;
    vf_status s = vx_opts_check(opts, &g.block_size, &g.lss, &g.pss, err);
    if (!s)
        s = vf_io_size(img->io, &size, err);
    if (!s && size != 0)
        s = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "cannot create a VHDX over a non-empty file");
    if (s)
        return s;
    g.vsize = opts->virtual_size;
    g.has_parent = opts->type == VF_DISK_DIFF;
    vf_vhdx_geometry(&g);
    g.bat_len = vx_align_up(g.bat_entries * 8, VX_MIB);
    if (g.bat_len > UINT32_MAX - VX_MIB)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "BAT too large for this block size");
    uint8_t *buf = malloc(VX_MIB);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a create buffer");
    s = vx_write_layout(img, opts, &g, buf, err);
    free(buf);
    if (s)
        return s;
    if ((s = vf_vhdx_open_state(img, VF_OPEN_RDWR, err)))
        return s;
    /* The identity given (or drawn) at creation is the one children bind to: writes through
     * this handle do not rotate it. */
    vx_st(img)->fwg_done = vx_st(img)->dwg_done = true;
    /* ... and everything it writes later is a function of its inputs (LogGuids derived). */
    vx_st(img)->derived_ids = true;
    /* test support (VF_CREATE_LEAVE_DIRTY): later log entries stay pending at close */
    vx_st(img)->leave_dirty = (opts->flags & VF_CREATE_LEAVE_DIRTY) != 0;
    return VF_OK;
}
