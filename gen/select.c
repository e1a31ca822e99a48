/* select.c - replaying a subset of the planned writes (`gen --writes`, vf_gen_opts.writes) and
 * listing the plan's writes (vf_gen_list_writes, `gen --list-writes`), so that a failing case can
 * be shrunk write by write (the conformance runner's --minimize).
 * Layer: gen. The plan is drawn whole first (model.c); the selection only removes writes, so the
 * writes kept keep their numbers, places and bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* One number of a selector; false when text does not start with digits. */
static bool vf_sel_number(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (uint64_t)(*s++ - '0');
        if (n > UINT32_MAX)
            return false;
    }
    *v = n;
    *p = s;
    return true;
}

static vf_status vf_sel_bad(const char *sel, const char *at, const char *why, vf_error *err)
{
    return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--writes '%s': %s at offset %u", sel, why,
                   (unsigned)(at - sel));
}

/* Parse the LIST of one group into keep[1..nw] (plan given) or only check its syntax (NULL). */
static vf_status vf_sel_list(const char *sel, const char **p, bool *keep, size_t nw, unsigned level,
                             vf_error *err)
{
    if (!strncmp(*p, "none", 4)) {
        *p += 4;
        return VF_OK;
    }
    for (;;) {
        uint64_t a, b;
        const char *at = *p;
        if (!vf_sel_number(p, &a) || a == 0)
            return vf_sel_bad(sel, at, "expected a write number (from 1) or 'none'", err);
        b = a;
        if (**p == '-') {
            (*p)++;
            if (!vf_sel_number(p, &b) || b < a)
                return vf_sel_bad(sel, *p, "expected the end of a range A-B with B >= A", err);
        }
        if (keep && b > nw)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "--writes '%s': level %u has %zu writes, no write %llu", sel, level, nw,
                           (unsigned long long)b);
        for (uint64_t w = a; keep && w <= b; w++)
            keep[w] = true;
        if (**p != ',')
            return VF_OK;
        (*p)++;
    }
}

/* Walk the selector: for a plan, fill keep[level] (NULL for levels not named); without one,
 * check the syntax and that each level is at most depth. */
static vf_status vf_sel_walk(const char *sel, unsigned depth, const vf_gen_plan *plan, bool **keep,
                             vf_error *err)
{
    const char *p = sel;
    for (;;) {
        uint64_t level;
        const char *at = p;
        if (!vf_sel_number(&p, &level) || *p != ':')
            return vf_sel_bad(sel, at, "expected LEVEL:LIST", err);
        if (level > depth)
            return vf_sel_bad(sel, at, "no such level (levels are 0 to --depth)", err);
        p++;
        bool *k = NULL;
        if (plan) {
            if (keep[level])
                return vf_sel_bad(sel, at, "level named twice", err);
            size_t nw = plan->lv[level].nw;
            if (!(k = keep[level] = calloc(nw + 1, sizeof *k)))
                return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "--writes selection");
        }
        vf_status st = vf_sel_list(sel, &p, k, plan ? plan->lv[level].nw : 0, (unsigned)level, err);
        if (st != VF_OK)
            return st;
        if (!*p)
            return VF_OK;
        if (*p != '/')
            return vf_sel_bad(sel, p, "expected '/' between levels", err);
        p++;
    }
}

vf_status vf_gen_select_check(const vf_gen_opts *opts, vf_error *err)
{
    if (!opts->writes)
        return VF_OK;
    return vf_sel_walk(opts->writes, opts->depth, NULL, NULL, err);
}

/* Keep only the marked writes of one level and rebuild its extent map from them, in order. */
static vf_status vf_sel_level(vf_gen_plan *plan, vf_gen_plan_level *lv, const bool *keep,
                              vf_error *err)
{
    size_t out = 0;
    for (size_t i = 0; i < lv->nw; i++) {
        if (keep[lv->w[i].write])
            lv->w[out++] = lv->w[i];
        else
            plan->total_bytes -= lv->w[i].len;
    }
    lv->nw = out;
    vf_gen_map_free(&lv->map);
    for (size_t i = 0; i < lv->nw; i++) {
        const vf_gen_write *w = &lv->w[i];
        vf_status st = vf_gen_map_put(&lv->map, w->voff, w->len, w->write, w->zero, err);
        if (st != VF_OK)
            return st;
    }
    return VF_OK;
}

vf_status vf_gen_select_apply(vf_gen_plan *plan, vf_error *err)
{
    const char *sel = plan->opts.writes;
    if (!sel)
        return VF_OK;
    bool **keep = calloc(plan->nlevels, sizeof *keep);
    if (!keep)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "--writes selection");
    vf_status st = vf_sel_walk(sel, plan->nlevels - 1, plan, keep, err);
    for (unsigned l = 0; st == VF_OK && l < plan->nlevels; l++)
        if (keep[l])
            st = vf_sel_level(plan, &plan->lv[l], keep[l], err);
    for (unsigned l = 0; l < plan->nlevels; l++)
        free(keep[l]);
    free(keep);
    return st;
}

vf_status vf_gen_list_fill(const vf_gen_plan *plan, vf_gen_write_info **out, size_t *n,
                           vf_error *err)
{
    size_t total = 0;
    for (unsigned l = 0; l < plan->nlevels; l++)
        total += plan->lv[l].nw;
    if (total == 0)
        return VF_OK;
    vf_gen_write_info *v = calloc(total, sizeof *v);
    if (!v)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "listing %zu writes", total);
    size_t k = 0;
    for (unsigned l = 0; l < plan->nlevels; l++)
        for (size_t i = 0; i < plan->lv[l].nw; i++) {
            const vf_gen_write *w = &plan->lv[l].w[i];
            v[k++] = (vf_gen_write_info){.level = l,
                                         .write = w->write,
                                         .offset = w->voff,
                                         .length = w->len,
                                         .zero = w->zero,
                                         .trim = w->trim};
        }
    *out = v;
    *n = total;
    return VF_OK;
}

void vf_gen_writes_free(vf_gen_write_info *writes)
{
    free(writes);
}
