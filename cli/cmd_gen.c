/* cmd_gen.c - `vhdfold gen [options] OUTDIR`: parses the options into a vf_gen_opts, makes
 * OUTDIR, runs the generator (gen/vf_gen.h) and prints the chain (text or the manifest).
 * Layer: cli. All generation logic lives in gen/. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "progress.h"
#include <vhdfold/vf_gen.h>
#include <vhdfold/vf_sha256.h>

/* What the options say; copied into a vf_gen_opts once parsed. */
typedef struct vf_gen_cli {
    vf_cli_common out; /* --json, --progress */
    uint64_t seed;     /* UINT64_MAX: not given, draw one */
    uint64_t depth, size, block, flat_limit;
    int format, base, sector, dirty, profile;
    uint32_t density_ppm;
    const char *writes; /* --writes selector (NULL: every write) */
    bool list_writes;   /* print the writes instead of the summary */
} vf_gen_cli;

#define VF_GEN_OPT(field) offsetof(vf_gen_cli, field)

static const vf_opt_choice vf_gen_bases[] = {
    {"fixed", VF_GEN_BASE_FIXED}, {"dynamic", VF_GEN_BASE_DYNAMIC}, {NULL, 0}};
static const vf_opt_choice vf_gen_profiles[] = {{"mixed", VF_GEN_PROFILE_MIXED},
                                                {"aligned", VF_GEN_PROFILE_ALIGNED},
                                                {"sector", VF_GEN_PROFILE_SECTOR},
                                                {"blocks", VF_GEN_PROFILE_BLOCKS},
                                                {NULL, 0}};
static const vf_opt_choice vf_gen_sectors[] = {{"512", 512}, {"4096", 4096}, {NULL, 0}};
static const vf_opt_choice vf_gen_dirties[] = {
    {"top", VF_GEN_DIRTY_TOP}, {"all", VF_GEN_DIRTY_ALL}, {"none", VF_GEN_DIRTY_NONE}, {NULL, 0}};

static const vf_opt vf_gen_table[] = {
    {.name = "format",
     .type = VF_OPT_ENUM,
     .offset = VF_GEN_OPT(format),
     .choices = vf_opt_formats,
     .def = vf_opt_format_default,
     .help = "image format"},
    {.name = "seed",
     .type = VF_OPT_UINT,
     .offset = VF_GEN_OPT(seed),
     .arg = "N",
     .max = VF_GEN_MAX_SEED,
     .help = "seed (manifests and JSON hold it as a decimal string); drawn and printed when "
             "omitted"},
    {.name = "depth",
     .type = VF_OPT_UINT,
     .offset = VF_GEN_OPT(depth),
     .arg = "D",
     .max = VF_GEN_MAX_DEPTH,
     .def = "3",
     .help = "differencing levels above the base"},
    {.name = "size",
     .short_name = 's',
     .type = VF_OPT_SIZE,
     .offset = VF_GEN_OPT(size),
     .arg = "SIZE",
     .def = "64M",
     .help = "virtual size"},
    {.name = "block-size",
     .type = VF_OPT_SIZE,
     .offset = VF_GEN_OPT(block),
     .arg = "SIZE",
     .max = UINT32_MAX,
     .def = "2M",
     .help = "block size, a power of two from 512K"},
    {.name = "base",
     .type = VF_OPT_ENUM,
     .offset = VF_GEN_OPT(base),
     .choices = vf_gen_bases,
     .help = "base image type (default: drawn from the seed)"},
    {.name = "density",
     .type = VF_OPT_FRACTION,
     .offset = VF_GEN_OPT(density_ppm),
     .arg = "F",
     .def = "0.1",
     .help = "fraction of blocks each level touches, 0..1, as a decimal (0.3, .05) or a "
             "percentage (25%)"},
    {.name = "profile",
     .type = VF_OPT_ENUM,
     .offset = VF_GEN_OPT(profile),
     .choices = vf_gen_profiles,
     .def = "mixed",
     .help = "the shape of the writes"},
    {.name = "sector-size",
     .type = VF_OPT_ENUM,
     .offset = VF_GEN_OPT(sector),
     .choices = vf_gen_sectors,
     .help = "VHDX logical sector (default: drawn by the mixed profile, else 512)"},
    {.name = "dirty",
     .type = VF_OPT_ENUM,
     .offset = VF_GEN_OPT(dirty),
     .choices = vf_gen_dirties,
     .def = "none",
     .help = "VHDX: leave the top (or every) level with pending log entries"},
    {.name = "flat-limit",
     .type = VF_OPT_SIZE,
     .offset = VF_GEN_OPT(flat_limit),
     .arg = "SIZE",
     .def = "64G",
     .help = "compute the flat sha256 only up to this virtual size"},
    {.name = "writes",
     .type = VF_OPT_STRING,
     .offset = VF_GEN_OPT(writes),
     .arg = "SEL",
     .help = "replay only these writes: LEVEL:LIST[/LEVEL:LIST...], LIST 'none' or numbers and "
             "ranges (1,4-6); levels not named keep every write"},
    {.name = "list-writes",
     .type = VF_OPT_FLAG,
     .offset = VF_GEN_OPT(list_writes),
     .help = "print the writes of each level (JSON, level and write numbers as --writes takes "
             "them) instead of the summary"},
    {.name = NULL},
};

