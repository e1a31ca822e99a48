/* conform.c - the conformance runner's entry point: options, the documented derivation of each
 * case from (suite seed, case index), template substitution, the worker threads that run the
 * cases, the expectation verdicts and the closing `N passed, N failed` line.
 * Layer: conform. Called by cli/cmd_conform.c; cases are built and judged in conform_case.c. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform_int.h"
#include "vf_image.h" /* vf_format_parse */

static const char *const vf_kind_names[VF_CK_COUNT] = {
    "setup", "exit", "timeout", "result", "digest", "check", "touched", "output", "damage", "model",
};

/* Worst first: a failure that loses the user's data outranks one that only refuses. damage
 * (failed, and the chain it was given no longer reads as before), touched (wrote where it must
 * not), digest (a wrong disk, silently), check (a result with structural faults), model (the
 * files around the result are not as the implementation declares), result (no readable
 * result), timeout, exit (a clean refusal), output, setup (the runner's own trouble). */
static const unsigned vf_kind_order[VF_CK_COUNT] = {
    VF_CK_DAMAGE, VF_CK_TOUCHED, VF_CK_DIGEST, VF_CK_CHECK,  VF_CK_MODEL,
    VF_CK_RESULT, VF_CK_TIMEOUT, VF_CK_EXIT,   VF_CK_OUTPUT, VF_CK_SETUP,
};

unsigned vf_conform_kind_rank(unsigned bit)
{
    for (unsigned i = 0; i < VF_CK_COUNT; i++)
        if (vf_kind_order[i] == bit)
            return i + 1;
    return VF_CK_COUNT + 1;
}

unsigned vf_conform_worst_kind(unsigned bits)
{
    for (unsigned i = 0; i < VF_CK_COUNT; i++)
        if (bits & vf_kind_order[i])
            return vf_kind_order[i];
    return 0;
}

unsigned vf_conform_kind_at_rank(unsigned r)
{
    return r >= 1 && r <= VF_CK_COUNT ? vf_kind_order[r - 1] : 0;
}

const char *vf_fate_name(vf_fate f)
{
    return f == VF_FATE_KEPT ? "kept" : f == VF_FATE_REMOVED ? "removed" : "any";
}

const char *vf_conform_kind_name(unsigned bit)
{
    for (unsigned i = 0; i < VF_CK_COUNT; i++)
        if (bit == 1u << i)
            return vf_kind_names[i];
    return "?";
}

bool vf_conform_kinds_parse(const char *text, unsigned *bits)
{
    *bits = 0;
    if (!strcmp(text, "any")) {
        *bits = (1u << VF_CK_COUNT) - 1;
        return true;
    }
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",");
        unsigned found = 0;
        for (unsigned i = 0; i < VF_CK_COUNT; i++)
            if (strlen(vf_kind_names[i]) == n && !strncmp(p, vf_kind_names[i], n))
                found = 1u << i;
        if (!found)
            return false;
        *bits |= found;
        p += n;
        if (*p == ',')
            p++;
    }
    return *bits != 0;
}

void vf_conform_opts_init(vf_conform_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = vf_format_name(vf_format_default());
    o->seed = 1;
    o->cases = 20;
    o->depth_min = 1;
    o->depth_max = 4;
    o->dest = VF_CONFORM_DEST_PARENT;
    o->base = VF_CONFORM_BASE_ANY;
    o->size_min = 4u << 20;
    o->size_max = 8u << 20;
    o->timeout_s = 60;
    o->jobs = 1;
    o->shard_k = 1;
    o->shard_n = 1;
    o->minimize_budget = 150;
}

uint64_t vf_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* docs/conform.md fixes this sequence: six draws per case, always all six, in this order, so
 * that changing one option never moves what the others draw. */
