/* test_digest.c - unit tests of the verifier's digests (verify/walk.c, verify/tree.c,
 * verify/source.c) on VHD chains built in memory: flat digest equal to SHA-256 of the model,
 * tree digest equal to the definition and to the Python reference (tests/tools/tree_digest.py)
 * on the raw bytes, a 1 TiB sparse chain tree-digested fast without reading absent blocks,
 * the tree digest of a chain of real files (hashed through mappings) equal to the definition
 * with every thread count, batch and group, progress and cancellation. Layer: tests (unit). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "source_int.h"
#include "test_digest_build.h"

/* 11 MiB + 3 sectors: six tree blocks, the last one short. */
#define SMALL_SIZE (11 * TD_MIB + 1536)

typedef struct small_chain {
    vf_fs *fs;
    uint8_t *model;
} small_chain;

/* base.vhd (dynamic) with data in blocks 0, 2 and 5; top.vhd (differencing) overwriting
 * single sectors, a run crossing a block boundary and the very last sector. Block 4 is
 * absent in both. */
static void small_build(small_chain *s)
{
    vf_error err;
    td_check(vf_fs_mem_new(&s->fs, &err), &err, "vf_fs_mem_new");
    s->model = calloc(1, SMALL_SIZE);
    assert_non_null(s->model);
    vf_image *base = td_create(s->fs, "base.vhd", SMALL_SIZE, NULL);
    td_write(base, s->model, 0, TD_MIB, 1);
    td_write(base, s->model, 5 * TD_MIB, 4096, 2);
    td_write(base, s->model, 10 * TD_MIB, TD_MIB, 3);
    td_close(base);
    vf_image *top = td_create(s->fs, "top.vhd", SMALL_SIZE, "base.vhd");
    td_write(top, s->model, 512, 512, 4);
    td_write(top, s->model, 2 * TD_MIB - 1024, 2048, 5);
    td_write(top, s->model, 5 * TD_MIB + 1024, 512, 6);
    td_write(top, s->model, SMALL_SIZE - 512, 512, 7);
    td_close(top);
}

static void small_free(small_chain *s)
{
    vf_fs_mem_free(s->fs);
    free(s->model);
}

static void test_flat_matches_model(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    vf_error err;
    uint8_t want[VF_SHA256_LEN], got[VF_SHA256_LEN];
    td_check(vf_sha256_once(s.model, SMALL_SIZE, want, &err), &err, "sha");
    vf_source *src = td_open_chain(s.fs, "top.vhd");
    assert_int_equal(vf_source_size(src), SMALL_SIZE);
    assert_false(vf_source_is_raw(src));
    td_check(vf_digest_flat(src, NULL, got, &err), &err, "vf_digest_flat");
    assert_memory_equal(got, want, VF_SHA256_LEN);
    /* Small requests take many trips around the reader's ring. */
    vf_verify_opts opts;
    vf_verify_opts_init(&opts);
    opts.request_bytes = 64 * 1024;
    td_check(vf_digest_flat(src, &opts, got, &err), &err, "vf_digest_flat small requests");
    assert_memory_equal(got, want, VF_SHA256_LEN);
    vf_source_free(src);
    /* The same bytes as a raw source digest the same. */
    src = td_open_raw(s.model, SMALL_SIZE, "model.raw");
    td_check(vf_digest_flat(src, NULL, got, &err), &err, "vf_digest_flat raw");
    assert_memory_equal(got, want, VF_SHA256_LEN);
    vf_source_free(src);
    small_free(&s);
}

/* The tree digest of src with 1..max_threads threads and batches of 0 (the default) ..
 * max_batch blocks with data must be want every time. */
static void tree_every_split(vf_source *src, unsigned max_threads, unsigned max_batch,
                             const uint8_t want[VF_SHA256_LEN], const char *what)
{
    vf_error err;
    uint8_t got[VF_SHA256_LEN];
    for (unsigned threads = 1; threads <= max_threads; threads++)
        for (unsigned batch = 0; batch <= max_batch; batch++) {
            vf_verify_opts opts;
            vf_verify_opts_init(&opts);
            opts.threads = threads;
            opts.tree_batch = batch;
            td_check(vf_digest_tree(src, &opts, got, &err), &err, "vf_digest_tree");
            if (memcmp(got, want, VF_SHA256_LEN))
                fail_msg("%s: tree digest with %u threads, batches of %u differs from the "
                         "definition",
                         what, threads, batch);
        }
}

