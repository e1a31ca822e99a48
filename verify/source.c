/* source.c - the flattened disks the verifier reads: an image chain or a raw file.
 * Layer: verify. Used by walk.c, tree.c and compare.c; callers build sources through the
 * functions in vf_verify.h. Chains answer "is this run zero?" from vf_chain_map, so zero
 * regions are never read; raw files are read as they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opts_int.h"
#include "source_int.h"

static vf_status vf_source_alloc(const char *name, vf_source **out, vf_error *err)
{
    vf_source *src = calloc(1, sizeof *src);
    char *copy = strdup(name ? name : "(disk)");
    if (!src || !copy) {
        free(src);
        free(copy);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a verifier source");
    }
    src->name = copy;
    *out = src;
    return VF_OK;
}

vf_status vf_source_from_chain(vf_chain *c, bool own, vf_source **out, vf_error *err)
{
    *out = NULL;
    vf_source *src = NULL;
    vf_status st = vf_source_alloc(vf_chain_path(c, 0), &src, err);
    if (st != VF_OK) {
        if (own)
            vf_chain_close(c);
        return st;
    }
    src->chain = c;
    src->own_chain = own;
    src->size = vf_chain_virtual_size(c);
    src->depth = vf_chain_depth(c);
    src->sector_bytes = vf_image_info_get(vf_chain_image(c, 0))->logical_sector_size;
    if (src->sector_bytes == 0)
        src->sector_bytes = 512;
    *out = src;
    return VF_OK;
}

vf_status vf_source_from_io(vf_io *io, vf_source **out, vf_error *err)
{
    *out = NULL;
    vf_source *src = NULL;
    vf_status st = vf_source_alloc(io->name, &src, err);
    if (st == VF_OK)
        st = vf_io_size(io, &src->size, err);
    if (st != VF_OK) {
        vf_source_free(src);
        vf_io_close(io);
        return st;
    }
    src->io = io;
    *out = src;
    return VF_OK;
}

/* Signatures only: a file that looks like an image is parsed (and refused if damaged), so a
 * corrupt image is never silently compared as raw bytes. */
static vf_status vf_source_sniff(vf_io *io, bool *image, vf_error *err)
{
    uint64_t size;
    uint8_t head[8], tail[512];
    *image = false;
    vf_status st = vf_io_size(io, &size, err);
    if (st != VF_OK || size < 512)
        return st;
    if ((st = vf_io_read(io, head, sizeof head, 0, err)) != VF_OK ||
        (st = vf_io_read(io, tail, sizeof tail, size - 512, err)) != VF_OK)
        return st;
    /* The VHD footer sits in the last 512 bytes (511 for some old producers). */
    *image = !memcmp(head, "conectix", 8) || !memcmp(head, "vhdxfile", 8) ||
             !memcmp(tail, "conectix", 8) || !memcmp(tail + 1, "conectix", 8);
    return VF_OK;
}

vf_status vf_source_open(const char *path, vf_source_kind kind, const vf_chain_opts *copts,
                         vf_source **out, vf_error *err)
{
    *out = NULL;
    const vf_fs *fs = copts && copts->fs ? copts->fs : vf_fs_posix();
    if (kind != VF_SOURCE_CHAIN) {
        vf_io *io;
        bool image = false;
        vf_status st = vf_fs_open(fs, path, VF_IO_RDONLY, &io, err);
        if (st != VF_OK)
            return st;
        if (kind == VF_SOURCE_AUTO && (st = vf_source_sniff(io, &image, err)) != VF_OK) {
            vf_io_close(io);
            return st;
        }
        if (!image)
            return vf_source_from_io(io, out, err);
        vf_io_close(io);
    }
    vf_chain *c;
    vf_status st = vf_chain_open(path, copts, &c, err);
    if (st != VF_OK)
        return st;
    return vf_source_from_chain(c, true, out, err);
}

void vf_source_free(vf_source *src)
{
    if (!src)
        return;
    if (src->own_chain)
        vf_chain_close(src->chain);
    vf_io_close(src->io);
    free(src->name);
    free(src);
}

uint64_t vf_source_size(const vf_source *src)
{
    return src->size;
}

const char *vf_source_name(const vf_source *src)
{
    return src->name;
}

