/* test_vhd_write.c - vhd/write.c and vhd/create.c: create + write + read round trips for
 * fixed, dynamic and differencing images (sector-granular, spanning blocks, whole blocks,
 * write_zeroes), the extent map after writes, the crash-safe allocation order (BAT only
 * after data and a sync, a valid footer at EOF at every instant), reserve and the pending
 * limit. A recording vf_io (tests/support/vhd_build) logs every write and sync. */
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
#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- helpers ---- */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static void fill_rand(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rnd() | 1); /* never zero: absent data must show as zero */
}

static vf_image *create_mem(vf_disk_type type, uint64_t size, uint32_t block)
{
    vf_create_opts o;
    vf_parent_link link = {.relative = "base.vhd"};
    memset(link.id, 0x33, 16);
    vhd_build_opts(&o, type, size, block);
    if (type == VF_DISK_DIFF)
        o.parent = &link;
    vf_io *io;
    vf_image *img;
    vf_error err;
    assert_int_equal(vf_io_mem_new(NULL, 0, "w.vhd", true, &io, &err), VF_OK);
    if (vf_image_create(io, "w.vhd", &o, &img, &err) != VF_OK)
        fail_msg("create: %s", err.msg);
    return img;
}

static void expect_content(vf_image *img, const uint8_t *model, uint64_t size, const char *what)
{
    uint8_t *got = malloc(size);
    vf_error err;
    if (vf_image_read(img, 0, got, size, &err) != VF_OK)
        fail_msg("%s: read: %s", what, err.msg);
    for (uint64_t i = 0; i < size; i++)
        if (got[i] != model[i])
            fail_msg("%s: byte %llu is 0x%02x, want 0x%02x", what, (unsigned long long)i, got[i],
                     model[i]);
    free(got);
}

/* Flush, copy the bytes, reopen read-only: the file alone must hold the content. */
static void expect_reopened(vf_image *img, const uint8_t *model, uint64_t size, const char *what)
{
    vf_error err;
    if (vf_image_flush(img, &err) != VF_OK)
        fail_msg("%s: flush: %s", what, err.msg);
    size_t n;
    const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
    vf_image *again;
    if (vhd_build_open(d, n, 0, &again, &err) != VF_OK)
        fail_msg("%s: reopen: %s", what, err.msg);
    expect_content(again, model, size, what);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(again, &rep, &err), VF_OK);
    if (vf_report_count(&rep, VF_SEV_WARNING))
        for (size_t k = 0; k < rep.count; k++)
            if (rep.items[k].severity >= VF_SEV_WARNING)
                fail_msg("%s: check: %s", what, rep.items[k].msg);
    vf_report_free(&rep);
    vf_image_close(again);
}

typedef struct wcase {
    const char *name;
    uint64_t voff, len; /* bytes; len 0 ends the list */
    bool zeroes;
} wcase;

static const wcase writes[] = {
    {"first sector", 0, 512, false},
    {"odd sector", 7 * 512, 512, false},
    {"sector in last block", 4 * MIB - 512, 512, false},
    {"spanning two blocks", 512 * KIB - 1024, 4096, false},
    {"whole block", 1 * MIB, 512 * KIB, false},
    {"spanning three blocks", 2 * MIB - 512, 1 * MIB + 1024, false},
    {"rewrite allocated", 4 * 512, 8 * 512, false},
    {"zeroes over data", 1 * MIB + 4096, 8192, true},
    {"zeroes over nothing", 6 * MIB, 64 * KIB, true},
};

