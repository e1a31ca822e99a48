/* vhdx/region.c - the region table (two identical 64 KiB copies at 192 and 256 KiB): parse,
 * validate (limits, duplicates, alignment, overlaps with each other and the log), encode; and
 * the O(n log n) duplicate and overlap check the metadata table shares (vf_vhdx_table_clash).
 * Layer: format/vhdx. Called by vhdx.c (open) and create.c.
 * Spec: MS-VHDX 2.2.3; docs/formats/vhdx.md "Region table". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

enum { VX_RT_OFF_SIG = 0, VX_RT_OFF_CRC = 4, VX_RT_OFF_COUNT = 8, VX_RT_ENTRY0 = 16 };

static vf_status vx_region_entry_check(const vx_state *st, const vx_region *r, uint64_t where,
                                       vf_error *err)
{
    if (r->off % VX_MIB || r->off < VX_HEADER_AREA || r->len == 0 || r->len % VX_MIB)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "region table entry at %" PRIu64 " length %" PRIu32
                       ": 'FileOffset' and 'Length' must be non-zero multiples of 1 MiB, "
                       "after the header area",
                       r->off, r->len);
    if (r->off > UINT64_MAX - r->len)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "region table entry: 'FileOffset' + 'Length' wraps");
    if (r->flags & ~1u)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "region table entry has reserved flag bits 0x%" PRIx32, r->flags);
    if (vf_ranges_overlap(r->off, r->len, st->hdr.log_offset, st->hdr.log_length))
        return VF_FAIL(err, VF_E_CORRUPT, where, "region at %" PRIu64 " overlaps the log", r->off);
    return VF_OK;
}

_Atomic unsigned long long vf_vhdx_table_steps;

static int vx_tkey_by_id(const void *pa, const void *pb)
{
    const vx_tkey *x = pa, *y = pb;
    vf_vhdx_table_steps++;
    int c = memcmp(x->id, y->id, 16);
    if (c)
        return c;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int vx_tkey_by_off(const void *pa, const void *pb)
{
    const vx_tkey *x = pa, *y = pb;
    vf_vhdx_table_steps++;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void vx_pair(uint32_t i, uint32_t j, uint32_t *a, uint32_t *b)
{
    *a = i < j ? i : j;
    *b = i < j ? j : i;
}

/* Sorted by id, equal neighbours are duplicates; sorted by offset, a range that starts before
 * the furthest end seen so far overlaps the range owning that end. */
int vf_vhdx_table_clash(vx_tkey *k, uint32_t n, uint32_t *a, uint32_t *b)
{
    qsort(k, n, sizeof *k, vx_tkey_by_id);
    for (uint32_t i = 1; i < n; i++, vf_vhdx_table_steps++)
        if (!memcmp(k[i - 1].id, k[i].id, 16) && k[i - 1].tag == k[i].tag) {
            vx_pair(k[i - 1].idx, k[i].idx, a, b);
            return VX_CLASH_ID;
        }
    qsort(k, n, sizeof *k, vx_tkey_by_off);
    uint64_t end = 0;
    uint32_t owner = 0;
    bool any = false;
    for (uint32_t i = 0; i < n; i++, vf_vhdx_table_steps++) {
        if (!k[i].len)
            continue;
        if (any && k[i].off < end) {
            vx_pair(owner, k[i].idx, a, b);
            return VX_CLASH_RANGE;
        }
        if (!any || k[i].off + k[i].len > end) {
            end = k[i].off + k[i].len; /* no wrap: each entry was checked alone */
            owner = k[i].idx;
        }
        any = true;
    }
    return VX_CLASH_NONE;
}

/* Duplicate GUIDs, then overlapping regions (each entry already checked alone). */
static vf_status vx_region_clash(const vx_region *r, uint32_t n, uint64_t where, vf_error *err)
{
    vx_tkey *k = malloc((n ? n : 1) * sizeof *k); /* n <= 2047 */
    if (!k)
        return VF_FAIL_ERRNO(err, ENOMEM, where, "checking the region table");
    for (uint32_t i = 0; i < n; i++) {
        memcpy(k[i].id, r[i].guid, 16);
        k[i].tag = 0;
        k[i].idx = i;
        k[i].off = r[i].off;
        k[i].len = r[i].len;
    }
    uint32_t a = 0, b = 0;
    int c = vf_vhdx_table_clash(k, n, &a, &b);
    free(k);
    uint64_t ew = where + VX_RT_ENTRY0 + 32ull * b;
    if (c == VX_CLASH_ID)
        return VF_FAIL(err, VF_E_CORRUPT, ew,
                       "region table has entry %" PRIu32 " with the same GUID as entry %" PRIu32, b,
                       a);
    if (c == VX_CLASH_RANGE)
        return VF_FAIL(err, VF_E_CORRUPT, ew,
                       "region table entry %" PRIu32 " overlaps entry %" PRIu32, b, a);
    return VF_OK;
}

