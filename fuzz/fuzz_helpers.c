/* fuzz_helpers.c - shared machinery of the fuzz harnesses (see fuzz_helpers.h): an in-memory
 * vf_io that records writes, checksums for splicing, templates from our own writer, the VFSP
 * sparse encoding, the input splitter, and walkers that check the image and chain API
 * contracts (extents inside the file, reads agreeing with the file and with the chain).
 * Layer: fuzz. Public API of format/ only; state kept between runs is limited to the
 * immutable templates. */
#include "fuzz_helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Memory files written by fuzzed RDWR opens (log replay may extend a file) stop here. */
#define VF_FUZZ_MEM_CAP (256u << 20)

const uint8_t vf_fuzz_log_guid[16] = {0x6c, 0x6f, 0x67, 0x21, 0x76, 0x66, 0x7a, 0x7a,
                                      0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

/* VHDX region GUIDs as stored (MS-VHDX 2.2.3.1, mixed-endian). */
static const uint8_t vf_fuzz_bat_guid[16] = {0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
                                             0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08};
static const uint8_t vf_fuzz_meta_guid[16] = {0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
                                              0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e};

void vf_fuzz_die(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz invariant broken at %s:%d (%s): ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

unsigned vf_fuzz_open_flags(void)
{
#ifdef VF_FUZZ_SKIP_CHECKSUMS
    return VF_OPEN_NO_CHECKSUMS;
#else
    return 0;
#endif
}

void vf_fuzz_buf_free(vf_fuzz_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = 0;
}

vf_fuzz_buf vf_fuzz_buf_dup(const uint8_t *src, size_t len)
{
    vf_fuzz_buf b = {malloc(len ? len : 1), len};
    VF_FUZZ_CHECK(b.p != NULL, "out of memory copying %zu bytes", len);
    if (len)
        memcpy(b.p, src, len);
    return b;
}

/* --- byte helpers and checksums --- */

uint32_t vf_fuzz_get_be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t vf_fuzz_get_be64(const uint8_t *b)
{
    return (uint64_t)vf_fuzz_get_be32(b) << 32 | vf_fuzz_get_be32(b + 4);
}

uint16_t vf_fuzz_get_le16(const uint8_t *b)
{
    return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t vf_fuzz_get_le32(const uint8_t *b)
{
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

uint64_t vf_fuzz_get_le64(const uint8_t *b)
{
    return (uint64_t)vf_fuzz_get_le32(b + 4) << 32 | vf_fuzz_get_le32(b);
}

void vf_fuzz_put_be32(uint8_t *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}

void vf_fuzz_put_le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        b[i] = (uint8_t)v;
}

void vf_fuzz_put_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        b[i] = (uint8_t)v;
}

size_t vf_fuzz_splice(uint8_t *dst, size_t dst_len, size_t off, const uint8_t *src, size_t len)
{
    if (off >= dst_len)
        return 0;
    size_t n = len < dst_len - off ? len : dst_len - off;
    if (n)
        memcpy(dst + off, src, n);
    return n;
}

uint32_t vf_fuzz_vhd_sum(const uint8_t *p, size_t len, size_t cksum_off)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < cksum_off || i >= cksum_off + 4)
            sum += p[i];
    return ~sum;
}

void vf_fuzz_vhd_fix(uint8_t *p, size_t len, size_t cksum_off, bool fix_if_zero)
{
    if (cksum_off + 4 > len || (fix_if_zero && vf_fuzz_get_be32(p + cksum_off) != 0))
        return;
    vf_fuzz_put_be32(p + cksum_off, vf_fuzz_vhd_sum(p, len, cksum_off));
}

uint32_t vf_fuzz_crc32c(const uint8_t *p, size_t len, size_t cksum_off)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        uint8_t byte = (i >= cksum_off && i < cksum_off + 4) ? 0 : p[i];
        crc ^= byte;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

void vf_fuzz_vhdx_fix(uint8_t *p, size_t len, size_t cksum_off, bool fix_if_zero)
{
    if (cksum_off + 4 > len || (fix_if_zero && vf_fuzz_get_le32(p + cksum_off) != 0))
        return;
    vf_fuzz_put_le32(p + cksum_off, vf_fuzz_crc32c(p, len, cksum_off));
}

/* --- a memory vf_io that refuses writes to read-only handles --- */

typedef struct vf_fuzz_mem {
    uint8_t *p;
    size_t len, cap;
    bool writable;
} vf_fuzz_mem;

static vf_status vf_fuzz_mem_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_fuzz_mem *m = self;
    if (off > m->len || len > m->len - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off,
                       "read of %zu bytes at %" PRIu64 " runs past the end (%zu bytes)", len, off,
                       m->len);
    if (len)
        memcpy(buf, m->p + off, len);
    return VF_OK;
}

