/*
 * log.h: the daemon's logs, one line each on stderr (journald adds the time and the unit).
 *
 * Only daemon/ logs; libraries return codes. Lines carry a syslog-style <N> prefix that journald
 * turns into the priority. No personal data beyond the pseudonymous beneficiary id is ever
 * logged.
 */
#ifndef PARCOURS_LOG_H
#define PARCOURS_LOG_H

typedef enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARNING = 2,
    LOG_LEVEL_ERROR = 3,
} log_level_t;

/* Sets the lowest level written (default LOG_LEVEL_INFO). */
void log_set_level(log_level_t level);

/* The level for a name ("debug", "info", "warning", "error"); -1 when unknown. */
int log_level_from_name(const char *name);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs at error level and exits with status 1. Only the daemon's start-up calls it. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
