/* vf_merge.h - the reference merger: fold SOURCE and every disk between it and DESTINATION
 * into DESTINATION (MergeVirtualHardDisk semantics), crash-safe and resumable via a journal.
 * Layer: merger (engine on top of format/ and verify/). Called by cli/cmd_merge.c and by the
 * conformance runner; docs/merge.md describes the algorithm, the journal and the identities. */
#ifndef VHDFOLD_VF_MERGE_H
#define VHDFOLD_VF_MERGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_error.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes of Msvm_ImageManagementService.MergeVirtualHardDisk (docs/design.md "Merge status
 * codes"). */
enum {
    VF_MERGE_COMPLETED = 0,
    VF_MERGE_JOB_STARTED = 4096,
    VF_MERGE_FAILED = 32768,
    VF_MERGE_ACCESS_DENIED = 32769,
    VF_MERGE_NOT_SUPPORTED = 32770,
    VF_MERGE_UNKNOWN = 32771, /* a library status this version cannot classify */
    VF_MERGE_TIMEOUT = 32772,
    VF_MERGE_INVALID_PARAMETER = 32773,
    VF_MERGE_IN_USE = 32774,
    VF_MERGE_INVALID_STATE = 32775,
    VF_MERGE_INCORRECT_TYPE = 32776,
    VF_MERGE_NOT_AVAILABLE = 32777, /* the device holding a file went away (ENXIO, ENODEV) */
    VF_MERGE_OUT_OF_MEMORY = 32778,
    VF_MERGE_FILE_NOT_FOUND = 32779,
};

/* Job states, numbered as CIM_ConcreteJob.JobState. */
typedef enum vf_merge_job_state {
    VF_JOB_RUNNING = 4,
    VF_JOB_COMPLETED = 7,
    VF_JOB_TERMINATED = 8, /* canceled */
    VF_JOB_EXCEPTION = 10, /* failed */
} vf_merge_job_state;

typedef enum vf_merge_verify {
    VF_MERGE_VERIFY_NONE = 0,
    VF_MERGE_VERIFY_FLAT = 1, /* SHA-256 of the flattened disk (equals sha256sum of export) */
    VF_MERGE_VERIFY_TREE = 2, /* docs/tree-digest.md */
} vf_merge_verify;
/* Both digests hash the locked chain files through read-only mappings, as vf_digest_flat and
 * vf_digest_tree do by default (vf_verify.h, no_views): a file that another program truncates
 * while it is verified raises SIGBUS in the calling process, which should catch it (the CLI
 * does: one line, exit 4). */

/* Journal phases (docs/merge.md). */
typedef enum vf_merge_phase {
    VF_MERGE_PHASE_NONE = 0,
    VF_MERGE_PHASE_COPYING = 1,  /* data goes into DESTINATION; SOURCE's chain intact */
    VF_MERGE_PHASE_IDENTITY = 2, /* copy durable (and verified); DESTINATION gets its new id */
    VF_MERGE_PHASE_CHILDREN = 3, /* --child files are re-pointed at DESTINATION */
    VF_MERGE_PHASE_REMOVING = 4, /* --remove-merged deletes SOURCE and the intermediates */
} vf_merge_phase;

/* Called from the merging thread after each chunk; percent is 0..100. */
typedef void (*vf_merge_progress_fn)(void *user, unsigned percent, uint64_t done_bytes,
                                     uint64_t total_bytes);

/* The steps of a merge as progress reports them (docs/merge.md "Progress and cancellation"). */
typedef enum vf_merge_step {
    VF_MERGE_STEP_OPEN = 0,          /* open the chain, validate, plan */
    VF_MERGE_STEP_VERIFY_BEFORE = 1, /* --verify: digest of the view from SOURCE */
    VF_MERGE_STEP_COPY = 2,          /* data into DESTINATION, batch by batch */
    VF_MERGE_STEP_FLUSH = 3,         /* the last flush of DESTINATION */
    VF_MERGE_STEP_VERIFY_AFTER = 4,  /* --verify: digest of the view from DESTINATION */
    VF_MERGE_STEP_IDENTITY = 5,      /* new identity, children, removal, journal removed */
    VF_MERGE_STEP_DONE = 6,          /* the job ended (see state) */
} vf_merge_step;

