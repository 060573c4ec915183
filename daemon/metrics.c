/* metrics.c: the daemon's figures (figures.h) in Prometheus' text format, for GET /metrics. */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "event_frame.h"

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

void metrics_write(const figures_t *f, struct evbuffer *b)
{
    const ingest_stats_t *s = &f->ingest;

    metric_header(b, "parcours_ready", "gauge",
                  "1 while /readyz says ready; 0 while draining at a stop, or with a store the "
                  "daemon can no longer write.");
    evbuffer_add_printf(b, "parcours_ready %d\n", f->ready ? 1 : 0);

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
                  "CURVE handshakes refused: keys the ZAP handler does not admit, and "
                  "handshakes that failed before it was asked (another server key).");
    evbuffer_add_printf(b, "parcours_zap_refused_total %" PRIu64 "\n", f->zap_refused);

    metric_header(b, "parcours_deadlines_missed_total", "counter",
                  "DeadlineMissed events parcoursd wrote itself since start, by deadline "
                  "(docs/deadlines.md).");
    for (int k = 1; k <= DEADLINE_KINDS; k++)
        evbuffer_add_printf(b, "parcours_deadlines_missed_total{kind=\"%s\"} %" PRIu64 "\n",
                            deadline_kind_name((Parcours__V1__DeadlineKind)k),
                            f->deadlines_missed[k]);
    metric_header(b, "parcours_deadlines_overdue", "gauge",
                  "Deadlines that fell due over a minute ago and are not written yet: the "
                  "deadlines' timer is behind or failing.");
    evbuffer_add_printf(b, "parcours_deadlines_overdue %" PRIu64 "\n", f->deadlines_overdue);

    metric_header(b, "parcours_lmdb_map_size_bytes", "gauge", "Size of the LMDB map now.");
    evbuffer_add_printf(b, "parcours_lmdb_map_size_bytes %zu\n", f->store.map_size);
    metric_header(b, "parcours_lmdb_map_used_bytes", "gauge", "Bytes of the LMDB map in use.");
    evbuffer_add_printf(b, "parcours_lmdb_map_used_bytes %zu\n", f->store.map_used);
    metric_header(b, "parcours_lmdb_map_max_bytes", "gauge",
                  "What the LMDB map may grow to ([store] max_map_size): past it, senders get "
                  "RETRY (STORAGE_FULL).");
    evbuffer_add_printf(b, "parcours_lmdb_map_max_bytes %zu\n", f->store.max_map_size);
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
