/* output.h - helpers shared by the read-side commands (info, check, digest, export,
 * compare): opening chains the CLI way, JSON output, error output, Ctrl-C cancellation.
 * Layer: cli. Built on cli.h (exit codes) and jansson; no library logic lives here. */
#ifndef VHDFOLD_CLI_OUTPUT_H
#define VHDFOLD_CLI_OUTPUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_error.h>

#include "cli.h"
#include "options.h"
#include "progress.h"
#include <vhdfold/vf_verify.h>

/* The version of the JSON head every command prints (docs/json.md). */
#define VF_JSON_SCHEMA 2

/* Options every command that opens a chain shares, filled by the parser from the tables
 * vf_cli_output_opts and vf_cli_chain_opts (options.c; how to add one: options.h). */
typedef struct vf_cli_common {
    bool json;
    int progress; /* vf_progress_mode */
    /* where parents may be looked for (docs/chain.md): --allow-absolute-parents,
     * --parent-dir DIR */
    bool allow_absolute_parents;
    const char *parent_dir;
    /* --force-share / -U (vf_cli_share_opts, read-only commands): open without locks */
    bool force_share;
} vf_cli_common;

/* Chain options for a command: the POSIX file system, shared locks, the parent policy of co. */
void vf_cli_fill_chain_opts(const vf_cli_common *co, vf_chain_opts *opts);

/* Open path and its ancestors through the POSIX file system with shared locks and the
 * parent policy of co. */
vf_status vf_cli_open_chain(const char *path, const vf_cli_common *co, vf_chain **out,
                            vf_error *err);

/* The same, keeping the levels that resolve when a parent cannot be opened
 * (vf_chain_open_partial): *brk says why the chain stops there. A lock held elsewhere, in err
 * or brk, is explained as vf_cli_explain_busy does. */
vf_status vf_cli_open_chain_partial(const char *path, const vf_cli_common *co, vf_chain **out,
                                    vf_error *brk, vf_error *err);

/* --- share.c: --force-share, locks held elsewhere, pending merge journals --- */

struct vf_merge_pending;
/* With --force-share: one warning line on stderr (once per run) that the view may change. */
void vf_cli_share_warn(const vf_cli_common *co);
/* err is a VF_E_BUSY for path: when a merge holds a level, its message becomes "in use: merge
 * of SOURCE into DEST in progress (pid N; ...)"; either way it ends with the -U hint. */
void vf_cli_explain_busy(const char *path, const vf_cli_common *co, vf_error *err);
/* A merge journal beside some level of c (vf_merge_pending_find through the POSIX fs);
 * false when none. When true, release *p with vf_merge_pending_free. */
bool vf_cli_pending_get(const vf_chain *c, struct vf_merge_pending *p);
/* One line for p: a merge in progress (pid), or a pending journal and the exact command
 * that finishes it. */
void vf_cli_pending_line(const struct vf_merge_pending *p, const vf_chain *c,
                         const vf_cli_common *co, char *out, size_t len);
/* p as JSON ("pending_merge"): null when !p->found. */
json_t *vf_cli_pending_json(const struct vf_merge_pending *p, const vf_chain *c,
                            const vf_cli_common *co);
/* The same object for c's journal, looked up afresh: null when none or c is NULL (check and
 * digest carry it as info does). */
json_t *vf_cli_pending_json_of(const vf_chain *c, const vf_cli_common *co);
/* "vhdfold: note: <the line>" on stderr when c has a pending journal. */
void vf_cli_pending_note(const vf_chain *c, const vf_cli_common *co);
/* Before cmd rewrites path in place: VF_E_STATE naming the journal when path's chain (opened
 * partially, unlocked, relative locators) has a running merge or a pending journal with a
 * valid record, whose rerun the change would break; VF_OK otherwise (also for a journal that
 * no merge can use). */
vf_status vf_cli_refuse_pending(const char *path, const char *cmd, vf_error *err);
/* The same for c, already open (path: its top, as the user named it). */
vf_status vf_cli_refuse_pending_in(const vf_chain *c, const char *path, const char *cmd,
                                   vf_error *err);

