/* io_file.c - the POSIX backend of vf_io (pread/pwrite loops, copy_file_range and reflink
 * clones, punched holes, fsync, ftruncate, fstat, OFD locks) and the POSIX vf_fs (open, unlink,
 * statvfs, directory fsync). Layer: format. Reached through vf_io_file_open, vf_fs_posix and the
 * vf_io_* wrappers (io.c); the only file in the library that makes file system calls. */
/* 64-bit file offsets on 32-bit hosts too: every offset below is a uint64_t. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <vhdfold/vf_io.h>

#include "image_int.h"
#include "io_view.h"
#include "path.h"

/* One system call moves at most this much, well below what Linux accepts (0x7ffff000). */
#define VF_FILE_CHUNK ((size_t)1 << 30)
/* Writes at least this large start their write-back at once (see vf_file_write). */
#define VF_FILE_WRITEBACK_MIN ((size_t)1 << 20)

/* A clone of at most this many bytes waits for the next adjacent one (see vf_file_clone). */
#define VF_FILE_CLONE_MAX ((uint64_t)1 << 30)

typedef struct vf_file vf_file;
struct vf_file {
    int fd;
    char *path;
    bool failed; /* an fsync failed: the kernel may have dropped dirty pages, writes refused */
    dev_t dev;   /* which file it is, so a copy within one file can spot overlapping ranges */
    ino_t ino;
    bool no_clone; /* FICLONERANGE was refused once (not XFS/btrfs, another file system) */
    bool locked;   /* this handle holds its OFD lock: vhdfold's writers cannot truncate it */
    bool clone_ok; /* a FICLONERANGE of this handle succeeded: the next ones may be joined */
    /* A clone accepted but not yet asked of the kernel: [pend_off, +pend_len) of pend_src as
     * [pend_dst, ...) of this file. Adjacent clones grow it, so a run of blocks that lie
     * side by side in both files costs one ioctl; any other call on this handle (and a
     * write, resize or close of pend_src) does it first (vf_file_settle). */
    vf_file *pend_src;
    uint64_t pend_dst, pend_off, pend_len;
    vf_file *clone_dst;         /* this file is the pend_src of that handle */
    uint64_t shared;            /* bytes given to this handle by clones (vf_io_shared_bytes) */
    bool fs_known, fs_reflinks; /* statfs asked; the file system is XFS or btrfs */
};

static vf_status vf_file_settle(vf_file *f, vf_error *e);
static vf_status vf_file_settle_src(vf_file *f, vf_error *e);

/* A pread/pwrite-like call, so the retry loop can be tested with a fake (test_io_file.c). */
typedef ssize_t (*vf_sys_rw)(void *ctx, void *buf, size_t len, uint64_t off);
vf_status vf_io_file_loop(vf_sys_rw fn, void *ctx, bool writing, void *buf, size_t len,
                          uint64_t off, const char *name, vf_error *err);

/* Repeat fn until len bytes moved: EINTR retried, short counts continued. A read returning 0
 * before the end is VF_E_TRUNCATED; a write returning 0 is an I/O error (no progress). */
vf_status vf_io_file_loop(vf_sys_rw fn, void *ctx, bool writing, void *buf, size_t len,
                          uint64_t off, const char *name, vf_error *err)
{
    uint8_t *p = buf;
    const char *verb = writing ? "writing" : "reading";
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return VF_FAIL(err, VF_E_INVAL, off,
                       "%s %zu bytes at offset %llu of '%s': beyond the "
                       "largest file offset",
                       verb, len, (unsigned long long)off, name);
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < VF_FILE_CHUNK ? len - done : VF_FILE_CHUNK;
        uint64_t at = off + done;
        ssize_t n = fn(ctx, p + done, want, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return VF_FAIL_ERRNO(err, errno, at, "%s %zu bytes at offset %llu of '%s'", verb, want,
                                 (unsigned long long)at, name);
        }
        if (n == 0 && !writing)
            return VF_FAIL(err, VF_E_TRUNCATED, at,
                           "'%s': reading %zu bytes at offset %llu runs past the end of the "
                           "file",
                           name, len, (unsigned long long)off);
        if (n == 0)
            return VF_FAIL_ERRNO(err, EIO, at, "%s at offset %llu of '%s' made no progress", verb,
                                 (unsigned long long)at, name);
        if ((size_t)n > want)
            return VF_FAIL_ERRNO(err, EIO, at,
                                 "%s at offset %llu of '%s': the system "
                                 "reported more bytes than asked",
                                 verb, (unsigned long long)at, name);
        done += (size_t)n;
    }
    return VF_OK;
}

/* A copy_file_range-like call (bytes at src_off to dst_off), so the copy loop can be tested
 * with a fake (test_io_copy.c). */
typedef ssize_t (*vf_sys_copy)(void *ctx, uint64_t src_off, uint64_t dst_off, size_t len);
vf_status vf_io_file_copy_loop(vf_sys_copy fn, void *ctx, uint64_t dst_off, uint64_t src_off,
                               uint64_t len, uint64_t *done, const char *dst_name,
                               const char *src_name, vf_error *err);