static vf_status vf_fuzz_mem_grow(vf_fuzz_mem *m, uint64_t size, vf_error *e)
{
    if (size > VF_FUZZ_MEM_CAP)
        return VF_FAIL_ERRNO(e, ENOSPC, size, "memory file would grow to %" PRIu64 " bytes", size);
    if (size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < size)
            cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p)
            return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "growing a memory file");
        m->p = p;
        m->cap = cap;
    }
    if (size > m->len)
        memset(m->p + m->len, 0, (size_t)size - m->len);
    m->len = (size_t)size;
    return VF_OK;
}

static vf_status vf_fuzz_mem_write(void *self, const void *buf, size_t len, uint64_t off,
                                   vf_error *e)
{
    vf_fuzz_mem *m = self;
    VF_FUZZ_CHECK(m->writable, "write of %zu bytes at %" PRIu64 " to a read-only image", len, off);
    if (off > VF_FUZZ_MEM_CAP || len > VF_FUZZ_MEM_CAP - off)
        return VF_FAIL_ERRNO(e, ENOSPC, off, "memory file would exceed its cap");
    if (off + len > m->len) {
        vf_status st = vf_fuzz_mem_grow(m, off + len, e);
        if (st != VF_OK)
            return st;
    }
    if (len)
        memcpy(m->p + off, buf, len);
    return VF_OK;
}

static vf_status vf_fuzz_mem_sync(void *self, vf_error *e)
{
    (void)self, (void)e;
    return VF_OK;
}

static vf_status vf_fuzz_mem_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((vf_fuzz_mem *)self)->len;
    return VF_OK;
}

static vf_status vf_fuzz_mem_set_size(void *self, uint64_t size, vf_error *e)
{
    vf_fuzz_mem *m = self;
    VF_FUZZ_CHECK(m->writable, "resize to %" PRIu64 " of a read-only image", size);
    if (size <= m->len) {
        m->len = (size_t)size;
        return VF_OK;
    }
    return vf_fuzz_mem_grow(m, size, e);
}

static vf_status vf_fuzz_mem_lock(void *self, bool exclusive, vf_error *e)
{
    (void)self, (void)exclusive, (void)e;
    return VF_OK;
}

static void vf_fuzz_mem_close(void *self)
{
    vf_fuzz_mem *m = self;
    if (m)
        free(m->p);
    free(m);
}

static const vf_io_ops vf_fuzz_mem_ops = {
    .read_at = vf_fuzz_mem_read,
    .write_at = vf_fuzz_mem_write,
    .sync = vf_fuzz_mem_sync,
    .get_size = vf_fuzz_mem_size,
    .set_size = vf_fuzz_mem_set_size,
    .lock = vf_fuzz_mem_lock,
    .close = vf_fuzz_mem_close,
};

/* A new memory io that takes over buf (malloc'ed, cap bytes, len used) even on failure;
 * *mem (optional) borrows the backend until close. */
static vf_status vf_fuzz_io_adopt(uint8_t *buf, size_t len, const char *name, bool writable,
                                  vf_io **out, vf_fuzz_mem **mem, vf_error *err)
{
    vf_fuzz_mem *m = calloc(1, sizeof *m);
    VF_FUZZ_CHECK(m != NULL, "out of memory");
    m->p = buf;
    m->len = m->cap = len;
    m->writable = writable;
    if (mem)
        *mem = m;
    return vf_io_new(&vf_fuzz_mem_ops, m, name, writable, out, err);
}

/* The same over a copy of data. */
static vf_status vf_fuzz_io_new(const uint8_t *data, size_t len, const char *name, bool writable,
                                vf_io **out, vf_fuzz_mem **mem, vf_error *err)
{
    vf_fuzz_buf copy = vf_fuzz_buf_dup(data, len);
    return vf_fuzz_io_adopt(copy.p, len, name, writable, out, mem, err);
}

/* --- a read-only vf_io over an immutable base plus a few patches (no copy of the base) --- */

typedef struct vf_fuzz_overlay {
    const uint8_t *base;
    size_t len;
    const vf_fuzz_patch *patches; /* borrowed for the life of the handle */
    size_t npatches;
} vf_fuzz_overlay;

static vf_status vf_fuzz_overlay_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_fuzz_overlay *o = self;
    if (off > o->len || len > o->len - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off,
                       "read of %zu bytes at %" PRIu64 " runs past the end (%zu bytes)", len, off,
                       o->len);
    if (!len)
        return VF_OK;
    memcpy(buf, o->base + off, len);
    for (size_t i = 0; i < o->npatches; i++) {
        const vf_fuzz_patch *pt = &o->patches[i];
        size_t lo = pt->off > off ? pt->off : (size_t)off;
        size_t hi = pt->off + pt->len < off + len ? pt->off + pt->len : (size_t)(off + len);
        if (lo < hi)
            memcpy((uint8_t *)buf + (lo - off), pt->p + (lo - pt->off), hi - lo);
    }
    return VF_OK;
}

static vf_status vf_fuzz_overlay_write(void *self, const void *buf, size_t len, uint64_t off,
                                       vf_error *e)
{
    (void)self, (void)buf, (void)e;
    VF_FUZZ_CHECK(false, "write of %zu bytes at %" PRIu64 " to a read-only image", len, off);
    return VF_E_INVAL;
}

