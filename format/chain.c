/* chain.c - opens an image and every ancestor, binds each link by identity, and reads the
 * flattened disk. Parents are found through the image's locators (docs/chain.md gives how
 * each kind becomes a path) and opened through a vf_fs, so tests run on vf_fs_mem.
 * Layer: format. Sees drivers only through vf_image; callers: merger/, verify/, cli/. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_chain.h>

#include "opts_int.h"
#include "endian.h"
#include "image_int.h"
#include "path.h"

typedef struct vf_level {
    vf_image *img;
    char *path;   /* as given (level 0) or as resolved */
    char *key;    /* lexically normalised path, for loop detection */
    char *rel;    /* found inside opts.parent_dir: the path below it (reopened that way), or NULL */
    bool trusted; /* named by the caller (the top, opts.named): full errors, block devices */
    char via[24];
    uint64_t virtual_size;
} vf_level;

struct vf_chain {
    vf_chain_opts opts; /* fs and max_depth filled in; parent_dir is dir_copy; named cleared */
    char *dir_copy;
    vf_level *lv;
    size_t depth, cap;
    bool broken;  /* a failed reopen could not restore a level: only close is allowed */
    char *beyond; /* a partial open's break: the file found for level depth but not taken */
};

/* --- candidate parents --- */

enum {
    VF_CAND_UNTRIED,
    VF_CAND_MISSING,
    VF_CAND_MISMATCH,
    VF_CAND_FAILED,
    VF_CAND_ABSOLUTE, /* refused by policy: a POSIX absolute path (never opened) */
    VF_CAND_OUTSIDE,  /* refused by policy: outside opts.parent_dir (never opened) */
};

typedef struct vf_cand {
    char *path;
    char *rel;     /* non-NULL: opened as this path inside opts.parent_dir */
    bool trusted;  /* from opts.named */
    char tag[24];  /* the first locator that gave this path */
    char tags[96]; /* every locator that gave it, for messages */
    int result;
    uint8_t id[16]; /* VF_CAND_MISMATCH: the identity found */
} vf_cand;

typedef struct vf_cands {
    vf_cand *v;
    size_t n, cap;
} vf_cands;

static void vf_cands_free(vf_cands *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].path);
        free(cs->v[i].rel);
    }
    free(cs->v);
    memset(cs, 0, sizeof *cs);
}

static bool vf_cand_refused(int result)
{
    return result == VF_CAND_ABSOLUTE || result == VF_CAND_OUTSIDE;
}

/* Takes path and rel (malloc'd; path NULL after a failed allocation). Duplicates are dropped:
 * the first locator that yields a path names it. result: VF_CAND_UNTRIED (to be tried) or a
 * refusal, listed in the message but never opened. */
static vf_status vf_cands_add(vf_cands *cs, char *path, char *rel, const char *tag, int result,
                              vf_error *err)
{
    if (!path) {
        free(rel);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "building parent candidates");
    }
    for (size_t i = 0; i < cs->n; i++) {
        if (strcmp(cs->v[i].path, path) == 0 &&
            vf_cand_refused(cs->v[i].result) == vf_cand_refused(result)) {
            size_t used = strlen(cs->v[i].tags);
            if (!strstr(cs->v[i].tags, tag))
                snprintf(cs->v[i].tags + used, sizeof cs->v[i].tags - used, ", %s", tag);
            free(path);
            free(rel);
            return VF_OK;
        }
    }
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 8;
        vf_cand *v = realloc(cs->v, cap * sizeof *v);
        if (!v) {
            free(path);
            free(rel);
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "building parent candidates");
        }
        cs->v = v;
        cs->cap = cap;
    }
    vf_cand *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    c->path = path;
    c->rel = rel;
    c->result = result;
    snprintf(c->tag, sizeof c->tag, "%s", tag);
    snprintf(c->tags, sizeof c->tags, "%s", tag);
    return VF_OK;
}

static int vf_hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* In place: '\' to '/', and for URLs "%XX" decoded and a leading "localhost" host dropped. */
static void vf_locator_decode(char *s, bool url)
{
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        int hi, lo;
        if (url && s[r] == '%' && (hi = vf_hex_value(s[r + 1])) >= 0 &&
            (lo = vf_hex_value(s[r + 2])) >= 0 && (hi || lo)) {
            s[w++] = (char)(hi << 4 | lo);
            r += 2;
        } else {
            s[w++] = s[r] == '\\' ? '/' : s[r];
        }
    }
    s[w] = '\0';
    if (url && strncmp(s, "localhost/", 10) == 0)
        memmove(s, s + 9, strlen(s + 9) + 1);
}

/* Where the parents of one child are looked for (docs/chain.md, "Policy"). */
typedef struct vf_search {
    const vf_chain_opts *opts;
    const char *dir;     /* the child's directory, lexically */
    const char *rel_dir; /* with parent_dir: the child's directory below it ("" = parent_dir) */
} vf_search;

