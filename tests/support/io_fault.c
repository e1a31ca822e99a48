/* io_fault.c - the fault-injecting vf_fs of io_fault.h: counts writes and syncs across all
 * files, fails or tears the chosen one, simulates a process crash or a power loss (undo log
 * per file since its last sync). Layer: tests/support; wraps any vf_fs through the public
 * vf_io API, so the same sweeps run on memory files and on real files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io_fault.h"
#include "path.h"

#define VF_FAULT_SECTOR 512u

typedef struct vf_undo {
    uint64_t old_size; /* the file's size before the change */
    uint64_t off;      /* where old bytes go back */
    size_t len;
    uint8_t *old;
} vf_undo;

struct vf_fhandle;

typedef struct vf_frec {
    struct vf_frec *next;
    char *key; /* normalised path */
    vf_undo *log;
    size_t nlog, caplog;
    struct vf_fhandle *handles;
} vf_frec;

struct vf_fault {
    vf_fs fs;
    const vf_fs *inner;
    vf_fault_plan plan;
    char *flip_key;
    uint64_t writes, syncs;
    bool fired, crashed, dead;
    bool share;    /* vf_fault_set_share: a file system with reflinks, modelled */
    unsigned refs; /* the owner (until vf_fault_free) + one per open handle */
    vf_frec *recs;
};

typedef struct vf_fhandle {
    struct vf_fhandle *next; /* in rec->handles */
    vf_fault *f;
    vf_frec *rec;
    vf_io *inner;
    bool failed; /* a sync failed (injected) */
} vf_fhandle;

static void vf_rec_drop_log(vf_frec *r)
{
    for (size_t i = 0; i < r->nlog; i++)
        free(r->log[i].old);
    r->nlog = 0;
}

static void vf_fault_unref(vf_fault *f)
{
    if (--f->refs)
        return;
    while (f->recs) {
        vf_frec *r = f->recs;
        f->recs = r->next;
        vf_rec_drop_log(r);
        free(r->log);
        free(r->key);
        free(r);
    }
    free(f->flip_key);
    free(f);
}

static vf_status vf_fault_rec(vf_fault *f, const char *path, vf_frec **out, vf_error *e)
{
    char *key = vf_path_normalize(path);
    if (!key)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: '%s'", path);
    for (vf_frec *r = f->recs; r; r = r->next) {
        if (strcmp(r->key, key) == 0) {
            free(key);
            *out = r;
            return VF_OK;
        }
    }
    vf_frec *r = calloc(1, sizeof *r);
    if (!r) {
        free(key);
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: '%s'", path);
    }
    r->key = key;
    r->next = f->recs;
    f->recs = r;
    *out = r;
    return VF_OK;
}

static vf_status vf_fault_eio(vf_error *e, const char *why, const char *name, uint64_t n)
{
    return VF_FAIL_ERRNO(e, EIO, VF_OFF_NONE, "'%s': %s (injected at I/O %llu)", name, why,
                         (unsigned long long)n);
}

/* --- the undo log (power loss) --- */

/* Remember what [off, off+len) and the size were, before a write or resize changes them. */
static vf_status vf_fault_log(vf_fhandle *h, uint64_t off, uint64_t len, vf_error *e)
{
    vf_frec *r = h->rec;
    uint64_t size;
    vf_status st = vf_io_size(h->inner, &size, e);
    if (st != VF_OK)
        return st;
    if (r->nlog == r->caplog) {
        size_t cap = r->caplog ? r->caplog * 2 : 16;
        vf_undo *v = realloc(r->log, cap * sizeof *v);
        if (!v)
            return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: undo log");
        r->log = v;
        r->caplog = cap;
    }
    vf_undo u = {size, off, 0, NULL};
    if (off < size) {
        uint64_t n = len < size - off ? len : size - off;
        u.len = (size_t)n;
        u.old = malloc(u.len ? u.len : 1);
        if (!u.old)
            return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: undo log");
        if ((st = vf_io_read(h->inner, u.old, u.len, off, e)) != VF_OK) {
            free(u.old);
            return st;
        }
    }
    r->log[r->nlog++] = u;
    return VF_OK;
}

/* Undo one file's log, newest first: the size comes back, then the old bytes. */
static void vf_fault_undo_rec(vf_fault *f, vf_frec *r)
{
    if (!r->nlog)
        return;
    vf_io *io = NULL, *own = NULL;
    for (const struct vf_fhandle *h = r->handles; h && !io; h = h->next)
        if (h->inner->writable)
            io = h->inner;
    if (!io && vf_fs_open(f->inner, r->key, VF_IO_RDWR, &own, NULL) == VF_OK)
        io = own;
    for (size_t i = r->nlog; io && i > 0; i--) {
        const vf_undo *u = &r->log[i - 1];
        (void)vf_io_set_size(io, u->old_size, NULL);
        if (u->len)
            (void)vf_io_write(io, u->old, u->len, u->off, NULL);
    }
    vf_io_close(own);
    vf_rec_drop_log(r);
}