static vf_status vf_fuzz_overlay_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((vf_fuzz_overlay *)self)->len;
    return VF_OK;
}

static vf_status vf_fuzz_overlay_set_size(void *self, uint64_t size, vf_error *e)
{
    (void)self, (void)e;
    VF_FUZZ_CHECK(false, "resize to %" PRIu64 " of a read-only image", size);
    return VF_E_INVAL;
}

static const vf_io_ops vf_fuzz_overlay_ops = {
    .read_at = vf_fuzz_overlay_read,
    .write_at = vf_fuzz_overlay_write,
    .sync = vf_fuzz_mem_sync,
    .get_size = vf_fuzz_overlay_size,
    .set_size = vf_fuzz_overlay_set_size,
    .lock = vf_fuzz_mem_lock,
    .close = free,
};

/* --- templates --- */

static const uint8_t vf_fuzz_ids[VF_FUZZ_TPL_COUNT][16] = {
    {0x46, 0x49, 0x58, 0x45, 0x44, 0x01, 0x42, 0x03, 0x84, 0x05, 0x06, 0x07, 0x08, 0x09, 1, 1},
    {0x44, 0x59, 0x4e, 0x41, 0x4d, 0x01, 0x42, 0x03, 0x84, 0x05, 0x06, 0x07, 0x08, 0x09, 2, 2},
    {0x44, 0x49, 0x46, 0x46, 0x21, 0x01, 0x42, 0x03, 0x84, 0x05, 0x06, 0x07, 0x08, 0x09, 3, 3},
    {0x58, 0x44, 0x59, 0x4e, 0x21, 0x01, 0x42, 0x03, 0x84, 0x05, 0x06, 0x07, 0x08, 0x09, 4, 4},
    {0x58, 0x44, 0x49, 0x46, 0x21, 0x01, 0x42, 0x03, 0x84, 0x05, 0x06, 0x07, 0x08, 0x09, 5, 5},
};

#define VF_FUZZ_TIMESTAMP 0x2f000000u /* a fixed time stamp keeps the bytes reproducible */

typedef struct vf_fuzz_tpl_spec {
    const char *name;
    vf_format_kind format;
    vf_disk_type type;
    uint64_t virtual_size;
    int parent;              /* template index of the parent, -1 for none */
    uint32_t block_sizes[3]; /* tried in order; 0 = the format's default */
    struct {
        uint64_t voff;
        uint32_t len;
    } writes[3];
} vf_fuzz_tpl_spec;

static const vf_fuzz_tpl_spec vf_fuzz_specs[VF_FUZZ_TPL_COUNT] = {
    {"fixed.vhd",
     VF_FORMAT_VHD,
     VF_DISK_FIXED,
     1u << 20,
     -1,
     {0, 0, 0},
     {{0, 4096}, {512u << 10, 512}, {(1u << 20) - 4096, 4096}}},
    {"base.vhd",
     VF_FORMAT_VHD,
     VF_DISK_DYNAMIC,
     4u << 20,
     -1,
     {64u << 10, 512u << 10, 0},
     {{0, 4096}, {(1u << 20) + 512, 4096}, {(4u << 20) - 4096, 4096}}},
    {"child.vhd",
     VF_FORMAT_VHD,
     VF_DISK_DIFF,
     4u << 20,
     VF_FUZZ_TPL_VHD_DYNAMIC,
     {64u << 10, 512u << 10, 0},
     {{512, 512}, {2u << 20, 4096}, {(3u << 20) + 1024, 1024}}},
    {"base.vhdx",
     VF_FORMAT_VHDX,
     VF_DISK_DYNAMIC,
     8u << 20,
     -1,
     {1u << 20, 0, 0},
     {{0, 4096}, {3u << 20, 64u << 10}, {(8u << 20) - 4096, 4096}}},
    {"child.vhdx",
     VF_FORMAT_VHDX,
     VF_DISK_DIFF,
     8u << 20,
     VF_FUZZ_TPL_VHDX_DYNAMIC,
     {1u << 20, 0, 0},
     {{4096, 512}, {6u << 20, 8192}, {(7u << 20) + 512, 1536}}},
};

const char *vf_fuzz_template_name(vf_fuzz_tpl which)
{
    return vf_fuzz_specs[which].name;
}

/* Deterministic content: differs per template so a chain's levels are told apart. */
static void vf_fuzz_fill(uint8_t *p, uint32_t len, uint64_t voff, unsigned salt)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)((voff + i) * 131u + salt * 17u + ((voff + i) >> 9));
}

