/* test_vhd_open.c - vhd/vhd.c open: every class of bad input is refused with the right status
 * and a message naming the structure and field; good images (our writer's) open and describe
 * themselves correctly. Fixtures: tests/support/vhd_build (our writer) mutated per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vhd_build.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BLOCK (512u * 1024)
#define SIZE (4u << 20)

typedef struct fixtures {
    vhd_bytes fixed, dyn, diff;
} fixtures;

static int fill_two_blocks(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof buf);
    vf_error err;
    if (vf_image_write(img, 0, buf, sizeof buf, &err) != VF_OK ||
        vf_image_write(img, 2 * BLOCK + 512, buf, 1024, &err) != VF_OK)
        return -1;
    return 0;
}

static int setup(void **state)
{
    fixtures *f = calloc(1, sizeof *f);
    vf_create_opts o;
    vf_error err;
    vhd_build_opts(&o, VF_DISK_FIXED, 1u << 20, 0);
    if (vhd_build(&o, NULL, NULL, &f->fixed, &err))
        fail_msg("fixed: %s", err.msg);
    vhd_build_opts(&o, VF_DISK_DYNAMIC, SIZE, BLOCK);
    if (vhd_build(&o, fill_two_blocks, NULL, &f->dyn, &err))
        fail_msg("dynamic: %s", err.msg);
    vf_parent_link link = {.relative = "sub/base.vhd", .absolute = "C:\\vm\\sub\\base.vhd"};
    memset(link.id, 0x22, 16);
    link.timestamp = 77;
    vhd_build_opts(&o, VF_DISK_DIFF, SIZE, BLOCK);
    o.parent = &link;
    if (vhd_build(&o, fill_two_blocks, NULL, &f->diff, &err))
        fail_msg("differencing: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixtures *f = *state;
    vhd_build_free(&f->fixed);
    vhd_build_free(&f->dyn);
    vhd_build_free(&f->diff);
    free(f);
    return 0;
}

/* ---- mutations: each edits a private copy ---- */

static uint64_t tail(const vhd_bytes *b)
{
    return b->len - 512;
}

/* Same 32-bit footer field in both copies, checksums fixed: isolates the field check. */
static void both_footers32(vhd_bytes *b, uint64_t field, uint32_t v)
{
    vhd_build_put32(b->data, tail(b) + field, v);
    vhd_build_fix_footer(b->data, tail(b));
    if (b->len > 1024 && memcmp(b->data, "conectix", 8) == 0) {
        vhd_build_put32(b->data, field, v);
        vhd_build_fix_footer(b->data, 0);
    }
}

static void both_footers64(vhd_bytes *b, uint64_t field, uint64_t v)
{
    both_footers32(b, field, (uint32_t)(v >> 32));
    both_footers32(b, field + 4, (uint32_t)v);
}

static void header32(vhd_bytes *b, uint64_t field, uint32_t v)
{
    vhd_build_put32(b->data, 512 + field, v);
    vhd_build_fix_header(b->data, 512);
}

