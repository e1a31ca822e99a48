/* test_merge.c - the merger on generated chains in a memory file system: every depth from 1
 * to 16 with every ancestor as DESTINATION, fixed/dynamic/differencing destinations and every
 * generator profile (DESTINATION's view must equal the generator's digest of SOURCE's level),
 * VHDX chains (the parent_linkage2 protocol, ZERO blocks, growing DESTINATION),
 * --child and --remove-merged, dry runs, the job API with cancel, and every refusal (not an
 * ancestor, same file, not differencing, hostile images, held locks, read-only DESTINATION,
 * no space, mismatched journal): refused with the right status and no file changed.
 * Layer: tests (merger). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "merge_test_util.h"
#include "vf_sha256.h"

#define DIR_ "c"

/* --- a vf_fs wrapper that refuses writing one path and can report little free space --- */

typedef struct deny_fs {
    vf_fs fs;
    const vf_fs *inner;
    const char *deny_rw; /* opening this path read-write fails with EACCES */
    uint64_t free_bytes; /* 0 = ask inner */
} deny_fs;

static vf_status deny_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    deny_fs *d = self;
    if (d->deny_rw && (flags & VF_IO_RDWR) && !strcmp(path, d->deny_rw)) {
        *out = NULL;
        return VF_FAIL_ERRNO(e, EACCES, VF_OFF_NONE, "cannot open '%s' for writing", path);
    }
    return d->inner->ops->open(d->inner->self, path, flags, out, e);
}
static vf_status deny_remove(void *self, const char *path, vf_error *e)
{
    deny_fs *d = self;
    return d->inner->ops->remove(d->inner->self, path, e);
}
static vf_status deny_free(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    deny_fs *d = self;
    if (d->free_bytes) {
        *bytes = d->free_bytes;
        return VF_OK;
    }
    return d->inner->ops->free_space(d->inner->self, path, bytes, e);
}
static vf_status deny_sync_dir(void *self, const char *path, vf_error *e)
{
    deny_fs *d = self;
    return d->inner->ops->sync_dir(d->inner->self, path, e);
}
static const vf_fs_ops deny_ops = {
    .open = deny_open, .remove = deny_remove, .free_space = deny_free, .sync_dir = deny_sync_dir};

static void deny_init(deny_fs *d, const vf_fs *inner)
{
    memset(d, 0, sizeof *d);
    d->fs.ops = &deny_ops;
    d->fs.self = d;
    d->inner = inner;
}

/* --- helpers --- */

static vf_fs *new_memfs(void)
{
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    return fs;
}

/* Every level file, then the journal of dest (so snapshots prove nothing was created). */
static size_t chain_files(const vf_gen_result *g, const char *dest, char names[][64])
{
    size_t n = 0;
    for (unsigned l = 0; l < g->nlevels; l++)
        mt_path(names[n++], 64, DIR_, g, l);
    int w = snprintf(names[n++], 64, "%.54s.vfmerge", dest);
    assert_true(w > 0 && w < 64 && strlen(dest) <= 54);
    return n;
}

static void snap_chain(const vf_fs *fs, const vf_gen_result *g, const char *dest, mt_snap *s)
{
    char names[MT_MAX_FILES][64];
    const char *ptrs[MT_MAX_FILES];
    size_t n = chain_files(g, dest, names);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = names[i];
    mt_snap_take(fs, ptrs, n, s);
}

static int run_merge(const vf_fs *fs, const char *src, const char *dst, vf_merge_result *r)
{
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = src;
    o.destination = dst;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    return vf_merge_run(&o, r);
}

static void expect_view(const vf_fs *fs, const char *path, const uint8_t want[32], const char *what)
{
    uint8_t md[32];
    if (!mt_flat(fs, path, md))
        fail_msg("%s: the chain of '%s' does not open after the merge", what, path);
    if (memcmp(md, want, 32) != 0)
        fail_msg("%s: the view from '%s' differs from the generator's digest", what, path);
}

/* The identity fields of one image file (opened alone, read-only). */
static vf_image_info image_info(const vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, path, 0, &img, NULL), VF_OK);
    vf_image_info info = *vf_image_info_get(img);
    vf_image_close(img);
    return info;
}

/* VHDX protocol traces: level k-1 carries parent_linkage2 = G' (the id DESTINATION had during
 * the copy), and DESTINATION's final DataWriteGuid is neither its old one nor G'. */
