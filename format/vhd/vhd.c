/* vhd/vhd.c - the VHD driver: probe, open (find and trust the footer, validate the dynamic
 * header, BAT and locators before anything is read), info, extent map, read, close.
 * Layer: format/vhd. Listed in image.c's driver table; image.c has already checked ranges and
 * alignment before calling map/read. Writing lives in write.c, creation in create.c.
 * Spec: VHD spec 1.0 (docs/formats/vhd.md "On-disk structures"); toolkit rules in
 * docs/formats/vhd.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

static bool vhd_skip_csum(unsigned flags)
{
#ifdef VF_FUZZ_SKIP_CHECKSUMS
    return (flags & VF_OPEN_NO_CHECKSUMS) != 0;
#else
    (void)flags;
    return false;
#endif
}

static bool vhd_cookie_at(const uint8_t *p, size_t avail, size_t at)
{
    return at <= avail && avail - at >= 8 && memcmp(p + at, "conectix", 8) == 0;
}

static int vhd_probe(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                     uint64_t file_size)
{
    (void)file_size;
    if (tail_len >= VHD_FOOTER_SIZE && vhd_cookie_at(tail, tail_len, tail_len - VHD_FOOTER_SIZE))
        return 100;
    if (tail_len >= VHD_FOOTER_LEGACY_SIZE &&
        vhd_cookie_at(tail, tail_len, tail_len - VHD_FOOTER_LEGACY_SIZE))
        return 90;
    if (vhd_cookie_at(head, head_len, 0))
        return 60; /* footer copy only: open explains what is missing */
    return 0;
}

static void vhd_free(vf_vhd *v)
{
    if (!v)
        return;
    vf_vhd_bat_free(&v->bat);
    free(v->bat_dirty);
    free(v->cache);
    for (size_t i = 0; i < VHD_PENDING_MAX; i++)
        free(v->pend[i].bitmap);
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        free(v->loc_text[i]);
    free(v->parent_name);
    free(v->skip);
    free(v);
}

void vf_vhd_close(vf_image *img)
{
    vhd_free(img->priv);
    img->priv = NULL;
}

/* EOF-512, then EOF-511 (legacy); a copy at 0 alone means the end of the file is missing. */
static vf_status vhd_find_footer(vf_vhd *v, uint8_t raw[VHD_FOOTER_SIZE], vf_error *err)
{
    vf_status st = vf_io_size(v->io, &v->file_size, err);
    if (st != VF_OK)
        return st;
    bool skip = vhd_skip_csum(v->flags);
    if (v->file_size < VHD_FOOTER_LEGACY_SIZE)
        return VF_FAIL(err, VF_E_TRUNCATED, 0,
                       "hard disk footer: the file has only %llu bytes, a footer needs 512",
                       (unsigned long long)v->file_size);
    if (v->file_size >= VHD_FOOTER_SIZE) {
        uint64_t at = v->file_size - VHD_FOOTER_SIZE;
        if ((st = vf_io_read(v->io, raw, VHD_FOOTER_SIZE, at, err)) != VF_OK)
            return st;
        if (memcmp(raw, "conectix", 8) == 0) {
            v->footer_len = VHD_FOOTER_SIZE;
            v->footer_off = at;
            st = vf_vhd_footer_parse(raw, &v->footer, skip, err);
            if (st != VF_OK && err)
                err->off = at + (err->off == VF_OFF_NONE ? 0 : err->off);
            return st;
        }
    }
    uint64_t at = v->file_size - VHD_FOOTER_LEGACY_SIZE;
    if ((st = vf_io_read(v->io, raw, VHD_FOOTER_LEGACY_SIZE, at, err)) != VF_OK)
        return st;
    raw[VHD_FOOTER_LEGACY_SIZE] = 0;
    if (memcmp(raw, "conectix", 8) == 0) {
        v->footer_len = VHD_FOOTER_LEGACY_SIZE;
        v->footer_off = at;
        return vf_vhd_footer_parse(raw, &v->footer, skip, err);
    }
    uint8_t head[8];
    if ((st = vf_io_read(v->io, head, sizeof head, 0, err)) != VF_OK)
        return st;
    if (memcmp(head, "conectix", 8) == 0)
        return VF_FAIL(err, VF_E_TRUNCATED, v->file_size,
                       "hard disk footer: 'cookie' missing at the end of the file (a copy is "
                       "at offset 0): the file is truncated or has trailing bytes");
    return VF_FAIL(err, VF_E_FORMAT, v->file_size - VHD_FOOTER_SIZE,
                   "hard disk footer: 'cookie' \"conectix\" not found at the end of the file");
}