/* One progress report, with the fields of CIM_ConcreteJob as Hyper-V names them. */
typedef struct vf_merge_progress_info {
    int state;        /* JobState: a vf_merge_job_state (4 running, 7, 8 terminated, 10) */
    unsigned percent; /* PercentComplete of the whole job, 0..100, never decreasing */
    double elapsed;   /* ElapsedTime in seconds since the merge started */
    int error_code;   /* ErrorCode: the VF_MERGE_* status once ended, else 0 */
    char error_description[VF_ERROR_MSG_MAX]; /* ErrorDescription: "" unless it failed */
    vf_merge_step step;
    uint64_t bytes_done, bytes_total; /* of this step (COPY: merged bytes, resumed ones done) */
    double rate;                      /* bytes per second in this step so far, 0 unknown */
    double eta;                       /* seconds left in this step, -1 unknown */
    uint64_t copy_done, copy_total;   /* of the copy, in every step (0 of 0 before the plan) */
} vf_merge_progress_info;

/* Called from the merging thread at every step change and after each chunk, and once with
 * the final state (step DONE). info is valid during the call only. */
typedef void (*vf_merge_info_fn)(void *user, const vf_merge_progress_info *info);

/* What to merge and how. Fill it with vf_merge_opts_init(&o), then set the fields you need by name.
 * The struct may grow: it starts with its own size, only that many bytes are read, and fields past
 * it get their defaults (docs/library.md "Growing structs"). A zeroed struct is refused with
 * VF_E_INVAL. Do not use positional initialisers. */
typedef struct vf_merge_opts {
    size_t struct_size;      /* set by vf_merge_opts_init(): do not touch */
    const char *source;      /* the differencing disk on top of what is merged */
    const char *destination; /* an ancestor of source: the disk receiving the data */
    const vf_fs *fs;         /* NULL = vf_fs_posix() */
    vf_merge_verify verify;
    const char *const *children; /* children of source to re-point at destination */
    size_t nchildren;
    bool remove_merged; /* delete source and the intermediates after success */
    bool dry_run;       /* plan only: nothing is written */
    bool resume;        /* demand an interrupted merge (a journal) to finish */
    vf_merge_progress_fn progress;
    void *progress_user;
    uint64_t batch_bytes; /* flush + journal every this many bytes; 0 = 64 MiB */
    /* Parent policy of every chain the merge opens (vf_chain_opts, docs/chain.md); SOURCE
     * and DESTINATION count as named by the caller. */
    bool allow_absolute_parents;
    const char *parent_dir; /* NULL: beside each child */
    /* Cancellation: when *cancel becomes non-zero (a signal handler may set it), the merge
     * stops at the next durable point (a batch journaled, or during a digest) with
     * VF_E_CANCELED; the journal stays, and the same call finishes the merge. NULL: never. */
    const atomic_int *cancel;
    vf_merge_info_fn on_info; /* progress with steps and job fields (NULL: none) */
    void *info_user;
} vf_merge_opts;

/* Every field at its default (all zero: no verify, no children, 64 MiB batches, the safe
 * parent policy). Call it first (the macro passes sizeof the caller's struct). */
VF_API void vf_merge_opts_init_size(vf_merge_opts *o, size_t size);
#define vf_merge_opts_init(o) vf_merge_opts_init_size((o), sizeof *(o))

/* What comes from one merged level (0 = source). */
typedef struct vf_merge_layer {
    char *path;
    uint64_t data_bytes; /* bytes copied from this level (newest layer wins) */
    uint64_t zero_bytes; /* bytes this level defines as zeros */
    uint64_t blocks;     /* destination blocks this level contributes to */
} vf_merge_layer;

