/*
 * delivery_cache.c: the events delivery sends, read once and shown to each partner as it may
 * see them (delivery_cache.h).
 */
#include "delivery_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "notification.h"
#include "pathway.h"
#include "wire_names.h"

#define CACHE_SLOT_BITS 12
#define CACHE_SLOTS     (1u << CACHE_SLOT_BITS) /* hash slots */
#define CACHE_EVENTS    3072       /* events it holds at most: fewer than slots, so probes end */
#define CACHE_BYTES     (8u << 20) /* and bytes (event frames and pathway views) */

/* What the cache knows of one event: read, decoded and packed once, however many subscribers
 * it goes to. The views are packed when a subscriber first needs them. */
typedef struct cached_event {
    uint64_t seq;
    store_log_entry_t entry; /* owns entry.raw */
    bool has_event;          /* entry.raw is a well-formed Event frame, decoded in event */
    char beneficiary_id[STORE_ID_MAX + 1];
    bool pathway_read;
    /* The beneficiary's pathway now, as stored (packed): what a territory-wide partner is
     * sent as it is, so that the most common view needs no decoding and no packing. */
    uint8_t *packed; /* NULL when there is no pathway */
    size_t packed_len;
    store_pathway_meta_t meta; /* the pathway's retention clock and flags */
    char territory[PARTNERS_TERRITORY_MAX + 1];
    Parcours__V1__Pathway *pathway; /* packed decoded, once another view needs it, or NULL */
    uint8_t *view[PATHWAY_VIEWS];   /* the pathway packed as each view shows it */
    size_t view_len[PATHWAY_VIEWS];
    bool view_packed[PATHWAY_VIEWS];
    Parcours__V1__Event *event; /* entry.raw decoded, when has_event */
    bool cached;                /* false for the spare entry, used when the cache is full */
} cached_event_t;

/*
 * The events read since the store last changed. Between two commits every pathway stays as it
 * is, so an event's notification differs between subscribers only in partner_seq and in the
 * pathway view, and each event is read, and each view packed, once for every subscriber whose
 * acknowledgement comes before the next commit (they come one by one: caching for one
 * callback only read each event again for each subscriber). The cache is emptied when the
 * snapshot the reads see moves (store_snapshot: a commit, seen by the next pass, which holds a
 * snapshot of its own while ingest commits on), when the partners change, and is bounded in
 * events and bytes.
 */
struct delivery_cache {
    store_t *store;
    uint32_t *slots;        /* index + 1 into events, 0 = free; CACHE_SLOTS of them */
    cached_event_t *events; /* the events cached, in order of arrival */
    size_t n_events;
    size_t capacity;
    size_t bytes;
    cached_event_t spare; /* an event that did not fit, freed after its one use */
    uint64_t generation;  /* the store's snapshot the events were read in (store_snapshot) */
    int64_t active_ms;    /* [retention] active period; 0: no pathway is archived */
};

static void cached_event_clear(cached_event_t *e)
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
static void cached_reset(delivery_cache_t *c)
{
    for (size_t i = 0; i < c->n_events; i++)
        cached_event_clear(&c->events[i]);
    cached_event_clear(&c->spare);
    if (c->slots != NULL)
        memset(c->slots, 0, CACHE_SLOTS * sizeof(*c->slots));
    c->n_events = 0;
    c->bytes = 0;
    c->generation = store_snapshot(c->store);
}

/* Reads event seq from the log. Returns a store error when it cannot be read. */
static int cached_event_load(delivery_cache_t *c, uint64_t seq, cached_event_t *e)
{
    memset(e, 0, sizeof(*e));
    int rc = store_log_get(c->store, seq, &e->entry);
    if (rc != STORE_OK)
        return rc;
    e->seq = seq;
    /* The log holds only frames that passed the ingest boundary: decoded here once, for every
     * subscriber (the beneficiary, then the type and the minimised view some partners need).
     * An entry whose event was erased has no frame. */
    if (e->entry.kind == STORE_LOG_EVENT && e->entry.raw_len > 0 &&
        (e->event = parcours__v1__event__unpack(NULL, e->entry.raw_len, e->entry.raw)) != NULL) {
        e->has_event = true;
        if (e->event->beneficiary_id != NULL && strlen(e->event->beneficiary_id) <= STORE_ID_MAX)
            strcpy(e->beneficiary_id, e->event->beneficiary_id);
        /* A move names its reference, not a person: no pathway goes with it, even one a
         * partner registered under an id that happens to read the same. */
        if (e->entry.type == EVENT_TYPE(TRANSFER_ANNOUNCED))
            e->pathway_read = true;
    }
    return STORE_OK;
}

/* Event seq, read on first use since the store last changed; NULL when it cannot be read. Valid
 * until the next call, which may reuse the spare entry; cached_release() it after use. */
