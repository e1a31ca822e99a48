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
    char seed_s[32], depth_s[16], size_s[32];
    size_t nlevels;
    char *file[VF_MAX_LEVELS]; /* absolute paths, base first */
    char sha[VF_MAX_LEVELS][65];
    char before[VF_MAX_LEVELS][65]; /* fingerprints of the files that must not change */
    char *cmd;                      /* the command under test, substituted */
} vf_case_run;

static void vf_reason_add(vf_conform_result *r, unsigned kind, const char *fmt, ...)
    VF_PRINTF(3, 4);

/* The first failure gives the reason; later ones are listed after it. */
static void vf_reason_add(vf_conform_result *r, unsigned kind, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = strlen(r->reason);
    if (!r->kinds)
        snprintf(r->reason, sizeof r->reason, "%s: %s", vf_conform_kind_name(kind), msg);
    else if (!(r->kinds & kind))
        snprintf(r->reason + len, sizeof r->reason - len, "; also %s: %s",
                 vf_conform_kind_name(kind), msg);
    r->kinds |= kind;
    r->verdict = VF_VERDICT_FAIL;
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
    if (o->block_size) {
        a[n++] = "--block-size";
        a[n++] = o->block_size;
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

static vf_status vf_make_case(vf_case_run *cr, vf_error *err)
{
    const vf_conform_ctx *ctx = cr->ctx;
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
        char why[128], msg[300];
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
    char why[128], msg[300];
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

/* Regenerate the case into dir/expected, export both views, find the first differing byte. */
static void vf_locate_diff(vf_case_run *cr, const char *result, char *where, size_t len)
{
    char exp_dir[4300], exp_src[4400], raw_r[4300], raw_e[4300];
    snprintf(where, len, "first differing offset unknown");
    snprintf(exp_dir, sizeof exp_dir, "%s/expected", cr->dir);
    snprintf(raw_r, sizeof raw_r, "%s/result.raw", cr->dir);
    snprintf(raw_e, sizeof raw_e, "%s/expected.raw", cr->dir);
    const char *top = cr->file[cr->nlevels - 1];
    const char *base = strrchr(top, '/');
    snprintf(exp_src, sizeof exp_src, "%s/%s", exp_dir, base ? base + 1 : top);
    if (mkdir(exp_dir, 0755) == -1 && errno != EEXIST)
        return;
    vf_build_gen(cr, exp_dir);
    vf_proc_result pr;
    bool ok = !vf_tool(cr, cr->gen_argv, "regen", &pr, NULL) && !pr.code && !pr.signaled;
    vf_build_gen(cr, cr->chain); /* the reproducer names the case folder */
    if (ok && vf_export(cr, result, raw_r, "export-result") &&
        vf_export(cr, exp_src, raw_e, "export-expected")) {
        uint64_t first, ndiff;
        if (!vf_cmp_files(raw_r, raw_e, &first, &ndiff, NULL) && first != VF_OFF_NONE) {
            cr->res->first_diff = first;
            snprintf(where, len,
                     "first differing offset %" PRIu64 " (sector %" PRIu64 ", block %" PRIu64
                     " of 2 MiB), %" PRIu64 " bytes differ",
                     first, first / 512, first >> 21, ndiff);
        }
    }
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
    char msg[300], got[65], *text = NULL, p[4300];
    if (vf_tool(cr, dargv, "digest", &pr, NULL) || pr.code || pr.signaled) {
        vf_tool_msg(cr, "digest", msg, sizeof msg);
        vf_reason_add(cr->res, VF_CK_RESULT, "'vhdfold digest' cannot read the result: %s", msg);
        return;
    }
    snprintf(p, sizeof p, "%s/digest.out", cr->dir);
    if (vf_read_text(p, 1u << 16, &text, NULL) || !vf_find_sha(text, got)) {
        vf_reason_add(cr->res, VF_CK_RESULT, "'vhdfold digest' printed no digest");
    } else if (strcmp(got, want)) {
        char where[256];
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

static void vf_judge_reader(vf_case_run *cr)
{
    char p[4300], got[65], *text = NULL;
    const char *want = cr->sha[cr->nlevels - 1];
    snprintf(p, sizeof p, "%s/command.out", cr->dir);
    if (vf_read_text(p, 1u << 20, &text, NULL) || !vf_find_sha(text, got))
        vf_reason_add(cr->res, VF_CK_OUTPUT, "the reader printed no 64-digit SHA-256");
    else if (strcmp(got, want))
        vf_reason_add(cr->res, VF_CK_DIGEST,
                      "the reader's digest %.16s... differs from the manifest's %.16s... for the "
                      "top level",
                      got, want);
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

static void vf_write_repro(vf_case_run *cr)
{
    const char *cmd = cr->cmd ? cr->cmd : "(the command was not reached)";
    char *q = vf_shell_quote(cr->chain);
    size_t len = strlen(cr->gen_text) + strlen(cmd) + (q ? 3 * strlen(q) : 0) + 128;
    cr->res->repro = q ? malloc(len) : NULL;
    if (cr->res->repro)
        snprintf(cr->res->repro, len,
                 "  reproduce: rm -rf %s && mkdir -p %s && %s\n"
                 "             cd %s && %s\n",
                 q, q, cr->gen_text, q, cmd);
    free(q);
}

/* Failing case folders go to --keep-failures (renamed, or copied across file systems). */
static void vf_keep(vf_case_run *cr)
{
    const vf_conform_opts *o = cr->ctx->o;
    char dst[4300];
    snprintf(dst, sizeof dst, "%s/seed-%" PRIu64 "-case-%06" PRIu64, o->keep_failures, o->seed,
             cr->res->c.index);
    mkdir(o->keep_failures, 0755);
    vf_rm_tree(dst, NULL);
    if (rename(cr->dir, dst) == 0)
        return;
    const char *argv[] = {"cp", "-a", cr->dir, dst, NULL};
    vf_proc_result pr;
    vf_proc_run(argv, NULL, NULL, NULL, VF_TOOL_TIMEOUT_S, &pr, NULL);
}

static void vf_case_body(vf_case_run *cr)
{
    const vf_conform_opts *o = cr->ctx->o;
    vf_error e = {0};
    char *result = NULL;
    if (vf_make_case(cr, &e)) {
        vf_setup_fail(cr, "generating the case", &e);
        return;
    }
    size_t keep = o->reader ? cr->nlevels : cr->res->c.dest_level;
    if (vf_fingerprint(cr, keep, &e) || vf_build_command(cr, &result, &e)) {
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
    if (o->reader && !(cr->res->kinds & (VF_CK_EXIT | VF_CK_TIMEOUT)))
        vf_judge_reader(cr);
    else if (!o->reader && !(cr->res->kinds & (VF_CK_EXIT | VF_CK_TIMEOUT)))
        vf_judge_result(cr, result, cr->sha[cr->nlevels - 1]);
    free(result);
}

void vf_conform_case_run(const vf_conform_ctx *ctx, uint64_t index, vf_conform_result *res)
{
    memset(res, 0, sizeof *res);
    vf_conform_derive(ctx->o, index, &res->c);
    res->ran = true;
    res->first_diff = VF_OFF_NONE;
    res->expect_line = -1;
    vf_case_run *cr = calloc(1, sizeof *cr);
    if (!cr) {
        vf_reason_add(res, VF_CK_SETUP, "out of memory");
        return;
    }
    cr->ctx = ctx;
    cr->res = res;
    vf_case_body(cr);
    if (res->verdict != VF_VERDICT_PASS) {
        if (!cr->gen_text[0])
            vf_build_gen(cr, cr->chain);
        vf_write_repro(cr);
        if (ctx->o->keep_failures)
            vf_keep(cr);
    }
    vf_rm_tree(cr->dir, NULL);
    for (size_t i = 0; i < VF_MAX_LEVELS; i++)
        free(cr->file[i]);
    free(cr->cmd);
    free(cr);
}
