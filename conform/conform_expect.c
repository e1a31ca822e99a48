/* conform_expect.c - expectation files for `vhdfold conform --expect`: the known divergences of
 * a peer, one per line, as failure kinds, a case filter and a reason. docs/conform.md gives
 * the syntax; corpus/conform/ holds the files for the peers CI runs.
 * Layer: conform (private). Loaded by conform.c before the cases run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_int.h"

static const char *const vf_keys[] = {"case", "depth", "dest", "base", "profile", "format", "size"};

static bool vf_parse_u64(const char *s, const char **end, uint64_t *v)
{
    char *e;
    errno = 0;
    unsigned long long x = strtoull(s, &e, 10);
    if (errno || e == s || *s == '-')
        return false;
    *v = x;
    *end = e;
    return true;
}

/* "N", "A..B", "A.." for the numeric keys (size in MiB). */
static bool vf_parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    const char *e;
    if (!vf_parse_u64(s, &e, lo))
        return false;
    if (!*e) {
        *hi = *lo;
        return true;
    }
    if (strncmp(e, "..", 2))
        return false;
    e += 2;
    if (!*e) {
        *hi = UINT64_MAX;
        return true;
    }
    const char *e2;
    return vf_parse_u64(e, &e2, hi) && !*e2 && *hi >= *lo;
}

static vf_status vf_parse_term(const char *path, unsigned line, char *tok, vf_expect_term *t,
                               vf_error *err)
{
    char *eq = strchr(tok, '=');
    if (!eq)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' line %u: filter '%s' is not KEY=VALUE",
                       path, line, tok);
    *eq = '\0';
    bool known = false;
    for (size_t i = 0; i < sizeof vf_keys / sizeof vf_keys[0]; i++)
        known |= !strcmp(tok, vf_keys[i]);
    if (!known || strlen(tok) >= sizeof t->key || strlen(eq + 1) >= sizeof t->value)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s' line %u: unknown filter key '%s' (want case, depth, dest, base, "
                       "profile, format or size)",
                       path, line, tok);
    snprintf(t->key, sizeof t->key, "%s", tok);
    snprintf(t->value, sizeof t->value, "%s", eq + 1);
    bool numeric = !strcmp(tok, "case") || !strcmp(tok, "depth") || !strcmp(tok, "size");
    if (numeric && !vf_parse_range(t->value, &t->lo, &t->hi))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s' line %u: filter %s='%s' is not N, A..B or A..", path, line, tok,
                       t->value);
    if (!strcmp(tok, "dest") && strcmp(t->value, "parent") && strcmp(t->value, "base") &&
        strcmp(t->value, "middle"))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s' line %u: dest='%s', want parent, base or middle", path, line,
                       t->value);
    return VF_OK;
}

/* "KINDS FILTER... -- REASON" */
static vf_status vf_parse_line(const char *path, unsigned line, char *text, vf_expect *e,
                               vf_error *err)
{
    memset(e, 0, sizeof *e);
    e->line = line;
    char *sep = strstr(text, " -- ");
    if (!sep || !sep[4])
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s' line %u: want 'KINDS [KEY=VALUE...] -- REASON'", path, line);
    *sep = '\0';
    snprintf(e->reason, sizeof e->reason, "%s", sep + 4);
    char *save = NULL;
    char *tok = strtok_r(text, " \t", &save);
    if (!tok || !vf_conform_kinds_parse(tok, &e->kinds))
        return VF_FAIL(
            err, VF_E_INVAL, VF_OFF_NONE,
            "'%s' line %u: unknown failure kind in '%s' (want any, or a comma list "
            "of setup, exit, timeout, result, digest, check, touched, output, damage, model)",
            path, line, tok ? tok : "");
    while ((tok = strtok_r(NULL, " \t", &save))) {
        if (e->nterms == sizeof e->terms / sizeof e->terms[0])
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' line %u: more than %zu filters",
                           path, line, sizeof e->terms / sizeof e->terms[0]);
        vf_status st = vf_parse_term(path, line, tok, &e->terms[e->nterms++], err);
        if (st)
            return st;
    }
    return VF_OK;
}

