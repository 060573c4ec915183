/* ingest.c: the ingest ROUTER, the trust boundary for events, and group commit. */
#include "ingest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "event.h"
#include "clock.h"
#include "log.h"
#include "pathway.h"
#include "wire_names.h"
#include "zap.h"
#include "zwatch.h"

#define INGEST_IDENTITY_MAX 256    /* a ROUTER peer identity is at most 255 bytes */
#define INGEST_LINGER_MS    2000   /* how long closing may wait to flush the last acks */
#define INGEST_SNDHWM       100000 /* acks queued per peer before the peer is deemed stuck */

/* An ack waiting for its batch to commit. */
typedef struct pending_ack {
    uint8_t identity[INGEST_IDENTITY_MAX];
    size_t identity_len;
    char event_id[EVENT_ID_MAX + 1];
    char partner_id[PARTNERS_ID_MAX + 1]; /* the sender, for the log: authenticated, or claimed */
    Parcours__V1__AckStatus status;
    Parcours__V1__ErrorCode code;
    Parcours__V1__EventType type;
    uint64_t seq;
    uint64_t version;
    struct timespec received; /* CLOCK_MONOTONIC, for the ack latency */
    bool needs_commit; /* decided from the store's state: RETRY if the batch does not commit */
    char message[EVENT_MESSAGE_MAX];
} pending_ack_t;

struct ingest {
    void *socket;
    zwatch_t *watch;
    store_t *store;
    const partners_t *partners;
    size_t batch_max;
    size_t max_frame;
    pathway_settings_t rules;
    uint8_t *frame;      /* max_frame + 1 bytes: a larger frame is seen, and refused, uncopied */
    pending_ack_t *acks; /* batch_max entries */
    size_t n_acks;
    store_batch_t *batch; /* open during one pass only */
    int batch_error;      /* the store error that killed the batch, or 0 */
    char endpoint[512];   /* as bound, to bind again */
    bool stopped;
    ingest_stats_t stats;
    ingest_commit_fn on_commit;
    void *on_commit_ctx;
};

