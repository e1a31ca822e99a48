/* cmd_info.c - 'vhdfold info [options] FILE': format, type, sizes, identity, parent linkage and
 * locators of FILE, then the chain below it level by level. When the chain cannot be opened
 * (a parent is missing or broken) FILE is still described, the chain error is printed, and
 * the exit status is the error's (3 for a broken chain). Layer: cli; reads vf_image_info. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_merge.h>

#include "output.h"

static const vf_opt_positional vf_info_args[] = {
    {"FILE...", "the VHD or VHDX image to describe; its parents are found from it"},
    {NULL, NULL},
};

static const vf_opt_group vf_info_groups[] = {
    {vf_cli_output_opts, 0},
    {vf_cli_chain_opts, 0},
    {vf_cli_share_opts, 0},
    {NULL, 0},
};

const vf_cmd_spec vf_info_spec = {
    .name = "info",
    .summary = "describe an image and the chain below it",
    .synopsis = "[options] FILE...",
    .description = "Describe FILE (format, type, virtual size, block and sector sizes, identity, "
                   "parent linkage and locators) and the chain below it, level by level.",
    .positionals = vf_info_args,
    .groups = vf_info_groups,
    .exit_status = "0 described, 2 usage, 3 corrupt or unsupported image or broken chain (FILE is "
                   "still described when it opens), 4 system error.",
};

#define VF_INFO_MAX_LOCATORS 16

typedef struct vf_info_level {
    vf_image *img;
    const char *path, *via;
} vf_info_level;

static const char *vf_locator_kind_name(vf_locator_kind k)
{
    switch (k) {
    case VF_LOC_RELATIVE:
        return "relative";
    case VF_LOC_ABSOLUTE:
        return "absolute";
    case VF_LOC_NAME:
        return "name";
    case VF_LOC_VOLUME:
        return "volume";
    case VF_LOC_URL:
        return "url";
    }
    return "unknown";
}

static json_t *vf_info_guid(vf_format_kind f, const uint8_t id[16])
{
    char text[VF_GUID_TEXT_LEN];
    vf_guid_text(f, id, text);
    return vf_json_text(text);
}

static json_t *vf_info_locators_json(const vf_image *img)
{
    vf_locator locs[VF_INFO_MAX_LOCATORS];
    size_t n = 0;
    json_t *arr = json_array();
    if (vf_image_locators(img, locs, VF_INFO_MAX_LOCATORS, &n, NULL) != VF_OK)
        return arr;
    for (size_t i = 0; i < n && i < VF_INFO_MAX_LOCATORS; i++) {
        json_t *l = json_object();
        json_object_set_new(l, "kind", vf_json_text(vf_locator_kind_name(locs[i].kind)));
        json_object_set_new(l, "tag", vf_json_text(locs[i].tag));
        json_object_set_new(l, "path", vf_json_text(locs[i].path));
        json_array_append_new(arr, l);
    }
    return arr;
}

static json_t *vf_info_parent_json(const vf_image *img, const vf_image_info *in)
{
    if (!in->has_parent)
        return json_null();
    json_t *p = json_object();
    json_object_set_new(p, "id", vf_info_guid(in->format, in->parent_id));
    json_object_set_new(
        p, "id2", in->has_parent_id2 ? vf_info_guid(in->format, in->parent_id2) : json_null());
    json_object_set_new(p, "timestamp",
                        (in->fields & VF_INFO_TIMESTAMPS) ? json_integer(in->parent_timestamp)
                                                          : json_null());
    json_object_set_new(p, "locators", vf_info_locators_json(img));
    return p;
}

static json_t *vf_info_format_json(const vf_image_info *in)
{
    json_t *o = json_object();
    if (in->fields & VF_INFO_TIMESTAMPS)
        json_object_set_new(o, "timestamp", json_integer(in->timestamp));
    if (in->fields & VF_INFO_CREATOR_HOST) {
        json_object_set_new(o, "creator_version", json_integer(in->creator_version));
        json_object_set_new(o, "creator_os", json_integer(in->creator_os));
        json_object_set_new(o, "original_size", vf_json_u64(in->original_size));
    }
    if (in->fields & VF_INFO_CHS) {
        json_object_set_new(o, "cylinders", json_integer(in->cylinders));
        json_object_set_new(o, "heads", json_integer(in->heads));
        json_object_set_new(o, "sectors_per_track", json_integer(in->sectors_per_track));
    }
    if (in->fields & VF_INFO_LOG) {
        json_object_set_new(o, "header_sequence", vf_json_u64(in->header_sequence));
        json_object_set_new(o, "log_replayed", json_boolean(in->log_replayed));
    }
    if (in->fields & VF_INFO_WRITE_GUIDS) {
        json_object_set_new(o, "file_write_guid", vf_info_guid(in->format, in->file_write_guid));
        json_object_set_new(o, "page83", vf_info_guid(in->format, in->page83));
    }
    return o;
}

static json_t *vf_info_level_json(size_t level, const vf_info_level *lv)
{
    const vf_image_info *in = vf_image_info_get(lv->img);
    json_t *o = json_object();
    json_object_set_new(o, "level", json_integer((json_int_t)level));
    json_object_set_new(o, "file", vf_json_text(lv->path));
    json_object_set_new(o, "via", lv->via && lv->via[0] ? vf_json_text(lv->via) : json_null());
    json_object_set_new(o, "format", vf_json_text(vf_format_name(in->format)));
    json_object_set_new(o, "type", vf_json_text(vf_disk_type_name(in->type)));
    json_object_set_new(o, "virtual_size", vf_json_u64(in->virtual_size));
    json_object_set_new(o, "block_size", json_integer(in->block_size));
    json_object_set_new(o, "logical_sector_size", json_integer(in->logical_sector_size));
    json_object_set_new(o, "physical_sector_size", json_integer(in->physical_sector_size));
    json_object_set_new(o, "id", vf_info_guid(in->format, in->id));
    json_object_set_new(o, "creator", vf_json_text(in->creator));
    json_object_set_new(o, "file_size", vf_json_u64(in->file_size));
    json_object_set_new(o, "total_blocks", vf_json_u64(in->total_blocks));
    json_object_set_new(o, "allocated_blocks", vf_json_u64(in->allocated_blocks));
    json_object_set_new(o, "parent", vf_info_parent_json(lv->img, in));
    json_object_set_new(o, vf_format_name(in->format), vf_info_format_json(in));
    return o;
}

/* What info says besides the levels: where the chain breaks, a pending merge journal. */
typedef struct vf_info_extra {
    const vf_error *chain_err; /* NULL: the chain is whole */
    const vf_chain *c;
    const vf_merge_pending *pending; /* found or not */
    const vf_cli_common *co;
} vf_info_extra;

