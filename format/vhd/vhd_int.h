/* vhd/vhd_int.h - internal interface of the VHD driver: on-disk constants, host-order structs
 * for the footer, dynamic header and parent locators, and the per-handle state.
 * Layer: format/vhd. Included only by the format/vhd sources and the VHD unit tests.
 * Spec: Microsoft "Virtual Hard Disk Image Format Specification" 1.0 as digested in
 * docs/formats/vhd.md "On-disk structures" (see docs/formats/vhd.md for the toolkit's rules). */
#ifndef VHDFOLD_VHD_INT_H
#define VHDFOLD_VHD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_int.h"
#include "utf16.h"

#define VHD_SECTOR 512u
#define VHD_FOOTER_SIZE 512u
#define VHD_FOOTER_LEGACY_SIZE 511u /* Virtual PC before 2004: last reserved byte missing */
#define VHD_HEADER_SIZE 1024u
#define VHD_BAT_UNUSED 0xFFFFFFFFu
#define VHD_LOCATORS 8u
#define VHD_PARENT_NAME_BYTES 512u
#define VHD_MAX_SECTORS 0xFF000000ull /* 2040 GiB: the limit Microsoft and qemu share */
#define VHD_LOCATOR_MAX_BYTES 65536u  /* cap on platform data length we read */
#define VHD_DEFAULT_BLOCK (2u << 20)
#define VHD_EPOCH_UNIX 946684800u /* 2000-01-01 00:00:00 UTC */
#define VHD_VERSION_1_0 0x00010000u
#define VHD_FEATURE_TEMPORARY 0x1u
#define VHD_FEATURE_RESERVED 0x2u  /* must be set */
#define VHD_PENDING_MAX 64u        /* blocks whose metadata may wait for a flush */
#define VHD_BAT_PAGE_ENTRIES 1024u /* BAT entries per in-memory page (4 KiB) */
#define VHD_BAT_READ_CHUNK 65536u  /* bytes of BAT read per I/O at open */

/* Hard disk footer field offsets (docs/formats/vhd.md "Footer fields"). */
#define VHD_FOOTER_OFF_COOKIE 0
#define VHD_FOOTER_OFF_FEATURES 8
#define VHD_FOOTER_OFF_VERSION 12
#define VHD_FOOTER_OFF_DATA_OFFSET 16
#define VHD_FOOTER_OFF_TIMESTAMP 24
#define VHD_FOOTER_OFF_CREATOR_APP 28
#define VHD_FOOTER_OFF_CREATOR_VERSION 32
#define VHD_FOOTER_OFF_CREATOR_OS 36
#define VHD_FOOTER_OFF_ORIGINAL_SIZE 40
#define VHD_FOOTER_OFF_CURRENT_SIZE 48
#define VHD_FOOTER_OFF_CYLINDERS 56
#define VHD_FOOTER_OFF_HEADS 58
#define VHD_FOOTER_OFF_SPT 59
#define VHD_FOOTER_OFF_DISK_TYPE 60
#define VHD_FOOTER_OFF_CHECKSUM 64
#define VHD_FOOTER_OFF_UNIQUE_ID 68
#define VHD_FOOTER_OFF_SAVED_STATE 84
#define VHD_FOOTER_OFF_RESERVED 85
#define VHD_FOOTER_RESERVED_BYTES 427u

/* Dynamic disk header field offsets (docs/formats/vhd.md "Dynamic header fields"). */
#define VHD_HEADER_OFF_COOKIE 0
#define VHD_HEADER_OFF_DATA_OFFSET 8
#define VHD_HEADER_OFF_TABLE_OFFSET 16
#define VHD_HEADER_OFF_VERSION 24
#define VHD_HEADER_OFF_MAX_ENTRIES 28
#define VHD_HEADER_OFF_BLOCK_SIZE 32
#define VHD_HEADER_OFF_CHECKSUM 36
#define VHD_HEADER_OFF_PARENT_ID 40
#define VHD_HEADER_OFF_PARENT_TIMESTAMP 56
#define VHD_HEADER_OFF_RESERVED1 60
#define VHD_HEADER_OFF_PARENT_NAME 64
#define VHD_HEADER_OFF_LOCATORS 576
#define VHD_HEADER_OFF_RESERVED2 768
#define VHD_LOCATOR_ENTRY_SIZE 24u
#define VHD_HEADER_RESERVED2_BYTES 256u

