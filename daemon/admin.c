/* admin.c: the admin endpoint's requests, answered from the store and the counters. */
#include "admin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "backup.h"
#include "clock.h"
#include "event.h"
#include "identifier.h"
#include "log.h"
#include "phase_counts.h"
#include "wire.h"
#include "wire_names.h"
#include "router.h"
#include "zap.h"

#define ADMIN_REQUEST_MAX 4096
#define ADMIN_PHASES      9   /* Phase values 0..8 */
#define ADMIN_TERRITORIES 256 /* territories counted apart; the rest are counted as "other" */

struct admin {
    router_t *router;
    const daemon_sources_t *sources;
    backup_t *backup;
};

/* Marks the reply failed with a sentence (which must outlive the reply). */
static void admin_error(Parcours__V1__AdminReply *reply, char *sentence)
{
    reply->ok = 0;
    reply->error = sentence;
}

/* The pathways per territory and phase as Status shows them: the territories of the partners
 * file first (each with every phase, zeros included), then any other a pathway is in. */
typedef struct status_phases {
    char territory[ADMIN_TERRITORIES][PARTNERS_TERRITORY_MAX + 1];
    uint64_t counts[ADMIN_TERRITORIES][ADMIN_PHASES];
    size_t n;
    Parcours__V1__PhaseCount items[ADMIN_TERRITORIES * (ADMIN_PHASES - 1)];
    Parcours__V1__PhaseCount *ptrs[ADMIN_TERRITORIES * (ADMIN_PHASES - 1)];
} status_phases_t;

/* The row of a territory, added when new; the last row takes what does not fit. */
static size_t status_phases_row(status_phases_t *c, const char *territory)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->territory[i], territory) == 0)
            return i;
    if (c->n == ADMIN_TERRITORIES)
        return ADMIN_TERRITORIES - 1;
    snprintf(c->territory[c->n], sizeof(c->territory[c->n]), "%s",
             c->n == ADMIN_TERRITORIES - 1 ? "other" : territory);
    return c->n++;
}

/* Fills status; the counts it points to live in c, which the caller owns. */
static void admin_status(admin_t *a, Parcours__V1__Status *status, status_phases_t *c)
{
    const ingest_stats_t *st = ingest_stats(a->sources->ingest);
    store_info_t info;
    store_info(a->sources->store, &info);
    const partners_t *partners = a->sources->partners;
    for (size_t i = 0; i < partners_count(partners); i++) {
        const partner_t *p = partners_at(partners, i);
        for (size_t t = 0; t < p->n_territories; t++)
            status_phases_row(c, p->territories[t]);
    }
    /* Kept as batches commit (phase_counts.h): no walk of the pathways on the loop. */
    const phase_counts_t *counts = ingest_phase_counts(a->sources->ingest);
    for (size_t r = 0; r < phase_counts_rows(counts); r++) {
        size_t row = status_phases_row(c, phase_counts_territory(counts, r));
        for (unsigned i = 0; i < ADMIN_PHASES; i++)
            c->counts[row][i] += phase_counts_get(counts, r, (Parcours__V1__Phase)i);
    }
    status->version = PARCOURS_VERSION;
    status->uptime_ms = clock_monotonic_ms() - a->sources->started_at_ms;
    status->last_seq = info.last_seq;
    status->n_pathways_per_phase = 0;
    status->pathways_per_phase = c->ptrs;
    for (size_t t = 0; t < c->n; t++) {
        for (unsigned i = 1; i < ADMIN_PHASES; i++) {
            Parcours__V1__PhaseCount *item = &c->items[status->n_pathways_per_phase];
            *item = (Parcours__V1__PhaseCount)PARCOURS__V1__PHASE_COUNT__INIT;
            item->phase = (Parcours__V1__Phase)i;
            item->count = c->counts[t][i];
            item->territory = c->territory[t];
            c->ptrs[status->n_pathways_per_phase++] = item;
        }
    }
    status->events_accepted = st->accepted;
    status->events_duplicate = st->duplicate;
    status->events_rejected = st->rejected;
    uint64_t batches = st->batch_size.count;
    status->batches = batches;
    status->batch_size_mean = batches ? st->batch_size.sum / (double)batches : 0;
    status->batch_size_max = st->batch_size_max;
    status->commit_ms_mean = batches ? 1000.0 * st->commit_seconds.sum / (double)batches : 0;
    status->commit_ms_max = st->commit_ms_max;
    status->durable = info.durable;
    status->stream_id = info.stream_id;
}

