/* ingest_apply.c: one Event frame from its bytes to its ack decision (see ingest_apply.h). */
#include "ingest_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "stats.h"
#include "wire_names.h"
#include "wire.h"
#include "text.h"

static void decide(ingest_decision_t *d, Parcours__V1__AckStatus status,
                   Parcours__V1__ErrorCode code, bool needs_commit, const char *message)
{
    d->status = status;
    d->code = code;
    d->needs_commit = needs_commit;
    text_copy(d->message, sizeof(d->message), message);
}

/* The pass's batch, opened on first need; NULL once it failed. */
static store_batch_t *context_batch(ingest_context_t *ctx)
{
    if (ctx->batch == NULL && ctx->batch_error == 0) {
        int rc = store_batch_begin(ctx->store, ctx->committed_at, &ctx->batch);
        if (rc != STORE_OK)
            ctx->batch_error = rc;
        /* Acked once durable; seen by the other threads at the span's commit (ingest.c). */
        store_batch_defer(ctx->batch);
    }
    return ctx->batch_error == 0 ? ctx->batch : NULL;
}

size_t ingest_deadlines(const Parcours__V1__Pathway *pathway, const pathway_settings_t *rules,
                        store_deadline_t out[DEADLINE_KINDS])
{
    pathway_settings_t defaults;
    if (rules == NULL) {
        pathway_settings_default(&defaults);
        rules = &defaults;
    }
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(pathway, &rules->deadlines, due);
    for (size_t i = 0; i < n; i++)
        out[i] = (store_deadline_t){(int)due[i].kind, due[i].due_at, due[i].since};
    return n;
}

int ingest_stats_count(store_batch_t *batch, const Parcours__V1__Pathway *before,
                       const Parcours__V1__Pathway *after, const Parcours__V1__Event *event)
{
    stats_key_t keys[STATS_PER_EVENT];
    size_t n = stats_of_event(before, after, event, keys);
    int rc = STORE_OK;
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        rc = store_batch_stats_add(batch, keys[i].text, keys[i].len, 1);
    return rc;
}

/* Appends an accepted event to the batch. The log holds the canonical encoding of the event as
 * it was decoded and checked, never the frame received: a payload the frame superseded, or any
 * byte the checks did not see, reaches neither the store nor a partner. */
static void append(ingest_context_t *ctx, ingest_decision_t *d)
{
    const pathway_outcome_t *o = &d->outcome;
    uint8_t stack[EVENT_FRAME_MAX];
    uint8_t *canonical = NULL;
    size_t len = event_pack(d->event, &canonical, stack, sizeof(stack));
    if (canonical == NULL) {
        ctx->batch_error = STORE_ENOMEM;
        return;
    }
    store_deadline_t deadlines[DEADLINE_KINDS], before[DEADLINE_KINDS];
    store_event_t se = {
        .raw = canonical,
        .raw_len = len,
        .type = d->type,
        .occurred_at = d->event->occurred_at,
        .partner_id = d->event->partner_id,
        .event_id = d->event->event_id,
        .beneficiary_id = d->event->beneficiary_id,
        .pathway = o->pathway,
        .recipients = o->recipients,
        .n_recipients = o->n_recipients,
        .old_deadlines = before,
        .n_old_deadlines = ingest_deadlines(d->current, ctx->rules, before),
        .deadlines = deadlines,
        .n_deadlines = ingest_deadlines(o->pathway, ctx->rules, deadlines),
    };
    int rc = store_batch_append(ctx->batch, &se, &d->seq);
    if (rc == STORE_OK)
        rc = ingest_stats_count(ctx->batch, d->current, o->pathway, d->event);
    if (canonical != stack)
        free(canonical);
    if (rc != STORE_OK) {
        ctx->batch_error = rc;
        return;
    }
    d->version = o->version;
    decide(d, ACK_STATUS(ACCEPTED), ERROR_CODE(UNSPECIFIED), true, NULL);
}

/* --- Moves between territories (daemon/rules/transfer.h) ---------------------------------------
 */

