/* test_vhdx_move.c - a VHDX block replaced whole by shared extents moves to the file end
 * (format/vhdx/write.c vx_move; docs/merge.md "Reflinks"): over the fault wrapper's share
 * mode (a file system with reflinks, modelled on memory files), a whole-block write_from onto
 * a fully present block gives the block a new place at the file end, punches the old one,
 * and reads back the same after a reopen; check calls the hole free space (a note, no
 * warning). Partial writes, writes from a buffer, blocks the handle placed itself and a file
 * system without reflinks leave blocks where they are. Zeros in place (vf_image_zero_in_place,
 * the merger's zeros over DESTINATION's data) punch a present block's range where it lies, one
 * call per block, and a fixed image gets them written. Layer: tests (format/vhdx). */
#include "io_fault.h"
#include "test_vhdx_support.h"

#include <vhdfold/vf_report.h>

#define BS (1u * MIB)
#define VSIZE (8u * MIB)

typedef struct mv {
    vf_fs *mem;
    vf_fault *f;
    uint8_t *model; /* what the disk must read as */
    uint8_t *srcb;  /* the source file's bytes */
} mv;

/* A dynamic VHDX whose blocks 0..3 are present (written from a buffer, flushed), and a
 * source file of 4 MiB of other bytes. */
static void mv_setup(mv *m, bool share)
{
    assert_int_equal(vf_fs_mem_new(&m->mem, NULL), VF_OK);
    assert_int_equal(vf_fault_new(m->mem, &m->f, NULL), VF_OK);
    vf_fault_set_share(m->f, share);
    m->model = calloc(1, VSIZE);
    m->srcb = malloc(4 * MIB);
    assert_non_null(m->model);
    assert_non_null(m->srcb);
    t_fill(m->model, 4 * MIB, 0, 1);
    t_fill(m->srcb, 4 * MIB, 0, 2);
    vf_io *io;
    vf_image *img;
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = VF_DISK_DYNAMIC;
    o.virtual_size = VSIZE;
    o.block_size = BS;
    assert_int_equal(vf_fs_open(m->mem, "d.vhdx", VF_IO_RDWR | VF_IO_CREATE, &io, NULL), VF_OK);
    assert_int_equal(vf_image_create(io, "d.vhdx", &o, &img, NULL), VF_OK);
    assert_int_equal(vf_image_write(img, 0, m->model, 4 * MIB, NULL), VF_OK);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    vf_image_close(img);
    assert_int_equal(vf_fs_open(m->mem, "s.raw", VF_IO_RDWR | VF_IO_CREATE, &io, NULL), VF_OK);
    assert_int_equal(vf_io_write(io, m->srcb, 4 * MIB, 0, NULL), VF_OK);
    vf_io_close(io);
}

static void mv_free(mv *m)
{
    vf_fault_free(m->f);
    vf_fs_mem_free(m->mem);
    free(m->model);
    free(m->srcb);
}

static vf_image *mv_open(mv *m, vf_io **src)
{
    vf_io *io;
    vf_image *img;
    const vf_fs *fs = vf_fault_fs(m->f);
    assert_int_equal(vf_fs_open(fs, "d.vhdx", VF_IO_RDWR, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, "d.vhdx", VF_OPEN_RDWR, &img, NULL), VF_OK);
    if (src)
        assert_int_equal(vf_fs_open(fs, "s.raw", VF_IO_RDONLY, src, NULL), VF_OK);
    return img;
}

static uint64_t mv_file_off(vf_image *img, uint64_t voff)
{
    vf_extent e;
    assert_int_equal(vf_image_map(img, voff, BS, &e, NULL), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_PRESENT);
    return e.file_off - (voff - e.voff);
}

/* src's [soff, +len) as the disk's [voff, +len), in the model too. */
static void mv_write_from(mv *m, vf_image *img, vf_io *src, uint64_t voff, uint64_t soff,
                          size_t len)
{
    assert_int_equal(vf_image_write_from(img, voff, src, soff, len, NULL), VF_OK);
    memcpy(m->model + voff, m->srcb + soff, len);
}