/* Open one image alone (no parents), read-only, for describing a file whose chain is broken. */
vf_status vf_cli_open_image(const char *path, vf_image **out, vf_error *err);

/* The one-line error on stderr; with json also the error document of docs/json.md on stdout:
 * the head of vf_json_begin with status err->code, exit the returned code and "error" the
 * shape of vf_json_error_at(err, file). Returns the exit code for err. */
int vf_cli_fail(const char *cmd, const char *file, const vf_error *err, bool json);

/* The usage error of cmd with --json given: the error document (status VF_E_INVAL, exit 2,
 * no file or offset) on stdout. vf_usage_error calls it when vf_cli_set_json_mode(true). */
void vf_cli_usage_json(const char *cmd, const char *msg);
/* Whether usage errors are also printed as JSON: vf_opts_parse (options.c) sets it when the
 * command has a --json flag and argv gives it, before any option is read. */
void vf_cli_set_json_mode(bool on);
bool vf_cli_json_mode(void);

/* Print text read from a disk (a locator, a path found through one, the creator) on stdout as
 * "%s" would, with control characters as '?' (vf_text_printable): the terminal never obeys
 * them. */
void vf_cli_puts_text(const char *text);

/* A JSON string of text read from disk or given by the user: never NULL and never dropped.
 * Bytes that are not valid UTF-8 become U+FFFD (json_string refuses such text, and the key
 * would silently disappear); NULL text is JSON null. */
json_t *vf_json_text(const char *text);
/* JSON helpers: a number (sizes and offsets fit in a JSON integer), an offset or null. */
json_t *vf_json_u64(uint64_t v);
json_t *vf_json_off(uint64_t off);
/* A seed (any 64-bit value) as a decimal string: the one kind of number JSON carries as text
 * (docs/json.md "Sizes, levels, numbers"). */
json_t *vf_json_seed(uint64_t seed);
/* Print obj (stable key order, 2-space indent) and a newline on stdout; consumes obj. */
void vf_json_print(json_t *obj);
/* A new document with the head of docs/json.md, in this order: "schema": VF_JSON_SCHEMA,
 * "command": cmd, "status": 0, "exit": 0, "error": null. The command then adds its fields and,
 * when the run did not end in exit 0, calls vf_json_set_exit or vf_json_set_error. */
json_t *vf_json_begin(const char *cmd);
/* The run succeeded (status 0) with exit code exit (1: "the answer is no"). */
void vf_json_set_exit(json_t *doc, int exit);
/* The run failed with err about file (may be NULL): status err->code, exit, "error" set. */
void vf_json_set_error(json_t *doc, const vf_error *err, const char *file, int exit);
/* The one error shape {"code","name","message","file","offset"} for err; file may be NULL
 * (JSON null), offset is null when err->off is VF_OFF_NONE. vf_json_error: file null. */
json_t *vf_json_error_at(const vf_error *err, const char *file);
json_t *vf_json_error(const vf_error *err);

/* Run one(ctx, file) for each of files (commands taking FILE..., like sha256sum): the exit
 * status is the worst (highest) of them. With json and more than one file, each file's
 * document is collected and one {"schema", "command", "status", "exit", "results":[...]}
 * is printed at the end instead; text output is each file's, one after the other. */
int vf_cli_each_file(const char *cmd, char **files, size_t n, bool json,
                     int (*one)(void *ctx, const char *file), void *ctx);

/* Ctrl-C and SIGTERM set this flag (handler installed on first call); engines poll it. */
const atomic_int *vf_cli_cancel_flag(void);

/* Engine options wired to bar (may be NULL) and the cancellation flag. */
void vf_cli_verify_opts(vf_verify_opts *opts, vf_progress_bar *bar);

/* "10 MiB", "1.5 GiB": a human size for text output. */
void vf_cli_human_size(uint64_t bytes, char *out, size_t out_len);

#endif
