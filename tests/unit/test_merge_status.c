/* test_merge_status.c - the merge status codes and the job's progress model (issue 15): the
 * one mapping vf_merge_status_from for every code the CLI cannot produce itself (4096, 32771,
 * 32772, 32777, 32778) and the others; cancellation through vf_merge_opts.cancel at a batch
 * boundary (journal kept, rerun finishes, same view); the on_info reports (steps in order,
 * percent never decreasing, final state) and vf_merge_job_progress. Layer: tests (merger). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "merge_test_util.h"
#include "vf_merge.h"

#define DIR_ "/m"

static void test_status_mapping(void **state)
{
    (void)state;
    static const struct {
        vf_status st;
        int sys_errno, want;
    } rows[] = {
        {VF_OK, 0, VF_MERGE_COMPLETED},
        {VF_E_INVAL, 0, VF_MERGE_INVALID_PARAMETER},
        {VF_E_NOMEM, ENOMEM, VF_MERGE_OUT_OF_MEMORY},
        {VF_E_IO, ENOENT, VF_MERGE_FILE_NOT_FOUND},
        {VF_E_IO, EACCES, VF_MERGE_ACCESS_DENIED},
        {VF_E_IO, EROFS, VF_MERGE_ACCESS_DENIED},
        {VF_E_IO, ETIMEDOUT, VF_MERGE_TIMEOUT},
        {VF_E_IO, ENXIO, VF_MERGE_NOT_AVAILABLE},
        {VF_E_IO, ENODEV, VF_MERGE_NOT_AVAILABLE},
        {VF_E_IO, EBUSY, VF_MERGE_IN_USE},
        {VF_E_IO, ENOSPC, VF_MERGE_FAILED},
        {VF_E_FORMAT, 0, VF_MERGE_INCORRECT_TYPE},
        {VF_E_TRUNCATED, 0, VF_MERGE_INCORRECT_TYPE},
        {VF_E_UNSUPPORTED, 0, VF_MERGE_NOT_SUPPORTED},
        {VF_E_BUSY, EAGAIN, VF_MERGE_IN_USE},
        {VF_E_STATE, 0, VF_MERGE_INVALID_STATE},
        {VF_E_CHAIN, ENOENT, VF_MERGE_FILE_NOT_FOUND},
        {VF_E_CHAIN, 0, VF_MERGE_FAILED},
        {VF_E_CORRUPT, 0, VF_MERGE_FAILED},
        {VF_E_CANCELED, 0, VF_MERGE_FAILED},
        {(vf_status)-99, 0, VF_MERGE_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (vf_merge_status_from(rows[i].st, rows[i].sys_errno) != rows[i].want)
            fail_msg("row %zu: %s/%d gives %d, want %d", i, vf_status_name(rows[i].st),
                     rows[i].sys_errno, vf_merge_status_from(rows[i].st, rows[i].sys_errno),
                     rows[i].want);
    /* every code of the seed list has a name of its own */
    static const int codes[] = {0,     4096,  32768, 32769, 32770, 32771, 32772,
                                32773, 32774, 32775, 32776, 32777, 32778, 32779};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_string_not_equal(vf_merge_status_name(codes[i]), "unknown");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(vf_merge_status_name(codes[i]), vf_merge_status_name(codes[j]));
    }
    assert_string_equal(vf_merge_status_name(32780), "unknown");
}

/* What on_info saw; sets the caller's cancel flag once the copy has moved cancel_after. */
typedef struct watch {
    atomic_int *cancel;
    uint64_t cancel_after;
    unsigned reports, last_pct;
    bool pct_down, saw_copy, saw_verify_before, saw_verify_after, steps_back;
    vf_merge_step last_step;
    int final_state, final_code;
} watch;

static void watch_info(void *user, const vf_merge_progress_info *in)
{
    watch *w = user;
    if (w->reports++ && in->percent < w->last_pct)
        w->pct_down = true;
    w->last_pct = in->percent;
    if (in->step == VF_MERGE_STEP_COPY)
        w->saw_copy = true;
    if (in->step == VF_MERGE_STEP_VERIFY_BEFORE && in->bytes_done)
        w->saw_verify_before = true;
    if (in->step == VF_MERGE_STEP_VERIFY_AFTER && in->bytes_done)
        w->saw_verify_after = true;
    if (in->step < w->last_step && in->step != VF_MERGE_STEP_DONE)
        w->steps_back = true;
    w->last_step = in->step;
    if (in->step == VF_MERGE_STEP_DONE) {
        w->final_state = in->state;
        w->final_code = in->error_code;
    }
    if (w->cancel && in->copy_done >= w->cancel_after && in->step == VF_MERGE_STEP_COPY)
        atomic_store(w->cancel, 1);
}

static void opts_for(vf_merge_opts *o, vf_fs *fs, const char *top, const char *base)
{
    vf_merge_opts_init(o);
    o->source = top;
    o->destination = base;
    o->fs = fs;
    o->batch_bytes = 1u << 20;
    o->verify = VF_MERGE_VERIFY_TREE;
}

/* opts->cancel from the caller stops a blocking merge after a journaled batch; a rerun
 * finishes it with the view unchanged. */