static void expect_vhdx_ids(const vf_fs *fs, const char *below, const char *dst,
                            const uint8_t old_id[16], const char *what)
{
    vf_image_info li = image_info(fs, below), di = image_info(fs, dst);
    if (!li.has_parent_id2)
        fail_msg("%s: '%s' has no parent_linkage2 after a VHDX merge", what, below);
    if (!memcmp(di.id, old_id, 16) || !memcmp(di.id, li.parent_id2, 16) ||
        !memcmp(di.id, li.parent_id, 16))
        fail_msg("%s: DESTINATION's DataWriteGuid was not replaced by a fresh one", what);
}

/* --- merges of generated chains --- */

static unsigned vhdx_trims; /* ZERO blocks over lower data the VHDX cases merged */

static void merge_case_fmt(vf_format_kind fmt, unsigned depth, vf_gen_base base,
                           vf_gen_profile prof, uint64_t seed)
{
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    if (fmt == VF_FORMAT_VHDX)
        mt_gen_vhdx(fs, DIR_, depth, base, prof, seed, &g);
    else
        mt_gen(fs, DIR_, depth, base, prof, seed, &g);
    char src[64], dst[64];
    mt_path(src, sizeof src, DIR_, &g, depth);
    mt_snap all;
    snap_chain(fs, &g, src, &all);
    for (unsigned k = 1; k <= depth; k++) {
        mt_snap_restore(fs, &all);
        mt_path(dst, sizeof dst, DIR_, &g, depth - k);
        vf_merge_opts o;
        vf_merge_opts_init(&o);
        o.source = src;
        o.destination = dst;
        o.fs = fs;
        o.verify = (vf_merge_verify)(k % 3); /* none, flat, tree in turn */
        /* VHDX: batches of 3 MiB, so some 1 MiB ZERO runs reach DESTINATION whole (a batch
         * boundary splits a run in two writes) */
        o.batch_bytes = fmt == VF_FORMAT_VHDX ? 3u << 20 : 1u << 20;
        vf_merge_result r;
        char what[160];
        snprintf(what, sizeof what, "%s depth %u base %s profile %s seed %llu into level %u",
                 vf_format_name(fmt), depth, vf_gen_base_name(base), vf_gen_profile_name(prof),
                 (unsigned long long)seed, depth - k);
        for (unsigned l = depth - k + 1; fmt == VF_FORMAT_VHDX && l <= depth; l++)
            vhdx_trims += g.levels[l].trims;
        if (vf_merge_run(&o, &r) != 0)
            fail_msg("%s: status %d: %s", what, r.status, r.err.msg);
        assert_int_equal(r.dest_level, k);
        assert_int_equal(r.nlayers, k);
        assert_int_equal(r.format, fmt);
        expect_view(fs, dst, g.levels[depth].sha256, what);
        if (fmt == VF_FORMAT_VHDX) {
            char below[64];
            mt_path(below, sizeof below, DIR_, &g, depth - k + 1);
            expect_vhdx_ids(fs, below, dst, g.levels[depth - k].id, what);
            vf_image_info di = image_info(fs, dst);
            if (di.type == VF_DISK_FIXED && di.allocated_blocks != di.total_blocks)
                fail_msg("%s: a fixed DESTINATION lost allocated blocks (%llu of %llu)", what,
                         (unsigned long long)di.allocated_blocks,
                         (unsigned long long)di.total_blocks);
        }
        char hex[65];
        if (o.verify == VF_MERGE_VERIFY_FLAT)
            vf_sha256_hex(g.levels[depth].sha256, hex);
        if (o.verify == VF_MERGE_VERIFY_TREE)
            vf_sha256_hex(g.levels[depth].tree, hex);
        if (o.verify != VF_MERGE_VERIFY_NONE) {
            assert_string_equal(r.digest_after, hex);
            assert_string_equal(r.digest_before, hex);
        }
        /* the identity changed: SOURCE no longer opens through DESTINATION */
        uint8_t md[32];
        if (mt_flat(fs, src, md))
            fail_msg("%s: SOURCE still opens after the merge", what);
        assert_false(mt_exists(fs, "c/dummy"));
        char jpath[80];
        snprintf(jpath, sizeof jpath, "%s.vfmerge", dst);
        assert_false(mt_exists(fs, jpath));
        vf_merge_result_free(&r);
    }
    mt_snap_free(&all);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

static void merge_case(unsigned depth, vf_gen_base base, vf_gen_profile prof, uint64_t seed)
{
    merge_case_fmt(VF_FORMAT_VHD, depth, base, prof, seed);
}

static void test_matrix(void **state)
{
    (void)state;
    static const unsigned depths[] = {1, 2, 3, 5, 16};
    uint64_t seed = 1000;
    for (size_t d = 0; d < sizeof depths / sizeof *depths; d++)
        for (int prof = VF_GEN_PROFILE_MIXED; prof <= VF_GEN_PROFILE_BLOCKS; prof++)
            for (int base = VF_GEN_BASE_FIXED; base <= VF_GEN_BASE_DYNAMIC; base++)
                merge_case(depths[d], (vf_gen_base)base, (vf_gen_profile)prof, seed++);
}

/* VHDX chains (issue 6): a few well-chosen shapes, every ancestor as DESTINATION, fixed and
 * dynamic bases; the mixed profile writes ZERO blocks over lower data ("trims"), which must
 * reach DESTINATION as zeros. */
static void test_vhdx_matrix(void **state)
{
    (void)state;
    vhdx_trims = 0;
    merge_case_fmt(VF_FORMAT_VHDX, 2, VF_GEN_BASE_FIXED, VF_GEN_PROFILE_MIXED, 6005);
    merge_case_fmt(VF_FORMAT_VHDX, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 6002);
    merge_case_fmt(VF_FORMAT_VHDX, 3, VF_GEN_BASE_FIXED, VF_GEN_PROFILE_SECTOR, 6003);
    merge_case_fmt(VF_FORMAT_VHDX, 4, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 6004);
    if (vhdx_trims == 0)
        fail_msg("no VHDX case merged a ZERO block over lower data: pick other seeds");
}

static void expect_refused(const vf_fs *fs, const mt_snap *s, const char *src, const char *dst,
                           int want, const char *what);

static vf_image *open_rw(const vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, path, VF_OPEN_RDWR, &img, NULL), VF_OK);
    return img;
}

