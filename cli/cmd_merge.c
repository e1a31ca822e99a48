/* cmd_merge.c - 'vhdfold merge SOURCE DESTINATION': parses options into a vf_merge_opts,
 * runs the merger (merger/vf_merge.h) and prints the plan, progress and summary as text or
 * JSON. Layer: cli. Exit codes per design.md via vf_exit_code; a verification mismatch is 1. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "vf_merge.h"

enum { VF_PROGRESS_NONE, VF_PROGRESS_PLAIN, VF_PROGRESS_BAR };

typedef struct vf_merge_cli {
    vf_merge_opts opts;
    const char **children;
    bool json;
    int progress;
    unsigned last_pct;
} vf_merge_cli;

static void vf_merge_usage(FILE *to)
{
    fprintf(to,
            "usage: vhdfold merge SOURCE DESTINATION [options]\n"
            "Fold SOURCE and every disk between it and DESTINATION (an ancestor of SOURCE)\n"
            "into DESTINATION. An interrupted merge is finished by running it again.\n\n"
            "  --verify[=flat|tree]   digest the view from SOURCE before and from DESTINATION\n"
            "                         after (tree by default); a mismatch exits 1\n"
            "  --json                 print the result as JSON on stdout\n"
            "  --progress=MODE        auto (bar on a terminal), bar, plain ('N%% completed'\n"
            "                         lines), none\n"
            "  --dry-run              print the plan; write nothing\n"
            "  --resume               finish an interrupted merge (fails when there is none)\n"
            "  --child FILE           re-point FILE, a child of SOURCE, at DESTINATION\n"
            "                         (repeatable); its view is verified unchanged\n"
            "  --remove-merged        delete SOURCE and the intermediates after success\n"
            "  --batch-size SIZE      flush and journal every SIZE bytes (default 256M)\n"
            "%s" /* the parent-search options (cli.h) */
            "                         (SOURCE and DESTINATION are always accepted as parents)\n"
            "  --help, --version\n\n"
            "exit status: 0 merged, 1 verification mismatch, 2 invalid parameter or state,\n"
            "3 corrupt or unsupported image, 4 system error (not found, access denied, in use,\n"
            "no space, I/O)\n",
            VF_CLI_PARENT_USAGE);
}

