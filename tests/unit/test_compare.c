/* test_compare.c - unit tests of vf_compare (verify/compare.c): identical chain and raw copy,
 * a single flipped byte found at its exact offset, differing block counts, different sizes,
 * sparse chains compared without reading their absent regions, and the same answer from every
 * thread count on POSIX files (pieces read outside the lock). Layer: tests (unit). */
#include <pthread.h>
#include <stdio.h>

#include "test_digest_build.h"

#define CMP_SIZE (9 * TD_MIB + 512)

typedef struct cmp_fixture {
    vf_fs *fs;
    uint8_t *model;
} cmp_fixture;

/* base.vhd with data in blocks 0 and 3; top_a.vhd and top_b.vhd both above it, equal except
 * that top_b flips one byte at flip_off (when flip_off is not VF_OFF_NONE). */
static void cmp_build(cmp_fixture *f, uint64_t flip_off)
{
    vf_error err;
    td_check(vf_fs_mem_new(&f->fs, &err), &err, "vf_fs_mem_new");
    f->model = calloc(1, CMP_SIZE);
    assert_non_null(f->model);
    vf_image *base = td_create(f->fs, "base.vhd", CMP_SIZE, NULL);
    td_write(base, f->model, 0, 512 * 1024, 1);
    td_write(base, f->model, 6 * TD_MIB, TD_MIB, 2);
    td_close(base);
    const char *tops[2] = {"top_a.vhd", "top_b.vhd"};
    for (int i = 0; i < 2; i++) {
        vf_image *top = td_create(f->fs, tops[i], CMP_SIZE, "base.vhd");
        td_write(top, i == 0 ? f->model : NULL, 4096, 8192, 3);
        if (i == 1 && flip_off != VF_OFF_NONE) {
            uint64_t sec = flip_off & ~511ull;
            uint8_t buf[512];
            memcpy(buf, f->model + sec, 512);
            buf[flip_off - sec] ^= 0x01;
            td_check(vf_image_write(top, sec, buf, 512, &err), &err, "flip");
        }
        td_close(top);
    }
}

static void cmp_free(cmp_fixture *f)
{
    vf_fs_mem_free(f->fs);
    free(f->model);
}

static vf_compare_result cmp_run(vf_source *a, vf_source *b)
{
    vf_error err;
    vf_compare_result res;
    td_check(vf_compare(a, b, NULL, &res, &err), &err, "vf_compare");
    return res;
}

static void test_identical_chain_and_raw(void **state)
{
    (void)state;
    cmp_fixture f;
    cmp_build(&f, VF_OFF_NONE);
    vf_source *a = td_open_chain(f.fs, "top_a.vhd");
    vf_source *b = td_open_chain(f.fs, "top_b.vhd");
    vf_source *raw = td_open_raw(f.model, CMP_SIZE, "model.raw");
    vf_compare_result r = cmp_run(a, b);
    assert_true(r.identical);
    assert_int_equal(r.first_diff, VF_OFF_NONE);
    assert_int_equal(r.diff_blocks, 0);
    /* Only blocks 0 and 3 hold data on either side; the rest is skipped unread. */
    assert_true(r.read_bytes <= 2 * 2 * 2 * TD_MIB);
    r = cmp_run(a, raw);
    assert_true(r.identical);
    assert_int_equal(r.size_a, CMP_SIZE);
    assert_int_equal(r.size_b, CMP_SIZE);
    vf_source_free(a);
    vf_source_free(b);
    vf_source_free(raw);
    cmp_free(&f);
}

static void test_single_flipped_byte(void **state)
{
    (void)state;
    /* In a block only top_b touches, one in base data, one in the top's own sectors. */
    static const uint64_t offs[] = {7 * TD_MIB + 12345, 6 * TD_MIB + 77, 4096 + 5000, CMP_SIZE - 1,
                                    0};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        cmp_fixture f;
        cmp_build(&f, offs[i]);
        vf_source *a = td_open_chain(f.fs, "top_a.vhd");
        vf_source *b = td_open_chain(f.fs, "top_b.vhd");
        vf_compare_result r = cmp_run(a, b);
        if (r.identical || r.first_diff != offs[i] || r.diff_blocks != 1)
            fail_msg("flip at %llu: identical %d, first_diff %llu, blocks %llu",
                     (unsigned long long)offs[i], r.identical, (unsigned long long)r.first_diff,
                     (unsigned long long)r.diff_blocks);
        /* And against the raw model, both ways round. */
        vf_source *raw = td_open_raw(f.model, CMP_SIZE, "model.raw");
        r = cmp_run(raw, b);
        assert_false(r.identical);
        assert_int_equal(r.first_diff, offs[i]);
        assert_int_equal(r.diff_blocks, 1);
        vf_source_free(a);
        vf_source_free(b);
        vf_source_free(raw);
        cmp_free(&f);
    }
}

