/* test_merge_crash.c - the merger's crash sweep ("nothing is lost"): a merge with a --child
 * and --remove-merged (so every journal phase is crossed) is run through the fault-injecting
 * vf_fs, failing at every write in turn as a process crash, a power loss with a torn write,
 * EIO, ENOSPC and a short write, and at every sync as a failed fsync. After each failure the
 * view from SOURCE (and from the child) must be unchanged, or the journal must show that the
 * identity hand-over has begun; then a plain rerun must finish with the right digests.
 * Runs over the memory fs (all kinds), once over real files (crash and power loss), and for a
 * VHDX chain over the memory fs (crash, power loss, EIO, failed fsync).
 * Layer: tests (merger, fault). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io_fault.h"
#include "merge_int.h"
#include "merge_test_util.h"

typedef struct scenario {
    const vf_fs *fs; /* the plain file system the files live in */
    char dir[256];
    vf_gen_result g;
    char src[320], dst[320], child[320], mid[320], jpath[340];
    mt_snap snap;
    uint64_t clean_size;   /* DESTINATION's file size after the uninterrupted merge */
    size_t clean_findings; /* and its check findings (warnings and errors: 0) */
    /* The file system of the rerun and of check: fs, or in share mode the fault wrapper with
     * no fault armed (a file system with reflinks throughout). */
    const vf_fs *run_fs;
    unsigned holes_noted; /* check's "free space" notes seen (share mode: blocks moved) */
} scenario;

typedef struct tally {
    unsigned runs, view_checked, past_identity;
} tally;

static unsigned soft_failures;
#define SOFT_FAIL(...)                                                                             \
    do {                                                                                           \
        printf("FAIL: " __VA_ARGS__);                                                              \
        printf("\n");                                                                              \
        soft_failures++;                                                                           \
        return;                                                                                    \
    } while (0)

static uint64_t le_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* The metadata region and parent locator GUIDs in their on-disk byte order. */
static const uint8_t guid_meta[16] = {0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B,
                                      0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E};
static const uint8_t guid_loc[16] = {0x2D, 0x5F, 0xD3, 0xA8, 0x0B, 0xB3, 0x4D, 0x45,
                                     0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C};

/* As tests/tools/tight_locator.py: move a VHDX's parent locator item to the very end of its
 * metadata region (no byte of slack after it), zeroing its old bytes. */
static void tighten_locator(const vf_fs *fs, const char *path)
{
    vf_io *io;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR, &io, NULL), VF_OK);
    uint8_t *rt = malloc(65536), *mt = malloc(65536), item[4096];
    assert_int_equal(vf_io_read(io, rt, 65536, 192 * 1024, NULL), VF_OK);
    uint64_t moff = 0, mlen = 0;
    for (uint64_t i = 0; i < le_get(rt + 8, 4); i++)
        if (!memcmp(rt + 16 + 32 * i, guid_meta, 16)) {
            moff = le_get(rt + 32 + 32 * i, 8);
            mlen = le_get(rt + 40 + 32 * i, 4);
        }
    assert_true(mlen > 65536);
    assert_int_equal(vf_io_read(io, mt, 65536, moff, NULL), VF_OK);
    bool moved = false;
    for (uint64_t i = 0; i < le_get(mt + 10, 2) && !moved; i++) {
        uint8_t *e = mt + 32 + 32 * i;
        uint32_t off = (uint32_t)le_get(e + 16, 4), len = (uint32_t)le_get(e + 20, 4);
        if (memcmp(e, guid_loc, 16) || (e[24] & 1) || len > sizeof item)
            continue;
        assert_int_equal(vf_io_read(io, item, len, moff + off, NULL), VF_OK);
        uint8_t zero[sizeof item] = {0};
        uint32_t at = (uint32_t)(mlen - len);
        assert_int_equal(vf_io_write(io, zero, len, moff + off, NULL), VF_OK);
        assert_int_equal(vf_io_write(io, item, len, moff + at, NULL), VF_OK);
        uint8_t le[4] = {(uint8_t)at, (uint8_t)(at >> 8), (uint8_t)(at >> 16), (uint8_t)(at >> 24)};
        assert_int_equal(vf_io_write(io, le, 4, moff + 32 + 32 * i + 16, NULL), VF_OK);
        moved = true;
    }
    assert_true(moved);
    assert_int_equal(vf_io_sync(io, NULL), VF_OK);
    vf_io_close(io);
    free(rt);
    free(mt);
}

