/* image.c - the format-neutral image handle: probes the format, forwards to its driver,
 * and enforces what every driver shares (bounds of the virtual disk, alignment, a failed
 * handle refusing further writes). Layer: format. Drivers: vhd/, vhdx/ (image_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "opts_int.h"
#include "endian.h"
#include "image_int.h"

static const vf_driver *const vf_drivers[] = {&vf_vhdx_driver, &vf_vhd_driver};
#define VF_NDRIVERS (sizeof vf_drivers / sizeof vf_drivers[0])
/* The format new images get when nobody names one: the older, more widely read one. */
static const vf_driver *const vf_default_driver = &vf_vhd_driver;
#define VF_PROBE_BYTES 1024u

static vf_status vf_probe(vf_io *io, const char *name, const vf_driver **out, vf_error *err)
{
    return vf_image_probe_driver(io, name, out, err);
}

vf_status vf_image_probe_driver(vf_io *io, const char *name, const vf_driver **out, vf_error *err)
{
    uint64_t size;
    vf_status st = vf_io_size(io, &size, err);
    if (st != VF_OK)
        return st;
    uint8_t head[VF_PROBE_BYTES], tail[VF_PROBE_BYTES];
    size_t n = size < VF_PROBE_BYTES ? (size_t)size : VF_PROBE_BYTES;
    if (n && ((st = vf_io_read(io, head, n, 0, err)) != VF_OK ||
              (st = vf_io_read(io, tail, n, size - n, err)) != VF_OK))
        return st;
    int best = 0;
    *out = NULL;
    for (size_t i = 0; i < VF_NDRIVERS; i++) {
        int score = vf_drivers[i]->probe(head, n, tail, n, size);
        if (score > best) {
            best = score;
            *out = vf_drivers[i];
        }
    }
    if (!*out)
        return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE,
                       "'%s' is not a virtual disk: no VHD footer and no VHDX identifier "
                       "(file size %llu)",
                       name, (unsigned long long)size);
    return VF_OK;
}

static vf_status vf_image_alloc(vf_io *io, const char *name, unsigned flags, vf_image **out,
                                vf_error *err)
{
    vf_image *img = calloc(1, sizeof *img);
    char *copy = strdup(name ? name : (io->name ? io->name : "(image)"));
    if (!img || !copy) {
        free(img);
        free(copy);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating an image handle");
    }
    img->io = io;
    img->name = copy;
    img->flags = flags;
    img->writable = (flags & VF_OPEN_RDWR) != 0;
    *out = img;
    return VF_OK;
}

/* Messages from drivers do not know the file name: put it in front. */
static vf_status vf_named(const vf_image *img, vf_status st, vf_error *err)
{
    if (st != VF_OK && err && strncmp(err->msg, "'", 1) != 0)
        vf_error_prefix(err, "'%s': ", img->name);
    return st;
}

vf_status vf_image_open(vf_io *io, const char *name, unsigned flags, vf_image **out, vf_error *err)
{
    return vf_image_open_probe(io, name, flags, NULL, out, err);
}

vf_status vf_image_open_probe(vf_io *io, const char *name, unsigned flags, bool *recognised,
                              vf_image **out, vf_error *err)
{
    *out = NULL;
    if (recognised)
        *recognised = false;
    const char *nm = name ? name : io->name;
#ifndef VF_FUZZ_SKIP_CHECKSUMS
    if (flags & VF_OPEN_NO_CHECKSUMS) {
        vf_io_close(io);
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "checksum skipping is for fuzz builds");
    }
#endif
    if ((flags & VF_OPEN_RDWR) && !io->writable) {
        vf_io_close(io);
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' was not opened for writing", nm);
    }
    const vf_driver *drv = NULL;
    vf_status st = vf_probe(io, nm, &drv, err);
    if (st != VF_OK) {
        vf_io_close(io);
        return st;
    }
    vf_image *img = NULL;
    if ((st = vf_image_alloc(io, nm, flags, &img, err)) != VF_OK) {
        vf_io_close(io);
        return st;
    }
    img->drv = drv;
    img->info.format = drv->format;
    img->info.fields = drv->info_fields;
    st = drv->open(img, flags, err);
    if (recognised)
        *recognised = st == VF_OK || img->recognised;
    if (st != VF_OK) {
        vf_named(img, st, err);
        img->priv = NULL;
        vf_image_close(img);
        return st;
    }
    *out = img;
    return VF_OK;
}

void vf_create_opts_init_size(vf_create_opts *o, size_t size)
{
    vf_create_opts def;
    memset(&def, 0, sizeof def);
    vf_opts_fill(o, size, &def, sizeof def);
}

