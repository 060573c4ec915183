/*
 * sources.h: what the daemon's observers, the admin endpoint and the HTTP endpoint, read from
 * (their figures through one collector, figures.h).
 *
 * main.c owns the one instance and the observers keep a pointer to it, so that a SIGHUP that
 * puts another partners directory in force changes it for both at once. Everything it points
 * to stays owned by main.c and outlives the observers.
 */
#ifndef PARCOURS_SOURCES_H
#define PARCOURS_SOURCES_H

#include <stdint.h>

#include "deliver.h"
#include "ingest.h"
#include "partners.h"
#include "pathway.h"
#include "store.h"
#include "zap.h"

typedef struct daemon_sources {
    store_t *store;
    const partners_t *partners; /* the directory in force */
    ingest_t *ingest;           /* its phase counts forget an erased pathway */
    deliver_t *deliver;
    zap_t *zap;                        /* NULL when CURVE is off */
    int64_t started_at_ms;             /* CLOCK_MONOTONIC, for the uptime */
    const char *erased_register;       /* [store] erased_register */
    int64_t active_ms, archive_ms;     /* [retention] active_days and archive_days, in ms */
    struct audit *audit;               /* the access journal (audit.h) */
    const struct deadlines *deadlines; /* their figures (deadlines.h); NULL until it runs */
    const pathway_settings_t *rules;   /* the territory's rules, [deadlines] among them */
} daemon_sources_t;

#endif