static void test_tree_matches_definition(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    vf_error err;
    uint8_t want[VF_SHA256_LEN], got[VF_SHA256_LEN];
    td_tree_ref(s.model, SMALL_SIZE, want);
    vf_source *src = td_open_chain(s.fs, "top.vhd");
    /* Batches of 1..3 blocks with data (and the default) make the constant leaves between
     * and after the hashed ones, and the last short block, cross batch boundaries. */
    tree_every_split(src, 4, 3, want, "small chain");
    vf_source_free(src);
    src = td_open_raw(s.model, SMALL_SIZE, "model.raw");
    td_check(vf_digest_tree(src, NULL, got, &err), &err, "vf_digest_tree raw");
    assert_memory_equal(got, want, VF_SHA256_LEN);
    vf_source_free(src);
    small_free(&s);
}

/* Data only in blocks 1 and 3 of 6, the last block short and zero: the constant leaves run
 * before, between and after the hashed ones, whatever the batch size and thread count. */
static void test_tree_zero_tail(void **state)
{
    (void)state;
    const uint64_t size = 10 * TD_MIB + 1536;
    vf_error err;
    vf_fs *mem;
    td_check(vf_fs_mem_new(&mem, &err), &err, "vf_fs_mem_new");
    uint8_t *model = calloc(1, size);
    assert_non_null(model);
    vf_image *img = td_create(mem, "sparse.vhd", size, NULL);
    td_write(img, model, 2 * TD_MIB + 4096, 8192, 11);
    td_write(img, model, 7 * TD_MIB, TD_MIB, 12);
    td_close(img);
    uint8_t want[VF_SHA256_LEN];
    td_tree_ref(model, size, want);
    vf_source *src = td_open_chain(mem, "sparse.vhd");
    tree_every_split(src, 3, 2, want, "zero-tail chain");
    vf_source_free(src);
    vf_fs_mem_free(mem);
    free(model);
}

/* The digest source of the chain of name, its files locked (so they may be mapped). */
static vf_source *td_locked_source(const char *name)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.lock = true;
    vf_error err;
    vf_error_clear(&err);
    vf_chain *c;
    td_check(vf_chain_open(name, &co, &c, &err), &err, name);
    vf_source *src;
    td_check(vf_source_from_chain(c, true, &src, &err), &err, "vf_source_from_chain");
    return src;
}

/* A chain of POSIX files, locked, so the tree digest hashes stored blocks from mappings
 * (verify/tree.c): base.vhd holds blocks 0-4 one after the other in its file, 9, 6 and 8
 * written out of order, the short last block 10; top.vhd overwrites a sector of block 1
 * (read through the chain), holds block 3 whole (another file, which cuts the base's run)
 * and block 7, which the base lacks; block 5 is absent in both. Every thread count (groups
 * of 8 down to 5 blocks), batch size, and views on and off give the definition's digest.
 * Runs of several blocks in one mapping: test_tree_views_runs. */
static void test_tree_views_on_files(void **state)
{
    (void)state;
    const uint64_t size = 20 * TD_MIB + 1536;
    char tmpl[512], here[4096];
    char *d = td_enter(tmpl, sizeof tmpl, "vf_test_digest_", here, sizeof here);
    const vf_fs *fs = vf_fs_posix();
    uint8_t *model = calloc(1, size);
    assert_non_null(model);
    vf_image *base = td_create(fs, "base.vhd", size, NULL);
    for (unsigned b = 0; b < 5; b++)
        td_write(base, model, b * 2 * TD_MIB, 2 * TD_MIB, (uint8_t)(10 + b));
    static const unsigned scattered[] = {9, 6, 8};
    for (unsigned i = 0; i < 3; i++)
        td_write(base, model, scattered[i] * 2 * TD_MIB, 2 * TD_MIB, (uint8_t)(20 + i));
    td_write(base, model, 20 * TD_MIB, 1536, 30);
    td_close(base);
    vf_image *top = td_create(fs, "top.vhd", size, "base.vhd");
    td_write(top, model, 2 * TD_MIB + 4096, 512, 40);
    td_write(top, model, 6 * TD_MIB, 2 * TD_MIB, 41);
    td_write(top, model, 14 * TD_MIB, 2 * TD_MIB, 42);
    td_close(top);
    uint8_t want[VF_SHA256_LEN], got[VF_SHA256_LEN];
    td_tree_ref(model, size, want);
    vf_source *src = td_locked_source("top.vhd");
    vf_error err;
    vf_error_clear(&err);
    static const unsigned batches[] = {0, 1, 2, 5};
    for (unsigned threads = 1; threads <= 3; threads++)
        for (unsigned bi = 0; bi < 4; bi++)
            for (int nv = 0; nv < 2; nv++) {
                vf_verify_opts opts;
                vf_verify_opts_init(&opts);
                opts.threads = threads;
                opts.tree_batch = batches[bi];
                opts.no_views = nv;
                td_check(vf_digest_tree(src, &opts, got, &err), &err, "vf_digest_tree");
                if (memcmp(got, want, VF_SHA256_LEN))
                    fail_msg("files: tree digest with %u threads, batches of %u, no_views %d "
                             "differs from the definition",
                             threads, batches[bi], nv);
            }
    vf_source_free(src);
    free(model);
    assert_int_equal(unlink("top.vhd"), 0);
    assert_int_equal(unlink("base.vhd"), 0);
    td_leave(here, d);
}