static const vf_opt_positional vf_gen_positionals[] = {
    {"OUTDIR", "the folder to write the chain into (created if missing; never overwritten)"},
    {NULL, NULL},
};

static const vf_opt_group vf_gen_groups[] = {
    {vf_gen_table, 0},
    {vf_cli_output_opts, offsetof(vf_gen_cli, out)},
    {NULL, 0},
};

const vf_cmd_spec vf_gen_spec = {
    .name = "gen",
    .summary = "generate a seeded random differencing chain",
    .synopsis = "[options] OUTDIR",
    .description = "Generate a seeded random differencing chain in OUTDIR: the level files, base "
                   "first (00-base.vhd, 01-diff.vhd, ...), and OUTDIR/manifest.json. --json "
                   "prints the manifest on stdout. docs/gen.md describes the generator.",
    .positionals = vf_gen_positionals,
    .groups = vf_gen_groups,
    .exit_status = "0 generated, 2 usage or invalid option, 4 system error.",
};

/* The parsed options into the generator's. */
static void vf_gen_to_opts(const vf_gen_cli *g, vf_gen_opts *o)
{
    vf_gen_opts_init(o);
    o->format = (vf_format_kind)g->format;
    o->seed = g->seed;
    o->depth = (unsigned)g->depth;
    o->virtual_size = g->size;
    o->block_size = (uint32_t)g->block;
    o->base = (vf_gen_base)g->base;
    o->density_ppm = g->density_ppm;
    o->profile = (vf_gen_profile)g->profile;
    o->flat_limit = g->flat_limit;
    o->sector_size = (uint32_t)g->sector;
    o->dirty = (vf_gen_dirty)g->dirty;
    o->writes = g->writes;
}

/* --list-writes: the head of docs/json.md, then "writes":[{level, write, offset, length, zero,
 * trim}, ...] in the order gen applied them (docs/schemas/gen.schema.json, $defs/list_writes);
 * a failure is the error document, as with --json. */
static int vf_gen_print_writes(const vf_gen_opts *opts)
{
    vf_gen_write_info *w = NULL;
    size_t n = 0;
    vf_error err = {0};
    if (vf_gen_list_writes(opts, &w, &n, &err) != VF_OK)
        return vf_cli_fail("gen", NULL, &err, true);
    json_t *root = vf_json_begin("gen"), *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "level", json_integer(w[i].level));
        json_object_set_new(o, "write", json_integer(w[i].write));
        json_object_set_new(o, "offset", vf_json_u64(w[i].offset));
        json_object_set_new(o, "length", vf_json_u64(w[i].length));
        json_object_set_new(o, "zero", json_boolean(w[i].zero));
        json_object_set_new(o, "trim", json_boolean(w[i].trim));
        json_array_append_new(list, o);
    }
    json_object_set_new(root, "writes", list);
    vf_json_print(root);
    vf_gen_writes_free(w);
    return VF_EXIT_OK;
}

