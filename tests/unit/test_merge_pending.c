/* test_merge_pending.c - a merge journal seen from outside (vf_merge_pending_find) and the
 * second merge's "in use" error: a real merge canceled mid-copy leaves a journal that info
 * finds with SOURCE and DESTINATION named and nobody holding it; a handle holding the
 * journal makes it "running" and a second merge 32774 "in use: merge of SOURCE into DEST";
 * a file with the journal's name that is no record is reported unreadable; after the rerun
 * nothing is pending. vf_merge_pending_find_file: SOURCE, intermediate and DESTINATION of a
 * merge are named also with their trailing footer cut off or the copy at offset 0 one step
 * behind (nothing written), the base below
 * DESTINATION is not, a journal without a record names only the file it lies beside, and bad
 * arguments are refused. Memory fs. Layer: tests (merger). */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_int.h"
#include "merge_test_util.h"

typedef struct canceler {
    atomic_bool flag;
    int calls;
} canceler;

static void cancel_midway(void *user, unsigned pct, uint64_t done, uint64_t total)
{
    canceler *c = user;
    (void)pct;
    if (done > total / 2 && ++c->calls == 1)
        atomic_store(&c->flag, true);
}

static vf_chain *open_top(vf_fs *fs, const char *top)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c = NULL;
    vf_error e;
    if (vf_chain_open(top, &co, &c, &e) != VF_OK)
        fail_msg("open %s: %s", top, e.msg);
    return c;
}

static void test_pending_find(void **state)
{
    (void)state;
    vf_fs *fs;
    vf_gen_result g;
    char top[64], base[64], jpath[80];
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    mt_gen(fs, "t", 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 41, &g);
    mt_path(top, sizeof top, "t", &g, 2);
    mt_path(base, sizeof base, "t", &g, 0);
    snprintf(jpath, sizeof jpath, "%s.vfmerge", base);
    vf_merge_pending p;
    vf_chain *c = open_top(fs, top);
    assert_int_equal(vf_merge_pending_find(c, fs, &p, NULL), VF_OK);
    assert_false(p.found); /* no journal anywhere */
    /* a merge canceled mid-copy: its journal stays */
    canceler k = {false, 0};
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = top;
    o.destination = base;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    o.progress = cancel_midway;
    o.progress_user = &k;
    vf_merge_result r;
    vf_chain_close(c); /* its locks would not matter (none taken), but be a bystander */
    assert_int_not_equal(vf_merge_run_ex(&o, &r, &k.flag, NULL), 0);
    vf_merge_result_free(&r);
    c = open_top(fs, top);
    assert_int_equal(vf_merge_pending_find(c, fs, &p, NULL), VF_OK);
    assert_true(p.found && p.readable);
    assert_int_equal(p.holder, 0);
    assert_int_equal(p.phase, VF_MERGE_PHASE_COPYING);
    assert_true(p.cursor <= p.virtual_size && p.virtual_size == 4u << 20);
    assert_int_equal(p.dest_level, 2);
    assert_int_equal(p.source_level, 0);
    assert_string_equal(p.journal, jpath);
    assert_string_equal(p.destination, base);
    assert_string_equal(p.source, top);
    vf_merge_pending_free(&p);
    /* seen from the middle level, SOURCE is not in the chain */
    char mid[64];
    mt_path(mid, sizeof mid, "t", &g, 1);
    vf_chain *cm = open_top(fs, mid);
    assert_int_equal(vf_merge_pending_find(cm, fs, &p, NULL), VF_OK);
    assert_true(p.found && p.readable);
    assert_int_equal(p.source_level, SIZE_MAX);
    assert_null(p.source);
    vf_merge_pending_free(&p);
    vf_chain_close(cm);
    /* a holder of the journal: running (the memory fs knows no pids), and a second merge
     * is told who is in the way */
    vf_io *hold;
    assert_int_equal(vf_fs_open(fs, jpath, VF_IO_RDWR, &hold, NULL), VF_OK);
    assert_int_equal(vf_io_lock(hold, true, NULL), VF_OK);
    assert_int_equal(vf_merge_pending_find(c, fs, &p, NULL), VF_OK);
    assert_int_equal(p.holder, -1);
    vf_merge_pending_free(&p);
    o.progress = NULL;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_IN_USE);
    char want[200];
    snprintf(want, sizeof want, "in use: merge of '%s' into '%s' in progress", top, base);
    if (!strstr(r.err.msg, want))
        fail_msg("second merge: %s", r.err.msg);
    vf_merge_result_free(&r);
    vf_io_close(hold);
    /* the rerun finishes; nothing is pending afterwards */
    vf_chain_close(c);
    if (vf_merge_run(&o, &r) != 0)
        fail_msg("rerun: %s", r.err.msg);
    assert_true(r.resumed);
    vf_merge_result_free(&r);
    assert_false(mt_exists(fs, jpath));
    c = open_top(fs, base);
    assert_int_equal(vf_merge_pending_find(c, fs, &p, NULL), VF_OK);
    assert_false(p.found);
    /* bytes under the journal's name that are no record: found, unreadable, why */
    assert_int_equal(vf_fs_mem_put(fs, jpath, "not a journal", 13, NULL), VF_OK);
    assert_int_equal(vf_merge_pending_find(c, fs, &p, NULL), VF_OK);
    assert_true(p.found);
    assert_false(p.readable);
    assert_non_null(strstr(p.why, jpath));
    vf_merge_pending_free(&p);
    assert_int_equal(vf_merge_pending_find(NULL, fs, &p, NULL), VF_E_INVAL);
    vf_chain_close(c);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* Damage path as repair finds it (1: the trailing footer cut off; 2: the copy at offset 0 one
 * step behind, another time stamp with a valid checksum); the whole file is put back by
 * restore. */
