/* deliver.c: the partners' notification streams, read from their outboxes. */
#include "deliver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "event.h"
#include "identifier.h"
#include "log.h"
#include "notification.h"
#include "pathway.h"
#include "wire.h"
#include "wire_names.h"
#include "router.h"
#include "zap.h"

#define DELIVER_REQUEST_MAX     1024 /* a DeliverRequest is a few dozen bytes */
#define DELIVER_SUBSCRIBERS_MAX 1024
#define DELIVER_PER_PARTNER_MAX 8    /* connections of one partner kept; the oldest goes first */
#define DELIVER_SCAN_MAX        1000 /* outbox entries looked at per subscriber and pass */
#define DELIVER_CACHE_SLOT_BITS 12
#define DELIVER_CACHE_SLOTS     (1u << DELIVER_CACHE_SLOT_BITS) /* hash slots of the pass cache */
#define DELIVER_CACHE_EVENTS    3072 /* events it holds at most: fewer than slots, so probes end */
#define DELIVER_CACHE_BYTES     (8u << 20) /* and bytes (event frames and pathway views) */

/* One subscribed connection. */
typedef struct subscriber {
    uint8_t identity[ROUTER_IDENTITY_MAX];
    size_t identity_len;
    char partner_id[PARTNERS_ID_MAX + 1];
    char user[PARTNERS_ID_MAX + 1]; /* the partner its key authenticated, "" without CURVE */
    uint32_t types;                 /* PARTNERS_EMIT_BIT of each type wanted; 0 = all */
    uint32_t window;
    uint64_t next;       /* the next partner_seq to look at */
    uint64_t *in_flight; /* ring of the partner_seqs sent and not yet acknowledged */
    uint32_t head;
    uint32_t count;
    uint64_t serial;      /* order of subscription, to evict the oldest */
    int64_t last_sent_ms; /* CLOCK_MONOTONIC of the last frame sent to it */
} subscriber_t;

/* What a pass knows of one event: read, decoded and packed once, however many subscribers it
 * goes to. The views are packed when a subscriber first needs them. */
typedef struct pass_event {
    uint64_t seq;
    store_log_entry_t entry; /* owns entry.raw */
    bool has_event;          /* entry.raw is a well-formed Event frame */
    char beneficiary_id[STORE_ID_MAX + 1];
    bool pathway_read;
    /* The beneficiary's pathway now, as stored (packed): what a territory-wide partner is
     * sent as it is, so that the most common view needs no decoding and no packing. */
    uint8_t *packed;                /* NULL when there is no pathway */
    size_t packed_len;
    char territory[PARTNERS_TERRITORY_MAX + 1];
    Parcours__V1__Pathway *pathway; /* packed decoded, once another view needs it, or NULL */
    uint8_t *view[PATHWAY_VIEWS];   /* the pathway packed as each view shows it */
    size_t view_len[PATHWAY_VIEWS];
    bool view_packed[PATHWAY_VIEWS];
    Parcours__V1__Event *event; /* entry.raw decoded, once a minimised event is needed */
    bool cached;                /* false for the spare entry, used when the cache is full */
} pass_event_t;

/*
 * The events read since the store last changed. Between two commits every pathway stays as it
 * is, so an event's notification differs between subscribers only in partner_seq and in the
 * pathway view, and each event is read, and each view packed, once for every subscriber whose
 * acknowledgement comes before the next commit (they come one by one: caching for one
 * callback only read each event again for each subscriber). The cache is emptied when the
 * store's generation moves (any commit), when the partners change, and is bounded in events
 * and bytes.
 */
typedef struct pass_cache {
    uint32_t *slots;      /* index + 1 into events, 0 = free; DELIVER_CACHE_SLOTS of them */
    pass_event_t *events; /* the events cached, in order of arrival */
    size_t n_events;
    size_t capacity;
    size_t bytes;
    pass_event_t spare;  /* an event that did not fit, freed after its one use */
    uint64_t generation; /* the store's generation the events were read at */
} pass_cache_t;

/* A partner's acknowledged position, and whether the store has it yet. */
typedef struct cursor {
    char partner_id[PARTNERS_ID_MAX + 1];
    uint64_t acked;
    bool dirty;
} cursor_t;

struct deliver {
    router_t *router;
    store_t *store;
    uint64_t stream_id; /* the store's, fixed while it is open */
    const partners_t *partners;
    subscriber_t *subs;
    size_t n_subs;
    uint64_t serial;
    cursor_t *cursors;
    size_t n_cursors;
    size_t cursors_capacity;
    struct event *flush_timer;
    struct event *heartbeat_timer;
    int64_t heartbeat_ms;
    struct event *pump_event; /* another pass, when a scan stopped at DELIVER_SCAN_MAX */
    pass_cache_t cache;
    unsigned territory_field; /* the field number of Pathway.territory */
};

