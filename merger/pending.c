/* pending.c - a merge journal seen from outside the merge that wrote it: which level of a
 * chain has one, whether a merge holds it now (and its pid), what finishing it needs; and the
 * "in use" error of a second merge. Layer: merger. Used by info/check/digest and merge.c.
 * The journal is hostile input and names no file: only paths the chain proved are opened. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "merge_int.h"
#include "opts_int.h"

void vf_merge_pending_free(vf_merge_pending *p)
{
    if (!p)
        return;
    free(p->journal);
    free(p->destination);
    free(p->source);
    memset(p, 0, sizeof *p);
}

/* The level of c whose image is the journal's SOURCE (level 0 of the record), counted from
 * the level holding the journal; SIZE_MAX when c does not reach it. */
static size_t vf_pending_source(const vf_chain *c, size_t dest_level, const vf_journal *j)
{
    if (!c || !j->nlevels || j->nlevels - 1 > dest_level)
        return SIZE_MAX;
    size_t up = j->nlevels - 1;
    const vf_image_info *in = vf_image_info_get(vf_chain_image(c, dest_level - up));
    return memcmp(in->id, j->levels[0].id, 16) == 0 ? dest_level - up : SIZE_MAX;
}

/* e's status, copied to err (which may be NULL). */
static vf_status vf_pending_pass(vf_error *err, const vf_error *e)
{
    if (err)
        *err = *e;
    return e->code;
}

/* Does j, the record of the journal beside level `level` (>= 1) of c, list level 0's identity
 * where level 0 would stand in it (SOURCE or an intermediate of that merge)? */
static bool vf_pending_names_top(const vf_chain *c, size_t level, const vf_journal *j)
{
    if (!c || level == 0 || !j->nlevels || level > j->nlevels - 1)
        return false;
    const vf_image_info *top = vf_image_info_get(vf_chain_image(c, 0));
    return memcmp(top->id, j->levels[j->nlevels - 1 - level].id, 16) == 0;
}

/* Look at the journal beside dest (level `level`, or depth for vf_chain_beyond's file):
 * VF_OK with out->found false when there is none or (need_top) when no valid record of it
 * names level 0 of c. */
static vf_status vf_pending_level(const vf_chain *c, const vf_fs *fs, const char *dest,
                                  size_t level, bool need_top, vf_merge_pending *out, vf_error *err)
{
    char *jpath = vf_merge_journal_path(dest);
    if (!jpath)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "looking for a merge journal");
    vf_journal j;
    vf_error e2;
    vf_error_clear(&e2);
    bool found = false;
    vf_status st = vf_journal_peek(fs, jpath, &found, &out->holder, &j, &e2);
    if (found && need_top && (st != VF_OK || !vf_pending_names_top(c, level, &j))) {
        if (st == VF_OK)
            vf_journal_free(&j);
        found = false;
        out->holder = 0;
    }
    if (!found) {
        free(jpath);
        return st == VF_E_NOMEM ? vf_pending_pass(err, &e2) : VF_OK;
    }
    out->found = true;
    out->journal = jpath;
    out->dest_level = level;
    out->source_level = SIZE_MAX;
    if (!(out->destination = strdup(dest)))
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge journal '%s'", jpath);
    if (st != VF_OK) {
        snprintf(out->why, sizeof out->why, "%s", e2.msg);
        return VF_OK;
    }
    out->readable = true;
    out->phase = j.phase;
    out->cursor = j.cursor;
    out->virtual_size = j.virtual_size;
    out->source_level = vf_pending_source(c, level, &j);
    vf_journal_free(&j);
    if (out->source_level != SIZE_MAX &&
        !(out->source = strdup(vf_chain_path(c, out->source_level))))
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge journal '%s'", jpath);
    return VF_OK;
}

