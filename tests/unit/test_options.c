/* test_options.c - unit tests of the declarative option parser (cli/options.c): the number
 * parsers (decimal, 0x, size suffixes, overflow at 2^64, sign, empty, trailing junk, ranges),
 * the fraction parser against the generator's own, every option type of a test table,
 * --opt=v and --opt v, short flags, missing arguments, unknown and ambiguous options,
 * repeated options, `--`, options after positionals, help, man page and completion text.
 * Layer: tests (unit). vf_usage_error and vf_print_version are recorded here, not printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "options.h"
#include "vf_gen.h"

/* --- what the parser reports ---------------------------------------------------------- */

static char last_error[512];
static int versions_printed;

int vf_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(last_error, sizeof last_error, "%s: ", cmd);
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return VF_EXIT_USAGE;
}

void vf_print_version(const char *cmd)
{
    (void)cmd;
    versions_printed++;
}

/* --- numbers -------------------------------------------------------------------------- */

static bool num(const char *text, uint64_t *v)
{
    char why[128];
    return vf_opts_parse_uint(text, 0, 0, v, why, sizeof why);
}

static bool size(const char *text, uint64_t *v)
{
    char why[128];
    return vf_opts_parse_size(text, 0, 0, v, why, sizeof why);
}

static void test_uint_accepts(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(num("0", &v));
    assert_int_equal(v, 0);
    assert_true(num("16", &v));
    assert_int_equal(v, 16);
    assert_true(num("0x10", &v));
    assert_int_equal(v, 16);
    assert_true(num("0XfF", &v));
    assert_int_equal(v, 255);
    assert_true(num("010", &v)); /* decimal, not octal */
    assert_int_equal(v, 10);
    assert_true(num("18446744073709551615", &v));
    assert_true(v == UINT64_MAX);
    assert_true(num("0xFFFFFFFFFFFFFFFF", &v));
    assert_true(v == UINT64_MAX);
}

static void test_uint_refuses(void **state)
{
    (void)state;
    uint64_t v = 7;
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "12x", "0x", "0x1g", "1.0", "1K", "x10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char why[128] = "";
        assert_false(vf_opts_parse_uint(bad[i], 0, 0, &v, why, sizeof why));
        assert_non_null(strstr(why, "is not a number"));
    }
    assert_int_equal(v, 7); /* untouched */
    char why[128];
    assert_false(vf_opts_parse_uint("18446744073709551616", 0, 0, &v, why, sizeof why));
    assert_string_equal(why, "'18446744073709551616' is too large (at most 2^64-1)");
    assert_false(vf_opts_parse_uint("0x10000000000000000", 0, 0, &v, why, sizeof why));
    assert_non_null(strstr(why, "too large"));
    assert_false(vf_opts_parse_uint(NULL, 0, 0, &v, why, sizeof why));
}

static void test_uint_range(void **state)
{
    (void)state;
    uint64_t v;
    char why[128];
    assert_true(vf_opts_parse_uint("64", 1, 64, &v, why, sizeof why));
    assert_true(vf_opts_parse_uint("1", 1, 64, &v, why, sizeof why));
    assert_false(vf_opts_parse_uint("65", 1, 64, &v, why, sizeof why));
    assert_string_equal(why, "'65' is out of range (1..64)");
    assert_false(vf_opts_parse_uint("0", 1, 64, &v, why, sizeof why));
    assert_string_equal(why, "'0' is out of range (1..64)");
    assert_false(vf_opts_parse_uint("18446744073709551616", 1, 64, &v, why, sizeof why));
    assert_string_equal(why, "'18446744073709551616' is out of range (1..64)");
    assert_false(vf_opts_parse_uint("0", 5, 0, &v, why, sizeof why));
    assert_string_equal(why, "'0' is below the minimum 5");
}