/* Parent locator platform codes (docs/formats/vhd.md "Locator entries"). */
#define VHD_PLAT_NONE 0x00000000u
#define VHD_PLAT_WI2R 0x57693272u
#define VHD_PLAT_WI2K 0x5769326Bu
#define VHD_PLAT_W2RU 0x57327275u
#define VHD_PLAT_W2KU 0x57326B75u
#define VHD_PLAT_MAC 0x4D616320u
#define VHD_PLAT_MACX 0x4D616358u

#define VHD_OS_WI2K 0x5769326Bu

typedef struct vf_vhd_footer {
    uint8_t cookie[8];
    uint32_t features;
    uint32_t version;
    uint64_t data_offset;
    uint32_t timestamp;
    uint8_t creator_app[4];
    uint32_t creator_version;
    uint32_t creator_os;
    uint64_t original_size;
    uint64_t current_size;
    uint16_t cylinders;
    uint8_t heads;
    uint8_t sectors_per_track;
    uint32_t disk_type;
    uint32_t checksum;
    uint8_t unique_id[16];
    uint8_t saved_state;
    uint8_t reserved[VHD_FOOTER_RESERVED_BYTES];
} vf_vhd_footer;

typedef struct vf_vhd_ploc {
    uint32_t code;
    uint32_t space; /* as stored: bytes (every producer) or sectors (the spec's wording) */
    uint32_t len;   /* bytes */
    uint32_t reserved;
    uint64_t off;
} vf_vhd_ploc;

typedef struct vf_vhd_header {
    uint8_t cookie[8];
    uint64_t data_offset;
    uint64_t table_offset;
    uint32_t version;
    uint32_t max_table_entries;
    uint32_t block_size;
    uint32_t checksum;
    uint8_t parent_id[16];
    uint32_t parent_timestamp;
    uint32_t reserved1;
    uint8_t parent_name[VHD_PARENT_NAME_BYTES]; /* raw UTF-16BE */
    vf_vhd_ploc loc[VHD_LOCATORS];
    uint8_t reserved2[VHD_HEADER_RESERVED2_BYTES];
} vf_vhd_header;

/* A byte range of the file holding metadata (footer copy, header, BAT, locator data). */
typedef struct vf_vhd_range {
    uint64_t off, len;
    const char *what;
} vf_vhd_range;

/* Where allocated blocks may lie: inside [0, limit), clear of every meta range. */
typedef struct vf_vhd_space {
    uint64_t block_total; /* bitmap + data bytes of one block */
    const vf_vhd_range *meta;
    size_t nmeta;
    uint64_t limit; /* end of data (offset of the trailing footer) */
} vf_vhd_space;

/* The BAT in memory, sparse (bat.c): page[p] holds entries p*1024 .. p*1024+1023, or is NULL
 * when all of them are unallocated. Memory follows the allocated blocks; the directory costs
 * 8 bytes per 1024 entries. */
typedef struct vf_vhd_bat {
    uint32_t entries;
    uint32_t npages;
    uint32_t **page;
    uint64_t used; /* allocated entries */
} vf_vhd_bat;

/* A block whose metadata is not on disk yet (write.c). */
typedef struct vf_vhd_pending {
    uint32_t block;
    bool is_new;     /* allocated in this batch: its BAT entry is not on disk yet */
    bool bits_dirty; /* existing block: bitmap changed in memory only */
    uint8_t *bitmap; /* bitmap_bytes */
} vf_vhd_pending;

