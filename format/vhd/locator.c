/* vhd/locator.c - parent locators: UTF-16 <-> UTF-8 helpers, decoding each platform code's
 * data, and the ordered candidate list handed to the chain layer.
 * Layer: format/vhd. Called by vhd.c (open validates every locator), create.c and
 * identity.c (encoding), and image.c through the driver's locators entry.
 * Spec: VHD spec 1.0 "Parent Locator Entries" (formats.md 2.7, 2.8, 4.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

static size_t vhd_put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

vf_status vf_utf16_to_utf8(const uint8_t *src, size_t len, bool big_endian, char *out, size_t cap,
                           size_t *out_len, vf_error *err)
{
    *out_len = 0;
    if (cap)
        out[0] = '\0';
    if (len % 2)
        return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE, "UTF-16 text has an odd length of %zu bytes",
                       len);
    size_t units = len / 2, p = 0;
    for (size_t i = 0; i < units; i++) {
        const uint8_t *u = src + i * 2;
        uint32_t cp = (uint32_t)(big_endian ? vf_get_be(u, 2) : vf_get_le(u, 2));
        if (cp == 0)
            break; /* names need not be NUL-terminated; bytes after a NUL are ignored */
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE,
                           "UTF-16 text has an unpaired low surrogate 0x%04x at unit %zu",
                           (unsigned)cp, i);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (i + 1 < units) {
                const uint8_t *v = src + (i + 1) * 2;
                lo = (uint32_t)(big_endian ? vf_get_be(v, 2) : vf_get_le(v, 2));
            }
            if (lo < 0xDC00 || lo > 0xDFFF)
                return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE,
                               "UTF-16 text has an unpaired high surrogate 0x%04x at unit %zu",
                               (unsigned)cp, i);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i++;
        }
        size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (p + need + 1 > cap)
            return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE,
                           "UTF-16 text does not fit %zu bytes of UTF-8", cap);
        p += vhd_put_utf8(out + p, cp);
    }
    out[p] = '\0';
    *out_len = p;
    return VF_OK;
}

/* Next code point of UTF-8 text; 0xFFFFFFFF when malformed (overlong, surrogate, > U+10FFFF). */
static uint32_t vhd_next_utf8(const unsigned char **s)
{
    const unsigned char *p = *s;
    uint32_t cp;
    size_t n;
    if (p[0] < 0x80)
        cp = p[0], n = 1;
    else if ((p[0] & 0xE0) == 0xC0)
        cp = p[0] & 0x1Fu, n = 2;
    else if ((p[0] & 0xF0) == 0xE0)
        cp = p[0] & 0x0Fu, n = 3;
    else if ((p[0] & 0xF8) == 0xF0)
        cp = p[0] & 0x07u, n = 4;
    else
        return 0xFFFFFFFFu;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0xFFFFFFFFu;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFFFFFFu;
    *s = p + n;
    return cp;
}

static void vhd_put16(uint8_t *o, bool be, uint32_t v)
{
    if (be)
        vf_put_be16(o, (uint16_t)v);
    else
        vf_put_le16(o, (uint16_t)v);
}

vf_status vf_utf8_to_utf16(const char *s, bool big_endian, uint8_t *out, size_t cap,
                           size_t *out_len, vf_error *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    *out_len = 0;
    while (*p) {
        uint32_t cp = vhd_next_utf8(&p);
        if (cp == 0xFFFFFFFFu)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "path '%s' is not valid UTF-8", s);
        size_t need = cp >= 0x10000 ? 4 : 2;
        if (n + need > cap)
            return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE,
                           "path '%s' needs more than %zu bytes of UTF-16", s, cap);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            vhd_put16(out + n, big_endian, 0xD800 + (cp >> 10));
            vhd_put16(out + n + 2, big_endian, 0xDC00 + (cp & 0x3FF));
        } else {
            vhd_put16(out + n, big_endian, cp);
        }
        n += need;
    }
    *out_len = n;
    return VF_OK;
}