/* Fills status->deliveries, one per partner; freed by admin_deliveries_free. */
static void admin_deliveries(admin_t *a, Parcours__V1__Status *status)
{
    size_t n = partners_count(a->sources->partners);
    Parcours__V1__PartnerDelivery *items = calloc(n ? n : 1, sizeof(*items));
    status->deliveries = calloc(n ? n : 1, sizeof(*status->deliveries));
    if (items == NULL || status->deliveries == NULL || n == 0) {
        /* Nothing to show, or no memory: admin_deliveries_free frees through deliveries[0]. */
        free(items);
        free(status->deliveries);
        status->deliveries = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(a->sources->partners, i);
        Parcours__V1__PartnerDelivery *item = &items[i];
        *item = (Parcours__V1__PartnerDelivery)PARCOURS__V1__PARTNER_DELIVERY__INIT;
        item->partner_id = (char *)p->id;
        deliver_position_t at;
        deliver_position(a->sources->deliver, p->id, &at);
        item->last_partner_seq = at.last;
        item->cursor = at.cursor;
        item->lag = at.lag;
        item->subscribers = at.subscribers;
        status->deliveries[status->n_deliveries++] = item;
    }
}

static void admin_deliveries_free(Parcours__V1__Status *status)
{
    if (status->deliveries == NULL)
        return;
    if (status->n_deliveries > 0)
        free(status->deliveries[0]); /* the first item is the start of one array */
    free(status->deliveries);
}

