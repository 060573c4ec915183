/* admin.c: the admin endpoint's requests, answered from the store and the counters. */
#include "admin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backup.h"
#include "event.h"
#include "figures.h"
#include "log.h"
#include "wire.h"
#include "wire_names.h"
#include "router.h"
#include "zap.h"

#define ADMIN_REQUEST_MAX 4096

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

/* A Status reply and what it points to: the figures it renders and the arrays of its repeated
 * fields. Made by admin_status_new, freed by admin_status_free. */
typedef struct admin_status {
    figures_t figures;
    Parcours__V1__Status status;
    Parcours__V1__PhaseCount *counts;
    Parcours__V1__PhaseCount **count_pointers;
    Parcours__V1__PartnerDelivery *deliveries;
    Parcours__V1__PartnerDelivery **delivery_pointers;
} admin_status_t;

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
static int admin_status_new(admin_t *a, admin_status_t *s)
{
    *s = (admin_status_t){.status = PARCOURS__V1__STATUS__INIT};
    figures_t *f = &s->figures;
    if (figures_collect(a->sources, backup_stats(a->backup), f) != 0)
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
        log_debug("admin: reply not sent: %s", router_strerror(rc));
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
    admin_status_t status = {.status = PARCOURS__V1__STATUS__INIT};
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
    if (needs_beneficiary && !event_id_valid(req->beneficiary_id)) {
        admin_error(&reply, "beneficiary_id must be 1 to 64 characters among A-Z a-z 0-9 . _ : -");
        goto send;
    }
    int rc = STORE_OK;
    switch (req->command) {
    case PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS:
        if (admin_status_new(a, &status) != 0) {
            admin_error(&reply, "The daemon is out of memory; ask again later.");
            break;
        }
        reply.status = &status.status;
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
    admin_status_free(&status);
    if (pathway != NULL)
        parcours__v1__pathway__free_unpacked(pathway, NULL);
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
