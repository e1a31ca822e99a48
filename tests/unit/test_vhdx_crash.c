/* test_vhdx_crash.c - crash sweep of the VHDX write path: a differencing image receives new
 * blocks, sectors into a partially present block (sector-bitmap bits through the log), a ZERO
 * block and a set_parent, then flushes; power is lost at every write index in turn (the last
 * write torn). Afterwards the file must open read-only (log replayed in memory) and read-write
 * (replayed on disk), agree between the two, and every sector must hold its old or its new
 * content - never anything else. Uses tests/support/io_fault over the memory file system. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_loss_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
