/* cmd_gen.c - `vhdfold gen [options] OUTDIR`: parses the options into a vf_gen_opts, makes
 * OUTDIR, runs the generator (gen/vf_gen.h) and prints the chain (text or the manifest).
 * Layer: cli. All generation logic lives in gen/. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include <vhdfold/vf_gen.h>
#include <vhdfold/vf_sha256.h>

static const char vf_gen_usage_text[] =
    "usage: vhdfold gen [options] OUTDIR\n"
    "Generate a seeded random differencing chain in OUTDIR (created if missing): the level\n"
    "files, base first (00-base.vhd, 01-diff.vhd, ...), and OUTDIR/manifest.json.\n"
    "\n"
    "  --format vhd|vhdx     image format (default vhd)\n"
    "  --seed N              seed (0 .. 2^63-1); drawn and printed when omitted\n"
    "  --depth D             differencing levels above the base, 0..64 (default 3)\n"
    "  --size SIZE           virtual size, K/M/G/T suffixes (default 64M)\n"
    "  --block-size SIZE     block size, a power of two from 512K (default 2M)\n"
    "  --base fixed|dynamic  base image type (default: drawn from the seed)\n"
    "  --density F           fraction of blocks each level touches, 0..1 (default 0.1)\n"
    "  --profile NAME        mixed (default), aligned, sector or blocks\n"
    "  --sector-size N       VHDX logical sector, 512 or 4096 (default: drawn by the mixed\n"
    "                        profile, else 512)\n"
    "  --dirty top|all|none  VHDX: leave the top (or every) level with pending log entries\n"
    "  --flat-limit SIZE     compute the flat sha256 only up to this virtual size (64G)\n"
    "  --progress MODE       auto (default), bar, plain or none\n"
    "  --json                print the manifest on stdout\n"
    "  --help, --version\n";

enum {
    OPT_FORMAT = 0x200,
    OPT_SEED,
    OPT_DEPTH,
    OPT_SIZE,
    OPT_BLOCK,
    OPT_BASE,
    OPT_DENSITY,
    OPT_PROFILE,
    OPT_SECTOR,
    OPT_DIRTY,
    OPT_FLAT,
    OPT_JSON,
    OPT_PROGRESS,
    OPT_VERSION,
};

static const struct option vf_gen_longopts[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"size", required_argument, NULL, OPT_SIZE},
    {"block-size", required_argument, NULL, OPT_BLOCK},
    {"base", required_argument, NULL, OPT_BASE},
    {"density", required_argument, NULL, OPT_DENSITY},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"sector-size", required_argument, NULL, OPT_SECTOR},
    {"dirty", required_argument, NULL, OPT_DIRTY},
    {"flat-limit", required_argument, NULL, OPT_FLAT},
    {"json", no_argument, NULL, OPT_JSON},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

typedef struct vf_gen_cli {
    vf_gen_opts opts;
    bool have_seed, json;
    vf_progress_mode progress;
} vf_gen_cli;

static bool vf_gen_parse_u64(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* One option; returns -1 to continue, else the exit status. */
static int vf_gen_option(vf_gen_cli *g, int c, const char *arg)
{
    unsigned long long v;
    switch (c) {
    case OPT_FORMAT:
        if (!strcmp(arg, "vhd"))
            g->opts.format = VF_FORMAT_VHD;
        else if (!strcmp(arg, "vhdx"))
            g->opts.format = VF_FORMAT_VHDX;
        else
            return vf_usage_error("gen", "--format '%s': expected vhd or vhdx", arg);
        return -1;
    case OPT_SEED:
        if (!vf_gen_parse_u64(arg, VF_GEN_MAX_SEED, &v))
            return vf_usage_error("gen", "--seed '%s': expected an integer 0..%llu", arg,
                                  (unsigned long long)VF_GEN_MAX_SEED);
        g->opts.seed = v;
        g->have_seed = true;
        return -1;
    case OPT_DEPTH:
        if (!vf_gen_parse_u64(arg, 1000000, &v))
            return vf_usage_error("gen", "--depth '%s': expected an integer 0..%d", arg,
                                  VF_GEN_MAX_DEPTH);
        g->opts.depth = (unsigned)v;
        return -1;
    case OPT_SIZE:
    case OPT_BLOCK:
    case OPT_FLAT:
        if (!vf_parse_size(arg, &v) || (c == OPT_BLOCK && v > UINT32_MAX))
            return vf_usage_error("gen", "%s '%s': expected a size such as 64M or 2G",
                                  c == OPT_SIZE    ? "--size"
                                  : c == OPT_BLOCK ? "--block-size"
                                                   : "--flat-limit",
                                  arg);
        if (c == OPT_SIZE)
            g->opts.virtual_size = v;
        else if (c == OPT_BLOCK)
            g->opts.block_size = (uint32_t)v;
        else
            g->opts.flat_limit = v;
        return -1;
    case OPT_BASE:
        if (!strcmp(arg, "fixed"))
            g->opts.base = VF_GEN_BASE_FIXED;
        else if (!strcmp(arg, "dynamic"))
            g->opts.base = VF_GEN_BASE_DYNAMIC;
        else
            return vf_usage_error("gen", "--base '%s': expected fixed or dynamic", arg);
        return -1;
    case OPT_DENSITY:
        if (!vf_gen_parse_density(arg, &g->opts.density_ppm))
            return vf_usage_error("gen", "--density '%s': expected a fraction from 0 to 1", arg);
        return -1;
    case OPT_PROFILE:
        if (!vf_gen_parse_profile(arg, &g->opts.profile))
            return vf_usage_error("gen",
                                  "--profile '%s': expected mixed, aligned, sector or "
                                  "blocks",
                                  arg);
        return -1;
    case OPT_SECTOR:
        if (!vf_gen_parse_u64(arg, 4096, &v) || (v != 512 && v != 4096))
            return vf_usage_error("gen", "--sector-size '%s': expected 512 or 4096", arg);
        g->opts.sector_size = (uint32_t)v;
        return -1;
    case OPT_DIRTY:
        if (!vf_gen_parse_dirty(arg, &g->opts.dirty))
            return vf_usage_error("gen", "--dirty '%s': expected top, all or none", arg);
        return -1;
    case OPT_JSON:
        g->json = true;
        return -1;
    case OPT_PROGRESS:
        if (!vf_progress_parse(arg, &g->progress))
            return vf_usage_error("gen", "--progress '%s': expected auto, bar, plain or none", arg);
        return -1;
    case 'h':
        fputs(vf_gen_usage_text, stdout);
        return VF_EXIT_OK;
    case OPT_VERSION:
        vf_print_version("gen");
        return VF_EXIT_OK;
    default:
        return vf_usage_error("gen", "unknown option");
    }
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
    vf_gen_cli g = {.progress = VF_PROGRESS_AUTO};
    vf_gen_opts_init(&g.opts);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", vf_gen_longopts, NULL)) != -1) {
        int rc = vf_gen_option(&g, c, optarg);
        if (rc >= 0)
            return rc;
    }
    if (optind != argc - 1)
        return vf_usage_error("gen", "expected one OUTDIR");
    const char *outdir = argv[optind];
    vf_error err = {0};
    if (!g.have_seed && vf_gen_draw_seed(&g.opts.seed, &err) != VF_OK)
        return vf_report_error(&err);
    if (vf_gen_validate(&g.opts, &err) != VF_OK)
        return vf_usage_error("gen", "%s", err.msg);
    if (!g.have_seed)
        fprintf(stderr, "vhdfold gen: seed %llu (repeat with --seed %llu)\n",
                (unsigned long long)g.opts.seed, (unsigned long long)g.opts.seed);
    bool made_dir = vf_gen_mkdirs(outdir) == 0;
    if (!made_dir && errno != EEXIST) {
        fprintf(stderr, "vhdfold: cannot create output directory '%s': %s\n", outdir,
                strerror(errno));
        return VF_EXIT_SYSTEM;
    }
    vf_progress_bar bar;
    vf_progress_init(&bar, g.progress, "gen");
    g.opts.progress = vf_progress_update;
    g.opts.progress_ctx = &bar;
    vf_gen_result res;
    vf_status st = vf_gen_run(&g.opts, NULL, outdir, &res, &err);
    vf_progress_end(&bar);
    if (st != VF_OK) {
        if (made_dir)
            rmdir(outdir); /* only when still empty: the library removed its files */
        return vf_report_error(&err);
    }
    if (g.json)
        fputs(res.manifest, stdout);
    else
        vf_gen_print_text(&res, outdir);
    vf_gen_result_free(&res);
    return VF_EXIT_OK;
}
