/* conform_min.c - `conform --minimize`: shrinks a failing case while it still fails the same way
 * (same worst kind, same expectation line or none): fewer levels, a smaller block size and
 * virtual size, then delta debugging (ddmin) over the case's writes through `gen --writes`,
 * and again from the top, round after round, until a round shrinks nothing (a fixpoint). It
 * prints the smallest reproducer, runnable from an empty folder, with the first differing
 * offset and the level and write that define it. Work is counted in trial runs and bounded.
 * Layer: conform (private). Called by conform.c after the suite ran. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform_int.h"

/* One write of the case, as `gen --list-writes` prints it. */
typedef struct vf_min_write {
    unsigned level;
    uint32_t write;
    uint64_t offset, length;
    bool zero;
} vf_min_write;

typedef struct vf_min {
    const vf_conform_ctx *ctx;
    const vf_expect_list *exp;
    unsigned want_kind; /* the worst kind to keep */
    int want_line;      /* the expectation line (index) to keep, -1 = none */
    uint64_t index;     /* the original case */
    uint64_t trials, budget;
    vf_conform_case best;   /* the smallest case seen failing the same way */
    vf_conform_result last; /* the best case's judged result */
    char *writes_sel;       /* best.writes points here */
    vf_min_write *w;        /* every write of `best` before --writes */
    size_t nw;
    bool *keep;      /* of w: the writes `best` keeps (all until ddmin removes some) */
    bool stale;      /* w was listed for another block size or size than best's */
    uint32_t block0; /* the suite's block size in bytes (0: not known) */
    uint64_t shrunk; /* trials that failed the same way (each made best smaller) */
    unsigned rounds; /* passes over the steps */
    bool nolist;     /* listing the writes failed once: not tried again */
} vf_min;

/* The expectation line that explains a failure of c with these kinds (index), -1 when none. */
static int vf_min_class(const vf_min *m, const vf_conform_case *c, unsigned kinds)
{
    unsigned worst = vf_conform_worst_kind(kinds);
    for (size_t i = 0; m->exp && i < m->exp->count; i++)
        if (vf_expect_matches(&m->exp->items[i], m->ctx->o, c) && (worst & m->exp->items[i].kinds))
            return (int)i;
    return -1;
}

/* One trial: true when c fails the same way; the best result is kept. Past the budget, false. */
static bool vf_min_try(vf_min *m, const vf_conform_case *c)
{
    if (m->trials >= m->budget)
        return false;
    /* a case the expectation line's filters no longer match cannot fail as that line says */
    if (m->want_line >= 0 && !vf_expect_matches(&m->exp->items[m->want_line], m->ctx->o, c))
        return false;
    m->trials++;
    char name[64];
    snprintf(name, sizeof name, "min-%06" PRIu64 "-%04" PRIu64, m->index, m->trials);
    vf_conform_result r;
    vf_conform_case_trial(m->ctx, c, name, &r);
    bool same = r.verdict != VF_VERDICT_PASS && vf_conform_worst_kind(r.kinds) == m->want_kind &&
                vf_min_class(m, c, r.kinds) == m->want_line;
    if (same) {
        vf_conform_result_free(&m->last);
        m->last = r;
        m->best = *c;
        m->shrunk++;
    } else {
        vf_conform_result_free(&r);
    }
    return same;
}

static char *vf_min_selector(const vf_min *m, const bool *keep, unsigned nlevels);

/* Trial of c with the --writes selector sel, which is yours: on success it becomes the best
 * case's selector, else it is freed. */
static bool vf_min_try_sel(vf_min *m, vf_conform_case *c, char *sel)
{
    c->writes = sel && sel[0] ? sel : NULL;
    bool same = vf_min_try(m, c);
    if (same) {
        free(m->writes_sel);
        m->writes_sel = sel;
    } else {
        free(sel);
    }
    return same;
}

/* Forget the listed writes of the levels above depth (dropped from the top). */
static void vf_min_cut_levels(vf_min *m, unsigned depth)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].level <= depth) {
            m->w[k] = m->w[i];
            if (m->keep)
                m->keep[k] = m->keep[i];
            k++;
        }
    m->nw = k;
}

/* Fewer levels: the smallest depth that still fails (levels are dropped from the top, so the
 * lower levels stay byte-for-byte the same, and so do the writes kept there); DESTINATION
 * keeps its place (parent, base, or as low as it was). */