/* format/vhdx/linkage2.c, the merge protocol's building block: parent_linkage2 is added,
 * then replaced (never duplicated), leaving parent_linkage, the paths and the image's own
 * DataWriteGuid alone; the parent then opens under either GUID. VHD has no such field. */
static void test_vhdx_linkage2(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen_vhdx(fs, DIR_, 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 6201, &g);
    char top[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 1);
    mt_path(base, sizeof base, DIR_, &g, 0);
    vf_image_info before = image_info(fs, top);
    assert_false(before.has_parent_id2);
    vf_locator loc0[4], loc1[4];
    size_t n0, n1;
    uint8_t x[16], y[16];
    memset(x, 0x11, sizeof x);
    memset(y, 0x22, sizeof y);
    for (int round = 0; round < 2; round++) {
        vf_image *img = open_rw(fs, top);
        assert_int_equal(vf_image_locators(img, loc0, 4, &n0, NULL), VF_OK);
        char *path0[4] = {NULL, NULL, NULL, NULL}; /* borrowed: copied before the rewrite */
        for (size_t i = 0; i < n0 && i < 4; i++)
            assert_non_null(path0[i] = strdup(loc0[i].path));
        assert_int_equal(vf_image_set_parent_id2(img, round ? y : x, NULL), VF_OK);
        vf_image_close(img);
        vf_image_info after = image_info(fs, top);
        assert_true(after.has_parent_id2);
        assert_memory_equal(after.parent_id2, round ? y : x, 16);
        assert_memory_equal(after.parent_id, before.parent_id, 16);
        assert_memory_equal(after.id, before.id, 16);
        img = open_rw(fs, top);
        assert_int_equal(vf_image_locators(img, loc1, 4, &n1, NULL), VF_OK);
        assert_int_equal(n0, n1);
        for (size_t i = 0; i < n0 && i < 4; i++) {
            assert_string_equal(path0[i], loc1[i].path);
            free(path0[i]);
        }
        vf_image_close(img);
    }
    /* the base under GUID y: the chain opens through parent_linkage2 */
    vf_image *b = open_rw(fs, base);
    assert_int_equal(vf_image_set_id(b, y, NULL), VF_OK);
    assert_int_equal(vf_image_flush(b, NULL), VF_OK);
    vf_image_close(b);
    expect_view(fs, top, g.levels[1].sha256, "chain bound by parent_linkage2");
    vf_gen_result_free(&g);
    /* VHD: unsupported, and the handle says why */
    mt_gen(fs, "v", 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 6202, &g);
    mt_path(top, sizeof top, "v", &g, 1);
    vf_image *img = open_rw(fs, top);
    vf_error err;
    assert_int_equal(vf_image_set_parent_id2(img, x, &err), VF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "parent_linkage2"));
    vf_image_close(img);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* Open path read-write alone, grow it to new_size and write one recognisable block at voff. */
