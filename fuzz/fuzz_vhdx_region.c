/* fuzz_vhdx_region.c - target vhdx_region: the two 64 KiB VHDX region tables (192 KiB and
 * 256 KiB) of a dynamic template made by our writer. Layer: fuzz.
 * Input: table 1 [+ table 2 after the first 64 KiB]; a short input keeps the template's bytes
 * after it, and with one table given both copies get it (so the fallback copy cannot hide a
 * bad table). A zero CRC-32C field is filled in, any other value is kept. */
#include <string.h>

#include "fuzz_helpers.h"

#define VHDX_RT_SIZE (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t slots[2] = {192u << 10, 256u << 10};
    static uint8_t rt[2][VHDX_RT_SIZE];
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    const vf_fuzz_buf *tpl = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DYNAMIC);
    vf_fuzz_patch patches[2];
    size_t n = 0;
    for (size_t i = 0; i < 2; i++, n++) {
        size_t from = size > VHDX_RT_SIZE ? i * VHDX_RT_SIZE : 0;
        if (from >= size)
            break;
        memcpy(rt[i], tpl->p + slots[i], VHDX_RT_SIZE);
        vf_fuzz_splice(rt[i], VHDX_RT_SIZE, 0, data + from, size - from);
        vf_fuzz_vhdx_fix(rt[i], VHDX_RT_SIZE, 4, true);
        patches[i] = (vf_fuzz_patch){slots[i], rt[i], VHDX_RT_SIZE};
    }
    vf_fuzz_run_patched(tpl, patches, n, "region.vhdx");
    return 0;
}
