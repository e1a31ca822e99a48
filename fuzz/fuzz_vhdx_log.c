/* fuzz_vhdx_log.c - target vhdx_log: the input becomes the log region of a dynamic template
 * made by our writer whose headers carry a non-zero LogGuid (vf_fuzz_log_guid), so the open
 * must find the active sequence and replay it: in memory for a read-only open, then into a
 * private memory copy for a read-write open. Layer: fuzz.
 * Input: log bytes from LogOffset (clipped at LogLength). Entries whose CRC-32C field is zero
 * get it filled in (when their length fits), other values are kept. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    vf_fuzz_vhdx_layout lay;
    const vf_fuzz_buf *tpl = vf_log_template(&lay);
    size_t log_len =
        (size_t)(lay.log_len < tpl->len - lay.log_off ? lay.log_len : tpl->len - lay.log_off);
    vf_fuzz_buf log = vf_fuzz_buf_dup(tpl->p + lay.log_off, log_len);
    size_t n = vf_fuzz_splice(log.p, log.len, 0, data, size);
    vf_fix_entries(log.p, n);
    vf_fuzz_patch patch = {(size_t)lay.log_off, log.p, log.len};
    /* Read-only first (replay into memory); then, when that worked, read-write on a private
     * copy (replay written to the file), which costs a copy of the whole template. */
    if (vf_fuzz_run_patched(tpl, &patch, 1, "log.vhdx") == VF_OK) {
        vf_fuzz_buf file = vf_fuzz_buf_dup(tpl->p, tpl->len);
        memcpy(file.p + lay.log_off, log.p, log.len);
        vf_fuzz_run_image_take(&file, "log.vhdx", true);
    }
    vf_fuzz_buf_free(&log);
    return 0;
}
