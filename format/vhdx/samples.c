/* samples.c - the VHDX producers the generator imitates (the creator text of the file type
 * identifier, docs/formats/vhdx.md "File identifier") and their locator layouts. Layer: format/vhdx
 * (table read through samples.h). Append only. */
#include "vhdx_int.h"

static const vf_producer_sample vx_producers[] = {
    {"Microsoft Windows 10.0.19045.0", "Microsoft Windows 10.0.19045.0", 0, 0, false},
    {"Microsoft Windows 6.3.9600.16384", "Microsoft Windows 6.3.9600.16384", 0, 0, false},
    {"QEMU v7.2.22", "QEMU v7.2.22", 0, 0, false},
    {"vhdfold gen", "vhdfold gen", 0, 0, false},
};

static const vf_locator_sample vx_locators[] = {
    {"relative+absolute", VF_LOCATE_RELATIVE | VF_LOCATE_ABSOLUTE, false},
    {"relative", VF_LOCATE_RELATIVE, false},
};

const vf_format_samples vf_vhdx_samples = {
    .producers = vx_producers,
    .nproducers = sizeof vx_producers / sizeof vx_producers[0],
    .locators = vx_locators,
    .nlocators = sizeof vx_locators / sizeof vx_locators[0],
};
