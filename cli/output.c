/* output.c - shared plumbing of the read-side commands: chain opening, JSON
 * and error output, and the Ctrl-C flag the engines poll.
 * Layer: cli. Used by cmd_info.c, cmd_check.c, cmd_digest.c, cmd_export.c, cmd_compare.c. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

void vf_cli_fill_chain_opts(const vf_cli_common *co, vf_chain_opts *opts)
{
    vf_chain_opts_init(opts);
    opts->fs = vf_fs_posix();
    opts->lock = !co->force_share;
    opts->allow_absolute_parents = co->allow_absolute_parents;
    opts->parent_dir = co->parent_dir;
    vf_cli_share_warn(co);
}

vf_status vf_cli_open_chain(const char *path, const vf_cli_common *co, vf_chain **out,
                            vf_error *err)
{
    vf_chain_opts opts;
    vf_cli_fill_chain_opts(co, &opts);
    vf_status st = vf_chain_open(path, &opts, out, err);
    if (st == VF_E_BUSY)
        vf_cli_explain_busy(path, co, err);
    return st;
}

vf_status vf_cli_open_chain_partial(const char *path, const vf_cli_common *co, vf_chain **out,
                                    vf_error *brk, vf_error *err)
{
    vf_chain_opts opts;
    vf_cli_fill_chain_opts(co, &opts);
    vf_status st = vf_chain_open_partial(path, &opts, out, brk, err);
    if (st == VF_E_BUSY)
        vf_cli_explain_busy(path, co, err);
    else if (st == VF_OK && brk->code == VF_E_BUSY)
        vf_cli_explain_busy(path, co, brk);
    return st;
}

vf_status vf_cli_open_image(const char *path, vf_image **out, vf_error *err)
{
    vf_io *io;
    *out = NULL;
    vf_status st = vf_io_file_open(path, VF_IO_RDONLY, &io, err);
    if (st != VF_OK)
        return st;
    return vf_image_open(io, path, 0, out, err);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t vf_utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c < 0x80                 ? 1
               : c >= 0xC2 && c <= 0xDF ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) || /* overlong, surrogate */
        (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))   /* overlong, > U+10FFFF */
        return 0;
    return n;
}

json_t *vf_json_text(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_string(text);
    if (j)
        return j;
    size_t len = strlen(text);
    char *fixed = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes */
    if (!fixed)
        return json_string("");
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = vf_utf8_len(p);
        if (n) {
            memcpy(fixed + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    fixed[o] = '\0';
    j = json_string(fixed);
    free(fixed);
    return j ? j : json_string("");
}

json_t *vf_json_u64(uint64_t v)
{
    /* json_int_t is long long: every size and offset of a disk (< 2^63) fits. */
    return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

json_t *vf_json_off(uint64_t off)
{
    return off == VF_OFF_NONE ? json_null() : vf_json_u64(off);
}

json_t *vf_json_seed(uint64_t seed)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)seed);
    return json_string(text);
}

/* Documents being collected by vf_cli_each_file (the CLI is one process, one command). */
static json_t *vf_json_collected;

void vf_json_print(json_t *obj)
{
    if (vf_json_collected) {
        json_array_append_new(vf_json_collected, obj);
        return;
    }
    /* 10 significant digits: exact for the fractions we print (parts per million, seconds) */
    json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(obj);
}

json_t *vf_json_begin(const char *cmd)
{
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_integer(VF_JSON_SCHEMA));
    json_object_set_new(o, "command", vf_json_text(cmd));
    json_object_set_new(o, "status", json_integer(VF_OK));
    json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
    json_object_set_new(o, "error", json_null());
    return o;
}

void vf_json_set_exit(json_t *doc, int exit)
{
    json_object_set_new(doc, "exit", json_integer(exit));
}

void vf_json_set_error(json_t *doc, const vf_error *err, const char *file, int exit)
{
    json_object_set_new(doc, "status", json_integer(err->code));
    json_object_set_new(doc, "exit", json_integer(exit));
    json_object_set_new(doc, "error", vf_json_error_at(err, file));
}

json_t *vf_json_error_at(const vf_error *err, const char *file)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(err->code));
    json_object_set_new(e, "name", vf_json_text(vf_status_name(err->code)));
    json_object_set_new(e, "message",
                        vf_json_text(err->msg[0] ? err->msg : vf_status_text(err->code)));
    json_object_set_new(e, "file", vf_json_text(file));
    json_object_set_new(e, "offset", vf_json_off(err->off));
    return e;
}

json_t *vf_json_error(const vf_error *err)
{
    return vf_json_error_at(err, NULL);
}

int vf_cli_fail(const char *cmd, const char *file, const vf_error *err, bool json)
{
    int code = vf_report_error(err);
    if (json) {
        json_t *o = vf_json_begin(cmd);
        vf_json_set_error(o, err, file, code);
        vf_json_print(o);
    }
    return code;
}

void vf_cli_usage_json(const char *cmd, const char *msg)
{
    vf_error err;
    vf_error_clear(&err);
    err.code = VF_E_INVAL;
    snprintf(err.msg, sizeof err.msg, "%s", msg);
    json_t *o = vf_json_begin(cmd);
    vf_json_set_error(o, &err, NULL, VF_EXIT_USAGE);
    vf_json_print(o);
}

int vf_cli_each_file(const char *cmd, char **files, size_t n, bool json,
                     int (*one)(void *ctx, const char *file), void *ctx)
{
    if (n == 1)
        return one(ctx, files[0]);
    if (json)
        vf_json_collected = json_array();
    int worst = VF_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = one(ctx, files[i]);
        if (rc > worst)
            worst = rc;
    }
    if (!json)
        return worst;
    json_t *all = vf_json_collected;
    vf_json_collected = NULL;
    json_t *o = vf_json_begin(cmd);
    /* the head tells the first failing file's status and error, as its own document does */
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *d = json_array_get(all, i), *st = json_object_get(d, "status");
        if (json_is_integer(st) && json_integer_value(st) != 0) {
            json_object_set(o, "status", st);
            json_object_set(o, "error", json_object_get(d, "error"));
            break;
        }
    }
    json_object_set_new(o, "exit", json_integer(worst));
    json_object_set_new(o, "results", all);
    vf_json_print(o);
    return worst;
}

static atomic_int vf_cancel_flag;

static void vf_on_signal(int sig)
{
    (void)sig;
    atomic_store(&vf_cancel_flag, 1);
}

const atomic_int *vf_cli_cancel_flag(void)
{
    static bool installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = vf_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        installed = true;
    }
    return &vf_cancel_flag;
}

void vf_cli_verify_opts(vf_verify_opts *opts, vf_progress_bar *bar)
{
    vf_verify_opts_init(opts);
    if (bar) {
        opts->progress = vf_progress_update;
        opts->progress_ctx = bar;
    }
    opts->cancel = vf_cli_cancel_flag();
}

void vf_cli_human_size(uint64_t bytes, char *out, size_t out_len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, out_len, "%llu bytes", (unsigned long long)bytes);
    else if (v == (double)(uint64_t)v)
        snprintf(out, out_len, "%llu %s", (unsigned long long)v, units[u]);
    else
        snprintf(out, out_len, "%.1f %s", v, units[u]);
}

void vf_cli_puts_text(const char *text)
{
    char *s = strdup(text);
    if (!s)
        return;
    vf_text_printable(s);
    fputs(s, stdout);
    free(s);
}