/* Appends a TransferAnnounced, an event of no pathway kept as a notice (store.h), told to
 * recipients. 0, or the store's error (the batch is then dead). */
static int transfer_append(store_batch_t *batch, const Parcours__V1__Event *event,
                           const char *const *recipients, size_t n_recipients, int64_t keep_until,
                           uint64_t *seq)
{
    uint8_t stack[EVENT_FRAME_MAX];
    uint8_t *canonical = NULL;
    size_t len = event_pack(event, &canonical, stack, sizeof stack);
    if (canonical == NULL)
        return STORE_ENOMEM;
    store_event_t se = {
        .raw = canonical,
        .raw_len = len,
        .type = EVENT_TYPE(TRANSFER_ANNOUNCED),
        .occurred_at = event->occurred_at,
        .partner_id = event->partner_id,
        .event_id = event->event_id,
        .beneficiary_id = event->beneficiary_id,
        .recipients = recipients,
        .n_recipients = n_recipients,
    };
    int rc = store_batch_notice_append(batch, &se, keep_until, seq);
    if (canonical != stack)
        free(canonical);
    return rc;
}

/* The reference of a move's exit: the territory, then a keyed hash of who sent the exit and its
 * event_id (the same exit, the same reference, on any recomputation: it is in the stored event),
 * under the store's key, so that nobody computes it from the person. */
static void transfer_reference_of(ingest_context_t *ctx, const Parcours__V1__Event *e,
                                  const char *territory, char out[TRANSFER_REFERENCE_MAX + 1])
{
    char input[16 + 2 * EVENT_ID_MAX];
    snprintf(input, sizeof input, "transfer %s %s", e->partner_id, e->event_id);
    uint8_t hash[STORE_HASH_SIZE];
    store_id_hash(ctx->store, input, hash);
    transfer_reference_make(territory, hash, out);
}

static int transfer_reference_fill(ingest_context_t *ctx, ingest_decision_t *d)
{
    transfer_reference_of(ctx, d->event, d->current->territory, d->transfer_reference);
    return wire_string_set(&d->event->pathway_exited->transfer_reference, d->transfer_reference);
}

/* An exit that comes with a reference (a notification sent back as it came) must carry the one
 * the daemon writes for it. Only the part after the territory is compared, which depends on the
 * event alone, so that the answer tells nothing of the pathway; the daemon's territory is what
 * is stored. */
static bool transfer_reference_given_right(ingest_context_t *ctx, const Parcours__V1__Event *e)
{
    const char *given = e->pathway_exited->transfer_reference;
    if (given[0] == '\0')
        return true;
    char expected[TRANSFER_REFERENCE_MAX + 1];
    transfer_reference_of(ctx, e, "0", expected);
    return strcmp(strchr(given, ':'), strchr(expected, ':')) == 0;
}

/* After a move's exit: parcoursd's own TransferAnnounced, told to the territory's bridges that
 * serve its destination (the rules refused a destination none serves), and kept [transfers]
 * claim_days after, so that a bridge may send it again to a destination restored from a backup
 * (docs/transfers.md). */
static void transfer_hand_over(ingest_context_t *ctx, ingest_decision_t *d)
{
    const Parcours__V1__Pathway *p = d->outcome.pathway;
    pathway_outcome_t bridges = {0};
    if (transfer_bridges(p->territory, p->exit->destination_territory, ctx->partners, &bridges) !=
        0) {
        ctx->batch_error = STORE_ENOMEM;
        return;
    }
    Parcours__V1__Transfer t = PARCOURS__V1__TRANSFER__INIT;
    t.reference = d->transfer_reference;
    t.origin_territory = p->territory;
    t.destination_territory = p->exit->destination_territory;
    t.moved_at = d->event->occurred_at;
    Parcours__V1__TransferAnnounced announced = PARCOURS__V1__TRANSFER_ANNOUNCED__INIT;
    announced.transfer = &t;
    Parcours__V1__Event event = PARCOURS__V1__EVENT__INIT;
    event.event_id = d->transfer_reference;
    event.partner_id = PARTNERS_DAEMON_ID;
    event.beneficiary_id = d->transfer_reference;
    event.occurred_at = d->event->occurred_at;
    event.payload_case = PAYLOAD(TRANSFER_ANNOUNCED);
    event.transfer_announced = &announced;
    int64_t claim_ms = ctx->rules != NULL && ctx->rules->transfer_claim_ms > 0
                           ? ctx->rules->transfer_claim_ms
                           : PATHWAY_TRANSFER_CLAIM_MS;
    int rc = transfer_append(ctx->batch, &event, bridges.recipients, bridges.n_recipients,
                             ctx->committed_at + claim_ms, NULL);
    if (rc != STORE_OK)
        ctx->batch_error = rc == STORE_EEXIST ? STORE_ECORRUPT : rc;
    pathway_outcome_clear(&bridges);
}

