/* deadlines.c: the deadlines the daemon watches itself (deadlines.h). */
#include "deadlines.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event_frame.h"
#include "ingest_apply.h"
#include "log.h"
#include "wire_names.h"

#define DEADLINES_TICK_MS 1000
#define DEADLINES_PER_RUN 256 /* per batch: what a tick may take from ingest */

struct deadlines {
    const daemon_sources_t *sources;
    const pathway_settings_t *rules;
    struct event *timer;
    uint64_t missed[DEADLINE_KINDS + 1];
};

/* A new event id for parcoursd's own events: unique (random) and ordered by time, within the
 * identifier rule. */
static void deadlines_event_id(int64_t now, char out[EVENT_ID_MAX + 1])
{
    uint8_t r[8];
    randombytes_buf(r, sizeof r);
    snprintf(out, EVENT_ID_MAX + 1, "deadline-%012" PRIx64 "-%02x%02x%02x%02x%02x%02x%02x%02x",
             (uint64_t)now, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
}

/*
 * One due deadline: the DeadlineMissed appended, or (when the rules say it no longer holds) the
 * pathway's deadlines indexed again as they now run. 1 written, 0 not, -1 a store error (the
 * batch is dead).
 */
static int deadlines_take(deadlines_t *d, store_batch_t *batch, int64_t now, const store_due_t *due)
{
    Parcours__V1__Pathway *current = NULL;
    int rc = store_batch_pathway_get(batch, due->beneficiary_id, &current);
    if (rc != STORE_OK)
        return -1; /* the index named it a moment ago */
    Parcours__V1__DeadlineMissed missed = PARCOURS__V1__DEADLINE_MISSED__INIT;
    missed.kind = (Parcours__V1__DeadlineKind)due->deadline.kind;
    missed.due_at = due->deadline.due_at;
    missed.since = due->deadline.since;
    char event_id[EVENT_ID_MAX + 1];
    deadlines_event_id(now, event_id);
    Parcours__V1__Event event = PARCOURS__V1__EVENT__INIT;
    event.event_id = event_id;
    event.partner_id = PARTNERS_DAEMON_ID;
    event.beneficiary_id = (char *)due->beneficiary_id;
    event.occurred_at = now;
    event.payload_case = PAYLOAD(DEADLINE_MISSED);
    event.deadline_missed = &missed;
    pathway_outcome_t out;
    int applied =
        pathway_deadline_missed(current, &event, d->sources->partners, &d->rules->deadlines, &out);
    store_deadline_t deadlines[DEADLINE_KINDS], before[DEADLINE_KINDS];
    size_t n_before = ingest_deadlines(current, d->rules, before);
    int result = 0;
    if (applied == 0) {
        uint8_t stack[EVENT_FRAME_MAX];
        uint8_t *canonical = NULL;
        size_t len = event_pack(&event, &canonical, stack, sizeof stack);
        store_event_t se = {
            .raw = canonical,
            .raw_len = len,
            .type = EVENT_TYPE(DEADLINE_MISSED),
            .occurred_at = now,
            .partner_id = PARTNERS_DAEMON_ID,
            .event_id = event_id,
            .beneficiary_id = due->beneficiary_id,
            .pathway = out.pathway,
            .recipients = out.recipients,
            .n_recipients = out.n_recipients,
            .old_deadlines = before,
            .n_old_deadlines = n_before,
            .deadlines = deadlines,
            .n_deadlines = ingest_deadlines(out.pathway, d->rules, deadlines),
            .not_a_contact = true,
        };
        rc = canonical == NULL ? STORE_ENOMEM : store_batch_append(batch, &se, NULL);
        if (rc == STORE_OK)
            rc = ingest_stats_count(batch, current, out.pathway, &event);
        if (canonical != stack)
            free(canonical);
        if (rc == STORE_OK) {
            d->missed[missed.kind <= DEADLINE_KINDS ? missed.kind : 0]++;
            result = 1;
        } else {
            result = -1;
        }
    } else if (applied == 1) {
        /* The index holds an entry the pathway does not run (it was indexed under other
         * rules): out with it, in with what runs. */
        result = store_batch_deadlines_set(batch, due->beneficiary_id, &due->deadline, 1, before,
                                           n_before) == STORE_OK
                     ? 0
                     : -1;
    } else {
        result = -1;
    }
    if (applied == 0 || applied == 1)
        pathway_outcome_clear(&out);
    parcours__v1__pathway__free_unpacked(current, NULL);
    return result;
}

long deadlines_run(deadlines_t *d, int64_t now, size_t max)
{
    store_t *store = d->sources->store;
    if (!store_usable(store))
        return 0;
    /* A read of the index's head first: most seconds nothing is due, and no batch is opened. */
    uint64_t due_now = 0;
    if (store_due_list(store, now, NULL, NULL, &due_now) == STORE_OK && due_now == 0)
        return 0;
    store_batch_t *batch = NULL;
    int rc = store_batch_begin(store, now, &batch);
    long written = 0;
    size_t taken = 0, dropped = 0;
    while (rc == STORE_OK && (max == 0 || taken < max)) {
        store_due_t due;
        rc = store_batch_due_first(batch, now, &due, &dropped);
        if (rc == STORE_ENOTFOUND) {
            rc = STORE_OK;
            break;
        }
        if (rc != STORE_OK)
            break;
        int one = deadlines_take(d, batch, now, &due);
        if (one < 0)
            rc = STORE_EIO;
        written += one > 0;
        taken++;
    }
    if (rc == STORE_OK && taken + dropped > 0)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc != STORE_OK) {
        log_warning("deadlines: a batch of due deadlines failed (%s); tried again",
                    store_strerror(rc));
        return -1;
    }
    if (written > 0) {
        deliver_wake(d->sources->deliver);
        log_info("deadlines: %ld deadlines missed, their partners told", written);
    }
    return written;
}

