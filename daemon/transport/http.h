/*
 * http.h: the daemon's HTTP endpoint on loopback, for supervisors and Prometheus.
 *
 * GET /healthz answers 200 while the loop runs; GET /readyz answers 200 while the daemon takes
 * events (store open and writable, sockets bound, not draining) and 503 otherwise; GET /metrics
 * exposes the counters in Prometheus text format 0.0.4. Only GET and HEAD are served. The endpoint
 * binds on loopback only: it has no authentication, and the configuration refuses any other host.
 */
#ifndef PARCOURS_HTTP_H
#define PARCOURS_HTTP_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct http http_t;

/* Writes the body of /metrics to body; returns 0, or -1 for a 500. */
typedef int (*http_render_fn)(struct evbuffer *body, void *arg);

/*
 * Binds evhttp on listen ("127.0.0.1:7480" or "[::1]:7480", loopback only) and serves it on
 * base; render(body, render_arg) writes each /metrics answer, and render_arg must outlive it. On
 * success *out is owned by the caller (http_destroy); on failure returns -1 with err (errlen bytes)
 * saying why.
 */
int http_new(struct event_base *base, const char *listen, http_render_fn render, void *render_arg,
             http_t **out, char *err, size_t errlen);

/* The daemon is stopping: /readyz answers 503 from now on, its body the line why (a static
 * string: "draining", "store unusable"). */
void http_set_unready(http_t *h, const char *why);

/* True while /readyz answers 200 (http_set_unready was not called). Takes NULL (no endpoint:
 * ready, as far as anyone can ask). */
bool http_ready(const http_t *h);

/* Unbinds, frees, and sets *h to NULL. Takes NULL. */
void http_destroy(http_t **h);

#endif
