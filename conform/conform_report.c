/* conform_report.c - the machine-readable reports of `vhdfold conform`: JUnit XML (one
 * testcase per case, for CI dashboards) and JSON (schema 1, for scripts).
 * Layer: conform (private). Written by conform.c after the cases ran. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_int.h"

static void vf_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

static const char *vf_verdict_name(vf_verdict v)
{
    return v == VF_VERDICT_PASS ? "pass" : v == VF_VERDICT_KNOWN ? "known" : "fail";
}

vf_status vf_conform_write_junit(const char *path, const vf_conform_opts *o,
                                 const vf_conform_result *res, uint64_t n, vf_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot create '%s'", path);
    uint64_t total = 0, failures = 0, skipped = 0;
    for (uint64_t i = 0; i < n; i++) {
        total += res[i].ran;
        failures += res[i].ran && res[i].verdict == VF_VERDICT_FAIL;
        skipped += res[i].ran && res[i].verdict == VF_VERDICT_KNOWN;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<testsuite name=\"vhdfold-conform\" tests=\"%" PRIu64 "\" failures=\"%" PRIu64
            "\" skipped=\"%" PRIu64 "\">\n",
            total, failures, skipped);
    fprintf(f, "  <properties><property name=\"seed\" value=\"%" PRIu64 "\"/>", o->seed);
    fprintf(f, "<property name=\"format\" value=\"%s\"/>", o->format);
    fprintf(f, "<property name=\"severity_order\" value=\"");
    for (unsigned r = 1; r <= VF_CK_COUNT; r++)
        fprintf(f, "%s%s", r > 1 ? "," : "", vf_conform_kind_name(vf_conform_kind_at_rank(r)));
    fprintf(f, "\"/></properties>\n");
    for (uint64_t i = 0; i < n; i++) {
        const vf_conform_result *r = &res[i];
        if (!r->ran)
            continue;
        char text[256];
        vf_conform_case_text(&r->c, text, sizeof text);
        fprintf(f, "  <testcase classname=\"conform\" name=\"case %" PRIu64 " [", r->c.index);
        vf_xml_text(f, text);
        fprintf(f, "]\" time=\"%.3f\"", r->seconds);
        if (r->verdict == VF_VERDICT_PASS) {
            fprintf(f, "/>\n");
            continue;
        }
        unsigned worst = vf_conform_worst_kind(r->kinds);
        fprintf(f, ">\n    <%s type=\"%s\" severity=\"%u\" message=\"",
                r->verdict == VF_VERDICT_KNOWN ? "skipped" : "failure", vf_conform_kind_name(worst),
                vf_conform_kind_rank(worst));
        vf_xml_text(f, r->reason ? r->reason : "");
        fprintf(f, "\">");
        if (r->repro)
            vf_xml_text(f, r->repro);
        fprintf(f, "</%s>\n  </testcase>\n",
                r->verdict == VF_VERDICT_KNOWN ? "skipped" : "failure");
    }
    fprintf(f, "</testsuite>\n");
    if (fclose(f) != 0)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot write '%s'", path);
    return VF_OK;
}

/* The reproducer as data: the gen argv, the command's argv and folder, and the shell text. */
static json_t *vf_repro_json(const vf_conform_result *r)
{
    if (!r->gen_argv || !r->cmd_shell || !r->cwd)
        return NULL;
    json_t *gen = json_array();
    for (size_t i = 0; r->gen_argv[i]; i++)
        json_array_append_new(gen, json_string(r->gen_argv[i]));
    json_t *cmd = json_pack("[s, s, s]", "/bin/sh", "-c", r->cmd_shell);
    return json_pack("{s:o, s:o, s:s, s:s?}", "gen_argv", gen, "command_argv", cmd, "cwd", r->cwd,
                     "shell", r->repro);
}

/* What --minimize found (docs/conform.md "Minimization"); NULL when it did not run. */
static json_t *vf_min_json(const vf_conform_result *r, uint64_t budget)
{
    const vf_conform_min *m = &r->min;
    if (!m->done)
        return NULL;
    json_t *j =
        json_pack("{s:I, s:I, s:b, s:I}", "trials", (json_int_t)m->trials, "budget",
                  (json_int_t)budget, "exhausted", m->exhausted, "rounds", (json_int_t)m->rounds);
    if (!m->shell)
        return j; /* nothing smaller failed the same way */
    json_object_set_new(j, "depth", json_integer(m->c.depth));
    json_object_set_new(j, "dest_level", json_integer(m->c.dest_level));
    json_object_set_new(j, "size", json_integer((json_int_t)m->c.size));
    json_object_set_new(j, "block_size",
                        m->c.block_size ? json_integer(m->c.block_size) : json_null());
    json_object_set_new(j, "writes", m->writes ? json_string(m->writes) : json_null());
    json_object_set_new(j, "writes_kept", json_integer((json_int_t)m->nwrites));
    json_object_set_new(j, "first_diff",
                        m->first_diff != VF_OFF_NONE ? json_integer((json_int_t)m->first_diff)
                                                     : json_null());
    json_object_set_new(j, "from_level",
                        m->from_level >= 0 ? json_integer(m->from_level) : json_null());
    json_object_set_new(j, "from_write",
                        m->from_level >= 0 ? json_integer(m->from_write) : json_null());
    json_object_set_new(j, "reason", json_string(m->reason ? m->reason : ""));
    json_object_set_new(j, "shell", json_string(m->shell));
    return j;
}