static void test_size_suffixes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        {"512", 512},
        {"4K", 4096},
        {"4k", 4096},
        {"4KB", 4096},
        {"4KiB", 4096},
        {"2M", 2u << 20},
        {"2MiB", 2u << 20},
        {"1G", 1ull << 30},
        {"2T", 2ull << 40},
        {"1P", 1ull << 50},
        {"16383P", 16383ull << 50},
        {"0x1000", 4096},
        {"0", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        uint64_t v = 0;
        assert_true(size(ok[i].text, &v));
        assert_true(v == ok[i].want);
    }
    const char *bad[] = {"", "K", "4X", "4Ki", "4KBB", "4 K", "-4K", "0x10M", "1E", "4Kib"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t v;
        char why[128] = "";
        assert_false(vf_opts_parse_size(bad[i], 0, 0, &v, why, sizeof why));
        assert_true(strstr(why, "is not a size") || strstr(why, "is not a number"));
    }
    uint64_t v;
    char why[128];
    assert_false(vf_opts_parse_size("16384P", 0, 0, &v, why, sizeof why)); /* 2^64 */
    assert_non_null(strstr(why, "too large"));
    assert_false(vf_opts_parse_size("8G", 512u << 10, 4ull << 30, &v, why, sizeof why));
    assert_string_equal(why, "'8G' is out of range (512K..4G)");
}

static void test_fraction(void **state)
{
    (void)state;
    /* Same answers as the generator's own parser: manifests depend on the exact ppm. */
    const char *texts[] = {"0",    "1",         "0.1",       ".05", "25%",  "100%", "0.123456",
                           "0.6",  "0.1234567", "0.1000000", "1.5", "abc",  "",     "%",
                           "101%", "0.5%",      "0.25%",     "1.",  "1e-1", "-0.1", "2"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        uint32_t a = 1, b = 1;
        char why[128];
        bool ours = vf_opts_parse_fraction(texts[i], 1000000, &a, why, sizeof why);
        bool gens = vf_gen_parse_density(texts[i], &b);
        assert_int_equal(ours, gens);
        if (ours)
            assert_int_equal(a, b);
    }
    uint32_t v;
    char why[128];
    assert_true(vf_opts_parse_fraction("0.1", 1000000, &v, why, sizeof why));
    assert_int_equal(v, 100000);
    assert_false(vf_opts_parse_fraction("1.5", 1000000, &v, why, sizeof why));
    assert_string_equal(why, "'1.5' is out of range (0..1.000000)");
}

/* --- a table with every type ---------------------------------------------------------- */

typedef struct t_args {
    bool flag;
    const char *str, *path;
    int colour, verify;
    uint64_t count, bytes;
    uint32_t ppm;
    vf_opt_list items;
    uint64_t custom;
    struct {
        bool shared;
    } group;
} t_args;

static bool t_even(const vf_opt *opt, const char *arg, void *dst, char *why, size_t why_len)
{
    char w[64];
    uint64_t v;
    (void)opt;
    if (!vf_opts_parse_uint(arg, 0, 0, &v, w, sizeof w) || v % 2) {
        snprintf(why, why_len, "'%s' is not even", arg);
        return false;
    }
    *(uint64_t *)dst = v;
    return true;
}

static const vf_opt_choice t_colours[] = {{"red", 1}, {"green", 2}, {"blue", 3}, {NULL, 0}};

