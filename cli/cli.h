/* cli.h - what cli/main.c shares with the cmd_<name>.c files: the command signature, the
 * status-to-exit-code mapping, error printing and the common output helpers.
 * Layer: cli (top). Commands describe their options as tables (options.h). */
#ifndef VHDFOLD_CLI_H
#define VHDFOLD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <vhdfold/vf_error.h>

/* Exit codes fixed by docs/design.md "The CLI contract". */
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
int vf_cmd_create(int argc, char **argv);
int vf_cmd_set_parent(int argc, char **argv);
int vf_cmd_convert(int argc, char **argv);
int vf_cmd_map(int argc, char **argv);
int vf_cmd_repair(int argc, char **argv);
int vf_cmd_resize(int argc, char **argv);

/* Each command's option tables and help text (options.h), beside its vf_cmd_<name>. */
struct vf_cmd_spec;
extern const struct vf_cmd_spec vf_info_spec, vf_check_spec, vf_digest_spec, vf_export_spec,
    vf_compare_spec, vf_gen_spec, vf_merge_spec, vf_conform_spec, vf_create_spec,
    vf_set_parent_spec, vf_convert_spec, vf_map_spec, vf_repair_spec, vf_resize_spec;

/* The options of a new image (format, type, size, block and sector size) against what its
 * format's driver accepts (vf_format_get_limits), before anything is written (create,
 * convert). Errors: VF_E_INVAL naming the value and the allowed range. */
struct vf_create_opts;
vf_status vf_cli_check_create(const struct vf_create_opts *o, vf_error *err);

/* The one mapping from library status to exit code. */
int vf_exit_code(vf_status st);
/* "vhdfold: <msg>" on stderr; returns vf_exit_code(err->code). */
int vf_report_error(const vf_error *err);
/* "vhdfold <cmd>: <printf>" on stderr, returns VF_EXIT_USAGE. */
int vf_usage_error(const char *cmd, const char *fmt, ...) VF_PRINTF(2, 3);
/* Prints the version line for --version. */
void vf_print_version(const char *cmd);

#endif
