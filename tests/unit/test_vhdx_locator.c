/* test_vhdx_locator.c - the VHDX parent locator's text (format/vhdx/locator.c through
 * format/utf16.c): paths outside the Basic Multilingual Plane are written as surrogate pairs
 * and read back unchanged, invalid UTF-8 is refused when creating, and an unpaired surrogate
 * in a stored value makes the open fail naming the entry. In-memory images only. */
#include "test_vhdx_support.h"

/* "dir/" + e-acute + "-" + U+1F600 + ".vhdx"; stored the Windows way, with a backslash */
static const char k_path[] = "dir/ba\xC3\xA9se-\xF0\x9F\x98\x80.vhdx";
static const char k_stored[] = "dir\\ba\xC3\xA9se-\xF0\x9F\x98\x80.vhdx";
/* U+1F600 in UTF-16LE: D83D DE00 */
static const uint8_t k_pair[] = {0x3D, 0xD8, 0x00, 0xDE};

/* A differencing image whose relative_path is path; returns the create status. */
static vf_status make_child(tbuf *t, const char *path, vf_error *err)
{
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memset(l.id, 0x5A, sizeof l.id);
    l.relative = path;
    memset(t, 0, sizeof *t);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = VF_DISK_DIFF;
    o.virtual_size = 8u * MIB;
    o.block_size = MIB;
    o.parent = &l;
    vf_image *img = NULL;
    vf_status st = vf_image_create(tb_io(t, true), "t.vhdx", &o, &img, err);
    vf_image_close(img);
    return st;
}

/* Offset of the first occurrence of what in the image, or SIZE_MAX. */
static size_t find_bytes(const tbuf *t, const uint8_t *what, size_t n)
{
    for (size_t i = 0; i + n <= t->len; i++)
        if (!memcmp(t->d + i, what, n))
            return i;
    return SIZE_MAX;
}

static void test_non_bmp_round_trip(void **state)
{
    (void)state;
    tbuf t;
    vf_error err = {0};
    if (make_child(&t, k_path, &err) != VF_OK)
        fail_msg("create: %s", err.msg);
    assert_true(find_bytes(&t, k_pair, sizeof k_pair) != SIZE_MAX);
    vf_image *img = NULL;
    if (tb_open(&t, 0, &img, &err) != VF_OK)
        fail_msg("open: %s", err.msg);
    vf_locator loc[4];
    size_t n = 0;
    assert_int_equal(vf_image_locators(img, loc, 4, &n, &err), VF_OK);
    assert_true(n >= 1);
    assert_int_equal(loc[0].kind, VF_LOC_RELATIVE);
    assert_string_equal(loc[0].path, k_stored);
    vf_image_close(img);
    tb_free(&t);
}

static void test_bad_utf8_refused(void **state)
{
    (void)state;
    static const char *bad[] = {"a\xF0\x28\x8C\x28.vhdx", "a\xC0\xAF.vhdx", "a\xED\xA0\x80.vhdx",
                                "a\xFF.vhdx"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        tbuf t;
        vf_error err = {0};
        if (make_child(&t, bad[i], &err) != VF_E_INVAL)
            fail_msg("path %zu: want VF_E_INVAL, got '%s'", i, err.msg);
        assert_non_null(strstr(err.msg, "UTF-8"));
        tb_free(&t);
    }
}

/* The low half of the pair replaced by 'A': the value is no longer valid UTF-16. */
static void test_unpaired_surrogate_refused(void **state)
{
    (void)state;
    tbuf t;
    vf_error err = {0};
    if (make_child(&t, k_path, &err) != VF_OK)
        fail_msg("create: %s", err.msg);
    size_t at = find_bytes(&t, k_pair, sizeof k_pair);
    assert_true(at != SIZE_MAX);
    t.d[at + 2] = 'A';
    t.d[at + 3] = 0;
    vf_image *img = NULL;
    assert_int_equal(tb_open(&t, 0, &img, &err), VF_E_FORMAT);
    assert_null(img);
    assert_non_null(strstr(err.msg, "parent locator entry"));
    assert_non_null(strstr(err.msg, "surrogate"));
    tb_free(&t);
}

/* --- the locator item parsed directly (vf_vhdx_locator_parse), built here byte by byte --- */

static size_t put_utf16(uint8_t *p, const char *ascii)
{
    size_t n = strlen(ascii);
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = (uint8_t)ascii[i];
        p[2 * i + 1] = 0;
    }
    return 2 * n;
}

static void put_entry(uint8_t *e, uint32_t koff, uint16_t klen, uint32_t voff, uint16_t vlen)
{
    vf_put_le32(e, koff);
    vf_put_le32(e + 4, voff);
    vf_put_le16(e + 8, klen);
    vf_put_le16(e + 10, vlen);
}

/* An item of n entries: parent_linkage, relative_path, then n-2 two-unit keys in a shuffled
 * order (each value one unit). dup >= 2 makes entry dup repeat the key of entry 2. */
