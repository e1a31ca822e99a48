/* io.c - the vf_io handle (ops table + backend state + name) and the thin wrappers every
 * module calls instead of read/write/fsync (and the internal share, punch and has_data);
 * vf_fs convenience wrappers.
 * Layer: format. Backends: io_file.c (POSIX, also vf_fs_posix), io_mem.c, fs_mem.c;
 * tests/support/io_fault.c wraps any of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_io.h>

#include "image_int.h"

vf_status vf_io_new(const vf_io_ops *ops, void *self, const char *name, bool writable, vf_io **out,
                    vf_error *err)
{
    *out = NULL;
    vf_io *io = calloc(1, sizeof *io);
    char *copy = strdup(name ? name : "(unnamed)");
    if (!io || !copy) {
        free(io);
        free(copy);
        if (ops && ops->close)
            ops->close(self);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating an I/O handle for '%s'",
                             name ? name : "(unnamed)");
    }
    io->ops = ops;
    io->self = self;
    io->name = copy;
    io->writable = writable;
    *out = io;
    return VF_OK;
}

void vf_io_close(vf_io *io)
{
    if (!io)
        return;
    if (io->ops->close)
        io->ops->close(io->self);
    free(io->name);
    free(io);
}

vf_status vf_io_read(vf_io *io, void *buf, size_t len, uint64_t off, vf_error *err)
{
    if (len == 0)
        return VF_OK;
    return io->ops->read_at(io->self, buf, len, off, err);
}

static vf_status vf_io_need_writable(const vf_io *io, const char *what, vf_error *err)
{
    if (io->writable)
        return VF_OK;
    return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "cannot %s '%s': it is open read-only", what,
                   io->name);
}

vf_status vf_io_write(vf_io *io, const void *buf, size_t len, uint64_t off, vf_error *err)
{
    vf_status st = vf_io_need_writable(io, "write to", err);
    if (st != VF_OK || len == 0)
        return st;
    return io->ops->write_at(io->self, buf, len, off, err);
}

/* The bounce buffer of vf_io_copy's fallback is at most this large. */
#define VF_IO_COPY_BOUNCE ((size_t)1 << 20)

/* len bytes through a heap buffer, chunk by chunk; backwards when dst_off lies inside the
 * source range, so one file copying onto itself behaves like memmove. */
static vf_status vf_io_bounce(vf_io *dst, uint64_t dst_off, vf_io *src, uint64_t src_off,
                              uint64_t len, vf_error *err)
{
    size_t cap = len < VF_IO_COPY_BOUNCE ? (size_t)len : VF_IO_COPY_BOUNCE;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "copying into '%s': a %zu-byte buffer",
                             dst->name, cap);
    bool backwards = dst_off > src_off && dst_off - src_off < len;
    vf_status st = VF_OK;
    for (uint64_t done = 0; st == VF_OK && done < len;) {
        size_t n = len - done < cap ? (size_t)(len - done) : cap;
        uint64_t at = backwards ? len - done - n : done;
        st = vf_io_read(src, buf, n, src_off + at, err);
        if (st == VF_OK)
            st = dst->ops->write_at(dst->self, buf, n, dst_off + at, err);
        done += n;
    }
    free(buf);
    return st;
}

vf_status vf_io_copy(vf_io *dst, uint64_t dst_off, vf_io *src, uint64_t src_off, uint64_t len,
                     vf_error *err)
{
    vf_status st = vf_io_need_writable(dst, "write to", err);
    if (st != VF_OK || len == 0)
        return st;
    uint64_t done = 0;
    /* The backend's own copy only between two handles it owns (same ops table). */
    if (dst->ops->copy_from && dst->ops == src->ops)
        st = dst->ops->copy_from(dst->self, src->self, dst_off, src_off, len, &done, err);
    if (st != VF_OK || done >= len)
        return st;
    return vf_io_bounce(dst, dst_off + done, src, src_off + done, len - done, err);
}

vf_status vf_io_share(vf_io *dst, uint64_t dst_off, vf_io *src, uint64_t src_off, uint64_t len,
                      bool *shared, vf_error *err)
{
    *shared = false;
    vf_status st = vf_io_need_writable(dst, "write to", err);
    if (st != VF_OK || !dst->ops->share_from || dst->ops != src->ops)
        return st;
    return dst->ops->share_from(dst->self, src->self, dst_off, src_off, len, shared, err);
}

