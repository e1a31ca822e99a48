/* vhd/check.c - structural check of one opened VHD: every finding goes to a vf_report with
 * its severity, and the check keeps going (vhdfold check, merge --verify).
 * Layer: format/vhd. Reached through vf_image_check (image.c). Open has refused what makes
 * the image unreadable; the BAT checks are repeated here so that each bad entry is listed.
 * Spec: docs/formats/vhd.md "On-disk structures" and the toolkit rules in docs/formats/vhd.md
 * "Checking". */
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

#define VHD_CHECK_MAX_GAPS 32
#define ADD(sev, code, off, ...) vf_report_add(rep, sev, code, off, img->name, __VA_ARGS__)
#define ULL(x) ((unsigned long long)(x))

static void vhd_check_footer(vf_image *img, const vf_vhd *v, vf_report *rep)
{
    const vf_vhd_footer *f = &v->footer;
    uint64_t fo = v->footer_off;
    if (v->bad_footer_csum)
        ADD(VF_SEV_ERROR, VF_E_FORMAT, fo + VHD_FOOTER_OFF_CHECKSUM,
            "hard disk footer: 'checksum' 0x%08x is wrong", f->checksum);
    if (v->copy_differs)
        ADD(VF_SEV_ERROR, VF_E_CORRUPT, 0,
            "hard disk footer: the copy at offset 0 differs from the footer at the end");
    if (v->footer_len == VHD_FOOTER_LEGACY_SIZE)
        ADD(VF_SEV_INFO, VF_OK, fo,
            "hard disk footer: legacy 511-byte footer (Virtual PC before 2004)");
    if (!(f->features & VHD_FEATURE_RESERVED))
        ADD(VF_SEV_WARNING, VF_E_FORMAT, fo + VHD_FOOTER_OFF_FEATURES,
            "hard disk footer: 'features' 0x%08x lacks the reserved bit 0x2 that must be set",
            f->features);
    if (f->features & ~(uint32_t)(VHD_FEATURE_RESERVED | VHD_FEATURE_TEMPORARY))
        ADD(VF_SEV_WARNING, VF_E_FORMAT, fo + VHD_FOOTER_OFF_FEATURES,
            "hard disk footer: 'features' 0x%08x has unknown bits", f->features);
    if (f->features & VHD_FEATURE_TEMPORARY)
        ADD(VF_SEV_INFO, VF_OK, fo + VHD_FOOTER_OFF_FEATURES,
            "hard disk footer: 'features' marks the disk temporary");
    if (f->saved_state)
        ADD(VF_SEV_WARNING, VF_E_UNSUPPORTED, fo + VHD_FOOTER_OFF_SAVED_STATE,
            "hard disk footer: 'saved state' is set");
    for (size_t i = 0; i < VHD_FOOTER_RESERVED_BYTES; i++)
        if (f->reserved[i]) {
            ADD(VF_SEV_INFO, VF_OK, fo + VHD_FOOTER_OFF_RESERVED + i,
                "hard disk footer: 'reserved' byte %zu is 0x%02x (XenServer uses byte 85 as a "
                "hidden flag)",
                VHD_FOOTER_OFF_RESERVED + i, f->reserved[i]);
            break;
        }
    uint64_t chs = (uint64_t)f->cylinders * f->heads * f->sectors_per_track * VHD_SECTOR;
    if (chs != f->current_size)
        ADD(VF_SEV_INFO, VF_OK, fo + VHD_FOOTER_OFF_CYLINDERS,
            "hard disk footer: geometry %u/%u/%u describes %llu bytes; 'current size' %llu is "
            "used",
            f->cylinders, f->heads, f->sectors_per_track, ULL(chs), ULL(f->current_size));
    if (f->original_size != f->current_size)
        ADD(VF_SEV_INFO, VF_OK, fo + VHD_FOOTER_OFF_ORIGINAL_SIZE,
            "hard disk footer: 'original size' %llu differs from 'current size' %llu (resized)",
            ULL(f->original_size), ULL(f->current_size));
    if (f->disk_type != VF_DISK_FIXED)
        return;
    if (f->data_offset != UINT64_MAX && f->data_offset != 0xFFFFFFFFu)
        ADD(VF_SEV_WARNING, VF_E_FORMAT, fo + VHD_FOOTER_OFF_DATA_OFFSET,
            "hard disk footer: 'data offset' of a fixed disk is %llu, not all ones",
            ULL(f->data_offset));
    if (fo != f->current_size)
        ADD(VF_SEV_WARNING, VF_E_CORRUPT, fo,
            "fixed disk: %llu bytes precede the footer, 'current size' is %llu", ULL(fo),
            ULL(f->current_size));
}

