/* conform_int.h - what the conformance runner's files share: child processes with a time limit,
 * the per-case result record, expectation files and the reports.
 * Layer: conform (private to conform*.c). */
#ifndef VHDFOLD_CONFORM_INT_H
#define VHDFOLD_CONFORM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conform.h"

/* --- child processes (conform_proc.c) --- */

typedef struct vf_proc_result {
    bool timed_out;
    bool signaled;
    int code; /* exit status, or the signal number when signaled */
    double seconds;
} vf_proc_result;

/* Run argv[0] (searched in PATH) with stdin from /dev/null, stdout and stderr appended to the
 * given files (NULL = /dev/null), in cwd (NULL = ours), in a new process group. After
 * timeout_s seconds the whole group is killed; stray processes of the group are killed when
 * the child ends. VF_OK when the child ran (whatever its status). Thread-safe. */
vf_status vf_proc_run(const char *const argv[], const char *cwd, const char *out_path,
                      const char *err_path, double timeout_s, vf_proc_result *r, vf_error *err);
/* "exited with status 3", "killed by signal 9", "timed out after 5 s" */
void vf_proc_describe(const vf_proc_result *r, char *buf, size_t len);
double vf_now_seconds(void);

/* Remove a folder tree (no error when absent). */
vf_status vf_rm_tree(const char *path, vf_error *err);
/* Read a whole small text file (at most max bytes); *out is yours: free(). */
vf_status vf_read_text(const char *path, size_t max, char **out, vf_error *err);
/* SHA-256 of a file's bytes, as 64 hex digits. */
vf_status vf_hash_file(const char *path, char hex[65], vf_error *err);
/* The first line of a text file that is not blank, trimmed to len-1 bytes ("" when none). */
void vf_first_line(const char *path, char *buf, size_t len);
/* The last line that is not blank (tracebacks and most tools end with the verdict). */
void vf_last_line(const char *path, char *buf, size_t len);
/* Shell-quote s ('...' with embedded quotes escaped; plain words stay bare); free() it. */
char *vf_shell_quote(const char *s);

/* --- case results --- */

/* Failure kinds: bits, so one case may fail several ways; the name list is in conform.c. */
enum {
    VF_CK_SETUP = 1u << 0,   /* the runner could not build the case (gen failed...) */
    VF_CK_EXIT = 1u << 1,    /* the command exited non-zero or was killed */
    VF_CK_TIMEOUT = 1u << 2, /* over the time limit */
    VF_CK_RESULT = 1u << 3,  /* the result file is missing or unreadable as an image chain */
    VF_CK_DIGEST = 1u << 4,  /* wrong flat digest (merge result or reader output) */
    VF_CK_CHECK = 1u << 5,   /* vhdfold check found problems in the result */
    VF_CK_TOUCHED = 1u << 6, /* a file that must not change did */
    VF_CK_OUTPUT = 1u << 7,  /* a reader printed no SHA-256 */
    VF_CK_DAMAGE = 1u << 8, /* the command failed and left SOURCE's view (or a kept file) changed */
    VF_CK_MODEL = 1u << 9,  /* the files around the result are not as the declared model says */
};
#define VF_CK_COUNT 10
const char *vf_conform_kind_name(unsigned bit);
/* Severity order, worst first (docs/conform.md "The judge"): rank 1 is damage. */
unsigned vf_conform_kind_rank(unsigned bit);
/* The worst kind among bits (0 when none). */
unsigned vf_conform_worst_kind(unsigned bits);
/* The kind at rank r (1-based), 0 past the last. */
unsigned vf_conform_kind_at_rank(unsigned r);
/* Parse "digest,check" or "any" into bits; false on an unknown name. */
bool vf_conform_kinds_parse(const char *text, unsigned *bits);

typedef enum vf_verdict {
    VF_VERDICT_PASS = 0,
    VF_VERDICT_FAIL = 1,  /* unknown divergence */
    VF_VERDICT_KNOWN = 2, /* failed as an expectation line says */
} vf_verdict;

/* What --minimize found for a case (conform_min.c). */
typedef struct vf_conform_min {
    bool done;           /* minimization ran on this case */
    bool exhausted;      /* the trial budget ran out */
    uint64_t trials;     /* trial runs of the command */
    unsigned rounds;     /* passes over the steps; the last one shrank nothing (or ran out) */
    vf_conform_case c;   /* the smallest case failing the same way (c.writes: see writes) */
    char *writes;        /* its --writes selector, NULL = every write (free()) */
    size_t nwrites;      /* writes it keeps */
    char *shell;         /* reproducer from an empty folder (free()) */
    char *reason;        /* its reason, whole (free()) */
    uint64_t first_diff; /* VF_OFF_NONE when unknown */
    int from_level;      /* the level whose write defines first_diff in SOURCE's view, -1 */
    uint32_t from_write;
} vf_conform_min;

typedef struct vf_conform_result {
    vf_conform_case c;
    bool ran; /* belongs to this shard and was run */
    vf_verdict verdict;
    unsigned kinds;              /* VF_CK_* bits seen */
    char *reason;                /* one line, whole: every failure, worst first (free()) */
    char *kind_msg[VF_CK_COUNT]; /* the first message of each kind seen (free()) */
    char *kept;                  /* the kept case folder (--keep-failures), NULL when not kept */
    uint64_t first_diff;         /* VF_OFF_NONE when unknown or not a digest failure */
    int from_level;              /* the level whose write defines first_diff, -1 when none */
    uint32_t from_write;
    double seconds;  /* the command under test */
    char *repro;     /* reproducer lines (free()), NULL when passing */
    char *gen_shell; /* the gen line of the reproducer (free()) */
    char *cmd_shell; /* the command under test, substituted (free()) */
    char *cwd;       /* where the command ran (free()) */
    char **gen_argv; /* the gen command as argv, NULL-terminated (free each and the array) */
    int expect_line; /* matched expectation (index), -1 when none */
    vf_conform_min min;
} vf_conform_result;

