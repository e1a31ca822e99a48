/* vhd/locator.c - parent locators: decoding each platform code's data (text through
 * utf16.c), and the ordered candidate list handed to the chain layer.
 * Layer: format/vhd. Called by vhd.c (open validates every locator), create.c and
 * identity.c (encoding), and image.c through the driver's locators entry.
 * Spec: VHD spec 1.0 "Parent Locator Entries" (docs/formats/vhd.md "Locator entries", "Parent
 * locators"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

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
        p += vf_utf8_put(s + p, d[i]);
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
    /* The text is handed over whole (borrowed from the handle, which owns it). */
    if (!path || !*path)
        return;
    if (*n < max) {
        vf_locator *l = &out[*n];
        memset(l, 0, sizeof *l);
        l->kind = kind;
        snprintf(l->tag, sizeof l->tag, "%s", tag);
        l->path = path;
    }
    (*n)++;
}

vf_status vf_vhd_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                          vf_error *err)
{
    (void)err;
    const vf_vhd *v = img->priv;
    /* Relative before absolute (docs/chain.md "Where the parent is looked for"), the parent name
     * last. */
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
