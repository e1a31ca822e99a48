/* options.c - the one option parser of vhdfold: walks a command's static option tables
 * (options.h) to parse argv through getopt_long, to check every number the same way, and to
 * print --help. The man pages and the completion script come from the same tables
 * (options_doc.c). Layer: cli. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "output.h"

/* --- the shared groups ------------------------------------------------------------------ */

static const vf_opt_choice vf_progress_choices[] = {
    {"auto", VF_PROGRESS_AUTO}, {"bar", VF_PROGRESS_BAR},   {"plain", VF_PROGRESS_PLAIN},
    {"json", VF_PROGRESS_JSON}, {"none", VF_PROGRESS_NONE}, {NULL, 0},
};

const vf_opt vf_cli_output_opts[] = {
    {.name = "json",
     .short_name = 'j',
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_cli_common, json),
     .help = "print the result as JSON on stdout (docs/json.md); usage errors too"},
    {.name = "progress",
     .type = VF_OPT_ENUM,
     .offset = offsetof(vf_cli_common, progress),
     .choices = vf_progress_choices,
     .def = "auto",
     .help = "progress on stderr: auto (a bar on a terminal once the run passes a second), "
             "bar, plain (\"N% completed\" lines for logs), json (one job object per line) "
             "or none"},
    {.name = "quiet",
     .short_name = 'q',
     .type = VF_OPT_ENUM,
     .offset = offsetof(vf_cli_common, progress),
     .choices = vf_progress_choices,
     .flags = VF_OPTF_NOARG,
     .implied = VF_PROGRESS_NONE,
     .help = "no progress output (the same as --progress none)"},
    {.name = NULL},
};

/* Add a row per chain-opening option here (see options.h). */
const vf_opt vf_cli_chain_opts[] = {
    {.name = "allow-absolute-parents",
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_cli_common, allow_absolute_parents),
     .help = "also follow parent locators that hold absolute POSIX paths (docs/chain.md)"},
    {.name = "parent-dir",
     .type = VF_OPT_PATH,
     .arg = "DIR",
     .offset = offsetof(vf_cli_common, parent_dir),
     .help = "look for parents only inside DIR (no '..' or symbolic link out of it)"},
    {.name = NULL},
};

/* The commands that only read a chain (info, check, digest, export, compare, convert's SOURCE):
 * one table, not a row each. */
const vf_opt vf_cli_share_opts[] = {
    {.name = "force-share",
     .short_name = 'U',
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_cli_common, force_share),
     .help = "read without taking locks, even while a merge or another writer holds the files "
             "(a warning says the view may be changing)"},
    {.name = NULL},
};

/* -h/--help and -V/--version, added to every command. */
enum { VF_OPTS_HELP = -2, VF_OPTS_VERSION = -3 };
static const vf_opt vf_opts_builtin[] = {
    {.name = "help", .short_name = 'h', .type = VF_OPT_FLAG, .help = "print this help and exit"},
    {.name = "version",
     .short_name = 'V',
     .type = VF_OPT_FLAG,
     .help = "print the version and exit"},
    {.name = NULL},
};

void vf_opt_list_free(vf_opt_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* --- numbers ---------------------------------------------------------------------------- */

static bool vf_opts_why(char *why, size_t why_len, const char *fmt, ...) VF_PRINTF(3, 4);
static bool vf_opts_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return false;
}

static int vf_opts_digit(char c, unsigned base)
{
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : 99;
    return d < (int)base ? d : -1;
}

/* Leading digits of text (decimal, or hex after 0x): false when there are none; *over when
 * the value passes 2^64-1. *end is the first character after the digits. */
static bool vf_opts_digits(const char *text, uint64_t *v, bool *over, const char **end, bool *hex)
{
    unsigned base = 10;
    const char *p = text;
    *hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    if (*hex) {
        base = 16;
        p += 2;
    }
    *v = 0;
    *over = false;
    const char *first = p;
    for (int d; (d = vf_opts_digit(*p, base)) >= 0; p++) {
        if (*v > (UINT64_MAX - (uint64_t)d) / base)
            *over = true;
        else
            *v = *v * base + (uint64_t)d;
    }
    *end = p;
    return p != first;
}

