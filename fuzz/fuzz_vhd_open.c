/* fuzz_vhd_open.c - target vhd_open: the input is a whole VHD file (raw, or a "VFSP" sparse
 * encoding for big layouts); open, walk every extent with reads, locators and check.
 * Layer: fuzz. The probe decides the format, so VHDX bytes are tried as well. */
#include "fuzz_helpers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vf_fuzz_buf file;
    if (size > VF_FUZZ_MAX_INPUT || !vf_fuzz_expand(data, size, &file))
        return 0;
    vf_fuzz_run_image_take(&file, "input.vhd", false);
    return 0;
}
