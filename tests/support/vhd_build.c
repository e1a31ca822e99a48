/* vhd_build.c - VHD fixtures for tests (see vhd_build.h): images from our own writer over the
 * memory backend, plus checksum and field helpers for hand-made bad variants.
 * Layer: tests/support. Depends on format/ (public API) only. */
#include <stdlib.h>
#include <string.h>

#include "vhd_build.h"

void vhd_build_opts(vf_create_opts *o, vf_disk_type type, uint64_t size, uint32_t block)
{
    vf_create_opts_init(o);
    o->format = VF_FORMAT_VHD;
    o->type = type;
    o->virtual_size = size;
    o->block_size = block;
    memset(o->id, 0x11, sizeof o->id);
    o->timestamp = 1000;
    o->creator = "vhdt";
    o->flags = VF_CREATE_PACKED; /* blocks back to back, as the tests' layouts expect */
}

int vhd_build(const vf_create_opts *o, int (*fill)(vf_image *img, void *ctx), void *ctx,
              vhd_bytes *out, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    out->data = NULL;
    out->len = 0;
    if (vf_io_mem_new(NULL, 0, "built.vhd", true, &io, err) != VF_OK)
        return -1;
    if (vf_image_create(io, "built.vhd", o, &img, err) != VF_OK)
        return -1;
    int rc = fill ? fill(img, ctx) : 0;
    if (rc == 0 && vf_image_flush(img, err) != VF_OK)
        rc = -1;
    if (rc == 0) {
        size_t n;
        const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
        out->data = malloc(n ? n : 1);
        if (out->data) {
            memcpy(out->data, d, n);
            out->len = n;
        } else {
            rc = -1;
        }
    }
    vf_image_close(img);
    return rc;
}

void vhd_build_free(vhd_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

vf_status vhd_build_open(const uint8_t *data, size_t len, unsigned flags, vf_image **img,
                         vf_error *err)
{
    vf_io *io;
    *img = NULL;
    vf_status st = vf_io_mem_new(data, len, "test.vhd", (flags & VF_OPEN_RDWR) != 0, &io, err);
    if (st != VF_OK)
        return st;
    return vf_image_open(io, "test.vhd", flags, img, err);
}

uint32_t vhd_build_get32(const uint8_t *data, uint64_t off)
{
    const uint8_t *p = data + off;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void vhd_build_put32(uint8_t *data, uint64_t off, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        data[off + (uint64_t)i] = (uint8_t)v;
}

void vhd_build_put64(uint8_t *data, uint64_t off, uint64_t v)
{
    vhd_build_put32(data, off, (uint32_t)(v >> 32));
    vhd_build_put32(data, off + 4, (uint32_t)v);
}

uint64_t vhd_build_header_off(const vhd_bytes *b)
{
    return (uint64_t)vhd_build_get32(b->data, 16) << 32 | vhd_build_get32(b->data, 20);
}

static void vhd_build_fix(uint8_t *data, uint64_t off, size_t len, size_t csum)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < csum || i >= csum + 4)
            sum += data[off + i];
    vhd_build_put32(data, off + csum, ~sum);
}

void vhd_build_fix_footer(uint8_t *data, uint64_t off)
{
    vhd_build_fix(data, off, 512, 64);
}

void vhd_build_fix_header(uint8_t *data, uint64_t off)
{
    vhd_build_fix(data, off, 1024, 36);
}

static void vhd_rec_log(vhd_rec *r, char kind, uint64_t off, uint64_t len)
{
    if (r->n < sizeof r->ops / sizeof r->ops[0])
        r->ops[r->n++] = (vhd_rec_op){kind, off, len};
}
static vf_status vhd_rec_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vhd_rec *r = self;
    r->reads++;
    r->read_bytes += len;
    if (len > r->read_max)
        r->read_max = len;
    return vf_io_read(r->inner, buf, len, off, e);
}
static vf_status vhd_rec_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    vhd_rec_log(self, 'w', off, len);
    return vf_io_write(((vhd_rec *)self)->inner, buf, len, off, e);
}
static vf_status vhd_rec_sync(void *self, vf_error *e)
{
    vhd_rec_log(self, 's', 0, 0);
    return vf_io_sync(((vhd_rec *)self)->inner, e);
}
static vf_status vhd_rec_get_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(((vhd_rec *)self)->inner, size, e);
}
static vf_status vhd_rec_set_size(void *self, uint64_t size, vf_error *e)
{
    vhd_rec_log(self, 't', size, 0);
    return vf_io_set_size(((vhd_rec *)self)->inner, size, e);
}
static vf_status vhd_rec_lock(void *self, bool ex, vf_error *e)
{
    return vf_io_lock(((vhd_rec *)self)->inner, ex, e);
}
static void vhd_rec_close(void *self)
{
    (void)self; /* the test frees the recorder with vhd_rec_free */
}
static const vf_io_ops vhd_rec_ops = {
    .read_at = vhd_rec_read,
    .write_at = vhd_rec_write,
    .sync = vhd_rec_sync,
    .get_size = vhd_rec_get_size,
    .set_size = vhd_rec_set_size,
    .lock = vhd_rec_lock,
    .close = vhd_rec_close,
};

vf_status vhd_rec_new(const uint8_t *data, size_t len, vhd_rec **rec, vf_io **io, vf_error *err)
{
    vhd_rec *r = calloc(1, sizeof *r);
    *rec = NULL;
    *io = NULL;
    if (!r)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "recorder: no memory");
    vf_status st = vf_io_mem_new(data, len, "rec.vhd", true, &r->inner, err);
    if (st == VF_OK)
        st = vf_io_new(&vhd_rec_ops, r, "rec.vhd", true, io, err);
    if (st != VF_OK) {
        vhd_rec_free(r);
        return st;
    }
    *rec = r;
    return VF_OK;
}

void vhd_rec_free(vhd_rec *rec)
{
    if (!rec)
        return;
    vf_io_close(rec->inner);
    free(rec);
}

size_t vhd_rec_find(const vhd_rec *rec, size_t from, char kind, uint64_t lo, uint64_t hi)
{
    for (size_t i = from; i < rec->n; i++)
        if (rec->ops[i].kind == kind && rec->ops[i].off >= lo && rec->ops[i].off < hi)
            return i;
    return SIZE_MAX;
}

bool vhd_rec_sync_between(const vhd_rec *rec, size_t a, size_t b)
{
    for (size_t i = a + 1; i < b; i++)
        if (rec->ops[i].kind == 's')
            return true;
    return false;
}