/* "64", "512K": a bound as the user would write it (sizes with the largest exact suffix). */
static void vf_opts_bound_text(uint64_t v, bool size, char *out, size_t len)
{
    static const char *const units[] = {"", "K", "M", "G", "T", "P"};
    unsigned s = 0;
    while (size && v && s < 5 && (v & 1023) == 0) {
        v >>= 10;
        s++;
    }
    snprintf(out, len, "%llu%s", (unsigned long long)v, units[s]);
}

/* The binary suffix at *end (K, M, G, T or P in either case, then B or iB): its shift, with
 * *end moved past it; 0 when there is none. */
static unsigned vf_opts_suffix(const char **end)
{
    static const char units[] = "KMGTP";
    const char *u = **end ? strchr(units, **end & ~0x20) : NULL;
    if (!u)
        return 0;
    const char *p = *end + 1;
    p += (p[0] == 'i' && p[1] == 'B') ? 2 : p[0] == 'B' ? 1 : 0;
    *end = p;
    return 10u * (unsigned)(u - units + 1);
}

/* Why text (past 2^64-1 when over) is outside [min, max] (max 0: no bound but 2^64-1). */
static bool vf_opts_range_error(const char *text, uint64_t min, uint64_t max, bool size, bool over,
                                char *why, size_t why_len)
{
    char lo[32], hi[32];
    vf_opts_bound_text(min, size, lo, sizeof lo);
    vf_opts_bound_text(max, size, hi, sizeof hi);
    if (max)
        return vf_opts_why(why, why_len, "'%s' is out of range (%s..%s)", text, lo, hi);
    if (over)
        return vf_opts_why(why, why_len, "'%s' is too large (at most 2^64-1)", text);
    return vf_opts_why(why, why_len, "'%s' is below the minimum %s", text, lo);
}

static bool vf_opts_number(const char *text, bool size, uint64_t min, uint64_t max, uint64_t *out,
                           char *why, size_t why_len)
{
    uint64_t v;
    bool over, hex;
    const char *end;
    if (!text || !vf_opts_digits(text, &v, &over, &end, &hex))
        return vf_opts_why(why, why_len, "'%s' is not a number", text ? text : "");
    unsigned shift = size && !hex ? vf_opts_suffix(&end) : 0;
    if (*end)
        return vf_opts_why(why, why_len, "'%s' is not a %s", text, size ? "size" : "number");
    over = over || (shift && v > (UINT64_MAX >> shift));
    if (!over)
        v <<= shift;
    if (over || v < min || (max && v > max))
        return vf_opts_range_error(text, min, max, size, over, why, why_len);
    *out = v;
    return true;
}

bool vf_opts_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                        size_t why_len)
{
    return vf_opts_number(text, false, min, max, out, why, why_len);
}

bool vf_opts_parse_size(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                        size_t why_len)
{
    return vf_opts_number(text, true, min, max, out, why, why_len);
}

/* Exact decimal to parts per million; no floating point, so every platform agrees. */
bool vf_opts_parse_fraction(const char *text, uint32_t max_ppm, uint32_t *ppm, char *why,
                            size_t why_len)
{
    uint64_t whole = 0, frac = 0, scale = 1000000;
    const char *p = text ? text : "";
    bool digits = false, fine = false;
    for (; *p >= '0' && *p <= '9' && whole <= 100; p++, digits = true)
        whole = whole * 10 + (uint64_t)(*p - '0');
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            digits = true;
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            } else if (*p != '0') {
                fine = true;
            }
        }
    }
    bool percent = *p == '%';
    p += percent;
    if (*p || !digits || whole > 100)
        return vf_opts_why(why, why_len, "'%s' is not a fraction (such as 0.25 or 25%%)",
                           text ? text : "");
    uint64_t v = whole * 1000000 + frac;
    if (fine || (percent && v % 100))
        return vf_opts_why(why, why_len, "'%s' is finer than one part per million", text);
    v /= percent ? 100 : 1;
    if (v > max_ppm)
        return vf_opts_why(why, why_len, "'%s' is out of range (0..%u.%06u)", text,
                           max_ppm / 1000000, max_ppm % 1000000);
    *ppm = (uint32_t)v;
    return true;
}

/* --- storing one value ------------------------------------------------------------------ */

static bool vf_opts_enum(const vf_opt *o, const char *arg, int *out, char *why, size_t why_len)
{
    if (!arg) {
        *out = o->implied;
        return true;
    }
    for (const vf_opt_choice *c = o->choices; c->name; c++)
        if (!strcmp(arg, c->name)) {
            *out = c->value;
            return true;
        }
    char list[160] = "";
    for (const vf_opt_choice *c = o->choices; c->name; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 c == o->choices ? "" : ", ", c->name);
    return vf_opts_why(why, why_len, "'%s' is not one of %s", arg, list);
}