static void vf_info_print_json(const char *file, const vf_info_level *lv, size_t n,
                               const vf_info_extra *x)
{
    json_t *o = vf_json_begin("info");
    json_object_set_new(o, "file", vf_json_text(file));
    json_t *levels = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(levels, vf_info_level_json(i, &lv[i]));
    json_object_set_new(o, "depth", json_integer((json_int_t)n));
    json_object_set_new(o, "levels", levels);
    json_object_set_new(o, "broken_at", x->chain_err ? json_integer((json_int_t)n) : json_null());
    json_object_set_new(o, "pending_merge", vf_cli_pending_json(x->pending, x->c, x->co));
    if (x->chain_err) /* FILE described, its chain broken: the document says both */
        vf_json_set_error(o, x->chain_err, file, vf_exit_code(x->chain_err->code));
    vf_json_print(o);
}

static void vf_info_print_parent(const vf_image *img, const vf_image_info *in)
{
    char id[VF_GUID_TEXT_LEN];
    vf_guid_text(in->format, in->parent_id, id);
    printf("parent identity:     %s\n", id);
    if (in->has_parent_id2) {
        vf_guid_text(in->format, in->parent_id2, id);
        printf("parent identity 2:   %s\n", id);
    }
    if (in->fields & VF_INFO_TIMESTAMPS)
        printf("parent time stamp:   %lu\n", (unsigned long)in->parent_timestamp);
    vf_locator locs[VF_INFO_MAX_LOCATORS];
    size_t n = 0;
    if (vf_image_locators(img, locs, VF_INFO_MAX_LOCATORS, &n, NULL) != VF_OK)
        n = 0;
    for (size_t i = 0; i < n && i < VF_INFO_MAX_LOCATORS; i++) {
        printf("parent locator:      %s  ", locs[i].tag);
        vf_cli_puts_text(locs[i].path);
        printf(" (%s)\n", vf_locator_kind_name(locs[i].kind));
    }
}