static vf_status vf_fuzz_try_create(const vf_fuzz_tpl_spec *s, unsigned idx, uint32_t bs,
                                    vf_fuzz_buf *out, vf_error *err)
{
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = s->format;
    o.type = s->type;
    o.virtual_size = s->virtual_size;
    o.block_size = bs;
    memcpy(o.id, vf_fuzz_ids[idx], 16);
    memset(o.file_write_guid, (int)(0x30 + idx), 16);
    memset(o.page83, 0x83, 16);
    o.timestamp = VF_FUZZ_TIMESTAMP + idx;
    vf_parent_link link;
    memset(&link, 0, sizeof link);
    if (s->parent >= 0) {
        memcpy(link.id, vf_fuzz_ids[s->parent], 16);
        link.timestamp = VF_FUZZ_TIMESTAMP + (uint32_t)s->parent;
        link.relative = vf_fuzz_specs[s->parent].name;
        link.absolute = s->format == VF_FORMAT_VHD ? "C:\\vf\\base.vhd" : "C:\\vf\\base.vhdx";
        o.parent = &link;
    }
    vf_io *io;
    vf_fuzz_mem *mem;
    vf_status st = vf_fuzz_io_new(NULL, 0, s->name, true, &io, &mem, err);
    if (st != VF_OK)
        return st;
    vf_image *img;
    if ((st = vf_image_create(io, s->name, &o, &img, err)) != VF_OK)
        return st;
    uint8_t buf[64u << 10];
    for (size_t i = 0; i < 3 && st == VF_OK; i++) {
        vf_fuzz_fill(buf, s->writes[i].len, s->writes[i].voff, idx);
        st = vf_image_write(img, s->writes[i].voff, buf, s->writes[i].len, err);
    }
    if (st == VF_OK)
        st = vf_image_flush(img, err);
    if (st == VF_OK)
        *out = vf_fuzz_buf_dup(mem->p, mem->len);
    vf_image_close(img);
    return st;
}

vf_status vf_fuzz_build_template(vf_fuzz_tpl which, vf_fuzz_buf *out, vf_error *err)
{
    const vf_fuzz_tpl_spec *s = &vf_fuzz_specs[which];
    vf_status st = VF_E_INVAL;
    out->p = NULL;
    out->len = 0;
    /* The smallest block size the writer accepts keeps templates (and seeds) small. */
    for (size_t i = 0; i < 3; i++) {
        st = vf_fuzz_try_create(s, (unsigned)which, s->block_sizes[i], out, err);
        if (st == VF_OK || s->block_sizes[i] == 0)
            break;
    }
    return st;
}

const vf_fuzz_buf *vf_fuzz_template(vf_fuzz_tpl which)
{
    /* Built on first use and never written again: runs stay independent of each other. */
    static vf_fuzz_buf cache[VF_FUZZ_TPL_COUNT];
    VF_FUZZ_CHECK(which < VF_FUZZ_TPL_COUNT, "no template %d", (int)which);
    if (!cache[which].p) {
        vf_error err;
        vf_error_clear(&err);
        vf_status st = vf_fuzz_build_template(which, &cache[which], &err);
        VF_FUZZ_CHECK(st == VF_OK, "template '%s' could not be built with our writer: %s (%s)",
                      vf_fuzz_specs[which].name, err.msg, vf_status_name(st));
    }
    return &cache[which];
}

bool vf_fuzz_vhdx_layout_get(const uint8_t *p, size_t len, vf_fuzz_vhdx_layout *out)
{
    const size_t h1 = 64u << 10, h2 = 128u << 10, rt = 192u << 10;
    if (len < rt + (64u << 10))
        return false;
    bool ok1 = memcmp(p + h1, "head", 4) == 0, ok2 = memcmp(p + h2, "head", 4) == 0;
    if (!ok1 && !ok2)
        return false;
    size_t cur = h1;
    if (!ok1 || (ok2 && vf_fuzz_get_le64(p + h2 + 8) > vf_fuzz_get_le64(p + h1 + 8)))
        cur = h2;
    memset(out, 0, sizeof *out);
    out->cur_header_off = cur;
    out->log_len = vf_fuzz_get_le32(p + cur + 68);
    out->log_off = vf_fuzz_get_le64(p + cur + 72);
    if (memcmp(p + rt, "regi", 4) != 0)
        return false;
    uint32_t n = vf_fuzz_get_le32(p + rt + 8);
    for (uint32_t i = 0; i < n && i < 2047; i++) {
        const uint8_t *e = p + rt + 16 + 32 * (size_t)i;
        if (!memcmp(e, vf_fuzz_bat_guid, 16)) {
            out->bat_off = vf_fuzz_get_le64(e + 16);
            out->bat_len = vf_fuzz_get_le32(e + 24);
        } else if (!memcmp(e, vf_fuzz_meta_guid, 16)) {
            out->meta_off = vf_fuzz_get_le64(e + 16);
            out->meta_len = vf_fuzz_get_le32(e + 24);
        }
    }
    return out->meta_len && out->bat_len && out->log_len && out->log_off < len &&
           out->meta_off < len && out->bat_off < len;
}

/* --- sparse inputs and splitting --- */