/* Errors meaning "the kernel will not copy these two files": use a buffer instead. */
static bool vf_copy_declined(int errnum)
{
    return errnum == EXDEV || errnum == EINVAL || errnum == ENOSYS || errnum == EOPNOTSUPP ||
           errnum == ETXTBSY;
}

/* Repeat fn until len bytes moved (EINTR retried, short counts continued); *done counts
 * them. 0 before the end is VF_E_TRUNCATED naming the source; a declining errno stops with
 * VF_OK and *done < len, so the caller copies the rest another way. */
vf_status vf_io_file_copy_loop(vf_sys_copy fn, void *ctx, uint64_t dst_off, uint64_t src_off,
                               uint64_t len, uint64_t *done, const char *dst_name,
                               const char *src_name, vf_error *err)
{
    *done = 0;
    if (src_off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - src_off ||
        dst_off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - dst_off)
        return VF_FAIL(err, VF_E_INVAL, dst_off,
                       "'%s': copying %llu bytes from '%s' at %llu to %llu: beyond the "
                       "largest file offset",
                       dst_name, (unsigned long long)len, src_name, (unsigned long long)src_off,
                       (unsigned long long)dst_off);
    while (*done < len) {
        size_t want = len - *done < VF_FILE_CHUNK ? (size_t)(len - *done) : VF_FILE_CHUNK;
        uint64_t from = src_off + *done, to = dst_off + *done;
        ssize_t n = fn(ctx, from, to, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && vf_copy_declined(errno))
            return VF_OK;
        if (n < 0)
            return VF_FAIL_ERRNO(err, errno, to,
                                 "'%s': copying %zu bytes from '%s' at offset %llu to offset "
                                 "%llu",
                                 dst_name, want, src_name, (unsigned long long)from,
                                 (unsigned long long)to);
        if (n == 0)
            return VF_FAIL(err, VF_E_TRUNCATED, from,
                           "'%s': reading %llu bytes at offset %llu runs past the end of the "
                           "file",
                           src_name, (unsigned long long)len, (unsigned long long)src_off);
        if ((size_t)n > want)
            return VF_FAIL_ERRNO(err, EIO, to,
                                 "'%s': copying from '%s': the system reported more bytes "
                                 "than asked",
                                 dst_name, src_name);
        *done += (uint64_t)n;
    }
    return VF_OK;
}

_Static_assert(sizeof(off_t) == 8, "off_t must hold 64-bit file offsets");

static ssize_t vf_sys_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
    return pread(*(int *)ctx, buf, len, (off_t)off);
}

static ssize_t vf_sys_pwrite(void *ctx, void *buf, size_t len, uint64_t off)
{
    return pwrite(*(int *)ctx, buf, len, (off_t)off);
}

static vf_status vf_file_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_file *f = self;
    vf_status st = vf_file_settle(f, e); /* the bytes a pending clone brings may be read */
    if (st != VF_OK)
        return st;
    return vf_io_file_loop(vf_sys_pread, &f->fd, false, buf, len, off, f->path, e);
}

static vf_status vf_file_refuse_failed(const vf_file *f, vf_error *e)
{
    return VF_FAIL_ERRNO(e, EIO, VF_OFF_NONE,
                         "'%s': an earlier fsync failed, so the handle accepts no more writes",
                         f->path);
}

static vf_status vf_file_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_file *f = self;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    vf_status st = vf_file_settle(f, e); /* a later write wins over an earlier clone */
    if (st == VF_OK)
        st = vf_file_settle_src(f, e);
    if (st != VF_OK)
        return st;
    /* pwrite does not modify the buffer; the loop helper shares one signature for both. */
    void *p;
    memcpy(&p, &buf, sizeof p);
    st = vf_io_file_loop(vf_sys_pwrite, &f->fd, true, p, len, off, f->path, e);
#ifdef SYNC_FILE_RANGE_WRITE
    /* Every write of ours is followed by an fsync soon; handing large ones to the disk now
     * lets the device work while we read the next run, so the fsync finds little left to
     * do. A hint only: durability still comes from sync, which also reports any error. */
    if (st == VF_OK && len >= VF_FILE_WRITEBACK_MIN)
        (void)sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
#endif
    return st;
}

typedef struct vf_copy_fds {
    int in, out;
} vf_copy_fds;

static ssize_t vf_sys_copy_file_range(void *ctx, uint64_t src_off, uint64_t dst_off, size_t len)
{
    const vf_copy_fds *fds = ctx;
    off_t in_off = (off_t)src_off, out_off = (off_t)dst_off;
    return copy_file_range(fds->in, &in_off, fds->out, &out_off, len, 0);
}

/* Could FICLONERANGE share these extents? XFS with reflink and btrfs want the two offsets
 * and the length to be multiples of the file system's block (4 KiB) and one file system. */
static bool vf_file_can_clone(const vf_file *f, const vf_file *src, uint64_t dst_off,
                              uint64_t src_off, uint64_t len)
{
    return !f->no_clone && f->dev == src->dev && (dst_off | src_off | len) % 4096 == 0 &&
           len != 0 && dst_off <= INT64_MAX && src_off <= INT64_MAX && len <= INT64_MAX;
}

