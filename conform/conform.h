/* conform.h - the conformance runner behind `vhdfold conform`: derives reproducible cases from
 * (suite seed, case index), generates each chain, hands it to a merge command (or a reader)
 * given as a template, and judges the result by digest, structural check and the bytes of the
 * files it must not touch.
 * Layer: conform. Called by cli/cmd_conform.c. It drives the vhdfold binary (gen, digest, check,
 * export) as child processes, so each case is exactly what a user can reproduce by hand.
 * docs/conform.md describes the case derivation, the judge and the expectation files. */
#ifndef VHDFOLD_CONFORM_H
#define VHDFOLD_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vhdfold/vf_error.h>

#define VF_CONFORM_MAX_PROFILES 16

typedef enum vf_conform_dest {
    VF_CONFORM_DEST_PARENT = 0, /* DESTINATION is SOURCE's parent */
    VF_CONFORM_DEST_ANY = 1,    /* any ancestor of SOURCE, drawn per case */
    VF_CONFORM_DEST_BASE = 2,   /* the base of the chain */
} vf_conform_dest;

typedef enum vf_conform_base {
    VF_CONFORM_BASE_ANY = 0, /* drawn per case */
    VF_CONFORM_BASE_DYNAMIC = 1,
    VF_CONFORM_BASE_FIXED = 2,
} vf_conform_base;

typedef enum vf_conform_minimize {
    VF_CONFORM_MIN_NONE = 0,  /* report failures as they are */
    VF_CONFORM_MIN_CLASS = 1, /* shrink the first failing case of each class (kind, line) */
    VF_CONFORM_MIN_ALL = 2,   /* shrink every failing case */
} vf_conform_minimize;

typedef struct vf_conform_opts {
    const char *tool;   /* the vhdfold binary used for gen/digest/check/export (required) */
    const char *impl;   /* merge command template; NULL = "TOOL merge {source} {dest}" */
    const char *reader; /* reader command template (exclusive with impl) */
    /* Template writing the reader's flattened view to {out} ({top} as for reader), run only
     * when the reader's digest is wrong, to locate the first differing byte (NULL = none). */
    const char *reader_raw;
    /* A shipped adapter by name (7zip, libvhdi, ...): sets reader (and reader_raw) or impl
     * (and result); excludes impl and reader. Templates may name its folder as {adapters}. */
    const char *adapter;
    const char *result; /* where the merged disk ends up; NULL = "{dest}" */
    const char *format; /* a format name (vf_format_parse) */
    /* Generator profiles to draw from; none = let the generator pick its default. */
    const char *profiles[VF_CONFORM_MAX_PROFILES];
    size_t nprofiles;
    uint64_t seed;
    uint64_t cases;
    unsigned depth_min, depth_max; /* differencing levels above the base, 1.. */
    vf_conform_dest dest;
    vf_conform_base base;
    uint64_t size_min, size_max;  /* virtual size range in bytes (multiples of 1 MiB drawn) */
    const char *density;          /* `gen --density` text (NULL = the generator's default) */
    const char *block_size;       /* `gen --block-size` text (NULL = the generator's default) */
    double timeout_s;             /* per case, for the command under test */
    unsigned jobs;                /* cases in parallel, >= 1 */
    unsigned shard_k, shard_n;    /* run cases with index % shard_n == shard_k - 1 */
    const char *work_dir;         /* NULL = a new folder under $TMPDIR, removed at the end */
    const char *keep_failures;    /* copy failing case folders there (NULL = none) */
    const char *junit;            /* JUnit XML report path (NULL = none) */
    const char *json;             /* JSON report path (NULL = none) */
    const char *expect;           /* known divergences (NULL = none expected) */
    bool verbose;                 /* print passing cases too (failures are always printed) */
    FILE *out;                    /* per-case lines and the summary (NULL = stdout) */
    vf_conform_minimize minimize; /* shrink failing cases (docs/conform.md "Minimization") */
    uint64_t minimize_budget;     /* trial runs of the command per minimized case (default 150) */
} vf_conform_opts;

/* Defaults: vhd, seed 1, 20 cases, depth 1..4, dest parent, base any, 4..8 MiB, 60 s, 1 job,
 * shard 1/1. tool, impl/reader and the report paths stay NULL. */
void vf_conform_opts_init(vf_conform_opts *o);

/* Run the suite. *failed receives the number of unknown divergences plus the number of known
 * ones (expectation lines) that no longer reproduce; *passed the passing cases plus the known
 * divergences. Returns VF_OK when the suite ran (whatever the verdicts), VF_E_INVAL for bad
 * options or a bad expectation file, VF_E_IO/VF_E_NOMEM when the runner itself failed. */
vf_status vf_conform_run(const vf_conform_opts *o, uint64_t *passed, uint64_t *failed,
                         vf_error *err);

/* The documented per-case derivation (docs/conform.md). */
typedef struct vf_conform_case {
    uint64_t index;
    uint64_t gen_seed;
    unsigned depth;      /* differencing levels above the base */
    unsigned dest_level; /* 0 = base; SOURCE is level depth */
    const char *profile; /* borrowed from the options, NULL = generator default */
    const char *base;    /* "dynamic" or "fixed" */
    uint64_t size;       /* bytes */
    /* Set only by the minimizer (zero/NULL for derived cases): */
    uint32_t block_size; /* gen --block-size in bytes; 0 = the suite's --block-size */
    const char *writes;  /* gen --writes selector; NULL = every write */
} vf_conform_case;

/* SplitMix64: advances *state and returns the next output. */
uint64_t vf_splitmix64(uint64_t *state);
/* Derive case index of the suite described by o (no I/O). */
void vf_conform_derive(const vf_conform_opts *o, uint64_t index, vf_conform_case *c);

/* Substitute placeholders in tmpl: each "{name}" whose name is in names[] becomes values[i],
 * shell-quoted when quote is true (a value holding newlines is a list: each element quoted
 * alone, joined by spaces). "{{" gives a literal "{". An unknown "{name}" is VF_E_INVAL.
 * *out is yours: free(). */
vf_status vf_conform_subst(const char *tmpl, const char *const *names, const char *const *values,
                           size_t n, bool quote, char **out, vf_error *err);

#endif