bool vf_fuzz_expand(const uint8_t *in, size_t len, vf_fuzz_buf *out)
{
    out->p = NULL;
    out->len = 0;
    if (len < VF_FUZZ_SPARSE_MAGIC_LEN || memcmp(in, VF_FUZZ_SPARSE_MAGIC, 4) != 0) {
        if (!len)
            return false;
        *out = vf_fuzz_buf_dup(in, len);
        return true;
    }
    /* Two passes: the size first (the furthest record end), then the bytes. */
    uint64_t size = 0;
    for (size_t pos = 4; pos + 6 <= len;) {
        uint64_t off = (uint64_t)vf_fuzz_get_le32(in + pos) * 512u;
        size_t n = vf_fuzz_get_le16(in + pos + 4);
        pos += 6;
        n = n < len - pos ? n : len - pos;
        if (off + n > size)
            size = off + n;
        if (size > VF_FUZZ_MAX_FILE)
            return false;
        pos += n;
    }
    if (!size)
        return false;
    out->p = calloc(1, (size_t)size);
    VF_FUZZ_CHECK(out->p != NULL, "out of memory expanding to %" PRIu64 " bytes", size);
    out->len = (size_t)size;
    for (size_t pos = 4; pos + 6 <= len;) {
        size_t off = (size_t)vf_fuzz_get_le32(in + pos) * 512u;
        size_t n = vf_fuzz_get_le16(in + pos + 4);
        pos += 6;
        n = n < len - pos ? n : len - pos;
        memcpy(out->p + off, in + pos, n);
        pos += n;
    }
    return true;
}

static bool vf_fuzz_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

vf_fuzz_buf vf_fuzz_sparse_encode(const uint8_t *file, size_t len)
{
    /* Worst case: every sector its own record. */
    size_t sectors = (len + 511) / 512;
    vf_fuzz_buf b = {malloc(4 + sectors * 6 + len + 6), 0};
    VF_FUZZ_CHECK(b.p != NULL, "out of memory encoding %zu bytes", len);
    memcpy(b.p, VF_FUZZ_SPARSE_MAGIC, 4);
    b.len = 4;
    size_t s = 0;
    while (s < sectors) {
        size_t n0 = len - s * 512 < 512 ? len - s * 512 : 512;
        /* The last sector is always emitted so the file keeps its exact size. */
        if (vf_fuzz_all_zero(file + s * 512, n0) && s + 1 < sectors) {
            s++;
            continue;
        }
        size_t start = s, bytes = 0;
        while (s < sectors && bytes + 512 <= 65024) {
            size_t n = len - s * 512 < 512 ? len - s * 512 : 512;
            if (s > start && vf_fuzz_all_zero(file + s * 512, n) && s + 1 < sectors)
                break;
            bytes += n;
            s++;
        }
        vf_fuzz_put_le32(b.p + b.len, (uint32_t)start);
        b.p[b.len + 4] = (uint8_t)bytes;
        b.p[b.len + 5] = (uint8_t)(bytes >> 8);
        memcpy(b.p + b.len + 6, file + start * 512, bytes);
        b.len += 6 + bytes;
    }
    return b;
}

size_t vf_fuzz_split(const uint8_t *in, size_t len, vf_fuzz_span *parts, size_t max)
{
    size_t n = 0, start = 0;
    if (!max)
        return 0;
    for (size_t i = 0; i + VF_FUZZ_SPLIT_LEN <= len && n + 1 < max; i++) {
        if (memcmp(in + i, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN) == 0) {
            parts[n].p = in + start;
            parts[n].len = i - start;
            n++;
            i += VF_FUZZ_SPLIT_LEN - 1;
            start = i + 1;
        }
    }
    parts[n].p = in + start;
    parts[n].len = len - start;
    return n + 1;
}

/* --- walking images and chains --- */

static void vf_fuzz_check_error(vf_status st, const vf_error *err, const char *name,
                                const char *what)
{
    VF_FUZZ_CHECK(st < 0 && st >= VF_E_CANCELED, "%s returned unknown status %d", what, (int)st);
    VF_FUZZ_CHECK(err->code == st, "%s returned %s but the error record says %s", what,
                  vf_status_name(st), vf_status_name(err->code));
    VF_FUZZ_CHECK(err->msg[0] != '\0', "%s failed (%s) without a message", what,
                  vf_status_name(st));
    VF_FUZZ_CHECK(!name || strstr(err->msg, name) != NULL,
                  "%s failed without naming the file '%s': %s", what, name, err->msg);
}

static bool vf_fuzz_is_zero(const uint8_t *p, size_t n)
{
    return vf_fuzz_all_zero(p, n);
}

/* Read n bytes at voff through the image and compare with what its extent says. */
static void vf_fuzz_read_and_compare(vf_image *img, const vf_extent *ext, uint64_t voff, size_t n,
                                     uint8_t *buf, uint8_t *raw)
{
    vf_error err;
    vf_status st = vf_image_read(img, voff, buf, n, &err);
    VF_FUZZ_CHECK(st == VF_OK, "'%s': read of %zu at %" PRIu64 " failed after a clean open: %s",
                  vf_image_name(img), n, voff, err.msg);
    if (ext->kind != VF_EXTENT_PRESENT) {
        VF_FUZZ_CHECK(vf_fuzz_is_zero(buf, n), "'%s': %s run at %" PRIu64 " does not read as zeros",
                      vf_image_name(img), ext->kind == VF_EXTENT_ZERO ? "zero" : "absent", voff);
        return;
    }
    /* An overlaid run (a log held in memory overrides it) has no file bytes to match; every
     * other PRESENT run must read exactly as the file holds it, log or not. */
    if (ext->overlaid)
        return;
    uint64_t foff = ext->file_off + (voff - ext->voff);
    st = vf_io_read(vf_image_io(img), raw, n, foff, &err);
    VF_FUZZ_CHECK(st == VF_OK,
                  "'%s': present run at %" PRIu64 " maps to unreadable file "
                  "offset %" PRIu64 ": %s",
                  vf_image_name(img), voff, foff, err.msg);
    VF_FUZZ_CHECK(memcmp(buf, raw, n) == 0,
                  "'%s': read at %" PRIu64 " differs from the file bytes at %" PRIu64,
                  vf_image_name(img), voff, foff);
}