static uint8_t *damage(vf_fs *fs, const char *path, int how, size_t *len)
{
    const uint8_t *now = vf_fs_mem_get(fs, path, len);
    assert_non_null(now);
    assert_true(*len > 1024);
    uint8_t *whole = malloc(*len), *copy = malloc(*len);
    assert_non_null(whole);
    assert_non_null(copy);
    memcpy(whole, now, *len);
    memcpy(copy, now, *len);
    if (how == 2) {
        copy[27] ^= 1; /* time stamp, big-endian, bytes 24..27 */
        uint32_t sum = 0;
        for (size_t i = 0; i < 512; i++)
            sum += i >= 64 && i < 68 ? 0u : copy[i];
        sum = ~sum;
        for (int i = 0; i < 4; i++)
            copy[64 + i] = (uint8_t)(sum >> (24 - 8 * i));
    }
    assert_int_equal(vf_fs_mem_put(fs, path, copy, how == 1 ? *len - 512 : *len, NULL), VF_OK);
    free(copy);
    return whole;
}

static void restore(vf_fs *fs, const char *path, uint8_t *whole, size_t len)
{
    assert_int_equal(vf_fs_mem_put(fs, path, whole, len, NULL), VF_OK);
    free(whole);
}

static bool opens(vf_fs *fs, const char *path)
{
    vf_io *io;
    vf_image *img = NULL;
    if (vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL) != VF_OK)
        return false;
    bool ok = vf_image_open(io, path, 0, &img, NULL) == VF_OK;
    vf_image_close(img);
    return ok;
}

/* vf_merge_pending_find_file(path): found or not, DESTINATION's level and the path's bytes
 * unchanged by the look. */