void vf_conform_derive(const vf_conform_opts *o, uint64_t index, vf_conform_case *c)
{
    uint64_t st = o->seed ^ (index * 0xD1B54A32D192ED03u);
    uint64_t r[6];
    for (size_t i = 0; i < 6; i++)
        r[i] = vf_splitmix64(&st);
    memset(c, 0, sizeof *c);
    c->index = index;
    c->gen_seed = r[0] >> 1; /* JSON manifests carry signed 64-bit integers */
    unsigned span = o->depth_max - o->depth_min + 1;
    c->depth = o->depth_min + (unsigned)(r[1] % span);
    c->profile = o->nprofiles ? o->profiles[r[2] % o->nprofiles] : NULL;
    if (o->base == VF_CONFORM_BASE_ANY)
        c->base = (r[3] & 1) ? "fixed" : "dynamic";
    else
        c->base = o->base == VF_CONFORM_BASE_FIXED ? "fixed" : "dynamic";
    uint64_t mib = 1u << 20;
    uint64_t lo = (o->size_min + mib - 1) / mib, hi = o->size_max / mib;
    if (hi < lo)
        c->size = o->size_min;
    else
        c->size = (lo + r[4] % (hi - lo + 1)) * mib;
    if (o->dest == VF_CONFORM_DEST_PARENT)
        c->dest_level = c->depth - 1;
    else if (o->dest == VF_CONFORM_DEST_BASE)
        c->dest_level = 0;
    else
        c->dest_level = (unsigned)(r[5] % c->depth);
}

/* Append n bytes to a growing string; false when out of memory. */
static bool vf_sb_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap ? *cap : 64);
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return false;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* A value holding newlines is a list: each element quoted alone, joined by spaces. */
static bool vf_sb_value(char **buf, size_t *len, size_t *cap, const char *v, bool quote)
{
    while (true) {
        size_t n = strcspn(v, "\n");
        char *elem = strndup(v, n);
        char *q = elem && quote ? vf_shell_quote(elem) : NULL;
        bool ok = elem && (!quote || q);
        if (ok)
            ok = quote ? vf_sb_add(buf, len, cap, q, strlen(q)) : vf_sb_add(buf, len, cap, v, n);
        free(q);
        free(elem);
        if (!ok)
            return false;
        if (!v[n])
            return true;
        v += n + 1;
        if (!vf_sb_add(buf, len, cap, " ", 1))
            return false;
    }
}

vf_status vf_conform_subst(const char *tmpl, const char *const *names, const char *const *values,
                           size_t n, bool quote, char **out, vf_error *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    const char *p = tmpl;
    if (!vf_sb_add(&buf, &len, &cap, "", 0))
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "substituting a template");
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            if (!vf_sb_add(&buf, &len, &cap, p, strlen(p)))
                goto nomem;
            break;
        }
        if (!vf_sb_add(&buf, &len, &cap, p, (size_t)(open - p)))
            goto nomem;
        if (open[1] == '{') { /* "{{" is a literal brace, for awk '{{print}' and the like */
            if (!vf_sb_add(&buf, &len, &cap, "{", 1))
                goto nomem;
            p = open + 2;
            continue;
        }
        size_t nlen = (size_t)(close - open - 1);
        size_t i = 0;
        while (i < n && (strlen(names[i]) != nlen || strncmp(names[i], open + 1, nlen)))
            i++;
        if (i == n) {
            free(buf);
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "template '%s': unknown placeholder '{%.*s}'", tmpl, (int)nlen,
                           open + 1);
        }
        if (!vf_sb_value(&buf, &len, &cap, values[i], quote))
            goto nomem;
        p = close + 1;
    }
    *out = buf;
    return VF_OK;
nomem:
    free(buf);
    return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "substituting a template");
}

void vf_conform_case_text(const vf_conform_case *c, char *buf, size_t len)
{
    /* dest= counts from the top as every level number does (docs/json.md): 0 is SOURCE */
    snprintf(buf, len, "gen-seed=%" PRIu64 " depth=%u dest=%u base=%s size=%" PRIu64 "M%s%s",
             c->gen_seed, c->depth, c->depth - c->dest_level, c->base, c->size >> 20,
             c->profile ? " profile=" : "", c->profile ? c->profile : "");
}

/* --- the worker pool --- */

typedef struct vf_pool {
    const vf_conform_ctx *ctx;
    vf_conform_result *res;
    const vf_expect_list *exp;
    uint64_t next, total;
    pthread_mutex_t lock;
    FILE *out;
} vf_pool;

