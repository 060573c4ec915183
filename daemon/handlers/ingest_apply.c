/* ingest_apply.c: one Event frame from its bytes to its ack decision (see ingest_apply.h). */
#include "ingest_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_names.h"
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
    }
    return ctx->batch_error == 0 ? ctx->batch : NULL;
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
    };
    int rc = store_batch_append(ctx->batch, &se, &d->seq);
    if (canonical != stack)
        free(canonical);
    if (rc != STORE_OK) {
        ctx->batch_error = rc;
        return;
    }
    d->version = o->version;
    decide(d, ACK_STATUS(ACCEPTED), ERROR_CODE(UNSPECIFIED), true, NULL);
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
    if (rc == STORE_ENOTFOUND)
        rc = store_batch_pathway_get(batch, e->beneficiary_id, &out->current);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        ctx->batch_error = rc;
        return;
    }
    rc = pathway_apply(out->current, e, out->sender, ctx->partners, ctx->rules, &out->outcome);
    out->applied = true;
    if (rc == 0)
        append(ctx, out);
    else if (rc == 1)
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
