/* retention.c: the retention of CASF R263-8, run by the daemon itself (retention.h). */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "ingest_apply.h"
#include "log.h"

#define RETENTION_SLICE_MS 1000
/* Moves looked at per slice, from where the last slice stopped. */
#define RETENTION_TRANSFERS_EXAMINED 1024

struct retention {
    const daemon_sources_t *sources;
    struct event *timer;
    size_t slice;
    uint8_t cursor[STORE_HASH_SIZE];    /* where the next slice starts */
    uint8_t transfers[STORE_HASH_SIZE]; /* and where its look at the moves to claim does */
    store_purge_t pass;                 /* this pass's sums */
};

/* What a slice's destructions need: the counts to move, and the deadlines to take out of the
 * index in the slice's batch (the store leaves them to who knows the rules). */
typedef struct retention_slice {
    const daemon_sources_t *sources;
    store_batch_t *batch;
    int error;
} retention_slice_t;

static void retention_forget(const Parcours__V1__Pathway *pathway, void *ctx)
{
    retention_slice_t *slice = ctx;
    ingest_pathway_destroyed(slice->sources->ingest, pathway);
    store_deadline_t deadlines[DEADLINE_KINDS];
    size_t n = ingest_deadlines(pathway, slice->sources->rules, deadlines);
    if (slice->error == STORE_OK && n > 0)
        slice->error =
            store_batch_deadlines_drop(slice->batch, pathway->beneficiary_id, deadlines, n);
    if (slice->error == STORE_OK && pathway->exit != NULL &&
        pathway->exit->transfer_reference[0] != '\0')
        slice->error = ingest_transfer_withdraw(slice->batch, pathway->exit->transfer_reference);
}

static void retention_on_slice(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    retention_t *r = arg;
    const daemon_sources_t *s = r->sources;
    if (!store_usable(s->store))
        return;
    int64_t now = clock_realtime_ms();
    store_batch_t *batch = NULL;
    store_purge_t out = {0};
    int rc = store_batch_begin(s->store, now, &batch);
    retention_slice_t slice = {s, batch, STORE_OK};
    if (rc == STORE_OK)
        rc = store_batch_purge(batch, r->cursor, r->slice, now - s->active_ms - s->archive_ms,
                               retention_forget, &slice, &out);
    if (rc == STORE_OK)
        rc = slice.error;
    /* The moves announced here and never claimed go too (docs/transfers.md). */
    size_t expired = 0;
    if (rc == STORE_OK)
        rc = store_batch_transfers_expire(batch, r->transfers, now - s->rules->transfer_claim_ms,
                                          RETENTION_TRANSFERS_EXAMINED, &expired);
    /* A slice that destroyed nothing wrote nothing: no commit, no fsync. */
    if (rc == STORE_OK && (out.destroyed > 0 || expired > 0))
        rc = store_batch_commit(&batch);
    if (rc == STORE_OK && expired > 0)
        log_info("retention: %zu moves announced here more than [transfers] claim_days ago, "
                 "never claimed, can no longer be claimed",
                 expired);
    store_batch_abort(&batch);
    if (rc != STORE_OK) {
        log_warning("retention: a purge slice failed (%s); it is tried again", store_strerror(rc));
        return;
    }
    r->pass.examined += out.examined;
    r->pass.destroyed += out.destroyed;
    r->pass.held += out.held;
    r->pass.events += out.events;
    r->pass.told += out.told;
    if (out.told > 0)
        deliver_wake(s->deliver);
    if (out.wrapped) {
        if (r->pass.destroyed > 0) {
            /* The retention's destructions are journaled with the operators' acts. */
            char detail[160], err[256];
            snprintf(detail, sizeof detail, "%zu pathways destroyed past their retention, %zu held",
                     r->pass.destroyed, r->pass.held);
            if (audit_append(s->audit, "parcoursd", "PURGE-PASS", "-", detail, err, sizeof err) !=
                0)
                log_error("retention: %s", err);
        }
        if (r->pass.destroyed > 0 || r->pass.held > 0)
            log_info("retention: a pass over %zu pathways destroyed %zu past their retention "
                     "(%zu events now tombstones, %zu Erasure notices), %zu kept by a hold",
                     r->pass.examined, r->pass.destroyed, r->pass.events, r->pass.told,
                     r->pass.held);
        memset(&r->pass, 0, sizeof r->pass);
    }
}

retention_t *retention_new(struct event_base *base, const daemon_sources_t *sources, bool purge,
                           size_t slice)
{
    retention_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->sources = sources;
    r->slice = slice > 0 ? slice : 256;
    if (!purge) {
        log_warning("retention: [retention] purge = no: no pathway is ever destroyed by its age");
        return r;
    }
    struct timeval every = {RETENTION_SLICE_MS / 1000, (RETENTION_SLICE_MS % 1000) * 1000};
    r->timer = event_new(base, -1, EV_PERSIST, retention_on_slice, r);
    if (r->timer == NULL || event_add(r->timer, &every) != 0) {
        retention_destroy(&r);
        return NULL;
    }
    return r;
}

void retention_destroy(retention_t **r)
{
    if (r == NULL || *r == NULL)
        return;
    if ((*r)->timer != NULL)
        event_free((*r)->timer);
    free(*r);
    *r = NULL;
}

typedef struct survey_list {
    Parcours__V1__PurgeSurvey *out;
    size_t max;
    int failed;
} survey_list_t;

static int survey_add(const char *beneficiary_id, int64_t last_contact, void *ctx)
{
    survey_list_t *l = ctx;
    Parcours__V1__PurgeSurvey *out = l->out;
    if (out->n_candidates >= l->max)
        return 1;
    Parcours__V1__PurgeCandidate *c = malloc(sizeof *c);
    char *id = strdup(beneficiary_id);
    if (c == NULL || id == NULL) {
        free(c);
        free(id);
        l->failed = 1;
        return 1;
    }
    parcours__v1__purge_candidate__init(c);
    c->beneficiary_id = id;
    c->last_contact = last_contact;
    out->candidates[out->n_candidates++] = c;
    return 0;
}

int retention_survey(const daemon_sources_t *sources, size_t list, Parcours__V1__PurgeSurvey *out,
                     char *err, size_t errlen)
{
    parcours__v1__purge_survey__init(out);
    out->candidates = calloc(list > 0 ? list : 1, sizeof *out->candidates);
    if (out->candidates == NULL) {
        snprintf(err, errlen, "The daemon is out of memory; ask again later.");
        return -1;
    }
    int64_t now = clock_realtime_ms();
    store_survey_t counts;
    survey_list_t l = {out, list, 0};
    int rc = store_retention_survey(sources->store, now - sources->active_ms,
                                    now - sources->active_ms - sources->archive_ms, &counts,
                                    survey_add, &l);
    if (rc != STORE_OK || l.failed) {
        retention_survey_clear(out);
        snprintf(err, errlen, "The dry run failed: %s",
                 rc != STORE_OK ? store_strerror(rc) : "out of memory");
        return -1;
    }
    out->active = counts.active;
    out->archived = counts.archived;
    out->held = counts.held;
    out->due = counts.due;
    out->active_days = (uint32_t)(sources->active_ms / 86400000);
    out->archive_days = (uint32_t)(sources->archive_ms / 86400000);
    return 0;
}

void retention_survey_clear(Parcours__V1__PurgeSurvey *out)
{
    for (size_t i = 0; i < out->n_candidates; i++) {
        free(out->candidates[i]->beneficiary_id);
        free(out->candidates[i]);
    }
    free(out->candidates);
    out->candidates = NULL;
    out->n_candidates = 0;
}
