/* conform_case.c - one conformance case: generate the chain with `vhdfold gen`, fingerprint the
 * files the command must not touch, run the command under test with a time limit, then judge:
 * exit status, flat digest of the result against the generator's manifest, `vhdfold check`
 * of the result, untouched files. A digest failure is located by exporting the result and a
 * regenerated copy of the case and finding the first differing byte.
 * Layer: conform (private). Called by the worker threads of conform.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform_int.h"

#define VF_MAX_LEVELS 66
#define VF_TOOL_TIMEOUT_S 600.0

/* Everything one case needs while it runs. */
typedef struct vf_case_run {
    const vf_conform_ctx *ctx;
    vf_conform_result *res;
    char dir[4096];   /* work/case-N */
    char chain[4200]; /* work/case-N/chain: the generator's OUTDIR and {dir} */
    const char *gen_argv[24];
    char gen_text[2048]; /* the gen command, shell-quoted, for reproducers */
    char seed_s[32], depth_s[16], size_s[32], block_s[32];
    bool trial; /* a minimizer's trial: never kept, the reproducer is the minimizer's */
    size_t nlevels;
    char *file[VF_MAX_LEVELS]; /* absolute paths, base first */
    char sha[VF_MAX_LEVELS][65];
    char before[VF_MAX_LEVELS][65]; /* fingerprints of the files that must not change */
    char *cmd;                      /* the command under test, substituted */
} vf_case_run;

static void vf_reason_add(vf_conform_result *r, unsigned kind, const char *fmt, ...)
    VF_PRINTF(3, 4);

/* The first message of each kind is kept whole; vf_compose_reason orders them by severity. */
static void vf_reason_add(vf_conform_result *r, unsigned kind, const char *fmt, ...)
{
    unsigned bit = 0;
    while (bit < VF_CK_COUNT && kind != 1u << bit)
        bit++;
    if (bit < VF_CK_COUNT && !r->kind_msg[bit]) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&r->kind_msg[bit], fmt, ap) < 0)
            r->kind_msg[bit] = NULL;
        va_end(ap);
    }
    r->kinds |= kind;
    r->verdict = VF_VERDICT_FAIL;
}

/* Append "; TEXT" to the message of the first of kinds seen (facts found later). */
static void vf_reason_note(vf_conform_result *r, unsigned kinds, const char *fmt, ...)
    VF_PRINTF(3, 4);

static void vf_reason_note(vf_conform_result *r, unsigned kinds, const char *fmt, ...)
{
    unsigned bit = 0;
    while (bit < VF_CK_COUNT && !((kinds & r->kinds) & (1u << bit) && r->kind_msg[bit]))
        bit++;
    if (bit == VF_CK_COUNT)
        return;
    char *note = NULL, *both = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&note, fmt, ap);
    va_end(ap);
    if (n >= 0 && asprintf(&both, "%s; %s", r->kind_msg[bit], note) >= 0) {
        free(r->kind_msg[bit]);
        r->kind_msg[bit] = both;
    }
    if (n >= 0)
        free(note);
}

/* "WORST: msg; also NEXT: msg ..." in severity order, whole (no length limit). */
static void vf_compose_reason(vf_conform_result *r)
{
    size_t len = 1;
    for (unsigned i = 0; i < VF_CK_COUNT; i++)
        len += r->kind_msg[i] ? strlen(r->kind_msg[i]) + 32 : 0;
    free(r->reason);
    r->reason = calloc(1, len);
    if (!r->reason)
        return;
    for (unsigned rank = 1; rank <= VF_CK_COUNT; rank++) {
        unsigned kind = vf_conform_kind_at_rank(rank), bit = 0;
        while (kind != 1u << bit)
            bit++;
        if (!(r->kinds & kind))
            continue;
        size_t at = strlen(r->reason);
        snprintf(r->reason + at, len - at, "%s%s: %s", at ? "; also " : "",
                 vf_conform_kind_name(kind), r->kind_msg[bit] ? r->kind_msg[bit] : "failed");
    }
}

static void vf_setup_fail(vf_case_run *cr, const char *what, const vf_error *e)
{
    vf_reason_add(cr->res, VF_CK_SETUP, "%s: %s", what, e && e->msg[0] ? e->msg : "failed");
}

static void vf_text_append(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len ? " " : "", s);
}