static bool vf_opts_append(vf_opt_list *l, const char *arg, char *why, size_t why_len)
{
    const char **grown = realloc(l->items, (l->count + 1) * sizeof *grown);
    if (!grown)
        return vf_opts_why(why, why_len, "out of memory");
    l->items = grown;
    l->items[l->count++] = arg;
    return true;
}

/* Store arg (NULL: an optional argument left out) for row o into the group struct at base. */
static bool vf_opts_store(const vf_opt *o, const char *arg, char *base, char *why, size_t why_len)
{
    void *dst = base + o->offset;
    uint64_t v;
    switch (o->type) {
    case VF_OPT_FLAG:
        *(bool *)dst = true;
        return true;
    case VF_OPT_PATH:
        /* "--json --bogus" must not write a file named --bogus: a path that looks like a long
         * option is refused (./--name reaches such a file) */
        if (arg[0] == '-' && arg[1] == '-')
            return vf_opts_why(why, why_len,
                               "wants a file name, not an option (write ./%s for a file of "
                               "that name)",
                               arg);
        *(const char **)dst = arg;
        return true;
    case VF_OPT_STRING:
        *(const char **)dst = arg;
        return true;
    case VF_OPT_ENUM:
        return vf_opts_enum(o, arg, dst, why, why_len);
    case VF_OPT_UINT:
    case VF_OPT_SIZE:
        if (!vf_opts_number(arg, o->type == VF_OPT_SIZE, o->min, o->max, &v, why, why_len))
            return false;
        *(uint64_t *)dst = v;
        return true;
    case VF_OPT_FRACTION:
        return vf_opts_parse_fraction(arg, o->max ? (uint32_t)o->max : 1000000, dst, why, why_len);
    case VF_OPT_LIST:
        return vf_opts_append(dst, arg, why, why_len);
    case VF_OPT_CUSTOM:
        return o->parse(o, arg, dst, why, why_len);
    }
    return vf_opts_why(why, why_len, "unknown option type");
}

/* --- walking the tables ----------------------------------------------------------------- */

#define VF_OPTS_MAX 64

/* Every row of a command, builtins last, with the base of its group. */
typedef struct vf_opts_flat {
    const vf_opt *row[VF_OPTS_MAX];
    size_t base[VF_OPTS_MAX];
    size_t n;
} vf_opts_flat;

static void vf_opts_flatten(const vf_cmd_spec *spec, vf_opts_flat *f)
{
    f->n = 0;
    for (const vf_opt_group *g = spec->groups; g && g->opts; g++)
        for (const vf_opt *o = g->opts; o->name && f->n < VF_OPTS_MAX - 2; o++) {
            f->row[f->n] = o;
            f->base[f->n++] = g->base;
        }
    for (const vf_opt *o = vf_opts_builtin; o->name; o++) {
        f->row[f->n] = o;
        f->base[f->n++] = 0;
    }
}

static bool vf_opts_takes_arg(const vf_opt *o)
{
    return o->type != VF_OPT_FLAG && !(o->flags & VF_OPTF_NOARG);
}

/* The getopt_long tables: long option i returns 0x100 + i; short flags return themselves. */
static void vf_opts_getopt_tables(const vf_opts_flat *f, struct option *lo, char *shorts)
{
    size_t k = 0;
    shorts[k++] = ':'; /* a missing argument returns ':' */
    for (size_t i = 0; i < f->n; i++) {
        const vf_opt *o = f->row[i];
        bool arg = vf_opts_takes_arg(o);
        int has = !arg                            ? no_argument
                  : (o->flags & VF_OPTF_OPTIONAL) ? optional_argument
                                                  : required_argument;
        lo[i] = (struct option){o->name, has, NULL, 0x100 + (int)i};
        if (o->short_name) {
            shorts[k++] = o->short_name;
            if (arg)
                shorts[k++] = ':';
        }
    }
    lo[f->n] = (struct option){NULL, 0, NULL, 0};
    shorts[k] = '\0';
}