static void vf_min_levels(vf_min *m)
{
    unsigned depth = m->best.depth, dest = m->best.dest_level;
    for (unsigned d = 1; d < depth; d++) {
        vf_conform_case c = m->best;
        c.depth = d;
        c.dest_level = dest + 1 == depth ? d - 1 : dest < d ? dest : d - 1;
        if (m->best.writes && (!m->keep || m->stale))
            return; /* a selector without its listing: not cut safely */
        char *sel = m->keep ? vf_min_selector(m, m->keep, d + 1) : NULL;
        if (m->keep && !sel)
            return;
        if (vf_min_try_sel(m, &c, sel)) {
            vf_min_cut_levels(m, d);
            return;
        }
    }
}

/* A smaller block size, halving down to the generator's 512 KiB (gen refuses what the format
 * cannot take: that trial is a setup failure, not the same failure). */
static void vf_min_block(vf_min *m, uint32_t from)
{
    for (uint32_t bs = from / 2; bs >= (512u << 10); bs /= 2) {
        vf_conform_case c = m->best;
        c.block_size = bs;
        if (!vf_min_try(m, &c))
            return;
        m->stale = true; /* another plan: list its writes again */
    }
}

/* The smallest virtual size (whole MiB) that still fails, by bisection. */
static void vf_min_size(vf_min *m)
{
    uint64_t lo = 1, hi = m->best.size >> 20;
    while (lo < hi && m->trials < m->budget) {
        uint64_t mid = lo + (hi - lo) / 2;
        vf_conform_case c = m->best;
        c.size = mid << 20;
        if (vf_min_try(m, &c)) {
            hi = mid;
            m->stale = true;
        } else
            lo = mid + 1;
    }
}

/* The writes of case c, from `gen --list-writes` run into a scratch folder (not a trial). */
static vf_status vf_min_list(vf_min *m, const vf_conform_case *c, vf_error *err)
{
    char dir[4300], outp[4400];
    snprintf(dir, sizeof dir, "%s/min-%06" PRIu64 "-list", m->ctx->work, m->index);
    snprintf(outp, sizeof outp, "%s.json", dir);
    vf_rm_tree(dir, NULL);
    vf_conform_result tmp = {.c = *c};
    char **argv = NULL;
    vf_status st = vf_conform_gen_argv(m->ctx, &tmp.c, dir, "--list-writes", &argv, err);
    vf_proc_result pr;
    if (!st)
        st = vf_proc_run((const char *const *)argv, NULL, outp, NULL, 600, &pr, err);
    if (!st && (pr.code || pr.signaled || pr.timed_out))
        st = VF_FAIL(err, VF_E_IO, VF_OFF_NONE, "'vhdfold gen --list-writes' failed");
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
    vf_rm_tree(dir, NULL);
    json_error_t je;
    json_t *root = st ? NULL : json_load_file(outp, 0, &je);
    unlink(outp);
    if (!st && !root)
        st = VF_FAIL(err, VF_E_FORMAT, VF_OFF_NONE, "gen --list-writes: %s", je.text);
    json_t *list = root ? json_object_get(root, "writes") : NULL;
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    free(m->w);
    m->w = n ? calloc(n, sizeof *m->w) : NULL;
    m->nw = m->w ? n : 0;
    for (size_t i = 0; i < m->nw; i++) {
        json_t *e = json_array_get(list, i);
        m->w[i] =
            (vf_min_write){.level = (unsigned)json_integer_value(json_object_get(e, "level")),
                           .write = (uint32_t)json_integer_value(json_object_get(e, "write")),
                           .offset = (uint64_t)json_integer_value(json_object_get(e, "offset")),
                           .length = (uint64_t)json_integer_value(json_object_get(e, "length")),
                           .zero = json_is_true(json_object_get(e, "zero"))};
    }
    json_decref(root);
    return st;
}

/* Whether write w of a new listing is kept by the selector that keep marks over the old
 * listing: every write of a level the selector does not name, else those it names. */
static bool vf_min_was_kept(const vf_min_write *old, const bool *keep, size_t n,
                            const vf_min_write *w)
{
    if (!keep)
        return true;
    bool named = false;
    for (size_t i = 0; i < n; i++) {
        if (old[i].level != w->level)
            continue;
        if (keep[i] && old[i].write == w->write)
            return true;
        named |= !keep[i];
    }
    return !named;
}

/* List every write of the best case's plan (not a trial) and mark the ones its selector keeps;
 * needed first, and again after the block size or the size changed the plan. */