static void test_raw_block_counts(void **state)
{
    (void)state;
    size_t size = 10 * TD_MIB;
    uint8_t *x = calloc(1, size), *y = calloc(1, size);
    assert_non_null(x);
    assert_non_null(y);
    td_pattern(x, size, 0, 3);
    memcpy(y, x, size);
    y[3 * TD_MIB] ^= 1;        /* block 1 */
    y[3 * TD_MIB + 100] ^= 1;  /* block 1 again */
    y[8 * TD_MIB + 1] ^= 0x80; /* block 4 */
    y[2 * TD_MIB - 1] ^= 0x40; /* block 0, last byte: the first difference */
    vf_source *a = td_open_raw(x, size, "x.raw");
    vf_source *b = td_open_raw(y, size, "y.raw");
    vf_compare_result r = cmp_run(a, b);
    assert_false(r.identical);
    assert_int_equal(r.first_diff, 2 * TD_MIB - 1);
    assert_int_equal(r.diff_blocks, 3);
    vf_source_free(a);
    vf_source_free(b);
    free(x);
    free(y);
}

static void test_sizes_differ(void **state)
{
    (void)state;
    size_t size = 5 * TD_MIB;
    uint8_t *x = calloc(1, size);
    assert_non_null(x);
    td_pattern(x, size, 0, 4);
    /* Same bytes, b shorter by 1.5 MiB: the difference starts where b ends. */
    vf_source *a = td_open_raw(x, size, "x.raw");
    vf_source *b = td_open_raw(x, size - 3 * 512 * 1024, "short.raw");
    vf_compare_result r = cmp_run(a, b);
    assert_false(r.identical);
    assert_int_equal(r.first_diff, size - 3 * 512 * 1024);
    /* b ends inside block 1 (3.5 MiB); blocks 1 and 2 of a have bytes b lacks. */
    assert_int_equal(r.diff_blocks, 2);
    vf_source_free(b);
    /* A difference inside the common part's last block is counted once. */
    uint8_t *y = malloc(size);
    assert_non_null(y);
    memcpy(y, x, size);
    y[3 * TD_MIB] ^= 1;
    b = td_open_raw(y, size - 3 * 512 * 1024, "short.raw");
    r = cmp_run(a, b);
    assert_int_equal(r.first_diff, 3 * TD_MIB);
    assert_int_equal(r.diff_blocks, 2);
    vf_source_free(a);
    vf_source_free(b);
    free(x);
    free(y);
}

/* 64 GiB chains with a few MiB of data: compared fast, reading only the data. */
static void test_sparse_chains_skip_absent(void **state)
{
    (void)state;
    uint64_t size = 64 * 1024 * TD_MIB;
    vf_error err;
    vf_fs *mem;
    td_check(vf_fs_mem_new(&mem, &err), &err, "vf_fs_mem_new");
    vf_image *x = td_create(mem, "x.vhd", size, NULL);
    vf_image *y = td_create(mem, "y.vhd", size, NULL);
    td_write(x, NULL, 40 * 1024 * TD_MIB, TD_MIB, 5);
    td_write(y, NULL, 40 * 1024 * TD_MIB, TD_MIB, 5);
    td_write(y, NULL, size - 512, 512, 6);
    td_close(x);
    td_close(y);
    td_count_fs cfs;
    td_count_fs_init(&cfs, mem);
    vf_source *a = td_open_chain(&cfs.fs, "x.vhd");
    vf_source *b = td_open_chain(&cfs.fs, "y.vhd");
    uint64_t opened = cfs.read_bytes;
    vf_compare_result r = cmp_run(a, b);
    assert_false(r.identical);
    assert_int_equal(r.diff_blocks, 1);
    uint8_t last[512];
    td_pattern(last, 512, size - 512, 6);
    uint64_t first_nonzero = 0;
    while (last[first_nonzero] == 0)
        first_nonzero++;
    assert_int_equal(r.first_diff, size - 512 + first_nonzero);
    assert_true(cfs.read_bytes - opened <= 8 * TD_MIB);
    vf_source_free(a);
    vf_source_free(b);
    vf_fs_mem_free(mem);
}