/* Row index of what getopt_long returned (a long index code or a short flag), or -1. */
static int vf_opts_row_of(const vf_opts_flat *f, int code)
{
    if (code >= 0x100 && (size_t)(code - 0x100) < f->n)
        return code - 0x100;
    for (size_t i = 0; i < f->n; i++)
        if (code > 0 && f->row[i]->short_name == code)
            return (int)i;
    return -1;
}

static void vf_opts_free_lists(const vf_opts_flat *f, char *dst)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->row[i]->type == VF_OPT_LIST)
            vf_opt_list_free((vf_opt_list *)(dst + f->base[i] + f->row[i]->offset));
}

/* How many long names start with the word (no '='); for "ambiguous" versus "unknown". */
static size_t vf_opts_prefix_matches(const vf_opts_flat *f, const char *word)
{
    size_t len = strcspn(word, "="), n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += strncmp(f->row[i]->name, word, len) == 0;
    return n;
}

/* The usage error for what getopt_long refused (code '?' or ':'). */
static int vf_opts_refused(const vf_cmd_spec *spec, const vf_opts_flat *f, int code,
                           const char *word)
{
    int r = vf_opts_row_of(f, optopt);
    bool is_long = optopt == 0 || optopt >= 0x100; /* glibc: 0 for an unknown long name */
    if (code == ':' && r >= 0)
        return vf_usage_error(spec->name, "--%s needs an argument (%s)", f->row[r]->name,
                              f->row[r]->arg ? f->row[r]->arg : "a value");
    if (r >= 0 && is_long)
        return vf_usage_error(spec->name, "--%s takes no argument ('%s')", f->row[r]->name, word);
    if (!is_long)
        return vf_usage_error(spec->name, "unknown option '-%c'", optopt);
    int len = (int)strcspn(word, "=");
    if (vf_opts_prefix_matches(f, word + 2) > 1)
        return vf_usage_error(spec->name, "ambiguous option '%.*s'", len, word);
    return vf_usage_error(spec->name, "unknown option '%.*s'", len, word);
}

static int vf_opts_bad_value(const vf_cmd_spec *spec, const vf_opt *o, const char *why)
{
    return vf_usage_error(spec->name, "--%s: %s", o->name, why);
}

static int vf_opts_defaults(const vf_cmd_spec *spec, const vf_opts_flat *f, char *dst)
{
    char why[160];
    for (size_t i = 0; i < f->n; i++)
        if (f->row[i]->def &&
            !vf_opts_store(f->row[i], f->row[i]->def, dst + f->base[i], why, sizeof why))
            return vf_opts_bad_value(spec, f->row[i], why); /* a bad table: caught by -h tests */
    return -1;
}

static int vf_opts_positionals(const vf_cmd_spec *spec, int argc, char **argv, char **pos,
                               size_t npos)
{
    size_t want = 0;
    bool many = false; /* the last positional is "NAME...": one or more */
    for (const vf_opt_positional *p = spec->positionals; p && p->name; p++, want++) {
        size_t len = strlen(p->name);
        many = len > 3 && !strcmp(p->name + len - 3, "...");
    }
    size_t need = want > spec->optional_tail ? want - spec->optional_tail : 0;
    char names[160] = "";
    for (size_t i = 0; i < want; i++) /* optional ones in brackets: "SOURCE [DESTINATION]" */
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s%s%s", i ? " " : "",
                 i >= need ? "[" : "", spec->positionals[i].name, i >= need ? "]" : "");
    size_t got = (size_t)(argc - optind);
    if (many && got >= want)
        got = want; /* the rest are more of the last one */
    if (got > want && want == 0)
        return vf_usage_error(spec->name, "unexpected argument '%s'", argv[optind]);
    if (got < need || got > want)
        return vf_usage_error(spec->name, "expected %s, got %zu argument%s", names, got,
                              got == 1 ? "" : "s");
    for (size_t i = 0; i < want && i < npos; i++)
        pos[i] = i < got ? argv[optind + (int)i] : NULL;
    return -1;
}

/* One option getopt_long returned: -1 to go on, else the exit status. */
static int vf_opts_one(const vf_cmd_spec *spec, const vf_opts_flat *f, int r, char *dst)
{
    const vf_opt *o = f->row[r];
    if (o == &vf_opts_builtin[0]) {
        vf_opts_print_help(spec, stdout);
        return VF_EXIT_OK;
    }
    if (o == &vf_opts_builtin[1]) {
        vf_print_version(spec->name);
        return VF_EXIT_OK;
    }
    char why[200];
    if (!vf_opts_store(o, optarg, dst + f->base[r], why, sizeof why))
        return vf_opts_bad_value(spec, o, why);
    return -1;
}

