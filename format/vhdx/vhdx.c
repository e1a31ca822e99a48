/* vhdx/vhdx.c - the VHDX driver glue: probe, open (file id, headers, region table, log replay,
 * metadata, BAT - everything validated before open returns), map and read with every payload
 * state, info, close; the I/O helpers shared by the other vhdx/ files (overlay: overlay.c).
 * Layer: format/vhdx. Listed in format/image.c as vf_vhdx_driver; knows nothing of chains.
 * Spec: MS-VHDX; docs/formats/vhdx.md "On-disk structures". Read policy for states in
 * docs/formats/vhdx.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

const uint8_t vx_guid_bat[16] =
    VX_GUID(0x2DC27766u, 0xF623u, 0x4200u, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08);
const uint8_t vx_guid_metadata[16] =
    VX_GUID(0x8B7CA206u, 0x4790u, 0x4B9Au, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E);
const uint8_t vx_guid_file_params[16] =
    VX_GUID(0xCAA16737u, 0xFA36u, 0x4D43u, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B);
const uint8_t vx_guid_vdisk_size[16] =
    VX_GUID(0x2FA54224u, 0xCD1Bu, 0x4876u, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8);
const uint8_t vx_guid_page83[16] =
    VX_GUID(0xBECA12ABu, 0xB2E6u, 0x4523u, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46);
const uint8_t vx_guid_lss[16] =
    VX_GUID(0x8141BF1Du, 0xA96Fu, 0x4709u, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F);
const uint8_t vx_guid_pss[16] =
    VX_GUID(0xCDA348C7u, 0x445Du, 0x4471u, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56);
const uint8_t vx_guid_parent_locator[16] =
    VX_GUID(0xA8D35F2Du, 0xB30Bu, 0x454Du, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C);
const uint8_t vx_guid_vhdx_locator_type[16] =
    VX_GUID(0xB04AEFB7u, 0xD19Eu, 0x4A81u, 0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13);

/* --- I/O helpers --- */

vf_status vf_vhdx_pread_raw(vx_state *st, void *buf, size_t len, uint64_t off, vf_error *err)
{
    return vf_io_read(st->io, buf, len, off, err);
}

/* Reads what the file holds after log replay: the disk, then overlay runs in order. Bytes
 * past the real end but inside the replayed LastFileOffset read as zeros. */
vf_status vf_vhdx_pread(vx_state *st, void *buf, size_t len, uint64_t off, vf_error *err)
{
    uint64_t real;
    vf_status s = vf_io_size(st->io, &real, err);
    if (s)
        return s;
    if (!vf_range_ok(off, len, st->file_size > real ? st->file_size : real))
        return VF_FAIL(err, VF_E_TRUNCATED, off,
                       "reading %zu bytes at %" PRIu64 " runs past the end of the file", len, off);
    size_t have = off >= real ? 0 : (real - off < len ? (size_t)(real - off) : len);
    if (have && (s = vf_io_read(st->io, buf, have, off, err)))
        return s;
    memset((uint8_t *)buf + have, 0, len - have);
    return vf_vhdx_overlay_apply(st, buf, len, off, err);
}

vf_status vf_vhdx_pwrite(vx_state *st, const void *buf, size_t len, uint64_t off, vf_error *err)
{
    return vf_io_write(st->io, buf, len, off, err);
}

vf_status vf_vhdx_sync(vx_state *st, vf_error *err)
{
    return vf_io_sync(st->io, err);
}

/* --- probe, open, close --- */

static int vx_probe(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                    uint64_t file_size)
{
    (void)tail, (void)tail_len, (void)file_size;
    return head_len >= 8 && memcmp(head, "vhdxfile", 8) == 0 ? 100 : 0;
}

