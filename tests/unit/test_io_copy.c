/* test_io_copy.c - file-to-file copies: vf_io_copy (copy_file_range between POSIX files, the
 * buffered fallback between backends, truncated sources, one file onto itself, the retry loop
 * driven by a fake system call) and vf_image_write_from, which must leave the same image file
 * as vf_image_write of the same bytes (VHD fixed and dynamic, VHDX dynamic); the read views
 * of io_view.h (the bytes of the file, refused past its end and for memory handles) and its
 * shared pread (VF_E_TRUNCATED past the end, memory handles refused). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io_view.h"
#include "scratch_dir.h"

#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

/* The copy loop of io_file.c, exported (hidden) for this test. */
typedef ssize_t (*vf_sys_copy)(void *ctx, uint64_t src_off, uint64_t dst_off, size_t len);
vf_status vf_io_file_copy_loop(vf_sys_copy fn, void *ctx, uint64_t dst_off, uint64_t src_off,
                               uint64_t len, uint64_t *done, const char *dst_name,
                               const char *src_name, vf_error *err);

#define MIB (1024u * 1024u)

static char tmpdir[4096];

static int setup(void **state)
{
    (void)state;
    return vf_scratch_make(tmpdir, sizeof tmpdir, "vf_test_copy");
}

static int teardown(void **state)
{
    (void)state;
    return vf_scratch_remove(tmpdir);
}