/* --- JSON usage errors ------------------------------------------------------------------ */

static bool vf_opts_json_mode; /* the CLI's one run: which output its usage errors take */

void vf_cli_set_json_mode(bool on)
{
    vf_opts_json_mode = on;
}

bool vf_cli_json_mode(void)
{
    return vf_opts_json_mode;
}

/* Whether argv asks for JSON: the command has a "json" FLAG row and a word before "--" is
 * --json or a prefix of it getopt_long would take (at least "--js"). Read before the options,
 * so that a usage error anywhere on the line is reported as JSON too. */
static bool vf_opts_wants_json(const vf_opts_flat *f, int argc, char **argv)
{
    bool has = false;
    for (size_t i = 0; i < f->n; i++)
        has = has || (f->row[i]->type == VF_OPT_FLAG && !strcmp(f->row[i]->name, "json"));
    for (int i = 1; has && i < argc && strcmp(argv[i], "--"); i++)
        if (strlen(argv[i]) >= 4 && !strncmp(argv[i], "--json", strlen(argv[i])))
            return true;
    return false;
}

int vf_opts_parse(const vf_cmd_spec *spec, int argc, char **argv, void *dst, char **pos,
                  size_t npos)
{
    vf_opts_flat f;
    vf_opts_flatten(spec, &f);
    vf_cli_set_json_mode(vf_opts_wants_json(&f, argc, argv));
    struct option lo[VF_OPTS_MAX + 1];
    char shorts[2 * VF_OPTS_MAX + 2];
    vf_opts_getopt_tables(&f, lo, shorts);
    int rc = vf_opts_defaults(spec, &f, dst);
    optind = 0; /* glibc: start afresh, forget any half-read cluster of short flags */
    opterr = 0;
    for (int code; rc < 0 && (code = getopt_long(argc, argv, shorts, lo, NULL)) != -1;) {
        int r = vf_opts_row_of(&f, code);
        rc = r < 0 ? vf_opts_refused(spec, &f, code, argv[optind - 1])
                   : vf_opts_one(spec, &f, r, dst);
    }
    if (rc < 0)
        rc = vf_opts_positionals(spec, argc, argv, pos, npos);
    if (rc >= 0)
        vf_opts_free_lists(&f, dst);
    return rc;
}

int vf_opts_parse_files(const vf_cmd_spec *spec, int argc, char **argv, void *dst, char ***files,
                        size_t *nfiles)
{
    char *first[1];
    int rc = vf_opts_parse(spec, argc, argv, dst, first, 1);
    if (rc < 0) {
        *files = argv + optind;
        *nfiles = (size_t)(argc - optind);
    }
    return rc;
}

/* --- help ------------------------------------------------------------------------------- */

#define VF_HELP_WIDTH 79
#define VF_HELP_INDENT 24

void vf_opts_arg_text(const vf_opt *o, char *out, size_t len)
{
    out[0] = '\0';
    if (o->type == VF_OPT_FLAG || (o->flags & VF_OPTF_NOARG))
        return;
    if (o->type == VF_OPT_ENUM && !o->arg) {
        for (const vf_opt_choice *c = o->choices; c->name; c++)
            snprintf(out + strlen(out), len - strlen(out), "%s%s", c == o->choices ? "" : "|",
                     c->name);
        return;
    }
    snprintf(out, len, "%s", o->arg ? o->arg : "VALUE");
}

/* "--name VALUE", "-h, --help", "--verify[=flat|tree]". */
static void vf_opts_left_column(const vf_opt *o, char *out, size_t len)
{
    char arg[160];
    vf_opts_arg_text(o, arg, sizeof arg);
    int n = o->short_name ? snprintf(out, len, "-%c, ", o->short_name) : 0;
    const char *sep = !arg[0] ? "" : (o->flags & VF_OPTF_OPTIONAL) ? "[=" : " ";
    snprintf(out + n, len - (size_t)n, "--%s%s%s%s", o->name, sep, arg,
             (o->flags & VF_OPTF_OPTIONAL) && arg[0] ? "]" : "");
}

/* Print text word-wrapped from column col (the cursor is there already) to VF_HELP_WIDTH,
 * continuation lines indented by indent. */