static void vf_apply_expectations(const vf_pool *pool, vf_conform_result *r)
{
    for (size_t i = 0; i < pool->exp->count; i++) {
        vf_expect *e = &pool->exp->items[i];
        if (!vf_expect_matches(e, pool->ctx->o, &r->c))
            continue;
        e->matched++;
        /* An expectation explains a failure only through its worst kind: a line for `exit`
         * must not hide a failure that also damaged the chain. */
        if (r->verdict == VF_VERDICT_FAIL && (vf_conform_worst_kind(r->kinds) & e->kinds)) {
            e->failed++;
            if (r->expect_line < 0) {
                r->expect_line = (int)i;
                r->verdict = VF_VERDICT_KNOWN;
            }
        }
    }
}

/* The console gets at most this much of a reason; the reports and the kept case folder's
 * reason.txt hold it whole. */
#define VF_CONSOLE_REASON 400

/* Where to shorten text to at most max bytes: at the last space before it, so that no word
 * (a UUID, a path, a digest) is cut in the middle. */
static size_t vf_cut_at_word(const char *text, size_t max)
{
    size_t cut = max;
    while (cut > 0 && text[cut] != ' ')
        cut--;
    return cut ? cut : max;
}

static void vf_print_reason(FILE *out, const vf_conform_result *r)
{
    const char *reason = r->reason ? r->reason : "?";
    size_t n = strlen(reason);
    if (n <= VF_CONSOLE_REASON) {
        fputs(reason, out);
        return;
    }
    size_t cut = vf_cut_at_word(reason, VF_CONSOLE_REASON);
    fprintf(out, "%.*s ... (%zu more bytes; whole reason in %s%s)", (int)cut, reason, n - cut,
            r->kept ? r->kept : "the JSON and JUnit reports", r->kept ? "/reason.txt" : "");
}

static void vf_print_result(FILE *out, const vf_conform_result *r, const vf_expect_list *exp)
{
    char text[256];
    vf_conform_case_text(&r->c, text, sizeof text);
    if (r->verdict == VF_VERDICT_PASS) {
        fprintf(out, "case %" PRIu64 " [%s]: pass (%.2f s)\n", r->c.index, text, r->seconds);
    } else if (r->verdict == VF_VERDICT_KNOWN) {
        const vf_expect *e = &exp->items[r->expect_line];
        fprintf(out,
                "case %" PRIu64 " [%s]: known divergence (expectation line %u: %s): ", r->c.index,
                text, e->line, e->reason);
        vf_print_reason(out, r);
        fputc('\n', out);
    } else {
        fprintf(out, "case %" PRIu64 " [%s]: FAIL ", r->c.index, text);
        vf_print_reason(out, r);
        fputc('\n', out);
        if (r->repro)
            fprintf(out, "%s", r->repro);
    }
    fflush(out);
}

static void *vf_worker(void *arg)
{
    vf_pool *pool = arg;
    const vf_conform_opts *o = pool->ctx->o;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        uint64_t i = pool->next;
        while (i < pool->total && i % o->shard_n != o->shard_k - 1)
            i++;
        pool->next = i + 1;
        pthread_mutex_unlock(&pool->lock);
        if (i >= pool->total)
            return NULL;
        vf_conform_result *r = &pool->res[i];
        vf_conform_case_run(pool->ctx, i, r);
        pthread_mutex_lock(&pool->lock);
        vf_apply_expectations(pool, r);
        vf_print_result(pool->out, r, pool->exp);
        pthread_mutex_unlock(&pool->lock);
    }
}

static vf_status vf_check_opts(const vf_conform_opts *o, vf_error *err)
{
    if (!o->tool)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "no vhdfold binary given to the runner");
    if (o->impl && o->reader)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--impl and --reader exclude each other");
    if (o->depth_min < 1 || o->depth_max < o->depth_min || o->depth_max > 64)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--depth %u..%u: want 1 <= MIN <= MAX <= 64",
                       o->depth_min, o->depth_max);
    if (o->jobs < 1 || o->jobs > 256)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--jobs %u: want 1..256", o->jobs);
    if (o->shard_n < 1 || o->shard_k < 1 || o->shard_k > o->shard_n)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--shard %u/%u: want 1 <= K <= N", o->shard_k,
                       o->shard_n);
    if (o->cases > 10000000)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--cases %" PRIu64 ": at most 10000000",
                       o->cases);
    if (o->size_min < (1u << 20) || o->size_max < o->size_min)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--size: want at least 1M and MIN <= MAX");
    if (!(o->timeout_s > 0))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--timeout: want a positive number");
    if (vf_format_parse(o->format) == VF_FORMAT_NONE)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--format '%s': not an image format",
                       o->format);
    return VF_OK;
}

