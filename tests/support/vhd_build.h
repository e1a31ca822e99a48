/* vhd_build.h - VHD fixtures for tests: good images made by our own writer in memory, and
 * helpers to mutate them into bad ones (fields by offset, checksums recomputed or not).
 * Layer: tests/support. Used by the tests/unit/test_vhd_*.c files and anyone who needs a
 * small VHD without touching the file system. */
#ifndef VHDFOLD_TEST_VHD_BUILD_H
#define VHDFOLD_TEST_VHD_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_image.h>

/* A memory image: bytes owned by the struct (free with vhd_build_free). */
typedef struct vhd_bytes {
    uint8_t *data;
    size_t len;
} vhd_bytes;

/* Fill opts with deterministic defaults (id 0x11.., timestamp 1000, creator "vhdt"). */
void vhd_build_opts(vf_create_opts *o, vf_disk_type type, uint64_t size, uint32_t block);
/* Create an image with opts in memory, run fill (may be NULL) on the open handle, flush, and
 * return a copy of the bytes. 0 on success, -1 (message in err) otherwise. */
int vhd_build(const vf_create_opts *o, int (*fill)(vf_image *img, void *ctx), void *ctx,
              vhd_bytes *out, vf_error *err);
void vhd_build_free(vhd_bytes *b);
/* Open a private copy of bytes as an image. */
vf_status vhd_build_open(const uint8_t *data, size_t len, unsigned flags, vf_image **img,
                         vf_error *err);
/* Dynamic-header offset (footer copy's data offset) of a good image. */
uint64_t vhd_build_header_off(const vhd_bytes *b);
/* Recompute the footer checksum of the 512 bytes at off / the dynamic header at off. */
void vhd_build_fix_footer(uint8_t *data, uint64_t off);
void vhd_build_fix_header(uint8_t *data, uint64_t off);
/* Big-endian field stores. */
void vhd_build_put32(uint8_t *data, uint64_t off, uint32_t v);
void vhd_build_put64(uint8_t *data, uint64_t off, uint64_t v);
uint32_t vhd_build_get32(const uint8_t *data, uint64_t off);

/* A recording vf_io over a memory io: logs every write ('w'), sync ('s') and set_size ('t')
 * so tests can assert the order of a crash-safe update; reads are only counted (how many,
 * how many bytes, the longest), so tests can assert what a walk or an open costs. */
typedef struct vhd_rec_op {
    char kind;
    uint64_t off, len;
} vhd_rec_op;

typedef struct vhd_rec {
    vf_io *inner; /* memory io holding the bytes; owned by the recorder */
    vhd_rec_op ops[4096];
    size_t n;
    uint64_t reads, read_bytes, read_max;
} vhd_rec;

/* New recorder over a copy of data; *io wraps it (closing *io does not free the recorder). */
vf_status vhd_rec_new(const uint8_t *data, size_t len, vhd_rec **rec, vf_io **io, vf_error *err);
void vhd_rec_free(vhd_rec *rec); /* closes inner */
/* First op of kind at index >= from whose offset lies in [lo, hi); SIZE_MAX when none. */
size_t vhd_rec_find(const vhd_rec *rec, size_t from, char kind, uint64_t lo, uint64_t hi);
/* A sync lies strictly between ops a and b. */
bool vhd_rec_sync_between(const vhd_rec *rec, size_t a, size_t b);

#endif
