/* vhdx/locator.c - the parent locator metadata item: key/value entries in UTF-16LE, decoded
 * strictly to UTF-8 (utf16.c); GUID text for parent_linkage; encoding for create and set_parent;
 * the locator list handed to the chain layer (relative_path, volume_path, absolute_win32_path).
 * Layer: format/vhdx. Called by metadata.c, vhdx.c, create.c, write.c.
 * Spec: MS-VHDX 2.6.2.6; docs/formats/vhdx.md "Parent locator item", "Parent linkage". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf16.h"
#include "vhdx_int.h"

enum { VX_LOC_HDR = 20, VX_KV_SIZE = 12, VX_LOC_TEXT_MAX = 32767 };

/* One key or value (UTF-16LE, no NUL: checked by the caller) as malloc'd UTF-8 in *out. */
static vf_status vx_text(const uint8_t *p, size_t bytes, char **out, uint64_t where, vf_error *err)
{
    size_t cap = bytes / 2 * 3 + 1, n; /* a unit makes at most 3 bytes, a pair 4 */
    *out = malloc(cap);
    if (!*out)
        return VF_FAIL_ERRNO(err, ENOMEM, where, "decoding the parent locator");
    vf_status st = vf_utf16_to_utf8(p, bytes, false, *out, cap, &n, err);
    if (st != VF_OK && err)
        err->off = where;
    return st;
}

void vf_vhdx_locator_free(vx_state *st)
{
    for (uint32_t i = 0; i < st->nkv; i++) {
        free(st->kv[i].key);
        free(st->kv[i].value);
    }
    free(st->kv);
    st->kv = NULL;
    st->nkv = 0;
}

static bool vx_has_nul(const uint8_t *p, size_t bytes)
{
    for (size_t i = 0; i + 1 < bytes; i += 2)
        if (p[i] == 0 && p[i + 1] == 0)
            return true;
    return false;
}

/* Key comparisons made by the duplicate check, for the test that bounds them. */
_Atomic unsigned long long vf_vhdx_locator_key_compares;

/* One key/value entry: both ranges inside the item, even non-zero lengths, no NULs; the
 * bytes of every entry together within the item's size (*budget), so overlapping ranges
 * cannot make decoding cost more than the item itself. */
static vf_status vx_kv_parse(vx_state *st, const uint8_t *buf, uint32_t len, uint32_t i,
                             uint64_t *budget, uint64_t where, vf_error *err)
{
    const uint8_t *e = buf + VX_LOC_HDR + (size_t)VX_KV_SIZE * i;
    uint32_t koff = (uint32_t)vf_get_le(e, 4), voff = (uint32_t)vf_get_le(e + 4, 4);
    uint16_t klen = (uint16_t)vf_get_le(e + 8, 2), vlen = (uint16_t)vf_get_le(e + 10, 2);
    if (!koff || !voff || !klen || !vlen || klen % 2 || vlen % 2 || !vf_range_ok(koff, klen, len) ||
        !vf_range_ok(voff, vlen, len))
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "parent locator entry %" PRIu32 ": key (%" PRIu32 "+%u) or value (%" PRIu32
                       "+%u) is empty, odd or outside the %" PRIu32 "-byte item",
                       i, koff, klen, voff, vlen, len);
    if ((uint64_t)klen + vlen > *budget)
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "parent locator entry %" PRIu32
                       ": the keys and values of entries 0..%" PRIu32
                       " together are longer than the %" PRIu32 "-byte item (ranges overlap)",
                       i, i, len);
    *budget -= (uint64_t)klen + vlen;
    if (vx_has_nul(buf + koff, klen) || vx_has_nul(buf + voff, vlen))
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "parent locator entry %" PRIu32 " has an embedded NUL", i);
    vx_kv *kv = &st->kv[i];
    st->nkv = i + 1;
    vf_status s = vx_text(buf + koff, klen, &kv->key, where, err);
    if (s == VF_OK)
        s = vx_text(buf + voff, vlen, &kv->value, where, err);
    if (s != VF_OK)
        vf_error_prefix(err, "parent locator entry %" PRIu32, i);
    return s;
}