static vf_status vf_fault_power_loss(vf_fhandle *h, const void *buf, size_t len, uint64_t off,
                                     vf_error *e)
{
    vf_fault *f = h->f;
    for (vf_frec *r = f->recs; r; r = r->next)
        vf_fault_undo_rec(f, r);
    /* The torn write: whole file sectors from its start survive. */
    uint64_t keep_end = (off / VF_FAULT_SECTOR + f->plan.torn_sectors) * VF_FAULT_SECTOR;
    if (buf && f->plan.torn_sectors && keep_end > off) {
        uint64_t keep = keep_end - off < len ? keep_end - off : len;
        (void)vf_io_write(h->inner, buf, (size_t)keep, off, NULL);
    }
    f->fired = true;
    f->dead = true;
    return vf_fault_eio(e, "power lost", h->inner->name, f->writes);
}

/* --- handle ops --- */

static vf_status vf_fh_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_fhandle *h = self;
    vf_fault *f = h->f;
    if (f->dead)
        return vf_fault_eio(e, "reading after the power loss", h->inner->name, f->writes);
    size_t piece = f->plan.read_piece ? f->plan.read_piece : len;
    vf_status st = VF_OK;
    for (size_t done = 0; st == VF_OK && done < len; done += piece) {
        size_t n = len - done < piece ? len - done : piece;
        st = vf_io_read(h->inner, (uint8_t *)buf + done, n, off + done, e);
    }
    if (st == VF_OK && f->plan.flip && f->plan.flip_off >= off && f->plan.flip_off - off < len &&
        (!f->flip_key || strcmp(f->flip_key, h->rec->key) == 0))
        ((uint8_t *)buf)[f->plan.flip_off - off] ^= (uint8_t)(1u << (f->plan.flip_bit & 7));
    return st;
}

/* Shared by write_at and set_size (buf NULL: resize to off). VF_OK with *go false: the
 * fault consumed the call. */
static vf_status vf_fh_before_write(vf_fhandle *h, const void *buf, size_t *len, uint64_t off,
                                    bool *go, vf_error *e)
{
    vf_fault *f = h->f;
    uint64_t n = ++f->writes;
    *go = false;
    if (f->dead)
        return vf_fault_eio(e, "writing after the power loss", h->inner->name, n);
    if (f->crashed)
        return vf_fault_eio(e, "writing after the crash", h->inner->name, n);
    if (h->failed)
        return vf_fault_eio(e, "writing after a failed sync", h->inner->name, n);
    const vf_fault_plan *p = &f->plan;
    bool hit = p->at == n;
    switch (hit ? p->kind : VF_FAULT_NONE) {
    case VF_FAULT_WRITE_EIO:
    case VF_FAULT_WRITE_ENOSPC:
        f->fired = true;
        return VF_FAIL_ERRNO(e, p->kind == VF_FAULT_WRITE_EIO ? EIO : ENOSPC, off,
                             "'%s': write %llu at offset %llu (injected)", h->inner->name,
                             (unsigned long long)n, (unsigned long long)off);
    case VF_FAULT_WRITE_SHORT:
        if (buf && *len > 1) {
            size_t keep = p->short_bytes ? p->short_bytes : *len / 2;
            *len = keep < *len ? keep : *len - 1;
            *go = true; /* the caller stores the prefix, then reports ENOSPC */
            f->fired = true;
            return VF_OK;
        }
        f->fired = true;
        return VF_FAIL_ERRNO(e, ENOSPC, off, "'%s': write %llu (injected)", h->inner->name,
                             (unsigned long long)n);
    case VF_FAULT_CRASH:
        f->fired = true;
        f->crashed = true;
        return vf_fault_eio(e, "process crashed", h->inner->name, n);
    case VF_FAULT_POWER:
        return vf_fault_power_loss(h, buf, buf ? *len : 0, off, e);
    default:
        break;
    }
    vf_status st = VF_OK;
    if (p->kind == VF_FAULT_POWER && !f->fired)
        st = vf_fault_log(h, off, buf ? *len : UINT64_MAX, e);
    *go = st == VF_OK;
    return st;
}

static vf_status vf_fh_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_fhandle *h = self;
    size_t n = len;
    bool go;
    vf_status st = vf_fh_before_write(h, buf, &n, off, &go, e);
    if (st != VF_OK || !go)
        return st;
    st = vf_io_write(h->inner, buf, n, off, e);
    if (st == VF_OK && n < len)
        return VF_FAIL_ERRNO(e, ENOSPC, off + n,
                             "'%s': short write, %zu of %zu bytes at offset %llu (injected)",
                             h->inner->name, n, len, (unsigned long long)off);
    return st;
}