static void vf_info_print_top(const vf_info_level *lv)
{
    const vf_image_info *in = vf_image_info_get(lv->img);
    char human[32], id[VF_GUID_TEXT_LEN];
    vf_cli_human_size(in->virtual_size, human, sizeof human);
    vf_guid_text(in->format, in->id, id);
    printf("file:                ");
    vf_cli_puts_text(lv->path);
    printf("\n");
    printf("format:              %s\n", vf_format_name(in->format));
    printf("type:                %s\n", vf_disk_type_name(in->type));
    printf("virtual size:        %llu (%s)\n", (unsigned long long)in->virtual_size, human);
    printf("block size:          %lu\n", (unsigned long)in->block_size);
    printf("sector size:         %lu logical, %lu physical\n",
           (unsigned long)in->logical_sector_size, (unsigned long)in->physical_sector_size);
    printf("identity:            %s\n", id);
    printf("creator:             ");
    vf_cli_puts_text(in->creator);
    printf("\n");
    printf("file size:           %llu\n", (unsigned long long)in->file_size);
    printf("allocated blocks:    %llu of %llu\n", (unsigned long long)in->allocated_blocks,
           (unsigned long long)in->total_blocks);
    if (in->fields & VF_INFO_TIMESTAMPS)
        printf("time stamp:          %lu\n", (unsigned long)in->timestamp);
    if (in->has_parent)
        vf_info_print_parent(lv->img, in);
}

static void vf_info_print_text(const vf_info_level *lv, size_t n, const vf_info_extra *x)
{
    vf_info_print_top(&lv[0]);
    if (x->chain_err) {
        printf("chain:               %zu level%s resolved, then broken at level %zu: ", n,
               n == 1 ? "" : "s", n);
        vf_cli_puts_text(x->chain_err->msg);
        printf("\n");
    } else {
        printf("chain:               %zu level%s\n", n, n == 1 ? "" : "s");
    }
    for (size_t i = 0; i < n; i++) {
        const vf_image_info *in = vf_image_info_get(lv[i].img);
        char id[VF_GUID_TEXT_LEN];
        vf_guid_text(in->format, in->id, id);
        printf("  %zu  ", i);
        vf_cli_puts_text(lv[i].path);
        printf("  %s %s  %s", vf_format_name(in->format), vf_disk_type_name(in->type), id);
        if (lv[i].via && lv[i].via[0])
            printf("  via %s", lv[i].via);
        printf("\n");
    }
    if (x->pending->found) {
        char line[4096];
        vf_cli_pending_line(x->pending, x->c, x->co, line, sizeof line);
        printf("merge:               %s\n", line);
    }
}

static vf_info_level *vf_info_levels(vf_chain *c)
{
    size_t n = vf_chain_depth(c);
    vf_info_level *lv = calloc(n, sizeof *lv);
    for (size_t i = 0; lv && i < n; i++) {
        lv[i].img = vf_chain_image(c, i);
        lv[i].path = vf_chain_path(c, i);
        lv[i].via = vf_chain_via(c, i);
    }
    return lv;
}

/* FILE, the levels below it that resolve, then where the chain breaks (exit status the
 * break's), and any pending merge journal beside a level. */
static int vf_info_one(void *ctx, const char *file)
{
    const vf_cli_common co = *(const vf_cli_common *)ctx;
    vf_error err, brk;
    vf_error_clear(&err);
    vf_chain *c;
    if (vf_cli_open_chain_partial(file, &co, &c, &brk, &err) != VF_OK)
        return vf_cli_fail("info", file, &err, co.json); /* FILE itself is the problem */
    size_t n = vf_chain_depth(c);
    vf_info_level *lv = vf_info_levels(c);
    if (!lv) {
        vf_chain_close(c);
        VF_FAIL_ERRNO(&err, ENOMEM, VF_OFF_NONE, "describing '%s'", file);
        return vf_cli_fail("info", file, &err, co.json);
    }
    vf_merge_pending p;
    vf_cli_pending_get(c, &p);
    vf_info_extra x = {brk.code != VF_OK ? &brk : NULL, c, &p, &co};
    if (co.json)
        vf_info_print_json(file, lv, n, &x);
    else
        vf_info_print_text(lv, n, &x);
    free(lv);
    vf_merge_pending_free(&p);
    vf_chain_close(c);
    return brk.code != VF_OK ? vf_report_error(&brk) : VF_EXIT_OK;
}

int vf_cmd_info(int argc, char **argv)
{
    vf_cli_common co = {0};
    char **files;
    size_t n;
    int r = vf_opts_parse_files(&vf_info_spec, argc, argv, &co, &files, &n);
    if (r >= 0)
        return r;
    return vf_cli_each_file("info", files, n, co.json, vf_info_one, &co);
}
