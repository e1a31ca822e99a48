/* test_merge_writes.c - what a merge writes, against what its plan printed (docs/bounds.md
 * "What a merge writes"): generated VHD and VHDX chains in a memory file system, several
 * profiles, depths and DESTINATIONs (the parent and further ancestors), merged through a
 * counting vf_fs that adds up, per file, the bytes written and the largest size reached.
 * Asserts that every file together grows by at most space_needed, DESTINATION alone too,
 * and that the bytes written to all files stay within the formula of docs/bounds.md.
 * Counts only, never times. Layer: tests (merger). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_test_util.h"
#include "vhdx/vhdx_int.h"

#define DIR_ "c"
#define MAXF 32

/* --- a vf_fs that counts the bytes written to each path and the largest size it reached --- */

typedef struct cfile {
    char path[96];
    bool existed;     /* the file existed before the first open through the wrapper */
    uint64_t start;   /* its size then (0 when new) */
    uint64_t peak;    /* largest size seen */
    uint64_t written; /* bytes passed to write_at */
} cfile;

typedef struct cfs {
    vf_fs fs;
    const vf_fs *inner;
    cfile f[MAXF];
    size_t n;
} cfs;

typedef struct chandle {
    vf_io *inner;
    cfile *f;
} chandle;

static void c_seen(cfile *f, uint64_t size)
{
    if (size > f->peak)
        f->peak = size;
}

static vf_status ch_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_read(((chandle *)self)->inner, buf, len, off, e);
}
static vf_status ch_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    chandle *h = self;
    h->f->written += len;
    c_seen(h->f, off + len);
    return vf_io_write(h->inner, buf, len, off, e);
}
static vf_status ch_sync(void *self, vf_error *e)
{
    return vf_io_sync(((chandle *)self)->inner, e);
}
static vf_status ch_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(((chandle *)self)->inner, size, e);
}
static vf_status ch_set_size(void *self, uint64_t size, vf_error *e)
{
    chandle *h = self;
    c_seen(h->f, size);
    return vf_io_set_size(h->inner, size, e);
}
static vf_status ch_lock(void *self, bool exclusive, vf_error *e)
{
    return vf_io_lock(((chandle *)self)->inner, exclusive, e);
}
static void ch_close(void *self)
{
    chandle *h = self;
    vf_io_close(h->inner);
    free(h);
}
static const vf_io_ops ch_ops = {.read_at = ch_read,
                                 .write_at = ch_write,
                                 .sync = ch_sync,
                                 .get_size = ch_size,
                                 .set_size = ch_set_size,
                                 .lock = ch_lock,
                                 .close = ch_close};

static cfile *cfs_file(cfs *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->f[i].path, path))
            return &c->f[i];
    assert_true(c->n < MAXF);
    cfile *f = &c->f[c->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    vf_io *io;
    if (vf_fs_open(c->inner, path, VF_IO_RDONLY, &io, NULL) == VF_OK) {
        f->existed = true;
        assert_int_equal(vf_io_size(io, &f->start, NULL), VF_OK);
        f->peak = f->start;
        vf_io_close(io);
    }
    return f;
}

static vf_status cfs_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    cfs *c = self;
    cfile *f = cfs_file(c, path);
    vf_io *in;
    vf_status st = c->inner->ops->open(c->inner->self, path, flags, &in, e);
    if (st != VF_OK) {
        *out = NULL;
        return st;
    }
    uint64_t size = 0;
    if (vf_io_size(in, &size, NULL) == VF_OK)
        c_seen(f, size); /* a file created or truncated here starts at its size now */
    chandle *h = malloc(sizeof *h);
    assert_non_null(h);
    h->inner = in;
    h->f = f;
    return vf_io_new(&ch_ops, h, path, in->writable, out, e);
}
static vf_status cfs_remove(void *self, const char *path, vf_error *e)
{
    cfs *c = self;
    return c->inner->ops->remove(c->inner->self, path, e);
}
static vf_status cfs_free(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    (void)self;
    (void)path;
    (void)e;
    *bytes = UINT64_MAX; /* the space check passes: what is written is what is counted */
    return VF_OK;
}
static vf_status cfs_sync_dir(void *self, const char *path, vf_error *e)
{
    cfs *c = self;
    return c->inner->ops->sync_dir(c->inner->self, path, e);
}
static const vf_fs_ops cfs_ops = {
    .open = cfs_open, .remove = cfs_remove, .free_space = cfs_free, .sync_dir = cfs_sync_dir};