/* argv for `TOOL gen` with the case's options into outdir, and its quoted text. */
static void vf_build_gen(vf_case_run *cr, char *outdir)
{
    const vf_conform_opts *o = cr->ctx->o;
    const vf_conform_case *c = &cr->res->c;
    snprintf(cr->seed_s, sizeof cr->seed_s, "%" PRIu64, c->gen_seed);
    snprintf(cr->depth_s, sizeof cr->depth_s, "%u", c->depth);
    snprintf(cr->size_s, sizeof cr->size_s, "%" PRIu64 "M", c->size >> 20);
    size_t n = 0;
    const char **a = cr->gen_argv;
    a[n++] = o->tool;
    a[n++] = "gen";
    a[n++] = "--format";
    a[n++] = o->format;
    a[n++] = "--seed";
    a[n++] = cr->seed_s;
    a[n++] = "--depth";
    a[n++] = cr->depth_s;
    a[n++] = "--size";
    a[n++] = cr->size_s;
    a[n++] = "--base";
    a[n++] = c->base;
    if (c->profile) {
        a[n++] = "--profile";
        a[n++] = c->profile;
    }
    if (o->density) {
        a[n++] = "--density";
        a[n++] = o->density;
    }
    if (c->block_size) {
        snprintf(cr->block_s, sizeof cr->block_s, "%" PRIu32 "K", c->block_size >> 10);
        a[n++] = "--block-size";
        a[n++] = cr->block_s;
    } else if (o->block_size) {
        a[n++] = "--block-size";
        a[n++] = o->block_size;
    }
    if (c->writes) {
        a[n++] = "--writes";
        a[n++] = c->writes;
    }
    a[n++] = outdir;
    a[n] = NULL;
    cr->gen_text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *q = vf_shell_quote(a[i]);
        vf_text_append(cr->gen_text, sizeof cr->gen_text, q ? q : a[i]);
        free(q);
    }
}

/* Run one of our own subcommands; its stdout and stderr go to dir/<tag>.out and .err. */
static vf_status vf_tool(vf_case_run *cr, const char *const argv[], const char *tag,
                         vf_proc_result *pr, vf_error *err)
{
    char out[4300], errp[4300];
    snprintf(out, sizeof out, "%s/%s.out", cr->dir, tag);
    snprintf(errp, sizeof errp, "%s/%s.err", cr->dir, tag);
    unlink(out);
    unlink(errp);
    return vf_proc_run(argv, cr->dir, out, errp, VF_TOOL_TIMEOUT_S, pr, err);
}

/* The tool's complaint: the first line of its stderr, else of its stdout. */
static void vf_tool_msg(const vf_case_run *cr, const char *tag, char *buf, size_t len)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s.err", cr->dir, tag);
    vf_first_line(p, buf, len);
    if (!buf[0]) {
        snprintf(p, sizeof p, "%s/%s.out", cr->dir, tag);
        vf_first_line(p, buf, len);
    }
}

/* The first word of exactly 64 hex digits in text, lower-cased; false when none. */
static bool vf_find_sha(const char *text, char hex[65])
{
    const char *p = text;
    while (*p) {
        size_t n = 0;
        while (isxdigit((unsigned char)p[n]))
            n++;
        bool bounded =
            (p == text || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[n]);
        if (n == 64 && bounded) {
            for (size_t i = 0; i < 64; i++)
                hex[i] = (char)tolower((unsigned char)p[i]);
            hex[64] = '\0';
            return true;
        }
        p += n ? n : 1;
    }
    return false;
}

static vf_status vf_load_manifest(vf_case_run *cr, vf_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/manifest.json", cr->chain);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE, "'%s': %s (line %d)", path, je.text, je.line);
    vf_status st = VF_OK;
    /* manifests 1 and 2 (docs/gen.md) list the levels alike, base first: both are read */
    json_int_t schema = json_integer_value(json_object_get(root, "schema"));
    if (schema != 1 && schema != 2) {
        st = VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE, "'%s': manifest schema %lld (1 or 2 read)",
                     path, (long long)schema);
        goto done;
    }
    json_t *levels = json_object_get(root, "levels");
    size_t n = json_is_array(levels) ? json_array_size(levels) : 0;
    if (n != cr->res->c.depth + 1 || n > VF_MAX_LEVELS) {
        st = VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE,
                     "'%s': field 'levels' has %zu entries, expected %u (depth + 1)", path, n,
                     cr->res->c.depth + 1);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *lv = json_array_get(levels, i);
        const char *file = json_string_value(json_object_get(lv, "file"));
        const char *sha = json_string_value(json_object_get(lv, "sha256"));
        if (!file || !sha || strlen(sha) != 64) {
            st = VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE,
                         "'%s': levels[%zu] lacks a 'file' or a 64-digit 'sha256'", path, i);
            goto done;
        }
        size_t len = strlen(cr->chain) + strlen(file) + 2;
        cr->file[i] = malloc(len);
        if (!cr->file[i]) {
            st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "manifest");
            goto done;
        }
        if (file[0] == '/')
            snprintf(cr->file[i], len, "%s", file);
        else
            snprintf(cr->file[i], len, "%s/%s", cr->chain, file);
        for (size_t k = 0; k <= 64; k++)
            cr->sha[i][k] = (char)tolower((unsigned char)sha[k]);
        cr->nlevels = i + 1;
    }
