/* image_int.h - the driver interface behind vf_image, and the handle's body.
 * Layer: format (internal). Each format (vhd/, vhdx/) provides one vf_driver; image.c lists
 * them, probes, and forwards the public calls. Chains and the merger see only vf_image. */
#ifndef VHDFOLD_IMAGE_INT_H
#define VHDFOLD_IMAGE_INT_H

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_image.h>

#include "samples.h"

/* Where the bytes of a driver write come from: a buffer, or another file's bytes from off
 * on (copied with vf_io_copy), or zeros when both buf and io are NULL. */
typedef struct vf_wsrc {
    const uint8_t *buf;
    vf_io *io;
    uint64_t off;
} vf_wsrc;

/* len bytes of src to dst at dst_off (not for zeros); then vf_wsrc_skip moves past them. */
vf_status vf_wsrc_put(vf_io *dst, uint64_t dst_off, const vf_wsrc *src, uint64_t len,
                      vf_error *err);
void vf_wsrc_skip(vf_wsrc *src, uint64_t len);

/* How many bytes io received as shared extents (a POSIX file on XFS or btrfs, FICLONERANGE)
 * rather than written: the merger batches such runs more coarsely. 0 for other backends.
 * Implemented in io_file.c. */
uint64_t vf_io_shared_bytes(const vf_io *io);

/* vf_io_ops.share_from when both handles have it from one backend, else *shared false (len 0:
 * the question whether sharing may work). */
vf_status vf_io_share(vf_io *dst, uint64_t dst_off, vf_io *src, uint64_t src_off, uint64_t len,
                      bool *shared, vf_error *err);
/* vf_io_ops.punch, else zeros written over the range. */
vf_status vf_io_punch(vf_io *io, uint64_t off, uint64_t len, vf_error *err);
/* Make [voff, voff+len) (sector aligned) read as zeros where the image holds its own data,
 * every block keeping its entry and its place in the file: the driver punches the bytes out
 * of the file (vf_io_punch: a hole on XFS, btrfs and ext4, zeros written elsewhere) instead of
 * writing zero bytes, so the cost does not grow with the length. For the merge's zeros over
 * DESTINATION's data (docs/merge.md "Space a merge frees"). Ranges the image holds no data for
 * go to write_zeroes. A fixed image, which must stay fully allocated, gets zero bytes
 * written. Same checks and failure rule as vf_image_write. */
