/* cmd_conform.c - `vhdfold conform`: parses the options of the conformance runner, fills a
 * vf_conform_opts and calls vf_conform_run (verify/conform.h), which prints one line per case
 * and the closing `N passed, N failed`. Exit 0 when nothing failed, 1 otherwise.
 * Layer: cli. docs/conform.md is the user's guide. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conform.h"

static const char *const vf_all_profiles[] = {"mixed", "aligned", "sector", "blocks"};

static void vf_conform_usage(FILE *to)
{
    fprintf(to,
            "usage: vhdfold conform [--impl 'CMD' [--result P] | --reader 'CMD'] [options]\n"
            "\n"
            "Generates seeded chains and judges a merge command (default: our merger) or a\n"
            "reader on each. Case N of a suite is reproducible from (--seed, N).\n"
            "\n"
            "  --impl CMD          merge template: {source} {dest} {chain} {dir}\n"
            "  --result P          where the merged disk ends up, e.g. {source} (default {dest})\n"
            "  --reader CMD        reader template: {top}; must print the SHA-256 of the view\n"
            "  --cases N           number of cases (default 20)\n"
            "  --seed S            suite seed (default 1)\n"
            "  --format vhd|vhdx   image format (default vhd)\n"
            "  --profile P[,P...]  generator profiles drawn per case: mixed, aligned, sector,\n"
            "                      blocks, or all (default all)\n"
            "  --depth MIN..MAX    differencing levels above the base (default 1..4)\n"
            "  --dest parent|any|base  where DESTINATION sits (default parent)\n"
            "  --base any|dynamic|fixed  base type (default any)\n"
            "  --size SIZE|MIN..MAX  virtual size, whole MiB drawn (default 4M..8M)\n"
            "  --density F         passed to gen --density (default 0.6)\n"
            "  --block-size SIZE   passed to gen --block-size (default: the generator's)\n"
            "  --timeout SECONDS   per case, for the command under test (default 60)\n"
            "  --jobs N            cases in parallel (default 1)\n"
            "  --shard K/N         run only cases with index %% N == K-1\n"
            "  --expect FILE       known divergences (see docs/conform.md)\n"
            "  --keep-failures DIR copy failing case folders there\n"
            "  --junit FILE        JUnit XML report\n"
            "  --json FILE         JSON report\n"
            "  --work-dir DIR      where cases are built (default a temporary folder)\n"
            "  --vhdfold PATH      the vhdfold used for gen/digest/check/export (default: this "
            "one)\n"
            "\n"
            "exit status: 0 all passed (known divergences included), 1 some failed, 2 usage,\n"
            "4 the runner itself failed\n");
}

static bool vf_parse_u(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* "A..B" or "A" into two numbers (sizes when is_size). */
static bool vf_parse_pair(const char *s, bool is_size, uint64_t *lo, uint64_t *hi)
{
    char a[64], b[64];
    const char *dots = strstr(s, "..");
    if (!dots) {
        snprintf(a, sizeof a, "%s", s);
        snprintf(b, sizeof b, "%s", s);
    } else {
        snprintf(a, sizeof a, "%.*s", (int)(dots - s), s);
        snprintf(b, sizeof b, "%s", dots + 2);
    }
    unsigned long long x, y;
    if (is_size) {
        if (!vf_parse_size(a, &x) || !vf_parse_size(b, &y))
            return false;
        *lo = x;
        *hi = y;
        return true;
    }
    return vf_parse_u(a, UINT_MAX, lo) && vf_parse_u(b, UINT_MAX, hi);
}

static int vf_set_profiles(vf_conform_opts *o, char *list)
{
    o->nprofiles = 0;
    if (!strcmp(list, "all")) {
        for (size_t i = 0; i < 4; i++)
            o->profiles[o->nprofiles++] = vf_all_profiles[i];
        return 0;
    }
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (o->nprofiles == VF_CONFORM_MAX_PROFILES)
            return vf_usage_error("conform", "--profile: at most %d names",
                                  VF_CONFORM_MAX_PROFILES);
        o->profiles[o->nprofiles++] = p;
    }
    if (!o->nprofiles)
        return vf_usage_error("conform", "--profile: no name given");
    return 0;
}

