/* cmd_merge.c - 'vhdfold merge SOURCE [DESTINATION]': parses options into a vf_merge_opts,
 * runs the merger (merger/vf_merge.h) and prints the plan, progress and summary as text or
 * JSON. Layer: cli. DESTINATION defaults to SOURCE's parent; SIGINT/SIGTERM stop the merge at
 * its next durable point. Exit codes: vf_merge_exit (docs/errors.md "Merge status codes"). */
#include <errno.h>
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
    char *dest_default; /* SOURCE's parent when DESTINATION is left out (owned) */
    vf_progress_bar bar;
    vf_merge_progress_info last; /* the latest report */
    bool copy_seen;
    uint64_t copy_base; /* copy bytes already durable when this run's copy began */
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
    {"DESTINATION", "an ancestor of SOURCE that receives the data (default: SOURCE's parent)"},
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
    .synopsis = "[options] SOURCE [DESTINATION]",
    .description = "Fold SOURCE and every disk between it and DESTINATION (an ancestor of "
                   "SOURCE; its parent when left out) into DESTINATION. Ctrl-C or SIGTERM "
                   "stops at the next durable point and exits 4; an interrupted merge is "
                   "finished by running the same command again. docs/merge.md describes the "
                   "steps, docs/errors.md the status codes.",
    .positionals = vf_merge_positionals,
    .groups = vf_merge_groups,
    .exit_status = "0 merged, 1 verification mismatch, 2 invalid parameter or state, 3 corrupt "
                   "or unsupported image, 4 system error (not found, access denied, in use, no "
                   "space, I/O) or interrupted.",
    .optional_tail = 1,
};

static const char *vf_merge_step_name(vf_merge_step step)
{
    static const char *const names[] = {"open",         "verify-before", "copy", "flush",
                                        "verify-after", "identity",      "done"};
    return (unsigned)step <= VF_MERGE_STEP_DONE ? names[step] : "unknown";
}

static void vf_merge_on_info(void *user, const vf_merge_progress_info *in)
{
    vf_merge_cli *c = user;
    c->last = *in;
    if (in->step == VF_MERGE_STEP_COPY && !c->copy_seen) {
        c->copy_seen = true;
        c->copy_base = in->copy_done;
    }
    vf_progress_state s = {.job_state = in->state,
                           .percent = in->percent,
                           .elapsed = in->elapsed,
                           .error_code = in->error_code,
                           .error_description = in->error_description,
                           .phase = vf_merge_step_name(in->step),
                           .bytes_done = in->bytes_done,
                           .bytes_total = in->bytes_total,
                           .rate = in->rate,
                           .eta = in->eta};
    vf_progress_show(&c->bar, &s);
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
    if (c->opts.dry_run)
        c->co.progress = VF_PROGRESS_NONE;
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

static int vf_merge_job_state_of(const vf_merge_result *r)
{
    return r->status == VF_MERGE_COMPLETED ? VF_JOB_COMPLETED
           : r->err.code == VF_E_CANCELED  ? VF_JOB_TERMINATED
                                           : VF_JOB_EXCEPTION;
}

static json_t *vf_merge_layers_json(const vf_merge_result *r)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < r->nlayers; i++) {
        json_t *l = json_object();
        json_object_set_new(l, "level", json_integer((json_int_t)i)); /* 0: SOURCE */
        json_object_set_new(l, "file", vf_json_text(r->layers[i].path));
        json_object_set_new(l, "data_bytes", vf_json_u64(r->layers[i].data_bytes));
        json_object_set_new(l, "zero_bytes", vf_json_u64(r->layers[i].zero_bytes));
        json_object_set_new(l, "blocks", vf_json_u64(r->layers[i].blocks));
        json_array_append_new(layers, l);
    }
    return layers;
}

static void vf_merge_json_result(json_t *o, const vf_merge_result *r, int exit)
{
    if (r->status == VF_MERGE_COMPLETED) {
        vf_json_set_exit(o, exit);
        return;
    }
    vf_error e = r->err;
    if (e.code == VF_OK) /* a failed merge always says why, as a vf_status */
        e.code = r->verify_mismatch ? VF_E_CORRUPT : VF_E_STATE;
    vf_json_set_error(o, &e, NULL, exit); /* the message names the file */
}

