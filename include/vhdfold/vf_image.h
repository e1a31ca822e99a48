/* vf_image.h - the format-neutral image handle: open (probing VHD or VHDX), describe, map
 * extents, read and write one image file (not its parents: see vf_chain.h), create images.
 * Layer: format (public). Each format is a driver behind this interface (format/image_int.h). */
#ifndef VHDFOLD_VF_IMAGE_H
#define VHDFOLD_VF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"
#include "vf_io.h"
#include "vf_report.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_format_kind {
    VF_FORMAT_NONE = 0,
    VF_FORMAT_VHD = 1,
    VF_FORMAT_VHDX = 2,
} vf_format_kind;

/* Numbered as the VHD footer's disk type; VHDX maps onto the same three. */
typedef enum vf_disk_type {
    VF_DISK_FIXED = 2,
    VF_DISK_DYNAMIC = 3,
    VF_DISK_DIFF = 4,
} vf_disk_type;

#define VF_GUID_TEXT_LEN 39 /* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" + NUL */

typedef struct vf_image_info {
    vf_format_kind format;
    vf_disk_type type;
    uint64_t virtual_size;        /* bytes; VHD: the footer's current size (docs/formats/vhd.md) */
    uint32_t block_size;          /* bytes; 0 for a fixed VHD */
    uint32_t logical_sector_size; /* 512 or 4096 */
    uint32_t physical_sector_size;
    /* Identity children bind to: VHD footer unique id, VHDX current DataWriteGuid.
     * Raw on-disk bytes; vf_guid_text renders them in the format's convention. */
    uint8_t id[16];
    bool has_parent;
    uint8_t parent_id[16]; /* VHD parent unique id; VHDX parent_linkage */
    bool has_parent_id2;   /* VHDX parent_linkage2 present */
    uint8_t parent_id2[16];
    /* VHD only: footer time stamp and the header's parent time stamp (VHD epoch, 2000). */
    uint32_t timestamp;
    uint32_t parent_timestamp;
    char creator[40];         /* VHD creator application (4 bytes, escaped); VHDX creator text */
    uint32_t creator_version; /* VHD only */
    uint32_t creator_os;      /* VHD only */
    uint64_t original_size;   /* VHD only */
    uint16_t cylinders;       /* VHD CHS geometry */
    uint8_t heads, sectors_per_track;
    uint64_t file_size;
    uint64_t total_blocks;     /* BAT entries covering the virtual size (payload blocks) */
    uint64_t allocated_blocks; /* blocks with data in this file */
    /* VHDX only */
    uint64_t header_sequence;
    bool log_replayed; /* a pending log was replayed in memory (written on the first write) */
    uint64_t log_replay_bytes; /* bytes writing that replay would write to or add to the file */
    uint8_t file_write_guid[16];
    uint8_t page83[16];
    /* Which of the format-specific fields above hold values for this image (VF_INFO_* bits,
     * set from its driver): callers print or compare a field only when its bit is set. */
    unsigned fields;
} vf_image_info;

/* vf_image_info.fields */
enum {
    VF_INFO_TIMESTAMPS = 1u << 0,   /* timestamp, parent_timestamp */
    VF_INFO_CREATOR_HOST = 1u << 1, /* creator_version, creator_os, original_size */
    VF_INFO_CHS = 1u << 2,          /* cylinders, heads, sectors_per_track */
    VF_INFO_LOG = 1u << 3,          /* header_sequence, log_replayed, log_replay_bytes */
    VF_INFO_WRITE_GUIDS = 1u << 4,  /* file_write_guid, page83 */
};

/* What one run of the virtual disk is in ONE image. */
typedef enum vf_extent_kind {
    VF_EXTENT_ABSENT = 0,  /* not in this file: the parent's data, or zeros without a parent */
    VF_EXTENT_PRESENT = 1, /* stored in this file, contiguous from file_off */
    VF_EXTENT_ZERO = 2,    /* defined as zeros by this file (hides the parent; VHDX ZERO) */
} vf_extent_kind;

