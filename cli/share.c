/* share.c - the CLI side of concurrency: --force-share (-U) for the read-only commands, the
 * "in use: merge of SOURCE into DEST in progress (pid N)" explanation of a lock held
 * elsewhere, and the note a pending merge journal earns (with the command that finishes it).
 * Layer: cli; the library finds and reads journals (vf_merge_pending_find). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_merge.h>

#include "output.h"

void vf_cli_share_warn(const vf_cli_common *co)
{
    static bool warned; /* one line per run, however many chains the command opens */
    if (!co->force_share || warned)
        return;
    warned = true;
    fprintf(stderr, "vhdfold: warning: --force-share: reading without locks; while a merge or "
                    "another writer runs, the view may be changing\n");
}

/* text as one shell word: '...' with each ' written '\'' (control characters as '?'). */
static void vf_shell_word(const char *text, char *out, size_t len)
{
    size_t o = 0;
    if (len < 3)
        return;
    out[o++] = '\'';
    for (const char *p = text; *p && o + 6 < len; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
    vf_text_printable(out);
}

/* The merge command that finishes p: the same SOURCE, DESTINATION and parent policy. */
static void vf_pending_command(const vf_merge_pending *p, const vf_chain *c,
                               const vf_cli_common *co, char *out, size_t len)
{
    (void)c;
    char src[1024], dst[1024], dir[1024] = "";
    if (p->source)
        vf_shell_word(p->source, src, sizeof src);
    else
        snprintf(src, sizeof src, "SOURCE");
    vf_shell_word(p->destination, dst, sizeof dst);
    if (co->parent_dir) {
        char w[1000];
        vf_shell_word(co->parent_dir, w, sizeof w);
        snprintf(dir, sizeof dir, " --parent-dir %s", w);
    }
    snprintf(out, len, "vhdfold merge %s %s%s%s", src, dst, dir,
             co->allow_absolute_parents ? " --allow-absolute-parents" : "");
}

static void vf_pending_where(const vf_merge_pending *p, const vf_chain *c, char *out, size_t len)
{
    unsigned pct = 0;
    if (p->readable && p->virtual_size)
        pct = (unsigned)(p->cursor / (p->virtual_size / 100u ? p->virtual_size / 100u : 1u));
    if (p->readable && p->phase == VF_MERGE_PHASE_COPYING)
        snprintf(out, len, "phase copying, %u%% copied", pct > 100 ? 100 : pct);
    else if (p->readable)
        snprintf(out, len, "phase %s, the copy done", vf_merge_phase_name(p->phase));
    else
        snprintf(out, len, "record unusable: %s", p->why);
    (void)c;
}

static void vf_pending_who(const vf_merge_pending *p, const vf_chain *c, char *out, size_t len)
{
    (void)c;
    if (p->source)
        snprintf(out, len, "merge of '%s' into '%s'", p->source, p->destination);
    else
        snprintf(out, len, "merge of a disk above this chain into '%s'", p->destination);
    vf_text_printable(out);
}

void vf_cli_pending_line(const vf_merge_pending *p, const vf_chain *c, const vf_cli_common *co,
                         char *out, size_t len)
{
    char who[1200], where[700], cmd[2200];
    vf_pending_who(p, c, who, sizeof who);
    vf_pending_where(p, c, where, sizeof where);
    vf_pending_command(p, c, co, cmd, sizeof cmd);
    if (p->holder > 0)
        snprintf(out, len, "in use: %s in progress (pid %lld; %s; journal '%s')", who,
                 (long long)p->holder, where, p->journal);
    else if (p->holder < 0)
        snprintf(out, len, "in use: %s in progress (pid unknown; %s; journal '%s')", who, where,
                 p->journal);
    else
        snprintf(out, len,
                 "pending merge journal '%s': an interrupted %s (%s); run the same command to "
                 "finish: %s",
                 p->journal, who, where, cmd);
    vf_text_printable(out);
}

json_t *vf_cli_pending_json(const vf_merge_pending *p, const vf_chain *c, const vf_cli_common *co)
{
    if (!p->found)
        return json_null();
    char cmd[2200], line[4096];
    vf_pending_command(p, c, co, cmd, sizeof cmd);
    vf_cli_pending_line(p, c, co, line, sizeof line);
    json_t *o = json_object();
    json_object_set_new(o, "journal", vf_json_text(p->journal));
    json_object_set_new(o, "running", json_boolean(p->holder != 0));
    json_object_set_new(o, "pid",
                        p->holder > 0 ? json_integer((json_int_t)p->holder) : json_null());
    json_object_set_new(o, "readable", json_boolean(p->readable));
    json_object_set_new(o, "phase",
                        p->readable ? vf_json_text(vf_merge_phase_name(p->phase)) : json_null());
    json_object_set_new(o, "cursor", p->readable ? vf_json_u64(p->cursor) : json_null());
    json_object_set_new(o, "virtual_size",
                        p->readable ? vf_json_u64(p->virtual_size) : json_null());
    json_object_set_new(o, "destination_level", json_integer((json_int_t)p->dest_level));
    json_object_set_new(o, "destination", vf_json_text(vf_chain_path(c, p->dest_level)));
    bool src = p->source_level != SIZE_MAX;
    json_object_set_new(o, "source_level",
                        src ? json_integer((json_int_t)p->source_level) : json_null());
    json_object_set_new(o, "source",
                        src ? vf_json_text(vf_chain_path(c, p->source_level)) : json_null());
    json_object_set_new(o, "command", p->holder ? json_null() : vf_json_text(cmd));
    json_object_set_new(o, "message", vf_json_text(line));
    return o;
}

json_t *vf_cli_pending_json_of(const vf_chain *c, const vf_cli_common *co)
{
    vf_merge_pending p;
    if (!c || !vf_cli_pending_get(c, &p))
        return json_null();
    json_t *o = vf_cli_pending_json(&p, c, co);
    vf_merge_pending_free(&p);
    return o;
}

bool vf_cli_pending_get(const vf_chain *c, vf_merge_pending *p)
{
    if (vf_merge_pending_find(c, vf_fs_posix(), p, NULL) != VF_OK)
        memset(p, 0, sizeof *p);
    return p->found;
}

void vf_cli_pending_note(const vf_chain *c, const vf_cli_common *co)
{
    vf_merge_pending p;
    if (!c || !vf_cli_pending_get(c, &p))
        return;
    char line[4096];
    vf_cli_pending_line(&p, c, co, line, sizeof line);
    fprintf(stderr, "vhdfold: note: %s\n", line);
    vf_merge_pending_free(&p);
}

/* A VF_E_BUSY: look at the chain again without locks (metadata only) for a running merge. */
void vf_cli_explain_busy(const char *path, const vf_cli_common *co, vf_error *err)
{
    vf_chain_opts opts;
    vf_chain_opts_init(&opts);
    opts.allow_absolute_parents = co->allow_absolute_parents;
    opts.parent_dir = co->parent_dir;
    vf_chain *c = NULL;
    vf_merge_pending p;
    memset(&p, 0, sizeof p);
    if (vf_chain_open_partial(path, &opts, &c, NULL, NULL) == VF_OK && vf_cli_pending_get(c, &p) &&
        p.holder != 0) {
        char line[4096];
        vf_cli_pending_line(&p, c, co, line, sizeof line);
        snprintf(err->msg, sizeof err->msg, "%.*s; --force-share (-U) reads it anyway", 400, line);
    } else if (strlen(err->msg) + 40 < sizeof err->msg) {
        strcat(err->msg, "; --force-share (-U) reads it anyway");
    }
    vf_merge_pending_free(&p);
    vf_chain_close(c);
}

vf_status vf_cli_refuse_pending_in(const vf_chain *c, const char *path, const char *cmd,
                                   vf_error *err)
{
    vf_merge_pending p;
    memset(&p, 0, sizeof p);
    vf_status st = VF_OK;
    /* a journal no merge can use (refused, no valid record) binds nothing: not a reason */
    if (c && vf_cli_pending_get(c, &p) && (p.readable || p.holder != 0)) {
        vf_cli_common co;
        memset(&co, 0, sizeof co);
        char line[3000];
        vf_cli_pending_line(&p, c, &co, line, sizeof line);
        st = VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                     "'%s' is part of a merge: %.*s; %s refused (finish the merge first)", path,
                     700, line, cmd);
    }
    vf_merge_pending_free(&p);
    return st;
}

vf_status vf_cli_refuse_pending(const char *path, const char *cmd, vf_error *err)
{
    vf_chain_opts opts;
    vf_chain_opts_init(&opts);
    vf_chain *c = NULL;
    vf_status st = VF_OK;
    if (vf_chain_open_partial(path, &opts, &c, NULL, NULL) == VF_OK)
        st = vf_cli_refuse_pending_in(c, path, cmd, err);
    vf_chain_close(c);
    return st;
}
