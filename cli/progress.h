/* progress.h - the progress display of long-running commands (digest, export, compare...).
 * Layer: cli. A vf_progress_bar is handed to the engines as their vf_progress_fn context;
 * it draws on stderr only, so stdout stays clean for results and JSON. */
#ifndef VHDFOLD_CLI_PROGRESS_H
#define VHDFOLD_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef enum vf_progress_mode {
    VF_PROGRESS_AUTO = 0,  /* a bar when stderr is a terminal and the run passes ~1 s */
    VF_PROGRESS_BAR = 1,   /* a bar, redrawn in place, whatever stderr is */
    VF_PROGRESS_PLAIN = 2, /* one line per 10 percent, for logs */
    VF_PROGRESS_NONE = 3,
} vf_progress_mode;

typedef struct vf_progress_bar {
    vf_progress_mode mode;
    const char *label;
    bool tty;     /* stderr is a terminal */
    bool drawn;   /* something is on the current stderr line */
    int last_pct; /* last percentage printed (plain) */
    struct timespec start, last_draw;
} vf_progress_bar;

/* --progress auto|bar|plain|none is parsed from the option tables (options.c). */
void vf_progress_init(vf_progress_bar *bar, vf_progress_mode mode, const char *label);
/* A vf_progress_fn: ctx is the vf_progress_bar. */
void vf_progress_update(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
/* Finish the line (call before printing anything else to stderr). */
void vf_progress_end(vf_progress_bar *bar);

#endif