/* Bytes of mappings of files whose path ends in name, from /proc/self/maps (0 without it). */
static uint64_t td_mapped_bytes(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[4608];
    uint64_t sum = 0;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        line[n] = 0;
        unsigned long long lo, hi;
        if (n >= nl && !strcmp(line + n - nl, name) && sscanf(line, "%llx-%llx", &lo, &hi) == 2)
            sum += hi - lo;
    }
    fclose(f);
    return sum;
}

/* Drop name's pages from the page cache (written back first), so that the digest's populated
 * mappings wait for the disk and many workers want a mapping at once: the budget, not the
 * scheduling, then bounds what they hold (on tmpfs, say, the pages stay and the bound holds
 * but is tested less hard). */
static void td_drop_cache(const char *name)
{
    int fd = open(name, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fsync(fd), 0);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* A fully allocated dynamic image of format fmt with 20 blocks of 2 MiB, each its own
 * pattern, written in order (so they follow one another in the file: back to back in a
 * VHDX, a sector bitmap apart in a VHD), and a short last block. */
static void td_make_runs(const char *name, vf_format_kind fmt, uint64_t size, uint8_t *model)
{
    vf_error err;
    vf_error_clear(&err);
    vf_io *io;
    td_check(vf_fs_open(vf_fs_posix(), name, VF_IO_RDWR | VF_IO_CREATE, &io, &err), &err, name);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = fmt;
    o.type = VF_DISK_DYNAMIC;
    o.virtual_size = size;
    o.block_size = 2 * TD_MIB;
    vf_image *img;
    td_check(vf_image_create(io, name, &o, &img, &err), &err, name);
    for (unsigned b = 0; b < 20; b++)
        td_write(img, model, b * 2 * TD_MIB, 2 * TD_MIB, (uint8_t)(50 + b));
    td_write(img, model, 40 * TD_MIB, 1536, 70);
    td_close(img);
}

/* Blocks that follow one another in one file are hashed from one mapping at the offset of
 * each (a worker hashing a run's first block for all of them would differ from the
 * definition), with 1 to 3 threads and 64 (groups of one block, where the 32 MiB budget and
 * not the group bounds what is mapped). The digest counts the most block bytes its workers
 * held mapped at once (vf_source.tree_map_peak): at most 32 MiB, a run of blocks with one
 * thread, nothing with no_views; and /proc/self/maps shows no view left when it returns. */
static void test_tree_views_runs(void **state)
{
    (void)state;
    const uint64_t size = 40 * TD_MIB + 1536;
    char tmpl[512], here[4096];
    char *d = td_enter(tmpl, sizeof tmpl, "vf_test_runs_", here, sizeof here);
    uint8_t *model = calloc(1, size);
    assert_non_null(model);
    static const char *const names[2] = {"runs.vhd", "runs.vhdx"};
    static const vf_format_kind fmts[2] = {VF_FORMAT_VHD, VF_FORMAT_VHDX};
    static const unsigned threads[] = {1, 2, 3, 64};
    FILE *maps = fopen("/proc/self/maps", "r");
    bool have_maps = maps != NULL; /* Linux: the mapping checks; elsewhere the digests only */
    if (maps)
        fclose(maps);
    else
        print_message("SKIP (views left mapped): no /proc/self/maps\n");
    for (int fi = 0; fi < 2; fi++) {
        memset(model, 0, size);
        td_make_runs(names[fi], fmts[fi], size, model);
        uint8_t want[VF_SHA256_LEN], got[VF_SHA256_LEN];
        td_tree_ref(model, size, want);
        vf_source *src = td_locked_source(names[fi]);
        vf_error err;
        vf_error_clear(&err);
        for (unsigned ti = 0; ti < 4; ti++)
            for (int nv = 0; nv < 2; nv++) {
                vf_verify_opts opts;
                vf_verify_opts_init(&opts);
                opts.threads = threads[ti];
                opts.no_views = nv;
                td_drop_cache(names[fi]);
                td_check(vf_digest_tree(src, &opts, got, &err), &err, "vf_digest_tree");
                size_t peak = src->tree_map_peak;
                if (memcmp(got, want, VF_SHA256_LEN))
                    fail_msg("%s: tree digest with %u threads, no_views %d differs from the "
                             "definition",
                             names[fi], threads[ti], nv);
                if (peak > 32 * TD_MIB)
                    fail_msg("%s: %zu block bytes mapped at once with %u threads, want <= 32 MiB",
                             names[fi], peak, threads[ti]);
                if (nv && peak)
                    fail_msg("%s: no_views, yet %zu bytes mapped", names[fi], peak);
                if (!nv && threads[ti] == 1 && peak < 4 * TD_MIB)
                    fail_msg("%s: one thread mapped at most %zu bytes, want a run of blocks",
                             names[fi], peak);
                if (have_maps) /* every view unmapped */
                    assert_int_equal(td_mapped_bytes(names[fi]), 0);
            }
        vf_source_free(src);
        assert_int_equal(unlink(names[fi]), 0);
    }
    free(model);
    td_leave(here, d);
}

/* The Python reference (written from docs/tree-digest.md alone) on the raw bytes. */
static void test_tree_matches_python(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    /* A private folder under TMPDIR, or under the working directory (the build tree). */
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/vf_test_digest_XXXXXX", tmp && *tmp ? tmp : ".");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char raw[600], cmd[2048];
    snprintf(raw, sizeof raw, "%s/disk.raw", d);
    FILE *f = fopen(raw, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s.model, 1, SMALL_SIZE, f), SMALL_SIZE);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/tools/tree_digest.py' '%s'", VF_SOURCE_DIR, raw);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    char *got_line = fgets(line, sizeof line, p);
    int rc = pclose(p);
    unlink(raw);
    rmdir(d);
    assert_non_null(got_line);
    assert_int_equal(rc, 0);
    vf_error err;
    uint8_t md[VF_SHA256_LEN];
    char hex[VF_SHA256_HEX_LEN];
    vf_source *src = td_open_chain(s.fs, "top.vhd");
    td_check(vf_digest_tree(src, NULL, md, &err), &err, "vf_digest_tree");
    vf_sha256_hex(md, hex);
    vf_source_free(src);
    if (strncmp(line, hex, 64))
        fail_msg("tree digest %s, python reference %.64s", hex, line);
    small_free(&s);
}