/* Blocks of DESTINATION holding data that the merged levels (SOURCE and the one between)
 * define as zeros from end to end: the merge writes those zeros in place, so the block keeps
 * its space (docs/merge.md "Space a merge frees"). */
static unsigned dest_blocks_zeroed(scenario *s)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = s->fs;
    vf_chain *c;
    assert_int_equal(vf_chain_open(s->src, &co, &c, NULL), VF_OK);
    vf_image *dst = vf_chain_image(c, 2);
    uint64_t bs = vf_image_info_get(dst)->block_size, size = vf_chain_virtual_size(c);
    unsigned n = 0;
    for (uint64_t v = 0; bs && v + bs <= size; v += bs) {
        vf_chain_extent e;
        vf_extent d;
        assert_int_equal(vf_chain_map(c, 0, 1, v, bs, &e, NULL), VF_OK);
        assert_int_equal(vf_image_map(dst, v, bs, &d, NULL), VF_OK);
        n += e.kind == VF_EXTENT_ZERO && e.len == bs && d.kind == VF_EXTENT_PRESENT;
    }
    vf_chain_close(c);
    return n;
}

/* seed: the generator's (a VHDX chain whose merged levels trim DESTINATION's data for the
 * plain VHDX sweep, 4245; another for the tight one). */
static void scenario_init(scenario *s, const vf_fs *fs, const char *dir, vf_format_kind fmt,
                          bool tight, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->fs = fs;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (fmt == VF_FORMAT_VHDX)
        mt_gen_vhdx(fs, dir, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, seed, &s->g);
    else
        mt_gen(fs, dir, 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, seed, &s->g);
    mt_path(s->dst, sizeof s->dst, dir, &s->g, 0);
    mt_path(s->mid, sizeof s->mid, dir, &s->g, 1);
    mt_path(s->src, sizeof s->src, dir, &s->g, 2);
    mt_path(s->child, sizeof s->child, dir, &s->g, 3);
    snprintf(s->jpath, sizeof s->jpath, "%s.vfmerge", s->dst);
    if (tight) /* level k-1 (the one above DESTINATION): its locator must move */
        tighten_locator(fs, s->mid);
    const char *files[] = {s->dst, s->mid, s->src, s->child, s->jpath};
    mt_snap_take(fs, files, 5, &s->snap);
}

static int scenario_merge(scenario *s, const vf_fs *fs, vf_merge_result *r)
{
    const char *children[] = {s->child};
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = s->src;
    o.destination = s->dst;
    o.fs = fs;
    o.children = children;
    o.nchildren = 1;
    o.remove_merged = true;
    o.batch_bytes = 1u << 20; /* several journal records along the copy */
    return vf_merge_run(&o, r);
}

static void expect_view(scenario *s, const char *path, unsigned lvl, const char *what)
{
    uint8_t md[32];
    if (!mt_flat(s->fs, path, md))
        SOFT_FAIL("%s: the view from '%s' does not open", what, path);
    if (memcmp(md, s->g.levels[lvl].sha256, 32) != 0)
        SOFT_FAIL("%s: the view from '%s' changed", what, path);
}

/* After a failed run: SOURCE's view intact, or the journal past the identity hand-over. */
static void check_after_failure(scenario *s, const char *what, tally *t)
{
    vf_journal j;
    bool found = false;
    vf_status st = vf_journal_load(s->fs, s->jpath, &found, &j, NULL);
    bool past = st == VF_OK && found && j.phase >= VF_MERGE_PHASE_IDENTITY;
    if (st == VF_OK && found)
        vf_journal_free(&j);
    if (past) {
        t->past_identity++;
        return;
    }
    expect_view(s, s->src, 2, what);
    expect_view(s, s->child, 3, what);
    t->view_checked++;
}

/* DESTINATION's file size and its check findings of warning severity or worse (orphaned
 * space is a warning; holes where blocks moved away are a note, counted in s->holes_noted). */
static bool dest_layout(scenario *s, uint64_t *size, size_t *findings)
{
    vf_io *io;
    vf_image *img;
    if (vf_fs_open(s->run_fs, s->dst, VF_IO_RDONLY, &io, NULL) != VF_OK)
        return false;
    if (vf_io_size(io, size, NULL) != VF_OK || vf_image_open(io, s->dst, 0, &img, NULL) != VF_OK) {
        vf_io_close(io);
        return false;
    }
    vf_report rep;
    vf_report_init(&rep);
    bool ok = vf_image_check(img, &rep, NULL) == VF_OK;
    *findings = vf_report_count(&rep, VF_SEV_WARNING);
    for (size_t i = 0; i < rep.count; i++)
        s->holes_noted += strstr(rep.items[i].msg, "free space:") != NULL;
    vf_report_free(&rep);
    vf_image_close(img);
    return ok;
}

