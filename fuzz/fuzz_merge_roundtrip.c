/* fuzz_merge_roundtrip.c - target merge_roundtrip: build a chain in a memory file system from
 * the input (same layout as the chain target), read the flattened view from the top, merge
 * the top into an ancestor with the reference merger, and demand the same bytes back from the
 * destination (docs/design.md "Nothing is lost in a merge": the view from SOURCE before equals the
 * view from DESTINATION after). A merge that fails must leave the view from SOURCE unchanged. Both
 * are invariants: the harness aborts when they break. Layer: fuzz; links merger/ (vf_merge.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_helpers.h"
#include "vf_merge.h"

/* Flattened views larger than this are not merged (each run reads the view twice). */
#define VF_MERGE_VIEW_MAX (16u << 20)

/* Open path as a chain in fs and read its first len bytes; NULL when it does not open. */
static uint8_t *vf_view(vf_fs *fs, const char *path, uint64_t len, uint64_t *vsize)
{
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    o.fs = fs;
    o.max_depth = VF_FUZZ_MAX_PARTS;
    o.open_flags = vf_fuzz_open_flags();
    vf_chain *c;
    vf_error err;
    if (vf_chain_open(path, &o, &c, &err) != VF_OK)
        return NULL;
    *vsize = vf_chain_virtual_size(c);
    if (!len)
        len = *vsize;
    uint8_t *buf = NULL;
    if (len <= VF_MERGE_VIEW_MAX && len <= *vsize && (buf = malloc(len ? len : 1)) != NULL) {
        vf_status st = vf_chain_read(c, 0, buf, (size_t)len, &err);
        VF_FUZZ_CHECK(st == VF_OK,
                      "'%s': flattened read of %" PRIu64 " bytes failed after a "
                      "clean open: %s",
                      path, len, err.msg);
    }
    vf_chain_close(c);
    return buf;
}

/* The destination and its depth below the top; false for a chain of one. */
static bool vf_pick_destination(vf_fs *fs, const char *top, size_t size, char *dest, size_t cap)
{
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    o.fs = fs;
    o.max_depth = VF_FUZZ_MAX_PARTS;
    o.open_flags = vf_fuzz_open_flags();
    vf_chain *c;
    vf_error err;
    if (vf_chain_open(top, &o, &c, &err) != VF_OK)
        return false;
    size_t depth = vf_chain_depth(c);
    bool ok = depth >= 2;
    if (ok) /* any ancestor; the input length picks it so both cases get explored */
        snprintf(dest, cap, "%s", vf_chain_path(c, 1 + size % (depth - 1)));
    vf_chain_close(c);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    vf_fs *fs;
    char top[256], dest[1024];
    uint64_t vsize = 0, dsize = 0;
    uint8_t *before = NULL;
    if (vf_fuzz_chain_fs(data, size, &fs, top, sizeof top) == 0 ||
        !vf_pick_destination(fs, top, size, dest, sizeof dest) ||
        !(before = vf_view(fs, top, 0, &vsize)))
        goto done;

    vf_merge_opts mo;
    vf_merge_opts_init(&mo);
    mo.source = top;
    mo.destination = dest;
    mo.fs = fs;
    mo.verify = VF_MERGE_VERIFY_NONE;
    vf_merge_result res;
    memset(&res, 0, sizeof res);
    int status = vf_merge_run(&mo, &res);
    if (getenv("VF_FUZZ_VERBOSE"))
        fprintf(stderr, "merge '%s' -> '%s': status %d %s\n", top, dest, status, res.err.msg);
    uint8_t *after = NULL;
    if (status == VF_MERGE_COMPLETED) {
        after = vf_view(fs, dest, vsize, &dsize);
        VF_FUZZ_CHECK(after != NULL,
                      "merge of '%s' into '%s' completed, but the destination "
                      "no longer opens as a chain",
                      top, dest);
        VF_FUZZ_CHECK(dsize >= vsize, "destination shrank to %" PRIu64 " < %" PRIu64, dsize, vsize);
    } else {
        VF_FUZZ_CHECK(res.err.msg[0] != '\0', "merge failed with status %d and no message", status);
        after = vf_view(fs, top, vsize, &dsize); /* may not open: nothing to compare then */
    }
    if (after) {
        for (uint64_t i = 0; i < vsize; i++)
            VF_FUZZ_CHECK(before[i] == after[i],
                          "merge '%s' -> '%s' (status %d) changed the view at byte %" PRIu64, top,
                          dest, status, i);
    }
    free(after);
    vf_merge_result_free(&res);
done:
    free(before);
    vf_fs_mem_free(fs);
    return 0;
}