/* A byte range [off, end) that a structure uses (reclaim.c). */
typedef struct vf_vhd_uspan {
    uint64_t off, end;
} vf_vhd_uspan;

/* Per-handle state (img->priv). */
typedef struct vf_vhd {
    vf_image *img; /* back pointer: write paths keep img->info current */
    vf_io *io;
    unsigned flags;
    vf_vhd_footer footer;
    uint32_t footer_len;  /* 512, or 511 for a legacy footer as found at open */
    bool copy_differs;    /* VF_OPEN_RECOVER accepted a differing copy at 0 */
    bool footer_dirty;    /* footer fields changed: the copy at 0 must follow at flush */
    bool bad_footer_csum; /* fuzz builds: accepted despite a bad checksum (check reports) */
    bool bad_header_csum;
    uint64_t file_size;
    uint64_t footer_off;     /* where the trailing footer is now */
    uint64_t data_end;       /* where the next new block goes (<= footer_off) */
    uint64_t reserve_blocks; /* blocks announced by vf_image_reserve, not yet allocated */
    bool packed;             /* VF_CREATE_PACKED: new blocks are not padded to put data on 4 KiB */
    /* after vf_vhd_reclaim: named ranges at or past data_end that allocations step over
     * (sorted; skip[iskip..nskip) still ahead), and the end of the last of them */
    vf_vhd_uspan *skip;
    size_t nskip, iskip;
    uint64_t skip_high;
    /* dynamic and differencing only */
    vf_vhd_header hdr;
    vf_vhd_bat bat;
    uint32_t entries;
    uint32_t block_size;
    uint32_t spb;          /* sectors per block */
    uint32_t bitmap_bytes; /* padded to 512 */
    uint64_t block_total;  /* bitmap_bytes + block_size */
    uint8_t *bat_dirty;    /* one flag per 512-byte BAT sector */
    uint32_t bat_sectors;
    bool cache_valid;
    uint32_t cache_block;
    uint8_t *cache; /* bitmap of cache_block as on disk */
    vf_vhd_pending pend[VHD_PENDING_MAX];
    size_t npend;
    size_t pend_limit;
    char *loc_text[VHD_LOCATORS]; /* decoded locator data (UTF-8) or NULL */
    char *parent_name;            /* decoded parent unicode name (diff only) */
} vf_vhd;

/* footer.c */
uint32_t vf_vhd_checksum(const uint8_t *buf, size_t len, size_t csum_off);
/* Parse 512 bytes (a legacy 511-byte footer is passed padded with a zero). Checks the cookie
 * and, unless skip_csum, the checksum; VF_E_FORMAT otherwise. */
vf_status vf_vhd_footer_parse(const uint8_t *buf, vf_vhd_footer *f, bool skip_csum, vf_error *err);
/* Encode into 512 bytes, computing and storing the checksum (f->checksum is updated). */
void vf_vhd_footer_encode(vf_vhd_footer *f, uint8_t *buf);
/* Name of the footer field holding byte `off` (for "copies differ" messages). */
const char *vf_vhd_footer_field_name(size_t off);
/* CHS geometry by the spec algorithm (docs/formats/vhd.md "CHS geometry") for size bytes (no
 * rounding up). */
void vf_vhd_chs(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt);
/* Render 4 creator bytes printable: "win ", "tap\\0", "\\x01..." into out (>= 17 bytes). */
void vf_vhd_creator_text(const uint8_t app[4], char *out, size_t cap);

/* header.c */
vf_status vf_vhd_header_parse(const uint8_t *buf, vf_vhd_header *h, bool skip_csum, vf_error *err);
void vf_vhd_header_encode(vf_vhd_header *h, uint8_t *buf);
/* Platform data space in bytes: values under 512 are read as sectors (ocaml-vhd's rule). */
uint64_t vf_vhd_ploc_space_bytes(const vf_vhd_ploc *l);

