/* journal_io.c - the merge journal file beside DESTINATION, read and written through the
 * vf_fs (so fault-injection sweeps cover it). Layer: merger. Called by merge.c only.
 * Two slots at 0 and VF_JOURNAL_SLOT_BYTES; record seq goes to slot seq % 2 and is synced
 * before the merge moves on, so a torn write never hides the previous record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"

/* sync_dir takes a file's path and makes its directory entry durable. */
static vf_status vf_journal_sync_dir(const vf_fs *fs, const char *path, vf_error *err)
{
    if (!fs->ops->sync_dir)
        return VF_OK;
    return fs->ops->sync_dir(fs->self, path, err);
}

/* Parse the slot at off if the file holds one there; torn slots are simply not used.
 * *mixed: both slots are valid but come from different merges (merge ids differ), or one
 * is a complete record (its SHA-256 matches) whose fields this version refuses. */
static void vf_journal_try_slot(vf_io *io, uint64_t size, uint64_t off, uint8_t *buf,
                                vf_journal *best, bool *have, bool *mixed)
{
    if (size <= off)
        return;
    uint64_t avail = size - off;
    size_t n = avail < VF_JOURNAL_SLOT_BYTES ? (size_t)avail : VF_JOURNAL_SLOT_BYTES;
    if (vf_io_read(io, buf, n, off, NULL) != VF_OK)
        return;
    vf_journal j;
    vf_error e;
    if (vf_journal_parse(buf, n, &j, &e) != VF_OK) {
        if (e.code == VF_E_FORMAT && e.off == VF_JOURNAL_HEAD_BYTES)
            *mixed = true; /* signed, so written whole: not a torn record */
        return;
    }
    if (*have && memcmp(best->merge_id, j.merge_id, sizeof j.merge_id) != 0)
        *mixed = true;
    if (*have && best->seq >= j.seq) {
        vf_journal_free(&j);
        return;
    }
    vf_journal_free(best);
    *best = j;
    *have = true;
}

/* The open flags of every journal open: never through a symbolic link, only a regular file
 * of this user (io_file.c checks both on the descriptor it opened). */
#define VF_JOURNAL_OPEN_FLAGS (VF_IO_NOFOLLOW | VF_IO_OWNED)

/* A journal that is a link, not a regular file or someone else's: refused, never used. */
static vf_status vf_journal_refuse_open(const char *path, vf_status st, const vf_error *e2,
                                        vf_error *err)
{
    if (st == VF_E_IO &&
        (e2->sys_errno == ELOOP || e2->sys_errno == EPERM || e2->sys_errno == EEXIST))
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "merge journal '%s' is refused (%s); no merge uses it: delete it with rm "
                       "if no merge is running",
                       path, e2->msg);
    if (err)
        *err = *e2;
    vf_error_prefix(err, "merge journal '%s': ", path);
    return st;
}

static vf_status vf_journal_read_slots(vf_io *io, const char *path, vf_journal *out, vf_error *err)
{
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge journal '%s'", path);
    uint64_t size = 0;
    vf_status st = vf_io_size(io, &size, err);
    if (st == VF_OK) {
        bool have = false, mixed = false;
        vf_journal_try_slot(io, size, 0, buf, out, &have, &mixed);
        vf_journal_try_slot(io, size, VF_JOURNAL_SLOT_BYTES, buf, out, &have, &mixed);
        if (mixed) {
            vf_journal_free(out);
            st = VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                         "merge journal '%s' refused: it holds a record this vhdfold does not "
                         "use (another journal version, fields out of range, or records of two "
                         "merges); delete it with rm if no merge is running",
                         path);
        } else if (!have) {
            st = VF_FAIL(err, VF_E_FORMAT, 0,
                         "merge journal '%s': neither slot holds a valid record (%llu bytes)", path,
                         (unsigned long long)size);
        }
    }
    free(buf);
    return st;
}