void vf_fuzz_walk_image(vf_image *img)
{
    const vf_image_info *info = vf_image_info_get(img);
    uint64_t vsize = info->virtual_size, ss = info->logical_sector_size, fsize = 0;
    VF_FUZZ_CHECK(ss == 512 || ss == 4096, "logical sector size %" PRIu64, ss);
    vf_error err;
    VF_FUZZ_CHECK(vf_io_size(vf_image_io(img), &fsize, &err) == VF_OK, "size: %s", err.msg);
    uint8_t *buf = malloc(VF_FUZZ_READ_MAX), *raw = malloc(VF_FUZZ_READ_MAX);
    VF_FUZZ_CHECK(buf && raw, "out of memory");
    uint64_t voff = 0;
    for (unsigned step = 0; voff < vsize && step < VF_FUZZ_MAX_STEPS; step++) {
        vf_extent ext;
        vf_status st = vf_image_map(img, voff, vsize - voff, &ext, &err);
        if (st == VF_E_UNSUPPORTED) {
            /* Content the driver declines to define (VHDX UNDEFINED blocks in a child). The
             * refusal must concern the run's own first sector: the one-sector map and the
             * read refuse too (a read must not invent bytes). Go on at the next block. */
            vf_fuzz_check_error(st, &err, vf_image_name(img), "map");
            char why[VF_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err.msg);
            VF_FUZZ_CHECK(vf_image_map(img, voff, ss, &ext, &err) == VF_E_UNSUPPORTED,
                          "'%s': map at %" PRIu64 " fails for a later part of the run (%s) "
                          "although its first sector maps",
                          vf_image_name(img), voff, why);
            VF_FUZZ_CHECK(vf_image_read(img, voff, buf, 1, &err) == VF_E_UNSUPPORTED,
                          "'%s': map at %" PRIu64 " is unsupported but the read is not",
                          vf_image_name(img), voff);
            uint64_t bs = info->block_size ? info->block_size : ss;
            voff = (voff / bs + 1) * bs;
            continue;
        }
        VF_FUZZ_CHECK(st == VF_OK, "'%s': map at %" PRIu64 " failed after a clean open: %s",
                      vf_image_name(img), voff, err.msg);
        VF_FUZZ_CHECK(ext.voff == voff && ext.len > 0 && ext.len <= vsize - voff,
                      "'%s': map at %" PRIu64 " gave run %" PRIu64 "+%" PRIu64, vf_image_name(img),
                      voff, ext.voff, ext.len);
        VF_FUZZ_CHECK(ext.len % ss == 0 || voff + ext.len == vsize,
                      "'%s': run length %" PRIu64 " is not whole sectors", vf_image_name(img),
                      ext.len);
        VF_FUZZ_CHECK(ext.kind == VF_EXTENT_ABSENT || ext.kind == VF_EXTENT_PRESENT ||
                          ext.kind == VF_EXTENT_ZERO,
                      "'%s': extent kind %d", vf_image_name(img), (int)ext.kind);
        if (ext.kind == VF_EXTENT_PRESENT && !ext.overlaid)
            VF_FUZZ_CHECK(ext.file_off <= fsize && ext.len <= fsize - ext.file_off,
                          "'%s': present run %" PRIu64 "+%" PRIu64 " at file offset %" PRIu64
                          " lies past the end of the file (%" PRIu64 " bytes)",
                          vf_image_name(img), voff, ext.len, ext.file_off, fsize);
        size_t n = ext.len < VF_FUZZ_READ_MAX ? (size_t)ext.len : VF_FUZZ_READ_MAX;
        vf_fuzz_read_and_compare(img, &ext, voff, n, buf, raw);
        if (ext.len > n)
            vf_fuzz_read_and_compare(img, &ext, voff + ext.len - n, n, buf, raw);
        voff += ext.len;
    }
    /* An unaligned read straddling the end exercises the partial-sector paths. */
    if (vsize >= 3) {
        vf_status st = vf_image_read(img, vsize - 3, buf, 3, &err);
        VF_FUZZ_CHECK(st == VF_OK, "'%s': read of the last 3 bytes failed: %s", vf_image_name(img),
                      err.msg);
    }
    free(buf);
    free(raw);
}

