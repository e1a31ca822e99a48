/* test_vhd_fault.c - crash sweeps over the VHD write paths (vhd/write.c, vhd/identity.c):
 * for every write of a clean run, rerun failing that write (EIO, short write, power loss with
 * a torn first sector) and require that the file left behind opens and shows either the old
 * or the new state. Plain opens must work, except in the two documented windows that only
 * VF_OPEN_RECOVER accepts (set_id between its footers, set_parent's torn header).
 * Uses tests/support/io_fault over the memory file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io_fault.h"
#include "vhd_build.h"

#define MIB (1024u * 1024u)
#define BLOCK (64u * 1024)
#define SIZE (1u * MIB)

typedef enum { OP_WRITE, OP_SET_ID, OP_SET_PARENT } op_kind;

static uint8_t new_data[3 * BLOCK];

/* The operation under test, on an image opened through fs. */
static vf_status run_op(const vf_fs *fs, op_kind op, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    vf_status st = vf_fs_open(fs, "t.vhd", VF_IO_RDWR, &io, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_image_open(io, "t.vhd", VF_OPEN_RDWR, &img, err)) != VF_OK)
        return st;
    if (op == OP_WRITE) {
        st = vf_image_reserve(img, 3, err);
        if (st == VF_OK) /* one old block gets new sectors, two new blocks */
            st = vf_image_write(img, BLOCK / 2, new_data, 2 * BLOCK, err);
        if (st == VF_OK)
            st = vf_image_write(img, 8 * BLOCK, new_data, 512, err);
    } else if (op == OP_SET_ID) {
        uint8_t id[16];
        memset(id, 0xee, 16);
        st = vf_image_set_id(img, id, err);
    } else {
        char rel[700];
        memset(rel, 'r', 600);
        memcpy(rel + 600, "/p.vhd", 7); /* too long for the old spaces: appended */
        vf_parent_link link = {.relative = rel, .timestamp = 9};
        memset(link.id, 0xdd, 16);
        st = vf_image_set_parent(img, &link, err);
    }
    if (st == VF_OK)
        st = vf_image_flush(img, err);
    vf_image_close(img);
    return st;
}

static int fill(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[4096];
    memset(buf, 0x11, sizeof buf);
    vf_error err;
    return vf_image_write(img, 0, buf, sizeof buf, &err) == VF_OK ? 0 : -1;
}

/* What the file shows: its data and identity fields. */
typedef struct view {
    uint8_t *data;
    uint8_t id[16], parent_id[16];
} view;

static bool read_view(const uint8_t *d, size_t n, unsigned flags, view *v)
{
    vf_image *img;
    vf_error err;
    if (vhd_build_open(d, n, flags, &img, &err) != VF_OK)
        return false;
    v->data = malloc(SIZE);
    assert_int_equal(vf_image_read(img, 0, v->data, SIZE, &err), VF_OK);
    memcpy(v->id, vf_image_info_get(img)->id, 16);
    memcpy(v->parent_id, vf_image_info_get(img)->parent_id, 16);
    vf_image_close(img);
    return true;
}

/* Every sector and each identity field is old or new: a batch may be cut short, but nothing
 * shows bytes that were never written. */
static bool mixed_view(const view *got, const view *a, const view *b)
{
    for (size_t s = 0; s < SIZE; s += 512)
        if (memcmp(got->data + s, a->data + s, 512) && memcmp(got->data + s, b->data + s, 512))
            return false;
    return (!memcmp(got->id, a->id, 16) || !memcmp(got->id, b->id, 16)) &&
           (!memcmp(got->parent_id, a->parent_id, 16) || !memcmp(got->parent_id, b->parent_id, 16));
}

static void sweep(op_kind op, const char *name)
{
    for (size_t i = 0; i < sizeof new_data; i++)
        new_data[i] = (uint8_t)(i % 251 + 1);
    vf_create_opts o;
    vf_error err;
    vhd_bytes base;
    vf_parent_link link = {.relative = "p.vhd"};
    memset(link.id, 0x44, 16);
    vhd_build_opts(&o, VF_DISK_DIFF, SIZE, BLOCK);
    o.parent = &link;
    assert_int_equal(vhd_build(&o, fill, NULL, &base, &err), 0);
    vf_fs *mem;
    vf_fault *f;
    assert_int_equal(vf_fs_mem_new(&mem, &err), VF_OK);
    assert_int_equal(vf_fault_new(mem, &f, &err), VF_OK);
    /* The clean run: count writes, record the new state. */
    assert_int_equal(vf_fs_mem_put(mem, "t.vhd", base.data, base.len, &err), VF_OK);
    view old_v, new_v;
    assert_true(read_view(base.data, base.len, 0, &old_v));
    if (run_op(vf_fault_fs(f), op, &err) != VF_OK)
        fail_msg("%s clean run: %s", name, err.msg);
    uint64_t writes = vf_fault_writes(f);
    size_t n;
    const uint8_t *d = vf_fs_mem_get(mem, "t.vhd", &n);
    assert_true(read_view(d, n, 0, &new_v));
    static const struct {
        vf_fault_kind kind;
        const char *name;
    } kinds[] = {
        {VF_FAULT_WRITE_EIO, "eio"}, {VF_FAULT_WRITE_SHORT, "short"}, {VF_FAULT_POWER, "power"}};
    unsigned recover_only = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (uint64_t at = 1; at <= writes; at++) {
            assert_int_equal(vf_fs_mem_put(mem, "t.vhd", base.data, base.len, &err), VF_OK);
            vf_fault_plan plan = {.kind = kinds[k].kind, .at = at, .torn_sectors = 1};
            assert_int_equal(vf_fault_arm(f, &plan), VF_OK);
            vf_status st = run_op(vf_fault_fs(f), op, &err);
            assert_true(vf_fault_fired(f));
            assert_int_not_equal(st, VF_OK);
            vf_fault_reset(f);
            d = vf_fs_mem_get(mem, "t.vhd", &n);
            view got;
            bool plain = read_view(d, n, 0, &got);
            if (!plain) {
                if (op == OP_WRITE || !read_view(d, n, VF_OPEN_RECOVER, &got))
                    fail_msg("%s, %s at write %llu: the file does not open", name, kinds[k].name,
                             (unsigned long long)at);
                recover_only++;
            }
            if (!mixed_view(&got, &old_v, &new_v))
                fail_msg("%s, %s at write %llu: neither the old nor the new state", name,
                         kinds[k].name, (unsigned long long)at);
            free(got.data);
        }
    }
    print_message("%s: %llu writes per run, %u faulted files needed VF_OPEN_RECOVER\n", name,
                  (unsigned long long)writes, recover_only);
    free(old_v.data);
    free(new_v.data);
    vf_fault_free(f);
    vf_fs_mem_free(mem);
    vhd_build_free(&base);
}

static void test_sweep_write(void **state)
{
    (void)state;
    sweep(OP_WRITE, "write");
}

static void test_sweep_set_id(void **state)
{
    (void)state;
    sweep(OP_SET_ID, "set_id");
}

static void test_sweep_set_parent(void **state)
{
    (void)state;
    sweep(OP_SET_PARENT, "set_parent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_write),
        cmocka_unit_test(test_sweep_set_id),
        cmocka_unit_test(test_sweep_set_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
