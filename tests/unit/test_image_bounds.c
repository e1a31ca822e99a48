/* test_image_bounds.c - the bounds of docs/bounds.md "Images and tables", each on a crafted
 * file at or near its limit: a VHD whose 'max table entries' is the largest the field holds
 * in a small file, a VHD of the largest virtual size with no block allocated, a 64 TiB VHDX
 * with none allocated, a VHDX whose BAT region claims the largest length, a metadata table and
 * a region table with the maximum entry count. Each asserts by counting work - bytes read
 * through a counting io, BAT pages held, BAT entries looked at (vx_state.bat_steps), table
 * entries compared (vf_vhdx_table_steps) - that
 * open, check and map stay within the stated bound. Counts only, never times.
 * Layer: tests (format/vhd, format/vhdx). */
#include "test_vhdx_support.h"

#include "vhd/vhd_int.h"
#include "vhd_build.h"

#define GIB (1024ull * 1024 * 1024)
/* Clash-check work for a table of 2047 entries: two sorts of n ceil(log2 n) comparisons at
 * most twice over, two sweeps, and the other (small) table of the file. */
#define TABLE_STEP_LIMIT (4ull * 2047 * 11 + 2 * 2047 + 256)
#define TIB (1024ull * GIB)

static tbuf tb_of(const uint8_t *d, size_t len)
{
    tbuf t = {malloc(len), len, len, 0, 0};
    assert_non_null(t.d);
    memcpy(t.d, d, len);
    return t;
}

/* check with no finding above INFO */
static void check_clean(vf_image *img)
{
    vf_report rep;
    vf_error err = {0};
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    for (size_t i = 0; i < rep.count; i++)
        if (rep.items[i].severity >= VF_SEV_WARNING)
            fail_msg("check: %s", rep.items[i].msg);
    vf_report_free(&rep);
}

/* --- VHD --- */

#define VHD_SIZE (2040 * GIB)
#define VHD_BLOCK (2u << 20)
#define VHD_ENTRIES ((uint32_t)(VHD_SIZE / VHD_BLOCK)) /* 1044480 */

static vhd_bytes vhd_empty(void)
{
    vf_create_opts o;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, VHD_SIZE, VHD_BLOCK);
    vhd_bytes b;
    vf_error err = {0};
    if (vhd_build(&o, NULL, NULL, &b, &err) != 0)
        fail_msg("build: %s", err.msg);
    return b;
}

static size_t vhd_pages_held(const vf_vhd_bat *t)
{
    size_t n = 0;
    for (uint32_t p = 0; p < t->npages; p++)
        n += t->page[p] != NULL;
    return n;
}

/* 2040 GiB, no block: open reads the table once (its N bytes, in 64 KiB pieces), holds no
 * page, check and a whole-disk map read nothing more. */
