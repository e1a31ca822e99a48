/* fs_mem.c - an in-memory vf_fs for tests and fuzzers: files keyed by lexically normalised
 * paths; every handle opened on one path shares the same bytes (one io_mem.c buffer), and
 * shared/exclusive lock holders are tracked per file so tests can simulate a held lock.
 * Layer: format. Built only on the public vf_io API and path.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_io.h>

#include "path.h"

typedef struct vf_mfile {
    struct vf_mfile *next;
    char *key;       /* normalised path */
    vf_io *data;     /* the shared bytes (an io_mem handle) */
    unsigned refs;   /* the table's reference (while linked) + one per open handle */
    bool linked;     /* still reachable by name (not removed) */
    unsigned shared; /* handles holding a shared lock */
    bool exclusive;  /* a handle holds the exclusive lock */
} vf_mfile;

typedef struct vf_memfs {
    vf_fs fs; /* first: a vf_fs * from vf_fs_mem_new is a vf_memfs * */
    vf_mfile *files;
} vf_memfs;

enum { VF_MLOCK_NONE, VF_MLOCK_SHARED, VF_MLOCK_EXCL };

typedef struct vf_mhandle {
    vf_mfile *file;
    int lock;
    char *name;
} vf_mhandle;

static void vf_mfile_unref(vf_mfile *f)
{
    if (--f->refs)
        return;
    vf_io_close(f->data);
    free(f->key);
    free(f);
}

static vf_mfile *vf_memfs_find(vf_memfs *m, const char *key)
{
    for (vf_mfile *f = m->files; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void vf_memfs_unlink(vf_memfs *m, vf_mfile *f)
{
    for (vf_mfile **pp = &m->files; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            f->linked = false;
            vf_mfile_unref(f);
            return;
        }
    }
}

/* Create an empty file under key (taken over by the new file on success). */
static vf_status vf_memfs_add(vf_memfs *m, char *key, vf_mfile **out, vf_error *e)
{
    vf_mfile *f = calloc(1, sizeof *f);
    if (!f) {
        free(key);
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "allocating a memory file");
    }
    vf_status st = vf_io_mem_new(NULL, 0, key, true, &f->data, e);
    if (st != VF_OK) {
        free(key);
        free(f);
        return st;
    }
    f->key = key;
    f->refs = 1;
    f->linked = true;
    f->next = m->files;
    m->files = f;
    *out = f;
    return VF_OK;
}

/* --- handles --- */

static vf_status vf_mh_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_read(((vf_mhandle *)self)->file->data, buf, len, off, e);
}

static vf_status vf_mh_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_write(((vf_mhandle *)self)->file->data, buf, len, off, e);
}

static vf_status vf_mh_sync(void *self, vf_error *e)
{
    return vf_io_sync(((vf_mhandle *)self)->file->data, e);
}

static vf_status vf_mh_get_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(((vf_mhandle *)self)->file->data, size, e);
}

static vf_status vf_mh_set_size(void *self, uint64_t size, vf_error *e)
{
    return vf_io_set_size(((vf_mhandle *)self)->file->data, size, e);
}

static vf_status vf_mh_busy(const vf_mhandle *h, bool exclusive, vf_error *e)
{
    vf_status st = VF_FAIL(e, VF_E_BUSY, VF_OFF_NONE,
                           "'%s' is in use: another handle holds a conflicting lock (wanted %s)",
                           h->name, exclusive ? "exclusive" : "shared");
    if (e)
        e->sys_errno = EAGAIN;
    return st;
}

/* OFD-like semantics: a handle may upgrade or downgrade its own lock when nobody else
 * conflicts; an exclusive lock excludes every other holder. */
static vf_status vf_mh_lock(void *self, bool exclusive, vf_error *e)
{
    vf_mhandle *h = self;
    vf_mfile *f = h->file;
    bool mine_excl = h->lock == VF_MLOCK_EXCL;
    unsigned other_shared = f->shared - (h->lock == VF_MLOCK_SHARED ? 1u : 0u);
    if ((f->exclusive && !mine_excl) || (exclusive && other_shared))
        return vf_mh_busy(h, exclusive, e);
    if (h->lock == VF_MLOCK_SHARED)
        f->shared--;
    if (mine_excl)
        f->exclusive = false;
    if (exclusive) {
        f->exclusive = true;
        h->lock = VF_MLOCK_EXCL;
    } else {
        f->shared++;
        h->lock = VF_MLOCK_SHARED;
    }
    return VF_OK;
}

/* The memory fs has no processes: a conflicting holder is reported as -1 (unknown). */
static vf_status vf_mh_lock_holder(void *self, bool exclusive, int64_t *pid, vf_error *e)
{
    (void)e;
    const vf_mhandle *h = self;
    const vf_mfile *f = h->file;
    unsigned other_shared = f->shared - (h->lock == VF_MLOCK_SHARED ? 1u : 0u);
    bool conflict = (f->exclusive && h->lock != VF_MLOCK_EXCL) || (exclusive && other_shared);
    *pid = conflict ? -1 : 0;
    return VF_OK;
}

static void vf_mh_close(void *self)
{
    vf_mhandle *h = self;
    if (!h)
        return;
    if (h->lock == VF_MLOCK_SHARED)
        h->file->shared--;
    else if (h->lock == VF_MLOCK_EXCL)
        h->file->exclusive = false;
    vf_mfile_unref(h->file);
    free(h->name);
    free(h);
}