typedef struct vf_extent {
    uint64_t voff; /* virtual byte offset of the run's start */
    uint64_t len;  /* bytes, > 0, a multiple of the logical sector size */
    vf_extent_kind kind;
    uint64_t file_off; /* PRESENT only: file offset of voff's data (0 when overlaid) */
    /* PRESENT only: the file does not hold these bytes as the image reads them (a VHDX log
     * replayed in memory overrides them, or they lie past the real end of the file). There
     * is no file offset to copy from: read them with vf_image_read. */
    bool overlaid;
} vf_extent;

typedef struct vf_image vf_image;

/* Open flags */
enum {
    VF_OPEN_RDWR = 1u << 0,         /* the image will be written (VHDX: log replayed on disk) */
    VF_OPEN_NO_CHECKSUMS = 1u << 1, /* fuzz builds only: accept bad checksums */
    /* Resume after an interrupted identity/footer/header update (merger only, guided by its
     * journal): VHD accepts a valid trailing footer whose copy at 0 differs (repaired on the
     * next flush when writable) and a dynamic header whose checksum is bad because a
     * set_parent write was torn (every other field still validated; rewritten by the resumed
     * set_parent). */
    VF_OPEN_RECOVER = 1u << 2,
};

/* Probe and open one image. Owns io from now on, even on failure. The whole structure is
 * validated (headers, tables, every BAT entry against the file) before this returns OK.
 * On success *out is yours: vf_image_close() it. name (copied) is used in messages.
 * Errors: VF_E_FORMAT (no known signature, a bad checksum or field), VF_E_TRUNCATED (a
 * structure past the end of the file), VF_E_CORRUPT (fields that contradict each other),
 * VF_E_UNSUPPORTED (legal but not implemented), VF_E_LIMIT (a structure over the bounds of
 * docs/bounds.md), VF_E_INVAL (bad flags), VF_E_IO, VF_E_NOMEM. */
VF_API vf_status vf_image_open(vf_io *io, const char *name, unsigned flags, vf_image **out,
                               vf_error *err);
VF_API void vf_image_close(vf_image *img); /* NULL is fine; does not flush */

/* What the image is, its name and its backend; borrowed until vf_image_close (the io stays
 * the image's: do not close it). */
VF_API const vf_image_info *vf_image_info_get(const vf_image *img);
VF_API const char *vf_image_name(const vf_image *img);
VF_API vf_io *vf_image_io(vf_image *img);

/* The run starting at voff (sector aligned, < virtual size), at most len bytes, clipped at the
 * virtual size. One call describes one run of one kind.
 * Errors: VF_E_INVAL (voff unaligned or past the end), VF_E_CORRUPT (a table entry found bad
 * on the way), VF_E_IO. */
VF_API vf_status vf_image_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext,
                              vf_error *err);

/* This image's own bytes: PRESENT runs from the file, ABSENT and ZERO runs as zeros.
 * voff and len need not be aligned; [voff, voff+len) must lie within the virtual size.
 * Errors: VF_E_INVAL (outside the disk), VF_E_CORRUPT (a bitmap or table entry found bad),
 * VF_E_IO. */
VF_API vf_status vf_image_read(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err);

/* Write whole logical sectors. Unallocated blocks are allocated at the end of data: the data
 * and bitmap are written, and the metadata that points at them (BAT, bitmap bits, footer) is
 * written only after the data is durable, in the crash-safe order of docs/formats/vhd.md.
 * Differencing images mark only the written sectors present; dynamic images zero-fill the
 * rest of a new block. Writes may be buffered: vf_image_flush makes everything durable.
 * Errors: VF_E_INVAL (read-only image, unaligned or outside the disk), VF_E_STATE (an earlier
 * write on this handle failed: it takes no more writes; close and reopen), VF_E_LIMIT (the
 * file cannot grow any further), VF_E_IO (ENOSPC among others), VF_E_NOMEM. */
VF_API vf_status vf_image_write(vf_image *img, uint64_t voff, const void *buf, size_t len,
                                vf_error *err);