enum {
    OPT_IMPL = 256,
    OPT_READER,
    OPT_RESULT,
    OPT_CASES,
    OPT_SEED,
    OPT_FORMAT,
    OPT_PROFILE,
    OPT_DEPTH,
    OPT_DEST,
    OPT_BASE,
    OPT_SIZE,
    OPT_DENSITY,
    OPT_BLOCK,
    OPT_TIMEOUT,
    OPT_JOBS,
    OPT_SHARD,
    OPT_EXPECT,
    OPT_KEEP,
    OPT_JUNIT,
    OPT_JSON,
    OPT_WORK,
    OPT_TOOL,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option vf_conform_longopts[] = {
    {"impl", required_argument, NULL, OPT_IMPL},
    {"reader", required_argument, NULL, OPT_READER},
    {"result", required_argument, NULL, OPT_RESULT},
    {"cases", required_argument, NULL, OPT_CASES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"dest", required_argument, NULL, OPT_DEST},
    {"base", required_argument, NULL, OPT_BASE},
    {"size", required_argument, NULL, OPT_SIZE},
    {"density", required_argument, NULL, OPT_DENSITY},
    {"block-size", required_argument, NULL, OPT_BLOCK},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {"keep-failures", required_argument, NULL, OPT_KEEP},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"json", required_argument, NULL, OPT_JSON},
    {"work-dir", required_argument, NULL, OPT_WORK},
    {"vhdfold", required_argument, NULL, OPT_TOOL},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* One option; returns -1 to go on, else the exit status. */
static int vf_conform_opt(vf_conform_opts *o, int c, char *arg)
{
    uint64_t a, b;
    char *end;
    switch (c) {
    case OPT_IMPL:
        o->impl = arg;
        return -1;
    case OPT_READER:
        o->reader = arg;
        return -1;
    case OPT_RESULT:
        o->result = arg;
        return -1;
    case OPT_CASES:
        if (!vf_parse_u(arg, 10000000, &o->cases))
            return vf_usage_error("conform", "--cases '%s': want 0..10000000", arg);
        return -1;
    case OPT_SEED:
        if (!vf_parse_u(arg, UINT64_MAX, &o->seed))
            return vf_usage_error("conform", "--seed '%s': want an unsigned 64-bit number", arg);
        return -1;
    case OPT_FORMAT:
        if (strcmp(arg, "vhd") && strcmp(arg, "vhdx"))
            return vf_usage_error("conform", "--format '%s': want vhd or vhdx", arg);
        o->format = arg;
        return -1;
    case OPT_PROFILE: {
        int rc = vf_set_profiles(o, arg);
        return rc ? rc : -1;
    }
    case OPT_DEPTH:
        if (!vf_parse_pair(arg, false, &a, &b) || a < 1 || b < a || b > 64)
            return vf_usage_error("conform", "--depth '%s': want MIN..MAX within 1..64", arg);
        o->depth_min = (unsigned)a;
        o->depth_max = (unsigned)b;
        return -1;
    case OPT_DEST:
        if (!strcmp(arg, "parent"))
            o->dest = VF_CONFORM_DEST_PARENT;
        else if (!strcmp(arg, "any"))
            o->dest = VF_CONFORM_DEST_ANY;
        else if (!strcmp(arg, "base"))
            o->dest = VF_CONFORM_DEST_BASE;
        else
            return vf_usage_error("conform", "--dest '%s': want parent, any or base", arg);
        return -1;
    case OPT_BASE:
        if (!strcmp(arg, "any"))
            o->base = VF_CONFORM_BASE_ANY;
        else if (!strcmp(arg, "dynamic"))
            o->base = VF_CONFORM_BASE_DYNAMIC;
        else if (!strcmp(arg, "fixed"))
            o->base = VF_CONFORM_BASE_FIXED;
        else
            return vf_usage_error("conform", "--base '%s': want any, dynamic or fixed", arg);
        return -1;
    case OPT_SIZE:
        if (!vf_parse_pair(arg, true, &a, &b) || a < (1u << 20) || b < a)
            return vf_usage_error("conform", "--size '%s': want SIZE or MIN..MAX, at least 1M",
                                  arg);
        o->size_min = a;
        o->size_max = b;
        return -1;
    case OPT_DENSITY:
        o->density = arg;
        return -1;
    case OPT_BLOCK:
        o->block_size = arg;
        return -1;
    case OPT_TIMEOUT:
        errno = 0;
        o->timeout_s = strtod(arg, &end);
        if (errno || *end || !(o->timeout_s > 0) || o->timeout_s > 86400)
            return vf_usage_error("conform", "--timeout '%s': want seconds in (0, 86400]", arg);
        return -1;
    case OPT_JOBS:
        if (!vf_parse_u(arg, 256, &a) || a < 1)
            return vf_usage_error("conform", "--jobs '%s': want 1..256", arg);
        o->jobs = (unsigned)a;
        return -1;
    case OPT_SHARD: {
        char *slash = strchr(arg, '/');
        if (!slash)
            return vf_usage_error("conform", "--shard '%s': want K/N", arg);
        *slash = '\0';
        bool ok = vf_parse_u(arg, 100000, &a) && vf_parse_u(slash + 1, 100000, &b);
        *slash = '/';
        if (!ok || a < 1 || b < 1 || a > b)
            return vf_usage_error("conform", "--shard '%s': want K/N with 1 <= K <= N", arg);
        o->shard_k = (unsigned)a;
        o->shard_n = (unsigned)b;
        return -1;
    }
    case OPT_EXPECT:
        o->expect = arg;
        return -1;
    case OPT_KEEP:
        o->keep_failures = arg;
        return -1;
    case OPT_JUNIT:
        o->junit = arg;
        return -1;
    case OPT_JSON:
        o->json = arg;
        return -1;
    case OPT_WORK:
        o->work_dir = arg;
        return -1;
    case OPT_TOOL:
        o->tool = arg;
        return -1;
    case OPT_HELP:
        vf_conform_usage(stdout);
        return VF_EXIT_OK;
    case OPT_VERSION:
        vf_print_version("conform");
        return VF_EXIT_OK;
    default:
        return vf_usage_error("conform", "unknown option");
    }
}

int vf_cmd_conform(int argc, char **argv)
{
    vf_conform_opts o;
    vf_conform_opts_init(&o);
    o.density = "0.6";
    for (size_t i = 0; i < 4; i++)
        o.profiles[o.nprofiles++] = vf_all_profiles[i];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", vf_conform_longopts, NULL)) != -1) {
        if (c == '?')
            return vf_usage_error("conform", "unknown option or missing value near '%s'",
                                  argv[optind - 1]);
        int rc = vf_conform_opt(&o, c, optarg);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return vf_usage_error("conform", "unexpected argument '%s'", argv[optind]);
    if (o.impl && o.reader)
        return vf_usage_error("conform", "--impl and --reader exclude each other");
    if (o.reader && o.result)
        return vf_usage_error("conform", "--result applies to --impl only");
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
