/* test_vhd_structs.c - vhd/header.c, vhd/bat.c and vhd/bitmap.c: dynamic header round trip
 * and field checks, locator space rule, BAT encode/decode and validation table, MSB-first
 * bitmap access, runs and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "endian.h"
#include "vhd/vhd_int.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static vf_vhd_header sample(void)
{
    vf_vhd_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.cookie, "cxsparse", 8);
    h.data_offset = UINT64_MAX;
    h.table_offset = 1536;
    h.version = 0x00010000;
    h.max_table_entries = 5;
    h.block_size = 2u << 20;
    memset(h.parent_id, 0xab, 16);
    h.parent_timestamp = 99;
    h.parent_name[1] = 'p';
    h.loc[0] = (vf_vhd_ploc){VHD_PLAT_W2KU, 512, 40, 0, 2048};
    h.loc[7] = (vf_vhd_ploc){VHD_PLAT_W2RU, 1024, 30, 0, 2560};
    return h;
}

static void test_header_round_trip(void **state)
{
    (void)state;
    vf_vhd_header h = sample(), g;
    uint8_t raw[1024], again[1024];
    vf_vhd_header_encode(&h, raw);
    vf_error err;
    assert_int_equal(vf_vhd_header_parse(raw, &g, false, &err), VF_OK);
    assert_memory_equal(&h, &g, sizeof h);
    vf_vhd_header_encode(&g, again);
    assert_memory_equal(raw, again, 1024);
    assert_int_equal(raw[576 + 7 * 24 + 3], 0x75); /* 'u' of W2ru in the last slot */
}

static void test_header_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t block;
        bool bad_cookie, bad_sum;
        vf_status want;
        const char *field;
    } cases[] = {
        {"good", 2u << 20, false, false, VF_OK, NULL},
        {"block 512", 512, false, false, VF_OK, NULL},
        {"block 0", 0, false, false, VF_E_FORMAT, "'block size'"},
        {"block 511", 511, false, false, VF_E_FORMAT, "'block size'"},
        {"block 3 MiB", 3u << 20, false, false, VF_E_FORMAT, "'block size'"},
        {"cookie", 2u << 20, true, false, VF_E_FORMAT, "'cookie'"},
        {"checksum", 2u << 20, false, true, VF_E_FORMAT, "'checksum'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        vf_vhd_header h = sample(), g;
        h.block_size = cases[i].block;
        if (cases[i].bad_cookie)
            h.cookie[0] = 'X';
        uint8_t raw[1024];
        vf_vhd_header_encode(&h, raw);
        if (cases[i].bad_sum)
            raw[1000] ^= 4;
        vf_error err = {0};
        vf_status st = vf_vhd_header_parse(raw, &g, false, &err);
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].name, vf_status_name(st), err.msg);
        if (cases[i].field && !strstr(err.msg, cases[i].field))
            fail_msg("%s: '%s' lacks %s", cases[i].name, err.msg, cases[i].field);
    }
}

static void test_space_rule(void **state)
{
    (void)state;
    vf_vhd_ploc l = {0};
    l.space = 1; /* sectors, the spec's unit */
    assert_int_equal(vf_vhd_ploc_space_bytes(&l), 512);
    l.space = 511;
    assert_int_equal(vf_vhd_ploc_space_bytes(&l), 511 * 512);
    l.space = 512; /* bytes, what producers write */
    assert_int_equal(vf_vhd_ploc_space_bytes(&l), 512);
    l.space = 1024;
    assert_int_equal(vf_vhd_ploc_space_bytes(&l), 1024);
}

static void test_bat_codec(void **state)
{
    (void)state;
    assert_int_equal(vf_vhd_bat_bytes(0), 0);
    assert_int_equal(vf_vhd_bat_bytes(1), 512);
    assert_int_equal(vf_vhd_bat_bytes(128), 512);
    assert_int_equal(vf_vhd_bat_bytes(129), 1024);
    uint32_t want[130];
    vf_vhd_bat bat, back;
    assert_int_equal(vf_vhd_bat_init(&bat, 130, NULL), VF_OK);
    for (uint32_t i = 0; i < 130; i++) {
        want[i] = i % 3 ? 0x01020304u + i : VHD_BAT_UNUSED;
        assert_int_equal(vf_vhd_bat_prepare(&bat, i, NULL), VF_OK);
        vf_vhd_bat_set(&bat, i, want[i]);
    }
    assert_int_equal(bat.used, 86);
    uint8_t raw[1024];
    vf_vhd_bat_encode_sector(&bat, 0, raw);
    vf_vhd_bat_encode_sector(&bat, 1, raw + 512);
    assert_int_equal(raw[4], 0x01);
    assert_int_equal(raw[7], 0x05);
    assert_int_equal(raw[512 + 8], 0xFF); /* padding after entry 129 */
    assert_int_equal(raw[1023], 0xFF);
    assert_int_equal(vf_vhd_bat_init(&back, 130, NULL), VF_OK);
    assert_int_equal(vf_vhd_bat_decode(&back, raw, 0, 130, NULL, NULL), VF_OK);
    for (uint32_t i = 0; i < 130; i++)
        assert_int_equal(vf_vhd_bat_get(&back, i), want[i]);
    assert_int_equal(back.used, 86);
    assert_int_equal(vf_vhd_bat_get(&back, 130), VHD_BAT_UNUSED); /* past the end */
    vf_vhd_bat_free(&bat);
    vf_vhd_bat_free(&back);
}