/* --- Cursors ---------------------------------------------------------------------------------- */

static cursor_t *cursor_find(deliver_t *d, const char *partner_id, bool create)
{
    for (size_t i = 0; i < d->n_cursors; i++)
        if (strcmp(d->cursors[i].partner_id, partner_id) == 0)
            return &d->cursors[i];
    if (!create)
        return NULL;
    if (d->n_cursors == d->cursors_capacity) {
        size_t capacity = d->cursors_capacity ? 2 * d->cursors_capacity : 32;
        cursor_t *c = realloc(d->cursors, capacity * sizeof(*c));
        if (c == NULL)
            return NULL;
        d->cursors = c;
        d->cursors_capacity = capacity;
    }
    cursor_t *c = &d->cursors[d->n_cursors++];
    memset(c, 0, sizeof(*c));
    snprintf(c->partner_id, sizeof(c->partner_id), "%s", partner_id);
    store_cursor_get(d->store, partner_id, &c->acked);
    return c;
}

uint64_t deliver_cursor(deliver_t *d, const char *partner_id)
{
    cursor_t *c = cursor_find(d, partner_id, true);
    uint64_t acked = 0;
    if (c != NULL)
        return c->acked;
    store_cursor_get(d->store, partner_id, &acked);
    return acked;
}

int deliver_flush(deliver_t *d)
{
    bool any = false;
    for (size_t i = 0; i < d->n_cursors; i++)
        any |= d->cursors[i].dirty;
    if (!any)
        return STORE_OK;
    store_batch_t *batch = NULL;
    int rc = store_batch_begin(d->store, 0, &batch);
    for (size_t i = 0; rc == STORE_OK && i < d->n_cursors; i++)
        if (d->cursors[i].dirty)
            rc = store_batch_cursor_set(batch, d->cursors[i].partner_id, d->cursors[i].acked);
    if (rc == STORE_OK)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc != STORE_OK) {
        if (rc != STORE_EPANIC) /* said once, by the daemon (store_on_unusable) */
            log_warning("deliver: cursors not written (%s); they will be retried",
                        store_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < d->n_cursors; i++)
        d->cursors[i].dirty = false;
    return STORE_OK;
}

static void deliver_on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_flush(arg);
}

/* --- Subscribers ------------------------------------------------------------------------------ */

static subscriber_t *subscriber_find(deliver_t *d, const uint8_t *identity, size_t len)
{
    for (size_t i = 0; i < d->n_subs; i++)
        if (d->subs[i].identity_len == len && memcmp(d->subs[i].identity, identity, len) == 0)
            return &d->subs[i];
    return NULL;
}

static void subscriber_remove(deliver_t *d, subscriber_t *s)
{
    free(s->in_flight);
    *s = d->subs[--d->n_subs];
}

unsigned deliver_subscribers(const deliver_t *d, const char *partner_id)
{
    unsigned n = 0;
    for (size_t i = 0; i < d->n_subs; i++)
        n += strcmp(d->subs[i].partner_id, partner_id) == 0;
    return n;
}

void deliver_position(deliver_t *d, const char *partner_id, deliver_position_t *out)
{
    out->last = 0;
    store_outbox_last(d->store, partner_id, &out->last);
    out->cursor = deliver_cursor(d, partner_id);
    out->lag = out->last > out->cursor ? out->last - out->cursor : 0;
    out->subscribers = deliver_subscribers(d, partner_id);
}

/* Makes room for one more subscriber of partner_id: a partner that reconnects gets a new
 * connection identity, and its old entry is only noticed when a send to it fails, so the oldest
 * entries of the same partner (or of anyone, when the table is full) are dropped. */
static void subscribers_make_room(deliver_t *d, const char *partner_id)
{
    while (deliver_subscribers(d, partner_id) >= DELIVER_PER_PARTNER_MAX ||
           d->n_subs >= DELIVER_SUBSCRIBERS_MAX) {
        bool full = d->n_subs >= DELIVER_SUBSCRIBERS_MAX;
        subscriber_t *oldest = NULL;
        for (size_t i = 0; i < d->n_subs; i++)
            if ((full || strcmp(d->subs[i].partner_id, partner_id) == 0) &&
                (oldest == NULL || d->subs[i].serial < oldest->serial))
                oldest = &d->subs[i];
        subscriber_remove(d, oldest);
    }
}

/* --- Sending ---------------------------------------------------------------------------------- */