static const vf_opt t_table[] = {
    {.name = "flag",
     .short_name = 'f',
     .type = VF_OPT_FLAG,
     .offset = offsetof(t_args, flag),
     .help = "a flag"},
    {.name = "str",
     .short_name = 's',
     .type = VF_OPT_STRING,
     .offset = offsetof(t_args, str),
     .arg = "TEXT",
     .help = "a string"},
    {.name = "path",
     .type = VF_OPT_PATH,
     .offset = offsetof(t_args, path),
     .arg = "FILE",
     .help = "a path"},
    {.name = "colour",
     .type = VF_OPT_ENUM,
     .offset = offsetof(t_args, colour),
     .choices = t_colours,
     .def = "green",
     .help = "a colour"},
    {.name = "verify",
     .type = VF_OPT_ENUM,
     .offset = offsetof(t_args, verify),
     .choices = t_colours,
     .flags = VF_OPTF_OPTIONAL,
     .implied = 3,
     .help = "optional"},
    {.name = "count",
     .type = VF_OPT_UINT,
     .offset = offsetof(t_args, count),
     .arg = "N",
     .min = 1,
     .max = 64,
     .def = "3",
     .help = "a count"},
    {.name = "bytes",
     .type = VF_OPT_SIZE,
     .offset = offsetof(t_args, bytes),
     .arg = "SIZE",
     .def = "64M",
     .help = "a size"},
    {.name = "ppm",
     .type = VF_OPT_FRACTION,
     .offset = offsetof(t_args, ppm),
     .arg = "F",
     .def = "0.1",
     .help = "a fraction"},
    {.name = "item",
     .type = VF_OPT_LIST,
     .offset = offsetof(t_args, items),
     .arg = "X",
     .help = "items"},
    {.name = "even",
     .type = VF_OPT_CUSTOM,
     .offset = offsetof(t_args, custom),
     .arg = "N",
     .parse = t_even,
     .help = "an even number"},
    {.name = "secret",
     .type = VF_OPT_FLAG,
     .offset = offsetof(t_args, flag),
     .flags = VF_OPTF_HIDDEN,
     .help = "hidden"},
    {.name = NULL},
};

static const vf_opt t_shared[] = {
    {.name = "shared", .type = VF_OPT_FLAG, .offset = 0, .help = "from a shared group"},
    {.name = NULL},
};

static const vf_opt_group t_groups[] = {
    {t_table, 0},
    {t_shared, offsetof(t_args, group)},
    {NULL, 0},
};

static const vf_opt_positional t_pos[] = {{"IN", "the input"}, {"OUT", "the output"}, {NULL, NULL}};

static const vf_cmd_spec t_spec = {
    .name = "tcmd",
    .summary = "a test command",
    .synopsis = "[options] IN OUT",
    .description = "First paragraph.\n\nSecond paragraph with a backslash \\ and -dash.",
    .positionals = t_pos,
    .groups = t_groups,
    .exit_status = "0 fine, 2 usage.",
};

/* Parse the words (NULL-terminated) into *a; returns the parser's result. */
static int t_parse(t_args *a, char **pos, const char *const *words)
{
    static char store[32][64];
    char *argv[33];
    int argc = 0;
    argv[argc++] = strcpy(store[0], "tcmd");
    for (; words[argc - 1]; argc++)
        argv[argc] = strcpy(store[argc], words[argc - 1]);
    argv[argc] = NULL;
    memset(a, 0, sizeof *a);
    last_error[0] = '\0';
    return vf_opts_parse(&t_spec, argc, argv, a, pos, 2);
}

#define PARSE(a, pos, ...) t_parse(a, pos, (const char *const[]){__VA_ARGS__, NULL})

static void test_defaults_and_types(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    assert_int_equal(PARSE(&a, pos, "in", "out"), -1);
    assert_false(a.flag);
    assert_int_equal(a.colour, 2);
    assert_int_equal(a.verify, 0);
    assert_int_equal(a.count, 3);
    assert_true(a.bytes == 64u << 20);
    assert_int_equal(a.ppm, 100000);
    assert_string_equal(pos[0], "in");
    assert_string_equal(pos[1], "out");

    assert_int_equal(PARSE(&a, pos, "--flag", "--str", "hello", "--path=/x/y", "--colour=blue",
                           "--count", "0x10", "--bytes=4KiB", "--ppm", "25%", "--even", "8",
                           "--shared", "in", "out"),
                     -1);
    assert_true(a.flag);
    assert_string_equal(a.str, "hello");
    assert_string_equal(a.path, "/x/y");
    assert_int_equal(a.colour, 3);
    assert_int_equal(a.count, 16);
    assert_int_equal(a.bytes, 4096);
    assert_int_equal(a.ppm, 250000);
    assert_int_equal(a.custom, 8);
    assert_true(a.group.shared);
}