/* Refuse a template with an unknown placeholder before any case runs. */
static vf_status vf_check_templates(const vf_conform_opts *o, const char *impl, vf_error *err)
{
    const char *mnames[] = {"source", "dest", "chain", "dir"};
    const char *mvalues[] = {"s", "d", "s\nd", "."};
    const char *rnames[] = {"top", "out"};
    const char *rvalues[] = {"t", "o"};
    char *out = NULL;
    vf_status st;
    if (o->reader_raw && !o->reader)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--reader-raw applies to --reader only");
    if (o->reader_raw) {
        st = vf_conform_subst(o->reader_raw, rnames, rvalues, 2, true, &out, err);
        free(out);
        out = NULL;
        if (st)
            return st;
    }
    if (o->reader)
        st = vf_conform_subst(o->reader, rnames, rvalues, 1, true, &out, err);
    else
        st = vf_conform_subst(impl, mnames, mvalues, 4, true, &out, err);
    free(out);
    out = NULL;
    if (!st && o->result)
        st = vf_conform_subst(o->result, mnames, mvalues, 4, false, &out, err);
    free(out);
    return st;
}

/* A report path that cannot be written is an error before the first case, not after the last.
 * A file that did not exist before is removed again. */
static vf_status vf_check_output(const char *path, vf_error *err)
{
    if (!path)
        return VF_OK;
    struct stat sb;
    bool existed = stat(path, &sb) == 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot write the report '%s'", path);
    fclose(f);
    if (!existed)
        unlink(path);
    return VF_OK;
}

/* The work folder: the caller's (created when missing) or a new one under $TMPDIR. */
static vf_status vf_make_work(const vf_conform_opts *o, char **work, bool *owned, vf_error *err)
{
    *owned = false;
    if (o->work_dir) {
        if (mkdir(o->work_dir, 0755) == -1 && errno != EEXIST)
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot create '%s'", o->work_dir);
        *work = realpath(o->work_dir, NULL);
        if (!*work)
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot resolve '%s'", o->work_dir);
        return VF_OK;
    }
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vhdfold-conform-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(tmpl))
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot create a folder like '%s'", tmpl);
    *work = strdup(tmpl);
    *owned = true;
    if (!*work)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "work folder name");
    return VF_OK;
}

static vf_status vf_default_impl(const vf_conform_opts *o, char **impl, vf_error *err)
{
    char *q = vf_shell_quote(o->tool);
    size_t n = (q ? strlen(q) : 0) + 64;
    *impl = q ? malloc(n) : NULL;
    if (*impl)
        snprintf(*impl, n, "%s merge {source} {dest}", q);
    free(q);
    return *impl ? VF_OK : VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "default merge command");
}

/* The templates with {adapters} resolved (docs/conform.md "Adapters"): the strings are kept in
 * owned[] for the run; ctx records the folder used and the one reproducers name. */
static vf_status vf_resolve_adapters(vf_conform_opts *oc, vf_conform_ctx *ctx, char *owned[4],
                                     vf_error *err)
{
    const char **t[] = {&oc->impl, &oc->reader, &oc->reader_raw, &oc->result};
    bool any = false;
    for (size_t i = 0; i < 4; i++)
        any |= vf_conform_uses_adapters(*t[i]);
    if (!any)
        return VF_OK;
    vf_status st = vf_conform_adapters_find(ctx->adapters_run, ctx->adapters_show,
                                            sizeof ctx->adapters_run, err);
    for (size_t i = 0; !st && i < 4; i++) {
        if (!vf_conform_uses_adapters(*t[i]))
            continue;
        owned[i] = vf_conform_subst_adapters(*t[i], ctx->adapters_run);
        if (!owned[i])
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "substituting {adapters}");
        *t[i] = owned[i];
    }
    return st;
}

static vf_status vf_run_pool(vf_pool *pool, unsigned jobs, vf_error *err)
{
    pthread_t th[256];
    unsigned started = 0;
    vf_status st = VF_OK;
    for (; started < jobs; started++) {
        int rc = pthread_create(&th[started], NULL, vf_worker, pool);
        if (rc) {
            st = VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "cannot start worker %u", started + 1);
            break;
        }
    }
    if (started == 0)
        return st;
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return VF_OK;
}