static bool vf_parse_fate(const char *v, vf_fate *f)
{
    if (!strcmp(v, "kept"))
        *f = VF_FATE_KEPT;
    else if (!strcmp(v, "removed"))
        *f = VF_FATE_REMOVED;
    else if (!strcmp(v, "any"))
        *f = VF_FATE_ANY;
    else
        return false;
    return true;
}

/* "model source=F intermediates=F dest=F" (F: kept, removed, any): what the implementation
 * does by design to the files from DESTINATION up besides its result. At most one per file. */
static vf_status vf_parse_model(const char *path, unsigned line, char *text, vf_model *m,
                                vf_error *err)
{
    if (m->declared)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s' line %u: a second 'model' line (the first is line %u)", path, line,
                       m->line);
    m->declared = true;
    m->line = line;
    char *save = NULL;
    for (char *tok = strtok_r(text, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        vf_fate *slot = NULL;
        if (eq) {
            *eq = '\0';
            slot = !strcmp(tok, "source")          ? &m->source
                   : !strcmp(tok, "intermediates") ? &m->intermediates
                   : !strcmp(tok, "dest")          ? &m->dest
                                                   : NULL;
        }
        if (!slot || !vf_parse_fate(eq + 1, slot))
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "'%s' line %u: model term '%s' is not source=, intermediates= or "
                           "dest= with kept, removed or any",
                           path, line, tok);
    }
    return VF_OK;
}

vf_status vf_expect_load(const char *path, vf_expect_list *list, vf_error *err)
{
    list->items = NULL;
    list->count = 0;
    memset(&list->model, 0, sizeof list->model);
    char *text = NULL;
    vf_status st = vf_read_text(path, 1u << 20, &text, err);
    if (st)
        return st;
    size_t cap = 0;
    unsigned line = 0;
    char *p = text;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *s = p + strspn(p, " \t\r");
        s[strcspn(s, "\r")] = '\0';
        p = nl ? nl + 1 : NULL;
        if (!*s || *s == '#')
            continue;
        if (!strncmp(s, "model", 5) && (s[5] == ' ' || s[5] == '\t')) {
            if ((st = vf_parse_model(path, line, s + 6, &list->model, err)))
                break;
            continue;
        }
        if (list->count == cap) {
            cap = cap ? cap * 2 : 8;
            vf_expect *n = realloc(list->items, cap * sizeof *n);
            if (!n) {
                st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "'%s'", path);
                break;
            }
            list->items = n;
        }
        if ((st = vf_parse_line(path, line, s, &list->items[list->count], err)))
            break;
        list->count++;
    }
    free(text);
    if (st)
        vf_expect_free(list);
    return st;
}

void vf_expect_free(vf_expect_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static bool vf_term_matches(const vf_expect_term *t, const vf_conform_opts *o,
                            const vf_conform_case *c)
{
    if (!strcmp(t->key, "case"))
        return c->index >= t->lo && c->index <= t->hi;
    if (!strcmp(t->key, "depth"))
        return c->depth >= t->lo && c->depth <= t->hi;
    if (!strcmp(t->key, "size"))
        return (c->size >> 20) >= t->lo && (c->size >> 20) <= t->hi;
    if (!strcmp(t->key, "base"))
        return !strcmp(t->value, c->base);
    if (!strcmp(t->key, "profile"))
        return c->profile && !strcmp(t->value, c->profile);
    if (!strcmp(t->key, "format"))
        return !strcmp(t->value, o->format);
    /* dest: where DESTINATION sits; a depth-1 case is both parent and base. */
    if (!strcmp(t->value, "parent"))
        return c->dest_level + 1 == c->depth;
    if (!strcmp(t->value, "base"))
        return c->dest_level == 0;
    return c->dest_level > 0 && c->dest_level + 1 < c->depth;
}

bool vf_expect_matches(const vf_expect *e, const vf_conform_opts *o, const vf_conform_case *c)
{
    for (size_t i = 0; i < e->nterms; i++)
        if (!vf_term_matches(&e->terms[i], o, c))
            return false;
    return true;
}
