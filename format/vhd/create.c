/* vhd/create.c - creating fixed, dynamic and differencing VHDs, and encoding a parent link
 * (parent id, time stamp, unicode name, W2ku/W2ru locators) for create and set_parent.
 * Layer: format/vhd. Reached through vf_image_create (image.c); identity.c reuses
 * vf_vhd_build_link. Layout and rules: docs/formats/vhd.md "Layout".
 * Deterministic: the same opts give the same bytes (the generator relies on it). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "endian.h"
#include "vhd_int.h"

/* W2ru text: ".\" prefix (unless the path starts with "." or ".."), backslashes. */
static char *vhd_windows_path(const char *path, bool relative)
{
    size_t n = strlen(path);
    bool prefix = relative && !(path[0] == '.' && (path[1] == '/' || path[1] == '\\')) &&
                  !(path[0] == '.' && path[1] == '.' && (path[2] == '/' || path[2] == '\\'));
    char *s = malloc(n + 3);
    if (!s)
        return NULL;
    size_t p = 0;
    if (prefix) {
        s[p++] = '.';
        s[p++] = '\\';
    }
    for (size_t i = 0; i < n; i++)
        s[p++] = path[i] == '/' ? '\\' : path[i];
    s[p] = '\0';
    return s;
}

static const char *vhd_basename(const char *p)
{
    const char *b = p;
    for (const char *c = p; *c; c++)
        if (*c == '/' || *c == '\\')
            b = c + 1;
    return b;
}

/* One UTF-16LE locator blob, padded with zeros to a multiple of 512 (at least 512). */
static vf_status vhd_make_blob(const char *text, uint8_t **blob, uint32_t *len, uint32_t *space,
                               vf_error *err)
{
    size_t cap = strlen(text) * 2 + 2, n;
    if (cap > VHD_LOCATOR_MAX_BYTES)
        return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE, "parent path '%s' is too long for a locator",
                       text);
    size_t sp = (cap + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    uint8_t *b = calloc(1, sp);
    if (!b)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent locator: no memory");
    vf_status st = vf_utf8_to_utf16(text, false, b, cap, &n, err);
    if (st != VF_OK) {
        free(b);
        return st;
    }
    *blob = b;
    *len = (uint32_t)n;
    *space = (uint32_t)sp;
    return VF_OK;
}

static vf_status vhd_link_name(vf_vhd_header *hdr, const vf_parent_link *link, vf_error *err)
{
    const char *name = link->relative ? link->relative : link->absolute;
    if (!name || !*name)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "parent link has neither a relative nor "
                       "an absolute path");
    size_t n;
    memset(hdr->parent_name, 0, VHD_PARENT_NAME_BYTES);
    vf_status st = vf_utf8_to_utf16(name, true, hdr->parent_name, VHD_PARENT_NAME_BYTES, &n, err);
    if (st == VF_E_LIMIT) { /* the relative path does not fit 256 units: the file name may */
        memset(hdr->parent_name, 0, VHD_PARENT_NAME_BYTES);
        st = vf_utf8_to_utf16(vhd_basename(name), true, hdr->parent_name, VHD_PARENT_NAME_BYTES, &n,
                              err);
    }
    return st;
}

