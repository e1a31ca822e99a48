/* test_opts_abi.c - options structs that can grow (docs/library.md "Growing structs"): a
 * caller built against older headers (a smaller struct_size), newer headers (a larger struct,
 * fields the library does not know) or none at all (a zeroed struct) gets exactly the
 * documented behaviour, and the library never reads or writes past the caller's struct.
 * Layer: tests/unit (public API, plus format/opts_int.h for the pinned first sizes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_gen.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>
#include <vhdfold/vf_merge.h>
#include <vhdfold/vf_verify.h>

#include "opts_int.h"
#include "vhd_build.h"

/* --- the protocol on a struct of our own, in two versions --- */
typedef struct t_v1 {
    size_t struct_size;
    uint64_t a;
} t_v1;
typedef struct t_v2 {
    size_t struct_size;
    uint64_t a;
    uint64_t b; /* added in "version 2": past the end of t_v1, padding included */
} t_v2;

static void test_fill_writes_only_the_callers_bytes(void **state)
{
    (void)state;
    unsigned char buf[64];
    memset(buf, 0xA5, sizeof buf);
    t_v2 def = {sizeof(t_v2), 7, 9};
    vf_opts_fill(buf, sizeof(t_v1), &def, sizeof def);
    t_v1 got;
    memcpy(&got, buf, sizeof got);
    assert_int_equal(got.struct_size, sizeof(t_v1));
    assert_int_equal(got.a, 7);
    for (size_t i = sizeof(t_v1); i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xA5);
}

static void test_fill_zeroes_a_newer_tail(void **state)
{
    (void)state;
    unsigned char buf[64];
    memset(buf, 0xA5, sizeof buf);
    t_v1 def = {sizeof(t_v1), 7};
    vf_opts_fill(buf, sizeof(t_v2) + 8, &def, sizeof def);
    size_t size;
    memcpy(&size, buf, sizeof size);
    assert_int_equal(size, sizeof(t_v2) + 8);
    for (size_t i = sizeof(t_v1); i < sizeof(t_v2) + 8; i++)
        assert_int_equal(buf[i], 0);
    assert_int_equal(buf[sizeof(t_v2) + 8], 0xA5);
}

static void test_adopt_older_keeps_defaults(void **state)
{
    (void)state;
    t_v1 *old = malloc(sizeof *old); /* exactly the old size: ASan sees any overread */
    assert_non_null(old);
    old->struct_size = sizeof *old;
    old->a = 5;
    t_v2 own = {sizeof own, 7, 9};
    vf_error err;
    assert_int_equal(vf_opts_adopt(&own, sizeof own, old, sizeof(t_v1), "t", &err), VF_OK);
    assert_int_equal(own.struct_size, sizeof own);
    assert_int_equal(own.a, 5);
    assert_int_equal(own.b, 9);
    free(old);
}

static void test_adopt_newer(void **state)
{
    (void)state;
    size_t big = sizeof(t_v2) + 16;
    unsigned char *nw = calloc(1, big);
    assert_non_null(nw);
    memcpy(nw, &big, sizeof big);
    uint64_t a = 3;
    memcpy(nw + offsetof(t_v1, a), &a, sizeof a);
    t_v1 own = {sizeof own, 7};
    vf_error err;
    assert_int_equal(vf_opts_adopt(&own, sizeof own, nw, sizeof(t_v1), "t", &err), VF_OK);
    assert_int_equal(own.a, 3);
    assert_int_equal(own.struct_size, sizeof own);

    nw[big - 1] = 1; /* a field this "library" does not know is set */
    t_v1 own2 = {sizeof own2, 7};
    assert_int_equal(vf_opts_adopt(&own2, sizeof own2, nw, sizeof(t_v1), "t", &err),
                     VF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "newer"));
    assert_int_equal(own2.a, 7);
    free(nw);
}