/* 1 TiB virtual, 256 MiB of data in 128 blocks spread over it (and one sector in a child):
 * the digest must take under a second and read no more than the data plus metadata. */
#define BIG_SIZE (1024ull * 1024 * TD_MIB)
#define BIG_DATA_BLOCKS 128u
#define BIG_STRIDE_BLOCKS 4096u

static void big_expected(uint8_t md[VF_SHA256_LEN], const uint8_t *top_sector)
{
    vf_error err;
    uint8_t *blk = malloc(2 * TD_MIB), zleaf[VF_SHA256_LEN], leaf[VF_SHA256_LEN];
    assert_non_null(blk);
    memset(blk, 0, 2 * TD_MIB);
    td_check(vf_sha256_once(blk, 2 * TD_MIB, zleaf, &err), &err, "sha");
    vf_sha256 *h;
    td_check(vf_sha256_new(&h, &err), &err, "sha");
    uint8_t pre[32] = "vhdfold-tree-v1";
    for (int i = 0; i < 8; i++)
        pre[16 + i] = (uint8_t)(BIG_SIZE >> (8 * i));
    pre[26] = 0x20;
    td_check(vf_sha256_update(h, pre, 32, &err), &err, "sha");
    uint64_t nblocks = BIG_SIZE / (2 * TD_MIB);
    for (uint64_t b = 0; b < nblocks; b++) {
        const uint8_t *l = zleaf;
        if (b % BIG_STRIDE_BLOCKS == 0 && b / BIG_STRIDE_BLOCKS < BIG_DATA_BLOCKS) {
            td_pattern(blk, 2 * TD_MIB, b * 2 * TD_MIB, 9);
            if (b == 0)
                memcpy(blk + 4096, top_sector, 512);
            td_check(vf_sha256_once(blk, 2 * TD_MIB, leaf, &err), &err, "sha");
            l = leaf;
        }
        td_check(vf_sha256_update(h, l, VF_SHA256_LEN, &err), &err, "sha");
    }
    td_check(vf_sha256_final(h, md, &err), &err, "sha");
    vf_sha256_free(h);
    free(blk);
}

