/* test_chain.c - unit tests of format/chain.c: chains of depth 1..8 built in a vf_fs_mem with
 * the VHD driver and read against a byte model computed here; parent search (relative,
 * absolute, missing, wrong identity), loops, depth limit, mixed formats, a parent smaller
 * than its child, locks and reopening a level read-write; and, when the shared corpus is
 * present (VF_SHARED_DIR), real Windows images read through the POSIX backend. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include <vhdfold/vf_chain.h>

#define SS 512u
#define MIB (1024u * 1024u)
#define BLOCK (128u * 1024u)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void make_id(uint8_t id[16], uint64_t n)
{
    memset(id, 0, 16);
    for (int i = 0; i < 8; i++)
        id[i] = (uint8_t)(n >> (8 * i));
    id[15] = 0x5a;
    id[6] = 0x40;
    id[8] = 0x80;
}

static void check(vf_status st, const vf_error *e, const char *what)
{
    if (st != VF_OK)
        fail_msg("%s: %s: %s", what, vf_status_name(st), e->msg);
}

/* Chain options with every newer field at its default. */
static vf_chain_opts opts_of(const vf_fs *fs, unsigned max_depth, unsigned open_flags, bool lock)
{
    vf_chain_opts o;
    vf_chain_opts_init(&o);
    o.fs = fs;
    o.max_depth = max_depth;
    o.open_flags = open_flags;
    o.lock = lock;
    return o;
}

static void assert_msg_has(const vf_error *e, const char *needle)
{
    if (!strstr(e->msg, needle))
        fail_msg("message '%s' lacks '%s'", e->msg, needle);
}

typedef struct layer_spec {
    const char *path;
    vf_format_kind format;
    uint64_t size;
    uint64_t id_n;     /* identity number (make_id) */
    uint64_t parent_n; /* 0: no parent (a dynamic base) */
    const char *rel;   /* relative locator, or NULL */
    const char *abs;   /* absolute locator, or NULL */
    unsigned locators; /* VF_LOCATE_* (0 = default) */
    uint32_t sector;   /* VHDX logical sector size (0 = 512) */
} layer_spec;

/* Create one image and return it open for writing. */
static vf_image *create(vf_fs *fs, const layer_spec *s)
{
    vf_error e;
    vf_io *io;
    check(vf_fs_open(fs, s->path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, &e), &e, "open");
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = s->format ? s->format : VF_FORMAT_VHD;
    o.type = s->parent_n ? VF_DISK_DIFF : VF_DISK_DYNAMIC;
    o.virtual_size = s->size;
    o.block_size = o.format == VF_FORMAT_VHD ? BLOCK : 0;
    o.logical_sector_size = o.format == VF_FORMAT_VHDX ? (s->sector ? s->sector : SS) : 0;
    o.timestamp = 1000;
    make_id(o.id, s->id_n);
    vf_parent_link link;
    memset(&link, 0, sizeof link);
    if (s->parent_n) {
        make_id(link.id, s->parent_n);
        link.timestamp = 1000;
        link.relative = s->rel;
        link.absolute = s->abs;
        link.locators = s->locators;
        o.parent = &link;
    }
    vf_image *img;
    check(vf_image_create(io, s->path, &o, &img, &e), &e, s->path);
    return img;
}

static void create_closed(vf_fs *fs, const layer_spec *s)
{
    vf_error e;
    vf_image *img = create(fs, s);
    check(vf_image_flush(img, &e), &e, "flush");
    vf_image_close(img);
}

/* Write random runs of sectors into img and into its own model (NULL = skip model). */
static void scribble(vf_image *img, uint8_t *model, uint8_t *written, uint64_t size, uint64_t seed,
                     unsigned nruns)
{
    vf_error e;
    uint8_t *buf = malloc(64 * SS);
    assert_non_null(buf);
    uint64_t s = seed;
    uint64_t nsec = size / SS;
    for (unsigned r = 0; r < nruns; r++) {
        uint64_t start = splitmix64(&s) % nsec;
        uint64_t count = 1 + splitmix64(&s) % 40;
        if (start + count > nsec)
            count = nsec - start;
        for (size_t i = 0; i < count * SS; i++)
            buf[i] = (uint8_t)splitmix64(&s);
        check(vf_image_write(img, start * SS, buf, count * SS, &e), &e, "write");
        memcpy(model + start * SS, buf, count * SS);
        memset(written + start, 1, count);
    }
    check(vf_image_flush(img, &e), &e, "flush");
    free(buf);
}

typedef struct built {
    vf_fs *fs;
    unsigned depth;
    uint8_t *view[8]; /* flattened view seen from each level (index: level from the top) */
    uint64_t size;
    char names[8][32];
} built;

/* Chain of depth d in fs: "lvl0.vhd" is the base ... top is "lvl<d-1>.vhd"; all 2 MiB.
 * view[k] is the model seen from the image k levels below the top. */
static void build_chain(built *b, unsigned d, uint64_t seed)
{
    vf_error e;
    memset(b, 0, sizeof *b);
    check(vf_fs_mem_new(&b->fs, &e), &e, "fs");
    b->depth = d;
    b->size = 2 * MIB;
    uint8_t *model = calloc(1, b->size);
    uint8_t *written = calloc(1, b->size / SS);
    assert_non_null(model);
    assert_non_null(written);
    for (unsigned i = 0; i < d; i++) {
        snprintf(b->names[i], sizeof b->names[i], "vm/lvl%u.vhd", i);
        char rel[32];
        snprintf(rel, sizeof rel, "lvl%u.vhd", i ? i - 1 : 0);
        layer_spec s = {b->names[i],    VF_FORMAT_VHD, b->size, 100 + i, i ? 100 + i - 1 : 0,
                        i ? rel : NULL, NULL,          0,       0};
        vf_image *img = create(b->fs, &s);
        scribble(img, model, written, b->size, seed * 31 + i, 12);
        vf_image_close(img);
        /* level from the top = d - 1 - i */
        b->view[d - 1 - i] = malloc(b->size);
        assert_non_null(b->view[d - 1 - i]);
        memcpy(b->view[d - 1 - i], model, b->size);
    }
    free(model);
    free(written);
}

static void free_built(built *b)
{
    for (unsigned i = 0; i < b->depth; i++)
        free(b->view[i]);
    vf_fs_mem_free(b->fs);
}