void vf_vhdx_state_free(vx_state *st)
{
    if (!st)
        return;
    vf_vhdx_overlay_free(st);
    vf_vhdx_locator_free(st);
    free(st->regions);
    free(st->items);
    vf_vhdx_bat_free(st);
    free(st->sb.bits);
    free(st->skip);
    free(st);
}

static void vx_close(vf_image *img)
{
    vf_vhdx_state_free(vx_st(img));
    img->priv = NULL;
}

void vf_vhdx_fill_info(vf_image *img)
{
    vx_state *st = vx_st(img);
    vf_image_info *in = &img->info;
    in->format = VF_FORMAT_VHDX;
    in->type = st->has_parent                           ? VF_DISK_DIFF
               : (st->fp_flags & VX_FP_LEAVE_ALLOCATED) ? VF_DISK_FIXED
                                                        : VF_DISK_DYNAMIC;
    in->virtual_size = st->vsize;
    in->block_size = st->block_size;
    in->logical_sector_size = st->lss;
    in->physical_sector_size = st->pss;
    memcpy(in->id, st->hdr.dwg, 16);
    in->has_parent = st->has_parent;
    memset(in->parent_id, 0, 16);
    in->has_parent_id2 = false;
    if (st->has_parent) {
        const char *l1 = vf_vhdx_locator_get(st, "parent_linkage");
        const char *l2 = vf_vhdx_locator_get(st, "parent_linkage2");
        if (l1)
            (void)vf_vhdx_guid_parse(l1, in->parent_id);
        if (l2)
            in->has_parent_id2 = vf_vhdx_guid_parse(l2, in->parent_id2);
    }
    in->file_size = st->file_size;
    in->total_blocks = st->payload_blocks;
    uint64_t alloc = 0, cr1 = st->chunk_ratio + 1, end = st->bat_entries;
    for (uint64_t i = vf_vhdx_bat_next(st, 0, end); i < end; i = vf_vhdx_bat_next(st, i + 1, end)) {
        unsigned s = (unsigned)(vf_vhdx_bat_get(st, i) & VX_BAT_STATE_MASK);
        if (i % cr1 != st->chunk_ratio) /* payload entries only */
            alloc += s == VX_PB_FULLY_PRESENT || s == VX_PB_PARTIALLY_PRESENT;
    }
    in->allocated_blocks = alloc;
    st->nalloc = alloc;
    in->log_replay_bytes = st->held ? st->replay_bytes : 0;
    in->header_sequence = st->hdr.seq;
    memcpy(in->file_write_guid, st->hdr.fwg, 16);
    memcpy(in->page83, st->page83, 16);
}

/* Everything after the header: metadata, then the BAT (which needs the sizes). */
static vf_status vx_parse_tables(vx_state *st, vf_error *err)
{
    vf_status s = vf_vhdx_metadata_read(st, err);
    if (!s)
        s = vf_vhdx_bat_read(st, err);
    return s;
}

/* A writable open holds a replay in memory like a read-only one; vf_vhdx_settle writes it on
 * the first write, so every refusal before that (here or in a caller) writes nothing. */
static vf_status vx_open_rw_check(const vx_state *st, vf_error *err)
{
    if (st->hdr.seq >= UINT64_MAX - 2)
        return VF_FAIL(err, VF_E_FORMAT, VX_HEADER_SLOT_OFF(st->cur_slot) + VX_HDR_OFF_SEQ,
                       "header 'SequenceNumber' %" PRIu64 " would overflow on update", st->hdr.seq);
    return VF_OK;
}

