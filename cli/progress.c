/* progress.c - draws the progress of long-running commands on stderr.
 * Layer: cli. Used by cmd_digest.c, cmd_export.c and cmd_compare.c (and any command that
 * runs a vf_verify engine). Auto mode stays silent unless stderr is a terminal and the run
 * has lasted more than a second, so short runs and pipelines never see it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

#define VF_PROGRESS_DELAY_MS 1000
#define VF_PROGRESS_REDRAW_MS 100
#define VF_PROGRESS_WIDTH 30

static long long vf_ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

void vf_progress_init(vf_progress_bar *bar, vf_progress_mode mode, const char *label)
{
    memset(bar, 0, sizeof *bar);
    bar->mode = mode;
    bar->label = label;
    bar->tty = isatty(STDERR_FILENO) == 1;
    bar->last_pct = -1;
    clock_gettime(CLOCK_MONOTONIC, &bar->start);
    bar->last_draw = bar->start;
}

static void vf_progress_draw(vf_progress_bar *bar, int pct, uint64_t done, long long ms)
{
    char cells[VF_PROGRESS_WIDTH + 1];
    int full = pct * VF_PROGRESS_WIDTH / 100;
    for (int i = 0; i < VF_PROGRESS_WIDTH; i++)
        cells[i] = i < full ? '#' : '.';
    cells[VF_PROGRESS_WIDTH] = '\0';
    double mib_s = ms > 0 ? (double)done / 1048576.0 / ((double)ms / 1000.0) : 0.0;
    fprintf(stderr, "\r%s [%s] %3d%% %8.1f MiB/s", bar->label, cells, pct, mib_s);
    fflush(stderr);
    bar->drawn = true;
}

void vf_progress_update(void *ctx, uint64_t done_bytes, uint64_t total_bytes)
{
    vf_progress_bar *bar = ctx;
    if (bar->mode == VF_PROGRESS_NONE || (bar->mode == VF_PROGRESS_AUTO && !bar->tty))
        return;
    int pct = total_bytes ? (int)((double)done_bytes * 100.0 / (double)total_bytes) : 100;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = vf_ms_between(&bar->start, &now);
    if (bar->mode == VF_PROGRESS_PLAIN) {
        if (pct / 10 != bar->last_pct / 10 || bar->last_pct < 0) {
            fprintf(stderr, "%s: %d%%\n", bar->label, pct);
            bar->last_pct = pct;
        }
        return;
    }
    if (bar->mode == VF_PROGRESS_AUTO && ms < VF_PROGRESS_DELAY_MS)
        return;
    if (bar->drawn && vf_ms_between(&bar->last_draw, &now) < VF_PROGRESS_REDRAW_MS &&
        done_bytes < total_bytes)
        return;
    bar->last_draw = now;
    vf_progress_draw(bar, pct, done_bytes, ms);
}

void vf_progress_end(vf_progress_bar *bar)
{
    if (bar->drawn) {
        fputc('\n', stderr);
        bar->drawn = false;
    }
}
