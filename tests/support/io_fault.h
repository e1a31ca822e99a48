/* io_fault.h - a fault-injecting vf_fs for tests: wraps another vf_fs (POSIX or memory) and
 * fails, tears or "loses power" at a chosen write, so crash sweeps can prove that a writer
 * never loses data. Layer: tests/support. Used by test_fault.c and the merger's crash tests.
 *
 * Counting: one counter for the whole wrapper. Every write_at and every set_size through ANY
 * handle opened via the wrapper (and every punch, and in share mode every share) is one write
 * (numbered 1, 2, ...); every sync is one sync (its own counter). Zero-length writes never reach
 * the wrapper (vf_io_write skips them).
 *
 * Crash sweep recipe (the merger's):
 *   vf_fault *f; vf_fault_new(vf_fs_posix() or a vf_fs_mem, &f, &err);
 *   run the operation once with vf_fault_fs(f) as its fs;   N = vf_fault_writes(f);
 *   for (i = 1; i <= N; i++) {
 *       restore the inputs; vf_fault_arm(f, &(vf_fault_plan){.kind = VF_FAULT_POWER,
 *                                                            .at = i, .torn_sectors = 1});
 *       run the operation through vf_fault_fs(f): it must fail (vf_fault_fired(f) is true);
 *       close everything it opened; vf_fault_reset(f);
 *       reopen the files through the PLAIN fs and check them (old or new state, resumable);
 *   }
 *
 * Ownership: vf_fault_free may be called while handles are still open; the wrapper's memory
 * goes when the last of them closes. Not thread safe (one test thread drives it). */
#ifndef VHDFOLD_TEST_IO_FAULT_H
#define VHDFOLD_TEST_IO_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_io.h>

typedef enum vf_fault_kind {
    VF_FAULT_NONE = 0,
    /* Write number `at` fails with EIO (resp. ENOSPC) and changes nothing; later writes work. */
    VF_FAULT_WRITE_EIO,
    VF_FAULT_WRITE_ENOSPC,
    /* Write `at` stores only its first short_bytes bytes, then fails with ENOSPC. */
    VF_FAULT_WRITE_SHORT,
    /* Sync number `at` fails with EIO without syncing; that handle then refuses every write
     * and sync (a failed fsync is final), other handles go on. */
    VF_FAULT_SYNC_EIO,
    /* Process crash at write `at`: it and every later write, set_size, sync, remove and
     * sync_dir fail with EIO and do nothing (as do opens with CREATE or TRUNC). What was
     * written before stays (the OS still has it). Reads still work. */
    VF_FAULT_CRASH,
    /* Power loss at write `at`: in every file, every write and set_size made through the
     * wrapper since that file's last successful sync is undone (an undo log holds the old
     * bytes and old size), then the leading torn_sectors 512-byte file sectors of write `at`
     * are stored (the rest of it is lost). From then on all I/O through the wrapper (reads,
     * opens too) fails with EIO until vf_fault_reset or vf_fault_arm. */
    VF_FAULT_POWER,
} vf_fault_kind;

typedef struct vf_fault_plan {
    vf_fault_kind kind;
    uint64_t at;           /* 1-based write number (sync number for VF_FAULT_SYNC_EIO) */
    size_t short_bytes;    /* WRITE_SHORT: bytes stored, clipped to len-1; 0 = half of it */
    unsigned torn_sectors; /* POWER: file sectors of write `at` that survive, counted from the
                              sector holding its first byte (0 = none of it) */
    /* Independent of kind: */
    size_t read_piece; /* > 0: inner reads are made this many bytes at a time */
    bool flip;         /* flip bit flip_bit of the byte at file offset flip_off in every */
    uint64_t flip_off; /* read that covers it, in files named flip_path (NULL = all) */
    unsigned flip_bit;
    const char *flip_path; /* copied */
} vf_fault_plan;

typedef struct vf_fault vf_fault;

/* A wrapper over inner (NULL = vf_fs_posix()); inner must outlive it. Plan: VF_FAULT_NONE. */
vf_status vf_fault_new(const vf_fs *inner, vf_fault **out, vf_error *err);
/* The file system to hand to the code under test; borrowed from f. */
const vf_fs *vf_fault_fs(vf_fault *f);
/* Wrap one handle opened elsewhere (owned from now on, even on failure); path names its file
 * (for undo and flip_path). Counted with everything else. */
vf_status vf_fault_wrap(vf_fault *f, vf_io *inner, const char *path, vf_io **out, vf_error *err);
/* Forget the plan, the counters, the fired/crashed/power-lost state and the undo logs. */
void vf_fault_reset(vf_fault *f);
/* vf_fault_reset, then follow plan (copied). VF_E_NOMEM when flip_path cannot be copied. */
vf_status vf_fault_arm(vf_fault *f, const vf_fault_plan *plan);
/* Share mode (kept by reset and arm): the wrapper models a file system with reflinks. Its
 * share_from takes 4 KiB-aligned ranges (and says yes to the question, len 0) and stores them
 * as one counted write; punch stores zeros as one counted write; has_data calls a range of
 * zeros a hole. Off (the default): nothing is shared, punch writes zeros, all is data. */
void vf_fault_set_share(vf_fault *f, bool on);
uint64_t vf_fault_writes(const vf_fault *f); /* write_at + set_size calls since reset */
uint64_t vf_fault_syncs(const vf_fault *f);  /* sync calls since reset */
bool vf_fault_fired(const vf_fault *f);      /* the planned fault happened */
void vf_fault_free(vf_fault *f);             /* NULL is fine */

#endif