static void test_equals_and_space(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    assert_int_equal(PARSE(&a, pos, "--str=x y", "--count=7", "in", "out"), -1);
    assert_string_equal(a.str, "x y");
    assert_int_equal(a.count, 7);
    assert_int_equal(PARSE(&a, pos, "--str", "--flag", "--count", "7", "in", "out"), -1);
    assert_string_equal(a.str, "--flag"); /* a required argument is taken as it comes */
    assert_false(a.flag);
    assert_int_equal(PARSE(&a, pos, "-s", "v", "-f", "in", "out"), -1);
    assert_string_equal(a.str, "v");
    assert_true(a.flag);
    assert_int_equal(PARSE(&a, pos, "-sv2", "in", "out"), -1);
    assert_string_equal(a.str, "v2");
    assert_int_equal(PARSE(&a, pos, "--fl", "--cou=5", "in", "out"), -1); /* unique prefixes */
    assert_true(a.flag);
    assert_int_equal(a.count, 5);
}

static void test_optional_argument(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    assert_int_equal(PARSE(&a, pos, "--verify", "in", "out"), -1);
    assert_int_equal(a.verify, 3);
    assert_int_equal(PARSE(&a, pos, "in", "--verify=red", "out"), -1);
    assert_int_equal(a.verify, 1);
    /* only --verify=MODE gives the mode; a separate word is a positional */
    assert_int_equal(PARSE(&a, pos, "--verify", "red", "out"), -1);
    assert_int_equal(a.verify, 3);
    assert_string_equal(pos[0], "red");
}