static void mv_expect(mv *m, vf_image *img)
{
    uint8_t *got = malloc(VSIZE);
    assert_non_null(got);
    assert_int_equal(vf_image_read(img, 0, got, VSIZE, NULL), VF_OK);
    assert_memory_equal(got, m->model, VSIZE);
    free(got);
}

/* check's findings: warnings or worse, and whether the free-space note is there. */
static size_t mv_check(vf_image *img, bool *note)
{
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, NULL), VF_OK);
    size_t bad = vf_report_count(&rep, VF_SEV_WARNING);
    *note = false;
    for (size_t i = 0; i < rep.count; i++)
        *note |= strstr(rep.items[i].msg, "free space:") != NULL;
    vf_report_free(&rep);
    return bad;
}

static void test_whole_block_moves(void **state)
{
    (void)state;
    mv m;
    mv_setup(&m, true);
    vf_io *src;
    vf_image *img = mv_open(&m, &src);
    uint64_t end0 = vf_image_info_get(img)->file_size;
    uint64_t b1 = mv_file_off(img, 1 * MIB), b2 = mv_file_off(img, 2 * MIB);
    uint64_t b3 = mv_file_off(img, 3 * MIB);
    mv_write_from(&m, img, src, 1 * MIB, 0, BS);           /* whole: moves */
    mv_write_from(&m, img, src, 2 * MIB, 4096, 65536);     /* partial: in place */
    mv_write_from(&m, img, src, 3 * MIB + 0, 1 * MIB, BS); /* whole: moves, after block 1 */
    uint64_t n1 = mv_file_off(img, 1 * MIB), n3 = mv_file_off(img, 3 * MIB);
    assert_true(n1 >= end0 && n1 % MIB == 0);
    assert_int_equal(n3, n1 + BS); /* side by side, as the source's bytes are */
    assert_int_equal(mv_file_off(img, 2 * MIB), b2);
    mv_write_from(&m, img, src, 1 * MIB, 2 * MIB, BS); /* the handle's own block: in place */
    assert_int_equal(mv_file_off(img, 1 * MIB), n1);
    assert_int_equal(vf_image_write(img, 0, m.srcb + 3 * MIB, BS, NULL), VF_OK); /* buffer */
    memcpy(m.model, m.srcb + 3 * MIB, BS);
    mv_expect(&m, img);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    vf_image_close(img);
    vf_io_close(src);
    img = mv_open(&m, NULL);
    mv_expect(&m, img);
    assert_int_equal(mv_file_off(img, 1 * MIB), n1);
    uint8_t old[4096], zero[4096] = {0};
    vf_io *io = vf_image_io(img);
    assert_int_equal(vf_io_read(io, old, sizeof old, b1, NULL), VF_OK);
    assert_memory_equal(old, zero, sizeof old); /* punched */
    assert_int_equal(vf_io_read(io, old, sizeof old, b3 + BS - sizeof old, NULL), VF_OK);
    assert_memory_equal(old, zero, sizeof old);
    bool note = false;
    assert_int_equal(mv_check(img, &note), 0);
    assert_true(note);
    vf_image_close(img);
    mv_free(&m);
}

/* No reflinks: every block stays where it was; no free space to report. */
static void test_no_share_in_place(void **state)
{
    (void)state;
    mv m;
    mv_setup(&m, false);
    vf_io *src;
    vf_image *img = mv_open(&m, &src);
    uint64_t b1 = mv_file_off(img, 1 * MIB), size0 = vf_image_info_get(img)->file_size;
    mv_write_from(&m, img, src, 1 * MIB, 0, BS);
    assert_int_equal(mv_file_off(img, 1 * MIB), b1);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    assert_int_equal(vf_image_info_get(img)->file_size, size0);
    mv_expect(&m, img);
    bool note = true;
    assert_int_equal(mv_check(img, &note), 0);
    assert_false(note);
    vf_image_close(img);
    vf_io_close(src);
    mv_free(&m);
}