static double clock_elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1e3 +
           (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void ack_set(pending_ack_t *ack, Parcours__V1__AckStatus status,
                    Parcours__V1__ErrorCode code, bool needs_commit, const char *message)
{
    ack->status = status;
    ack->code = code;
    ack->needs_commit = needs_commit;
    snprintf(ack->message, sizeof(ack->message), "%s", message ? message : "");
}

/* Opens the pass's batch on first need. */
static int ingest_batch(ingest_t *in)
{
    if (in->batch == NULL && in->batch_error == 0) {
        int rc = store_batch_begin(in->store, clock_ms(CLOCK_REALTIME), &in->batch);
        if (rc != STORE_OK)
            in->batch_error = rc;
    }
    return in->batch_error;
}

/* Applies one accepted event to the batch. The log holds the canonical encoding of the event as
 * it was decoded and checked, never the frame received: a payload the frame superseded, or any
 * byte the checks did not see, reaches neither the store nor a partner. */
static void ingest_append(ingest_t *in, pending_ack_t *ack, const Parcours__V1__Event *e,
                          const pathway_outcome_t *outcome)
{
    uint8_t stack[EVENT_FRAME_MAX];
    uint8_t *canonical = NULL;
    size_t len = event_pack(e, &canonical, stack, sizeof(stack));
    const char **recipients = malloc((outcome->n_recipients + 1) * sizeof(*recipients));
    if (recipients == NULL || canonical == NULL) {
        free(recipients);
        if (canonical != stack)
            free(canonical);
        in->batch_error = STORE_ENOMEM;
        return;
    }
    for (size_t i = 0; i < outcome->n_recipients; i++)
        recipients[i] = outcome->recipients[i].partner_id;
    store_event_t se = {
        .raw = canonical,
        .raw_len = len,
        .type = ack->type,
        .occurred_at = e->occurred_at,
        .partner_id = e->partner_id,
        .event_id = e->event_id,
        .beneficiary_id = e->beneficiary_id,
        .pathway = outcome->pathway,
        .recipients = recipients,
        .n_recipients = outcome->n_recipients,
    };
    int rc = store_batch_append(in->batch, &se, &ack->seq);
    free(recipients);
    if (canonical != stack)
        free(canonical);
    if (rc != STORE_OK) {
        in->batch_error = rc;
        return;
    }
    ack->version = outcome->version;
    ack_set(ack, ACK_STATUS(ACCEPTED), ERROR_CODE(UNSPECIFIED), true, NULL);
}

/* Decides one frame: everything but the commit. authenticated is the partner the connection's
 * key belongs to, or NULL on a connection without CURVE. */
static void ingest_frame(ingest_t *in, pending_ack_t *ack, size_t len, const char *authenticated)
{
    const uint8_t *frame = in->frame;
    event_error_t err;
    Parcours__V1__Event *e = NULL;
    if (event_decode(frame, len, in->max_frame, &e, &err, ack->event_id) != 0) {
        ack_set(ack, ACK_STATUS(REJECTED), err.code, false, err.message);
        return;
    }
    ack->type = event_type(e);
    if (authenticated == NULL)
        snprintf(ack->partner_id, sizeof(ack->partner_id), "%s", e->partner_id);
    if (authenticated != NULL && strcmp(authenticated, e->partner_id) != 0) {
        char message[EVENT_MESSAGE_MAX];
        snprintf(message, sizeof(message),
                 "This connection is authenticated as partner %s; it may not send events as %s.",
                 authenticated, e->partner_id);
        ack_set(ack, ACK_STATUS(REJECTED), ERROR_CODE(NOT_AUTHORISED), false, message);
        goto done;
    }
    const partner_t *sender = partners_find(in->partners, e->partner_id);
    if (sender == NULL) {
        char message[EVENT_MESSAGE_MAX];
        snprintf(message, sizeof(message),
                 "Partner %s is not in this territory's partners file; ask the territory's "
                 "admin to declare it.",
                 e->partner_id);
        ack_set(ack, ACK_STATUS(REJECTED), ERROR_CODE(NOT_AUTHORISED), false, message);
        goto done;
    }
    if (ingest_batch(in) != 0)
        goto done; /* the ack becomes RETRY with the rest of the batch */

    uint64_t seq;
    int rc = store_batch_dedupe_find(in->batch, e->partner_id, e->event_id, &seq);
    if (rc == STORE_OK) {
        ack->seq = seq;
        ack_set(ack, ACK_STATUS(DUPLICATE), ERROR_CODE(UNSPECIFIED), true, NULL);
        goto done;
    }
    Parcours__V1__Pathway *current = NULL;
    if (rc == STORE_ENOTFOUND)
        rc = store_batch_pathway_get(in->batch, e->beneficiary_id, &current);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        in->batch_error = rc;
        goto done;
    }
    pathway_outcome_t outcome;
    rc = pathway_apply(current, e, sender, in->partners, &in->rules, &outcome);
    if (rc == 0)
        ingest_append(in, ack, e, &outcome);
    else if (rc == 1)
        ack_set(ack, ACK_STATUS(REJECTED), outcome.code, true, outcome.message);
    else
        in->batch_error = STORE_ENOMEM;
    pathway_outcome_clear(&outcome);
    if (current != NULL)
        parcours__v1__pathway__free_unpacked(current, NULL);
done:
    event_destroy(&e);
}

/* Receives one [identity, event] message into the next ack slot; false when none is waiting. */
static bool ingest_receive(ingest_t *in)
{
    pending_ack_t *ack = &in->acks[in->n_acks];
    memset(ack, 0, offsetof(pending_ack_t, message));
    ack->message[0] = '\0';
    int n = zmq_recv(in->socket, ack->identity, sizeof(ack->identity), ZMQ_DONTWAIT);
    if (n < 0)
        return false;
    clock_gettime(CLOCK_MONOTONIC, &ack->received);
    ack->identity_len = (size_t)n < sizeof(ack->identity) ? (size_t)n : sizeof(ack->identity);
    int more = 0;
    size_t more_len = sizeof(more);
    zmq_getsockopt(in->socket, ZMQ_RCVMORE, &more, &more_len);
    if (!more)
        return true; /* cannot happen with a ROUTER; nothing to answer */
    /* The frame comes as a message to read the partner its connection authenticated as. */
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int len = zmq_msg_recv(&msg, in->socket, 0);
    char authenticated[PARTNERS_ID_MAX + 1] = "";
    const char *user = len >= 0 ? zap_message_user(&msg) : NULL;
    if (user != NULL)
        snprintf(authenticated, sizeof(authenticated), "%s", user);
    snprintf(ack->partner_id, sizeof(ack->partner_id), "%s", authenticated);
    if (len >= 0)
        memcpy(in->frame, zmq_msg_data(&msg),
               (size_t)len <= in->max_frame ? (size_t)len : in->max_frame + 1);
    zmq_msg_close(&msg);
    zmq_getsockopt(in->socket, ZMQ_RCVMORE, &more, &more_len);
    bool extra = more;
    while (more) { /* a message of more than one frame: drop the rest */
        char sink[64];
        zmq_recv(in->socket, sink, sizeof(sink), 0);
        zmq_getsockopt(in->socket, ZMQ_RCVMORE, &more, &more_len);
    }
    in->n_acks++;
    if (len < 0)
        ack_set(ack, ACK_STATUS(RETRY), ERROR_CODE(UNAVAILABLE), false,
                "The daemon could not read the frame; send the event again.");
    else if (extra)
        ack_set(ack, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false,
                "Send each Event as a message of exactly one frame.");
    else
        ingest_frame(in, ack, (size_t)len, authenticated[0] ? authenticated : NULL);
    return true;
}

