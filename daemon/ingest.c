/* ingest.c: the ingest ROUTER and group commit; each frame's decision is ingest_apply()'s. */
#include "ingest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "event_frame.h"
#include "ingest_apply.h"
#include "phase_counts.h"
#include "log.h"
#include "pathway.h"
#include "wire_names.h"
#include "router.h"
#include "zap.h"
#include "text.h"

#define INGEST_LINGER_MS 2000   /* how long closing may wait to flush the last acks */
#define INGEST_SNDHWM    100000 /* acks queued per peer before the peer is deemed stuck */

/* An ack waiting for its batch to commit: where it goes, and what ingest_apply decided (its
 * pointers already freed). */
typedef struct pending_ack {
    uint8_t identity[ROUTER_IDENTITY_MAX];
    size_t identity_len;
    struct timespec received; /* CLOCK_MONOTONIC, for the ack latency */
    ingest_decision_t d;
    /* An accepted event moves its pathway between the phase counts once its batch commits. */
    bool counted; /* it wrote a pathway (a move announced here writes none) */
    bool had_pathway;
    char old_territory[PARTNERS_TERRITORY_MAX + 1], new_territory[PARTNERS_TERRITORY_MAX + 1];
    Parcours__V1__Phase old_phase, new_phase;
} pending_ack_t;

struct ingest {
    router_t *router;
    store_t *store;
    const partners_t *partners;
    size_t batch_max;
    size_t max_frame;
    pathway_settings_t rules;
    uint8_t *frame;      /* max_frame + 1 bytes: a larger frame is seen, and refused, uncopied */
    pending_ack_t *acks; /* batch_max entries */
    size_t n_acks;
    ingest_context_t apply; /* the batch of one pass, and what ingest_apply needs */
    phase_counts_t *counts; /* the pathways per territory and phase, as committed */
    char endpoint[512];     /* as bound, to bind again */
    bool stopped;
    ingest_stats_t stats;
    ingest_commit_fn on_commit;
    void *on_commit_ctx;
    struct event *span_timer; /* commits the deferred batches when their span is due */
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
    ack->d.status = status;
    ack->d.code = code;
    ack->d.needs_commit = needs_commit;
    text_copy(ack->d.message, sizeof(ack->d.message), message);
}