/* A source offset off 4 KiB cannot be shared: the block is written in place. */
static void test_unaligned_source_in_place(void **state)
{
    (void)state;
    mv m;
    mv_setup(&m, true);
    vf_io *src;
    vf_image *img = mv_open(&m, &src);
    uint64_t b1 = mv_file_off(img, 1 * MIB);
    mv_write_from(&m, img, src, 1 * MIB, 512, BS);
    assert_int_equal(mv_file_off(img, 1 * MIB), b1);
    mv_expect(&m, img);
    vf_image_close(img);
    vf_io_close(src);
    mv_free(&m);
}

/* Zeros in place over present blocks: each range punched where it lies (one counted write per
 * block, where writing zero bytes takes one per 64 KiB), the blocks keep their places, the
 * disk reads the zeros before and after a reopen, and check finds nothing wrong. */
static void test_zero_in_place_punches(void **state)
{
    (void)state;
    mv m;
    mv_setup(&m, true);
    vf_image *img = mv_open(&m, NULL);
    uint64_t b1 = mv_file_off(img, 1 * MIB), b2 = mv_file_off(img, 2 * MIB);
    assert_int_equal(vf_image_write(img, 0, m.model, 4096, NULL), VF_OK); /* headers first */
    vf_fault_reset(m.f);
    assert_int_equal(vf_image_zero_in_place(img, 1 * MIB, BS, NULL), VF_OK);
    assert_int_equal(vf_fault_writes(m.f), 1);
    vf_fault_reset(m.f);
    assert_int_equal(vf_image_zero_in_place(img, 2 * MIB + 4096, 8192, NULL), VF_OK);
    assert_int_equal(vf_fault_writes(m.f), 1);
    memset(m.model + 1 * MIB, 0, BS);
    memset(m.model + 2 * MIB + 4096, 0, 8192);
    assert_int_equal(mv_file_off(img, 1 * MIB), b1);
    assert_int_equal(mv_file_off(img, 2 * MIB), b2);
    mv_expect(&m, img);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    vf_image_close(img);
    img = mv_open(&m, NULL);
    mv_expect(&m, img);
    bool note = true;
    assert_int_equal(mv_check(img, &note), 0);
    assert_false(note); /* the punched bytes lie inside blocks: no gap, no free space to note */
    vf_image_close(img);
    mv_free(&m);
}

/* A fixed VHDX keeps every byte of its blocks allocated: its zeros in place are written (one
 * counted write per 64 KiB), not punched. */
static void test_zero_in_place_fixed_writes(void **state)
{
    (void)state;
    vf_fs *mem;
    vf_fault *f;
    assert_int_equal(vf_fs_mem_new(&mem, NULL), VF_OK);
    assert_int_equal(vf_fault_new(mem, &f, NULL), VF_OK);
    vf_fault_set_share(f, true);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = VF_DISK_FIXED;
    o.virtual_size = VSIZE;
    vf_io *io;
    vf_image *img;
    assert_int_equal(vf_fs_open(vf_fault_fs(f), "f.vhdx", VF_IO_RDWR | VF_IO_CREATE, &io, NULL),
                     VF_OK);
    assert_int_equal(vf_image_create(io, "f.vhdx", &o, &img, NULL), VF_OK);
    uint8_t *ones = malloc(BS), *got = malloc(BS);
    assert_non_null(ones);
    assert_non_null(got);
    memset(ones, 0x5a, BS);
    assert_int_equal(vf_image_write(img, 1 * MIB, ones, BS, NULL), VF_OK);
    vf_fault_reset(f);
    assert_int_equal(vf_image_zero_in_place(img, 1 * MIB, BS, NULL), VF_OK);
    assert_int_equal(vf_fault_writes(f), BS / (64 * 1024));
    assert_int_equal(vf_image_read(img, 1 * MIB, got, BS, NULL), VF_OK);
    memset(ones, 0, BS);
    assert_memory_equal(got, ones, BS);
    free(ones);
    free(got);
    vf_image_close(img);
    vf_fault_free(f);
    vf_fs_mem_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_block_moves),
        cmocka_unit_test(test_no_share_in_place),
        cmocka_unit_test(test_unaligned_source_in_place),
        cmocka_unit_test(test_zero_in_place_punches),
        cmocka_unit_test(test_zero_in_place_fixed_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