/* rel (normalised, taken over) as a candidate opened below parent_dir; one that leaves the
 * folder ("..", absolute) is listed as refused, never opened. */
static vf_status vf_cands_beneath(vf_cands *cs, const vf_search *q, char *rel, const char *tag,
                                  vf_error *err)
{
    if (!rel)
        return vf_cands_add(cs, NULL, NULL, tag, VF_CAND_UNTRIED, err);
    char *path = vf_path_join(q->opts->parent_dir, rel);
    if (!vf_path_escapes(rel))
        return vf_cands_add(cs, path, rel, tag, VF_CAND_UNTRIED, err);
    free(rel);
    return vf_cands_add(cs, path, NULL, tag, VF_CAND_OUTSIDE, err);
}

/* A file name looked for in the search folder: parent_dir, or the child's directory. */
static vf_status vf_cands_name(vf_cands *cs, const vf_search *q, const char *name, const char *tag,
                               vf_error *err)
{
    if (q->opts->parent_dir)
        return vf_cands_beneath(cs, q, vf_path_normalize(name), tag, err);
    return vf_cands_add(cs, vf_path_join(q->dir, name), NULL, tag, VF_CAND_UNTRIED, err);
}

/* A relative locator: against the child's directory; with parent_dir, only when the result
 * stays inside it. */
static vf_status vf_cands_relative(vf_cands *cs, const vf_search *q, const char *s, const char *tag,
                                   vf_error *err)
{
    while (s[0] == '.' && s[1] == '/')
        s += 2;
    if (!q->opts->parent_dir)
        return vf_cands_add(cs, vf_path_join(q->dir, s), NULL, tag, VF_CAND_UNTRIED, err);
    return vf_cands_beneath(cs, q, vf_path_join(q->rel_dir, s), tag, err);
}

/* A POSIX absolute locator: followed only when allowed (and inside parent_dir when given);
 * otherwise listed as refused, never opened. */
static vf_status vf_cands_absolute(vf_cands *cs, const vf_search *q, const char *s, const char *tag,
                                   vf_error *err)
{
    if (!q->opts->allow_absolute_parents)
        return vf_cands_add(cs, vf_path_normalize(s), NULL, tag, VF_CAND_ABSOLUTE, err);
    if (!q->opts->parent_dir)
        return vf_cands_add(cs, vf_path_normalize(s), NULL, tag, VF_CAND_UNTRIED, err);
    char *rel;
    int in = vf_path_under(q->opts->parent_dir, s, &rel);
    if (in < 0)
        return vf_cands_add(cs, NULL, NULL, tag, VF_CAND_UNTRIED, err);
    if (in == 0)
        return vf_cands_add(cs, vf_path_normalize(s), NULL, tag, VF_CAND_OUTSIDE, err);
    return vf_cands_beneath(cs, q, rel, tag, err);
}

static vf_status vf_cands_from_locator(vf_cands *cs, const vf_search *q, const vf_locator *loc,
                                       vf_error *err)
{
    char *s = loc->path ? strdup(loc->path) : NULL;
    if (!s)
        return loc->path ? VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "building parent candidates")
                         : VF_OK;
    vf_locator_decode(s, loc->kind == VF_LOC_URL);
    const char *base = vf_path_basename(s);
    vf_status st = VF_OK;
    if (!s[0] || !base[0]) {
        free(s);
        return VF_OK; /* an empty locator or a directory names nothing */
    }
    /* Windows absolute paths (drive, UNC, volume) cannot name a file here: the base name is
     * looked for in the search folder. */
    if (vf_path_is_windows_absolute(s))
        st = vf_cands_name(cs, q, base, loc->tag, err);
    else if (s[0] == '/')
        st = vf_cands_absolute(cs, q, s, loc->tag, err);
    else
        st = vf_cands_relative(cs, q, s, loc->tag, err);
    /* The base name in the search folder: the VHD parent name's second reading (the vhd-lib
     * convention), after a refused absolute path, and for every locator with parent_dir. */
    bool refused = cs->n && vf_cand_refused(cs->v[cs->n - 1].result);
    if (st == VF_OK && base != s && (loc->kind == VF_LOC_NAME || refused || q->opts->parent_dir))
        st = vf_cands_name(cs, q, base, loc->tag, err);
    free(s);
    return st;
}

/* The files the caller named, last: accepted only when one binds by identity. */
static vf_status vf_cands_named(vf_cands *cs, const vf_chain_opts *o, vf_error *err)
{
    for (size_t i = 0; i < o->nnamed; i++) {
        if (!o->named[i])
            continue;
        size_t before = cs->n;
        vf_status st =
            vf_cands_add(cs, vf_path_normalize(o->named[i]), NULL, "named", VF_CAND_UNTRIED, err);
        if (st != VF_OK)
            return st;
        if (cs->n > before)
            cs->v[cs->n - 1].trusted = true;
    }
    return VF_OK;
}