static vf_status vhd_check_copy(vf_vhd *v, const uint8_t *raw, vf_error *err)
{
    uint8_t copy[VHD_FOOTER_SIZE];
    vf_status st = vf_io_read(v->io, copy, VHD_FOOTER_SIZE, 0, err);
    if (st != VF_OK)
        return st;
    /* Name the first differing field other than the checksum (which follows any change). */
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < v->footer_len; i++) {
        if (copy[i] == raw[i])
            continue;
        bool csum = i >= VHD_FOOTER_OFF_CHECKSUM && i < VHD_FOOTER_OFF_CHECKSUM + 4;
        if (first == SIZE_MAX ||
            (!csum && first >= VHD_FOOTER_OFF_CHECKSUM && first < VHD_FOOTER_OFF_CHECKSUM + 4))
            first = i;
    }
    if (first == SIZE_MAX)
        return VF_OK;
    if (v->flags & VF_OPEN_RECOVER) {
        v->copy_differs = true; /* repaired by the next flush when writable */
        return VF_OK;
    }
    return VF_FAIL(err, VF_E_CORRUPT, first,
                   "hard disk footer: the copy at offset 0 differs from the footer at the end "
                   "in '%s' (byte %zu)",
                   vf_vhd_footer_field_name(first), first);
}

static vf_status vhd_check_footer_fields(vf_vhd *v, vf_error *err)
{
    const vf_vhd_footer *f = &v->footer;
    uint64_t fo = v->footer_off;
    if (f->current_size % VHD_SECTOR)
        return VF_FAIL(err, VF_E_FORMAT, fo + VHD_FOOTER_OFF_CURRENT_SIZE,
                       "hard disk footer: 'current size' %llu is not a multiple of 512",
                       (unsigned long long)f->current_size);
    if (f->current_size / VHD_SECTOR > VHD_MAX_SECTORS)
        return VF_FAIL(err, VF_E_UNSUPPORTED, fo + VHD_FOOTER_OFF_CURRENT_SIZE,
                       "hard disk footer: 'current size' %llu exceeds the 2040 GiB VHD limit",
                       (unsigned long long)f->current_size);
    if (f->saved_state && (v->flags & VF_OPEN_RDWR))
        return VF_FAIL(err, VF_E_UNSUPPORTED, fo + VHD_FOOTER_OFF_SAVED_STATE,
                       "hard disk footer: 'saved state' is set (the VM was saved with this "
                       "disk attached); refusing to write");
    if (f->disk_type == VF_DISK_FIXED) {
        if (f->current_size > fo)
            return VF_FAIL(err, VF_E_TRUNCATED, fo + VHD_FOOTER_OFF_CURRENT_SIZE,
                           "hard disk footer: 'current size' %llu exceeds the %llu data bytes "
                           "of this fixed image",
                           (unsigned long long)f->current_size, (unsigned long long)fo);
        return VF_OK;
    }
    if (f->data_offset % VHD_SECTOR || f->data_offset < VHD_FOOTER_SIZE)
        return VF_FAIL(err, VF_E_FORMAT, fo + VHD_FOOTER_OFF_DATA_OFFSET,
                       "hard disk footer: 'data offset' %llu is not a 512-aligned offset after "
                       "the footer copy",
                       (unsigned long long)f->data_offset);
    if (!vf_range_ok(f->data_offset, VHD_HEADER_SIZE, fo))
        return VF_FAIL(err, VF_E_TRUNCATED, fo + VHD_FOOTER_OFF_DATA_OFFSET,
                       "hard disk footer: 'data offset' %llu puts the dynamic header past the "
                       "end of data (%llu)",
                       (unsigned long long)f->data_offset, (unsigned long long)fo);
    return VF_OK;
}

