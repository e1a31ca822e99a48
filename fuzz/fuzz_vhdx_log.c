/* fuzz_vhdx_log.c - target vhdx_log: the input becomes the log region of a dynamic template
 * made by our writer whose headers carry a non-zero LogGuid (vf_fuzz_log_guid), so the open
 * must find the active sequence and replay it: in memory for a read-only open, then on a
 * private memory copy opened read-write, where the first write puts the replay on disk and
 * the disk must then read exactly as it did from memory. Layer: fuzz.
 * Input, raw mode: log bytes from LogOffset (clipped at LogLength); entries whose CRC-32C
 * field is zero get it filled in (when their length fits).
 * Structured mode (input starting "LOG!"): the harness builds a valid sequence of entries from the
 * input (docs/fuzzing.md), CRCs included, so every mutation reaches the replay. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_helpers.h"

#define VHDX_LOG_SECTOR 4096u

/* The template with LogGuid set in both headers: built once, never changed afterwards. */
static const vf_fuzz_buf *vf_log_template(vf_fuzz_vhdx_layout *lay)
{
    static vf_fuzz_buf tpl;
    static vf_fuzz_vhdx_layout layout;
    if (!tpl.p) {
        const vf_fuzz_buf *base = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DYNAMIC);
        vf_fuzz_buf t = vf_fuzz_buf_dup(base->p, base->len);
        VF_FUZZ_CHECK(vf_fuzz_vhdx_layout_get(t.p, t.len, &layout),
                      "our VHDX template has no usable header and region table");
        for (size_t h = 64u << 10; h <= (128u << 10); h += 64u << 10) {
            memcpy(t.p + h + 48, vf_fuzz_log_guid, 16);
            vf_fuzz_vhdx_fix(t.p + h, 4096, 4, false);
        }
        tpl = t;
    }
    *lay = layout;
    return &tpl;
}

/* Fill zero entry checksums so mutations of other fields get past the CRC. */
static void vf_fix_entries(uint8_t *log, size_t len)
{
    for (size_t pos = 0; pos + 64 <= len; pos += VHDX_LOG_SECTOR) {
        if (memcmp(log + pos, "loge", 4) != 0)
            continue;
        uint32_t entry_len = vf_fuzz_get_le32(log + pos + 8);
        if (entry_len && entry_len % VHDX_LOG_SECTOR == 0 && entry_len <= len - pos)
            vf_fuzz_vhdx_fix(log + pos, entry_len, 4, true);
    }
}

#define VF_LOG_STRUCTURED "LOG!"

/* Bytes of an entry of nd descriptors read from in (6 bytes each). */
static size_t vf_entry_len(const uint8_t *in, size_t nd)
{
    size_t ndata = 0;
    for (size_t i = 0; i < nd; i++)
        ndata += !(in[6 * i] & 1u);
    return ((nd + 2 + 127) / 128 + ndata) * VHDX_LOG_SECTOR;
}

/* Structured input (after "LOG!"): byte 0 the number of entries (1..4), byte 1 the log page
 * the sequence starts at (it may wrap), byte 2 a LastFileOffset excess in MiB (0..3), then 6
 * bytes per descriptor: kind (bit 0: zero), target page (16 bits, modulo the file's pages),
 * zero length in pages (1..16), two bytes seeding a data page's pattern. */
static void vf_build_entry(const uint8_t *in, size_t nd, uint64_t seq, uint32_t tail,
                           uint64_t fsize, uint64_t last, uint8_t *out, uint32_t *len)
{
    size_t dsec = (nd + 2 + 127) / 128;
    *len = (uint32_t)vf_entry_len(in, nd);
    memset(out, 0, *len);
    memcpy(out, "loge", 4);
    vf_fuzz_put_le32(out + 8, *len);
    vf_fuzz_put_le32(out + 12, tail);
    vf_fuzz_put_le64(out + 16, seq);
    vf_fuzz_put_le32(out + 24, (uint32_t)nd);
    memcpy(out + 32, vf_fuzz_log_guid, 16);
    vf_fuzz_put_le64(out + 48, fsize);
    vf_fuzz_put_le64(out + 56, last);
    size_t k = 0;
    for (size_t i = 0; i < nd; i++) {
        const uint8_t *r = in + 6 * i;
        uint8_t *d = out + 64 + 32 * i;
        uint64_t pages = fsize / VHDX_LOG_SECTOR;
        uint64_t off = ((uint64_t)(r[1] | r[2] << 8) % (pages ? pages : 1)) * VHDX_LOG_SECTOR;
        vf_fuzz_put_le64(d + 16, off);
        vf_fuzz_put_le64(d + 24, seq);
        if (r[0] & 1u) {
            memcpy(d, "zero", 4);
            vf_fuzz_put_le64(d + 8, (uint64_t)(1 + r[3] % 16) * VHDX_LOG_SECTOR);
            continue;
        }
        uint8_t page[VHDX_LOG_SECTOR];
        for (size_t j = 0; j < sizeof page; j++)
            page[j] = (uint8_t)(r[4] ^ (j * 31) ^ r[5]);
        memcpy(d, "desc", 4);
        memcpy(d + 4, page + 4092, 4);
        memcpy(d + 8, page, 8);
        uint8_t *ds = out + (dsec + k++) * VHDX_LOG_SECTOR;
        memcpy(ds, "data", 4);
        vf_fuzz_put_le32(ds + 4, (uint32_t)(seq >> 32));
        memcpy(ds + 8, page + 8, 4084);
        vf_fuzz_put_le32(ds + 4092, (uint32_t)seq);
    }
    vf_fuzz_vhdx_fix(out, *len, 4, false);
}

