/*
 * ingest.h: the ingest endpoint, where partners publish events, and its group commit.
 *
 * Partners' DEALER sockets send one parcours.v1.Event per frame to a ROUTER. Each pass of the
 * loop drains what is ready (up to batch_max events), checks each frame at the boundary, applies
 * the rules in one store batch, commits it once (one fsync for all), and only then sends every
 * ack of the batch. Under load the batches grow by themselves: what arrives during a commit is
 * the next batch. The only decisions that cannot wait for the commit are those that need no
 * state (a frame that does not decode): they are acked with the batch all the same, in order.
 */
#ifndef PARCOURS_INGEST_H
#define PARCOURS_INGEST_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "partners.h"
#include "pathway.h"
#include "store.h"
#include "zap.h"

#define INGEST_CODES 16 /* room for every ErrorCode value, for the counters */

/* Upper bounds of the histograms' buckets (the last bucket, +Inf, is implicit). */
#define INGEST_BATCH_SIZE_BOUNDS                                                                   \
    {                                                                                              \
        1, 2, 5, 10, 50, 100, 500, 1000, 2000                                                      \
    }
#define INGEST_SECONDS_BOUNDS                                                                      \
    {                                                                                              \
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1                         \
    }
#define INGEST_BUCKETS_MAX 16

/* A histogram: counts[i] is the number of observations in bucket i alone (not cumulative),
 * the bucket after the last bound being +Inf. */
typedef struct ingest_histogram {
    uint64_t counts[INGEST_BUCKETS_MAX];
    uint64_t count;
    double sum;
} ingest_histogram_t;

typedef struct ingest_stats {
    uint64_t accepted;
    uint64_t duplicate;
    uint64_t rejected;
    uint64_t retried;                        /* acks with status RETRY */
    uint64_t rejected_by_code[INGEST_CODES]; /* REJECTED and RETRY, by ErrorCode */
    uint64_t accepted_by_type[INGEST_CODES]; /* by EventType */
    uint32_t batch_size_max;
    double commit_ms_max;
    /* Events per committed batch (INGEST_BATCH_SIZE_BOUNDS): its count is the batches
     * committed, its sum the events in them. */
    ingest_histogram_t batch_size;
    ingest_histogram_t commit_seconds; /* per committed batch, INGEST_SECONDS_BOUNDS */
    ingest_histogram_t ack_seconds;    /* per ack sent, from its frame's receipt; same bounds */
    uint64_t acks_unsent; /* acks a connection could not take (its queue full, or gone) */
} ingest_stats_t;

typedef struct ingest_options {
    const char *endpoint;
    size_t batch_max;
    size_t max_frame;
    const uint8_t *secret_key; /* the daemon's CURVE secret key (32 bytes), or NULL for none */
    zap_t *zap;                /* with it: told of the handshakes that fail before ZAP */
    pathway_settings_t rules;  /* the territory's settings of the pathway rules */
} ingest_options_t;

typedef struct ingest ingest_t;

/*
 * Binds the ingest ROUTER on options->endpoint in zmq_context and watches it on base. store and
 * partners stay owned by the caller and must outlive the ingest (ingest_set_partners replaces
 * the directory). On success *out is owned by the caller (ingest_destroy); on failure returns -1
 * with err (errlen bytes) saying why.
 */
int ingest_new(struct event_base *base, void *zmq_context, store_t *store,
               const partners_t *partners, const ingest_options_t *options, ingest_t **out,
               char *err, size_t errlen);

/* The pathways per territory and phase, as committed (phase_counts.h); valid while the ingest
 * lives, until its next pass. */
struct phase_counts;
const struct phase_counts *ingest_phase_counts(const ingest_t *in);

/* A pathway was destroyed outside ingest (an erasure): the counts forget it. */
void ingest_pathway_destroyed(ingest_t *in, const Parcours__V1__Pathway *pathway);

/* Uses another partners directory from the next event on (the caller keeps owning it). */
void ingest_set_partners(ingest_t *in, const partners_t *partners);

/* Called after every committed batch (e.g. to wake the deliveries); NULL for none. */
typedef void (*ingest_commit_fn)(void *ctx);
void ingest_on_commit(ingest_t *in, ingest_commit_fn fn, void *ctx);

/* Stops reading new events; no batch is ever left open between loop passes, so every event
 * already read has been committed and acked. */
void ingest_stop(ingest_t *in);

/* The counters since start. Valid while the ingest lives. */
const ingest_stats_t *ingest_stats(const ingest_t *in);

/* Binds the endpoint again, which drops every connection: after a key is revoked, each must
 * authenticate again. */
void ingest_rebind(ingest_t *in);

/* Unbinds, closes the socket (lingering to flush the last acks), frees, and sets *in to NULL. */
void ingest_destroy(ingest_t **in);

#endif