static vf_status vhd_check_table(vf_vhd *v, vf_error *err)
{
    const vf_vhd_header *h = &v->hdr;
    uint64_t ho = v->footer.data_offset, fo = v->footer_off;
    uint64_t bat_raw = (uint64_t)h->max_table_entries * 4;
    if (h->table_offset % VHD_SECTOR)
        return VF_FAIL(err, VF_E_FORMAT, ho + VHD_HEADER_OFF_TABLE_OFFSET,
                       "dynamic disk header: 'table offset' %llu is not 512-aligned",
                       (unsigned long long)h->table_offset);
    if (h->table_offset >= fo)
        return VF_FAIL(err, VF_E_TRUNCATED, ho + VHD_HEADER_OFF_TABLE_OFFSET,
                       "dynamic disk header: 'table offset' %llu is past the end of data (%llu)",
                       (unsigned long long)h->table_offset, (unsigned long long)fo);
    /* Bounds the BAT allocation by the real file size before anything is allocated. */
    if (!vf_range_ok(h->table_offset, bat_raw, fo))
        return VF_FAIL(err, VF_E_TRUNCATED, ho + VHD_HEADER_OFF_MAX_ENTRIES,
                       "dynamic disk header: 'max table entries' %u is too big for the file "
                       "(the table would end at %llu, data ends at %llu)",
                       h->max_table_entries, (unsigned long long)(h->table_offset + bat_raw),
                       (unsigned long long)fo);
    uint64_t bat_len = vf_vhd_bat_bytes(h->max_table_entries);
    if (vf_ranges_overlap(h->table_offset, bat_len, 0, VHD_FOOTER_SIZE) ||
        vf_ranges_overlap(h->table_offset, bat_len, ho, VHD_HEADER_SIZE))
        return VF_FAIL(err, VF_E_CORRUPT, ho + VHD_HEADER_OFF_TABLE_OFFSET,
                       "dynamic disk header: 'table offset' %llu overlaps the footer copy or "
                       "the dynamic header",
                       (unsigned long long)h->table_offset);
    uint64_t covered = (uint64_t)h->max_table_entries * h->block_size;
    if (covered < v->footer.current_size)
        return VF_FAIL(err, VF_E_CORRUPT, ho + VHD_HEADER_OFF_MAX_ENTRIES,
                       "dynamic disk header: 'max table entries' %u x 'block size' %u covers "
                       "%llu bytes, less than the disk's current size %llu",
                       h->max_table_entries, h->block_size, (unsigned long long)covered,
                       (unsigned long long)v->footer.current_size);
    return VF_OK;
}

size_t vf_vhd_meta_ranges(const vf_vhd *v, vf_vhd_range *out)
{
    size_t n = 0;
    out[n++] = (vf_vhd_range){0, VHD_FOOTER_SIZE, "footer copy"};
    out[n++] = (vf_vhd_range){v->footer.data_offset, VHD_HEADER_SIZE, "dynamic header"};
    out[n++] = (vf_vhd_range){v->hdr.table_offset, vf_vhd_bat_bytes(v->hdr.max_table_entries),
                              "block allocation table"};
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        if (v->hdr.loc[i].code != VHD_PLAT_NONE && v->hdr.loc[i].len)
            out[n++] = (vf_vhd_range){v->hdr.loc[i].off, v->hdr.loc[i].len, "parent locator data"};
    return n;
}