/* Receives one [identity, event] message into the next ack slot; false when none is waiting. */
static bool ingest_receive(ingest_t *in)
{
    pending_ack_t *ack = &in->acks[in->n_acks];
    memset(ack, 0, sizeof(*ack));
    router_message_t m;
    if (!router_receive(in->router, &m, in->frame, in->max_frame + 1))
        return false;
    clock_gettime(CLOCK_MONOTONIC, &ack->received);
    memcpy(ack->identity, m.identity, m.identity_len);
    ack->identity_len = m.identity_len;
    if (!m.has_frame)
        return true; /* cannot happen with a ROUTER; nothing to answer */
    text_copy(ack->d.partner_id, sizeof(ack->d.partner_id), m.user);
    in->n_acks++;
    if (m.read_error)
        ack_set(ack, ACK_STATUS(RETRY), ERROR_CODE(UNAVAILABLE), false,
                "The daemon could not read the frame; send the event again.");
    else if (!router_identity_is_own(m.identity, m.identity_len))
        /* A routing id the client chose could be taken by another connection, which would
         * then be sent this one's acks. */
        ack_set(ack, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false,
                "Leave ZMQ_ROUTING_ID unset on the ingest socket: acks go to the connection "
                "libzmq names.");
    else if (m.extra_frames)
        ack_set(ack, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false,
                "Send each Event as a message of exactly one frame.");
    else {
        in->apply.partners = in->partners;
        ingest_apply(&in->apply, in->frame, m.len, m.user[0] ? m.user : NULL, &ack->d);
        const Parcours__V1__Pathway *before = ack->d.current, *after = ack->d.outcome.pathway;
        ack->counted = ack->d.status == ACK_STATUS(ACCEPTED) && after != NULL;
        if (ack->counted) {
            ack->had_pathway = before != NULL;
            if (before != NULL) {
                text_copy(ack->old_territory, sizeof(ack->old_territory), before->territory);
                ack->old_phase = before->phase;
            }
            text_copy(ack->new_territory, sizeof(ack->new_territory), after->territory);
            ack->new_phase = after->phase;
        }
        ingest_decision_clear(&ack->d);
    }
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

/* Ends the pass's batch: commit, or turn its state-dependent acks into RETRY. Returns true
 * when a batch holding accepted events committed: the deliveries then have entries to send. */
static bool ingest_commit(ingest_t *in)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool had_batch = in->apply.batch != NULL;
    if (in->apply.batch != NULL && in->apply.batch_error == 0)
        in->apply.batch_error = store_batch_commit(&in->apply.batch);
    store_batch_abort(&in->apply.batch);
    double ms = clock_elapsed_ms(&start);

    if (in->apply.batch_error == 0) {
        if (!had_batch)
            return false;
        bool appended = false;
        for (size_t i = 0; i < in->n_acks; i++) {
            const pending_ack_t *ack = &in->acks[i];
            if (ack->d.status != ACK_STATUS(ACCEPTED))
                continue;
            appended = true;
            if (ack->counted &&
                phase_counts_move(in->counts, ack->had_pathway ? ack->old_territory : NULL,
                                  ack->old_phase, ack->new_territory, ack->new_phase) != 0)
                log_warning("ingest: out of memory counting pathways per phase; the counts of "
                            "status and /metrics are short until a restart");
        }
        if (in->n_acks > in->stats.batch_size_max)
            in->stats.batch_size_max = (uint32_t)in->n_acks;
        if (ms > in->stats.commit_ms_max)
            in->stats.commit_ms_max = ms;
        histogram_observe(&in->stats.batch_size, BOUNDS(batch_size_bounds), (double)in->n_acks);
        histogram_observe(&in->stats.commit_seconds, BOUNDS(seconds_bounds), ms / 1000.0);
        return appended;
    }
    bool full = in->apply.batch_error == STORE_EFULL;
    /* An unusable store is said once, by the daemon (store_on_unusable), not per batch. */
    if (in->apply.batch_error != STORE_EPANIC)
        log_warning("ingest: batch of %zu events not committed: %s; senders get RETRY", in->n_acks,
                    store_strerror(in->apply.batch_error));
    for (size_t i = 0; i < in->n_acks; i++) {
        pending_ack_t *ack = &in->acks[i];
        if (!ack->d.needs_commit && ack->d.status != 0)
            continue;
        ack->d.seq = ack->d.version = 0;
        ack_set(ack, ACK_STATUS(RETRY), full ? ERROR_CODE(STORAGE_FULL) : ERROR_CODE(UNAVAILABLE),
                false,
                full ? "The territory's store is full; nothing was applied. Send the event again "
                       "later."
                     : "The daemon could not commit; nothing was applied. Send the event again.");
    }
    in->apply.batch_error = 0;
    return false;
}

static void ingest_count(ingest_t *in, const pending_ack_t *ack)
{
    switch (ack->d.status) {
    case ACK_STATUS(ACCEPTED):
        in->stats.accepted++;
        if ((unsigned)ack->d.type < INGEST_CODES)
            in->stats.accepted_by_type[ack->d.type]++;
        break;
    case ACK_STATUS(DUPLICATE):
        in->stats.duplicate++;
        break;
    default:
        if (ack->d.status == ACK_STATUS(RETRY))
            in->stats.retried++;
        else
            in->stats.rejected++;
        if ((unsigned)ack->d.code < INGEST_CODES)
            in->stats.rejected_by_code[ack->d.code]++;
        if (ack->d.status == ACK_STATUS(REJECTED))
            log_info("rejected: partner %s event %s: %s: %s",
                     ack->d.partner_id[0] ? ack->d.partner_id : "?",
                     ack->d.event_id[0] ? ack->d.event_id : "?",
                     protobuf_c_enum_descriptor_get_value(&parcours__v1__error_code__descriptor,
                                                          (int)ack->d.code)
                         ->name,
                     ack->d.message);
        break;
    }
}

static void ingest_send_acks(ingest_t *in)
{
    uint8_t buf[EVENT_MESSAGE_MAX + 256];
    unsigned full = 0, gone = 0;
    for (size_t i = 0; i < in->n_acks; i++) {
        const pending_ack_t *ack = &in->acks[i];
        ingest_count(in, ack);
        Parcours__V1__Ack msg = PARCOURS__V1__ACK__INIT;
        msg.event_id = (char *)ack->d.event_id;
        msg.status = ack->d.status;
        msg.seq = ack->d.seq;
        msg.version = ack->d.version;
        msg.code = ack->d.code;
        msg.message = (char *)ack->d.message;
        size_t len = parcours__v1__ack__pack(&msg, buf);
        /* A peer that left or stopped reading loses its acks; it re-sends after its timeout
         * and the dedupe answers DUPLICATE: nothing acknowledged is lost. Such acks are
         * counted apart, never as sent. */
        int rc = router_send(in->router, ack->identity, ack->identity_len, buf, len);
        if (rc == 0) {
            histogram_observe(&in->stats.ack_seconds, BOUNDS(seconds_bounds),
                              clock_elapsed_ms(&ack->received) / 1000.0);
        } else {
            in->stats.acks_unsent++;
            if (rc == EAGAIN)
                full++;
            else
                gone++;
        }
    }
    if (full > 0 || gone > 0)
        log_warning("ingest: %u acks not sent: %u to connections whose queue is full (%d acks), "
                    "%u to connections gone; their senders will send the events again",
                    full + gone, full, INGEST_SNDHWM, gone);
    in->n_acks = 0;
}

