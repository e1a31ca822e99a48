/* cmd_merge.c - 'vhdfold merge SOURCE DESTINATION': parses options into a vf_merge_opts,
 * runs the merger (merger/vf_merge.h) and prints the plan, progress and summary as text or
 * JSON. Layer: cli. Exit codes per docs/design.md "The CLI contract" via vf_exit_code; a
 * verification mismatch is 1. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "output.h"
#include <vhdfold/vf_merge.h>

typedef struct vf_merge_cli {
    vf_merge_opts opts;
    vf_cli_common co; /* --json, --progress (auto resolved to bar or none) */
    int verify;       /* vf_merge_verify */
    vf_opt_list children;
    uint64_t batch;
    unsigned last_pct;
} vf_merge_cli;

#define VF_MERGE_OPT(field) offsetof(vf_merge_cli, field)

static const vf_opt_choice vf_merge_verify_modes[] = {
    {"flat", VF_MERGE_VERIFY_FLAT}, {"tree", VF_MERGE_VERIFY_TREE}, {NULL, 0}};

static const vf_opt vf_merge_table[] = {
    {.name = "verify",
     .type = VF_OPT_ENUM,
     .offset = VF_MERGE_OPT(verify),
     .choices = vf_merge_verify_modes,
     .flags = VF_OPTF_OPTIONAL,
     .implied = VF_MERGE_VERIFY_TREE,
     .help = "digest the view from SOURCE before and from DESTINATION after (tree when no "
             "mode is given); a mismatch exits 1"},
    {.name = "dry-run",
     .short_name = 'n',
     .type = VF_OPT_FLAG,
     .offset = VF_MERGE_OPT(opts.dry_run),
     .help = "print the plan; write nothing"},
    {.name = "resume",
     .type = VF_OPT_FLAG,
     .offset = VF_MERGE_OPT(opts.resume),
     .help = "finish an interrupted merge (fails when there is none)"},
    {.name = "child",
     .type = VF_OPT_LIST,
     .offset = VF_MERGE_OPT(children),
     .arg = "FILE",
     .help = "re-point FILE, a child of SOURCE, at DESTINATION; its view is verified unchanged"},
    {.name = "remove-merged",
     .type = VF_OPT_FLAG,
     .offset = VF_MERGE_OPT(opts.remove_merged),
     .help = "delete SOURCE and the intermediates after success"},
    {.name = "batch-size",
     .type = VF_OPT_SIZE,
     .offset = VF_MERGE_OPT(batch),
     .arg = "SIZE",
     .min = 1,
     .help = "flush and journal every SIZE bytes, rounded up to a MiB (default 256M)"},
    {.name = NULL},
};

static const vf_opt_positional vf_merge_positionals[] = {
    {"SOURCE", "the top of the part of the chain to fold"},
    {"DESTINATION", "an ancestor of SOURCE that receives the data"},
    {NULL, NULL},
};

static const vf_opt_group vf_merge_groups[] = {
    {vf_merge_table, 0},
    {vf_cli_output_opts, VF_MERGE_OPT(co)},
    {vf_cli_chain_opts, VF_MERGE_OPT(co)},
    {NULL, 0},
};

const vf_cmd_spec vf_merge_spec = {
    .name = "merge",
    .summary = "merge SOURCE and the disks between into DESTINATION",
    .synopsis = "[options] SOURCE DESTINATION",
    .description = "Fold SOURCE and every disk between it and DESTINATION (an ancestor of "
                   "SOURCE) into DESTINATION. An interrupted merge is finished by running it "
                   "again. docs/merge.md describes the steps.",
    .positionals = vf_merge_positionals,
    .groups = vf_merge_groups,
    .exit_status = "0 merged, 1 verification mismatch, 2 invalid parameter or state, 3 corrupt "
                   "or unsupported image, 4 system error (not found, access denied, in use, no "
                   "space, I/O).",
};

