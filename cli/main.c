/* main.c - the vhdfold entry point: the subcommand table, --help/--version, and the single
 * mapping from library statuses to the exit codes fixed in docs/design.md "The CLI contract".
 * Layer: cli. Each command lives in its own cmd_<name>.c with its option tables (options.h). */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "output.h"

static const struct {
    const char *name;
    vf_cmd_fn run;
    const vf_cmd_spec *spec; /* options, help, man page (summary: spec->summary) */
} vf_commands[] = {
    {"info", vf_cmd_info, &vf_info_spec},
    {"check", vf_cmd_check, &vf_check_spec},
    {"digest", vf_cmd_digest, &vf_digest_spec},
    {"export", vf_cmd_export, &vf_export_spec},
    {"compare", vf_cmd_compare, &vf_compare_spec},
    {"gen", vf_cmd_gen, &vf_gen_spec},
    {"merge", vf_cmd_merge, &vf_merge_spec},
    {"conform", vf_cmd_conform, &vf_conform_spec},
    {"create", vf_cmd_create, &vf_create_spec},
    {"set-parent", vf_cmd_set_parent, &vf_set_parent_spec},
    {"convert", vf_cmd_convert, &vf_convert_spec},
    {"map", vf_cmd_map, &vf_map_spec},
    {"repair", vf_cmd_repair, &vf_repair_spec},
    {"resize", vf_cmd_resize, &vf_resize_spec},
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
    char msg[VF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vhdfold %s: %s (see 'vhdfold %s --help')\n", cmd, msg, cmd);
    if (vf_cli_json_mode())
        vf_cli_usage_json(cmd, msg);
    return VF_EXIT_USAGE;
}

void vf_print_version(const char *cmd)
{
    printf("vhdfold%s%s %s\n", cmd ? " " : "", cmd ? cmd : "", vf_version());
}

static void vf_main_usage(FILE *to)
{
    fprintf(to, "usage: vhdfold COMMAND [options] ...\n\ncommands:\n");
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        fprintf(to, "  %-10s %s\n", vf_commands[i].name, vf_commands[i].spec->summary);
    fprintf(to, "\n'vhdfold COMMAND --help' (or 'vhdfold help COMMAND') describes a command.\n"
                "exit status: 0 success, 1 the answer is no, 2 usage, 3 corrupt or unsupported "
                "image, 4 system error\n");
}

static const vf_cmd_spec *vf_find_spec(const char *name)
{
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        if (!strcmp(name, vf_commands[i].name))
            return vf_commands[i].spec;
    return NULL;
}

/* Whether a word of argv before "--" is --json or a prefix getopt_long would take ("--js"). */
static bool vf_argv_wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (strlen(argv[i]) >= 4 && !strncmp(argv[i], "--json", strlen(argv[i])))
            return true;
    return false;
}

/* NAME is no command: the usage line on stderr and, with --json anywhere, the error document
 * of docs/json.md on stdout, its "command" "vhdfold" (docs/schemas/vhdfold.schema.json). */
static int vf_unknown_command(const char *name, int argc, char **argv)
{
    char msg[VF_ERROR_MSG_MAX];
    if (name[0] == '-')
        snprintf(msg, sizeof msg,
                 "unknown command '%.200s': options go after the command ('vhdfold COMMAND "
                 "[options] ...')",
                 name);
    else
        snprintf(msg, sizeof msg, "unknown command '%.200s'", name);
    fprintf(stderr, "vhdfold: %s (see 'vhdfold --help')\n", msg);
    if (vf_argv_wants_json(argc, argv))
        vf_cli_usage_json("vhdfold", msg);
    return VF_EXIT_USAGE;
}

/* `vhdfold help [CMD]`: the command's --help, or the command list. */
static int vf_help(int argc, char **argv)
{
    if (argc < 3) {
        vf_main_usage(stdout);
        return VF_EXIT_OK;
    }
    const vf_cmd_spec *spec = vf_find_spec(argv[2]);
    if (!spec)
        return vf_unknown_command(argv[2], argc, argv);
    vf_opts_print_help(spec, stdout);
    return VF_EXIT_OK;
}

/* Hidden, for the build: `--dump-man` (vhdfold.1), `--dump-man CMD`, `--dump-completion`. */
static int vf_dump(int argc, char **argv)
{
    const vf_cmd_spec *specs[VF_NCOMMANDS];
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        specs[i] = vf_commands[i].spec;
    if (!strcmp(argv[1], "--dump-completion")) {
        vf_opts_print_completion(specs, VF_NCOMMANDS, stdout);
    } else if (argc < 3) {
        vf_opts_print_man_index(specs, VF_NCOMMANDS, vf_version(), stdout);
    } else {
        const vf_cmd_spec *spec = vf_find_spec(argv[2]);
        if (!spec)
            return vf_unknown_command(argv[2], argc, argv);
        vf_opts_print_man(spec, vf_version(), stdout);
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? VF_EXIT_OK : VF_EXIT_SYSTEM;
}

/* The library hashes blocks through read-only mappings of locked files; the locks are advisory,
 * so another program can still cut a file while it is mapped, and the next access of the lost
 * pages raises SIGBUS. That is an I/O error, not a crash: say so and exit 4. */
static void vf_on_sigbus(int sig)
{
    static const char msg[] = "vhdfold: an image file was truncated by another program while "
                              "it was read (SIGBUS): nothing more is read; exit 4\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(VF_EXIT_SYSTEM);
}

static void vf_catch_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = vf_on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

int main(int argc, char **argv)
{
    vf_opt_formats_init();
    vf_catch_sigbus();
    if (argc < 2) {
        vf_main_usage(stderr);
        return VF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        vf_main_usage(stdout);
        return VF_EXIT_OK;
    }
    if (!strcmp(argv[1], "help"))
        return vf_help(argc, argv);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        vf_print_version(NULL);
        return VF_EXIT_OK;
    }
    if (!strcmp(argv[1], "--dump-man") || !strcmp(argv[1], "--dump-completion"))
        return vf_dump(argc, argv);
    for (size_t i = 0; i < VF_NCOMMANDS; i++)
        if (!strcmp(argv[1], vf_commands[i].name))
            return vf_commands[i].run(argc - 1, argv + 1);
    return vf_unknown_command(argv[1], argc, argv);
}