static vf_status vhd_check_locator(vf_vhd *v, size_t i, vf_error *err)
{
    const vf_vhd_ploc *l = &v->hdr.loc[i];
    uint64_t at = v->footer.data_offset + VHD_HEADER_OFF_LOCATORS + i * VHD_LOCATOR_ENTRY_SIZE;
    const char *nm = vf_vhd_plat_name(l->code);
    if (l->len > VHD_LOCATOR_MAX_BYTES)
        return VF_FAIL(err, VF_E_FORMAT, at + 8,
                       "parent locator %zu ('%s'): 'platform data length' %u exceeds %u bytes", i,
                       nm, l->len, VHD_LOCATOR_MAX_BYTES);
    if (!vf_range_ok(l->off, l->len, v->footer_off))
        return VF_FAIL(err, VF_E_TRUNCATED, at + 16,
                       "parent locator %zu ('%s'): 'platform data offset' %llu + length %u is "
                       "outside the file (data ends at %llu)",
                       i, nm, (unsigned long long)l->off, l->len,
                       (unsigned long long)v->footer_off);
    vf_vhd_range meta[3 + VHD_LOCATORS];
    vf_vhd_meta_ranges(v, meta); /* the first three: footer copy, header, BAT */
    for (size_t m = 0; m < 3; m++)
        if (vf_ranges_overlap(l->off, l->len, meta[m].off, meta[m].len))
            return VF_FAIL(err, VF_E_CORRUPT, at + 16,
                           "parent locator %zu ('%s'): 'platform data offset' %llu overlaps the "
                           "%s",
                           i, nm, (unsigned long long)l->off, meta[m].what);
    if (!l->len)
        return VF_OK;
    uint8_t *data = malloc(l->len); /* <= VHD_LOCATOR_MAX_BYTES, checked above */
    if (!data)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent locator: no memory");
    vf_status st = vf_io_read(v->io, data, l->len, l->off, err);
    if (st == VF_OK)
        st = vf_vhd_locator_decode(l->code, data, l->len, &v->loc_text[i], err);
    free(data);
    if (st != VF_OK && err && st != VF_E_IO && st != VF_E_NOMEM) {
        vf_error_prefix(err, "parent locator %zu ('%s'): 'platform data': ", i, nm);
        err->off = l->off;
    }
    return st;
}

static vf_status vhd_parent_name(vf_vhd *v, vf_error *err)
{
    size_t cap = VHD_PARENT_NAME_BYTES / 2 * 3 + 1, n;
    if (!(v->parent_name = malloc(cap)))
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent name: no memory");
    vf_status st = vf_utf16_to_utf8(v->hdr.parent_name, VHD_PARENT_NAME_BYTES, true, v->parent_name,
                                    cap, &n, err);
    if (st != VF_OK && err) {
        vf_error_prefix(err, "dynamic disk header: 'parent unicode name': ");
        err->off = v->footer.data_offset + VHD_HEADER_OFF_PARENT_NAME;
    }
    return st;
}