static vf_status vf_chain_candidates(const vf_chain *c, const vf_level *child, vf_cands *cs,
                                     vf_error *err)
{
    size_t n = 0, max = 8;
    vf_locator *locs = NULL;
    vf_status st;
    for (;;) {
        vf_locator *p = realloc(locs, max * sizeof *locs);
        if (!p) {
            free(locs);
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "reading parent locators");
        }
        locs = p;
        if ((st = vf_image_locators(child->img, locs, max, &n, err)) != VF_OK || n <= max)
            break;
        max = n; /* the driver has more: ask again with room for all */
    }
    vf_search q = {&c->opts, NULL, ""};
    char *dir = st == VF_OK ? vf_path_dirname(child->path) : NULL;
    char *rel_dir = NULL;
    if (st == VF_OK && dir && c->opts.parent_dir) {
        /* The child's place below parent_dir: known for a level found there, else lexical
         * (a top outside it, or not provably inside, searches parent_dir itself). */
        char *below = NULL;
        int in = child->rel ? 1 : vf_path_under(c->opts.parent_dir, child->path, &below);
        if (in > 0)
            rel_dir = vf_path_dirname(child->rel ? child->rel : below);
        else if (in == 0)
            rel_dir = strdup("");
        free(below);
    }
    if (st == VF_OK && (!dir || (c->opts.parent_dir && !rel_dir)))
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "reading parent locators");
    q.dir = dir;
    if (rel_dir)
        q.rel_dir = strcmp(rel_dir, ".") == 0 ? "" : rel_dir;
    for (size_t i = 0; st == VF_OK && i < n; i++)
        st = vf_cands_from_locator(cs, &q, &locs[i], err);
    if (st == VF_OK)
        st = vf_cands_named(cs, &c->opts, err);
    free(rel_dir);
    free(dir);
    free(locs);
    return st;
}

/* --- the message naming every candidate --- */

typedef struct vf_msg {
    char buf[VF_ERROR_MSG_MAX];
    size_t used;
} vf_msg;

static void vf_msg_add(vf_msg *m, const char *fmt, ...) VF_PRINTF(2, 3);
static void vf_msg_add(vf_msg *m, const char *fmt, ...)
{
    if (m->used >= sizeof m->buf - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->used, sizeof m->buf - m->used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    m->used += (size_t)n;
    if (m->used >= sizeof m->buf - 1) {
        m->used = sizeof m->buf - 1;
        memcpy(m->buf + sizeof m->buf - 4, "...", 4);
    }
}

static const char *vf_cand_note(int result)
{
    switch (result) {
    case VF_CAND_MISSING:
        return "";
    case VF_CAND_MISMATCH:
        return ", different id";
    case VF_CAND_FAILED:
        return ", unreadable";
    case VF_CAND_ABSOLUTE:
        return ", absolute path not followed unless absolute parents are allowed";
    case VF_CAND_OUTSIDE:
        return ", outside the parent folder, not followed";
    }
    return ", not tried";
}

static vf_status vf_chain_not_found(const vf_level *child, const vf_cands *cs, vf_error *err)
{
    const vf_image_info *ci = vf_image_info_get(child->img);
    vf_msg m = {.used = 0};
    m.buf[0] = '\0';
    const vf_cand *mis = NULL;
    for (size_t i = 0; i < cs->n && !mis; i++)
        if (cs->v[i].result == VF_CAND_MISMATCH && !cs->v[i].trusted)
            mis = &cs->v[i];
    if (mis) {
        char want[VF_GUID_TEXT_LEN], got[VF_GUID_TEXT_LEN];
        vf_guid_text(ci->format, ci->parent_id, want);
        vf_guid_text(ci->format, mis->id, got);
        vf_msg_add(&m, "parent of '%s' not found: '%s' expects parent id %s but '%s' has id %s",
                   child->path, child->path, want, mis->path, got);
    } else {
        vf_msg_add(&m, "cannot find parent of '%s'", child->path);
    }
    size_t listed = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->v[i].trusted && cs->v[i].result != VF_CAND_FAILED)
            continue; /* a named file that is not this parent says nothing about the search */
        vf_msg_add(&m, "%s'%s' (%s%s)", listed++ ? ", " : ": tried ", cs->v[i].path, cs->v[i].tags,
                   vf_cand_note(cs->v[i].result));
    }
    if (!listed)
        vf_msg_add(&m, ": it has no usable parent locator");
    vf_status st = VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE, "%s", m.buf);
    bool absent = cs->n > 0; /* every path tried names no file (none refused or different) */
    for (size_t i = 0; i < cs->n; i++)
        absent = absent && (cs->v[i].result == VF_CAND_MISSING || cs->v[i].trusted);
    if (err && absent)
        err->sys_errno = ENOENT;
    return st;
}

/* --- opening levels --- */

static bool vf_id_binds(const vf_image_info *child, const uint8_t id[16])
{
    return memcmp(child->parent_id, id, 16) == 0 ||
           (child->has_parent_id2 && memcmp(child->parent_id2, id, 16) == 0);
}