static vf_status vf_fh_set_size(void *self, uint64_t size, vf_error *e)
{
    vf_fhandle *h = self;
    size_t none = 0;
    bool go;
    vf_status st = vf_fh_before_write(h, NULL, &none, size, &go, e);
    if (st != VF_OK || !go)
        return st;
    return vf_io_set_size(h->inner, size, e);
}

static vf_status vf_fh_sync(void *self, vf_error *e)
{
    vf_fhandle *h = self;
    vf_fault *f = h->f;
    uint64_t n = ++f->syncs;
    if (f->dead || f->crashed || h->failed)
        return vf_fault_eio(e,
                            f->dead      ? "sync after the power loss"
                            : f->crashed ? "sync after the crash"
                                         : "sync after a failed sync",
                            h->inner->name, n);
    if (f->plan.kind == VF_FAULT_SYNC_EIO && f->plan.at == n) {
        f->fired = true;
        h->failed = true;
        return vf_fault_eio(e, "fsync failed", h->inner->name, n);
    }
    vf_status st = vf_io_sync(h->inner, e);
    if (st == VF_OK)
        vf_rec_drop_log(h->rec); /* durable: a power loss keeps it */
    return st;
}

static vf_status vf_fh_get_size(void *self, uint64_t *size, vf_error *e)
{
    vf_fhandle *h = self;
    if (h->f->dead)
        return vf_fault_eio(e, "size after the power loss", h->inner->name, h->f->writes);
    return vf_io_size(h->inner, size, e);
}

static vf_status vf_fh_lock(void *self, bool exclusive, vf_error *e)
{
    vf_fhandle *h = self;
    if (h->f->dead)
        return vf_fault_eio(e, "lock after the power loss", h->inner->name, h->f->writes);
    return vf_io_lock(h->inner, exclusive, e);
}

static void vf_fh_close(void *self)
{
    vf_fhandle *h = self;
    if (!h)
        return;
    for (vf_fhandle **pp = &h->rec->handles; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    vf_io_close(h->inner);
    vf_fault_unref(h->f);
    free(h);
}

/* Share mode (vf_fault_set_share): 4 KiB-aligned ranges are "shared" by one counted write of
 * their bytes, so the sweeps fault the writer's moves like any other write. */
static vf_status vf_fh_share_from(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                                  uint64_t len, bool *shared, vf_error *e)
{
    vf_fhandle *h = self;
    *shared = false;
    if (!h->f->share || (dst_off | src_off | len) % 4096)
        return VF_OK;
    if (len == 0) {
        *shared = true;
        return VF_OK;
    }
    uint8_t *buf = len <= SIZE_MAX ? malloc((size_t)len) : NULL;
    if (!buf)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: a %llu-byte share",
                             (unsigned long long)len);
    vf_status st = vf_fh_read(src_self, buf, (size_t)len, src_off, e);
    if (st == VF_OK)
        st = vf_fh_write(self, buf, (size_t)len, dst_off, e);
    free(buf);
    *shared = st == VF_OK;
    return st;
}

/* Zeros as one counted write (a hole is what the share mode's has_data reports for them). */
static vf_status vf_fh_punch(void *self, uint64_t off, uint64_t len, vf_error *e)
{
    uint8_t *zero = len <= SIZE_MAX ? calloc(1, len ? (size_t)len : 1) : NULL;
    if (!zero)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "fault wrapper: a %llu-byte punch",
                             (unsigned long long)len);
    vf_status st = vf_fh_write(self, zero, (size_t)len, off, e);
    free(zero);
    return st;
}

/* Share mode: a range of zeros holds no data (as a punched hole would not). */
static vf_status vf_fh_has_data(void *self, uint64_t off, uint64_t len, bool *data, vf_error *e)
{
    vf_fhandle *h = self;
    *data = true;
    uint8_t buf[4096];
    if (!h->f->share)
        return VF_OK;
    *data = false;
    for (uint64_t done = 0; !*data && done < len; done += sizeof buf) {
        size_t n = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
        vf_status st = vf_fh_read(self, buf, n, off + done, e);
        if (st != VF_OK)
            return st;
        for (size_t i = 0; i < n && !*data; i++)
            *data = buf[i] != 0;
    }
    return VF_OK;
}

static const vf_io_ops vf_fh_ops = {
    .read_at = vf_fh_read,
    .write_at = vf_fh_write,
    .sync = vf_fh_sync,
    .get_size = vf_fh_get_size,
    .set_size = vf_fh_set_size,
    .lock = vf_fh_lock,
    .close = vf_fh_close,
    .share_from = vf_fh_share_from,
    .punch = vf_fh_punch,
    .has_data = vf_fh_has_data,
};