static void check_rerun(scenario *s, const char *what)
{
    vf_merge_result r;
    int status = scenario_merge(s, s->run_fs, &r);
    char msg[VF_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", r.err.msg);
    vf_merge_result_free(&r);
    if (status != 0)
        SOFT_FAIL("%s: the rerun failed with %d: %s", what, status, msg);
    expect_view(s, s->dst, 2, what);
    expect_view(s, s->child, 3, what);
    if (mt_exists(s->fs, s->jpath) || mt_exists(s->fs, s->src) || mt_exists(s->fs, s->mid))
        SOFT_FAIL("%s: the journal or a merged file is left after the rerun", what);
    /* the resume reused what the interrupted run allocated: laid out as without the fault */
    uint64_t size = 0;
    size_t findings = 0;
    if (!dest_layout(s, &size, &findings))
        SOFT_FAIL("%s: DESTINATION does not open for check after the rerun", what);
    if (size != s->clean_size)
        SOFT_FAIL("%s: DESTINATION is %llu bytes after the rerun, %llu without the fault", what,
                  (unsigned long long)size, (unsigned long long)s->clean_size);
    if (findings != s->clean_findings)
        SOFT_FAIL("%s: check finds %zu problems (orphaned space?) after the rerun, %zu without "
                  "the fault",
                  what, findings, s->clean_findings);
}

static void one_fault(scenario *s, vf_fault *f, const vf_fault_plan *plan, const char *kind,
                      tally *t)
{
    char what[96];
    snprintf(what, sizeof what, "%s at %llu", kind, (unsigned long long)plan->at);
    mt_snap_restore(s->fs, &s->snap);
    assert_int_equal(vf_fault_arm(f, plan), VF_OK);
    vf_merge_result r;
    int status = scenario_merge(s, vf_fault_fs(f), &r);
    bool fired = vf_fault_fired(f);
    vf_fault_reset(f);
    if (!fired)
        SOFT_FAIL("%s: the fault never fired", what);
    if (status == 0)
        SOFT_FAIL("%s: the merge reported success over a failed write", what);
    vf_merge_result_free(&r);
    t->runs++;
    check_after_failure(s, what, t);
    check_rerun(s, what);
}

/* kinds: how many of the fault kinds below to run at every write (5 = all); syncs: also fail
 * every sync in turn. */
/* share: the fault wrapper models a file system with reflinks (vf_fault_set_share), so
 * DESTINATION's blocks that the merge replaces whole move to its end (docs/merge.md
 * "Reflinks"), and every share and punch of those moves is a fault point too. */
static void sweep(const vf_fs *fs, const char *dir, vf_format_kind fmt, size_t nkinds, bool syncs,
                  bool tight, uint64_t seed, bool share)
{
    scenario s;
    scenario_init(&s, fs, dir, fmt, tight, seed);
    unsigned zeroed = fmt == VF_FORMAT_VHDX ? dest_blocks_zeroed(&s) : 0;
    vf_fault *f;
    assert_int_equal(vf_fault_new(fs, &f, NULL), VF_OK);
    vf_fault_set_share(f, share);
    s.run_fs = share ? vf_fault_fs(f) : fs;
    vf_merge_result r;
    if (scenario_merge(&s, vf_fault_fs(f), &r) != 0)
        fail_msg("clean run: %s", r.err.msg);
    vf_merge_result_free(&r);
    assert_true(dest_layout(&s, &s.clean_size, &s.clean_findings));
    assert_int_equal(s.clean_findings, 0);          /* no orphaned space without a fault */
    assert_int_equal(s.holes_noted, share ? 1 : 0); /* blocks moved in share mode only */
    if (fmt == VF_FORMAT_VHDX && !tight) /* the case of a block the merge zeroes is swept */
        assert_true(zeroed > 0);
    uint64_t nwrites = vf_fault_writes(f), nsyncs = vf_fault_syncs(f);
    assert_true(nwrites > 4 && nsyncs > 2);
    static const struct {
        vf_fault_kind kind;
        const char *name;
    } kinds[] = {
        {VF_FAULT_CRASH, "crash"},
        {VF_FAULT_POWER, "power loss"},
        {VF_FAULT_WRITE_EIO, "EIO"},
        {VF_FAULT_WRITE_ENOSPC, "ENOSPC"},
        {VF_FAULT_WRITE_SHORT, "short write"},
    };
    tally t = {0, 0, 0};
    for (size_t k = 0; k < nkinds && k < sizeof kinds / sizeof *kinds; k++)
        for (uint64_t at = 1; at <= nwrites; at++) {
            vf_fault_plan p;
            memset(&p, 0, sizeof p);
            p.kind = kinds[k].kind;
            p.at = at;
            p.torn_sectors = 1;
            one_fault(&s, f, &p, kinds[k].name, &t);
        }
    for (uint64_t at = 1; syncs && at <= nsyncs; at++) {
        vf_fault_plan p;
        memset(&p, 0, sizeof p);
        p.kind = VF_FAULT_SYNC_EIO;
        p.at = at;
        one_fault(&s, f, &p, "failed fsync", &t);
    }
    printf("# %s: %llu writes, %llu syncs per merge; %u faulted runs, %u with SOURCE's view "
           "checked, %u past the identity hand-over; %u broke the contract; DESTINATION %llu "
           "bytes, %u data blocks zeroed by the merge\n",
           dir, (unsigned long long)nwrites, (unsigned long long)nsyncs, t.runs, t.view_checked,
           t.past_identity, soft_failures, (unsigned long long)s.clean_size, zeroed);
    assert_true(t.view_checked > 0 && t.past_identity > 0);
    vf_fault_free(f);
    mt_snap_free(&s.snap);
    vf_gen_result_free(&s.g);
}

static void test_sweep_memfs(void **state)
{
    (void)state;
    soft_failures = 0;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    sweep(fs, "m", VF_FORMAT_VHD, 5, true, false, 4242, false);
    vf_fs_mem_free(fs);
    if (soft_failures)
        fail_msg("%u faulted runs broke the contract (listed above)", soft_failures);
}

static void test_sweep_files(void **state)
{
    (void)state;
    soft_failures = 0;
    const char *tmpdir = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s%svf-merge-crash-XXXXXX", tmpdir && *tmpdir ? tmpdir : "",
             tmpdir && *tmpdir ? "/" : ""); /* else the working (build) directory */
    assert_non_null(mkdtemp(dir));
    sweep(vf_fs_posix(), dir, VF_FORMAT_VHD, 2, false, false, 4242, false);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    if (soft_failures)
        fail_msg("%u faulted runs broke the contract (listed above)", soft_failures);
}

