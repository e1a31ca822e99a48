/* test_vhd_locator.c - vhd/locator.c: UTF-16 <-> UTF-8 edge cases (odd length, unpaired
 * surrogates, NUL termination, garbage after the NUL, supplementary planes, tight buffers),
 * decoding of every platform code, and the candidate order of a built image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vhd/vhd_int.h"
#include "vhd_build.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void test_utf16_decode(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t bytes[12];
        size_t len;
        bool be;
        vf_status want;
        const char *text;
    } cases[] = {
        {"ascii le", {'a', 0, 'b', 0}, 4, false, VF_OK, "ab"},
        {"ascii be", {0, 'a', 0, 'b'}, 4, true, VF_OK, "ab"},
        {"empty", {0}, 0, false, VF_OK, ""},
        {"stops at NUL", {'a', 0, 0, 0, 0x00, 0xD8}, 6, false, VF_OK, "a"},
        {"latin-1 e acute", {0xE9, 0}, 2, false, VF_OK, "\xC3\xA9"},
        {"cjk", {0x2D, 0x4E}, 2, false, VF_OK, "\xE4\xB8\xAD"},
        {"surrogate pair", {0x3D, 0xD8, 0x00, 0xDE}, 4, false, VF_OK, "\xF0\x9F\x98\x80"},
        {"odd length", {'a', 0, 'b'}, 3, false, VF_E_FORMAT, NULL},
        {"lone high at end", {'a', 0, 0x3D, 0xD8}, 4, false, VF_E_FORMAT, NULL},
        {"high then ascii", {0x3D, 0xD8, 'a', 0}, 4, false, VF_E_FORMAT, NULL},
        {"lone low", {0x00, 0xDE, 'a', 0}, 4, false, VF_E_FORMAT, NULL},
        {"two highs", {0x3D, 0xD8, 0x3D, 0xD8}, 4, false, VF_E_FORMAT, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[32];
        size_t n;
        vf_error err = {0};
        vf_status st =
            vf_utf16_to_utf8(cases[i].bytes, cases[i].len, cases[i].be, out, sizeof out, &n, &err);
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].name, vf_status_name(st), err.msg);
        if (cases[i].text) {
            assert_string_equal(out, cases[i].text);
            assert_int_equal(n, strlen(cases[i].text));
        } else {
            assert_non_null(strstr(err.msg, cases[i].len % 2 ? "odd" : "surrogate"));
        }
    }
    /* Exactly enough room (3 bytes + NUL for one CJK unit) works; one less is a limit. */
    uint8_t cjk[2] = {0x2D, 0x4E};
    char out[4];
    size_t n;
    assert_int_equal(vf_utf16_to_utf8(cjk, 2, false, out, 4, &n, NULL), VF_OK);
    assert_int_equal(vf_utf16_to_utf8(cjk, 2, false, out, 3, &n, NULL), VF_E_LIMIT);
}

