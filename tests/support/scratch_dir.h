/* scratch_dir.h - a private scratch folder for tests that need real files: made under
 * $TMPDIR (or the system's temporary folder) by mkdtemp, removed with everything in it.
 * Header-only; the cmocka setup/teardown of test_io_copy.c, test_vhd_real.c and
 * test_vhdx_interop.c are one call each. */
#ifndef VF_TEST_SCRATCH_DIR_H
#define VF_TEST_SCRATCH_DIR_H

#include <stdio.h>
#include <stdlib.h>

/* Make DIR/<prefix>.XXXXXX into buf; 0 on success, -1 on failure (cmocka's convention). */
static inline int vf_scratch_make(char *buf, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(buf, cap, "%s/%s.XXXXXX", base && *base ? base : P_tmpdir, prefix);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

/* Remove the folder made by vf_scratch_make and everything in it. */
static inline int vf_scratch_remove(const char *dir)
{
    char cmd[4200];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

#endif