/* Pages exist only where an entry is allocated; the scan skips the rest. */
static void test_bat_sparse(void **state)
{
    (void)state;
    const uint32_t entries = 5 * VHD_BAT_PAGE_ENTRIES + 7; /* six pages, the last partial */
    vf_vhd_bat t;
    assert_int_equal(vf_vhd_bat_init(&t, entries, NULL), VF_OK);
    assert_int_equal(t.npages, 6);
    assert_int_equal(vf_vhd_bat_next(&t, 0, entries), entries);
    const uint32_t at[] = {3, 2 * VHD_BAT_PAGE_ENTRIES + 1023, entries - 1};
    for (size_t i = 0; i < ARRAY_LEN(at); i++) {
        assert_int_equal(vf_vhd_bat_prepare(&t, at[i], NULL), VF_OK);
        vf_vhd_bat_set(&t, at[i], 100 + (uint32_t)i);
    }
    size_t pages = 0;
    for (uint32_t p = 0; p < t.npages; p++)
        pages += t.page[p] != NULL;
    assert_int_equal(pages, 3); /* pages 0, 2 and 5 */
    assert_int_equal(t.used, 3);
    assert_int_equal(vf_vhd_bat_next(&t, 0, entries), 3);
    assert_int_equal(vf_vhd_bat_next(&t, 4, entries), at[1]);
    assert_int_equal(vf_vhd_bat_next(&t, at[1], entries), at[1]);
    assert_int_equal(vf_vhd_bat_next(&t, at[1] + 1, entries), entries - 1);
    assert_int_equal(vf_vhd_bat_next(&t, 4, 100), 100); /* end bounds the answer */
    assert_int_equal(vf_vhd_bat_next(&t, entries, entries), entries);
    assert_int_equal(vf_vhd_bat_next(&t, 0, UINT32_MAX), 3);
    assert_int_equal(vf_vhd_bat_get(&t, 4 * VHD_BAT_PAGE_ENTRIES), VHD_BAT_UNUSED); /* NULL page */
    vf_vhd_bat_set(&t, 3, VHD_BAT_UNUSED);
    assert_int_equal(t.used, 2);
    vf_vhd_bat_set(&t, 4 * VHD_BAT_PAGE_ENTRIES, VHD_BAT_UNUSED); /* no page: a no-op */
    assert_int_equal(t.used, 2);
    vf_error err = {0};
    assert_int_equal(vf_vhd_bat_prepare(&t, entries, &err), VF_E_INVAL);
    /* Decoding an all-unused stretch allocates nothing. */
    uint8_t ff[4 * VHD_BAT_PAGE_ENTRIES];
    memset(ff, 0xFF, sizeof ff);
    assert_int_equal(
        vf_vhd_bat_decode(&t, ff, 3 * VHD_BAT_PAGE_ENTRIES, VHD_BAT_PAGE_ENTRIES, NULL, NULL),
        VF_OK);
    assert_null(t.page[3]);
    assert_int_equal(vf_vhd_bat_decode(&t, ff, entries - 2, 3, NULL, &err), VF_E_INVAL);
    vf_vhd_bat_free(&t);
    vf_vhd_bat_free(&t); /* a freed (zeroed) table may be freed again */
}

