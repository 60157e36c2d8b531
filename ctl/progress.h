/*
 * ctl/progress.h -- a progress bar on stderr for gemmactl's long jobs.
 */
#ifndef CTL_PROGRESS_H
#define CTL_PROGRESS_H

#include <stdint.h>

typedef struct ctl_progress {
    const char *label;
    int enabled; /* stderr is a terminal */
    int shown;   /* something was drawn (end the line when done) */
    double start, last;
} ctl_progress;

void ctl_progress_init(ctl_progress *p, const char *label);
/* A bundle_progress_fn: `arg` is the ctl_progress. */
void ctl_progress_cb(uint64_t done, uint64_t total, void *arg);
void ctl_progress_done(ctl_progress *p);

#endif
