/* test_vhdx_crash.c - crash sweep of the VHDX write path: a differencing image receives new
 * blocks, sectors into a partially present block (sector-bitmap bits through the log), a ZERO
 * block and a set_parent, then flushes; power is lost at every write index in turn (the last
 * write torn). Afterwards the file must open read-only (log replayed in memory) and read-write
 * (replayed on disk), agree between the two, and every sector must hold its old or its new
 * content - never anything else. The same sweep over growing the virtual size (resize, then a
 * write into the new space): the old size with the old data, or the new size with the old
 * data and zeros or the new write beyond. Uses tests/support/io_fault over the memory fs. */
#include "io_fault.h"
#include "test_vhdx_support.h"

#define SIZE (4u * MIB)
#define SS 512u

static uint8_t *oldm, *newm;
static tbuf orig;

static void w(vf_image *img, uint64_t voff, size_t len, uint8_t salt, vf_error *err, vf_status *s)
{
    if (*s)
        return;
    t_fill(newm + voff, len, voff, salt);
    *s = vf_image_write(img, voff, newm + voff, len, err);
}

/* The operation under test; returns the first failure. */
static vf_status op(const vf_fs *fs, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    vf_status s = vf_fs_open(fs, "c.vhdx", VF_IO_RDWR, &io, err);
    if (s)
        return s;
    if ((s = vf_image_open(io, "c.vhdx", VF_OPEN_RDWR, &img, err)))
        return s;
    w(img, 1536, 1024, 21, err, &s);          /* into the existing partial block 0 */
    w(img, 2u * MIB + 512, 512, 22, err, &s); /* new partial block 2 */
    w(img, 3u * MIB, MIB, 23, err, &s);       /* new full block 3 */
    if (!s) {
        s = vf_image_write_zeroes(img, MIB, MIB, err); /* block 1 -> ZERO */
        memset(newm + MIB, 0, MIB);
    }
    if (!s)
        s = vf_image_flush(img, err);
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memset(l.id, 0x33, 16);
    l.relative = "moved/parent.vhdx";
    if (!s)
        s = vf_image_set_parent(img, &l, err);
    vf_image_close(img);
    return s;
}

static void read_via(vf_fs *fs, unsigned flags, uint8_t *out)
{
    vf_io *io;
    vf_image *img;
    vf_error err = {0};
    assert_int_equal(vf_fs_open(fs, "c.vhdx", flags & VF_OPEN_RDWR ? VF_IO_RDWR : 0, &io, &err),
                     VF_OK);
    if (vf_image_open(io, "c.vhdx", flags, &img, &err) != VF_OK)
        fail_msg("reopen (%s): %s", flags ? "rw" : "ro", err.msg);
    assert_int_equal(vf_image_read(img, 0, out, SIZE, &err), VF_OK);
    vf_image_close(img);
}

