/*
 * statsview.h: the statistics of `parcoursctl stats`, from the daemon's counters (StatsReply),
 * for people, as JSON, and as an SVG chart a committee member reads at a glance.
 *
 * The daemon keeps counts only (daemon/rules/stats.h); the sums, medians and 90th percentiles
 * are computed here from them. A delay's median and p90 are nearest-rank: the smallest number
 * of whole days d such that at least half (nine tenths) of the counted delays are d or less.
 */
#ifndef PARCOURSCTL_STATSVIEW_H
#define PARCOURSCTL_STATSVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "parcours.pb-c.h"

/* A delay's distribution: how many were counted at each number of days (0..730). */
#define STATSVIEW_DAYS 731
typedef struct statsview_delay {
    uint64_t count;
    uint64_t at[STATSVIEW_DAYS];
} statsview_delay_t;

/* The nearest-rank percentile p (in (0, 1]) of d in days; -1 when nothing was counted. */
int statsview_percentile(const statsview_delay_t *d, double p);

/* The whole document of the reply, as parcoursctl stats --json prints it (caller owns). since:
 * the first month counted ("YYYY-MM"), or NULL for all. NULL when out of memory. */
json_t *statsview_json(const Parcours__V1__StatsReply *reply, const char *since);

/* The same for people, on out. */
void statsview_text(const Parcours__V1__StatsReply *reply, const char *since, FILE *out);

/* The funnel and the delays as an SVG document on out: 0, or -1 when it could not be written. */
int statsview_svg(const Parcours__V1__StatsReply *reply, const char *since, FILE *out);

#endif