static void expect_named(vf_fs *fs, const char *path, bool named, size_t dest_level,
                         const char *jpath)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    size_t before_len = 0, after_len = 0;
    const uint8_t *b = vf_fs_mem_get(fs, path, &before_len);
    uint8_t *before = malloc(before_len ? before_len : 1);
    assert_non_null(before);
    memcpy(before, b, before_len);
    vf_merge_pending p;
    vf_error e;
    if (vf_merge_pending_find_file(path, &co, &p, &e) != VF_OK)
        fail_msg("find_file %s: %s", path, e.msg);
    if (p.found != named)
        fail_msg("%s: found %d, want %d", path, p.found, named);
    if (named) {
        assert_int_equal(p.dest_level, dest_level);
        assert_string_equal(p.journal, jpath);
        assert_true(p.readable);
    }
    const uint8_t *a = vf_fs_mem_get(fs, path, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(a, before, before_len);
    free(before);
    vf_merge_pending_free(&p);
}

static void test_pending_find_file(void **state)
{
    (void)state;
    vf_fs *fs;
    vf_gen_result g;
    char lv[4][64], jpath[80];
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    mt_gen(fs, "f", 3, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 43, &g);
    for (unsigned i = 0; i < 4; i++)
        mt_path(lv[i], sizeof lv[i], "f", &g, i);
    snprintf(jpath, sizeof jpath, "%s.vfmerge", lv[1]);
    for (unsigned i = 0; i < 4; i++)
        expect_named(fs, lv[i], false, 0, NULL); /* no journal anywhere */
    canceler k = {false, 0};
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = lv[3];
    o.destination = lv[1];
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    o.progress = cancel_midway;
    o.progress_user = &k;
    vf_merge_result r;
    assert_int_not_equal(vf_merge_run_ex(&o, &r, &k.flag, NULL), 0);
    vf_merge_result_free(&r);
    assert_true(mt_exists(fs, jpath));
    /* whole files, then each damaged so that it does not open: the same answers */
    for (int how = 0; how < 3; how++) {
        for (unsigned i = 0; i < 4; i++) {
            size_t len = 0;
            uint8_t *whole = how ? damage(fs, lv[i], how, &len) : NULL;
            if (how)
                assert_false(opens(fs, lv[i]));
            /* 3 SOURCE (DESTINATION two levels down), 2 intermediate, 1 DESTINATION, 0 not */
            expect_named(fs, lv[i], i >= 1, i >= 1 ? i - 1 : 0, jpath);
            if (whole)
                restore(fs, lv[i], whole, len);
        }
    }
    /* SOURCE reported with its path; counted from the file */
    vf_merge_pending p;
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    assert_int_equal(vf_merge_pending_find_file(lv[3], &co, &p, NULL), VF_OK);
    assert_int_equal(p.source_level, 0);
    assert_string_equal(p.source, lv[3]);
    assert_string_equal(p.destination, lv[1]);
    vf_merge_pending_free(&p);
    /* a journal without a record: it names the file it lies beside (unreadable), no other */
    assert_int_equal(vf_fs_mem_put(fs, jpath, "not a journal", 13, NULL), VF_OK);
    assert_int_equal(vf_merge_pending_find_file(lv[1], &co, &p, NULL), VF_OK);
    assert_true(p.found && !p.readable);
    vf_merge_pending_free(&p);
    expect_named(fs, lv[2], false, 0, NULL);
    expect_named(fs, lv[3], false, 0, NULL);
    /* a file that is no disk at all: only a journal beside it can name it */
    assert_int_equal(vf_fs_mem_put(fs, "f/junk.vhd", "junk", 4, NULL), VF_OK);
    expect_named(fs, "f/junk.vhd", false, 0, NULL);
    assert_int_equal(vf_fs_mem_put(fs, "f/junk.vhd.vfmerge", "junk", 4, NULL), VF_OK);
    assert_int_equal(vf_merge_pending_find_file("f/junk.vhd", &co, &p, NULL), VF_OK);
    assert_true(p.found && !p.readable);
    vf_merge_pending_free(&p);
    /* bad arguments */
    assert_int_equal(vf_merge_pending_find_file(NULL, &co, &p, NULL), VF_E_INVAL);
    vf_chain_opts zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(vf_merge_pending_find_file(lv[3], &zero, &p, NULL), VF_E_INVAL);
    assert_false(p.found);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_find),
        cmocka_unit_test(test_pending_find_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
