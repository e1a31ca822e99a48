/* vhdx/vhdx_int.h - private types and helpers shared by the files of the VHDX driver.
 * Layer: format/vhdx. Included only by the files of format/vhdx (and the VHDX unit tests); the rest
 * of the library sees the driver through vf_vhdx_driver (image_int.h). Spec: MS-VHDX 2018 revision
 * as summed up in docs/formats/vhdx.md "On-disk structures". */
#ifndef VHDFOLD_VHDX_INT_H
#define VHDFOLD_VHDX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endian.h"
#include "image_int.h"

#define VX_KIB 1024u
#define VX_MIB (1024u * 1024u)
#define VX_PAGE 4096u         /* log granularity (docs/formats/vhdx.md "Log entries") */
#define VX_HEADER_AREA VX_MIB /* file id, two headers, two region tables */
#define VX_HEADER_SLOT_OFF(i) ((uint64_t)(64u * VX_KIB) * (1u + (i))) /* 64 KiB, 128 KiB */
#define VX_HEADER_SIZE 4096u
#define VX_RT_OFF(i) ((uint64_t)(64u * VX_KIB) * (3u + (i))) /* 192 KiB, 256 KiB */
#define VX_RT_SIZE (64u * VX_KIB)
#define VX_RT_MAX_ENTRIES 2047u
#define VX_META_TABLE_SIZE (64u * VX_KIB)
#define VX_META_MAX_ENTRIES 2047u
#define VX_META_ITEM_MAX VX_MIB
#define VX_MAX_VSIZE (64ull << 40) /* 64 TiB */
#define VX_MIN_BLOCK VX_MIB
#define VX_MAX_BLOCK (256u * VX_MIB)
#define VX_LOG_MAX (32u * VX_MIB) /* larger logs needing replay are refused (memory bound) */
#define VX_LOG_MAX_DESC 65536u    /* descriptors of one active sequence (memory bound) */
/* Replay may not write or grow the file past the end of what it holds (the file size, the
 * regions and the payload blocks) by more than this (docs/formats/vhdx.md "The log"). */
#define VX_REPLAY_SLACK (256ull * VX_MIB)
#define VX_SB_BITS (1ull << 23) /* sectors one 1 MiB sector-bitmap block covers */
#define VX_DEFAULT_BLOCK (32u * VX_MIB)

/* Header field offsets (docs/formats/vhdx.md "Headers"). */
enum {
    VX_HDR_OFF_SIG = 0,
    VX_HDR_OFF_CRC = 4,
    VX_HDR_OFF_SEQ = 8,
    VX_HDR_OFF_FWG = 16,
    VX_HDR_OFF_DWG = 32,
    VX_HDR_OFF_LOGGUID = 48,
    VX_HDR_OFF_LOGVER = 64,
    VX_HDR_OFF_VERSION = 66,
    VX_HDR_OFF_LOGLEN = 68,
    VX_HDR_OFF_LOGOFF = 72,
};

/* BAT entry (docs/formats/vhdx.md "BAT and chunk ratio"). */
#define VX_BAT_PER_PAGE (VX_PAGE / 8u) /* entries in one 4 KiB page of the table */
#define VX_BAT_STATE_MASK 7u
#define VX_BAT_RESERVED_MASK 0xFFFF8ull /* bits 3..19 */
#define VX_BAT_OFF_MASK 0xFFFFFFFFFFF00000ull
enum {
    VX_PB_NOT_PRESENT = 0,
    VX_PB_UNDEFINED = 1,
    VX_PB_ZERO = 2,
    VX_PB_UNMAPPED = 3,
    VX_PB_FULLY_PRESENT = 6,
    VX_PB_PARTIALLY_PRESENT = 7,
    VX_SB_NOT_PRESENT = 0,
    VX_SB_PRESENT = 6,
};

/* File parameter flags. */
#define VX_FP_LEAVE_ALLOCATED 1u
#define VX_FP_HAS_PARENT 2u

/* Metadata entry flags. */
#define VX_MD_IS_USER 1u
#define VX_MD_IS_VIRTUAL_DISK 2u
#define VX_MD_IS_REQUIRED 4u