static void run_writes(vf_disk_type type)
{
    const uint64_t size = 8 * MIB;
    rng_state = (uint64_t)type;
    vf_image *img = create_mem(type, size, 512 * KIB);
    uint8_t *model = calloc(1, size);
    uint8_t *present = calloc(1, size / 512); /* differencing: sectors this file defines */
    uint8_t *buf = malloc(2 * MIB);
    vf_error err;
    for (size_t i = 0; i < ARRAY_LEN(writes); i++) {
        const wcase *w = &writes[i];
        vf_status st;
        if (w->zeroes) {
            st = vf_image_write_zeroes(img, w->voff, w->len, &err);
            memset(model + w->voff, 0, w->len);
        } else {
            fill_rand(buf, w->len);
            st = vf_image_write(img, w->voff, buf, w->len, &err);
            memcpy(model + w->voff, buf, w->len);
        }
        if (st != VF_OK)
            fail_msg("%s: %s", w->name, err.msg);
        if (!(w->zeroes && type == VF_DISK_DYNAMIC))
            memset(present + w->voff / 512, 1, w->len / 512);
        expect_content(img, model, size, w->name);
    }
    /* The map: dynamic blocks are whole once allocated, differencing ones per sector. */
    for (uint64_t s = 0; s < size / 512; s++) {
        vf_extent e;
        assert_int_equal(vf_image_map(img, s * 512, 512, &e, &err), VF_OK);
        if (type == VF_DISK_FIXED)
            assert_int_equal(e.kind, VF_EXTENT_PRESENT);
        else if (type == VF_DISK_DIFF && (e.kind == VF_EXTENT_PRESENT) != present[s])
            fail_msg("sector %llu: kind %d, written %d", (unsigned long long)s, e.kind, present[s]);
    }
    if (type == VF_DISK_DYNAMIC) /* blocks 0-7 written; write_zeroes left block 12 alone */
        assert_int_equal(vf_image_info_get(img)->allocated_blocks, 8);
    if (type == VF_DISK_DIFF) /* ... but hides the parent in a differencing image */
        assert_int_equal(vf_image_info_get(img)->allocated_blocks, 9);
    expect_reopened(img, model, size, "reopened");
    free(buf);
    free(present);
    free(model);
    vf_image_close(img);
}

static void test_fixed_rw(void **state)
{
    (void)state;
    run_writes(VF_DISK_FIXED);
}
static void test_dynamic_rw(void **state)
{
    (void)state;
    run_writes(VF_DISK_DYNAMIC);
}
static void test_diff_rw(void **state)
{
    (void)state;
    run_writes(VF_DISK_DIFF);
}

/* Runs: one map call covers a long absent stretch across blocks, a present run stops at the
 * block end (data of the next block is not contiguous in the file). */
