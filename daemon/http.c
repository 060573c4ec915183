/* http.c: /healthz, /readyz and /metrics on loopback, with libevent's evhttp. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "figures.h"

#define HTTP_TIMEOUT_S 10 /* a client that sends nothing for this long is dropped */

struct http {
    struct evhttp *server;
    const daemon_sources_t *sources;
    const admin_t *admin;
    const char *unready; /* NULL while ready, else the line /readyz answers with its 503 */
};

static void http_reply(struct evhttp_request *req, int code, const char *reason,
                       const char *content_type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, code, reason, body);
}

static void http_reply_text(struct evhttp_request *req, int code, const char *reason,
                            const char *text)
{
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add(body, text, strlen(text));
    http_reply(req, code, reason, "text/plain; charset=utf-8", body);
    evbuffer_free(body);
}

static void metric_header(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram family, with its cumulative buckets, _sum and _count. */
static void metric_histogram(struct evbuffer *b, const char *name, const char *help,
                             const ingest_histogram_t *h, const double *bounds, size_t n_bounds)
{
    metric_header(b, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < n_bounds; i++) {
        cumulative += h->counts[i];
        evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], cumulative);
    }
    cumulative += h->counts[n_bounds];
    evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    evbuffer_add_printf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

static const char *error_code_name(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&parcours__v1__error_code__descriptor, code);
    return v != NULL ? v->name : NULL;
}

