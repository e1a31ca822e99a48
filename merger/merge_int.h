/* merge_int.h - what the merger's source files share: the journal record, path helpers and
 * the digest helpers. Layer: merger (internal; not installed). Users include vf_merge.h. */
#ifndef VHDFOLD_MERGE_INT_H
#define VHDFOLD_MERGE_INT_H

#include <stdatomic.h>

#include "vf_merge.h"
#include "vf_sha256.h"

/* --- journal.c: the record and its two-slot encoding (pure, no I/O) --- */

#define VF_JOURNAL_SUFFIX ".vfmerge"
#define VF_JOURNAL_SLOT_BYTES (128u * 1024u) /* two slots: [0, S) and [S, 2S) */
#define VF_JOURNAL_HEAD_BYTES 56u            /* magic, seq, body length, reserved, SHA-256 */
#define VF_JOURNAL_MAX_LEVELS 4096u          /* 4096 x 24 bytes: fits a slot */
#define VF_JOURNAL_MAX_CHILDREN 1024u        /* 1024 x 32 bytes */

/* Versions 2 and 3 record no path: a journal is never a source of file names (docs/merge.md). */
typedef struct vf_journal_level {
    uint8_t id[16];     /* the level's identity when the merge started */
    uint64_t file_size; /* its file size then (levels above DESTINATION never change) */
} vf_journal_level;

typedef struct vf_journal_child {
    uint8_t digest[VF_SHA256_LEN]; /* the --child file's view before the merge (tree mode) */
} vf_journal_child;

typedef struct vf_journal {
    uint64_t seq; /* highest wins; slot = seq % 2 */
    vf_merge_phase phase;
    vf_format_kind format;
    bool remove_merged;          /* asked for when the merge started (information only) */
    vf_merge_verify digest_mode; /* mode of digest_before, NONE when not recorded */
    uint64_t cursor;             /* COPYING: every byte below is durable in DESTINATION */
    uint64_t virtual_size;       /* SOURCE's */
    uint64_t dest_size;          /* DESTINATION's file size when the cursor was recorded */
    uint64_t alloc_mark;         /* version 3: DESTINATION's file end before the batch at the
                                    cursor wrote (<= dest_size): space past it that nothing in
                                    DESTINATION names is reused on resume (vf_image_reclaim);
                                    version 2 records read it as dest_size */
    uint8_t merge_id[16];        /* random, drawn when the merge started */
    uint8_t new_id[16];          /* DESTINATION's identity after the merge */
    bool has_link_id;            /* VHDX: link_id is recorded */
    uint8_t link_id[16];         /* VHDX: G', DESTINATION's DataWriteGuid during the copy, also
                                    written as parent_linkage2 into level k-1 (docs/merge.md) */
    uint8_t digest_before[VF_SHA256_LEN];
    vf_journal_level *levels; /* 0 .. dest_level */
    size_t nlevels;
    vf_journal_child *children;
    size_t nchildren;
} vf_journal;

void vf_journal_free(vf_journal *j); /* members only; NULL is fine */
/* Encode into buf (VF_JOURNAL_SLOT_BYTES); *len = bytes to write, a multiple of 512.
 * VF_E_LIMIT when the record does not fit one slot. */
vf_status vf_journal_encode(const vf_journal *j, uint8_t *buf, size_t *len, vf_error *err);
/* Parse one slot; VF_E_FORMAT when it is not a valid record (torn, empty, bad digest, any
 * field out of range; err->off is VF_JOURNAL_HEAD_BYTES exactly when the digest matched but
 * the body is refused). Reads at most one slot; allocates at most about the body's size. */
vf_status vf_journal_parse(const uint8_t *buf, size_t len, vf_journal *out, vf_error *err);
/* Bytes vf_journal_parse has allocated since the process started (for the bound's test). */
uint64_t vf_journal_parse_allocated(void);

/* --- resume.c: what a found journal allows this invocation to do (pure, no I/O) --- */

/* What this invocation resolved and validated itself. */
typedef struct vf_resume_facts {
    vf_format_kind format;
    uint64_t virtual_size;      /* SOURCE's */
    bool dest_in_chain;         /* SOURCE's chain opened through DESTINATION */
    size_t nlevels;             /* levels resolved from SOURCE (DESTINATION included when
                                   dest_in_chain), at most VF_JOURNAL_MAX_LEVELS */
    const uint8_t (*ids)[16];   /* their identities, level 0 first */
    const uint64_t *file_sizes; /* their file sizes */
    bool has_upper_parent;      /* !dest_in_chain and all levels above DESTINATION resolved:
                                   the parent link of the last one (level k-1) */
    uint8_t upper_parent_id[16];
    bool has_upper_parent_id2;
    uint8_t upper_parent_id2[16];
    uint8_t dest_id[16];                           /* DESTINATION's identity now */
    uint64_t dest_size;                            /* DESTINATION's file size now */
    size_t nchildren;                              /* --child files given now */
    const uint8_t (*child_digests)[VF_SHA256_LEN]; /* their digests now, or NULL (not known) */
} vf_resume_facts;

