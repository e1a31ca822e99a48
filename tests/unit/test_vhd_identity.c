/* test_vhd_identity.c - vhd/identity.c: set_id (trailing footer, sync, copy at 0, sync; the
 * crash window in between recovered by VF_OPEN_RECOVER) and set_parent (locator space reused
 * when the new data fits, appended at the end of data otherwise; locator data durable before
 * the one 1024-byte header write). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vhd_build.h"

#define MIB (1024u * 1024u)

static int fill(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[4096];
    memset(buf, 0x6d, sizeof buf);
    vf_error err;
    return vf_image_write(img, MIB, buf, sizeof buf, &err) == VF_OK ? 0 : -1;
}

static void make_diff(vhd_bytes *b)
{
    vf_parent_link link = {.relative = "base.vhd", .absolute = "/vm/base.vhd", .timestamp = 3};
    memset(link.id, 0x44, 16);
    vf_create_opts o;
    vf_error err;
    vhd_build_opts(&o, VF_DISK_DIFF, 4 * MIB, 512 * 1024);
    o.parent = &link;
    if (vhd_build(&o, fill, NULL, b, &err))
        fail_msg("build: %s", err.msg);
}

static void test_set_id_order(void **state)
{
    (void)state;
    vhd_bytes b;
    make_diff(&b);
    vhd_rec *r;
    vf_io *io;
    vf_error err;
    vf_image *img;
    assert_int_equal(vhd_rec_new(b.data, b.len, &r, &io, &err), VF_OK);
    assert_int_equal(vf_image_open(io, "rec.vhd", VF_OPEN_RDWR, &img, &err), VF_OK);
    uint8_t id[16];
    memset(id, 0x99, 16);
    assert_int_equal(vf_image_set_id(img, id, &err), VF_OK);
    size_t tail = vhd_rec_find(r, 0, 'w', b.len - 512, b.len - 511);
    size_t head = vhd_rec_find(r, 0, 'w', 0, 1);
    assert_true(tail != SIZE_MAX && head != SIZE_MAX && tail < head);
    assert_true(vhd_rec_sync_between(r, tail, head));
    assert_int_equal(r->ops[r->n - 1].kind, 's');
    assert_memory_equal(vf_image_info_get(img)->id, id, 16);
    size_t n;
    const uint8_t *d = vf_io_mem_data(r->inner, &n);
    assert_memory_equal(d, d + n - 512, 512);
    vf_image *again;
    assert_int_equal(vhd_build_open(d, n, 0, &again, &err), VF_OK);
    assert_memory_equal(vf_image_info_get(again)->id, id, 16);
    vf_image_close(again);
    vf_image_close(img);
    vhd_rec_free(r);
    vhd_build_free(&b);
}

/* A crash between the two footer writes: refused plainly, opened with RECOVER, and the next
 * flush of a writable handle makes the copy at 0 equal again. */
static void test_set_id_recover(void **state)
{
    (void)state;
    vhd_bytes b;
    make_diff(&b);
    memset(b.data + b.len - 512 + 68, 0x99, 16); /* the new unique id, trailing footer only */
    vhd_build_fix_footer(b.data, b.len - 512);
    vf_image *img;
    vf_error err = {0};
    assert_int_equal(vhd_build_open(b.data, b.len, 0, &img, &err), VF_E_CORRUPT);
    assert_non_null(strstr(err.msg, "'unique id'"));
    assert_int_equal(vhd_build_open(b.data, b.len, VF_OPEN_RECOVER | VF_OPEN_RDWR, &img, &err),
                     VF_OK);
    uint8_t id[16];
    memset(id, 0x99, 16);
    assert_memory_equal(vf_image_info_get(img)->id, id, 16);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    size_t n;
    const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
    assert_memory_equal(d, d + n - 512, 512);
    vf_image_close(img);
    vhd_build_free(&b);
}