typedef struct vf_merge_result {
    int status;   /* a VF_MERGE_* code */
    vf_error err; /* why, when status != 0 (err.code is the library status) */
    vf_format_kind format;
    size_t dest_level;      /* DESTINATION's level in SOURCE's chain */
    vf_merge_layer *layers; /* levels 0 .. dest_level-1 */
    size_t nlayers;
    uint64_t virtual_size;  /* SOURCE's */
    uint64_t bytes_merged;  /* data + zero bytes written into DESTINATION */
    uint64_t blocks_merged; /* DESTINATION blocks touched */
    uint64_t blocks_to_allocate;
    uint64_t space_needed; /* bytes DESTINATION may grow by */
    uint64_t free_space;   /* on DESTINATION's file system (UINT64_MAX when unknown) */
    double seconds;
    bool resumed; /* a journal was found and the merge finished from it */
    vf_merge_phase resumed_from;
    char **invalidated; /* files that are no longer valid after the merge */
    size_t ninvalidated;
    vf_merge_verify digest_mode; /* digests below are in this mode (NONE: not computed) */
    char digest_before[65];      /* view from SOURCE before */
    char digest_after[65];       /* view from DESTINATION after */
    bool verify_mismatch;
    uint64_t mismatch_voff; /* first differing byte when verify_mismatch */
    char note[256];         /* a remark worth printing, or "" */
} vf_merge_result;

/* Run a merge to the end (or plan it with dry_run). Fills *res (release it with
 * vf_merge_result_free) and returns res->status. Thread safety: one call per destination;
 * independent calls may run in parallel.
 * Errors: res->status is a VF_MERGE_* code (docs/errors.md gives each
 * its cause), res->err the library status and message; VF_MERGE_INVALID_PARAMETER for opts
 * not filled by vf_merge_opts_init. */
VF_API int vf_merge_run(const vf_merge_opts *opts, vf_merge_result *res);
VF_API void vf_merge_result_free(vf_merge_result *res); /* NULL is fine; leaves *res zeroed */

/* The one mapping from a library status (and errno for VF_E_IO) onto the codes above. */
VF_API int vf_merge_status_from(vf_status st, int sys_errno);
/* "completed", "failed", "access denied", ... ("unknown" for other numbers); static. */
VF_API const char *vf_merge_status_name(int status);
VF_API const char *vf_merge_phase_name(vf_merge_phase phase); /* "copying"...; static */

/* --- A pending merge, seen from another command (info, check, digest) --- */

/* What the merge journal beside one level of a chain says. The journal is read as hostile
 * input and names no file; only levels of the chain are looked at. */
typedef struct vf_merge_pending {
    bool found;          /* some level has a journal; the fields below describe it */
    bool readable;       /* it holds a valid record: phase, cursor and virtual_size are set */
    int64_t holder;      /* a merge holds it now: its pid (-1: pid unknown); 0: none, the merge
                            was interrupted and a rerun of the same command finishes it */
    size_t dest_level;   /* the level holding the journal: the merge's DESTINATION */
    size_t source_level; /* the level that is the merge's SOURCE (its identity is the one the
                            journal recorded); SIZE_MAX when the chain does not reach it */
    vf_merge_phase phase;
    uint64_t cursor;            /* COPYING: bytes of SOURCE's view durable in DESTINATION */
    uint64_t virtual_size;      /* SOURCE's */
    char why[VF_ERROR_MSG_MAX]; /* found && !readable: why the record cannot be used */
    char *journal;              /* its path */
    char *destination;          /* the file beside it: level dest_level, or (dest_level ==
                                   depth) vf_chain_beyond's, a DESTINATION past its copy */
    char *source;               /* level source_level's path, NULL with SIZE_MAX */
} vf_merge_pending;