/* Share src's [src_off, src_off+len) as f's [dst_off, ...). True when done; a refusal other
 * than misalignment stops further clones for this handle. */
static bool vf_file_clone_now(vf_file *f, const vf_file *src, uint64_t dst_off, uint64_t src_off,
                              uint64_t len)
{
#ifdef FICLONERANGE
    struct file_clone_range r = {
        .src_fd = src->fd, .src_offset = src_off, .src_length = len, .dest_offset = dst_off};
    if (ioctl(f->fd, FICLONERANGE, &r) == 0) {
        f->clone_ok = true;
        return true;
    }
    if (errno != EINVAL)
        f->no_clone = true;
#else
    (void)src, (void)dst_off, (void)src_off, (void)len;
    f->no_clone = true;
#endif
    return false;
}

/* The kernel copies page cache to page cache: no user-space buffer, one copy per byte.
 * *done < len when it declines (another file system, an old kernel). */
static vf_status vf_file_copy_kernel(vf_file *f, const vf_file *src, uint64_t dst_off,
                                     uint64_t src_off, uint64_t len, uint64_t *done, vf_error *e)
{
    vf_copy_fds fds = {src->fd, f->fd};
    vf_status st = vf_io_file_copy_loop(vf_sys_copy_file_range, &fds, dst_off, src_off, len, done,
                                        f->path, src->path, e);
#ifdef SYNC_FILE_RANGE_WRITE
    /* As after a large write (vf_file_write): start the write-back now. */
    if (*done >= VF_FILE_WRITEBACK_MIN)
        (void)sync_file_range(f->fd, (off_t)dst_off, (off_t)*done, SYNC_FILE_RANGE_WRITE);
#endif
    return st;
}

/* A deferred clone the kernel refused after all: copy_file_range, else a 1 MiB buffer. */
static vf_status vf_file_copy_slow(vf_file *f, const vf_file *src, uint64_t dst_off,
                                   uint64_t src_off, uint64_t len, vf_error *e)
{
    uint64_t done = 0;
    vf_status st = vf_file_copy_kernel(f, src, dst_off, src_off, len, &done, e);
    if (st != VF_OK || done >= len)
        return st;
    size_t cap = (size_t)1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "copying into '%s': a %zu-byte buffer",
                             f->path, cap);
    int src_fd = src->fd;
    while (st == VF_OK && done < len) {
        size_t n = len - done < cap ? (size_t)(len - done) : cap;
        st = vf_io_file_loop(vf_sys_pread, &src_fd, false, buf, n, src_off + done, src->path, e);
        if (st == VF_OK)
            st = vf_io_file_loop(vf_sys_pwrite, &f->fd, true, buf, n, dst_off + done, f->path, e);
        done += n;
    }
    free(buf);
    return st;
}

/* Ask the kernel for f's pending clone, if any (a refusal falls back to copying). */
static vf_status vf_file_settle(vf_file *f, vf_error *e)
{
    if (!f->pend_len)
        return VF_OK;
    vf_file *src = f->pend_src;
    uint64_t dst_off = f->pend_dst, src_off = f->pend_off, len = f->pend_len;
    f->pend_len = 0;
    f->pend_src = NULL;
    src->clone_dst = NULL;
    if (vf_file_clone_now(f, src, dst_off, src_off, len))
        return VF_OK;
    f->shared -= len; /* counted when it was accepted */
    return vf_file_copy_slow(f, src, dst_off, src_off, len, e);
}

/* Before f's bytes change (write, resize, close): a pending clone that reads them goes first. */
static vf_status vf_file_settle_src(vf_file *f, vf_error *e)
{
    return f->clone_dst ? vf_file_settle(f->clone_dst, e) : VF_OK;
}

/* Both handles with nothing pending that involves them. */
static vf_status vf_file_settle_pair(vf_file *f, vf_file *src, vf_error *e)
{
    vf_status st = vf_file_settle(f, e);
    if (st == VF_OK)
        st = vf_file_settle(src, e); /* its bytes are read: its own clone first */
    if (st == VF_OK)
        st = vf_file_settle_src(f, e); /* f changes under a clone that reads it */
    if (st == VF_OK)
        st = vf_file_settle_src(src, e); /* one pending clone per source */
    return st;
}

/* Does the clone continue f's pending one in both files? Then it joins it. */
static bool vf_file_join(vf_file *f, vf_file *src, uint64_t dst_off, uint64_t src_off, uint64_t len)
{
    if (!f->pend_len || f->pend_src != src || f->pend_dst + f->pend_len != dst_off ||
        f->pend_off + f->pend_len != src_off || f->pend_len + len > VF_FILE_CLONE_MAX)
        return false;
    f->pend_len += len;
    return true;
}

