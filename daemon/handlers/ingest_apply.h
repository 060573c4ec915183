/*
 * ingest_apply.h: what parcoursd decides for one Event frame, with no socket in sight.
 *
 * ingest.c receives frames from its ROUTER and sends the acks; everything between a received
 * frame and its ack decision is here, and the fuzz target and the tests call the same function,
 * so that what they check is the daemon's own code: the boundary (event_decode), the sender
 * (its key, the partners file), the dedupe record, the current pathway, the rules
 * (pathway_apply), and for an accepted event its canonical encoding appended to the batch with
 * its recipients. The batch opens on first need; committing it is the caller's.
 */
#ifndef PARCOURS_INGEST_APPLY_H
#define PARCOURS_INGEST_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_frame.h"
#include "partners.h"
#include "pathway.h"
#include "store.h"
#include "transfer.h"

/* Where frames are applied: owned by the caller, which sets every field but batch and
 * batch_error before a pass, and commits or aborts the batch after it. */
typedef struct ingest_context {
    store_t *store;
    store_batch_t *batch;       /* NULL until a frame needs it; then the pass's batch */
    int batch_error;            /* the store error that killed the batch, or 0 */
    int64_t committed_at;       /* unix ms stamped on the batch when it opens */
    const partners_t *partners; /* the directory in force */
    const pathway_settings_t *rules;
    size_t max_frame; /* the largest frame accepted */
} ingest_context_t;

/* The decision for one frame, and what it was decided from (for the tests and the fuzz
 * target, which check it): all of it is valid until ingest_decision_clear(). */
typedef struct ingest_decision {
    char event_id[EVENT_ID_MAX + 1];      /* the event's id when it passed the rule, else "" */
    char partner_id[PARTNERS_ID_MAX + 1]; /* the sender: authenticated, or claimed without keys */
    Parcours__V1__AckStatus status;       /* 0 while the batch's fate decides (see below) */
    Parcours__V1__ErrorCode code;
    Parcours__V1__EventType type;
    uint64_t seq;
    uint64_t version; /* what the sender may be told */
    /* Decided from the store's state: the ack becomes RETRY if the batch does not commit. */
    bool needs_commit;
    char message[EVENT_MESSAGE_MAX];
    Parcours__V1__Event *event;     /* the decoded, checked event, or NULL */
    const partner_t *sender;        /* its sender in the directory, or NULL */
    Parcours__V1__Pathway *current; /* the pathway before it, or NULL */
    pathway_outcome_t outcome;      /* what the rules decided, when they were asked */
    bool applied;                   /* the rules were asked (outcome is set) */
    /* A move's exit: the reference the daemon filled into event. */
    char transfer_reference[TRANSFER_REFERENCE_MAX + 1];
} ingest_decision_t;

/*
 * Decides the frame of len bytes (len may exceed ctx->max_frame: it is refused unread) sent by
 * authenticated (the partner its connection's key belongs to, or NULL without CURVE) into *out,
 * which is zeroed first. A store error kills the batch (ctx->batch_error): the decision then
 * has no status, and the caller answers RETRY once the batch is aborted. Never fails otherwise.
 */
void ingest_apply(ingest_context_t *ctx, const uint8_t *frame, size_t len,
                  const char *authenticated, ingest_decision_t *out);

/* The deadlines running on pathway under rules (NULL: the defaults), as the store indexes
 * them: what every append of the pathway hands the store (deadline.h). Returns how many. */
size_t ingest_deadlines(const Parcours__V1__Pathway *pathway, const pathway_settings_t *rules,
                        store_deadline_t out[DEADLINE_KINDS]);

/* Destroys, in the batch, the announcement parcoursd wrote for the move of this reference, if
 * it still stands: the move's exit was retracted, or its person destroyed (erasure, retention),
 * so that no bridge hands it over any more. STORE_OK (also when none stands), or the store's
 * error. */
int ingest_transfer_withdraw(store_batch_t *batch, const char *reference);

/* Adds the counters of an accepted event (stats.h) to the batch: what every append of an
 * event does. A store error kills the batch. */
int ingest_stats_count(store_batch_t *batch, const Parcours__V1__Pathway *before,
                       const Parcours__V1__Pathway *after, const Parcours__V1__Event *event);

/* Frees what a decision holds (the event, the pathway, the outcome). Takes a zeroed one. */
void ingest_decision_clear(ingest_decision_t *d);

#endif
