/* test_vhd_footer.c - vhd/footer.c: encode/parse round trip, checksum rule, the field checks
 * of parse, the CHS algorithm (spec appendix, no rounding up) and the printable creator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vhd/vhd_int.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static vf_vhd_footer sample(void)
{
    vf_vhd_footer f;
    memset(&f, 0, sizeof f);
    memcpy(f.cookie, "conectix", 8);
    f.features = 2;
    f.version = 0x00010000;
    f.data_offset = 512;
    f.timestamp = 0x12345678;
    memcpy(f.creator_app, "win ", 4);
    f.creator_version = 0x000a0000;
    f.creator_os = 0x5769326B;
    f.original_size = 10485760;
    f.current_size = 20971520;
    f.cylinders = 602;
    f.heads = 4;
    f.sectors_per_track = 17;
    f.disk_type = 4;
    for (int i = 0; i < 16; i++)
        f.unique_id[i] = (uint8_t)(i * 17);
    f.saved_state = 0;
    f.reserved[0] = 1; /* XenServer's hidden flag: kept and checksummed */
    return f;
}

static void test_round_trip(void **state)
{
    (void)state;
    vf_vhd_footer f = sample(), g;
    uint8_t raw[512], again[512];
    vf_vhd_footer_encode(&f, raw);
    assert_memory_equal(raw, "conectix", 8);
    assert_int_equal(raw[60 + 3], 4);
    assert_int_equal(raw[85], 1);
    vf_error err;
    assert_int_equal(vf_vhd_footer_parse(raw, &g, false, &err), VF_OK);
    assert_memory_equal(&f, &g, sizeof f);
    vf_vhd_footer_encode(&g, again);
    assert_memory_equal(raw, again, 512);
}

static void test_checksum(void **state)
{
    (void)state;
    uint8_t buf[512] = {0};
    buf[0] = 1;
    buf[64] = 0xAA; /* the checksum field itself does not count */
    buf[511] = 2;
    assert_int_equal(vf_vhd_checksum(buf, 512, 64), ~(uint32_t)3);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t at;
        uint8_t val;
        bool fix;
        vf_status want;
        const char *field;
    } cases[] = {
        {"cookie", 0, 'k', true, VF_E_FORMAT, "'cookie'"},
        {"checksum", 100, 0x55, false, VF_E_FORMAT, "'checksum'"},
        {"disk type 1", 63, 1, true, VF_E_FORMAT, "'disk type'"},
        {"disk type 6", 63, 6, true, VF_E_FORMAT, "'disk type'"},
        {"version 0", 13, 0, true, VF_E_UNSUPPORTED, "'file format version'"},
        {"reserved byte", 300, 9, true, VF_OK, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        vf_vhd_footer f = sample(), g;
        uint8_t raw[512];
        vf_vhd_footer_encode(&f, raw);
        raw[cases[i].at] = cases[i].val;
        if (cases[i].fix) {
            uint32_t c = vf_vhd_checksum(raw, 512, 64);
            raw[64] = (uint8_t)(c >> 24), raw[65] = (uint8_t)(c >> 16);
            raw[66] = (uint8_t)(c >> 8), raw[67] = (uint8_t)c;
        }
        vf_error err = {0};
        vf_status st = vf_vhd_footer_parse(raw, &g, false, &err);
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].name, vf_status_name(st), err.msg);
        if (cases[i].field && !strstr(err.msg, cases[i].field))
            fail_msg("%s: message '%s' lacks %s", cases[i].name, err.msg, cases[i].field);
    }
    /* A bad checksum is accepted only when the caller skips checksums (fuzz builds). */
    vf_vhd_footer f = sample(), g;
    uint8_t raw[512];
    vf_vhd_footer_encode(&f, raw);
    raw[64] ^= 0xFF;
    assert_int_equal(vf_vhd_footer_parse(raw, &g, true, NULL), VF_OK);
}

static void test_chs(void **state)
{
    (void)state;
    static const struct {
        uint64_t size;
        uint16_t c;
        uint8_t h, s;
    } cases[] = {
        {8u << 20, 240, 4, 17}, /* qemu would round up to 241/4/17 */
        {10u << 20, 301, 4, 17},
        {4u << 20, 120, 4, 17},
        {20ull << 30, 41610, 16, 63},               /* 17 and 31 spt overflow: 63 */
        {127ull << 30, 65278, 16, 255},             /* past 65535x16x63 sectors: 255 spt */
        {65535ull * 16 * 63 * 512, 16191, 16, 255}, /* exactly the threshold */
        {2040ull << 30, 65535, 16, 255},            /* clamped */
        {512, 0, 4, 17},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint16_t c;
        uint8_t h, s;
        vf_vhd_chs(cases[i].size, &c, &h, &s);
        if (c != cases[i].c || h != cases[i].h || s != cases[i].s)
            fail_msg("size %llu: %u/%u/%u, want %u/%u/%u", (unsigned long long)cases[i].size, c, h,
                     s, cases[i].c, cases[i].h, cases[i].s);
    }
}

static void test_creator_text(void **state)
{
    (void)state;
    static const struct {
        const char app[4];
        const char *want;
    } cases[] = {
        {{'w', 'i', 'n', ' '}, "win "},
        {{'t', 'a', 'p', 0}, "tap\\0"},
        {{'w', 'a', 0, 0}, "wa\\0\\0"},
        {{1, 'a', '\\', (char)0xff}, "\\x01a\\\\\\xff"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[40];
        vf_vhd_creator_text((const uint8_t *)cases[i].app, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
    char small[4];
    vf_vhd_creator_text((const uint8_t *)"tap", small, sizeof small); /* never overflows */
    assert_string_equal(small, "tap");
}

static void test_field_names(void **state)
{
    (void)state;
    assert_string_equal(vf_vhd_footer_field_name(0), "cookie");
    assert_string_equal(vf_vhd_footer_field_name(27), "time stamp");
    assert_string_equal(vf_vhd_footer_field_name(48), "current size");
    assert_string_equal(vf_vhd_footer_field_name(70), "unique id");
    assert_string_equal(vf_vhd_footer_field_name(500), "reserved");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_chs),
        cmocka_unit_test(test_creator_text),  cmocka_unit_test(test_field_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
