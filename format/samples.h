/* samples.h - each driver's sample of the real producers of its format: the creator fields
 * and locator layouts that Windows, qemu, blktap, VirtualBox and others write. Layer: format
 * (internal, for gen/ only; docs/gen.md "Producers imitated"). The generator draws rows by index,
 * so the rows are part of its frozen definition: append, never reorder. */
#ifndef VHDFOLD_FORMAT_SAMPLES_H
#define VHDFOLD_FORMAT_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_image.h>

/* One producer's creator fields, as vf_create_opts takes them. */
typedef struct vf_producer_sample {
    const char *app;   /* VHD: 4 bytes; VHDX: creator text */
    const char *shown; /* printable form */
    uint32_t version;
    uint32_t os;
    bool chs_sized; /* a reader (qemu 7.2) sizes this creator by CHS: only when CHS == size */
} vf_producer_sample;

/* One way producers lay out a child's parent locators. */
typedef struct vf_locator_sample {
    const char *name;
    unsigned mask;             /* VF_LOCATE_* */
    bool absolute_is_relative; /* the absolute entry carries ".\\name" (blktap, vhd-lib) */
} vf_locator_sample;

typedef struct vf_format_samples {
    const vf_producer_sample *producers;
    size_t nproducers; /* >= 1 */
    const vf_locator_sample *locators;
    size_t nlocators; /* >= 1 */
} vf_format_samples;

/* The driver's sample for format f; NULL when f is unknown or its driver has none (the
 * generator refuses such a format). Static. */
const vf_format_samples *vf_format_samples_get(vf_format_kind f);

#endif