/* The head, OUTDIR and the manifest (the object written to OUTDIR/manifest.json). */
static void vf_gen_print_json(const vf_gen_result *res, const char *outdir)
{
    json_t *o = vf_json_begin("gen");
    json_object_set_new(o, "output_dir", vf_json_text(outdir));
    json_object_set_new(o, "seed", vf_json_seed(res->opts.seed));
    json_t *m = json_loads(res->manifest, 0, NULL);
    json_object_set_new(o, "manifest", m ? m : json_null());
    vf_json_print(o);
}

static void vf_gen_print_text(const vf_gen_result *res, const char *outdir)
{
    printf("seed %llu, %s, %u levels, virtual size %llu, in '%s'\n",
           (unsigned long long)res->opts.seed, vf_format_name(res->opts.format), res->nlevels,
           (unsigned long long)res->opts.virtual_size, outdir);
    for (unsigned l = 0; l < res->nlevels; l++) {
        const vf_gen_level *lv = &res->levels[l];
        char hex[VF_SHA256_HEX_LEN];
        vf_sha256_hex(lv->has_sha256 ? lv->sha256 : lv->tree, hex);
        printf("%s  %-12s %s  %s\n", hex, vf_disk_type_name(lv->type),
               lv->has_sha256 ? "flat" : "tree", lv->file);
    }
}

/* mkdir -p: 0 when the last component was created, else -1 with errno (EEXIST: it was there). */
static int vf_gen_mkdirs(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        path[i] = '/';
    }
    return mkdir(path, 0777);
}

int vf_cmd_gen(int argc, char **argv)
{
    vf_gen_cli g = {.seed = UINT64_MAX, .base = VF_GEN_BASE_AUTO};
    char *pos[1];
    int rc = vf_opts_parse(&vf_gen_spec, argc, argv, &g, pos, 1);
    if (rc >= 0)
        return rc;
    const char *outdir = pos[0];
    if (g.list_writes && g.out.json)
        return vf_usage_error("gen", "--list-writes and --json exclude each other");
    if (g.list_writes) { /* its output is JSON: so are its errors, usage errors included */
        g.out.json = true;
        vf_cli_set_json_mode(true);
    }
    bool have_seed = g.seed != UINT64_MAX;
    vf_gen_opts opts;
    vf_gen_to_opts(&g, &opts);
    vf_error err = {0};
    if (!have_seed && vf_gen_draw_seed(&opts.seed, &err) != VF_OK)
        return vf_cli_fail("gen", NULL, &err, g.out.json);
    if (vf_gen_validate(&opts, &err) != VF_OK)
        return vf_usage_error("gen", "%s", err.msg);
    if (!have_seed)
        fprintf(stderr, "vhdfold gen: seed %llu (repeat with --seed %llu)\n",
                (unsigned long long)opts.seed, (unsigned long long)opts.seed);
    bool made_dir = vf_gen_mkdirs(outdir) == 0;
    if (!made_dir && errno != EEXIST) {
        VF_FAIL_ERRNO(&err, errno, VF_OFF_NONE, "cannot create output directory '%s'", outdir);
        return vf_cli_fail("gen", outdir, &err, g.out.json);
    }
    vf_progress_bar bar;
    vf_progress_init(&bar, g.out.progress, "gen");
    bar.phase = "write";
    opts.progress = vf_progress_update;
    opts.progress_ctx = &bar;
    vf_gen_result res;
    vf_status st = vf_gen_run(&opts, NULL, outdir, &res, &err);
    vf_progress_finish(&bar, st, &err);
    if (st != VF_OK) {
        if (made_dir)
            rmdir(outdir); /* only when still empty: the library removed its files */
        return vf_cli_fail("gen", outdir, &err, g.out.json);
    }
    if (g.list_writes)
        rc = vf_gen_print_writes(&opts);
    else if (g.out.json)
        vf_gen_print_json(&res, outdir);
    else
        vf_gen_print_text(&res, outdir);
    vf_gen_result_free(&res);
    return rc < 0 ? VF_EXIT_OK : rc;
}
