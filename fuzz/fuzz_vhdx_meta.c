/* fuzz_vhdx_meta.c - target vhdx_meta: the metadata table and items (file parameters, sizes,
 * page 83, parent locator key/value pairs in UTF-16LE) of a differencing VHDX template made
 * by our writer. Layer: fuzz.
 * Input: table bytes (placed at the metadata region, at most 64 KiB) [VF-SPLIT item bytes
 * (placed at region + 64 KiB, clipped at the region's end)]. Metadata has no checksum. */
#include "fuzz_helpers.h"

#define VHDX_META_TABLE (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    const vf_fuzz_buf *tpl = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DIFF);
    vf_fuzz_vhdx_layout lay;
    VF_FUZZ_CHECK(vf_fuzz_vhdx_layout_get(tpl->p, tpl->len, &lay),
                  "our VHDX template has no usable header and region table");
    VF_FUZZ_CHECK(lay.meta_len > VHDX_META_TABLE && lay.meta_off + lay.meta_len <= tpl->len,
                  "template metadata region %llu+%llu", (unsigned long long)lay.meta_off,
                  (unsigned long long)lay.meta_len);
    /* Only the metadata region is copied and patched; the rest is read from the template. */
    vf_fuzz_buf region = vf_fuzz_buf_dup(tpl->p + lay.meta_off, (size_t)lay.meta_len);
    vf_fuzz_span parts[2];
    size_t n = vf_fuzz_split(data, size, parts, 2);
    vf_fuzz_splice(region.p, VHDX_META_TABLE, 0, parts[0].p, parts[0].len);
    if (n > 1)
        vf_fuzz_splice(region.p, region.len, VHDX_META_TABLE, parts[1].p, parts[1].len);
    vf_fuzz_patch patch = {(size_t)lay.meta_off, region.p, region.len};
    vf_fuzz_run_patched(tpl, &patch, 1, "child.vhdx");
    vf_fuzz_buf_free(&region);
    return 0;
}
