/* consumer.c - a program written against the installed libvhdfold only (public headers,
 * find_package(vhdfold) or pkg-config): it generates a seeded chain, merges its top into the
 * base with a progress callback, and checks through the library that the flattened disk seen
 * from the base afterwards has the digest the generator promised for the top.
 * Layer: none (an outside program). Built and run by ci/install-check and ci/deb-check.
 * Usage: consumer DIR (an empty, existing folder). Exit 0 when everything matched. */
#include <stdio.h>
#include <string.h>

#include <vhdfold/vf_gen.h>
#include <vhdfold/vf_merge.h>
#include <vhdfold/vf_verify.h>
#include <vhdfold/vf_version.h>

typedef struct progress_seen {
    unsigned calls, last_percent;
    int went_back;
} progress_seen;

static void on_progress(void *user, unsigned percent, uint64_t done, uint64_t total)
{
    progress_seen *p = user;
    (void)done;
    (void)total;
    if (percent < p->last_percent)
        p->went_back = 1;
    p->last_percent = percent;
    p->calls++;
}

static int fail(const char *what, const vf_error *err)
{
    fprintf(stderr, "consumer: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

static int generate(const char *dir, vf_gen_result *res)
{
    vf_gen_opts o;
    vf_error err;
    vf_gen_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.seed = 7;
    o.depth = 2;
    o.virtual_size = 16u << 20;
    o.block_size = 1u << 20;
    if (vf_gen_run(&o, NULL, dir, res, &err) != VF_OK)
        return fail("gen", &err);
    return 0;
}

static int digest_of(const char *path, uint8_t md[VF_SHA256_LEN])
{
    vf_source *src;
    vf_error err;
    if (vf_source_open(path, VF_SOURCE_CHAIN, NULL, &src, &err) != VF_OK)
        return fail(path, &err);
    vf_status st = vf_digest_flat(src, NULL, md, &err);
    vf_source_free(src);
    return st == VF_OK ? 0 : fail("digest", &err);
}

int main(int argc, char **argv)
{
    char top[4096], base[4096];
    vf_gen_result gen;
    if (argc != 2)
        return fprintf(stderr, "usage: consumer DIR\n"), 2;
    if (vf_version_number() != VF_VERSION_NUMBER)
        return fprintf(stderr, "consumer: headers %s, library %s\n", VF_VERSION_STRING,
                       vf_version()),
               1;
    if (generate(argv[1], &gen))
        return 1;
    snprintf(top, sizeof top, "%s/%s", argv[1], gen.levels[gen.nlevels - 1].file);
    snprintf(base, sizeof base, "%s/%s", argv[1], gen.levels[0].file);

    progress_seen seen = {0, 0, 0};
    vf_merge_opts mo;
    vf_merge_opts_init(&mo);
    mo.source = top;
    mo.destination = base;
    mo.verify = VF_MERGE_VERIFY_TREE;
    mo.progress = on_progress;
    mo.progress_user = &seen;
    vf_merge_result mr;
    int status = vf_merge_run(&mo, &mr);
    if (status != VF_MERGE_COMPLETED)
        return fprintf(stderr, "consumer: merge: %d %s: %s\n", status, vf_merge_status_name(status),
                       mr.err.msg),
               1;
    vf_merge_result_free(&mr);
    if (seen.calls == 0 || seen.went_back || seen.last_percent != 100)
        return fprintf(stderr, "consumer: progress: %u calls, last %u%%\n", seen.calls,
                       seen.last_percent),
               1;

    uint8_t md[VF_SHA256_LEN];
    if (digest_of(base, md))
        return 1;
    int same = memcmp(md, gen.levels[gen.nlevels - 1].sha256, VF_SHA256_LEN) == 0;
    vf_gen_result_free(&gen);
    if (!same)
        return fprintf(stderr, "consumer: the merged base does not read as the top did\n"), 1;
    printf("consumer: libvhdfold %s: generated, merged (%u progress calls), digest matches\n",
           vf_version(), seen.calls);
    return 0;
}