void vf_fuzz_check_image(vf_image *img)
{
    vf_report rep;
    vf_error err;
    vf_report_init(&rep);
    vf_status st = vf_image_check(img, &rep, &err);
    if (st != VF_OK)
        vf_fuzz_check_error(st, &err, NULL, "check");
    VF_FUZZ_CHECK(rep.count <= VF_REPORT_MAX, "report holds %zu findings", rep.count);
    for (size_t i = 0; i < rep.count; i++) {
        VF_FUZZ_CHECK(memchr(rep.items[i].msg, 0, sizeof rep.items[i].msg) != NULL,
                      "finding %zu is not terminated", i);
        VF_FUZZ_CHECK(rep.items[i].severity <= VF_SEV_ERROR, "finding %zu severity %d", i,
                      (int)rep.items[i].severity);
    }
    vf_report_free(&rep);
}

static void vf_fuzz_locators(vf_image *img)
{
    vf_locator locs[8];
    size_t n = 0;
    vf_error err;
    vf_status st = vf_image_locators(img, locs, 8, &n, &err);
    if (st != VF_OK)
        return;
    for (size_t i = 0; i < n && i < 8; i++) {
        VF_FUZZ_CHECK(locs[i].path && strlen(locs[i].path) < (size_t)1 << 20,
                      "locator %zu path is missing or longer than any metadata item", i);
        VF_FUZZ_CHECK(memchr(locs[i].tag, 0, sizeof locs[i].tag) != NULL,
                      "locator %zu tag is not terminated", i);
    }
}

/* Open over an io already made (owned from here on). */
static vf_status vf_fuzz_open_io(vf_io *io, const char *name, bool writable, vf_image **out)
{
    vf_error err;
    unsigned flags = vf_fuzz_open_flags() | (writable ? VF_OPEN_RDWR : 0);
    vf_status st = vf_image_open(io, name, flags, out, &err);
    if (getenv("VF_FUZZ_VERBOSE")) /* replay diagnostics: how far did this input get */
        fprintf(stderr, "open '%s'%s: %s %s\n", name, writable ? " rw" : "", vf_status_name(st),
                st != VF_OK                             ? err.msg
                : vf_image_info_get(*out)->log_replayed ? "(log replayed)"
                                                        : "");
    if (st != VF_OK) {
        vf_fuzz_check_error(st, &err, name, "open");
        VF_FUZZ_CHECK(*out == NULL, "failed open left a handle");
    }
    return st;
}

vf_status vf_fuzz_open_image(const uint8_t *file, size_t len, const char *name, bool writable,
                             vf_image **out)
{
    vf_io *io;
    *out = NULL;
    vf_status st = vf_fuzz_io_new(file, len, name, writable, &io, NULL, NULL);
    return st == VF_OK ? vf_fuzz_open_io(io, name, writable, out) : st;
}

vf_status vf_fuzz_open_image_take(vf_fuzz_buf *file, const char *name, bool writable,
                                  vf_image **out)
{
    vf_io *io;
    *out = NULL;
    vf_status st = vf_fuzz_io_adopt(file->p, file->len, name, writable, &io, NULL, NULL);
    file->p = NULL;
    file->len = 0;
    return st == VF_OK ? vf_fuzz_open_io(io, name, writable, out) : st;
}

static void vf_fuzz_exercise(vf_image *img)
{
    vf_fuzz_walk_image(img);
    vf_fuzz_locators(img);
    vf_fuzz_check_image(img);
    vf_image_close(img);
}

vf_status vf_fuzz_run_image(const uint8_t *file, size_t len, const char *name, bool writable)
{
    vf_image *img;
    vf_status st = vf_fuzz_open_image(file, len, name, writable, &img);
    if (st == VF_OK)
        vf_fuzz_exercise(img);
    return st;
}

vf_status vf_fuzz_run_image_take(vf_fuzz_buf *file, const char *name, bool writable)
{
    vf_image *img;
    vf_status st = vf_fuzz_open_image_take(file, name, writable, &img);
    if (st == VF_OK)
        vf_fuzz_exercise(img);
    return st;
}

vf_status vf_fuzz_run_patched(const vf_fuzz_buf *base, const vf_fuzz_patch *patches,
                              size_t npatches, const char *name)
{
    for (size_t i = 0; i < npatches; i++)
        VF_FUZZ_CHECK(patches[i].off <= base->len && patches[i].len <= base->len - patches[i].off,
                      "patch %zu outside the template", i);
    vf_fuzz_overlay *o = calloc(1, sizeof *o);
    VF_FUZZ_CHECK(o != NULL, "out of memory");
    *o = (vf_fuzz_overlay){base->p, base->len, patches, npatches};
    vf_io *io;
    vf_image *img;
    vf_status st = vf_io_new(&vf_fuzz_overlay_ops, o, name, false, &io, NULL);
    if (st == VF_OK && (st = vf_fuzz_open_io(io, name, false, &img)) == VF_OK)
        vf_fuzz_exercise(img);
    return st;
}

