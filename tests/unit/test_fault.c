/* test_fault.c - unit tests of the fault-injecting file system (tests/support/io_fault.c):
 * counting, each fault kind, the power-loss undo log with a torn last write, split reads and
 * bit flips. Every test runs twice: over the memory file system and over real files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io_fault.h"

typedef struct fixture {
    bool posix;
    vf_fs *mem;
    const vf_fs *inner;
    char *dir;
    vf_fault *f;
    char names[4][4096];
} fixture;

static bool on_mem = false, on_posix = true;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->posix = *(const bool *)*state;
    if (fx->posix) {
        const char *base = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/vf_test_fault.XXXXXX", base && *base ? base : P_tmpdir);
        assert_non_null(mkdtemp(tmpl));
        fx->dir = strdup(tmpl);
        fx->inner = vf_fs_posix();
    } else {
        assert_int_equal(vf_fs_mem_new(&fx->mem, NULL), VF_OK);
        fx->dir = strdup("mem");
        fx->inner = fx->mem;
    }
    static const char *const base_names[4] = {"a.img", "b.img", "c.img", "d.img"};
    for (int i = 0; i < 4; i++)
        snprintf(fx->names[i], sizeof fx->names[i], "%s/%s", fx->dir, base_names[i]);
    assert_int_equal(vf_fault_new(fx->inner, &fx->f, NULL), VF_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    vf_fault_free(fx->f);
    if (fx->posix) {
        for (int i = 0; i < 4; i++)
            unlink(fx->names[i]);
        rmdir(fx->dir);
    }
    vf_fs_mem_free(fx->mem);
    free(fx->dir);
    free(fx);
    return 0;
}

/* Durable contents through the plain file system. */
static void put_file(fixture *fx, int i, const void *data, size_t len)
{
    vf_io *io;
    assert_int_equal(
        vf_fs_open(fx->inner, fx->names[i], VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, NULL),
        VF_OK);
    assert_int_equal(vf_io_write(io, data, len, 0, NULL), VF_OK);
    assert_int_equal(vf_io_sync(io, NULL), VF_OK);
    vf_io_close(io);
}

/* Whole file through the plain file system; *len its size. Caller frees. */
static uint8_t *get_file(fixture *fx, int i, size_t *len)
{
    vf_io *io;
    vf_error e;
    if (vf_fs_open(fx->inner, fx->names[i], VF_IO_RDONLY, &io, &e) != VF_OK)
        fail_msg("reopening: %s", e.msg);
    uint64_t size;
    assert_int_equal(vf_io_size(io, &size, NULL), VF_OK);
    uint8_t *p = malloc(size + 1);
    assert_non_null(p);
    assert_int_equal(vf_io_read(io, p, (size_t)size, 0, NULL), VF_OK);
    vf_io_close(io);
    *len = (size_t)size;
    return p;
}

static vf_io *open_f(fixture *fx, int i, unsigned flags)
{
    vf_io *io;
    vf_error e;
    if (vf_fs_open(vf_fault_fs(fx->f), fx->names[i], flags, &io, &e) != VF_OK)
        fail_msg("open through the wrapper: %s", e.msg);
    return io;
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
    memset(p, v, n);
}

static void test_counts(void **state)
{
    fixture *fx = *state;
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE);
    vf_io *b = open_f(fx, 1, VF_IO_RDWR | VF_IO_CREATE);
    uint8_t buf[100];
    fill(buf, sizeof buf, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vf_io_write(a, buf, sizeof buf, (uint64_t)i * 100, NULL), VF_OK);
    assert_int_equal(vf_io_set_size(b, 10, NULL), VF_OK);
    assert_int_equal(vf_io_write(b, buf, 5, 0, NULL), VF_OK);
    assert_int_equal(vf_io_write(b, buf, 0, 0, NULL), VF_OK); /* empty: not counted */
    assert_int_equal(vf_io_sync(a, NULL), VF_OK);
    assert_int_equal(vf_io_sync(b, NULL), VF_OK);
    assert_int_equal(vf_io_read(a, buf, 10, 0, NULL), VF_OK);
    assert_int_equal(vf_fault_writes(fx->f), 5);
    assert_int_equal(vf_fault_syncs(fx->f), 2);
    assert_false(vf_fault_fired(fx->f));
    vf_fault_reset(fx->f);
    assert_int_equal(vf_fault_writes(fx->f), 0);
    assert_int_equal(vf_fault_syncs(fx->f), 0);
    vf_io_close(a);
    vf_io_close(b);
}

