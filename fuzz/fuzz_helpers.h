/* fuzz_helpers.h - what every fuzz harness shares: an always-on check that aborts, size caps,
 * byte helpers and checksums for splicing, in-memory template images built by our own
 * writer, the "VFSP" sparse file encoding, the splitter for chain inputs, and the drivers that
 * open an image or a chain from memory and walk it while checking API invariants.
 * Layer: fuzz. Used by fuzz/fuzz_<target>.c and fuzz/mkseeds.c; uses only the public API
 * of format/ (the vhdfold/ headers). Aborting is fine here, never in format/. */
#ifndef VHDFOLD_FUZZ_HELPERS_H
#define VHDFOLD_FUZZ_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

/* libFuzzer's entry point, defined once by every fuzz_<target>.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are ignored (AFL++'s own limit is 1 MiB). */
#define VF_FUZZ_MAX_INPUT (1u << 20)
/* A file expanded from a sparse input may not exceed this. */
#define VF_FUZZ_MAX_FILE (64u << 20)
/* Images in one chain input at most. */
#define VF_FUZZ_MAX_PARTS 6
/* Bytes read per extent while walking an image (start and end of the run). */
#define VF_FUZZ_READ_MAX (64u << 10)
/* Extents visited per walk; keeps huge fragmented disks from turning into hangs. */
#define VF_FUZZ_MAX_STEPS 512u

/* The 8-byte separator between the parts of a split input. */
#define VF_FUZZ_SPLIT "VF-SPLIT"
#define VF_FUZZ_SPLIT_LEN 8u
/* An input starting with this magic is a sparse file: records of (u32 LE sector, u16 LE
 * length, bytes); everything else is zero. Anything else is the raw file. */
#define VF_FUZZ_SPARSE_MAGIC "VFSP"
#define VF_FUZZ_SPARSE_MAGIC_LEN 4u

/* The LogGuid the vhdx_log template carries in both headers (seeds must use it too). */
extern const uint8_t vf_fuzz_log_guid[16];

/* Always-on assertion: prints the message and aborts (the fuzzer records a crash). */
#define VF_FUZZ_CHECK(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            vf_fuzz_die(__FILE__, __LINE__, #cond, __VA_ARGS__);                                   \
    } while (0)
_Noreturn void vf_fuzz_die(const char *file, int line, const char *cond, const char *fmt, ...)
    VF_PRINTF(4, 5);

/* Open flags every harness uses: VF_OPEN_NO_CHECKSUMS in VF_FUZZ_SKIP_CHECKSUMS builds. */
unsigned vf_fuzz_open_flags(void);

/* A heap buffer the caller frees with vf_fuzz_buf_free. */
typedef struct vf_fuzz_buf {
    uint8_t *p;
    size_t len;
} vf_fuzz_buf;
void vf_fuzz_buf_free(vf_fuzz_buf *b);
/* A copy of src (aborts when memory runs out: harness inputs are capped). */
vf_fuzz_buf vf_fuzz_buf_dup(const uint8_t *src, size_t len);

/* Byte helpers over a buffer of known size. */
uint32_t vf_fuzz_get_be32(const uint8_t *b);
uint64_t vf_fuzz_get_be64(const uint8_t *b);
uint16_t vf_fuzz_get_le16(const uint8_t *b);
uint32_t vf_fuzz_get_le32(const uint8_t *b);
uint64_t vf_fuzz_get_le64(const uint8_t *b);
void vf_fuzz_put_be32(uint8_t *b, uint32_t v);
void vf_fuzz_put_le32(uint8_t *b, uint32_t v);
void vf_fuzz_put_le64(uint8_t *b, uint64_t v);

/* Copy src over dst[off, off+len), clipped at dst_len; returns the bytes copied. */
size_t vf_fuzz_splice(uint8_t *dst, size_t dst_len, size_t off, const uint8_t *src, size_t len);

/* VHD checksum (one's complement of the byte sum, the 4 bytes at cksum_off counted as zero),
 * stored big-endian; fix_if_zero: only when the stored value is zero (seeds store zero, so
 * mutations of other bytes keep a valid sum while a mutated checksum stays wrong). */
uint32_t vf_fuzz_vhd_sum(const uint8_t *p, size_t len, size_t cksum_off);
void vf_fuzz_vhd_fix(uint8_t *p, size_t len, size_t cksum_off, bool fix_if_zero);
/* CRC-32C (Castagnoli) as VHDX uses it, with the 4 bytes at cksum_off counted as zero. */
uint32_t vf_fuzz_crc32c(const uint8_t *p, size_t len, size_t cksum_off);
void vf_fuzz_vhdx_fix(uint8_t *p, size_t len, size_t cksum_off, bool fix_if_zero);

