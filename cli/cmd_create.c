/* cmd_create.c - `vhdfold create FILE --size S | --parent P`: a new fixed or dynamic image, or a
 * differencing child of P (relative and absolute locators; size, sector and format from P).
 * Everything is validated first; the file is written under a temporary name and published
 * atomically (newfile.h); an existing FILE is refused. Layer: cli, over vf_image_create. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "newfile.h"
#include "output.h"

typedef struct vf_create_cli {
    vf_cli_common co;
    uint64_t size, block;
    int format, type, sector; /* 0: not given */
    const char *parent;
    const char *file;
} vf_create_cli;

#define VF_CREATE_OPT(field) offsetof(vf_create_cli, field)

static const vf_opt_choice vf_create_types[] = {
    {"fixed", VF_DISK_FIXED}, {"dynamic", VF_DISK_DYNAMIC}, {NULL, 0}};
static const vf_opt_choice vf_create_sectors[] = {{"512", 512}, {"4096", 4096}, {NULL, 0}};

static const vf_opt vf_create_table[] = {
    {.name = "size",
     .short_name = 's',
     .type = VF_OPT_SIZE,
     .offset = VF_CREATE_OPT(size),
     .arg = "SIZE",
     .min = 1,
     .help = "virtual size (required without --parent), a multiple of the logical sector"},
    {.name = "parent",
     .short_name = 'p',
     .type = VF_OPT_PATH,
     .offset = VF_CREATE_OPT(parent),
     .arg = "FILE",
     .help = "make a differencing child of FILE (its chain must open); size, sector size and "
             "format come from it"},
    {.name = "format",
     .short_name = 'f',
     .type = VF_OPT_ENUM,
     .offset = VF_CREATE_OPT(format),
     .choices = vf_opt_formats,
     .help = "image format (default: the parent's, else FILE's extension)"},
    {.name = "type",
     .short_name = 't',
     .type = VF_OPT_ENUM,
     .offset = VF_CREATE_OPT(type),
     .choices = vf_create_types,
     .help = "fixed (every block allocated) or dynamic (default dynamic; not with --parent)"},
    {.name = "block-size",
     .short_name = 'b',
     .type = VF_OPT_SIZE,
     .offset = VF_CREATE_OPT(block),
     .arg = "SIZE",
     .min = 1,
     .max = UINT32_MAX,
     .help = "block size, a power of two within the format's limits (default: the parent's, "
             "else the format's)"},
    {.name = "sector-size",
     .type = VF_OPT_ENUM,
     .offset = VF_CREATE_OPT(sector),
     .choices = vf_create_sectors,
     .help = "logical sector size, where the format has a choice (default 512; not with "
             "--parent)"},
    {.name = NULL},
};

static const vf_opt_positional vf_create_positionals[] = {
    {"FILE", "the image to create (must not exist)"},
    {NULL, NULL},
};

static const vf_opt_group vf_create_groups[] = {
    {vf_create_table, 0},
    {vf_cli_output_opts, VF_CREATE_OPT(co)},
    {vf_cli_chain_opts, VF_CREATE_OPT(co)},
    {NULL, 0},
};

const vf_cmd_spec vf_create_spec = {
    .name = "create",
    .summary = "create a fixed, dynamic or differencing image",
    .synopsis = "[options] FILE --size SIZE | FILE --parent PARENT",
    .description =
        "Create FILE, a fixed or dynamic image of --size bytes, or with --parent a "
        "differencing child of PARENT whose locators name PARENT relative to FILE's folder "
        "first, then by its absolute path. An existing FILE is refused (never overwritten). "
        "Every option and PARENT's chain are checked before anything is written; FILE is "
        "written under a temporary name in its folder and appears only once complete and "
        "durable.",
    .positionals = vf_create_positionals,
    .groups = vf_create_groups,
    .exit_status = "0 created, 2 usage, invalid option, FILE exists or a merge journal binds "
                   "PARENT's chain, 3 PARENT corrupt or unsupported, 4 system error.",
};