/* Sends one DeliverReply; returns 0, or the zmq errno (EHOSTUNREACH: the peer is gone). */
static int deliver_send(deliver_t *d, const uint8_t *identity, size_t identity_len,
                        const Parcours__V1__DeliverReply *reply)
{
    size_t len = parcours__v1__deliver_reply__get_packed_size(reply);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return ENOMEM;
    parcours__v1__deliver_reply__pack(reply, buf);
    int rc = router_send(d->router, identity, identity_len, buf, len);
    free(buf);
    return rc;
}

static void deliver_error(deliver_t *d, const uint8_t *identity, size_t identity_len,
                          Parcours__V1__ErrorCode code, const char *message)
{
    Parcours__V1__DeliverError error = PARCOURS__V1__DELIVER_ERROR__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    error.code = code;
    error.message = (char *)message;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_ERROR;
    reply.error = &error;
    deliver_send(d, identity, identity_len, &reply);
}

/* --- The pass cache --------------------------------------------------------------------------- */

static void pass_event_clear(pass_event_t *e)
{
    store_log_entry_clear(&e->entry);
    free(e->packed);
    if (e->pathway != NULL)
        parcours__v1__pathway__free_unpacked(e->pathway, NULL);
    for (int v = 0; v < PATHWAY_VIEWS; v++)
        free(e->view[v]);
    if (e->event != NULL)
        parcours__v1__event__free_unpacked(e->event, NULL);
    memset(e, 0, sizeof(*e));
}

/* Forgets every event cached (the store changed), keeping the tables for the next ones. */
static void pass_reset(deliver_t *d)
{
    pass_cache_t *c = &d->cache;
    for (size_t i = 0; i < c->n_events; i++)
        pass_event_clear(&c->events[i]);
    pass_event_clear(&c->spare);
    if (c->slots != NULL)
        memset(c->slots, 0, DELIVER_CACHE_SLOTS * sizeof(*c->slots));
    c->n_events = 0;
    c->bytes = 0;
    c->generation = store_generation(d->store);
}

/* Frees the cache and its tables. */
static void pass_free(deliver_t *d)
{
    pass_reset(d);
    free(d->cache.slots);
    free(d->cache.events);
    memset(&d->cache, 0, sizeof(d->cache));
}

/* Reads event seq from the log. Returns a store error when it cannot be read. */
static int pass_event_load(deliver_t *d, uint64_t seq, pass_event_t *e)
{
    memset(e, 0, sizeof(*e));
    int rc = store_log_get(d->store, seq, &e->entry);
    if (rc != STORE_OK)
        return rc;
    e->seq = seq;
    /* The log holds only frames that passed the ingest boundary, so finding the beneficiary is
     * all the decoding a notification needs; an entry whose event was erased has no frame. */
    const uint8_t *id;
    size_t id_len;
    if (e->entry.raw_len > 0 &&
        notification_event_beneficiary(e->entry.raw, e->entry.raw_len, &id, &id_len) == 0) {
        e->has_event = true;
        if (id_len <= STORE_ID_MAX)
            memcpy(e->beneficiary_id, id, id_len);
    }
    return STORE_OK;
}

/* The event seq of this pass, read on first use; NULL when it cannot be read. Valid until the
 * next call, which may reuse the spare entry; pass_release() it after use. */