static void test_map_runs(void **state)
{
    (void)state;
    vf_image *img = create_mem(VF_DISK_DIFF, 4 * MIB, 512 * KIB);
    uint8_t buf[1024];
    memset(buf, 7, sizeof buf);
    vf_error err;
    assert_int_equal(vf_image_write(img, 3 * MIB - 512, buf, 1024, &err), VF_OK);
    vf_extent e;
    assert_int_equal(vf_image_map(img, 0, 4 * MIB, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_ABSENT);
    assert_int_equal(e.len, 3 * MIB - 512);
    assert_int_equal(vf_image_map(img, 3 * MIB - 512, 4 * MIB, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_PRESENT);
    assert_int_equal(e.len, 512);
    assert_int_equal(vf_image_map(img, 3 * MIB, 4 * MIB, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_PRESENT);
    assert_int_equal(e.len, 512);
    assert_int_equal(vf_image_map(img, 3 * MIB + 512, 4 * MIB, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_ABSENT);
    assert_int_equal(e.len, 1 * MIB - 512);
    vf_image_close(img);
}

/* New block: footer moved past the block and synced before the data; BAT entry written only
 * at flush, after the data and a sync; the file is valid (footer at EOF) before the flush. */
static void test_allocation_order(void **state)
{
    (void)state;
    vf_create_opts o;
    vf_error err;
    vhd_bytes base;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, 4 * MIB, 512 * KIB);
    assert_int_equal(vhd_build(&o, NULL, NULL, &base, &err), 0);
    vhd_rec *rp;
    vf_io *io;
    assert_int_equal(vhd_rec_new(base.data, base.len, &rp, &io, &err), VF_OK);
    const vhd_rec *r = rp;
    vf_image *img;
    assert_int_equal(vf_image_open(io, "r.vhd", VF_OPEN_RDWR, &img, &err), VF_OK);
    /* reopened, the handle pads before the new block's bitmap: its data starts on 4 KiB */
    uint64_t old_end = base.len - 512, blk = 512 + 512 * KIB;
    old_end += (4096 - (old_end + 512) % 4096) % 4096;
    uint8_t data[4096];
    memset(data, 0xc3, sizeof data);
    assert_int_equal(vf_image_write(img, 1 * MIB, data, sizeof data, &err), VF_OK);
    size_t foot = vhd_rec_find(r, 0, 'w', old_end + blk, old_end + blk + 1);
    size_t dat = vhd_rec_find(r, 0, 'w', old_end, old_end + blk);
    assert_true(foot != SIZE_MAX && dat != SIZE_MAX);
    assert_true(foot < dat && vhd_rec_sync_between(r, foot, dat));
    assert_int_equal(vhd_rec_find(r, 0, 'w', 1536, 2048), SIZE_MAX); /* BAT still untouched */
    /* Before the flush the file is a valid image that does not show the block yet. */
    size_t n;
    const uint8_t *now = vf_io_mem_data(rp->inner, &n);
    vf_image *peek;
    assert_int_equal(vhd_build_open(now, n, 0, &peek, &err), VF_OK);
    assert_int_equal(vf_image_info_get(peek)->allocated_blocks, 0);
    vf_image_close(peek);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    size_t bat = vhd_rec_find(r, 0, 'w', 1536, 2048);
    size_t last_data = dat;
    for (size_t i = dat; i < r->n; i++)
        if (r->ops[i].kind == 'w' && r->ops[i].off >= old_end && r->ops[i].off < old_end + blk)
            last_data = i;
    assert_true(bat != SIZE_MAX && bat > last_data && vhd_rec_sync_between(r, last_data, bat));
    assert_true(r->ops[r->n - 1].kind == 's'); /* the flush ends durable */
    /* Existing block: data in place, the new bits only after a sync. */
    size_t mark = r->n;
    assert_int_equal(vf_image_write(img, 1 * MIB + 8192, data, 512, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    assert_int_equal(vhd_rec_find(r, mark, 'w', 1536, 2048), SIZE_MAX); /* BAT unchanged */
    vf_image_close(img);
    vhd_rec_free(rp);
    vhd_build_free(&base);
}

/* Differencing: an existing block's new bits are published after the data and a sync. */
static void test_bits_after_data(void **state)
{
    (void)state;
    vf_create_opts o;
    vf_error err;
    vhd_bytes base;
    vf_parent_link link = {.relative = "p.vhd"};
    vhd_build_opts(&o, VF_DISK_DIFF, 4 * MIB, 512 * KIB);
    o.parent = &link;
    assert_int_equal(vhd_build(&o, NULL, NULL, &base, &err), 0);
    vhd_rec *rp;
    vf_io *io;
    assert_int_equal(vhd_rec_new(base.data, base.len, &rp, &io, &err), VF_OK);
    const vhd_rec *r = rp;
    vf_image *img;
    assert_int_equal(vf_image_open(io, "r.vhd", VF_OPEN_RDWR, &img, &err), VF_OK);
    uint8_t data[512];
    memset(data, 0x42, sizeof data);
    assert_int_equal(vf_image_write(img, 0, data, 512, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    uint64_t bm_off = base.len - 512; /* the block went where the footer was, padded so */
    bm_off += (4096 - (bm_off + 512) % 4096) % 4096; /* that its data starts on 4 KiB */
    size_t mark = r->n;
    assert_int_equal(vf_image_write(img, 4096, data, 512, &err), VF_OK);
    size_t dat = vhd_rec_find(r, mark, 'w', bm_off + 512 + 4096, bm_off + 512 + 4097);
    assert_true(dat != SIZE_MAX);
    assert_int_equal(vhd_rec_find(r, mark, 'w', bm_off, bm_off + 1), SIZE_MAX); /* bits deferred */
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    size_t bits = vhd_rec_find(r, mark, 'w', bm_off, bm_off + 1);
    assert_true(bits != SIZE_MAX && bits > dat && vhd_rec_sync_between(r, dat, bits));
    vf_extent e;
    assert_int_equal(vf_image_map(img, 4096, 512, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_PRESENT);
    assert_int_equal(vf_image_map(img, 512, 512, &e, &err), VF_OK);
    assert_int_equal(e.kind, VF_EXTENT_ABSENT);
    vf_image_close(img);
    vhd_rec_free(rp);
    vhd_build_free(&base);
}

/* reserve(n) moves the footer once; flush gives unused space back; the result checks clean. */
static void test_reserve(void **state)
{
    (void)state;
    vf_image *img = create_mem(VF_DISK_DYNAMIC, 4 * MIB, 512 * KIB);
    vf_error err;
    uint64_t start = vf_image_info_get(img)->file_size, blk = 512 + 512 * KIB;
    assert_int_equal(vf_image_reserve(img, 6, &err), VF_OK);
    uint8_t *model = calloc(1, 4 * MIB), data[512];
    memset(data, 9, sizeof data);
    assert_int_equal(vf_image_write(img, 0, data, 512, &err), VF_OK);
    assert_int_equal(vf_image_info_get(img)->file_size, start + 6 * blk);
    assert_int_equal(vf_image_write(img, 1 * MIB, data, 512, &err), VF_OK);
    assert_int_equal(vf_image_info_get(img)->file_size, start + 6 * blk); /* not moved again */
    memcpy(model, data, 512);
    memcpy(model + 1 * MIB, data, 512);
    expect_reopened(img, model, 4 * MIB, "reserve");
    assert_int_equal(vf_image_info_get(img)->file_size, start + 2 * blk);
    size_t n;
    vf_io_mem_data(vf_image_io(img), &n);
    assert_int_equal(n, start + 2 * blk);
    free(model);
    vf_image_close(img);
}

/* Without VF_CREATE_PACKED every block the handle allocates has its data on a 4 KiB file
 * offset (padding before its bitmap), also after a reopen, and check calls the padding
 * nobody's orphaned space; with the flag blocks follow each other (data 512 bytes off). */
static void test_data_aligned(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        vf_create_opts o;
        vf_io *io;
        vf_image *img;
        vf_error err;
        vhd_build_opts(&o, VF_DISK_DYNAMIC, 4 * MIB, 512 * KIB);
        o.flags = packed ? VF_CREATE_PACKED : 0;
        assert_int_equal(vf_io_mem_new(NULL, 0, "a.vhd", true, &io, &err), VF_OK);
        assert_int_equal(vf_image_create(io, "a.vhd", &o, &img, &err), VF_OK);
        uint8_t *model = calloc(1, 4 * MIB), data[512];
        memset(data, 0x5a, sizeof data);
        for (uint64_t b = 0; b < 3; b++) {
            assert_int_equal(vf_image_write(img, b * 1536 * KIB, data, 512, &err), VF_OK);
            memcpy(model + b * 1536 * KIB, data, 512);
        }
        expect_reopened(img, model, 4 * MIB, packed ? "packed" : "aligned");
        for (uint64_t b = 0; b < 3; b++) {
            vf_extent e;
            assert_int_equal(vf_image_map(img, b * 1536 * KIB, 512, &e, &err), VF_OK);
            assert_int_equal(e.kind, VF_EXTENT_PRESENT);
            assert_int_equal(e.file_off % 4096 != 0, packed); /* packed: 0xa00, 0xc00, 0xe00 */
        }
        vf_image_close(img);
        free(model);
    }
}

/* More new blocks than the pending limit without a flush: earlier batches are published
 * automatically, and at every point the bytes form a valid image. */
static void test_pending_limit(void **state)
{
    (void)state;
    const uint32_t bs = 512;
    vf_image *img = create_mem(VF_DISK_DYNAMIC, 200 * bs, bs);
    vf_error err;
    uint8_t data[512];
    memset(data, 0x77, sizeof data);
    for (uint32_t b = 0; b < 100; b++)
        assert_int_equal(vf_image_write(img, (uint64_t)b * bs, data, 512, &err), VF_OK);
    size_t n;
    const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
    vf_image *peek;
    assert_int_equal(vhd_build_open(d, n, 0, &peek, &err), VF_OK);
    uint64_t seen = vf_image_info_get(peek)->allocated_blocks;
    assert_true(seen >= 64 && seen < 100); /* one batch published, the rest still pending */
    vf_image_close(peek);
    uint8_t *model = calloc(1, 200 * bs);
    for (uint32_t b = 0; b < 100; b++)
        memset(model + (uint64_t)b * bs, 0x77, 512);
    expect_reopened(img, model, 200 * bs, "pending limit");
    free(model);
    vf_image_close(img);
}

/* Create is deterministic: same opts, same bytes. */
static void test_create_deterministic(void **state)
{
    (void)state;
    vf_create_opts o;
    vf_error err;
    vhd_bytes a, b;
    vf_parent_link link = {.relative = "x/p.vhd", .absolute = "/srv/x/p.vhd", .timestamp = 5};
    vhd_build_opts(&o, VF_DISK_DIFF, 10 * MIB, 0);
    o.parent = &link;
    assert_int_equal(vhd_build(&o, NULL, NULL, &a, &err), 0);
    assert_int_equal(vhd_build(&o, NULL, NULL, &b, &err), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* Layout: footer copy, header at 512, BAT at 1536 padded, locators 512-aligned. */
    assert_memory_equal(a.data, "conectix", 8);
    assert_memory_equal(a.data + 512, "cxsparse", 8);
    assert_int_equal(vhd_build_get32(a.data, 512 + 20), 1536);
    assert_int_equal(vhd_build_get32(a.data, 512 + 28), 5);            /* ceil(10 MiB / 2 MiB) */
    assert_int_equal(vhd_build_get32(a.data, 1536 + 16), 0xFFFFFFFF);  /* padding */
    assert_int_equal(vhd_build_get32(a.data, 512 + 576 + 20), 2048);   /* W2ku data */
    assert_int_equal(vhd_build_get32(a.data, 512 + 576 + 4) % 512, 0); /* space in bytes */
    assert_int_equal(vhd_build_get32(a.data, 512 + 576 + 24 + 20) % 512, 0);
    assert_memory_equal(a.data, a.data + a.len - 512, 512);
    vhd_build_free(&a);
    vhd_build_free(&b);
}

static void test_create_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        vf_disk_type type;
        uint64_t size;
        uint32_t block;
    } bad[] = {
        {"size 0", VF_DISK_DYNAMIC, 0, 0},
        {"size not sector multiple", VF_DISK_DYNAMIC, 1000, 0},
        {"size over 2040 GiB", VF_DISK_DYNAMIC, 2041ull << 30, 0},
        {"block not pow2", VF_DISK_DYNAMIC, 1 * MIB, 3000},
        {"block under 512", VF_DISK_DYNAMIC, 1 * MIB, 256},
        {"diff without parent", VF_DISK_DIFF, 1 * MIB, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        vf_create_opts o;
        vf_error err;
        vhd_bytes b;
        vhd_build_opts(&o, bad[i].type, bad[i].size, bad[i].block);
        if (vhd_build(&o, NULL, NULL, &b, &err) == 0 || err.code != VF_E_INVAL)
            fail_msg("%s: accepted or wrong status", bad[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_rw),         cmocka_unit_test(test_dynamic_rw),
        cmocka_unit_test(test_diff_rw),          cmocka_unit_test(test_map_runs),
        cmocka_unit_test(test_allocation_order), cmocka_unit_test(test_bits_after_data),
        cmocka_unit_test(test_reserve),          cmocka_unit_test(test_data_aligned),
        cmocka_unit_test(test_pending_limit),    cmocka_unit_test(test_create_deterministic),
        cmocka_unit_test(test_create_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