static void check_failed_write(fixture *fx, vf_fault_kind kind, int want_errno)
{
    vf_fault_plan plan = {.kind = kind, .at = 2};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    assert_int_equal(vf_io_write(a, "11", 2, 0, NULL), VF_OK);
    assert_false(vf_fault_fired(fx->f));
    vf_error e;
    assert_int_equal(vf_io_write(a, "22", 2, 2, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, want_errno);
    if (!strstr(e.msg, fx->names[0]))
        fail_msg("message '%s' does not name the file", e.msg);
    assert_true(vf_fault_fired(fx->f));
    assert_int_equal(vf_io_write(a, "33", 2, 4, NULL), VF_OK); /* one-shot */
    vf_io_close(a);
    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(p,
                        "11\0\0"
                        "33",
                        6); /* write 2 changed nothing */
    free(p);
}

static void test_write_eio(void **state)
{
    check_failed_write(*state, VF_FAULT_WRITE_EIO, EIO);
}

static void test_write_enospc(void **state)
{
    check_failed_write(*state, VF_FAULT_WRITE_ENOSPC, ENOSPC);
}

static void test_write_short(void **state)
{
    fixture *fx = *state;
    vf_fault_plan plan = {.kind = VF_FAULT_WRITE_SHORT, .at = 1, .short_bytes = 100};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i + 1);
    vf_error e;
    assert_int_equal(vf_io_write(a, buf, sizeof buf, 0, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOSPC);
    assert_non_null(strstr(e.msg, "short write"));
    assert_true(vf_fault_fired(fx->f));
    vf_io_close(a);
    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 100);
    assert_memory_equal(p, buf, 100);
    free(p);
}

static void test_sync_fail(void **state)
{
    fixture *fx = *state;
    vf_fault_plan plan = {.kind = VF_FAULT_SYNC_EIO, .at = 2};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE);
    vf_io *b = open_f(fx, 1, VF_IO_RDWR | VF_IO_CREATE);
    assert_int_equal(vf_io_sync(a, NULL), VF_OK);
    vf_error e;
    assert_int_equal(vf_io_sync(b, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, EIO);
    assert_true(vf_fault_fired(fx->f));
    /* Final: b refuses writes and syncs; a goes on. */
    assert_int_equal(vf_io_write(b, "x", 1, 0, &e), VF_E_IO);
    assert_int_equal(vf_io_sync(b, &e), VF_E_IO);
    assert_int_equal(vf_io_write(a, "x", 1, 0, NULL), VF_OK);
    assert_int_equal(vf_io_sync(a, NULL), VF_OK);
    assert_int_equal(vf_fault_syncs(fx->f), 4);
    vf_io_close(a);
    vf_io_close(b);
}