static pass_event_t *pass_event(deliver_t *d, uint64_t seq)
{
    pass_cache_t *c = &d->cache;
    if (c->generation != store_generation(d->store))
        pass_reset(d);
    if (c->slots == NULL && (c->slots = calloc(DELIVER_CACHE_SLOTS, sizeof(*c->slots))) == NULL)
        return pass_event_load(d, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
    /* Fibonacci hashing: the seqs of a pass come in runs (one per subscriber's position), which
     * their low bits alone would pack into long clusters of the open addressing. */
    size_t slot = (size_t)((seq * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - DELIVER_CACHE_SLOT_BITS));
    while (c->slots[slot] != 0) {
        pass_event_t *e = &c->events[c->slots[slot] - 1];
        if (e->seq == seq)
            return e;
        slot = (slot + 1) & (DELIVER_CACHE_SLOTS - 1);
    }
    if (c->n_events >= DELIVER_CACHE_EVENTS || c->bytes >= DELIVER_CACHE_BYTES)
        return pass_event_load(d, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
    if (c->n_events == c->capacity) {
        size_t capacity = c->capacity ? 2 * c->capacity : 64;
        pass_event_t *events = realloc(c->events, capacity * sizeof(*events));
        if (events == NULL)
            return pass_event_load(d, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
        c->events = events;
        c->capacity = capacity;
    }
    pass_event_t *e = &c->events[c->n_events];
    if (pass_event_load(d, seq, e) != STORE_OK)
        return NULL;
    e->cached = true;
    c->n_events++;
    c->slots[slot] = (uint32_t)c->n_events;
    c->bytes += sizeof(*e) + e->entry.raw_len;
    return e;
}

/* Done with an event of pass_event(): the spare entry is freed at once. */
static void pass_release(deliver_t *d, pass_event_t *e)
{
    if (!e->cached)
        pass_event_clear(&d->cache.spare);
}

/* Reads the pathway of e's beneficiary, packed, once: false when there is none. */
static bool pass_pathway(deliver_t *d, pass_event_t *e)
{
    if (e->pathway_read)
        return e->packed != NULL;
    e->pathway_read = true;
    const uint8_t *territory;
    size_t territory_len;
    if (e->beneficiary_id[0] == '\0' ||
        store_pathway_get_packed(d->store, e->beneficiary_id, &e->packed, &e->packed_len) !=
            STORE_OK)
        return false;
    if (notification_bytes_field(e->packed, e->packed_len, d->territory_field, &territory,
                                 &territory_len) != 0 ||
        territory_len > PARTNERS_TERRITORY_MAX) {
        free(e->packed); /* not a pathway this daemon wrote: shown to no one */
        e->packed = NULL;
        return false;
    }
    memcpy(e->territory, territory, territory_len);
    e->territory[territory_len] = '\0';
    if (e->cached)
        d->cache.bytes += e->packed_len;
    return true;
}

/* The pathway of e decoded, once: NULL when there is none or memory ran out. */
static const Parcours__V1__Pathway *pass_pathway_decoded(deliver_t *d, pass_event_t *e)
{
    if (!pass_pathway(d, e))
        return NULL;
    if (e->pathway == NULL)
        e->pathway = parcours__v1__pathway__unpack(NULL, e->packed_len, e->packed);
    return e->pathway;
}

/*
 * Whether this partner may still be sent e. The outbox entry was written for what the partner
 * was when the event committed; a reload may since have changed its kind or its territories,
 * and a replay must not send it what it may no longer know: an entry of a territory it is no
 * longer registered for, or, now that it is an EMPLOYER or TRAINING_ORG, an event of a type its
 * kind does not receive. 1 yes, 0 no (the entry is passed over, as a type filter does), -1 out
 * of memory.
 */
static int pass_may_receive(deliver_t *d, pass_event_t *e, const partner_t *partner)
{
    if (!e->has_event)
        return 1;
    if (pass_pathway(d, e) && !partner_in_territory(partner, e->territory))
        return 0;
    if (!partner_kind_minimised(partner->kind))
        return 1;
    if (e->event == NULL &&
        (e->event = parcours__v1__event__unpack(NULL, e->entry.raw_len, e->entry.raw)) == NULL)
        return -1;
    return pathway_kind_receives(partner->kind, e->event, partner->id) ? 1 : 0;
}

/* Packs m into a new buffer (caller frees); NULL when out of memory. */
static uint8_t *pack_new(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf != NULL)
        protobuf_c_message_pack(m, buf);
    return buf;
}

/*
 * The pathway of e's beneficiary as this partner may see it now (pathway_view_for), packed:
 * *view is NULL once it has left the group, or when there is no pathway. The views of the
 * territory, the referent and the members are the same for every partner that has them and
 * belong to the pass; a minimised view names its partner, so it is made for this partner
 * alone, and *owned holds it for the caller to free after the send. Returns -1 when out of
 * memory: the caller sends nothing, and the next pass tries again.
 */
static int pass_view(deliver_t *d, pass_event_t *e, const partner_t *partner, const uint8_t **view,
                     size_t *view_len, uint8_t **owned)
{
    *view = NULL;
    *view_len = 0;
    *owned = NULL;
    if (!pass_pathway(d, e))
        return 0;
    /* A territory-wide partner of the pathway's territory sees it whole (pathway_view_for):
     * the stored bytes are that view. */
    if (partner_kind_territory_wide(partner->kind)) {
        if (partner_in_territory(partner, e->territory)) {
            *view = e->packed;
            *view_len = e->packed_len;
        }
        return 0;
    }
    const Parcours__V1__Pathway *pathway = pass_pathway_decoded(d, e);
    if (pathway == NULL)
        return -1;
    pathway_view_t v = pathway_view_for(pathway, partner);
    if (v == PATHWAY_VIEW_NONE)
        return 0;
    if (v == PATHWAY_VIEW_MINIMISED || !e->view_packed[v]) {
        Parcours__V1__Pathway *copy = pathway_copy(pathway, v, partner->id);
        size_t len = 0;
        uint8_t *bytes = copy != NULL ? pack_new(&copy->base, &len) : NULL;
        if (copy != NULL)
            parcours__v1__pathway__free_unpacked(copy, NULL);
        if (bytes == NULL)
            return -1;
        if (v == PATHWAY_VIEW_MINIMISED) {
            *owned = bytes;
            *view = bytes;
            *view_len = len;
            return 0;
        }
        e->view[v] = bytes;
        e->view_len[v] = len;
        e->view_packed[v] = true;
        if (e->cached)
            d->cache.bytes += len;
    }
    *view = e->view[v];
    *view_len = e->view_len[v];
    return 0;
}

/*
 * The event of e as this partner is sent it: the log's canonical bytes, or for an EMPLOYER or
 * TRAINING_ORG that did not send it, the event without who sent it nor any other partner's id
 * (pathway_event_minimise), made for this partner alone: *owned holds it for the caller to free
 * after the send. Returns -1 when out of memory: then nothing is sent, and the next pass tries
 * again.
 */
static int pass_event_bytes(pass_event_t *e, const partner_t *partner, const uint8_t **event,
                            size_t *event_len, uint8_t **owned)
{
    *event = e->entry.raw;
    *event_len = e->entry.raw_len;
    *owned = NULL;
    if (!partner_kind_minimised(partner->kind))
        return 0;
    if (e->event == NULL) {
        e->event = parcours__v1__event__unpack(NULL, e->entry.raw_len, e->entry.raw);
        if (e->event == NULL)
            return -1;
    }
    if (!pathway_event_minimised_for(partner, e->event))
        return 0;
    pathway_event_view_t shown;
    pathway_event_minimise(e->event, partner->id, &shown);
    if ((*owned = pack_new(&shown.event.base, event_len)) == NULL)
        return -1;
    *event = *owned;
    return 0;
}

/* --- Pumping ---------------------------------------------------------------------------------- */

/* Sends one notification frame to s; returns 0, or the zmq errno (EHOSTUNREACH: the peer is
 * gone). The frame is written straight into the message zmq sends. */
static int deliver_send_notification(deliver_t *d, const subscriber_t *s, const notification_t *n)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, notification_packed_size(n)) != 0)
        return errno;
    notification_pack(n, zmq_msg_data(&msg));
    int rc = router_send_msg(d->router, s->identity, s->identity_len, &msg);
    zmq_msg_close(&msg); /* after a successful send, this only releases the emptied message */
    return rc;
}