static void test_cancel_flag(void **state)
{
    (void)state;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    vf_gen_result g;
    mt_gen(fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 1507, &g);
    char top[64], base[64], jpath[80];
    mt_path(top, sizeof top, DIR_, &g, 2);
    mt_path(base, sizeof base, DIR_, &g, 0);
    snprintf(jpath, sizeof jpath, "%s.vfmerge", base);
    atomic_int flag;
    atomic_init(&flag, 0);
    watch w = {.cancel = &flag, .cancel_after = 1};
    vf_merge_opts o;
    opts_for(&o, fs, top, base);
    o.cancel = &flag;
    o.on_info = watch_info;
    o.info_user = &w;
    vf_merge_result r;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_FAILED);
    assert_int_equal(r.err.code, VF_E_CANCELED);
    vf_merge_result_free(&r);
    assert_int_equal(w.final_state, VF_JOB_TERMINATED);
    assert_int_equal(w.final_code, VF_MERGE_FAILED);
    assert_true(mt_exists(fs, jpath)); /* the journal stays */
    uint8_t md[32];
    assert_true(mt_flat(fs, top, md));
    assert_memory_equal(md, g.levels[2].sha256, 32); /* SOURCE's view is intact */
    atomic_store(&flag, 0);
    watch w2 = {0};
    o.on_info = watch_info;
    o.info_user = &w2;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_COMPLETED);
    assert_true(r.resumed);
    vf_merge_result_free(&r);
    assert_false(mt_exists(fs, jpath));
    assert_true(mt_flat(fs, base, md));
    assert_memory_equal(md, g.levels[2].sha256, 32);
    assert_int_equal(w2.final_state, VF_JOB_COMPLETED);
    assert_int_equal(w2.last_pct, 100);
    assert_false(w2.pct_down);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* The job: 4096, steps in order with byte progress in both digests, percent never down,
 * vf_merge_job_progress; then the caller's opts->cancel and vf_merge_job_cancel both end a
 * job TERMINATED. */
static void test_job_progress(void **state)
{
    (void)state;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    vf_gen_result g;
    mt_gen(fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 1508, &g);
    char top[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 2);
    mt_path(base, sizeof base, DIR_, &g, 0);
    vf_merge_opts o;
    opts_for(&o, fs, top, base);
    atomic_int flag;
    atomic_init(&flag, 0);
    watch w = {.cancel = &flag, .cancel_after = 1};
    o.cancel = &flag; /* the caller's flag: the job watches it too */
    o.on_info = watch_info;
    o.info_user = &w;
    vf_merge_job *job;
    vf_error err;
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    vf_merge_result r;
    assert_int_equal(vf_merge_job_wait(job, &r), VF_MERGE_FAILED);
    assert_int_equal(r.err.code, VF_E_CANCELED);
    vf_merge_result_free(&r);
    vf_merge_progress_info in;
    vf_merge_job_progress(job, &in);
    assert_int_equal(in.state, VF_JOB_TERMINATED);
    assert_int_equal(in.step, VF_MERGE_STEP_DONE);
    assert_true(in.copy_done > 0 && in.copy_done < in.copy_total);
    assert_int_equal(vf_merge_job_poll(job, NULL), VF_JOB_TERMINATED);
    vf_merge_job_free(job);
    /* the rerun, as a job, to the end */
    watch w2 = {0};
    o.cancel = NULL;
    o.info_user = &w2;
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    assert_int_equal(vf_merge_job_wait(job, &r), VF_MERGE_COMPLETED);
    vf_merge_result_free(&r);
    vf_merge_job_progress(job, &in);
    assert_int_equal(in.state, VF_JOB_COMPLETED);
    assert_int_equal(in.percent, 100);
    assert_int_equal(in.error_code, 0);
    assert_string_equal(in.error_description, "");
    assert_true(in.elapsed > 0.0);
    assert_true(in.copy_done == in.copy_total && in.copy_total > 0);
    unsigned pct = 0;
    assert_int_equal(vf_merge_job_poll(job, &pct), VF_JOB_COMPLETED);
    assert_int_equal(pct, 100);
    vf_merge_job_free(job);
    assert_true(w2.saw_copy && w2.saw_verify_after);
    assert_false(w2.pct_down);
    assert_false(w2.steps_back);
    assert_true(w.saw_verify_before); /* the first run digested SOURCE with progress */
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* vf_merge_job_cancel: the same path; a job asked to stop before its first batch ends
 * TERMINATED and a failed job ends EXCEPTION with its code and description. */
static void test_job_cancel_and_failure(void **state)
{
    (void)state;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    vf_gen_result g;
    mt_gen(fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_BLOCKS, 1509, &g);
    char top[64], base[64];
    mt_path(top, sizeof top, DIR_, &g, 2);
    mt_path(base, sizeof base, DIR_, &g, 0);
    vf_merge_opts o;
    opts_for(&o, fs, top, "/m/none.vhd");
    vf_merge_job *job;
    vf_error err;
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    vf_merge_result r;
    assert_int_equal(vf_merge_job_wait(job, &r), VF_MERGE_FILE_NOT_FOUND);
    vf_merge_result_free(&r);
    vf_merge_progress_info in;
    vf_merge_job_progress(job, &in);
    assert_int_equal(in.state, VF_JOB_EXCEPTION);
    assert_int_equal(in.error_code, VF_MERGE_FILE_NOT_FOUND);
    assert_non_null(strstr(in.error_description, "does not exist"));
    vf_merge_job_free(job);
    opts_for(&o, fs, top, base);
    assert_int_equal(vf_merge_job_start(&o, &job, &err), VF_MERGE_JOB_STARTED);
    vf_merge_job_cancel(job);
    int st = vf_merge_job_wait(job, &r);
    /* it may have stopped at any durable point, or (a fast machine) after its last batch */
    if (st != VF_MERGE_COMPLETED) {
        assert_int_equal(r.err.code, VF_E_CANCELED);
        assert_int_equal(vf_merge_job_poll(job, NULL), VF_JOB_TERMINATED);
    }
    vf_merge_result_free(&r);
    vf_merge_job_free(job);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_cancel_flag),
        cmocka_unit_test(test_job_progress),
        cmocka_unit_test(test_job_cancel_and_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
