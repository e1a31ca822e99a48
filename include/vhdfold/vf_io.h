/* vf_io.h - the one I/O layer: a file handle vtable (vf_io) and a file-system vtable (vf_fs).
 * Layer: format (public). Nothing in the library touches files any other way, so tests and
 * fuzzers swap in memory files or a fault-injecting wrapper.
 * Backends: POSIX files (io_file.c), memory (io_mem.c); tests/support adds faults. */
#ifndef VHDFOLD_VF_IO_H
#define VHDFOLD_VF_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Open flags for vf_fs.open and vf_io_file_open. */
enum {
    VF_IO_RDONLY = 0,
    VF_IO_RDWR = 1u << 0,
    VF_IO_CREATE = 1u << 1, /* create when missing (with RDWR) */
    VF_IO_EXCL = 1u << 2,   /* with CREATE: fail with EEXIST when present */
    VF_IO_TRUNC = 1u << 3,  /* with RDWR: truncate to 0 */
    /* Private files (the merge journal): a symbolic link is refused (ELOOP), and so is a file
     * that is not regular, not owned by the effective uid, writable by group or others, or
     * has more than one hard link (EPERM: writing it would change the file behind its other
     * name); one created with it gets mode 0600. File systems without
     * links or owners (the memory fs) ignore both. */
    VF_IO_NOFOLLOW = 1u << 4,
    VF_IO_OWNED = 1u << 5,
    /* Refuse anything but a regular file (block devices too), before any byte is read. Without
     * it a block device is accepted; FIFOs, sockets, character devices and directories are
     * always refused, and the open never waits for a FIFO's writer. */
    VF_IO_REGULAR = 1u << 6,
};

typedef struct vf_io_ops {
    /* All len bytes or an error; a read reaching past the end is VF_E_TRUNCATED. */
    vf_status (*read_at)(void *self, void *buf, size_t len, uint64_t off, vf_error *e);
    /* All len bytes or an error (the file grows as needed). */
    vf_status (*write_at)(void *self, const void *buf, size_t len, uint64_t off, vf_error *e);
    /* Data durable once it returns VF_OK. A failed sync is final: the handle stays failed. */
    vf_status (*sync)(void *self, vf_error *e);
    vf_status (*get_size)(void *self, uint64_t *size, vf_error *e);
    vf_status (*set_size)(void *self, uint64_t size, vf_error *e);
    /* Non-blocking advisory whole-file lock (OFD locks for files): shared for readers,
     * exclusive for a writer. Held elsewhere: VF_E_BUSY. */
    vf_status (*lock)(void *self, bool exclusive, vf_error *e);
    void (*close)(void *self);
    /* Optional (NULL: vf_io_copy reads and writes): copy len bytes of src_self (a handle of
     * the same backend) at src_off to self at dst_off. Sets *done to the bytes copied; VF_OK
     * with *done < len means "not this way" and vf_io_copy moves the rest through a buffer.
     * A source ending early is VF_E_TRUNCATED naming the source. The POSIX backend may
     * defer a reflink clone to join it with the next adjacent one: the bytes are there for
     * every later call on self (and before src_self is written, resized or closed), but
     * another handle of the same file sees them only after self's next call or sync.
     * Added last. */
    vf_status (*copy_from)(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                           uint64_t len, uint64_t *done, vf_error *e);
    /* Optional (NULL: no holder is ever reported): without taking a lock, is one held through
     * another handle that conflicts with a shared (exclusive false) or an exclusive lock?
     * *pid: 0 none, the holding process when the backend can tell, -1 held but by whom is
     * unknown. Added last. */
    vf_status (*lock_holder)(void *self, bool exclusive, int64_t *pid, vf_error *e);
    /* Optional (NULL: never): make len bytes of src_self (a handle of the same backend) at
     * src_off self's bytes at dst_off without writing them, as extents both files share (a
     * reflink; POSIX: FICLONERANGE on XFS or btrfs, deferred and joined like copy_from's).
     * *shared false when the file system cannot: nothing changed, copy them instead. len 0
     * asks without doing anything: *shared true when a share of 4 KiB-aligned ranges from
     * src_off on may work (it can still be refused). Added last. */
    vf_status (*share_from)(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                            uint64_t len, bool *shared, vf_error *e);
    /* Optional (NULL: zeros are written): [off, off+len), inside the file, reads as zeros from
     * now on and gives its storage back where the backend can (POSIX: a punched hole); the
     * size stays. Added last. */
    vf_status (*punch)(void *self, uint64_t off, uint64_t len, vf_error *e);
    /* Optional (NULL: always true): *data false when no byte of [off, off+len) has storage (a
     * hole: POSIX SEEK_DATA finds nothing there), true when some may. Added last. */
    vf_status (*has_data)(void *self, uint64_t off, uint64_t len, bool *data, vf_error *e);
} vf_io_ops;