int ingest_transfer_withdraw(store_batch_t *batch, const char *reference)
{
    uint64_t seq;
    int rc = store_batch_dedupe_find(batch, PARTNERS_DAEMON_ID, reference, &seq);
    if (rc == STORE_OK)
        rc = store_batch_notice_withdraw(batch, seq);
    return rc == STORE_ENOTFOUND ? STORE_OK : rc;
}

/* A bridge's TransferAnnounced: judged (transfer_announce), kept as a notice for the
 * territory's DEPARTEMENT, and recorded for the registration that will claim it. A move this
 * daemon has already, in any state, is a DUPLICATE of its first announcement, whichever bridge
 * sends it: none is held up by it, and none learns whether it was claimed. */
static void transfer_receive(ingest_context_t *ctx, store_batch_t *batch, ingest_decision_t *d)
{
    const Parcours__V1__Transfer *t = d->event->transfer_announced->transfer;
    store_transfer_t recorded;
    int rc = store_batch_transfer_get(batch, t->reference, &recorded);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        ctx->batch_error = rc;
        return;
    }
    bool known = rc == STORE_OK;
    bool same = known && recorded.moved_at == t->moved_at &&
                strcmp(recorded.territory, t->destination_territory) == 0;
    int judged = transfer_announce(d->event, d->sender, ctx->partners, known && !same, &d->outcome);
    d->applied = true;
    if (judged == 1) {
        decide(d, ACK_STATUS(REJECTED), d->outcome.code, true, d->outcome.message);
        return;
    }
    if (judged != 0) {
        ctx->batch_error = STORE_ENOMEM;
        return;
    }
    if (known) {
        pathway_outcome_clear(&d->outcome);
        d->applied = false;
        d->seq = recorded.seq;
        decide(d, ACK_STATUS(DUPLICATE), ERROR_CODE(UNSPECIFIED), true, NULL);
        return;
    }
    rc = transfer_append(batch, d->event, d->outcome.recipients, d->outcome.n_recipients, 0,
                         &d->seq);
    if (rc == STORE_OK) {
        recorded = (store_transfer_t){
            .seq = d->seq, .moved_at = t->moved_at, .announced_at = ctx->committed_at};
        snprintf(recorded.territory, sizeof recorded.territory, "%s", t->destination_territory);
        rc = store_batch_transfer_put(batch, t->reference, &recorded);
    }
    if (rc != STORE_OK) {
        ctx->batch_error = rc == STORE_EEXIST ? STORE_ECORRUPT : rc;
        return;
    }
    decide(d, ACK_STATUS(ACCEPTED), ERROR_CODE(UNSPECIFIED), true, NULL);
}

/* A registration that names a move: the move must be announced to the registration's territory
 * and not yet claimed. Judged after the registration's checks of the sender alone (the same
 * refusals the rules give, first), so that only a partner that may register learns anything of
 * the move, and before anything of the pathway is read, so that the answer is the same whatever
 * the pathway's state (docs/domain.md, "No oracle"). 0: go on; 1: refused (d is decided); -1:
 * the batch is dead. */