static vf_status vhd_open_dynamic(vf_vhd *v, vf_error *err)
{
    uint8_t raw[VHD_HEADER_SIZE];
    uint64_t ho = v->footer.data_offset;
    vf_status st = vf_io_read(v->io, raw, VHD_HEADER_SIZE, ho, err);
    if (st != VF_OK)
        return st;
    /* RECOVER (merger resume, guided by its journal) also accepts a header whose checksum
     * fails: a power loss can tear set_parent's 1024-byte header write between its two
     * sectors, and the resumed merge rewrites the whole header with set_parent. Every other
     * field is still validated below. */
    bool skip = vhd_skip_csum(v->flags) || (v->flags & VF_OPEN_RECOVER);
    if ((st = vf_vhd_header_parse(raw, &v->hdr, skip, err)) != VF_OK) {
        if (err)
            err->off = ho + (err->off == VF_OFF_NONE ? 0 : err->off);
        return st;
    }
    v->bad_header_csum =
        vf_vhd_checksum(raw, VHD_HEADER_SIZE, VHD_HEADER_OFF_CHECKSUM) != v->hdr.checksum;
    if ((st = vhd_check_table(v, err)) != VF_OK)
        return st;
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        if (v->hdr.loc[i].code != VHD_PLAT_NONE && (st = vhd_check_locator(v, i, err)) != VF_OK)
            return st;
    if (v->footer.disk_type == VF_DISK_DIFF && (st = vhd_parent_name(v, err)) != VF_OK)
        return st;

    uint32_t entries = v->hdr.max_table_entries; /* the table fits in the file: vhd_check_table */
    v->block_size = v->hdr.block_size;
    v->spb = v->block_size / VHD_SECTOR;
    v->bitmap_bytes = vf_vhd_bitmap_bytes(v->block_size);
    v->block_total = (uint64_t)v->bitmap_bytes + v->block_size;
    vf_vhd_range meta[3 + VHD_LOCATORS];
    vf_vhd_space sp = {v->block_total, meta, vf_vhd_meta_ranges(v, meta), v->footer_off};
    /* Streamed in bounded chunks into the sparse table; then overlaps between blocks. */
    if ((st = vf_vhd_bat_read(&v->bat, v->io, v->hdr.table_offset, entries, &sp, err)) != VF_OK ||
        (st = vf_vhd_bat_validate(&v->bat, &sp, err)) != VF_OK)
        return st;
    v->entries = entries;
    v->bat_sectors = (uint32_t)(vf_vhd_bat_bytes(entries) / VHD_SECTOR);
    v->bat_dirty = calloc(v->bat_sectors ? v->bat_sectors : 1, 1);
    v->cache = malloc(v->bitmap_bytes);
    if (!v->bat_dirty || !v->cache)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "bitmap cache: no memory");
    size_t lim = (8u << 20) / v->bitmap_bytes; /* pending bitmaps stay under 8 MiB */
    v->pend_limit = lim < 1 ? 1 : lim > VHD_PENDING_MAX ? VHD_PENDING_MAX : lim;
    return VF_OK;
}

static void vhd_fill_info(vf_image *img, const vf_vhd *v)
{
    vf_image_info *in = &img->info;
    const vf_vhd_footer *f = &v->footer;
    in->format = VF_FORMAT_VHD;
    in->type = (vf_disk_type)f->disk_type;
    in->virtual_size = f->current_size; /* authoritative: docs/formats/vhd.md */
    in->block_size = f->disk_type == VF_DISK_FIXED ? 0 : v->block_size;
    in->logical_sector_size = VHD_SECTOR;
    in->physical_sector_size = VHD_SECTOR;
    memcpy(in->id, f->unique_id, 16);
    in->has_parent = f->disk_type == VF_DISK_DIFF;
    if (in->has_parent) {
        memcpy(in->parent_id, v->hdr.parent_id, 16);
        in->parent_timestamp = v->hdr.parent_timestamp;
    }
    in->timestamp = f->timestamp;
    vf_vhd_creator_text(f->creator_app, in->creator, sizeof in->creator);
    in->creator_version = f->creator_version;
    in->creator_os = f->creator_os;
    in->original_size = f->original_size;
    in->cylinders = f->cylinders;
    in->heads = f->heads;
    in->sectors_per_track = f->sectors_per_track;
    in->file_size = v->file_size;
    if (f->disk_type == VF_DISK_FIXED) {
        in->total_blocks = 0;
        in->allocated_blocks = 0;
        return;
    }
    in->total_blocks = (f->current_size + v->block_size - 1) / v->block_size;
    in->allocated_blocks = v->bat.used;
}

vf_status vf_vhd_open(vf_image *img, unsigned flags, vf_error *err)
{
    vf_vhd *v = calloc(1, sizeof *v);
    if (!v)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "vhd handle: no memory");
    v->io = img->io;
    v->img = img;
    v->flags = flags;
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_status st = vhd_find_footer(v, raw, err);
    if (st != VF_OK)
        goto fail;
    img->recognised = !vhd_skip_csum(flags); /* the footer's cookie and checksum hold */
    v->bad_footer_csum =
        vf_vhd_checksum(raw, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM) != v->footer.checksum;
    if ((st = vhd_check_footer_fields(v, err)) != VF_OK)
        goto fail;
    if (v->footer.disk_type != VF_DISK_FIXED) {
        if ((st = vhd_check_copy(v, raw, err)) != VF_OK || (st = vhd_open_dynamic(v, err)) != VF_OK)
            goto fail;
    }
    /* New blocks go where the trailing footer is now (aligned up for a legacy footer). */
    v->data_end = (v->footer_off + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    vhd_fill_info(img, v);
    img->priv = v;
    return VF_OK;
fail:
    vhd_free(v);
    return st;
}