/* Overlapping ranges of one file: the kernel refuses them; the buffered copy handles them. */
static bool vf_file_overlap(const vf_file *f, const vf_file *src, uint64_t dst_off,
                            uint64_t src_off, uint64_t len)
{
    bool same = f->dev == src->dev && f->ino == src->ino;
    return same && (dst_off < src_off ? src_off - dst_off : dst_off - src_off) < len;
}

/* Share whole 4 KiB-aligned pieces on one XFS or btrfs (FICLONERANGE); once a clone of this
 * handle has worked, the next one waits to be joined by the pieces that follow it in both
 * files, so a run of adjacent blocks costs one ioctl however the driver cuts it. *shared
 * false: nothing changed (another file system, misaligned, overlapping ranges of one file). */
static vf_status vf_file_clone(vf_file *f, vf_file *src, uint64_t dst_off, uint64_t src_off,
                               uint64_t len, bool *shared, vf_error *e)
{
    *shared = false;
    if (!vf_file_can_clone(f, src, dst_off, src_off, len))
        return VF_OK;
    if (vf_file_join(f, src, dst_off, src_off, len)) {
        f->shared += len;
        *shared = true;
        return VF_OK;
    }
    vf_status st = vf_file_settle_pair(f, src, e);
    if (st != VF_OK || vf_file_overlap(f, src, dst_off, src_off, len))
        return st;
    if (f->clone_ok && len <= VF_FILE_CLONE_MAX) {
        f->pend_src = src;
        f->pend_dst = dst_off;
        f->pend_off = src_off;
        f->pend_len = len;
        src->clone_dst = f;
    } else if (!vf_file_clone_now(f, src, dst_off, src_off, len)) {
        return VF_OK;
    }
    f->shared += len; /* a deferred clone: shared at the next call on this handle, or its sync */
    *shared = true;
    return VF_OK;
}

/* A clone where the file system can (vf_file_clone), else copy_file_range. */
static vf_status vf_file_copy_from(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                                   uint64_t len, uint64_t *done, vf_error *e)
{
    vf_file *f = self, *src = src_self;
    *done = 0;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    bool shared = false;
    vf_status st = vf_file_clone(f, src, dst_off, src_off, len, &shared, e);
    if (st == VF_OK && shared)
        *done = len; /* the extents are shared: nothing written, no write-back to start */
    if (st != VF_OK || shared || (st = vf_file_settle_pair(f, src, e)) != VF_OK)
        return st;
    if (vf_file_overlap(f, src, dst_off, src_off, len))
        return VF_OK;
    return vf_file_copy_kernel(f, src, dst_off, src_off, len, done, e);
}

/* Is f on a file system that has reflinks (XFS, btrfs)? Asked once per handle. */
static bool vf_file_reflinks(vf_file *f)
{
    if (!f->fs_known) {
        struct statfs sf;
        f->fs_known = true;
        f->fs_reflinks =
            fstatfs(f->fd, &sf) == 0 && ((unsigned long)sf.f_type == XFS_SUPER_MAGIC ||
                                         (unsigned long)sf.f_type == BTRFS_SUPER_MAGIC);
    }
    return f->fs_reflinks;
}

static vf_status vf_file_share_from(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                                    uint64_t len, bool *shared, vf_error *e)
{
    vf_file *f = self;
    const vf_file *src = src_self;
    *shared = false;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    if (len == 0) { /* the question: nothing refused so far, and one file system */
        *shared = !f->no_clone && f->dev == src->dev && src_off % 4096 == 0 && vf_file_reflinks(f);
        return VF_OK;
    }
    return vf_file_clone(f, src_self, dst_off, src_off, len, shared, e);
}

/* Does f's pending clone write into [off, off+len)? */
static bool vf_file_pending_in(const vf_file *f, uint64_t off, uint64_t len)
{
    return f->pend_len && f->pend_dst < off + len && off < f->pend_dst + f->pend_len;
}

/* A punched hole (fallocate); where the file system has none, zeros are written. A pending
 * clone elsewhere in the file stays pending, so punching between clones keeps them joined. */
static vf_status vf_file_punch(void *self, uint64_t off, uint64_t len, vf_error *e)
{
    vf_file *f = self;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return VF_FAIL(e, VF_E_INVAL, off, "cannot punch %llu bytes at %llu of '%s'",
                       (unsigned long long)len, (unsigned long long)off, f->path);
    vf_status st = vf_file_pending_in(f, off, len) ? vf_file_settle(f, e) : VF_OK;
    if (st == VF_OK)
        st = vf_file_settle_src(f, e); /* another handle's pending clone reads these bytes */
    if (st != VF_OK)
        return st;
    while (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len)) {
        if (errno == EINTR)
            continue;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return VF_FAIL_ERRNO(e, errno, off, "punching %llu bytes out of '%s'",
                                 (unsigned long long)len, f->path);
        static const uint8_t zero[64 * 1024];
        for (uint64_t done = 0; st == VF_OK && done < len; done += sizeof zero) {
            size_t n = len - done < sizeof zero ? (size_t)(len - done) : sizeof zero;
            st = vf_file_write(f, zero, n, off + done, e);
        }
        return st;
    }
    return VF_OK;
}