static void test_depths_read_model(void **state)
{
    (void)state;
    for (unsigned d = 1; d <= 8; d++) {
        built b;
        build_chain(&b, d, d);
        vf_chain_opts o = opts_of(b.fs, 0, 0, false);
        vf_chain *c;
        vf_error e;
        check(vf_chain_open(b.names[d - 1], &o, &c, &e), &e, "chain open");
        assert_int_equal(vf_chain_depth(c), d);
        assert_int_equal(vf_chain_virtual_size(c), b.size);
        for (unsigned k = 0; k < d; k++)
            assert_string_equal(vf_chain_path(c, k), b.names[d - 1 - k]);
        assert_string_equal(vf_chain_via(c, 0), "");
        if (d > 1)
            assert_string_equal(vf_chain_via(c, 1), "W2ru");
        /* Whole disk in one read, then in odd unaligned pieces. */
        uint8_t *got = malloc(b.size);
        assert_non_null(got);
        check(vf_chain_read(c, 0, got, b.size, &e), &e, "read");
        if (memcmp(got, b.view[0], b.size) != 0)
            fail_msg("depth %u: flattened read differs from the model", d);
        memset(got, 0xEE, b.size);
        uint64_t s = d;
        for (uint64_t off = 0; off < b.size;) {
            size_t n = 1 + (size_t)(splitmix64(&s) % 3000);
            if (n > b.size - off)
                n = (size_t)(b.size - off);
            check(vf_chain_read(c, off, got + off, n, &e), &e, "piece");
            off += n;
        }
        if (memcmp(got, b.view[0], b.size) != 0)
            fail_msg("depth %u: piecewise read differs from the model", d);
        /* The map over levels [1, d-1] reproduces the view from level 1. */
        if (d > 1) {
            memset(got, 0xEE, b.size);
            for (uint64_t off = 0; off < b.size;) {
                vf_chain_extent x;
                check(vf_chain_map(c, 1, d - 1, off, b.size - off, &x, &e), &e, "map");
                assert_int_equal(x.voff, off);
                assert_true(x.len > 0 && x.len <= b.size - off);
                if (x.kind == VF_EXTENT_PRESENT) {
                    assert_true(x.level >= 1 && x.level <= d - 1);
                    check(vf_image_read(vf_chain_image(c, x.level), off, got + off, x.len, &e), &e,
                          "level read");
                } else {
                    memset(got + off, 0, x.len);
                }
                off += x.len;
            }
            if (memcmp(got, b.view[1], b.size) != 0)
                fail_msg("depth %u: map over levels 1..%u differs from the model", d, d - 1);
        }
        /* Out of range: refused. */
        assert_int_equal(vf_chain_read(c, b.size - 1, got, 2, &e), VF_E_INVAL);
        vf_chain_extent x;
        assert_int_equal(vf_chain_map(c, 0, d, 0, 512, &x, &e), VF_E_INVAL);
        assert_int_equal(vf_chain_map(c, 0, 0, 3, 512, &x, &e), VF_E_INVAL);
        free(got);
        vf_chain_close(c);
        free_built(&b);
    }
}

/* Runs from vf_chain_map are maximal enough that a disk written in few runs maps in few
 * calls: 2 MiB with one written run in the base gives at most a handful of extents. */