/* A GUID in its on-disk (mixed-endian) byte order, from its textual parts. */
#define VX_GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                           \
    {                                                                                              \
        (uint8_t)(a), (uint8_t)((a) >> 8), (uint8_t)((a) >> 16), (uint8_t)((a) >> 24),             \
            (uint8_t)(b), (uint8_t)((b) >> 8), (uint8_t)(c), (uint8_t)((c) >> 8), d0, d1, d2, d3,  \
            d4, d5, d6, d7                                                                         \
    }

extern const uint8_t vx_guid_bat[16];
extern const uint8_t vx_guid_metadata[16];
extern const uint8_t vx_guid_file_params[16];
extern const uint8_t vx_guid_vdisk_size[16];
extern const uint8_t vx_guid_page83[16];
extern const uint8_t vx_guid_lss[16];
extern const uint8_t vx_guid_pss[16];
extern const uint8_t vx_guid_parent_locator[16];
extern const uint8_t vx_guid_vhdx_locator_type[16];

typedef struct vx_header {
    uint64_t seq;
    uint8_t fwg[16], dwg[16], log_guid[16];
    uint16_t log_version, version;
    uint32_t log_length;
    uint64_t log_offset;
} vx_header;

typedef struct vx_region {
    uint8_t guid[16];
    uint64_t off;
    uint32_t len;
    uint32_t flags;
} vx_region;

typedef struct vx_item {
    uint8_t id[16];
    uint32_t off, len, flags;
} vx_item;

typedef struct vx_kv {
    char *key;   /* UTF-8 */
    char *value; /* UTF-8 */
} vx_kv;

/* One overlay record: bytes that the file holds after log replay but not (yet) on disk.
 * data: a 4 KiB page held in memory; else src is VX_OVL_ZEROS (the run reads as zeros) or the
 * file offset of the log data sector holding bytes 8..4092 of a replayed page, whose first 8
 * and last 4 bytes came from its descriptor (lead, trail). Later records override earlier
 * ones. pending: written by this handle and not yet published through the log. */
#define VX_OVL_ZEROS UINT64_MAX
typedef struct vx_ovl {
    uint64_t off, len;
    uint8_t *data;
    uint64_t src;
    uint8_t lead[8], trail[4];
    bool pending;
} vx_ovl;

/* One segment of the overlay index: [off, end) reads from record rec (overlay.c). */
typedef struct vx_seg {
    uint64_t off, end;
    size_t rec;
} vx_seg;

/* Work counters of the log and the overlay (tests assert bounds on them; never timed). */
typedef struct vx_log_stats {
    uint64_t crc_bytes; /* bytes run through CRC-32C while reading the log */
    uint64_t entries;   /* log positions whose entry header passed the cheap checks */
    uint64_t descs;     /* descriptors looked at */
    uint64_t ovl_steps; /* overlay index steps: comparisons, heap moves, segments moved */
    uint64_t written;   /* bytes a replay wrote to the file */
} vx_log_stats;

/* The sector bitmap of one payload block, cached for map(). */
typedef struct vx_sbcache {
    uint64_t block; /* UINT64_MAX: empty */
    uint8_t *bits;
    size_t bytes;
} vx_sbcache;

/* A byte range [off, end) of the file that a structure uses (reclaim.c). */
typedef struct vx_uspan {
    uint64_t off, end;
} vx_uspan;

