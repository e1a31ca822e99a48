/* options.h - declarative command-line options: each command describes its options once, as
 * static const tables (name, short flag, type, default, argument name, help), and the one
 * parser in options.c walks those tables to parse argv, print --help, write the man pages and
 * the bash completion script. Layer: cli. Nothing here knows about images.
 *
 * Syntax accepted (getopt_long's, which the parser drives): --name VALUE, --name=VALUE, a
 * unique prefix of a long name, -x VALUE / -xVALUE for short flags, options before, between
 * or after the positional arguments, and `--` ending the options. An option whose argument
 * is optional (VF_OPTF_OPTIONAL) takes it only as --name=VALUE.
 *
 * Numbers (UINT, SIZE): decimal or 0x hexadecimal, no sign, no spaces; SIZE adds a binary
 * suffix to decimal numbers: K, M, G, T, P (either case), optionally followed by B or iB
 * ("4K", "4KB", "4KiB" are 4096). Out of range or malformed values are refused with a
 * message naming the command, the option, the value and the allowed range.
 *
 * Adding an option shared by every command that opens a chain (info, check, digest, export,
 * compare, merge): add its field to vf_cli_common (output.h) and one row to
 * vf_cli_chain_opts[] in options.c, e.g.
 *     {.name = "parent-dir", .type = VF_OPT_PATH, .arg = "DIR",
 *      .offset = offsetof(vf_cli_common, parent_dir), .help = "look for parents in DIR"},
 * then read the field where the chain is opened. Help, man pages and completion follow.
 * A command has at most 62 rows in all (VF_OPTS_MAX in options.c, less -h and -V). */
#ifndef VHDFOLD_CLI_OPTIONS_H
#define VHDFOLD_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum vf_opt_type {
    VF_OPT_FLAG = 1, /* bool: set to true; takes no argument */
    VF_OPT_STRING,   /* const char *: the argument as given */
    VF_OPT_PATH,     /* const char *: a file or folder name (completion offers files) */
    VF_OPT_ENUM,     /* int: the value of the choice named by the argument */
    VF_OPT_UINT,     /* uint64_t: decimal or 0x hex within [min, max] */
    VF_OPT_SIZE,     /* uint64_t: a UINT with an optional K/M/G/T/P suffix, within [min, max] */
    VF_OPT_FRACTION, /* uint32_t parts per million: "0.25", ".5", "1", "25%"; within [0, max] */
    VF_OPT_LIST,     /* vf_opt_list: repeatable string, each use appends one */
    VF_OPT_CUSTOM,   /* the row's parse function stores the value itself */
} vf_opt_type;

enum {
    VF_OPTF_OPTIONAL = 1u, /* the argument is optional and given only as --name=VALUE */
    VF_OPTF_HIDDEN = 2u,   /* parsed, but left out of --help, man page and completion */
    /* ENUM only: the option takes no argument and stores `implied` (a short spelling of
     * one choice of another row on the same field: -q is --progress none). */
    VF_OPTF_NOARG = 4u,
};

typedef struct vf_opt_choice {
    const char *name; /* NULL ends the list */
    int value;
} vf_opt_choice;

struct vf_opt;
/* A CUSTOM row's parser: store what arg means at dst; on a bad arg write why (a phrase such
 * as "want K/N with 1 <= K <= N") into why and return false. */
typedef bool (*vf_opt_parse_fn)(const struct vf_opt *opt, const char *arg, void *dst, char *why,
                                size_t why_len);

typedef struct vf_opt {
    const char *name;             /* long name without "--"; NULL ends a table */
    char short_name;              /* 0: none */
    vf_opt_type type;             /* what the argument is */
    size_t offset;                /* where the value goes, from the group's struct */
    const char *arg;              /* argument name in help ("SIZE"); derived for ENUM */
    const char *help;             /* one sentence; no trailing period needed */
    const char *def;              /* default, parsed like an argument before argv; NULL none */
    const vf_opt_choice *choices; /* ENUM */
    uint64_t min, max;            /* UINT, SIZE (max 0: no upper bound); FRACTION max in ppm */
    unsigned flags;               /* VF_OPTF_* */
    int implied; /* ENUM with VF_OPTF_OPTIONAL or VF_OPTF_NOARG: value when no argument given */
    vf_opt_parse_fn parse; /* CUSTOM */
} vf_opt;

/* The values of a LIST option: every use appends one argument (pointers into argv). */
typedef struct vf_opt_list {
    const char **items;
    size_t count;
} vf_opt_list;
void vf_opt_list_free(vf_opt_list *list);