static void test_map_runs_are_long(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec base = {"b.vhd", VF_FORMAT_VHD, 2 * MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, 2 * MIB, 2, 1, "b.vhd", NULL, 0, 0};
    vf_image *img = create(fs, &base);
    uint8_t *buf = calloc(1, BLOCK);
    memset(buf, 7, BLOCK);
    check(vf_image_write(img, BLOCK, buf, BLOCK, &e), &e, "write");
    check(vf_image_flush(img, &e), &e, "flush");
    vf_image_close(img);
    create_closed(fs, &top);
    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    check(vf_chain_open("t.vhd", &o, &c, &e), &e, "open");
    unsigned runs = 0;
    for (uint64_t off = 0; off < 2 * MIB; runs++) {
        vf_chain_extent x;
        check(vf_chain_map(c, 0, 1, off, 2 * MIB - off, &x, &e), &e, "map");
        if (off == BLOCK) {
            assert_int_equal(x.kind, VF_EXTENT_PRESENT);
            assert_int_equal(x.level, 1);
            assert_int_equal(x.len, BLOCK);
        }
        off += x.len;
    }
    if (runs > 4)
        fail_msg("%u runs for one written block: runs are cut per block or sector", runs);
    free(buf);
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

/* A 2040 GiB chain (the VHD maximum, 2 MiB blocks) with a few blocks per level. */
#define BIG_SIZE (2040ull * 1024 * MIB)
#define BIG_BLOCK (2ull * MIB)

static vf_image *create_big(vf_fs *fs, const char *path, uint64_t id_n, uint64_t parent_n,
                            const char *rel)
{
    vf_error e;
    vf_io *io;
    check(vf_fs_open(fs, path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, &e), &e, "open");
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHD;
    o.type = parent_n ? VF_DISK_DIFF : VF_DISK_DYNAMIC;
    o.virtual_size = BIG_SIZE;
    o.block_size = (uint32_t)BIG_BLOCK;
    o.timestamp = 1000;
    o.creator = "win ";
    make_id(o.id, id_n);
    vf_parent_link link;
    memset(&link, 0, sizeof link);
    if (parent_n) {
        make_id(link.id, parent_n);
        link.timestamp = 1000;
        link.relative = rel;
        o.parent = &link;
    }
    vf_image *img;
    check(vf_image_create(io, path, &o, &img, &e), &e, path);
    return img;
}

static void big_write(vf_image *img, uint64_t block, uint64_t sector, uint64_t count)
{
    vf_error e;
    uint8_t *buf = malloc(count * SS);
    assert_non_null(buf);
    memset(buf, (int)(block + sector) | 1, count * SS);
    check(vf_image_write(img, block * BIG_BLOCK + sector * SS, buf, count * SS, &e), &e, "write");
    free(buf);
}

/* Where the run at voff ends in level l alone (its own map, asked for everything left). */
static uint64_t level_run_end(vf_chain *c, size_t l, uint64_t voff)
{
    vf_error e;
    vf_extent x;
    check(vf_image_map(vf_chain_image(c, l), voff, BIG_SIZE - voff, &x, &e), &e, "level map");
    return voff + x.len;
}

/* Walking [from, to] of the big chain: every answer ends exactly where the first level in
 * range to end its own run ends (the minimum over the levels down to the one that defines
 * the run), and the number of calls follows the allocated blocks, not the 1044480 blocks of
 * the disk. Returns the number of calls. */
static unsigned walk_big(vf_chain *c, size_t from, size_t to)
{
    vf_error e;
    unsigned calls = 0;
    for (uint64_t voff = 0; voff < BIG_SIZE; calls++) {
        vf_chain_extent x;
        check(vf_chain_map(c, from, to, voff, BIG_SIZE - voff, &x, &e), &e, "chain map");
        assert_int_equal(x.voff, voff);
        uint64_t end = BIG_SIZE;
        size_t deepest = x.kind == VF_EXTENT_ABSENT ? to : x.level;
        for (size_t l = from; l <= deepest; l++) {
            uint64_t le = level_run_end(c, l, voff);
            if (le < end)
                end = le;
        }
        if (voff + x.len != end)
            fail_msg("levels %zu..%zu at %llu: run of %llu bytes ends before %llu, where the "
                     "first level run ends",
                     from, to, (unsigned long long)voff, (unsigned long long)x.len,
                     (unsigned long long)end);
        if (calls > 64)
            fail_msg("levels %zu..%zu: more than 64 calls for 7 blocks: runs are cut per "
                     "block",
                     from, to);
        voff += x.len;
    }
    return calls;
}

static void test_map_walk_big_sparse_chain(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    vf_image *img = create_big(fs, "base.vhd", 1, 0, NULL);
    big_write(img, 10, 0, 8);     /* dynamic: the whole block becomes present */
    big_write(img, 500000, 0, 8); /* hidden in part by the top */
    check(vf_image_flush(img, &e), &e, "flush");
    vf_image_close(img);
    img = create_big(fs, "mid.vhd", 2, 1, "base.vhd");
    big_write(img, 10, 100, 64); /* inside the base's block 10 */
    big_write(img, 600000, 0, 8);
    check(vf_image_flush(img, &e), &e, "flush");
    vf_image_close(img);
    img = create_big(fs, "top.vhd", 3, 2, "mid.vhd");
    big_write(img, 500000, 0, 2048); /* the first half of the base's block */
    big_write(img, 900000, 5, 1);
    big_write(img, 1044479, 4095, 1); /* the very last sector of the disk */
    check(vf_image_flush(img, &e), &e, "flush");
    vf_image_close(img);

    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    check(vf_chain_open("top.vhd", &o, &c, &e), &e, "chain open");
    assert_int_equal(vf_chain_depth(c), 3);
    /* Runs of the full view, by hand (block: sectors): gap | base 10: 0-99, mid 10: 100-163,
     * base 10: 164-4095 | gap | top 500000: 0-2047, base 500000: 2048-4095 | gap | mid 600000:
     * 0-7 | gap | top 900000: 5 | gap | top 1044479: 4095. 8 present runs, 5 gaps. */
    assert_int_equal(walk_big(c, 0, 2), 13);
    /* Levels mid..base only: block 10 (3 runs), 500000, 600000 (1 each) and 4 gaps. */
    assert_int_equal(walk_big(c, 1, 2), 9);
    /* The top alone: three written runs and three gaps (the last sector ends the disk). */
    assert_int_equal(walk_big(c, 0, 0), 6);
    vf_chain_extent x;
    check(vf_chain_map(c, 0, 2, 10 * BIG_BLOCK + 100 * SS, BIG_SIZE, &x, &e), &e, "map");
    assert_int_equal(x.kind, VF_EXTENT_PRESENT);
    assert_int_equal(x.level, 1);
    assert_int_equal(x.len, 64 * SS);
    check(vf_chain_map(c, 0, 2, 11 * BIG_BLOCK, BIG_SIZE, &x, &e), &e, "map gap");
    assert_int_equal(x.kind, VF_EXTENT_ABSENT);
    assert_int_equal(x.len, (500000 - 11) * BIG_BLOCK);
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

static void test_parent_smaller_than_child(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec base = {"b.vhd", VF_FORMAT_VHD, 1 * MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, 2 * MIB, 2, 1, "b.vhd", NULL, 0, 0};
    uint8_t *model = calloc(1, 2 * MIB), *w = calloc(1, 2 * MIB / SS);
    vf_image *img = create(fs, &base);
    uint8_t *fillb = malloc(1 * MIB);
    memset(fillb, 0xAB, 1 * MIB);
    check(vf_image_write(img, 0, fillb, 1 * MIB, &e), &e, "fill base");
    check(vf_image_flush(img, &e), &e, "flush");
    memcpy(model, fillb, 1 * MIB);
    vf_image_close(img);
    img = create(fs, &top);
    scribble(img, model, w, 2 * MIB, 77, 10);
    vf_image_close(img);
    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    check(vf_chain_open("t.vhd", &o, &c, &e), &e, "open");
    uint8_t *got = malloc(2 * MIB);
    check(vf_chain_read(c, 0, got, 2 * MIB, &e), &e, "read");
    assert_memory_equal(got, model, 2 * MIB);
    /* Beyond the base's end, the base level reports zeros. */
    vf_chain_extent x;
    check(vf_chain_map(c, 1, 1, 1 * MIB, MIB, &x, &e), &e, "map");
    assert_int_equal(x.kind, VF_EXTENT_ZERO);
    assert_int_equal(x.level, 1);
    free(got);
    free(fillb);
    free(model);
    free(w);
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

static void test_missing_parent_lists_all(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec top = {"vm/t.vhd",
                      VF_FORMAT_VHD,
                      MIB,
                      2,
                      1,
                      "disks/base.vhd",
                      "C:\\Hyper-V\\old.vhd",
                      VF_LOCATE_W2RU | VF_LOCATE_W2KU,
                      0};
    create_closed(fs, &top);
    vf_chain *c = (vf_chain *)&e; /* must be reset to NULL */
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    assert_int_equal(vf_chain_open("vm/t.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_null(c);
    assert_msg_has(&e, "cannot find parent of 'vm/t.vhd'");
    assert_msg_has(&e, "'vm/disks/base.vhd' (W2ru, parent-name)"); /* tried once, both named */
    assert_msg_has(&e, "'vm/old.vhd' (W2ku)");
    assert_msg_has(&e, "'vm/base.vhd' (parent-name)"); /* the name's base name, in vm/ */
    vf_fs_mem_free(fs);
}

static void test_identity_mismatch(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec wrong = {"b.vhd", VF_FORMAT_VHD, MIB, 9, 0, NULL, NULL, 0, 0};
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "b.vhd", NULL, 0, 0};
    create_closed(fs, &wrong);
    create_closed(fs, &top);
    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    assert_int_equal(vf_chain_open("t.vhd", &o, &c, &e), VF_E_CHAIN);
    uint8_t want[16], got[16];
    char want_t[VF_GUID_TEXT_LEN], got_t[VF_GUID_TEXT_LEN];
    make_id(want, 1);
    make_id(got, 9);
    vf_guid_text(VF_FORMAT_VHD, want, want_t);
    vf_guid_text(VF_FORMAT_VHD, got, got_t);
    assert_msg_has(&e, want_t);
    assert_msg_has(&e, got_t);
    assert_msg_has(&e, "'t.vhd'");
    assert_msg_has(&e, "'b.vhd'");

    /* A wrong file at the first candidate does not stop the search: the absolute locator
     * finds the right one. */
    layer_spec right = {"/store/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top2 = {"t2.vhd",
                       VF_FORMAT_VHD,
                       MIB,
                       3,
                       1,
                       "b.vhd",
                       "/store/b.vhd",
                       VF_LOCATE_W2RU | VF_LOCATE_W2KU,
                       0};
    create_closed(fs, &right);
    create_closed(fs, &top2);
    o.allow_absolute_parents = true; /* the POSIX absolute locator is followed only so */
    check(vf_chain_open("t2.vhd", &o, &c, &e), &e, "open t2");
    assert_int_equal(vf_chain_depth(c), 2);
    assert_string_equal(vf_chain_path(c, 1), "/store/b.vhd");
    assert_string_equal(vf_chain_via(c, 1), "W2ku");
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

static void test_relative_and_absolute(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_chain *c;
    /* Relative with "..": resolved against the child's directory. */
    layer_spec base = {"vms/base/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top = {
        "vms/snap/t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "../base/b.vhd", NULL, VF_LOCATE_W2RU, 0};
    create_closed(fs, &base);
    create_closed(fs, &top);
    check(vf_chain_open("vms/snap/t.vhd", &o, &c, &e), &e, "relative");
    assert_string_equal(vf_chain_path(c, 1), "vms/base/b.vhd");
    assert_string_equal(vf_chain_via(c, 1), "W2ru");
    vf_chain_close(c);
    /* A Windows absolute path maps to its base name beside the child. */
    layer_spec base2 = {"vms/snap/b2.vhd", VF_FORMAT_VHD, MIB, 5, 0, NULL, NULL, 0, 0};
    layer_spec top2 = {"vms/snap/t2.vhd",
                       VF_FORMAT_VHD,
                       MIB,
                       6,
                       5,
                       "gone/b2x.vhd",
                       "D:\\VMs\\b2.vhd",
                       VF_LOCATE_W2RU | VF_LOCATE_W2KU,
                       0};
    create_closed(fs, &base2);
    create_closed(fs, &top2);
    check(vf_chain_open("vms/snap/t2.vhd", &o, &c, &e), &e, "windows absolute");
    assert_string_equal(vf_chain_path(c, 1), "vms/snap/b2.vhd");
    assert_string_equal(vf_chain_via(c, 1), "W2ku");
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

static void test_loops(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_chain *c;
    /* Its own parent. */
    layer_spec self = {"s.vhd", VF_FORMAT_VHD, MIB, 4, 4, "s.vhd", NULL, 0, 0};
    create_closed(fs, &self);
    assert_int_equal(vf_chain_open("s.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "loops");
    /* a -> b -> a */
    layer_spec a = {"a.vhd", VF_FORMAT_VHD, MIB, 10, 11, "b.vhd", NULL, 0, 0};
    layer_spec b = {"b.vhd", VF_FORMAT_VHD, MIB, 11, 10, "./a.vhd", NULL, 0, 0};
    create_closed(fs, &a);
    create_closed(fs, &b);
    assert_int_equal(vf_chain_open("a.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "loops");
    /* The same loop with locks on: still a loop, not a lock conflict with ourselves. */
    o.lock = true;
    assert_int_equal(vf_chain_open("a.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "loops");
    vf_fs_mem_free(fs);
}

static void test_depth_limit(void **state)
{
    (void)state;
    built b;
    build_chain(&b, 4, 9);
    vf_error e;
    vf_chain *c;
    vf_chain_opts o = opts_of(b.fs, 3, 0, false);
    assert_int_equal(vf_chain_open(b.names[3], &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "deeper than 3");
    o.max_depth = 4;
    check(vf_chain_open(b.names[3], &o, &c, &e), &e, "depth 4 of 4");
    vf_chain_close(c);
    free_built(&b);
}

static void test_mixed_formats_and_sectors(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_chain *c;
    /* A VHD child bound (by id) to a VHDX parent. */
    layer_spec xbase = {"x.vhdx", VF_FORMAT_VHDX, 4 * MIB, 20, 0, NULL, NULL, 0, 0};
    layer_spec vtop = {"v.vhd", VF_FORMAT_VHD, 4 * MIB, 21, 20, "x.vhdx", NULL, 0, 0};
    create_closed(fs, &xbase);
    create_closed(fs, &vtop);
    assert_int_equal(vf_chain_open("v.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "mixed chain");
    /* VHDX child with 512-byte sectors over a 4096-byte parent. */
    layer_spec x4k = {"p4k.vhdx", VF_FORMAT_VHDX, 4 * MIB, 30, 0, NULL, NULL, 0, 4096};
    layer_spec x512 = {"c512.vhdx", VF_FORMAT_VHDX, 4 * MIB, 31, 30, "p4k.vhdx", NULL, 0, 512};
    create_closed(fs, &x4k);
    create_closed(fs, &x512);
    assert_int_equal(vf_chain_open("c512.vhdx", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "sectors");
    vf_fs_mem_free(fs);
}

static void test_locks(void **state)
{
    (void)state;
    built b;
    build_chain(&b, 3, 5);
    vf_error e;
    vf_chain *c1, *c2;
    vf_chain_opts ro = opts_of(b.fs, 0, 0, true);
    vf_chain_opts rw = opts_of(b.fs, 0, VF_OPEN_RDWR, true);
    /* Two readers share. */
    check(vf_chain_open(b.names[2], &ro, &c1, &e), &e, "reader 1");
    check(vf_chain_open(b.names[2], &ro, &c2, &e), &e, "reader 2");
    vf_chain_close(c2);
    /* A writer on the top conflicts with the reader's shared lock. */
    assert_int_equal(vf_chain_open(b.names[2], &rw, &c2, &e), VF_E_BUSY);
    assert_msg_has(&e, b.names[2]);
    vf_chain_close(c1);
    check(vf_chain_open(b.names[2], &rw, &c1, &e), &e, "writer");
    assert_int_equal(vf_chain_open(b.names[2], &ro, &c2, &e), VF_E_BUSY);
    /* Reopening the base read-write takes it exclusively: a reader of the base alone now
     * conflicts, and the base (same identity) is writable. */
    check(vf_chain_reopen_rw(c1, 2, &e), &e, "reopen base");
    assert_true(vf_image_io(vf_chain_image(c1, 2))->writable);
    assert_int_equal(vf_chain_open(b.names[0], &ro, &c2, &e), VF_E_BUSY);
    assert_msg_has(&e, b.names[0]);
    assert_int_equal(vf_chain_reopen_rw(c1, 3, &e), VF_E_INVAL);
    uint8_t *got = malloc(b.size);
    check(vf_chain_read(c1, 0, got, b.size, &e), &e, "read after reopen");
    assert_memory_equal(got, b.view[0], b.size);
    free(got);
    vf_chain_close(c1);
    /* An exclusive holder elsewhere: the chain cannot take its shared lock. */
    vf_io *hold;
    check(vf_fs_open(b.fs, b.names[1], VF_IO_RDWR, &hold, &e), &e, "holder");
    check(vf_io_lock(hold, true, &e), &e, "hold");
    assert_int_equal(vf_chain_open(b.names[2], &ro, &c2, &e), VF_E_BUSY);
    assert_msg_has(&e, b.names[1]);
    vf_io_close(hold);
    check(vf_chain_open(b.names[2], &ro, &c2, &e), &e, "after release");
    vf_chain_close(c2);
    free_built(&b);
}

/* vf_chain_open_partial keeps the levels that resolve and says where and why it stops. */
static void test_open_partial(void **state)
{
    (void)state;
    built b;
    build_chain(&b, 5, 11); /* lvl4 (top, level 0) .. lvl0 (base, level 4) */
    vf_error e, brk;
    vf_chain *c;
    vf_chain_opts o = opts_of(b.fs, 0, 0, true);
    /* whole: every level, no break */
    check(vf_chain_open_partial(b.names[4], &o, &c, &brk, &e), &e, "whole");
    assert_int_equal(vf_chain_depth(c), 5);
    assert_int_equal(brk.code, VF_OK);
    vf_chain_close(c);
    /* a busy level 2: levels 0 and 1 resolved, the break is the lock */
    vf_io *hold;
    check(vf_fs_open(b.fs, b.names[2], VF_IO_RDWR, &hold, &e), &e, "holder");
    check(vf_io_lock(hold, true, &e), &e, "hold");
    check(vf_chain_open_partial(b.names[4], &o, &c, &brk, &e), &e, "busy");
    assert_int_equal(vf_chain_depth(c), 2);
    assert_int_equal(brk.code, VF_E_BUSY);
    assert_msg_has(&brk, b.names[2]);
    assert_null(vf_chain_beyond(c)); /* nothing found and refused */
    vf_chain_close(c);
    vf_io_close(hold);
    /* level 2's file now holds another image (level 1's, another identity): found, not taken */
    size_t len, len1;
    const uint8_t *mine = vf_fs_mem_get(b.fs, b.names[2], &len);
    uint8_t *keep = malloc(len);
    memcpy(keep, mine, len);
    const uint8_t *l1 = vf_fs_mem_get(b.fs, b.names[1], &len1);
    uint8_t *alien = malloc(len1);
    memcpy(alien, l1, len1);
    check(vf_fs_mem_put(b.fs, b.names[2], alien, len1, &e), &e, "replace");
    free(alien);
    check(vf_chain_open_partial(b.names[4], &o, &c, &brk, &e), &e, "mismatch");
    assert_int_equal(vf_chain_depth(c), 2);
    assert_int_equal(brk.code, VF_E_CHAIN);
    assert_non_null(vf_chain_beyond(c));
    assert_string_equal(vf_chain_beyond(c), b.names[2]);
    vf_chain_close(c);
    check(vf_fs_mem_put(b.fs, b.names[2], keep, len, &e), &e, "restore");
    free(keep);
    /* the parent of level 2 is missing: levels 0..2 resolved, broken at level 3 */
    check(vf_fs_remove(b.fs, b.names[1], &e), &e, "remove");
    check(vf_chain_open_partial(b.names[4], &o, &c, &brk, &e), &e, "broken");
    assert_int_equal(vf_chain_depth(c), 3);
    assert_string_equal(vf_chain_path(c, 2), b.names[2]);
    assert_int_equal(brk.code, VF_E_CHAIN);
    assert_msg_has(&brk, "cannot find parent of 'vm/lvl2.vhd'");
    vf_chain_close(c);
    /* ... and vf_chain_open still refuses the whole */
    assert_int_equal(vf_chain_open(b.names[4], &o, &c, &e), VF_E_CHAIN);
    assert_null(c);
    /* the top itself missing: its error, no chain, no break */
    c = (vf_chain *)&e;
    assert_int_equal(vf_chain_open_partial("vm/none.vhd", &o, &c, &brk, &e), VF_E_IO);
    assert_null(c);
    assert_int_equal(brk.code, VF_OK);
    free_built(&b);
}

/* Reopen detects a file replaced under the chain by another image. */
static void test_reopen_identity(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec base = {"b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "b.vhd", NULL, 0, 0};
    create_closed(fs, &base);
    create_closed(fs, &top);
    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    check(vf_chain_open("t.vhd", &o, &c, &e), &e, "open");
    size_t len;
    const uint8_t *orig = vf_fs_mem_get(fs, "b.vhd", &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, orig, len);
    layer_spec other = {"b.vhd", VF_FORMAT_VHD, MIB, 7, 0, NULL, NULL, 0, 0};
    create_closed(fs, &other); /* same path, other identity */
    assert_int_equal(vf_chain_reopen_rw(c, 1, &e), VF_E_CHAIN);
    assert_msg_has(&e, "'b.vhd'");
    /* The level is back (read-only) and the chain still reads. */
    assert_non_null(vf_chain_image(c, 1));
    uint8_t buf[512];
    check(vf_chain_read(c, 0, buf, sizeof buf, &e), &e, "read");
    check(vf_fs_mem_put(fs, "b.vhd", copy, len, &e), &e, "put back");
    check(vf_chain_reopen_rw(c, 1, &e), &e, "reopen");
    check(vf_chain_reopen_rw(c, 1, &e), &e, "reopen again (no-op)");
    vf_chain_close(c);
    /* With locks the read-only handle is dropped first; the file is no longer the same
     * image, so the chain refuses further use rather than read a stranger. */
    o.lock = true;
    check(vf_chain_open("t.vhd", &o, &c, &e), &e, "open locked");
    create_closed(fs, &other);
    assert_int_equal(vf_chain_reopen_rw(c, 1, &e), VF_E_CHAIN);
    assert_int_equal(vf_chain_read(c, 0, buf, sizeof buf, &e), VF_E_STATE);
    assert_int_equal(vf_chain_reopen_rw(c, 1, &e), VF_E_STATE);
    vf_chain_close(c);
    free(copy);
    vf_fs_mem_free(fs);
}

/* A file system over a memory one that refuses read-write opens like a read-only file. */
typedef struct ro_fs {
    vf_fs fs;
    vf_fs *inner;
} ro_fs;

static vf_status ro_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    ro_fs *r = self;
    *out = NULL;
    if (flags & VF_IO_RDWR)
        return VF_FAIL_ERRNO(e, EACCES, VF_OFF_NONE, "cannot open '%s'", path);
    return vf_fs_open(r->inner, path, flags, out, e);
}

static vf_status ro_remove(void *self, const char *path, vf_error *e)
{
    (void)self;
    return VF_FAIL_ERRNO(e, EACCES, VF_OFF_NONE, "cannot remove '%s'", path);
}

static void test_reopen_read_only_file(void **state)
{
    (void)state;
    built b;
    build_chain(&b, 2, 3);
    static const vf_fs_ops ops = {.open = ro_open, .remove = ro_remove};
    ro_fs r = {{&ops, &r}, b.fs};
    vf_chain_opts o = opts_of(&r.fs, 0, 0, true);
    vf_chain *c;
    vf_error e;
    check(vf_chain_open(b.names[1], &o, &c, &e), &e, "open");
    assert_int_equal(vf_chain_reopen_rw(c, 1, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, EACCES);
    assert_msg_has(&e, b.names[0]);
    /* Untouched: still read-only, still reads the model. */
    assert_false(vf_image_io(vf_chain_image(c, 1))->writable);
    uint8_t *got = malloc(b.size);
    check(vf_chain_read(c, 0, got, b.size, &e), &e, "read");
    assert_memory_equal(got, b.view[0], b.size);
    free(got);
    vf_chain_close(c);
    free_built(&b);
}

/* A parent that exists but is not a valid image: its own error, naming both files. */
static void test_corrupt_parent(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "b.vhd", NULL, VF_LOCATE_W2RU, 0};
    create_closed(fs, &top);
    uint8_t junk[4096];
    memset(junk, 0x5c, sizeof junk);
    check(vf_fs_mem_put(fs, "b.vhd", junk, sizeof junk, &e), &e, "put");
    vf_chain *c;
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_status st = vf_chain_open("t.vhd", &o, &c, &e);
    if (st != VF_E_FORMAT)
        fail_msg("got %s: %s", vf_status_name(st), e.msg);
    assert_msg_has(&e, "parent of 't.vhd' ('b.vhd', W2ru)");
    assert_msg_has(&e, "not a virtual disk");
    vf_fs_mem_free(fs);
}

/* --- parent policy: absolute locators, parent_dir, named files, quiet errors --- */

/* A file system over a memory one that records every path opened (plain or beneath). */
typedef struct rec_fs {
    vf_fs fs;
    vf_fs *inner;
    char opened[32][64];
    unsigned n;
} rec_fs;

static void rec_note(rec_fs *r, const char *a, const char *b)
{
    if (r->n < 32)
        snprintf(r->opened[r->n++], sizeof r->opened[0], "%s%s%s", a, b ? "/" : "", b ? b : "");
}

static vf_status rec_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    rec_fs *r = self;
    rec_note(r, path, NULL);
    return vf_fs_open(r->inner, path, flags, out, e);
}

static vf_status rec_open_beneath(void *self, const char *dir, const char *rel, unsigned flags,
                                  vf_io **out, vf_error *e)
{
    rec_fs *r = self;
    rec_note(r, dir, rel);
    return vf_fs_open_beneath(r->inner, dir, rel, flags, out, e);
}

static vf_status rec_remove(void *self, const char *path, vf_error *e)
{
    return vf_fs_remove(((rec_fs *)self)->inner, path, e);
}

static const vf_fs_ops rec_ops = {
    .open = rec_open, .remove = rec_remove, .open_beneath = rec_open_beneath};

static bool rec_saw(const rec_fs *r, const char *needle)
{
    for (unsigned i = 0; i < r->n; i++)
        if (strstr(r->opened[i], needle))
            return true;
    return false;
}

#define SECRET_TEXT "TOPSECRET-swordfish-"
#define SECRET_SIZE 4321u

static void put_secret(vf_fs *fs, const char *path)
{
    vf_error e;
    char *buf = malloc(SECRET_SIZE);
    assert_non_null(buf);
    for (size_t i = 0; i < SECRET_SIZE; i++)
        buf[i] = SECRET_TEXT[i % (sizeof SECRET_TEXT - 1)];
    memcpy(buf + SECRET_SIZE - 8, "conectix", 8); /* looks like a VHD footer cookie, is not one */
    check(vf_fs_mem_put(fs, path, buf, SECRET_SIZE, &e), &e, "secret");
    free(buf);
}

static void assert_no_secret(const vf_error *e)
{
    if (strstr(e->msg, "4321") || strstr(e->msg, "TOPSECRET") || strstr(e->msg, "swordfish") ||
        strstr(e->msg, "0x"))
        fail_msg("the error tells something of the secret file: '%s'", e->msg);
}

/* A POSIX absolute locator is not followed by default: the file is never opened and its base
 * name is looked for beside the child. Allowed, a file that is not a disk is only "not a
 * virtual disk": no size, no bytes, no field. A real parent there is found. */
static void test_absolute_locator_policy(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *mem;
    check(vf_fs_mem_new(&mem, &e), &e, "fs");
    rec_fs r = {{&rec_ops, &r}, mem, {{0}}, 0};
    put_secret(mem, "/etc/secret/shadow");
    layer_spec top = {"vm/t.vhd",           VF_FORMAT_VHD,  MIB, 2, 1, NULL,
                      "/etc/secret/shadow", VF_LOCATE_W2KU, 0};
    create_closed(mem, &top);
    vf_chain_opts o = opts_of(&r.fs, 0, 0, false);
    vf_chain *c;
    assert_int_equal(vf_chain_open("vm/t.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "'/etc/secret/shadow' (W2ku, parent-name, absolute path not followed");
    assert_msg_has(&e, "'vm/shadow' (W2ku, parent-name)");
    assert_no_secret(&e);
    if (rec_saw(&r, "secret"))
        fail_msg("the absolute locator's file was opened: '%s'", r.opened[r.n - 1]);

    o.allow_absolute_parents = true;
    vf_status st = vf_chain_open("vm/t.vhd", &o, &c, &e);
    if (st != VF_E_FORMAT)
        fail_msg("allowed, on a file that is no disk: %s: %s", vf_status_name(st), e.msg);
    assert_msg_has(&e, "'/etc/secret/shadow' is not a virtual disk");
    assert_no_secret(&e);
    assert_true(rec_saw(&r, "/etc/secret/shadow"));

    layer_spec base = {"/srv/disks/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top2 = {"vm/t2.vhd",        VF_FORMAT_VHD,  MIB, 3, 1, NULL,
                       "/srv/disks/b.vhd", VF_LOCATE_W2KU, 0};
    create_closed(mem, &base);
    create_closed(mem, &top2);
    check(vf_chain_open("vm/t2.vhd", &o, &c, &e), &e, "allowed absolute");
    assert_string_equal(vf_chain_path(c, 1), "/srv/disks/b.vhd");
    vf_chain_close(c);
    o.allow_absolute_parents = false;
    assert_int_equal(vf_chain_open("vm/t2.vhd", &o, &c, &e), VF_E_CHAIN);
    /* Named by the caller (the merge DESTINATION): found whatever the policy. */
    const char *named[] = {"/srv/disks/b.vhd"};
    o.named = named;
    o.nnamed = 1;
    check(vf_chain_open("vm/t2.vhd", &o, &c, &e), &e, "named");
    assert_string_equal(vf_chain_path(c, 1), "/srv/disks/b.vhd");
    assert_string_equal(vf_chain_via(c, 1), "named");
    vf_chain_close(c);
    vf_fs_mem_free(mem);
}

/* A locator reaching a file that is not a disk (relative, so followed by default): only
 * "not a virtual disk", nothing of its size or content. */
static void test_not_a_disk_says_nothing(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    put_secret(fs, "notes.txt");
    layer_spec top = {"t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "notes.txt", NULL, VF_LOCATE_W2RU, 0};
    create_closed(fs, &top);
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_chain *c;
    assert_int_equal(vf_chain_open("t.vhd", &o, &c, &e), VF_E_FORMAT);
    assert_msg_has(&e, "parent of 't.vhd' ('notes.txt', W2ru): 'notes.txt' is not a virtual disk");
    assert_no_secret(&e);
    /* Tiny, and empty: the same words. */
    check(vf_fs_mem_put(fs, "notes.txt", "abc", 3, &e), &e, "tiny");
    assert_int_equal(vf_chain_open("t.vhd", &o, &c, &e), VF_E_FORMAT);
    assert_msg_has(&e, "'notes.txt' is not a virtual disk");
    if (strstr(e.msg, "3 bytes") || strstr(e.msg, "size"))
        fail_msg("size told: '%s'", e.msg);
    vf_fs_mem_free(fs);
}

/* parent_dir: parents only inside it; relative paths resolved from the child's place there,
 * ".." escapes refused without opening, file names looked for in it. */
static void test_parent_dir(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *mem;
    check(vf_fs_mem_new(&mem, &e), &e, "fs");
    rec_fs r = {{&rec_ops, &r}, mem, {{0}}, 0};
    layer_spec base = {"pd/base/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec top = {
        "pd/snap/t.vhd", VF_FORMAT_VHD, MIB, 2, 1, "../base/b.vhd", NULL, VF_LOCATE_W2RU, 0};
    create_closed(mem, &base);
    create_closed(mem, &top);
    vf_chain_opts o = opts_of(&r.fs, 0, 0, false);
    o.parent_dir = "pd";
    vf_chain *c;
    check(vf_chain_open("pd/snap/t.vhd", &o, &c, &e), &e, "inside");
    assert_string_equal(vf_chain_path(c, 1), "pd/base/b.vhd");
    assert_true(rec_saw(&r, "pd/base/b.vhd")); /* opened beneath pd */
    vf_chain_close(c);

    /* Escaping with "..": refused, never opened, even though a valid parent is there. */
    layer_spec out = {"outside/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    layer_spec esc = {
        "pd/snap/e.vhd", VF_FORMAT_VHD, MIB, 4, 1, "../../outside/b.vhd", NULL, VF_LOCATE_W2RU, 0};
    create_closed(mem, &out);
    create_closed(mem, &esc);
    r.n = 0;
    assert_int_equal(vf_chain_open("pd/snap/e.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "'outside/b.vhd' (W2ru, parent-name, outside the parent folder");
    assert_msg_has(&e, "'pd/b.vhd' (W2ru, parent-name)"); /* the file name, in pd */
    if (rec_saw(&r, "outside"))
        fail_msg("a path outside the parent folder was opened");
    /* Without parent_dir the same chain opens (".." is normal in relative locators). */
    o.parent_dir = NULL;
    check(vf_chain_open("pd/snap/e.vhd", &o, &c, &e), &e, "no parent_dir");
    vf_chain_close(c);

    /* A top outside the folder: relative locators are read from the folder itself. */
    layer_spec t3 = {"else/t3.vhd", VF_FORMAT_VHD, MIB, 5, 1, "b.vhd", NULL, VF_LOCATE_W2RU, 0};
    create_closed(mem, &t3);
    o.parent_dir = "pd/base";
    check(vf_chain_open("else/t3.vhd", &o, &c, &e), &e, "top outside");
    assert_string_equal(vf_chain_path(c, 1), "pd/base/b.vhd");
    vf_chain_close(c);
    /* An absolute locator, allowed: followed only inside the folder. */
    layer_spec t4 = {"else/t4.vhd", VF_FORMAT_VHD,  MIB, 6, 1, NULL,
                     "/abs/b.vhd",  VF_LOCATE_W2KU, 0};
    layer_spec abs_base = {"/abs/b.vhd", VF_FORMAT_VHD, MIB, 1, 0, NULL, NULL, 0, 0};
    create_closed(mem, &t4);
    create_closed(mem, &abs_base);
    o.allow_absolute_parents = true;
    o.parent_dir = "/abs";
    check(vf_chain_open("else/t4.vhd", &o, &c, &e), &e, "absolute inside");
    assert_string_equal(vf_chain_path(c, 1), "/abs/b.vhd");
    vf_chain_close(c);
    o.parent_dir = "/elsewhere";
    assert_int_equal(vf_chain_open("else/t4.vhd", &o, &c, &e), VF_E_CHAIN);
    assert_msg_has(&e, "'/abs/b.vhd' (W2ku, parent-name, outside the parent folder");
    vf_fs_mem_free(mem);
}

/* A locator longer than any old fixed buffer (3000 bytes) resolves to the whole path; a decoy
 * with the right identity waits at the path cut to 1023 bytes and must not be used. VHDX
 * (relative_path) and VHD (W2ru). */
static void long_locator_case(vf_format_kind fmt, const char *ext, unsigned locators)
{
    vf_error e;
    vf_fs *fs;
    check(vf_fs_mem_new(&fs, &e), &e, "fs");
    char rel[3100] = "";
    while (strlen(rel) < 2980)
        strcat(rel, "abcdefghijklmn/"); /* 15 bytes a component: the cut lands mid-name */
    strcat(rel, "parent");
    strcat(rel, ext);
    assert_true(strlen(rel) > 2990);
    char full[3200], cut[1100], top_name[32];
    snprintf(full, sizeof full, "vm/%s", rel);
    snprintf(cut, sizeof cut, "vm/%.*s", 1023, rel);
    snprintf(top_name, sizeof top_name, "vm/t%s", ext);
    assert_true(cut[strlen(cut) - 1] != '/');
    layer_spec base = {full, fmt, 4 * MIB, 40, 0, NULL, NULL, 0, 0};
    layer_spec decoy = {cut, fmt, 4 * MIB, 40, 0, NULL, NULL, 0, 0};
    layer_spec top = {top_name, fmt, 4 * MIB, 41, 40, rel, NULL, locators, 0};
    create_closed(fs, &base);
    create_closed(fs, &decoy);
    create_closed(fs, &top);
    vf_chain_opts o = opts_of(fs, 0, 0, false);
    vf_chain *c;
    check(vf_chain_open(top_name, &o, &c, &e), &e, "long locator");
    assert_int_equal(vf_chain_depth(c), 2);
    if (strcmp(vf_chain_path(c, 1), full) != 0)
        fail_msg("%s: resolved to a %zu-byte path, not the %zu-byte locator", ext,
                 strlen(vf_chain_path(c, 1)), strlen(full));
    vf_chain_close(c);
    vf_fs_mem_free(fs);
}

static void test_long_locator_is_whole(void **state)
{
    (void)state;
    long_locator_case(VF_FORMAT_VHDX, ".vhdx", VF_LOCATE_RELATIVE);
    long_locator_case(VF_FORMAT_VHD, ".vhd", VF_LOCATE_W2RU);
}

/* --- real images (../shared/corpus/real, digests from its README) --- */

typedef struct real_dir {
    char dir[4096];
    char corpus[4096];
} real_dir;

/* Decompress corpus/real/NAME.gz into a fresh temporary folder; false when the corpus is
 * absent. */
static bool real_unpack(real_dir *r, const char *name, char *out, size_t out_len)
{
    const char *shared = getenv("VF_SHARED_DIR"), *src = getenv("VF_SOURCE_DIR");
    if (shared && *shared)
        snprintf(r->corpus, sizeof r->corpus, "%s/corpus/real/%s.gz", shared, name);
    else /* ctest sets VF_SHARED_DIR; by hand, the folder beside the checkout */
        snprintf(r->corpus, sizeof r->corpus, "%s/../shared/corpus/real/%s.gz",
                 src && *src ? src : VF_SOURCE_DIR, name);
    if (access(r->corpus, R_OK) != 0)
        return false;
    const char *base = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/vf_test_chain.XXXXXX", base && *base ? base : P_tmpdir);
    assert_non_null(mkdtemp(r->dir));
    snprintf(out, out_len, "%s/%s", r->dir, name);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' > '%s'", r->corpus, out);
    assert_int_equal(system(cmd), 0);
    return true;
}

static void real_cleanup(real_dir *r, const char *file)
{
    unlink(file);
    rmdir(r->dir);
}

static void test_real_images_digest(void **state)
{
    (void)state;
    static const struct {
        const char *name, *sha256;
    } cases[] = {
        {"dynamic.vhd", "ecff2ef6615a3cddc6a6885f1c6d9cf13a232697e1dc6575f2c2f01f57247784"},
        {"fixed.vhd", "459325ab1fcd1d5ec9854cba790ee26378317cda177ffc1072008a1df88e6463"},
        {"dynamic.vhdx", "8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac"},
        {"fixed.vhdx", "bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62"},
    };
    unsigned done = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        real_dir r;
        char file[8192];
        if (!real_unpack(&r, cases[i].name, file, sizeof file))
            continue;
        vf_chain_opts o = opts_of(NULL, 0, 0, true);
        vf_chain *c;
        vf_error e;
        check(vf_chain_open(file, &o, &c, &e), &e, cases[i].name);
        assert_int_equal(vf_chain_depth(c), 1);
        uint64_t size = vf_chain_virtual_size(c);
        assert_int_equal(size, 10485760);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
        uint8_t *buf = malloc(MIB + 3);
        /* Odd-sized pieces so runs start and end inside sectors. */
        for (uint64_t off = 0; off < size;) {
            size_t n = size - off < MIB + 3 ? (size_t)(size - off) : MIB + 3;
            check(vf_chain_read(c, off, buf, n, &e), &e, "read");
            assert_int_equal(EVP_DigestUpdate(md, buf, n), 1);
            off += n;
        }
        unsigned char dg[32];
        unsigned dlen = 0;
        assert_int_equal(EVP_DigestFinal_ex(md, dg, &dlen), 1);
        char hex[65];
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", dg[k]);
        if (strcmp(hex, cases[i].sha256) != 0)
            fail_msg("%s: flattened digest %s, want %s", cases[i].name, hex, cases[i].sha256);
        EVP_MD_CTX_free(md);
        free(buf);
        vf_chain_close(c);
        real_cleanup(&r, file);
        done++;
    }
    if (done == 0)
        skip(); /* no corpus beside the checkout */
    assert_int_equal(done, 4);
}

/* A Hyper-V checkpoint without its parent: the error names every path tried. */
static void test_real_missing_parent(void **state)
{
    (void)state;
    real_dir r;
    char file[8192];
    if (!real_unpack(&r, "differencing.avhdx", file, sizeof file))
        skip();
    vf_chain_opts o = opts_of(NULL, 0, 0, false);
    vf_chain *c;
    vf_error e;
    vf_status st = vf_chain_open(file, &o, &c, &e);
    if (st != VF_E_CHAIN)
        fail_msg("got %s: %s", vf_status_name(st), e.msg);
    assert_msg_has(&e, "cannot find parent of '");
    assert_msg_has(&e, "tried '");
    assert_msg_has(&e, "(relative_path, volume_path, absolute_win32_path)");
    assert_msg_has(&e, r.dir); /* candidates are resolved beside the child */
    print_message("    %s\n", e.msg);
    real_cleanup(&r, file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depths_read_model),
        cmocka_unit_test(test_map_runs_are_long),
        cmocka_unit_test(test_map_walk_big_sparse_chain),
        cmocka_unit_test(test_parent_smaller_than_child),
        cmocka_unit_test(test_missing_parent_lists_all),
        cmocka_unit_test(test_identity_mismatch),
        cmocka_unit_test(test_relative_and_absolute),
        cmocka_unit_test(test_loops),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_mixed_formats_and_sectors),
        cmocka_unit_test(test_locks),
        cmocka_unit_test(test_open_partial),
        cmocka_unit_test(test_reopen_identity),
        cmocka_unit_test(test_reopen_read_only_file),
        cmocka_unit_test(test_corrupt_parent),
        cmocka_unit_test(test_absolute_locator_policy),
        cmocka_unit_test(test_not_a_disk_says_nothing),
        cmocka_unit_test(test_parent_dir),
        cmocka_unit_test(test_long_locator_is_whole),
        cmocka_unit_test(test_real_images_digest),
        cmocka_unit_test(test_real_missing_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