static void cfs_init(cfs *c, const vf_fs *inner)
{
    memset(c, 0, sizeof *c);
    c->fs.ops = &cfs_ops;
    c->fs.self = c;
    c->inner = inner;
}

/* --- the cases --- */

typedef struct wcase {
    vf_format_kind fmt;
    unsigned depth;
    vf_gen_base base;
    vf_gen_profile prof;
    uint64_t seed;
    bool scatter; /* SOURCE also gets every other sector of the disk written */
} wcase;

static uint64_t worst_ratio_ppm; /* largest image bytes written / bound seen, per million */

#define KIB4 4096u
#define SLOT (128u << 10) /* VF_JOURNAL_SLOT_BYTES */

/* What DESTINATION and level k-1 look like before the merge (and level k-1's locator item
 * after it, for VHDX). */
typedef struct facts {
    vf_format_kind fmt;
    vf_disk_type dtype;
    uint64_t block, lss;
    uint64_t replay; /* log_replay_bytes of DESTINATION and level k-1 */
    uint64_t loc_len;
} facts;

static vf_image_info info_of(const vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, path, 0, &img, NULL), VF_OK);
    vf_image_info in = *vf_image_info_get(img);
    vf_image_close(img);
    return in;
}

/* Length of the parent locator item of a VHDX (read from its metadata table). */
static uint64_t vhdx_locator_len(const vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, path, 0, &img, NULL), VF_OK);
    const vx_state *st = vx_st(img);
    uint64_t len = st->loc_item == UINT32_MAX ? 0 : st->items[st->loc_item].len;
    vf_image_close(img);
    return len;
}

/* The block cost of docs/bounds.md: what one new block may add to DESTINATION. */
static uint64_t block_cost(const facts *f)
{
    uint64_t bitmap = (f->block / 512u / 8u + 511u) / 512u * 512u;
    /* VHD: and the padding that puts the block's data on 4 KiB (docs/merge.md "Reflinks") */
    return f->fmt == VF_FORMAT_VHD ? f->block + bitmap + 4096u - 512u : f->block + (1u << 20);
}

/* The bound of docs/bounds.md on the bytes a merge writes to the image files (DESTINATION and
 * level k-1), T = blocks_merged + batches (block and batch pairs: a batch boundary cuts at most
 * one block). */
static uint64_t image_bound(const vf_merge_result *r, const facts *f, uint64_t batches)
{
    uint64_t t = r->blocks_merged + batches;
    if (f->fmt == VF_FORMAT_VHD) {
        uint64_t m = (f->block / 512u / 8u + 511u) / 512u * 512u;
        uint64_t fill = f->dtype == VF_DISK_DYNAMIC ? f->block : 0;
        return r->bytes_merged + r->blocks_to_allocate * (m + fill) + t * (m + 512u) +
               batches * 3u * 512u + 2u * 512u;
    }
    /* sector-bitmap pages one block's bits can touch */
    uint64_t sbp = (f->block / f->lss / 8u + KIB4 - 1) / KIB4 + 1;
    return r->bytes_merged + t * (1u + sbp) * 2u * (KIB4 + 32u) + batches * 3u * KIB4 +
           2u * (f->loc_len + KIB4) + 8u * KIB4 + f->replay;
}

/* Every other 512-byte sector of SOURCE written: the merge sees one short run per sector, none
 * touching the next, so each is its own write into DESTINATION. */
