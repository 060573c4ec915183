/* admin_apply.c: one admin request from its bytes to its reply (admin_apply.h). */
#include "admin_apply.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "clock.h"
#include "erasure.h"
#include "log.h"
#include "retention.h"
#include "stats.h"
#include "event_frame.h"
#include "wire.h"
#include "wire_names.h"

/* Marks the reply failed with a sentence (which must outlive the reply). */
static void admin_error(Parcours__V1__AdminReply *reply, char *sentence)
{
    reply->ok = 0;
    reply->error = sentence;
}

static void admin_status_free(admin_status_t *s)
{
    figures_release(&s->figures);
    free(s->counts);
    free(s->count_pointers);
    free(s->deliveries);
    free(s->delivery_pointers);
}

/* Fills s->status from the figures (figures.h), which /metrics renders too; its strings point
 * into s->figures. Returns 0, or -1 when out of memory (s is then left for admin_status_free). */
static int admin_status_new(const daemon_sources_t *sources, const backup_stats_t *backups,
                            admin_status_t *s)
{
    *s = (admin_status_t){.status = PARCOURS__V1__STATUS__INIT};
    figures_t *f = &s->figures;
    if (figures_collect(sources, backups, f) != 0)
        return -1;
    /* Every phase but PHASE_UNSPECIFIED, for each territory. */
    size_t n_counts = f->n_territories * (FIGURES_PHASES - 1);
    s->counts = calloc(n_counts ? n_counts : 1, sizeof(*s->counts));
    s->count_pointers = calloc(n_counts ? n_counts : 1, sizeof(*s->count_pointers));
    s->deliveries = calloc(f->n_deliveries ? f->n_deliveries : 1, sizeof(*s->deliveries));
    s->delivery_pointers =
        calloc(f->n_deliveries ? f->n_deliveries : 1, sizeof(*s->delivery_pointers));
    if (s->counts == NULL || s->count_pointers == NULL || s->deliveries == NULL ||
        s->delivery_pointers == NULL)
        return -1;

    Parcours__V1__Status *status = &s->status;
    status->version = (char *)f->version;
    status->uptime_ms = f->uptime_ms;
    status->last_seq = f->store.last_seq;
    status->pathways_per_phase = s->count_pointers;
    for (size_t t = 0; t < f->n_territories; t++) {
        for (unsigned phase = 1; phase < FIGURES_PHASES; phase++) {
            Parcours__V1__PhaseCount *item = &s->counts[status->n_pathways_per_phase];
            *item = (Parcours__V1__PhaseCount)PARCOURS__V1__PHASE_COUNT__INIT;
            item->phase = (Parcours__V1__Phase)phase;
            item->count = f->territories[t].pathways[phase];
            item->territory = f->territories[t].territory;
            s->count_pointers[status->n_pathways_per_phase++] = item;
        }
    }
    status->events_accepted = f->ingest.accepted;
    status->events_duplicate = f->ingest.duplicate;
    status->events_rejected = f->ingest.rejected;
    status->batches = f->batches;
    status->batch_size_mean = f->batch_size_mean;
    status->batch_size_max = f->ingest.batch_size_max;
    status->commit_ms_mean = f->commit_ms_mean;
    status->commit_ms_max = f->ingest.commit_ms_max;
    status->durable = f->store.durable;
    status->deliveries = s->delivery_pointers;
    for (size_t i = 0; i < f->n_deliveries; i++) {
        const figures_delivery_t *d = &f->deliveries[i];
        Parcours__V1__PartnerDelivery *item = &s->deliveries[i];
        *item = (Parcours__V1__PartnerDelivery)PARCOURS__V1__PARTNER_DELIVERY__INIT;
        item->partner_id = (char *)d->partner_id;
        item->last_partner_seq = d->position.last;
        item->cursor = d->position.cursor;
        item->lag = d->position.lag;
        item->subscribers = d->position.subscribers;
        s->delivery_pointers[status->n_deliveries++] = item;
    }
    status->stream_id = f->store.stream_id;
    return 0;
}