static int transfer_claim_check(ingest_context_t *ctx, store_batch_t *batch, ingest_decision_t *d)
{
    /* Its refusals are the rules' (the outcome holds nothing to free either way). */
    const char *territory = NULL;
    if (pathway_registration_sender_check(d->event, d->sender, ctx->partners, &d->outcome,
                                          &territory) != 0) {
        d->applied = true;
        decide(d, ACK_STATUS(REJECTED), d->outcome.code, true, d->outcome.message);
        return 1;
    }
    store_transfer_t t;
    int rc =
        store_batch_transfer_get(batch, d->event->beneficiary_registered->origin_reference, &t);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        ctx->batch_error = rc;
        return -1;
    }
    if (rc == STORE_OK && t.state == STORE_TRANSFER_OPEN && strcmp(territory, t.territory) == 0)
        return 0;
    /* A rule of the registration, decided here because it reads the store: the outcome says it
     * as the rules' own rejections do. */
    d->applied = true;
    d->outcome.code = ERROR_CODE(INVALID_TRANSITION);
    text_copy(d->outcome.message, sizeof d->outcome.message,
              "beneficiary_registered.origin_reference names no move announced to this territory "
              "that is still to claim (it may have been claimed already): check the reference "
              "with the territory's departement, or register the person without it.");
    decide(d, ACK_STATUS(REJECTED), d->outcome.code, true, d->outcome.message);
    return 1;
}

/* --- Rectification ---------------------------------------------------------------------------- */

/* A beneficiary's standing events, read from the batch, and the one a retraction names. */
typedef struct history_load {
    const char *sender;       /* the retraction's sender */
    const char *retracted_id; /* the event_id it names */
    Parcours__V1__Event **events;
    size_t n, cap;
    size_t retracted; /* n until found */
    uint64_t retracted_seq;
    int error;
} history_load_t;

static int history_visit(const store_log_entry_t *entry, void *ctx)
{
    history_load_t *h = ctx;
    if (entry->kind != STORE_LOG_EVENT || entry->raw_len == 0)
        return 0; /* retracted or erased: it stands no more */
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        Parcours__V1__Event **events = realloc(h->events, cap * sizeof(*events));
        if (events == NULL) {
            h->error = STORE_ENOMEM;
            return 1;
        }
        h->events = events;
        h->cap = cap;
    }
    /* The log holds only canonical encodings of events that passed the boundary. */
    Parcours__V1__Event *e = parcours__v1__event__unpack(NULL, entry->raw_len, entry->raw);
    if (e == NULL) {
        h->error = STORE_ECORRUPT;
        return 1;
    }
    if (h->retracted_seq == 0 && strcmp(e->partner_id, h->sender) == 0 &&
        strcmp(e->event_id, h->retracted_id) == 0) {
        h->retracted = h->n;
        h->retracted_seq = entry->seq;
    }
    h->events[h->n++] = e;
    return 0;
}

static void history_clear(history_load_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        parcours__v1__event__free_unpacked(h->events[i], NULL);
    free(h->events);
}

/* The partners told of the retracted event, as the directory names them (one no longer in it
 * is told nothing more). */
typedef struct told_load {
    const partners_t *directory;
    const char **ids;
    size_t n, cap;
} told_load_t;