vf_status vf_vhd_build_link(vf_vhd_header *hdr, const vf_parent_link *link, uint64_t loc_off,
                            uint8_t *blobs[VHD_LOCATORS], uint64_t *end, vf_error *err)
{
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        blobs[i] = NULL;
    memcpy(hdr->parent_id, link->id, 16);
    hdr->parent_timestamp = link->timestamp;
    memset(hdr->loc, 0, sizeof hdr->loc);
    vf_status st = vhd_link_name(hdr, link, err);
    if (st != VF_OK)
        return st;
    unsigned want = link->locators;
    bool dflt = (want & (VF_LOCATE_W2KU | VF_LOCATE_W2RU)) == 0;
    if (dflt)
        want |= VF_LOCATE_W2KU | VF_LOCATE_W2RU;
    const struct {
        unsigned bit;
        uint32_t code;
        const char *path;
        bool relative;
    } plan[] = {
        {VF_LOCATE_W2KU, VHD_PLAT_W2KU, link->absolute, false},
        {VF_LOCATE_W2RU, VHD_PLAT_W2RU, link->relative, true},
    };
    size_t slot = 0;
    uint64_t at = loc_off;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        if (!(want & plan[i].bit))
            continue;
        if (!plan[i].path) {
            if (dflt)
                continue; /* the default set writes what the link can fill */
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "parent link: the '%s' locator needs "
                           "a path",
                           vf_vhd_plat_name(plan[i].code));
        }
        char *text = vhd_windows_path(plan[i].path, plan[i].relative);
        if (!text)
            return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "parent locator: no memory");
        vf_vhd_ploc *l = &hdr->loc[slot];
        st = vhd_make_blob(text, &blobs[slot], &l->len, &l->space, err);
        free(text);
        if (st != VF_OK)
            return st; /* blobs made so far are freed by the caller */
        l->code = plan[i].code;
        l->off = at;
        at += l->space;
        slot++;
    }
    *end = at;
    return VF_OK;
}

static vf_status vhd_opts_footer(const vf_create_opts *o, vf_vhd_footer *f, vf_error *err)
{
    memset(f, 0, sizeof *f);
    memcpy(f->cookie, "conectix", 8);
    f->features = VHD_FEATURE_RESERVED;
    f->version = VHD_VERSION_1_0;
    f->data_offset = o->type == VF_DISK_FIXED ? UINT64_MAX : VHD_FOOTER_SIZE;
    if (o->timestamp)
        f->timestamp = o->timestamp;
    else
        f->timestamp = (uint32_t)((uint64_t)time(NULL) - VHD_EPOCH_UNIX);
    const char *cr = o->creator ? o->creator : "vhdf";
    memcpy(f->creator_app, cr, strnlen(cr, 4)); /* "tap\0": the NUL pads */
    f->creator_version = o->creator_version ? o->creator_version : VHD_VERSION_1_0;
    f->creator_os = o->creator_os ? o->creator_os : VHD_OS_WI2K;
    f->original_size = o->virtual_size;
    f->current_size = o->virtual_size;
    vf_vhd_chs(o->virtual_size, &f->cylinders, &f->heads, &f->sectors_per_track);
    f->disk_type = (uint32_t)o->type;
    static const uint8_t zero_id[16];
    if (memcmp(o->id, zero_id, 16) != 0)
        memcpy(f->unique_id, o->id, 16);
    else
        return vf_random_id(f->unique_id, err);
    return VF_OK;
}

static vf_status vhd_opts_check(const vf_create_opts *o, vf_error *err)
{
    if (o->type != VF_DISK_FIXED && o->type != VF_DISK_DYNAMIC && o->type != VF_DISK_DIFF)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "create: disk type %d is not fixed, "
                       "dynamic or differencing",
                       (int)o->type);
    if (!o->virtual_size || o->virtual_size % VHD_SECTOR ||
        o->virtual_size / VHD_SECTOR > VHD_MAX_SECTORS)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "create: virtual size %llu is not a non-zero multiple of 512 up to "
                       "2040 GiB",
                       (unsigned long long)o->virtual_size);
    uint32_t bs = o->block_size ? o->block_size : VHD_DEFAULT_BLOCK;
    if (o->type != VF_DISK_FIXED && (bs < VHD_SECTOR || !vf_is_pow2(bs)))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "create: block size %u is not a power of two >= 512", bs);
    if (o->type == VF_DISK_DIFF && !o->parent)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "create: a differencing image needs a "
                       "parent link");
    return VF_OK;
}

