/*
 * deliver.h: the deliver endpoint, where each partner reads its notification stream.
 *
 * A partner's stream is its outbox in the store, written with the events themselves. This
 * module only reads it: for each subscribed connection, it sends the notifications after the
 * connection's position, never more than its window unacknowledged, and moves the partner's
 * durable cursor when it acknowledges. Nothing is queued in memory, so a slow or absent partner
 * costs disk, never RAM, and never slows ingest: a subscriber with no credit costs no work.
 *
 * Cursors are written to the store on a short timer rather than one fsync per DeliveryAck:
 * delivery is at-least-once, so a cursor update lost in a crash only means a few notifications
 * come again, which partners dedupe on partner_seq.
 *
 * Threads. The endpoint runs on a thread of its own, with its own libevent loop: the socket, the
 * subscriptions, the outbox reads (LMDB read transactions, which run beside the loop's write
 * transaction) and the sends never take the loop's time, so live subscribers cost ingest little
 * (on two cores, the loop and the delivery thread each have one). The loop talks to it only
 * through the functions below, each safe to call from the loop: deliver_wake wakes the thread,
 * deliver_set_partners and deliver_rebind wait until the thread has done them, deliver_position
 * reads what the thread shares under a lock. Cursors are written from the loop (the store's
 * writing thread), on its timer. The caller must have run evthread_use_pthreads() before
 * creating any libevent loop.
 */
#ifndef PARCOURS_DELIVER_H
#define PARCOURS_DELIVER_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "partners.h"
#include "store.h"
#include "zap.h"

#define DELIVER_WINDOW_DEFAULT 100
#define DELIVER_WINDOW_MAX     10000

typedef struct deliver deliver_t;

typedef struct deliver_options {
    const char *endpoint;
    unsigned cursor_flush_ms;  /* how often acknowledged cursors are written (default 100) */
    unsigned heartbeat_s;      /* a subscriber sent nothing this long gets a Heartbeat (10) */
    const uint8_t *secret_key; /* the daemon's CURVE secret key (32 bytes), or NULL for none */
    zap_t *zap;                /* with it: told of the handshakes that fail before ZAP */
    int64_t active_ms;         /* [retention] active period: older pathways are archived */
    struct audit *audit;       /* the access journal: each subscription is recorded (G12) */
} deliver_options_t;

/*
 * Binds the deliver ROUTER and starts the delivery thread that serves it; base (the daemon's
 * loop) gets the timer that writes the cursors. store and partners stay owned by the caller and
 * must outlive the deliver (partners until deliver_set_partners returns with another). On
 * success *out is owned by the caller (deliver_destroy); on failure returns -1 with err.
 */
int deliver_new(struct event_base *base, void *zmq_context, store_t *store,
                const partners_t *partners, const deliver_options_t *options, deliver_t **out,
                char *err, size_t errlen);

/* Uses another partners directory from now on (subscribers of removed partners are dropped).
 * Returns once the delivery thread has let the old one go: the caller may then free it. */
void deliver_set_partners(deliver_t *d, const partners_t *partners);

/* New events were committed: the delivery thread sends what the subscribers with credit are
 * waiting for (this only wakes it). */
void deliver_wake(deliver_t *d);

/* A partner's subscribed connections. */
unsigned deliver_subscribers(deliver_t *d, const char *partner_id);

/* Where a partner's stream stands, for status and metrics. */
typedef struct deliver_position {
    uint64_t last;        /* the last partner_seq in its outbox */
    uint64_t cursor;      /* the last it acknowledged */
    uint64_t lag;         /* last - cursor: what it has not acknowledged yet */
    unsigned subscribers; /* its subscribed connections */
} deliver_position_t;

void deliver_position(deliver_t *d, const char *partner_id, deliver_position_t *out);

/* Writes the acknowledged cursors now (at shutdown); 0 or a store error. */
int deliver_flush(deliver_t *d);

/* Binds the endpoint again, which drops every connection: after a key is revoked, each must
 * authenticate again. */
void deliver_rebind(deliver_t *d);

/* Stops the delivery thread, flushes the cursors, closes the socket, frees, and sets *d to
 * NULL. Takes NULL. */
void deliver_destroy(deliver_t **d);

#endif