static void path_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static vf_io *open_file(const char *name, unsigned flags)
{
    char p[4200];
    path_of(name, p, sizeof p);
    vf_io *io = NULL;
    assert_int_equal(vf_io_file_open(p, flags, &io, NULL), VF_OK);
    return io;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *b = malloc(len ? len : 1);
    assert_non_null(b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    return b;
}

/* A POSIX file of len pattern bytes (and a hole of hole bytes at hole_at when hole != 0). */
static vf_io *make_src(const char *name, size_t len, uint64_t hole_at, size_t hole)
{
    vf_io *io = open_file(name, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    uint8_t *b = pattern(len, 7);
    if (hole)
        memset(b + hole_at, 0, hole);
    size_t first = hole ? (size_t)hole_at : len;
    assert_int_equal(vf_io_write(io, b, first, 0, NULL), VF_OK);
    if (hole)
        assert_int_equal(vf_io_write(io, b + first + hole, len - first - hole, first + hole, NULL),
                         VF_OK);
    free(b);
    return io;
}

static void expect_range(vf_io *io, uint64_t off, vf_io *ref, uint64_t ref_off, size_t len)
{
    uint8_t *a = malloc(len), *b = malloc(len);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(vf_io_read(io, a, len, off, NULL), VF_OK);
    assert_int_equal(vf_io_read(ref, b, len, ref_off, NULL), VF_OK);
    assert_memory_equal(a, b, len);
    free(a);
    free(b);
}

static void test_copy_posix(void **state)
{
    (void)state;
    size_t len = 3 * MIB + 4097; /* more than one bounce chunk, odd length */
    vf_io *src = make_src("s.bin", len, MIB + 512, 2 * 65536);
    vf_io *dst = open_file("d.bin", VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    assert_int_equal(vf_io_copy(dst, 0, src, 0, len, NULL), VF_OK);
    expect_range(dst, 0, src, 0, len);
    assert_int_equal(vf_io_copy(dst, 12345, src, 777, 2 * MIB + 3, NULL), VF_OK);
    expect_range(dst, 12345, src, 777, 2 * MIB + 3);
    vf_io_close(src);
    vf_io_close(dst);
}

static void test_copy_between_backends(void **state)
{
    (void)state;
    size_t len = 2 * MIB + 1000;
    vf_io *src = make_src("s2.bin", len, 0, 0);
    vf_io *mem = NULL;
    assert_int_equal(vf_io_mem_new(NULL, 0, "m", true, &mem, NULL), VF_OK);
    assert_int_equal(vf_io_copy(mem, 100, src, 3, len - 3, NULL), VF_OK);
    expect_range(mem, 100, src, 3, len - 3);
    vf_io *dst = open_file("d2.bin", VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    assert_int_equal(vf_io_copy(dst, 5, mem, 100, len - 3, NULL), VF_OK);
    expect_range(dst, 5, src, 3, len - 3);
    vf_io_close(mem);
    vf_io_close(dst);
    vf_io_close(src);
}

static void test_copy_truncated_source(void **state)
{
    (void)state;
    vf_io *src = make_src("short.bin", 10000, 0, 0);
    vf_io *dst = open_file("d3.bin", VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    vf_io *mem = NULL;
    assert_int_equal(vf_io_mem_new(NULL, 0, "m", true, &mem, NULL), VF_OK);
    vf_io *dsts[] = {dst, mem};
    for (size_t i = 0; i < 2; i++) {
        vf_error e;
        memset(&e, 0, sizeof e);
        assert_int_equal(vf_io_copy(dsts[i], 0, src, 5000, 6000, &e), VF_E_TRUNCATED);
        assert_non_null(strstr(e.msg, "short.bin"));
    }
    vf_io_close(mem);
    vf_io_close(dst);
    vf_io_close(src);
}

/* Two handles of one file, overlapping ranges, both directions: like memmove. */
static void test_copy_same_file_overlap(void **state)
{
    (void)state;
    size_t len = 3 * MIB;
    vf_io *f = make_src("same.bin", len, 0, 0);
    vf_io *g = open_file("same.bin", VF_IO_RDWR);
    uint8_t *ref = pattern(len, 7);
    assert_int_equal(vf_io_copy(f, 4096, g, 0, 2 * MIB, NULL), VF_OK);
    memmove(ref + 4096, ref, 2 * MIB);
    assert_int_equal(vf_io_copy(g, 0, f, 8192 + 512, 2 * MIB, NULL), VF_OK);
    memmove(ref, ref + 8192 + 512, 2 * MIB);
    uint8_t *got = malloc(len);
    assert_int_equal(vf_io_read(f, got, len, 0, NULL), VF_OK);
    assert_memory_equal(got, ref, len);
    free(got);
    free(ref);
    vf_io_close(g);
    vf_io_close(f);
}

typedef struct fake_copy {
    int step, fail_errno, fail_at;
    uint64_t moved;
} fake_copy;

/* Short counts of at most 1000 bytes; fails with fail_errno at step fail_at; EINTR at step 1. */
static ssize_t fake_copy_fn(void *ctx, uint64_t src_off, uint64_t dst_off, size_t len)
{
    fake_copy *f = ctx;
    (void)src_off, (void)dst_off;
    int step = f->step++;
    if (step == 1) {
        errno = EINTR;
        return -1;
    }
    if (step == f->fail_at) {
        errno = f->fail_errno;
        return f->fail_errno ? -1 : 0;
    }
    size_t n = len < 1000 ? len : 1000;
    f->moved += n;
    return (ssize_t)n;
}

static void test_copy_loop(void **state)
{
    (void)state;
    uint64_t done = 0;
    vf_error e;
    fake_copy ok = {0, 0, -1, 0};
    assert_int_equal(vf_io_file_copy_loop(fake_copy_fn, &ok, 0, 0, 4500, &done, "d", "s", &e),
                     VF_OK);
    assert_int_equal(done, 4500);
    fake_copy xdev = {0, EXDEV, 3, 0}; /* declined: VF_OK with what was done so far */
    assert_int_equal(vf_io_file_copy_loop(fake_copy_fn, &xdev, 0, 0, 9000, &done, "d", "s", &e),
                     VF_OK);
    assert_int_equal(done, 2000);
    fake_copy eof = {0, 0, 2, 0};
    memset(&e, 0, sizeof e);
    assert_int_equal(
        vf_io_file_copy_loop(fake_copy_fn, &eof, 0, 0, 9000, &done, "d", "src.vhd", &e),
        VF_E_TRUNCATED);
    assert_non_null(strstr(e.msg, "src.vhd"));
    fake_copy eio = {0, ENOSPC, 2, 0};
    memset(&e, 0, sizeof e);
    assert_int_equal(
        vf_io_file_copy_loop(fake_copy_fn, &eio, 0, 0, 9000, &done, "dst.vhd", "s", &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOSPC);
    assert_non_null(strstr(e.msg, "dst.vhd"));
}

/* --- vf_image_write_from against vf_image_write --- */

static void create_image(const char *name, vf_format_kind fmt, vf_disk_type type)
{
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = fmt;
    o.type = type;
    o.virtual_size = 64ull * MIB;
    o.block_size = fmt == VF_FORMAT_VHDX ? 8 * MIB : 0;
    memset(o.id, 0x11, sizeof o.id);
    memset(o.file_write_guid, 0x22, sizeof o.file_write_guid);
    memset(o.page83, 0x33, sizeof o.page83);
    o.timestamp = 12345;
    vf_image *img = NULL;
    assert_int_equal(vf_image_create(open_file(name, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC), name,
                                     &o, &img, NULL),
                     VF_OK);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    vf_image_close(img);
}

static void clone_file(const char *from, const char *to)
{
    vf_io *a = open_file(from, VF_IO_RDONLY);
    vf_io *b = open_file(to, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    uint64_t size;
    assert_int_equal(vf_io_size(a, &size, NULL), VF_OK);
    uint8_t *buf = malloc(size);
    assert_int_equal(vf_io_read(a, buf, size, 0, NULL), VF_OK);
    assert_int_equal(vf_io_write(b, buf, size, 0, NULL), VF_OK);
    free(buf);
    vf_io_close(a);
    vf_io_close(b);
}

/* Writes: inside a new block, more sectors of that block, across a block boundary, one odd
 * sector, a whole block. {voff, len, src_off}. */
static const uint64_t writes[][3] = {
    {512 * 3, 512 * 5, 7 * 512},          {4 * MIB + 1024, 300 * 1024, 1000},
    {4 * MIB + 8192, 64 * 1024, 3 * MIB}, {2 * MIB - 4096, 3 * MIB, 12345},
    {40 * MIB + 512 * 17, 512, 99},       {16 * MIB, 8 * MIB, MIB},
};

static void write_both(const char *a_name, const char *b_name, vf_io *src)
{
    vf_image *a = NULL, *b = NULL;
    assert_int_equal(vf_image_open(open_file(a_name, VF_IO_RDWR), a_name, VF_OPEN_RDWR, &a, NULL),
                     VF_OK);
    assert_int_equal(vf_image_open(open_file(b_name, VF_IO_RDWR), b_name, VF_OPEN_RDWR, &b, NULL),
                     VF_OK);
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        size_t len = (size_t)writes[i][1];
        uint8_t *buf = malloc(len);
        assert_int_equal(vf_io_read(src, buf, len, writes[i][2], NULL), VF_OK);
        assert_int_equal(vf_image_write(a, writes[i][0], buf, len, NULL), VF_OK);
        assert_int_equal(vf_image_write_from(b, writes[i][0], src, writes[i][2], len, NULL), VF_OK);
        free(buf);
    }
    assert_int_equal(vf_image_flush(a, NULL), VF_OK);
    assert_int_equal(vf_image_flush(b, NULL), VF_OK);
    vf_image_close(a);
    vf_image_close(b);
}

/* The two files byte for byte, except [skip_from, skip_to). */
static void expect_same_files(const char *a_name, const char *b_name, uint64_t skip_from,
                              uint64_t skip_to)
{
    vf_io *a = open_file(a_name, VF_IO_RDONLY), *b = open_file(b_name, VF_IO_RDONLY);
    uint64_t sa, sb;
    assert_int_equal(vf_io_size(a, &sa, NULL), VF_OK);
    assert_int_equal(vf_io_size(b, &sb, NULL), VF_OK);
    assert_int_equal(sa, sb);
    uint8_t *x = malloc(sa), *y = malloc(sb);
    assert_int_equal(vf_io_read(a, x, sa, 0, NULL), VF_OK);
    assert_int_equal(vf_io_read(b, y, sb, 0, NULL), VF_OK);
    memset(x + skip_from, 0, skip_to - skip_from);
    memset(y + skip_from, 0, skip_to - skip_from);
    assert_memory_equal(x, y, sa);
    free(x);
    free(y);
    vf_io_close(a);
    vf_io_close(b);
}

static void same_image(vf_format_kind fmt, vf_disk_type type, uint64_t skip_from, uint64_t skip_to)
{
    vf_io *src = make_src("data.bin", 12 * MIB, 5 * MIB, MIB);
    create_image("a.img", fmt, type);
    clone_file("a.img", "b.img");
    write_both("a.img", "b.img", src);
    expect_same_files("a.img", "b.img", skip_from, skip_to);
    vf_io_close(src);
}

static void test_write_from_vhd_fixed(void **state)
{
    (void)state;
    same_image(VF_FORMAT_VHD, VF_DISK_FIXED, 0, 0);
}

static void test_write_from_vhd_dynamic(void **state)
{
    (void)state;
    same_image(VF_FORMAT_VHD, VF_DISK_DYNAMIC, 0, 0);
}

static void test_write_from_vhdx_dynamic(void **state)
{
    (void)state;
    /* headers and the log entry's header (random GUIDs): everything else must match */
    same_image(VF_FORMAT_VHDX, VF_DISK_DYNAMIC, 64 * 1024, MIB + 4096);
}

/* A view shows the file's bytes at any offset (unaligned too); a range reaching past the end,
 * an empty one and a memory handle are refused, so callers read instead (no SIGBUS). */
static void test_view(void **state)
{
    (void)state;
    size_t len = 2 * MIB + 1000;
    vf_io *src = make_src("v.bin", len, 0, 0);
    uint8_t *want = pattern(len, 7);
    vf_io_view v;
    /* only a locked handle is mapped (an unlocked one may be cut by a running merge) */
    assert_false(vf_io_view_map(src, 0, len, &v));
    assert_int_equal(vf_io_lock(src, false, NULL), VF_OK);
    assert_true(vf_io_view_map(src, 0, len, &v));
    assert_memory_equal(v.data, want, len);
    vf_io_view_unmap(&v);
    assert_null(v.base);
    assert_true(vf_io_view_map(src, 4097, MIB, &v));
    assert_memory_equal(v.data, want + 4097, MIB);
    vf_io_view_unmap(&v);
    assert_false(vf_io_view_map(src, len - 10, 11, &v));
    assert_false(vf_io_view_map(src, len + 4096, 1, &v));
    assert_false(vf_io_view_map(src, 0, 0, &v));
    assert_null(v.base);
    vf_io *mem = NULL;
    assert_int_equal(vf_io_mem_new(want, len, "mem", false, &mem, NULL), VF_OK);
    assert_false(vf_io_view_map(mem, 0, 4096, &v));
    vf_io_view_unmap(&v); /* one never mapped is fine */
    vf_io_close(mem);
    free(want);
    vf_io_close(src);
}

/* The tree digest's shared read: a POSIX file is read with pread (past the end is
 * VF_E_TRUNCATED, not a signal); a memory handle is refused, so the caller reads it under its
 * lock. */
static void test_read_shared(void **state)
{
    (void)state;
    size_t len = MIB + 300;
    vf_io *src = make_src("s.bin", len, 0, 0);
    uint8_t *want = pattern(len, 7), *got = malloc(len);
    assert_non_null(got);
    vf_status st = VF_E_INVAL;
    vf_error err;
    assert_true(vf_io_read_shared(src, got, len - 5, 5, &st, &err));
    assert_int_equal(st, VF_OK);
    assert_memory_equal(got, want + 5, len - 5);
    assert_true(vf_io_read_shared(src, got, 4096, len - 100, &st, &err));
    assert_int_equal(st, VF_E_TRUNCATED);
    vf_io *mem = NULL;
    assert_int_equal(vf_io_mem_new(want, len, "mem", false, &mem, NULL), VF_OK);
    assert_false(vf_io_read_shared(mem, got, 4096, 0, &st, &err));
    vf_io_close(mem);
    free(got);
    free(want);
    vf_io_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_posix),
        cmocka_unit_test(test_read_shared),
        cmocka_unit_test(test_copy_between_backends),
        cmocka_unit_test(test_copy_truncated_source),
        cmocka_unit_test(test_copy_same_file_overlap),
        cmocka_unit_test(test_copy_loop),
        cmocka_unit_test(test_write_from_vhd_fixed),
        cmocka_unit_test(test_write_from_vhd_dynamic),
        cmocka_unit_test(test_write_from_vhdx_dynamic),
        cmocka_unit_test(test_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
