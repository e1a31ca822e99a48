/* job.c - the merge as a job on its own thread: start, poll state and percent, the latest
 * progress report, cancel, wait (the job model of Msvm_ImageManagementService). Layer:
 * merger; runs merge.c's vf_merge_run_ex with its own opts.cancel flag and on_info hook. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"
#include "opts_int.h"

struct vf_merge_job {
    pthread_t thread;
    bool joined;
    vf_merge_opts opts; /* deep copy: strings below are owned */
    char *source, *destination;
    char **children;
    atomic_uint percent;
    atomic_int state;
    atomic_int stop; /* the opts->cancel the merge watches; set by cancel or the caller's flag */
    const atomic_int *user_cancel;
    vf_merge_info_fn user_info;
    void *user_info_ctx;
    pthread_mutex_t lock; /* guards info */
    vf_merge_progress_info info;
    vf_merge_result res;
};

void vf_merge_opts_init_size(vf_merge_opts *o, size_t size)
{
    vf_merge_opts def;
    memset(&def, 0, sizeof def);
    vf_opts_fill(o, size, &def, sizeof def);
}

vf_status vf_merge_opts_adopt(vf_merge_opts *own, const vf_merge_opts *user, vf_error *err)
{
    vf_merge_opts_init(own);
    return vf_opts_adopt(own, sizeof *own, user, VF_MERGE_OPTS_V1, "vf_merge_opts", err);
}

static void vf_job_free_copy(vf_merge_job *job)
{
    for (size_t i = 0; job->children && i < job->opts.nchildren; i++)
        free(job->children[i]);
    free(job->children);
    free(job->source);
    free(job->destination);
}

static bool vf_job_copy_opts(vf_merge_job *job, const vf_merge_opts *opts)
{
    job->opts = *opts;
    job->source = opts->source ? strdup(opts->source) : NULL;
    job->destination = opts->destination ? strdup(opts->destination) : NULL;
    job->children = calloc(opts->nchildren ? opts->nchildren : 1, sizeof *job->children);
    if ((opts->source && !job->source) || (opts->destination && !job->destination) ||
        !job->children)
        return false;
    for (size_t i = 0; i < opts->nchildren; i++)
        if (!(job->children[i] = strdup(opts->children[i])))
            return false;
    job->opts.source = job->source;
    job->opts.destination = job->destination;
    job->opts.children = (const char *const *)job->children;
    return true;
}

/* Every report passes here: keep it for vf_merge_job_progress, hand on the caller's cancel
 * request, then call the caller's on_info. */
static void vf_job_on_info(void *user, const vf_merge_progress_info *info)
{
    vf_merge_job *job = user;
    pthread_mutex_lock(&job->lock);
    job->info = *info;
    pthread_mutex_unlock(&job->lock);
    atomic_store(&job->percent, info->percent);
    if (job->user_cancel && atomic_load(job->user_cancel))
        atomic_store(&job->stop, 1);
    if (job->user_info)
        job->user_info(job->user_info_ctx, info);
}

static void vf_job_hook(vf_merge_job *job)
{
    job->user_cancel = job->opts.cancel;
    job->user_info = job->opts.on_info;
    job->user_info_ctx = job->opts.info_user;
    job->opts.cancel = &job->stop;
    job->opts.on_info = vf_job_on_info;
    job->opts.info_user = job;
    job->info.state = VF_JOB_RUNNING;
    job->info.eta = -1.0;
}

static void *vf_job_main(void *arg)
{
    vf_merge_job *job = arg;
    int status = vf_merge_run_ex(&job->opts, &job->res, NULL, NULL); /* cancel: opts.cancel */
    int state = status == VF_MERGE_COMPLETED         ? VF_JOB_COMPLETED
                : job->res.err.code == VF_E_CANCELED ? VF_JOB_TERMINATED
                                                     : VF_JOB_EXCEPTION;
    atomic_store(&job->state, state);
    return NULL;
}

int vf_merge_job_start(const vf_merge_opts *user, vf_merge_job **out, vf_error *err)
{
    *out = NULL;
    vf_merge_opts own, *opts = &own;
    vf_status ast = vf_merge_opts_adopt(&own, user, err);
    if (ast != VF_OK)
        return vf_merge_status_from(ast, 0);
    vf_merge_job *job = calloc(1, sizeof *job);
    if (!job || !vf_job_copy_opts(job, opts)) {
        if (job)
            vf_job_free_copy(job);
        free(job);
        VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "merge job: out of memory");
        return VF_MERGE_OUT_OF_MEMORY;
    }
    atomic_init(&job->percent, 0u);
    atomic_init(&job->state, VF_JOB_RUNNING);
    atomic_init(&job->stop, 0);
    pthread_mutex_init(&job->lock, NULL);
    vf_job_hook(job);
    int rc = pthread_create(&job->thread, NULL, vf_job_main, job);
    if (rc != 0) {
        pthread_mutex_destroy(&job->lock);
        vf_job_free_copy(job);
        free(job);
        vf_status st = VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "merge job: cannot start a thread");
        return vf_merge_status_from(st, rc);
    }
    *out = job;
    return VF_MERGE_JOB_STARTED;
}

vf_merge_job_state vf_merge_job_poll(vf_merge_job *job, unsigned *percent)
{
    if (percent)
        *percent = atomic_load(&job->percent);
    return (vf_merge_job_state)atomic_load(&job->state);
}

void vf_merge_job_progress(vf_merge_job *job, vf_merge_progress_info *out)
{
    pthread_mutex_lock(&job->lock);
    *out = job->info;
    pthread_mutex_unlock(&job->lock);
}

/* The same path as opts->cancel: the merge watches job->stop (vf_job_hook). */
void vf_merge_job_cancel(vf_merge_job *job)
{
    atomic_store(&job->stop, 1);
}

int vf_merge_job_wait(vf_merge_job *job, vf_merge_result *res)
{
    if (!job->joined) {
        pthread_join(job->thread, NULL);
        job->joined = true;
    }
    *res = job->res;
    memset(&job->res, 0, sizeof job->res); /* ownership of the result moves to the caller */
    return res->status;
}

void vf_merge_job_free(vf_merge_job *job)
{
    if (!job)
        return;
    if (!job->joined)
        pthread_join(job->thread, NULL);
    vf_merge_result_free(&job->res);
    pthread_mutex_destroy(&job->lock);
    vf_job_free_copy(job);
    free(job);
}