static void test_adopt_refuses_small_sizes(void **state)
{
    (void)state;
    t_v2 own = {sizeof own, 7, 9};
    t_v1 zero = {0, 4};
    vf_error err;
    assert_int_equal(vf_opts_adopt(&own, sizeof own, &zero, sizeof(t_v1), "t", &err), VF_E_INVAL);
    assert_non_null(strstr(err.msg, "t_init()"));
    zero.struct_size = sizeof(size_t); /* below the first version */
    assert_int_equal(vf_opts_adopt(&own, sizeof own, &zero, sizeof(t_v1), "t", &err), VF_E_INVAL);
    assert_int_equal(own.a, 7);
}

/* --- every public entry point that takes an options struct --- */
static vf_fs *one_vhd(void)
{
    vf_create_opts o;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, 4u << 20, 2u << 20);
    vhd_bytes b;
    vf_error err;
    assert_int_equal(vhd_build(&o, NULL, NULL, &b, &err), 0);
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, &err), VF_OK);
    assert_int_equal(vf_fs_mem_put(fs, "a.vhd", b.data, b.len, &err), VF_OK);
    free(b.data);
    return fs;
}

static void test_zeroed_structs_refused(void **state)
{
    (void)state;
    vf_error err;
    vf_chain *c = NULL;
    vf_chain_opts co;
    memset(&co, 0, sizeof co);
    /* the file does not exist: VF_E_INVAL (not VF_E_IO) proves the struct is refused first */
    assert_int_equal(vf_chain_open("missing.vhd", &co, &c, &err), VF_E_INVAL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "vf_chain_opts_init()"));

    vf_merge_opts mo;
    memset(&mo, 0, sizeof mo);
    mo.source = "missing.vhd";
    mo.destination = "missing-parent.vhd";
    vf_merge_result res;
    assert_int_equal(vf_merge_run(&mo, &res), VF_MERGE_INVALID_PARAMETER);
    assert_int_equal(res.err.code, VF_E_INVAL);
    vf_merge_result_free(&res);
    vf_merge_job *job = NULL;
    assert_int_equal(vf_merge_job_start(&mo, &job, &err), VF_MERGE_INVALID_PARAMETER);
    assert_null(job);

    vf_gen_opts go;
    memset(&go, 0, sizeof go);
    assert_int_equal(vf_gen_validate(&go, &err), VF_E_INVAL);
    assert_non_null(strstr(err.msg, "vf_gen_opts_init()"));

    vf_create_opts cr;
    memset(&cr, 0, sizeof cr);
    cr.format = VF_FORMAT_VHD;
    cr.type = VF_DISK_DYNAMIC;
    cr.virtual_size = 4u << 20;
    vf_io *io;
    assert_int_equal(vf_io_mem_new(NULL, 0, "n.vhd", true, &io, &err), VF_OK);
    vf_image *img = NULL;
    assert_int_equal(vf_image_create(io, "n.vhd", &cr, &img, &err), VF_E_INVAL);
    assert_null(img);
}

static void test_zeroed_verify_opts_refused(void **state)
{
    (void)state;
    static const uint8_t raw[4096];
    vf_error err;
    vf_io *io;
    assert_int_equal(vf_io_mem_new(raw, sizeof raw, "raw", false, &io, &err), VF_OK);
    vf_source *src;
    assert_int_equal(vf_source_from_io(io, &src, &err), VF_OK);
    vf_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    uint8_t md[VF_SHA256_LEN];
    assert_int_equal(vf_digest_flat(src, &vo, md, &err), VF_E_INVAL);
    assert_int_equal(vf_digest_tree(src, &vo, md, &err), VF_E_INVAL);
    vf_compare_result cr;
    assert_int_equal(vf_compare(src, src, &vo, &cr, &err), VF_E_INVAL);
    vf_verify_opts_init(&vo); /* and with the init the same calls work */
    assert_int_equal(vf_digest_flat(src, &vo, md, &err), VF_OK);
    assert_int_equal(vf_compare(src, src, &vo, &cr, &err), VF_OK);
    assert_true(cr.identical);
    vf_source_free(src);
}

