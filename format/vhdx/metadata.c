/* vhdx/metadata.c - the metadata region: its table (limits, bounds, overlaps, duplicates,
 * unknown required items) and the system items (file parameters, virtual disk size, page 83,
 * sector sizes, parent locator). Layer: format/vhdx. Called by vhdx.c (open).
 * Spec: MS-VHDX 2.6; docs/formats/vhdx.md "Metadata table and items". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

enum { VX_MT_OFF_COUNT = 10, VX_MT_ENTRY0 = 32 };

static const struct {
    const uint8_t *id;
    uint32_t len; /* exact length, 0 = variable */
    const char *name;
} vx_known_items[] = {
    {vx_guid_file_params, 8, "File Parameters"}, {vx_guid_vdisk_size, 8, "Virtual Disk Size"},
    {vx_guid_page83, 16, "Page 83 Data"},        {vx_guid_lss, 4, "Logical Sector Size"},
    {vx_guid_pss, 4, "Physical Sector Size"},    {vx_guid_parent_locator, 0, "Parent Locator"},
};
#define VX_NKNOWN (sizeof vx_known_items / sizeof vx_known_items[0])

static int vx_known_index(const vx_item *it)
{
    if (it->flags & VX_MD_IS_USER)
        return -1;
    for (size_t k = 0; k < VX_NKNOWN; k++)
        if (!memcmp(it->id, vx_known_items[k].id, 16))
            return (int)k;
    return -1;
}

static vf_status vx_item_check(const vx_state *st, const vx_item *it, uint32_t i, uint64_t where,
                               vf_error *err)
{
    if (it->len > VX_META_ITEM_MAX || (it->len && it->off < VX_META_TABLE_SIZE) ||
        !vf_range_ok(it->off, it->len, st->meta_len))
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "metadata entry %" PRIu32 " (offset %" PRIu32 ", length %" PRIu32
                       ") lies outside the metadata region's item area",
                       i, it->off, it->len);
    int k = vx_known_index(it);
    if (k >= 0 && vx_known_items[k].len && it->len != vx_known_items[k].len)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "metadata item '%s' has length %" PRIu32 ", expected %" PRIu32,
                       vx_known_items[k].name, it->len, vx_known_items[k].len);
    if (k < 0 && (it->flags & VX_MD_IS_REQUIRED))
        return VF_FAIL(err, VF_E_UNSUPPORTED, where,
                       "metadata entry %" PRIu32 " is an unknown item marked required", i);
    return VF_OK;
}

/* Items repeated (same id, both user or both system), then items sharing bytes. */
static vf_status vx_table_clash(const vx_state *st, vf_error *err)
{
    uint32_t n = st->nitems;
    vx_tkey *k = malloc((n ? n : 1) * sizeof *k); /* n <= 2047 */
    if (!k)
        return VF_FAIL_ERRNO(err, ENOMEM, st->meta_off, "checking the metadata table");
    for (uint32_t i = 0; i < n; i++) {
        memcpy(k[i].id, st->items[i].id, 16);
        k[i].tag = st->items[i].flags & VX_MD_IS_USER;
        k[i].idx = i;
        k[i].off = st->items[i].off;
        k[i].len = st->items[i].len;
    }
    uint32_t a = 0, b = 0;
    int c = vf_vhdx_table_clash(k, n, &a, &b);
    free(k);
    uint64_t where = st->meta_off + VX_MT_ENTRY0 + 32ull * b;
    if (c == VX_CLASH_ID)
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "metadata entry %" PRIu32 " repeats the item of entry %" PRIu32, b, a);
    if (c == VX_CLASH_RANGE)
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "metadata entry %" PRIu32 " overlaps entry %" PRIu32, b, a);
    return VF_OK;
}

static vf_status vx_table_parse(vx_state *st, const uint8_t *t, vf_error *err)
{
    if (memcmp(t, "metadata", 8) != 0)
        return VF_FAIL(err, VF_E_FORMAT, st->meta_off,
                       "metadata table signature is not 'metadata'");
    uint32_t n = (uint32_t)vf_get_le(t + VX_MT_OFF_COUNT, 2);
    if (n > VX_META_MAX_ENTRIES)
        return VF_FAIL(err, VF_E_FORMAT, st->meta_off + VX_MT_OFF_COUNT,
                       "metadata table claims %" PRIu32 " entries, the limit is %u", n,
                       VX_META_MAX_ENTRIES);
    st->items = calloc(n ? n : 1, sizeof *st->items); /* bounded by 2047 */
    if (!st->items)
        return VF_FAIL_ERRNO(err, ENOMEM, st->meta_off, "allocating the metadata table");
    vf_cur c = vf_cur_make(t, VX_META_TABLE_SIZE);
    vf_cur_seek(&c, VX_MT_ENTRY0);
    for (uint32_t i = 0; i < n; i++) {
        vx_item *it = &st->items[i];
        uint64_t where = st->meta_off + VX_MT_ENTRY0 + 32ull * i;
        vf_cur_bytes(&c, it->id, 16);
        it->off = vf_cur_le32(&c);
        it->len = vf_cur_le32(&c);
        it->flags = vf_cur_le32(&c);
        (void)vf_cur_le32(&c);
        st->nitems = i + 1;
        vf_status s = vx_item_check(st, it, i, where, err);
        if (s)
            return s;
    }
    return vx_table_clash(st, err);
}