static void grow_and_write(const vf_fs *fs, const char *path, uint64_t new_size, uint64_t voff)
{
    vf_io *io;
    vf_image *img;
    vf_error err;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR, &io, NULL), VF_OK);
    assert_int_equal(vf_image_open(io, path, VF_OPEN_RDWR, &img, NULL), VF_OK);
    if (vf_image_resize(img, new_size, &err) != VF_OK)
        fail_msg("resizing '%s': %s", path, err.msg);
    static uint8_t buf[1u << 20];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(vf_image_write(img, voff, buf, sizeof buf, NULL), VF_OK);
    assert_int_equal(vf_image_flush(img, NULL), VF_OK);
    vf_image_close(img);
}

/* SOURCE larger than DESTINATION: a dynamic VHDX DESTINATION is grown (vf_image_resize) and
 * ends with SOURCE's view; a differencing one is refused (its parent would show through the
 * new space) with 32770 and nothing written. */
static void test_vhdx_grow(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen_vhdx(fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 6101, &g);
    char top[64], mid[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 2);
    mt_path(mid, sizeof mid, DIR_, &g, 1);
    mt_path(base, sizeof base, DIR_, &g, 0);
    grow_and_write(fs, top, 12u << 20, 10u << 20);
    uint8_t want[32];
    assert_true(mt_flat(fs, top, want));
    mt_snap s;
    snap_chain(fs, &g, mid, &s);
    expect_refused(fs, &s, top, mid, VF_MERGE_NOT_SUPPORTED, "differencing DESTINATION smaller");
    vf_merge_result r;
    if (run_merge(fs, top, base, &r) != 0)
        fail_msg("growing merge: %d: %s", r.status, r.err.msg);
    vf_merge_result_free(&r);
    assert_int_equal(image_info(fs, base).virtual_size, 12u << 20);
    expect_view(fs, base, want, "grown DESTINATION");
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* Entries the BAT region of a non-differencing VHDX of ours holds: create.c rounds the table
 * for its own size up to whole MiB (docs/formats/vhdx.md "Growing the virtual size"); resize.c
 * never moves it. */
static uint64_t vhdx_bat_room(const vf_image_info *in)
{
    uint64_t ratio = (1ull << 23) * in->logical_sector_size / in->block_size;
    uint64_t payload = (in->virtual_size + in->block_size - 1) / in->block_size;
    uint64_t entries = payload + (payload - 1) / ratio;
    return (entries * 8 + (1u << 20) - 1) / (1u << 20) * (1u << 20) / 8;
}

/* A new differencing top of size bytes over parent (its id, a relative locator). */
static void create_top(const vf_fs *fs, const char *path, const char *parent, uint64_t size)
{
    vf_image_info pi = image_info(fs, parent);
    vf_parent_link link;
    memset(&link, 0, sizeof link);
    memcpy(link.id, pi.id, 16);
    link.relative = strrchr(parent, '/') + 1; /* the same directory */
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = VF_DISK_DIFF;
    o.virtual_size = size;
    o.block_size = pi.block_size;
    o.logical_sector_size = pi.logical_sector_size;
    o.parent = &link;
    vf_io *io;
    vf_image *img;
    vf_error err;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, NULL),
                     VF_OK);
    if (vf_image_create(io, path, &o, &img, &err) != VF_OK)
        fail_msg("creating '%s': %s", path, err.msg);
    vf_image_close(img);
}

/* DESTINATION must grow to SOURCE's size but its BAT region cannot hold the entries of the new
 * size: refused before the first write with 32770 (VF_E_UNSUPPORTED), a message naming
 * DESTINATION and its BAT region, every file byte-identical and no journal left. */