static json_t *vf_case_json(const vf_conform_result *r, const vf_expect_list *exp, uint64_t budget)
{
    const vf_conform_case *c = &r->c;
    json_t *kinds = json_array();
    for (unsigned rank = 1; rank <= VF_CK_COUNT; rank++)
        if (r->kinds & vf_conform_kind_at_rank(rank))
            json_array_append_new(kinds,
                                  json_string(vf_conform_kind_name(vf_conform_kind_at_rank(rank))));
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->gen_seed);
    /* docs/json.md: seeds are decimal strings, levels count from the top (SOURCE is 0) */
    json_t *j = json_pack(
        "{s:I, s:s, s:{s:s, s:i, s:i, s:s, s:I, s:s?}, s:o, s:f}", "index", (json_int_t)c->index,
        "verdict", vf_verdict_name(r->verdict), "case", "gen_seed", seed, "depth", (int)c->depth,
        "dest_level", (int)(c->depth - c->dest_level), "base", c->base, "virtual_size",
        (json_int_t)c->size, "profile", c->profile, "kinds", kinds, "seconds", r->seconds);
    if (!j)
        return NULL;
    if (r->verdict != VF_VERDICT_PASS) {
        unsigned worst = vf_conform_worst_kind(r->kinds);
        json_object_set_new(j, "kind", json_string(vf_conform_kind_name(worst)));
        json_object_set_new(j, "severity", json_integer(vf_conform_kind_rank(worst)));
        json_object_set_new(j, "reason", json_string(r->reason ? r->reason : ""));
        json_t *rep = vf_repro_json(r);
        if (rep)
            json_object_set_new(j, "reproduce", rep);
        if (r->kept)
            json_object_set_new(j, "kept", json_string(r->kept));
    }
    if (r->first_diff != VF_OFF_NONE)
        json_object_set_new(j, "first_diff", json_integer((json_int_t)r->first_diff));
    if (r->first_diff != VF_OFF_NONE && r->from_level >= 0) {
        json_object_set_new(j, "from_level", json_integer(r->from_level));
        json_object_set_new(j, "from_write", json_integer(r->from_write));
    }
    if (r->expect_line >= 0)
        json_object_set_new(j, "expectation_line", json_integer(exp->items[r->expect_line].line));
    json_t *min = vf_min_json(r, budget);
    if (min)
        json_object_set_new(j, "minimized", min);
    return j;
}

vf_status vf_conform_write_json(const char *path, const vf_conform_opts *o,
                                const vf_conform_result *res, uint64_t n, const vf_expect_list *exp,
                                uint64_t passed, uint64_t failed, vf_error *err)
{
    json_t *cases = json_array(), *exps = json_array();
    for (uint64_t i = 0; i < n; i++)
        if (res[i].ran)
            json_array_append_new(cases, vf_case_json(&res[i], exp, o->minimize_budget));
    for (size_t i = 0; i < exp->count; i++) {
        const vf_expect *e = &exp->items[i];
        const char *state = !e->matched ? "unmatched" : e->failed ? "reproduced" : "stale";
        json_array_append_new(exps,
                              json_pack("{s:i, s:s, s:s, s:I, s:I}", "line", (int)e->line, "reason",
                                        e->reason, "state", state, "matched",
                                        (json_int_t)e->matched, "failed", (json_int_t)e->failed));
    }
    json_t *order = json_array();
    for (unsigned r = 1; r <= VF_CK_COUNT; r++)
        json_array_append_new(order, json_string(vf_conform_kind_name(vf_conform_kind_at_rank(r))));
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    /* the head of docs/json.md (schema 2, command, status, exit, error), then the report */
    json_t *root = json_pack(
        "{s:i, s:s, s:i, s:i, s:n, s:s, s:s, s:I, s:s, s:I, s:I, s:o, s:o, s:o}", "schema", 2,
        "command", "conform", "status", 0, "exit", failed ? 1 : 0, "error", "mode",
        o->reader ? "reader" : "merge", "seed", seed, "cases_total", (json_int_t)o->cases, "format",
        o->format, "passed", (json_int_t)passed, "failed", (json_int_t)failed, "cases", cases,
        "expectations", exps, "severity_order", order);
    if (!root)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "building the JSON report");
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot write '%s'", path);
    return VF_OK;
}