done:
    json_decref(root);
    return st;
}

static vf_status vf_make_case(vf_case_run *cr, const char *name, vf_error *err)
{
    const vf_conform_ctx *ctx = cr->ctx;
    if (name)
        snprintf(cr->dir, sizeof cr->dir, "%s/%s", ctx->work, name);
    else
        snprintf(cr->dir, sizeof cr->dir, "%s/case-%06" PRIu64, ctx->work, cr->res->c.index);
    snprintf(cr->chain, sizeof cr->chain, "%s/chain", cr->dir);
    vf_status st = vf_rm_tree(cr->dir, err);
    if (st)
        return st;
    if (mkdir(cr->dir, 0755) == -1 || mkdir(cr->chain, 0755) == -1)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot create '%s'", cr->chain);
    vf_build_gen(cr, cr->chain);
    vf_proc_result pr;
    if ((st = vf_tool(cr, cr->gen_argv, "gen", &pr, err)))
        return st;
    if (pr.timed_out || pr.signaled || pr.code) {
        char why[128], msg[2048];
        vf_proc_describe(&pr, why, sizeof why);
        vf_tool_msg(cr, "gen", msg, sizeof msg);
        return VF_FAIL(err, VF_E_IO, VF_OFF_NONE, "'vhdfold gen' %s: %s", why, msg);
    }
    return vf_load_manifest(cr, err);
}

/* Fingerprint levels [0, upto) before the command runs. */
static vf_status vf_fingerprint(vf_case_run *cr, size_t upto, vf_error *err)
{
    for (size_t i = 0; i < upto; i++) {
        vf_status st = vf_hash_file(cr->file[i], cr->before[i], err);
        if (st)
            return st;
    }
    return VF_OK;
}

static void vf_judge_untouched(vf_case_run *cr, size_t upto)
{
    for (size_t i = 0; i < upto; i++) {
        char now[65];
        vf_error e = {0};
        if (vf_hash_file(cr->file[i], now, &e)) {
            vf_reason_add(cr->res, VF_CK_TOUCHED, "level %zu '%s' is gone or unreadable: %s", i,
                          cr->file[i], e.msg);
        } else if (strcmp(now, cr->before[i])) {
            vf_reason_add(cr->res, VF_CK_TOUCHED,
                          "level %zu '%s' changed (must stay byte-for-byte the same)", i,
                          cr->file[i]);
        }
    }
}

/* The substituted command, run with /bin/sh -c in the chain folder. */
static vf_status vf_run_command(vf_case_run *cr, vf_proc_result *pr, vf_error *err)
{
    char out[4300], errp[4300];
    snprintf(out, sizeof out, "%s/command.out", cr->dir);
    snprintf(errp, sizeof errp, "%s/command.err", cr->dir);
    const char *argv[] = {"/bin/sh", "-c", cr->cmd, NULL};
    return vf_proc_run(argv, cr->chain, out, errp, cr->ctx->o->timeout_s, pr, err);
}

static void vf_judge_exit(vf_case_run *cr, const vf_proc_result *pr)
{
    cr->res->seconds = pr->seconds;
    if (!pr->timed_out && !pr->signaled && pr->code == 0)
        return;
    char why[128], msg[2048];
    vf_proc_describe(pr, why, sizeof why);
    char p[4300];
    snprintf(p, sizeof p, "%s/command.err", cr->dir);
    vf_last_line(p, msg, sizeof msg);
    vf_reason_add(cr->res, pr->timed_out ? VF_CK_TIMEOUT : VF_CK_EXIT, "the command %s%s%s", why,
                  msg[0] ? "; stderr: " : "", msg);
}

/* First differing byte of two raw files (and how many bytes differ). */
static vf_status vf_cmp_files(const char *a, const char *b, uint64_t *first, uint64_t *ndiff,
                              vf_error *err)
{
    *first = VF_OFF_NONE;
    *ndiff = 0;
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    unsigned char *ba = malloc(1u << 20), *bb = malloc(1u << 20);
    vf_status st = VF_OK;
    if (!fa || !fb || !ba || !bb) {
        st = VF_FAIL_ERRNO(err, errno ? errno : ENOMEM, VF_OFF_NONE, "comparing '%s'", a);
        goto done;
    }
    uint64_t off = 0;
    for (;;) {
        size_t na = fread(ba, 1, 1u << 20, fa), nb = fread(bb, 1, 1u << 20, fb);
        size_t n = na < nb ? na : nb;
        for (size_t i = 0; i < n; i++) {
            if (ba[i] != bb[i]) {
                if (*first == VF_OFF_NONE)
                    *first = off + i;
                (*ndiff)++;
            }
        }
        if (na != nb) {
            if (*first == VF_OFF_NONE)
                *first = off + n;
            *ndiff += (uint64_t)(na > nb ? na - nb : nb - na);
        }
        off += n;
        if (na == 0 || nb == 0)
            break;
    }
done:
    free(ba);
    free(bb);
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return st;
}