static vf_status vf_file_has_data(void *self, uint64_t off, uint64_t len, bool *data, vf_error *e)
{
    vf_file *f = self;
    *data = true;
    vf_status st = vf_file_pending_in(f, off, len) ? vf_file_settle(f, e) : VF_OK;
    if (st != VF_OK || off > (uint64_t)INT64_MAX)
        return st;
    off_t at = lseek(f->fd, (off_t)off, SEEK_DATA);
    if (at < 0 && errno == ENXIO)
        *data = false; /* nothing but a hole from off to the end */
    else if (at >= 0)
        *data = (uint64_t)at - off < len;
    return VF_OK; /* any other error: the file system cannot tell, so it may hold data */
}

static vf_status vf_file_sync(void *self, vf_error *e)
{
    vf_file *f = self;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    vf_status st = vf_file_settle(f, e); /* a pending clone is part of what becomes durable */
    if (st != VF_OK)
        return st;
    while (fsync(f->fd) != 0) {
        if (errno == EINTR)
            continue;
        /* Linux forgets the error after reporting it once: retrying would "succeed" with the
         * data gone, so the handle stays failed. */
        f->failed = true;
        return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "fsync of '%s'", f->path);
    }
    return VF_OK;
}

static vf_status vf_file_get_size(void *self, uint64_t *size, vf_error *e)
{
    vf_file *f = self;
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "fstat of '%s'", f->path);
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(f->fd, 0, SEEK_END);
        if (end < 0)
            return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "size of block device '%s'", f->path);
        *size = (uint64_t)end;
        return VF_OK;
    }
    *size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    if (f->pend_len && f->pend_dst + f->pend_len > *size)
        *size = f->pend_dst + f->pend_len; /* the pending clone extends the file */
    return VF_OK;
}

static vf_status vf_file_set_size(void *self, uint64_t size, vf_error *e)
{
    vf_file *f = self;
    if (f->failed)
        return vf_file_refuse_failed(f, e);
    if (size > (uint64_t)INT64_MAX)
        return VF_FAIL(e, VF_E_INVAL, VF_OFF_NONE, "cannot resize '%s' to %llu bytes", f->path,
                       (unsigned long long)size);
    /* A pending clone goes first only when the new size cuts its range (in this file, or in
     * the file it reads): growing the file leaves it valid, so a driver that grows the file
     * for each block it appends keeps the clones of those blocks joined. */
    vf_status st = VF_OK;
    if (f->pend_len && size < f->pend_dst + f->pend_len)
        st = vf_file_settle(f, e);
    if (st == VF_OK && f->clone_dst && size < f->clone_dst->pend_off + f->clone_dst->pend_len)
        st = vf_file_settle_src(f, e);
    if (st != VF_OK)
        return st;
    while (ftruncate(f->fd, (off_t)size) != 0) {
        if (errno == EINTR)
            continue;
        return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "resizing '%s' to %llu bytes", f->path,
                             (unsigned long long)size);
    }
    return VF_OK;
}

/* The OFD lock covers [0, VF_IO_PID_LOCK_BYTE) (every byte a disk can have); the one byte at
 * VF_IO_PID_LOCK_BYTE carries a classic per-process lock of the same kind, which F_GETLK can
 * report with the holder's pid (an OFD lock reports none). The two never overlap, so a query
 * on the byte sees only the classic locks. */
static void vf_file_flock(struct flock *fl, short type, uint64_t start, uint64_t len)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = (off_t)start;
    fl->l_len = (off_t)len;
}

