/* test_digest_build.h - chain builders shared by the verifier's unit tests (test_digest.c,
 * test_compare.c): VHD chains made in a memory file system with vf_image_create, a byte model
 * of the flattened disk kept beside them, a reference tree digest over a buffer, and a vf_fs
 * wrapper that counts the bytes read through it (to prove zero regions are never read), and a
 * scratch folder for tests on POSIX files (td_enter, td_leave).
 * Layer: tests. Header-only; each test includes it once. */
#ifndef VHDFOLD_TEST_DIGEST_BUILD_H
#define VHDFOLD_TEST_DIGEST_BUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

#include "vf_verify.h"

#define TD_MIB (1024ull * 1024ull)

/* Stop the test with the library's message when a call fails. */
static inline void td_check(vf_status st, const vf_error *err, const char *what)
{
    if (st != VF_OK)
        fail_msg("%s: %s: %s", what, vf_status_name(st), err->msg);
}

/* A deterministic byte pattern: position and seed both show in every byte. */
static inline void td_pattern(uint8_t *buf, size_t len, uint64_t voff, uint8_t seed)
{
    uint64_t x = voff * 0x9E3779B97F4A7C15ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        if ((i & 7) == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull + seed;
        buf[i] = (uint8_t)(x >> (8 * (i & 7)));
    }
}

/* Create name in fs: a dynamic VHD (parent NULL) or a differencing one above parent. */
static inline vf_image *td_create(const vf_fs *fs, const char *name, uint64_t size,
                                  const char *parent)
{
    vf_error err;
    vf_error_clear(&err);
    vf_io *io;
    td_check(vf_fs_open(fs, name, VF_IO_RDWR | VF_IO_CREATE, &io, &err), &err, name);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHD;
    o.type = parent ? VF_DISK_DIFF : VF_DISK_DYNAMIC;
    o.virtual_size = size;
    o.creator = "win ";
    vf_parent_link link;
    memset(&link, 0, sizeof link);
    if (parent) {
        vf_io *pio;
        vf_image *pimg;
        td_check(vf_fs_open(fs, parent, VF_IO_RDONLY, &pio, &err), &err, parent);
        td_check(vf_image_open(pio, parent, 0, &pimg, &err), &err, parent);
        const vf_image_info *pi = vf_image_info_get(pimg);
        memcpy(link.id, pi->id, 16);
        link.timestamp = pi->timestamp;
        vf_image_close(pimg);
        link.relative = parent;
        o.parent = &link;
    }
    vf_image *img;
    td_check(vf_image_create(io, name, &o, &img, &err), &err, name);
    return img;
}

/* Write a pattern at voff (sector aligned) through img and into the model (may be NULL). */
static inline void td_write(vf_image *img, uint8_t *model, uint64_t voff, size_t len, uint8_t seed)
{
    vf_error err;
    vf_error_clear(&err);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    td_pattern(buf, len, voff, seed);
    td_check(vf_image_write(img, voff, buf, len, &err), &err, "vf_image_write");
    if (model)
        memcpy(model + voff, buf, len);
    free(buf);
}

static inline void td_close(vf_image *img)
{
    vf_error err;
    vf_error_clear(&err);
    td_check(vf_image_flush(img, &err), &err, "vf_image_flush");
    vf_image_close(img);
}

/* A fresh folder under TMPDIR (or the working directory) made the working directory; here
 * receives the one to return to (td_leave). */
static inline char *td_enter(char *tmpl, size_t tn, const char *prefix, char *here, size_t hn)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, tn, "%s/%sXXXXXX", tmp && *tmp ? tmp : ".", prefix);
    assert_non_null(getcwd(here, hn));
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    assert_int_equal(chdir(d), 0);
    return d;
}

static inline void td_leave(const char *here, const char *d)
{
    assert_int_equal(chdir(here), 0);
    assert_int_equal(rmdir(d), 0);
}

static inline vf_source *td_open_chain(const vf_fs *fs, const char *top)
{
    vf_error err;
    vf_error_clear(&err);
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    td_check(vf_chain_open(top, &co, &c, &err), &err, top);
    vf_source *src;
    td_check(vf_source_from_chain(c, true, &src, &err), &err, "vf_source_from_chain");
    return src;
}

static inline vf_source *td_open_raw(const uint8_t *data, size_t len, const char *name)
{
    vf_error err;
    vf_error_clear(&err);
    vf_io *io;
    td_check(vf_io_mem_new(data, len, name, false, &io, &err), &err, name);
    vf_source *src;
    td_check(vf_source_from_io(io, &src, &err), &err, "vf_source_from_io");
    return src;
}