/* A Heartbeat to every subscriber sent nothing for an interval: ZeroMQ says nothing when a
 * connection goes, but ROUTER_MANDATORY refuses a frame for one that went (and libzmq's own
 * heartbeats close one whose peer vanished without a word), so the subscriber table, and the
 * connected partners the admin and /metrics show, stay true. */
static void deliver_on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_t *d = arg;
    int64_t now = clock_monotonic_ms();
    Parcours__V1__Heartbeat heartbeat = PARCOURS__V1__HEARTBEAT__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT;
    reply.heartbeat = &heartbeat;
    for (size_t i = 0; i < d->n_subs;) {
        subscriber_t *s = &d->subs[i];
        if (now - s->last_sent_ms < d->heartbeat_ms) {
            i++;
            continue;
        }
        int rc = deliver_send(d, s->identity, s->identity_len, &reply);
        if (rc == EHOSTUNREACH) {
            log_info("deliver: a connection of %s is gone", s->partner_id);
            subscriber_remove(d, s);
            continue;
        }
        s->last_sent_ms = now; /* EAGAIN too: a peer that reads nothing is still there */
        i++;
    }
    /* And a pass for everyone: a notification that met a full send queue (EAGAIN) goes out
     * now rather than at the next commit or acknowledgement, which a quiet stream may not have.
     * A subscriber with no credit costs nothing. */
    event_active(d->pump_event, EV_TIMEOUT, 0);
}

typedef struct pump {
    deliver_t *d;
    subscriber_t *s;
    const partner_t *partner;
    unsigned scanned;
    int send_error;
} pump_t;