static void vf_merge_on_progress(void *user, unsigned pct, uint64_t done, uint64_t total)
{
    vf_merge_cli *c = user;
    (void)done;
    (void)total;
    if (pct == c->last_pct)
        return;
    c->last_pct = pct;
    if (c->co.progress == VF_PROGRESS_PLAIN) {
        fprintf(stderr, "%u%% completed\n", pct);
    } else if (c->co.progress == VF_PROGRESS_BAR) {
        char bar[41];
        unsigned fill = pct * 40u / 100u;
        memset(bar, '#', fill);
        memset(bar + fill, '-', 40u - fill);
        bar[40] = '\0';
        fprintf(stderr, "\rmerging [%s] %3u%%", bar, pct);
        if (pct == 100)
            fputc('\n', stderr);
    }
    fflush(stderr);
}

/* Returns -1 to go on, else the exit code. */
static int vf_merge_parse(int argc, char **argv, vf_merge_cli *c)
{
    char *pos[2];
    int rc = vf_opts_parse(&vf_merge_spec, argc, argv, c, pos, 2);
    if (rc >= 0)
        return rc;
    if (c->co.progress == VF_PROGRESS_AUTO)
        c->co.progress = isatty(STDERR_FILENO) ? VF_PROGRESS_BAR : VF_PROGRESS_NONE;
    c->opts.verify = (vf_merge_verify)c->verify;
    c->opts.children = c->children.items;
    c->opts.nchildren = c->children.count;
    c->opts.batch_bytes = c->batch;
    c->opts.source = pos[0];
    c->opts.destination = pos[1];
    return -1;
}

static const char *vf_merge_mode_name(vf_merge_verify m)
{
    return m == VF_MERGE_VERIFY_FLAT ? "flat" : m == VF_MERGE_VERIFY_TREE ? "tree" : "none";
}

static json_t *vf_merge_json(const vf_merge_cli *c, const vf_merge_result *r)
{
    json_t *layers = json_array(), *inval = json_array();
    for (size_t i = 0; i < r->nlayers; i++)
        json_array_append_new(layers, json_pack("{s:s, s:I, s:I, s:I}", "file", r->layers[i].path,
                                                "data_bytes", (json_int_t)r->layers[i].data_bytes,
                                                "zero_bytes", (json_int_t)r->layers[i].zero_bytes,
                                                "blocks", (json_int_t)r->layers[i].blocks));
    for (size_t i = 0; i < r->ninvalidated; i++)
        json_array_append_new(inval, vf_json_text(r->invalidated[i]));
    json_t *o = json_pack(
        "{s:i, s:i, s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:s}",
        "schema", 1, "status", r->status, "status_name", vf_merge_status_name(r->status), "source",
        c->opts.source, "destination", c->opts.destination, "dry_run", c->opts.dry_run, "resumed",
        r->resumed, "resumed_from", vf_merge_phase_name(r->resumed_from), "bytes_merged",
        (json_int_t)r->bytes_merged, "blocks_merged", (json_int_t)r->blocks_merged,
        "blocks_to_allocate", (json_int_t)r->blocks_to_allocate, "space_needed",
        (json_int_t)r->space_needed, "seconds", r->seconds, "layers", layers, "invalidated", inval,
        "verify", vf_merge_mode_name(r->digest_mode));
    if (r->digest_mode != VF_MERGE_VERIFY_NONE) {
        json_object_set_new(o, "digest_before", vf_json_text(r->digest_before));
        json_object_set_new(o, "digest_after", vf_json_text(r->digest_after));
    }
    if (r->verify_mismatch)
        json_object_set_new(o, "mismatch_offset", json_integer((json_int_t)r->mismatch_voff));
    if (r->status != VF_MERGE_COMPLETED)
        json_object_set_new(o, "error", vf_json_text(r->err.msg));
    if (r->note[0])
        json_object_set_new(o, "note", vf_json_text(r->note));
    return o;
}