/* Lay the entries out from the start page on, wrapping at the end of the log. */
static void vf_build_log(const uint8_t *in, size_t n, uint8_t *log, size_t log_len, size_t fsize)
{
    size_t entries = 1 + in[0] % 4, pages = log_len / VHDX_LOG_SECTOR;
    uint32_t start = (uint32_t)((in[1] % (pages ? pages : 1)) * VHDX_LOG_SECTOR), pos = start;
    uint64_t last = fsize + (uint64_t)(in[2] % 4) * (1u << 20);
    in += 3;
    n -= 3;
    size_t per = n / 6 / entries, used = 0;
    uint8_t *e = malloc(log_len);
    VF_FUZZ_CHECK(e != NULL, "out of memory");
    for (size_t i = 0; i < entries; i++) {
        size_t nd = i + 1 == entries ? n / 6 - per * i : per;
        uint32_t len;
        if (vf_entry_len(in + 6 * per * i, nd) > log_len - used)
            break;
        vf_build_entry(in + 6 * per * i, nd, 1 + i, start, fsize, last, e, &len);
        for (uint32_t k = 0; k < len; k += VHDX_LOG_SECTOR)
            memcpy(log + (pos + k) % log_len, e + k, VHDX_LOG_SECTOR);
        pos = (uint32_t)((pos + len) % log_len);
        used += len;
    }
    free(e);
}

/* The replay written by the first write must read as the replay held in memory did. */
static void vf_settle_check(vf_fuzz_buf *file)
{
    vf_image *img;
    if (vf_fuzz_open_image_take(file, "log.vhdx", true, &img) != VF_OK)
        return;
    const vf_image_info *in = vf_image_info_get(img);
    size_t n = (size_t)(in->virtual_size < (8u << 20) ? in->virtual_size : (8u << 20));
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    VF_FUZZ_CHECK(a && b, "out of memory");
    vf_error err;
    if (n >= in->logical_sector_size && vf_image_read(img, 0, a, n, &err) == VF_OK &&
        vf_image_write(img, 0, a, in->logical_sector_size, &err) == VF_OK &&
        vf_image_flush(img, &err) == VF_OK) {
        VF_FUZZ_CHECK(vf_image_read(img, 0, b, n, &err) == VF_OK,
                      "read after the replay was written failed: %s", err.msg);
        VF_FUZZ_CHECK(memcmp(a, b, n) == 0, "the replay written on disk reads differently "
                                            "from the replay held in memory");
        vf_fuzz_walk_image(img);
    }
    free(a);
    free(b);
    vf_image_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    vf_fuzz_vhdx_layout lay;
    const vf_fuzz_buf *tpl = vf_log_template(&lay);
    size_t log_len =
        (size_t)(lay.log_len < tpl->len - lay.log_off ? lay.log_len : tpl->len - lay.log_off);
    vf_fuzz_buf log = vf_fuzz_buf_dup(tpl->p + lay.log_off, log_len);
    size_t tag = strlen(VF_LOG_STRUCTURED);
    if (size >= tag + 3 && memcmp(data, VF_LOG_STRUCTURED, tag) == 0) {
        memset(log.p, 0, log.len);
        vf_build_log(data + tag, size - tag, log.p, log.len, tpl->len);
    } else {
        size_t n = vf_fuzz_splice(log.p, log.len, 0, data, size);
        vf_fix_entries(log.p, n);
    }
    vf_fuzz_patch patch = {(size_t)lay.log_off, log.p, log.len};
    /* Read-only first (replay into memory); then, when that worked, read-write on a private
     * copy (replay written to the file), which costs a copy of the whole template. */
    if (vf_fuzz_run_patched(tpl, &patch, 1, "log.vhdx") == VF_OK) {
        vf_fuzz_buf file = vf_fuzz_buf_dup(tpl->p, tpl->len);
        memcpy(file.p + lay.log_off, log.p, log.len);
        vf_settle_check(&file);
    }
    vf_fuzz_buf_free(&log);
    return 0;
}