static int vx_key_cmp(const vx_state *st, uint32_t a, uint32_t b)
{
    vf_vhdx_locator_key_compares++;
    return strcmp(st->kv[a].key, st->kv[b].key);
}

/* Bottom-up merge sort of the entry numbers by key: at most n * ceil(log2 n) comparisons
 * whatever the input (a library qsort promises no bound). tmp has room for n. */
static void vx_sort_keys(const vx_state *st, uint32_t *idx, uint32_t *tmp, uint32_t n)
{
    for (uint64_t w = 1; w < n; w *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * w) {
            uint64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            uint64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = vx_key_cmp(st, idx[a], idx[b]) <= 0 ? idx[a++] : idx[b++];
            while (a < mid)
                tmp[o++] = idx[a++];
            while (b < hi)
                tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* Every key once: sort the entry numbers by key and compare neighbours, O(n log n). */
static vf_status vx_keys_unique(const vx_state *st, uint64_t where, vf_error *err)
{
    uint32_t n = st->nkv;
    if (n < 2)
        return VF_OK;
    uint32_t *idx = malloc((size_t)n * 2 * sizeof *idx); /* n < 65536 */
    if (!idx)
        return VF_FAIL_ERRNO(err, ENOMEM, where, "checking the parent locator keys");
    for (uint32_t i = 0; i < n; i++)
        idx[i] = i;
    vx_sort_keys(st, idx, idx + n, n);
    vf_status s = VF_OK;
    for (uint32_t i = 1; i < n && s == VF_OK; i++)
        if (vx_key_cmp(st, idx[i - 1], idx[i]) == 0)
            s = VF_FAIL(err, VF_E_CORRUPT, where, "parent locator key '%s' appears twice",
                        st->kv[idx[i]].key);
    free(idx);
    return s;
}

vf_status vf_vhdx_locator_parse(vx_state *st, const uint8_t *buf, uint32_t len, vf_error *err)
{
    uint64_t where = st->meta_off + st->items[st->loc_item].off;
    if (len < VX_LOC_HDR)
        return VF_FAIL(err, VF_E_FORMAT, where, "parent locator item is shorter than its header");
    memcpy(st->loc_type, buf, 16);
    uint32_t count = (uint32_t)vf_get_le(buf + 18, 2);
    if ((uint64_t)VX_LOC_HDR + (uint64_t)VX_KV_SIZE * count > len)
        return VF_FAIL(err, VF_E_FORMAT, where + 18,
                       "parent locator 'KeyValueCount' %" PRIu32 " does not fit in %" PRIu32
                       " bytes",
                       count, len);
    if (memcmp(st->loc_type, vx_guid_vhdx_locator_type, 16) != 0)
        return VF_FAIL(err, VF_E_UNSUPPORTED, where,
                       "parent locator type is not the VHDX parent locator");
    st->kv = calloc(count ? count : 1, sizeof *st->kv); /* count < 65536 */
    if (!st->kv)
        return VF_FAIL_ERRNO(err, ENOMEM, where, "allocating the parent locator");
    uint64_t budget = len; /* bytes of keys and values all entries may decode together */
    for (uint32_t i = 0; i < count; i++) {
        vf_status s =
            vx_kv_parse(st, buf, len, i, &budget, where + VX_LOC_HDR + VX_KV_SIZE * i, err);
        if (s)
            return s;
    }
    vf_status s = vx_keys_unique(st, where, err);
    if (s)
        return s;
    const char *link = vf_vhdx_locator_get(st, "parent_linkage");
    uint8_t g[16];
    if (!link || !vf_vhdx_guid_parse(link, g))
        return VF_FAIL(err, VF_E_FORMAT, where, "parent locator 'parent_linkage' is %s%s%s",
                       link ? "not a GUID: '" : "", link ? link : "missing", link ? "'" : "");
    const char *link2 = vf_vhdx_locator_get(st, "parent_linkage2");
    if (link2 && !vf_vhdx_guid_parse(link2, g))
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "parent locator 'parent_linkage2' is not a GUID: '%s'", link2);
    if (!vf_vhdx_locator_get(st, "relative_path") && !vf_vhdx_locator_get(st, "volume_path") &&
        !vf_vhdx_locator_get(st, "absolute_win32_path"))
        return VF_FAIL(err, VF_E_FORMAT, where,
                       "parent locator has none of 'relative_path', 'volume_path', "
                       "'absolute_win32_path'");
    return VF_OK;
}

const char *vf_vhdx_locator_get(const vx_state *st, const char *key)
{
    for (uint32_t i = 0; i < st->nkv; i++)
        if (!strcmp(st->kv[i].key, key))
            return st->kv[i].value;
    return NULL;
}

static int vx_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* GUID text (any case, braces optional) to on-disk mixed-endian bytes. */
bool vf_vhdx_guid_parse(const char *text, uint8_t out[16])
{
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    size_t n = strlen(text);
    bool braces = n == 38 && text[0] == '{' && text[37] == '}';
    if (!braces && n != 36)
        return false;
    const char *p = text + (braces ? 1 : 0);
    int k = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-')
                return false;
            continue;
        }
        int hi = vx_hexval(p[i]), lo = vx_hexval(p[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[order[k++]] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return true;
}

vf_status vf_vhdx_locator_encode(const char *const *keys, const char *const *values, size_t n,
                                 uint8_t **out, uint32_t *len, vf_error *err)
{
    size_t total = VX_LOC_HDR + VX_KV_SIZE * n;
    for (size_t i = 0; i < n; i++) {
        /* A length field holds 65534 bytes of UTF-16 at most: 32767 units, which any UTF-8
         * text of 32767 bytes fits (one byte never makes more than one unit). */
        size_t kl = strlen(keys[i]), vl = strlen(values[i]);
        if (!kl || !vl || kl > VX_LOC_TEXT_MAX || vl > VX_LOC_TEXT_MAX)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "parent locator key or value '%s' is empty or longer than %u bytes",
                           keys[i], VX_LOC_TEXT_MAX);
        total += 2 * (kl + vl);
    }
    uint8_t *b = calloc(1, total);
    if (!b)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a parent locator");
    memcpy(b, vx_guid_vhdx_locator_type, 16);
    vf_put_le16(b + 18, (uint16_t)n);
    size_t pos = VX_LOC_HDR + VX_KV_SIZE * n;
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + VX_LOC_HDR + VX_KV_SIZE * i;
        size_t kb, vb;
        vf_status st = vf_utf8_to_utf16(keys[i], false, b + pos, total - pos, &kb, err);
        vf_put_le32(e, (uint32_t)pos);
        vf_put_le16(e + 8, (uint16_t)kb);
        pos += kb;
        if (st == VF_OK)
            st = vf_utf8_to_utf16(values[i], false, b + pos, total - pos, &vb, err);
        if (st != VF_OK) {
            free(b);
            return st;
        }
        vf_put_le32(e + 4, (uint32_t)pos);
        vf_put_le16(e + 10, (uint16_t)vb);
        pos += vb;
    }
    *out = b;
    *len = (uint32_t)pos;
    return VF_OK;
}

vf_status vf_vhdx_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                           vf_error *err)
{
    static const struct {
        const char *key;
        vf_locator_kind kind;
    } order[] = {{"relative_path", VF_LOC_RELATIVE},
                 {"volume_path", VF_LOC_VOLUME},
                 {"absolute_win32_path", VF_LOC_ABSOLUTE}};
    const vx_state *st = vx_st(img);
    (void)err;
    *n = 0;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const char *v = vf_vhdx_locator_get(st, order[k].key);
        if (!v)
            continue;
        if (*n < max) {
            vf_locator *l = &out[*n];
            memset(l, 0, sizeof *l);
            l->kind = order[k].kind;
            snprintf(l->tag, sizeof l->tag, "%s", order[k].key);
            l->path = v; /* borrowed from st->kv, whole */
        }
        (*n)++;
    }
    return VF_OK;
}