static bool vf_export(vf_case_run *cr, const char *img, const char *raw, const char *tag)
{
    const char *argv[] = {cr->ctx->o->tool, "export", img, raw, NULL};
    vf_proc_result pr;
    return !vf_tool(cr, argv, tag, &pr, NULL) && !pr.timed_out && !pr.signaled && !pr.code;
}

/* Regenerate the case into dir/expected and export SOURCE's view there into raw_e. */
static bool vf_expected_raw(vf_case_run *cr, const char *raw_e)
{
    char exp_dir[4300], exp_src[4400];
    snprintf(exp_dir, sizeof exp_dir, "%s/expected", cr->dir);
    const char *top = cr->file[cr->nlevels - 1];
    const char *base = strrchr(top, '/');
    snprintf(exp_src, sizeof exp_src, "%s/%s", exp_dir, base ? base + 1 : top);
    if (mkdir(exp_dir, 0755) == -1 && errno != EEXIST)
        return false;
    vf_build_gen(cr, exp_dir);
    vf_proc_result pr;
    bool ok = !vf_tool(cr, cr->gen_argv, "regen", &pr, NULL) && !pr.code && !pr.signaled;
    vf_build_gen(cr, cr->chain); /* the reproducer names the case folder */
    return ok && vf_export(cr, exp_src, raw_e, "export-expected");
}

/* The first differing byte of got and want into res->first_diff and where; removes both. */
static void vf_describe_diff(vf_case_run *cr, const char *got, const char *want, char *where,
                             size_t len)
{
    uint64_t first, ndiff;
    if (!vf_cmp_files(got, want, &first, &ndiff, NULL) && first != VF_OFF_NONE) {
        vf_conform_result *r = cr->res;
        r->first_diff = first;
        int n = snprintf(where, len,
                         "first differing offset %" PRIu64 " (sector %" PRIu64 ", block %" PRIu64
                         " of 2 MiB), %" PRIu64 " bytes differ",
                         first, first / 512, first >> 21, ndiff);
        if (cr->trial || r->c.writes || n < 0 || (size_t)n >= len)
            return; /* the minimizer names the writer of its trials itself */
        vf_conform_owner(cr->ctx, &r->c, first, &r->from_level, &r->from_write);
        if (r->from_level >= 0)
            snprintf(where + n, len - (size_t)n,
                     ", defined in SOURCE's view by level %d write %" PRIu32, r->from_level,
                     r->from_write);
        else
            snprintf(where + n, len - (size_t)n, ", a byte no level writes (zero)");
    }
    unlink(got);
    unlink(want);
}

/* Regenerate the case, export both views, find the first differing byte. */
static void vf_locate_diff(vf_case_run *cr, const char *result, char *where, size_t len)
{
    char raw_r[4300], raw_e[4300];
    snprintf(where, len, "first differing offset unknown");
    snprintf(raw_r, sizeof raw_r, "%s/result.raw", cr->dir);
    snprintf(raw_e, sizeof raw_e, "%s/expected.raw", cr->dir);
    if (vf_expected_raw(cr, raw_e) && vf_export(cr, result, raw_r, "export-result"))
        vf_describe_diff(cr, raw_r, raw_e, where, len);
    unlink(raw_r);
    unlink(raw_e);
}

/* A reader's wrong digest located: --reader-raw writes its view, compared with the expected
 * one (regenerated and exported as for a merge). "" when there is no --reader-raw. */
