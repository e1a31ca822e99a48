/* cmd_check.c - 'vhdfold check [options] FILE': structural validation of FILE and its chain,
 * every finding listed. Exit 0 clean (warnings allowed), 1 errors found, 3 (or 4) when FILE
 * cannot be opened at all. A chain that cannot be completed (missing or broken parent) is an
 * error finding while FILE itself is still checked. Layer: cli; the work is
 * vf_verify_check_chain (verify/check.c) and the drivers' checks. */
#include <stdio.h>
#include <string.h>

#include "output.h"

static const vf_opt_positional vf_check_args[] = {
    {"FILE...", "the VHD or VHDX image to check, with every parent below it"},
    {NULL, NULL},
};

static const vf_opt_group vf_check_groups[] = {
    {vf_cli_output_opts, 0},
    {vf_cli_chain_opts, 0},
    {vf_cli_share_opts, 0},
    {NULL, 0},
};

const vf_cmd_spec vf_check_spec = {
    .name = "check",
    .summary = "validate the structure of an image and its chain",
    .synopsis = "[options] FILE...",
    .description = "Validate the structure of FILE and of every image in its chain (checksums, "
                   "overlaps, tables past the end of the file, orphan blocks, parent linkage) "
                   "and list every finding.",
    .positionals = vf_check_args,
    .groups = vf_check_groups,
    .exit_status =
        "0 no errors (warnings allowed), 1 errors found, 2 usage, 3 FILE is not a "
        "readable image, 4 system error or a file in use (a merge runs: --force-share reads it).",
};

/* What 'vhdfold repair' would do for the files checked (dry runs of vf_image_repair). */
typedef struct vf_check_hints {
    json_t *list; /* [{"file": ..., "actions": [...]}] */
    size_t count;
} vf_check_hints;

static void vf_check_hint(vf_check_hints *h, const char *path)
{
    vf_io *io;
    vf_error err;
    vf_repair_plan plan;
    if (vf_io_file_open(path, VF_IO_RDONLY, &io, &err) != VF_OK)
        return;
    vf_status st = vf_image_repair(io, path, false, &plan, &err);
    vf_io_close(io);
    if (st != VF_OK || plan.unsafe || plan.nactions == 0)
        return;
    json_t *acts = json_array();
    for (size_t i = 0; i < plan.nactions; i++)
        json_array_append_new(acts, vf_json_text(plan.action[i]));
    json_array_append_new(h->list,
                          json_pack("{s:o, s:o}", "file", vf_json_text(path), "actions", acts));
    h->count++;
}

/* The hint lines ("hint: 'vhdfold repair FILE' can fix this: ...") on to. */
static void vf_check_hints_print(const vf_check_hints *h, FILE *to)
{
    for (size_t i = 0; i < json_array_size(h->list); i++) {
        json_t *e = json_array_get(h->list, i);
        json_t *acts = json_object_get(e, "actions");
        for (size_t k = 0; k < json_array_size(acts); k++)
            fprintf(to, "hint: 'vhdfold repair %s' can fix this: %s\n",
                    json_string_value(json_object_get(e, "file")),
                    json_string_value(json_array_get(acts, k)));
    }
}

static void vf_check_hints_json(json_t *o, vf_check_hints *h)
{
    json_object_set_new(o, "repairable", json_boolean(h->count > 0));
    json_object_set(o, "repair", h->list);
}

static const char *vf_severity_name(vf_severity s)
{
    return s == VF_SEV_ERROR ? "error" : s == VF_SEV_WARNING ? "warning" : "info";
}

