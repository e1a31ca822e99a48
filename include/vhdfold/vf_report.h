/* vf_report.h - findings collected by structural checks (vhdfold check).
 * Layer: format (public). A check appends every problem it finds and keeps going. */
#ifndef VHDFOLD_VF_REPORT_H
#define VHDFOLD_VF_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_severity {
    VF_SEV_INFO = 0,    /* worth knowing, not a problem (e.g. a producer quirk) */
    VF_SEV_WARNING = 1, /* harmless for reading, e.g. orphaned space, time stamp mismatch */
    VF_SEV_ERROR = 2,   /* the image or chain is damaged */
} vf_severity;

typedef struct vf_finding {
    vf_severity severity;
    vf_status code;
    uint64_t off;       /* file offset, or VF_OFF_NONE */
    char *file;         /* which file (name as opened, whole), "" when none; owned by the report */
    char msg[256];
} vf_finding;

typedef struct vf_report {
    vf_finding *items;
    size_t count, cap;
    size_t dropped;     /* findings past the cap (VF_REPORT_MAX) are counted, not stored */
} vf_report;

#define VF_REPORT_MAX 10000

/* An empty report (no allocation). */
VF_API void vf_report_init(vf_report *rep);
/* Release the findings and their strings; leaves an empty report. NULL is fine. */
VF_API void vf_report_free(vf_report *rep);
/* Append a finding (file copied whole; NULL for none); never fails: a finding that cannot be
 * stored (past VF_REPORT_MAX, or out of memory) is counted in dropped. */
VF_API void vf_report_add(vf_report *rep, vf_severity sev, vf_status code, uint64_t off,
                          const char *file, const char *fmt, ...) VF_PRINTF(6, 7);
/* Number of findings with at least the given severity (dropped ones count as errors). */
VF_API size_t vf_report_count(const vf_report *rep, vf_severity min);

#ifdef __cplusplus
}
#endif
#endif