vf_status vf_vhd_bitmap_of(vf_vhd *v, uint32_t b, const uint8_t **bm, vf_error *err)
{
    for (size_t i = 0; i < v->npend; i++)
        if (v->pend[i].block == b) {
            *bm = v->pend[i].bitmap;
            return VF_OK;
        }
    if (!v->cache_valid || v->cache_block != b) {
        v->cache_valid = false;
        vf_status st = vf_io_read(v->io, v->cache, v->bitmap_bytes,
                                  (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR, err);
        if (st != VF_OK)
            return st;
        v->cache_valid = true;
        v->cache_block = b;
    }
    *bm = v->cache;
    return VF_OK;
}

/* Kind and length (bytes) of the run starting at sector k of block b, within that block. */
static vf_status vhd_block_run(vf_vhd *v, uint32_t b, uint32_t k, vf_extent_kind *kind,
                               uint64_t *run, vf_error *err)
{
    if (vf_vhd_bat_get(&v->bat, b) == VHD_BAT_UNUSED) {
        *kind = VF_EXTENT_ABSENT;
        *run = (uint64_t)(v->spb - k) * VHD_SECTOR;
        return VF_OK;
    }
    const uint8_t *bm;
    vf_status st = vf_vhd_bitmap_of(v, b, &bm, err);
    if (st != VF_OK)
        return st;
    bool bit;
    *run = (uint64_t)vf_vhd_bitmap_run(bm, k, v->spb, &bit) * VHD_SECTOR;
    *kind = bit ? VF_EXTENT_PRESENT : VF_EXTENT_ABSENT;
    return VF_OK;
}

/* Absent runs need no file contiguity: extend *run (absent from voff, ending on a block
 * boundary or short of one) over the following blocks up to len: unallocated blocks up to
 * the next allocated entry in one step (vf_vhd_bat_next skips empty BAT pages), then the
 * absent head of an allocated block, if any. Cost follows the allocated blocks crossed. */
static vf_status vhd_absent_tail(vf_vhd *v, uint64_t voff, uint64_t len, uint64_t *run,
                                 vf_error *err)
{
    uint64_t bs = v->block_size;
    /* voff + len <= virtual size <= entries x block size (vhd_check_table): no overflow,
     * and every block index below fits in 32 bits. */
    uint32_t last = (uint32_t)((voff + len + bs - 1) / bs); /* one past the last block */
    while (*run < len && (voff + *run) % bs == 0) {
        uint32_t nb = (uint32_t)((voff + *run) / bs);
        uint32_t used = vf_vhd_bat_next(&v->bat, nb, last);
        if (used > nb) {
            *run += (uint64_t)(used - nb) * bs;
            continue;
        }
        uint64_t more;
        vf_extent_kind nk;
        vf_status st = vhd_block_run(v, nb, 0, &nk, &more, err);
        if (st != VF_OK)
            return st;
        if (nk != VF_EXTENT_ABSENT)
            break;
        *run += more;
    }
    return VF_OK;
}

vf_status vf_vhd_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err)
{
    vf_vhd *v = img->priv;
    ext->voff = voff;
    if (v->footer.disk_type == VF_DISK_FIXED) {
        ext->kind = VF_EXTENT_PRESENT;
        ext->len = len;
        ext->file_off = voff;
        return VF_OK;
    }
    uint64_t bs = v->block_size;
    uint64_t b = voff / bs; /* < entries: entries x block size covers the virtual size */
    uint32_t k = (uint32_t)(voff % bs / VHD_SECTOR);
    uint64_t run;
    vf_extent_kind kind;
    vf_status st = vhd_block_run(v, (uint32_t)b, k, &kind, &run, err);
    if (st != VF_OK)
        return st;
    ext->file_off = 0;
    if (kind == VF_EXTENT_PRESENT)
        ext->file_off = (uint64_t)vf_vhd_bat_get(&v->bat, (uint32_t)b) * VHD_SECTOR +
                        v->bitmap_bytes + (uint64_t)k * VHD_SECTOR;
    else if ((st = vhd_absent_tail(v, voff, len, &run, err)) != VF_OK)
        return st;
    ext->kind = kind;
    ext->len = run < len ? run : len;
    return VF_OK;
}