vf_status vf_cli_check_create(const vf_create_opts *o, vf_error *err)
{
    vf_format_limits lim;
    vf_status st = vf_format_get_limits(o->format, &lim, err);
    const char *fn = vf_format_name(o->format);
    if (st != VF_OK)
        return st;
    if (!(lim.features & VF_FEATURE_CREATE))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "%s images cannot be created", fn);
    uint32_t sec = o->logical_sector_size ? o->logical_sector_size : 512;
    unsigned bit = sec == 4096 ? VF_SECTOR_4096 : sec == 512 ? VF_SECTOR_512 : 0;
    if (!(lim.sector_sizes & bit))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "sector size %u: %s has no such sector",
                       (unsigned)sec, fn);
    if (!o->virtual_size || o->virtual_size % sec || o->virtual_size > lim.max_virtual_size)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "size %llu: want a multiple of %u up to %llu bytes for %s",
                       (unsigned long long)o->virtual_size, (unsigned)sec,
                       (unsigned long long)lim.max_virtual_size, fn);
    uint32_t b = o->block_size;
    if (b && (b & (b - 1) || b < lim.min_block_size || b > lim.max_block_size))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "block size %lu: want a power of two from %u to %u for %s", (unsigned long)b,
                       (unsigned)lim.min_block_size, (unsigned)lim.max_block_size, fn);
    return VF_OK;
}

/* Fill o for a standalone image. */
static vf_status vf_create_plain(const vf_create_cli *c, vf_create_opts *o, vf_error *err)
{
    if (!c->size)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "say --size SIZE (or --parent FILE)");
    o->format = c->format ? (vf_format_kind)c->format : vf_format_of_name(c->file);
    if (o->format == VF_FORMAT_NONE)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "'%s': say --format (the name's extension names no format)", c->file);
    o->type = c->type ? (vf_disk_type)c->type : VF_DISK_DYNAMIC;
    o->virtual_size = c->size;
    o->block_size = o->type == VF_DISK_FIXED ? 0 : (uint32_t)c->block;
    o->logical_sector_size = o->physical_sector_size = (uint32_t)c->sector;
    if (o->type == VF_DISK_FIXED && c->block)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--block-size: a fixed image has no blocks");
    return vf_cli_check_create(o, err);
}

/* Fill o and link for a child of the image at the top of pc. */
static vf_status vf_create_child(const vf_create_cli *c, vf_chain *pc, vf_create_opts *o,
                                 vf_parent_link *link, vf_error *err)
{
    const vf_image_info *pi = vf_image_info_get(vf_chain_image(pc, 0));
    if (c->size || c->type || c->sector)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--parent: size, type and sector size come from the parent (drop "
                       "--size, --type and --sector-size)");
    if (c->format && (vf_format_kind)c->format != pi->format)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--format %s: parent '%s' is %s",
                       vf_format_name((vf_format_kind)c->format), c->parent,
                       vf_format_name(pi->format));
    o->format = pi->format;
    o->type = VF_DISK_DIFF;
    o->virtual_size = pi->virtual_size;
    o->block_size = c->block ? (uint32_t)c->block : pi->block_size;
    o->logical_sector_size = pi->logical_sector_size;
    o->physical_sector_size = pi->physical_sector_size;
    memcpy(link->id, pi->id, sizeof link->id);
    link->timestamp = pi->timestamp;
    o->parent = link;
    return vf_cli_check_create(o, err);
}

