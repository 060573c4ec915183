/*
 * delivery_cache.h: the events the deliver endpoint sends, read once and shown to each partner
 * as it may see them.
 *
 * A notification is an outbox entry made whole: the event's canonical bytes from the log (or,
 * for an EMPLOYER or TRAINING_ORG that did not send it, the event without any other partner's
 * id), and the beneficiary's pathway now, in the view the partner is entitled to
 * (pathway_view_for). Between two commits nothing of that can change, so the cache reads each
 * event from the store once and packs each shared view once, for every subscriber that needs it
 * in the same snapshot of the store; it forgets everything when the snapshot moves. It holds at
 * most a few thousand events and a few MiB: past that, events are read for their one use.
 *
 * What a partner may be sent is decided here at send time, with the directory in force: an
 * entry written for what the partner was when the event committed is passed over when a reload
 * has since removed its territory, or made it a kind that does not receive that type.
 *
 * No socket here: deliver.c sends what this builds.
 */
#ifndef PARCOURS_DELIVERY_CACHE_H
#define PARCOURS_DELIVERY_CACHE_H

#include <stdint.h>

#include "notification.h"
#include "partners.h"
#include "store.h"

typedef struct delivery_cache delivery_cache_t;

/* Returns an empty cache over store (which must outlive it) the caller owns
 * (delivery_cache_destroy), or NULL when out of memory. */
delivery_cache_t *delivery_cache_new(store_t *store);

/* Frees the cache and sets *c to NULL. Takes NULL. */
void delivery_cache_destroy(delivery_cache_t **c);

/* The active period of the retention (ms; 0 for none): an outbox entry of a pathway whose last
 * contact is older is sent to a DEPARTEMENT only (the pathway is archived). */
void delivery_cache_set_active(delivery_cache_t *c, int64_t active_ms);

/* Forgets every event read (the partners changed, for instance). */
void delivery_cache_forget(delivery_cache_t *c);

/* One notification built for one partner. n is ready to send but for partner_seq and
 * stream_id, which the caller sets; its bytes are valid until delivery_notification_release. */
typedef struct delivery_notification {
    notification_t n;
    uint8_t *owned_event, *owned_view; /* made for this partner alone */
    struct cached_event *event;        /* what n points into */
} delivery_notification_t;

/*
 * Builds the notification of the event seq for partner, which subscribed to types
 * (PARTNERS_EMIT_BIT of each, 0 for all). Returns 1 with *out to send; 0 when the entry is
 * passed over (a type not wanted, or an event the partner may no longer know); -1 when it
 * cannot be read or built now (memory, the store): nothing to send, the caller stops and tries
 * again later. Release *out in every case.
 */
int delivery_cache_build(delivery_cache_t *c, uint64_t seq, const partner_t *partner,
                         uint32_t types, delivery_notification_t *out);

/* Frees what a built notification owns. Takes a zeroed one. */
void delivery_notification_release(delivery_cache_t *c, delivery_notification_t *n);

#endif
