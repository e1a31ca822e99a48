/* fuzz_vhd_footer.c - target vhd_footer: the input is a VHD hard disk footer placed at the
 * end (and as the copy at offset 0) of a template image made by our writer.
 * Layer: fuzz. Input: footer (512 bytes) [+ a different copy for offset 0 (512 bytes)].
 * The footer's own disk type picks the template (2 fixed, 4 differencing, else dynamic); a
 * zero checksum field is filled in, any other value is kept (so bad checksums are tried). */
#include <string.h>

#include "fuzz_helpers.h"

#define VHD_FOOTER 512u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    uint32_t type = size >= 64 ? vf_fuzz_get_be32(data + 60) : 3;
    vf_fuzz_tpl which = type == 2   ? VF_FUZZ_TPL_VHD_FIXED
                        : type == 4 ? VF_FUZZ_TPL_VHD_DIFF
                                    : VF_FUZZ_TPL_VHD_DYNAMIC;
    const vf_fuzz_buf *tpl = vf_fuzz_template(which);
    vf_fuzz_buf file = vf_fuzz_buf_dup(tpl->p, tpl->len);
    uint8_t footer[VHD_FOOTER], copy[VHD_FOOTER];
    size_t tail = file.len - VHD_FOOTER;

    memcpy(footer, file.p + tail, VHD_FOOTER);
    vf_fuzz_splice(footer, VHD_FOOTER, 0, data, size);
    vf_fuzz_vhd_fix(footer, VHD_FOOTER, 64, true);
    memcpy(file.p + tail, footer, VHD_FOOTER);
    if (which != VF_FUZZ_TPL_VHD_FIXED) {
        /* Dynamic and differencing files carry a copy at 0: the same bytes unless given. */
        memcpy(copy, footer, VHD_FOOTER);
        if (size > VHD_FOOTER) {
            vf_fuzz_splice(copy, VHD_FOOTER, 0, data + VHD_FOOTER, size - VHD_FOOTER);
            vf_fuzz_vhd_fix(copy, VHD_FOOTER, 64, true);
        }
        memcpy(file.p, copy, VHD_FOOTER);
    }
    vf_fuzz_run_image_take(&file, "footer.vhd", false);
    return 0;
}
