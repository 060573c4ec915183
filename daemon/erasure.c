/* erasure.c: destroying one person now, and settling the notices that follow (erasure.h). */
#include "erasure.h"

#include "ingest_apply.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "erased_register.h"
#include "log.h"

/* The reasons an admin may give: RETENTION is the purge's alone. */
static const char *erasure_reason_name(Parcours__V1__ErasureReason reason)
{
    switch (reason) {
    case PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_REQUEST:
        return "REQUEST";
    case PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_UNLAWFUL:
        return "UNLAWFUL";
    case PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_WRONG_PERSON:
        return "WRONG_PERSON";
    case PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_COURT_ORDER:
        return "COURT_ORDER";
    default:
        return NULL;
    }
}

int erasure_erase(const daemon_sources_t *sources, const char *beneficiary_id,
                  Parcours__V1__ErasureReason reason, Parcours__V1__Erased *out, char *err,
                  size_t errlen)
{
    const char *reason_name = erasure_reason_name(reason);
    if (reason_name == NULL) {
        snprintf(err, errlen,
                 "An erasure needs a reason: REQUEST, UNLAWFUL, WRONG_PERSON or COURT_ORDER "
                 "(RETENTION is the purge's).");
        return -1;
    }
    store_t *store = sources->store;
    Parcours__V1__Pathway *found = NULL;
    if (store_pathway_get(store, beneficiary_id, &found) == STORE_ENOTFOUND) {
        snprintf(err, errlen, "Beneficiary %s has no pathway here: nothing to erase.",
                 beneficiary_id);
        return 1;
    }
    parcours__v1__pathway__free_unpacked(found, NULL);

    int64_t now = clock_realtime_ms();
    uint8_t hash[STORE_HASH_SIZE];
    store_id_hash(store, beneficiary_id, hash);
    char tag[9];
    snprintf(tag, sizeof tag, "%02x%02x%02x%02x", hash[0], hash[1], hash[2], hash[3]);
    /* The register first: a committed erasure is never missing from it. */
    char why[512];
    if (erased_register_append(sources->erased_register, hash, now, reason_name, why, sizeof why) !=
        0) {
        log_error("erase: %s; nothing was erased", why);
        snprintf(err, errlen, "Nothing was erased: the register cannot be written (%s).", why);
        return -1;
    }
    Parcours__V1__Erasure notice = PARCOURS__V1__ERASURE__INIT;
    notice.beneficiary_id = (char *)beneficiary_id;
    notice.reason = reason;
    notice.erased_at = now;
    uint8_t packed[256];
    size_t packed_len = parcours__v1__erasure__pack(&notice, packed);

    store_batch_t *batch = NULL;
    store_erasure_t done = {0};
    int rc = store_batch_begin(store, now, &batch);
    if (rc == STORE_OK)
        rc = store_batch_erase(batch, beneficiary_id, packed, packed_len, &done);
    /* Its deadlines leave the index with it (the store leaves them to who knows the rules). */
    store_deadline_t deadlines[DEADLINE_KINDS];
    if (rc == STORE_OK)
        rc = store_batch_deadlines_drop(batch, beneficiary_id, deadlines,
                                        ingest_deadlines(done.pathway, sources->rules, deadlines));
    /* So does the move it left by, if no bridge has it yet (docs/transfers.md). */
    if (rc == STORE_OK && done.pathway->exit != NULL &&
        done.pathway->exit->transfer_reference[0] != '\0')
        rc = ingest_transfer_withdraw(batch, done.pathway->exit->transfer_reference);
    if (rc == STORE_OK)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc != STORE_OK) {
        parcours__v1__pathway__free_unpacked(done.pathway, NULL);
        log_error("erase %s: %s; nothing was erased (the register names it: a restore would "
                  "erase it)",
                  tag, store_strerror(rc));
        snprintf(err, errlen, "Nothing was erased: %s Ask again.", store_strerror(rc));
        return -1;
    }
    ingest_pathway_destroyed(sources->ingest, done.pathway);
    parcours__v1__pathway__free_unpacked(done.pathway, NULL);
    deliver_wake(sources->deliver);
    log_info("erase %s: a person destroyed (reason %s): %zu events now tombstones, %zu partners "
             "sent an Erasure notice",
             tag, reason_name, done.events, done.told);
    out->events = (uint32_t)done.events;
    out->partners_told = (uint32_t)done.told;
    return 0;
}

void erasure_settle(const daemon_sources_t *sources)
{
    store_t *store = sources->store;
    if (store_notices_pending(store) == 0)
        return;
    store_batch_t *batch = NULL;
    size_t settled = 0;
    int rc = store_batch_begin(store, clock_realtime_ms(), &batch);
    if (rc == STORE_OK)
        rc = store_batch_notices_settle(batch, &settled);
    if (rc == STORE_OK)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc != STORE_OK)
        log_warning("erase: the acknowledged Erasure notices cannot be destroyed now (%s); "
                    "retrying in a second",
                    store_strerror(rc));
    else if (settled > 0)
        log_info("erase: %zu Erasure notices acknowledged by all their partners, destroyed",
                 settled);
}
