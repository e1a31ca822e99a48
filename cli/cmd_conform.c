/* cmd_conform.c - `vhdfold conform`: parses the options of the conformance runner, fills a
 * vf_conform_opts and calls vf_conform_run (verify/conform.h), which prints one line per case
 * and the closing `N passed, N failed`. Exit 0 when nothing failed, 1 otherwise.
 * Layer: cli. docs/conform.md is the user's guide. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vhdfold/vf_image.h>

#include "cli.h"
#include "conform.h"
#include "options.h"

static const char *const vf_all_profiles[] = {"mixed", "aligned", "sector", "blocks"};

/* "A..B" or "A" (both ends A). */
typedef struct vf_conform_range {
    uint64_t lo, hi;
} vf_conform_range;

typedef struct vf_conform_cli {
    vf_conform_opts o; /* strings and 64-bit numbers are stored here directly */
    int format, dest, base, minimize;
    uint64_t jobs;
    vf_conform_range depth, size, shard;
    const char *profile;
    char profile_buf[256];
} vf_conform_cli;

#define VF_CONFORM_OPT(field) offsetof(vf_conform_cli, field)

static bool vf_conform_pair(const vf_opt *opt, const char *arg, bool size, vf_conform_range *r,
                            char *why, size_t why_len)
{
    char a[64];
    const char *dots = strstr(arg, ".."), *b = dots ? dots + 2 : arg;
    snprintf(a, sizeof a, "%.*s", dots ? (int)(dots - arg) : (int)strlen(arg), arg);
    bool ok = size ? vf_opts_parse_size(a, opt->min, opt->max, &r->lo, why, why_len) &&
                         vf_opts_parse_size(b, opt->min, opt->max, &r->hi, why, why_len)
                   : vf_opts_parse_uint(a, opt->min, opt->max, &r->lo, why, why_len) &&
                         vf_opts_parse_uint(b, opt->min, opt->max, &r->hi, why, why_len);
    if (ok && r->lo > r->hi) {
        snprintf(why, why_len, "'%s': MIN is above MAX", arg);
        return false;
    }
    return ok;
}

static bool vf_conform_depth_parse(const vf_opt *opt, const char *arg, void *dst, char *why,
                                   size_t why_len)
{
    return vf_conform_pair(opt, arg, false, dst, why, why_len);
}

static bool vf_conform_size_parse(const vf_opt *opt, const char *arg, void *dst, char *why,
                                  size_t why_len)
{
    return vf_conform_pair(opt, arg, true, dst, why, why_len);
}

static bool vf_conform_shard_parse(const vf_opt *opt, const char *arg, void *dst, char *why,
                                   size_t why_len)
{
    vf_conform_range *r = dst;
    char k[32];
    const char *slash = strchr(arg, '/');
    (void)opt;
    snprintf(k, sizeof k, "%.*s", slash ? (int)(slash - arg) : 0, arg);
    if (!slash || !vf_opts_parse_uint(k, 1, 100000, &r->lo, why, why_len) ||
        !vf_opts_parse_uint(slash + 1, 1, 100000, &r->hi, why, why_len) || r->lo > r->hi) {
        snprintf(why, why_len, "'%s': want K/N with 1 <= K <= N <= 100000", arg);
        return false;
    }
    return true;
}

static bool vf_conform_timeout_parse(const vf_opt *opt, const char *arg, void *dst, char *why,
                                     size_t why_len)
{
    char *end;
    (void)opt;
    errno = 0;
    double t = strtod(arg, &end);
    if (errno || end == arg || *end || !(t > 0) || t > 86400) {
        snprintf(why, why_len, "'%s': want seconds in (0, 86400]", arg);
        return false;
    }
    *(double *)dst = t;
    return true;
}