static void vf_locate_reader(vf_case_run *cr, char *where, size_t len)
{
    const vf_conform_opts *o = cr->ctx->o;
    char raw_r[4300], raw_e[4300], *cmd = NULL;
    where[0] = '\0';
    if (!o->reader_raw)
        return;
    snprintf(where, len, "first differing offset unknown (--reader-raw failed)");
    snprintf(raw_r, sizeof raw_r, "%s/reader.raw", cr->dir);
    snprintf(raw_e, sizeof raw_e, "%s/expected.raw", cr->dir);
    const char *names[] = {"top", "out"};
    const char *values[] = {cr->file[cr->nlevels - 1], raw_r};
    vf_proc_result pr;
    char out[4300], errp[4300];
    snprintf(out, sizeof out, "%s/reader-raw.out", cr->dir);
    snprintf(errp, sizeof errp, "%s/reader-raw.err", cr->dir);
    if (!vf_conform_subst(o->reader_raw, names, values, 2, true, &cmd, NULL)) {
        const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        if (!vf_proc_run(argv, cr->chain, out, errp, o->timeout_s, &pr, NULL) && !pr.code &&
            !pr.signaled && !pr.timed_out && vf_expected_raw(cr, raw_e))
            vf_describe_diff(cr, raw_r, raw_e, where, len);
    }
    free(cmd);
    unlink(raw_r);
    unlink(raw_e);
}

/* Digest and check of the merged result. */
static void vf_judge_result(vf_case_run *cr, const char *result, const char *want)
{
    struct stat sb;
    if (stat(result, &sb) == -1) {
        vf_reason_add(cr->res, VF_CK_RESULT, "the result '%s' does not exist", result);
        return;
    }
    const char *dargv[] = {cr->ctx->o->tool, "digest", result, NULL};
    vf_proc_result pr;
    char msg[2048], got[65], *text = NULL, p[4300];
    if (vf_tool(cr, dargv, "digest", &pr, NULL) || pr.code || pr.signaled) {
        vf_tool_msg(cr, "digest", msg, sizeof msg);
        vf_reason_add(cr->res, VF_CK_RESULT, "'vhdfold digest' cannot read the result: %s", msg);
        return;
    }
    snprintf(p, sizeof p, "%s/digest.out", cr->dir);
    if (vf_read_text(p, 1u << 16, &text, NULL) || !vf_find_sha(text, got)) {
        vf_reason_add(cr->res, VF_CK_RESULT, "'vhdfold digest' printed no digest");
    } else if (strcmp(got, want)) {
        char where[384];
        vf_locate_diff(cr, result, where, sizeof where);
        vf_reason_add(cr->res, VF_CK_DIGEST,
                      "flat digest of the result %.16s... differs from SOURCE's view %.16s... "
                      "before the merge; %s",
                      got, want, where);
    }
    free(text);
    const char *cargv[] = {cr->ctx->o->tool, "check", result, NULL};
    if (vf_tool(cr, cargv, "check", &pr, NULL) || pr.code || pr.signaled) {
        vf_tool_msg(cr, "check", msg, sizeof msg);
        vf_reason_add(cr->res, VF_CK_CHECK, "'vhdfold check' of the result is not clean: %s", msg);
    }
}

/* The flat digest of one file's view (its chain), or false with the tool's complaint. */
static bool vf_view_digest(vf_case_run *cr, const char *file, char got[65], char *msg, size_t len)
{
    const char *argv[] = {cr->ctx->o->tool, "digest", file, NULL};
    vf_proc_result pr;
    char p[4300], *text = NULL;
    msg[0] = '\0';
    if (vf_tool(cr, argv, "view", &pr, NULL) || pr.code || pr.signaled || pr.timed_out) {
        vf_tool_msg(cr, "view", msg, len);
        return false;
    }
    snprintf(p, sizeof p, "%s/view.out", cr->dir);
    bool ok = !vf_read_text(p, 1u << 16, &text, NULL) && vf_find_sha(text, got);
    if (!ok)
        snprintf(msg, len, "'vhdfold digest' printed no digest");
    free(text);
    return ok;
}

static const char *vf_base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The declared fate of level i (dest_level .. top) in the model in force. */
static vf_fate vf_level_fate(const vf_case_run *cr, size_t i)
{
    const vf_model *m = cr->ctx->model;
    if (i + 1 == cr->nlevels)
        return m->source;
    if (i == cr->res->c.dest_level)
        return m->dest;
    return m->intermediates;
}

static const char *vf_level_role(const vf_case_run *cr, size_t i)
{
    if (i + 1 == cr->nlevels)
        return "SOURCE";
    if (i == cr->res->c.dest_level)
        return "DESTINATION";
    return "intermediate";
}

/* After the command failed: SOURCE's view must read exactly as before, and every file the
 * model keeps must be byte-for-byte the same; otherwise the failure damaged the chain. The
 * facts listed: how SOURCE reads now and which of the files from DESTINATION up changed. */
