/*
 * common/log.h -- one-line log events on stderr.
 *
 * Each event is one line: "<N>LEVEL component: message", where <N> is the
 * syslog priority prefix that journald understands (sd-daemon(3)), so a
 * service under systemd gets levels for free and a terminal still reads
 * well. The threshold is process-wide and set once at start-up.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

typedef enum cm_log_level {
    CM_LOG_ERR = 3,
    CM_LOG_WARN = 4,
    CM_LOG_NOTICE = 5,
    CM_LOG_INFO = 6,
    CM_LOG_DEBUG = 7,
} cm_log_level;

void cm_log_set_level(cm_log_level max_level);
/* Parse "error|warn|notice|info|debug"; returns -1 if unknown. */
int cm_log_parse_level(const char *name, cm_log_level *out);
void cm_log(cm_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
