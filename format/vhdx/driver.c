/* vhdx/driver.c - placeholder driver until the vhdx implementation lands: probes nothing. */
#include "image_int.h"

static int stub_probe(const uint8_t *head, size_t head_len, const uint8_t *tail,
                      size_t tail_len, uint64_t file_size)
{
    (void)head, (void)head_len, (void)tail, (void)tail_len, (void)file_size;
    return 0;
}

const vf_driver vf_vhdx_driver = {.name = "vhdx", .format = VF_FORMAT_VHDX, .probe = stub_probe};
