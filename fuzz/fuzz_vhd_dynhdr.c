/* fuzz_vhd_dynhdr.c - target vhd_dynhdr: the input overwrites the dynamic disk header and
 * the BAT (and whatever follows) of a dynamic template image made by our writer.
 * Layer: fuzz. Input: bytes placed at the footer's Data Offset (the header is 1024 bytes,
 * the BAT usually follows at +1024), clipped before the trailing footer. A zero header
 * checksum is filled in, any other value kept. */
#include "fuzz_helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    const vf_fuzz_buf *tpl = vf_fuzz_template(VF_FUZZ_TPL_VHD_DYNAMIC);
    vf_fuzz_buf file = vf_fuzz_buf_dup(tpl->p, tpl->len);
    /* The template is ours and valid: its Data Offset points inside it. */
    uint64_t hdr = vf_fuzz_get_be64(file.p + 16);
    VF_FUZZ_CHECK(hdr + 1024 <= file.len - 512, "template header at %llu", (unsigned long long)hdr);
    vf_fuzz_splice(file.p, file.len - 512, (size_t)hdr, data, size);
    vf_fuzz_vhd_fix(file.p + hdr, 1024, 36, true);
    vf_fuzz_run_image_take(&file, "dynhdr.vhd", false);
    return 0;
}