static bool vf_is_missing(const vf_error *e)
{
    return e->code == VF_E_IO && (e->sys_errno == ENOENT || e->sys_errno == ENOTDIR);
}

/* How one file of the chain is reached: its path, the part below parent_dir (opened there,
 * no symbolic link followed), and whether the caller named it. */
typedef struct vf_where {
    const char *path, *rel;
    bool trusted;
} vf_where;

static vf_status vf_chain_open_io(const vf_chain *c, const vf_where *w, bool rw, vf_io **io,
                                  vf_error *err)
{
    /* A file reached through a locator must be a regular file: no device, FIFO or socket. */
    unsigned fl = (rw ? VF_IO_RDWR : VF_IO_RDONLY) | (w->trusted ? 0u : (unsigned)VF_IO_REGULAR);
    if (w->rel)
        return vf_fs_open_beneath(c->opts.fs, c->opts.parent_dir, w->rel, fl, io, err);
    return vf_fs_open(c->opts.fs, w->path, fl, io, err);
}

/* An open that failed before the file proved to be a virtual disk says only that, when the
 * file was reached through a locator: nothing of its size, bytes or fields. */
static vf_status vf_chain_quiet(const vf_where *w, vf_status st, vf_error *err)
{
    if (!err)
        return st;
    if (st == VF_E_IO) {
        int errnum = err->sys_errno;
        VF_FAIL_ERRNO(err, errnum, VF_OFF_NONE, "'%s' could not be read as a virtual disk",
                      w->path);
        return st;
    }
    return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE, "'%s' is not a virtual disk", w->path);
}

/* Open one file of the chain through the fs, lock it when asked, and validate it. */
static vf_status vf_chain_open_image(const vf_chain *c, const vf_where *w, unsigned flags,
                                     vf_image **out, vf_error *err)
{
    *out = NULL;
    bool rw = (flags & VF_OPEN_RDWR) != 0;
    vf_io *io;
    vf_status st = vf_chain_open_io(c, w, rw, &io, err);
    if (st != VF_OK)
        return st;
    if (c->opts.lock && (st = vf_io_lock(io, rw, err)) != VF_OK) {
        vf_io_close(io);
        return st;
    }
    bool recognised = false;
    st = vf_image_open_probe(io, w->path, flags, &recognised, out, err);
    if (st != VF_OK && !w->trusted && !recognised && st != VF_E_NOMEM)
        return vf_chain_quiet(w, st, err);
    return st;
}

static unsigned vf_ancestor_flags(const vf_chain *c)
{
    return c->opts.open_flags & VF_OPEN_NO_CHECKSUMS;
}

/* Takes path and rel (malloc'd; rel may be NULL). */
static vf_status vf_chain_push(vf_chain *c, vf_image *img, char *path, char *rel, bool trusted,
                               const char *via, vf_error *err)
{
    char *key = path ? vf_path_normalize(path) : NULL;
    if (c->depth == c->cap && key) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        vf_level *lv = realloc(c->lv, cap * sizeof *lv);
        if (lv) {
            c->lv = lv;
            c->cap = cap;
        }
    }
    if (!key || c->depth == c->cap) {
        free(key);
        free(path);
        free(rel);
        vf_image_close(img);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "growing the chain");
    }
    vf_level *l = &c->lv[c->depth++];
    memset(l, 0, sizeof *l);
    l->img = img;
    l->path = path;
    l->key = key;
    l->rel = rel;
    l->trusted = trusted;
    snprintf(l->via, sizeof l->via, "%s", via);
    l->virtual_size = vf_image_info_get(img)->virtual_size;
    return VF_OK;
}

/* The level whose normalised path is key, or depth when none. */
static size_t vf_chain_find_key(const vf_chain *c, const char *key)
{
    for (size_t i = 0; i < c->depth; i++)
        if (strcmp(c->lv[i].key, key) == 0)
            return i;
    return c->depth;
}

static size_t vf_chain_find_id(const vf_chain *c, const uint8_t id[16])
{
    for (size_t i = 0; i < c->depth; i++)
        if (memcmp(vf_image_info_get(c->lv[i].img)->id, id, 16) == 0)
            return i;
    return c->depth;
}

static vf_status vf_chain_loop(const vf_level *child, const vf_cand *cand, const vf_chain *c,
                               size_t level, vf_error *err)
{
    return VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                   "the chain loops: the parent of '%s' is '%s' (%s), which is level %zu ('%s') "
                   "already",
                   child->path, cand->path, cand->tag, level, c->lv[level].path);
}