/* A table of options and where its struct sits in the command's argument struct. */
typedef struct vf_opt_group {
    const vf_opt *opts; /* NULL ends a command's group list */
    size_t base;        /* offsetof(command struct, group struct); 0 for the command's own */
} vf_opt_group;

typedef struct vf_opt_positional {
    const char *name; /* NULL ends the list; "FILE..." (last only): one or more, see
                         vf_opts_parse_files */
    const char *help;
} vf_opt_positional;

/* Everything a command says about its command line. */
typedef struct vf_cmd_spec {
    const char *name;                     /* "digest" */
    const char *summary;                  /* one line, for `vhdfold --help` and NAME in man */
    const char *synopsis;                 /* after "vhdfold NAME ": "[options] FILE" */
    const char *description;              /* paragraphs separated by blank lines */
    const vf_opt_positional *positionals; /* in order; required but the last optional_tail */
    const vf_opt_group *groups;           /* the command's own table first */
    const char *exit_status;              /* one paragraph */
    size_t optional_tail; /* the last this many positionals may be left out (pos[] NULL) */
} vf_cmd_spec;

/* The shared tables (options.c). vf_cli_output_opts: --json and --progress of the commands
 * that print results; vf_cli_chain_opts: options of every command that opens a chain (empty
 * today; see the top of this file). Both store into a vf_cli_common (output.h). */
extern const vf_opt vf_cli_output_opts[];
extern const vf_opt vf_cli_chain_opts[];
/* vf_cli_share_opts: --force-share (-U) of the read-only commands (into vf_cli_common). */
extern const vf_opt vf_cli_share_opts[];

/* Parse argv (argv[0] is the command) into dst per spec: defaults first, then the options;
 * the positional arguments are left in pos[0..npos) (pointers into argv). Returns -1 to go on,
 * else the exit status to return now (0 after --help or --version, 2 after a usage error,
 * which has been printed). -h/--help and -V/--version are added to every command. */
int vf_opts_parse(const vf_cmd_spec *spec, int argc, char **argv, void *dst, char **pos,
                  size_t npos);

/* As vf_opts_parse for a spec whose last positional's name ends in "...": *files points at the
 * positional arguments in argv (all of them, *nfiles >= the number of positionals). */
int vf_opts_parse_files(const vf_cmd_spec *spec, int argc, char **argv, void *dst, char ***files,
                        size_t *nfiles);

/* The number parsers every option uses; they return false with a reason ("is not a number",
 * "is out of range (1..64)") in why. */
bool vf_opts_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                        size_t why_len);
bool vf_opts_parse_size(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                        size_t why_len);
bool vf_opts_parse_fraction(const char *text, uint32_t max_ppm, uint32_t *ppm, char *why,
                            size_t why_len);

/* The argument as help shows it ("SIZE", "flat|tree"; "" for a flag) into out. */
void vf_opts_arg_text(const vf_opt *o, char *out, size_t len);
/* Every row --help shows (the command's groups, then -h and -V) into rows; returns the count. */
size_t vf_opts_rows(const vf_cmd_spec *spec, const vf_opt **rows, size_t max);

/* Output generated from the tables (help: options.c; man and completion: options_doc.c). */
void vf_opts_print_help(const vf_cmd_spec *spec, FILE *to);
void vf_opts_print_man(const vf_cmd_spec *spec, const char *version, FILE *to);
/* vhdfold.1: the list of commands. */
void vf_opts_print_man_index(const vf_cmd_spec *const *specs, size_t n, const char *version,
                             FILE *to);
void vf_opts_print_completion(const vf_cmd_spec *const *specs, size_t n, FILE *to);

/* The library's image formats as ENUM choices (name: vf_format_name, value: the
 * vf_format_kind), in vf_format_at order: --format rows point here, so the CLI names no format
 * itself. Filled by vf_opt_formats_init, which main calls before any table is used. */
#define VF_OPT_MAX_FORMATS 8
extern vf_opt_choice vf_opt_formats[VF_OPT_MAX_FORMATS + 1];
/* The same followed by "raw" (value VF_OPT_FORMAT_RAW, no driver's): a plain disk image, for
 * commands that write one (convert). */
#define VF_OPT_FORMAT_RAW (-1)
extern vf_opt_choice vf_opt_formats_raw[VF_OPT_MAX_FORMATS + 2];
/* The library's default format by name (vf_format_default), for a --format row's .def. */
#define VF_OPT_FORMAT_NAME_MAX 16
extern char vf_opt_format_default[VF_OPT_FORMAT_NAME_MAX];
void vf_opt_formats_init(void);

#endif
