/* utf16.c - UTF-16 (either byte order) <-> UTF-8 for the text stored in images: VHD parent
 * locators and parent unicode name, VHDX parent locator keys and values. Strict both ways:
 * unpaired surrogates and malformed UTF-8 are errors, never silently replaced.
 * Layer: format (internal). Called by vhd/locator.c, vhd/create.c, vhd/identity.c and
 * vhdx/locator.c. */
#include "utf16.h"

#include "endian.h"

size_t vf_utf8_put(char *out, uint32_t cp)
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
        p += vf_utf8_put(out + p, cp);
    }
    out[p] = '\0';
    *out_len = p;
    return VF_OK;
}

/* Next code point of UTF-8 text; 0xFFFFFFFF when malformed (overlong, surrogate, > U+10FFFF). */
static uint32_t utf_next8(const unsigned char **s)
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

static void utf_put16(uint8_t *o, bool be, uint32_t v)
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
        uint32_t cp = utf_next8(&p);
        if (cp == 0xFFFFFFFFu)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "path '%s' is not valid UTF-8", s);
        size_t need = cp >= 0x10000 ? 4 : 2;
        if (n + need > cap)
            return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE,
                           "path '%s' needs more than %zu bytes of UTF-16", s, cap);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            utf_put16(out + n, big_endian, 0xD800 + (cp >> 10));
            utf_put16(out + n + 2, big_endian, 0xDC00 + (cp & 0x3FF));
        } else {
            utf_put16(out + n, big_endian, cp);
        }
        n += need;
    }
    *out_len = n;
    return VF_OK;
}