/* The links the identity does not cover: same format, same logical sector size. */
static vf_status vf_chain_compatible(const vf_level *child, const vf_image *parent,
                                     const char *path, vf_error *err)
{
    const vf_image_info *ci = vf_image_info_get(child->img), *pi = vf_image_info_get(parent);
    if (ci->format != pi->format)
        return VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                       "mixed chain refused: '%s' is %s but its parent '%s' is %s", child->path,
                       vf_format_name(ci->format), path, vf_format_name(pi->format));
    if (ci->logical_sector_size != pi->logical_sector_size)
        return VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                       "'%s' has %u-byte logical sectors but its parent '%s' has %u", child->path,
                       ci->logical_sector_size, path, pi->logical_sector_size);
    return VF_OK;
}

/* Try one candidate. VF_OK with *out set: accepted. VF_OK with *out NULL: not this one
 * (cand->result says why). An error: stop the search (lock held elsewhere, loop, ...). */
static vf_status vf_chain_try(vf_chain *c, const vf_level *child, vf_cand *cand, vf_image **out,
                              vf_error *hard, vf_error *err)
{
    const vf_image_info *ci = vf_image_info_get(child->img);
    *out = NULL;
    if (vf_cand_refused(cand->result))
        return VF_OK; /* refused by policy: listed, never opened */
    char *key = vf_path_normalize(cand->path);
    if (!key)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "resolving the parent of '%s'", child->path);
    size_t seen = vf_chain_find_key(c, key);
    free(key);
    if (seen < c->depth) { /* already open: a loop if it binds, else simply the wrong file */
        const uint8_t *id = vf_image_info_get(c->lv[seen].img)->id;
        if (vf_id_binds(ci, id))
            return vf_chain_loop(child, cand, c, seen, err);
        cand->result = VF_CAND_MISMATCH;
        memcpy(cand->id, id, 16);
        return VF_OK;
    }
    vf_error e;
    vf_error_clear(&e);
    vf_image *img;
    vf_where w = {cand->path, cand->rel, cand->trusted};
    vf_status st = vf_chain_open_image(c, &w, vf_ancestor_flags(c), &img, &e);
    if (st == VF_E_BUSY || st == VF_E_NOMEM) {
        if (err)
            *err = e;
        return st;
    }
    if (st != VF_OK) {
        cand->result = vf_is_missing(&e) ? VF_CAND_MISSING : VF_CAND_FAILED;
        if (cand->result == VF_CAND_FAILED && hard->code == VF_OK) {
            *hard = e;
            vf_error_prefix(hard, "parent of '%s' ('%s', %s): ", child->path, cand->path,
                            cand->tag);
        }
        return VF_OK;
    }
    const vf_image_info *pi = vf_image_info_get(img);
    if (!vf_id_binds(ci, pi->id)) {
        cand->result = VF_CAND_MISMATCH;
        memcpy(cand->id, pi->id, 16);
        vf_image_close(img);
        return VF_OK;
    }
    if ((seen = vf_chain_find_id(c, pi->id)) < c->depth) {
        vf_image_close(img);
        return vf_chain_loop(child, cand, c, seen, err);
    }
    if ((st = vf_chain_compatible(child, img, cand->path, err)) != VF_OK) {
        vf_image_close(img);
        return st;
    }
    *out = img;
    return VF_OK;
}

/* The file a failed search found but did not take: the candidate that was in use (st BUSY,
 * index at), else the first with another identity. */
static void vf_chain_note_beyond(vf_chain *c, const vf_cands *cs, size_t at, vf_status st)
{
    const vf_cand *pick = st == VF_E_BUSY && at < cs->n ? &cs->v[at] : NULL;
    for (size_t i = 0; i < cs->n && !pick; i++)
        if (cs->v[i].result == VF_CAND_MISMATCH)
            pick = &cs->v[i];
    free(c->beyond);
    c->beyond = pick && pick->path ? strdup(pick->path) : NULL;
}

/* Find, open and append the parent of the current base. */
static vf_status vf_chain_add_parent(vf_chain *c, vf_error *err)
{
    const vf_level *child = &c->lv[c->depth - 1];
    vf_cands cs = {NULL, 0, 0};
    vf_error hard;
    vf_error_clear(&hard);
    vf_image *img = NULL;
    vf_status st = vf_chain_candidates(c, child, &cs, err);
    size_t i = 0;
    for (; st == VF_OK && i < cs.n; i++) {
        st = vf_chain_try(c, child, &cs.v[i], &img, &hard, err);
        if (img)
            break;
    }
    if (st == VF_OK && img) {
        char *path = cs.v[i].path, *rel = cs.v[i].rel;
        bool trusted = cs.v[i].trusted;
        cs.v[i].path = cs.v[i].rel = NULL;
        char via[24];
        snprintf(via, sizeof via, "%s", cs.v[i].tag);
        vf_cands_free(&cs);
        return vf_chain_push(c, img, path, rel, trusted, via, err);
    }
    if (st == VF_OK && hard.code != VF_OK) {
        st = hard.code;
        if (err)
            *err = hard;
    } else if (st == VF_OK) {
        st = vf_chain_not_found(child, &cs, err);
    }
    vf_chain_note_beyond(c, &cs, i, st);
    vf_cands_free(&cs);
    return st;
}