static void scatter_sectors(const vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img;
    vf_error err = {0};
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR, &io, &err), VF_OK);
    assert_int_equal(vf_image_open(io, path, VF_OPEN_RDWR, &img, &err), VF_OK);
    uint64_t size = vf_image_info_get(img)->virtual_size;
    uint8_t sec[512];
    memset(sec, 0x3c, sizeof sec);
    for (uint64_t off = 0; off < size; off += 1024)
        if (vf_image_write(img, off, sec, sizeof sec, &err) != VF_OK)
            fail_msg("scatter: %s", err.msg);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
}

static void run_case(const wcase *c)
{
    vf_fs *mem;
    assert_int_equal(vf_fs_mem_new(&mem, NULL), VF_OK);
    vf_gen_result g;
    if (c->fmt == VF_FORMAT_VHDX)
        mt_gen_vhdx(mem, DIR_, c->depth, c->base, c->prof, c->seed, &g);
    else
        mt_gen(mem, DIR_, c->depth, c->base, c->prof, c->seed, &g);
    uint64_t block_size = c->fmt == VF_FORMAT_VHDX ? 1u << 20 : 512u << 10; /* mt_gen's */
    char src[64], dst[64];
    mt_path(src, sizeof src, DIR_, &g, c->depth);
    const char *names[MT_MAX_FILES];
    char paths[MT_MAX_FILES][64];
    for (unsigned l = 0; l <= c->depth; l++) {
        mt_path(paths[l], 64, DIR_, &g, l);
        names[l] = paths[l];
    }
    if (c->scatter)
        scatter_sectors(mem, src);
    mt_snap all;
    mt_snap_take(mem, names, c->depth + 1, &all);
    for (unsigned k = 1; k <= c->depth; k++) {
        mt_snap_restore(mem, &all);
        mt_path(dst, sizeof dst, DIR_, &g, c->depth - k);
        char below[64];
        mt_path(below, sizeof below, DIR_, &g, c->depth - k + 1);
        vf_image_info di = info_of(mem, dst), bi = info_of(mem, below);
        facts fa = {c->fmt,
                    di.type,
                    di.block_size ? di.block_size : block_size,
                    di.logical_sector_size,
                    di.log_replay_bytes + bi.log_replay_bytes,
                    0};
        cfs cf;
        cfs_init(&cf, mem);
        vf_merge_opts o;
        vf_merge_opts_init(&o);
        o.source = src;
        o.destination = dst;
        o.fs = &cf.fs;
        o.batch_bytes = 1u << 20;
        vf_merge_result plan, r;
        o.dry_run = true;
        if (vf_merge_run(&o, &plan) != 0)
            fail_msg("dry run: %s", plan.err.msg);
        for (size_t i = 0; i < cf.n; i++)
            if (cf.f[i].written)
                fail_msg("the dry run wrote %llu bytes to '%s'",
                         (unsigned long long)cf.f[i].written, cf.f[i].path);
        cfs_init(&cf, mem);
        o.dry_run = false;
        if (vf_merge_run(&o, &r) != 0)
            fail_msg("merge: %s", r.err.msg);
        char what[200];
        snprintf(what, sizeof what, "%s depth %u base %s profile %s seed %llu into level %u",
                 vf_format_name(c->fmt), c->depth, vf_gen_base_name(c->base),
                 vf_gen_profile_name(c->prof), (unsigned long long)c->seed, c->depth - k);
        /* the plan printed by --dry-run is the one the merge follows */
        assert_int_equal(plan.bytes_merged, r.bytes_merged);
        assert_int_equal(plan.blocks_to_allocate, r.blocks_to_allocate);
        assert_int_equal(plan.space_needed, r.space_needed);
        char jpath[80];
        snprintf(jpath, sizeof jpath, "%s.vfmerge", dst);
        uint64_t growth = 0, dgrowth = 0, written = 0, jwritten = 0;
        for (size_t i = 0; i < cf.n; i++) {
            const cfile *f = &cf.f[i];
            uint64_t grew = f->peak - f->start;
            growth += grew;
            if (!strcmp(f->path, jpath))
                jwritten += f->written;
            else
                written += f->written;
            if (!strcmp(f->path, dst))
                dgrowth = grew;
            if (getenv("VF_WRITES_DETAIL"))
                print_message("  %s: wrote %llu, grew %llu\n", f->path,
                              (unsigned long long)f->written, (unsigned long long)grew);
        }
        if (c->fmt == VF_FORMAT_VHDX)
            fa.loc_len = vhdx_locator_len(mem, below);
        /* the copy's batches: full ones, and one more that may hold the rest or nothing */
        uint64_t batches = r.bytes_merged / o.batch_bytes + 1;
        uint64_t bound = image_bound(&r, &fa, batches);
        uint64_t dbound = r.blocks_to_allocate * block_cost(&fa) + di.log_replay_bytes;
        print_message("%s: merged %llu, blocks %llu (new %llu), space_needed %llu; grew %llu "
                      "(DESTINATION %llu, bound %llu), images wrote %llu (bound %llu), journal "
                      "%llu\n",
                      what, (unsigned long long)r.bytes_merged, (unsigned long long)r.blocks_merged,
                      (unsigned long long)r.blocks_to_allocate, (unsigned long long)r.space_needed,
                      (unsigned long long)growth, (unsigned long long)dgrowth,
                      (unsigned long long)dbound, (unsigned long long)written,
                      (unsigned long long)bound, (unsigned long long)jwritten);
        if (dgrowth > dbound)
            fail_msg("%s: DESTINATION grew by %llu bytes, more than %llu new blocks at %llu "
                     "bytes each",
                     what, (unsigned long long)dgrowth, (unsigned long long)r.blocks_to_allocate,
                     (unsigned long long)block_cost(&fa));
        if (growth > r.space_needed)
            fail_msg("%s: the files grew by %llu bytes together, the plan promised at most %llu",
                     what, (unsigned long long)growth, (unsigned long long)r.space_needed);
        if (written > bound)
            fail_msg("%s: %llu bytes written to the images, the bound is %llu", what,
                     (unsigned long long)written, (unsigned long long)bound);
        if (jwritten > (batches + 4u) * SLOT)
            fail_msg("%s: %llu bytes written to the journal, the bound is %llu", what,
                     (unsigned long long)jwritten, (unsigned long long)((batches + 4u) * SLOT));
        uint64_t ppm = written * 1000000u / bound;
        if (ppm > worst_ratio_ppm)
            worst_ratio_ppm = ppm;
        vf_merge_result_free(&plan);
        vf_merge_result_free(&r);
    }
    mt_snap_free(&all);
    vf_gen_result_free(&g);
    vf_fs_mem_free(mem);
}