static void m_cut_tail(vhd_bytes *b)
{
    b->len -= 100;
}
static void m_tiny(vhd_bytes *b)
{
    b->len = 300;
}
static void m_copy_differs(vhd_bytes *b)
{
    vhd_build_put32(b->data, 24, 12345); /* time stamp of the copy at 0 only */
    vhd_build_fix_footer(b->data, 0);
}
static void m_footer_csum(vhd_bytes *b)
{
    b->data[tail(b) + 100] ^= 1;
}
static void m_header_csum(vhd_bytes *b)
{
    b->data[512 + 800] ^= 1;
}
static void m_disk_type(vhd_bytes *b)
{
    both_footers32(b, 60, 5);
}
static void m_version(vhd_bytes *b)
{
    both_footers32(b, 12, 0x00020000);
}
static void m_size_odd(vhd_bytes *b)
{
    both_footers64(b, 48, SIZE + 100);
}
static void m_data_off_end(vhd_bytes *b)
{
    both_footers64(b, 16, 1ull << 40);
}
static void m_data_off_misaligned(vhd_bytes *b)
{
    both_footers64(b, 16, 513);
}
static void m_table_end(vhd_bytes *b)
{
    header32(b, 16, 0);
    header32(b, 20, 0x40000000);
}
static void m_table_misaligned(vhd_bytes *b)
{
    header32(b, 20, 1536 + 4);
}
static void m_table_on_header(vhd_bytes *b)
{
    header32(b, 20, 512);
}
static void m_block_zero(vhd_bytes *b)
{
    header32(b, 32, 0);
}
static void m_block_npow2(vhd_bytes *b)
{
    header32(b, 32, 3u << 18);
}
static void m_block_small(vhd_bytes *b)
{
    header32(b, 32, 256);
}
static void m_entries_huge(vhd_bytes *b)
{
    header32(b, 28, 0x10000000);
}
static void m_entries_small(vhd_bytes *b)
{
    header32(b, 28, 1);
}
static void m_bat_past_end(vhd_bytes *b)
{
    vhd_build_put32(b->data, 1536, 0x00FFFFF0);
}
static void m_bat_on_header(vhd_bytes *b)
{
    vhd_build_put32(b->data, 1536, 1);
}
static void m_bat_on_bat(vhd_bytes *b)
{
    vhd_build_put32(b->data, 1536, 3);
}
static void m_bat_overlap(vhd_bytes *b)
{
    vhd_build_put32(b->data, 1536 + 8, vhd_build_get32(b->data, 1536) + 1);
}
/* Locator slot 0 of the differencing fixture (W2ku). */
static uint64_t loc_entry(unsigned slot)
{
    return 512 + 576 + slot * 24;
}
static void m_loc_outside(vhd_bytes *b)
{
    vhd_build_put32(b->data, loc_entry(0) + 16, 0);
    vhd_build_put32(b->data, loc_entry(0) + 20, 0x7FFFFE00);
    vhd_build_fix_header(b->data, 512);
}
static void m_loc_on_bat(vhd_bytes *b)
{
    vhd_build_put32(b->data, loc_entry(0) + 20, 1536);
    vhd_build_fix_header(b->data, 512);
}
static void m_loc_odd(vhd_bytes *b)
{
    vhd_build_put32(b->data, loc_entry(0) + 8, 5);
    vhd_build_fix_header(b->data, 512);
}
static void m_loc_too_long(vhd_bytes *b)
{
    vhd_build_put32(b->data, loc_entry(0) + 8, 70000);
    vhd_build_fix_header(b->data, 512);
}
static void m_loc_surrogate(vhd_bytes *b)
{
    uint32_t off = vhd_build_get32(b->data, loc_entry(1) + 20); /* W2ru data, UTF-16LE */
    b->data[off + 2] = 0x00;
    b->data[off + 3] = 0xD8; /* a high surrogate followed by an ordinary unit */
}
static void m_name_surrogate(vhd_bytes *b)
{
    b->data[512 + 64] = 0xDC; /* UTF-16BE low surrogate first */
    b->data[512 + 65] = 0x00;
    vhd_build_fix_header(b->data, 512);
}
static void m_fixed_size(vhd_bytes *b)
{
    both_footers64(b, 48, 2u << 20);
}
static void m_saved_state(vhd_bytes *b)
{
    b->data[tail(b) + 84] = 1;
    vhd_build_fix_footer(b->data, tail(b));
    b->data[84] = 1;
    vhd_build_fix_footer(b->data, 0);
}
static void m_no_cookie(vhd_bytes *b)
{
    b->data[tail(b)] = 'x';
    b->data[0] = 'x';
}

enum { FIX, DYN, DIFF };