static void vf_min_relist(vf_min *m, FILE *f)
{
    vf_min_write *old = m->w;
    bool *oldkeep = m->keep;
    size_t nold = m->nw;
    m->w = NULL;
    m->nw = 0;
    m->keep = NULL;
    vf_conform_case c = m->best;
    c.writes = NULL;
    vf_error e = {0};
    if (vf_min_list(m, &c, &e) != VF_OK || !m->nw) {
        if (e.msg[0])
            fprintf(f, "minimize case %" PRIu64 ": cannot list the writes: %s\n", m->index, e.msg);
        m->nolist = true;
    }
    m->keep = m->nw ? calloc(m->nw, sizeof *m->keep) : NULL;
    for (size_t i = 0; m->keep && i < m->nw; i++)
        m->keep[i] = vf_min_was_kept(old, oldkeep, nold, &m->w[i]);
    m->stale = false;
    free(old);
    free(oldkeep);
}

/* The --writes selector keeping the writes marked in keep: every level with a write left out
 * is named ("L:none" or "L:a,b-c"); a level keeping all of them is not. */
static char *vf_min_selector(const vf_min *m, const bool *keep, unsigned nlevels)
{
    size_t cap = 64 + m->nw * 24, len = 0;
    char *s = calloc(1, cap);
    for (unsigned l = 0; s && l < nlevels; l++) {
        bool all = true, any = false;
        for (size_t i = 0; i < m->nw; i++)
            if (m->w[i].level == l) {
                all &= keep[i];
                any |= keep[i];
            }
        if (all)
            continue;
        len +=
            (size_t)snprintf(s + len, cap - len, "%s%u:%s", len ? "/" : "", l, any ? "" : "none");
        bool first = true;
        for (size_t i = 0; i < m->nw; i++) {
            if (m->w[i].level != l || !keep[i])
                continue;
            size_t j = i;
            while (j + 1 < m->nw && m->w[j + 1].level == l && keep[j + 1] &&
                   m->w[j + 1].write == m->w[j].write + 1)
                j++;
            if (j > i)
                len += (size_t)snprintf(s + len, cap - len, "%s%" PRIu32 "-%" PRIu32,
                                        first ? "" : ",", m->w[i].write, m->w[j].write);
            else
                len += (size_t)snprintf(s + len, cap - len, "%s%" PRIu32, first ? "" : ",",
                                        m->w[i].write);
            first = false;
            i = j;
        }
    }
    return s;
}

/* Trial of the writes whose indices (into m->w) are in set[0..n). */
static bool vf_min_try_set(vf_min *m, const size_t *set, size_t n)
{
    bool *keep = calloc(m->nw ? m->nw : 1, sizeof *keep);
    if (!keep)
        return false;
    for (size_t i = 0; i < n; i++)
        keep[set[i]] = true;
    char *sel = vf_min_selector(m, keep, m->best.depth + 1);
    free(keep);
    if (!sel)
        return false;
    vf_conform_case c = m->best;
    c.writes = sel[0] ? sel : NULL;
    bool same = vf_min_try(m, &c);
    if (same) {
        free(m->writes_sel);
        m->writes_sel = sel;
        m->best.writes = c.writes;
        memset(m->keep, 0, m->nw * sizeof *m->keep);
        for (size_t i = 0; i < n; i++)
            m->keep[set[i]] = true;
    } else {
        free(sel);
    }
    return same;
}

/* ddmin (Zeller and Hildebrandt, 2002) over the writes: try each of n chunks alone, then each
 * complement; keep the first that still fails; else split finer, until single writes. */
static void vf_min_ddmin(vf_min *m)
{
    size_t len = 0, *cur = malloc((m->nw ? m->nw : 1) * sizeof *cur);
    size_t *trial = malloc((m->nw ? m->nw : 1) * sizeof *trial);
    for (size_t i = 0; cur && i < m->nw; i++)
        if (m->keep[i])
            cur[len++] = i;
    size_t n = 2;
    if (cur && trial && len && vf_min_try_set(m, cur, 0))
        len = 0; /* fails with no writes at all */
    while (cur && trial && len >= 2 && m->trials < m->budget) {
        size_t chunk = (len + n - 1) / n;
        bool reduced = false;
        for (size_t k = 0; k * chunk < len && !reduced; k++) { /* a chunk alone */
            size_t a = k * chunk, b = a + chunk < len ? a + chunk : len;
            if (vf_min_try_set(m, cur + a, b - a)) {
                memmove(cur, cur + a, (b - a) * sizeof *cur);
                len = b - a;
                n = 2;
                reduced = true;
            }
        }
        for (size_t k = 0; n > 2 && k * chunk < len && !reduced; k++) { /* its complement */
            size_t a = k * chunk, b = a + chunk < len ? a + chunk : len, t = 0;
            for (size_t i = 0; i < len; i++)
                if (i < a || i >= b)
                    trial[t++] = cur[i];
            if (vf_min_try_set(m, trial, t)) {
                memcpy(cur, trial, t * sizeof *cur);
                len = t;
                n = n - 1 > 2 ? n - 1 : 2;
                reduced = true;
            }
        }
        if (!reduced) {
            if (n >= len)
                break;
            n = 2 * n < len ? 2 * n : len;
        }
    }
    free(cur);
    free(trial);
}