/* Fills reply->history; the entries and events are freed by admin_history_free. */
static int admin_history(const daemon_sources_t *sources, const char *beneficiary,
                         Parcours__V1__AdminReply *reply)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int rc = store_pathway_seqs(sources->store, beneficiary, &seqs, &n);
    if (rc != STORE_OK)
        return rc;
    reply->history = calloc(n ? n : 1, sizeof(*reply->history));
    if (reply->history == NULL) {
        free(seqs);
        return STORE_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        store_log_entry_t entry;
        rc = store_log_get(sources->store, seqs[i], &entry);
        if (rc != STORE_OK)
            break;
        Parcours__V1__HistoryEntry *h = malloc(sizeof(*h));
        if (h == NULL) {
            store_log_entry_clear(&entry);
            rc = STORE_ENOMEM;
            break;
        }
        *h = (Parcours__V1__HistoryEntry)PARCOURS__V1__HISTORY_ENTRY__INIT;
        h->seq = entry.seq;
        h->committed_at = entry.committed_at;
        /* A purged event keeps only its seq, type and dates: it has no payload to show. */
        if (entry.raw_len > 0)
            h->event = parcours__v1__event__unpack(NULL, entry.raw_len, entry.raw);
        store_log_entry_clear(&entry);
        reply->history[reply->n_history++] = h;
    }
    free(seqs);
    return rc;
}

static void admin_history_free(Parcours__V1__AdminReply *reply)
{
    for (size_t i = 0; i < reply->n_history; i++) {
        if (reply->history[i]->event != NULL)
            parcours__v1__event__free_unpacked(reply->history[i]->event, NULL);
        free(reply->history[i]);
    }
    free(reply->history);
}

/* Fills reply->partners; freed by admin_partners_free. */
static void admin_partners(const daemon_sources_t *sources, Parcours__V1__AdminReply *reply)
{
    size_t n = partners_count(sources->partners);
    reply->partners = calloc(n ? n : 1, sizeof(*reply->partners));
    /* One block for each partner's info, its fingerprint and its may_emit types (the
     * first entry points at its start: admin_partners_free). */
    size_t each = sizeof(Parcours__V1__PartnerInfo) + PARTNERS_FINGERPRINT_LEN + 1 +
                  32 * sizeof(Parcours__V1__EventType);
    uint8_t *block = calloc(n ? n : 1, each);
    Parcours__V1__PartnerInfo *infos = (Parcours__V1__PartnerInfo *)block;
    char **territories = calloc(n ? n : 1, PARTNERS_TERRITORIES_MAX * sizeof(char *));
    if (reply->partners == NULL || block == NULL || territories == NULL) {
        free(reply->partners);
        free(block);
        free(territories);
        reply->partners = NULL;
        return;
    }
    if (n == 0) {
        free(block);
        free(territories);
        return;
    }
    Parcours__V1__EventType *types =
        (Parcours__V1__EventType *)(block + n * sizeof(Parcours__V1__PartnerInfo));
    char *fingerprints = (char *)(types + 32 * n);
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(sources->partners, i);
        Parcours__V1__PartnerInfo *info = &infos[i];
        *info = (Parcours__V1__PartnerInfo)PARCOURS__V1__PARTNER_INFO__INIT;
        info->partner_id = (char *)p->id;
        info->name = (char *)p->name;
        info->kind = p->kind;
        info->territories = &territories[i * PARTNERS_TERRITORIES_MAX];
        for (size_t t = 0; t < p->n_territories; t++)
            info->territories[info->n_territories++] = (char *)p->territories[t];
        info->may_emit = &types[32 * i];
        for (unsigned type = 0; type < 32; type++)
            if (p->may_emit & PARTNERS_EMIT_BIT(type))
                info->may_emit[info->n_may_emit++] = (Parcours__V1__EventType)type;
        info->echo = p->echo;
        /* As the ZAP handler's refusal lines name a key (daemon/transport/zap.c). */
        info->key_fingerprint = &fingerprints[(PARTNERS_FINGERPRINT_LEN + 1) * i];
        if (p->has_public_key)
            partners_key_fingerprint(p->public_key, info->key_fingerprint);
        reply->partners[reply->n_partners++] = info;
    }
}