/* --profile: "all" or a comma-separated list, split in a copy the names then point into. */
static int vf_conform_profiles(vf_conform_cli *c)
{
    vf_conform_opts *o = &c->o;
    o->nprofiles = 0;
    if (!strcmp(c->profile, "all")) {
        for (size_t i = 0; i < 4; i++)
            o->profiles[o->nprofiles++] = vf_all_profiles[i];
        return -1;
    }
    if (snprintf(c->profile_buf, sizeof c->profile_buf, "%s", c->profile) >=
        (int)sizeof c->profile_buf)
        return vf_usage_error("conform", "--profile: '%s' is too long", c->profile);
    char *save = NULL;
    for (char *p = strtok_r(c->profile_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (o->nprofiles == VF_CONFORM_MAX_PROFILES)
            return vf_usage_error("conform", "--profile: at most %d names",
                                  VF_CONFORM_MAX_PROFILES);
        o->profiles[o->nprofiles++] = p;
    }
    if (!o->nprofiles)
        return vf_usage_error("conform", "--profile: no name given");
    return -1;
}

static const vf_opt_choice vf_conform_dests[] = {{"parent", VF_CONFORM_DEST_PARENT},
                                                 {"any", VF_CONFORM_DEST_ANY},
                                                 {"base", VF_CONFORM_DEST_BASE},
                                                 {NULL, 0}};
static const vf_opt_choice vf_conform_bases[] = {{"any", VF_CONFORM_BASE_ANY},
                                                 {"dynamic", VF_CONFORM_BASE_DYNAMIC},
                                                 {"fixed", VF_CONFORM_BASE_FIXED},
                                                 {NULL, 0}};

static const vf_opt_choice vf_conform_minimizes[] = {
    {"class", VF_CONFORM_MIN_CLASS}, {"all", VF_CONFORM_MIN_ALL}, {NULL, 0}};

static const vf_opt vf_conform_table[] = {
    {.name = "impl",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.impl),
     .arg = "CMD",
     .help = "merge command template: {source} {dest} {chain} {dir} (default: our merger)"},
    {.name = "result",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.result),
     .arg = "P",
     .help = "where the merged disk ends up, e.g. {source} (default {dest})"},
    {.name = "reader",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.reader),
     .arg = "CMD",
     .help = "reader template: {top}; must print the SHA-256 of the view"},
    {.name = "reader-raw",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.reader_raw),
     .arg = "CMD",
     .help = "template writing the reader's view to {out} ({top}), run when its digest is "
             "wrong, to locate the first differing byte"},
    {.name = "adapter",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.adapter),
     .arg = "NAME",
     .help = "a shipped adapter instead of --impl/--reader: 7zip, libvhdi, qemu-img, vhd-lib, "
             "vhd-lib-072, vhd-util (templates may also name their folder as {adapters})"},
    {.name = "cases",
     .type = VF_OPT_UINT,
     .offset = VF_CONFORM_OPT(o.cases),
     .arg = "N",
     .max = 10000000,
     .def = "20",
     .help = "number of cases"},
    {.name = "seed",
     .type = VF_OPT_UINT,
     .offset = VF_CONFORM_OPT(o.seed),
     .arg = "S",
     .max = UINT64_MAX,
     .def = "1",
     .help = "suite seed; case N of a suite is reproducible from (seed, N)"},
    {.name = "format",
     .type = VF_OPT_ENUM,
     .offset = VF_CONFORM_OPT(format),
     .choices = vf_opt_formats,
     .def = vf_opt_format_default,
     .help = "image format"},
    {.name = "profile",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(profile),
     .arg = "P[,P...]",
     .def = "all",
     .help = "generator profiles drawn per case: mixed, aligned, sector, blocks, or all"},
    {.name = "depth",
     .type = VF_OPT_CUSTOM,
     .offset = VF_CONFORM_OPT(depth),
     .parse = vf_conform_depth_parse,
     .arg = "MIN..MAX",
     .min = 1,
     .max = 64,
     .def = "1..4",
     .help = "differencing levels above the base, within 1..64"},
    {.name = "dest",
     .type = VF_OPT_ENUM,
     .offset = VF_CONFORM_OPT(dest),
     .choices = vf_conform_dests,
     .def = "parent",
     .help = "where DESTINATION sits"},
    {.name = "base",
     .type = VF_OPT_ENUM,
     .offset = VF_CONFORM_OPT(base),
     .choices = vf_conform_bases,
     .def = "any",
     .help = "base type"},
    {.name = "size",
     .type = VF_OPT_CUSTOM,
     .offset = VF_CONFORM_OPT(size),
     .parse = vf_conform_size_parse,
     .arg = "SIZE[..MAX]",
     .min = 1u << 20,
     .def = "4M..8M",
     .help = "virtual size, whole MiB drawn, at least 1M"},
    {.name = "density",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.density),
     .arg = "F",
     .def = "0.6",
     .help = "passed to gen --density"},
    {.name = "block-size",
     .type = VF_OPT_STRING,
     .offset = VF_CONFORM_OPT(o.block_size),
     .arg = "SIZE",
     .help = "passed to gen --block-size (default: the generator's)"},
    {.name = "timeout",
     .type = VF_OPT_CUSTOM,
     .offset = VF_CONFORM_OPT(o.timeout_s),
     .parse = vf_conform_timeout_parse,
     .arg = "SECONDS",
     .def = "60",
     .help = "per case, for the command under test"},
    {.name = "jobs",
     .type = VF_OPT_UINT,
     .offset = VF_CONFORM_OPT(jobs),
     .arg = "N",
     .min = 1,
     .max = 256,
     .def = "1",
     .help = "cases in parallel"},
    {.name = "shard",
     .type = VF_OPT_CUSTOM,
     .offset = VF_CONFORM_OPT(shard),
     .parse = vf_conform_shard_parse,
     .arg = "K/N",
     .def = "1/1",
     .help = "run only the cases whose index % N is K-1"},
    {.name = "expect",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.expect),
     .arg = "FILE",
     .help = "known divergences (see docs/conform.md)"},
    {.name = "keep-failures",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.keep_failures),
     .arg = "DIR",
     .help = "copy failing case folders there"},
    {.name = "junit",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.junit),
     .arg = "FILE",
     .help = "JUnit XML report"},
    {.name = "json",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.json),
     .arg = "FILE",
     .help = "JSON report"},
    {.name = "work-dir",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.work_dir),
     .arg = "DIR",
     .help = "where cases are built (default a temporary folder)"},
    {.name = "minimize",
     .type = VF_OPT_ENUM,
     .offset = VF_CONFORM_OPT(minimize),
     .choices = vf_conform_minimizes,
     .flags = VF_OPTF_OPTIONAL,
     .implied = VF_CONFORM_MIN_CLASS,
     .help = "shrink failing cases (fewer levels, smaller sizes, fewer writes) and print the "
             "smallest reproducer: the first of each class (the default), or all"},
    {.name = "minimize-budget",
     .type = VF_OPT_UINT,
     .offset = VF_CONFORM_OPT(o.minimize_budget),
     .arg = "N",
     .min = 1,
     .max = 1000000,
     .def = "150",
     .help = "trial runs of the command per minimized case"},
    {.name = "vhdfold",
     .type = VF_OPT_PATH,
     .offset = VF_CONFORM_OPT(o.tool),
     .arg = "PATH",
     .help = "the vhdfold used for gen/digest/check/export (default: this one)"},
    {.name = NULL},
};

