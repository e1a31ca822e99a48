/* cmd_digest.c - 'vhdfold digest [options] FILE': the SHA-256 of
 * the flattened disk seen from FILE. Flat equals sha256sum of the raw export; tree is the
 * sparse-aware digest of docs/tree-digest.md. Layer: cli; the work is in verify/ (walk.c,
 * tree.c). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

typedef struct vf_digest_args {
    vf_cli_common co;
    int tree; /* --mode: 0 flat, 1 tree */
    bool raw;
    const char *file;
} vf_digest_args;

static const vf_opt_choice vf_digest_modes[] = {{"flat", 0}, {"tree", 1}, {NULL, 0}};

static const vf_opt vf_digest_opts[] = {
    {.name = "mode",
     .type = VF_OPT_ENUM,
     .offset = offsetof(vf_digest_args, tree),
     .choices = vf_digest_modes,
     .def = "flat",
     .help = "flat: SHA-256 of the whole disk, equal to sha256sum of 'vhdfold export'; tree: "
             "the sparse-aware tree digest of docs/tree-digest.md, using every core"},
    {.name = "raw",
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_digest_args, raw),
     .help = "FILE is a raw disk image: hash its bytes, do not parse it"},
    {.name = NULL},
};

static const vf_opt_positional vf_digest_positionals[] = {
    {"FILE...", "the VHD or VHDX image (its chain is followed), or a raw image with --raw"},
    {NULL, NULL},
};

static const vf_opt_group vf_digest_groups[] = {
    {vf_digest_opts, 0},
    {vf_cli_output_opts, offsetof(vf_digest_args, co)},
    {vf_cli_chain_opts, offsetof(vf_digest_args, co)},
    {vf_cli_share_opts, offsetof(vf_digest_args, co)},
    {NULL, 0},
};

const vf_cmd_spec vf_digest_spec = {
    .name = "digest",
    .summary = "SHA-256 of the flattened disk (flat or tree)",
    .synopsis = "[options] FILE...",
    .description = "Print the SHA-256 digest of the flattened disk seen from each FILE, as "
                   "sha256sum does (HEX, two spaces, FILE; one line per FILE, in order). With "
                   "several FILEs a failure is reported for its FILE and the others are still "
                   "digested; the exit status is the worst.",
    .positionals = vf_digest_positionals,
    .groups = vf_digest_groups,
    .exit_status = "0 digest printed, 2 usage, 3 corrupt or unsupported image, 4 system error.",
};

/* pending: the chain's "pending_merge" object (null for none or --raw), consumed. */
static void vf_digest_print(const vf_digest_args *a, vf_source *src,
                            const uint8_t md[VF_SHA256_LEN], json_t *pending)
{
    char hex[VF_SHA256_HEX_LEN];
    vf_sha256_hex(md, hex);
    if (!a->co.json) {
        json_decref(pending);
        printf("%s  %s\n", hex, a->file);
        return;
    }
    json_t *o = vf_json_begin("digest");
    json_object_set_new(o, "file", vf_json_text(a->file));
    json_object_set_new(o, "source", vf_json_text(vf_source_is_raw(src) ? "raw" : "chain"));
    json_object_set_new(o, "mode", vf_json_text(a->tree ? "tree" : "flat"));
    json_object_set_new(o, "algorithm", vf_json_text(a->tree ? "vhdfold-tree-v1" : "sha256"));
    json_object_set_new(o, "block_size", a->tree ? json_integer(VF_TREE_BLOCK_BYTES) : json_null());
    json_object_set_new(o, "virtual_size", vf_json_u64(vf_source_size(src)));
    json_object_set_new(o, "digest", vf_json_text(hex));
    json_object_set_new(o, "pending_merge", pending);
    vf_json_print(o);
}

static int vf_digest_one(void *ctx, const char *file)
{
    vf_digest_args a = *(const vf_digest_args *)ctx;
    a.file = file;
    vf_error err;
    vf_error_clear(&err);
    vf_source *src;
    vf_chain_opts copts;
    vf_cli_fill_chain_opts(&a.co, &copts);
    vf_status st =
        vf_source_open(a.file, a.raw ? VF_SOURCE_RAW : VF_SOURCE_CHAIN, &copts, &src, &err);
    if (st == VF_E_BUSY)
        vf_cli_explain_busy(a.file, &a.co, &err);
    if (st != VF_OK)
        return vf_cli_fail("digest", a.file, &err, a.co.json);
    vf_cli_pending_note(vf_source_chain(src), &a.co);
    /* as the note says it: before the hash (a running merge moves on meanwhile) */
    json_t *pending = a.co.json ? vf_cli_pending_json_of(vf_source_chain(src), &a.co) : NULL;
    vf_progress_bar bar;
    vf_progress_init(&bar, a.co.progress, "digest");
    bar.phase = "hash";
    vf_verify_opts opts;
    vf_cli_verify_opts(&opts, &bar);
    uint8_t md[VF_SHA256_LEN];
    st = a.tree ? vf_digest_tree(src, &opts, md, &err) : vf_digest_flat(src, &opts, md, &err);
    vf_progress_finish(&bar, st, &err);
    if (st == VF_OK)
        vf_digest_print(&a, src, md, pending);
    else
        json_decref(pending);
    vf_source_free(src);
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("digest", a.file, &err, a.co.json);
}

int vf_cmd_digest(int argc, char **argv)
{
    vf_digest_args a;
    memset(&a, 0, sizeof a);
    char **files;
    size_t n;
    int r = vf_opts_parse_files(&vf_digest_spec, argc, argv, &a, &files, &n);
    if (r >= 0)
        return r;
    return vf_cli_each_file("digest", files, n, a.co.json, vf_digest_one, &a);
}