vf_status vf_image_zero_in_place(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
/* vf_io_ops.has_data, else *data true. */
vf_status vf_io_has_data(vf_io *io, uint64_t off, uint64_t len, bool *data, vf_error *err);

typedef struct vf_driver {
    const char *name;
    vf_format_kind format;
    /* Score 0 (not mine) .. 100 (certain) from the first and last bytes of the file. */
    int (*probe)(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                 uint64_t file_size);
    /* Parse and validate; fill img->info and img->priv. On failure free what was allocated
     * (img->priv NULL); image.c closes the io. */
    vf_status (*open)(vf_image *img, unsigned flags, vf_error *err);
    vf_status (*create)(vf_image *img, const vf_create_opts *opts, vf_error *err);
    vf_status (*map)(vf_image *img, uint64_t voff, uint64_t len, vf_extent *ext, vf_error *err);
    vf_status (*read)(vf_image *img, uint64_t voff, void *buf, size_t len, vf_error *err);
    vf_status (*write)(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err);
    vf_status (*write_zeroes)(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
    vf_status (*reserve)(vf_image *img, uint64_t nblocks, vf_error *err); /* may be NULL */
    vf_status (*flush)(vf_image *img, vf_error *err);
    vf_status (*check)(vf_image *img, vf_report *rep, vf_error *err);
    vf_status (*locators)(const vf_image *img, vf_locator *out, size_t max, size_t *n,
                          vf_error *err);
    vf_status (*set_parent)(vf_image *img, const vf_parent_link *link, vf_error *err);
    vf_status (*set_id)(vf_image *img, const uint8_t id[16], vf_error *err);
    void (*close)(vf_image *img); /* free priv; not the io */
    /* Grow the virtual size (vf_image_resize); NULL: VF_E_UNSUPPORTED. Must return
     * VF_E_UNSUPPORTED / VF_E_INVAL only before writing anything. Added last. */
    vf_status (*resize)(vf_image *img, uint64_t new_size, vf_error *err);
    /* VHDX: set parent_linkage2 (vf_image_set_parent_id2); NULL: VF_E_UNSUPPORTED. */
    vf_status (*set_parent_id2)(vf_image *img, const uint8_t id2[16], vf_error *err);
    /* Would resize(new_size) be accepted? Writes nothing. NULL: as resize is NULL. */
    vf_status (*resize_check)(const vf_image *img, uint64_t new_size, vf_error *err);
    /* As write, the bytes coming from src at src_off (vf_image_write_from); NULL: image.c
     * reads them into a buffer and calls write. */
    vf_status (*write_from)(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off, size_t len,
                            vf_error *err);
    /* What callers ask of a format without naming it (vf_format_get_limits and friends): */
    const vf_format_limits *limits; /* required; features must agree with the hooks */
    unsigned info_fields;           /* VF_INFO_* bits the driver fills in vf_image_info */
    const uint8_t *guid_order;      /* 16 byte indices for vf_guid_text; NULL: as stored */
    /* File bytes one new block costs (vf_image_block_cost), block_size > 0. */
    uint64_t (*block_cost)(const vf_image_info *in);
    /* vf_image_merge_link for VF_FEATURE_MERGE_LINK formats; NULL otherwise. */
    vf_status (*merge_link)(vf_image *dest, vf_image *above, const uint8_t link_id[16],
                            vf_error *err);
    /* The producers the generator imitates (samples.h); NULL: gen refuses the format. */
    const vf_format_samples *samples;
    /* vf_image_reclaim; NULL: nothing to reclaim (fixed layouts). */
    vf_status (*reclaim)(vf_image *img, uint64_t mark, vf_error *err);
    /* vf_image_repair for this format, on a borrowed io that probed as this format; NULL:
     * the format has no safe repairs (plan says unsafe when the image does not open). */
    vf_status (*repair)(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                        vf_error *err);
    /* The image as repair would leave it, opened read-only over a view (nothing written);
     * owns io, even on failure. NULL: the format's repairs leave a file that opens already. */
    vf_status (*preview)(vf_io *io, const char *name, vf_image **out, vf_error *err);
    /* vf_image_zero_in_place: zeros over blocks the image holds, each keeping its file space
     * (punched out of the file); NULL: image.c writes zero bytes. Added last. */
    vf_status (*zero_in_place)(vf_image *img, uint64_t voff, uint64_t len, vf_error *err);
} vf_driver;

struct vf_image {
    const vf_driver *drv;
    vf_io *io;
    char *name;
    unsigned flags;
    bool writable;
    bool failed; /* a write path failed: every later write is refused (VF_E_STATE) */
    /* Set by the driver's open once the file proved to be of its format (VHD: a footer with
     * a valid checksum; VHDX: the file identifier and a header with a valid CRC). Errors
     * before that describe a file that is not a virtual disk (see vf_image_open_probe). */
    bool recognised;
    vf_image_info info;
    void *priv;
};

/* vf_image_open, also telling whether a failed open had recognised the format first, so a
 * caller that must not reveal anything of a file that is not a virtual disk (chain.c, for
 * parents reached through locators) can replace the error. recognised may be NULL. */
vf_status vf_image_open_probe(vf_io *io, const char *name, unsigned flags, bool *recognised,
                              vf_image **out, vf_error *err);

/* Resume support (docs/merge.md "Resume reuses what it allocated"), internal to the library:
 * space at or past mark (a file size the caller recorded before it wrote, e.g. the merge
 * journal's allocation mark) that none of img's structures names was allocated by writes that
 * were never published. The driver's next allocations reuse it, lowest first, stepping over
 * what is named, and the file is cut back to the end of what is named (never below mark).
 * Any mark is safe: named space is never reused. Call on a writable handle before its first
 * data write (VF_E_STATE otherwise); a driver without the hook does nothing. */
vf_status vf_image_reclaim(vf_image *img, uint64_t mark, vf_error *err);
/* The driver whose probe scores io highest (image.c); VF_E_FORMAT when none. */
vf_status vf_image_probe_driver(vf_io *io, const char *name, const vf_driver **out, vf_error *err);

/* repair.c: a handle on io that does not close it (for vf_image_open, which owns its io). */
vf_status vf_io_borrow(vf_io *io, vf_io **out, vf_error *err);
/* A read-only view of io's first `at` bytes followed by the 512 bytes of tail (the view ends
 * there): how a repaired trailing sector would read, before writing it. own: the view closes
 * io (and so does a failure here). */
vf_status vf_io_with_tail(vf_io *io, uint64_t at, const uint8_t tail[512], bool own, vf_io **out,
                          vf_error *err);
/* A read-only view of all of io with its first 512 bytes replaced by head (io at least 1024
 * bytes long): how a rewritten first sector would read. own: as for vf_io_with_tail. */
vf_status vf_io_with_head(vf_io *io, const uint8_t head[512], bool own, vf_io **out, vf_error *err);
/* A file that does not open as an image, as the driver's safe repair would leave it, opened
 * read-only without writing (the identity and parent links of a VHD whose trailing footer is
 * missing, say). Owns io, even on failure. Errors: VF_E_FORMAT (no driver, or one without a
 * preview), whatever keeps the repaired image from opening, VF_E_NOMEM. */
vf_status vf_image_open_preview(vf_io *io, const char *name, vf_image **out, vf_error *err);
/* chain.c: vf_chain_open_partial (no lock, read-only) whose top, when it does not open, is
 * taken from vf_image_open_preview: which chain a damaged file belongs to. */
vf_status vf_chain_open_preview(const char *path, const vf_chain_opts *opts, vf_chain **out,
                                vf_error *err);
/* Append one action / set the unsafe reason (printf rules). */
void vf_repair_add(vf_repair_plan *plan, const char *fmt, ...) VF_PRINTF(2, 3);
void vf_repair_refuse(vf_repair_plan *plan, const char *fmt, ...) VF_PRINTF(2, 3);

extern const vf_driver vf_vhd_driver;
extern const vf_driver vf_vhdx_driver;
extern const vf_format_samples vf_vhd_samples, vf_vhdx_samples;

#endif
