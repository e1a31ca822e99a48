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
    memset(&o, 0, sizeof o);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_bmp_round_trip),
        cmocka_unit_test(test_bad_utf8_refused),
        cmocka_unit_test(test_unpaired_surrogate_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