static void admin_partners_free(Parcours__V1__AdminReply *reply)
{
    if (reply->partners == NULL)
        return;
    /* admin_partners made one block of infos (with their fingerprints and types) and one of
     * territories: the first entry points at the start of both. */
    if (reply->n_partners > 0) {
        free(reply->partners[0]->territories);
        free(reply->partners[0]);
    }
    free(reply->partners);
}

/* Sets or lifts a litigation hold (or the person's opposition), in a batch of its own. */
static int admin_hold(const daemon_sources_t *sources, const char *beneficiary_id, bool on,
                      bool opposition)
{
    store_batch_t *batch = NULL;
    int rc = store_batch_begin(sources->store, clock_realtime_ms(), &batch);
    if (rc == STORE_OK)
        rc = opposition ? store_batch_oppose(batch, beneficiary_id, on)
                        : store_batch_hold(batch, beneficiary_id, on);
    if (rc == STORE_OK)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc == STORE_OK) {
        log_info("%s %s on a pathway", opposition ? "the person's opposition" : "a litigation hold",
                 on ? "recorded" : "lifted");
        /* What may be delivered changed: the cached views and decisions are read again. */
        deliver_wake(sources->deliver);
    }
    return rc;
}

/* --- DUE: the deadlines the store holds ---------------------------------------------------- */

typedef struct due_listing {
    Parcours__V1__DueList *out;
    bool failed;
} due_listing_t;

static int due_add(const store_due_t *due, void *ctx)
{
    due_listing_t *l = ctx;
    Parcours__V1__DueList *out = l->out;
    if (out->n_deadlines >= ADMIN_DUE_LIST)
        return 1;
    Parcours__V1__DueDeadline *d = malloc(sizeof *d);
    char *id = strdup(due->beneficiary_id);
    if (d == NULL || id == NULL) {
        free(d);
        free(id);
        l->failed = true;
        return 1;
    }
    parcours__v1__due_deadline__init(d);
    d->beneficiary_id = id;
    d->kind = (Parcours__V1__DeadlineKind)due->deadline.kind;
    d->due_at = due->deadline.due_at;
    d->since = due->deadline.since;
    out->deadlines[out->n_deadlines++] = d;
    return 0;
}

static void admin_due_free(Parcours__V1__DueList *due)
{
    for (size_t i = 0; i < due->n_deadlines; i++) {
        free(due->deadlines[i]->beneficiary_id);
        free(due->deadlines[i]);
    }
    free(due->deadlines);
    memset(due, 0, sizeof *due);
}

/* The deadlines due before now + within_ms, soonest first (past ones not yet handled too). */
static int admin_due(const daemon_sources_t *sources, int64_t within_ms, admin_decision_t *d)
{
    /* A hundred years at most: past any deadline the configuration can set (36500 days). */
    if (within_ms < 0 || within_ms > INT64_C(36500) * 86400000) {
        snprintf(d->error, sizeof d->error, "within_ms must be 0 to a hundred years (%" PRId64 ")",
                 INT64_C(36500) * 86400000);
        return -1;
    }
    parcours__v1__due_list__init(&d->due);
    d->due.deadlines = calloc(ADMIN_DUE_LIST, sizeof *d->due.deadlines);
    if (d->due.deadlines == NULL) {
        snprintf(d->error, sizeof d->error, "The daemon is out of memory; ask again later.");
        return -1;
    }
    d->due.until = clock_realtime_ms() + within_ms;
    due_listing_t l = {&d->due, false};
    int rc = store_due_list(sources->store, d->due.until, due_add, &l, &d->due.total);
    if (rc != STORE_OK || l.failed) {
        snprintf(d->error, sizeof d->error, "The deadlines cannot be listed: %s",
                 rc != STORE_OK ? store_strerror(rc) : "out of memory");
        admin_due_free(&d->due);
        return -1;
    }
    return 0;
}