static vf_status vf_file_lock_holder(void *self, bool exclusive, int64_t *pid, vf_error *e)
{
    vf_file *f = self;
    struct flock fl;
    *pid = 0;
    vf_file_flock(&fl, exclusive ? F_WRLCK : F_RDLCK, 0, VF_IO_PID_LOCK_BYTE);
    if (fcntl(f->fd, F_OFD_GETLK, &fl) != 0)
        return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "asking who locks '%s'", f->path);
    if (fl.l_type == F_UNLCK)
        return VF_OK;
    *pid = fl.l_pid > 0 ? (int64_t)fl.l_pid : -1; /* a classic lock names its process */
    vf_file_flock(&fl, exclusive ? F_WRLCK : F_RDLCK, VF_IO_PID_LOCK_BYTE, 1);
    if (*pid < 0 && fcntl(f->fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
        *pid = fl.l_pid;
    return VF_OK;
}

static vf_status vf_file_busy(vf_file *f, bool exclusive, int saved, vf_error *e)
{
    int64_t pid = 0;
    char who[48] = "another handle";
    if (vf_file_lock_holder(f, exclusive, &pid, NULL) == VF_OK && pid > 0)
        snprintf(who, sizeof who, "process %lld", (long long)pid);
    vf_status st = VF_FAIL(e, VF_E_BUSY, VF_OFF_NONE,
                           "'%s' is in use: %s holds a conflicting lock (wanted %s)", f->path, who,
                           exclusive ? "exclusive" : "shared");
    if (e)
        e->sys_errno = saved;
    return st;
}

static vf_status vf_file_lock(void *self, bool exclusive, vf_error *e)
{
    vf_file *f = self;
    struct flock fl;
    short type = exclusive ? F_WRLCK : F_RDLCK;
    vf_file_flock(&fl, type, 0, VF_IO_PID_LOCK_BYTE);
    if (fcntl(f->fd, F_OFD_SETLK, &fl) == 0) {
        /* best effort: without it only the pid goes unreported */
        vf_file_flock(&fl, type, VF_IO_PID_LOCK_BYTE, 1);
        (void)fcntl(f->fd, F_SETLK, &fl);
        f->locked = true;
        return VF_OK;
    }
    int saved = errno;
    if (saved == EAGAIN || saved == EACCES)
        return vf_file_busy(f, exclusive, saved, e);
    return VF_FAIL_ERRNO(e, saved, VF_OFF_NONE, "locking '%s'", f->path);
}

static void vf_file_close(void *self)
{
    vf_file *f = self;
    if (!f)
        return;
    /* A pending clone still happens; its error has nobody to go to (a caller that needs
     * the bytes durable syncs first, and that reports it). */
    (void)vf_file_settle(f, NULL);
    (void)vf_file_settle_src(f, NULL);
    if (f->fd >= 0)
        close(f->fd); /* no retry on EINTR: the descriptor is gone either way on Linux */
    free(f->path);
    free(f);
}

static const vf_io_ops vf_file_ops = {
    .read_at = vf_file_read,
    .write_at = vf_file_write,
    .sync = vf_file_sync,
    .get_size = vf_file_get_size,
    .set_size = vf_file_set_size,
    .lock = vf_file_lock,
    .close = vf_file_close,
    .copy_from = vf_file_copy_from,
    .lock_holder = vf_file_lock_holder,
    .share_from = vf_file_share_from,
    .punch = vf_file_punch,
    .has_data = vf_file_has_data,
};

static int vf_file_oflags(unsigned flags)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after);
     * O_NOCTTY: a terminal named by a locator never becomes our controlling terminal. */
    int o = O_CLOEXEC | O_NONBLOCK | O_NOCTTY | ((flags & VF_IO_RDWR) ? O_RDWR : O_RDONLY);
    if (flags & VF_IO_CREATE)
        o |= O_CREAT;
    if ((flags & VF_IO_CREATE) && (flags & VF_IO_EXCL))
        o |= O_EXCL;
    if (flags & VF_IO_TRUNC)
        o |= O_TRUNC;
    if (flags & VF_IO_NOFOLLOW)
        o |= O_NOFOLLOW;
    return o;
}

/* The mode of a created file: a private one (VF_IO_OWNED) is for this user alone. */
static mode_t vf_file_mode(unsigned flags)
{
    return (flags & VF_IO_OWNED) ? 0600 : 0666;
}

static const char *vf_file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

/* A private file (VF_IO_OWNED): regular, owned by the effective uid, writable by nobody else and
 * with one name (no hard link), else EPERM (ELOOP for a symbolic link seen before the open). */
static vf_status vf_file_owned_ok(const struct stat *sb, const char *name, vf_error *err)
{
    if (S_ISLNK(sb->st_mode))
        return VF_FAIL_ERRNO(err, ELOOP, VF_OFF_NONE, "cannot open '%s': it is a symbolic link",
                             name);
    if (!S_ISREG(sb->st_mode))
        return VF_FAIL_ERRNO(err, EPERM, VF_OFF_NONE,
                             "cannot open '%s': it is %s, not a regular file", name,
                             vf_file_kind(sb->st_mode));
    if (sb->st_uid != geteuid())
        return VF_FAIL_ERRNO(err, EPERM, VF_OFF_NONE,
                             "cannot open '%s': owned by uid %lu, not by this user (uid %lu)", name,
                             (unsigned long)sb->st_uid, (unsigned long)geteuid());
    /* someone else who may write it could have forged what it says */
    if (sb->st_mode & (S_IWGRP | S_IWOTH))
        return VF_FAIL_ERRNO(err, EPERM, VF_OFF_NONE,
                             "cannot open '%s': others may write it (mode %03o)", name,
                             (unsigned)(sb->st_mode & 0777));
    /* a hard link names some other file of this user too: writing it would change that file */
    if (sb->st_nlink != 1)
        return VF_FAIL_ERRNO(err, EPERM, VF_OFF_NONE,
                             "cannot open '%s': it has %lu hard links (another name of the file)",
                             name, (unsigned long)sb->st_nlink);
    return VF_OK;
}

/* Regular files always; block devices unless VF_IO_REGULAR; private files as above. */
static vf_status vf_file_type_ok(const struct stat *sb, unsigned flags, const char *name,
                                 vf_error *err)
{
    if (flags & VF_IO_OWNED)
        return vf_file_owned_ok(sb, name, err);
    if (S_ISREG(sb->st_mode) || (S_ISBLK(sb->st_mode) && !(flags & VF_IO_REGULAR)))
        return VF_OK;
    int errnum = S_ISDIR(sb->st_mode) ? EISDIR : S_ISLNK(sb->st_mode) ? ELOOP : EINVAL;
    return VF_FAIL_ERRNO(err, errnum, VF_OFF_NONE, "cannot open '%s': it is %s, not %s", name,
                         vf_file_kind(sb->st_mode),
                         (flags & VF_IO_REGULAR) ? "a regular file"
                                                 : "a regular file or block device");
}