static const struct {
    const char *name;
    int base;
    void (*mutate)(vhd_bytes *b);
    unsigned flags;
    vf_status want;
    const char *words[2]; /* must appear in the message */
} cases[] = {
    {"truncated tail", DYN, m_cut_tail, 0, VF_E_TRUNCATED, {"footer", "cookie"}},
    {"shorter than a footer", DYN, m_tiny, 0, VF_E_TRUNCATED, {"footer", "300 bytes"}},
    {"copy at 0 differs", DYN, m_copy_differs, 0, VF_E_CORRUPT, {"copy", "time stamp"}},
    {"footer checksum", DYN, m_footer_csum, 0, VF_E_FORMAT, {"footer", "'checksum'"}},
    {"fixed footer checksum", FIX, m_footer_csum, 0, VF_E_FORMAT, {"footer", "'checksum'"}},
    {"header checksum", DYN, m_header_csum, 0, VF_E_FORMAT, {"dynamic disk header", "'checksum'"}},
    {"unknown disk type", DYN, m_disk_type, 0, VF_E_FORMAT, {"footer", "'disk type'"}},
    {"version 2", DYN, m_version, 0, VF_E_UNSUPPORTED, {"footer", "'file format version'"}},
    {"size not sector multiple", DYN, m_size_odd, 0, VF_E_FORMAT, {"footer", "'current size'"}},
    {"data offset past end", DYN, m_data_off_end, 0, VF_E_TRUNCATED, {"footer", "'data offset'"}},
    {"data offset misaligned",
     DYN,
     m_data_off_misaligned,
     0,
     VF_E_FORMAT,
     {"footer", "'data offset'"}},
    {"table offset past end", DYN, m_table_end, 0, VF_E_TRUNCATED, {"header", "'table offset'"}},
    {"table offset misaligned",
     DYN,
     m_table_misaligned,
     0,
     VF_E_FORMAT,
     {"header", "'table offset'"}},
    {"table over header", DYN, m_table_on_header, 0, VF_E_CORRUPT, {"header", "'table offset'"}},
    {"block size 0", DYN, m_block_zero, 0, VF_E_FORMAT, {"header", "'block size'"}},
    {"block size not pow2", DYN, m_block_npow2, 0, VF_E_FORMAT, {"header", "'block size'"}},
    {"block size 256", DYN, m_block_small, 0, VF_E_FORMAT, {"header", "'block size'"}},
    {"entries too big for file",
     DYN,
     m_entries_huge,
     0,
     VF_E_TRUNCATED,
     {"header", "'max table entries'"}},
    {"entries too few for size",
     DYN,
     m_entries_small,
     0,
     VF_E_CORRUPT,
     {"header", "'max table entries'"}},
    {"BAT entry past end",
     DYN,
     m_bat_past_end,
     0,
     VF_E_TRUNCATED,
     {"allocation table", "'entry 0'"}},
    {"BAT entry into header",
     DYN,
     m_bat_on_header,
     0,
     VF_E_CORRUPT,
     {"'entry 0'", "dynamic header"}},
    {"BAT entry into BAT",
     DYN,
     m_bat_on_bat,
     0,
     VF_E_CORRUPT,
     {"'entry 0'", "allocation table at"}},
    {"BAT entries overlap",
     DYN,
     m_bat_overlap,
     0,
     VF_E_CORRUPT,
     {"'entry 2'", "overlaps 'entry 0'"}},
    {"locator outside file",
     DIFF,
     m_loc_outside,
     0,
     VF_E_TRUNCATED,
     {"parent locator 0", "'platform data offset'"}},
    {"locator over BAT",
     DIFF,
     m_loc_on_bat,
     0,
     VF_E_CORRUPT,
     {"parent locator 0", "block allocation table"}},
    {"locator odd length", DIFF, m_loc_odd, 0, VF_E_FORMAT, {"parent locator 0", "odd length"}},
    {"locator too long",
     DIFF,
     m_loc_too_long,
     0,
     VF_E_FORMAT,
     {"parent locator 0", "'platform data length'"}},
    {"locator bad UTF-16",
     DIFF,
     m_loc_surrogate,
     0,
     VF_E_FORMAT,
     {"parent locator 1", "surrogate"}},
    {"parent name bad UTF-16",
     DIFF,
     m_name_surrogate,
     0,
     VF_E_FORMAT,
     {"'parent unicode name'", "surrogate"}},
    {"fixed size past file", FIX, m_fixed_size, 0, VF_E_TRUNCATED, {"footer", "'current size'"}},
    {"saved state, writable",
     DYN,
     m_saved_state,
     VF_OPEN_RDWR,
     VF_E_UNSUPPORTED,
     {"footer", "'saved state'"}},
    {"saved state, read-only", DYN, m_saved_state, 0, VF_OK, {NULL, NULL}},
    {"copy differs, recover", DYN, m_copy_differs, VF_OPEN_RECOVER, VF_OK, {NULL, NULL}},
    {"header checksum, recover", DYN, m_header_csum, VF_OPEN_RECOVER, VF_OK, {NULL, NULL}},
    {"footer checksum, recover",
     DYN,
     m_footer_csum,
     VF_OPEN_RECOVER,
     VF_E_FORMAT,
     {"'checksum'", NULL}},
    {"no footer anywhere", DYN, m_no_cookie, 0, VF_E_FORMAT, {"not a virtual disk", NULL}},
};