vf_status vf_image_create(vf_io *io, const char *name, const vf_create_opts *user, vf_image **out,
                          vf_error *err)
{
    *out = NULL;
    vf_create_opts own, *opts = &own;
    vf_create_opts_init(&own);
    vf_status ast = vf_opts_adopt(&own, sizeof own, user, VF_CREATE_OPTS_V1, "vf_create_opts", err);
    if (ast != VF_OK) {
        vf_io_close(io);
        return ast;
    }
    const vf_driver *drv = NULL;
    for (size_t i = 0; i < VF_NDRIVERS; i++)
        if (vf_drivers[i]->format == opts->format)
            drv = vf_drivers[i];
    if (drv && !drv->create) {
        vf_io_close(io);
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "cannot create '%s': writing %s images is not supported",
                       name ? name : "(image)", drv->name);
    }
    if (!drv || !io->writable) {
        vf_io_close(io);
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "cannot create '%s': %s",
                       name ? name : "(image)", drv ? "not opened for writing" : "unknown format");
    }
    if (opts->flags & ~(unsigned)(VF_CREATE_LEAVE_DIRTY | VF_CREATE_PACKED) ||
        ((opts->flags & VF_CREATE_LEAVE_DIRTY) && !(drv->limits->features & VF_FEATURE_LOG))) {
        vf_io_close(io);
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "cannot create '%s': create flags 0x%x are not supported for %s images",
                       name ? name : "(image)", opts->flags, drv->name);
    }
    vf_image *img = NULL;
    vf_status st = vf_image_alloc(io, name, VF_OPEN_RDWR, &img, err);
    if (st != VF_OK) {
        vf_io_close(io);
        return st;
    }
    img->drv = drv;
    img->info.format = drv->format;
    img->info.fields = drv->info_fields;
    if ((st = drv->create(img, opts, err)) != VF_OK) {
        vf_named(img, st, err);
        img->priv = NULL;
        vf_image_close(img);
        return st;
    }
    *out = img;
    return VF_OK;
}

void vf_image_close(vf_image *img)
{
    if (!img)
        return;
    if (img->priv && img->drv->close)
        img->drv->close(img);
    vf_io_close(img->io);
    free(img->name);
    free(img);
}

const vf_image_info *vf_image_info_get(const vf_image *img)
{
    return &img->info;
}

const char *vf_image_name(const vf_image *img)
{
    return img->name;
}

vf_io *vf_image_io(vf_image *img)
{
    return img->io;
}

static vf_status vf_check_range(const vf_image *img, uint64_t voff, uint64_t len, bool aligned,
                                vf_error *err)
{
    if (!vf_range_ok(voff, len, img->info.virtual_size))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s': range %llu+%llu is outside the virtual disk (%llu bytes)", img->name,
                       (unsigned long long)voff, (unsigned long long)len,
                       (unsigned long long)img->info.virtual_size);
    uint64_t ss = img->info.logical_sector_size;
    if (aligned && ((voff % ss) || (len % ss)))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s': range %llu+%llu is not aligned to %llu-byte sectors", img->name,
                       (unsigned long long)voff, (unsigned long long)len, (unsigned long long)ss);
    return VF_OK;
}

vf_status vf_image_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err)
{
    uint64_t ss = img->info.logical_sector_size;
    if (voff >= img->info.virtual_size || len == 0 || voff % ss)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s': cannot map at %llu", img->name,
                       (unsigned long long)voff);
    if (len > img->info.virtual_size - voff)
        len = img->info.virtual_size - voff;
    memset(ext, 0, sizeof *ext); /* drivers without an overlay leave 'overlaid' false */
    return vf_named(img, img->drv->map(img, voff, len, ext, err), err);
}

vf_status vf_image_read(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err)
{
    vf_status st = vf_check_range(img, voff, len, false, err);
    if (st != VF_OK || len == 0)
        return st;
    return vf_named(img, img->drv->read(img, voff, buf, len, err), err);
}

static vf_status vf_writable(vf_image *img, vf_error *err)
{
    if (!img->writable)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' is open read-only", img->name);
    if (img->failed)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "'%s': an earlier write failed; the handle accepts no more writes",
                       img->name);
    return VF_OK;
}

/* A write path that fails leaves the handle failed (docs/design.md "Modules": a handle that failed
 * while writing stays failed), so nobody builds on metadata of unknown state. */
static vf_status vf_write_result(vf_image *img, vf_status st, vf_error *err)
{
    if (st != VF_OK)
        img->failed = true;
    return vf_named(img, st, err);
}

vf_status vf_image_write(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st == VF_OK)
        st = vf_check_range(img, voff, len, true, err);
    if (st != VF_OK || len == 0)
        return st;
    return vf_write_result(img, img->drv->write(img, voff, buf, len, err), err);
}

#define VF_WRITE_FROM_BOUNCE ((size_t)1 << 20)