vf_status vf_vhdx_open_state(vf_image *img, unsigned flags, vf_error *err)
{
    vx_state *st = calloc(1, sizeof *st);
    if (!st)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the VHDX state");
    img->priv = st;
    st->io = img->io;
    st->name = img->name;
    st->sb.block = UINT64_MAX;
    st->loc_item = UINT32_MAX;
#ifdef VF_FUZZ_SKIP_CHECKSUMS
    st->skip_checksums = (flags & VF_OPEN_NO_CHECKSUMS) != 0;
#endif
    vf_status s = vf_io_size(st->io, &st->file_size, err);
    st->disk_size = st->file_size;
    if (!s && st->file_size < VX_HEADER_AREA)
        s = VF_FAIL(err, VF_E_TRUNCATED, 0,
                    "file of %" PRIu64 " bytes is shorter than the 1 MiB VHDX header area",
                    st->file_size);
    bool replayed = false;
    if (!s)
        s = vf_vhdx_fileid_check(st, img->info.creator, sizeof img->info.creator, err);
    if (!s)
        s = vf_vhdx_header_read(st, err);
    img->recognised = !s && !st->skip_checksums; /* file identifier and a header CRC hold */
    if (!s)
        s = vf_vhdx_region_read(st, err);
    if (!s)
        s = vf_vhdx_log_replay(st, &replayed, err);
    img->info.log_replayed = replayed;
    if (!s)
        s = vx_parse_tables(st, err);
    if (!s && (flags & VF_OPEN_RDWR))
        s = vx_open_rw_check(st, err);
    if (s) {
        vx_close(img);
        return s;
    }
    st->alloc_next = vx_align_up(st->file_size, VX_MIB);
    st->move_below = st->alloc_next;
    vf_vhdx_fill_info(img);
    return VF_OK;
}

/* --- map and read --- */

/* voff starts a run of zero entries (NOT_PRESENT, no offset): it is absent up to the block of
 * the next non-zero entry, found without a step per block where no page is held. */
static uint64_t vx_absent_end(vx_state *st, uint64_t idx, uint64_t end)
{
    uint64_t last = vf_vhdx_bat_index(st, (end - 1) / st->block_size);
    uint64_t j = vf_vhdx_bat_next(st, idx + 1, last + 1);
    uint64_t next_block = j - j / (st->chunk_ratio + 1); /* a bitmap entry: the next chunk */
    uint64_t stop = next_block * st->block_size;
    return stop < end ? stop : end;
}

/* The kind of the run starting at voff inside one block (a run of zero entries: up to the
 * next non-zero one), and where that run ends. */
static vf_status vx_segment(vx_state *st, uint64_t voff, uint64_t end, vf_extent_kind *kind,
                            uint64_t *fo, uint64_t *seg_end, vf_error *err)
{
    uint64_t b = voff / st->block_size, in = voff % st->block_size;
    uint64_t bend = (b + 1) * st->block_size;
    *seg_end = end < bend ? end : bend;
    uint64_t idx = vf_vhdx_bat_index(st, b);
    uint64_t e = vf_vhdx_bat_get(st, idx);
    st->bat_steps++;
    *fo = (e & VX_BAT_OFF_MASK) + in;
    if (e == 0) {
        *kind = VF_EXTENT_ABSENT;
        *seg_end = vx_absent_end(st, idx, end);
        return VF_OK;
    }
    switch (e & VX_BAT_STATE_MASK) {
    case VX_PB_FULLY_PRESENT:
        *kind = VF_EXTENT_PRESENT;
        return VF_OK;
    case VX_PB_NOT_PRESENT:
        *kind = VF_EXTENT_ABSENT;
        return VF_OK;
    case VX_PB_ZERO:
    case VX_PB_UNMAPPED: /* trimmed: zeros are one of the contents the spec allows */
        *kind = VF_EXTENT_ZERO;
        return VF_OK;
    case VX_PB_UNDEFINED:
        if (st->has_parent)
            return VF_FAIL(err, VF_E_UNSUPPORTED, st->bat_off + 8 * idx,
                           "block %" PRIu64 " is UNDEFINED in a differencing image: its "
                           "content is not defined",
                           b);
        *kind = VF_EXTENT_ZERO;
        return VF_OK;
    default:
        break;
    }
    const uint8_t *bits; /* PARTIALLY_PRESENT: per-sector bits, LSB first */
    vf_status s = vf_vhdx_sb_bits(st, b, &bits, err);
    if (s)
        return s;
    uint64_t k = in / st->lss, kend = (*seg_end - b * st->block_size) / st->lss;
    bool v = vx_bit(bits, k);
    while (k < kend && vx_bit(bits, k) == v)
        k++;
    *seg_end = b * st->block_size + k * st->lss;
    *kind = v ? VF_EXTENT_PRESENT : VF_EXTENT_ABSENT;
    return VF_OK;
}