static double td_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_tree_sparse_terabyte(void **state)
{
    (void)state;
    vf_error err;
    vf_fs *mem;
    td_check(vf_fs_mem_new(&mem, &err), &err, "vf_fs_mem_new");
    vf_image *base = td_create(mem, "base.vhd", BIG_SIZE, NULL);
    for (uint64_t i = 0; i < BIG_DATA_BLOCKS; i++)
        td_write(base, NULL, i * BIG_STRIDE_BLOCKS * 2 * TD_MIB, 2 * TD_MIB, 9);
    td_close(base);
    vf_image *top = td_create(mem, "top.vhd", BIG_SIZE, "base.vhd");
    uint8_t sector[512];
    td_pattern(sector, sizeof sector, 4096, 10);
    td_check(vf_image_write(top, 4096, sector, sizeof sector, &err), &err, "write top");
    td_close(top);

    td_count_fs cfs;
    td_count_fs_init(&cfs, mem);
    vf_source *src = td_open_chain(&cfs.fs, "top.vhd");
    uint64_t opened = cfs.read_bytes;
    uint8_t got[VF_SHA256_LEN], want[VF_SHA256_LEN];
    double t0 = td_now();
    td_check(vf_digest_tree(src, NULL, got, &err), &err, "vf_digest_tree");
    double secs = td_now() - t0;
    uint64_t read = cfs.read_bytes - opened;
    vf_source_free(src);
    big_expected(want, sector);
    assert_memory_equal(got, want, VF_SHA256_LEN);
    print_message("1 TiB chain, 256 MiB of data: %.3f s, %llu bytes read\n", secs,
                  (unsigned long long)read);
    /* Data (256 MiB) plus sector bitmaps and a little more: nothing near the virtual size. */
    assert_true(read <= BIG_DATA_BLOCKS * 2 * TD_MIB + 8 * TD_MIB);
    /* The time is printed for information only: the "under 1 s" goal is checked by
     * bench/digest.sh, never by a timed unit test (machines here are noisy). */
    vf_fs_mem_free(mem);
}

typedef struct progress_seen {
    uint64_t calls, last_done, total;
    bool backwards;
} progress_seen;

static void td_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_seen *p = ctx;
    if (done < p->last_done)
        p->backwards = true;
    p->calls++;
    p->last_done = done;
    p->total = total;
}

static void test_progress_reaches_total(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    vf_error err;
    uint8_t md[VF_SHA256_LEN];
    vf_source *src = td_open_chain(s.fs, "top.vhd");
    for (int tree = 0; tree < 2; tree++) {
        progress_seen p;
        memset(&p, 0, sizeof p);
        vf_verify_opts opts;
        vf_verify_opts_init(&opts);
        opts.progress = td_progress;
        opts.progress_ctx = &p;
        opts.request_bytes = 1 << 20;
        td_check(tree ? vf_digest_tree(src, &opts, md, &err) : vf_digest_flat(src, &opts, md, &err),
                 &err, "digest");
        assert_true(p.calls >= 1);
        assert_false(p.backwards);
        assert_int_equal(p.last_done, SMALL_SIZE);
        assert_int_equal(p.total, SMALL_SIZE);
    }
    vf_source_free(src);
    small_free(&s);
}

