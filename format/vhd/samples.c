/* samples.c - the VHD producers the generator imitates: creator application, version and
 * host OS as each writes them (docs/formats/vhd.md "Creator field"), and their locator
 * layouts. Layer: format/vhd (table read through samples.h). Append only (a row replaced in
 * place changes the bytes of every level that draws it: re-pin tests/gen/pinned.sh). */
#include "vhd_int.h"

#define VHD_OS_WI2K 0x5769326Bu

static const vf_producer_sample vhd_producers[] = {
    {"win ", "win ", 0x000A0000u, VHD_OS_WI2K, false},
    /* Windows 7 / Server 2008 R2 (version 6.1). This slot held blktap's "tap\0" 1.3 until
     * issue 18: blktap expects a batmap in a dynamic or differencing "tap" file of version
     * 1.2 or later, which we never write, so the generator no longer claims that provenance
     * (docs/formats/vhd.md "blktap and the batmap"). */
    {"win ", "win ", 0x00060001u, VHD_OS_WI2K, false},
    {"CTXS", "CTXS", 0x00010000u, VHD_OS_WI2K, false},
    {"qem2", "qem2", 0x00050003u, VHD_OS_WI2K, false},
    {"d2v ", "d2v ", 0x00020000u, VHD_OS_WI2K, false},
    {"vpc ", "vpc ", 0x00050000u, VHD_OS_WI2K, true},
    {"vs  ", "vs  ", 0x00010000u, VHD_OS_WI2K, true},
    {"qemu", "qemu", 0x00050003u, VHD_OS_WI2K, true},
    {"vbox", "vbox", 0x00060001u, VHD_OS_WI2K, true},
    {"xo  ", "xo  ", 0x00010000u, VHD_OS_WI2K, true},
};

static const vf_locator_sample vhd_locators[] = {
    {"W2ku+W2ru", VF_LOCATE_W2KU | VF_LOCATE_W2RU | VF_LOCATE_NAME, false},
    {"W2ru", VF_LOCATE_W2RU | VF_LOCATE_NAME, false},
    {"W2ku", VF_LOCATE_W2KU | VF_LOCATE_NAME, true},
};

const vf_format_samples vf_vhd_samples = {
    .producers = vhd_producers,
    .nproducers = sizeof vhd_producers / sizeof vhd_producers[0],
    .locators = vhd_locators,
    .nlocators = sizeof vhd_locators / sizeof vhd_locators[0],
};
