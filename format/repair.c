/* repair.c - vf_image_repair: picks the driver that recognises the file and lets it plan (and
 * make) the repairs that cannot lose data; plus the two io views the drivers validate a repair
 * through before writing (a borrowed handle, a file with a replaced last sector).
 * Layer: format. Drivers: vhd/repair.c, vhdx/repair.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"

/* --- a handle that forwards to another and does not close it --- */

static vf_status vf_borrow_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_read(self, buf, len, off, e);
}
static vf_status vf_borrow_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_write(self, buf, len, off, e);
}
static vf_status vf_borrow_sync(void *self, vf_error *e)
{
    return vf_io_sync(self, e);
}
static vf_status vf_borrow_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(self, size, e);
}
static vf_status vf_borrow_set_size(void *self, uint64_t size, vf_error *e)
{
    return vf_io_set_size(self, size, e);
}
static vf_status vf_borrow_lock(void *self, bool exclusive, vf_error *e)
{
    (void)self;
    (void)exclusive;
    (void)e;
    return VF_OK; /* the owner of the real handle holds the lock */
}
static void vf_borrow_close(void *self)
{
    (void)self;
}

static const vf_io_ops vf_borrow_ops = {
    .read_at = vf_borrow_read,
    .write_at = vf_borrow_write,
    .sync = vf_borrow_sync,
    .get_size = vf_borrow_size,
    .set_size = vf_borrow_set_size,
    .lock = vf_borrow_lock,
    .close = vf_borrow_close,
};

vf_status vf_io_borrow(vf_io *io, vf_io **out, vf_error *err)
{
    return vf_io_new(&vf_borrow_ops, io, io->name, io->writable, out, err);
}

/* --- the file's first `at` bytes, then a replacement last sector --- */

typedef struct vf_tail_view {
    vf_io *io;
    uint64_t at;
    uint8_t tail[512];
    bool has_head; /* the first 512 bytes read as head (vf_io_with_head) */
    uint8_t head[512];
} vf_tail_view;

/* Bytes [off, off + len) of buf read the replacement first sector where they overlap it. */
static void vf_tail_head(const vf_tail_view *t, uint8_t *buf, size_t len, uint64_t off)
{
    for (size_t i = 0; t->has_head && off < 512 && i < len && off + i < 512; i++)
        buf[i] = t->head[off + i];
}

static vf_status vf_tail_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_tail_view *t = self;
    uint8_t *p = buf;
    uint64_t off0 = off;
    if (off > t->at + 512 || len > t->at + 512 - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off, "'%s': read of %zu bytes at %llu past the end",
                       t->io->name, len, (unsigned long long)off);
    if (off < t->at) {
        size_t head = len < t->at - off ? len : (size_t)(t->at - off);
        vf_status st = vf_io_read(t->io, p, head, off, e);
        if (st != VF_OK)
            return st;
        p += head;
        len -= head;
        off += head;
    }
    if (len)
        memcpy(p, t->tail + (off - t->at), len);
    vf_tail_head(t, buf, (size_t)(p + len - (uint8_t *)buf), off0);
    return VF_OK;
}
static vf_status vf_tail_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    (void)self;
    (void)buf;
    (void)len;
    return VF_FAIL(e, VF_E_INVAL, off, "a repair preview is read-only");
}
static vf_status vf_tail_sync(void *self, vf_error *e)
{
    (void)self;
    (void)e;
    return VF_OK;
}
static vf_status vf_tail_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((vf_tail_view *)self)->at + 512;
    return VF_OK;
}
static vf_status vf_tail_set_size(void *self, uint64_t size, vf_error *e)
{
    (void)self;
    return VF_FAIL(e, VF_E_INVAL, size, "a repair preview is read-only");
}
static void vf_tail_close(void *self)
{
    free(self);
}

static const vf_io_ops vf_tail_ops = {
    .read_at = vf_tail_read,
    .write_at = vf_tail_write,
    .sync = vf_tail_sync,
    .get_size = vf_tail_size,
    .set_size = vf_tail_set_size,
    .lock = vf_borrow_lock,
    .close = vf_tail_close,
};

vf_status vf_io_with_tail(vf_io *io, uint64_t at, const uint8_t tail[512], vf_io **out,
                          vf_error *err)
{
    vf_tail_view *t = calloc(1, sizeof *t);
    if (!t)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a repair preview");
    t->io = io;
    t->at = at;
    memcpy(t->tail, tail, 512);
    return vf_io_new(&vf_tail_ops, t, io->name, false, out, err);
}

vf_status vf_io_with_head(vf_io *io, const uint8_t head[512], vf_io **out, vf_error *err)
{
    uint64_t size;
    uint8_t tail[512];
    vf_status st = vf_io_size(io, &size, err);
    if (st != VF_OK)
        return st;
    if (size < 1024)
        return VF_FAIL(err, VF_E_TRUNCATED, 0, "'%s': %llu bytes, too short for a preview",
                       io->name, (unsigned long long)size);
    if ((st = vf_io_read(io, tail, sizeof tail, size - 512, err)) != VF_OK ||
        (st = vf_io_with_tail(io, size - 512, tail, out, err)) != VF_OK)
        return st;
    vf_tail_view *t = (*out)->self;
    t->has_head = true;
    memcpy(t->head, head, 512);
    return VF_OK;
}

/* --- plans --- */

void vf_repair_add(vf_repair_plan *plan, const char *fmt, ...)
{
    if (plan->nactions >= VF_REPAIR_MAX_ACTIONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->action[plan->nactions++], VF_ERROR_MSG_MAX, fmt, ap);
    va_end(ap);
}

void vf_repair_refuse(vf_repair_plan *plan, const char *fmt, ...)
{
    if (plan->unsafe)
        return; /* the first reason is the one to tell */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->unsafe_why, VF_ERROR_MSG_MAX, fmt, ap);
    va_end(ap);
    plan->unsafe = true;
}

vf_status vf_image_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                          vf_error *err)
{
    memset(plan, 0, sizeof *plan);
    const char *nm = name ? name : io->name;
    if (apply && !io->writable)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' was not opened for writing", nm);
    const vf_driver *drv;
    vf_status st = vf_image_probe_driver(io, nm, &drv, err);
    if (st != VF_OK)
        return st;
    if (drv->repair)
        return drv->repair(io, nm, apply, plan, err);
    vf_io *b;
    if ((st = vf_io_borrow(io, &b, err)) != VF_OK)
        return st;
    vf_image *img;
    vf_error why;
    if (vf_image_open(b, nm, 0, &img, &why) == VF_OK)
        vf_image_close(img);
    else
        vf_repair_refuse(plan, "%s", why.msg);
    return VF_OK;
}