typedef struct vx_state {
    vf_io *io;
    const char *name;
    uint64_t file_size; /* logical size: the real size, or the log's LastFileOffset if larger */
    vx_header hdr;
    unsigned cur_slot;
    vx_region *regions;
    uint32_t nregions;
    uint64_t bat_off, bat_len, meta_off, meta_len;
    vx_item *items;
    uint32_t nitems;
    uint32_t block_size, lss, pss, fp_flags;
    uint64_t vsize;
    bool has_parent;
    uint8_t page83[16];
    uint32_t loc_item; /* index into items, UINT32_MAX when absent */
    uint8_t loc_type[16];
    vx_kv *kv;
    uint32_t nkv;
    uint64_t chunk_ratio, payload_blocks, sb_blocks, bat_entries;
    /* The BAT held sparse (bat.c): bat_pages slots of VX_BAT_PER_PAGE entries, one per 4 KiB
     * page of the on-disk table; a NULL slot reads as all-zero (NOT_PRESENT) entries. */
    uint64_t **bat_dir;
    uint64_t *bat_live; /* one bit per slot: the page is held (scanned 64 slots at a time) */
    size_t bat_held;    /* slots holding a page */
    uint64_t bat_steps; /* entries and directory words looked at one by one (tests count it) */
    uint64_t nalloc;    /* payload blocks in state 6 or 7 */
    vx_ovl *ovl;
    size_t novl, ovl_cap;
    vx_seg *seg; /* the overlay index: sorted, disjoint (valid when seg_ok) */
    size_t nseg, seg_cap;
    bool seg_ok;
    /* A replay held in memory: read-only opens keep it; a writable open writes it to the
     * file on the first write (vf_vhdx_settle), so refusals before that write nothing. */
    bool held;
    uint64_t disk_size;    /* real file size at open (bytes past it read as zeros when held) */
    uint64_t replay_last;  /* the held replay's LastFileOffset (the file grows to it) */
    uint64_t replay_bytes; /* bytes writing the held replay would write or add to the file */
    vx_log_stats log_stats;
    vx_sbcache sb;
    /* write side */
    uint64_t alloc_next; /* next free 1 MiB-aligned offset for new blocks */
    /* A block below this offset (the file's end when opened, or a reclaim's mark) that a
     * write replaces whole with shared extents moves to the file end (write.c vx_move). */
    uint64_t move_below;
    /* after vf_vhdx_reclaim: used ranges at or past alloc_next that allocations step over
     * (sorted; skip[iskip..nskip) still ahead), and the end of the last of them */
    vx_uspan *skip;
    size_t nskip, iskip;
    uint64_t skip_high;
    bool reserved;         /* vf_vhdx_reserve grew the file: flush cuts what stayed unused */
    uint64_t reserve_base; /* the file size before that growth (never cut below it) */
    bool fwg_done, dwg_done;
    uint8_t *bat_dirty; /* one bit per 4 KiB page of the BAT */
    size_t bat_pages;   /* 4 KiB pages covering the entries (slots of bat_dir) */
    bool any_dirty;
    bool leave_dirty; /* test support: leave log entries pending (a "dirty" image) */
    uint64_t log_pos, log_tail, log_seq;
    bool log_open;       /* entries pending in the log (LogGuid non-zero, not drained) */
    bool derived_ids;    /* handle from create: LogGuids derived, never drawn (same bytes per
                            input, the generator's "seeds are forever") */
    bool skip_checksums; /* fuzz builds only */
} vx_state;

static inline vx_state *vx_st(const vf_image *img)
{
    return (vx_state *)img->priv;
}

static inline uint64_t vx_align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static inline bool vx_guid_is_zero(const uint8_t g[16])
{
    for (int i = 0; i < 16; i++)
        if (g[i])
            return false;
    return true;
}

/* crc32c.c */
uint32_t vf_vhdx_crc32c(uint32_t crc, const void *buf, size_t len);
/* CRC of buf with the 4 bytes at crc_off read as zero (the caller's buffer is not edited). */
uint32_t vf_vhdx_crc_skip(const uint8_t *buf, size_t len, size_t crc_off);
/* crc(A || B) == vf_vhdx_crc32c_shift(crc(A), |B|) ^ crc(B) for the values crc32c returns. */
uint32_t vf_vhdx_crc32c_shift(uint32_t crc, uint64_t len);
/* Store the CRC of buf (computed with the field zeroed) at crc_off. */
void vf_vhdx_crc_store(uint8_t *buf, size_t len, size_t crc_off);