/* Look for a merge journal beside each level of c, top first, then beside vf_chain_beyond(c)
 * (where a journal lives is the merger's decision; no lock is taken, so it works while a
 * merge runs), and describe the first found in *out. Absent everywhere: VF_OK with out->found
 * false. A journal refused (a link, not this user's) or without a valid record: found, !readable,
 * why says so. fs is the one c was opened through (NULL: vf_fs_posix()). The strings of *out are
 * yours: vf_merge_pending_free() it. Errors: VF_E_NOMEM, VF_E_INVAL (c NULL). */
VF_API vf_status vf_merge_pending_find(const vf_chain *c, const vf_fs *fs, vf_merge_pending *out,
                                       vf_error *err);
/* Look for a merge journal that names the single file path, also when path does not open as an
 * image (a VHD whose trailing footer is missing: what vf_image_repair is for). Two places only:
 * the journal beside path itself (path is that merge's DESTINATION; reported as found even
 * when refused or without a valid record, as vf_merge_pending_find does), else the journal
 * beside a level of the chain that path's own parent links lead to (resolved with opts as
 * vf_chain_open_partial does; NULL: the defaults), reported only when its valid record lists
 * path's identity where path stands in that chain (path is the merge's SOURCE or an
 * intermediate). Path's identity and links are read from it as it opens or, when it does not,
 * from the image the driver's safe repair would make of it (a view: nothing is written). Every
 * file is opened read-only and without locks (so it works while a merge runs), journals as
 * vf_merge_pending_find opens them: no symbolic link, only a regular file of this user, both
 * slots bounded and validated; a journal names no file and none is opened on its word. A file
 * with no identity to read (not a virtual disk) can only be a DESTINATION. *out counts levels
 * from path (level 0); its strings are yours: vf_merge_pending_free() it. Absent: VF_OK, found
 * false. Errors: VF_E_NOMEM, VF_E_INVAL (path NULL, opts not filled by vf_chain_opts_init),
 * VF_E_UNSUPPORTED (opts from a newer library with a field set this one does not know). */
VF_API vf_status vf_merge_pending_find_file(const char *path, const vf_chain_opts *opts,
                                            vf_merge_pending *out, vf_error *err);
VF_API void vf_merge_pending_free(vf_merge_pending *p); /* NULL is fine; leaves *p zeroed */

/* --- Job API: the same merge on its own thread --- */
typedef struct vf_merge_job vf_merge_job;

/* Copy opts and start the merge on a new thread. Returns VF_MERGE_JOB_STARTED with *out set
 * (yours: vf_merge_job_free it after vf_merge_job_wait), or a failure code with *out NULL
 * and *err filled (VF_MERGE_OUT_OF_MEMORY, VF_MERGE_INVALID_PARAMETER for opts not filled
 * by its init, the code of a thread that could not start). The merge's own failures come
 * from vf_merge_job_wait. */
VF_API int vf_merge_job_start(const vf_merge_opts *opts, vf_merge_job **out, vf_error *err);
/* State and percent complete, at any time from any thread. */
VF_API vf_merge_job_state vf_merge_job_poll(vf_merge_job *job, unsigned *percent);
/* The latest progress report (all fields, as on_info last saw them) into *out, at any time
 * from any thread. Errors: none (a job that has not reported yet gives state RUNNING, step
 * OPEN, zeros). Nothing to free. */
VF_API void vf_merge_job_progress(vf_merge_job *job, vf_merge_progress_info *out);
/* Ask the job to stop at its next durable point (opts->cancel's path: the job watches its
 * own flag and the caller's); the journal stays and a rerun finishes the merge. The job
 * then ends in state VF_JOB_TERMINATED with VF_E_CANCELED. */
VF_API void vf_merge_job_cancel(vf_merge_job *job);
/* Block until the job ends; copies the result into *res (vf_merge_result_free it) and
 * returns its status. Call once. */
VF_API int vf_merge_job_wait(vf_merge_job *job, vf_merge_result *res);
VF_API void vf_merge_job_free(vf_merge_job *job); /* waits when still running; NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