/* A PRESENT run whose file bytes a held replay (or an unpublished write) overrides, or that
 * lies past the real end of the file, is cut where that changes and reported overlaid with no
 * file offset: only vx_read shows its bytes. Without an overlay this costs one test. */
static vf_status vx_map_overlay(vx_state *st, vf_extent *ext, vf_error *err)
{
    uint64_t fo = ext->file_off, len = ext->len;
    bool covered = false;
    uint64_t on_disk = !st->held            ? UINT64_MAX
                       : fo < st->disk_size ? (st->disk_size - fo) / st->lss * st->lss
                                            : 0;
    if (st->held && on_disk == 0) {
        covered = true; /* past the real end: zeros until the replay is written */
    } else {
        if (on_disk < len)
            len = on_disk;
        vf_status s = vf_vhdx_overlay_clip(st, fo, &len, &covered, err);
        if (s)
            return s;
    }
    ext->len = len;
    if (covered) {
        ext->overlaid = true;
        ext->file_off = 0;
    }
    return VF_OK;
}

/* The run at voff as the BAT and bitmaps describe it (file_off even where overlaid). */
static vf_status vx_map_raw(vx_state *st, uint64_t voff, uint64_t len, vf_extent *ext,
                            vf_error *err)
{
    uint64_t end = voff + vx_align_up(len, st->lss);
    if (end > st->vsize)
        end = st->vsize;
    ext->voff = voff;
    uint64_t cur = voff;
    while (cur < end) {
        vf_extent_kind kind = VF_EXTENT_ABSENT;
        uint64_t fo = 0, seg_end = end;
        vf_status s = vx_segment(st, cur, end, &kind, &fo, &seg_end, err);
        /* A problem in a later block ends the run; it is reported when that block's own
         * run is asked for, so each answer is about the run that starts at voff. */
        if (s && cur == voff)
            return s;
        if (s)
            break;
        if (cur == voff) {
            ext->kind = kind;
            ext->file_off = kind == VF_EXTENT_PRESENT ? fo : 0;
        } else if (kind != ext->kind ||
                   (kind == VF_EXTENT_PRESENT && fo != ext->file_off + (cur - voff))) {
            break;
        }
        cur = seg_end;
    }
    ext->len = cur - voff;
    ext->overlaid = false;
    return VF_OK;
}

vf_status vf_vhdx_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vx_map_raw(st, voff, len, ext, err);
    if (!s && ext->kind == VF_EXTENT_PRESENT)
        s = vx_map_overlay(st, ext, err);
    return s;
}

static vf_status vx_read(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err)
{
    vx_state *st = vx_st(img);
    uint8_t *out = buf;
    uint64_t cur = voff, end = voff + len;
    while (cur < end) {
        uint64_t a = cur - cur % st->lss;
        vf_extent ext;
        vf_status s = vx_map_raw(st, a, end - a, &ext, err);
        if (s)
            return s;
        uint64_t stop = a + ext.len < end ? a + ext.len : end;
        size_t n = (size_t)(stop - cur);
        if (ext.kind == VF_EXTENT_PRESENT)
            s = vf_vhdx_pread(st, out + (cur - voff), n, ext.file_off + (cur - a), err);
        else
            memset(out + (cur - voff), 0, n);
        if (s)
            return s;
        cur = stop;
    }
    return VF_OK;
}