static void vf_opts_wrap(FILE *to, const char *text, size_t col, size_t indent)
{
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " \n");
        if (col > indent && col + 1 + w > VF_HELP_WIDTH) {
            fprintf(to, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', to);
            col++;
        }
        fprintf(to, "%.*s", (int)w, p);
        col += w;
        p += w;
        while (*p == ' ' || *p == '\n')
            p++;
    }
    fputc('\n', to);
}

static void vf_opts_help_row(const vf_opt *o, FILE *to)
{
    char left[200], text[600];
    vf_opts_left_column(o, left, sizeof left);
    snprintf(text, sizeof text, "%s%s%s%s", o->help ? o->help : "", o->def ? " (default " : "",
             o->def ? o->def : "", o->def ? ")" : "");
    if (o->type == VF_OPT_LIST)
        snprintf(text + strlen(text), sizeof text - strlen(text), "; repeatable");
    fprintf(to, "  %s", left);
    size_t col = 2 + strlen(left);
    if (col + 2 > VF_HELP_INDENT) {
        fprintf(to, "\n");
        col = 0;
    }
    fprintf(to, "%*s", (int)(VF_HELP_INDENT - col), "");
    vf_opts_wrap(to, text, VF_HELP_INDENT, VF_HELP_INDENT);
}

/* Paragraphs of text (blank-line separated), each wrapped to the width. */
static void vf_opts_paragraphs(FILE *to, const char *text)
{
    char buf[2048];
    for (const char *p = text; p && *p;) {
        const char *end = strstr(p, "\n\n");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s", (int)n, p);
        vf_opts_wrap(to, buf, 0, 0);
        p += n;
        if (*p) {
            fputc('\n', to);
            p += 2;
        }
    }
}

void vf_opts_print_help(const vf_cmd_spec *spec, FILE *to)
{
    fprintf(to, "usage: vhdfold %s %s\n\n", spec->name, spec->synopsis);
    vf_opts_paragraphs(to, spec->description);
    if (spec->positionals && spec->positionals[0].name) {
        fprintf(to, "\narguments:\n");
        for (const vf_opt_positional *p = spec->positionals; p->name; p++) {
            fprintf(to, "  %-*s", VF_HELP_INDENT - 2, p->name);
            vf_opts_wrap(to, p->help, VF_HELP_INDENT, VF_HELP_INDENT);
        }
    }
    fprintf(to, "\noptions:\n");
    vf_opts_flat f;
    vf_opts_flatten(spec, &f);
    for (size_t i = 0; i < f.n; i++)
        if (!(f.row[i]->flags & VF_OPTF_HIDDEN))
            vf_opts_help_row(f.row[i], to);
    if (spec->exit_status) {
        char text[1024];
        snprintf(text, sizeof text, "exit status: %s", spec->exit_status);
        fprintf(to, "\n");
        vf_opts_paragraphs(to, text);
    }
}

/* For options_doc.c: every visible row of a command, builtins included. */
size_t vf_opts_rows(const vf_cmd_spec *spec, const vf_opt **rows, size_t max)
{
    vf_opts_flat f;
    vf_opts_flatten(spec, &f);
    size_t n = 0;
    for (size_t i = 0; i < f.n && n < max; i++)
        if (!(f.row[i]->flags & VF_OPTF_HIDDEN))
            rows[n++] = f.row[i];
    return n;
}

vf_opt_choice vf_opt_formats[VF_OPT_MAX_FORMATS + 1];
vf_opt_choice vf_opt_formats_raw[VF_OPT_MAX_FORMATS + 2];
char vf_opt_format_default[VF_OPT_FORMAT_NAME_MAX];

void vf_opt_formats_init(void)
{
    size_t n = 0;
    for (size_t i = 0; i < vf_format_count() && n < VF_OPT_MAX_FORMATS; i++) {
        vf_format_kind f = vf_format_at(i);
        vf_opt_formats[n].name = vf_format_name(f);
        vf_opt_formats[n++].value = (int)f;
    }
    vf_opt_formats[n].name = NULL;
    memcpy(vf_opt_formats_raw, vf_opt_formats, n * sizeof vf_opt_formats[0]);
    vf_opt_formats_raw[n].name = "raw";
    vf_opt_formats_raw[n].value = VF_OPT_FORMAT_RAW;
    vf_opt_formats_raw[n + 1].name = NULL;
    snprintf(vf_opt_format_default, sizeof vf_opt_format_default, "%s",
             vf_format_name(vf_format_default()));
}