/* Arms the span timer for when the open span is due, unless it is armed already. */
static void ingest_span_schedule(ingest_t *in)
{
    int due = store_span_due(in->store);
    if (due < 0 || evtimer_pending(in->span_timer, NULL))
        return;
    struct timeval tv = {due / 1000, (due % 1000) * 1000};
    evtimer_add(in->span_timer, &tv);
}

/* The batches a pass acked are durable, but the delivery thread sees them once their span is
 * committed (store_batch_defer): by the next pass's commit when the load goes on, by this timer
 * when it stops. The deliveries are woken then. */
static void ingest_on_span_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ingest_t *in = arg;
    if (store_span_due(in->store) > 0) {
        ingest_span_schedule(in); /* a younger span than the one the timer was armed for */
        return;
    }
    /* A full disk keeps the span open, to be tried again when it is due (store.h); a store
     * that stopped is said by the daemon (store_on_unusable). */
    if (store_span_commit(in->store) == STORE_EFULL)
        ingest_span_schedule(in);
    if (in->on_commit != NULL)
        in->on_commit(in->on_commit_ctx);
}

/* One pass: drain up to batch_max events, commit once, ack. The router calls it again if more
 * are waiting, after the loop has served the other sockets. */
static void ingest_on_readable(router_t *r, void *ctx)
{
    (void)r;
    ingest_t *in = ctx;
    in->apply.committed_at = clock_realtime_ms();
    while (!in->stopped && in->n_acks < in->batch_max && ingest_receive(in))
        ;
    if (in->n_acks == 0)
        return;
    bool appended = ingest_commit(in);
    ingest_send_acks(in);
    ingest_span_schedule(in);
    if (appended && in->on_commit != NULL)
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
    in->apply = (ingest_context_t){
        .store = store, .partners = partners, .rules = &in->rules, .max_frame = in->max_frame};
    int rc = phase_counts_load(store, &in->counts);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot count the pathways of the store: %s", store_strerror(rc));
        goto fail;
    }
    in->frame = malloc(in->max_frame + 1);
    in->acks = calloc(in->batch_max, sizeof(pending_ack_t));
    in->span_timer = evtimer_new(base, ingest_on_span_due, in);
    if (in->frame == NULL || in->acks == NULL || in->span_timer == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Frames far above max_frame close the connection inside libzmq; those up to this bound
     * reach us and get a TOO_LARGE ack that tells the partner what is wrong. */
    router_options_t o = {
        .name = "ingest",
        .endpoint = options->endpoint,
        .secret_key = options->secret_key,
        .zap_domain = ZAP_DOMAIN_INGEST,
        .zap = options->zap,
        .max_message = (int64_t)(in->max_frame * 16 > 65536 ? in->max_frame * 16 : 65536),
        .send_hwm = INGEST_SNDHWM,
        .linger_ms = INGEST_LINGER_MS,
        .mandatory = true,
    };
    if (router_new(base, zmq_context, &o, ingest_on_readable, in, &in->router, err, errlen) != 0)
        goto fail;
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
    router_pause(in->router);
}

const ingest_stats_t *ingest_stats(const ingest_t *in)
{
    return &in->stats;
}

void ingest_pathway_destroyed(ingest_t *in, const Parcours__V1__Pathway *pathway)
{
    if (pathway != NULL && pathway->territory != NULL)
        phase_counts_remove(in->counts, pathway->territory, pathway->phase);
}

const phase_counts_t *ingest_phase_counts(const ingest_t *in)
{
    return in->counts;
}

void ingest_destroy(ingest_t **in)
{
    if (in == NULL || *in == NULL)
        return;
    ingest_t *i = *in;
    router_destroy(&i->router);
    if (i->span_timer != NULL)
        event_free(i->span_timer);
    store_batch_abort(&i->apply.batch);
    phase_counts_destroy(&i->counts);
    free(i->frame);
    free(i->acks);
    free(i);
    *in = NULL;
}

void ingest_rebind(ingest_t *in)
{
    router_rebind(in->router);
}