/* Level and write that define byte off in the view from level top, among the writes kept. */
static const vf_min_write *vf_min_owner(const vf_min *m, unsigned top, uint64_t off)
{
    for (unsigned l = top + 1; l-- > 0;) {
        const vf_min_write *hit = NULL;
        for (size_t i = 0; i < m->nw; i++) {
            const vf_min_write *w = &m->w[i];
            if (w->level == l && (!m->keep || m->keep[i]) && off >= w->offset &&
                off - w->offset < w->length)
                hit = w; /* a later write of the level replaces an earlier one */
        }
        if (hit)
            return hit;
    }
    return NULL;
}

void vf_conform_owner(const vf_conform_ctx *ctx, const vf_conform_case *c, uint64_t off, int *level,
                      uint32_t *write)
{
    vf_min m = {.ctx = ctx, .index = c->index};
    vf_conform_case full = *c;
    full.writes = NULL;
    *level = -1;
    *write = 0;
    const vf_min_write *w = vf_min_list(&m, &full, NULL) ? NULL : vf_min_owner(&m, c->depth, off);
    if (w) {
        *level = (int)w->level;
        *write = w->write;
    }
    free(m.w);
}

static char *vf_min_rebase(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(s, from); fl && p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(s) + n * tl + 1), *w = out;
    const char *p = s, *hit;
    while (out && fl && (hit = strstr(p, from))) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, to, tl);
        w += tl;
        p = hit + fl;
    }
    if (out)
        strcpy(w, p);
    return out;
}

/* "mkdir d && GEN d && cd d && CMD": the best case rebuilt in a folder d of an empty folder,
 * the command with the chain's paths made relative to d. */
static char *vf_min_shell(const vf_min *m)
{
    const vf_conform_result *r = &m->last;
    if (!r->cwd || !r->gen_shell || !r->cmd_shell)
        return NULL;
    char slash[4400];
    snprintf(slash, sizeof slash, "%s/", r->cwd);
    char *gen = vf_min_rebase(r->gen_shell, r->cwd, "d");
    char *rel = vf_min_rebase(r->cmd_shell, slash, "");
    char *cmd = rel ? vf_min_rebase(rel, r->cwd, ".") : NULL;
    char *out = NULL;
    if (gen && cmd && asprintf(&out, "mkdir d && %s && cd d && %s", gen, cmd) < 0)
        out = NULL;
    free(gen);
    free(rel);
    free(cmd);
    return out;
}

static size_t vf_min_kept(const vf_min *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nw; i++)
        k += !m->keep || m->keep[i];
    return k;
}

/* The minimized case in the result (for the JSON report) and on the console. */
static void vf_min_report(vf_min *m, const vf_conform_result *orig, vf_conform_min *out, FILE *f)
{
    const vf_conform_case *b = &m->best;
    out->done = true;
    out->trials = m->trials;
    out->rounds = m->rounds;
    out->exhausted = m->trials >= m->budget;
    out->c = *b;
    out->writes = m->writes_sel ? strdup(m->writes_sel) : NULL;
    out->c.writes = out->writes;
    out->nwrites = vf_min_kept(m);
    out->shell = vf_min_shell(m);
    out->reason = m->last.reason ? strdup(m->last.reason) : NULL;
    out->first_diff = m->last.first_diff;
    out->from_level = -1;
    const vf_min_write *w =
        out->first_diff != VF_OFF_NONE ? vf_min_owner(m, b->depth, out->first_diff) : NULL;
    if (w) {
        out->from_level = (int)w->level;
        out->from_write = w->write;
    }
    fprintf(f,
            "minimized case %" PRIu64 " (%s%s): %" PRIu64 " trials of %" PRIu64 ", %u round%s%s\n",
            orig->c.index, vf_conform_kind_name(m->want_kind),
            m->want_line >= 0 ? ", known divergence" : ", unknown divergence", m->trials, m->budget,
            m->rounds, m->rounds == 1 ? "" : "s",
            out->exhausted ? " (budget used up: may not be minimal)" : "");
    fprintf(f,
            "  depth %u -> %u, size %" PRIu64 "M -> %" PRIu64 "M, block size %s -> %" PRIu32
            "K, writes -> %zu of %zu%s%s\n",
            orig->c.depth, b->depth, orig->c.size >> 20, b->size >> 20,
            m->ctx->o->block_size ? m->ctx->o->block_size : "default",
            (b->block_size ? b->block_size : m->block0) >> 10, out->nwrites, m->nw,
            b->writes ? " --writes " : "", b->writes ? b->writes : "");
    if (out->first_diff != VF_OFF_NONE)
        fprintf(f, "  first differing offset %" PRIu64 " (sector %" PRIu64 "): %s\n",
                out->first_diff, out->first_diff / 512,
                w ? "" : "no level writes it (zeros in SOURCE's view)");
    if (w)
        fprintf(f,
                "    SOURCE's view takes it from level %u write %" PRIu32 " (offset %" PRIu64
                ", %" PRIu64 " bytes%s)\n",
                w->level, w->write, w->offset, w->length, w->zero ? ", explicit zeros" : "");
    for (size_t i = 0, shown = 0; i < m->nw && shown < 8; i++)
        if (!m->keep || m->keep[i]) {
            fprintf(f,
                    "  write kept: level %u write %" PRIu32 " offset %" PRIu64 " length %" PRIu64
                    "%s\n",
                    m->w[i].level, m->w[i].write, m->w[i].offset, m->w[i].length,
                    m->w[i].zero ? " (explicit zeros)" : "");
            shown++;
        }
    fprintf(f, "  minimized reason: %.400s\n", out->reason ? out->reason : "?");
    if (out->shell)
        fprintf(f, "  minimal reproducer (from an empty folder): %s\n", out->shell);
    fflush(f);
}