static uint8_t *build_item(uint32_t n, uint32_t dup, uint32_t *len)
{
    size_t cap = 20 + 12 * (size_t)n + 6 * (size_t)n + 200;
    uint8_t *b = calloc(1, cap);
    assert_non_null(b);
    memcpy(b, vx_guid_vhdx_locator_type, 16);
    vf_put_le16(b + 18, (uint16_t)n);
    size_t pos = 20 + 12 * (size_t)n;
    uint32_t koff = (uint32_t)pos;
    uint16_t kl = (uint16_t)put_utf16(b + pos, "parent_linkage");
    pos += kl;
    uint32_t voff = (uint32_t)pos;
    uint16_t vl = (uint16_t)put_utf16(b + pos, "{5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a}");
    pos += vl;
    put_entry(b + 20, koff, kl, voff, vl);
    koff = (uint32_t)pos;
    kl = (uint16_t)put_utf16(b + pos, "relative_path");
    pos += kl;
    voff = (uint32_t)pos;
    vl = (uint16_t)put_utf16(b + pos, "p.vhdx");
    pos += vl;
    put_entry(b + 32, koff, kl, voff, vl);
    const uint32_t seed = 12345;
    for (uint32_t i = 2; i < n; i++) {
        /* a permutation of 0..65535 by an odd multiplier: distinct keys, no sorted order */
        uint32_t k = (uint32_t)((i * 40503u + seed) & 0xFFFFu);
        if (dup >= 2 && i == dup)
            k = (uint32_t)((2u * 40503u + seed) & 0xFFFFu);
        uint8_t *kp = b + pos;
        vf_put_le16(kp, (uint16_t)(0x4E00u + (k >> 8))); /* CJK: never NUL or surrogate */
        vf_put_le16(kp + 2, (uint16_t)(0x4E00u + (k & 0xFFu)));
        vf_put_le16(kp + 4, 'v');
        put_entry(b + 20 + 12 * (size_t)i, (uint32_t)pos, 4, (uint32_t)pos + 4, 2);
        pos += 6;
    }
    assert_true(pos <= cap);
    *len = (uint32_t)pos;
    return b;
}

static vf_status parse_item(const uint8_t *b, uint32_t len, vf_error *err)
{
    vx_state st;
    memset(&st, 0, sizeof st);
    vx_item item;
    memset(&item, 0, sizeof item);
    item.len = len;
    st.items = &item;
    st.nitems = 1;
    st.loc_item = 0;
    vf_status s = vf_vhdx_locator_parse(&st, b, len, err);
    vf_vhdx_locator_free(&st);
    return s;
}

/* 65,535 keys: the duplicate check costs O(n log n) key comparisons (counted, not timed). */
static void test_many_keys_compares_bounded(void **state)
{
    (void)state;
    const uint32_t n = 65535;
    uint32_t len;
    uint8_t *b = build_item(n, 0, &len);
    vf_error err = {0};
    vf_vhdx_locator_key_compares = 0;
    if (parse_item(b, len, &err) != VF_OK)
        fail_msg("parse: %s", err.msg);
    unsigned long long cmp = vf_vhdx_locator_key_compares;
    /* ceil(log2 65535) = 16: a merge sort makes at most 16 n, the neighbour scan n more */
    unsigned long long bound = 17ull * n;
    print_message("    %llu key comparisons for %u keys (bound %llu)\n", cmp, n, bound);
    if (cmp > bound)
        fail_msg("%llu key comparisons for %u keys: more than 17 n (quadratic?)", cmp, n);
    free(b);
    /* The same key twice, far apart: found. */
    b = build_item(n, 60000, &len);
    assert_int_equal(parse_item(b, len, &err), VF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "appears twice"));
    free(b);
}

/* Entries pointing at the same bytes again and again: refused once the bytes decoded exceed
 * the item, so decoding never costs more than the item's size. */
static void test_overlapping_entries_refused(void **state)
{
    (void)state;
    const uint32_t n = 1000;
    uint32_t len;
    uint8_t *b = build_item(n, 0, &len);
    /* entry 5.. all name the relative_path value (12 bytes) as key and value */
    uint32_t voff = (uint32_t)vf_get_le(b + 32 + 4, 4);
    for (uint32_t i = 5; i < n; i++)
        put_entry(b + 20 + 12 * (size_t)i, voff, 12, voff, 12);
    /* with 24 bytes per entry the item (about 18 KiB) is used up near entry 750 */
    vf_error err = {0};
    assert_int_equal(parse_item(b, len, &err), VF_E_FORMAT);
    assert_non_null(strstr(err.msg, "longer than the"));
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_bmp_round_trip),
        cmocka_unit_test(test_bad_utf8_refused),
        cmocka_unit_test(test_unpaired_surrogate_refused),
        cmocka_unit_test(test_many_keys_compares_bounded),
        cmocka_unit_test(test_overlapping_entries_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