/* io helpers (vhdx.c): direct reads and writes, and reads that see the log overlay. */
vf_status vf_vhdx_pread_raw(vx_state *st, void *buf, size_t len, uint64_t off, vf_error *err);
vf_status vf_vhdx_pread(vx_state *st, void *buf, size_t len, uint64_t off, vf_error *err);
vf_status vf_vhdx_pwrite(vx_state *st, const void *buf, size_t len, uint64_t off, vf_error *err);
vf_status vf_vhdx_sync(vx_state *st, vf_error *err);

/* overlay.c */
vf_status vf_vhdx_overlay_add(vx_state *st, uint64_t off, uint64_t len, const uint8_t *data,
                              bool pending, vf_error *err);
/* A replayed data page whose bytes 8..4092 sit at file offset src (a log data sector). */
vf_status vf_vhdx_overlay_add_log(vx_state *st, uint64_t off, uint64_t src, const uint8_t lead[8],
                                  const uint8_t trail[4], vf_error *err);
/* Build the index if records were added without it (O(n log n)). */
vf_status vf_vhdx_overlay_index(vx_state *st, vf_error *err);
/* First index segment ending past off (index built). */
size_t vf_vhdx_overlay_find(vx_state *st, uint64_t off);
/* Copy the overlay's bytes over buf, which holds len file bytes from off. */
vf_status vf_vhdx_overlay_apply(vx_state *st, uint8_t *buf, size_t len, uint64_t off,
                                vf_error *err);
/* File run [fo, fo+*len): *covered when its start is overlaid; *len is cut where that changes. */
vf_status vf_vhdx_overlay_clip(vx_state *st, uint64_t fo, uint64_t *len, bool *covered,
                               vf_error *err);
void vf_vhdx_overlay_free(vx_state *st);

/* header.c */
void vf_vhdx_header_parse(const uint8_t *buf, vx_header *h);
void vf_vhdx_header_encode(const vx_header *h, uint8_t buf[VX_HEADER_SIZE]);
vf_status vf_vhdx_header_read(vx_state *st, vf_error *err);
/* Write h (seq = current + 1) into the non-current slot, sync, make it current. */
vf_status vf_vhdx_header_update(vx_state *st, const vx_header *h, vf_error *err);
/* Why the 4 KiB header copy in buf does not validate (signature, CRC, version); NULL: fine. */
const char *vf_vhdx_header_problem(const vx_state *st, const uint8_t *buf);
/* repair.c: the driver's repair hook (vf_image_repair). */
vf_status vf_vhdx_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                         vf_error *err);
vf_status vf_vhdx_fileid_check(vx_state *st, char *creator, size_t creator_len, vf_error *err);

/* region.c */
vf_status vf_vhdx_region_read(vx_state *st, vf_error *err);
void vf_vhdx_region_encode(const vx_region *r, uint32_t n, uint8_t buf[VX_RT_SIZE]);
/* One entry of a region or metadata table for the clash check: a GUID with a tag (entries
 * clash by id only when their tags are equal too) and a byte range (len 0: none). */
typedef struct vx_tkey {
    uint8_t id[16];
    uint32_t tag, idx;
    uint64_t off, len;
} vx_tkey;
enum { VX_CLASH_NONE = 0, VX_CLASH_ID, VX_CLASH_RANGE };
/* Two of the n keys (reordered) with the same id and tag, else two whose ranges overlap:
 * *a < *b their idx. O(n log n) comparisons, counted in vf_vhdx_table_steps. */
int vf_vhdx_table_clash(vx_tkey *k, uint32_t n, uint32_t *a, uint32_t *b);
/* Comparisons and sweep steps of vf_vhdx_table_clash since start (tests bound the work). */
extern _Atomic unsigned long long vf_vhdx_table_steps;
/* Validate a parsed table (no I/O): entry limits, duplicates, alignment, overlaps. */
vf_status vf_vhdx_region_parse(vx_state *st, const uint8_t *buf, uint64_t where, vx_region **out,
                               uint32_t *n, vf_error *err);

/* log.c */
/* Find and validate the active sequence and hold its replay in the overlay (nothing is
 * written); *replayed when there was one. */
vf_status vf_vhdx_log_replay(vx_state *st, bool *replayed, vf_error *err);
/* Write a held replay to the file (the overlay's segments, each byte once), grow the file to
 * its LastFileOffset, sync, and drop the overlay. */
