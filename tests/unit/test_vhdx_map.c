/* test_vhdx_map.c - vhdx/bat.c and map at 1 TiB with 1 MiB blocks (a million BAT entries):
 * a differencing image with a handful of blocks is opened through a counting in-memory io and
 * walked with vf_image_map. The reads of the open, the BAT pages held in memory and the BAT
 * entries looked at one by one (vx_state.bat_steps) must follow the allocated blocks, not the
 * virtual size (docs/design.md "Cost follows data"). Counts only, no times. */
#include "test_vhdx_support.h"

#define TIB (1024ull * 1024 * 1024 * 1024)
#define SIZE TIB
#define BLOCK MIB
#define NBLOCKS (SIZE / BLOCK) /* 1048576 */
#define B(n) ((uint64_t)(n)*BLOCK)
#define P VF_EXTENT_PRESENT
#define A VF_EXTENT_ABSENT
#define Z VF_EXTENT_ZERO

/* Entries looked at one by one by a whole walk: a few pages' worth, where one step per block
 * would be a million. */
#define WALK_STEP_LIMIT (16u * VX_BAT_PER_PAGE)

/* Open t through the counting io (test_vhdx_support.h); a failure fails the test. */
static vf_image *open_counted_ok(tbuf *t, counted *c)
{
    vf_error err = {0};
    vf_image *img = NULL;
    if (open_counted(t, c, "t.vhdx", &img, &err) != VF_OK)
        fail_msg("open: %s", err.msg);
    return img;
}

static void t_put(vf_image *img, uint64_t voff, size_t len)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    t_fill(b, len, voff, 5);
    vf_error err = {0};
    if (vf_image_write(img, voff, b, len, &err) != VF_OK)
        fail_msg("write %llu+%zu: %s", (unsigned long long)voff, len, err.msg);
    free(b);
}

/* A 1 TiB child: sectors 1-2 of block 0 (partial), block 5000 whole, block 700000 ZERO, the
 * last sector of the disk (partial). Pages held: 0, 8 (chunk 0's bitmap entry), 9, 1367, 2048. */
static void build_child(tbuf *t)
{
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memset(l.id, 0x5a, 16);
    l.relative = "base.vhdx";
    vf_image *img = t_create(t, VF_DISK_DIFF, SIZE, BLOCK, 512, &l);
    vf_error err = {0};
    t_put(img, 512, 1024);
    t_put(img, B(5000), BLOCK);
    assert_int_equal(vf_image_write_zeroes(img, B(700000), BLOCK, &err), VF_OK);
    t_put(img, SIZE - 512, 512);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
}

typedef struct run {
    vf_extent_kind kind;
    uint64_t voff, len;
} run;

static void walk_expect(vf_image *img, const run *want, size_t nwant)
{
    vf_error err = {0};
    size_t calls = 0;
    for (uint64_t voff = 0; voff < SIZE; calls++) {
        vf_extent e;
        if (vf_image_map(img, voff, SIZE - voff, &e, &err) != VF_OK)
            fail_msg("map %llu: %s", (unsigned long long)voff, err.msg);
        if (calls >= nwant)
            fail_msg("run %zu at %llu is one more than the %zu expected", calls + 1,
                     (unsigned long long)voff, nwant);
        const run *w = &want[calls];
        if (e.voff != w->voff || e.len != w->len || e.kind != w->kind)
            fail_msg("run %zu is kind %d at %llu+%llu, want kind %d at %llu+%llu", calls,
                     (int)e.kind, (unsigned long long)e.voff, (unsigned long long)e.len,
                     (int)w->kind, (unsigned long long)w->voff, (unsigned long long)w->len);
        voff += e.len;
    }
    assert_int_equal(calls, nwant);
}