static json_t *vf_merge_json(const vf_merge_cli *c, const vf_merge_result *r, int exit)
{
    json_t *o = vf_json_begin("merge");
    vf_merge_json_result(o, r, exit);
    json_object_set_new(o, "merge_status", json_integer(r->status));
    json_object_set_new(o, "merge_status_name", vf_json_text(vf_merge_status_name(r->status)));
    json_object_set_new(o, "source", vf_json_text(c->opts.source));
    json_object_set_new(o, "destination", vf_json_text(c->opts.destination));
    json_object_set_new(o, "dry_run", json_boolean(c->opts.dry_run));
    json_object_set_new(o, "resumed", json_boolean(r->resumed));
    json_object_set_new(o, "resumed_from", vf_json_text(vf_merge_phase_name(r->resumed_from)));
    json_object_set_new(o, "bytes_merged", vf_json_u64(r->bytes_merged));
    json_object_set_new(o, "blocks_merged", vf_json_u64(r->blocks_merged));
    json_object_set_new(o, "blocks_to_allocate", vf_json_u64(r->blocks_to_allocate));
    json_object_set_new(o, "space_needed", vf_json_u64(r->space_needed));
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_object_set_new(o, "layers", vf_merge_layers_json(r));
    json_t *inval = json_array();
    for (size_t i = 0; i < r->ninvalidated; i++)
        json_array_append_new(inval, vf_json_text(r->invalidated[i]));
    json_object_set_new(o, "invalidated", inval);
    json_object_set_new(o, "verify", vf_json_text(vf_merge_mode_name(r->digest_mode)));
    if (r->digest_mode != VF_MERGE_VERIFY_NONE) {
        json_object_set_new(o, "digest_before", vf_json_text(r->digest_before));
        json_object_set_new(o, "digest_after", vf_json_text(r->digest_after));
    }
    if (r->verify_mismatch)
        json_object_set_new(o, "mismatch_offset", vf_json_u64(r->mismatch_voff));
    json_object_set_new(o, "job_state", json_integer(vf_merge_job_state_of(r)));
    if (r->note[0])
        json_object_set_new(o, "note", vf_json_text(r->note));
    return o;
}

