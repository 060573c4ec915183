/*
 * http.h: the daemon's HTTP endpoint on loopback, for supervisors and Prometheus.
 *
 * GET /healthz answers 200 while the loop runs; GET /readyz answers 200 while the daemon takes
 * events (store open, sockets bound, not draining) and 503 otherwise; GET /metrics exposes the
 * counters in Prometheus text format 0.0.4. Only GET and HEAD are served. The endpoint binds on
 * loopback only: it has no authentication, and the configuration refuses any other host.
 */
#ifndef PARCOURS_HTTP_H
#define PARCOURS_HTTP_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin.h"
#include "deliver.h"
#include "ingest.h"
#include "partners.h"
#include "store.h"
#include "zap.h"

typedef struct http http_t;

/* What the HTTP endpoint reads from; everything stays owned by the caller and must outlive it.
 * zap is NULL when CURVE is off. */
typedef struct http_sources {
    store_t *store;
    const partners_t *partners;
    const ingest_t *ingest;
    deliver_t *deliver;
    const zap_t *zap;
    const admin_t *admin; /* for the backups' figures */
} http_sources_t;

/*
 * Binds evhttp on listen ("127.0.0.1:7480" or "[::1]:7480", loopback only) and serves it on
 * base. sources is copied. On success *out is owned by the caller (http_destroy); on failure
 * returns -1 with err (errlen bytes) saying why.
 */
int http_new(struct event_base *base, const char *listen, const http_sources_t *sources,
             http_t **out, char *err, size_t errlen);

/* Uses another partners directory from the next request on (the caller keeps owning it). */
void http_set_partners(http_t *h, const partners_t *partners);

/* The daemon is stopping: /readyz answers 503 from now on. */
void http_set_draining(http_t *h);

/* Unbinds, frees, and sets *h to NULL. Takes NULL. */
void http_destroy(http_t **h);

#endif