static void test_power_loss_sweep(void **state)
{
    (void)state;
    /* the starting image: partial block 0 (sectors 4..11) */
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memset(l.id, 0x22, 16);
    l.relative = "parent.vhdx";
    oldm = calloc(1, SIZE);
    newm = calloc(1, SIZE);
    vf_image *img = t_create(&orig, VF_DISK_DIFF, SIZE, MIB, SS, &l);
    t_fill(oldm + 2048, 4096, 2048, 20);
    vf_error err = {0};
    assert_int_equal(vf_image_write(img, 2048, oldm + 2048, 4096, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);

    vf_fs *mem;
    vf_fault *f;
    assert_int_equal(vf_fs_mem_new(&mem, &err), VF_OK);
    assert_int_equal(vf_fault_new(mem, &f, &err), VF_OK);
    assert_int_equal(vf_fs_mem_put(mem, "c.vhdx", orig.d, orig.len, &err), VF_OK);
    memcpy(newm, oldm, SIZE);
    assert_int_equal(op(vf_fault_fs(f), &err), VF_OK);
    uint64_t n = vf_fault_writes(f);
    assert_true(n > 5);
    uint8_t *got = malloc(SIZE), *got_rw = malloc(SIZE);
    read_via(mem, 0, got);
    assert_memory_equal(got, newm, SIZE);
    unsigned saw_old = 0, saw_new = 0;
    for (uint64_t i = 1; i <= n; i++) {
        assert_int_equal(vf_fs_mem_put(mem, "c.vhdx", orig.d, orig.len, &err), VF_OK);
        vf_fault_plan plan = {.kind = VF_FAULT_POWER, .at = i, .torn_sectors = 1};
        assert_int_equal(vf_fault_arm(f, &plan), VF_OK);
        memcpy(newm, oldm, SIZE);
        vf_status s = op(vf_fault_fs(f), &err);
        if (s == VF_OK || !vf_fault_fired(f))
            fail_msg("write %llu: the fault did not stop the operation", (unsigned long long)i);
        vf_fault_reset(f);
        read_via(mem, 0, got);
        read_via(mem, VF_OPEN_RDWR, got_rw);
        assert_memory_equal(got, got_rw, SIZE);
        for (size_t sct = 0; sct < SIZE / SS; sct++) {
            const uint8_t *g = got + sct * SS;
            if (memcmp(g, oldm + sct * SS, SS) && memcmp(g, newm + sct * SS, SS))
                fail_msg("power lost at write %llu: sector %zu is neither old nor new",
                         (unsigned long long)i, sct);
        }
        saw_old += !memcmp(got, oldm, SIZE);
        saw_new += !memcmp(got, newm, SIZE);
    }
    print_message("power lost at each of %llu writes: %u old, %u new, %llu mixed-by-sector\n",
                  (unsigned long long)n, saw_old, saw_new,
                  (unsigned long long)(n - saw_old - saw_new));
    assert_true(saw_old > 0); /* early losses keep the old state */
    assert_true(saw_new > 0); /* losses after the publication keep the new one */
    free(got);
    free(got_rw);
    vf_fault_free(f);
    vf_fs_mem_free(mem);
    free(oldm);
    free(newm);
    tb_free(&orig);
}

/* --- growing the virtual size under power loss ----------------------------------------- */

#define R_OLD (3u * MIB + 512) /* a short, fully present last block */
#define R_NEW (6u * MIB)

static vf_status op_resize(const vf_fs *fs, vf_error *err)
{
    vf_io *io;
    vf_image *img;
    vf_status s = vf_fs_open(fs, "r.vhdx", VF_IO_RDWR, &io, err);
    if (s)
        return s;
    if ((s = vf_image_open(io, "r.vhdx", VF_OPEN_RDWR, &img, err)))
        return s;
    s = vf_image_resize(img, R_NEW, err);
    w(img, 5u * MIB, 8192, 31, err, &s); /* into the new space, then published */
    if (!s)
        s = vf_image_flush(img, err);
    vf_image_close(img);
    return s;
}

/* Open read-only and read-write: both must work, agree, and show the old size with the old
 * data or the new size with the old data, cleared tail, and zeros or the new write after. */
static void resize_outcome(vf_fs *mem, uint8_t *got, uint64_t at, unsigned *saw_old,
                           unsigned *saw_new)
{
    uint64_t size[2];
    uint8_t *rw = malloc(R_NEW);
    for (int pass = 0; pass < 2; pass++) {
        vf_io *io;
        vf_image *img;
        vf_error err = {0};
        assert_int_equal(vf_fs_open(mem, "r.vhdx", pass ? VF_IO_RDWR : 0, &io, &err), VF_OK);
        if (vf_image_open(io, "r.vhdx", pass ? VF_OPEN_RDWR : 0, &img, &err) != VF_OK)
            fail_msg("power lost at write %llu: reopen: %s", (unsigned long long)at, err.msg);
        size[pass] = vf_image_info_get(img)->virtual_size;
        assert_int_equal(vf_image_read(img, 0, pass ? rw : got, (size_t)size[pass], &err), VF_OK);
        vf_image_close(img);
    }
    assert_int_equal(size[0], size[1]);
    assert_memory_equal(got, rw, (size_t)size[0]);
    free(rw);
    if (size[0] != R_OLD && size[0] != R_NEW)
        fail_msg("power lost at write %llu: virtual size %llu", (unsigned long long)at,
                 (unsigned long long)size[0]);
    if (memcmp(got, oldm, R_OLD) != 0)
        fail_msg("power lost at write %llu: the old data changed", (unsigned long long)at);
    if (size[0] == R_OLD) {
        (*saw_old)++;
        return;
    }
    (*saw_new)++;
    for (uint64_t sct = R_OLD / SS; sct < R_NEW / SS; sct++) {
        const uint8_t *g = got + sct * SS;
        static const uint8_t zero[SS];
        if (memcmp(g, zero, SS) && memcmp(g, newm + sct * SS, SS))
            fail_msg("power lost at write %llu: grown sector %llu is neither zero nor new",
                     (unsigned long long)at, (unsigned long long)sct);
    }
}

static void test_resize_power_loss(void **state)
{
    (void)state;
    oldm = calloc(1, R_NEW);
    newm = calloc(1, R_NEW);
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, R_OLD, MIB, SS, NULL);
    t_fill(oldm, R_OLD, 0, 30);
    vf_error err = {0};
    assert_int_equal(vf_image_write(img, 0, oldm, R_OLD, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    vf_fs *mem;
    vf_fault *f;
    assert_int_equal(vf_fs_mem_new(&mem, &err), VF_OK);
    assert_int_equal(vf_fault_new(mem, &f, &err), VF_OK);
    assert_int_equal(vf_fs_mem_put(mem, "r.vhdx", t.d, t.len, &err), VF_OK);
    memcpy(newm, oldm, R_OLD);
    assert_int_equal(op_resize(vf_fault_fs(f), &err), VF_OK);
    uint64_t n = vf_fault_writes(f);
    assert_true(n > 5);
    uint8_t *got = malloc(R_NEW);
    unsigned saw_old = 0, saw_new = 0;
    resize_outcome(mem, got, 0, &saw_old, &saw_new);
    assert_int_equal(saw_new, 1);
    assert_memory_equal(got, newm, R_NEW); /* no fault: exactly the new state */
    for (uint64_t i = 1; i <= n; i++) {
        assert_int_equal(vf_fs_mem_put(mem, "r.vhdx", t.d, t.len, &err), VF_OK);
        vf_fault_plan plan = {.kind = VF_FAULT_POWER, .at = i, .torn_sectors = 1};
        assert_int_equal(vf_fault_arm(f, &plan), VF_OK);
        memset(newm, 0, R_NEW);
        memcpy(newm, oldm, R_OLD);
        vf_status s = op_resize(vf_fault_fs(f), &err);
        if (s == VF_OK || !vf_fault_fired(f))
            fail_msg("write %llu: the fault did not stop the operation", (unsigned long long)i);
        vf_fault_reset(f);
        resize_outcome(mem, got, i, &saw_old, &saw_new);
    }
    print_message("resize: power lost at each of %llu writes: %u old size, %u new size\n",
                  (unsigned long long)n, saw_old, saw_new - 1);
    assert_true(saw_old > 0);
    assert_true(saw_new > 1);
    free(got);
    vf_fault_free(f);
    vf_fs_mem_free(mem);
    free(oldm);
    free(newm);
    tb_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_loss_sweep),
        cmocka_unit_test(test_resize_power_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