vf_status vf_vhdx_region_parse(vx_state *st, const uint8_t *buf, uint64_t where, vx_region **out,
                               uint32_t *n, vf_error *err)
{
    *out = NULL;
    *n = 0;
    if (memcmp(buf, "regi", 4) != 0)
        return VF_FAIL(err, VF_E_FORMAT, where, "region table signature is not 'regi'");
    if (!st->skip_checksums &&
        vf_get_le(buf + VX_RT_OFF_CRC, 4) != vf_vhdx_crc_skip(buf, VX_RT_SIZE, VX_RT_OFF_CRC))
        return VF_FAIL(err, VF_E_FORMAT, where + VX_RT_OFF_CRC, "region table CRC-32C mismatch");
    uint32_t count = (uint32_t)vf_get_le(buf + VX_RT_OFF_COUNT, 4);
    if (count > VX_RT_MAX_ENTRIES)
        return VF_FAIL(err, VF_E_FORMAT, where + VX_RT_OFF_COUNT,
                       "region table claims %" PRIu32 " entries, the limit is %u", count,
                       VX_RT_MAX_ENTRIES);
    vx_region *r = calloc(count ? count : 1, sizeof *r); /* bounded by 2047 above */
    if (!r)
        return VF_FAIL_ERRNO(err, ENOMEM, where, "allocating the region table");
    vf_cur c = vf_cur_make(buf, VX_RT_SIZE);
    vf_cur_seek(&c, VX_RT_ENTRY0);
    vf_status s = VF_OK;
    for (uint32_t i = 0; i < count && !s; i++) {
        uint64_t ew = where + VX_RT_ENTRY0 + 32ull * i;
        vf_cur_bytes(&c, r[i].guid, 16);
        r[i].off = vf_cur_le64(&c);
        r[i].len = vf_cur_le32(&c);
        r[i].flags = vf_cur_le32(&c);
        s = vx_region_entry_check(st, &r[i], ew, err);
        bool known =
            !memcmp(r[i].guid, vx_guid_bat, 16) || !memcmp(r[i].guid, vx_guid_metadata, 16);
        if (!s && !known && (r[i].flags & 1u))
            s = VF_FAIL(err, VF_E_UNSUPPORTED, ew,
                        "region table entry %" PRIu32 " is an unknown region marked required", i);
    }
    if (!s)
        s = vx_region_clash(r, count, where, err);
    if (s) {
        free(r);
        return s;
    }
    *out = r;
    *n = count;
    return VF_OK;
}

vf_status vf_vhdx_region_read(vx_state *st, vf_error *err)
{
    uint8_t *buf = malloc(VX_RT_SIZE);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VX_RT_OFF(0), "allocating a region table buffer");
    vf_error e[2];
    memset(e, 0, sizeof e);
    vf_status s = VF_OK;
    /* A robust reader falls back to the second copy when the first is unusable. */
    for (unsigned i = 0; i < 2; i++) {
        s = vf_vhdx_pread_raw(st, buf, VX_RT_SIZE, VX_RT_OFF(i), &e[i]);
        if (!s)
            s = vf_vhdx_region_parse(st, buf, VX_RT_OFF(i), &st->regions, &st->nregions, &e[i]);
        if (!s || s == VF_E_IO || s == VF_E_NOMEM || s == VF_E_UNSUPPORTED)
            break;
    }
    free(buf);
    if (s) {
        vf_error *last = e[1].code ? &e[1] : &e[0];
        if (err) {
            *err = *last;
            if (e[1].code && e[0].code)
                snprintf(err->msg, sizeof err->msg,
                         "region table 1: %.200s; region table 2: %.200s", e[0].msg, e[1].msg);
        }
        return s;
    }
    bool have_bat = false, have_meta = false;
    for (uint32_t i = 0; i < st->nregions; i++) {
        if (!memcmp(st->regions[i].guid, vx_guid_bat, 16)) {
            have_bat = true;
            st->bat_off = st->regions[i].off;
            st->bat_len = st->regions[i].len;
        } else if (!memcmp(st->regions[i].guid, vx_guid_metadata, 16)) {
            have_meta = true;
            st->meta_off = st->regions[i].off;
            st->meta_len = st->regions[i].len;
        }
    }
    if (!have_bat || !have_meta)
        return VF_FAIL(err, VF_E_CORRUPT, VX_RT_OFF(0), "region table has no %s region",
                       have_bat ? "metadata" : "BAT");
    return VF_OK;
}

void vf_vhdx_region_encode(const vx_region *r, uint32_t n, uint8_t buf[VX_RT_SIZE])
{
    memset(buf, 0, VX_RT_SIZE);
    memcpy(buf, "regi", 4);
    vf_put_le32(buf + VX_RT_OFF_COUNT, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = buf + VX_RT_ENTRY0 + 32u * i;
        memcpy(e, r[i].guid, 16);
        vf_put_le64(e + 16, r[i].off);
        vf_put_le32(e + 24, r[i].len);
        vf_put_le32(e + 28, r[i].flags);
    }
    vf_vhdx_crc_store(buf, VX_RT_SIZE, VX_RT_OFF_CRC);
}