/* bat.c */
uint64_t vf_vhd_bat_bytes(uint32_t entries); /* padded to 512 */
/* An empty table of entries (all unallocated). VF_E_NOMEM; free with vf_vhd_bat_free. */
vf_status vf_vhd_bat_init(vf_vhd_bat *t, uint32_t entries, vf_error *err);
void vf_vhd_bat_free(vf_vhd_bat *t); /* NULL or never-initialised (zeroed) is fine */
/* Entry i; VHD_BAT_UNUSED past the end or in an absent page. */
uint32_t vf_vhd_bat_get(const vf_vhd_bat *t, uint32_t i);
/* Make sure entry i's page exists so that vf_vhd_bat_set(i, ...) cannot fail: VF_E_NOMEM,
 * VF_E_INVAL when i is out of range. Call before writing anything that the entry will
 * point at. */
vf_status vf_vhd_bat_prepare(vf_vhd_bat *t, uint32_t i, vf_error *err);
/* Store entry i (its page must exist unless sector is VHD_BAT_UNUSED); keeps t->used. */
void vf_vhd_bat_set(vf_vhd_bat *t, uint32_t i, uint32_t sector);
/* First allocated entry in [from, end) (end capped at entries), else end: absent pages are
 * skipped in O(1) each. */
uint32_t vf_vhd_bat_next(const vf_vhd_bat *t, uint32_t from, uint32_t end);
/* Decode n big-endian entries of buf into entries first.. of t, allocating pages only for
 * allocated entries; with sp, each allocated entry is checked alone first (range, metadata). */
vf_status vf_vhd_bat_decode(vf_vhd_bat *t, const uint8_t *buf, uint32_t first, uint32_t n,
                            const vf_vhd_space *sp, vf_error *err);
/* Init t and stream the table from table_off in VHD_BAT_READ_CHUNK pieces, checking each
 * allocated entry alone against sp as it arrives. On failure t is freed. */
vf_status vf_vhd_bat_read(vf_vhd_bat *t, vf_io *io, uint64_t table_off, uint32_t entries,
                          const vf_vhd_space *sp, vf_error *err);
/* Encode BAT sector idx (512 bytes, 0xFF past the last entry). */
void vf_vhd_bat_encode_sector(const vf_vhd_bat *t, uint32_t idx, uint8_t *out);
/* Every allocated entry: inside [0, limit), clear of meta[], clear of every other block.
 * Time and memory follow the allocated entries. */
vf_status vf_vhd_bat_validate(const vf_vhd_bat *t, const vf_vhd_space *sp, vf_error *err);

/* bitmap.c */
uint32_t vf_vhd_bitmap_bytes(uint32_t block_size);
bool vf_vhd_bitmap_get(const uint8_t *bm, uint32_t k);
void vf_vhd_bitmap_set(uint8_t *bm, uint32_t first, uint32_t count);
/* Length of the run of bits equal to bit k, from k up to (excluding) end. */
uint32_t vf_vhd_bitmap_run(const uint8_t *bm, uint32_t k, uint32_t end, bool *bit);
/* True when some bit at index >= spb (padding) is set. */
bool vf_vhd_bitmap_padding_dirty(const uint8_t *bm, uint32_t spb, uint32_t bytes);

/* locator.c */
const char *vf_vhd_plat_name(uint32_t code);
/* Decode one locator's data to UTF-8 (malloc'd into *out). VF_E_FORMAT on bad text. */
vf_status vf_vhd_locator_decode(uint32_t code, const uint8_t *data, size_t len, char **out,
                                vf_error *err);
vf_status vf_vhd_locators(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                          vf_error *err);

