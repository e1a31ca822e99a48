/* progress.c - the merge's progress model: steps, bytes per step, rate and ETA, and the job
 * fields of CIM_ConcreteJob (JobState, PercentComplete, ElapsedTime, ErrorCode,
 * ErrorDescription) handed to vf_merge_opts.on_info. Layer: merger; fed by merge.c and
 * digest.c, read by job.c (vf_merge_job_progress). Keeps no global state. */
#include <stdio.h>
#include <string.h>

#include "merge_int.h"

static double vf_track_secs(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* PercentComplete: the steps that move bytes, weighted by their bytes; 100 only at the end. */
static unsigned vf_track_percent(const vf_merge_tracker *t)
{
    const vf_merge_progress_info *in = &t->info;
    uint64_t total = t->w_before + t->w_copy + t->w_after;
    if (!total)
        return in->percent;
    double done = (double)t->w_before * t->frac_before + (double)t->w_after * t->frac_after;
    if (in->copy_total)
        done += (double)t->w_copy * ((double)in->copy_done / (double)in->copy_total);
    unsigned pct = (unsigned)(done * 100.0 / (double)total);
    if (pct > 99)
        pct = 99;
    return pct > in->percent ? pct : in->percent;
}

static void vf_track_emit(vf_merge_tracker *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    vf_merge_progress_info *in = &t->info;
    in->elapsed = vf_track_secs(&t->t0, &now);
    double secs = vf_track_secs(&t->step_t0, &now);
    uint64_t moved = in->bytes_done - t->step_base;
    in->rate = secs > 0.0 && moved ? (double)moved / secs : 0.0;
    in->eta = in->rate > 0.0 ? (double)(in->bytes_total - in->bytes_done) / in->rate : -1.0;
    if (in->state == VF_JOB_RUNNING)
        in->percent = vf_track_percent(t);
    if (t->on_info)
        t->on_info(t->user, in);
}

void vf_merge_track_start(vf_merge_tracker *t, vf_merge_info_fn fn, void *user)
{
    memset(t, 0, sizeof *t);
    t->on_info = fn;
    t->user = user;
    t->info.state = VF_JOB_RUNNING;
    t->info.step = VF_MERGE_STEP_OPEN;
    t->info.eta = -1.0;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);
    t->step_t0 = t->t0;
    vf_track_emit(t);
}

void vf_merge_track_plan(vf_merge_tracker *t, uint64_t w_before, uint64_t copy_done,
                         uint64_t copy_total, uint64_t w_after)
{
    t->w_before = w_before;
    t->w_after = w_after;
    t->w_copy = copy_total;
    t->info.copy_done = copy_done;
    t->info.copy_total = copy_total;
}

void vf_merge_track_step(vf_merge_tracker *t, vf_merge_step step, uint64_t done, uint64_t total)
{
    vf_merge_progress_info *in = &t->info;
    if (in->step == VF_MERGE_STEP_VERIFY_BEFORE)
        t->frac_before = 1.0;
    if (in->step == VF_MERGE_STEP_VERIFY_AFTER)
        t->frac_after = 1.0;
    in->step = step;
    in->bytes_done = done;
    in->bytes_total = total;
    t->step_base = done;
    clock_gettime(CLOCK_MONOTONIC, &t->step_t0);
    vf_track_emit(t);
}

void vf_merge_track_bytes(vf_merge_tracker *t, uint64_t done, uint64_t total)
{
    vf_merge_progress_info *in = &t->info;
    in->bytes_done = done;
    in->bytes_total = total;
    double frac = total ? (double)done / (double)total : 1.0;
    if (in->step == VF_MERGE_STEP_VERIFY_BEFORE)
        t->frac_before = frac;
    else if (in->step == VF_MERGE_STEP_VERIFY_AFTER)
        t->frac_after = frac;
    else if (in->step == VF_MERGE_STEP_COPY) {
        in->copy_done = done;
        in->copy_total = total;
    }
    vf_track_emit(t);
}

/* A vf_progress_fn for the verifier's digests (ctx: the tracker). */
void vf_merge_track_digest(void *ctx, uint64_t done, uint64_t total)
{
    vf_merge_track_bytes(ctx, done, total);
}

void vf_merge_track_end(vf_merge_tracker *t, int status, const vf_error *err)
{
    vf_merge_progress_info *in = &t->info;
    in->state = status == VF_MERGE_COMPLETED ? VF_JOB_COMPLETED
                : err->code == VF_E_CANCELED ? VF_JOB_TERMINATED
                                             : VF_JOB_EXCEPTION;
    in->error_code = status;
    in->error_description[0] = '\0';
    if (status != VF_MERGE_COMPLETED)
        snprintf(in->error_description, sizeof in->error_description, "%s",
                 err->msg[0] ? err->msg : vf_status_text(err->code));
    if (status == VF_MERGE_COMPLETED)
        in->percent = 100;
    in->step = VF_MERGE_STEP_DONE;
    in->bytes_done = in->bytes_total = 0;
    t->step_base = 0;
    vf_track_emit(t);
}