static void vhd_check_header(vf_image *img, const vf_vhd *v, vf_report *rep)
{
    const vf_vhd_header *h = &v->hdr;
    uint64_t ho = v->footer.data_offset;
    if (v->bad_header_csum)
        ADD(VF_SEV_ERROR, VF_E_FORMAT, ho + VHD_HEADER_OFF_CHECKSUM,
            "dynamic disk header: 'checksum' 0x%08x is wrong", h->checksum);
    if (h->data_offset != UINT64_MAX && h->data_offset != 0xFFFFFFFFu)
        ADD(VF_SEV_WARNING, VF_E_FORMAT, ho + VHD_HEADER_OFF_DATA_OFFSET,
            "dynamic disk header: 'data offset' is %llu, not all ones", ULL(h->data_offset));
    bool res = h->reserved1 != 0;
    for (size_t i = 0; i < VHD_HEADER_RESERVED2_BYTES; i++)
        res = res || h->reserved2[i];
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        res = res || h->loc[i].reserved;
    if (res)
        ADD(VF_SEV_WARNING, VF_E_FORMAT, ho, "dynamic disk header: 'reserved' fields are not zero");
    /* total <= entries (vhd_check_table at open), so it fits in 32 bits. */
    uint32_t total = (uint32_t)((v->footer.current_size + v->block_size - 1) / v->block_size);
    uint32_t b = vf_vhd_bat_next(&v->bat, total, v->entries);
    if (b < v->entries)
        ADD(VF_SEV_WARNING, VF_E_CORRUPT, h->table_offset + (uint64_t)b * 4,
            "block allocation table: 'entry %u' is allocated past the disk's %u blocks", b, total);
}

static void vhd_check_locators(vf_image *img, const vf_vhd *v, vf_report *rep)
{
    bool usable = v->parent_name && *v->parent_name;
    for (size_t i = 0; i < VHD_LOCATORS; i++) {
        const vf_vhd_ploc *l = &v->hdr.loc[i];
        if (l->code == VHD_PLAT_NONE)
            continue;
        const char *nm = vf_vhd_plat_name(l->code);
        uint64_t at = v->footer.data_offset + VHD_HEADER_OFF_LOCATORS + i * VHD_LOCATOR_ENTRY_SIZE;
        if (v->footer.disk_type != VF_DISK_DIFF)
            ADD(VF_SEV_WARNING, VF_E_FORMAT, at,
                "parent locator %zu ('%s') in a disk without a parent", i, nm);
        if (l->off % VHD_SECTOR)
            ADD(VF_SEV_WARNING, VF_E_FORMAT, at + 16,
                "parent locator %zu ('%s'): 'platform data offset' %llu is not 512-aligned", i, nm,
                ULL(l->off));
        if (l->space && l->space < VHD_SECTOR)
            ADD(VF_SEV_INFO, VF_OK, at + 4,
                "parent locator %zu ('%s'): 'platform data space' %u read as sectors", i, nm,
                l->space);
        if (l->len > vf_vhd_ploc_space_bytes(l))
            ADD(VF_SEV_WARNING, VF_E_CORRUPT, at + 8,
                "parent locator %zu ('%s'): 'platform data length' %u exceeds its space %u", i, nm,
                l->len, l->space);
        const char *t = v->loc_text[i];
        if (t && *t)
            usable = true;
    }
    if (v->footer.disk_type == VF_DISK_DIFF && !usable)
        ADD(VF_SEV_ERROR, VF_E_CHAIN, v->footer.data_offset,
            "differencing disk: no parent locator and no 'parent unicode name'");
}

typedef struct vhd_span {
    uint64_t off, end;
    bool block; /* a block (bitmap and data), not metadata */
} vhd_span;

/* Is the gap [from, sp->off) the padding vhdfold puts before a block so that its data
 * starts on VHD_DATA_ALIGN (write.c, vhd_alloc_block)? Not orphaned space then. */
static bool vhd_align_pad(const vf_vhd *v, uint64_t from, const vhd_span *sp)
{
    return sp->block && sp->off - from < VHD_DATA_ALIGN &&
           (sp->off + v->bitmap_bytes) % VHD_DATA_ALIGN == 0;
}

