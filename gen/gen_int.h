/* gen_int.h - the generator's internals: the SplitMix64 PRNG and keyed data function, the
 * per-level extent model, the write plan, and the view iterator the digests walk.
 * Layer: gen (internal). Used by the gen sources and the test_gen unit tests only.
 * The constants and derivations here are frozen: changing one changes every seed's bytes
 * (tests/unit/test_gen_rng.c pins them; docs/gen.md describes them). */
#ifndef VHDFOLD_GEN_INT_H
#define VHDFOLD_GEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vf_gen.h"
#include "samples.h"

/* --- PRNG: SplitMix64 (Steele, Lea, Flood 2014) ------------------------------------------- */

#define VF_GEN_GAMMA 0x9E3779B97F4A7C15ull

/* The SplitMix64 output function (a bijective 64-bit mixer). */
static inline uint64_t vf_gen_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Output i (0-based) of the SplitMix64 stream whose state starts at key: random access. */
static inline uint64_t vf_gen_at(uint64_t key, uint64_t i)
{
    return vf_gen_mix(key + (i + 1) * VF_GEN_GAMMA);
}

/* Domain values for the write index: data writes are numbered from 1. */
#define VF_GEN_WRITE_PLAN 0xFFFFFFFFu   /* the level's planning stream */
#define VF_GEN_LEVEL_GLOBAL 0xFFFFFFFFu /* chain-wide choices (base type, sector size) */
#define VF_GEN_WRITE_TRIM 0xFFFFFFFEu   /* a VHDX level's trim stream (whole-block zeros) */

/* key(seed, level, write) = at(at(at(0, seed), level), write). */
static inline uint64_t vf_gen_key(uint64_t seed, uint32_t level, uint32_t write)
{
    return vf_gen_at(vf_gen_at(vf_gen_at(0, seed), level), write);
}

typedef struct vf_gen_rng {
    uint64_t state;
} vf_gen_rng;

static inline void vf_gen_rng_init(vf_gen_rng *r, uint64_t key)
{
    r->state = key;
}

static inline uint64_t vf_gen_next(vf_gen_rng *r)
{
    r->state += VF_GEN_GAMMA;
    return vf_gen_mix(r->state);
}

/* Uniform in [0, n) by modulo (n > 0); the tiny bias is part of the frozen definition. */
static inline uint64_t vf_gen_below(vf_gen_rng *r, uint64_t n)
{
    return vf_gen_next(r) % n;
}

/* --- Model: per level, disjoint sorted extents; later writes replace earlier ones --------- */

typedef struct vf_gen_ext {
    uint64_t voff, len; /* bytes, sector multiples */
    uint32_t write;     /* 1-based write index within the level */
    bool zero;          /* explicit zeros (vf_image_write_zeroes) */
} vf_gen_ext;

typedef struct vf_gen_map {
    vf_gen_ext *v;
    size_t n, cap;
} vf_gen_map;

vf_status vf_gen_map_put(vf_gen_map *m, uint64_t voff, uint64_t len, uint32_t write, bool zero,
                         vf_error *err);
bool vf_gen_map_intersects(const vf_gen_map *m, uint64_t voff, uint64_t len);
void vf_gen_map_free(vf_gen_map *m);

/* One planned write, in the order it is applied. */
typedef struct vf_gen_write {
    uint64_t voff, len;
    uint32_t write;
    bool zero;
    bool trim; /* a whole-block trim (VHDX): vf_image_write_zeroes over lower levels' data */
} vf_gen_write;

typedef struct vf_gen_plan_level {
    vf_gen_write *w;
    size_t nw, capw;
    vf_gen_map map;
    vf_disk_type type;
    unsigned creator; /* index into the creator table of the format */
    unsigned locmode; /* index into the locator modes of the format */
    uint8_t id[16];
    uint32_t timestamp;
} vf_gen_plan_level;

typedef struct vf_gen_plan {
    vf_gen_opts opts;
    unsigned nlevels;
    vf_gen_plan_level *lv;
    uint64_t total_bytes; /* bytes of data and zero writes over all levels */
} vf_gen_plan;

vf_status vf_gen_plan_build(const vf_gen_opts *opts, vf_gen_plan *plan, vf_error *err);
void vf_gen_plan_free(vf_gen_plan *plan);

/* Creators and locator modes: the format driver's sample of real producers (samples.h). */
typedef vf_producer_sample vf_gen_creator;
typedef vf_locator_sample vf_gen_locmode;

const vf_gen_creator *vf_gen_creator_get(vf_format_kind f, unsigned idx);
/* Does format f have feature (VF_FEATURE_*)? false for an unknown format. */
bool vf_gen_has(vf_format_kind f, unsigned feature);
const vf_gen_locmode *vf_gen_locmode_get(vf_format_kind f, unsigned idx);
/* True when the spec's CHS algorithm describes exactly size bytes (docs/formats/vhd.md "CHS
 * geometry"). */
bool vf_gen_chs_exact(uint64_t size);

/* --- The view from one level: runs of (defining level, write) or nothing ------------------ */

typedef struct vf_gen_span {
    uint64_t voff, len;
    int level; /* -1: no level defines it (zeros) */
    uint32_t write;
    bool zero;
} vf_gen_span;

typedef struct vf_gen_view {
    const vf_gen_plan *plan;
    unsigned top;
    uint64_t pos;
    size_t *idx; /* per level 0..top */
} vf_gen_view;

vf_status vf_gen_view_init(vf_gen_view *v, const vf_gen_plan *plan, unsigned top, vf_error *err);
/* Next run; false at the end of the disk. */
bool vf_gen_view_next(vf_gen_view *v, vf_gen_span *run);
void vf_gen_view_free(vf_gen_view *v);

/* --- Digests from the model (digest.c) ---------------------------------------------------- */

/* flat: also the flat sha256. split: compute it on a second thread (two passes producing the
 * bytes, on two cores) rather than in the tree digest's pass (one pass, one core). */
vf_status vf_gen_digest_level(const vf_gen_plan *plan, unsigned top, bool flat, bool split,
                              uint8_t sha256[32], uint8_t tree[32], vf_error *err);

/* --- Write subsets (select.c) ------------------------------------------------------------- */

/* The syntax of opts->writes and its levels (at most depth); VF_OK when NULL. */
vf_status vf_gen_select_check(const vf_gen_opts *opts, vf_error *err);
/* Thin a whole plan to plan->opts.writes (VF_E_INVAL for a write a level lacks). */
vf_status vf_gen_select_apply(vf_gen_plan *plan, vf_error *err);
/* The plan's writes as vf_gen_list_writes reports them (*out yours, NULL when none). */
vf_status vf_gen_list_fill(const vf_gen_plan *plan, vf_gen_write_info **out, size_t *n,
                           vf_error *err);

/* --- Manifest (manifest.c) ---------------------------------------------------------------- */

vf_status vf_gen_manifest(const vf_gen_result *res, char **out, vf_error *err);

#endif
