/* vhdx/check.c - structural check of an opened VHDX (vhdfold check): findings the open path
 * tolerates but a user should hear about - an invalid or stale header copy, region table
 * copies that differ or fail their CRC, a pending log, a sequence number close to overflow,
 * ZERO entries with an offset, UNDEFINED/UNMAPPED blocks in a differencing file, unused BAT
 * entries that are not zero, sector bitmap blocks nobody uses, a locator in a non-differencing
 * file, orphaned space (reclaim.c). Fatal problems already failed the open with their own message.
 * Layer: format/vhdx. Called through vf_vhdx_driver.check. Spec: docs/formats/vhdx.md "On-disk
 * structures". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

static vf_status vx_check_headers(vf_image *img, vx_state *st, vf_report *rep, vf_error *err)
{
    uint8_t buf[VX_HEADER_SIZE];
    for (unsigned i = 0; i < 2; i++) {
        vf_status s = vf_vhdx_pread_raw(st, buf, sizeof buf, VX_HEADER_SLOT_OFF(i), err);
        if (s)
            return s;
        bool ok =
            !memcmp(buf, "head", 4) && vf_get_le(buf + VX_HDR_OFF_CRC, 4) ==
                                           vf_vhdx_crc_skip(buf, VX_HEADER_SIZE, VX_HDR_OFF_CRC);
        if (!ok)
            vf_report_add(rep, i == st->cur_slot ? VF_SEV_ERROR : VF_SEV_WARNING, VF_E_FORMAT,
                          VX_HEADER_SLOT_OFF(i), img->name,
                          "header %u has a bad signature or CRC-32C (the other copy is used)",
                          i + 1);
    }
    if (st->hdr.seq >= UINT64_MAX - 2)
        vf_report_add(rep, VF_SEV_ERROR, VF_E_FORMAT, VX_HEADER_SLOT_OFF(st->cur_slot) + 8,
                      img->name, "header 'SequenceNumber' %" PRIu64 " would overflow on update",
                      st->hdr.seq);
    if (!vx_guid_is_zero(st->hdr.log_guid))
        vf_report_add(rep, VF_SEV_WARNING, VF_E_CORRUPT, st->hdr.log_offset, img->name,
                      "the log %s (a writable open replays it on disk)",
                      img->info.log_replayed ? "has pending entries, replayed in memory"
                                             : "is active but holds no valid entry");
    return VF_OK;
}

static vf_status vx_check_regions(vf_image *img, vx_state *st, vf_report *rep, vf_error *err)
{
    uint8_t *a = malloc(VX_RT_SIZE), *b = malloc(VX_RT_SIZE);
    vf_status s = VF_OK;
    if (!a || !b)
        s = VF_FAIL_ERRNO(err, ENOMEM, VX_RT_OFF(0), "allocating region tables");
    if (!s)
        s = vf_vhdx_pread_raw(st, a, VX_RT_SIZE, VX_RT_OFF(0), err);
    if (!s)
        s = vf_vhdx_pread_raw(st, b, VX_RT_SIZE, VX_RT_OFF(1), err);
    for (unsigned i = 0; !s && i < 2; i++) {
        const uint8_t *t = i ? b : a;
        if (memcmp(t, "regi", 4) || vf_get_le(t + 4, 4) != vf_vhdx_crc_skip(t, VX_RT_SIZE, 4))
            vf_report_add(rep, VF_SEV_WARNING, VF_E_FORMAT, VX_RT_OFF(i), img->name,
                          "region table %u has a bad signature or CRC-32C", i + 1);
    }
    if (!s && memcmp(a, b, VX_RT_SIZE) != 0)
        vf_report_add(rep, VF_SEV_WARNING, VF_E_CORRUPT, VX_RT_OFF(1), img->name,
                      "the two region table copies differ");
    free(a);
    free(b);
    return s;
}

/* One non-zero payload entry: ZERO with an offset, UNDEFINED/UNMAPPED in a differencing file. */
static void vx_check_payload(vf_image *img, vx_state *st, vf_report *rep, uint64_t i, uint64_t e)
{
    uint64_t where = st->bat_off + 8 * i;
    unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
    if (state == VX_PB_ZERO && (e & VX_BAT_OFF_MASK))
        vf_report_add(rep, VF_SEV_WARNING, VF_E_FORMAT, where, img->name,
                      "BAT entry %" PRIu64 " is ZERO with a non-zero 'FileOffsetMB' "
                      "(Hyper-V refuses this)",
                      i);
    if (st->has_parent && (state == VX_PB_UNDEFINED || state == VX_PB_UNMAPPED))
        vf_report_add(rep, state == VX_PB_UNDEFINED ? VF_SEV_ERROR : VF_SEV_WARNING,
                      VF_E_UNSUPPORTED, where, img->name,
                      "BAT entry %" PRIu64 " is %s in a differencing file (%s)", i,
                      state == VX_PB_UNDEFINED ? "UNDEFINED" : "UNMAPPED",
                      state == VX_PB_UNDEFINED ? "reads are refused" : "read as zeros");
}

/* Only non-zero entries can raise a finding: they are visited in index order, a chunk's
 * payload entries before its sector-bitmap entry. */
static void vx_check_bat(vf_image *img, vx_state *st, vf_report *rep)
{
    uint64_t cr1 = st->chunk_ratio + 1, end = st->bat_entries;
    uint64_t chunk = UINT64_MAX, partial_in_chunk = 0;
    for (uint64_t i = vf_vhdx_bat_next(st, 0, end); i < end; i = vf_vhdx_bat_next(st, i + 1, end)) {
        uint64_t e = vf_vhdx_bat_get(st, i);
        unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
        if (i / cr1 != chunk) {
            chunk = i / cr1;
            partial_in_chunk = 0;
        }
        if (i % cr1 != st->chunk_ratio) {
            partial_in_chunk += state == VX_PB_PARTIALLY_PRESENT;
            vx_check_payload(img, st, rep, i, e);
        } else if (state == VX_SB_PRESENT && partial_in_chunk == 0) {
            vf_report_add(rep, VF_SEV_INFO, VF_E_CORRUPT, st->bat_off + 8 * i, img->name,
                          "sector bitmap entry %" PRIu64 " is present but no block of its "
                          "chunk is partially present",
                          i);
        }
    }
    uint64_t total = (uint64_t)st->bat_pages * VX_BAT_PER_PAGE;
    uint64_t i = vf_vhdx_bat_next(st, end, total);
    if (i < total)
        vf_report_add(rep, VF_SEV_WARNING, VF_E_FORMAT, st->bat_off + 8 * i, img->name,
                      "BAT entry %" PRIu64 " past the last used entry is not zero", i);
}

vf_status vf_vhdx_check(vf_image *img, vf_report *rep, vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vx_check_headers(img, st, rep, err);
    if (!s)
        s = vx_check_regions(img, st, rep, err);
    if (s)
        return s;
    vx_check_bat(img, st, rep);
    if ((s = vf_vhdx_check_space(img, st, rep, err)))
        return s;
    if (!st->has_parent && st->loc_item != UINT32_MAX)
        vf_report_add(rep, VF_SEV_WARNING, VF_E_CORRUPT, st->meta_off, img->name,
                      "a parent locator is present but 'HasParent' is not set");
    if (st->file_size % VX_MIB)
        vf_report_add(rep, VF_SEV_INFO, VF_E_FORMAT, st->file_size, img->name,
                      "file size %" PRIu64 " is not a multiple of 1 MiB", st->file_size);
    return VF_OK;
}
