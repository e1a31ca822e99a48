/* fuzz_vhd_locator.c - target vhd_locator: parent unicode name (UTF-16BE), the eight parent
 * locator entries and the locator data (UTF-16LE W2ku/W2ru, MacX URLs) of a differencing
 * template made by our writer. Layer: fuzz.
 * Input: 704 bytes over header bytes 64..767 (name + entries), then bytes placed at the
 * template's first locator data offset. The header checksum is always recomputed (the input
 * does not hold it), so the parser sees consistent headers with hostile locators. */
#include "fuzz_helpers.h"

#define VHD_HDR_NAME_OFF 64u
#define VHD_HDR_LOC_OFF 576u
#define VHD_NAME_AND_LOCATORS 704u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    const vf_fuzz_buf *tpl = vf_fuzz_template(VF_FUZZ_TPL_VHD_DIFF);
    vf_fuzz_buf file = vf_fuzz_buf_dup(tpl->p, tpl->len);
    uint64_t hdr = vf_fuzz_get_be64(file.p + 16);
    VF_FUZZ_CHECK(hdr + 1024 <= file.len - 512, "template header at %llu", (unsigned long long)hdr);
    /* Where the template keeps locator data: the lowest data offset among its entries. */
    uint64_t data_off = 0;
    for (unsigned i = 0; i < 8; i++) {
        const uint8_t *e = file.p + hdr + VHD_HDR_LOC_OFF + 24 * i;
        uint64_t off = vf_fuzz_get_be64(e + 16);
        if (vf_fuzz_get_be32(e) && off && (!data_off || off < data_off))
            data_off = off;
    }
    size_t first = size < VHD_NAME_AND_LOCATORS ? size : VHD_NAME_AND_LOCATORS;
    vf_fuzz_splice(file.p, file.len, (size_t)hdr + VHD_HDR_NAME_OFF, data, first);
    if (size > first && data_off && data_off < file.len - 512)
        vf_fuzz_splice(file.p, file.len - 512, (size_t)data_off, data + first, size - first);
    vf_fuzz_vhd_fix(file.p + hdr, 1024, 36, false);
    vf_fuzz_run_image_take(&file, "child.vhd", false);
    return 0;
}