static cached_event_t *cached_event(delivery_cache_t *c, uint64_t seq)
{
    if (c->generation != store_snapshot(c->store))
        cached_reset(c);
    if (c->slots == NULL && (c->slots = calloc(CACHE_SLOTS, sizeof(*c->slots))) == NULL)
        return cached_event_load(c, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
    /* Fibonacci hashing: the seqs asked for come in runs (one per subscriber's position), which
     * their low bits alone would pack into long clusters of the open addressing. */
    size_t slot = (size_t)((seq * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - CACHE_SLOT_BITS));
    while (c->slots[slot] != 0) {
        cached_event_t *e = &c->events[c->slots[slot] - 1];
        if (e->seq == seq)
            return e;
        slot = (slot + 1) & (CACHE_SLOTS - 1);
    }
    if (c->n_events >= CACHE_EVENTS || c->bytes >= CACHE_BYTES)
        return cached_event_load(c, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
    if (c->n_events == c->capacity) {
        size_t capacity = c->capacity ? 2 * c->capacity : 64;
        cached_event_t *events = realloc(c->events, capacity * sizeof(*events));
        if (events == NULL)
            return cached_event_load(c, seq, &c->spare) == STORE_OK ? &c->spare : NULL;
        c->events = events;
        c->capacity = capacity;
    }
    cached_event_t *e = &c->events[c->n_events];
    if (cached_event_load(c, seq, e) != STORE_OK)
        return NULL;
    e->cached = true;
    c->n_events++;
    c->slots[slot] = (uint32_t)c->n_events;
    /* The frame and its decoded copy, which holds as many bytes and a struct or two more. */
    c->bytes += sizeof(*e) + 2 * e->entry.raw_len + (e->event != NULL ? sizeof(*e->event) : 0);
    return e;
}

/* Done with an event of cached_event(): the spare entry is freed at once. */
static void cached_release(delivery_cache_t *c, cached_event_t *e)
{
    if (!e->cached)
        cached_event_clear(&c->spare);
}

/* Reads the pathway of e's beneficiary, packed, once: false when there is none. */
static bool cached_pathway(delivery_cache_t *c, cached_event_t *e)
{
    if (e->pathway_read)
        return e->packed != NULL;
    e->pathway_read = true;
    if (e->beneficiary_id[0] == '\0' ||
        store_pathway_get_packed(c->store, e->beneficiary_id, &e->packed, &e->packed_len,
                                 &e->meta) != STORE_OK)
        return false;
    /* Decoded once for its territory, which every partner's check reads, and for the views
     * the partners that are not territory-wide are sent. */
    e->pathway = parcours__v1__pathway__unpack(NULL, e->packed_len, e->packed);
    if (e->pathway == NULL || e->pathway->territory == NULL ||
        strlen(e->pathway->territory) > PARTNERS_TERRITORY_MAX) {
        /* Not a pathway this daemon wrote (or no memory): shown to no one. */
        if (e->pathway != NULL)
            parcours__v1__pathway__free_unpacked(e->pathway, NULL);
        e->pathway = NULL;
        free(e->packed);
        e->packed = NULL;
        return false;
    }
    strcpy(e->territory, e->pathway->territory);
    if (e->cached)
        c->bytes += 2 * e->packed_len + sizeof(*e->pathway);
    return true;
}

/* The pathway of e decoded, once: NULL when there is none or memory ran out. */
static const Parcours__V1__Pathway *cached_pathway_decoded(delivery_cache_t *c, cached_event_t *e)
{
    return cached_pathway(c, e) ? e->pathway : NULL;
}

/*
 * Whether this partner may still be sent e. The outbox entry was written for what the partner
 * was when the event committed; a reload may since have changed its kind or its territories,
 * and a replay must not send it what it may no longer know: an entry of a territory it is no
 * longer registered for, or, now that it is an EMPLOYER or TRAINING_ORG, an event of a type its
 * kind does not receive. 1 yes, 0 no (the entry is passed over, as a type filter does), -1 out
 * of memory.
 */
static int cached_may_receive(delivery_cache_t *c, cached_event_t *e, const partner_t *partner)
{
    if (!e->has_event)
        return 1;
    if (cached_pathway(c, e) && !partner_in_territory(partner, e->territory))
        return 0;
    /* An archived pathway (its last contact older than the active period) is kept for the
     * departement alone (CASF R263-8): nobody else is told of it any more. */
    if (e->packed != NULL && c->active_ms > 0 &&
        e->meta.last_contact < clock_realtime_ms() - c->active_ms &&
        partner->kind != PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_DEPARTEMENT)
        return 0;
    /* The person's opposition recorded (CASF L263-4-1): only the partners the law requires are
     * told, the territory-wide ones and the referent's. */
    if (e->packed != NULL && e->meta.opposed && !partner_kind_territory_wide(partner->kind)) {
        const Parcours__V1__Pathway *p = cached_pathway_decoded(c, e);
        if (p == NULL)
            return -1;
        if (p->referent == NULL || p->referent->partner_id == NULL ||
            strcmp(p->referent->partner_id, partner->id) != 0)
            return 0;
    }
    if (!partner_kind_minimised(partner->kind))
        return 1;
    return pathway_kind_receives(partner->kind, e->event, partner->id) ? 1 : 0;
}

/*
 * Whether this partner may be sent what e is, by its kind, before anything else is looked at: a
 * BRIDGE only the moves away from its territory (parcoursd's TransferAnnounced) and what stood
 * at their partner_seq once destroyed, nothing of any pathway (it is never a member, and an
 * Erasure notice reaches it only if it was told of the person under another kind before a
 * reload); a move arriving here only the destination territory's DEPARTEMENT partners, as
 * transfer_announce chose them.
 */
static bool cached_kind_receives(const cached_event_t *e, const partner_t *partner)
{
    bool move = e->has_event && e->entry.type == EVENT_TYPE(TRANSFER_ANNOUNCED);
    if (partner->kind == PARTNER_KIND(BRIDGE)) {
        if (e->entry.kind == STORE_LOG_WITHDRAWN)
            return true;
        return move && strcmp(e->event->partner_id, PARTNERS_DAEMON_ID) == 0 &&
               partner_in_territory(partner,
                                    e->event->transfer_announced->transfer->origin_territory);
    }
    if (!move)
        return true;
    return partner->kind == PARTNER_KIND(DEPARTEMENT) &&
           strcmp(e->event->partner_id, PARTNERS_DAEMON_ID) != 0 &&
           partner_in_territory(partner,
                                e->event->transfer_announced->transfer->destination_territory);
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
 * are cached; a minimised view names its partner, so it is made for this partner
 * alone, and *owned holds it for the caller to free after the send. Returns -1 when out of
 * memory: the caller sends nothing, and the next pass tries again.
 */
static int cached_view(delivery_cache_t *c, cached_event_t *e, const partner_t *partner,
                       const uint8_t **view, size_t *view_len, uint8_t **owned)
{
    *view = NULL;
    *view_len = 0;
    *owned = NULL;
    if (!cached_pathway(c, e))
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
    const Parcours__V1__Pathway *pathway = cached_pathway_decoded(c, e);
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
            c->bytes += len;
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
static int cached_event_bytes(cached_event_t *e, const partner_t *partner, const uint8_t **event,
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

delivery_cache_t *delivery_cache_new(store_t *store)
{
    delivery_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->store = store;
    c->generation = store_snapshot(store);
    return c;
}

void delivery_cache_set_active(delivery_cache_t *c, int64_t active_ms)
{
    c->active_ms = active_ms;
}

void delivery_cache_forget(delivery_cache_t *c)
{
    cached_reset(c);
}

void delivery_cache_destroy(delivery_cache_t **pc)
{
    if (pc == NULL || *pc == NULL)
        return;
    delivery_cache_t *c = *pc;
    cached_reset(c);
    free(c->slots);
    free(c->events);
    free(c);
    *pc = NULL;
}

int delivery_cache_build(delivery_cache_t *c, uint64_t seq, const partner_t *partner,
                         uint32_t types, delivery_notification_t *out)
{
    memset(out, 0, sizeof(*out));
    cached_event_t *e = cached_event(c, seq);
    if (e == NULL)
        return -1;
    /* An erased person's notice goes to every partner it was written for, whatever its filter
     * and its territories now: each was told of the person and must erase its copy. */
    if (e->entry.kind == STORE_LOG_ERASURE) {
        out->n.seq = seq;
        out->n.committed_at = e->entry.committed_at;
        out->n.erasure = e->entry.raw;
        out->n.erasure_len = e->entry.raw_len;
        out->event = e;
        return 1;
    }
    bool wanted = (types == 0 || (types & PARTNERS_EMIT_BIT(e->entry.type))) &&
                  cached_kind_receives(e, partner);
    int may = wanted ? cached_may_receive(c, e, partner) : 0;
    if (may <= 0) {
        cached_release(c, e);
        return may; /* -1: out of memory, the next pass tries again */
    }
    out->n.seq = seq;
    out->n.committed_at = e->entry.committed_at;
    /* What stood here was destroyed: the partner learns only that, at its partner_seq. */
    out->n.withdrawn = e->entry.kind == STORE_LOG_WITHDRAWN;
    if (e->has_event &&
        (cached_event_bytes(e, partner, &out->n.event, &out->n.event_len, &out->owned_event) != 0 ||
         cached_view(c, e, partner, &out->n.pathway, &out->n.pathway_len, &out->owned_view) != 0)) {
        free(out->owned_event);
        free(out->owned_view);
        cached_release(c, e);
        memset(out, 0, sizeof(*out));
        return -1; /* out of memory: the next pass sends it */
    }
    out->event = e;
    return 1;
}

void delivery_notification_release(delivery_cache_t *c, delivery_notification_t *n)
{
    free(n->owned_event);
    free(n->owned_view);
    if (n->event != NULL)
        cached_release(c, n->event);
    memset(n, 0, sizeof(*n));
}