static void test_cancel(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    vf_error err;
    vf_error_clear(&err);
    uint8_t md[VF_SHA256_LEN];
    atomic_int cancel = 1;
    vf_verify_opts opts;
    vf_verify_opts_init(&opts);
    opts.cancel = &cancel;
    vf_source *src = td_open_chain(s.fs, "top.vhd");
    assert_int_equal(vf_digest_flat(src, &opts, md, &err), VF_E_CANCELED);
    assert_non_null(strstr(err.msg, "top.vhd"));
    assert_int_equal(vf_digest_tree(src, &opts, md, &err), VF_E_CANCELED);
    /* After a cancel the source still works. */
    uint8_t want[VF_SHA256_LEN];
    td_check(vf_sha256_once(s.model, SMALL_SIZE, want, &err), &err, "sha");
    td_check(vf_digest_flat(src, NULL, md, &err), &err, "flat after cancel");
    assert_memory_equal(md, want, VF_SHA256_LEN);
    vf_source_free(src);
    small_free(&s);
}

/* A read failing part-way stops every engine (threads joined, no hang) with the I/O error. */
static void test_read_error_propagates(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    td_count_fs cfs;
    td_count_fs_init(&cfs, s.fs);
    vf_source *src = td_open_chain(&cfs.fs, "top.vhd");
    vf_source *raw = td_open_raw(s.model, SMALL_SIZE, "model.raw");
    uint8_t md[VF_SHA256_LEN];
    for (int engine = 0; engine < 3; engine++) {
        vf_error err;
        vf_error_clear(&err);
        cfs.fail_after = cfs.read_bytes + 600 * 1024; /* inside the first data block */
        vf_verify_opts opts;
        vf_verify_opts_init(&opts);
        opts.request_bytes = 256 * 1024;
        opts.threads = 3;
        vf_status st;
        vf_compare_result res;
        if (engine == 0)
            st = vf_digest_flat(src, &opts, md, &err);
        else if (engine == 1)
            st = vf_digest_tree(src, &opts, md, &err);
        else
            st = vf_compare(raw, src, &opts, &res, &err);
        if (st != VF_E_IO || !strstr(err.msg, "injected read failure"))
            fail_msg("engine %d: got %s '%s', want VF_E_IO", engine, vf_status_name(st), err.msg);
        cfs.fail_after = 0;
    }
    vf_source_free(src);
    vf_source_free(raw);
    small_free(&s);
}

/* A raw file that is too short for a footer is raw; one with a VHD footer is a chain, and a
 * damaged one is refused rather than compared as bytes. */
static void test_source_open_sniffs(void **state)
{
    (void)state;
    small_chain s;
    small_build(&s);
    vf_error err;
    vf_error_clear(&err);
    td_check(vf_fs_mem_put(s.fs, "plain.raw", s.model, 4 * TD_MIB, &err), &err, "put");
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = s.fs;
    vf_source *src;
    td_check(vf_source_open("plain.raw", VF_SOURCE_AUTO, &co, &src, &err), &err, "open raw");
    assert_true(vf_source_is_raw(src));
    assert_int_equal(vf_source_size(src), 4 * TD_MIB);
    vf_source_free(src);
    td_check(vf_source_open("top.vhd", VF_SOURCE_AUTO, &co, &src, &err), &err, "open chain");
    assert_false(vf_source_is_raw(src));
    vf_source_free(src);
    /* A VHD whose footer checksum is broken: AUTO must not fall back to raw. */
    size_t len;
    const uint8_t *bytes = vf_fs_mem_get(s.fs, "top.vhd", &len);
    assert_non_null(bytes);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    copy[len - 512 + 64] ^= 0xff; /* footer checksum field */
    copy[64] ^= 0xff;             /* and its copy at offset 0 */
    td_check(vf_fs_mem_put(s.fs, "bad.vhd", copy, len, &err), &err, "put");
    free(copy);
    vf_status st = vf_source_open("bad.vhd", VF_SOURCE_AUTO, &co, &src, &err);
    assert_int_not_equal(st, VF_OK);
    assert_non_null(strstr(err.msg, "bad.vhd"));
    small_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_matches_model),
        cmocka_unit_test(test_tree_matches_definition),
        cmocka_unit_test(test_tree_matches_python),
        cmocka_unit_test(test_tree_zero_tail),
        cmocka_unit_test(test_tree_views_on_files),
        cmocka_unit_test(test_tree_views_runs),
        cmocka_unit_test(test_tree_sparse_terabyte),
        cmocka_unit_test(test_progress_reaches_total),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_read_error_propagates),
        cmocka_unit_test(test_source_open_sniffs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