/* Compare n chain bytes at voff with the level image the chain says defines them. */
static void vf_fuzz_chain_compare(vf_chain *c, const vf_chain_extent *ext, uint64_t voff, size_t n,
                                  uint8_t *buf, uint8_t *ref)
{
    vf_error err;
    vf_status st = vf_chain_read(c, voff, buf, n, &err);
    VF_FUZZ_CHECK(st == VF_OK, "chain read of %zu at %" PRIu64 " failed after a clean open: %s", n,
                  voff, err.msg);
    if (ext->kind != VF_EXTENT_PRESENT) {
        VF_FUZZ_CHECK(vf_fuzz_is_zero(buf, n), "chain run at %" PRIu64 " (%s) is not zeros", voff,
                      ext->kind == VF_EXTENT_ZERO ? "zero" : "absent");
        return;
    }
    vf_image *img = vf_chain_image(c, ext->level);
    st = vf_image_read(img, voff, ref, n, &err);
    VF_FUZZ_CHECK(st == VF_OK, "level %zu read at %" PRIu64 " failed: %s", ext->level, voff,
                  err.msg);
    VF_FUZZ_CHECK(memcmp(buf, ref, n) == 0,
                  "chain bytes at %" PRIu64 " differ from level %zu ('%s') that defines them", voff,
                  ext->level, vf_image_name(img));
}

void vf_fuzz_walk_chain(vf_chain *c)
{
    size_t depth = vf_chain_depth(c);
    uint64_t vsize = vf_chain_virtual_size(c), voff = 0;
    VF_FUZZ_CHECK(depth >= 1 && depth <= VF_FUZZ_MAX_PARTS, "chain depth %zu", depth);
    uint8_t *buf = malloc(VF_FUZZ_READ_MAX), *ref = malloc(VF_FUZZ_READ_MAX);
    VF_FUZZ_CHECK(buf && ref, "out of memory");
    for (unsigned step = 0; voff < vsize && step < VF_FUZZ_MAX_STEPS; step++) {
        vf_chain_extent ext;
        vf_error err;
        vf_status st = vf_chain_map(c, 0, depth - 1, voff, vsize - voff, &ext, &err);
        if (st == VF_E_UNSUPPORTED) { /* as in vf_fuzz_walk_image: skip a 1 MiB step */
            VF_FUZZ_CHECK(err.msg[0] != '\0', "chain map failed silently");
            voff = (voff / (1u << 20) + 1) * (1u << 20);
            continue;
        }
        VF_FUZZ_CHECK(st == VF_OK, "chain map at %" PRIu64 " failed after a clean open: %s", voff,
                      err.msg);
        VF_FUZZ_CHECK(ext.voff == voff && ext.len > 0 && ext.len <= vsize - voff,
                      "chain map at %" PRIu64 " gave %" PRIu64 "+%" PRIu64, voff, ext.voff,
                      ext.len);
        VF_FUZZ_CHECK(ext.kind == VF_EXTENT_ABSENT || ext.level < depth,
                      "chain run at %" PRIu64 " names level %zu of %zu", voff, ext.level, depth);
        size_t n = ext.len < VF_FUZZ_READ_MAX ? (size_t)ext.len : VF_FUZZ_READ_MAX;
        vf_fuzz_chain_compare(c, &ext, voff, n, buf, ref);
        if (ext.len > n)
            vf_fuzz_chain_compare(c, &ext, voff + ext.len - n, n, buf, ref);
        voff += ext.len;
    }
    free(buf);
    free(ref);
}

/* A usable file name from one line of the name map, or a default. */
static void vf_fuzz_part_name(const vf_fuzz_span *map, size_t idx, char *out, size_t cap)
{
    size_t line = 0, start = 0;
    snprintf(out, cap, "chain/l%zu.img", idx);
    for (size_t i = 0; i <= map->len; i++) {
        if (i < map->len && map->p[i] != '\n')
            continue;
        if (line == idx) {
            size_t n = i - start;
            if (n && n < cap && !memchr(map->p + start, 0, n)) {
                memcpy(out, map->p + start, n);
                out[n] = '\0';
            }
            return;
        }
        line++;
        start = i + 1;
    }
}

size_t vf_fuzz_chain_fs(const uint8_t *in, size_t len, vf_fs **fs, char *top, size_t top_cap)
{
    vf_fuzz_span parts[VF_FUZZ_MAX_PARTS + 1];
    size_t n = vf_fuzz_split(in, len, parts, VF_FUZZ_MAX_PARTS + 1), put = 0;
    vf_error err;
    *fs = NULL;
    if (n < 2 || vf_fs_mem_new(fs, &err) != VF_OK)
        return 0;
    for (size_t i = 1; i < n; i++) {
        vf_fuzz_buf file;
        char name[256];
        if (!vf_fuzz_expand(parts[i].p, parts[i].len, &file))
            continue;
        vf_fuzz_part_name(&parts[0], i - 1, name, sizeof name);
        if (vf_fs_mem_put(*fs, name, file.p, file.len, &err) == VF_OK) {
            if (put++ == 0)
                snprintf(top, top_cap, "%s", name);
        }
        vf_fuzz_buf_free(&file);
    }
    return put;
}
