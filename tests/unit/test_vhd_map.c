/* test_vhd_map.c - vhd/vhd.c map and vhd/bat.c at the largest VHD size: a 2040 GiB image
 * with a handful of blocks is walked with vf_image_map and the number of calls, the reads
 * and the in-memory BAT pages are counted. Each must follow the allocated blocks, not the
 * virtual size (docs/design.md "Memory is bounded", "Cost follows data"). Counts only, no times.
 * Fixtures: tests/support/vhd_build (our writer, in memory) and its counting recorder io. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image_int.h"
#include "vhd/vhd_int.h"
#include "vhd_build.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GIB (1024ull * 1024 * 1024)
#define SIZE (2040 * GIB) /* the VHD maximum */
#define BLOCK (2u << 20)
#define NBLOCKS ((uint32_t)(SIZE / BLOCK)) /* 1044480 */
#define SPB (BLOCK / 512u)

/* Dynamic image: whole blocks (a new dynamic block is all present). 0 and 1 are neighbours. */
static const uint32_t dyn_blocks[] = {0, 1, 1000, 400000, NBLOCKS - 1};

typedef struct fixtures {
    vhd_bytes dyn, diff;
} fixtures;

static void check(vf_status st, const vf_error *e, const char *what)
{
    if (st != VF_OK)
        fail_msg("%s: %s: %s", what, vf_status_name(st), e->msg);
}

static int fill_dyn(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[4096];
    memset(buf, 0x6b, sizeof buf);
    vf_error err;
    for (size_t i = 0; i < ARRAY_LEN(dyn_blocks); i++)
        if (vf_image_write(img, (uint64_t)dyn_blocks[i] * BLOCK + 8192, buf, sizeof buf, &err))
            return -1;
    return 0;
}

/* Differencing image: block 5 gets sectors 0-7 and 16-23; block 700000 its last sector. */
static int fill_diff(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[4096];
    memset(buf, 0x3c, sizeof buf);
    vf_error err;
    uint64_t b5 = 5ull * BLOCK, b7 = 700000ull * BLOCK;
    if (vf_image_write(img, b5, buf, 8 * 512, &err) ||
        vf_image_write(img, b5 + 16 * 512, buf, 8 * 512, &err) ||
        vf_image_write(img, b7 + BLOCK - 512, buf, 512, &err))
        return -1;
    return 0;
}

static int setup(void **state)
{
    fixtures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    vf_create_opts o;
    vf_error err;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, SIZE, BLOCK);
    o.creator = "win "; /* current size is authoritative, whatever the geometry says */
    if (vhd_build(&o, fill_dyn, NULL, &f->dyn, &err))
        fail_msg("dynamic: %s", err.msg);
    vf_parent_link link = {.relative = "base.vhd"};
    memset(link.id, 0x22, 16);
    vhd_build_opts(&o, VF_DISK_DIFF, SIZE, BLOCK);
    o.creator = "win ";
    o.parent = &link;
    if (vhd_build(&o, fill_diff, NULL, &f->diff, &err))
        fail_msg("differencing: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixtures *f = *state;
    vhd_build_free(&f->dyn);
    vhd_build_free(&f->diff);
    free(f);
    return 0;
}

typedef struct run {
    vf_extent_kind kind;
    uint64_t voff, len;
} run;

/* Open b through a counting recorder. */
static vf_image *open_counted(const vhd_bytes *b, unsigned flags, vhd_rec **rec)
{
    vf_io *io;
    vf_image *img;
    vf_error err;
    check(vhd_rec_new(b->data, b->len, rec, &io, &err), &err, "recorder");
    check(vf_image_open(io, "big.vhd", flags, &img, &err), &err, "open");
    return img;
}

/* Walk the whole disk asking for everything that is left; compare with want[]. */
static void walk_expect(vf_image *img, const run *want, size_t nwant, const char *what)
{
    vf_error err;
    size_t calls = 0;
    for (uint64_t voff = 0; voff < SIZE; calls++) {
        vf_extent e;
        check(vf_image_map(img, voff, SIZE - voff, &e, &err), &err, what);
        if (calls >= nwant)
            fail_msg("%s: call %zu at %llu is one more than the %zu runs expected: runs are "
                     "cut short",
                     what, calls + 1, (unsigned long long)voff, nwant);
        const run *w = &want[calls];
        if (e.voff != w->voff || e.len != w->len || e.kind != w->kind)
            fail_msg("%s: run %zu is kind %d at %llu+%llu, want kind %d at %llu+%llu", what, calls,
                     (int)e.kind, (unsigned long long)e.voff, (unsigned long long)e.len,
                     (int)w->kind, (unsigned long long)w->voff, (unsigned long long)w->len);
        voff += e.len;
    }
    assert_int_equal(calls, nwant);
}

static size_t pages_in_memory(const vf_image *img)
{
    const vf_vhd *v = img->priv;
    size_t n = 0;
    for (uint32_t p = 0; p < v->bat.npages; p++)
        n += v->bat.page[p] != NULL;
    return n;
}

#define P VF_EXTENT_PRESENT
#define A VF_EXTENT_ABSENT
#define B(n) ((uint64_t)(n)*BLOCK)

