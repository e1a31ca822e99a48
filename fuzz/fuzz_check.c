/* fuzz_check.c - target check: the structural check (what `vhdfold check` runs per file) on
 * a whole image from the input, then the chain checker of verify/ on it (raw or "VFSP" sparse).
 * Layer: fuzz. Besides "no crash", the check must be read-only and repeatable: two runs on the same
 * handle give the same number of findings per severity. */
#include <string.h>

#include "fuzz_helpers.h"
#include "vf_verify.h"

/* What `vhdfold check FILE` runs: the file as a chain (of one, unless it is a child whose
 * parent is missing, which must fail cleanly) through the chain checker of verify/. */
static void vf_check_as_chain(const vf_fuzz_buf *file)
{
    vf_fs *fs;
    vf_error err;
    if (vf_fs_mem_new(&fs, &err) != VF_OK)
        return;
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    o.fs = fs;
    o.max_depth = VF_FUZZ_MAX_PARTS;
    o.open_flags = vf_fuzz_open_flags();
    vf_chain *c;
    if (vf_fs_mem_put(fs, "check.img", file->p, file->len, &err) == VF_OK &&
        vf_chain_open("check.img", &o, &c, &err) == VF_OK) {
        vf_report rep;
        vf_report_init(&rep);
        vf_status st = vf_verify_check_chain(c, &rep, &err);
        VF_FUZZ_CHECK(st == VF_OK || err.msg[0] != '\0', "chain check failed (%s) silently",
                      vf_status_name(st));
        vf_report_free(&rep);
        vf_chain_close(c);
    }
    vf_fs_mem_free(fs);
}

static void vf_count(vf_image *img, size_t counts[3])
{
    vf_report rep;
    vf_error err;
    vf_report_init(&rep);
    vf_status st = vf_image_check(img, &rep, &err);
    VF_FUZZ_CHECK(st == VF_OK || err.msg[0] != '\0', "check failed (%s) silently",
                  vf_status_name(st));
    for (int s = 0; s < 3; s++)
        counts[s] = st == VF_OK ? vf_report_count(&rep, (vf_severity)s) : (size_t)-1;
    vf_report_free(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vf_fuzz_buf file;
    if (size > VF_FUZZ_MAX_INPUT || !vf_fuzz_expand(data, size, &file))
        return 0;
    vf_image *img;
    if (vf_fuzz_open_image(file.p, file.len, "check.img", false, &img) == VF_OK) {
        size_t a[3], b[3];
        vf_count(img, a);
        vf_count(img, b);
        for (int s = 0; s < 3; s++)
            VF_FUZZ_CHECK(a[s] == b[s], "check is not repeatable: %zu then %zu findings", a[s],
                          b[s]);
        vf_fuzz_check_image(img);
        vf_image_close(img);
        vf_check_as_chain(&file);
    }
    vf_fuzz_buf_free(&file);
    return 0;
}
