/* io.c - the vf_io handle (ops table + backend state + name) and the thin wrappers every
 * module calls instead of read/write/fsync; vf_fs convenience wrappers.
 * Layer: format. Backends: io_file.c (POSIX, also vf_fs_posix), io_mem.c, fs_mem.c;
 * tests/support/io_fault.c wraps any of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_io.h>

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

vf_status vf_fs_remove(const vf_fs *fs, const char *path, vf_error *err)
{
    if (!fs)
        fs = vf_fs_posix();
    return fs->ops->remove(fs->self, path, err);
}