static void vf_merge_on_progress(void *user, unsigned pct, uint64_t done, uint64_t total)
{
    vf_merge_cli *c = user;
    (void)done;
    (void)total;
    if (pct == c->last_pct)
        return;
    c->last_pct = pct;
    if (c->progress == VF_PROGRESS_PLAIN) {
        fprintf(stderr, "%u%% completed\n", pct);
    } else if (c->progress == VF_PROGRESS_BAR) {
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

static int vf_merge_parse_mode(const char *arg, vf_merge_cli *c)
{
    if (!arg || !strcmp(arg, "tree"))
        c->opts.verify = VF_MERGE_VERIFY_TREE;
    else if (!strcmp(arg, "flat"))
        c->opts.verify = VF_MERGE_VERIFY_FLAT;
    else
        return vf_usage_error("merge", "--verify takes 'flat' or 'tree', not '%s'", arg);
    return VF_EXIT_OK;
}

static int vf_merge_parse_progress(const char *arg, vf_merge_cli *c)
{
    if (!strcmp(arg, "auto"))
        c->progress = isatty(STDERR_FILENO) ? VF_PROGRESS_BAR : VF_PROGRESS_NONE;
    else if (!strcmp(arg, "bar"))
        c->progress = VF_PROGRESS_BAR;
    else if (!strcmp(arg, "plain"))
        c->progress = VF_PROGRESS_PLAIN;
    else if (!strcmp(arg, "none"))
        c->progress = VF_PROGRESS_NONE;
    else
        return vf_usage_error("merge", "--progress takes auto, bar, plain or none, not '%s'", arg);
    return VF_EXIT_OK;
}

static int vf_merge_add_child(const char *arg, vf_merge_cli *c)
{
    const char **grown = realloc(c->children, (c->opts.nchildren + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "vhdfold: merge: out of memory\n");
        return VF_EXIT_SYSTEM;
    }
    c->children = grown;
    c->children[c->opts.nchildren++] = arg;
    c->opts.children = c->children;
    return VF_EXIT_OK;
}

/* Returns -1 to go on, else the exit code. */
static int vf_merge_parse(int argc, char **argv, vf_merge_cli *c)
{
    static const struct option longopts[] = {
        {"verify", optional_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},
        {"progress", required_argument, NULL, 'p'},
        {"dry-run", no_argument, NULL, 'n'},
        {"resume", no_argument, NULL, 'r'},
        {"child", required_argument, NULL, 'c'},
        {"remove-merged", no_argument, NULL, 'R'},
        {"batch-size", required_argument, NULL, 'b'},
        VF_CLI_PARENT_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    c->progress = isatty(STDERR_FILENO) ? VF_PROGRESS_BAR : VF_PROGRESS_NONE;
    int ch, rc = VF_EXIT_OK;
    unsigned long long size;
    opterr = 0;
    while (rc == VF_EXIT_OK && (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'V':
            rc = vf_merge_parse_mode(optarg, c);
            break;
        case 'j':
            c->json = true;
            break;
        case 'p':
            rc = vf_merge_parse_progress(optarg, c);
            break;
        case 'n':
            c->opts.dry_run = true;
            break;
        case 'r':
            c->opts.resume = true;
            break;
        case 'c':
            rc = vf_merge_add_child(optarg, c);
            break;
        case 'R':
            c->opts.remove_merged = true;
            break;
        case 'b':
            if (!vf_parse_size(optarg, &size) || size == 0)
                return vf_usage_error("merge", "--batch-size: bad size '%s'", optarg);
            c->opts.batch_bytes = size;
            break;
        case 'h':
            vf_merge_usage(stdout);
            return VF_EXIT_OK;
        case 'v':
            vf_print_version("merge");
            return VF_EXIT_OK;
        default:
            if (vf_cli_parent_opt(ch, optarg, &c->opts.allow_absolute_parents, &c->opts.parent_dir))
                break;
            return vf_usage_error("merge", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (rc != VF_EXIT_OK)
        return rc;
    if (argc - optind != 2)
        return vf_usage_error("merge", "expected SOURCE and DESTINATION, got %d argument%s",
                              argc - optind, argc - optind == 1 ? "" : "s");
    c->opts.source = argv[optind];
    c->opts.destination = argv[optind + 1];
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
        json_array_append_new(inval, json_string(r->invalidated[i]));
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
        json_object_set_new(o, "digest_before", json_string(r->digest_before));
        json_object_set_new(o, "digest_after", json_string(r->digest_after));
    }
    if (r->verify_mismatch)
        json_object_set_new(o, "mismatch_offset", json_integer((json_int_t)r->mismatch_voff));
    if (r->status != VF_MERGE_COMPLETED)
        json_object_set_new(o, "error", json_string(r->err.msg));
    if (r->note[0])
        json_object_set_new(o, "note", json_string(r->note));
    return o;
}

static void vf_merge_print_plan(const vf_merge_cli *c, const vf_merge_result *r)
{
    printf("plan: merge '%s' into '%s' (level %zu of its chain, %s)\n", c->opts.source,
           c->opts.destination, r->dest_level, vf_format_name(r->format));
    for (size_t i = 0; i < r->nlayers; i++)
        printf("  level %zu '%s': %llu bytes of data, %llu bytes of zeros, %llu blocks\n", i,
               r->layers[i].path, (unsigned long long)r->layers[i].data_bytes,
               (unsigned long long)r->layers[i].zero_bytes,
               (unsigned long long)r->layers[i].blocks);
    printf("  to write into DESTINATION: %llu bytes in %llu blocks, %llu new blocks\n",
           (unsigned long long)r->bytes_merged, (unsigned long long)r->blocks_merged,
           (unsigned long long)r->blocks_to_allocate);
    printf("  space needed: %llu bytes\n", (unsigned long long)r->space_needed);
    printf("  files that become invalid:");
    for (size_t i = 0; i < r->ninvalidated; i++)
        printf(" '%s'", r->invalidated[i]);
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
        for (size_t i = 0; i < r->ninvalidated; i++)
            printf(" '%s'", r->invalidated[i]);
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
    c.last_pct = 101;
    int rc = vf_merge_parse(argc, argv, &c);
    if (rc >= 0) {
        free(c.children);
        return rc;
    }
    if (c.progress != VF_PROGRESS_NONE && !c.opts.dry_run) {
        c.opts.progress = vf_merge_on_progress;
        c.opts.progress_user = &c;
    }
    vf_merge_result r;
    vf_merge_run(&c.opts, &r);
    if (c.progress == VF_PROGRESS_BAR && c.last_pct <= 100 && c.last_pct != 100)
        fputc('\n', stderr);
    if (r.status != VF_MERGE_COMPLETED)
        fprintf(stderr, "vhdfold: merge: %s (status %d, %s)\n",
                r.err.msg[0] ? r.err.msg : vf_status_text(r.err.code), r.status,
                vf_merge_status_name(r.status));
    if (c.json) {
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
    free(c.children);
    return rc;
}
