/*
 * ctl/progress.c -- a one-line progress bar on stderr for long hashing
 * jobs (shown only when stderr is a terminal and the job is large).
 */
#include "ctl/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CTL_PROGRESS_MIN_BYTES (256ull << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ctl_progress_init(ctl_progress *p, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->enabled = isatty(STDERR_FILENO) == 1;
    p->start = now_s();
}

void ctl_progress_cb(uint64_t done, uint64_t total, void *arg)
{
    ctl_progress *p = arg;
    if (!p->enabled || total < CTL_PROGRESS_MIN_BYTES)
        return;
    double t = now_s();
    if (done < total && t - p->last < 0.1)
        return;
    p->last = t;
    p->shown = 1;
    double frac = total ? (double)done / (double)total : 1.0;
    int width = 30, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double el = t - p->start;
    fprintf(stderr, "\r%s [%s] %3d%% %.2f/%.2f GB %.2f GB/s ", p->label, bar, (int)(frac * 100),
            (double)done / 1e9, (double)total / 1e9, el > 0 ? (double)done / 1e9 / el : 0.0);
    fflush(stderr);
}

void ctl_progress_done(ctl_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
}
