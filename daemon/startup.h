/*
 * startup.h: everything a start reads before it opens anything, checked in one run.
 *
 * The configuration, the daemon's secret key, the admin keys and the partners file are read
 * and checked together, and every error of all of them is reported at once, each as
 * file:line: message, so that an admin fixes a broken installation in one round, whether the
 * check comes from `parcoursd -n` or from a start. Nothing is opened or bound here: the store
 * and the endpoints are the start's.
 */
#ifndef PARCOURS_STARTUP_H
#define PARCOURS_STARTUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "partners.h"

typedef struct startup {
    config_t config;
    partners_t *partners;   /* NULL unless every check passed */
    bool has_secret_key;    /* [security] curve = yes */
    uint8_t secret_key[32]; /* the daemon's, when has_secret_key */
} startup_t;

/*
 * Reads config_path and what it names into s. Returns 0 when everything may start, or the
 * number of errors, with errors (errlen bytes) holding one "file:line: message" line each
 * followed by one line per part refused ("parcoursd: the configuration is refused"). On
 * failure s holds nothing to release.
 */
int startup_load(const char *config_path, startup_t *s, char *errors, size_t errlen);

/* Frees the partners and wipes the secret key. */
void startup_release(startup_t *s);

#endif
