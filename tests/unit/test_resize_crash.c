/* test_resize_crash.c - crash sweeps over vf_image_resize (docs/formats/vhd.md "Resizing",
 * docs/formats/vhdx.md "Growing the virtual size", "Shrinking the virtual size"): fixed VHD grow
 * and shrink, dynamic VHD grow and shrink, VHDX grow and shrink. For every write of a clean run,
 * the run is repeated with that write failing (power loss with the write torn after its first
 * sector, EIO, a short write); the file left behind must open and read as the old disk or the new
 * one (the old bytes, cut or zero-extended to the new size), or, when it does not open,
 * vf_image_repair must bring it to one of them. After a failed write (EIO, short: the process
 * lives on), running the resize again must leave a file of the clean run's size. Uses
 * tests/support/io_fault over the memory file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vhdfold/vf_image.h>

#include "io_fault.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define NAME "t.img"

typedef struct rcase {
    const char *name;
    vf_format_kind fmt;
    vf_disk_type type;
    uint32_t block;
    uint64_t old_size, new_size;
    uint64_t data_len; /* bytes of pattern written from offset 0 before the resize */
} rcase;

/* The disk bytes of a size-byte image whose first data_len bytes hold the pattern. */
static uint8_t *expect(const rcase *c, uint64_t size)
{
    uint8_t *d = calloc(1, (size_t)size);
    assert_non_null(d);
    for (uint64_t i = 0; i < c->data_len && i < size; i++)
        d[i] = (uint8_t)(i / 512 * 31 + i % 7 + 1);
    return d;
}

static vf_status build(vf_fs *mem, const rcase *c, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    vf_status st = vf_fs_open(mem, NAME, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, err);
    if (st != VF_OK)
        return st;
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = c->fmt;
    o.type = c->type;
    o.virtual_size = c->old_size;
    o.block_size = c->block;
    if ((st = vf_image_create(io, NAME, &o, &img, err)) != VF_OK)
        return st;
    uint8_t *d = expect(c, c->old_size);
    st = vf_image_write(img, 0, d, (size_t)c->data_len, err);
    free(d);
    if (st == VF_OK)
        st = vf_image_flush(img, err);
    vf_image_close(img);
    return st;
}

static vf_status run_resize(const vf_fs *fs, uint64_t size, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    vf_status st = vf_fs_open(fs, NAME, VF_IO_RDWR, &io, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_image_open(io, NAME, VF_OPEN_RDWR, &img, err)) != VF_OK)
        return st;
    if ((st = vf_image_resize_check(img, size, err)) == VF_OK &&
        (st = vf_image_resize(img, size, err)) == VF_OK)
        st = vf_image_flush(img, err);
    vf_image_close(img);
    return st;
}

/* 1 old disk, 2 new disk, 0 neither, -1 does not open (err says why). */
static int outcome(vf_fs *mem, const rcase *c, unsigned flags, const uint8_t *old_d,
                   const uint8_t *new_d, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    if (vf_fs_open(mem, NAME, flags ? VF_IO_RDWR : 0, &io, err) != VF_OK ||
        vf_image_open(io, NAME, flags, &img, err) != VF_OK)
        return -1;
    uint64_t size = vf_image_info_get(img)->virtual_size;
    int r = 0;
    if (size == c->old_size || size == c->new_size) {
        uint8_t *got = malloc((size_t)size);
        assert_non_null(got);
        assert_int_equal(vf_image_read(img, 0, got, (size_t)size, err), VF_OK);
        if (size == c->old_size && !memcmp(got, old_d, (size_t)size))
            r = 1;
        else if (size == c->new_size && !memcmp(got, new_d, (size_t)size))
            r = 2;
        free(got);
    }
    vf_image_close(img);
    return r;
}

static void repair(vf_fs *mem, const char *what)
{
    vf_io *io;
    vf_error err;
    vf_repair_plan plan;
    assert_int_equal(vf_fs_open(mem, NAME, VF_IO_RDWR, &io, &err), VF_OK);
    vf_status st = vf_image_repair(io, NAME, true, &plan, &err);
    vf_io_close(io);
    if (st != VF_OK || plan.unsafe || plan.nactions == 0)
        fail_msg("%s: does not open and repair %s", what,
                 st != VF_OK   ? err.msg
                 : plan.unsafe ? plan.unsafe_why
                               : "finds nothing");
}

/* Old or new through a read-only and a read-write open (which must agree); repaired first
 * when the file does not open. Returns 1 old, 2 new; *repaired counts repairs. */
static int classify(vf_fs *mem, const rcase *c, const uint8_t *old_d, const uint8_t *new_d,
                    const char *what, unsigned *repaired)
{
    vf_error err;
    int ro = outcome(mem, c, 0, old_d, new_d, &err);
    if (ro < 0) {
        repair(mem, what);
        (*repaired)++;
        ro = outcome(mem, c, 0, old_d, new_d, &err);
    }
    if (ro <= 0)
        fail_msg("%s: %s", what, ro < 0 ? err.msg : "neither the old nor the new disk");
    int rw = outcome(mem, c, VF_OPEN_RDWR, old_d, new_d, &err);
    if (rw != ro)
        fail_msg("%s: a read-write open shows another disk (%d, %d)", what, ro, rw);
    return ro;
}