/* As vf_image_write, with the bytes taken from src at src_off (a file, not an image: e.g. a
 * run of another image found with vf_image_map). Same checks, allocation and write order;
 * the data moves file to file (vf_io_copy) when both backends allow, else through a buffer.
 * Errors: those of vf_image_write, and src's read errors. */
VF_API vf_status vf_image_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off,
                                     size_t len, vf_error *err);
/* Make [voff, voff+len) read as zeros from this image, hiding any parent (sector aligned).
 * Errors: those of vf_image_write. */
VF_API vf_status vf_image_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
/* Hint: about nblocks new blocks will be allocated soon (lets a driver grow the file once).
 * Errors: VF_E_INVAL (read-only image), VF_E_IO; a driver without the hint returns VF_OK. */
VF_API vf_status vf_image_reserve(vf_image *img, uint64_t nblocks, vf_error *err);
/* Publish pending metadata and make all writes durable. A read-only image: VF_OK.
 * Errors: VF_E_IO (the write or fsync failed: what was not flushed may be lost; the image
 * stays consistent on disk in the crash-safe order), VF_E_NOMEM. */
VF_API vf_status vf_image_flush(vf_image *img, vf_error *err);

/* Structural check: append every finding to rep (keeps going after problems). Returns VF_OK
 * when the check ran (findings or not); an error only when it could not run.
 * Errors: VF_E_IO, VF_E_NOMEM, VF_E_LIMIT (more work than docs/bounds.md allows). */
VF_API vf_status vf_image_check(vf_image *img, vf_report *rep, vf_error *err);

/* Parent locators, in the order they should be tried (see docs/chain.md). */
typedef enum vf_locator_kind {
    VF_LOC_RELATIVE = 1, /* relative to the child's directory ('/' separators after decoding) */
    VF_LOC_ABSOLUTE = 2, /* absolute path as written by the producer (may be a Windows path) */
    VF_LOC_NAME = 3,     /* VHD parent unicode name: a file name or a relative path */
    VF_LOC_VOLUME = 4,   /* VHDX volume_path */
    VF_LOC_URL = 5,      /* VHD MacX file URL, already stripped of "file://" */
} vf_locator_kind;

typedef struct vf_locator {
    vf_locator_kind kind;
    char tag[24]; /* where it came from: "W2ru", "W2ku", "parent-name", "relative_path" ... */
    /* UTF-8, as stored (backslashes kept), whole: never cut to fit a buffer. Borrowed from
     * the image: valid until vf_image_close or a call that rewrites its parent link
     * (vf_image_set_parent, vf_image_set_parent_id2); copy it to keep it longer. */
    const char *path;
} vf_locator;

/* Fill up to max locators; *n is how many exist (may exceed max). The paths are borrowed
 * (see vf_locator.path). A non-differencing image has none (VF_OK, *n = 0).
 * Errors: none today beyond VF_E_NOMEM (kept fallible for drivers that read lazily). */
VF_API vf_status vf_image_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                                   vf_error *err);

/* --- Creating images --- */

enum {
    VF_LOCATE_W2KU = 1u << 0,     /* VHD absolute UTF-16 locator */
    VF_LOCATE_W2RU = 1u << 1,     /* VHD relative UTF-16 locator */
    VF_LOCATE_NAME = 1u << 2,     /* VHD parent unicode name (always written for VHD) */
    VF_LOCATE_RELATIVE = 1u << 3, /* VHDX relative_path */
    VF_LOCATE_ABSOLUTE = 1u << 4, /* VHDX absolute_win32_path */
};

typedef struct vf_parent_link {
    uint8_t id[16];       /* parent's identity (vf_image_info.id) */
    uint32_t timestamp;   /* VHD: parent footer time stamp */
    const char *relative; /* path of the parent relative to the child's directory ('/' ok) */
    const char *absolute; /* absolute path for W2ku / absolute_win32_path, or NULL */
    unsigned locators;    /* VF_LOCATE_* mask; 0 = the format's default set */
} vf_parent_link;

