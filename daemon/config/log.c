/* log.c: leveled lines on stderr, with the syslog priority prefix journald understands. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static log_level_t log_threshold = LOG_LEVEL_INFO;

static const struct {
    const char *name;
    const char *prefix; /* <N>: the syslog priority, read by journald */
} log_levels[] = {
    [LOG_LEVEL_DEBUG] = {"debug", "<7>"},
    [LOG_LEVEL_INFO] = {"info", "<6>"},
    [LOG_LEVEL_WARNING] = {"warning", "<4>"},
    [LOG_LEVEL_ERROR] = {"error", "<3>"},
};

void log_set_level(log_level_t level)
{
    log_threshold = level;
}

int log_level_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof(log_levels) / sizeof(log_levels[0])); i++)
        if (strcmp(log_levels[i].name, name) == 0)
            return i;
    return -1;
}

static void log_write(log_level_t level, const char *fmt, va_list ap)
{
    if (level < log_threshold)
        return;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* One fprintf per line keeps lines whole when several processes share the stream. */
    fprintf(stderr, "%s%s: %s\n", log_levels[level].prefix, log_levels[level].name, line);
}

#define LOG_FUNCTION(function, level)                                                              \
    void function(const char *fmt, ...)                                                            \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_write(level, fmt, ap);                                                                 \
        va_end(ap);                                                                                \
    }

LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO)
LOG_FUNCTION(log_warning, LOG_LEVEL_WARNING)
LOG_FUNCTION(log_error, LOG_LEVEL_ERROR)

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_threshold = LOG_LEVEL_DEBUG;
    log_write(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