vf_status vf_vhdx_log_write_replay(vx_state *st, vf_error *err);
/* One log entry holding the given 4 KiB pages; applied and drained unless leave_dirty. */
typedef struct vx_page {
    uint64_t off;
    const uint8_t *data;
} vx_page;
vf_status vf_vhdx_log_write(vx_state *st, const vx_page *pages, size_t n, vf_error *err);
/* The LogGuid a create handle uses for a sequence started from header h (docs/formats/vhdx.md). */
void vf_vhdx_log_guid_derive(const vx_header *h, uint8_t out[16]);
size_t vf_vhdx_log_max_pages(const vx_state *st);
uint64_t vf_vhdx_log_entry_bytes(size_t ndata);

/* metadata.c */
vf_status vf_vhdx_metadata_read(vx_state *st, vf_error *err);

/* locator.c */
vf_status vf_vhdx_locator_parse(vx_state *st, const uint8_t *buf, uint32_t len, vf_error *err);
/* Key comparisons made by vf_vhdx_locator_parse's duplicate check since start (tests read it
 * to bound the work: at most n * ceil(log2 n) + n for n keys). */
extern _Atomic unsigned long long vf_vhdx_locator_key_compares;
const char *vf_vhdx_locator_get(const vx_state *st, const char *key);
bool vf_vhdx_guid_parse(const char *text, uint8_t out[16]);
/* Encode a locator item from key/value pairs (UTF-8); *out is malloc'd. */
vf_status vf_vhdx_locator_encode(const char *const *keys, const char *const *values, size_t n,
                                 uint8_t **out, uint32_t *len, vf_error *err);
void vf_vhdx_locator_free(vx_state *st);
vf_status vf_vhdx_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                           vf_error *err);

/* bat.c */
vf_status vf_vhdx_bat_read(vx_state *st, vf_error *err);
/* Entry i (zero past the held table). */
static inline uint64_t vf_vhdx_bat_get(const vx_state *st, uint64_t i)
{
    if (i >= (uint64_t)st->bat_pages * VX_BAT_PER_PAGE)
        return 0;
    const uint64_t *pg = st->bat_dir[i / VX_BAT_PER_PAGE];
    return pg ? pg[i % VX_BAT_PER_PAGE] : 0;
}
/* Store entry i in memory (a page is allocated on the first non-zero entry). */
vf_status vf_vhdx_bat_set(vx_state *st, uint64_t i, uint64_t e, vf_error *err);
/* The first non-zero entry in [from, end), or end: pages not held are skipped 64 at a time. */
uint64_t vf_vhdx_bat_next(vx_state *st, uint64_t from, uint64_t end);
/* Make room for pages slots (never shrinks); new slots read as zero entries. */
vf_status vf_vhdx_bat_grow(vx_state *st, size_t pages, vf_error *err);
void vf_vhdx_bat_free(vx_state *st);
uint64_t vf_vhdx_bat_index(const vx_state *st, uint64_t block);
uint64_t vf_vhdx_sb_index(const vx_state *st, uint64_t chunk);
void vf_vhdx_geometry(vx_state *st);

/* bitmap.c */
vf_status vf_vhdx_sb_bits(vx_state *st, uint64_t block, const uint8_t **bits, vf_error *err);
vf_status vf_vhdx_sb_set(vx_state *st, uint64_t block, uint64_t first_sector, uint64_t nsectors,
                         vf_error *err);
static inline bool vx_bit(const uint8_t *bits, uint64_t i)
{
    return ((unsigned)bits[i / 8] >> (i % 8)) & 1u;
}

/* vhdx.c */
vf_status vf_vhdx_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err);
void vf_vhdx_fill_info(vf_image *img);
void vf_vhdx_state_free(vx_state *st);
/* Parse and validate the file behind img into a new img->priv (the open path). */
vf_status vf_vhdx_open_state(vf_image *img, unsigned flags, vf_error *err);

/* write.c */
/* Before the first write of a handle: a held replay goes to the file, the header gets a new
 * FileWriteGuid and no LogGuid. No-op otherwise. */