/* Sends one outbox entry, or skips it; returns non-zero to stop the scan. */
static int pump_entry(uint64_t partner_seq, uint64_t seq, void *ctx)
{
    pump_t *p = ctx;
    subscriber_t *s = p->s;
    if (s->count >= s->window || p->scanned >= DELIVER_SCAN_MAX)
        return 1;
    p->scanned++;
    pass_event_t *e = pass_event(p->d, seq);
    if (e == NULL)
        return 1;
    bool wanted = s->types == 0 || (s->types & PARTNERS_EMIT_BIT(e->entry.type));
    int may = wanted ? pass_may_receive(p->d, e, p->partner) : 1;
    if (may < 0) {
        pass_release(p->d, e);
        return 1; /* out of memory: the next pass tries again */
    }
    int rc = 0;
    if (wanted && may) {
        notification_t n = {
            .partner_seq = partner_seq,
            .seq = seq,
            .committed_at = e->entry.committed_at,
            .stream_id = p->d->stream_id,
        };
        uint8_t *owned_event = NULL, *owned_view = NULL;
        if (e->has_event &&
            (pass_event_bytes(e, p->partner, &n.event, &n.event_len, &owned_event) != 0 ||
             pass_view(p->d, e, p->partner, &n.pathway, &n.pathway_len, &owned_view) != 0)) {
            free(owned_event);
            free(owned_view);
            pass_release(p->d, e);
            return 1; /* out of memory: the next pass sends it */
        }
        rc = deliver_send_notification(p->d, s, &n);
        free(owned_event);
        free(owned_view);
        if (rc == 0) {
            s->last_sent_ms = clock_monotonic_ms();
            s->in_flight[(s->head + s->count) % s->window] = partner_seq;
            s->count++;
        }
    }
    pass_release(p->d, e);
    if (rc != 0) {
        p->send_error = rc;
        return 1;
    }
    s->next = partner_seq + 1;
    return 0;
}

/* Sends a subscriber what its credit allows. Returns false when the subscriber is gone. */
static bool deliver_pump(deliver_t *d, subscriber_t *s, bool *more)
{
    const partner_t *partner = partners_find(d->partners, s->partner_id);
    if (partner == NULL)
        return false;
    if (s->count >= s->window)
        return true; /* no credit: a stalled partner costs nothing */
    pump_t p = {d, s, partner, 0, 0};
    store_outbox_foreach(d->store, s->partner_id, s->next, pump_entry, &p);
    if (p.send_error == EHOSTUNREACH)
        return false;
    if (p.scanned >= DELIVER_SCAN_MAX)
        *more = true;
    return true;
}

static void deliver_pump_all(deliver_t *d)
{
    bool more = false;
    for (size_t i = 0; i < d->n_subs;) {
        if (deliver_pump(d, &d->subs[i], &more)) {
            i++;
        } else {
            log_debug("deliver: a connection of %s is gone", d->subs[i].partner_id);
            subscriber_remove(d, &d->subs[i]);
        }
    }
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_pump_all(arg);
}

void deliver_wake(deliver_t *d)
{
    deliver_pump_all(d);
}

/* --- Requests --------------------------------------------------------------------------------- */