static void test_vhdx_grow_refused(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen_vhdx(fs, "gr", 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 6401, &g);
    char mid[64], base[64], journal[80];
    const char *top = "gr/top.vhdx";
    mt_path(mid, sizeof mid, "gr", &g, 1);
    mt_path(base, sizeof base, "gr", &g, 0);
    snprintf(journal, sizeof journal, "%s.vfmerge", base);
    vf_image_info bi = image_info(fs, base);
    uint64_t room = vhdx_bat_room(&bi); /* 131072 entries: 128 GiB of 1 MiB blocks */
    create_top(fs, top, mid, (room + 1) * bi.block_size); /* one block more than it holds */
    const char *paths[] = {base, mid, top, journal};
    mt_snap s;
    mt_snap_take(fs, paths, sizeof paths / sizeof paths[0], &s);
    vf_merge_result r;
    int got = run_merge(fs, top, base, &r);
    if (got != VF_MERGE_NOT_SUPPORTED)
        fail_msg("status %d (%s), want %d: %s", got, vf_merge_status_name(got),
                 VF_MERGE_NOT_SUPPORTED, r.err.msg);
    assert_int_equal(r.err.code, VF_E_UNSUPPORTED);
    if (!strstr(r.err.msg, base) || !strstr(r.err.msg, "BAT region"))
        fail_msg("the message does not name '%s' and its BAT region: %s", base, r.err.msg);
    const char *changed = mt_snap_changed(fs, &s);
    if (changed)
        fail_msg("'%s' changed (or the journal was left)", changed);
    assert_false(mt_exists(fs, journal));
    vf_merge_result_free(&r);
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* SOURCE below the top: the top is a --child re-pointed at DESTINATION, the merged files are
 * removed, and both views come out as the generator made them. */
static void test_child_remove(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 4, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 77, &g);
    char src[64], dst[64], child[64], mid[64];
    mt_path(src, sizeof src, DIR_, &g, 3);
    mt_path(dst, sizeof dst, DIR_, &g, 1);
    mt_path(child, sizeof child, DIR_, &g, 4);
    mt_path(mid, sizeof mid, DIR_, &g, 2);
    const char *children[] = {child};
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = src;
    o.destination = dst;
    o.fs = fs;
    o.children = children;
    o.nchildren = 1;
    o.remove_merged = true;
    o.verify = VF_MERGE_VERIFY_TREE;
    vf_merge_result r;
    if (vf_merge_run(&o, &r) != 0)
        fail_msg("status %d: %s", r.status, r.err.msg);
    expect_view(fs, dst, g.levels[3].sha256, "destination");
    expect_view(fs, child, g.levels[4].sha256, "re-pointed child");
    assert_false(mt_exists(fs, src));
    assert_false(mt_exists(fs, mid));
    assert_true(mt_exists(fs, dst));
    vf_merge_result_free(&r);
    /* a --child that is not a child of SOURCE is an invalid parameter */
    vf_gen_result_free(&g);
    mt_gen(fs, "d", 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 78, &g);
    mt_path(src, sizeof src, "d", &g, 2);
    mt_path(dst, sizeof dst, "d", &g, 0);
    mt_path(child, sizeof child, "d", &g, 1);
    o.source = src;
    o.destination = dst;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_INVALID_PARAMETER);
    assert_non_null(strstr(r.err.msg, "not a child"));
    vf_merge_result_free(&r);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

static void test_dry_run(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_ALIGNED, 5, &g);
    char src[64], dst[64];
    mt_path(src, sizeof src, DIR_, &g, 3);
    mt_path(dst, sizeof dst, DIR_, &g, 0);
    mt_snap s;
    snap_chain(fs, &g, dst, &s);
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = src;
    o.destination = dst;
    o.fs = fs;
    o.dry_run = true;
    vf_merge_result r;
    assert_int_equal(vf_merge_run(&o, &r), 0);
    assert_null(mt_snap_changed(fs, &s));
    assert_int_equal(r.nlayers, 3);
    assert_int_equal(r.ninvalidated, 3);
    uint64_t sum = 0;
    for (size_t i = 0; i < r.nlayers; i++)
        sum += r.layers[i].data_bytes + r.layers[i].zero_bytes;
    assert_true(sum > 0);
    assert_int_equal(sum, r.bytes_merged);
    assert_true(r.blocks_merged > 0 && r.blocks_merged <= 8);
    assert_true(r.space_needed >= r.blocks_to_allocate * (512u << 10));
    vf_merge_result_free(&r);
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* --- refusals: right status, nothing changed, no journal --- */

