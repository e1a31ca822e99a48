/* test_merge_pending.c - a merge journal seen from outside (vf_merge_pending_find) and the
 * second merge's "in use" error: a real merge canceled mid-copy leaves a journal that info
 * finds with SOURCE and DESTINATION named and nobody holding it; a handle holding the
 * journal makes it "running" and a second merge 32774 "in use: merge of SOURCE into DEST";
 * a file with the journal's name that is no record is reported unreadable; after the rerun
 * nothing is pending. Memory fs. Layer: tests (merger). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