/* Renders the figures (figures.h), which the admin Status renders too, in the text format. */
static void http_metrics(const figures_t *f, struct evbuffer *b)
{
    const ingest_stats_t *s = &f->ingest;

    metric_header(b, "parcours_events_total", "counter",
                  "Events acknowledged, by event type and outcome.");
    for (int t = 0; t < INGEST_CODES; t++) {
        const char *name = event_type_name((Parcours__V1__EventType)t);
        if (s->accepted_by_type[t] == 0 || name == NULL)
            continue;
        evbuffer_add_printf(b,
                            "parcours_events_total{type=\"%s\",outcome=\"accepted\"} %" PRIu64 "\n",
                            name, s->accepted_by_type[t]);
    }
    /* Only accepted events are counted by type; the other outcomes carry an empty type. */
    evbuffer_add_printf(b, "parcours_events_total{type=\"\",outcome=\"duplicate\"} %" PRIu64 "\n",
                        s->duplicate);
    evbuffer_add_printf(b, "parcours_events_total{type=\"\",outcome=\"rejected\"} %" PRIu64 "\n",
                        s->rejected);
    evbuffer_add_printf(b, "parcours_events_total{type=\"\",outcome=\"retry\"} %" PRIu64 "\n",
                        s->retried);

    metric_header(b, "parcours_rejections_total", "counter",
                  "Events rejected or answered RETRY, by error code.");
    for (int c = 0; c < INGEST_CODES; c++) {
        const char *name = error_code_name(c);
        if (s->rejected_by_code[c] == 0 || name == NULL)
            continue;
        evbuffer_add_printf(b, "parcours_rejections_total{code=\"%s\"} %" PRIu64 "\n", name,
                            s->rejected_by_code[c]);
    }

    metric_header(b, "parcours_acks_unsent_total", "counter",
                  "Acks a connection could not take: its queue full, or the connection gone "
                  "(its sender sends the event again; the dedupe answers).");
    evbuffer_add_printf(b, "parcours_acks_unsent_total %" PRIu64 "\n", s->acks_unsent);
    metric_header(b, "parcours_batches_total", "counter", "Batches committed by ingest.");
    evbuffer_add_printf(b, "parcours_batches_total %" PRIu64 "\n", f->batches);

    static const double batch_bounds[] = INGEST_BATCH_SIZE_BOUNDS;
    static const double seconds_bounds[] = INGEST_SECONDS_BOUNDS;
    metric_histogram(b, "parcours_batch_size", "Events per committed batch.", &s->batch_size,
                     batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]));
    metric_histogram(b, "parcours_commit_seconds", "Time to commit one batch, fsync included.",
                     &s->commit_seconds, seconds_bounds,
                     sizeof(seconds_bounds) / sizeof(seconds_bounds[0]));
    metric_histogram(b, "parcours_ack_latency_seconds",
                     "Time from an event frame's receipt to its ack being sent.", &s->ack_seconds,
                     seconds_bounds, sizeof(seconds_bounds) / sizeof(seconds_bounds[0]));

    metric_header(b, "parcours_delivery_lag", "gauge",
                  "Notifications in a partner's outbox not yet acknowledged by it.");
    for (size_t i = 0; i < f->n_deliveries; i++)
        evbuffer_add_printf(b, "parcours_delivery_lag{partner=\"%s\"} %" PRIu64 "\n",
                            f->deliveries[i].partner_id, f->deliveries[i].position.lag);
    metric_header(b, "parcours_partner_connections", "gauge",
                  "Subscribed deliver connections of a partner.");
    for (size_t i = 0; i < f->n_deliveries; i++)
        evbuffer_add_printf(b, "parcours_partner_connections{partner=\"%s\"} %u\n",
                            f->deliveries[i].partner_id, f->deliveries[i].position.subscribers);

    /* Per territory and phase, kept as batches commit: a scrape walks no pathway. */
    metric_header(b, "parcours_pathways", "gauge", "Pathways of a territory in a phase.");
    for (size_t t = 0; t < f->n_territories; t++) {
        for (int phase = 1; phase < FIGURES_PHASES; phase++) {
            const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&parcours__v1__phase__descriptor, phase);
            evbuffer_add_printf(b, "parcours_pathways{territory=\"%s\",phase=\"%s\"} %" PRIu64 "\n",
                                f->territories[t].territory, v->name + strlen("PHASE_"),
                                f->territories[t].pathways[phase]);
        }
    }

    metric_header(b, "parcours_zap_refused_total", "counter",
                  "CURVE handshakes refused by the ZAP handler.");
    evbuffer_add_printf(b, "parcours_zap_refused_total %" PRIu64 "\n", f->zap_refused);

    metric_header(b, "parcours_lmdb_map_size_bytes", "gauge", "Size of the LMDB map now.");
    evbuffer_add_printf(b, "parcours_lmdb_map_size_bytes %zu\n", f->store.map_size);
    metric_header(b, "parcours_lmdb_map_used_bytes", "gauge", "Bytes of the LMDB map in use.");
    evbuffer_add_printf(b, "parcours_lmdb_map_used_bytes %zu\n", f->store.map_used);
    metric_header(b, "parcours_lmdb_readers_used", "gauge", "LMDB reader slots in use.");
    evbuffer_add_printf(b, "parcours_lmdb_readers_used %u\n", f->store.readers_used);
    metric_header(b, "parcours_last_seq", "gauge", "The last seq committed to the log.");
    evbuffer_add_printf(b, "parcours_last_seq %" PRIu64 "\n", f->store.last_seq);

    const backup_stats_t *bk = &f->backup;
    metric_header(b, "parcours_backups_total", "counter",
                  "Hot backups by outcome: done (sent whole), failed, abandoned.");
    evbuffer_add_printf(b,
                        "parcours_backups_total{outcome=\"done\"} %" PRIu64 "\n"
                        "parcours_backups_total{outcome=\"failed\"} %" PRIu64 "\n"
                        "parcours_backups_total{outcome=\"abandoned\"} %" PRIu64 "\n",
                        bk->done, bk->failed, bk->abandoned);
    metric_header(b, "parcours_backup_running", "gauge", "1 while a hot backup is being copied.");
    evbuffer_add_printf(b, "parcours_backup_running %d\n", bk->running ? 1 : 0);
    metric_header(b, "parcours_backup_last_success_timestamp_seconds", "gauge",
                  "When the last hot backup was sent whole to its client (unix time; the "
                  "client's write is not confirmed to the daemon); 0 for none since start.");
    evbuffer_add_printf(b, "parcours_backup_last_success_timestamp_seconds %" PRId64 "\n",
                        bk->last_done_at);
    metric_header(b, "parcours_backup_last_success_bytes", "gauge",
                  "Size of the last hot backup sent whole.");
    evbuffer_add_printf(b, "parcours_backup_last_success_bytes %" PRIu64 "\n", bk->last_done_bytes);
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
    http_t *h = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        http_reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = "";
    if (strcmp(path, "/healthz") == 0) {
        http_reply_text(req, 200, "OK", "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        if (h->unready != NULL)
            http_reply_text(req, 503, "Service Unavailable", h->unready);
        else
            http_reply_text(req, 200, "OK", "ready\n");
    } else if (strcmp(path, "/metrics") == 0) {
        figures_t figures;
        struct evbuffer *body = evbuffer_new();
        if (body == NULL ||
            figures_collect(h->sources, admin_backup_stats(h->admin), &figures) != 0) {
            if (body != NULL)
                evbuffer_free(body);
            evhttp_send_error(req, 500, NULL);
            return;
        }
        http_metrics(&figures, body);
        figures_release(&figures);
        http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
        evbuffer_free(body);
    } else {
        http_reply_text(req, 404, "Not Found", "not found\n");
    }
}

int http_new(struct event_base *base, const char *listen, const daemon_sources_t *sources,
             const admin_t *admin, http_t **out, char *err, size_t errlen)
{
    char host[64];
    unsigned port;
    if (config_loopback_parse(listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "http: \"%s\" is not a loopback address and port", listen);
        return -1;
    }
    http_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->server = evhttp_new(base)) == NULL) {
        free(h);
        snprintf(err, errlen, "http: out of memory");
        return -1;
    }
    h->sources = sources;
    h->admin = admin;
    evhttp_set_allowed_methods(h->server, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->server, HTTP_TIMEOUT_S);
    evhttp_set_max_headers_size(h->server, 8192);
    evhttp_set_max_body_size(h->server, 4096);
    evhttp_set_gencb(h->server, http_on_request, h);
    if (evhttp_bind_socket_with_handle(h->server, host, (ev_uint16_t)port) == NULL) {
        snprintf(err, errlen, "http: cannot listen on %s", listen);
        evhttp_free(h->server);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void http_set_unready(http_t *h, const char *why)
{
    if (h != NULL)
        h->unready = why;
}

void http_destroy(http_t **h)
{
    if (h == NULL || *h == NULL)
        return;
    evhttp_free((*h)->server);
    free(*h);
    *h = NULL;
}
