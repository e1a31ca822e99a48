/* cmd_digest.c - 'vhdfold digest FILE [--mode flat|tree] [--raw] [--json]': the SHA-256 of
 * the flattened disk seen from FILE. Flat equals sha256sum of the raw export; tree is the
 * sparse-aware digest of docs/tree-digest.md. Layer: cli; the work is in verify/ (walk.c,
 * tree.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

static const char vf_digest_usage[] =
    "usage: vhdfold digest FILE [--mode flat|tree] [--raw] [--json] [--progress=MODE]\n"
    "\n"
    "Print the SHA-256 digest of the flattened disk seen from FILE, as 'HEX  FILE'.\n"
    "\n"
    "  --mode flat      SHA-256 of the whole disk; equals sha256sum of 'vhdfold export' (default)\n"
    "  --mode tree      tree digest (docs/tree-digest.md): sparse-aware, uses every core\n"
    "  --raw            FILE is a raw disk image: hash its bytes, do not parse it\n"
    "  --json           print {\"schema\":1,...} on stdout instead\n"
    "  --progress=MODE  auto (default), bar, plain or none; drawn on stderr\n" VF_CLI_PARENT_USAGE
    "  --help, --version\n"
    "\n"
    "exit status: 0 digest printed, 2 usage, 3 corrupt or unsupported image, 4 system error\n";

enum { VF_OPT_MODE = VF_OPT_FIRST_OWN, VF_OPT_RAW };

typedef struct vf_digest_args {
    vf_cli_common co;
    bool tree, raw;
    const char *file;
} vf_digest_args;

/* Returns -1 to go on, else the exit status. */
static int vf_digest_parse(int argc, char **argv, vf_digest_args *a)
{
    static const struct option longopts[] = {VF_CLI_COMMON_LONGOPTS,
                                             {"mode", required_argument, NULL, VF_OPT_MODE},
                                             {"raw", no_argument, NULL, VF_OPT_RAW},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = vf_cli_common_opt("digest", vf_digest_usage, c, optarg, &a->co);
        if (r > 0)
            return r - 1;
        if (r == 0)
            continue;
        if (c == VF_OPT_RAW) {
            a->raw = true;
        } else if (c == VF_OPT_MODE && (!strcmp(optarg, "flat") || !strcmp(optarg, "tree"))) {
            a->tree = !strcmp(optarg, "tree");
        } else {
            return vf_usage_error("digest", "--mode takes flat or tree, not '%s'", optarg);
        }
    }
    if (argc - optind != 1)
        return vf_usage_error("digest", "expected one FILE, got %d arguments", argc - optind);
    a->file = argv[optind];
    return -1;
}

static void vf_digest_print(const vf_digest_args *a, vf_source *src,
                            const uint8_t md[VF_SHA256_LEN])
{
    char hex[VF_SHA256_HEX_LEN];
    vf_sha256_hex(md, hex);
    if (!a->co.json) {
        printf("%s  %s\n", hex, a->file);
        return;
    }
    json_t *o = vf_json_begin("digest");
    json_object_set_new(o, "file", json_string(a->file));
    json_object_set_new(o, "source", json_string(vf_source_is_raw(src) ? "raw" : "chain"));
    json_object_set_new(o, "mode", json_string(a->tree ? "tree" : "flat"));
    json_object_set_new(o, "algorithm", json_string(a->tree ? "vhdfold-tree-v1" : "sha256"));
    json_object_set_new(o, "block_size", a->tree ? json_integer(VF_TREE_BLOCK_BYTES) : json_null());
    json_object_set_new(o, "virtual_size", vf_json_u64(vf_source_size(src)));
    json_object_set_new(o, "digest", json_string(hex));
    vf_json_print(o);
}

int vf_cmd_digest(int argc, char **argv)
{
    vf_digest_args a;
    memset(&a, 0, sizeof a);
    int r = vf_digest_parse(argc, argv, &a);
    if (r >= 0)
        return r;
    vf_error err;
    vf_error_clear(&err);
    vf_source *src;
    vf_chain_opts copts;
    vf_cli_chain_opts(&a.co, &copts);
    vf_status st =
        vf_source_open(a.file, a.raw ? VF_SOURCE_RAW : VF_SOURCE_CHAIN, &copts, &src, &err);
    if (st != VF_OK)
        return vf_cli_fail("digest", a.file, &err, a.co.json);
    vf_progress_bar bar;
    vf_progress_init(&bar, a.co.progress, "digest");
    vf_verify_opts opts;
    vf_cli_verify_opts(&opts, &bar);
    uint8_t md[VF_SHA256_LEN];
    st = a.tree ? vf_digest_tree(src, &opts, md, &err) : vf_digest_flat(src, &opts, md, &err);
    vf_progress_end(&bar);
    if (st == VF_OK)
        vf_digest_print(&a, src, md);
    vf_source_free(src);
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("digest", a.file, &err, a.co.json);
}
