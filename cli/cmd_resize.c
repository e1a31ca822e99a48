/* cmd_resize.c - 'vhdfold resize FILE --size S': change the virtual size of one image (grow;
 * shrink only when nothing is allocated past the new end; fixed VHDs grow and shrink too),
 * crash-safe per format, refused
 * with nothing written when the format cannot (vf_image_resize_check first). Layer: cli; the
 * work is vf_image_resize in the drivers. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

typedef struct vf_resize_args {
    vf_cli_common co;
    uint64_t size;
    const char *file;
} vf_resize_args;

static const vf_opt vf_resize_opts[] = {
    {.name = "size",
     .short_name = 's',
     .type = VF_OPT_SIZE,
     .offset = offsetof(vf_resize_args, size),
     .arg = "SIZE",
     .min = 1,
     .help = "the new virtual size (required), a multiple of the image's logical sector"},
    {.name = NULL},
};

static const vf_opt_positional vf_resize_positionals[] = {
    {"FILE", "the VHD or VHDX image to resize (only this file; a child keeps its own size)"},
    {NULL, NULL},
};

static const vf_opt_group vf_resize_groups[] = {
    {vf_resize_opts, 0},
    {vf_cli_output_opts, offsetof(vf_resize_args, co)},
    {NULL, 0},
};

const vf_cmd_spec vf_resize_spec = {
    .name = "resize",
    .summary = "change the virtual size of an image",
    .synopsis = "[options] --size SIZE FILE",
    .description =
        "Set the virtual size of FILE to SIZE. Growing adds space that reads as zeros (in a "
        "differencing image: as the parent's). Shrinking is refused unless no allocated block "
        "reaches past the new end (a fixed VHD: unless the bytes past it are zeros). VHD: "
        "dynamic and differencing images grow (blocks in the way of a larger block table move "
        "to the end of the file); fixed "
        "images grow and shrink by moving their footer. VHDX: through the log; the image gets a "
        "new DataWriteGuid, so its differencing children must be re-attached (a warning names "
        "the 'vhdfold set-parent' command). The change is "
        "crash-safe: a reader sees the old size or the new one (a VHD left with differing "
        "footer copies is fixed by 'vhdfold repair'). Every refusal is made before anything is "
        "written.",
    .positionals = vf_resize_positionals,
    .groups = vf_resize_groups,
    .exit_status = "0 resized (or already that size), 2 usage or an invalid size, 3 the image "
                   "is corrupt or the format cannot resize it so, 4 system error.",
};

static vf_status vf_resize_open(const char *path, vf_image **img, vf_error *err)
{
    vf_io *io;
    vf_status st = vf_io_file_open(path, VF_IO_RDWR, &io, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_io_lock(io, true, err)) != VF_OK) {
        vf_io_close(io);
        return st;
    }
    return vf_image_open(io, path, VF_OPEN_RDWR, img, err);
}

/* Sizes of one resize: virtual before and after, the file before and after. */
typedef struct vf_resize_sizes {
    uint64_t before, after, file_before, file_after;
} vf_resize_sizes;

static void vf_resize_print(const vf_resize_args *a, const vf_resize_sizes *z, bool new_id)
{
    uint64_t before = z->before, after = z->after;
    if (a->co.json) {
        json_t *o = vf_json_begin("resize");
        json_object_set_new(o, "status", json_integer(0));
        json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
        json_object_set_new(o, "file", vf_json_text(a->file));
        json_object_set_new(o, "virtual_size_before", vf_json_u64(before));
        json_object_set_new(o, "virtual_size", vf_json_u64(after));
        json_object_set_new(o, "identity_changed", json_boolean(new_id));
        vf_json_print(o);
        return;
    }
    char hb[32], ha[32];
    vf_cli_human_size(before, hb, sizeof hb);
    vf_cli_human_size(after, ha, sizeof ha);
    if (before == after && z->file_before != z->file_after)
        printf("'%s': already %llu bytes (%s); the file was cut from %llu to %llu bytes (a "
               "fixed VHD's interrupted shrink finished)\n",
               a->file, (unsigned long long)after, ha, (unsigned long long)z->file_before,
               (unsigned long long)z->file_after);
    else if (before == after)
        printf("'%s': already %llu bytes (%s)\n", a->file, (unsigned long long)after, ha);
    else
        printf("'%s': virtual size %llu (%s) -> %llu (%s)\n", a->file, (unsigned long long)before,
               hb, (unsigned long long)after, ha);
    if (new_id)
        fprintf(stderr,
                "vhdfold: warning: '%s' has a new identity (a changed VHDX disk gets a new "
                "DataWriteGuid): differencing disks made from it no longer open through it; "
                "re-attach each with 'vhdfold set-parent CHILD %s --ignore-id-mismatch' "
                "(it prints CHILD's digest before and after)\n",
                a->file, a->file);
}

int vf_cmd_resize(int argc, char **argv)
{
    vf_resize_args a;
    memset(&a, 0, sizeof a);
    char *pos[1];
    int r = vf_opts_parse(&vf_resize_spec, argc, argv, &a, pos, 1);
    if (r >= 0)
        return r;
    a.file = pos[0];
    if (a.size == 0)
        return vf_usage_error("resize", "--size SIZE is required");
    vf_error err;
    vf_error_clear(&err);
    vf_image *img;
    vf_status st = vf_cli_refuse_pending(a.file, "resize", &err);
    if (st == VF_OK)
        st = vf_resize_open(a.file, &img, &err);
    if (st != VF_OK)
        return vf_cli_fail("resize", a.file, &err, a.co.json);
    vf_resize_sizes z = {.before = vf_image_info_get(img)->virtual_size,
                         .file_before = vf_image_info_get(img)->file_size};
    uint8_t id[16];
    memcpy(id, vf_image_info_get(img)->id, sizeof id);
    st = vf_image_resize_check(img, a.size, &err);
    if (st == VF_OK)
        st = vf_image_resize(img, a.size, &err);
    if (st == VF_OK)
        st = vf_image_flush(img, &err);
    z.after = st == VF_OK ? vf_image_info_get(img)->virtual_size : z.before;
    z.file_after = vf_image_info_get(img)->file_size;
    bool new_id = memcmp(id, vf_image_info_get(img)->id, sizeof id) != 0;
    vf_image_close(img);
    if (st != VF_OK)
        return vf_cli_fail("resize", a.file, &err, a.co.json);
    vf_resize_print(&a, &z, new_id);
    return VF_EXIT_OK;
}