static const vf_opt_group vf_conform_groups[] = {
    {vf_conform_table, 0},
    {NULL, 0},
};

const vf_cmd_spec vf_conform_spec = {
    .name = "conform",
    .summary = "judge another merge command or reader on generated cases",
    .synopsis = "[--impl 'CMD' [--result P] | --reader 'CMD' [--reader-raw 'CMD'] | --adapter "
                "NAME] [options]",
    .description = "Generates seeded chains and judges a merge command (default: our merger) "
                   "or a reader on each. Case N of a suite is reproducible from (--seed, N). "
                   "docs/conform.md is the guide.",
    .positionals = NULL,
    .groups = vf_conform_groups,
    .exit_status = "0 all passed (known divergences included), 1 some failed, 2 usage, 4 the "
                   "runner itself failed.",
};

/* The parsed options into c->o; -1 to go on, else the exit status. */
static int vf_conform_parse(int argc, char **argv, vf_conform_cli *c)
{
    vf_conform_opts_init(&c->o);
    int rc = vf_opts_parse(&vf_conform_spec, argc, argv, c, NULL, 0);
    if (rc >= 0)
        return rc;
    c->o.format = vf_format_name((vf_format_kind)c->format);
    c->o.dest = (vf_conform_dest)c->dest;
    c->o.minimize = (vf_conform_minimize)c->minimize;
    c->o.base = (vf_conform_base)c->base;
    c->o.jobs = (unsigned)c->jobs;
    c->o.depth_min = (unsigned)c->depth.lo;
    c->o.depth_max = (unsigned)c->depth.hi;
    c->o.size_min = c->size.lo;
    c->o.size_max = c->size.hi;
    c->o.shard_k = (unsigned)c->shard.lo;
    c->o.shard_n = (unsigned)c->shard.hi;
    if ((rc = vf_conform_profiles(c)) >= 0)
        return rc;
    if (c->o.impl && c->o.reader)
        return vf_usage_error("conform", "--impl and --reader exclude each other");
    if (c->o.reader && c->o.result)
        return vf_usage_error("conform", "--result applies to --impl only");
    if (c->o.adapter && (c->o.impl || c->o.reader))
        return vf_usage_error("conform", "--adapter excludes --impl and --reader");
    if (c->o.reader_raw && c->o.impl)
        return vf_usage_error("conform", "--reader-raw applies to --reader only");
    return -1;
}

int vf_cmd_conform(int argc, char **argv)
{
    vf_conform_cli c;
    memset(&c, 0, sizeof c);
    int rc = vf_conform_parse(argc, argv, &c);
    if (rc >= 0)
        return rc;
    vf_conform_opts o = c.o;
    char self[PATH_MAX];
    if (!o.tool) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return vf_usage_error("conform", "cannot find this binary; pass --vhdfold PATH");
        self[n] = '\0';
        o.tool = self;
    }
    /* A closed stdout (| head) must not kill us before the work folder is removed. */
    signal(SIGPIPE, SIG_IGN);
    vf_error err = {0};
    uint64_t passed = 0, failed = 0;
    vf_status st = vf_conform_run(&o, &passed, &failed, &err);
    if (st == VF_E_INVAL) {
        fprintf(stderr, "vhdfold conform: %s\n", err.msg);
        return VF_EXIT_USAGE;
    }
    if (st)
        return vf_report_error(&err);
    return failed ? VF_EXIT_NO : VF_EXIT_OK;
}