/* What to create. Fill it with vf_create_opts_init(&o), then set the fields you need by name. The
 * struct may grow: it starts with its own size, only that many bytes are read, and fields past it
 * get their defaults (docs/library.md "Growing structs"). A zeroed struct is refused with
 * VF_E_INVAL. Do not use positional initialisers. */
typedef struct vf_create_opts {
    size_t struct_size; /* set by vf_create_opts_init(): do not touch */
    vf_format_kind format;
    vf_disk_type type;
    uint64_t virtual_size;
    uint32_t block_size;          /* 0 = the format's default (2 MiB VHD, 32 MiB VHDX) */
    uint32_t logical_sector_size; /* VHDX: 512 or 4096 (0 = 512) */
    uint32_t physical_sector_size;
    uint8_t id[16];              /* identity to give the image (all zero = random) */
    uint8_t file_write_guid[16]; /* VHDX: all zero = random */
    uint8_t page83[16];          /* VHDX: all zero = random */
    uint32_t timestamp;          /* VHD footer time stamp; 0 = now */
    const char *creator;         /* VHD: 4-byte creator application ("win ", "vpc ",
                                    "tap\0" given as 4 bytes); NULL = "vhdf" */
    uint32_t creator_version;
    uint32_t creator_os;          /* 0 = "Wi2k" */
    const vf_parent_link *parent; /* required for VF_DISK_DIFF */
    unsigned flags;               /* VF_CREATE_* */
} vf_create_opts;

/* vf_create_opts.flags */
enum {
    /* Test support: metadata updates stay pending in the log when the image is closed (a
     * "dirty" image, as after a crash). Only formats with VF_FEATURE_LOG; others refuse the
     * create with VF_E_UNSUPPORTED. */
    VF_CREATE_LEAVE_DIRTY = 1u << 0,
    /* VHD: blocks this handle allocates follow each other with no padding, as other
     * producers lay them out (the generator imitates them). Without it a new block's
     * sector bitmap is preceded by padding so that its data starts at a 4 KiB-aligned file
     * offset, which lets a later merge share it (docs/merge.md "Reflinks"). VHDX blocks are
     * always 1 MiB-aligned: the flag changes nothing there. */
    VF_CREATE_PACKED = 1u << 1,
};

/* Every field at its default (all zero: format VF_FORMAT_NONE, which must be set; random
 * identities, the format's default block and sector sizes, no flags). Call it first (the macro
 * passes sizeof the caller's struct). */
VF_API void vf_create_opts_init_size(vf_create_opts *o, size_t size);
#define vf_create_opts_init(o) vf_create_opts_init_size((o), sizeof *(o))

/* Create a new image in io (which must be empty and writable). Owns io, even on failure.
 * On success *out is yours (open read-write): vf_image_close() it.
 * Errors: VF_E_INVAL (opts not filled by its init, unknown format, io read-only, bad sizes
 * or parent link, named in the message), VF_E_UNSUPPORTED (the format cannot create, or
 * flags it does not support), VF_E_IO, VF_E_NOMEM. */
VF_API vf_status vf_image_create(vf_io *io, const char *name, const vf_create_opts *opts,
                                 vf_image **out, vf_error *err);

/* Rewrite an existing differencing image's parent binding and locators (merge --child).
 * Data is untouched; the change is crash-safe per format. Locators handed out before are
 * invalid afterwards.
 * Errors: VF_E_INVAL (not a differencing image, read-only), VF_E_LIMIT (a path too long for
 * the format's locator), VF_E_UNSUPPORTED (no room for the locator in the file's metadata),
 * VF_E_STATE (an earlier write failed), VF_E_IO. */
VF_API vf_status vf_image_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err);
/* Give the image a new identity (VHD unique id / VHDX DataWriteGuid), crash-safe.
 * Errors: VF_E_INVAL (read-only image), VF_E_IO. */