static const vf_io_ops vf_mh_ops = {
    .read_at = vf_mh_read,
    .write_at = vf_mh_write,
    .sync = vf_mh_sync,
    .get_size = vf_mh_get_size,
    .set_size = vf_mh_set_size,
    .lock = vf_mh_lock,
    .close = vf_mh_close,
    .lock_holder = vf_mh_lock_holder,
};

/* --- the file system --- */

static vf_status vf_memfs_key(const char *path, char **key, vf_error *e)
{
    *key = vf_path_normalize(path);
    if (!*key)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "normalising '%s'", path);
    return VF_OK;
}

static vf_status vf_memfs_lookup(vf_memfs *m, const char *path, unsigned flags, vf_mfile **out,
                                 vf_error *e)
{
    char *key;
    vf_status st = vf_memfs_key(path, &key, e);
    if (st != VF_OK)
        return st;
    vf_mfile *f = vf_memfs_find(m, key);
    if (f && (flags & VF_IO_CREATE) && (flags & VF_IO_EXCL)) {
        free(key);
        return VF_FAIL_ERRNO(e, EEXIST, VF_OFF_NONE, "cannot create '%s'", path);
    }
    if (f) {
        free(key);
        *out = f;
        return VF_OK;
    }
    if (!(flags & VF_IO_CREATE)) {
        free(key);
        return VF_FAIL_ERRNO(e, ENOENT, VF_OFF_NONE, "cannot open '%s'", path);
    }
    return vf_memfs_add(m, key, out, e);
}

static vf_status vf_memfs_open(void *self, const char *path, unsigned flags, vf_io **out,
                               vf_error *e)
{
    *out = NULL;
    vf_mfile *f;
    vf_status st = vf_memfs_lookup(self, path, flags, &f, e);
    if (st != VF_OK)
        return st;
    if ((flags & VF_IO_TRUNC) && (st = vf_io_set_size(f->data, 0, e)) != VF_OK)
        return st;
    vf_mhandle *h = calloc(1, sizeof *h);
    if (!h || !(h->name = strdup(path))) {
        free(h);
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "opening '%s'", path);
    }
    h->file = f;
    f->refs++;
    return vf_io_new(&vf_mh_ops, h, path, (flags & VF_IO_RDWR) != 0, out, e);
}

static vf_status vf_memfs_remove(void *self, const char *path, vf_error *e)
{
    vf_memfs *m = self;
    char *key;
    vf_status st = vf_memfs_key(path, &key, e);
    if (st != VF_OK)
        return st;
    vf_mfile *f = vf_memfs_find(m, key);
    free(key);
    if (!f)
        return VF_FAIL_ERRNO(e, ENOENT, VF_OFF_NONE, "cannot remove '%s'", path);
    vf_memfs_unlink(m, f); /* open handles keep the bytes, as on POSIX */
    return VF_OK;
}

static vf_status vf_memfs_free_space(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    (void)self, (void)path, (void)e;
    *bytes = (uint64_t)1 << 40; /* memory files are capped per file by io_mem.c */
    return VF_OK;
}

static vf_status vf_memfs_sync_dir(void *self, const char *path, vf_error *e)
{
    (void)self, (void)path, (void)e;
    return VF_OK;
}

static const vf_fs_ops vf_memfs_ops = {
    .open = vf_memfs_open,
    .remove = vf_memfs_remove,
    .free_space = vf_memfs_free_space,
    .sync_dir = vf_memfs_sync_dir,
};

vf_status vf_fs_mem_new(vf_fs **out, vf_error *err)
{
    *out = NULL;
    vf_memfs *m = calloc(1, sizeof *m);
    if (!m)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a memory file system");
    m->fs.ops = &vf_memfs_ops;
    m->fs.self = m;
    *out = &m->fs;
    return VF_OK;
}

static vf_memfs *vf_memfs_of(vf_fs *fs)
{
    return fs && fs->ops == &vf_memfs_ops ? fs->self : NULL;
}

vf_status vf_fs_mem_put(vf_fs *fs, const char *path, const void *data, size_t len, vf_error *err)
{
    vf_memfs *m = vf_memfs_of(fs);
    if (!m)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s': not a memory file system", path);
    vf_mfile *f;
    vf_status st = vf_memfs_lookup(m, path, VF_IO_CREATE, &f, err);
    if (st == VF_OK)
        st = vf_io_set_size(f->data, 0, err);
    if (st == VF_OK && len)
        st = vf_io_write(f->data, data, len, 0, err);
    return st;
}

const uint8_t *vf_fs_mem_get(vf_fs *fs, const char *path, size_t *len)
{
    if (len)
        *len = 0;
    vf_memfs *m = vf_memfs_of(fs);
    char *key = m ? vf_path_normalize(path) : NULL;
    if (!key)
        return NULL;
    vf_mfile *f = vf_memfs_find(m, key);
    free(key);
    return f ? vf_io_mem_data(f->data, len) : NULL;
}

void vf_fs_mem_free(vf_fs *fs)
{
    vf_memfs *m = vf_memfs_of(fs);
    if (!m)
        return;
    while (m->files)
        vf_memfs_unlink(m, m->files);
    free(m);
}