/* orphan: the old locator space, no longer referenced, is reported as orphaned space. */
static void expect_parent(const uint8_t *d, size_t n, const char *rel, const char *name,
                          uint8_t idbyte, const char *orphan)
{
    vf_image *img;
    vf_error err;
    if (vhd_build_open(d, n, 0, &img, &err) != VF_OK)
        fail_msg("reopen: %s", err.msg);
    const vf_image_info *in = vf_image_info_get(img);
    uint8_t id[16];
    memset(id, idbyte, 16);
    assert_memory_equal(in->parent_id, id, 16);
    assert_int_equal(in->parent_timestamp, 4242);
    vf_locator loc[4];
    size_t k;
    assert_int_equal(vf_image_locators(img, loc, 4, &k, &err), VF_OK);
    assert_int_equal(k, 3);
    assert_string_equal(loc[0].path, rel);
    assert_string_equal(loc[2].path, name);
    /* Data is untouched. */
    uint8_t buf[4096], want[4096];
    memset(want, 0x6d, sizeof want);
    assert_int_equal(vf_image_read(img, MIB, buf, sizeof buf, &err), VF_OK);
    assert_memory_equal(buf, want, sizeof buf);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    if (vf_report_count(&rep, VF_SEV_WARNING))
        for (size_t f = 0; f < rep.count; f++)
            if (rep.items[f].severity >= VF_SEV_WARNING &&
                !(orphan && strstr(rep.items[f].msg, orphan)))
                fail_msg("check: %s", rep.items[f].msg);
    if (orphan)
        assert_int_equal(vf_report_count(&rep, VF_SEV_WARNING), 1);
    vf_report_free(&rep);
    vf_image_close(img);
}

static void test_set_parent_reuse(void **state)
{
    (void)state;
    vhd_bytes b;
    make_diff(&b);
    vhd_rec *r;
    vf_io *io;
    vf_error err;
    vf_image *img;
    assert_int_equal(vhd_rec_new(b.data, b.len, &r, &io, &err), VF_OK);
    assert_int_equal(vf_image_open(io, "rec.vhd", VF_OPEN_RDWR, &img, &err), VF_OK);
    vf_parent_link link = {
        .relative = "sub/merged.vhd", .absolute = "/vm/sub/merged.vhd", .timestamp = 4242};
    memset(link.id, 0x55, 16);
    assert_int_equal(vf_image_set_parent(img, &link, &err), VF_OK);
    size_t n;
    const uint8_t *d = vf_io_mem_data(r->inner, &n);
    assert_int_equal(n, b.len); /* the old 512-byte locator spaces were reused */
    size_t hdr = vhd_rec_find(r, 0, 'w', 512, 513);
    size_t loc = vhd_rec_find(r, 0, 'w', 1536 + 512, b.len - 512);
    assert_true(hdr != SIZE_MAX && loc != SIZE_MAX && loc < hdr &&
                vhd_rec_sync_between(r, loc, hdr));
    assert_int_equal(r->ops[hdr].len, 1024); /* the header in one write */
    expect_parent(d, n, ".\\sub\\merged.vhd", "sub/merged.vhd", 0x55, NULL);
    vf_image_close(img);
    vhd_rec_free(r);
    vhd_build_free(&b);
}

static void test_set_parent_append(void **state)
{
    (void)state;
    vhd_bytes b;
    make_diff(&b);
    vf_image *img;
    vf_error err;
    assert_int_equal(vhd_build_open(b.data, b.len, VF_OPEN_RDWR, &img, &err), VF_OK);
    char rel[400], name[400];
    memset(rel, 'd', sizeof rel);
    memcpy(rel + 300, "/p.vhd", 7); /* 306 chars: 612 bytes of UTF-16, more than 512 */
    vf_parent_link link = {.relative = rel, .absolute = "/vm/p.vhd", .timestamp = 4242};
    memset(link.id, 0x66, 16);
    assert_int_equal(vf_image_set_parent(img, &link, &err), VF_OK);
    size_t n;
    const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
    assert_true(n > b.len);
    char wrel[410];
    snprintf(wrel, sizeof wrel, ".\\%s", rel);
    for (char *c = wrel; *c; c++)
        *c = *c == '/' ? '\\' : *c;
    /* 306 units do not fit the 256-unit name field: the file name is stored instead. */
    snprintf(name, sizeof name, "p.vhd");
    expect_parent(d, n, wrel, name, 0x66, "orphaned space: bytes 2048..3072");
    vf_image_close(img);
    vhd_build_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_id_order),
        cmocka_unit_test(test_set_id_recover),
        cmocka_unit_test(test_set_parent_reuse),
        cmocka_unit_test(test_set_parent_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