static int told_visit(const char *partner_id, uint64_t partner_seq, void *ctx)
{
    (void)partner_seq;
    told_load_t *t = ctx;
    const partner_t *partner = partners_find(t->directory, partner_id);
    if (partner == NULL)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        const char **ids = realloc(t->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return STORE_ENOMEM;
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = partner->id;
    return 0;
}

/*
 * An EventRetracted: the person's standing events and the partners told of the one it names are
 * read from the batch, the rules recompute the pathway (pathway_retract), and an accepted
 * retraction is appended with the retracted seq filled in, then the retracted event becomes a
 * tombstone: what it said is no longer sent, to anyone, on any replay.
 */
static void retract(ingest_context_t *ctx, store_batch_t *batch, ingest_decision_t *d)
{
    Parcours__V1__Event *e = d->event;
    history_load_t h = {.sender = e->partner_id,
                        .retracted_id = e->event_retracted->retracted_event_id};
    told_load_t told = {.directory = ctx->partners};
    int rc = STORE_OK;
    /* A sender that may not see the pathway gets the blind sentence from the rules, which need
     * no history for it: the person's events are not even read. */
    if (d->current != NULL && pathway_visible_to(d->current, d->sender)) {
        rc = store_batch_history(batch, e->beneficiary_id, history_visit, &h);
        if (rc == STORE_OK)
            rc = h.error;
    }
    if (h.retracted_seq == 0)
        h.retracted = h.n;
    else if (rc == STORE_OK)
        rc = store_batch_log_told(batch, h.retracted_seq, told_visit, &told);
    if (rc != STORE_OK) {
        ctx->batch_error = rc;
    } else {
        pathway_history_t history = {(const Parcours__V1__Event *const *)h.events,
                                     h.n,
                                     h.retracted,
                                     h.retracted_seq,
                                     told.ids,
                                     told.n};
        rc = pathway_retract(d->current, e, d->sender, ctx->partners, ctx->rules, &history,
                             &d->outcome);
        d->applied = true;
        if (rc == 0) {
            e->event_retracted->retracted_seq = h.retracted_seq;
            append(ctx, d);
            if (ctx->batch_error == 0 &&
                (rc = store_batch_withdraw(batch, h.retracted_seq)) != STORE_OK)
                ctx->batch_error = rc == STORE_ENOTFOUND ? STORE_ECORRUPT : rc;
            /* A move taken back: its announcement goes too, if no bridge has it yet. */
            const Parcours__V1__Event *r = h.events[h.retracted];
            if (ctx->batch_error == 0 && r->payload_case == PAYLOAD(PATHWAY_EXITED) &&
                r->pathway_exited->transfer_reference[0] != '\0' &&
                (rc = ingest_transfer_withdraw(batch, r->pathway_exited->transfer_reference)) !=
                    STORE_OK)
                ctx->batch_error = rc;
        } else if (rc == 1) {
            decide(d, ACK_STATUS(REJECTED), d->outcome.code, true, d->outcome.message);
        } else {
            ctx->batch_error = STORE_ENOMEM;
        }
    }
    free(told.ids);
    history_clear(&h);
}

void ingest_apply(ingest_context_t *ctx, const uint8_t *frame, size_t len,
                  const char *authenticated, ingest_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    if (authenticated != NULL)
        text_copy(out->partner_id, sizeof(out->partner_id), authenticated);
    event_error_t err;
    if (event_decode(frame, len, ctx->max_frame, &out->event, &err, out->event_id) != 0) {
        decide(out, ACK_STATUS(REJECTED), err.code, false, err.message);
        return;
    }
    const Parcours__V1__Event *e = out->event;
    out->type = event_type(e);
    if (authenticated == NULL)
        text_copy(out->partner_id, sizeof(out->partner_id), e->partner_id);
    char message[EVENT_MESSAGE_MAX];
    /* A date ahead of the daemon's clock is a sender's clock gone wrong: stored, it would order
     * the pathway's facts falsely for every partner. Checked on the frame alone, before any
     * state is read, so that the answer tells nothing of the store. */
    int64_t skew = ctx->rules != NULL ? ctx->rules->clock_skew_ms : 0;
    if (skew > 0 && e->occurred_at > ctx->committed_at + skew) {
        snprintf(message, sizeof(message),
                 "occurred_at is %" PRId64 " s ahead of the daemon's clock, more than the %" PRId64
                 " s allowed ([rules] clock_skew): check the sending system's clock.",
                 (e->occurred_at - ctx->committed_at) / 1000, skew / 1000);
        decide(out, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false, message);
        return;
    }
    /* The same for the notification of an orientation, which has happened when it is sent: a
     * date ahead (a value in microseconds, say) would put its deadlines out of reach. */
    if (skew > 0 && e->payload_case == PAYLOAD(ORIENTATION_DECIDED) &&
        e->orientation_decided->notified_at > ctx->committed_at + skew) {
        snprintf(message, sizeof(message),
                 "orientation_decided.notified_at is %" PRId64 " s ahead of the daemon's clock, "
                 "more than the %" PRId64 " s allowed ([rules] clock_skew): it is when the person "
                 "was notified, in unix milliseconds.",
                 (e->orientation_decided->notified_at - ctx->committed_at) / 1000, skew / 1000);
        decide(out, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false, message);
        return;
    }
    if (authenticated != NULL && strcmp(authenticated, e->partner_id) != 0) {
        snprintf(message, sizeof(message),
                 "This connection is authenticated as partner %s; it may not send events as %s.",
                 authenticated, e->partner_id);
        decide(out, ACK_STATUS(REJECTED), ERROR_CODE(NOT_AUTHORISED), false, message);
        return;
    }
    out->sender = partners_find(ctx->partners, e->partner_id);
    if (out->sender == NULL) {
        snprintf(message, sizeof(message),
                 "Partner %s is not in this territory's partners file; ask the territory's "
                 "admin to declare it.",
                 e->partner_id);
        decide(out, ACK_STATUS(REJECTED), ERROR_CODE(NOT_AUTHORISED), false, message);
        return;
    }
    if (out->type == EVENT_TYPE(PATHWAY_EXITED) && !transfer_reference_given_right(ctx, e)) {
        decide(out, ACK_STATUS(REJECTED), ERROR_CODE(MALFORMED), false,
               "pathway_exited.transfer_reference is written by the daemon: leave it empty, or "
               "give the one it wrote for this event.");
        return;
    }
    store_batch_t *batch = context_batch(ctx);
    if (batch == NULL)
        return; /* RETRY with the rest of the batch */
    uint64_t seq;
    int rc = store_batch_dedupe_find(batch, e->partner_id, e->event_id, &seq);
    if (rc == STORE_OK) {
        out->seq = seq;
        decide(out, ACK_STATUS(DUPLICATE), ERROR_CODE(UNSPECIFIED), true, NULL);
        return;
    }
    if (rc == STORE_ENOTFOUND && out->type == EVENT_TYPE(TRANSFER_ANNOUNCED)) {
        transfer_receive(ctx, batch, out); /* a move names no pathway */
        return;
    }
    if (rc == STORE_ENOTFOUND && out->type == EVENT_TYPE(BENEFICIARY_REGISTERED) &&
        e->beneficiary_registered->origin_reference[0] != '\0' &&
        transfer_claim_check(ctx, batch, out) != 0)
        return;
    if (rc == STORE_ENOTFOUND)
        rc = store_batch_pathway_get(batch, e->beneficiary_id, &out->current);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        ctx->batch_error = rc;
        return;
    }
    if (out->type == EVENT_TYPE(EVENT_RETRACTED)) {
        retract(ctx, batch, out);
        return;
    }
    bool move = out->type == EVENT_TYPE(PATHWAY_EXITED) &&
                e->pathway_exited->reason == PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED &&
                e->pathway_exited->destination_territory[0] != '\0' && out->current != NULL;
    if (move && transfer_reference_fill(ctx, out) != 0) {
        ctx->batch_error = STORE_ENOMEM;
        return;
    }
    rc = pathway_apply(out->current, e, out->sender, ctx->partners, ctx->rules, &out->outcome);
    out->applied = true;
    if (rc == 0) {
        append(ctx, out);
        if (ctx->batch_error == 0 && move)
            transfer_hand_over(ctx, out);
        if (ctx->batch_error == 0 && out->type == EVENT_TYPE(BENEFICIARY_REGISTERED) &&
            e->beneficiary_registered->origin_reference[0] != '\0' &&
            (rc = store_batch_transfer_claim(batch, e->beneficiary_registered->origin_reference)) !=
                STORE_OK)
            ctx->batch_error = rc == STORE_ENOTFOUND ? STORE_ECORRUPT : rc;
    } else if (rc == 1)
        decide(out, ACK_STATUS(REJECTED), out->outcome.code, true, out->outcome.message);
    else
        ctx->batch_error = STORE_ENOMEM;
}

void ingest_decision_clear(ingest_decision_t *d)
{
    event_destroy(&d->event);
    if (d->current != NULL)
        parcours__v1__pathway__free_unpacked(d->current, NULL);
    d->current = NULL;
    if (d->applied)
        pathway_outcome_clear(&d->outcome);
    d->applied = false;
}