static void test_crash(void **state)
{
    fixture *fx = *state;
    put_file(fx, 1, "keep", 4);
    vf_fault_plan plan = {.kind = VF_FAULT_CRASH, .at = 3};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    assert_int_equal(vf_io_write(a, "1", 1, 0, NULL), VF_OK);
    assert_int_equal(vf_io_write(a, "2", 1, 1, NULL), VF_OK);
    vf_error e;
    assert_int_equal(vf_io_write(a, "3", 1, 2, &e), VF_E_IO);
    assert_true(vf_fault_fired(fx->f));
    assert_int_equal(vf_io_write(a, "4", 1, 3, &e), VF_E_IO);
    assert_int_equal(vf_io_set_size(a, 0, &e), VF_E_IO);
    assert_int_equal(vf_io_sync(a, &e), VF_E_IO);
    uint8_t buf[2];
    assert_int_equal(vf_io_read(a, buf, 2, 0, &e), VF_OK); /* reads still work */
    assert_memory_equal(buf, "12", 2);
    vf_io *n;
    const vf_fs *ffs = vf_fault_fs(fx->f);
    assert_int_equal(vf_fs_open(ffs, fx->names[2], VF_IO_RDWR | VF_IO_CREATE, &n, &e), VF_E_IO);
    assert_int_equal(vf_fs_remove(ffs, fx->names[1], &e), VF_E_IO);
    assert_int_equal(ffs->ops->sync_dir(ffs->self, fx->names[1], &e), VF_E_IO);
    vf_io_close(a);
    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "12", 2);
    free(p);
    p = get_file(fx, 1, &len);
    assert_int_equal(len, 4);
    free(p);
}

/* a.img: synced 'A' x 1024; then unsynced: 'B' over its first sector (write 1), b.img created
 * and written (write 2, handle closed), a grown to 4096 (write 3), then write 4 of 1500 bytes
 * 'D' at 2148 loses power with one torn sector surviving: bytes 2148..2559. */
static void test_power_loss(void **state)
{
    fixture *fx = *state;
    uint8_t a_img[1024];
    fill(a_img, sizeof a_img, 'A');
    put_file(fx, 0, a_img, sizeof a_img);
    vf_fault_plan plan = {.kind = VF_FAULT_POWER, .at = 4, .torn_sectors = 1};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR);
    uint8_t buf[1500];
    fill(buf, 512, 'B');
    assert_int_equal(vf_io_write(a, buf, 512, 0, NULL), VF_OK);
    vf_io *b = open_f(fx, 1, VF_IO_RDWR | VF_IO_CREATE);
    fill(buf, 600, 'C');
    assert_int_equal(vf_io_write(b, buf, 600, 0, NULL), VF_OK);
    vf_io_close(b);
    assert_int_equal(vf_io_set_size(a, 4096, NULL), VF_OK);
    fill(buf, sizeof buf, 'D');
    vf_error e;
    assert_int_equal(vf_io_write(a, buf, sizeof buf, 2148, &e), VF_E_IO);
    assert_true(vf_fault_fired(fx->f));
    /* Everything through the wrapper fails now, reads and opens included. */
    assert_int_equal(vf_io_read(a, buf, 1, 0, &e), VF_E_IO);
    assert_int_equal(vf_io_write(a, buf, 1, 0, &e), VF_E_IO);
    assert_int_equal(vf_io_sync(a, &e), VF_E_IO);
    vf_io *x;
    assert_int_equal(vf_fs_open(vf_fault_fs(fx->f), fx->names[0], 0, &x, &e), VF_E_IO);
    vf_io_close(a);

    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 2560);
    assert_memory_equal(p, a_img, 1024);
    for (size_t i = 1024; i < 2148; i++)
        assert_int_equal(p[i], 0);
    for (size_t i = 2148; i < 2560; i++)
        assert_int_equal(p[i], 'D');
    free(p);
    p = get_file(fx, 1, &len);
    assert_int_equal(len, 0); /* created, never synced: empty */
    free(p);

    vf_fault_reset(fx->f);
    a = open_f(fx, 0, VF_IO_RDONLY);
    assert_int_equal(vf_io_read(a, buf, 1, 0, NULL), VF_OK);
    vf_io_close(a);
}