/* Progress as the threaded comparison reports it: on the calling thread, never backwards. */
typedef struct cmp_progress {
    pthread_t caller;
    uint64_t last;
    bool off_thread, backwards;
} cmp_progress;

static void cmp_progress_fn(void *ctx, uint64_t done, uint64_t total)
{
    cmp_progress *p = ctx;
    (void)total;
    p->off_thread |= !pthread_equal(pthread_self(), p->caller);
    p->backwards |= done < p->last;
    p->last = done;
}

/* base.vhd (blocks 0-7 whole, part of 9) under top.vhd (sectors of block 1, block 3 whole),
 * compared with model.raw, the flattened disk with bytes changed in blocks 2, 5 (twice) and
 * 11 (absent in the chain): every thread count finds the same first difference, 3 blocks and
 * the same bytes read, and progress stays on the calling thread; the chain equals a second
 * open of itself, and the raw file equals itself when one source is both sides. */
static void test_threads_on_files(void **state)
{
    (void)state;
    const uint64_t size = 24 * TD_MIB + 512, B = 2 * TD_MIB;
    char tmpl[512], here[4096];
    char *d = td_enter(tmpl, sizeof tmpl, "vf_test_compare_", here, sizeof here);
    const vf_fs *fs = vf_fs_posix();
    uint8_t *model = calloc(1, size);
    assert_non_null(model);
    vf_image *base = td_create(fs, "base.vhd", size, NULL);
    for (unsigned b = 0; b < 8; b++)
        td_write(base, model, b * B, B, (uint8_t)(30 + b));
    td_write(base, model, 9 * B + 4096, 65536, 40);
    td_close(base);
    vf_image *top = td_create(fs, "top.vhd", size, "base.vhd");
    td_write(top, model, B + 1024, 8192, 41);
    td_write(top, model, 3 * B, B, 42);
    td_close(top);
    const uint64_t flips[] = {5 * B + TD_MIB + 3, 2 * B + 777, 5 * B + 9, 11 * B + 5000};
    for (size_t i = 0; i < 4; i++)
        model[flips[i]] ^= 0x5a;
    FILE *raw = fopen("model.raw", "wb");
    assert_non_null(raw);
    assert_int_equal(fwrite(model, 1, size, raw), size);
    assert_int_equal(fclose(raw), 0);
    uint64_t read0 = 0;
    for (unsigned threads = 1; threads <= 5; threads++) {
        vf_source *a = td_open_chain(fs, "top.vhd");
        vf_error err;
        vf_io *io;
        td_check(vf_fs_open(fs, "model.raw", VF_IO_RDONLY, &io, &err), &err, "model.raw");
        vf_source *b;
        td_check(vf_source_from_io(io, &b, &err), &err, "vf_source_from_io");
        vf_verify_opts o;
        vf_verify_opts_init(&o);
        o.threads = threads;
        cmp_progress p = {.caller = pthread_self()};
        o.progress = cmp_progress_fn;
        o.progress_ctx = &p;
        vf_compare_result r;
        td_check(vf_compare(a, b, &o, &r, &err), &err, "vf_compare");
        assert_false(r.identical);
        assert_int_equal(r.first_diff, 2 * B + 777);
        assert_int_equal(r.diff_blocks, 3);
        if (threads == 1)
            read0 = r.read_bytes;
        assert_int_equal(r.read_bytes, read0);
        assert_false(p.off_thread);
        assert_false(p.backwards);
        assert_int_equal(p.last, size);
        vf_source *a2 = td_open_chain(fs, "top.vhd");
        td_check(vf_compare(a, a2, &o, &r, &err), &err, "vf_compare");
        assert_true(r.identical);
        td_check(vf_compare(b, b, &o, &r, &err), &err, "vf_compare b b"); /* one source twice */
        assert_true(r.identical);
        assert_int_equal(r.read_bytes, 2 * size);
        vf_source_free(a);
        vf_source_free(a2);
        vf_source_free(b);
    }
    free(model);
    assert_int_equal(unlink("model.raw"), 0);
    assert_int_equal(unlink("top.vhd"), 0);
    assert_int_equal(unlink("base.vhd"), 0);
    td_leave(here, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_chain_and_raw),
        cmocka_unit_test(test_single_flipped_byte),
        cmocka_unit_test(test_raw_block_counts),
        cmocka_unit_test(test_sizes_differ),
        cmocka_unit_test(test_sparse_chains_skip_absent),
        cmocka_unit_test(test_threads_on_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
