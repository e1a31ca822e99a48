/* cmd_compare.c - 'vhdfold compare [options] A B': are two flattened disks (image
 * chains or raw files) identical, where do they first differ, how many 2 MiB blocks differ.
 * Layer: cli; the work is vf_compare (verify/compare.c). Exit 0 identical, 1 different. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

typedef struct vf_compare_args {
    vf_cli_common co;
    bool raw;
    const char *file[2];
} vf_compare_args;

static const vf_opt vf_compare_opts[] = {
    {.name = "raw",
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_compare_args, raw),
     .help = "read A and B as raw bytes even when they look like images"},
    {.name = NULL},
};

static const vf_opt_positional vf_compare_positionals[] = {
    {"A", "a VHD or VHDX image (its chain is followed) or a raw disk image"},
    {"B", "the same, compared with A"},
    {NULL, NULL},
};

static const vf_opt_group vf_compare_groups[] = {
    {vf_compare_opts, 0},
    {vf_cli_output_opts, offsetof(vf_compare_args, co)},
    {vf_cli_chain_opts, offsetof(vf_compare_args, co)},
    {vf_cli_share_opts, offsetof(vf_compare_args, co)},
    {NULL, 0},
};

const vf_cmd_spec vf_compare_spec = {
    .name = "compare",
    .summary = "compare two flattened disks (chains or raw files)",
    .synopsis = "[options] A B",
    .description = "Compare the flattened disks seen from A and B, byte for byte. Each may be a "
                   "VHD/VHDX (its chain is followed) or a raw disk image (used as it is, never "
                   "parsed).",
    .positionals = vf_compare_positionals,
    .groups = vf_compare_groups,
    .exit_status = "0 identical, 1 different, 2 usage, 3 corrupt or unsupported image, 4 system "
                   "error.",
};

static int vf_compare_parse(int argc, char **argv, vf_compare_args *a)
{
    char *pos[2];
    int r = vf_opts_parse(&vf_compare_spec, argc, argv, a, pos, 2);
    if (r < 0) {
        a->file[0] = pos[0];
        a->file[1] = pos[1];
    }
    return r;
}

static json_t *vf_compare_side(const char *file, vf_source *src, uint64_t size)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", vf_json_text(file));
    json_object_set_new(o, "source", vf_json_text(vf_source_is_raw(src) ? "raw" : "chain"));
    json_object_set_new(o, "size", vf_json_u64(size));
    return o;
}

static void vf_compare_print(const vf_compare_args *a, vf_source *const src[2],
                             const vf_compare_result *res)
{
    if (a->co.json) {
        json_t *o = vf_json_begin("compare");
        json_object_set_new(o, "a", vf_compare_side(a->file[0], src[0], res->size_a));
        json_object_set_new(o, "b", vf_compare_side(a->file[1], src[1], res->size_b));
        json_object_set_new(o, "identical", json_boolean(res->identical));
        json_object_set_new(o, "first_difference", vf_json_off(res->first_diff));
        json_object_set_new(o, "block_size", json_integer(VF_COMPARE_BLOCK_BYTES));
        json_object_set_new(o, "differing_blocks", vf_json_u64(res->diff_blocks));
        json_object_set_new(o, "read_bytes", vf_json_u64(res->read_bytes));
        vf_json_print(o);
        return;
    }
    if (res->identical) {
        printf("identical: '%s' and '%s' (%llu bytes)\n", a->file[0], a->file[1],
               (unsigned long long)res->size_a);
        return;
    }
    printf("different: '%s' and '%s'\n", a->file[0], a->file[1]);
    if (res->size_a != res->size_b)
        printf("sizes differ: %llu and %llu bytes\n", (unsigned long long)res->size_a,
               (unsigned long long)res->size_b);
    printf("first difference at byte %llu\n", (unsigned long long)res->first_diff);
    printf("differing 2 MiB blocks: %llu\n", (unsigned long long)res->diff_blocks);
}

int vf_cmd_compare(int argc, char **argv)
{
    vf_compare_args a;
    memset(&a, 0, sizeof a);
    int r = vf_compare_parse(argc, argv, &a);
    if (r >= 0)
        return r;
    vf_error err;
    vf_error_clear(&err);
    vf_chain_opts copts;
    vf_cli_fill_chain_opts(&a.co, &copts);
    vf_source *src[2] = {NULL, NULL};
    vf_status st = VF_OK;
    int failed = 0;
    for (int i = 0; i < 2 && st == VF_OK; i++) {
        st = vf_source_open(a.file[i], a.raw ? VF_SOURCE_RAW : VF_SOURCE_AUTO, &copts, &src[i],
                            &err);
        failed = i;
        if (st == VF_E_BUSY)
            vf_cli_explain_busy(a.file[i], &a.co, &err);
    }
    vf_compare_result res;
    if (st == VF_OK) {
        vf_progress_bar bar;
        vf_progress_init(&bar, a.co.progress, "compare");
        vf_verify_opts opts;
        vf_cli_verify_opts(&opts, &bar);
        st = vf_compare(src[0], src[1], &opts, &res, &err);
        vf_progress_end(&bar);
        failed = -1;
        if (st == VF_OK)
            vf_compare_print(&a, src, &res);
    }
    vf_source_free(src[0]);
    vf_source_free(src[1]);
    if (st != VF_OK)
        return vf_cli_fail("compare", failed >= 0 ? a.file[failed] : NULL, &err, a.co.json);
    return res.identical ? VF_EXIT_OK : VF_EXIT_NO;
}
