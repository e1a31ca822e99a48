/* progress.h - the one progress display of every long-running command (merge, digest,
 * export, compare, gen). Layer: cli. A vf_progress_bar is handed to the engines as their
 * vf_progress_fn context; it draws on stderr only, so stdout stays clean for results and JSON.
 * Modes: a bar (phase, percent, bytes, rate, ETA), plain "N% completed" lines, or JSON lines
 * with the job fields Hyper-V names (docs/cli.md "Progress"). */
#ifndef VHDFOLD_CLI_PROGRESS_H
#define VHDFOLD_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <vhdfold/vf_error.h>

typedef enum vf_progress_mode {
    VF_PROGRESS_AUTO = 0,  /* a bar when stderr is a terminal and the run passes ~1 s */
    VF_PROGRESS_BAR = 1,   /* a bar, redrawn in place, whatever stderr is */
    VF_PROGRESS_PLAIN = 2, /* "N% completed", one line per 10 percent, for logs */
    VF_PROGRESS_NONE = 3,
    VF_PROGRESS_JSON = 4, /* one JSON object per line, ending with the final state */
} vf_progress_mode;

/* One report, whatever the command: the fields of the JSON lines. */
typedef struct vf_progress_state {
    int job_state;    /* JobState: 4 running, 7 completed, 8 terminated, 10 exception */
    unsigned percent; /* PercentComplete */
    double elapsed;   /* ElapsedTime, seconds */
    int error_code;   /* ErrorCode: 0, or the command's status */
    const char *error_description;
    const char *phase;
    uint64_t bytes_done, bytes_total; /* of the phase */
    double rate;                      /* bytes per second in the phase, 0 unknown */
    double eta;                       /* seconds left in the phase, -1 unknown */
} vf_progress_state;

typedef struct vf_progress_bar {
    vf_progress_mode mode;
    const char *label; /* the command */
    const char *phase; /* the phase of plain engine reports */
    bool tty;          /* stderr is a terminal */
    bool drawn;        /* something is on the current stderr line */
    bool finished;     /* the final state was reported */
    int last_pct;      /* last percentage printed (plain, json) */
    const char *last_phase;
    struct timespec start, last_draw, phase_start;
} vf_progress_bar;

/* --progress auto|bar|plain|json|none is parsed from the option tables (options.c). */
void vf_progress_init(vf_progress_bar *bar, vf_progress_mode mode, const char *label);
/* A vf_progress_fn: ctx is the vf_progress_bar; percent, rate and ETA from the two counts. */
void vf_progress_update(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
/* A full report (the merge's steps): drawn as the mode says. */
void vf_progress_show(vf_progress_bar *bar, const vf_progress_state *s);
/* The end: json prints the final state (JobState 7, 8 for VF_E_CANCELED, else 10, with
 * err's code and message), then the line is finished. */
void vf_progress_finish(vf_progress_bar *bar, vf_status st, const vf_error *err);
/* Finish the line (call before printing anything else to stderr). */
void vf_progress_end(vf_progress_bar *bar);
/* Seconds since vf_progress_init. */
double vf_progress_elapsed(const vf_progress_bar *bar);

#endif