/* vhd.c */
vf_status vf_vhd_open(vf_image *img, unsigned flags, vf_error *err);
void vf_vhd_close(vf_image *img);
/* resize.c: the driver's resize hooks (vf_image_resize, vf_image_resize_check). */
vf_status vf_vhd_resize(vf_image *img, uint64_t new_size, vf_error *err);
vf_status vf_vhd_resize_check(const vf_image *img, uint64_t new_size, vf_error *err);
/* resize_fixed.c: the fixed-disk refusals (legacy footer, shrinking over non-zero bytes) and
 * the footer move; new_size is valid and differs from the current size. */
vf_status vf_vhd_fixed_resize_check(const vf_vhd *v, uint64_t new_size, vf_error *err);
vf_status vf_vhd_fixed_resize(vf_vhd *v, uint64_t new_size, vf_error *err);
/* resize_move.c: whether the table can grow to `entries` (nothing but blocks in its way,
 * moved blocks stay under 2 TiB), and making that room (blocks in the way copied to the end
 * of the file, the footer past the table's new end); the pending set must be empty. */
vf_status vf_vhd_table_room_check(const vf_vhd *v, uint32_t entries, vf_error *err);
vf_status vf_vhd_table_make_room(vf_vhd *v, uint32_t entries, vf_error *err);
/* repair.c: the driver's repair hook (vf_image_repair). */
vf_status vf_vhd_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                        vf_error *err);
/* The image as vf_vhd_repair would leave it, read-only over a view (vf_driver.preview). */
vf_status vf_vhd_preview(vf_io *io, const char *name, vf_image **out, vf_error *err);
vf_status vf_vhd_map(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err);
vf_status vf_vhd_read(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err);
/* Bitmap of allocated block b as this handle sees it (pending changes included). */
vf_status vf_vhd_bitmap_of(vf_vhd *v, uint32_t b, const uint8_t **bm, vf_error *err);
/* Metadata ranges (footer copy, header, BAT, locators); returns the count (<= 11). */
size_t vf_vhd_meta_ranges(const vf_vhd *v, vf_vhd_range *out);

/* write.c */
vf_status vf_vhd_write(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err);
vf_status vf_vhd_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
vf_status vf_vhd_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off, size_t len,
                            vf_error *err);
vf_status vf_vhd_reserve(vf_image *img, uint64_t nblocks, vf_error *err);
vf_status vf_vhd_flush(vf_image *img, vf_error *err);
/* Claim len bytes (512 multiple) at the end of data, moving the trailing footer first. */
vf_status vf_vhd_alloc_space(vf_vhd *v, uint64_t len, uint64_t *off, vf_error *err);
/* Where a block's data starts in the file: 4 KiB-aligned for the blocks vhdfold allocates. */
#define VHD_DATA_ALIGN 4096u

/* create.c */
vf_status vf_vhd_create(vf_image *img, const vf_create_opts *opts, vf_error *err);
/* Build the locator set for link: fills hdr's parent fields and locators (offsets from
 * loc_off on, 512-aligned), and the data blobs (malloc'd, caller frees). */
vf_status vf_vhd_build_link(vf_vhd_header *hdr, const vf_parent_link *link, uint64_t loc_off,
                            uint8_t *blobs[VHD_LOCATORS], uint64_t *end, vf_error *err);

/* identity.c */
vf_status vf_vhd_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err);
vf_status vf_vhd_set_id(vf_image *img, const uint8_t id[16], vf_error *err);

/* check.c */
vf_status vf_vhd_check(vf_image *img, vf_report *rep, vf_error *err);

/* reclaim.c: the driver's reclaim (vf_image_reclaim); the lowest offset >= at where len bytes
 * clear the skip list; the end of data (data_end, or the last skipped block past it). */
vf_status vf_vhd_reclaim(vf_image *img, uint64_t mark, vf_error *err);
uint64_t vf_vhd_skip_fit(vf_vhd *v, uint64_t at, uint64_t len);
uint64_t vf_vhd_data_high(const vf_vhd *v);

#endif