static void deliver_subscribe(deliver_t *d, const uint8_t *identity, size_t identity_len,
                              const Parcours__V1__Subscribe *sub, const char *authenticated)
{
    char message[256];
    /* Only an identifier that passed the rule is ever repeated in a reply. */
    if (sub->partner_id[0] != '\0' && !identifier_valid(sub->partner_id)) {
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                      "Subscribe.partner_id must be 1 to 64 characters among A-Z a-z 0-9 . _ : - "
                      "(or empty on a connection authenticated by its key).");
        return;
    }
    /* With CURVE, the partner is the one the connection's key belongs to: a Subscribe may name
     * it, or leave partner_id empty, never name another. */
    if (authenticated != NULL && sub->partner_id[0] != '\0' &&
        strcmp(sub->partner_id, authenticated) != 0) {
        snprintf(message, sizeof(message),
                 "This connection is authenticated as partner %s; it may not subscribe as "
                 "%s.",
                 authenticated, sub->partner_id);
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_AUTHORISED), message);
        return;
    }
    const char *partner_id = authenticated != NULL ? authenticated : sub->partner_id;
    const partner_t *partner = partners_find(d->partners, partner_id);
    if (partner == NULL) {
        if (partner_id[0] == '\0')
            snprintf(message, sizeof(message),
                     "Subscribe.partner_id is empty on a connection without a key: name your "
                     "partner id.");
        else
            snprintf(message, sizeof(message),
                     "Partner %s is not in this territory's partners file; ask the territory's "
                     "admin to declare it.",
                     partner_id);
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_AUTHORISED), message);
        return;
    }
    uint32_t types = 0;
    for (size_t i = 0; i < sub->n_types; i++) {
        if (event_type_name(sub->types[i]) == NULL) {
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Subscribe.types holds a value that is not an EventType.");
            return;
        }
        types |= PARTNERS_EMIT_BIT(sub->types[i]);
    }
    deliver_position_t at;
    deliver_position(d, partner->id, &at);
    uint64_t last = at.last, cursor = at.cursor;
    uint64_t from = sub->from ? sub->from : cursor + 1;
    if (from > last + 1) {
        snprintf(message, sizeof(message),
                 "Subscribe.from is %llu but the last notification of %s is %llu; subscribe "
                 "from 0 to resume after your cursor.",
                 (unsigned long long)from, partner->id, (unsigned long long)last);
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED), message);
        return;
    }
    uint32_t window = sub->window ? sub->window : DELIVER_WINDOW_DEFAULT;
    if (window > DELIVER_WINDOW_MAX)
        window = DELIVER_WINDOW_MAX;

    subscriber_t *s = subscriber_find(d, identity, identity_len);
    if (s != NULL)
        subscriber_remove(d, s); /* a connection may subscribe again, e.g. to replay */
    subscribers_make_room(d, partner->id);
    s = &d->subs[d->n_subs];
    memset(s, 0, sizeof(*s));
    s->in_flight = calloc(window, sizeof(uint64_t));
    if (s->in_flight == NULL) {
        deliver_error(d, identity, identity_len, ERROR_CODE(UNAVAILABLE),
                      "The daemon is out of memory; subscribe again later.");
        return;
    }
    d->n_subs++;
    memcpy(s->identity, identity, identity_len);
    s->identity_len = identity_len;
    snprintf(s->partner_id, sizeof(s->partner_id), "%s", partner->id);
    snprintf(s->user, sizeof(s->user), "%s", authenticated != NULL ? authenticated : "");
    s->types = types;
    s->window = window;
    s->next = from;
    s->serial = ++d->serial;
    s->last_sent_ms = clock_monotonic_ms();

    Parcours__V1__Subscribed ok = PARCOURS__V1__SUBSCRIBED__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    ok.partner_id = s->partner_id;
    ok.from = from;
    ok.cursor = cursor;
    ok.last_partner_seq = last;
    ok.window = window;
    ok.stream_id = d->stream_id;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_SUBSCRIBED;
    reply.subscribed = &ok;
    deliver_send(d, identity, identity_len, &reply);
    log_info("deliver: %s subscribed from %llu (cursor %llu, last %llu, window %u)", s->partner_id,
             (unsigned long long)from, (unsigned long long)cursor, (unsigned long long)last,
             window);
    bool more = false;
    if (!deliver_pump(d, s, &more))
        subscriber_remove(d, s);
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_ack(deliver_t *d, const uint8_t *identity, size_t identity_len, uint64_t up_to)
{
    subscriber_t *s = subscriber_find(d, identity, identity_len);
    if (s == NULL) {
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_SUBSCRIBED),
                      "DeliveryAck on a connection with no subscription (the daemon may have "
                      "restarted): send Subscribe again.");
        return;
    }
    if (up_to >= s->next) {
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                      "DeliveryAck.up_to is beyond the last notification sent.");
        return;
    }
    while (s->count > 0 && s->in_flight[s->head] <= up_to) {
        s->head = (s->head + 1) % s->window;
        s->count--;
    }
    cursor_t *c = cursor_find(d, s->partner_id, true);
    if (c != NULL && up_to > c->acked) {
        c->acked = up_to;
        c->dirty = true;
    }
    bool more = false;
    if (!deliver_pump(d, s, &more))
        subscriber_remove(d, s);
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_on_readable(router_t *r, void *ctx)
{
    deliver_t *d = ctx;
    uint8_t frame[DELIVER_REQUEST_MAX];
    router_message_t m;
    for (int served = 0; served < 256 && router_receive(r, &m, frame, sizeof(frame)); served++) {
        const uint8_t *identity = m.identity;
        size_t identity_len = m.identity_len;
        const char *authenticated = m.user;
        int len = m.has_frame && !m.read_error && !m.extra_frames && m.len <= sizeof(frame)
                      ? (int)m.len
                      : -1;
        /* libzmq names a connection with a zero byte first; a routing id a client chose itself
         * could be taken by another connection once this one goes, and that one would be sent
         * this stream: such connections are not served. */
        if (!router_identity_is_own(identity, identity_len)) {
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Leave ZMQ_ROUTING_ID unset on the deliver socket: the daemon ties a "
                          "stream to the connection libzmq names.");
            continue;
        }
        /* The routing id of a subscription, now used by a connection of another partner (its
         * own went): the subscription ends before anything more goes to that routing id. */
        subscriber_t *holder = subscriber_find(d, identity, identity_len);
        if (holder != NULL && strcmp(holder->user, authenticated) != 0) {
            log_warning("deliver: a connection of %s took a routing id %s subscribed with; "
                        "that subscription ends",
                        authenticated[0] ? authenticated : "?", holder->partner_id);
            subscriber_remove(d, holder);
        }
        Parcours__V1__DeliverRequest *req =
            (len > 0 && len <= (int)sizeof(frame))
                ? (Parcours__V1__DeliverRequest *)wire_unpack(
                      &parcours__v1__deliver_request__descriptor, frame, (size_t)len)
                : NULL;
        if (req != NULL && !wire_strings_check(&req->base, NULL, 0))
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "A string of the DeliverRequest holds a NUL byte or is not valid UTF-8.");
        else if (req != NULL && req->kind_case == PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE)
            deliver_subscribe(d, identity, identity_len, req->subscribe,
                              authenticated[0] ? authenticated : NULL);
        else if (req != NULL && req->kind_case == PARCOURS__V1__DELIVER_REQUEST__KIND_ACK)
            deliver_ack(d, identity, identity_len, req->ack->up_to);
        else
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Send one parcours.v1.DeliverRequest per frame (subscribe or ack).");
        wire_free(req != NULL ? &req->base : NULL);
    }
}