/* --- STATS: the counters, and the pathways per phase now ---------------------------------- */

typedef struct stats_listing {
    Parcours__V1__StatsReply *out;
    char *keys; /* every key decoded, one after the other */
    size_t used, cap;
    size_t counters_cap;
    char since[8]; /* the first month counted, "" for all */
    bool failed;
} stats_listing_t;

static int stats_visit(const void *key, size_t len, uint64_t count, void *ctx)
{
    stats_listing_t *l = ctx;
    /* Keys begin with their month and sort by it: the months before since are passed over. */
    if (l->since[0] != '\0' && (len < 7 || memcmp(key, l->since, 7) < 0))
        return 0;
    Parcours__V1__StatsReply *out = l->out;
    if (out->n_counters == l->counters_cap) {
        size_t cap = l->counters_cap ? 2 * l->counters_cap : 256;
        Parcours__V1__StatsCounter **c = realloc(out->counters, cap * sizeof *c);
        if (c == NULL) {
            l->failed = true;
            return 1;
        }
        out->counters = c;
        l->counters_cap = cap;
    }
    Parcours__V1__StatsCounter *c = malloc(sizeof *c);
    char *buf = malloc(len + 1);
    if (c == NULL || buf == NULL) {
        free(c);
        free(buf);
        l->failed = true;
        return 1;
    }
    parcours__v1__stats_counter__init(c);
    if (stats_key_decode(key, len, c, buf, len + 1) != 0) {
        free(c);
        free(buf);
        return 0; /* not a key this daemon writes: not shown */
    }
    /* The strings point into buf, which the counter keeps as its month's storage. */
    c->count = count;
    out->counters[out->n_counters++] = c;
    return 0;
}

static void admin_stats_free(admin_decision_t *d)
{
    for (size_t i = 0; i < d->stats.n_counters; i++) {
        free(d->stats.counters[i]->month); /* the start of its decoded key */
        free(d->stats.counters[i]);
    }
    free(d->stats.counters);
    memset(&d->stats, 0, sizeof d->stats);
}

static int admin_stats(const daemon_sources_t *sources, int64_t since_ms, admin_decision_t *d)
{
    parcours__v1__stats_reply__init(&d->stats);
    stats_listing_t l = {.out = &d->stats};
    if (since_ms > 0)
        stats_month(since_ms, l.since);
    int rc = store_stats_foreach(sources->store, stats_visit, &l);
    if (rc != STORE_OK || l.failed || admin_status_new(sources, NULL, &d->status) != 0) {
        snprintf(d->error, sizeof d->error, "The statistics cannot be read: %s",
                 rc != STORE_OK ? store_strerror(rc) : "out of memory");
        admin_stats_free(d);
        return -1;
    }
    d->stats.pathways_per_phase = d->status.status.pathways_per_phase;
    d->stats.n_pathways_per_phase = d->status.status.n_pathways_per_phase;
    return 0;
}