static void vf_create_print(const vf_create_cli *c, const vf_image_info *in,
                            const vf_parent_link *link)
{
    char id[VF_GUID_TEXT_LEN], human[32];
    vf_guid_text(in->format, in->id, id);
    vf_cli_human_size(in->virtual_size, human, sizeof human);
    if (!c->co.json) {
        printf("created '%s': %s %s, virtual size %llu (%s), block size %u, sector %u, id %s\n",
               c->file, vf_format_name(in->format), vf_disk_type_name(in->type),
               (unsigned long long)in->virtual_size, human, (unsigned)in->block_size,
               (unsigned)in->logical_sector_size, id);
        if (link)
            printf("parent '%s': relative '%s', absolute '%s'\n", c->parent, link->relative,
                   link->absolute);
        return;
    }
    json_t *o = vf_json_begin("create");
    json_object_set_new(o, "status", json_integer(0));
    json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
    json_object_set_new(o, "file", vf_json_text(c->file));
    json_object_set_new(o, "format", vf_json_text(vf_format_name(in->format)));
    json_object_set_new(o, "type", vf_json_text(vf_disk_type_name(in->type)));
    json_object_set_new(o, "virtual_size", vf_json_u64(in->virtual_size));
    json_object_set_new(o, "block_size", vf_json_u64(in->block_size));
    json_object_set_new(o, "logical_sector_size", vf_json_u64(in->logical_sector_size));
    json_object_set_new(o, "id", vf_json_text(id));
    json_t *p = json_null();
    if (link) {
        char pid[VF_GUID_TEXT_LEN];
        vf_guid_text(in->format, link->id, pid);
        p = json_object();
        json_object_set_new(p, "file", vf_json_text(c->parent));
        json_object_set_new(p, "id", vf_json_text(pid));
        json_object_set_new(p, "relative", vf_json_text(link->relative));
        json_object_set_new(p, "absolute", vf_json_text(link->absolute));
    }
    json_object_set_new(o, "parent", p);
    vf_json_print(o);
}

/* Write the image under a temporary name, then publish it as c->file. */
static vf_status vf_create_write(const vf_create_cli *c, const vf_create_opts *o,
                                 vf_image_info *made, vf_error *err)
{
    vf_newfile nf;
    vf_io *io = NULL;
    vf_image *img = NULL;
    vf_status st = vf_newfile_begin(&nf, c->file, &io, err);
    if (st == VF_OK)
        st = vf_image_create(io, c->file, o, &img, err);
    if (st == VF_OK)
        st = vf_image_flush(img, err);
    if (st == VF_OK)
        *made = *vf_image_info_get(img);
    vf_image_close(img);
    if (st == VF_OK)
        st = vf_newfile_publish(&nf, false, err);
    vf_newfile_end(&nf);
    return st;
}

int vf_cmd_create(int argc, char **argv)
{
    vf_create_cli c;
    memset(&c, 0, sizeof c);
    char *pos[1];
    int rc = vf_opts_parse(&vf_create_spec, argc, argv, &c, pos, 1);
    if (rc >= 0)
        return rc;
    c.file = pos[0];
    vf_error err;
    vf_error_clear(&err);
    vf_create_opts o;
    vf_create_opts_init(&o);
    vf_parent_link link = {0};
    char *rel = NULL, *abs = NULL;
    vf_chain *pc = NULL;
    vf_status st = vf_newfile_check(c.file, false, NULL, &err);
    if (st == VF_OK && c.parent) {
        /* unlocked first: a running merge is named (exit 2), not a lock error with -U's hint */
        if ((st = vf_cli_refuse_pending_co(c.parent, &c.co, "create --parent", &err)) == VF_OK &&
            (st = vf_cli_open_chain(c.parent, &c.co, &pc, &err)) == VF_OK &&
            (st = vf_cli_refuse_pending_in(pc, c.parent, "create --parent", &err)) == VF_OK &&
            (st = vf_create_child(&c, pc, &o, &link, &err)) == VF_OK &&
            (st = vf_parent_paths(c.file, c.parent, &rel, &abs, &err)) == VF_OK) {
            link.relative = rel;
            link.absolute = abs;
        }
    } else if (st == VF_OK) {
        st = vf_create_plain(&c, &o, &err);
    }
    vf_image_info made;
    if (st == VF_OK)
        st = vf_create_write(&c, &o, &made, &err);
    if (st == VF_OK)
        vf_create_print(&c, &made, c.parent ? &link : NULL);
    vf_chain_close(pc);
    free(rel);
    free(abs);
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("create", c.file, &err, c.co.json);
}