static void test_sparse_open_and_walk(void **state)
{
    (void)state;
    tbuf t;
    build_child(&t);
    counted c;
    vf_image *img = open_counted_ok(&t, &c);
    vx_state *st = vx_st(img);
    /* The 8 MiB table was read in bounded chunks and 5 of its 2049 pages are held. */
    assert_int_equal(st->bat_entries, 256u * 4097u);
    assert_int_equal(st->bat_pages, 2049);
    assert_int_equal(st->bat_held, 5);
    assert_true(c.read_bytes >= st->bat_entries * 8);
    if (c.read_max > MIB)
        fail_msg("open read %zu bytes at once: the BAT must be read in bounded chunks", c.read_max);
    assert_int_equal(vf_image_info_get(img)->allocated_blocks, 3);
    /* Validation and the allocation count visited held pages only. */
    if (st->bat_steps > 4u * 5u * VX_BAT_PER_PAGE + 4u * (2049 + 63) / 64)
        fail_msg("open looked at %llu BAT entries one by one", (unsigned long long)st->bat_steps);

    const run want[] = {
        {A, 0, 512},
        {P, 512, 1024},
        {A, 1536, B(5000) - 1536},
        {P, B(5000), BLOCK},
        {A, B(5001), B(700000) - B(5001)},
        {Z, B(700000), BLOCK},
        {A, B(700001), SIZE - 512 - B(700001)},
        {P, SIZE - 512, 512},
    };
    st->bat_steps = 0;
    uint64_t reads = c.read_bytes;
    walk_expect(img, want, ARRAY_LEN(want));
    if (st->bat_steps > WALK_STEP_LIMIT)
        fail_msg("the walk looked at %llu BAT entries one by one (limit %u): map steps per "
                 "block through absent stretches",
                 (unsigned long long)st->bat_steps, WALK_STEP_LIMIT);
    /* Two sector bitmaps (block 0 and the last block), 1 MiB each at most. */
    assert_true(c.read_bytes - reads <= 2u * MIB);

    /* A short answer inside a long absent run, and a start inside an absent block. */
    vf_extent e;
    vf_error err = {0};
    assert_int_equal(vf_image_map(img, B(6000), B(3), &e, &err), VF_OK);
    assert_int_equal(e.kind, A);
    assert_int_equal(e.len, B(3));
    assert_int_equal(vf_image_map(img, B(6000) + 4096, SIZE, &e, &err), VF_OK);
    assert_int_equal(e.kind, A);
    assert_int_equal(e.len, B(700000) - B(6000) - 4096);
    vf_image_close(img);
    tb_free(&t);
}

/* A write into a page that holds nothing allocates that page only; the entry is published
 * through the log and a new open sees it. Growing adds slots that hold no page. */
static void test_write_into_empty_page(void **state)
{
    (void)state;
    tbuf t;
    build_child(&t);
    vf_image *img = NULL;
    vf_error err = {0};
    assert_int_equal(tb_open(&t, VF_OPEN_RDWR, &img, &err), VF_OK);
    assert_int_equal(vx_st(img)->bat_held, 5);
    t_put(img, B(300000), BLOCK);
    assert_int_equal(vx_st(img)->bat_held, 6);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    counted c;
    img = open_counted_ok(&t, &c);
    assert_int_equal(vx_st(img)->bat_held, 6);
    assert_int_equal(vf_image_info_get(img)->allocated_blocks, 4);
    vf_extent e;
    assert_int_equal(vf_image_map(img, B(5001), SIZE, &e, &err), VF_OK);
    assert_int_equal(e.kind, A);
    assert_int_equal(e.len, B(300000) - B(5001));
    assert_int_equal(vf_image_map(img, B(300000), SIZE, &e, &err), VF_OK);
    assert_int_equal(e.kind, P);
    assert_int_equal(e.len, BLOCK);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    for (size_t i = 0; i < rep.count; i++)
        print_message("check: %s\n", rep.items[i].msg);
    assert_int_equal(vf_report_count(&rep, VF_SEV_WARNING), 0);
    vf_report_free(&rep);
    vf_image_close(img);
    tb_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse_open_and_walk),
        cmocka_unit_test(test_write_into_empty_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
