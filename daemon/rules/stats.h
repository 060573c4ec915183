/*
 * stats.h: the counters an accepted event adds to, for the statistics of the comité territorial
 * pour l'emploi (docs/statistics.md). A pure function of the event and the pathway before and
 * after it: no clock, no I/O. The store keeps the counters apart from the pathways, so that they
 * stay, as counts, once the people are purged or erased; no counter names a person.
 *
 * A counter's key is text: "YYYY-MM|territory|metric|dimension|days", the month of the event's
 * occurred_at (UTC), the pathway's territory, a StatsMetric value, a partner id or an enum
 * value's name ("" when none), and for the delays the number of whole days (capped at
 * STATS_DAYS_MAX; 0 otherwise). '|' is in no identifier.
 */
#ifndef PARCOURS_STATS_H
#define PARCOURS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"

#define STATS_KEY_MAX   192 /* the longest key: a month, a territory, a metric, an id, days */
#define STATS_PER_EVENT 2   /* the most counters one event adds to */
#define STATS_DAYS_MAX  730 /* delays are counted in whole days up to two years */

typedef struct stats_key {
    char text[STATS_KEY_MAX];
    size_t len;
} stats_key_t;

/*
 * The counters event adds to, before (NULL: none) and after (the pathway the rules made) it,
 * into out; returns how many (at most STATS_PER_EVENT). An event that is not counted adds to none.
 */
size_t stats_of_event(const Parcours__V1__Pathway *before, const Parcours__V1__Pathway *after,
                      const Parcours__V1__Event *event, stats_key_t out[STATS_PER_EVENT]);

/*
 * Decodes a key into c's month, territory, metric, dimension and days, the strings pointing
 * into buf (size bytes, which it fills); c->count is left alone. 0, or -1 when key is not one.
 */
int stats_key_decode(const void *key, size_t len, Parcours__V1__StatsCounter *c, char *buf,
                     size_t size);

/* The month "YYYY-MM" (UTC) of unix ms t, into out (8 bytes). */
void stats_month(int64_t t, char out[8]);

#endif