static void expect_refused(const vf_fs *fs, const mt_snap *s, const char *src, const char *dst,
                           int want, const char *what)
{
    vf_merge_result r;
    int got = run_merge(fs, src, dst, &r);
    if (got != want)
        fail_msg("%s: status %d (%s), want %d: %s", what, got, vf_merge_status_name(got), want,
                 r.err.msg);
    if (!r.err.msg[0])
        fail_msg("%s: refused without a message", what);
    const char *changed = mt_snap_changed(fs, s);
    if (changed)
        fail_msg("%s: '%s' changed", what, changed);
    vf_merge_result_free(&r);
}

static void test_refusals(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g, other;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 11, &g);
    mt_gen(fs, "o", 1, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 12, &other);
    char top[64], mid[64], base[64], obase[64];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(mid, sizeof mid, DIR_, &g, 2);
    mt_path(base, sizeof base, DIR_, &g, 0);
    mt_path(obase, sizeof obase, "o", &other, 0);
    mt_snap s;
    snap_chain(fs, &g, base, &s);
    expect_refused(fs, &s, top, obase, VF_MERGE_INVALID_PARAMETER, "another chain's base");
    expect_refused(fs, &s, mid, top, VF_MERGE_INVALID_PARAMETER, "a child as destination");
    expect_refused(fs, &s, top, "c/./03-diff.vhd", VF_MERGE_INVALID_PARAMETER, "same file");
    expect_refused(fs, &s, base, base, VF_MERGE_INVALID_PARAMETER, "base into itself");
    expect_refused(fs, &s, obase, base, VF_MERGE_NOT_SUPPORTED, "a dynamic SOURCE");
    expect_refused(fs, &s, "c/missing.vhd", base, VF_MERGE_FILE_NOT_FOUND, "missing SOURCE");
    /* --resume with nothing to resume */
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = top;
    o.destination = base;
    o.fs = fs;
    o.resume = true;
    vf_merge_result r;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_INVALID_STATE);
    vf_merge_result_free(&r);
    assert_null(mt_snap_changed(fs, &s));
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_gen_result_free(&other);
    vf_fs_mem_free(fs);
}

/* Damage one structure of one level (by file offset) and expect a refusal, nothing changed. */
static void hostile_case(unsigned level, int64_t off, uint8_t xor_mask, const char *what)
{
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 21, &g);
    char top[64], base[64], victim[64];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(base, sizeof base, DIR_, &g, 0);
    mt_path(victim, sizeof victim, DIR_, &g, level);
    size_t len;
    const uint8_t *cur = vf_fs_mem_get(fs, victim, &len);
    uint8_t *bytes = malloc(len);
    memcpy(bytes, cur, len);
    size_t at = off >= 0 ? (size_t)off : len - (size_t)(-off);
    bytes[at] ^= xor_mask;
    assert_int_equal(vf_fs_mem_put(fs, victim, bytes, len, NULL), VF_OK);
    free(bytes);
    mt_snap s;
    snap_chain(fs, &g, base, &s);
    vf_merge_result r;
    int got = run_merge(fs, top, base, &r);
    if (got == 0)
        fail_msg("%s in level %u: the merge was not refused", what, level);
    const char *changed = mt_snap_changed(fs, &s);
    if (changed)
        fail_msg("%s in level %u: '%s' changed", what, level, changed);
    vf_merge_result_free(&r);
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

static void test_hostile(void **state)
{
    (void)state;
    for (unsigned level = 0; level <= 3; level++) {
        hostile_case(level, -512 + 8, 0x01, "trailing footer features (checksum)");
        hostile_case(level, 512, 0x20, "dynamic header cookie");
        hostile_case(level, 512 + 32, 0x40, "dynamic header max table entries");
        hostile_case(level, 1536, 0x7f, "first BAT entry");
    }
}