/* Fills reply->history; the entries and events are freed by admin_history_free. */
static int admin_history(admin_t *a, const char *beneficiary, Parcours__V1__AdminReply *reply)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    int rc = store_pathway_seqs(a->sources->store, beneficiary, &seqs, &n);
    if (rc != STORE_OK)
        return rc;
    reply->history = calloc(n ? n : 1, sizeof(*reply->history));
    if (reply->history == NULL) {
        free(seqs);
        return STORE_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        store_log_entry_t entry;
        rc = store_log_get(a->sources->store, seqs[i], &entry);
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
static void admin_partners(admin_t *a, Parcours__V1__AdminReply *reply)
{
    size_t n = partners_count(a->sources->partners);
    reply->partners = calloc(n ? n : 1, sizeof(*reply->partners));
    Parcours__V1__PartnerInfo *infos = calloc(n ? n : 1, sizeof(*infos));
    char **territories = calloc(n ? n : 1, PARTNERS_TERRITORIES_MAX * sizeof(char *));
    if (reply->partners == NULL || infos == NULL || territories == NULL) {
        free(reply->partners);
        free(infos);
        free(territories);
        reply->partners = NULL;
        return;
    }
    if (n == 0) {
        free(infos);
        free(territories);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(a->sources->partners, i);
        Parcours__V1__PartnerInfo *info = &infos[i];
        *info = (Parcours__V1__PartnerInfo)PARCOURS__V1__PARTNER_INFO__INIT;
        info->partner_id = (char *)p->id;
        info->name = (char *)p->name;
        info->kind = p->kind;
        info->territories = &territories[i * PARTNERS_TERRITORIES_MAX];
        for (size_t t = 0; t < p->n_territories; t++)
            info->territories[info->n_territories++] = (char *)p->territories[t];
        reply->partners[reply->n_partners++] = info;
    }
}

static void admin_partners_free(Parcours__V1__AdminReply *reply)
{
    if (reply->partners == NULL)
        return;
    /* admin_partners made one array of infos and one of territories: the first entry points
     * at the start of both. */
    if (reply->n_partners > 0) {
        free(reply->partners[0]->territories);
        free(reply->partners[0]);
    }
    free(reply->partners);
}

static void admin_reply_send(admin_t *a, const void *identity, size_t identity_len,
                             const Parcours__V1__AdminReply *reply)
{
    size_t len = parcours__v1__admin_reply__get_packed_size(reply);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return;
    parcours__v1__admin_reply__pack(reply, buf);
    /* A backup's parts are sent from its timer as well as from requests: the router looks at
     * the socket again after every send, so no request waits behind one. */
    int rc = router_send(a->router, identity, identity_len, buf, len);
    if (rc != 0)
        log_debug("admin: reply not sent: %s", zmq_strerror(rc));
    free(buf);
}

static void admin_backup_reply(void *ctx, const void *identity, size_t identity_len,
                               const Parcours__V1__AdminReply *reply)
{
    admin_reply_send(ctx, identity, identity_len, reply);
}

static void admin_handle(admin_t *a, const void *identity, size_t identity_len,
                         const uint8_t *frame, int len)
{
    Parcours__V1__AdminReply reply = PARCOURS__V1__ADMIN_REPLY__INIT;
    Parcours__V1__Status status = PARCOURS__V1__STATUS__INIT;
    status_phases_t *phase_counts = NULL;
    Parcours__V1__Pathway *pathway = NULL;
    char error[256];
    reply.ok = 1;

    Parcours__V1__AdminRequest *req =
        (len > 0 && len <= ADMIN_REQUEST_MAX)
            ? (Parcours__V1__AdminRequest *)wire_unpack(&parcours__v1__admin_request__descriptor,
                                                        frame, (size_t)len)
            : NULL;
    if (req == NULL) {
        admin_error(&reply, "The request is not a parcours.v1.AdminRequest.");
        goto send;
    }
    if (!wire_strings_check(&req->base, NULL, 0)) {
        admin_error(&reply, "A string of the request holds a NUL byte or is not valid UTF-8.");
        goto send;
    }
    bool needs_beneficiary = req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_SHOW ||
                             req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HISTORY;
    if (needs_beneficiary && !identifier_valid(req->beneficiary_id)) {
        admin_error(&reply, "beneficiary_id must be 1 to 64 characters among A-Z a-z 0-9 . _ : -");
        goto send;
    }
    int rc = STORE_OK;
    switch (req->command) {
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS:
        if ((phase_counts = calloc(1, sizeof(*phase_counts))) == NULL) {
            admin_error(&reply, "The daemon is out of memory; ask again later.");
            break;
        }
        admin_status(a, &status, phase_counts);
        admin_deliveries(a, &status);
        reply.status = &status;
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_SHOW:
        rc = store_pathway_get(a->sources->store, req->beneficiary_id, &pathway);
        reply.pathway = pathway;
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HISTORY:
        rc = admin_history(a, req->beneficiary_id, &reply);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PARTNERS:
        admin_partners(a, &reply);
        break;
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_BACKUP:
        /* Answered by the backup, now or once its copy has more. */
        backup_request(a->backup, identity, identity_len, req);
        wire_free(&req->base);
        return;
    default:
        admin_error(&reply,
                    "Unknown admin command; parcoursctl and parcoursd may differ in version.");
        break;
    }
    if (rc == STORE_ENOTFOUND) {
        snprintf(error, sizeof(error), "Beneficiary %s has no pathway here.", req->beneficiary_id);
        admin_error(&reply, error);
    } else if (rc != STORE_OK) {
        snprintf(error, sizeof(error), "The store failed: %s", store_strerror(rc));
        admin_error(&reply, error);
    }
send:
    admin_reply_send(a, identity, identity_len, &reply);
    admin_history_free(&reply);
    admin_partners_free(&reply);
    admin_deliveries_free(&status);
    if (pathway != NULL)
        parcours__v1__pathway__free_unpacked(pathway, NULL);
    free(phase_counts);
    wire_free(req != NULL ? &req->base : NULL);
}

static void admin_on_readable(router_t *r, void *ctx)
{
    admin_t *a = ctx;
    uint8_t frame[ADMIN_REQUEST_MAX];
    router_message_t m;
    for (int served = 0; served < 64 && router_receive(r, &m, frame, sizeof(frame)); served++) {
        int len = m.has_frame && !m.read_error && !m.extra_frames && m.len <= sizeof(frame)
                      ? (int)m.len
                      : -1;
        admin_handle(a, m.identity, m.identity_len, frame, len);
    }
}

int admin_new(struct event_base *base, void *zmq_context, const char *endpoint,
              const uint8_t *secret_key, const daemon_sources_t *sources,
              unsigned backup_idle_seconds, admin_t **out, char *err, size_t errlen)
{
    *out = NULL;
    admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    a->sources = sources;
    a->backup = backup_new(base, sources->store, backup_idle_seconds, admin_backup_reply, a);
    if (a->backup == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Off ipc, the endpoint is reached from the network: CURVE with the admin keys, or no
     * endpoint at all. On ipc, the socket file is owner-only from its creation on. */
    bool ipc = strncmp(endpoint, "ipc://", 6) == 0;
    if (!ipc && secret_key == NULL) {
        snprintf(err, errlen,
                 "the admin endpoint %s is not ipc://: it needs [security] curve = yes and "
                 "[admin] keys",
                 endpoint);
        goto fail;
    }
    router_options_t o = {
        .name = "admin",
        .endpoint = endpoint,
        .secret_key = ipc ? NULL : secret_key,
        .zap_domain = ZAP_DOMAIN_ADMIN,
        .max_message = ADMIN_REQUEST_MAX,
        .linger_ms = 0,
        .owner_only = ipc,
    };
    if (router_new(base, zmq_context, &o, admin_on_readable, a, &a->router, err, errlen) != 0)
        goto fail;
    *out = a;
    return 0;
fail:
    admin_destroy(&a);
    return -1;
}

const backup_stats_t *admin_backup_stats(const admin_t *a)
{
    return backup_stats(a->backup);
}

void admin_destroy(admin_t **a)
{
    if (a == NULL || *a == NULL)
        return;
    backup_destroy(&(*a)->backup); /* before the store closes */
    router_destroy(&(*a)->router);
    free(*a);
    *a = NULL;
}
