/* main.c - the vhdfold entry point: the subcommand table, --help/--version, and the single
 * mapping from library statuses to the exit codes fixed in docs/design.md "The CLI contract".
 * Layer: cli. Each command lives in its own cmd_<name>.c and parses its own options. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    vf_cmd_fn run;
    const char *summary;
} vf_commands[] = {
    {"info", vf_cmd_info, "describe an image and the chain below it"},
    {"check", vf_cmd_check, "validate the structure of an image and its chain"},
    {"digest", vf_cmd_digest, "SHA-256 of the flattened disk (flat or tree)"},
    {"export", vf_cmd_export, "write the flattened disk as a raw image"},
    {"compare", vf_cmd_compare, "compare two flattened disks (chains or raw files)"},
    {"gen", vf_cmd_gen, "generate a seeded random differencing chain"},
    {"merge", vf_cmd_merge, "merge SOURCE and the disks between into DESTINATION"},
    {"conform", vf_cmd_conform, "judge another merge command or reader on generated cases"},
};
#define VF_NCOMMANDS (sizeof vf_commands / sizeof vf_commands[0])

int vf_exit_code(vf_status st)
{
    switch (st) {
    case VF_OK:
        return VF_EXIT_OK;
    case VF_E_INVAL:
    case VF_E_STATE:
        return VF_EXIT_USAGE;
    case VF_E_TRUNCATED:
    case VF_E_FORMAT:
    case VF_E_CORRUPT:
    case VF_E_UNSUPPORTED:
    case VF_E_CHAIN:
        return VF_EXIT_CORRUPT;
    case VF_E_NOMEM:
    case VF_E_IO:
    case VF_E_LIMIT:
    case VF_E_BUSY:
    case VF_E_CANCELED:
        return VF_EXIT_SYSTEM;
    }
    return VF_EXIT_SYSTEM;
}

int vf_report_error(const vf_error *err)
{
    fprintf(stderr, "vhdfold: %s\n", err->msg[0] ? err->msg : vf_status_text(err->code));
    return vf_exit_code(err->code);
}

int vf_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vhdfold %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'vhdfold %s --help')\n", cmd);
    return VF_EXIT_USAGE;
}

bool vf_parse_size(const char *text, unsigned long long *out)
{
    if (!text || !*text || *text == '-')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text)
        return false;
    unsigned shift = 0;
    if (*end) {
        const char *units = "KMGTP";
        const char *u = strchr(units, *end >= 'a' ? *end - 32 : *end);
        if (!u || !*u)
            return false;
        shift = 10u * (unsigned)(u - units + 1);
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
        if (*end)
            return false;
    }
    if (shift && v > (ULLONG_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

void vf_print_version(const char *cmd)
{
    printf("vhdfold%s%s %s\n", cmd ? " " : "", cmd ? cmd : "", vf_version());
}

static void vf_main_usage(FILE *to)
{
    fprintf(to, "usage: vhdfold COMMAND [options] ...\n\ncommands:\n");
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        fprintf(to, "  %-8s %s\n", vf_commands[i].name, vf_commands[i].summary);
    fprintf(to, "\n'vhdfold COMMAND --help' describes a command.\n"
                "exit status: 0 success, 1 the answer is no, 2 usage, 3 corrupt or unsupported "
                "image, 4 system error\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        vf_main_usage(stderr);
        return VF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        vf_main_usage(stdout);
        return VF_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        vf_print_version(NULL);
        return VF_EXIT_OK;
    }
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        if (!strcmp(argv[1], vf_commands[i].name))
            return vf_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vhdfold: unknown command '%s' (see 'vhdfold --help')\n", argv[1]);
    return VF_EXIT_USAGE;
}