/* The VHDX protocol (parent_linkage2 = G' in level k-1, G' as DESTINATION's DataWriteGuid
 * before the copy, a fresh one after it): process crash, torn power loss and EIO at every
 * write and a failed fsync at every sync, over the memory fs (ENOSPC and short writes take
 * the same error paths as EIO; the VHD sweeps cover them). */
static void test_sweep_vhdx(void **state)
{
    (void)state;
    soft_failures = 0;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    sweep(fs, "x", VF_FORMAT_VHDX, 3, true, false, 4245, false);
    vf_fs_mem_free(fs);
    if (soft_failures)
        fail_msg("%u faulted runs broke the contract (listed above)", soft_failures);
}

/* The same VHDX sweep with no slack after level k-1's locator: parent_linkage2 moves the
 * item to free space of the metadata region (locslot.c), and every write of that move is a
 * fault point too (crash, torn power loss, EIO; failed fsync at every sync). */
static void test_sweep_vhdx_tight(void **state)
{
    (void)state;
    soft_failures = 0;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    sweep(fs, "t", VF_FORMAT_VHDX, 3, true, true, 4243, false);
    vf_fs_mem_free(fs);
    if (soft_failures)
        fail_msg("%u faulted runs broke the contract (listed above)", soft_failures);
}

/* A VHDX chain (seed 4273: a block the merge replaces whole, two it zeroes) on a file system
 * with reflinks (the fault wrapper's share mode): DESTINATION's blocks that the merge replaces
 * whole move to its end, their old places punched (docs/merge.md "Reflinks"); crash, torn power
 * loss and EIO at every write (shares and punches included) and a failed fsync at every sync; the
 * rerun must give the same layout and check findings as the uninterrupted move. */
static void test_sweep_vhdx_share(void **state)
{
    (void)state;
    soft_failures = 0;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    sweep(fs, "r", VF_FORMAT_VHDX, 3, true, false, 4273, true);
    vf_fs_mem_free(fs);
    if (soft_failures)
        fail_msg("%u faulted runs broke the contract (listed above)", soft_failures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_memfs),      cmocka_unit_test(test_sweep_files),
        cmocka_unit_test(test_sweep_vhdx),       cmocka_unit_test(test_sweep_vhdx_tight),
        cmocka_unit_test(test_sweep_vhdx_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