/* The top; with preview, a file that does not open as an image is taken as its repair would
 * leave it (read-only, nothing written: vf_image_open_preview). */
static vf_status vf_chain_open_top(const vf_chain *c, const vf_where *w, bool preview,
                                   vf_image **img, vf_error *err)
{
    vf_status st = vf_chain_open_image(c, w, c->opts.open_flags, img, err);
    if (st == VF_OK || !preview ||
        (st != VF_E_FORMAT && st != VF_E_TRUNCATED && st != VF_E_CORRUPT))
        return st;
    vf_io *io;
    vf_error e;
    if (vf_chain_open_io(c, w, false, &io, &e) != VF_OK)
        return st;
    vf_status ps = vf_image_open_preview(io, w->path, img, &e);
    if (ps == VF_E_NOMEM && err)
        *err = e;
    return ps == VF_OK || ps == VF_E_NOMEM ? ps : st;
}

/* Open the top and up to `upper` levels (0: all). With brk non-NULL a failure past the top
 * keeps the levels that resolved: VF_OK, the break's error in *brk.
 * preview: see vf_chain_open_top. */
static vf_status vf_chain_open_n(const char *path, const vf_chain_opts *opts, size_t upper,
                                 bool preview, vf_chain **out, vf_error *brk, vf_error *err)
{
    *out = NULL;
    vf_chain *c = calloc(1, sizeof *c);
    if (!c)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "opening the chain of '%s'", path);
    vf_chain_opts_init(&c->opts);
    vf_status ast =
        opts ? vf_opts_adopt(&c->opts, sizeof c->opts, opts, VF_CHAIN_OPTS_V1, "vf_chain_opts", err)
             : VF_OK;
    if (ast != VF_OK) {
        free(c);
        return ast;
    }
    if (!c->opts.fs)
        c->opts.fs = vf_fs_posix();
    if (!c->opts.max_depth)
        c->opts.max_depth = VF_CHAIN_DEFAULT_MAX_DEPTH;
    if (c->opts.parent_dir && !(c->opts.parent_dir = c->dir_copy = strdup(c->opts.parent_dir))) {
        free(c);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "opening the chain of '%s'", path);
    }
    vf_image *img;
    vf_where w = {path, NULL, true};
    vf_status st = vf_chain_open_top(c, &w, preview, &img, err);
    if (st == VF_OK) {
        char *copy = strdup(path);
        st = copy ? vf_chain_push(c, img, copy, NULL, true, "", err)
                  : (vf_image_close(img),
                     VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "opening '%s'", path));
    }
    while (st == VF_OK && vf_image_info_get(c->lv[c->depth - 1].img)->has_parent) {
        if (upper && c->depth >= upper)
            break;
        if (c->depth >= c->opts.max_depth)
            st = VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                         "the chain of '%s' is deeper than %u images (the limit); '%s' still "
                         "has a parent",
                         path, c->opts.max_depth, c->lv[c->depth - 1].path);
        else
            st = vf_chain_add_parent(c, err);
    }
    c->opts.named = NULL; /* borrowed for the open only */
    c->opts.nnamed = 0;
    if (st != VF_OK && brk && c->depth) {
        *brk = *err;
        vf_error_clear(err);
        st = VF_OK;
    }
    if (st != VF_OK) {
        vf_chain_close(c);
        return st;
    }
    *out = c;
    return VF_OK;
}

vf_status vf_chain_open(const char *path, const vf_chain_opts *opts, vf_chain **out, vf_error *err)
{
    return vf_chain_open_n(path, opts, 0, false, out, NULL, err);
}

vf_status vf_chain_open_partial(const char *path, const vf_chain_opts *opts, vf_chain **out,
                                vf_error *brk, vf_error *err)
{
    vf_error own;
    vf_error_clear(brk ? brk : &own);
    vf_error scratch;
    vf_error_clear(&scratch);
    vf_status st =
        vf_chain_open_n(path, opts, 0, false, out, brk ? brk : &own, err ? err : &scratch);
    if (st != VF_OK && brk)
        vf_error_clear(brk); /* the top itself failed: that is *err, not a break */
    return st;
}

vf_status vf_chain_open_upper(const char *path, const vf_chain_opts *opts, size_t levels,
                              vf_chain **out, vf_error *err)
{
    if (!levels) {
        *out = NULL;
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "opening '%s': no level asked for", path);
    }
    return vf_chain_open_n(path, opts, levels, false, out, NULL, err);
}

vf_status vf_chain_open_preview(const char *path, const vf_chain_opts *opts, vf_chain **out,
                                vf_error *err)
{
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    vf_status st =
        opts ? vf_opts_adopt(&o, sizeof o, opts, VF_CHAIN_OPTS_V1, "vf_chain_opts", err) : VF_OK;
    if (st != VF_OK) {
        *out = NULL;
        return st;
    }
    o.lock = false;
    o.open_flags &= ~(unsigned)VF_OPEN_RDWR;
    vf_error brk, scratch;
    vf_error_clear(&brk);
    vf_error_clear(&scratch);
    return vf_chain_open_n(path, &o, 0, true, out, &brk, err ? err : &scratch);
}

