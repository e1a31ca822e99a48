/* test_formats.c - the format queries of format/image.c answered from the driver table:
 * names and parsing, the formats listed in order, limits and features, the per-block cost a
 * merge plan charges, which vf_image_info fields a driver fills, the create flags (leave
 * dirty: formats with a log only) and the merge link of a format without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vhdfold/vf_image.h>

#define MIB (1024u * 1024u)

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(vf_format_count(), 2);
    assert_int_equal(vf_format_at(0), VF_FORMAT_VHD);
    assert_int_equal(vf_format_at(1), VF_FORMAT_VHDX);
    assert_int_equal(vf_format_at(2), VF_FORMAT_NONE);
    for (size_t i = 0; i < vf_format_count(); i++) {
        vf_format_kind f = vf_format_at(i);
        assert_int_equal(vf_format_parse(vf_format_name(f)), f);
    }
    assert_string_equal(vf_format_name(VF_FORMAT_VHD), "vhd");
    assert_string_equal(vf_format_name(VF_FORMAT_VHDX), "vhdx");
    assert_string_equal(vf_format_name(VF_FORMAT_NONE), "none");
    assert_int_equal(vf_format_parse("VHD"), VF_FORMAT_NONE);
    assert_int_equal(vf_format_parse("none"), VF_FORMAT_NONE);
    assert_int_equal(vf_format_parse(""), VF_FORMAT_NONE);
    assert_int_equal(vf_format_parse(NULL), VF_FORMAT_NONE);
}

static void test_limits(void **state)
{
    (void)state;
    vf_format_limits vhd, vhdx;
    vf_error err;
    assert_int_equal(vf_format_get_limits(VF_FORMAT_VHD, &vhd, &err), VF_OK);
    assert_int_equal(vf_format_get_limits(VF_FORMAT_VHDX, &vhdx, &err), VF_OK);
    assert_int_equal(vf_format_get_limits(VF_FORMAT_NONE, &vhd, &err), VF_E_INVAL);
    assert_int_equal(vf_format_get_limits((vf_format_kind)77, &vhd, NULL), VF_E_INVAL);
    assert_int_equal(vf_format_get_limits(VF_FORMAT_VHD, &vhd, &err), VF_OK);
    assert_true(vhd.max_virtual_size == 0xFF000000ull * 512);
    assert_true(vhdx.max_virtual_size == 64ull << 40);
    assert_int_equal(vhd.sector_sizes, VF_SECTOR_512);
    assert_int_equal(vhdx.sector_sizes, VF_SECTOR_512 | VF_SECTOR_4096);
    assert_int_equal(vhdx.min_block_size, MIB);
    assert_int_equal(vhdx.max_block_size, 256u * MIB);
    assert_int_equal(vhd.default_block_size, 2u * MIB);
    assert_int_equal(vhdx.default_block_size, 32u * MIB);
    assert_int_equal(vhdx.portable_align, 4096);
    assert_int_equal(vhdx.portable_sectors, 2);
    assert_int_equal(vhd.features, VF_FEATURE_CREATE | VF_FEATURE_RESIZE);
    assert_int_equal(vhdx.features, VF_FEATURE_CREATE | VF_FEATURE_LOG | VF_FEATURE_ZERO_BLOCKS |
                                        VF_FEATURE_MERGE_LINK | VF_FEATURE_RESIZE);
}

static vf_image *create(vf_format_kind f, vf_disk_type type, uint32_t bs, unsigned flags,
                        vf_status *st)
{
    vf_io *io;
    vf_error err;
    assert_int_equal(vf_io_mem_new(NULL, 0, "mem", true, &io, &err), VF_OK);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = f;
    o.type = type;
    o.virtual_size = 8 * MIB;
    o.block_size = bs;
    o.flags = flags;
    vf_image *img = NULL;
    *st = vf_image_create(io, "new", &o, &img, &err);
    return img;
}

static void test_block_cost_and_fields(void **state)
{
    (void)state;
    vf_status st;
    vf_image *vhd = create(VF_FORMAT_VHD, VF_DISK_DYNAMIC, 2 * MIB, 0, &st);
    assert_int_equal(st, VF_OK);
    /* 2 MiB of data, a 512-byte bitmap (4096 sectors, one bit each) and at most 3584 bytes
     * of padding that put a new block's data on 4 KiB */
    assert_true(vf_image_block_cost(vhd) == 2u * MIB + 4096u);
    assert_int_equal(vf_image_info_get(vhd)->fields,
                     VF_INFO_TIMESTAMPS | VF_INFO_CREATOR_HOST | VF_INFO_CHS);
    vf_image_close(vhd);
    vf_image *fixed = create(VF_FORMAT_VHD, VF_DISK_FIXED, 0, 0, &st);
    assert_int_equal(st, VF_OK);
    assert_true(vf_image_block_cost(fixed) == 0);
    vf_image_close(fixed);
    vf_image *vhdx = create(VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 2 * MIB, 0, &st);
    assert_int_equal(st, VF_OK);
    assert_true(vf_image_block_cost(vhdx) == 3u * MIB);
    assert_int_equal(vf_image_info_get(vhdx)->fields, VF_INFO_LOG | VF_INFO_WRITE_GUIDS);
    vf_image_close(vhdx);
}

static void test_create_flags(void **state)
{
    (void)state;
    vf_status st;
    vf_image *img = create(VF_FORMAT_VHD, VF_DISK_DYNAMIC, 0, VF_CREATE_LEAVE_DIRTY, &st);
    assert_int_equal(st, VF_E_UNSUPPORTED);
    assert_null(img);
    img = create(VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 0, 1u << 7, &st);
    assert_int_equal(st, VF_E_UNSUPPORTED);
    assert_null(img);
    img = create(VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 0, VF_CREATE_LEAVE_DIRTY, &st);
    assert_int_equal(st, VF_OK);
    vf_image_close(img);
}

/* A format without VF_FEATURE_MERGE_LINK: link and unlink do nothing, write nothing. */
static void test_merge_link_none(void **state)
{
    (void)state;
    vf_status st;
    vf_image *a = create(VF_FORMAT_VHD, VF_DISK_DYNAMIC, 0, 0, &st);
    vf_image *b = create(VF_FORMAT_VHD, VF_DISK_DYNAMIC, 0, 0, &st);
    uint8_t before[16], id[16];
    memcpy(before, vf_image_info_get(a)->id, 16);
    memset(id, 0x5c, 16);
    vf_error err;
    assert_int_equal(vf_image_merge_link(a, b, id, &err), VF_OK);
    assert_int_equal(vf_image_merge_unlink(a, id, &err), VF_OK);
    assert_memory_equal(vf_image_info_get(a)->id, before, 16);
    vf_image_close(a);
    vf_image_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_block_cost_and_fields),
        cmocka_unit_test(test_create_flags),
        cmocka_unit_test(test_merge_link_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
