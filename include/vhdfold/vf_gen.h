/* vf_gen.h - the seeded chain generator: builds a random VHD/VHDX differencing chain from a
 * seed and options, writes it through a vf_fs, and describes it in a manifest whose digests
 * come from the generator's own model (an independent path from the readers).
 * Layer: gen (public). Called by cli/cmd_gen.c, the conformance runner and tests.
 * docs/gen.md documents the PRNG, the data function and the manifest; seeds are forever. */
#ifndef VHDFOLD_VF_GEN_H
#define VHDFOLD_VF_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_error.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

#define VF_GEN_MAX_DEPTH 64               /* differencing levels above the base */
#define VF_GEN_DEFAULT_SIZE (64ull << 20) /* 64 MiB, sparse */
#define VF_GEN_DEFAULT_BLOCK (2u << 20)   /* 2 MiB */
#define VF_GEN_MIN_BLOCK (512u << 10)     /* 512 KiB */
#define VF_GEN_MAX_BLOCK (256u << 20)     /* 256 MiB (the VHDX limit) */
#define VF_GEN_DEFAULT_DEPTH 3
#define VF_GEN_DEFAULT_DENSITY_PPM 100000u        /* 0.1 of the blocks touched per level */
#define VF_GEN_DEFAULT_FLAT_LIMIT (64ull << 30)   /* flat sha256 only up to 64 GiB */
#define VF_GEN_VHD_MAX_SIZE (0xFF000000ull * 512) /* 2040 GiB */
#define VF_GEN_VHDX_MAX_SIZE (64ull << 40)        /* 64 TiB */
#define VF_GEN_MAX_SEED ((uint64_t)INT64_MAX)     /* seeds are JSON integers */
#define VF_GEN_FILE_MAX 32

typedef enum vf_gen_profile {
    VF_GEN_PROFILE_MIXED = 0, /* every kind of write, mixed (the default) */
    VF_GEN_PROFILE_ALIGNED,   /* 4 KiB-aligned runs, what most guests write */
    VF_GEN_PROFILE_SECTOR,    /* sector-granular runs */
    VF_GEN_PROFILE_BLOCKS,    /* whole blocks only, as Xen Orchestra writes */
} vf_gen_profile;

/* Levels left with pending log entries (VHDX only; test support for log replay). */
typedef enum vf_gen_dirty {
    VF_GEN_DIRTY_NONE = 0,
    VF_GEN_DIRTY_TOP, /* the top level only */
    VF_GEN_DIRTY_ALL, /* every level */
} vf_gen_dirty;

typedef enum vf_gen_base {
    VF_GEN_BASE_AUTO = 0, /* drawn from the seed */
    VF_GEN_BASE_FIXED,
    VF_GEN_BASE_DYNAMIC,
} vf_gen_base;

/* Progress callback: bytes written so far out of the total the plan will write. */
typedef void (*vf_gen_progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);

/* What to generate. Fill it with vf_gen_opts_init(&o), then set the fields you need by name. The
 * struct may grow: it starts with its own size, only that many bytes are read, and fields past it
 * get their defaults (docs/library.md "Growing structs"). A zeroed struct is refused with
 * VF_E_INVAL. Do not use positional initialisers. */
typedef struct vf_gen_opts {
    size_t struct_size;    /* set by vf_gen_opts_init(): do not touch */
    vf_format_kind format; /* one with VF_FEATURE_CREATE (vf_format_get_limits) */
    uint64_t seed;         /* 0 .. VF_GEN_MAX_SEED */
    unsigned depth;        /* differencing levels above the base, 0 .. VF_GEN_MAX_DEPTH */
    uint64_t virtual_size; /* bytes, a multiple of 512, 1 MiB .. the format's limit */
    uint32_t block_size;   /* bytes, a power of two, VF_GEN_MIN_BLOCK .. VF_GEN_MAX_BLOCK */
    vf_gen_base base;
    uint32_t density_ppm; /* blocks touched per level, in parts per million (<= 1000000) */
    vf_gen_profile profile;
    uint64_t flat_limit;         /* compute the flat sha256 only when virtual_size <= this */
    uint32_t sector_size;        /* logical sector: 512 or 4096 (VHDX); 0 = VHD 512, VHDX drawn by
                                    the mixed profile, 512 for the others */
    vf_gen_dirty dirty;          /* VHDX: levels left needing a log replay */
    vf_gen_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    /* Replay only some of the planned writes (docs/gen.md "Replaying a subset of the writes"):
     * "LEVEL:LIST[/LEVEL:LIST...]", LIST "none" or write numbers and ranges ("1,4-6"); levels
     * not named keep every write. The plan is drawn whole first, so the writes kept are
     * byte-for-byte those of the full chain. NULL = every write. Borrowed, not copied. */
    const char *writes;
} vf_gen_opts;