vf_status vf_io_punch(vf_io *io, uint64_t off, uint64_t len, vf_error *err)
{
    static const uint8_t zero[64 * 1024];
    vf_status st = vf_io_need_writable(io, "write to", err);
    if (st != VF_OK || len == 0)
        return st;
    if (io->ops->punch)
        return io->ops->punch(io->self, off, len, err);
    for (uint64_t done = 0; st == VF_OK && done < len; done += sizeof zero) {
        size_t n = len - done < sizeof zero ? (size_t)(len - done) : sizeof zero;
        st = io->ops->write_at(io->self, zero, n, off + done, err);
    }
    return st;
}

vf_status vf_io_has_data(vf_io *io, uint64_t off, uint64_t len, bool *data, vf_error *err)
{
    *data = true;
    if (len == 0 || !io->ops->has_data)
        return VF_OK;
    return io->ops->has_data(io->self, off, len, data, err);
}

vf_status vf_io_sync(vf_io *io, vf_error *err)
{
    return io->ops->sync(io->self, err);
}

vf_status vf_io_size(vf_io *io, uint64_t *size, vf_error *err)
{
    *size = 0;
    return io->ops->get_size(io->self, size, err);
}

vf_status vf_io_set_size(vf_io *io, uint64_t size, vf_error *err)
{
    vf_status st = vf_io_need_writable(io, "resize", err);
    if (st != VF_OK)
        return st;
    return io->ops->set_size(io->self, size, err);
}

vf_status vf_io_lock(vf_io *io, bool exclusive, vf_error *err)
{
    if (exclusive && !io->writable)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "cannot lock '%s' exclusively: it is open read-only", io->name);
    return io->ops->lock(io->self, exclusive, err);
}

vf_status vf_io_lock_holder(vf_io *io, bool exclusive, int64_t *pid, vf_error *err)
{
    *pid = 0;
    if (!io->ops->lock_holder)
        return VF_OK;
    return io->ops->lock_holder(io->self, exclusive, pid, err);
}

vf_status vf_fs_open(const vf_fs *fs, const char *path, unsigned flags, vf_io **out, vf_error *err)
{
    *out = NULL;
    if (!fs)
        fs = vf_fs_posix();
    if ((flags & (VF_IO_CREATE | VF_IO_TRUNC)) && !(flags & VF_IO_RDWR))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "cannot open '%s': create and truncate need read-write access", path);
    return fs->ops->open(fs->self, path, flags, out, err);
}

/* A relative path whose components are neither empty-rooted nor "..". */
static bool vf_rel_inside(const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return false;
    for (const char *p = rel; *p;) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        if (p - s == 2 && s[0] == '.' && s[1] == '.')
            return false;
        while (*p == '/')
            p++;
    }
    return true;
}

vf_status vf_fs_open_beneath(const vf_fs *fs, const char *dir, const char *rel, unsigned flags,
                             vf_io **out, vf_error *err)
{
    *out = NULL;
    if (!fs)
        fs = vf_fs_posix();
    if (!vf_rel_inside(rel))
        return VF_FAIL_ERRNO(err, EXDEV, VF_OFF_NONE, "'%s' is not a path inside '%s'", rel, dir);
    if ((flags & (VF_IO_CREATE | VF_IO_TRUNC)) && !(flags & VF_IO_RDWR))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "cannot open '%s': create and truncate need read-write access", rel);
    if (fs->ops->open_beneath)
        return fs->ops->open_beneath(fs->self, dir, rel, flags, out, err);
    size_t dn = strlen(dir), rn = strlen(rel);
    char *path = malloc(dn + rn + 2);
    if (!path)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "opening '%s'", rel);
    memcpy(path, dir, dn);
    path[dn] = '/';
    memcpy(path + dn + 1, rel, rn + 1);
    vf_status st = fs->ops->open(fs->self, path, flags, out, err);
    free(path);
    return st;
}

vf_status vf_fs_remove(const vf_fs *fs, const char *path, vf_error *err)
{
    if (!fs)
        fs = vf_fs_posix();
    return fs->ops->remove(fs->self, path, err);
}