static void test_errors(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    assert_int_equal(PARSE(&a, pos, "in", "out", "--count"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --count needs an argument (N)");
    assert_int_equal(PARSE(&a, pos, "in", "out", "-s"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --str needs an argument (TEXT)");
    assert_int_equal(PARSE(&a, pos, "--nope", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: unknown option '--nope'");
    assert_int_equal(PARSE(&a, pos, "--nope=3", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: unknown option '--nope'");
    assert_int_equal(PARSE(&a, pos, "-z", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: unknown option '-z'");
    assert_int_equal(PARSE(&a, pos, "-fz", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: unknown option '-z'");
    assert_int_equal(PARSE(&a, pos, "--s", "in", "out"), VF_EXIT_USAGE); /* str, shared */
    assert_string_equal(last_error, "tcmd: ambiguous option '--s'");
    assert_int_equal(PARSE(&a, pos, "--flag=yes", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --flag takes no argument ('--flag=yes')");
    assert_int_equal(PARSE(&a, pos, "--colour", "pink", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --colour: 'pink' is not one of red, green, blue");
    assert_int_equal(PARSE(&a, pos, "--count", "65", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --count: '65' is out of range (1..64)");
    assert_int_equal(PARSE(&a, pos, "--bytes", "4Q", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --bytes: '4Q' is not a size");
    assert_int_equal(PARSE(&a, pos, "--even", "3", "in", "out"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: --even: '3' is not even");
    assert_int_equal(PARSE(&a, pos, "in"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: expected IN OUT, got 1 argument");
    assert_int_equal(PARSE(&a, pos, "a", "b", "c"), VF_EXIT_USAGE);
    assert_string_equal(last_error, "tcmd: expected IN OUT, got 3 arguments");
}

static void test_repeats_and_end(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    assert_int_equal(PARSE(&a, pos, "--count", "2", "--item", "x", "in", "--count=9", "--item=y",
                           "out", "--item", "z"),
                     -1);
    assert_int_equal(a.count, 9); /* the last one wins */
    assert_int_equal(a.items.count, 3);
    assert_string_equal(a.items.items[0], "x");
    assert_string_equal(a.items.items[1], "y");
    assert_string_equal(a.items.items[2], "z");
    vf_opt_list_free(&a.items);
    assert_int_equal(PARSE(&a, pos, "--flag", "--", "--count", "-f"), -1);
    assert_true(a.flag);
    assert_int_equal(a.count, 3);
    assert_string_equal(pos[0], "--count");
    assert_string_equal(pos[1], "-f");
    /* an error after list items frees them (ASan would report a leak) */
    assert_int_equal(PARSE(&a, pos, "--item", "x", "--bogus", "in", "out"), VF_EXIT_USAGE);
    assert_null(a.items.items);
}

static void test_help_and_version(void **state)
{
    (void)state;
    t_args a;
    char *pos[2];
    versions_printed = 0;
    assert_int_equal(PARSE(&a, pos, "-V"), VF_EXIT_OK);
    assert_int_equal(PARSE(&a, pos, "--version"), VF_EXIT_OK);
    assert_int_equal(versions_printed, 2);
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    assert_non_null(stdout);
    assert_int_equal(PARSE(&a, pos, "--count=5", "-h"), VF_EXIT_OK);
    assert_int_equal(PARSE(&a, pos, "--help", "--nope"), VF_EXIT_OK);
    fclose(stdout);
    stdout = saved;
}

static char *t_capture(void (*fn)(FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f);
    fclose(f);
    return buf;
}

static void t_help(FILE *f)
{
    vf_opts_print_help(&t_spec, f);
}

static void test_help_text(void **state)
{
    (void)state;
    char *h = t_capture(t_help);
    assert_true(strncmp(h, "usage: vhdfold tcmd [options] IN OUT\n\nFirst paragraph.\n\n", 56) ==
                0);
    assert_non_null(strstr(h, "\narguments:\n  IN                    the input\n"));
    assert_non_null(strstr(h, "  -f, --flag            a flag\n"));
    assert_non_null(strstr(h, "  -s, --str TEXT        a string\n"));
    assert_non_null(strstr(h, "  --colour red|green|blue\n"));
    assert_non_null(strstr(h, "a colour (default green)\n"));
    assert_non_null(strstr(h, "  --verify[=red|green|blue]\n"));
    assert_non_null(strstr(h, "  --count N             a count (default 3)\n"));
    assert_non_null(strstr(h, "  --item X              items; repeatable\n"));
    assert_non_null(strstr(h, "  --shared              from a shared group\n"));
    assert_non_null(strstr(h, "  -h, --help"));
    assert_non_null(strstr(h, "  -V, --version"));
    assert_non_null(strstr(h, "\nexit status: 0 fine, 2 usage.\n"));
    assert_null(strstr(h, "secret"));
    free(h);
}

static void t_man(FILE *f)
{
    vf_opts_print_man(&t_spec, "9.9", f);
}

static void t_completion(FILE *f)
{
    const vf_cmd_spec *specs[] = {&t_spec};
    vf_opts_print_completion(specs, 1, f);
}

static void test_man_and_completion(void **state)
{
    (void)state;
    char *m = t_capture(t_man);
    assert_non_null(strstr(m, ".TH VHDFOLD-TCMD 1 \"\" \"vhdfold 9.9\""));
    assert_non_null(strstr(m, ".SH NAME\nvhdfold\\-tcmd \\- a test command\n"));
    assert_non_null(strstr(m, "\\fB\\-f\\fR, \\fB\\-\\-flag\\fR\n"));
    assert_non_null(strstr(m, "\\fB\\-\\-colour\\fR \\fIred|green|blue\\fR\n"));
    assert_non_null(strstr(m, "First paragraph.\n.PP\nSecond paragraph with a backslash \\e and "
                              "\\-dash.\n"));
    assert_null(strstr(m, "secret"));
    free(m);
    char *c = t_capture(t_completion);
    assert_non_null(strstr(c, "    tcmd)\n"));
    assert_non_null(strstr(c, "        --colour)\n            COMPREPLY=($(compgen -W \"red green "
                              "blue\" -- \"$cur\"))\n"));
    assert_non_null(strstr(c, "        --path)\n            COMPREPLY=($(compgen -f"));
    assert_non_null(strstr(c, "--flag --str --path"));
    assert_non_null(strstr(c, "complete -o filenames -o bashdefault -F _vhdfold vhdfold\n"));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_accepts),
        cmocka_unit_test(test_uint_refuses),
        cmocka_unit_test(test_uint_range),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_fraction),
        cmocka_unit_test(test_defaults_and_types),
        cmocka_unit_test(test_equals_and_space),
        cmocka_unit_test(test_optional_argument),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_repeats_and_end),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_help_text),
        cmocka_unit_test(test_man_and_completion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
