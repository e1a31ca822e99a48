/* fuzz_chain.c - target chain: one input cut into several images plus a name map, put in a
 * memory file system, opened as a chain from the first image (locators, identity links,
 * loops, depth), then the flattened view walked and compared with the level images.
 * The chain checker (verify/) runs on every chain that opens.
 * Layer: fuzz. Input: "name0\nname1\n..." VF-SPLIT image0 VF-SPLIT image1 ... (each image raw
 * or "VFSP" sparse; a missing or empty name becomes chain/l<k>.img). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_helpers.h"
#include "vf_verify.h"

/* The chain checker (vhdfold check): runs, keeps its report bounded, frees it. */
static void vf_check_chain(vf_chain *c)
{
    vf_report rep;
    vf_error err;
    vf_report_init(&rep);
    vf_status st = vf_verify_check_chain(c, &rep, &err);
    VF_FUZZ_CHECK(st == VF_OK || err.msg[0] != '\0', "chain check failed (%s) silently",
                  vf_status_name(st));
    VF_FUZZ_CHECK(rep.count <= VF_REPORT_MAX, "report holds %zu findings", rep.count);
    vf_report_free(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > VF_FUZZ_MAX_INPUT)
        return 0;
    vf_fs *fs;
    char top[256];
    if (vf_fuzz_chain_fs(data, size, &fs, top, sizeof top) == 0) {
        vf_fs_mem_free(fs);
        return 0;
    }
    vf_chain_opts opts;
    vf_chain_opts_init(&opts);
    opts.fs = fs;
    opts.max_depth = VF_FUZZ_MAX_PARTS;
    opts.open_flags = vf_fuzz_open_flags();
    vf_chain *c = NULL;
    vf_error err;
    vf_status st = vf_chain_open(top, &opts, &c, &err);
    if (getenv("VF_FUZZ_VERBOSE"))
        fprintf(stderr, "chain '%s': %s %s depth %zu\n", top, vf_status_name(st),
                st == VF_OK ? "" : err.msg, st == VF_OK ? vf_chain_depth(c) : 0);
    if (st == VF_OK) {
        vf_fuzz_walk_chain(c);
        vf_check_chain(c);
        vf_chain_close(c);
    } else {
        VF_FUZZ_CHECK(c == NULL, "failed chain open left a handle");
        VF_FUZZ_CHECK(err.code == st && err.msg[0] != '\0', "chain open failed (%s) silently",
                      vf_status_name(st));
    }
    vf_fs_mem_free(fs);
    return 0;
}