/* The descriptor fd of name (opened by the caller, or -1 with errno set): checks its type,
 * drops O_NONBLOCK and wraps it. Closes fd on failure. */
static vf_status vf_file_wrap(int fd, const char *name, unsigned flags, vf_io **out, vf_error *err)
{
    if (fd < 0 && errno == ELOOP && (flags & VF_IO_NOFOLLOW))
        return VF_FAIL_ERRNO(err, ELOOP, VF_OFF_NONE, "cannot open '%s': it is a symbolic link",
                             name);
    if (fd < 0)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot open '%s'", name);
    vf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name))) {
        free(f);
        close(fd);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "opening '%s'", name);
    }
    f->fd = fd;
    vf_status st = VF_OK;
    struct stat sb;
    int fl;
    if (fstat(fd, &sb) != 0)
        st = VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "fstat of '%s'", name);
    else if ((st = vf_file_type_ok(&sb, flags, name, err)) != VF_OK)
        ;
    else if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        st = VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "fcntl of '%s'", name);
    if (st != VF_OK) {
        vf_file_close(f);
        return st;
    }
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    return vf_io_new(&vf_file_ops, f, name, (flags & VF_IO_RDWR) != 0, out, err);
}

/* Refuse a path that exists and has the wrong type without opening it at all (opening a
 * device can have effects of its own); the descriptor is checked again after the open. */
static vf_status vf_file_precheck(int dirfd, const char *path, int at_flags, unsigned flags,
                                  const char *name, vf_error *err)
{
    struct stat sb;
    if (fstatat(dirfd, path, &sb, at_flags) != 0)
        return VF_OK; /* missing (or unreadable): the open says why */
    return vf_file_type_ok(&sb, flags, name, err);
}

vf_status vf_io_file_open(const char *path, unsigned flags, vf_io **out, vf_error *err)
{
    *out = NULL;
    if ((flags & (VF_IO_CREATE | VF_IO_TRUNC)) && !(flags & VF_IO_RDWR))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "cannot open '%s': create and truncate need read-write access", path);
    int at_flags = (flags & VF_IO_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
    vf_status st = vf_file_precheck(AT_FDCWD, path, at_flags, flags, path, err);
    if (st != VF_OK)
        return st;
    int fd;
    do
        fd = open(path, vf_file_oflags(flags), vf_file_mode(flags));
    while (fd < 0 && errno == EINTR);
    return vf_file_wrap(fd, path, flags, out, err);
}

/* openat that retries EINTR. */
static int vf_file_openat(int dirfd, const char *path, int oflags, mode_t mode)
{
    int fd;
    do
        fd = openat(dirfd, path, oflags, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/* The directories of rel below dirfd, one component at a time, none a symbolic link. Returns
 * the descriptor of the last directory (dirfd itself when rel has one component) and points
 * *last at the final component; -1 with errno set on failure. */
static int vf_file_walk(int dirfd, const char *rel, char *buf, const char **last)
{
    int fd = dirfd;
    char *p = buf;
    strcpy(buf, rel);
    for (;;) {
        while (*p == '/')
            p++;
        char *slash = strchr(p, '/');
        if (!slash) {
            *last = p;
            return fd;
        }
        *slash = '\0';
        int next = strcmp(p, ".") == 0
                       ? dup(fd)
                       : vf_file_openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        int saved = errno;
        if (fd != dirfd)
            close(fd);
        if (next < 0) {
            errno = saved == ENOTDIR ? ELOOP : saved; /* O_NOFOLLOW on a link to a folder */
            return -1;
        }
        fd = next;
        p = slash + 1;
    }
}

static vf_status vf_posix_open_beneath(void *self, const char *dir, const char *rel, unsigned flags,
                                       vf_io **out, vf_error *e)
{
    (void)self;
    *out = NULL;
    size_t dn = strlen(dir), rn = strlen(rel);
    char *name = malloc(dn + rn + 2), *buf = malloc(rn + 1);
    if (!name || !buf) {
        free(name);
        free(buf);
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "opening '%s'", rel);
    }
    memcpy(name, dir, dn);
    name[dn] = '/';
    memcpy(name + dn + 1, rel, rn + 1);
    vf_status st = VF_OK;
    int dfd = vf_file_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    const char *last = NULL;
    int pfd = dfd < 0 ? -1 : vf_file_walk(dfd, rel, buf, &last);
    if (dfd < 0)
        st = VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "cannot open directory '%s'", dir);
    else if (pfd < 0 && errno == ELOOP)
        st = VF_FAIL_ERRNO(e, ELOOP, VF_OFF_NONE,
                           "cannot open '%s': a symbolic link inside '%s' is not followed", name,
                           dir);
    else if (pfd < 0)
        st = VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "cannot open '%s'", name);
    else if ((st = vf_file_precheck(pfd, last, AT_SYMLINK_NOFOLLOW, flags, name, e)) == VF_OK) {
        int fd = vf_file_openat(pfd, last, vf_file_oflags(flags) | O_NOFOLLOW, vf_file_mode(flags));
        if (fd < 0 && errno == ELOOP)
            st = VF_FAIL_ERRNO(e, ELOOP, VF_OFF_NONE,
                               "cannot open '%s': a symbolic link inside '%s' is not followed",
                               name, dir);
        else
            st = vf_file_wrap(fd, name, flags, out, e);
    } else if (e && e->sys_errno == ELOOP) {
        VF_FAIL_ERRNO(e, ELOOP, VF_OFF_NONE,
                      "cannot open '%s': a symbolic link inside '%s' is not followed", name, dir);
    }
    if (pfd >= 0 && pfd != dfd)
        close(pfd);
    if (dfd >= 0)
        close(dfd);
    free(name);
    free(buf);
    return st;
}