/* A caller whose headers had only the first version of vf_chain_opts: its struct is exactly
 * VF_CHAIN_OPTS_V1 bytes, and the library neither writes nor reads past it. */
static void test_old_caller_chain_opts(void **state)
{
    (void)state;
    vf_fs *fs = one_vhd();
    size_t v1 = VF_CHAIN_OPTS_V1;
    unsigned char *blk = malloc(v1 + 32);
    assert_non_null(blk);
    memset(blk, 0xA5, v1 + 32);
    vf_chain_opts_init_size((vf_chain_opts *)blk, v1);
    for (size_t i = v1; i < v1 + 32; i++)
        assert_int_equal(blk[i], 0xA5); /* init stayed inside the old struct */
    const vf_fs *cfs = fs;
    memcpy(blk + offsetof(vf_chain_opts, fs), &cfs, sizeof cfs);
    vf_chain *c = NULL;
    vf_error err;
    /* bytes past v1 are 0xA5 garbage: reading any of them as a field would misbehave */
    assert_int_equal(vf_chain_open("a.vhd", (const vf_chain_opts *)blk, &c, &err), VF_OK);
    assert_int_equal(vf_chain_depth(c), 1);
    vf_chain_close(c);
    free(blk);
    vf_fs_mem_free(fs);
}

/* A caller whose headers are newer: a bigger struct, accepted while the unknown tail is zero. */
static void test_new_caller_chain_opts(void **state)
{
    (void)state;
    vf_fs *fs = one_vhd();
    size_t big = sizeof(vf_chain_opts) + 24;
    unsigned char *blk = malloc(big);
    assert_non_null(blk);
    memset(blk, 0xA5, big);
    vf_chain_opts_init_size((vf_chain_opts *)blk, big);
    for (size_t i = sizeof(vf_chain_opts); i < big; i++)
        assert_int_equal(blk[i], 0);
    const vf_fs *cfs = fs;
    memcpy(blk + offsetof(vf_chain_opts, fs), &cfs, sizeof cfs);
    vf_chain *c = NULL;
    vf_error err;
    assert_int_equal(vf_chain_open("a.vhd", (const vf_chain_opts *)blk, &c, &err), VF_OK);
    vf_chain_close(c);
    blk[big - 3] = 1;
    assert_int_equal(vf_chain_open("a.vhd", (const vf_chain_opts *)blk, &c, &err),
                     VF_E_UNSUPPORTED);
    assert_null(c);
    assert_non_null(strstr(err.msg, "vf_chain_opts"));
    free(blk);
    vf_fs_mem_free(fs);
}

/* The first published sizes are pinned: each is inside today's struct and at least holds
 * struct_size and one field. */
static void test_v1_sizes_pinned(void **state)
{
    (void)state;
    size_t v1[] = {VF_CHAIN_OPTS_V1, VF_CREATE_OPTS_V1, VF_VERIFY_OPTS_V1, VF_GEN_OPTS_V1,
                   VF_MERGE_OPTS_V1};
    size_t now[] = {sizeof(vf_chain_opts), sizeof(vf_create_opts), sizeof(vf_verify_opts),
                    sizeof(vf_gen_opts), sizeof(vf_merge_opts)};
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        assert_true(v1[i] > sizeof(size_t));
        assert_true(v1[i] <= now[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_writes_only_the_callers_bytes),
        cmocka_unit_test(test_fill_zeroes_a_newer_tail),
        cmocka_unit_test(test_adopt_older_keeps_defaults),
        cmocka_unit_test(test_adopt_newer),
        cmocka_unit_test(test_adopt_refuses_small_sizes),
        cmocka_unit_test(test_zeroed_structs_refused),
        cmocka_unit_test(test_zeroed_verify_opts_refused),
        cmocka_unit_test(test_old_caller_chain_opts),
        cmocka_unit_test(test_new_caller_chain_opts),
        cmocka_unit_test(test_v1_sizes_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