vf_status vf_vhd_read(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err)
{
    uint8_t *out = buf;
    while (len) {
        uint64_t a = voff - voff % VHD_SECTOR;
        vf_extent e;
        vf_status st = vf_vhd_map(img, a, (voff - a) + len, &e, err);
        if (st != VF_OK)
            return st;
        uint64_t avail = a + e.len - voff;
        size_t n = avail < len ? (size_t)avail : len;
        if (e.kind == VF_EXTENT_PRESENT) {
            vf_vhd *v = img->priv;
            st = vf_io_read(v->io, out, n, e.file_off + (voff - a), err);
            if (st != VF_OK)
                return st;
        } else {
            memset(out, 0, n);
        }
        out += n;
        voff += n;
        len -= n;
    }
    return VF_OK;
}

/* The sector bitmap in front of each block, rounded to a sector (docs/formats/vhd.md "Sector
 * bitmap"), and at most VHD_DATA_ALIGN - 512 bytes of padding that put the data on a 4 KiB
 * boundary (vhd_alloc_block in write.c). */
static uint64_t vhd_block_cost(const vf_image_info *in)
{
    uint64_t bs = in->block_size;
    return bs + ((bs / VHD_SECTOR / 8u) + VHD_SECTOR - 1u) / VHD_SECTOR * VHD_SECTOR +
           (VHD_DATA_ALIGN - VHD_SECTOR);
}

static const vf_format_limits vhd_limits = {
    .max_virtual_size = VHD_MAX_SECTORS * VHD_SECTOR,
    .min_block_size = VHD_SECTOR,
    .max_block_size = 1u << 31,
    .default_block_size = VHD_DEFAULT_BLOCK,
    .sector_sizes = VF_SECTOR_512,
    .portable_align = VHD_SECTOR,
    .portable_sectors = 1,
    .features = VF_FEATURE_CREATE | VF_FEATURE_RESIZE,
};

const vf_driver vf_vhd_driver = {
    .name = "vhd",
    .limits = &vhd_limits,
    .info_fields = VF_INFO_TIMESTAMPS | VF_INFO_CREATOR_HOST | VF_INFO_CHS,
    .guid_order = NULL, /* unique ids are RFC 4122 bytes in order */
    .block_cost = vhd_block_cost,
    .samples = &vf_vhd_samples,
    .format = VF_FORMAT_VHD,
    .probe = vhd_probe,
    .open = vf_vhd_open,
    .create = vf_vhd_create,
    .map = vf_vhd_map,
    .read = vf_vhd_read,
    .write = vf_vhd_write,
    .write_zeroes = vf_vhd_write_zeroes,
    .write_from = vf_vhd_write_from,
    .reserve = vf_vhd_reserve,
    .flush = vf_vhd_flush,
    .check = vf_vhd_check,
    .locators = vf_vhd_locators,
    .set_parent = vf_vhd_set_parent,
    .set_id = vf_vhd_set_id,
    .close = vf_vhd_close,
    .reclaim = vf_vhd_reclaim,
    .repair = vf_vhd_repair,
    .preview = vf_vhd_preview,
    .resize = vf_vhd_resize,
    .resize_check = vf_vhd_resize_check,
};