/* "3.4 GiB (3650722304 bytes)"; below 1 KiB just "512 bytes". out: VF_MERGE_SIZE_TEXT bytes. */
#define VF_MERGE_SIZE_TEXT 64
static void vf_merge_size_text(uint64_t bytes, char *out, size_t len)
{
    char human[24];
    vf_cli_human_size(bytes, human, sizeof human);
    if (bytes < 1024)
        snprintf(out, len, "%s", human);
    else
        snprintf(out, len, "%s (%llu bytes)", human, (unsigned long long)bytes);
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
    char merged[VF_MERGE_SIZE_TEXT], need[VF_MERGE_SIZE_TEXT];
    vf_merge_size_text(r->bytes_merged, merged, sizeof merged);
    vf_merge_size_text(r->space_needed, need, sizeof need);
    printf("  to write into DESTINATION: %s in %llu blocks, %llu new blocks\n", merged,
           (unsigned long long)r->blocks_merged, (unsigned long long)r->blocks_to_allocate);
    printf("  space needed: %s\n", need);
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
    char merged[VF_MERGE_SIZE_TEXT], rate[24];
    vf_merge_size_text(r->bytes_merged, merged, sizeof merged);
    /* the rate of this run: the bytes it copied (not those a resumed merge found durable) */
    uint64_t moved = c->last.copy_done > c->copy_base ? c->last.copy_done - c->copy_base : 0;
    if (!c->copy_seen)
        moved = r->resumed ? 0 : r->bytes_merged;
    vf_cli_human_size(r->seconds > 0 ? (uint64_t)((double)moved / r->seconds) : 0, rate,
                      sizeof rate);
    printf("merged '%s' into '%s': %s in %llu blocks from %zu level%s in %.2f s, %s/s%s\n",
           c->opts.source, c->opts.destination, merged, (unsigned long long)r->blocks_merged,
           r->nlayers, r->nlayers == 1 ? "" : "s", r->seconds, rate,
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

/* The exit status of a merge status (docs/errors.md "Merge status codes"): the codes that
 * name a system condition are 4 whatever library status led there (a missing parent is
 * VF_E_CHAIN, yet "file not found"); the others follow the library status (vf_exit_code). */
static int vf_merge_exit(const vf_merge_result *r)
{
    switch (r->status) {
    case VF_MERGE_COMPLETED:
        return VF_EXIT_OK;
    case VF_MERGE_ACCESS_DENIED:
    case VF_MERGE_TIMEOUT:
    case VF_MERGE_IN_USE:
    case VF_MERGE_NOT_AVAILABLE:
    case VF_MERGE_OUT_OF_MEMORY:
    case VF_MERGE_FILE_NOT_FOUND:
        return VF_EXIT_SYSTEM;
    case VF_MERGE_INVALID_PARAMETER:
    case VF_MERGE_INVALID_STATE:
        return VF_EXIT_USAGE;
    case VF_MERGE_NOT_SUPPORTED:
    case VF_MERGE_INCORRECT_TYPE:
        return VF_EXIT_CORRUPT;
    default:
        return r->verify_mismatch ? VF_EXIT_NO : vf_exit_code(r->err.code);
    }
}

/* DESTINATION left out: SOURCE's parent as its chain resolves it. A failure fills *r as the
 * merger would (status, error) and returns false. */
static bool vf_merge_default_dest(vf_merge_cli *c, vf_merge_result *r)
{
    vf_chain *chain = NULL;
    vf_status st = vf_cli_open_chain(c->opts.source, &c->co, &chain, &r->err);
    if (st == VF_OK && vf_chain_depth(chain) < 2)
        st = VF_FAIL(&r->err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                     "SOURCE '%s' has no parent to merge into (not a differencing disk); name "
                     "a DESTINATION",
                     c->opts.source);
    if (st == VF_OK && !(c->dest_default = strdup(vf_chain_path(chain, 1))))
        st = VF_FAIL_ERRNO(&r->err, ENOMEM, VF_OFF_NONE, "merge: out of memory");
    vf_chain_close(chain);
    if (st != VF_OK) {
        r->err.code = st;
        r->status = vf_merge_status_from(st, r->err.sys_errno);
        return false;
    }
    c->opts.destination = c->dest_default;
    return true;
}

/* The one line of an interrupted merge (its journal stays; a rerun finishes). */
static void vf_merge_print_interrupted(const vf_merge_cli *c)
{
    uint64_t done = c->last.copy_done, total = c->last.copy_total;
    unsigned pct = total ? (unsigned)((double)done * 100.0 / (double)total) : 0;
    fprintf(stderr,
            "vhdfold merge: interrupted at %u%% (%llu of %llu bytes); run the same command "
            "again to finish\n",
            pct, (unsigned long long)done, (unsigned long long)total);
}

int vf_cmd_merge(int argc, char **argv)
{
    vf_merge_cli c;
    memset(&c, 0, sizeof c);
    vf_merge_opts_init(&c.opts); /* before parsing: the option rows fill it */
    int rc = vf_merge_parse(argc, argv, &c);
    if (rc >= 0) {
        vf_opt_list_free(&c.children);
        return rc;
    }
    c.opts.allow_absolute_parents = c.co.allow_absolute_parents;
    c.opts.parent_dir = c.co.parent_dir;
    vf_progress_init(&c.bar, (vf_progress_mode)c.co.progress, "merge");
    c.opts.on_info = vf_merge_on_info; /* always: the interrupted line needs the counts */
    c.opts.info_user = &c;
    c.opts.cancel = vf_cli_cancel_flag(); /* SIGINT/SIGTERM handlers (sigaction) set it */
    vf_merge_result r;
    memset(&r, 0, sizeof r);
    if (c.opts.destination || vf_merge_default_dest(&c, &r))
        vf_merge_run(&c.opts, &r);
    vf_progress_end(&c.bar);
    if (r.err.code == VF_E_CANCELED)
        vf_merge_print_interrupted(&c);
    else if (r.status != VF_MERGE_COMPLETED)
        fprintf(stderr, "vhdfold: merge: %s (status %d, %s)\n",
                r.err.msg[0] ? r.err.msg : vf_status_text(r.err.code), r.status,
                vf_merge_status_name(r.status));
    rc = vf_merge_exit(&r);
    if (c.co.json) {
        vf_json_print(vf_merge_json(&c, &r, rc));
    } else if (c.opts.dry_run && r.status == VF_MERGE_COMPLETED) {
        vf_merge_print_plan(&c, &r);
    } else {
        vf_merge_print(&c, &r);
    }
    vf_merge_result_free(&r);
    vf_opt_list_free(&c.children);
    free(c.dest_default);
    return rc;
}