/* Templates: small, deterministic images made by our writer in memory, once per process,
 * never changed afterwards. A template that cannot be built aborts (a writer bug). */
typedef enum vf_fuzz_tpl {
    VF_FUZZ_TPL_VHD_FIXED = 0,
    VF_FUZZ_TPL_VHD_DYNAMIC,
    VF_FUZZ_TPL_VHD_DIFF, /* child of VHD_DYNAMIC: W2ku, W2ru and the unicode name */
    VF_FUZZ_TPL_VHDX_DYNAMIC,
    VF_FUZZ_TPL_VHDX_DIFF, /* child of VHDX_DYNAMIC, partially present blocks */
    VF_FUZZ_TPL_COUNT
} vf_fuzz_tpl;
const vf_fuzz_buf *vf_fuzz_template(vf_fuzz_tpl which);
/* Build a template afresh (what vf_fuzz_template caches); the result is the caller's. */
vf_status vf_fuzz_build_template(vf_fuzz_tpl which, vf_fuzz_buf *out, vf_error *err);
/* The file name a template is known by in chain seeds ("base.vhd", "child.vhdx", ...). */
const char *vf_fuzz_template_name(vf_fuzz_tpl which);

/* VHDX layout of a buffer (from the current header and the first region table); false when
 * the bytes do not allow it. */
typedef struct vf_fuzz_vhdx_layout {
    size_t cur_header_off; /* 64 KiB or 128 KiB */
    uint64_t log_off, log_len;
    uint64_t bat_off, bat_len;
    uint64_t meta_off, meta_len;
} vf_fuzz_vhdx_layout;
bool vf_fuzz_vhdx_layout_get(const uint8_t *p, size_t len, vf_fuzz_vhdx_layout *out);

/* Turn an input into file bytes: a "VFSP" sparse input is expanded, anything else copied.
 * false when the result would be empty or exceed VF_FUZZ_MAX_FILE. */
bool vf_fuzz_expand(const uint8_t *in, size_t len, vf_fuzz_buf *out);
/* The opposite, for seeds: encode file bytes as a sparse input (non-zero 512-byte runs). */
vf_fuzz_buf vf_fuzz_sparse_encode(const uint8_t *file, size_t len);

/* Cut in at every VF_FUZZ_SPLIT into at most max parts (the last part keeps the rest). */
typedef struct vf_fuzz_span {
    const uint8_t *p;
    size_t len;
} vf_fuzz_span;
size_t vf_fuzz_split(const uint8_t *in, size_t len, vf_fuzz_span *parts, size_t max);

/* Open file bytes as one image through the memory backend (a private copy; writable opens
 * RDWR, never a real file). A failed open must give a known status and a message naming the
 * file, or the harness aborts. On success *out is the caller's: vf_image_close() it. */
vf_status vf_fuzz_open_image(const uint8_t *file, size_t len, const char *name, bool writable,
                             vf_image **out);
/* The same, taking over file's buffer (saves a copy of big templates; file is emptied). */
vf_status vf_fuzz_open_image_take(vf_fuzz_buf *file, const char *name, bool writable,
                                  vf_image **out);
/* Open file bytes as one image through the memory backend, walk it (vf_fuzz_walk_image),
 * list its locators and run its structural check, then close. writable opens RDWR on a
 * private memory copy (never a real file). Returns the open status. */
vf_status vf_fuzz_run_image(const uint8_t *file, size_t len, const char *name, bool writable);
vf_status vf_fuzz_run_image_take(vf_fuzz_buf *file, const char *name, bool writable);
/* Like vf_fuzz_run_image (read-only) over an immutable base with patches laid over it, with
 * no copy of the base: the structure harnesses use it on their multi-MiB VHDX templates. */
typedef struct vf_fuzz_patch {
    size_t off;       /* file offset; off + len lies inside the base */
    const uint8_t *p; /* borrowed for the call */
    size_t len;
} vf_fuzz_patch;
vf_status vf_fuzz_run_patched(const vf_fuzz_buf *base, const vf_fuzz_patch *patches,
                              size_t npatches, const char *name);
/* Walk the extents of an open image with invariant checks; reads compare with the file. */
void vf_fuzz_walk_image(vf_image *img);
/* Structural check into a report, with invariant checks on the report; frees the report. */
void vf_fuzz_check_image(vf_image *img);
/* Walk a chain's flattened view and check it against the level images. */
void vf_fuzz_walk_chain(vf_chain *c);

/* A chain input: part 0 lists file names (one a line), parts 1.. are images (raw or sparse).
 * Builds a memory file system holding the images; *top names the first image. Returns the
 * number of images put (0: nothing usable). Free fs with vf_fs_mem_free. */
size_t vf_fuzz_chain_fs(const uint8_t *in, size_t len, vf_fs **fs, char *top, size_t top_cap);

#endif