vf_status vf_journal_load(const vf_fs *fs, const char *path, bool *found, vf_journal *out,
                          vf_error *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    vf_io *io;
    vf_error e2;
    vf_error_clear(&e2);
    vf_status st = vf_fs_open(fs, path, VF_IO_RDONLY | VF_JOURNAL_OPEN_FLAGS, &io, &e2);
    if (st != VF_OK) {
        if (st == VF_E_IO && e2.sys_errno == ENOENT)
            return VF_OK;
        *found = e2.sys_errno == ELOOP || e2.sys_errno == EPERM;
        return vf_journal_refuse_open(path, st, &e2, err);
    }
    *found = true;
    /* a running merge holds the journal exclusively: a shared lock tells (and is dropped) */
    if ((st = vf_io_lock(io, false, err)) != VF_OK) {
        int64_t pid = 0;
        (void)vf_io_lock_holder(io, false, &pid, NULL);
        vf_io_close(io);
        if (st == VF_E_BUSY) {
            st = VF_FAIL(err, VF_E_BUSY, VF_OFF_NONE,
                         "merge journal '%s' is in use: another merge into this DESTINATION "
                         "is running (pid %lld)",
                         path, (long long)pid);
            if (err)
                err->sys_errno = EAGAIN;
        }
        return st;
    }
    st = vf_journal_read_slots(io, path, out, err);
    vf_io_close(io);
    return st;
}

vf_status vf_journal_peek(const vf_fs *fs, const char *path, bool *found, int64_t *holder,
                          vf_journal *out, vf_error *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    *holder = 0;
    vf_io *io;
    vf_error e2;
    vf_error_clear(&e2);
    vf_status st =
        vf_fs_open(fs, path, VF_IO_RDONLY | VF_IO_REGULAR | VF_JOURNAL_OPEN_FLAGS, &io, &e2);
    if (st != VF_OK) {
        if (st == VF_E_IO && e2.sys_errno == ENOENT)
            return VF_OK;
        *found = true;
        return vf_journal_refuse_open(path, st, &e2, err);
    }
    *found = true;
    if ((st = vf_io_lock_holder(io, false, holder, err)) == VF_OK)
        st = vf_journal_read_slots(io, path, out, err);
    vf_io_close(io);
    return st;
}

vf_status vf_journal_open(const vf_fs *fs, const char *path, bool create, vf_journal_file *jf,
                          vf_error *err)
{
    memset(jf, 0, sizeof *jf);
    jf->fs = fs;
    jf->path = strdup(path);
    jf->buf = malloc(VF_JOURNAL_SLOT_BYTES);
    if (!jf->path || !jf->buf) {
        vf_journal_close(jf);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge journal '%s'", path);
    }
    unsigned flags = VF_IO_RDWR | VF_JOURNAL_OPEN_FLAGS | (create ? VF_IO_CREATE | VF_IO_EXCL : 0u);
    vf_error e2;
    vf_error_clear(&e2);
    vf_status st = vf_fs_open(fs, path, flags, &jf->io, &e2);
    if (st != VF_OK) {
        vf_journal_close(jf);
        return vf_journal_refuse_open(path, st, &e2, err);
    }
    if ((st = vf_io_lock(jf->io, true, err)) != VF_OK) {
        vf_error_prefix(err, "merge journal '%s': ", path);
        vf_journal_close(jf);
        return st;
    }
    if (create && (st = vf_journal_sync_dir(fs, path, err)) != VF_OK) {
        vf_journal_close(jf);
        return st;
    }
    return VF_OK;
}

vf_status vf_journal_store(vf_journal_file *jf, vf_journal *j, vf_error *err)
{
    j->seq++;
    size_t len;
    vf_status st = vf_journal_encode(j, jf->buf, &len, err);
    if (st != VF_OK)
        return st;
    uint64_t off = (j->seq % 2u) * VF_JOURNAL_SLOT_BYTES;
    if ((st = vf_io_write(jf->io, jf->buf, len, off, err)) == VF_OK)
        st = vf_io_sync(jf->io, err);
    if (st != VF_OK)
        vf_error_prefix(err, "merge journal '%s': ", jf->path);
    return st;
}

void vf_journal_close(vf_journal_file *jf)
{
    if (!jf)
        return;
    vf_io_close(jf->io);
    free(jf->path);
    free(jf->buf);
    memset(jf, 0, sizeof *jf);
}

vf_status vf_journal_remove(vf_journal_file *jf, vf_error *err)
{
    const vf_fs *fs = jf->fs;
    char *path = jf->path;
    jf->path = NULL;
    vf_journal_close(jf);
    vf_status st = vf_fs_remove(fs, path, err);
    if (st == VF_OK)
        st = vf_journal_sync_dir(fs, path, err);
    else
        vf_error_prefix(err, "merge journal '%s': ", path);
    free(path);
    return st;
}
