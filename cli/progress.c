/* progress.c - draws the progress of long-running commands on stderr: a bar, plain lines or
 * JSON lines, from one report shape (vf_progress_state). Layer: cli. Used by cmd_merge.c
 * (steps from the merger's on_info), cmd_digest.c, cmd_export.c, cmd_compare.c and cmd_gen.c
 * (a vf_progress_fn). Auto mode stays silent unless stderr is a terminal and the run has
 * lasted more than a second, so short runs and pipelines never see it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "output.h"
#include "progress.h"

#define VF_PROGRESS_DELAY_MS 1000
#define VF_PROGRESS_REDRAW_MS 100
#define VF_PROGRESS_WIDTH 24

static long long vf_ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

void vf_progress_init(vf_progress_bar *bar, vf_progress_mode mode, const char *label)
{
    memset(bar, 0, sizeof *bar);
    bar->mode = mode;
    bar->label = label;
    bar->phase = label;
    bar->tty = isatty(STDERR_FILENO) == 1;
    bar->last_pct = -1;
    clock_gettime(CLOCK_MONOTONIC, &bar->start);
    bar->last_draw = bar->start;
    bar->phase_start = bar->start;
}

double vf_progress_elapsed(const vf_progress_bar *bar)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)vf_ms_between(&bar->start, &now) / 1000.0;
}

static void vf_progress_eta_text(double eta, char *out, size_t len)
{
    if (eta < 0) {
        snprintf(out, len, "--:--");
        return;
    }
    unsigned long s = (unsigned long)(eta + 0.5);
    if (s >= 3600)
        snprintf(out, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, len, "%02lu:%02lu", s / 60, s % 60);
}

static void vf_progress_draw(vf_progress_bar *bar, const vf_progress_state *s)
{
    char cells[VF_PROGRESS_WIDTH + 1], done[32], total[32], rate[32], eta[24];
    unsigned full = s->percent * VF_PROGRESS_WIDTH / 100;
    for (unsigned i = 0; i < VF_PROGRESS_WIDTH; i++)
        cells[i] = i < full ? '#' : '.';
    cells[VF_PROGRESS_WIDTH] = '\0';
    vf_cli_human_size(s->bytes_done, done, sizeof done);
    vf_cli_human_size(s->bytes_total, total, sizeof total);
    vf_cli_human_size((uint64_t)s->rate, rate, sizeof rate);
    vf_progress_eta_text(s->eta, eta, sizeof eta);
    /* \033[K clears what a longer previous line left */
    fprintf(stderr, "\r%s %s [%s] %3u%% %s of %s, %s/s, ETA %s\033[K", bar->label, s->phase, cells,
            s->percent, done, total, rate, eta);
    fflush(stderr);
    bar->drawn = true;
}

static void vf_progress_json_line(const vf_progress_state *s)
{
    json_t *o = json_pack("{s:i, s:i, s:f, s:i, s:s, s:s, s:o, s:o, s:f, s:f}", "JobState",
                          s->job_state, "PercentComplete", (int)s->percent, "ElapsedTime",
                          s->elapsed, "ErrorCode", s->error_code, "ErrorDescription",
                          s->error_description ? s->error_description : "", "phase", s->phase,
                          "bytes_done", vf_json_u64(s->bytes_done), "bytes_total",
                          vf_json_u64(s->bytes_total), "rate", s->rate, "eta", s->eta);
    if (!o)
        return;
    json_dumpf(o, stderr, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    fputc('\n', stderr);
    fflush(stderr);
    json_decref(o);
}

void vf_progress_show(vf_progress_bar *bar, const vf_progress_state *s)
{
    if (bar->mode == VF_PROGRESS_NONE || bar->finished ||
        (bar->mode == VF_PROGRESS_AUTO && !bar->tty))
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool new_phase = bar->last_phase != s->phase;
    bool final = s->job_state != 4;
    if (bar->mode == VF_PROGRESS_PLAIN) {
        if ((int)s->percent / 10 != bar->last_pct / 10 || bar->last_pct < 0) {
            fprintf(stderr, "%u%% completed\n", s->percent);
            bar->last_pct = (int)s->percent;
        }
        return;
    }
    if (bar->mode == VF_PROGRESS_JSON) {
        bool step_end = s->bytes_total && s->bytes_done == s->bytes_total;
        if (final || new_phase || step_end || (int)s->percent != bar->last_pct) {
            vf_progress_json_line(s);
            bar->last_pct = (int)s->percent;
            bar->last_phase = s->phase;
        }
        return;
    }
    if (bar->mode == VF_PROGRESS_AUTO && vf_ms_between(&bar->start, &now) < VF_PROGRESS_DELAY_MS)
        return;
    if (!new_phase && bar->drawn && vf_ms_between(&bar->last_draw, &now) < VF_PROGRESS_REDRAW_MS &&
        s->bytes_done < s->bytes_total)
        return;
    bar->last_draw = now;
    bar->last_phase = s->phase;
    vf_progress_draw(bar, s);
}

void vf_progress_update(void *ctx, uint64_t done_bytes, uint64_t total_bytes)
{
    vf_progress_bar *bar = ctx;
    double secs = vf_progress_elapsed(bar);
    vf_progress_state s = {.job_state = 4, .elapsed = secs, .phase = bar->phase, .eta = -1.0};
    s.percent = total_bytes ? (unsigned)((double)done_bytes * 100.0 / (double)total_bytes) : 100;
    if (s.percent > 100)
        s.percent = 100;
    s.bytes_done = done_bytes;
    s.bytes_total = total_bytes;
    s.rate = secs > 0 ? (double)done_bytes / secs : 0.0;
    if (s.rate > 0 && total_bytes >= done_bytes)
        s.eta = (double)(total_bytes - done_bytes) / s.rate;
    vf_progress_show(bar, &s);
}

void vf_progress_finish(vf_progress_bar *bar, vf_status st, const vf_error *err)
{
    /* an engine's last report may stop short of its total (a sparse tail skipped) */
    if (bar->mode == VF_PROGRESS_PLAIN && st == VF_OK && bar->last_pct >= 0 &&
        bar->last_pct != 100 && !bar->finished)
        fprintf(stderr, "100%% completed\n");
    if (bar->mode == VF_PROGRESS_JSON && !bar->finished) {
        vf_progress_state s = {
            .job_state = st == VF_OK           ? 7
                         : st == VF_E_CANCELED ? 8
                                               : 10,
            .percent = st == VF_OK ? 100u : (unsigned)(bar->last_pct < 0 ? 0 : bar->last_pct),
            .elapsed = vf_progress_elapsed(bar),
            .error_code = (int)st,
            .error_description = st == VF_OK || !err ? "" : err->msg,
            .phase = "done",
            .eta = -1.0};
        vf_progress_json_line(&s);
    }
    bar->finished = true;
    vf_progress_end(bar);
}

void vf_progress_end(vf_progress_bar *bar)
{
    if (bar->drawn) {
        fputc('\n', stderr);
        bar->drawn = false;
    }
}