vf_status vf_vhdx_set_leave_dirty(vf_image *img, bool on, vf_error *err)
{
    if (img->drv != &vf_vhdx_driver || !img->writable)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "dirty mode needs a VHDX image open for writing");
    if (!on && vx_st(img)->log_open)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "log entries are pending: dirty mode stays on until close");
    vx_st(img)->leave_dirty = on;
    return VF_OK;
}

/* 1 MiB alignment and sector-bitmap slack per block. */
static uint64_t vx_block_cost(const vf_image_info *in)
{
    return (uint64_t)in->block_size + VX_MIB;
}

/* VHDX merge protocol (docs/merge.md "VHDX: the identity protocol"): G' goes into the level
 * above as parent_linkage2, then becomes DESTINATION's DataWriteGuid, so the chain opens
 * through DESTINATION during the whole copy while the spec's "new DataWriteGuid before the
 * first user-visible write" holds. Each step is idempotent, and it matters on resume too: a
 * reopened handle rotates the DataWriteGuid on its first data write unless set_id already
 * gave it its new one, which would cut the level above off. */
static vf_status vx_merge_link(vf_image *dest, vf_image *above, const uint8_t link_id[16],
                               vf_error *err)
{
    vf_status st = vf_image_set_parent_id2(above, link_id, err);
    if (st == VF_OK)
        st = vf_image_flush(above, err);
    if (st != VF_OK) {
        vf_error_prefix(err, "'%s': ", above->name);
        return st;
    }
    if ((st = vf_image_set_id(dest, link_id, err)) == VF_OK)
        st = vf_image_flush(dest, err);
    return st;
}

/* The byte order of the first three GUID fields is little-endian (MS-VHDX). */
static const uint8_t vx_guid_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

/* Sizes 7-Zip (26.02) reads: a multiple of 4096 bytes and of two logical sectors
 * (docs/gen.md). */
static const vf_format_limits vx_limits = {
    .max_virtual_size = VX_MAX_VSIZE,
    .min_block_size = VX_MIN_BLOCK,
    .max_block_size = VX_MAX_BLOCK,
    .default_block_size = VX_DEFAULT_BLOCK,
    .sector_sizes = VF_SECTOR_512 | VF_SECTOR_4096,
    .portable_align = 4096,
    .portable_sectors = 2,
    .features = VF_FEATURE_CREATE | VF_FEATURE_LOG | VF_FEATURE_ZERO_BLOCKS |
                VF_FEATURE_MERGE_LINK | VF_FEATURE_RESIZE,
};

const vf_driver vf_vhdx_driver = {
    .name = "vhdx",
    .limits = &vx_limits,
    .info_fields = VF_INFO_LOG | VF_INFO_WRITE_GUIDS,
    .guid_order = vx_guid_order,
    .block_cost = vx_block_cost,
    .merge_link = vx_merge_link,
    .samples = &vf_vhdx_samples,
    .format = VF_FORMAT_VHDX,
    .probe = vx_probe,
    .open = vf_vhdx_open_state,
    .create = vf_vhdx_create,
    .map = vf_vhdx_map,
    .read = vx_read,
    .write = vf_vhdx_write,
    .write_zeroes = vf_vhdx_write_zeroes,
    .write_from = vf_vhdx_write_from,
    .reserve = vf_vhdx_reserve,
    .flush = vf_vhdx_flush,
    .check = vf_vhdx_check,
    .locators = vf_vhdx_locators,
    .set_parent = vf_vhdx_set_parent,
    .set_id = vf_vhdx_set_id,
    .close = vx_close,
    .resize = vf_vhdx_resize,
    .resize_check = vf_vhdx_resize_check,
    .repair = vf_vhdx_repair,
    .set_parent_id2 = vf_vhdx_set_parent_id2,
    .reclaim = vf_vhdx_reclaim,
    .zero_in_place = vf_vhdx_zero_in_place,
};