static void test_bad_inputs(void **state)
{
    fixtures *f = *state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const vhd_bytes *src = cases[i].base == FIX   ? &f->fixed
                               : cases[i].base == DYN ? &f->dyn
                                                      : &f->diff;
        vhd_bytes b = {malloc(src->len), src->len};
        memcpy(b.data, src->data, src->len);
        cases[i].mutate(&b);
        vf_image *img = NULL;
        vf_error err = {0};
        vf_status st = vhd_build_open(b.data, b.len, cases[i].flags, &img, &err);
        if (getenv("VF_TEST_VERBOSE"))
            printf("%-28s %-16s %s\n", cases[i].name, vf_status_name(st), st ? err.msg : "");
        if (st != cases[i].want)
            fail_msg("%s: got %s (%s), want %s", cases[i].name, vf_status_name(st), err.msg,
                     vf_status_name(cases[i].want));
        for (size_t w = 0; w < 2; w++)
            if (cases[i].words[w] && !strstr(err.msg, cases[i].words[w]))
                fail_msg("%s: message '%s' lacks '%s'", cases[i].name, err.msg, cases[i].words[w]);
        if (st != VF_OK && !strstr(err.msg, "test.vhd"))
            fail_msg("%s: message '%s' does not name the file", cases[i].name, err.msg);
        vf_image_close(img);
        vhd_build_free(&b);
    }
}

static void test_info(void **state)
{
    fixtures *f = *state;
    vf_image *img;
    vf_error err;
    assert_int_equal(vhd_build_open(f->diff.data, f->diff.len, 0, &img, &err), VF_OK);
    const vf_image_info *in = vf_image_info_get(img);
    assert_int_equal(in->format, VF_FORMAT_VHD);
    assert_int_equal(in->type, VF_DISK_DIFF);
    assert_int_equal(in->virtual_size, SIZE);
    assert_int_equal(in->block_size, BLOCK);
    assert_int_equal(in->logical_sector_size, 512);
    assert_true(in->has_parent);
    uint8_t id11[16], id22[16];
    memset(id11, 0x11, 16);
    memset(id22, 0x22, 16);
    assert_memory_equal(in->id, id11, 16);
    assert_memory_equal(in->parent_id, id22, 16);
    assert_int_equal(in->parent_timestamp, 77);
    assert_int_equal(in->timestamp, 1000);
    assert_string_equal(in->creator, "vhdt");
    assert_int_equal(in->total_blocks, SIZE / BLOCK);
    assert_int_equal(in->allocated_blocks, 2);
    assert_int_equal(in->file_size, f->diff.len);
    assert_int_equal(in->cylinders, 120); /* 8192 sectors: 17 spt, 4 heads, 120 cylinders */
    assert_int_equal(in->heads, 4);
    assert_int_equal(in->sectors_per_track, 17);
    vf_locator loc[8];
    size_t n;
    assert_int_equal(vf_image_locators(img, loc, 8, &n, &err), VF_OK);
    assert_int_equal(n, 3);
    assert_string_equal(loc[0].tag, "W2ru");
    assert_int_equal(loc[0].kind, VF_LOC_RELATIVE);
    assert_string_equal(loc[0].path, ".\\sub\\base.vhd");
    assert_string_equal(loc[1].tag, "W2ku");
    assert_int_equal(loc[1].kind, VF_LOC_ABSOLUTE);
    assert_string_equal(loc[1].path, "C:\\vm\\sub\\base.vhd");
    assert_string_equal(loc[2].tag, "parent-name");
    assert_int_equal(loc[2].kind, VF_LOC_NAME);
    assert_string_equal(loc[2].path, "sub/base.vhd");
    vf_image_close(img);
}

/* A legacy 511-byte footer (the last reserved byte missing) opens. */
static void test_legacy_footer(void **state)
{
    fixtures *f = *state;
    vhd_bytes b = {malloc(f->fixed.len), f->fixed.len - 1};
    memcpy(b.data, f->fixed.data, f->fixed.len);
    vf_image *img;
    vf_error err = {0};
    vf_status st = vhd_build_open(b.data, b.len, 0, &img, &err);
    if (st != VF_OK)
        fail_msg("legacy footer: %s", err.msg);
    assert_int_equal(vf_image_info_get(img)->virtual_size, 1u << 20);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    bool seen = false;
    for (size_t i = 0; i < rep.count; i++)
        seen = seen || strstr(rep.items[i].msg, "511-byte");
    assert_true(seen);
    vf_report_free(&rep);
    vf_image_close(img);
    vhd_build_free(&b);
}

/* The creator is rendered printable ("tap\0" -> "tap\\0"). */
static void test_creator_escaped(void **state)
{
    (void)state;
    vf_create_opts o;
    vf_error err;
    vhd_bytes b;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, 1u << 20, 0);
    o.creator = "tap\0";
    assert_int_equal(vhd_build(&o, NULL, NULL, &b, &err), 0);
    vf_image *img;
    assert_int_equal(vhd_build_open(b.data, b.len, 0, &img, &err), VF_OK);
    assert_string_equal(vf_image_info_get(img)->creator, "tap\\0");
    vf_image_close(img);
    vhd_build_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_legacy_footer),
        cmocka_unit_test(test_creator_escaped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