VF_API vf_status vf_image_set_id(vf_image *img, const uint8_t id[16], vf_error *err);
/* Grow the virtual size to new_size (a multiple of the logical sector; equal: nothing to do).
 * The new space reads as zeros (differencing images: from the parent). Crash-safe: the old
 * or the new size, never a mix. Shrinking, or a format/file that cannot grow (e.g. a VHDX
 * whose BAT region is too small), is VF_E_UNSUPPORTED naming the reason; nothing written.
 * Errors: VF_E_UNSUPPORTED as said, VF_E_INVAL (read-only, unaligned, 0), VF_E_IO. */
VF_API vf_status vf_image_resize(vf_image *img, uint64_t new_size, vf_error *err);
/* The refusals of vf_image_resize (VF_E_UNSUPPORTED, VF_E_INVAL) without writing anything, so a
 * caller can refuse an operation before its first write. VF_OK: resize would go ahead.
 * Errors: exactly those refusals. */
VF_API vf_status vf_image_resize_check(const vf_image *img, uint64_t new_size, vf_error *err);
/* VHDX merge protocol (docs/merge.md "VHDX: the identity protocol"): add or replace parent_linkage2
 * = id2 in a differencing image's parent locator, leaving parent_linkage and the paths as they are,
 * through the log. The image's data and DataWriteGuid do not change.
 * Errors: VF_E_UNSUPPORTED (other formats; no room in the metadata region), VF_E_INVAL (not
 * a differencing image, read-only), VF_E_IO. */
VF_API vf_status vf_image_set_parent_id2(vf_image *img, const uint8_t id2[16], vf_error *err);

/* Render 16 identity bytes as text in the format's convention: VHD as RFC 4122 bytes in order,
 * VHDX as a Microsoft mixed-endian GUID; lower case, with braces. */
VF_API void vf_guid_text(vf_format_kind format, const uint8_t id[16], char out[VF_GUID_TEXT_LEN]);

/* Fill 16 bytes from the system's random source (version 4 UUID bits set).
 * Errors: VF_E_IO (getrandom failed). */
VF_API vf_status vf_random_id(uint8_t id[16], vf_error *err);

/* --- Formats: what each driver supports (docs/design.md "Adding a format") --- */

/* The driver's name of a format ("vhd", "vhdx"); "none" for a value no driver has. Static. */
VF_API const char *vf_format_name(vf_format_kind f);
/* The format a name designates (as vf_format_name writes it, exact case); VF_FORMAT_NONE
 * when no driver has that name (or name is NULL). */
VF_API vf_format_kind vf_format_parse(const char *name);
/* How many formats the library has, and the i-th of them (0 <= i < count, in a fixed order:
 * the order option tables and help list them); VF_FORMAT_NONE past the end. */
VF_API size_t vf_format_count(void);
VF_API vf_format_kind vf_format_at(size_t i);
/* The format new images get when the caller names none (the CLI's --format default, the
 * generator's default). Always one vf_format_at lists. */
VF_API vf_format_kind vf_format_default(void);

/* vf_format_limits.sector_sizes */
enum {
    VF_SECTOR_512 = 1u << 0,
    VF_SECTOR_4096 = 1u << 1,
};

/* vf_format_limits.features */
enum {
    VF_FEATURE_CREATE = 1u << 0, /* vf_image_create writes images of this format */
    VF_FEATURE_LOG = 1u << 1,    /* metadata goes through a log (VF_CREATE_LEAVE_DIRTY) */
    /* Zeros are a block state: vf_image_write_zeroes of any length allocates nothing, so a
     * copy hands every zero run to it rather than writing zero bytes. */
    VF_FEATURE_ZERO_BLOCKS = 1u << 2,
    /* A merge into an image of this format binds the level above it first
     * (vf_image_merge_link): that level is written too and must be open for writing. */
    VF_FEATURE_MERGE_LINK = 1u << 3,
    VF_FEATURE_RESIZE = 1u << 4, /* vf_image_resize can grow images of this format */
};

/* What vf_image_create accepts for a format, and what it can do. Filled by
 * vf_format_get_limits; new fields may be added at the end (callers only read it). */