vf_status vf_merge_pending_find(const vf_chain *c, const vf_fs *fs, vf_merge_pending *out,
                                vf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "vf_merge_pending_find: no chain");
    if (!fs)
        fs = vf_fs_posix();
    size_t depth = vf_chain_depth(c);
    vf_status st = VF_OK;
    for (size_t level = 0; level < depth && st == VF_OK && !out->found; level++)
        st = vf_pending_level(c, fs, vf_chain_path(c, level), level, false, out, err);
    if (st == VF_OK && !out->found && vf_chain_beyond(c))
        st = vf_pending_level(c, fs, vf_chain_beyond(c), depth, false, out, err);
    if (st != VF_OK)
        vf_merge_pending_free(out);
    return st;
}

vf_status vf_merge_pending_find_file(const char *path, const vf_chain_opts *opts,
                                     vf_merge_pending *out, vf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!path)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "vf_merge_pending_find_file: no path");
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    vf_status st =
        opts ? vf_opts_adopt(&o, sizeof o, opts, VF_CHAIN_OPTS_V1, "vf_chain_opts", err) : VF_OK;
    const vf_fs *fs = o.fs ? o.fs : vf_fs_posix();
    /* path is DESTINATION: its journal is beside it, whatever path holds */
    if (st == VF_OK)
        st = vf_pending_level(NULL, fs, path, 0, false, out, err);
    if (st != VF_OK || out->found)
        return st;
    /* SOURCE or an intermediate: a journal beside a level its own links lead to, naming it */
    vf_chain *c = NULL;
    vf_error e2;
    vf_error_clear(&e2);
    if ((st = vf_chain_open_preview(path, &o, &c, &e2)) != VF_OK)
        return st == VF_E_NOMEM ? vf_pending_pass(err, &e2)
                                : VF_OK; /* no identity: nothing names it */
    size_t depth = vf_chain_depth(c);
    for (size_t level = 1; level < depth && st == VF_OK && !out->found; level++)
        st = vf_pending_level(c, fs, vf_chain_path(c, level), level, true, out, err);
    if (st == VF_OK && !out->found && vf_chain_beyond(c))
        st = vf_pending_level(c, fs, vf_chain_beyond(c), depth, true, out, err);
    vf_chain_close(c);
    if (st != VF_OK)
        vf_merge_pending_free(out);
    return st;
}

/* Is source the journal's SOURCE? Opens source alone, read-only, without a lock. */
static bool vf_in_use_same_source(const vf_fs *fs, const char *source, const vf_journal *j)
{
    vf_io *io;
    if (!j->nlevels || vf_fs_open(fs, source, VF_IO_RDONLY | VF_IO_REGULAR, &io, NULL) != VF_OK)
        return false;
    vf_image *img;
    if (vf_image_open(io, source, 0, &img, NULL) != VF_OK)
        return false;
    bool same = memcmp(vf_image_info_get(img)->id, j->levels[0].id, 16) == 0;
    vf_image_close(img);
    return same;
}

vf_status vf_merge_in_use(const vf_fs *fs, const char *source, const char *dest, const char *jpath,
                          vf_error *err)
{
    vf_journal j;
    bool found = false;
    int64_t pid = 0;
    vf_status st = vf_journal_peek(fs, jpath, &found, &pid, &j, NULL);
    bool same = st == VF_OK && found && vf_in_use_same_source(fs, source, &j);
    if (st == VF_OK)
        vf_journal_free(&j);
    char who[32] = "pid unknown";
    if (pid > 0)
        snprintf(who, sizeof who, "pid %lld", (long long)pid);
    if (same)
        st = VF_FAIL(err, VF_E_BUSY, VF_OFF_NONE,
                     "in use: merge of '%s' into '%s' in progress (%s); another merge holds its "
                     "journal '%s': wait for it to end",
                     source, dest, who, jpath);
    else
        st = VF_FAIL(err, VF_E_BUSY, VF_OFF_NONE,
                     "in use: merge of another disk into '%s' in progress (%s); another merge "
                     "holds its journal '%s': wait for it to end",
                     dest, who, jpath);
    if (err)
        err->sys_errno = EAGAIN;
    return st;
}