/* A driver without write_from: the bytes go through a buffer and its write. */
static vf_status vf_write_from_buffered(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off,
                                        size_t len, vf_error *err)
{
    size_t cap = len < VF_WRITE_FROM_BOUNCE ? len : VF_WRITE_FROM_BOUNCE;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s': a %zu-byte copy buffer", img->name,
                             cap);
    vf_status st = VF_OK;
    for (size_t done = 0; st == VF_OK && done < len;) {
        size_t n = len - done < cap ? len - done : cap;
        st = vf_io_read(src, buf, n, src_off + done, err);
        if (st == VF_OK)
            st = img->drv->write(img, voff + done, buf, n, err);
        done += n;
    }
    free(buf);
    return st;
}

vf_status vf_image_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off,
                              size_t len, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st == VF_OK)
        st = vf_check_range(img, voff, len, true, err);
    if (st != VF_OK || len == 0)
        return st;
    if (img->drv->write_from)
        st = img->drv->write_from(img, voff, src, src_off, len, err);
    else
        st = vf_write_from_buffered(img, voff, src, src_off, len, err);
    return vf_write_result(img, st, err);
}

vf_status vf_wsrc_put(vf_io *dst, uint64_t dst_off, const vf_wsrc *src, uint64_t len, vf_error *err)
{
    if (src->buf)
        return vf_io_write(dst, src->buf, (size_t)len, dst_off, err);
    return vf_io_copy(dst, dst_off, src->io, src->off, len, err);
}

void vf_wsrc_skip(vf_wsrc *src, uint64_t len)
{
    if (src->buf)
        src->buf += len;
    else
        src->off += len;
}

/* The checks every write of zeros passes first: a writable image, a sector-aligned range. */
static vf_status vf_zero_checks(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    return st == VF_OK ? vf_check_range(img, voff, len, true, err) : st;
}

vf_status vf_image_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    vf_status st = vf_zero_checks(img, voff, len, err);
    if (st != VF_OK || len == 0)
        return st;
    return vf_write_result(img, img->drv->write_zeroes(img, voff, len, err), err);
}

/* Without the driver's hook: zero bytes written, a chunk at a time. */
static vf_status vf_zero_written(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    static const uint8_t zero[64 * 1024];
    vf_status st = VF_OK;
    for (uint64_t done = 0; st == VF_OK && done < len; done += sizeof zero) {
        size_t n = len - done < sizeof zero ? (size_t)(len - done) : sizeof zero;
        st = img->drv->write(img, voff + done, zero, n, err);
    }
    return st;
}

vf_status vf_image_zero_in_place(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    vf_status st = vf_zero_checks(img, voff, len, err);
    if (st != VF_OK || len == 0)
        return st;
    /* a fixed image stays fully allocated: its zeros are written, never punched */
    bool punch = img->drv->zero_in_place && img->info.type != VF_DISK_FIXED;
    st =
        punch ? img->drv->zero_in_place(img, voff, len, err) : vf_zero_written(img, voff, len, err);
    return vf_write_result(img, st, err);
}

vf_status vf_image_reserve(vf_image *img, uint64_t nblocks, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK || !img->drv->reserve || nblocks == 0)
        return st;
    return vf_write_result(img, img->drv->reserve(img, nblocks, err), err);
}

vf_status vf_image_flush(vf_image *img, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK)
        return st;
    return vf_write_result(img, img->drv->flush(img, err), err);
}

vf_status vf_image_check(vf_image *img, vf_report *rep, vf_error *err)
{
    return vf_named(img, img->drv->check(img, rep, err), err);
}

vf_status vf_image_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                            vf_error *err)
{
    *n = 0;
    if (!img->info.has_parent)
        return VF_OK;
    return vf_named(img, img->drv->locators(img, out, max, n, err), err);
}

vf_status vf_image_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK)
        return st;
    if (img->info.type != VF_DISK_DIFF)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' is not a differencing image", img->name);
    return vf_write_result(img, img->drv->set_parent(img, link, err), err);
}

vf_status vf_image_set_id(vf_image *img, const uint8_t id[16], vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK)
        return st;
    return vf_write_result(img, img->drv->set_id(img, id, err), err);
}

vf_status vf_image_resize(vf_image *img, uint64_t new_size, vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK)
        return st;
    if (!img->drv->resize)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s': resizing %s images is not supported", img->name, img->drv->name);
    if (new_size == 0)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s': a virtual size of 0", img->name);
    st = img->drv->resize(img, new_size, err);
    /* drivers refuse (unsupported, invalid) before writing: the handle stays usable */
    if (st == VF_E_UNSUPPORTED || st == VF_E_INVAL)
        return vf_named(img, st, err);
    return vf_write_result(img, st, err);
}

vf_status vf_image_resize_check(const vf_image *img, uint64_t new_size, vf_error *err)
{
    if (!img->drv->resize || !img->drv->resize_check)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s': resizing %s images is not supported", img->name, img->drv->name);
    if (new_size == 0)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s': a virtual size of 0", img->name);
    return vf_named(img, img->drv->resize_check(img, new_size, err), err);
}