/* --- the POSIX file system --- */

static vf_status vf_posix_open(void *self, const char *path, unsigned flags, vf_io **out,
                               vf_error *e)
{
    (void)self;
    return vf_io_file_open(path, flags, out, e);
}

static vf_status vf_posix_remove(void *self, const char *path, vf_error *e)
{
    (void)self;
    if (unlink(path) != 0)
        return VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "cannot remove '%s'", path);
    return VF_OK;
}

/* path itself when it is a directory, else the directory that holds (or would hold) it. */
static char *vf_posix_dir_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return strdup(path);
    return vf_path_dirname(path);
}

static vf_status vf_posix_free_space(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    (void)self;
    *bytes = 0;
    char *dir = vf_posix_dir_of(path);
    if (!dir)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "free space for '%s'", path);
    struct statvfs sv;
    vf_status st = VF_OK;
    if (statvfs(dir, &sv) != 0)
        st = VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "statvfs of '%s'", dir);
    else if (sv.f_frsize && (uint64_t)sv.f_bavail > UINT64_MAX / sv.f_frsize)
        *bytes = UINT64_MAX;
    else
        *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    free(dir);
    return st;
}

/* path is the directory itself or a file in it (created or removed). */
static vf_status vf_posix_sync_dir(void *self, const char *path, vf_error *e)
{
    (void)self;
    char *dir = vf_posix_dir_of(path);
    if (!dir)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "syncing the directory of '%s'", path);
    vf_status st = VF_OK;
    int fd;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        st = VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "cannot open directory '%s'", dir);
    } else {
        int rc;
        do
            rc = fsync(fd);
        while (rc != 0 && errno == EINTR);
        if (rc != 0)
            st = VF_FAIL_ERRNO(e, errno, VF_OFF_NONE, "fsync of directory '%s'", dir);
        close(fd);
    }
    free(dir);
    return st;
}

static const vf_fs_ops vf_posix_fs_ops = {
    .open = vf_posix_open,
    .remove = vf_posix_remove,
    .free_space = vf_posix_free_space,
    .sync_dir = vf_posix_sync_dir,
    .open_beneath = vf_posix_open_beneath,
};

static const vf_fs vf_posix_fs = {&vf_posix_fs_ops, NULL};

uint64_t vf_io_shared_bytes(const vf_io *io)
{
    if (!io || io->ops != &vf_file_ops)
        return 0;
    const vf_file *f = io->self;
    return f->shared;
}

const vf_fs *vf_fs_posix(void)
{
    return &vf_posix_fs;
}

bool vf_io_view_map(vf_io *io, uint64_t off, size_t len, vf_io_view *v)
{
    memset(v, 0, sizeof *v);
    if (!io || io->ops != &vf_file_ops || len == 0)
        return false;
    const vf_file *f = io->self;
    if (!f->locked) /* --force-share: a merge may cut the file while it is mapped (SIGBUS) */
        return false;
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        off > (uint64_t)sb.st_size || len > (uint64_t)sb.st_size - off)
        return false;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(page - 1);
    size_t map_len = (size_t)(off - start) + len;
    /* MAP_POPULATE: the page tables are filled in one go here (on the reader's thread)
     * instead of one fault per page while the bytes are hashed. */
    void *p = mmap(NULL, map_len, PROT_READ, MAP_SHARED | MAP_POPULATE, f->fd, (off_t)start);
    if (p == MAP_FAILED)
        return false;
    v->base = p;
    v->map_len = map_len;
    v->data = (const uint8_t *)p + (off - start);
    return true;
}

void vf_io_view_unmap(vf_io_view *v)
{
    if (v && v->base)
        (void)munmap(v->base, v->map_len);
    if (v)
        memset(v, 0, sizeof *v);
}

bool vf_io_read_shared(vf_io *io, void *buf, size_t len, uint64_t off, vf_status *st, vf_error *err)
{
    if (!io || io->ops != &vf_file_ops)
        return false;
    *st = vf_file_read(io->self, buf, len, off, err);
    return true;
}