const char *vf_vhd_plat_name(uint32_t code)
{
    switch (code) {
    case VHD_PLAT_NONE:
        return "none";
    case VHD_PLAT_WI2R:
        return "Wi2r";
    case VHD_PLAT_WI2K:
        return "Wi2k";
    case VHD_PLAT_W2RU:
        return "W2ru";
    case VHD_PLAT_W2KU:
        return "W2ku";
    case VHD_PLAT_MAC:
        return "Mac ";
    case VHD_PLAT_MACX:
        return "MacX";
    }
    return "unknown";
}

/* 8-bit "ANSI" text of Wi2r/Wi2k: read as Latin-1 (the only code page we can assume). */
static char *vhd_latin1(const uint8_t *d, size_t len)
{
    char *s = malloc(len * 2 + 1);
    if (!s)
        return NULL;
    size_t p = 0;
    for (size_t i = 0; i < len && d[i]; i++)
        p += vhd_put_utf8(s + p, d[i]);
    s[p] = '\0';
    return s;
}

/* MacX is a file URL (RFC 2396): drop "file://" and an optional "localhost". */
static char *vhd_file_url(const uint8_t *d, size_t len)
{
    size_t n = strnlen((const char *)d, len);
    const char *s = (const char *)d;
    if (n >= 7 && memcmp(s, "file://", 7) == 0) {
        s += 7, n -= 7;
        if (n >= 9 && memcmp(s, "localhost", 9) == 0)
            s += 9, n -= 9;
    }
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

vf_status vf_vhd_locator_decode(uint32_t code, const uint8_t *data, size_t len, char **out,
                                vf_error *err)
{
    *out = NULL;
    char *s = NULL;
    if (code == VHD_PLAT_W2RU || code == VHD_PLAT_W2KU) {
        size_t cap = len / 2 * 3 + 1, n;
        if (!(s = malloc(cap)))
            return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent locator: no memory");
        vf_status st = vf_utf16_to_utf8(data, len, false, s, cap, &n, err);
        if (st != VF_OK) {
            free(s);
            return st;
        }
    } else if (code == VHD_PLAT_WI2R || code == VHD_PLAT_WI2K) {
        s = vhd_latin1(data, len);
    } else if (code == VHD_PLAT_MACX) {
        s = vhd_file_url(data, len);
    } else {
        return VF_OK; /* "Mac " aliases and unknown codes carry no path we can use */
    }
    if (!s)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent locator: no memory");
    *out = s;
    return VF_OK;
}

static void vhd_loc_add(vf_locator *out, size_t max, size_t *n, vf_locator_kind kind,
                        const char *tag, const char *path)
{
    /* A path that cannot be handed over whole is skipped, never truncated (check reports it). */
    if (!path || !*path || strlen(path) >= sizeof out->path)
        return;
    if (*n < max) {
        vf_locator *l = &out[*n];
        memset(l, 0, sizeof *l);
        l->kind = kind;
        snprintf(l->tag, sizeof l->tag, "%s", tag);
        memcpy(l->path, path, strlen(path) + 1);
    }
    (*n)++;
}

vf_status vf_vhd_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                          vf_error *err)
{
    (void)err;
    const vf_vhd *v = img->priv;
    /* Relative before absolute (formats.md 4.1), the parent name last. */
    static const struct {
        uint32_t code;
        vf_locator_kind kind;
    } order[] = {
        {VHD_PLAT_W2RU, VF_LOC_RELATIVE}, {VHD_PLAT_W2KU, VF_LOC_ABSOLUTE},
        {VHD_PLAT_MACX, VF_LOC_URL},      {VHD_PLAT_WI2R, VF_LOC_RELATIVE},
        {VHD_PLAT_WI2K, VF_LOC_ABSOLUTE},
    };
    *n = 0;
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
        for (size_t i = 0; i < VHD_LOCATORS; i++)
            if (v->hdr.loc[i].code == order[o].code)
                vhd_loc_add(out, max, n, order[o].kind, vf_vhd_plat_name(order[o].code),
                            v->loc_text[i]);
    vhd_loc_add(out, max, n, VF_LOC_NAME, "parent-name", v->parent_name);
    return VF_OK;
}