/* What one level became. */
typedef struct vf_gen_level {
    char file[VF_GEN_FILE_MAX]; /* name inside OUTDIR, e.g. "00-base.vhd" */
    vf_disk_type type;
    char creator[24];     /* VHD: the 4 creator bytes, escaped ("tap\\0"); VHDX: text */
    bool dirty;           /* left with pending log entries (opts.dirty) */
    uint32_t trims;       /* whole-block zero writes over lower levels' data (VHDX) */
    const char *locators; /* "W2ku+W2ru", "W2ru", "W2ku", "relative+absolute"... */
    uint8_t id[16];
    uint32_t timestamp;
    uint32_t writes, zero_writes;
    uint64_t written_bytes, zeroed_bytes;
    bool has_sha256;    /* false when virtual_size > flat_limit */
    uint8_t sha256[32]; /* flat digest of the view from this level (model) */
    uint8_t tree[32];   /* tree digest (docs/tree-digest.md) of the same view */
} vf_gen_level;

typedef struct vf_gen_result {
    vf_gen_opts opts; /* the options as used (base and sector size resolved) */
    unsigned nlevels; /* depth + 1 */
    vf_gen_level levels[VF_GEN_MAX_DEPTH + 1]; /* base first */
    char *manifest; /* the manifest.json text; yours: vf_gen_result_free() */
} vf_gen_result;

/* The defaults of `vhdfold gen` (seed 0). Call it first (the macro passes sizeof the caller's
 * struct). */
VF_API void vf_gen_opts_init_size(vf_gen_opts *opts, size_t size);
#define vf_gen_opts_init(o) vf_gen_opts_init_size((o), sizeof *(o))

/* Check options without writing anything.
 * Errors: VF_E_INVAL (a message naming the option; also opts not filled by its init). */
VF_API vf_status vf_gen_validate(const vf_gen_opts *opts, vf_error *err);

/* Generate the chain into outdir (which must exist; fs NULL = vf_fs_posix()): the level
 * files, base first, then outdir/manifest.json. Existing files are never overwritten
 * (VF_E_INVAL before anything is written). On failure the files created are removed.
 * res is filled on success; release it with vf_gen_result_free(). Not thread safe per res.
 * Errors: those of vf_gen_validate, VF_E_INVAL (a level file or the manifest exists),
 * VF_E_UNSUPPORTED (the format cannot create), those of vf_image_create and of writing
 * (VF_E_IO: ENOSPC...), VF_E_NOMEM. */
VF_API vf_status vf_gen_run(const vf_gen_opts *opts, const vf_fs *fs, const char *outdir,
                            vf_gen_result *res, vf_error *err);
VF_API void vf_gen_result_free(vf_gen_result *res); /* NULL is fine; frees manifest only */

/* Compute the model and its digests only (no files): fills res like vf_gen_run, with an
 * empty manifest file list written nowhere. Used by tests and by the benchmark.
 * Errors: those of vf_gen_validate, VF_E_NOMEM. */
VF_API vf_status vf_gen_model_only(const vf_gen_opts *opts, vf_gen_result *res, vf_error *err);

/* One planned write, as vf_gen_list_writes reports it (in the order gen applies them). */
typedef struct vf_gen_write_info {
    unsigned level;  /* 0 = the base */
    uint32_t write;  /* 1-based within its level: the number --writes selects by */
    uint64_t offset; /* virtual byte offset */
    uint64_t length; /* bytes (clipped at the virtual size) */
    bool zero;       /* explicit zeros (vf_image_write_zeroes) */
    bool trim;       /* a whole-block trim (VHDX) */
} vf_gen_write_info;

/* The writes the options describe (after opts->writes), level by level, each level's in the
 * order they are applied: a later write replaces an earlier one where they overlap. Nothing is
 * written. *out is yours: vf_gen_writes_free(*out); *n may be 0 (then *out is NULL).
 * Errors: those of vf_gen_validate, VF_E_INVAL (opts->writes names a write the level does not
 * have), VF_E_NOMEM. */
VF_API vf_status vf_gen_list_writes(const vf_gen_opts *opts, vf_gen_write_info **out, size_t *n,
                                    vf_error *err);
VF_API void vf_gen_writes_free(vf_gen_write_info *writes); /* NULL is fine */

/* Parse a density "0.3", "1", ".05" or "25%" into parts per million (exact decimal). */
VF_API bool vf_gen_parse_density(const char *text, uint32_t *ppm);
/* Profile and base names: "mixed", "aligned", "sector", "blocks"; "fixed", "dynamic". The
 * parsers return false for any other text; the names are static strings. */
VF_API bool vf_gen_parse_profile(const char *text, vf_gen_profile *out);
VF_API const char *vf_gen_profile_name(vf_gen_profile p);
VF_API const char *vf_gen_base_name(vf_gen_base b);
/* Dirty modes: "none", "top", "all" (false for other text; static names). */
VF_API bool vf_gen_parse_dirty(const char *text, vf_gen_dirty *out);
VF_API const char *vf_gen_dirty_name(vf_gen_dirty d);
/* Draw a fresh seed (48 bits) from the system's random source. Errors: VF_E_IO. */
VF_API vf_status vf_gen_draw_seed(uint64_t *seed, vf_error *err);

/* The data function (docs/gen.md): fill buf with the bytes that write `write` of `level`
 * puts at virtual offset voff. voff and len must be multiples of 8. */
VF_API void vf_gen_fill(uint64_t seed, uint32_t level, uint32_t write, uint64_t voff, void *buf,
                        size_t len);

#endif
