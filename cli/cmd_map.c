/* cmd_map.c - 'vhdfold map FILE': the runs of the flattened disk seen from FILE and which level
 * of the chain holds each, with qemu-img map's JSON field names plus the holding file.
 * Layer: cli; the runs come from the library's vf_chain_map over every level. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

typedef struct vf_map_args {
    vf_cli_common co;
    const char *file;
} vf_map_args;

static const vf_opt_positional vf_map_positionals[] = {
    {"FILE", "the VHD or VHDX image whose flattened view is mapped (its chain is followed)"},
    {NULL, NULL},
};

static const vf_opt_group vf_map_groups[] = {
    {vf_cli_output_opts, offsetof(vf_map_args, co)},
    {vf_cli_chain_opts, offsetof(vf_map_args, co)},
    {NULL, 0},
};

const vf_cmd_spec vf_map_spec = {
    .name = "map",
    .summary = "list the extents of the flattened disk and the file holding each",
    .synopsis = "[options] FILE",
    .description =
        "List the runs of the flattened disk seen from FILE in order, each with the level "
        "(depth, 0 = FILE) and file that defines it. A run is data (stored at offset in that "
        "file), zero (that level defines zeros) or a hole (no level defines it: reads as "
        "zeros). --json uses qemu-img map's field names: start, length, depth, present, zero, "
        "data, offset, plus file; a hole has depth equal to the number of levels and present "
        "false. docs/cli.md compares the output with qemu-img map.",
    .positionals = vf_map_positionals,
    .groups = vf_map_groups,
    .exit_status = "0 map printed, 2 usage, 3 corrupt or unsupported image, 4 system error.",
};

/* One output run: consecutive chain extents of one kind and level whose file offsets follow
 * on are merged, as qemu-img map merges them. */
typedef struct vf_map_run {
    uint64_t start, len, off;
    vf_extent_kind kind;
    size_t level;
    bool has_off;
} vf_map_run;

static bool vf_map_joins(const vf_map_run *r, const vf_chain_extent *e)
{
    if (r->len == 0 || r->kind != e->kind || r->start + r->len != e->voff)
        return false;
    if (e->kind == VF_EXTENT_ABSENT)
        return true;
    if (r->level != e->level)
        return false;
    bool has_off = e->kind == VF_EXTENT_PRESENT && !e->overlaid;
    if (has_off != r->has_off)
        return false;
    return !has_off || r->off + r->len == e->file_off;
}

static void vf_map_start(vf_map_run *r, const vf_chain_extent *e)
{
    r->start = e->voff;
    r->len = e->len;
    r->kind = e->kind;
    r->level = e->level;
    r->has_off = e->kind == VF_EXTENT_PRESENT && !e->overlaid;
    r->off = r->has_off ? e->file_off : 0;
}

static json_t *vf_map_run_json(const vf_map_run *r, vf_chain *c)
{
    size_t depth = r->kind == VF_EXTENT_ABSENT ? vf_chain_depth(c) : r->level;
    json_t *o = json_object();
    json_object_set_new(o, "start", vf_json_u64(r->start));
    json_object_set_new(o, "length", vf_json_u64(r->len));
    json_object_set_new(o, "depth", vf_json_u64(depth));
    json_object_set_new(o, "present", json_boolean(r->kind != VF_EXTENT_ABSENT));
    json_object_set_new(o, "zero", json_boolean(r->kind != VF_EXTENT_PRESENT));
    json_object_set_new(o, "data", json_boolean(r->kind == VF_EXTENT_PRESENT));
    if (r->has_off)
        json_object_set_new(o, "offset", vf_json_u64(r->off));
    json_object_set_new(o, "file",
                        r->kind == VF_EXTENT_ABSENT ? json_null()
                                                    : vf_json_text(vf_chain_path(c, r->level)));
    return o;
}

static void vf_map_run_print(const vf_map_run *r, vf_chain *c)
{
    static const char *const kinds[] = {"hole", "data", "zero"};
    printf("%20" PRIu64 " %20" PRIu64 "  %-4s", r->start, r->len, kinds[r->kind]);
    if (r->kind == VF_EXTENT_ABSENT) {
        printf("  -\n");
        return;
    }
    printf("  %zu  ", r->level);
    if (r->has_off)
        printf("%" PRIu64, r->off);
    else
        printf("-");
    printf("  ");
    vf_cli_puts_text(vf_chain_path(c, r->level));
    printf("\n");
}

static void vf_map_emit(const vf_map_run *r, vf_chain *c, json_t *arr)
{
    if (arr)
        json_array_append_new(arr, vf_map_run_json(r, c));
    else
        vf_map_run_print(r, c);
}

/* Walk the whole disk; runs go to arr (JSON) or stdout. */
static vf_status vf_map_walk(vf_chain *c, json_t *arr, vf_error *err)
{
    uint64_t size = vf_chain_virtual_size(c), pos = 0;
    size_t base = vf_chain_depth(c) - 1;
    vf_map_run run = {0};
    while (pos < size) {
        vf_chain_extent e;
        vf_status st = vf_chain_map(c, 0, base, pos, size - pos, &e, err);
        if (st != VF_OK)
            return st;
        if (e.len == 0 || e.voff != pos)
            return vf_fail(err, VF_E_CORRUPT, pos, __func__, "the chain's map made no progress");
        if (vf_map_joins(&run, &e)) {
            run.len += e.len;
        } else {
            if (run.len)
                vf_map_emit(&run, c, arr);
            vf_map_start(&run, &e);
        }
        pos = e.voff + e.len;
    }
    if (run.len)
        vf_map_emit(&run, c, arr);
    return VF_OK;
}

static json_t *vf_map_levels_json(vf_chain *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < vf_chain_depth(c); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "level", vf_json_u64(i));
        json_object_set_new(o, "file", vf_json_text(vf_chain_path(c, i)));
        json_array_append_new(arr, o);
    }
    return arr;
}

static vf_status vf_map_run_cmd(const vf_map_args *a, vf_chain *c, vf_error *err)
{
    if (!a->co.json) {
        printf("%20s %20s  %-4s  %s  %s  %s\n", "start", "length", "kind", "depth", "offset",
               "file");
        return vf_map_walk(c, NULL, err);
    }
    json_t *arr = json_array();
    vf_status st = vf_map_walk(c, arr, err);
    if (st != VF_OK) {
        json_decref(arr);
        return st;
    }
    json_t *o = vf_json_begin("map");
    json_object_set_new(o, "status", json_integer(0));
    json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
    json_object_set_new(o, "file", vf_json_text(a->file));
    json_object_set_new(o, "virtual_size", vf_json_u64(vf_chain_virtual_size(c)));
    json_object_set_new(o, "levels", vf_map_levels_json(c));
    json_object_set_new(o, "extents", arr);
    vf_json_print(o);
    return VF_OK;
}

int vf_cmd_map(int argc, char **argv)
{
    vf_map_args a;
    memset(&a, 0, sizeof a);
    char *pos[1];
    int r = vf_opts_parse(&vf_map_spec, argc, argv, &a, pos, 1);
    if (r >= 0)
        return r;
    a.file = pos[0];
    vf_error err;
    vf_error_clear(&err);
    vf_chain *c;
    vf_status st = vf_cli_open_chain(a.file, &a.co, &c, &err);
    if (st == VF_OK) {
        vf_cli_pending_note(c, &a.co);
        st = vf_map_run_cmd(&a, c, &err);
        vf_chain_close(c);
    }
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("map", a.file, &err, a.co.json);
}