void vf_chain_opts_init_size(vf_chain_opts *o, size_t size)
{
    vf_chain_opts def;
    memset(&def, 0, sizeof def);
    vf_opts_fill(o, size, &def, sizeof def);
}

void vf_chain_close(vf_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->depth; i++) {
        vf_image_close(c->lv[i].img);
        free(c->lv[i].path);
        free(c->lv[i].key);
        free(c->lv[i].rel);
    }
    free(c->lv);
    free(c->dir_copy);
    free(c->beyond);
    free(c);
}

const char *vf_chain_beyond(const vf_chain *c)
{
    return c->beyond;
}

size_t vf_chain_depth(const vf_chain *c)
{
    return c->depth;
}

vf_image *vf_chain_image(const vf_chain *c, size_t level)
{
    return level < c->depth ? c->lv[level].img : NULL;
}

const char *vf_chain_path(const vf_chain *c, size_t level)
{
    return level < c->depth ? c->lv[level].path : NULL;
}

const char *vf_chain_via(const vf_chain *c, size_t level)
{
    return level < c->depth ? c->lv[level].via : NULL;
}

uint64_t vf_chain_virtual_size(const vf_chain *c)
{
    return c->depth ? c->lv[0].virtual_size : 0;
}

/* --- reopening a level for writing --- */

/* Put back a read-only handle after a failed reopen (the old one was closed to release its
 * shared lock). It must still be the same image; otherwise, or if it cannot be opened, the
 * chain is unusable (broken) and only vf_chain_close remains. */
static void vf_chain_restore(vf_chain *c, size_t level, const vf_image_info *old)
{
    vf_level *l = &c->lv[level];
    unsigned flags = level == 0 ? c->opts.open_flags : vf_ancestor_flags(c);
    vf_image *img;
    vf_where w = {l->path, l->rel, l->trusted};
    if (vf_chain_open_image(c, &w, flags & ~(unsigned)VF_OPEN_RDWR, &img, NULL) != VF_OK) {
        c->broken = true;
        return;
    }
    const vf_image_info *ni = vf_image_info_get(img);
    if (ni->format != old->format || memcmp(ni->id, old->id, 16) != 0) {
        vf_image_close(img);
        c->broken = true;
        return;
    }
    l->img = img;
}

static vf_status vf_chain_usable(const vf_chain *c, vf_error *err)
{
    if (c->broken)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "the chain of '%s' lost a level in a failed reopen; close it",
                       c->lv[0].path);
    return VF_OK;
}

/* Without locks the read-only handle stays open until the new one is proven to be the same
 * image, so a failure leaves the chain as it was. With locks our own shared lock would
 * conflict with the exclusive one: the old handle goes first, and a failure restores it. */
vf_status vf_chain_reopen_rw(vf_chain *c, size_t level, vf_error *err)
{
    vf_status st = vf_chain_usable(c, err);
    if (st != VF_OK)
        return st;
    if (level >= c->depth)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "the chain of '%s' has no level %zu",
                       c->lv[0].path, level);
    vf_level *l = &c->lv[level];
    if (l->img->writable)
        return VF_OK;
    vf_image_info old = *vf_image_info_get(l->img);
    vf_io *io;
    /* Opening read-write first: a read-only file fails here (EACCES), the chain untouched. */
    vf_where w = {l->path, l->rel, l->trusted};
    if ((st = vf_chain_open_io(c, &w, true, &io, err)) != VF_OK)
        return st;
    if (c->opts.lock) {
        vf_image_close(l->img);
        l->img = NULL;
        if ((st = vf_io_lock(io, true, err)) != VF_OK) {
            vf_io_close(io);
            vf_chain_restore(c, level, &old);
            return st;
        }
    }
    unsigned flags = (level == 0 ? c->opts.open_flags : vf_ancestor_flags(c)) |
                     (c->opts.open_flags & VF_OPEN_RECOVER) | VF_OPEN_RDWR;
    vf_image *img;
    if ((st = vf_image_open(io, l->path, flags, &img, err)) == VF_OK) {
        const vf_image_info *ni = vf_image_info_get(img);
        if (ni->format != old.format || memcmp(ni->id, old.id, 16) != 0) {
            char was[VF_GUID_TEXT_LEN], now[VF_GUID_TEXT_LEN];
            vf_guid_text(old.format, old.id, was);
            vf_guid_text(ni->format, ni->id, now);
            vf_image_close(img);
            st = VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                         "'%s' changed while the chain was open: its id was %s and is now %s",
                         l->path, was, now);
        }
    }
    if (st != VF_OK) {
        if (!l->img)
            vf_chain_restore(c, level, &old);
        return st;
    }
    vf_image_close(l->img);
    l->img = img;
    l->virtual_size = vf_image_info_get(img)->virtual_size;
    return VF_OK;
}