static void vf_judge_damage(vf_case_run *cr)
{
    const char *src = cr->file[cr->nlevels - 1];
    const char *want = cr->sha[cr->nlevels - 1];
    char got[65], msg[2048], view[2300] = "", files[2048] = "";
    bool damaged = false;
    if (access(src, F_OK) != 0) {
        snprintf(view, sizeof view, "SOURCE '%s' gone", vf_base_name(src));
        damaged = true;
    } else if (!vf_view_digest(cr, src, got, msg, sizeof msg)) {
        snprintf(view, sizeof view, "SOURCE's chain unreadable ('vhdfold digest %s': %s)",
                 vf_base_name(src), msg);
        damaged = true;
    } else if (strcmp(got, want)) {
        snprintf(view, sizeof view, "SOURCE's view changed (flat digest %s, before the command %s)",
                 got, want);
        damaged = true;
    }
    for (size_t i = cr->res->c.dest_level; i < cr->nlevels; i++) {
        char now[65];
        bool gone = vf_hash_file(cr->file[i], now, NULL) != VF_OK;
        if (!gone && !strcmp(now, cr->before[i]))
            continue;
        damaged |= vf_level_fate(cr, i) == VF_FATE_KEPT;
        size_t at = strlen(files);
        snprintf(files + at, sizeof files - at, "%s%s '%s' %s", at ? ", " : "",
                 vf_level_role(cr, i), vf_base_name(cr->file[i]), gone ? "gone" : "changed");
    }
    if (!damaged) {
        vf_reason_note(cr->res, VF_CK_EXIT | VF_CK_TIMEOUT, "SOURCE's view intact%s%s",
                       files[0] ? ", but " : "", files);
        return;
    }
    vf_reason_add(cr->res, VF_CK_DAMAGE, "the failed command left %s%s%s%s",
                  view[0] ? view : "SOURCE's view intact", files[0] ? "; " : "", files,
                  files[0] ? "" : "; no file from DESTINATION up changed");
}

/* After a successful merge: each file from DESTINATION up, other than the result, is as the
 * declared model says (kept: same bytes; removed: gone). */
static void vf_judge_model(vf_case_run *cr, const char *result)
{
    const vf_model *m = cr->ctx->model;
    if (!m->declared)
        return;
    char *rres = realpath(result, NULL);
    for (size_t i = cr->res->c.dest_level; i < cr->nlevels; i++) {
        vf_fate f = vf_level_fate(cr, i);
        char *rf = realpath(cr->file[i], NULL);
        bool is_result = rf && rres && !strcmp(rf, rres);
        free(rf);
        if (f == VF_FATE_ANY || is_result)
            continue;
        char now[65];
        bool gone = vf_hash_file(cr->file[i], now, NULL) != VF_OK;
        const char *role = vf_level_role(cr, i), *name = vf_base_name(cr->file[i]);
        if (f == VF_FATE_REMOVED && !gone)
            vf_reason_add(cr->res, VF_CK_MODEL,
                          "%s '%s' still exists; the model (expectation line %u) says removed",
                          role, name, m->line);
        else if (f == VF_FATE_KEPT && (gone || strcmp(now, cr->before[i])))
            vf_reason_add(cr->res, VF_CK_MODEL,
                          "%s '%s' %s; the model (expectation line %u) says kept", role, name,
                          gone ? "is gone" : "changed", m->line);
    }
    free(rres);
}

static void vf_judge_reader(vf_case_run *cr)
{
    char p[4300], got[65], *text = NULL;
    const char *want = cr->sha[cr->nlevels - 1];
    snprintf(p, sizeof p, "%s/command.out", cr->dir);
    if (vf_read_text(p, 1u << 20, &text, NULL) || !vf_find_sha(text, got))
        vf_reason_add(cr->res, VF_CK_OUTPUT, "the reader printed no 64-digit SHA-256");
    else if (strcmp(got, want)) {
        char where[384];
        vf_locate_reader(cr, where, sizeof where);
        vf_reason_add(cr->res, VF_CK_DIGEST,
                      "the reader's digest %.16s... differs from the manifest's %.16s... for the "
                      "top level%s%s",
                      got, want, where[0] ? "; " : "", where);
    }
    free(text);
}

/* Substitute the template in force: the chain from SOURCE down to DESTINATION. */
static vf_status vf_build_command(vf_case_run *cr, char **result, vf_error *err)
{
    const vf_conform_opts *o = cr->ctx->o;
    const char *src = cr->file[cr->nlevels - 1];
    if (o->reader) {
        const char *names[] = {"top"};
        const char *values[] = {src};
        return vf_conform_subst(o->reader, names, values, 1, true, &cr->cmd, err);
    }
    size_t dl = cr->res->c.dest_level, len = 1;
    for (size_t i = dl; i < cr->nlevels; i++)
        len += strlen(cr->file[i]) + 1;
    char *chain = calloc(1, len);
    if (!chain)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "chain list");
    for (size_t i = cr->nlevels; i-- > dl;) {
        strcat(chain, cr->file[i]);
        if (i > dl)
            strcat(chain, "\n");
    }
    const char *names[] = {"source", "dest", "chain", "dir"};
    const char *values[] = {src, cr->file[dl], chain, cr->chain};
    vf_status st = vf_conform_subst(cr->ctx->impl ? cr->ctx->impl : o->impl, names, values, 4, true,
                                    &cr->cmd, err);
    if (!st)
        st = vf_conform_subst(o->result ? o->result : "{dest}", names, values, 4, false, result,
                              err);
    free(chain);
    return st;
}