static void histogram_observe(ingest_histogram_t *h, const double *bounds, size_t n_bounds,
                              double value)
{
    size_t i = 0;
    while (i < n_bounds && value > bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += value;
}

static const double batch_size_bounds[] = INGEST_BATCH_SIZE_BOUNDS;
static const double seconds_bounds[] = INGEST_SECONDS_BOUNDS;
#define BOUNDS(b) (b), (sizeof(b) / sizeof((b)[0]))

/* Ends the pass's batch: commit, or turn its state-dependent acks into RETRY. */
static void ingest_commit(ingest_t *in)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool had_batch = in->batch != NULL;
    if (in->batch != NULL && in->batch_error == 0)
        in->batch_error = store_batch_commit(&in->batch);
    store_batch_abort(&in->batch);
    double ms = clock_elapsed_ms(&start);

    if (in->batch_error == 0) {
        if (!had_batch)
            return;
        if (in->n_acks > in->stats.batch_size_max)
            in->stats.batch_size_max = (uint32_t)in->n_acks;
        if (ms > in->stats.commit_ms_max)
            in->stats.commit_ms_max = ms;
        histogram_observe(&in->stats.batch_size, BOUNDS(batch_size_bounds), (double)in->n_acks);
        histogram_observe(&in->stats.commit_seconds, BOUNDS(seconds_bounds), ms / 1000.0);
        return;
    }
    bool full = in->batch_error == STORE_EFULL;
    log_warning("ingest: batch of %zu events not committed: %s; senders get RETRY", in->n_acks,
                store_strerror(in->batch_error));
    for (size_t i = 0; i < in->n_acks; i++) {
        pending_ack_t *ack = &in->acks[i];
        if (!ack->needs_commit && ack->status != 0)
            continue;
        ack->seq = ack->version = 0;
        ack_set(ack, ACK_STATUS(RETRY), full ? ERROR_CODE(STORAGE_FULL) : ERROR_CODE(UNAVAILABLE),
                false,
                full ? "The territory's store is full; nothing was applied. Send the event again "
                       "later."
                     : "The daemon could not commit; nothing was applied. Send the event again.");
    }
    in->batch_error = 0;
}

static void ingest_count(ingest_t *in, const pending_ack_t *ack)
{
    switch (ack->status) {
    case ACK_STATUS(ACCEPTED):
        in->stats.accepted++;
        if ((unsigned)ack->type < INGEST_CODES)
            in->stats.accepted_by_type[ack->type]++;
        break;
    case ACK_STATUS(DUPLICATE):
        in->stats.duplicate++;
        break;
    default:
        if (ack->status == ACK_STATUS(RETRY))
            in->stats.retried++;
        else
            in->stats.rejected++;
        if ((unsigned)ack->code < INGEST_CODES)
            in->stats.rejected_by_code[ack->code]++;
        if (ack->status == ACK_STATUS(REJECTED))
            log_info("rejected: partner %s event %s: %s: %s",
                     ack->partner_id[0] ? ack->partner_id : "?",
                     ack->event_id[0] ? ack->event_id : "?",
                     protobuf_c_enum_descriptor_get_value(&parcours__v1__error_code__descriptor,
                                                          (int)ack->code)
                         ->name,
                     ack->message);
        break;
    }
}

static void ingest_send_acks(ingest_t *in)
{
    uint8_t buf[EVENT_MESSAGE_MAX + 256];
    for (size_t i = 0; i < in->n_acks; i++) {
        const pending_ack_t *ack = &in->acks[i];
        ingest_count(in, ack);
        Parcours__V1__Ack msg = PARCOURS__V1__ACK__INIT;
        msg.event_id = (char *)ack->event_id;
        msg.status = ack->status;
        msg.seq = ack->seq;
        msg.version = ack->version;
        msg.code = ack->code;
        msg.message = (char *)ack->message;
        size_t len = parcours__v1__ack__pack(&msg, buf);
        /* A peer that left or stopped reading loses its acks; it re-sends after its timeout
         * and the dedupe answers DUPLICATE: nothing acknowledged is lost. */
        if (zmq_send(in->socket, ack->identity, ack->identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) <
                0 ||
            zmq_send(in->socket, buf, len, ZMQ_DONTWAIT) < 0)
            log_debug("ingest: ack for %s not sent: %s", ack->event_id, zmq_strerror(errno));
        else
            histogram_observe(&in->stats.ack_seconds, BOUNDS(seconds_bounds),
                              clock_elapsed_ms(&ack->received) / 1000.0);
    }
    in->n_acks = 0;
}