/* --- flattened reads --- */

/* The run at voff (sector aligned, at most len) seen through levels [from, to]: each level
 * may only shorten the run, so every level above the answer is constant over it. A level
 * smaller than voff ends its view there: zeros, hiding everything below. */
static vf_status vf_chain_resolve(vf_chain *c, size_t from, size_t to, uint64_t voff, uint64_t len,
                                  vf_chain_extent *ext, vf_error *err)
{
    for (size_t lvl = from; lvl <= to; lvl++) {
        const vf_level *l = &c->lv[lvl];
        if (voff >= l->virtual_size) {
            *ext = (vf_chain_extent){voff, len, VF_EXTENT_ZERO, lvl, 0, false};
            return VF_OK;
        }
        if (len > l->virtual_size - voff)
            len = l->virtual_size - voff;
        vf_extent e;
        vf_status st = vf_image_map(l->img, voff, len, &e, err);
        if (st != VF_OK)
            return st;
        if (e.voff != voff || e.len == 0)
            return VF_FAIL(err, VF_E_CORRUPT, VF_OFF_NONE,
                           "'%s': the driver mapped %llu as a run at %llu of %llu bytes", l->path,
                           (unsigned long long)voff, (unsigned long long)e.voff,
                           (unsigned long long)e.len);
        if (e.len < len)
            len = e.len;
        if (e.kind != VF_EXTENT_ABSENT) {
            *ext = (vf_chain_extent){voff,
                                     len,
                                     e.kind,
                                     lvl,
                                     e.kind == VF_EXTENT_PRESENT ? e.file_off : 0,
                                     e.kind == VF_EXTENT_PRESENT && e.overlaid};
            return VF_OK;
        }
    }
    *ext = (vf_chain_extent){voff, len, VF_EXTENT_ABSENT, to, 0, false};
    return VF_OK;
}

vf_status vf_chain_map(vf_chain *c, size_t from, size_t to, uint64_t voff, uint64_t len,
                       vf_chain_extent *ext, vf_error *err)
{
    vf_status st = vf_chain_usable(c, err);
    if (st != VF_OK)
        return st;
    uint64_t size = vf_chain_virtual_size(c);
    uint32_t ss = vf_image_info_get(c->lv[0].img)->logical_sector_size;
    if (from > to || to >= c->depth || voff >= size || len == 0 || (ss && voff % ss))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s': cannot map levels %zu..%zu at %llu+%llu (depth %zu, %llu bytes)",
                       c->lv[0].path, from, to, (unsigned long long)voff, (unsigned long long)len,
                       c->depth, (unsigned long long)size);
    if (len > size - voff)
        len = size - voff;
    return vf_chain_resolve(c, from, to, voff, len, ext, err);
}

vf_status vf_chain_read(vf_chain *c, uint64_t voff, void *buf, size_t len, vf_error *err)
{
    vf_status st = vf_chain_usable(c, err);
    if (st != VF_OK)
        return st;
    uint64_t size = vf_chain_virtual_size(c);
    if (!vf_range_ok(voff, len, size))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s': range %llu+%zu is outside the virtual disk (%llu bytes)",
                       c->lv[0].path, (unsigned long long)voff, len, (unsigned long long)size);
    uint64_t ss = vf_image_info_get(c->lv[0].img)->logical_sector_size;
    if (!ss)
        ss = 512;
    uint8_t *out = buf;
    uint64_t pos = voff, end = voff + len;
    while (pos < end) {
        /* Map from the sector holding pos; one run gives one read or one memset. */
        uint64_t at = pos - pos % ss;
        vf_chain_extent e;
        if ((st = vf_chain_resolve(c, 0, c->depth - 1, at, end - at, &e, err)) != VF_OK)
            return st;
        uint64_t run_end = at + e.len < end ? at + e.len : end;
        if (run_end <= pos) /* a run inside one sector: only a broken driver does that */
            return VF_FAIL(err, VF_E_CORRUPT, VF_OFF_NONE,
                           "'%s': level %zu mapped a run of %llu bytes at %llu", c->lv[0].path,
                           e.level, (unsigned long long)e.len, (unsigned long long)at);
        size_t n = (size_t)(run_end - pos);
        /* overlaid bytes (a VHDX log held in memory) only the driver's read shows */
        if (e.kind == VF_EXTENT_PRESENT && e.overlaid)
            st = vf_image_read(c->lv[e.level].img, pos, out, n, err);
        else if (e.kind == VF_EXTENT_PRESENT)
            st = vf_io_read(vf_image_io(c->lv[e.level].img), out, n, e.file_off + (pos - at), err);
        else
            memset(out, 0, n);
        if (st != VF_OK)
            return st;
        out += n;
        pos = run_end;
    }
    return VF_OK;
}