/* After a failed write (the process lives on), running the resize again finishes it in a
 * file of the clean run's size: a failed step gives back what it appended. */
static void rerun_same_size(vf_fs *mem, const rcase *c, size_t clean_len, const char *what)
{
    vf_error err;
    if (run_resize(mem, c->new_size, &err) != VF_OK)
        fail_msg("%s: the rerun fails: %s", what, err.msg);
    size_t n;
    (void)vf_fs_mem_get(mem, NAME, &n);
    if (n != clean_len)
        fail_msg("%s: the rerun leaves %zu bytes, the clean run %zu", what, n, clean_len);
}

static void sweep(const rcase *c)
{
    vf_fs *mem;
    vf_fault *f;
    vf_error err;
    assert_int_equal(vf_fs_mem_new(&mem, &err), VF_OK);
    if (build(mem, c, &err) != VF_OK)
        fail_msg("%s: build: %s", c->name, err.msg);
    size_t n;
    const uint8_t *p = vf_fs_mem_get(mem, NAME, &n);
    uint8_t *base = malloc(n), *old_d = expect(c, c->old_size), *new_d = expect(c, c->new_size);
    memcpy(base, p, n);
    size_t base_len = n;
    assert_int_equal(vf_fault_new(mem, &f, &err), VF_OK);
    if (run_resize(vf_fault_fs(f), c->new_size, &err) != VF_OK)
        fail_msg("%s: clean run: %s", c->name, err.msg);
    uint64_t writes = vf_fault_writes(f);
    unsigned repaired = 0, seen[3] = {0, 0, 0};
    assert_int_equal(classify(mem, c, old_d, new_d, c->name, &repaired), 2);
    size_t clean_len;
    (void)vf_fs_mem_get(mem, NAME, &clean_len);
    static const struct {
        vf_fault_kind kind;
        const char *name;
    } kinds[] = {
        {VF_FAULT_POWER, "power"}, {VF_FAULT_WRITE_EIO, "eio"}, {VF_FAULT_WRITE_SHORT, "short"}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (uint64_t at = 1; at <= writes; at++) {
            assert_int_equal(vf_fs_mem_put(mem, NAME, base, base_len, &err), VF_OK);
            vf_fault_plan plan = {.kind = kinds[k].kind, .at = at, .torn_sectors = 1};
            assert_int_equal(vf_fault_arm(f, &plan), VF_OK);
            vf_status st = run_resize(vf_fault_fs(f), c->new_size, &err);
            assert_true(vf_fault_fired(f));
            assert_int_not_equal(st, VF_OK);
            vf_fault_reset(f);
            char what[128];
            snprintf(what, sizeof what, "%s, %s at write %llu", c->name, kinds[k].name,
                     (unsigned long long)at);
            seen[classify(mem, c, old_d, new_d, what, &repaired)]++;
            if (kinds[k].kind != VF_FAULT_POWER)
                rerun_same_size(mem, c, clean_len, what);
        }
    print_message("%s: %llu writes per run; faulted: %u old, %u new, %u repaired first\n", c->name,
                  (unsigned long long)writes, seen[1], seen[2], repaired);
    assert_true(seen[1] > 0);
    free(base);
    free(old_d);
    free(new_d);
    vf_fault_free(f);
    vf_fs_mem_free(mem);
}

static const rcase cases[] = {
    {"fixed vhd grow", VF_FORMAT_VHD, VF_DISK_FIXED, 0, 1 * MIB, 2 * MIB, 1 * MIB},
    {"fixed vhd shrink", VF_FORMAT_VHD, VF_DISK_FIXED, 0, 2 * MIB, 1 * MIB + 4 * KIB, 1 * MIB},
    {"dynamic vhd grow", VF_FORMAT_VHD, VF_DISK_DYNAMIC, 64 * KIB, 1 * MIB, 2 * MIB, 200 * KIB},
    {"dynamic vhd shrink", VF_FORMAT_VHD, VF_DISK_DYNAMIC, 64 * KIB, 2 * MIB, 1 * MIB, 200 * KIB},
    {"dynamic vhd grow moving blocks", VF_FORMAT_VHD, VF_DISK_DYNAMIC, 64 * KIB, 1 * MIB, 64 * MIB,
     200 * KIB},
    {"vhdx grow", VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 1 * MIB, 3 * MIB + 512, 6 * MIB, 3 * MIB},
    {"vhdx shrink", VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 1 * MIB, 8 * MIB, 2 * MIB + 512, 1 * MIB},
};

#define CASE(i)                                                                                    \
    static void test_case_##i(void **state)                                                        \
    {                                                                                              \
        (void)state;                                                                               \
        sweep(&cases[i]);                                                                          \
    }
CASE(0)
CASE(1)
CASE(2)
CASE(3)
CASE(4)
CASE(5)
CASE(6)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_0), cmocka_unit_test(test_case_1), cmocka_unit_test(test_case_2),
        cmocka_unit_test(test_case_3), cmocka_unit_test(test_case_4), cmocka_unit_test(test_case_5),
        cmocka_unit_test(test_case_6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