static void deadlines_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deadlines_t *d = arg;
    deadlines_run(d, clock_realtime_ms(), DEADLINES_PER_RUN);
}

deadlines_t *deadlines_new(struct event_base *base, const daemon_sources_t *sources,
                           const pathway_settings_t *rules)
{
    deadlines_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->sources = sources;
    d->rules = rules;
    struct timeval every = {DEADLINES_TICK_MS / 1000, (DEADLINES_TICK_MS % 1000) * 1000};
    d->timer = event_new(base, -1, EV_PERSIST, deadlines_on_tick, d);
    if (d->timer == NULL || event_add(d->timer, &every) != 0) {
        deadlines_destroy(&d);
        return NULL;
    }
    return d;
}

void deadlines_destroy(deadlines_t **d)
{
    if (d == NULL || *d == NULL)
        return;
    if ((*d)->timer != NULL)
        event_free((*d)->timer);
    free(*d);
    *d = NULL;
}

uint64_t deadlines_missed_count(const deadlines_t *d, Parcours__V1__DeadlineKind kind)
{
    return d != NULL && kind > 0 && kind <= DEADLINE_KINDS ? d->missed[kind] : 0;
}

/* --- Indexing a store written before the index ------------------------------------------------ */

typedef struct index_item {
    char id[STORE_ID_MAX + 1];
    store_deadline_t deadlines[DEADLINE_KINDS];
    size_t n;
} index_item_t;

typedef struct index_walk {
    const pathway_settings_t *rules;
    index_item_t *items;
    size_t n, cap;
    size_t open; /* pathways with a deadline running */
    bool failed;
} index_walk_t;

static int index_visit(const Parcours__V1__Pathway *pathway, void *ctx)
{
    index_walk_t *w = ctx;
    if (strlen(pathway->beneficiary_id) > STORE_ID_MAX)
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        index_item_t *items = realloc(w->items, cap * sizeof *items);
        if (items == NULL) {
            w->failed = true;
            return 1;
        }
        w->items = items;
        w->cap = cap;
    }
    /* The index is emptied first: only the pathways with a deadline running are kept. */
    index_item_t *item = &w->items[w->n];
    item->n = ingest_deadlines(pathway, w->rules, item->deadlines);
    if (item->n == 0)
        return 0;
    strcpy(item->id, pathway->beneficiary_id);
    w->n++;
    w->open++;
    return 0;
}

/* The fingerprint of how the deadlines are computed: the four lengths, little-endian. */
static void index_settings(const pathway_settings_t *rules, uint8_t out[32])
{
    const int64_t v[4] = {rules->deadlines.orientation_ms, rules->deadlines.contract_ms,
                          rules->deadlines.referent_ms, rules->deadlines.inactivity_ms};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++)
            out[8 * i + k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
}

int deadlines_index(store_t *store, const pathway_settings_t *rules, char *err, size_t errlen)
{
    uint8_t settings[32];
    index_settings(rules, settings);
    bool indexed;
    int rc = store_deadlines_indexed(store, settings, sizeof settings, &indexed);
    if (rc == STORE_OK && indexed)
        return 0;
    index_walk_t w = {.rules = rules};
    if (rc == STORE_OK)
        rc = store_pathway_foreach(store, index_visit, &w);
    if (rc == STORE_OK && w.failed)
        rc = STORE_ENOMEM;
    /* The index emptied, then filled in batches of a thousand, the mark in the last: a crash
     * in between indexes again. */
    for (size_t at = 0; rc == STORE_OK;) {
        store_batch_t *batch = NULL;
        rc = store_batch_begin(store, clock_realtime_ms(), &batch);
        if (rc == STORE_OK && at == 0)
            rc = store_batch_due_clear(batch);
        size_t end = at + 1000 < w.n ? at + 1000 : w.n;
        for (; rc == STORE_OK && at < end; at++)
            rc = store_batch_deadlines_set(batch, w.items[at].id, NULL, 0, w.items[at].deadlines,
                                           w.items[at].n);
        if (rc == STORE_OK && at == w.n)
            rc = store_batch_deadlines_mark_indexed(batch, settings, sizeof settings);
        if (rc == STORE_OK)
            rc = store_batch_commit(&batch);
        store_batch_abort(&batch);
        if (at == w.n)
            break;
    }
    free(w.items);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot index the pathways' deadlines: %s", store_strerror(rc));
        return -1;
    }
    if (w.n > 0)
        log_info("deadlines: the deadlines of %zu open pathways indexed (a store written before "
                 "the index, or [deadlines] changed)",
                 w.open);
    return 0;
}