/* 0xFF-filled BAT in pieces: its size follows the disk size, not the memory budget. */
static vf_status vhd_write_empty_bat(vf_io *io, uint64_t off, uint64_t len, vf_error *err)
{
    uint8_t ff[4096];
    memset(ff, 0xFF, sizeof ff);
    while (len) {
        size_t n = len < sizeof ff ? (size_t)len : sizeof ff;
        vf_status st = vf_io_write(io, ff, n, off, err);
        if (st != VF_OK)
            return st;
        off += n;
        len -= n;
    }
    return VF_OK;
}

static vf_status vhd_create_sparse(vf_io *io, const vf_create_opts *o, vf_vhd_footer *f,
                                   vf_error *err)
{
    vf_vhd_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.cookie, "cxsparse", 8);
    h.data_offset = UINT64_MAX;
    h.table_offset = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
    h.version = VHD_VERSION_1_0;
    h.block_size = o->block_size ? o->block_size : VHD_DEFAULT_BLOCK;
    /* <= 0xFF000000 entries: the size is capped at 2040 GiB and blocks are >= 512 bytes. */
    h.max_table_entries = (uint32_t)((o->virtual_size + h.block_size - 1) / h.block_size);
    uint64_t bat_len = vf_vhd_bat_bytes(h.max_table_entries);
    uint64_t end = h.table_offset + bat_len;
    uint8_t *blobs[VHD_LOCATORS] = {NULL};
    vf_status st = VF_OK;
    if (o->type == VF_DISK_DIFF)
        st = vf_vhd_build_link(&h, o->parent, end, blobs, &end, err);
    uint8_t raw[VHD_HEADER_SIZE], foot[VHD_FOOTER_SIZE];
    if (st == VF_OK)
        st = vhd_write_empty_bat(io, h.table_offset, bat_len, err);
    for (size_t i = 0; i < VHD_LOCATORS && st == VF_OK; i++)
        if (blobs[i])
            st = vf_io_write(io, blobs[i], h.loc[i].space, h.loc[i].off, err);
    if (st == VF_OK) {
        vf_vhd_header_encode(&h, raw);
        vf_vhd_footer_encode(f, foot);
        st = vf_io_write(io, raw, VHD_HEADER_SIZE, VHD_FOOTER_SIZE, err);
    }
    if (st == VF_OK)
        st = vf_io_write(io, foot, VHD_FOOTER_SIZE, 0, err);
    if (st == VF_OK)
        st = vf_io_write(io, foot, VHD_FOOTER_SIZE, end, err);
    for (size_t i = 0; i < VHD_LOCATORS; i++)
        free(blobs[i]);
    return st;
}

vf_status vf_vhd_create(vf_image *img, const vf_create_opts *o, vf_error *err)
{
    vf_vhd_footer f;
    uint64_t size;
    vf_status st = vhd_opts_check(o, err);
    if (st == VF_OK)
        st = vf_io_size(img->io, &size, err);
    if (st == VF_OK && size != 0)
        st = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "create: the file is not empty");
    if (st == VF_OK)
        st = vhd_opts_footer(o, &f, err);
    if (st != VF_OK)
        return st;
    if (o->type == VF_DISK_FIXED) {
        uint8_t foot[VHD_FOOTER_SIZE];
        vf_vhd_footer_encode(&f, foot);
        /* Data area of zeros (sparse where the backend can), then the footer. */
        st = vf_io_set_size(img->io, o->virtual_size, err);
        if (st == VF_OK)
            st = vf_io_write(img->io, foot, VHD_FOOTER_SIZE, o->virtual_size, err);
    } else {
        st = vhd_create_sparse(img->io, o, &f, err);
    }
    if (st == VF_OK)
        st = vf_io_sync(img->io, err);
    if (st != VF_OK)
        return st;
    /* Read back through the validating open: what we wrote must pass our own checks. */
    st = vf_vhd_open(img, VF_OPEN_RDWR, err);
    if (st == VF_OK && img->priv)
        ((vf_vhd *)img->priv)->packed = (o->flags & VF_CREATE_PACKED) != 0;
    return st;
}
