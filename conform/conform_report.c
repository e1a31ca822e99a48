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
    fprintf(f, "<property name=\"format\" value=\"%s\"/></properties>\n", o->format);
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
        fprintf(f, ">\n    <%s message=\"", r->verdict == VF_VERDICT_KNOWN ? "skipped" : "failure");
        vf_xml_text(f, r->reason);
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

static json_t *vf_case_json(const vf_conform_result *r, const vf_expect_list *exp)
{
    const vf_conform_case *c = &r->c;
    json_t *kinds = json_array();
    for (unsigned b = 0; b < VF_CK_COUNT; b++)
        if (r->kinds & (1u << b))
            json_array_append_new(kinds, json_string(vf_conform_kind_name(1u << b)));
    json_t *j = json_pack("{s:I, s:s, s:{s:I, s:i, s:i, s:s, s:I, s:s?}, s:o, s:f}", "index",
                          (json_int_t)c->index, "verdict", vf_verdict_name(r->verdict), "case",
                          "gen_seed", (json_int_t)c->gen_seed, "depth", (int)c->depth, "dest_level",
                          (int)c->dest_level, "base", c->base, "size", (json_int_t)c->size,
                          "profile", c->profile, "kinds", kinds, "seconds", r->seconds);
    if (!j)
        return NULL;
    if (r->verdict != VF_VERDICT_PASS) {
        json_object_set_new(j, "reason", json_string(r->reason));
        if (r->repro)
            json_object_set_new(j, "reproduce", json_string(r->repro));
    }
    if (r->first_diff != VF_OFF_NONE)
        json_object_set_new(j, "first_diff", json_integer((json_int_t)r->first_diff));
    if (r->expect_line >= 0)
        json_object_set_new(j, "expectation_line", json_integer(exp->items[r->expect_line].line));
    return j;
}

vf_status vf_conform_write_json(const char *path, const vf_conform_opts *o,
                                const vf_conform_result *res, uint64_t n, const vf_expect_list *exp,
                                uint64_t passed, uint64_t failed, vf_error *err)
{
    json_t *cases = json_array(), *exps = json_array();
    for (uint64_t i = 0; i < n; i++)
        if (res[i].ran)
            json_array_append_new(cases, vf_case_json(&res[i], exp));
    for (size_t i = 0; i < exp->count; i++) {
        const vf_expect *e = &exp->items[i];
        const char *state = !e->matched ? "unmatched" : e->failed ? "reproduced" : "stale";
        json_array_append_new(exps,
                              json_pack("{s:i, s:s, s:s, s:I, s:I}", "line", (int)e->line, "reason",
                                        e->reason, "state", state, "matched",
                                        (json_int_t)e->matched, "failed", (json_int_t)e->failed));
    }
    json_t *root =
        json_pack("{s:i, s:s, s:I, s:I, s:s, s:I, s:I, s:o, s:o}", "schema", 1, "mode",
                  o->reader ? "reader" : "merge", "seed", (json_int_t)o->seed, "cases_total",
                  (json_int_t)o->cases, "format", o->format, "passed", (json_int_t)passed, "failed",
                  (json_int_t)failed, "cases", cases, "expectations", exps);
    if (!root)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "building the JSON report");
    int rc = json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
    if (rc != 0)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot write '%s'", path);
    return VF_OK;
}