static void test_utf16_encode(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n;
    assert_int_equal(vf_utf8_to_utf16("a\xC3\xA9", false, out, sizeof out, &n, NULL), VF_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 'a');
    assert_int_equal(out[2], 0xE9);
    assert_int_equal(vf_utf8_to_utf16("\xF0\x9F\x98\x80", true, out, sizeof out, &n, NULL), VF_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0xD8);
    assert_int_equal(out[1], 0x3D);
    assert_int_equal(out[2], 0xDE);
    /* Round trip through the decoder. */
    char back[16];
    size_t m;
    assert_int_equal(vf_utf16_to_utf8(out, n, true, back, sizeof back, &m, NULL), VF_OK);
    assert_string_equal(back, "\xF0\x9F\x98\x80");
    static const char *bad[] = {"\xC3", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(vf_utf8_to_utf16(bad[i], false, out, sizeof out, &n, NULL), VF_E_INVAL);
    assert_int_equal(vf_utf8_to_utf16("abcdefghi", false, out, sizeof out, &n, NULL), VF_E_LIMIT);
}

static void test_decode_codes(void **state)
{
    (void)state;
    static const struct {
        uint32_t code;
        const char *data;
        size_t len;
        const char *want; /* NULL: no path */
    } cases[] = {
        {VHD_PLAT_W2RU, ".\0\\\0p\0.\0v\0", 10, ".\\p.v"},
        {VHD_PLAT_W2KU, "C\0:\0\\\0x\0", 8, "C:\\x"},
        {VHD_PLAT_MACX, "file://localhost/a/b.vhd", 24, "/a/b.vhd"},
        {VHD_PLAT_MACX, "file://./b.vhd", 14, "./b.vhd"},
        {VHD_PLAT_MACX, "/plain", 6, "/plain"},
        {VHD_PLAT_WI2R, ".\\p\xE9.vhd\0junk", 13, ".\\p\xC3\xA9.vhd"},
        {VHD_PLAT_WI2K, "C:\\p", 4, "C:\\p"},
        {VHD_PLAT_MAC, "alias", 5, NULL},
        {0x12345678u, "????", 4, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *out;
        assert_int_equal(vf_vhd_locator_decode(cases[i].code, (const uint8_t *)cases[i].data,
                                               cases[i].len, &out, NULL),
                         VF_OK);
        if (cases[i].want)
            assert_string_equal(out, cases[i].want);
        else
            assert_null(out);
        free(out);
    }
}

/* Locator sets written by create: default, W2ku only, W2ru only; the candidate order. */
static void test_built_locators(void **state)
{
    (void)state;
    static const struct {
        unsigned mask;
        const char *absolute;
        size_t n;
        const char *tags[3];
    } cases[] = {
        {0, "/srv/p.vhd", 3, {"W2ru", "W2ku", "parent-name"}},
        {0, NULL, 2, {"W2ru", "parent-name", NULL}},
        {VF_LOCATE_W2KU, "/srv/p.vhd", 2, {"W2ku", "parent-name", NULL}},
        {VF_LOCATE_W2RU | VF_LOCATE_NAME, NULL, 2, {"W2ru", "parent-name", NULL}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        vf_parent_link link = {
            .relative = "../up/p.vhd", .absolute = cases[i].absolute, .locators = cases[i].mask};
        vf_create_opts o;
        vf_error err;
        vhd_bytes b;
        vhd_build_opts(&o, VF_DISK_DIFF, 1u << 20, 0);
        o.parent = &link;
        if (vhd_build(&o, NULL, NULL, &b, &err))
            fail_msg("case %zu: %s", i, err.msg);
        vf_image *img;
        assert_int_equal(vhd_build_open(b.data, b.len, 0, &img, &err), VF_OK);
        vf_locator loc[4];
        size_t n;
        assert_int_equal(vf_image_locators(img, loc, 4, &n, &err), VF_OK);
        assert_int_equal(n, cases[i].n);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(loc[k].tag, cases[i].tags[k]);
        for (size_t k = 0; k < n; k++) {
            if (!strcmp(loc[k].tag, "W2ru"))
                assert_string_equal(loc[k].path, "..\\up\\p.vhd");
            if (!strcmp(loc[k].tag, "W2ku"))
                assert_string_equal(loc[k].path, "\\srv\\p.vhd");
            if (!strcmp(loc[k].tag, "parent-name"))
                assert_string_equal(loc[k].path, "../up/p.vhd");
        }
        /* max smaller than the count: *n still tells how many exist. */
        assert_int_equal(vf_image_locators(img, loc, 1, &n, &err), VF_OK);
        assert_int_equal(n, cases[i].n);
        vf_image_close(img);
        vhd_build_free(&b);
    }
    /* An explicit W2ku without an absolute path is a caller error. */
    vf_parent_link link = {.relative = "p.vhd", .locators = VF_LOCATE_W2KU};
    vf_create_opts o;
    vf_error err;
    vhd_bytes b;
    vhd_build_opts(&o, VF_DISK_DIFF, 1u << 20, 0);
    o.parent = &link;
    assert_int_equal(vhd_build(&o, NULL, NULL, &b, &err), -1);
    assert_int_equal(err.code, VF_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf16_decode),
        cmocka_unit_test(test_utf16_encode),
        cmocka_unit_test(test_decode_codes),
        cmocka_unit_test(test_built_locators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