static const vx_item *vx_find(const vx_state *st, const uint8_t *id, uint32_t *index)
{
    for (uint32_t i = 0; i < st->nitems; i++)
        if (!(st->items[i].flags & VX_MD_IS_USER) && !memcmp(st->items[i].id, id, 16)) {
            if (index)
                *index = i;
            return &st->items[i];
        }
    return NULL;
}

static vf_status vx_item_read(vx_state *st, const uint8_t *id, const char *name, void *buf,
                              vf_error *err)
{
    const vx_item *it = vx_find(st, id, NULL);
    if (!it)
        return VF_FAIL(err, VF_E_CORRUPT, st->meta_off, "metadata has no '%s' item (mandatory)",
                       name);
    return vf_vhdx_pread(st, buf, it->len, st->meta_off + it->off, err);
}

/* Sizes and flags from the system items; ranges per docs/formats/vhdx.md "Limits". */
static vf_status vx_values_check(const vx_state *st, vf_error *err)
{
    uint64_t w = st->meta_off;
    if (!vf_is_pow2(st->block_size) || st->block_size < VX_MIN_BLOCK ||
        st->block_size > VX_MAX_BLOCK)
        return VF_FAIL(err, VF_E_FORMAT, w,
                       "File Parameters 'BlockSize' %" PRIu32
                       " is not a power of two between 1 MiB and 256 MiB",
                       st->block_size);
    if (st->fp_flags & ~3u)
        return VF_FAIL(err, VF_E_FORMAT, w, "File Parameters has reserved flags 0x%" PRIx32,
                       st->fp_flags);
    if (st->lss != 512 && st->lss != 4096)
        return VF_FAIL(err, VF_E_FORMAT, w,
                       "metadata item 'Logical Sector Size' %" PRIu32 " is neither 512 nor 4096",
                       st->lss);
    if (st->pss != 512 && st->pss != 4096)
        return VF_FAIL(err, VF_E_FORMAT, w,
                       "metadata item 'Physical Sector Size' %" PRIu32 " is neither 512 nor 4096",
                       st->pss);
    if (st->vsize == 0 || st->vsize % st->lss || st->vsize > VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_FORMAT, w,
                       "metadata item 'Virtual Disk Size' %" PRIu64
                       " must be non-zero, a multiple of the %" PRIu32
                       "-byte logical sector and at most 64 TiB",
                       st->vsize, st->lss);
    return VF_OK;
}

vf_status vf_vhdx_metadata_read(vx_state *st, vf_error *err)
{
    if (st->meta_len < VX_META_TABLE_SIZE ||
        !vf_range_ok(st->meta_off, st->meta_len, st->file_size))
        return VF_FAIL(err, VF_E_TRUNCATED, st->meta_off,
                       "metadata region at %" PRIu64 " (%" PRIu64 " bytes) runs past the file end",
                       st->meta_off, st->meta_len);
    uint8_t *t = malloc(VX_META_TABLE_SIZE);
    if (!t)
        return VF_FAIL_ERRNO(err, ENOMEM, st->meta_off, "allocating the metadata table");
    vf_status s = vf_vhdx_pread(st, t, VX_META_TABLE_SIZE, st->meta_off, err);
    if (!s)
        s = vx_table_parse(st, t, err);
    free(t);
    if (s)
        return s;
    uint8_t fp[8], vs[8], p83[16], lss[4], pss[4];
    if ((s = vx_item_read(st, vx_guid_file_params, "File Parameters", fp, err)) ||
        (s = vx_item_read(st, vx_guid_vdisk_size, "Virtual Disk Size", vs, err)) ||
        (s = vx_item_read(st, vx_guid_page83, "Page 83 Data", p83, err)) ||
        (s = vx_item_read(st, vx_guid_lss, "Logical Sector Size", lss, err)) ||
        (s = vx_item_read(st, vx_guid_pss, "Physical Sector Size", pss, err)))
        return s;
    st->block_size = (uint32_t)vf_get_le(fp, 4);
    st->fp_flags = (uint32_t)vf_get_le(fp + 4, 4);
    st->vsize = vf_get_le(vs, 8);
    memcpy(st->page83, p83, 16);
    st->lss = (uint32_t)vf_get_le(lss, 4);
    st->pss = (uint32_t)vf_get_le(pss, 4);
    st->has_parent = (st->fp_flags & VX_FP_HAS_PARENT) != 0;
    if ((s = vx_values_check(st, err)))
        return s;
    uint32_t li;
    const vx_item *loc = vx_find(st, vx_guid_parent_locator, &li);
    st->loc_item = loc ? li : UINT32_MAX;
    if (!st->has_parent)
        return VF_OK; /* a locator in a non-differencing file is ignored (check notes it) */
    if (!loc || loc->len == 0)
        return VF_FAIL(err, VF_E_CORRUPT, st->meta_off,
                       "File Parameters has 'HasParent' set but there is no parent locator");
    uint8_t *lb = malloc(loc->len); /* <= 1 MiB, checked in vx_item_check */
    if (!lb)
        return VF_FAIL_ERRNO(err, ENOMEM, st->meta_off, "allocating the parent locator");
    s = vf_vhdx_pread(st, lb, loc->len, st->meta_off + loc->off, err);
    if (!s)
        s = vf_vhdx_locator_parse(st, lb, loc->len, err);
    free(lb);
    return s;
}