static void test_dynamic_walk(void **state)
{
    fixtures *f = *state;
    vhd_rec *rec;
    vf_image *img = open_counted(&f->dyn, 0, &rec);
    /* Open streamed the 4 MiB table in bounded reads and kept 3 of its 1020 pages. */
    assert_true(rec->read_max <= VHD_BAT_READ_CHUNK);
    assert_true(rec->read_bytes >= (uint64_t)NBLOCKS * 4);
    const vf_vhd *v = img->priv;
    assert_int_equal(v->bat.npages, (NBLOCKS + VHD_BAT_PAGE_ENTRIES - 1) / VHD_BAT_PAGE_ENTRIES);
    assert_int_equal(pages_in_memory(img), 3); /* pages 0, 390 and 1019 */
    assert_int_equal(vf_image_info_get(img)->allocated_blocks, ARRAY_LEN(dyn_blocks));

    /* Present runs end at their block (file contiguity); absent ones span the gaps. */
    const run want[] = {
        {P, B(0), BLOCK},
        {P, B(1), BLOCK},
        {A, B(2), B(1000 - 2)},
        {P, B(1000), BLOCK},
        {A, B(1001), B(400000 - 1001)},
        {P, B(400000), BLOCK},
        {A, B(400001), B(NBLOCKS - 1 - 400001)},
        {P, B(NBLOCKS - 1), BLOCK},
    };
    uint64_t before = rec->reads;
    walk_expect(img, want, ARRAY_LEN(want), "dynamic");
    /* One bitmap read per allocated block at most: nothing per unallocated block. */
    if (rec->reads - before > ARRAY_LEN(dyn_blocks))
        fail_msg("walk read %llu times for %zu blocks", (unsigned long long)(rec->reads - before),
                 ARRAY_LEN(dyn_blocks));

    /* len bounds an absent answer; a start inside a block runs to the next allocated one. */
    vf_extent e;
    vf_error err;
    check(vf_image_map(img, B(2), B(3), &e, &err), &err, "short");
    assert_int_equal(e.kind, A);
    assert_int_equal(e.len, B(3));
    check(vf_image_map(img, B(2) + 4096, SIZE, &e, &err), &err, "mid-block");
    assert_int_equal(e.kind, A);
    assert_int_equal(e.len, B(1000) - B(2) - 4096);
    check(vf_image_map(img, B(1) + 512, SIZE, &e, &err), &err, "inside a present block");
    assert_int_equal(e.kind, P);
    assert_int_equal(e.len, BLOCK - 512);
    /* The data is where the map says: the fill pattern 8 KiB into block 400000. */
    uint8_t got[4096];
    check(vf_image_read(img, B(400000) + 8192, got, sizeof got, &err), &err, "read");
    for (size_t i = 0; i < sizeof got; i++)
        if (got[i] != 0x6b)
            fail_msg("byte %zu of block 400000 is 0x%02x", i, got[i]);
    vf_image_close(img);
    vhd_rec_free(rec);
}

static void test_differencing_walk(void **state)
{
    fixtures *f = *state;
    vhd_rec *rec;
    vf_image *img = open_counted(&f->diff, 0, &rec);
    assert_int_equal(pages_in_memory(img), 2);
    const uint64_t b7 = B(700000);
    const run want[] = {
        {A, 0, B(5)},
        {P, B(5), 8 * 512},
        {A, B(5) + 8 * 512, 8 * 512},
        {P, B(5) + 16 * 512, 8 * 512},
        /* the rest of block 5, every unallocated block, and the absent head of 700000 */
        {A, B(5) + 24 * 512, b7 + BLOCK - 512 - (B(5) + 24 * 512)},
        {P, b7 + BLOCK - 512, 512},
        {A, B(700001), SIZE - B(700001)},
    };
    uint64_t before = rec->reads;
    walk_expect(img, want, ARRAY_LEN(want), "differencing");
    assert_true(rec->reads - before <= 2);
    vf_image_close(img);
    vhd_rec_free(rec);
}

/* A write into an empty page allocates that page only; the entry is published and read back
 * by a new open; the walk then has two more runs. */
static void test_write_into_empty_page(void **state)
{
    fixtures *f = *state;
    vhd_rec *rec;
    vf_image *img = open_counted(&f->dyn, VF_OPEN_RDWR, &rec);
    uint8_t buf[512];
    memset(buf, 0x99, sizeof buf);
    vf_error err;
    check(vf_image_write(img, B(800000), buf, sizeof buf, &err), &err, "write");
    assert_int_equal(pages_in_memory(img), 4);
    check(vf_image_flush(img, &err), &err, "flush");
    vf_image_close(img);
    size_t len;
    const uint8_t *data = vf_io_mem_data(rec->inner, &len);
    vhd_bytes copy = {malloc(len), len};
    assert_non_null(copy.data);
    memcpy(copy.data, data, len);
    vhd_rec_free(rec);

    img = open_counted(&copy, 0, &rec);
    assert_int_equal(pages_in_memory(img), 4);
    assert_int_equal(vf_image_info_get(img)->allocated_blocks, ARRAY_LEN(dyn_blocks) + 1);
    const run want[] = {
        {P, B(0), BLOCK},
        {P, B(1), BLOCK},
        {A, B(2), B(1000 - 2)},
        {P, B(1000), BLOCK},
        {A, B(1001), B(400000 - 1001)},
        {P, B(400000), BLOCK},
        {A, B(400001), B(800000 - 400001)},
        {P, B(800000), BLOCK},
        {A, B(800001), B(NBLOCKS - 1 - 800001)},
        {P, B(NBLOCKS - 1), BLOCK},
    };
    walk_expect(img, want, ARRAY_LEN(want), "after the write");
    uint8_t got[512];
    check(vf_image_read(img, B(800000), got, sizeof got, &err), &err, "read back");
    assert_memory_equal(got, buf, sizeof got);
    vf_report rep;
    vf_report_init(&rep);
    check(vf_image_check(img, &rep, &err), &err, "check");
    assert_int_equal(vf_report_count(&rep, VF_SEV_WARNING), 0);
    vf_report_free(&rep);
    vf_image_close(img);
    vhd_rec_free(rec);
    vhd_build_free(&copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamic_walk),
        cmocka_unit_test(test_differencing_walk),
        cmocka_unit_test(test_write_into_empty_page),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