typedef enum vf_resume_action {
    VF_RESUME_REFUSE = 0,
    VF_RESUME_RESTART = 1,  /* copy again from byte 0 (the cursor is not proven) */
    VF_RESUME_CONTINUE = 2, /* copy on from the journal's cursor */
    VF_RESUME_LATER = 3,    /* the copy is done: go on with phase `phase` */
} vf_resume_action;

typedef struct vf_resume_plan {
    vf_resume_action action;
    vf_merge_phase phase; /* LATER: the phase to resume */
    char why[200];        /* REFUSE: the reason; RESTART: why the cursor is not used */
} vf_resume_plan;

void vf_resume_decide(const vf_journal *j, const vf_resume_facts *now, vf_resume_plan *out);

/* --- journal_io.c: the journal file through a vf_fs --- */

typedef struct vf_journal_file {
    const vf_fs *fs;
    char *path;
    vf_io *io;
    uint8_t *buf; /* one slot */
} vf_journal_file;

/* Load the newest valid slot of path. *found false when the file does not exist; a file
 * without a valid slot is VF_E_FORMAT. */
vf_status vf_journal_load(const vf_fs *fs, const char *path, bool *found, vf_journal *out,
                          vf_error *err);
/* Read the newest valid record of path without taking a lock (info, check while a merge
 * runs). *found false when absent; *holder as vf_io_lock_holder for the merge's exclusive
 * lock. A file refused (link, not ours) or without a valid record: its error, *found true. */
vf_status vf_journal_peek(const vf_fs *fs, const char *path, bool *found, int64_t *holder,
                          vf_journal *out, vf_error *err);
/* Open (create when create) for writing and lock it exclusively. */
vf_status vf_journal_open(const vf_fs *fs, const char *path, bool create, vf_journal_file *jf,
                          vf_error *err);
/* Bump j->seq, write it into its slot and sync it (plus the directory when first). */
vf_status vf_journal_store(vf_journal_file *jf, vf_journal *j, vf_error *err);
void vf_journal_close(vf_journal_file *jf);
/* Close and delete the file, then sync its directory. */
vf_status vf_journal_remove(vf_journal_file *jf, vf_error *err);

/* --- paths.c: path helpers beyond format/path.h (lexical, so they work on any vf_fs) --- */

/* An absolute, lexically normalized copy (format/path.h rules); relative paths are taken from
 * the working directory (on_posix is ignored). Yours; NULL when out of memory. */
char *vf_merge_path_abs(const char *path, bool on_posix);
/* target relative to the directory dir (both normalized the same way). Yours. */
char *vf_merge_path_relative(const char *dir, const char *target);
/* The journal of a merge into destination: the only place its location is decided. Yours;
 * NULL when out of memory. */
char *vf_merge_journal_path(const char *destination);
/* Same file: st_dev/st_ino on the POSIX fs, else equal normalized paths. */
bool vf_merge_same_file(const vf_fs *fs, const char *a, const char *b);

/* --- digest.c: digests of a chain's view through the verifier (verify/vf_verify.h) --- */

/* Digest of the flattened disk from c's top over [0, size) (size <= c's virtual size); the
 * tree digest runs on every core. */
vf_status vf_merge_digest(vf_chain *c, vf_merge_verify mode, uint64_t size,
                          uint8_t md[VF_SHA256_LEN], vf_error *err);
/* First byte where the views of a and b differ over [0, size); *found false when equal. */
vf_status vf_merge_first_diff(vf_chain *a, vf_chain *b, uint64_t size, bool *found, uint64_t *voff,
                              vf_error *err);

/* --- pending.c: a journal seen from outside the merge that wrote it --- */

/* err, a VF_E_BUSY from loading jpath, rewritten as "in use: merge of SOURCE into DEST in
 * progress (pid N)" (SOURCE named when its identity is the journal's level 0). */
vf_status vf_merge_in_use(const vf_fs *fs, const char *source, const char *dest, const char *jpath,
                          vf_error *err);

/* --- merge.c --- */

/* vf_merge_run with a cancel flag and a percent cell (the job API passes its own). */
/* Take in a caller's options struct (docs/library.md "Growing structs"): *own gets the
 * defaults, then the fields user's version knows. VF_E_INVAL / VF_E_UNSUPPORTED otherwise. */
vf_status vf_merge_opts_adopt(vf_merge_opts *own, const vf_merge_opts *user, vf_error *err);
int vf_merge_run_ex(const vf_merge_opts *opts, vf_merge_result *res, atomic_bool *cancel,
                    atomic_uint *percent);

#endif