/* --- Lifecycle -------------------------------------------------------------------------------- */

int deliver_new(struct event_base *base, void *zmq_context, store_t *store,
                const partners_t *partners, const deliver_options_t *options, deliver_t **out,
                char *err, size_t errlen)
{
    *out = NULL;
    deliver_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    d->store = store;
    d->territory_field =
        protobuf_c_message_descriptor_get_field_by_name(&parcours__v1__pathway__descriptor,
                                                        "territory")
            ->id;
    store_info_t info;
    d->stream_id = store_info(store, &info) == STORE_OK ? info.stream_id : 0;
    d->partners = partners;
    d->subs = calloc(DELIVER_SUBSCRIBERS_MAX, sizeof(subscriber_t));
    if (d->subs == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* A subscriber never has more than its window in flight, so the send queue of one
     * connection never needs more than the largest window, and a few Heartbeats; a peer that
     * stopped reading fills it with them in the end, and sends then get EAGAIN and are tried
     * again at the next pass. libzmq's own heartbeats (ZMTP PING) close a connection whose
     * peer vanished without a word (a cut network, a dead machine); the Heartbeat frames then
     * find it gone. */
    d->heartbeat_ms = 1000 * (int64_t)(options->heartbeat_s ? options->heartbeat_s : 10);
    router_options_t o = {
        .name = "deliver",
        .endpoint = options->endpoint,
        .secret_key = options->secret_key,
        .zap_domain = ZAP_DOMAIN_DELIVER,
        .max_message = DELIVER_REQUEST_MAX,
        .send_hwm = DELIVER_WINDOW_MAX + 16,
        .linger_ms = 1000,
        .mandatory = true,
        .heartbeat_ms = (int)d->heartbeat_ms,
    };
    if (router_new(base, zmq_context, &o, deliver_on_readable, d, &d->router, err, errlen) != 0)
        goto fail;
    unsigned flush_ms = options->cursor_flush_ms ? options->cursor_flush_ms : 100;
    struct timeval every = {(time_t)(flush_ms / 1000), (suseconds_t)(flush_ms % 1000) * 1000};
    struct timeval beat = {(time_t)(d->heartbeat_ms / 1000), 0};
    d->flush_timer = event_new(base, -1, EV_PERSIST, deliver_on_flush_timer, d);
    d->heartbeat_timer = event_new(base, -1, EV_PERSIST, deliver_on_heartbeat_timer, d);
    d->pump_event = event_new(base, -1, 0, deliver_on_pump, d);
    if (d->flush_timer == NULL || d->heartbeat_timer == NULL || d->pump_event == NULL ||
        event_add(d->flush_timer, &every) != 0 || event_add(d->heartbeat_timer, &beat) != 0) {
        snprintf(err, errlen, "cannot watch the deliver socket");
        goto fail;
    }
    *out = d;
    return 0;
fail:
    deliver_destroy(&d);
    return -1;
}

void deliver_set_partners(deliver_t *d, const partners_t *partners)
{
    d->partners = partners;
    pass_reset(d);
    for (size_t i = 0; i < d->n_subs;)
        if (partners_find(partners, d->subs[i].partner_id) == NULL)
            subscriber_remove(d, &d->subs[i]);
        else
            i++;
}

void deliver_destroy(deliver_t **d)
{
    if (d == NULL || *d == NULL)
        return;
    deliver_t *x = *d;
    if (x->store != NULL && x->cursors != NULL)
        deliver_flush(x);
    router_destroy(&x->router);
    if (x->flush_timer != NULL)
        event_free(x->flush_timer);
    if (x->heartbeat_timer != NULL)
        event_free(x->heartbeat_timer);
    if (x->pump_event != NULL)
        event_free(x->pump_event);
    pass_free(x);
    for (size_t i = 0; i < x->n_subs; i++)
        free(x->subs[i].in_flight);
    free(x->subs);
    free(x->cursors);
    free(x);
    *d = NULL;
}

void deliver_rebind(deliver_t *d)
{
    router_rebind(d->router);
    for (size_t i = 0; i < d->n_subs; i++)
        free(d->subs[i].in_flight);
    d->n_subs = 0; /* the connections are gone; their partners subscribe again */
}