/* A handle: the ops, the backend's state and a name used in messages (owned copy). */
typedef struct vf_io {
    const vf_io_ops *ops;
    void *self;
    char *name;
    bool writable;
} vf_io;

/* Wrap ops/self into a new handle; name is copied; *out is yours: vf_io_close() it (that
 * calls ops->close). On failure self is closed by ops->close. Errors: VF_E_NOMEM. */
VF_API vf_status vf_io_new(const vf_io_ops *ops, void *self, const char *name, bool writable,
                           vf_io **out, vf_error *err);
VF_API void vf_io_close(vf_io *io); /* NULL is fine */

/* Read exactly len bytes at off (short reads and EINTR are retried).
 * Errors: VF_E_TRUNCATED (the file ends before off+len), VF_E_INVAL (off+len overflows),
 * VF_E_IO. */
VF_API vf_status vf_io_read(vf_io *io, void *buf, size_t len, uint64_t off, vf_error *err);
/* Write exactly len bytes at off (the file grows as needed); durable only after vf_io_sync.
 * Errors: VF_E_INVAL (a read-only handle, off+len overflows), VF_E_IO (ENOSPC...). */
VF_API vf_status vf_io_write(vf_io *io, const void *buf, size_t len, uint64_t off, vf_error *err);
/* len bytes of src at src_off to dst at dst_off, in the kernel when the backend can (POSIX:
 * copy_file_range), else through a bounded buffer. Overlapping ranges of one file copy like
 * memmove. Errors: as vf_io_read (source) and vf_io_write (destination). */
VF_API vf_status vf_io_copy(vf_io *dst, uint64_t dst_off, vf_io *src, uint64_t src_off,
                            uint64_t len, vf_error *err);
/* Make every write durable (fsync). Errors: VF_E_IO. */
VF_API vf_status vf_io_sync(vf_io *io, vf_error *err);
/* The file's current size in bytes. Errors: VF_E_IO. */
VF_API vf_status vf_io_size(vf_io *io, uint64_t *size, vf_error *err);
/* Truncate or extend (sparse) to size bytes. Errors: VF_E_INVAL (read-only, a size the
 * backend cannot hold), VF_E_IO. */
VF_API vf_status vf_io_set_size(vf_io *io, uint64_t size, vf_error *err);
/* Take a lock on the whole file for the handle's life (POSIX: an OFD lock, shared or
 * exclusive), without waiting. Errors: VF_E_BUSY (another handle or process holds a
 * conflicting lock), VF_E_IO; a backend without locks returns VF_OK. */
VF_API vf_status vf_io_lock(vf_io *io, bool exclusive, vf_error *err);
/* Who holds a lock that would make vf_io_lock(io, exclusive) fail, taking none itself.
 * *pid: 0 nobody (or a backend without lock_holder), the holding process id when known,
 * -1 held by a handle whose process is unknown. POSIX: vf_io_lock also takes a per-process
 * lock on one byte at VF_IO_PID_LOCK_BYTE (far past any data) that reports the pid; a
 * process that closes another descriptor of the same file loses that byte's lock (POSIX
 * record-lock rules), and its whole-file lock is then reported as -1.
 * Errors: VF_E_IO. */
VF_API vf_status vf_io_lock_holder(vf_io *io, bool exclusive, int64_t *pid, vf_error *err);
#define VF_IO_PID_LOCK_BYTE ((uint64_t)1 << 62)