static void vf_merge_print_plan(const vf_merge_cli *c, const vf_merge_result *r)
{
    printf("plan: merge '%s' into '%s' (level %zu of its chain, %s)\n", c->opts.source,
           c->opts.destination, r->dest_level, vf_format_name(r->format));
    for (size_t i = 0; i < r->nlayers; i++) {
        printf("  level %zu '", i);
        vf_cli_puts_text(r->layers[i].path);
        printf("': %llu bytes of data, %llu bytes of zeros, %llu blocks\n",
               (unsigned long long)r->layers[i].data_bytes,
               (unsigned long long)r->layers[i].zero_bytes,
               (unsigned long long)r->layers[i].blocks);
    }
    printf("  to write into DESTINATION: %llu bytes in %llu blocks, %llu new blocks\n",
           (unsigned long long)r->bytes_merged, (unsigned long long)r->blocks_merged,
           (unsigned long long)r->blocks_to_allocate);
    printf("  space needed: %llu bytes\n", (unsigned long long)r->space_needed);
    printf("  files that become invalid:");
    for (size_t i = 0; i < r->ninvalidated; i++) {
        printf(" '");
        vf_cli_puts_text(r->invalidated[i]);
        printf("'");
    }
    printf("%s\n", r->ninvalidated ? "" : " none");
    printf("  also invalid afterwards: any other child of '%s'\n", c->opts.destination);
    printf("nothing written (--dry-run)\n");
}

static void vf_merge_print(const vf_merge_cli *c, const vf_merge_result *r)
{
    if (r->status != VF_MERGE_COMPLETED)
        return;
    printf("merged '%s' into '%s': %llu bytes in %llu blocks from %zu level%s in %.2f s%s\n",
           c->opts.source, c->opts.destination, (unsigned long long)r->bytes_merged,
           (unsigned long long)r->blocks_merged, r->nlayers, r->nlayers == 1 ? "" : "s", r->seconds,
           r->resumed ? " (resumed an interrupted merge)" : "");
    if (r->digest_mode != VF_MERGE_VERIFY_NONE)
        printf("verified (%s): %s\n", vf_merge_mode_name(r->digest_mode), r->digest_after);
    if (r->ninvalidated) {
        printf("%s:", c->opts.remove_merged ? "removed" : "no longer valid");
        for (size_t i = 0; i < r->ninvalidated; i++) {
            printf(" '");
            vf_cli_puts_text(r->invalidated[i]);
            printf("'");
        }
        printf("\n");
    }
    if (r->note[0])
        printf("note: %s\n", r->note);
}

static int vf_merge_exit(const vf_merge_result *r)
{
    if (r->status == VF_MERGE_COMPLETED)
        return VF_EXIT_OK;
    if (r->verify_mismatch)
        return VF_EXIT_NO;
    return vf_exit_code(r->err.code);
}

int vf_cmd_merge(int argc, char **argv)
{
    vf_merge_cli c;
    memset(&c, 0, sizeof c);
    vf_merge_opts_init(&c.opts); /* before parsing: the option rows fill it */
    c.last_pct = 101;
    int rc = vf_merge_parse(argc, argv, &c);
    if (rc >= 0) {
        vf_opt_list_free(&c.children);
        return rc;
    }
    c.opts.allow_absolute_parents = c.co.allow_absolute_parents;
    c.opts.parent_dir = c.co.parent_dir;
    if (c.co.progress != VF_PROGRESS_NONE && !c.opts.dry_run) {
        c.opts.progress = vf_merge_on_progress;
        c.opts.progress_user = &c;
    }
    vf_merge_result r;
    vf_merge_run(&c.opts, &r);
    if (c.co.progress == VF_PROGRESS_BAR && c.last_pct <= 100 && c.last_pct != 100)
        fputc('\n', stderr);
    if (r.status != VF_MERGE_COMPLETED)
        fprintf(stderr, "vhdfold: merge: %s (status %d, %s)\n",
                r.err.msg[0] ? r.err.msg : vf_status_text(r.err.code), r.status,
                vf_merge_status_name(r.status));
    if (c.co.json) {
        json_t *o = vf_merge_json(&c, &r);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(o);
    } else if (c.opts.dry_run && r.status == VF_MERGE_COMPLETED) {
        vf_merge_print_plan(&c, &r);
    } else {
        vf_merge_print(&c, &r);
    }
    rc = vf_merge_exit(&r);
    vf_merge_result_free(&r);
    vf_opt_list_free(&c.children);
    return rc;
}