typedef struct vf_format_limits {
    uint64_t max_virtual_size; /* bytes */
    uint32_t min_block_size;   /* bytes, powers of two */
    uint32_t max_block_size;
    uint32_t default_block_size; /* what block_size 0 means */
    unsigned sector_sizes;       /* logical sector sizes: VF_SECTOR_* bits */
    /* Virtual sizes every known reader of the format accepts: a multiple of portable_align
     * bytes and of portable_sectors logical sectors (1 and 1: any whole sector). */
    uint32_t portable_align;
    uint32_t portable_sectors;
    unsigned features; /* VF_FEATURE_* bits */
} vf_format_limits;

/* Fill *out for format f; err may be NULL.
 * Errors: VF_E_INVAL (message naming the value) for a format no driver has. */
VF_API vf_status vf_format_get_limits(vf_format_kind f, vf_format_limits *out, vf_error *err);

/* File bytes one newly allocated block of this image costs at most (its data, plus the
 * format's per-block bitmap or alignment slack): a merge plan multiplies it by the blocks it
 * allocates. Fixed images (block_size 0) cost nothing per block. */
VF_API uint64_t vf_image_block_cost(const vf_image *img);

/* The format's part of a merge (docs/merge.md "VHDX: the identity protocol"), for formats
 * with VF_FEATURE_MERGE_LINK; others: VF_OK, nothing done. Both images writable.
 * vf_image_merge_link binds `above` (the level just above dest in the chain) to dest
 * through link_id and gives dest link_id as its identity, each step flushed, so the chain
 * keeps opening through dest during the copy. Idempotent (a resumed merge repeats it).
 * VF_E_UNSUPPORTED: refused before anything was written (e.g. above has no room for the
 * binding). vf_image_merge_unlink undoes the identity part: dest gets old_id back (above
 * keeps a harmless extra binding); for a merge refused before its first data write.
 * Errors: VF_E_UNSUPPORTED as said, VF_E_INVAL (an image read-only or not the expected
 * type), VF_E_STATE (an earlier write failed), VF_E_IO. */
VF_API vf_status vf_image_merge_link(vf_image *dest, vf_image *above, const uint8_t link_id[16],
                                     vf_error *err);
VF_API vf_status vf_image_merge_unlink(vf_image *dest, const uint8_t old_id[16], vf_error *err);

/* --- Repair: only the repairs that cannot lose data (docs/cli.md "vhdfold repair [options] FILE")
 * --- */

#define VF_REPAIR_MAX_ACTIONS 4

/* What vf_image_repair found: the repairs it makes (or would make), in order, and, when the
 * file has a problem no safe repair covers, why ("unsafe" set: nothing was written). */
typedef struct vf_repair_plan {
    size_t nactions;
    char action[VF_REPAIR_MAX_ACTIONS][VF_ERROR_MSG_MAX]; /* "restore the trailing footer..." */
    bool unsafe;                       /* a problem that cannot be repaired without risk */
    char unsafe_why[VF_ERROR_MSG_MAX]; /* the problem, naming the file */
} vf_repair_plan;

/* Look at the image in io for damage a safe repair fixes (VHD: a trailing footer missing or
 * damaged while the copy at offset 0 is good, or a copy at offset 0 that differs from a good
 * trailing footer; VHDX: a pending log, a header copy that does
 * not validate) and, when apply is true and nothing is unsafe, make those repairs, each made
 * durable before the next and the result re-opened to confirm. Every repair is validated
 * before its first byte is written. apply false (a dry run) writes nothing. io is borrowed
 * (it stays the caller's; it must be writable when apply is true); name is used in messages.
 * *plan is filled on VF_OK: nactions 0 and unsafe false means the image needs no repair.
 * Errors: VF_E_INVAL (apply on a read-only io), VF_E_FORMAT (not a virtual disk of any
 * format), VF_E_IO, VF_E_NOMEM; a damaged image is reported through plan, not as an error. */
VF_API vf_status vf_image_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                                 vf_error *err);

/* "fixed", "dynamic", "differencing" ("unknown" for other values); static strings. */
VF_API const char *vf_disk_type_name(vf_disk_type t);

#ifdef __cplusplus
}
#endif
#endif