/* One pass: drain up to batch_max events, commit once, ack. zwatch calls it again if more
 * are waiting, after the loop has served the other sockets. */
static void ingest_on_readable(void *socket, void *ctx)
{
    (void)socket;
    ingest_t *in = ctx;
    while (!in->stopped && in->n_acks < in->batch_max && ingest_receive(in))
        ;
    if (in->n_acks == 0)
        return;
    uint64_t accepted = in->stats.accepted;
    ingest_commit(in);
    ingest_send_acks(in);
    if (in->stats.accepted != accepted && in->on_commit != NULL)
        in->on_commit(in->on_commit_ctx);
}

void ingest_on_commit(ingest_t *in, ingest_commit_fn fn, void *ctx)
{
    in->on_commit = fn;
    in->on_commit_ctx = ctx;
}

int ingest_new(struct event_base *base, void *zmq_context, store_t *store,
               const partners_t *partners, const ingest_options_t *options, ingest_t **out,
               char *err, size_t errlen)
{
    *out = NULL;
    ingest_t *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    in->store = store;
    in->partners = partners;
    in->batch_max = options->batch_max;
    in->max_frame = options->max_frame;
    in->rules = options->rules;
    in->frame = malloc(in->max_frame + 1);
    in->acks = calloc(in->batch_max, sizeof(pending_ack_t));
    in->socket = zmq_socket(zmq_context, ZMQ_ROUTER);
    if (in->frame == NULL || in->acks == NULL || in->socket == NULL) {
        snprintf(err, errlen, "cannot create the ingest socket: %s", zmq_strerror(errno));
        goto fail;
    }
    /* Frames far above max_frame close the connection inside libzmq; those up to this bound
     * reach us and get a TOO_LARGE ack that tells the partner what is wrong. */
    int64_t max_msg = (int64_t)(in->max_frame * 16 > 65536 ? in->max_frame * 16 : 65536);
    int mandatory = 1, hwm = INGEST_SNDHWM, linger = INGEST_LINGER_MS;
    if (zmq_setsockopt(in->socket, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0 ||
        zmq_setsockopt(in->socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof(mandatory)) != 0 ||
        zmq_setsockopt(in->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(in->socket, ZMQ_LINGER, &linger, sizeof(linger)) != 0) {
        snprintf(err, errlen, "cannot set ingest socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (options->secret_key != NULL &&
        zap_secure_socket(in->socket, ZAP_DOMAIN_INGEST, options->secret_key) != 0) {
        snprintf(err, errlen, "cannot set CURVE on the ingest socket: %s", zmq_strerror(errno));
        goto fail;
    }
    snprintf(in->endpoint, sizeof(in->endpoint), "%s", options->endpoint);
    if (zmq_bind(in->socket, options->endpoint) != 0) {
        snprintf(err, errlen, "cannot bind the ingest endpoint %s: %s", options->endpoint,
                 zmq_strerror(errno));
        goto fail;
    }
    in->watch = zwatch_new(base, in->socket, ingest_on_readable, in);
    if (in->watch == NULL) {
        snprintf(err, errlen, "cannot watch the ingest socket");
        goto fail;
    }
    *out = in;
    return 0;
fail:
    ingest_destroy(&in);
    return -1;
}

void ingest_set_partners(ingest_t *in, const partners_t *partners)
{
    in->partners = partners;
}

void ingest_stop(ingest_t *in)
{
    in->stopped = true;
    zwatch_pause(in->watch);
}

const ingest_stats_t *ingest_stats(const ingest_t *in)
{
    return &in->stats;
}

void ingest_destroy(ingest_t **in)
{
    if (in == NULL || *in == NULL)
        return;
    ingest_t *i = *in;
    zwatch_destroy(&i->watch);
    store_batch_abort(&i->batch);
    if (i->socket != NULL)
        zmq_close(i->socket);
    free(i->frame);
    free(i->acks);
    free(i);
    *in = NULL;
}

void ingest_rebind(ingest_t *in)
{
    if (zap_reauthenticate(in->socket, in->endpoint) != 0)
        log_error("ingest: cannot bind %s again: %s; partners cannot connect until a restart",
                  in->endpoint, zmq_strerror(errno));
}