/* POSIX file backend: pread/pwrite loops (EINTR, short counts), fsync, ftruncate, OFD locks,
 * copy_file_range. flags are VF_IO_*; *out is yours: vf_io_close() it.
 * Errors: VF_E_IO, sys_errno telling why: ENOENT, EACCES, EEXIST (VF_IO_EXCL), ELOOP (a
 * symbolic link with VF_IO_NOFOLLOW), EISDIR / EINVAL (not a regular file or block device;
 * not a regular file with VF_IO_REGULAR), EPERM (VF_IO_OWNED refused the owner, links or
 * mode); VF_E_INVAL (contradicting flags); VF_E_NOMEM. */
VF_API vf_status vf_io_file_open(const char *path, unsigned flags, vf_io **out, vf_error *err);

/* Memory backend over a private copy of data (may be NULL with len 0). Grows on write.
 * *out is yours: vf_io_close() it. Errors: VF_E_NOMEM.
 * vf_io_mem_data borrows the current bytes until the next write or close (NULL for a
 * handle of another backend). */
VF_API vf_status vf_io_mem_new(const void *data, size_t len, const char *name, bool writable,
                               vf_io **out, vf_error *err);
VF_API const uint8_t *vf_io_mem_data(const vf_io *io, size_t *len);

/* A file system: how the library opens parents, creates files and removes them. */
typedef struct vf_fs_ops {
    vf_status (*open)(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e);
    vf_status (*remove)(void *self, const char *path, vf_error *e);
    /* Bytes free for new data on the file system holding path. */
    vf_status (*free_space)(void *self, const char *path, uint64_t *bytes, vf_error *e);
    /* Make a directory entry change (create, remove) durable. */
    vf_status (*sync_dir)(void *self, const char *path, vf_error *e);
    /* Optional (NULL: vf_fs_open_beneath opens dir + "/" + rel with open): open rel, a
     * relative path without ".." components, inside the directory dir, following no
     * symbolic link below dir (dir itself may be one). A link met is ELOOP. Added last. */
    vf_status (*open_beneath)(void *self, const char *dir, const char *rel, unsigned flags,
                              vf_io **out, vf_error *e);
} vf_fs_ops;

typedef struct vf_fs {
    const vf_fs_ops *ops;
    void *self;
} vf_fs;

/* The process-wide POSIX file system (stateless, static: never free it). */
VF_API const vf_fs *vf_fs_posix(void);

/* An in-memory file system for tests and fuzzers: paths are plain keys (normalised lexically:
 * "a/./b" and "a/x/../b" name the same file). *out is yours: vf_fs_mem_free() it (NULL is
 * fine), after closing every handle opened through it. Errors: VF_E_NOMEM. */
VF_API vf_status vf_fs_mem_new(vf_fs **out, vf_error *err);
/* Add or replace a file with a copy of data. Errors: VF_E_NOMEM, VF_E_INVAL (fs is not a
 * memory file system). */
VF_API vf_status vf_fs_mem_put(vf_fs *fs, const char *path, const void *data, size_t len,
                               vf_error *err);
/* The bytes of a file, borrowed until the next change of it; NULL when absent. */
VF_API const uint8_t *vf_fs_mem_get(vf_fs *fs, const char *path, size_t *len);
VF_API void vf_fs_mem_free(vf_fs *fs);

/* vf_fs convenience wrappers over fs->ops (fs NULL: vf_fs_posix()). vf_fs_open's *out is
 * yours: vf_io_close() it. Errors: those of the backend's open / remove (POSIX: as
 * vf_io_file_open; VF_E_IO with ENOENT for a missing file). */
VF_API vf_status vf_fs_open(const vf_fs *fs, const char *path, unsigned flags, vf_io **out,
                            vf_error *err);
VF_API vf_status vf_fs_remove(const vf_fs *fs, const char *path, vf_error *err);
/* Open rel inside dir (see vf_fs_ops.open_beneath); rel must be relative, without "..".
 * *out is yours: vf_io_close() it. Errors: VF_E_IO with EXDEV (rel absolute or with ".."),
 * VF_E_IO with ELOOP (a symbolic link below dir), VF_E_INVAL (create or truncate without
 * read-write), those of vf_fs_open. */
VF_API vf_status vf_fs_open_beneath(const vf_fs *fs, const char *dir, const char *rel,
                                    unsigned flags, vf_io **out, vf_error *err);

#ifdef __cplusplus
}
#endif
#endif