static void test_bat_validate(void **state)
{
    (void)state;
    const uint64_t blk = 512 + 4096; /* bitmap + 4 KiB block */
    const vf_vhd_range meta[] = {
        {0, 512, "footer copy"},
        {512, 1024, "dynamic header"},
        {1536, 512, "block allocation table"},
        {2048, 512, "parent locator data"},
    };
    static const struct {
        const char *name;
        uint32_t e[3];
        vf_status want;
        const char *words;
    } cases[] = {
        {"all unused", {VHD_BAT_UNUSED, VHD_BAT_UNUSED, VHD_BAT_UNUSED}, VF_OK, NULL},
        {"packed", {5, 14, 23}, VF_OK, NULL},
        {"reverse order", {23, 14, 5}, VF_OK, NULL},
        {"touching the end", {5, 14, 32 - 9 + 9}, VF_E_TRUNCATED, "'entry 2'"},
        {"past the end", {5, 0xFFFFFFF0u, VHD_BAT_UNUSED}, VF_E_TRUNCATED, "'entry 1'"},
        {"into the BAT", {3, VHD_BAT_UNUSED, VHD_BAT_UNUSED}, VF_E_CORRUPT, "allocation table"},
        {"into a locator", {4, VHD_BAT_UNUSED, VHD_BAT_UNUSED}, VF_E_CORRUPT, "locator"},
        {"into the footer copy", {0, VHD_BAT_UNUSED, VHD_BAT_UNUSED}, VF_E_CORRUPT, "footer copy"},
        {"same block twice", {5, 5, VHD_BAT_UNUSED}, VF_E_CORRUPT, "overlaps 'entry 0'"},
        {"partial overlap", {14, 6, VHD_BAT_UNUSED}, VF_E_CORRUPT, "'entry 0'"},
    };
    const uint64_t limit = 32 * 512; /* end of data: blocks at 5, 14, 23 fit exactly */
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        vf_error err = {0};
        vf_vhd_space sp = {blk, meta, ARRAY_LEN(meta), limit};
        vf_vhd_bat t;
        assert_int_equal(vf_vhd_bat_init(&t, 3, NULL), VF_OK);
        for (uint32_t j = 0; j < 3; j++) {
            assert_int_equal(vf_vhd_bat_prepare(&t, j, NULL), VF_OK);
            vf_vhd_bat_set(&t, j, cases[i].e[j]);
        }
        vf_status st = vf_vhd_bat_validate(&t, &sp, &err);
        /* The streaming decode checks each entry alone: it agrees on every case whose fault
         * is in one entry (overlaps between two blocks are validate's job). */
        uint8_t raw[12];
        for (uint32_t j = 0; j < 3; j++)
            vf_put_be32(raw + j * 4, cases[i].e[j]);
        vf_vhd_bat d;
        vf_error derr = {0};
        assert_int_equal(vf_vhd_bat_init(&d, 3, NULL), VF_OK);
        vf_status dst = vf_vhd_bat_decode(&d, raw, 0, 3, &sp, &derr);
        if (dst != (st == VF_E_CORRUPT && strstr(err.msg, "overlaps 'entry") ? VF_OK : st))
            fail_msg("%s: decode got %s (%s)", cases[i].name, vf_status_name(dst), derr.msg);
        vf_vhd_bat_free(&d);
        vf_vhd_bat_free(&t);
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].name, vf_status_name(st), err.msg);
        if (cases[i].words && !strstr(err.msg, cases[i].words))
            fail_msg("%s: '%s' lacks %s", cases[i].name, err.msg, cases[i].words);
    }
}

static void test_bitmap(void **state)
{
    (void)state;
    assert_int_equal(vf_vhd_bitmap_bytes(2u << 20), 512);
    assert_int_equal(vf_vhd_bitmap_bytes(512u << 10), 512); /* 128 bytes, padded */
    assert_int_equal(vf_vhd_bitmap_bytes(4u << 20), 1024);
    assert_int_equal(vf_vhd_bitmap_bytes(512), 512);
    uint8_t bm[512] = {0};
    vf_vhd_bitmap_set(bm, 0, 1);
    assert_int_equal(bm[0], 0x80); /* MSB first */
    vf_vhd_bitmap_set(bm, 7, 1);
    assert_int_equal(bm[0], 0x81);
    vf_vhd_bitmap_set(bm, 13, 20); /* 13..32 */
    assert_int_equal(bm[1], 0x07);
    assert_int_equal(bm[2], 0xFF);
    assert_int_equal(bm[3], 0xFF);
    assert_int_equal(bm[4], 0x80);
    assert_true(vf_vhd_bitmap_get(bm, 13));
    assert_false(vf_vhd_bitmap_get(bm, 12));
    bool bit;
    assert_int_equal(vf_vhd_bitmap_run(bm, 0, 4096, &bit), 1);
    assert_true(bit);
    assert_int_equal(vf_vhd_bitmap_run(bm, 1, 4096, &bit), 6);
    assert_false(bit);
    assert_int_equal(vf_vhd_bitmap_run(bm, 13, 4096, &bit), 20);
    assert_true(bit);
    assert_int_equal(vf_vhd_bitmap_run(bm, 33, 4096, &bit), 4096 - 33);
    assert_false(bit);
    assert_int_equal(vf_vhd_bitmap_run(bm, 14, 20, &bit), 6); /* clipped at end */
    /* Padding: 1024 sectors use 128 bytes of the 512. */
    assert_false(vf_vhd_bitmap_padding_dirty(bm, 1024, 512));
    bm[200] = 1;
    assert_true(vf_vhd_bitmap_padding_dirty(bm, 1024, 512));
    uint8_t odd[512] = {0};
    odd[0] = 0x01; /* sector 7 of a 4-sector block: a padding bit */
    assert_true(vf_vhd_bitmap_padding_dirty(odd, 4, 512));
    odd[0] = 0xF0;
    assert_false(vf_vhd_bitmap_padding_dirty(odd, 4, 512));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_header_rejects),
        cmocka_unit_test(test_space_rule),
        cmocka_unit_test(test_bat_codec),
        cmocka_unit_test(test_bat_validate),
        cmocka_unit_test(test_bat_sparse),
        cmocka_unit_test(test_bitmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
