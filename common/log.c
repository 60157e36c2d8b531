/*
 * common/log.c -- stderr logging with journald priority prefixes.
 *
 * The level threshold is the one piece of process-wide state: a process
 * has one stderr and one verbosity.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static cm_log_level log_max_level = CM_LOG_INFO;

void cm_log_set_level(cm_log_level max_level)
{
    log_max_level = max_level;
}

int cm_log_parse_level(const char *name, cm_log_level *out)
{
    static const struct { const char *name; cm_log_level level; } names[] = {
        {"error", CM_LOG_ERR}, {"warn", CM_LOG_WARN}, {"notice", CM_LOG_NOTICE},
        {"info", CM_LOG_INFO}, {"debug", CM_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

static const char *level_name(cm_log_level level)
{
    switch (level) {
    case CM_LOG_ERR: return "error";
    case CM_LOG_WARN: return "warn";
    case CM_LOG_NOTICE: return "notice";
    case CM_LOG_INFO: return "info";
    case CM_LOG_DEBUG: return "debug";
    }
    return "?";
}

void cm_log(cm_log_level level, const char *component, const char *fmt, ...)
{
    if (level > log_max_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Keep one event on one line: newlines in the message become spaces. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "<%d>%s %s: %s\n", (int)level, level_name(level), component, line);
}