vf_status vf_vhdx_settle(vf_image *img, vf_error *err);
vf_status vf_vhdx_write(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err);
vf_status vf_vhdx_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
vf_status vf_vhdx_zero_in_place(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
vf_status vf_vhdx_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off, size_t len,
                             vf_error *err);
vf_status vf_vhdx_reserve(vf_image *img, uint64_t nblocks, vf_error *err);
vf_status vf_vhdx_flush(vf_image *img, vf_error *err);
vf_status vf_vhdx_set_id(vf_image *img, const uint8_t id[16], vf_error *err);
vf_status vf_vhdx_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err);
vf_status vf_vhdx_begin_modify(vx_state *st, bool user_visible, vf_image *img, vf_error *err);
void vf_vhdx_bat_mark(vx_state *st, uint64_t index);
/* Stage len bytes at file offset off as pending overlay pages, published by the next flush. */
vf_status vf_vhdx_stage(vx_state *st, uint64_t off, const uint8_t *data, size_t len, vf_error *err);

/* resize.c: grow the virtual size (metadata item and BAT entries through the log). */
vf_status vf_vhdx_resize(vf_image *img, uint64_t new_size, vf_error *err);
/* resize.c: the refusals of vf_vhdx_resize, without writing. */
vf_status vf_vhdx_resize_check(const vf_image *img, uint64_t new_size, vf_error *err);
vf_status vf_vhdx_link_encode(const vf_parent_link *link, uint8_t **item, uint32_t *len,
                              vf_error *err);

/* create.c */
vf_status vf_vhdx_create(vf_image *img, const vf_create_opts *opts, vf_error *err);

/* check.c */
vf_status vf_vhdx_check(vf_image *img, vf_report *rep, vf_error *err);

/* reclaim.c: the ranges the structures use that end past from (header area, log, regions,
 * payload and sector-bitmap blocks), sorted by offset; *out is yours; *high: the end of the
 * last one (from when none). */
vf_status vf_vhdx_used_spans(vx_state *st, uint64_t from, vx_uspan **out, size_t *n, uint64_t *high,
                             vf_error *err);
/* The lowest offset >= at (1 MiB-aligned when at is) where len bytes clear the skip list. */
uint64_t vf_vhdx_skip_fit(vx_state *st, uint64_t at, uint64_t len);
/* Flush: cut the file back to the allocation point when a reservation stayed unused. */
vf_status vf_vhdx_trim_reserve(vx_state *st, vf_error *err);
/* The driver's reclaim (vf_image_reclaim): space past mark no structure names is reused. */
vf_status vf_vhdx_reclaim(vf_image *img, uint64_t mark, vf_error *err);
/* check: orphaned space as warnings. */
vf_status vf_vhdx_check_space(vf_image *img, vx_state *st, vf_report *rep, vf_error *err);

/* Test support (the generator's --dirty): while on, flushes leave their log entries pending
 * (written and durable, not applied, LogGuid kept), so the file needs a replay. */
vf_status vf_vhdx_set_leave_dirty(vf_image *img, bool on, vf_error *err);

/* linkage2.c: the driver's set_parent_id2 (vf_image_set_parent_id2). */
vf_status vf_vhdx_set_parent_id2(vf_image *img, const uint8_t id2[16], vf_error *err);
/* write.c: bytes the parent locator item may occupy. */
uint64_t vf_vhdx_locator_room(const vx_state *st);
/* locslot.c: where a new locator item of len bytes goes (region offset): its own slot when it
 * fits, else the first free run of the metadata region; VF_E_UNSUPPORTED "metadata region of
 * FILE is full" when no run is long enough (nothing written). */
vf_status vf_vhdx_locator_place(const vx_state *st, uint32_t len, uint64_t *off, vf_error *err);
/* locslot.c: stage item at region offset off and its table entry (offset, length) as pending
 * pages (published together by the next flush), then re-read the locator from item. */
vf_status vf_vhdx_locator_replace(vf_image *img, const uint8_t *item, uint32_t len, uint64_t off,
                                  vf_error *err);

#endif