/* "2M", "512K", "1048576": the suite's --block-size in bytes; 0 when not understood. */
static uint32_t vf_min_block_bytes(const char *text)
{
    if (!text)
        return 2u << 20; /* the generator's default */
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : 0;
    if (shift)
        end++;
    if (*end || v == 0 || (v << shift) > UINT32_MAX)
        return 0;
    return (uint32_t)(v << shift);
}

static void vf_min_case(const vf_conform_ctx *ctx, const vf_expect_list *exp, vf_conform_result *r,
                        FILE *f)
{
    vf_min m = {.ctx = ctx,
                .exp = exp,
                .want_kind = vf_conform_worst_kind(r->kinds),
                .want_line = r->expect_line,
                .index = r->c.index,
                .budget = ctx->o->minimize_budget,
                .best = r->c};
    m.block0 = vf_min_block_bytes(ctx->o->block_size);
    do { /* rounds until one shrinks nothing: a depth may fail once writes are gone */
        uint64_t before = m.shrunk;
        m.rounds++;
        vf_min_levels(&m);
        uint32_t bs = m.best.block_size ? m.best.block_size : m.block0;
        if (bs)
            vf_min_block(&m, bs);
        vf_min_size(&m);
        if ((m.stale || !m.keep) && !m.nolist)
            vf_min_relist(&m, f);
        if (m.keep && !m.stale)
            vf_min_ddmin(&m);
        if (m.shrunk == before)
            break;
    } while (m.trials < m.budget);
    if (!m.last.reason) { /* nothing smaller reproduced: report the case itself */
        fprintf(f,
                "minimized case %" PRIu64 ": no smaller case fails the same way (%" PRIu64
                " trials)\n",
                r->c.index, m.trials);
        r->min.done = true;
        r->min.trials = m.trials;
    } else {
        vf_min_report(&m, r, &r->min, f);
    }
    vf_conform_result_free(&m.last);
    free(m.writes_sel);
    free(m.w);
    free(m.keep);
}

void vf_conform_minimize_run(const vf_conform_ctx *ctx, vf_conform_result *res, uint64_t n,
                             const vf_expect_list *exp, FILE *f)
{
    unsigned *seen_kind = calloc(n ? n : 1, sizeof *seen_kind);
    int *seen_line = calloc(n ? n : 1, sizeof *seen_line);
    size_t nseen = 0;
    for (uint64_t i = 0; seen_kind && seen_line && i < n; i++) {
        vf_conform_result *r = &res[i];
        if (!r->ran || r->verdict == VF_VERDICT_PASS)
            continue;
        unsigned kind = vf_conform_worst_kind(r->kinds);
        bool seen = false;
        for (size_t k = 0; k < nseen; k++)
            seen |= seen_kind[k] == kind && seen_line[k] == r->expect_line;
        if (seen && ctx->o->minimize == VF_CONFORM_MIN_CLASS)
            continue;
        if (!seen) {
            seen_kind[nseen] = kind;
            seen_line[nseen++] = r->expect_line;
        }
        vf_min_case(ctx, exp, r, f);
    }
    free(seen_kind);
    free(seen_line);
}