static int vhd_span_cmp(const void *a, const void *b)
{
    const vhd_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* A locator owns its reserved space (when that space lies in the file). */
static uint64_t vhd_meta_span(const vf_vhd *v, const vf_vhd_range *r, size_t m)
{
    if (m < 3)
        return r->len;
    for (size_t i = 0; i < VHD_LOCATORS; i++) {
        const vf_vhd_ploc *l = &v->hdr.loc[i];
        uint64_t s = vf_vhd_ploc_space_bytes(l);
        if (l->code != VHD_PLAT_NONE && l->off == r->off && s > r->len &&
            vf_range_ok(r->off, s, v->footer_off))
            return s;
    }
    return r->len;
}

static void vhd_check_block(vf_image *img, const vf_vhd *v, vf_report *rep, uint32_t b,
                            const vf_vhd_range *meta, size_t nmeta)
{
    uint64_t off = (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR;
    if (!vf_range_ok(off, v->block_total, v->footer_off)) {
        ADD(VF_SEV_ERROR, VF_E_TRUNCATED, off,
            "block allocation table: 'entry %u' points past the end of data (%llu)", b,
            ULL(v->footer_off));
        return;
    }
    for (size_t m = 0; m < nmeta; m++)
        if (vf_ranges_overlap(off, v->block_total, meta[m].off, meta[m].len))
            ADD(VF_SEV_ERROR, VF_E_CORRUPT, off,
                "block allocation table: 'entry %u' overlaps the %s at %llu", b, meta[m].what,
                ULL(meta[m].off));
}

/* Blocks against EOF and metadata, overlaps between neighbours, then the gaps nothing covers
 * (orphaned space, e.g. blocks written before a crash and never published). */
static vf_status vhd_check_space(vf_image *img, const vf_vhd *v, vf_report *rep, vf_error *err)
{
    vf_vhd_range meta[3 + VHD_LOCATORS];
    size_t nmeta = vf_vhd_meta_ranges(v, meta);
    /* Spans follow the allocated blocks (<= entries, bounded by the file), not the size. */
    vhd_span *sp = malloc(((size_t)v->bat.used + nmeta) * sizeof *sp);
    if (!sp)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "check: no memory");
    size_t n = 0;
    for (size_t m = 0; m < nmeta; m++)
        sp[n++] = (vhd_span){meta[m].off, meta[m].off + vhd_meta_span(v, &meta[m], m), false};
    for (uint32_t b = vf_vhd_bat_next(&v->bat, 0, v->entries); b < v->entries;
         b = vf_vhd_bat_next(&v->bat, b + 1, v->entries)) {
        vhd_check_block(img, v, rep, b, meta, nmeta);
        uint64_t off = (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR;
        if (vf_range_ok(off, v->block_total, v->footer_off))
            sp[n++] = (vhd_span){off, off + v->block_total, true};
    }
    qsort(sp, n, sizeof *sp, vhd_span_cmp);
    uint64_t cur = 0, gaps = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && sp[i].off < sp[i - 1].end && sp[i].off >= v->footer.data_offset + VHD_HEADER_SIZE)
            ADD(VF_SEV_ERROR, VF_E_CORRUPT, sp[i].off,
                "overlap: the structures at %llu and %llu share bytes", ULL(sp[i - 1].off),
                ULL(sp[i].off));
        if (sp[i].off > cur && !vhd_align_pad(v, cur, &sp[i]) && gaps++ < VHD_CHECK_MAX_GAPS)
            ADD(VF_SEV_WARNING, VF_E_CORRUPT, cur,
                "orphaned space: bytes %llu..%llu belong to no structure", ULL(cur),
                ULL(sp[i].off));
        if (sp[i].end > cur)
            cur = sp[i].end;
    }
    if (v->footer_off > cur && gaps++ < VHD_CHECK_MAX_GAPS)
        ADD(VF_SEV_WARNING, VF_E_CORRUPT, cur,
            "orphaned space: bytes %llu..%llu belong to no structure", ULL(cur),
            ULL(v->footer_off));
    if (gaps > VHD_CHECK_MAX_GAPS)
        ADD(VF_SEV_WARNING, VF_E_CORRUPT, VF_OFF_NONE, "orphaned space: %llu more gaps not listed",
            ULL(gaps - VHD_CHECK_MAX_GAPS));
    free(sp);
    return VF_OK;
}

static vf_status vhd_check_bitmaps(vf_image *img, vf_vhd *v, vf_report *rep, vf_error *err)
{
    if ((uint64_t)v->bitmap_bytes * 8 == v->spb)
        return VF_OK; /* no padding bits */
    for (uint32_t b = vf_vhd_bat_next(&v->bat, 0, v->entries); b < v->entries;
         b = vf_vhd_bat_next(&v->bat, b + 1, v->entries)) {
        uint64_t off = (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR;
        if (!vf_range_ok(off, v->block_total, v->footer_off))
            continue;
        const uint8_t *bm;
        vf_status st = vf_vhd_bitmap_of(v, b, &bm, err);
        if (st != VF_OK)
            return st;
        if (vf_vhd_bitmap_padding_dirty(bm, v->spb, v->bitmap_bytes))
            ADD(VF_SEV_WARNING, VF_E_FORMAT, off,
                "sector bitmap of block %u has padding bits set after sector %u", b, v->spb);
    }
    return VF_OK;
}

vf_status vf_vhd_check(vf_image *img, vf_report *rep, vf_error *err)
{
    vf_vhd *v = img->priv;
    vhd_check_footer(img, v, rep);
    if (v->footer.disk_type == VF_DISK_FIXED)
        return VF_OK;
    vhd_check_header(img, v, rep);
    vhd_check_locators(img, v, rep);
    vf_status st = vhd_check_space(img, v, rep, err);
    if (st == VF_OK)
        st = vhd_check_bitmaps(img, v, rep, err);
    return st;
}