bool vf_source_is_raw(const vf_source *src)
{
    return src->chain == NULL;
}

vf_chain *vf_source_chain(vf_source *src)
{
    return src->chain;
}

vf_status vf_source_run(vf_source *src, uint64_t voff, uint64_t len, bool *zero,
                        uint64_t *run_bytes, vf_error *err)
{
    *zero = false;
    *run_bytes = len;
    /* Raw files, and offsets the chain cannot map (not sector aligned), are plain data. */
    if (!src->chain || voff % src->sector_bytes)
        return VF_OK;
    vf_chain_extent ext;
    vf_status st = vf_chain_map(src->chain, 0, src->depth - 1, voff, len, &ext, err);
    if (st != VF_OK)
        return st;
    if (ext.voff != voff || ext.len == 0 || ext.len > len)
        return VF_FAIL(err, VF_E_CORRUPT, VF_OFF_NONE,
                       "'%s': the chain mapped %llu+%llu to a run %llu+%llu", src->name,
                       (unsigned long long)voff, (unsigned long long)len,
                       (unsigned long long)ext.voff, (unsigned long long)ext.len);
    *zero = ext.kind != VF_EXTENT_PRESENT;
    *run_bytes = ext.len;
    return VF_OK;
}

vf_status vf_source_read(vf_source *src, uint64_t voff, void *buf, size_t len, vf_error *err)
{
    if (src->chain)
        return vf_chain_read(src->chain, voff, buf, len, err);
    return vf_io_read(src->io, buf, len, voff, err);
}

/* The run at voff of at least min (at most max) bytes that one level's file holds as stored:
 * its image and extent. False when the run is shorter, zero, overlaid or unmappable. */
static bool vf_source_stored(vf_source *src, uint64_t voff, uint64_t min, uint64_t max,
                             vf_image **img, vf_chain_extent *ext)
{
    if (!src->chain || voff % src->sector_bytes || voff >= src->size)
        return false;
    vf_error err; /* a failed map is reported by the read that follows */
    vf_error_clear(&err);
    uint64_t want = src->size - voff < max ? src->size - voff : max;
    if (vf_chain_map(src->chain, 0, src->depth - 1, voff, want, ext, &err) != VF_OK ||
        ext->kind != VF_EXTENT_PRESENT || ext->overlaid || ext->voff != voff || ext->len < min ||
        ext->len > want || ext->file_off == 0)
        return false;
    *img = vf_chain_image(src->chain, ext->level);
    return *img != NULL;
}

bool vf_source_view(vf_source *src, uint64_t voff, size_t min, size_t max, vf_io_view *v,
                    size_t *len)
{
    memset(v, 0, sizeof *v);
    vf_image *img;
    vf_chain_extent ext;
    if (!vf_source_stored(src, voff, min, max, &img, &ext) ||
        !vf_io_view_map(vf_image_io(img), ext.file_off, (size_t)ext.len, v))
        return false;
    *len = (size_t)ext.len;
    return true;
}

bool vf_source_locate(vf_source *src, uint64_t voff, uint64_t len, vf_io **io, uint64_t *file_off)
{
    if (!src->chain) { /* raw: the file is the disk */
        *io = src->io;
        *file_off = voff;
        return src->io && voff <= src->size && len <= src->size - voff;
    }
    vf_image *img;
    vf_chain_extent ext;
    if (!vf_source_stored(src, voff, len, len, &img, &ext))
        return false;
    *io = vf_image_io(img);
    *file_off = ext.file_off;
    return true;
}

vf_status vf_verify_adopt(const vf_verify_opts **opts, vf_verify_opts *own, vf_error *err)
{
    if (!*opts)
        return VF_OK;
    vf_verify_opts_init(own);
    vf_status st = vf_opts_adopt(own, sizeof *own, *opts, VF_VERIFY_OPTS_V1, "vf_verify_opts", err);
    if (st == VF_OK)
        *opts = own;
    return st;
}

bool vf_source_canceled(const vf_verify_opts *opts)
{
    return opts && opts->cancel && atomic_load(opts->cancel) != 0;
}

vf_status vf_source_cancel_error(const vf_source *src, vf_error *err)
{
    return VF_FAIL(err, VF_E_CANCELED, VF_OFF_NONE, "'%s': canceled", src->name);
}