static void test_vhd_writes_within_plan(void **state)
{
    (void)state;
    static const wcase cases[] = {
        {VF_FORMAT_VHD, 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 7001, false},
        {VF_FORMAT_VHD, 3, VF_GEN_BASE_FIXED, VF_GEN_PROFILE_SECTOR, 7002, false},
        {VF_FORMAT_VHD, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_ALIGNED, 7003, false},
        {VF_FORMAT_VHD, 5, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 7004, false},
        {VF_FORMAT_VHD, 6, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_SECTOR, 7005, false},
        {VF_FORMAT_VHD, 4, VF_GEN_BASE_FIXED, VF_GEN_PROFILE_MIXED, 7006, false},
        {VF_FORMAT_VHD, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_SECTOR, 7007, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
}

static void test_vhdx_writes_within_plan(void **state)
{
    (void)state;
    static const wcase cases[] = {
        {VF_FORMAT_VHDX, 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 7101, false},
        {VF_FORMAT_VHDX, 3, VF_GEN_BASE_FIXED, VF_GEN_PROFILE_SECTOR, 7102, false},
        {VF_FORMAT_VHDX, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_ALIGNED, 7103, false},
        {VF_FORMAT_VHDX, 4, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 7104, false},
        {VF_FORMAT_VHDX, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_SECTOR, 7105, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
    print_message("largest written / bound: %llu ppm\n", (unsigned long long)worst_ratio_ppm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vhd_writes_within_plan),
        cmocka_unit_test(test_vhdx_writes_within_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