/* s with every occurrence of from replaced by to (a copy of s when from is empty). */
static char *vf_rebase(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = fl ? strstr(s, from) : NULL; p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    if (!out)
        return NULL;
    char *w = out;
    const char *p = s, *hit;
    while (fl && (hit = strstr(p, from))) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, to, tl);
        w += tl;
        p = hit + fl;
    }
    strcpy(w, p);
    return out;
}

/* The reproducer, naming the folder the case lives in afterwards (the kept one, if any):
 * as text for the console and JUnit, and as argv, shell lines and cwd for the JSON report. */
static void vf_write_repro(vf_case_run *cr, const char *home)
{
    vf_conform_result *r = cr->res;
    const char *cmd = cr->cmd ? cr->cmd : "(the command was not reached)";
    size_t n = 0;
    while (cr->gen_argv[n])
        n++;
    r->gen_argv = calloc(n + 1, sizeof *r->gen_argv);
    for (size_t i = 0; r->gen_argv && i < n; i++)
        r->gen_argv[i] = vf_rebase(cr->gen_argv[i], cr->dir, home);
    r->gen_shell = vf_rebase(cr->gen_text, cr->dir, home);
    char *named = NULL; /* the adapters as installed, not the source tree's */
    const vf_conform_ctx *x = cr->ctx;
    if (x->adapters_run[0] && strcmp(x->adapters_run, x->adapters_show))
        cmd = named = vf_rebase(cmd, x->adapters_run, x->adapters_show);
    r->cmd_shell = cmd ? vf_rebase(cmd, cr->dir, home) : NULL;
    free(named);
    r->cwd = vf_rebase(cr->chain, cr->dir, home);
    char *q = r->cwd ? vf_shell_quote(r->cwd) : NULL;
    if (!q || !r->gen_shell || !r->cmd_shell)
        goto done;
    size_t len = strlen(r->gen_shell) + strlen(r->cmd_shell) + 3 * strlen(q) + 128;
    r->repro = malloc(len);
    if (r->repro)
        snprintf(r->repro, len,
                 "  reproduce: rm -rf %s && mkdir -p %s && %s\n"
                 "             cd %s && %s\n",
                 q, q, r->gen_shell, q, r->cmd_shell);
done:
    free(q);
}

/* The whole reason and the reproducer, beside the case's files (kept with --keep-failures). */
static void vf_write_reason_file(const vf_case_run *cr)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/reason.txt", cr->dir);
    FILE *f = fopen(p, "w");
    if (!f)
        return;
    fprintf(f, "%s\n%s", cr->res->reason ? cr->res->reason : "",
            cr->res->repro ? cr->res->repro : "");
    fclose(f);
}

/* Failing case folders go to --keep-failures (renamed, or copied across file systems). */
static void vf_keep(vf_case_run *cr, const char *dst)
{
    const vf_conform_opts *o = cr->ctx->o;
    mkdir(o->keep_failures, 0755);
    vf_rm_tree(dst, NULL);
    if (rename(cr->dir, dst) == 0)
        return;
    const char *argv[] = {"cp", "-a", cr->dir, dst, NULL};
    vf_proc_result pr;
    vf_proc_run(argv, NULL, NULL, NULL, VF_TOOL_TIMEOUT_S, &pr, NULL);
}

/* Where the kept copy of the case goes: absolute, so that reproducers work from anywhere. */
static char *vf_kept_dir(const vf_case_run *cr)
{
    const vf_conform_opts *o = cr->ctx->o;
    mkdir(o->keep_failures, 0755);
    char *base = realpath(o->keep_failures, NULL);
    char *dst = NULL;
    if (asprintf(&dst, "%s/seed-%" PRIu64 "-case-%06" PRIu64, base ? base : o->keep_failures,
                 o->seed, cr->res->c.index) < 0)
        dst = NULL;
    free(base);
    return dst;
}