/* Synced writes survive; a shrink, a truncating open and zero torn sectors are undone. */
static void test_power_loss_after_sync(void **state)
{
    fixture *fx = *state;
    put_file(fx, 1, "hello", 5);
    vf_fault_plan plan = {.kind = VF_FAULT_POWER, .at = 4, .torn_sectors = 0};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC);
    assert_int_equal(vf_io_write(a, "synced", 6, 0, NULL), VF_OK);
    assert_int_equal(vf_io_sync(a, NULL), VF_OK);
    assert_int_equal(vf_io_set_size(a, 2, NULL), VF_OK);
    vf_io *b = open_f(fx, 1, VF_IO_RDWR | VF_IO_TRUNC);
    assert_int_equal(vf_io_write(b, "zz", 2, 0, NULL), VF_OK);
    assert_int_equal(vf_io_write(a, "lost", 4, 0, NULL), VF_E_IO);
    vf_io_close(a);
    vf_io_close(b);
    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(p, "synced", 6);
    free(p);
    p = get_file(fx, 1, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "hello", 5);
    free(p);
}

/* A backend that counts its reads, to see the wrapper split them. */
typedef struct counting {
    uint8_t data[256];
    unsigned reads;
} counting;

static vf_status cnt_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    counting *c = self;
    if (off > sizeof c->data || len > sizeof c->data - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off, "past the end");
    c->reads++;
    memcpy(buf, c->data + off, len);
    return VF_OK;
}

static void cnt_close(void *self)
{
    (void)self;
}

static void test_read_pieces_and_flip(void **state)
{
    fixture *fx = *state;
    uint8_t pattern[4096];
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 13);
    put_file(fx, 0, pattern, sizeof pattern);
    put_file(fx, 1, pattern, sizeof pattern);
    vf_fault_plan plan = {
        .read_piece = 7, .flip = true, .flip_off = 100, .flip_bit = 3, .flip_path = fx->names[0]};
    assert_int_equal(vf_fault_arm(fx->f, &plan), VF_OK);
    vf_io *a = open_f(fx, 0, VF_IO_RDONLY);
    vf_io *b = open_f(fx, 1, VF_IO_RDONLY);
    uint8_t buf[4096];
    assert_int_equal(vf_io_read(a, buf, sizeof buf, 0, NULL), VF_OK);
    assert_memory_equal(buf, pattern, 100);
    assert_int_equal(buf[100], pattern[100] ^ 8);
    assert_memory_equal(buf + 101, pattern + 101, sizeof buf - 101);
    assert_int_equal(vf_io_read(a, buf, 10, 200, NULL), VF_OK); /* not covering: untouched */
    assert_memory_equal(buf, pattern + 200, 10);
    assert_int_equal(vf_io_read(b, buf, sizeof buf, 0, NULL), VF_OK); /* other file */
    assert_memory_equal(buf, pattern, sizeof buf);
    vf_io_close(a);
    vf_io_close(b);

    static const vf_io_ops ops = {.read_at = cnt_read, .close = cnt_close};
    counting c = {{0}, 0};
    vf_io *raw, *w;
    assert_int_equal(vf_io_new(&ops, &c, "counted", false, &raw, NULL), VF_OK);
    assert_int_equal(vf_fault_wrap(fx->f, raw, "counted", &w, NULL), VF_OK);
    assert_int_equal(vf_io_read(w, buf, 100, 0, NULL), VF_OK);
    assert_int_equal(c.reads, 15); /* ceil(100 / 7) */
    vf_io_close(w);
}

/* The wrapper may be freed before its handles; they keep working until closed. */
static void test_free_with_open_handles(void **state)
{
    fixture *fx = *state;
    vf_io *a = open_f(fx, 0, VF_IO_RDWR | VF_IO_CREATE);
    vf_fault_free(fx->f);
    fx->f = NULL;
    assert_int_equal(vf_io_write(a, "late", 4, 0, NULL), VF_OK);
    vf_io_close(a);
    size_t len;
    uint8_t *p = get_file(fx, 0, &len);
    assert_int_equal(len, 4);
    free(p);
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &on_mem),                        \
        cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &on_posix)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_counts),
        BOTH(test_write_eio),
        BOTH(test_write_enospc),
        BOTH(test_write_short),
        BOTH(test_sync_fail),
        BOTH(test_crash),
        BOTH(test_power_loss),
        BOTH(test_power_loss_after_sync),
        BOTH(test_read_pieces_and_flip),
        BOTH(test_free_with_open_handles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
