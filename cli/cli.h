/* cli.h - what cli/main.c shares with the cmd_<name>.c files: the command signature, the
 * status-to-exit-code mapping, error printing and the common output helpers.
 * Layer: cli (top). Commands parse their own options with getopt_long. */
#ifndef VHDFOLD_CLI_H
#define VHDFOLD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <vhdfold/vf_error.h>

/* Exit codes fixed by design.md. */
enum {
    VF_EXIT_OK = 0,      /* success */
    VF_EXIT_NO = 1,      /* the operation ran and the answer is "no" */
    VF_EXIT_USAGE = 2,   /* usage or invalid parameter */
    VF_EXIT_CORRUPT = 3, /* an input image is corrupt or unsupported */
    VF_EXIT_SYSTEM = 4,  /* not found, access denied, in use, no space, I/O error */
};

typedef int (*vf_cmd_fn)(int argc, char **argv);

/* One command per file: cmd_info.c defines vf_cmd_info, and so on. argv[0] is the command. */
int vf_cmd_info(int argc, char **argv);
int vf_cmd_check(int argc, char **argv);
int vf_cmd_digest(int argc, char **argv);
int vf_cmd_export(int argc, char **argv);
int vf_cmd_compare(int argc, char **argv);
int vf_cmd_gen(int argc, char **argv);
int vf_cmd_merge(int argc, char **argv);
int vf_cmd_conform(int argc, char **argv);

/* The one mapping from library status to exit code. */
int vf_exit_code(vf_status st);
/* "vhdfold: <msg>" on stderr; returns vf_exit_code(err->code). */
int vf_report_error(const vf_error *err);
/* "vhdfold <cmd>: <printf>" on stderr, returns VF_EXIT_USAGE. */
int vf_usage_error(const char *cmd, const char *fmt, ...) VF_PRINTF(2, 3);
/* Parse "12", "4K", "2M", "1G", "2T" (binary units); false on garbage or overflow. */
bool vf_parse_size(const char *text, unsigned long long *out);
/* Prints the version line for --version. */
void vf_print_version(const char *cmd);

/* getopt_long codes of the parent-search options (clear of every command's own codes). */
enum { VF_OPT_ALLOW_ABSOLUTE_PARENTS = 0x180, VF_OPT_PARENT_DIR };

/* The parent-search options: one table entry each, one usage paragraph, one parser shared
 * by every command that opens a chain (cmd_merge.c too). */
#define VF_CLI_PARENT_LONGOPTS                                                                     \
    {"allow-absolute-parents", no_argument, NULL, VF_OPT_ALLOW_ABSOLUTE_PARENTS},                  \
    {                                                                                              \
        "parent-dir", required_argument, NULL, VF_OPT_PARENT_DIR                                   \
    }
#define VF_CLI_PARENT_USAGE                                                                        \
    "  --allow-absolute-parents\n"                                                                 \
    "                         follow parent locators holding absolute paths (/...)\n"              \
    "  --parent-dir DIR       look for parents only inside DIR (no '..' out of it, no\n"           \
    "                         symbolic links below it)\n"

/* Handle a parent-search option: true when c was one of them (*allow or *dir set). */
bool vf_cli_parent_opt(int c, const char *arg, bool *allow, const char **dir);

#endif