static void test_vhd_largest_empty(void **state)
{
    (void)state;
    vhd_bytes b = vhd_empty();
    tbuf t = tb_of(b.data, b.len);
    counted c;
    vf_image *img = NULL;
    vf_error err = {0};
    assert_int_equal(open_counted(&t, &c, "t.vhd", &img, &err), VF_OK);
    const vf_vhd *v = img->priv;
    assert_int_equal(v->entries, VHD_ENTRIES);
    print_message("vhd 2040 GiB, N = %zu: open read %llu bytes (largest %zu), %zu pages held\n",
                  b.len, (unsigned long long)c.read_bytes, c.read_max, vhd_pages_held(&v->bat));
    assert_true(c.read_bytes <= b.len + 4096);
    assert_true(c.read_max <= VHD_BAT_READ_CHUNK);
    assert_int_equal(vhd_pages_held(&v->bat), 0);
    assert_int_equal(v->bat.used, 0);
    uint64_t before = c.read_bytes;
    check_clean(img);
    vf_extent e;
    assert_int_equal(vf_image_map(img, 0, VHD_SIZE, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_ABSENT);
    assert_int_equal(e.len, VHD_SIZE);
    assert_int_equal(c.read_bytes, before);
    vf_image_close(img);
    tb_free(&t);
    vhd_build_free(&b);
}

/* 'max table entries' 0xFFFFFFFF (a 16 GiB table) in the same file: refused before anything
 * is allocated for it, after reading the footers and the header only. */
static void test_vhd_max_entries_small_file(void **state)
{
    (void)state;
    vhd_bytes b = vhd_empty();
    uint64_t ho = vhd_build_header_off(&b);
    vhd_build_put32(b.data, ho + VHD_HEADER_OFF_MAX_ENTRIES, 0xFFFFFFFFu);
    vhd_build_fix_header(b.data, ho);
    tbuf t = tb_of(b.data, b.len);
    counted c;
    vf_image *img = NULL;
    vf_error err = {0};
    vf_status st = open_counted(&t, &c, "t.vhd", &img, &err);
    print_message("vhd max entries: refused after %llu bytes read: %s\n",
                  (unsigned long long)c.read_bytes, err.msg);
    assert_true(c.read_bytes <= 4096);
    assert_int_equal(st, VF_E_TRUNCATED);
    assert_non_null(strstr(err.msg, "max table entries"));
    tb_free(&t);
    vhd_build_free(&b);
}

/* --- VHDX --- */

/* 64 TiB with 256 MiB blocks: 262144 payload and 16384 bitmap entries, a 2.2 MiB table. */
#define VX_SIZE (64 * TIB)
#define VX_BLOCK (256u * MIB)

static void vx_empty(tbuf *t)
{
    vf_image *img = t_create(t, VF_DISK_DYNAMIC, VX_SIZE, VX_BLOCK, 512, NULL);
    vf_error err = {0};
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
}

/* Open reads at most N + 1 MiB, holds no BAT page, and looks at the table's directory words
 * (one per 64 pages) a bounded number of times; check and a whole-disk map as well. */
static void test_vhdx_largest_empty(void **state)
{
    (void)state;
    tbuf t;
    vx_empty(&t);
    counted c;
    vf_image *img = NULL;
    vf_error err = {0};
    assert_int_equal(open_counted(&t, &c, "t.vhdx", &img, &err), VF_OK);
    vx_state *st = vx_st(img);
    uint64_t words = (st->bat_pages + 63) / 64;
    print_message("vhdx 64 TiB, N = %zu: %llu entries, %zu pages; open read %llu bytes "
                  "(largest %zu), %zu held, %llu steps\n",
                  t.len, (unsigned long long)st->bat_entries, st->bat_pages,
                  (unsigned long long)c.read_bytes, c.read_max, st->bat_held,
                  (unsigned long long)st->bat_steps);
    assert_int_equal(st->bat_entries, 262144u + 16383u);
    assert_true(c.read_bytes <= t.len + MIB);
    assert_true(c.read_max <= 64u * 1024u);
    assert_int_equal(st->bat_held, 0);
    assert_true(st->bat_steps <= 4 * words + 4);
    st->bat_steps = 0;
    uint64_t before = c.read_bytes;
    check_clean(img);
    vf_extent e;
    assert_int_equal(vf_image_map(img, 0, VX_SIZE, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_ABSENT);
    assert_int_equal(e.len, VX_SIZE);
    print_message("check + map: %llu steps, %llu bytes read\n", (unsigned long long)st->bat_steps,
                  (unsigned long long)(c.read_bytes - before));
    assert_true(st->bat_steps <= 4 * words + 8);
    assert_true(c.read_bytes - before <= 2u * VX_RT_SIZE + 2u * VX_HEADER_SIZE);
    vf_image_close(img);
    tb_free(&t);
}

/* Entry j of region table copy i. */
static uint8_t *rt_entry(tbuf *t, unsigned i, uint32_t j)
{
    return t->d + VX_RT_OFF(i) + 16 + 32u * j;
}

/* The BAT region's Length at its largest (4095 MiB, the largest 1 MiB multiple of a 32-bit
 * field) in a 6 MiB file: refused before the directory is allocated, after reading the
 * header area, the metadata table and its items only. */
static void test_vhdx_bat_region_max(void **state)
{
    (void)state;
    tbuf t;
    vx_empty(&t);
    uint32_t n = (uint32_t)vf_get_le(t.d + VX_RT_OFF(0) + 8, 4);
    bool found = false;
    for (unsigned i = 0; i < 2; i++)
        for (uint32_t j = 0; j < n; j++)
            if (!memcmp(rt_entry(&t, i, j), vx_guid_bat, 16)) {
                vf_put_le32(rt_entry(&t, i, j) + 24, 4095u * MIB);
                found = true;
            }
    assert_true(found);
    t_fix_rt(&t);
    counted c;
    vf_image *img = NULL;
    vf_error err = {0};
    vf_status st = open_counted(&t, &c, "t.vhdx", &img, &err);
    print_message("vhdx BAT region of 4095 MiB in %zu bytes: refused after %llu bytes read: %s\n",
                  t.len, (unsigned long long)c.read_bytes, err.msg);
    assert_true(c.read_bytes <= VX_HEADER_AREA + VX_META_TABLE_SIZE + 64u * 1024u);
    assert_int_equal(st, VF_E_TRUNCATED);
    assert_non_null(strstr(err.msg, "BAT region"));
    tb_free(&t);
}

/* A small VHDX whose metadata table holds 2047 entries (the table's 64 KiB full): the
 * existing ones and user items of length zero. Opens; the table is read once. One more entry
 * than the limit is refused. */
static void fill_metadata(tbuf *t, uint32_t want)
{
    uint8_t *mt = t->d + T_META_OFF;
    uint32_t n = (uint32_t)vf_get_le(mt + 10, 2);
    for (uint32_t i = n; i < want && 32u + 32u * i + 32u <= VX_META_TABLE_SIZE; i++) {
        uint8_t *e = mt + 32 + 32u * i;
        memset(e, 0, 32);
        e[0] = 0xA5;
        vf_put_le32(e + 4, i); /* a distinct item id */
        vf_put_le32(e + 24, VX_MD_IS_USER);
    }
    vf_put_le16(mt + 10, (uint16_t)want);
}

static void test_vhdx_metadata_max_entries(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    vf_image_close(img);
    tbuf over = tb_copy(&t);
    fill_metadata(&t, VX_META_MAX_ENTRIES);
    counted c;
    vf_error err = {0};
    img = NULL;
    vf_vhdx_table_steps = 0;
    if (open_counted(&t, &c, "t.vhdx", &img, &err) != VF_OK)
        fail_msg("open: %s", err.msg);
    print_message("metadata: %llu clash-check steps (pairwise: 2094081)\n", vf_vhdx_table_steps);
    assert_true(vf_vhdx_table_steps <= TABLE_STEP_LIMIT);
    assert_int_equal(vx_st(img)->nitems, VX_META_MAX_ENTRIES);
    print_message("vhdx metadata of 2047 entries, N = %zu: open read %llu bytes\n", t.len,
                  (unsigned long long)c.read_bytes);
    assert_true(c.read_bytes <= t.len + MIB);
    vf_image_close(img);
    /* the last entry repeating one in the middle is found, and named */
    tbuf clash = tb_copy(&t);
    memcpy(clash.d + T_META_OFF + 32 + 32u * 2046, clash.d + T_META_OFF + 32 + 32u * 1000, 16);
    assert_int_equal(open_counted(&clash, &c, "t.vhdx", &img, &err), VF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "entry 2046 repeats the item of entry 1000"));
    tb_free(&clash);
    fill_metadata(&over, VX_META_MAX_ENTRIES + 1);
    assert_int_equal(open_counted(&over, &c, "t.vhdx", &img, &err), VF_E_FORMAT);
    assert_non_null(strstr(err.msg, "the limit is 2047"));
    tb_free(&over);
    tb_free(&t);
}

/* A region table of 2047 entries: the BAT and metadata regions and 2045 optional regions of
 * 1 MiB each, disjoint, past the end of the file (a reader ignores regions it does not know).
 * Opens; one more entry than the limit is refused. */
static void fill_regions(tbuf *t, uint32_t want)
{
    for (unsigned i = 0; i < 2; i++) {
        uint32_t n = (uint32_t)vf_get_le(t->d + VX_RT_OFF(i) + 8, 4);
        for (uint32_t j = n; j < want && 16u + 32u * j + 32u <= VX_RT_SIZE; j++) {
            uint8_t *e = rt_entry(t, i, j);
            memset(e, 0, 32);
            e[0] = 0x5A;
            vf_put_le32(e + 4, j);
            vf_put_le64(e + 16, TIB + (uint64_t)j * MIB);
            vf_put_le32(e + 24, MIB);
        }
        vf_put_le32(t->d + VX_RT_OFF(i) + 8, want);
    }
    t_fix_rt(t);
}

static void test_vhdx_region_max_entries(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    vf_image_close(img);
    tbuf over = tb_copy(&t);
    fill_regions(&t, VX_RT_MAX_ENTRIES);
    counted c;
    vf_error err = {0};
    img = NULL;
    vf_vhdx_table_steps = 0;
    if (open_counted(&t, &c, "t.vhdx", &img, &err) != VF_OK)
        fail_msg("open: %s", err.msg);
    print_message("region: %llu clash-check steps (pairwise: 2094081)\n", vf_vhdx_table_steps);
    assert_true(vf_vhdx_table_steps <= TABLE_STEP_LIMIT);
    assert_int_equal(vx_st(img)->nregions, VX_RT_MAX_ENTRIES);
    print_message("vhdx region table of 2047 entries, N = %zu: open read %llu bytes\n", t.len,
                  (unsigned long long)c.read_bytes);
    assert_true(c.read_bytes <= t.len + MIB);
    vf_image_close(img);
    /* the last entry overlapping one in the middle is found, and named */
    tbuf clash = tb_copy(&t);
    for (unsigned i = 0; i < 2; i++)
        vf_put_le64(rt_entry(&clash, i, 2046) + 16, TIB + 1000ull * MIB);
    t_fix_rt(&clash);
    assert_int_equal(open_counted(&clash, &c, "t.vhdx", &img, &err), VF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "entry 2046 overlaps entry 1000"));
    tb_free(&clash);
    fill_regions(&over, VX_RT_MAX_ENTRIES + 1);
    assert_int_equal(open_counted(&over, &c, "t.vhdx", &img, &err), VF_E_FORMAT);
    assert_non_null(strstr(err.msg, "the limit is 2047"));
    tb_free(&over);
    tb_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vhd_largest_empty),
        cmocka_unit_test(test_vhd_max_entries_small_file),
        cmocka_unit_test(test_vhdx_largest_empty),
        cmocka_unit_test(test_vhdx_bat_region_max),
        cmocka_unit_test(test_vhdx_metadata_max_entries),
        cmocka_unit_test(test_vhdx_region_max_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