static void vf_case_body(vf_case_run *cr, const char *name)
{
    const vf_conform_opts *o = cr->ctx->o;
    vf_error e = {0};
    char *result = NULL;
    if (vf_make_case(cr, name, &e)) {
        vf_setup_fail(cr, "generating the case", &e);
        return;
    }
    size_t keep = o->reader ? cr->nlevels : cr->res->c.dest_level;
    /* Every level: those below DESTINATION must not change, the others are judged by the
     * declared model and, after a failure, listed as facts. */
    if (vf_fingerprint(cr, cr->nlevels, &e) || vf_build_command(cr, &result, &e)) {
        vf_setup_fail(cr, "preparing the case", &e);
        free(result);
        return;
    }
    vf_proc_result pr;
    if (vf_run_command(cr, &pr, &e)) {
        vf_setup_fail(cr, "running the command", &e);
        free(result);
        return;
    }
    vf_judge_exit(cr, &pr);
    vf_judge_untouched(cr, keep);
    bool failed = cr->res->kinds & (VF_CK_EXIT | VF_CK_TIMEOUT);
    if (o->reader && !failed)
        vf_judge_reader(cr);
    else if (!o->reader && failed)
        vf_judge_damage(cr);
    else if (!o->reader) {
        vf_judge_result(cr, result, cr->sha[cr->nlevels - 1]);
        vf_judge_model(cr, result);
    }
    free(result);
}

/* Run and judge res->c (already filled) in WORK/name (NULL: case-NNNNNN); a trial is never
 * kept and its reproducer names its (removed) folder. */
static void vf_case_exec(const vf_conform_ctx *ctx, const char *name, bool trial,
                         vf_conform_result *res)
{
    res->ran = true;
    res->first_diff = VF_OFF_NONE;
    res->from_level = -1;
    res->expect_line = -1;
    vf_case_run *cr = calloc(1, sizeof *cr);
    if (!cr) {
        vf_reason_add(res, VF_CK_SETUP, "out of memory");
        return;
    }
    cr->ctx = ctx;
    cr->res = res;
    cr->trial = trial;
    vf_case_body(cr, name);
    if (res->verdict != VF_VERDICT_PASS) {
        if (!cr->gen_text[0])
            vf_build_gen(cr, cr->chain);
        vf_compose_reason(res);
        res->kept = ctx->o->keep_failures && !trial ? vf_kept_dir(cr) : NULL;
        vf_write_repro(cr, res->kept ? res->kept : cr->dir);
        vf_write_reason_file(cr);
        if (res->kept)
            vf_keep(cr, res->kept);
    }
    vf_rm_tree(cr->dir, NULL);
    for (size_t i = 0; i < VF_MAX_LEVELS; i++)
        free(cr->file[i]);
    free(cr->cmd);
    free(cr);
}

void vf_conform_case_run(const vf_conform_ctx *ctx, uint64_t index, vf_conform_result *res)
{
    memset(res, 0, sizeof *res);
    vf_conform_derive(ctx->o, index, &res->c);
    vf_case_exec(ctx, NULL, false, res);
}

void vf_conform_case_trial(const vf_conform_ctx *ctx, const vf_conform_case *c, const char *name,
                           vf_conform_result *res)
{
    memset(res, 0, sizeof *res);
    res->c = *c;
    vf_case_exec(ctx, name, true, res);
}

vf_status vf_conform_gen_argv(const vf_conform_ctx *ctx, const vf_conform_case *c,
                              const char *outdir, const char *extra, char ***argv, vf_error *err)
{
    vf_conform_result r = {.c = *c};
    vf_case_run *cr = calloc(1, sizeof *cr);
    char *dir = strdup(outdir);
    char **a = calloc(32, sizeof *a);
    vf_status st = VF_OK;
    *argv = NULL;
    if (!cr || !dir || !a) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "gen command line");
        goto done;
    }
    cr->ctx = ctx;
    cr->res = &r;
    vf_build_gen(cr, dir);
    size_t n = 0, k = 0;
    while (cr->gen_argv[n])
        n++;
    for (size_t i = 0; i + 1 < n; i++)
        a[k++] = strdup(cr->gen_argv[i]);
    if (extra)
        a[k++] = strdup(extra);
    a[k++] = strdup(dir);
    *argv = a;
    a = NULL;
done:
    free(a);
    free(dir);
    free(cr);
    return st;
}

void vf_conform_result_free(vf_conform_result *r)
{
    free(r->min.writes);
    free(r->min.shell);
    free(r->min.reason);
    free(r->reason);
    free(r->kept);
    free(r->repro);
    free(r->gen_shell);
    free(r->cmd_shell);
    free(r->cwd);
    for (size_t i = 0; r->gen_argv && r->gen_argv[i]; i++)
        free(r->gen_argv[i]);
    free(r->gen_argv);
    for (unsigned i = 0; i < VF_CK_COUNT; i++)
        free(r->kind_msg[i]);
}
