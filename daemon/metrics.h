/*
 * metrics.h: the daemon's figures in Prometheus' text format 0.0.4, the body of GET /metrics.
 *
 * The figures are the ones the admin Status shows (figures.h collects both); this module only
 * writes them. Label values are partner ids (the identifier rule) and territories (departement
 * codes), checked where they entered, so none holds a quote, a backslash or a line break.
 */
#ifndef PARCOURS_METRICS_H
#define PARCOURS_METRICS_H

#include <event2/buffer.h>

#include "figures.h"

/* Appends every metric family of f to b. */
void metrics_write(const figures_t *f, struct evbuffer *b);

#endif
