/* fuzz_vhdx_header.c - target vhdx_header: the two 4 KiB VHDX headers (64 KiB and 128 KiB) of
 * a dynamic template made by our writer. Layer: fuzz.
 * Input: header 1 (4096 bytes) [+ header 2 (4096 bytes)]; a header slot the input does not
 * reach keeps the template's bytes. A zero CRC-32C field is filled in, any other value is
 * kept, so the current-header choice sees valid, invalid and equal-sequence pairs. */
#include <string.h>

#include "fuzz_helpers.h"

#define VHDX_HEADER_SIZE 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t slots[2] = {64u << 10, 128u << 10};
    static uint8_t hdr[2][VHDX_HEADER_SIZE];
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    const vf_fuzz_buf *tpl = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DYNAMIC);
    vf_fuzz_patch patches[2];
    size_t n = 0;
    for (size_t i = 0; i < 2 && size > i * VHDX_HEADER_SIZE; i++, n++) {
        memcpy(hdr[i], tpl->p + slots[i], VHDX_HEADER_SIZE);
        vf_fuzz_splice(hdr[i], VHDX_HEADER_SIZE, 0, data + i * VHDX_HEADER_SIZE,
                       size - i * VHDX_HEADER_SIZE);
        vf_fuzz_vhdx_fix(hdr[i], VHDX_HEADER_SIZE, 4, true);
        patches[i] = (vf_fuzz_patch){slots[i], hdr[i], VHDX_HEADER_SIZE};
    }
    vf_fuzz_run_patched(tpl, patches, n, "header.vhdx");
    return 0;
}