static void test_locks_and_access(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 31, &g);
    char top[64], mid[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(mid, sizeof mid, DIR_, &g, 1);
    mt_path(base, sizeof base, DIR_, &g, 0);
    mt_snap s;
    snap_chain(fs, &g, base, &s);
    /* someone reads DESTINATION (shared lock): it cannot be written */
    vf_io *holder;
    assert_int_equal(vf_fs_open(fs, base, VF_IO_RDONLY, &holder, NULL), VF_OK);
    assert_int_equal(vf_io_lock(holder, false, NULL), VF_OK);
    expect_refused(fs, &s, top, base, VF_MERGE_IN_USE, "DESTINATION locked by a reader");
    vf_io_close(holder);
    /* someone writes an intermediate (exclusive lock) */
    assert_int_equal(vf_fs_open(fs, mid, VF_IO_RDWR, &holder, NULL), VF_OK);
    assert_int_equal(vf_io_lock(holder, true, NULL), VF_OK);
    expect_refused(fs, &s, top, base, VF_MERGE_IN_USE, "intermediate locked by a writer");
    vf_io_close(holder);
    /* read-only DESTINATION */
    deny_fs d;
    deny_init(&d, fs);
    d.deny_rw = base;
    expect_refused(&d.fs, &s, top, base, VF_MERGE_ACCESS_DENIED, "read-only DESTINATION");
    /* not enough space for the new blocks */
    deny_init(&d, fs);
    d.free_bytes = 4096;
    vf_merge_result r;
    assert_int_equal(run_merge(&d.fs, top, base, &r), VF_MERGE_FAILED);
    assert_non_null(strstr(r.err.msg, "not enough free space"));
    assert_int_equal(r.err.sys_errno, ENOSPC);
    vf_merge_result_free(&r);
    assert_null(mt_snap_changed(fs, &s));
    mt_snap_free(&s);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* --- the job API --- */

typedef struct gate {
    atomic_int calls;
    atomic_bool release;
} gate;

static void gate_progress(void *user, unsigned pct, uint64_t done, uint64_t total)
{
    gate *gt = user;
    (void)pct, (void)done, (void)total;
    if (atomic_fetch_add(&gt->calls, 1) == 1) /* hold the second chunk until canceled */
        while (!atomic_load(&gt->release))
            usleep(1000);
}

static void test_job_cancel_then_rerun(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 41, &g);
    char top[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(base, sizeof base, DIR_, &g, 0);
    gate gt;
    atomic_init(&gt.calls, 0);
    atomic_init(&gt.release, false);
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = top;
    o.destination = base;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    o.progress = gate_progress;
    o.progress_user = &gt;
    vf_merge_job *job;
    vf_error err;
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    while (atomic_load(&gt.calls) < 2)
        usleep(1000);
    unsigned pct = 101;
    assert_int_equal(vf_merge_job_poll(job, &pct), VF_JOB_RUNNING);
    assert_true(pct < 100);
    vf_merge_job_cancel(job);
    atomic_store(&gt.release, true);
    vf_merge_result r;
    assert_int_equal(vf_merge_job_wait(job, &r), VF_MERGE_FAILED);
    assert_int_equal(r.err.code, VF_E_CANCELED);
    assert_int_equal(vf_merge_job_poll(job, NULL), VF_JOB_TERMINATED);
    vf_merge_result_free(&r);
    vf_merge_job_free(job);
    /* canceled like a crash: SOURCE's view is intact and a rerun (a job again) finishes */
    expect_view(fs, top, g.levels[3].sha256, "source after cancel");
    o.progress = NULL;
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    assert_int_equal(vf_merge_job_wait(job, &r), 0);
    assert_true(r.resumed);
    assert_int_equal(vf_merge_job_poll(job, &pct), VF_JOB_COMPLETED);
    assert_int_equal(pct, 100);
    vf_merge_result_free(&r);
    vf_merge_job_free(job);
    expect_view(fs, base, g.levels[3].sha256, "destination after rerun");
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* Run o as a job and cancel it while its second chunk is held; true when it stopped there
 * (canceled), false when it had already finished. */
static bool cancel_midway(const vf_merge_opts *o_in)
{
    gate gt;
    atomic_init(&gt.calls, 0);
    atomic_init(&gt.release, false);
    vf_merge_opts o = *o_in;
    o.progress = gate_progress;
    o.progress_user = &gt;
    vf_merge_job *job;
    assert_int_equal(vf_merge_job_start(&o, &job, NULL), VF_MERGE_JOB_STARTED);
    while (atomic_load(&gt.calls) < 2 && vf_merge_job_poll(job, NULL) == VF_JOB_RUNNING)
        usleep(1000);
    vf_merge_job_cancel(job);
    atomic_store(&gt.release, true);
    vf_merge_result r;
    int status = vf_merge_job_wait(job, &r);
    bool canceled = status == VF_MERGE_FAILED && r.err.code == VF_E_CANCELED;
    if (!canceled && status != 0)
        fail_msg("interrupted VHDX merge: status %d: %s", status, r.err.msg);
    vf_merge_result_free(&r);
    vf_merge_job_free(job);
    return canceled;
}

/* VHDX resume: a resumed copy runs on a new DESTINATION handle, whose first data write would
 * draw a new DataWriteGuid (cutting level k-1 off) unless the merger sets G' again first.
 * Interrupt the merge, interrupt its resumption too, and SOURCE's view must still open and be
 * unchanged; a third run finishes it. */
static void test_vhdx_resume_twice(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen_vhdx(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_SECTOR, 6301, &g);
    char top[64], dst[64];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(dst, sizeof dst, DIR_, &g, 1);
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = top;
    o.destination = dst;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    for (int round = 0; round < 2; round++) {
        if (!cancel_midway(&o))
            fail_msg("round %d: the merge finished before it could be interrupted", round);
        expect_view(fs, top, g.levels[3].sha256, round ? "source after a resumed copy" : "source");
    }
    vf_merge_result r;
    if (vf_merge_run(&o, &r) != 0)
        fail_msg("final run: %d: %s", r.status, r.err.msg);
    assert_true(r.resumed);
    vf_merge_result_free(&r);
    expect_view(fs, dst, g.levels[3].sha256, "destination");
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* An interrupted merge of one SOURCE blocks a different request into the same DESTINATION. */
static void test_journal_mismatch(void **state)
{
    (void)state;
    vf_fs *fs = new_memfs();
    vf_gen_result g;
    mt_gen(fs, DIR_, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 51, &g);
    char top[64], mid[64], base[64], jpath[80];
    mt_path(top, sizeof top, DIR_, &g, 3);
    mt_path(mid, sizeof mid, DIR_, &g, 2);
    mt_path(base, sizeof base, DIR_, &g, 0);
    snprintf(jpath, sizeof jpath, "%s.vfmerge", base);
    /* interrupt a merge of top into base with a canceled job */
    gate gt;
    atomic_init(&gt.calls, 0);
    atomic_init(&gt.release, false);
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = top;
    o.destination = base;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    o.progress = gate_progress;
    o.progress_user = &gt;
    vf_merge_job *job;
    assert_int_equal(vf_merge_job_start(&o, &job, NULL), VF_MERGE_JOB_STARTED);
    while (atomic_load(&gt.calls) < 2)
        usleep(1000);
    vf_merge_job_cancel(job);
    atomic_store(&gt.release, true);
    vf_merge_result r;
    vf_merge_job_wait(job, &r);
    vf_merge_result_free(&r);
    vf_merge_job_free(job);
    assert_true(mt_exists(fs, jpath));
    mt_snap s;
    snap_chain(fs, &g, base, &s);
    vf_merge_result r2;
    assert_int_equal(run_merge(fs, mid, base, &r2), VF_MERGE_INVALID_STATE);
    assert_non_null(strstr(r2.err.msg, jpath));
    vf_merge_result_free(&r2);
    assert_null(mt_snap_changed(fs, &s));
    mt_snap_free(&s);
    /* the matching request finishes it */
    assert_int_equal(run_merge(fs, top, base, &r2), 0);
    expect_view(fs, base, g.levels[3].sha256, "finished");
    vf_merge_result_free(&r2);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_vhdx_linkage2),
        cmocka_unit_test(test_vhdx_matrix),
        cmocka_unit_test(test_vhdx_grow),
        cmocka_unit_test(test_vhdx_grow_refused),
        cmocka_unit_test(test_child_remove),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_locks_and_access),
        cmocka_unit_test(test_job_cancel_then_rerun),
        cmocka_unit_test(test_journal_mismatch),
        cmocka_unit_test(test_vhdx_resume_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
