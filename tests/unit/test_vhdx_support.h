/* test_vhdx_support.h - helpers shared by the VHDX driver tests (test_vhdx_*.c): a counting
 * in-memory vf_io the test keeps after the image closes (to prove "no byte written"), image
 * creation in memory, and CRC repair after a deliberate mutation. Header-only, static helpers;
 * the offsets are those of our own writer (format/vhdx/create.c). */
#ifndef VF_TEST_VHDX_SUPPORT_H
#define VF_TEST_VHDX_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vhdfold/vf_image.h>

#include "vhdx/vhdx_int.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024u * 1024u)
/* Layout written by create.c. */
#define T_LOG_OFF (1u * MIB)
#define T_META_OFF (2u * MIB)
#define T_BAT_OFF (3u * MIB)

/* A growable buffer behind a vf_io; the test owns it (close does not free it). */
typedef struct tbuf {
    uint8_t *d;
    size_t len, cap;
    unsigned writes, syncs;
} tbuf;

static inline vf_status tb_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    tbuf *t = self;
    if (off > t->len || len > t->len - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off, "read past end");
    memcpy(buf, t->d + off, len);
    return VF_OK;
}

static inline vf_status tb_setsize(void *self, uint64_t size, vf_error *e)
{
    tbuf *t = self;
    (void)e;
    if (size > t->cap) {
        size_t cap = (size_t)size + (size_t)size / 2;
        uint8_t *n = realloc(t->d, cap);
        assert_non_null(n);
        t->d = n;
        t->cap = cap;
    }
    if (size > t->len)
        memset(t->d + t->len, 0, (size_t)size - t->len);
    t->len = (size_t)size;
    t->writes++;
    return VF_OK;
}

static inline vf_status tb_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    tbuf *t = self;
    if (off + len > t->len)
        tb_setsize(t, off + len, e);
    memcpy(t->d + off, buf, len);
    t->writes++;
    return VF_OK;
}

static inline vf_status tb_sync(void *self, vf_error *e)
{
    (void)e;
    ((tbuf *)self)->syncs++;
    return VF_OK;
}

static inline vf_status tb_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((tbuf *)self)->len;
    return VF_OK;
}

static inline vf_status tb_lock(void *self, bool ex, vf_error *e)
{
    (void)self, (void)ex, (void)e;
    return VF_OK;
}

static inline void tb_close(void *self)
{
    (void)self;
}

static inline vf_io *tb_io(tbuf *t, bool writable)
{
    static const vf_io_ops tb_ops = {
        .read_at = tb_read,
        .write_at = tb_write,
        .sync = tb_sync,
        .get_size = tb_size,
        .set_size = tb_setsize,
        .lock = tb_lock,
        .close = tb_close,
    };
    vf_io *io;
    assert_int_equal(vf_io_new(&tb_ops, t, "t.vhdx", writable, &io, NULL), VF_OK);
    return io;
}

static inline vf_status tb_open(tbuf *t, unsigned flags, vf_image **img, vf_error *err)
{
    return vf_image_open(tb_io(t, (flags & VF_OPEN_RDWR) != 0), "t.vhdx", flags, img, err);
}

static inline tbuf tb_copy(const tbuf *src)
{
    tbuf t = {malloc(src->len ? src->len : 1), src->len, src->len, 0, 0};
    assert_non_null(t.d);
    memcpy(t.d, src->d, src->len);
    return t;
}

static inline void tb_free(tbuf *t)
{
    free(t->d);
    memset(t, 0, sizeof *t);
}

static inline vf_image *t_create(tbuf *t, vf_disk_type type, uint64_t size, uint32_t bs,
                                 uint32_t lss, const vf_parent_link *parent)
{
    memset(t, 0, sizeof *t);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = type;
    o.virtual_size = size;
    o.block_size = bs;
    o.logical_sector_size = lss;
    o.parent = parent;
    vf_image *img = NULL;
    vf_error err = {0};
    vf_status s = vf_image_create(tb_io(t, true), "t.vhdx", &o, &img, &err);
    if (s != VF_OK)
        fail_msg("create: %s", err.msg);
    return img;
}

/* Deterministic pattern bytes for virtual offset voff. */
static inline void t_fill(uint8_t *buf, size_t len, uint64_t voff, uint8_t salt)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = (voff + i) / 512 * 2654435761u + salt;
        buf[i] = (uint8_t)(x ^ (x >> 11) ^ ((voff + i) & 0x1FF));
    }
}

static inline void t_fix_header(tbuf *t, unsigned slot)
{
    vf_vhdx_crc_store(t->d + VX_HEADER_SLOT_OFF(slot), VX_HEADER_SIZE, 4);
}

static inline void t_fix_rt(tbuf *t)
{
    for (unsigned i = 0; i < 2; i++)
        vf_vhdx_crc_store(t->d + VX_RT_OFF(i), VX_RT_SIZE, 4);
}

static inline unsigned t_cur_slot(const tbuf *t)
{
    return vf_get_le(t->d + VX_HEADER_SLOT_OFF(1) + 8, 8) >
                   vf_get_le(t->d + VX_HEADER_SLOT_OFF(0) + 8, 8)
               ? 1
               : 0;
}

/* Log entry at log position pos: recompute its CRC over its EntryLength. */
static inline void t_fix_entry(tbuf *t, uint32_t pos)
{
    uint8_t *e = t->d + T_LOG_OFF + pos;
    vf_vhdx_crc_store(e, (size_t)vf_get_le(e + 8, 4), 4);
}

/* A read-only io over a tbuf that counts what is read: bytes in all, the largest single read
 * (resource-bound tests assert on these, never on time). */
typedef struct counted {
    tbuf *t;
    uint64_t read_bytes;
    size_t read_max;
} counted;

static inline vf_status c_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    counted *c = self;
    c->read_bytes += len;
    if (len > c->read_max)
        c->read_max = len;
    return tb_read(c->t, buf, len, off, e);
}

static inline vf_status c_size(void *self, uint64_t *size, vf_error *e)
{
    return tb_size(((counted *)self)->t, size, e);
}

/* Open t as image name through a fresh counting io in *c. */
static inline vf_status open_counted(tbuf *t, counted *c, const char *name, vf_image **img,
                                     vf_error *err)
{
    static const vf_io_ops ops = {
        .read_at = c_read, .get_size = c_size, .lock = tb_lock, .close = tb_close};
    memset(c, 0, sizeof *c);
    c->t = t;
    vf_io *io;
    assert_int_equal(vf_io_new(&ops, c, name, false, &io, err), VF_OK);
    return vf_image_open(io, name, 0, img, err);
}

#endif