/* What a merge implementation does, by design, to the files of the chain besides the result
 * (a "model" line of the expectation file): checked after a successful merge, and kept files
 * also after a failed one. */
typedef enum vf_fate {
    VF_FATE_ANY = 0, /* invalidated or changed: not checked */
    VF_FATE_KEPT,    /* byte-for-byte as before */
    VF_FATE_REMOVED, /* no longer exists */
} vf_fate;

typedef struct vf_model {
    bool declared;
    unsigned line;
    vf_fate source, intermediates, dest; /* the result file itself is never judged here */
} vf_model;

/* The per-run context that the case workers share. */
typedef struct vf_conform_ctx {
    const vf_conform_opts *o;
    const vf_model *model; /* never NULL (all ANY when none declared) */
    char *work;            /* work folder */
    char *impl;            /* the merge template in force (ours when none given) */
    /* The adapter folder the commands run from, and the one reproducers name instead (the
     * installed folder; the same unless the source tree's adapters were used). "" = unused. */
    char adapters_run[4096], adapters_show[4096];
} vf_conform_ctx;

/* --- shipped adapters (conform_adapter.c) --- */

/* The adapter folder (docs/conform.md "Adapters": $VHDFOLD_ADAPTERS, the source tree when run
 * from the build tree, DATADIR/vhdfold/adapters beside the binary, the configured one) into
 * run, and the folder reproducers name into show. VF_E_INVAL when none exists. */
vf_status vf_conform_adapters_find(char *run, char *show, size_t len, vf_error *err);
/* --adapter NAME: fill o's templates from the adapter table; VF_E_INVAL for an unknown name or
 * with --impl/--reader. No-op without --adapter. */
vf_status vf_conform_adapter_apply(vf_conform_opts *o, vf_error *err);
/* The template names {adapters} (outside "{{"). */
bool vf_conform_uses_adapters(const char *tmpl);
/* tmpl with each {adapters} replaced by dir, shell-quoted; free(). NULL when out of memory. */
char *vf_conform_subst_adapters(const char *tmpl, const char *dir);

/* Build, run and judge one case (conform_case.c). Errors of the runner itself become a SETUP
 * failure of the case; the function does not fail. */
void vf_conform_case_run(const vf_conform_ctx *ctx, uint64_t index, vf_conform_result *res);
/* Run and judge the case c as given (the minimizer's shrunk variants) in WORK/name; never kept. */
void vf_conform_case_trial(const vf_conform_ctx *ctx, const vf_conform_case *c, const char *name,
                           vf_conform_result *res);
void vf_conform_result_free(vf_conform_result *r);

/* argv of `TOOL gen` for case c into outdir, with extra (a flag, or NULL) before outdir:
 * NULL-terminated, yours (free each and the array). */
vf_status vf_conform_gen_argv(const vf_conform_ctx *ctx, const vf_conform_case *c,
                              const char *outdir, const char *extra, char ***argv, vf_error *err);

/* --- expectation files (conform_expect.c) --- */

typedef struct vf_expect_term {
    char key[16];
    char value[64];
    uint64_t lo, hi; /* numeric ranges for case and depth */
} vf_expect_term;

typedef struct vf_expect {
    unsigned kinds;
    vf_expect_term terms[8];
    size_t nterms;
    char reason[256];
    unsigned line;
    uint64_t matched, failed; /* cases matched by the filter; of those, failed as expected */
} vf_expect;

typedef struct vf_expect_list {
    vf_expect *items;
    size_t count;
    vf_model model;
} vf_expect_list;

vf_status vf_expect_load(const char *path, vf_expect_list *list, vf_error *err);
void vf_expect_free(vf_expect_list *list);
bool vf_expect_matches(const vf_expect *e, const vf_conform_opts *o, const vf_conform_case *c);

/* --- minimization (conform_min.c) --- */

/* Shrink the failing cases of res (each one, or the first of each class, as o->minimize says)
 * and print what was found on f; the findings go into each res[i].min. */
void vf_conform_minimize_run(const vf_conform_ctx *ctx, vf_conform_result *res, uint64_t n,
                             const vf_expect_list *exp, FILE *f);

/* The level and write that define byte off of SOURCE's view in case c (every write: c->writes
 * is not honoured), from `gen --list-writes`; *level is -1 when no write covers it (zeros) or
 * the writes cannot be listed. */
void vf_conform_owner(const vf_conform_ctx *ctx, const vf_conform_case *c, uint64_t off, int *level,
                      uint32_t *write);

/* --- reports (conform_report.c) --- */

vf_status vf_conform_write_junit(const char *path, const vf_conform_opts *o,
                                 const vf_conform_result *res, uint64_t n, vf_error *err);
vf_status vf_conform_write_json(const char *path, const vf_conform_opts *o,
                                const vf_conform_result *res, uint64_t n, const vf_expect_list *exp,
                                uint64_t passed, uint64_t failed, vf_error *err);
const char *vf_fate_name(vf_fate f);
/* "seed=… depth=3 dest=1 base=dynamic size=6M profile=x" */
void vf_conform_case_text(const vf_conform_case *c, char *buf, size_t len);

#endif