/* Verdict counts; stale expectations are printed and counted as failures. */
static void vf_summarize(FILE *out, const vf_conform_result *res, uint64_t n,
                         const vf_expect_list *exp, uint64_t *passed, uint64_t *failed)
{
    uint64_t pass = 0, fail = 0, known = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!res[i].ran)
            continue;
        if (res[i].verdict == VF_VERDICT_PASS)
            pass++;
        else if (res[i].verdict == VF_VERDICT_KNOWN)
            known++;
        else
            fail++;
    }
    uint64_t stale = 0;
    for (size_t i = 0; i < exp->count; i++) {
        const vf_expect *e = &exp->items[i];
        if (e->matched && !e->failed) {
            fprintf(out,
                    "expectation line %u no longer reproduces (%" PRIu64
                    " matching cases passed): %s\n",
                    e->line, e->matched, e->reason);
            stale++;
        } else if (!e->matched) {
            fprintf(out, "expectation line %u: no case of this run matches it: %s\n", e->line,
                    e->reason);
        }
    }
    if (exp->count)
        fprintf(out, "%" PRIu64 " known divergences, %" PRIu64 " stale expectations\n", known,
                stale);
    *passed = pass + known;
    *failed = fail + stale;
    fprintf(out, "%" PRIu64 " passed, %" PRIu64 " failed\n", *passed, *failed);
    fflush(out);
}

vf_status vf_conform_run(const vf_conform_opts *o, uint64_t *passed, uint64_t *failed,
                         vf_error *err)
{
    *passed = *failed = 0;
    vf_expect_list exp = {0};
    vf_conform_opts oc = *o; /* with --adapter and {adapters} resolved */
    vf_conform_ctx ctx = {.o = &oc};
    vf_conform_result *res = NULL;
    char *tmpl[4] = {NULL, NULL, NULL, NULL};
    bool owned = false;
    vf_status st = vf_conform_adapter_apply(&oc, err);
    if (!st)
        st = vf_check_opts(&oc, err);
    if (!st)
        st = vf_resolve_adapters(&oc, &ctx, tmpl, err);
    if (st) {
        for (size_t i = 0; i < 4; i++)
            free(tmpl[i]);
        return st;
    }
    o = &oc;
    if ((st = vf_check_output(o->junit, err)) || (st = vf_check_output(o->json, err)))
        return st;
    if (o->expect && (st = vf_expect_load(o->expect, &exp, err)))
        return st;
    ctx.model = &exp.model;
    if (!o->reader && !o->impl && (st = vf_default_impl(o, &ctx.impl, err)))
        goto fail;
    if ((st = vf_check_templates(o, ctx.impl ? ctx.impl : o->impl, err)))
        goto fail;
    if ((st = vf_make_work(o, &ctx.work, &owned, err)))
        goto fail;
    res = calloc(o->cases ? o->cases : 1, sizeof *res);
    if (!res) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "%" PRIu64 " case records", o->cases);
        goto fail;
    }
    vf_pool pool = {
        .ctx = &ctx, .res = res, .exp = &exp, .total = o->cases, .out = o->out ? o->out : stdout};
    pthread_mutex_init(&pool.lock, NULL);
    st = vf_run_pool(&pool, o->jobs, err);
    pthread_mutex_destroy(&pool.lock);
    if (st)
        goto fail;
    if (o->minimize != VF_CONFORM_MIN_NONE)
        vf_conform_minimize_run(&ctx, res, o->cases, &exp, pool.out);
    vf_summarize(pool.out, res, o->cases, &exp, passed, failed);
    if (o->junit && (st = vf_conform_write_junit(o->junit, o, res, o->cases, err)))
        goto fail;
    if (o->json &&
        (st = vf_conform_write_json(o->json, o, res, o->cases, &exp, *passed, *failed, err)))
        goto fail;
fail:
    if (owned && ctx.work)
        vf_rm_tree(ctx.work, NULL);
    for (uint64_t i = 0; res && i < o->cases; i++)
        vf_conform_result_free(&res[i]);
    free(res);
    free(ctx.work);
    free(ctx.impl);
    for (size_t i = 0; i < 4; i++)
        free(tmpl[i]);
    vf_expect_free(&exp);
    return st;
}