static json_t *vf_check_findings_json(const vf_report *rep)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < rep->count; i++) {
        const vf_finding *f = &rep->items[i];
        json_t *o = json_object();
        json_object_set_new(o, "severity", vf_json_text(vf_severity_name(f->severity)));
        json_object_set_new(o, "code", json_integer(f->code));
        json_object_set_new(o, "name", vf_json_text(vf_status_name(f->code)));
        json_object_set_new(o, "file", vf_json_text(f->file));
        json_object_set_new(o, "offset", vf_json_off(f->off));
        json_object_set_new(o, "message", vf_json_text(f->msg));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* pending: the chain's "pending_merge" object (or null), consumed. */
static void vf_check_print(const char *file, size_t levels, const vf_report *rep, bool json,
                           vf_check_hints *hints, json_t *pending)
{
    size_t errors = vf_report_count(rep, VF_SEV_ERROR);
    size_t warnings = vf_report_count(rep, VF_SEV_WARNING) - errors;
    if (json) {
        json_t *o = vf_json_begin("check");
        json_object_set_new(o, "file", vf_json_text(file));
        json_object_set_new(o, "levels_checked", json_integer((json_int_t)levels));
        json_object_set_new(o, "clean", json_boolean(errors == 0));
        json_object_set_new(o, "errors", json_integer((json_int_t)errors));
        json_object_set_new(o, "warnings", json_integer((json_int_t)warnings));
        json_object_set_new(o, "dropped", json_integer((json_int_t)rep->dropped));
        json_object_set_new(o, "findings", vf_check_findings_json(rep));
        vf_json_set_exit(o, errors ? VF_EXIT_NO : VF_EXIT_OK);
        vf_check_hints_json(o, hints);
        json_object_set_new(o, "pending_merge", pending);
        vf_json_print(o);
        return;
    }
    json_decref(pending);
    for (size_t i = 0; i < rep->count; i++) {
        const vf_finding *f = &rep->items[i];
        printf("%s: '%s': ", vf_severity_name(f->severity), f->file[0] ? f->file : file);
        if (f->off != VF_OFF_NONE)
            printf("at offset %llu: ", (unsigned long long)f->off);
        printf("%s\n", f->msg);
    }
    if (rep->dropped)
        printf("(%zu more findings not listed)\n", rep->dropped);
    printf("%s: %zu image%s checked, %zu error%s, %zu warning%s\n", file, levels,
           levels == 1 ? "" : "s", errors, errors == 1 ? "" : "s", warnings,
           warnings == 1 ? "" : "s");
    vf_check_hints_print(hints, stdout);
}

/* FILE did not open at all: the error, and the hint when repair would fix it. */
static int vf_check_fail(const char *file, const vf_error *err, bool json, vf_check_hints *h)
{
    if (!h->count)
        return vf_cli_fail("check", file, err, json);
    int code = vf_report_error(err);
    vf_check_hints_print(h, stderr);
    if (json) {
        json_t *o = vf_json_begin("check");
        json_object_set_new(o, "file", vf_json_text(file));
        json_object_set_new(o, "error", vf_json_error(err));
        json_object_set_new(o, "exit", json_integer(code));
        vf_check_hints_json(o, h);
        vf_json_print(o);
    }
    return code;
}

/* The chain did not open: check FILE alone and record why the chain failed. */
static vf_status vf_check_alone(const char *file, const vf_error *chain_err, vf_report *rep,
                                vf_error *err)
{
    vf_image *img;
    vf_status st = vf_cli_open_image(file, &img, err);
    if (st != VF_OK)
        return st;
    st = vf_image_check(img, rep, err);
    vf_report_add(rep, VF_SEV_ERROR, chain_err->code, chain_err->off, file, "%s", chain_err->msg);
    vf_image_close(img);
    return st;
}

static int vf_check_one(void *ctx, const char *file)
{
    const vf_cli_common co = *(const vf_cli_common *)ctx;
    vf_error err, chain_err;
    vf_error_clear(&err);
    vf_error_clear(&chain_err);
    vf_report rep;
    vf_report_init(&rep);
    vf_chain *c;
    size_t levels = 1;
    vf_status st;
    vf_check_hints hints = {json_array(), 0};
    json_t *pending = json_null(); /* the chain did not open: no level to look beside */
    if (vf_cli_open_chain(file, &co, &c, &chain_err) == VF_OK) {
        levels = vf_chain_depth(c);
        vf_cli_pending_note(c, &co);
        if (co.json)
            pending = vf_cli_pending_json_of(c, &co);
        for (size_t i = 0; i < levels; i++)
            vf_check_hint(&hints, vf_chain_path(c, i));
        st = vf_verify_check_chain(c, &rep, &err);
        vf_chain_close(c);
    } else if (chain_err.code == VF_E_BUSY) {
        /* in use (a merge runs): not a finding about the image; --force-share reads it */
        vf_report_free(&rep);
        json_decref(hints.list);
        json_decref(pending);
        return vf_cli_fail("check", file, &chain_err, co.json);
    } else {
        vf_check_hint(&hints, file);
        st = vf_check_alone(file, &chain_err, &rep, &err);
    }
    int code = VF_EXIT_OK;
    if (st != VF_OK) {
        json_decref(pending);
        code = vf_check_fail(file, &err, co.json, &hints);
    } else {
        vf_check_print(file, levels, &rep, co.json, &hints, pending);
        code = vf_report_count(&rep, VF_SEV_ERROR) ? VF_EXIT_NO : VF_EXIT_OK;
    }
    vf_report_free(&rep);
    json_decref(hints.list);
    return code;
}

int vf_cmd_check(int argc, char **argv)
{
    vf_cli_common co = {0};
    char **files;
    size_t n;
    int r = vf_opts_parse_files(&vf_check_spec, argc, argv, &co, &files, &n);
    if (r >= 0)
        return r;
    return vf_cli_each_file("check", files, n, co.json, vf_check_one, &co);
}