void admin_apply(const daemon_sources_t *sources, const backup_stats_t *backups,
                 const uint8_t *frame, int len, admin_decision_t *d)
{
    memset(d, 0, sizeof(*d));
    d->reply = (Parcours__V1__AdminReply)PARCOURS__V1__ADMIN_REPLY__INIT;
    d->status = (admin_status_t){.status = PARCOURS__V1__STATUS__INIT};
    Parcours__V1__AdminReply *reply = &d->reply;
    reply->ok = 1;

    Parcours__V1__AdminRequest *req =
        (len > 0 && len <= ADMIN_REQUEST_MAX)
            ? (Parcours__V1__AdminRequest *)wire_unpack(&parcours__v1__admin_request__descriptor,
                                                        frame, (size_t)len)
            : NULL;
    d->request = req;
    if (req == NULL) {
        admin_error(reply, "The request is not a parcours.v1.AdminRequest.");
        return;
    }
    if (!wire_strings_check(&req->base, NULL, 0)) {
        admin_error(reply, "A string of the request holds a NUL byte or is not valid UTF-8.");
        return;
    }
    bool needs_beneficiary = req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_SHOW ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HISTORY ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_ERASE ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HOLD ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_EXPORT ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_OPPOSE;
    if (needs_beneficiary && !identifier_valid(req->beneficiary_id)) {
        admin_error(reply, "beneficiary_id must be 1 to 64 characters among A-Z a-z 0-9 . _ : -");
        return;
    }
    int rc = STORE_OK;
    switch (req->command) {
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS:
        if (admin_status_new(sources, backups, &d->status) != 0) {
            admin_error(reply, "The daemon is out of memory; ask again later.");
            break;
        }
        reply->status = &d->status.status;
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_SHOW:
        rc = store_pathway_get(sources->store, req->beneficiary_id, &d->pathway);
        reply->pathway = d->pathway;
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HISTORY:
        rc = admin_history(sources, req->beneficiary_id, reply);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PARTNERS:
        admin_partners(sources, reply);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_BACKUP:
        d->backup = req; /* answered by the backup, now or once its copy has more */
        return;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PURGE:
        if (!req->dry_run) {
            admin_error(reply, "The purge runs by itself ([retention] purge); ask for its dry run "
                               "(dry_run: what it would destroy).");
            return;
        }
        if (retention_survey(sources, ADMIN_SURVEY_LIST, &d->survey, d->error, sizeof(d->error)) !=
            0)
            admin_error(reply, d->error);
        else
            reply->survey = &d->survey;
        return;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATS:
        if (admin_stats(sources, req->since_ms, d) != 0)
            admin_error(reply, d->error);
        else
            reply->stats = &d->stats;
        return;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_DUE:
        if (admin_due(sources, req->within_ms, d) != 0)
            admin_error(reply, d->error);
        else
            reply->due = &d->due;
        return;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_EXPORT:
        if (access_export(sources->store, req->beneficiary_id, &d->person_export, d->error,
                          sizeof(d->error)) != 0)
            admin_error(reply, d->error);
        else
            reply->person_export = &d->person_export;
        return;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HOLD:
        rc = admin_hold(sources, req->beneficiary_id, req->hold, false);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_OPPOSE:
        rc = admin_hold(sources, req->beneficiary_id, req->opposition, true);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_ERASE:
        d->erased = (Parcours__V1__Erased)PARCOURS__V1__ERASED__INIT;
        if (erasure_erase(sources, req->beneficiary_id, req->erasure_reason, &d->erased, d->error,
                          sizeof(d->error)) != 0)
            admin_error(reply, d->error);
        else
            reply->erased = &d->erased;
        return;
    default:
        admin_error(reply,
                    "Unknown admin command; parcoursctl and parcoursd may differ in version.");
        break;
    }
    if (rc == STORE_ENOTFOUND) {
        snprintf(d->error, sizeof(d->error), "Beneficiary %s has no pathway here.",
                 req->beneficiary_id);
        admin_error(reply, d->error);
    } else if (rc != STORE_OK) {
        snprintf(d->error, sizeof(d->error), "The store failed: %s", store_strerror(rc));
        admin_error(reply, d->error);
    }
}

void admin_decision_clear(admin_decision_t *d)
{
    retention_survey_clear(&d->survey);
    admin_due_free(&d->due);
    d->stats.pathways_per_phase = NULL; /* the status's, freed with it */
    d->stats.n_pathways_per_phase = 0;
    admin_stats_free(d);
    access_export_clear(&d->person_export);
    admin_history_free(&d->reply);
    admin_partners_free(&d->reply);
    admin_status_free(&d->status);
    if (d->pathway != NULL)
        parcours__v1__pathway__free_unpacked(d->pathway, NULL);
    wire_free(d->request != NULL ? &d->request->base : NULL);
    memset(d, 0, sizeof(*d));
}