/* docs/tree-digest.md over a buffer, straight from the definition (single thread). */
static inline void td_tree_ref(const uint8_t *data, uint64_t size, uint8_t md[VF_SHA256_LEN])
{
    vf_error err;
    vf_sha256 *h;
    td_check(vf_sha256_new(&h, &err), &err, "sha");
    uint8_t pre[32] = "vhdfold-tree-v1";
    for (int i = 0; i < 8; i++)
        pre[16 + i] = (uint8_t)(size >> (8 * i));
    pre[24] = 0x00, pre[25] = 0x00, pre[26] = 0x20, pre[27] = 0x00; /* 2 MiB, LE */
    td_check(vf_sha256_update(h, pre, 32, &err), &err, "sha");
    for (uint64_t off = 0; off < size; off += 2 * TD_MIB) {
        uint64_t n = size - off < 2 * TD_MIB ? size - off : 2 * TD_MIB;
        uint8_t leaf[VF_SHA256_LEN];
        td_check(vf_sha256_once(data + off, (size_t)n, leaf, &err), &err, "sha");
        td_check(vf_sha256_update(h, leaf, sizeof leaf, &err), &err, "sha");
    }
    td_check(vf_sha256_final(h, md, &err), &err, "sha");
    vf_sha256_free(h);
}

/* --- a vf_fs that counts bytes read through it ------------------------------------------- */

typedef struct td_count_fs {
    vf_fs fs;
    const vf_fs *inner;
    uint64_t read_bytes;
    uint64_t fail_after; /* reads fail with VF_E_IO once this many bytes were read; 0 = never */
} td_count_fs;

typedef struct td_count_io {
    vf_io *inner;
    td_count_fs *owner;
} td_count_io;

static inline vf_status td_c_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    td_count_io *c = self;
    if (c->owner->fail_after && c->owner->read_bytes + len > c->owner->fail_after)
        return vf_fail(e, VF_E_IO, off, __func__, "injected read failure in '%s'",
                       c->inner->name ? c->inner->name : "?");
    c->owner->read_bytes += len;
    return vf_io_read(c->inner, buf, len, off, e);
}
static inline vf_status td_c_write(void *self, const void *buf, size_t len, uint64_t off,
                                   vf_error *e)
{
    return vf_io_write(((td_count_io *)self)->inner, buf, len, off, e);
}
static inline vf_status td_c_sync(void *self, vf_error *e)
{
    return vf_io_sync(((td_count_io *)self)->inner, e);
}
static inline vf_status td_c_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(((td_count_io *)self)->inner, size, e);
}
static inline vf_status td_c_set_size(void *self, uint64_t size, vf_error *e)
{
    return vf_io_set_size(((td_count_io *)self)->inner, size, e);
}
static inline vf_status td_c_lock(void *self, bool exclusive, vf_error *e)
{
    return vf_io_lock(((td_count_io *)self)->inner, exclusive, e);
}
static inline void td_c_close(void *self)
{
    td_count_io *c = self;
    vf_io_close(c->inner);
    free(c);
}
static const vf_io_ops td_count_io_ops = {
    .read_at = td_c_read,
    .write_at = td_c_write,
    .sync = td_c_sync,
    .get_size = td_c_size,
    .set_size = td_c_set_size,
    .lock = td_c_lock,
    .close = td_c_close,
};

static inline vf_status td_cfs_open(void *self, const char *path, unsigned flags, vf_io **out,
                                    vf_error *e)
{
    td_count_fs *cfs = self;
    vf_io *inner;
    vf_status st = vf_fs_open(cfs->inner, path, flags, &inner, e);
    if (st != VF_OK)
        return st;
    td_count_io *c = calloc(1, sizeof *c);
    if (!c) {
        vf_io_close(inner);
        return VF_E_NOMEM;
    }
    c->inner = inner;
    c->owner = cfs;
    return vf_io_new(&td_count_io_ops, c, path, inner->writable, out, e);
}
static inline vf_status td_cfs_remove(void *self, const char *path, vf_error *e)
{
    return vf_fs_remove(((td_count_fs *)self)->inner, path, e);
}
static inline vf_status td_cfs_free(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    const vf_fs *in = ((td_count_fs *)self)->inner;
    return in->ops->free_space(in->self, path, bytes, e);
}
static inline vf_status td_cfs_sync_dir(void *self, const char *path, vf_error *e)
{
    const vf_fs *in = ((td_count_fs *)self)->inner;
    return in->ops->sync_dir(in->self, path, e);
}
static const vf_fs_ops td_count_fs_ops = {.open = td_cfs_open,
                                          .remove = td_cfs_remove,
                                          .free_space = td_cfs_free,
                                          .sync_dir = td_cfs_sync_dir};

static inline void td_count_fs_init(td_count_fs *cfs, const vf_fs *inner)
{
    memset(cfs, 0, sizeof *cfs);
    cfs->inner = inner;
    cfs->fs.ops = &td_count_fs_ops;
    cfs->fs.self = cfs;
}

#endif