vf_status vf_image_set_parent_id2(vf_image *img, const uint8_t id2[16], vf_error *err)
{
    vf_status st = vf_writable(img, err);
    if (st != VF_OK)
        return st;
    if (img->info.type != VF_DISK_DIFF || !img->drv->set_parent_id2)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "'%s': parent_linkage2 exists only in differencing VHDX images", img->name);
    return vf_write_result(img, img->drv->set_parent_id2(img, id2, err), err);
}

static const vf_driver *vf_driver_of(vf_format_kind f)
{
    for (size_t i = 0; i < VF_NDRIVERS; i++)
        if (vf_drivers[i]->format == f)
            return vf_drivers[i];
    return NULL;
}

void vf_guid_text(vf_format_kind format, const uint8_t id[16], char out[VF_GUID_TEXT_LEN])
{
    const vf_driver *drv = vf_driver_of(format);
    const uint8_t *order = drv ? drv->guid_order : NULL;
    static const char hex[] = "0123456789abcdef";
    size_t p = 0;
    out[p++] = '{';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[p++] = '-';
        uint8_t b = id[order ? order[i] : i];
        out[p++] = hex[b >> 4];
        out[p++] = hex[b & 15];
    }
    out[p++] = '}';
    out[p] = '\0';
}

vf_status vf_random_id(uint8_t id[16], vf_error *err)
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(id + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "reading random bytes");
        }
        got += (size_t)n;
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    return VF_OK;
}

const char *vf_format_name(vf_format_kind f)
{
    const vf_driver *drv = vf_driver_of(f);
    return drv ? drv->name : "none";
}

vf_format_kind vf_format_parse(const char *name)
{
    for (size_t i = 0; name && i < VF_NDRIVERS; i++)
        if (!strcmp(vf_drivers[i]->name, name))
            return vf_drivers[i]->format;
    return VF_FORMAT_NONE;
}

size_t vf_format_count(void)
{
    return VF_NDRIVERS;
}

/* In enum order (the order help and option tables list them), not probe order. */
vf_format_kind vf_format_at(size_t i)
{
    size_t seen = 0;
    for (int f = VF_FORMAT_NONE + 1; f < VF_FORMAT_NONE + 64; f++)
        if (vf_driver_of((vf_format_kind)f) && seen++ == i)
            return (vf_format_kind)f;
    return VF_FORMAT_NONE;
}

const vf_format_samples *vf_format_samples_get(vf_format_kind f)
{
    const vf_driver *drv = vf_driver_of(f);
    return drv ? drv->samples : NULL;
}

vf_format_kind vf_format_default(void)
{
    return vf_default_driver->format;
}

vf_status vf_format_get_limits(vf_format_kind f, vf_format_limits *out, vf_error *err)
{
    const vf_driver *drv = vf_driver_of(f);
    if (!drv)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "unknown image format %d", (int)f);
    *out = *drv->limits;
    return VF_OK;
}

uint64_t vf_image_block_cost(const vf_image *img)
{
    if (!img->info.block_size)
        return 0;
    return img->drv->block_cost(&img->info);
}

vf_status vf_image_merge_link(vf_image *dest, vf_image *above, const uint8_t link_id[16],
                              vf_error *err)
{
    if (!dest->drv->merge_link)
        return VF_OK;
    vf_status st = vf_writable(dest, err);
    if (st == VF_OK)
        st = vf_writable(above, err);
    if (st != VF_OK)
        return st;
    if (above->drv != dest->drv)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' and '%s' are of different formats",
                       above->name, dest->name);
    return dest->drv->merge_link(dest, above, link_id, err);
}

vf_status vf_image_merge_unlink(vf_image *dest, const uint8_t old_id[16], vf_error *err)
{
    if (!dest->drv->merge_link)
        return VF_OK;
    vf_status st = vf_image_set_id(dest, old_id, err);
    return st == VF_OK ? vf_image_flush(dest, err) : st;
}

vf_status vf_image_reclaim(vf_image *img, uint64_t mark, vf_error *err)
{
    if (!img->writable || img->failed)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE, "'%s': not open for writing", img->name);
    if (!img->drv->reclaim)
        return VF_OK;
    vf_status st = img->drv->reclaim(img, mark, err);
    if (st != VF_OK && st != VF_E_STATE)
        img->failed = true; /* a cut may have been half done: no further write */
    return st;
}

const char *vf_disk_type_name(vf_disk_type t)
{
    switch (t) {
    case VF_DISK_FIXED:
        return "fixed";
    case VF_DISK_DYNAMIC:
        return "dynamic";
    case VF_DISK_DIFF:
        return "differencing";
    }
    return "unknown";
}