vf_status vf_fault_wrap(vf_fault *f, vf_io *inner, const char *path, vf_io **out, vf_error *err)
{
    *out = NULL;
    vf_frec *rec = NULL;
    vf_status st = vf_fault_rec(f, path, &rec, err);
    vf_fhandle *h = st == VF_OK ? calloc(1, sizeof *h) : NULL;
    if (st == VF_OK && !h)
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "fault wrapper: '%s'", path);
    if (st != VF_OK) {
        vf_io_close(inner);
        return st;
    }
    h->f = f;
    h->rec = rec;
    h->inner = inner;
    h->next = rec->handles;
    rec->handles = h;
    f->refs++;
    return vf_io_new(&vf_fh_ops, h, inner->name, inner->writable, out, err);
}

/* --- the file system --- */

static vf_status vf_ffs_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    vf_fault *f = self;
    *out = NULL;
    bool modifies = (flags & (VF_IO_CREATE | VF_IO_TRUNC)) != 0;
    if (f->dead || (f->crashed && modifies))
        return vf_fault_eio(e, f->dead ? "open after the power loss" : "open after the crash", path,
                            f->writes);
    /* Truncation goes through the undo log when a power loss is planned. */
    bool log_trunc = (flags & VF_IO_TRUNC) && f->plan.kind == VF_FAULT_POWER;
    vf_io *inner;
    vf_status st =
        vf_fs_open(f->inner, path, log_trunc ? flags & ~(unsigned)VF_IO_TRUNC : flags, &inner, e);
    if (st == VF_OK)
        st = vf_fault_wrap(f, inner, path, out, e);
    if (st == VF_OK && log_trunc) {
        vf_fhandle *h = (*out)->self;
        if ((st = vf_fault_log(h, 0, UINT64_MAX, e)) == VF_OK)
            st = vf_io_set_size(h->inner, 0, e);
        if (st != VF_OK) {
            vf_io_close(*out);
            *out = NULL;
        }
    }
    return st;
}

static vf_status vf_ffs_remove(void *self, const char *path, vf_error *e)
{
    vf_fault *f = self;
    if (f->dead || f->crashed)
        return vf_fault_eio(e, "remove after the fault", path, f->writes);
    return vf_fs_remove(f->inner, path, e);
}

static vf_status vf_ffs_free_space(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    vf_fault *f = self;
    *bytes = 0;
    if (f->dead)
        return vf_fault_eio(e, "statvfs after the power loss", path, f->writes);
    return f->inner->ops->free_space(f->inner->self, path, bytes, e);
}

static vf_status vf_ffs_sync_dir(void *self, const char *path, vf_error *e)
{
    vf_fault *f = self;
    if (f->dead || f->crashed)
        return vf_fault_eio(e, "directory sync after the fault", path, f->writes);
    return f->inner->ops->sync_dir(f->inner->self, path, e);
}

static const vf_fs_ops vf_ffs_ops = {
    .open = vf_ffs_open,
    .remove = vf_ffs_remove,
    .free_space = vf_ffs_free_space,
    .sync_dir = vf_ffs_sync_dir,
};

vf_status vf_fault_new(const vf_fs *inner, vf_fault **out, vf_error *err)
{
    *out = NULL;
    vf_fault *f = calloc(1, sizeof *f);
    if (!f)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a fault wrapper");
    f->fs.ops = &vf_ffs_ops;
    f->fs.self = f;
    f->inner = inner ? inner : vf_fs_posix();
    f->refs = 1;
    *out = f;
    return VF_OK;
}

const vf_fs *vf_fault_fs(vf_fault *f)
{
    return &f->fs;
}

void vf_fault_reset(vf_fault *f)
{
    memset(&f->plan, 0, sizeof f->plan);
    free(f->flip_key);
    f->flip_key = NULL;
    f->writes = f->syncs = 0;
    f->fired = f->crashed = f->dead = false;
    for (vf_frec *r = f->recs; r; r = r->next)
        vf_rec_drop_log(r);
}

vf_status vf_fault_arm(vf_fault *f, const vf_fault_plan *plan)
{
    vf_fault_reset(f);
    if (plan->flip_path && !(f->flip_key = vf_path_normalize(plan->flip_path)))
        return VF_FAIL_ERRNO(NULL, ENOMEM, VF_OFF_NONE, "fault wrapper: flip path");
    f->plan = *plan;
    f->plan.flip_path = NULL; /* borrowed by the caller; flip_key is our copy */
    return VF_OK;
}

void vf_fault_set_share(vf_fault *f, bool on)
{
    f->share = on;
}

uint64_t vf_fault_writes(const vf_fault *f)
{
    return f->writes;
}

uint64_t vf_fault_syncs(const vf_fault *f)
{
    return f->syncs;
}

bool vf_fault_fired(const vf_fault *f)
{
    return f->fired;
}

void vf_fault_free(vf_fault *f)
{
    if (f)
        vf_fault_unref(f);
}
