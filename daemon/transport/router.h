/*
 * router.h: a ZeroMQ ROUTER endpoint of the daemon, owned whole: created, secured (CURVE with
 * the ZAP handler), bound, watched on the loop, read, written, bound again.
 *
 * The ingest, deliver and admin endpoints are each one router; their handlers see messages
 * ([routing id, one frame], with the partner its connection's key authenticated) and answer
 * through router_send, never touching a socket. The ZMQ_FD edge rule (zwatch.h) is kept here:
 * the watch is looked at again after every send, whoever sends (a handler, a timer, a backup
 * thread's reply brought back to the loop), so a reply never leaves a queued request unserved.
 */
#ifndef PARCOURS_ROUTER_H
#define PARCOURS_ROUTER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "partners.h"
#include "zap.h"

#define ROUTER_IDENTITY_MAX 256 /* a ROUTER peer identity is at most 255 bytes */

typedef struct router router_t;

typedef struct router_options {
    const char *name;          /* "ingest", "deliver", "admin": in sentences and log lines */
    const char *endpoint;      /* where to bind */
    const uint8_t *secret_key; /* the daemon's CURVE secret key (32 bytes), or NULL for none */
    const char *zap_domain;    /* the ZAP domain of the handshakes, with a secret key */
    int64_t max_message;       /* ZMQ_MAXMSGSIZE: larger messages close the connection */
    int send_hwm;              /* ZMQ_SNDHWM per connection; 0: libzmq's */
    int linger_ms;             /* ZMQ_LINGER at close */
    bool mandatory;            /* ZMQ_ROUTER_MANDATORY: a send to a gone peer says so */
    int heartbeat_ms;          /* ZMTP heartbeats (a timeout of three); 0: none */
    bool owner_only;           /* an ipc:// endpoint made under umask 0077, then mode 0600 */
    bool peer_address;         /* fill router_message_t.peer (who acted, for the journal) */
    zap_t *zap;                /* with a secret key: told of handshakes failing before ZAP */
} router_options_t;

/* One received message. frame has the first frame after the routing id: len bytes, of which
 * at most the buffer's capacity were kept (len is larger when the frame was). */
typedef struct router_message {
    uint8_t identity[ROUTER_IDENTITY_MAX];
    size_t identity_len;
    char user[PARTNERS_ID_MAX + 1]; /* the partner its connection's key is, "" without CURVE */
    char peer[64]; /* with peer_address: the peer's address ("127.0.0.1"), or on ipc its
                    * credentials (":uid:gid:pid"), as libzmq reads them; "" otherwise */
    size_t len;
    bool has_frame;    /* false: only a routing id came (not a request) */
    bool extra_frames; /* more frames followed the first: dropped */
    bool read_error;   /* the frame could not be read: answer RETRY */
} router_message_t;

/* Called on the loop when messages wait: read them with router_receive (as many as wanted). */
typedef void (*router_fn)(router_t *r, void *ctx);

/*
 * Creates the ROUTER in zmq_context with options o (copied), binds it and watches it on base.
 * On success *out is owned by the caller (router_destroy); on failure returns -1 with err
 * (errlen bytes) saying why, naming the endpoint.
 */
int router_new(struct event_base *base, void *zmq_context, const router_options_t *o, router_fn fn,
               void *ctx, router_t **out, char *err, size_t errlen);

/*
 * Reads the next message into *m, its frame into buf (cap bytes). Returns true when one was
 * read, false when none waits. Never blocks.
 */
bool router_receive(router_t *r, router_message_t *m, uint8_t *buf, size_t cap);

/* True when a routing id was given by libzmq (a zero byte first), not chosen by the client:
 * only those are served, since a chosen one could be taken by another connection. */
bool router_identity_is_own(const uint8_t *identity, size_t len);

/*
 * Sends [identity, data of len bytes] without blocking, then looks at the watch again. Returns
 * 0, or the errno of libzmq: EAGAIN (the peer's queue is full), EHOSTUNREACH (the peer is gone,
 * with mandatory).
 */
int router_send(router_t *r, const uint8_t *identity, size_t identity_len, const void *data,
                size_t len);

/* Writes a frame of the length given to router_send_built into out. */
typedef void (*router_fill_fn)(uint8_t *out, void *ctx);

/*
 * As router_send, for a frame of len bytes that fill writes straight into the message libzmq
 * sends (no copy of a frame built elsewhere). Returns 0, ENOMEM, or libzmq's errno as
 * router_send does.
 */
int router_send_built(router_t *r, const uint8_t *identity, size_t identity_len, size_t len,
                      router_fill_fn fill, void *ctx);

/* A sentence for an errno router_send returned (libzmq has errnos of its own). */
const char *router_strerror(int err);

/*
 * Drops every connection so that each must authenticate again (after a key was revoked):
 * unbinds, then binds again, retried from a timer while libzmq's I/O thread still holds the
 * port. Never sleeps: the loop goes on serving the other endpoints meanwhile. A bind that still
 * fails after 5 s is logged, naming the endpoint.
 */
void router_rebind(router_t *r);

/* Stops calling the handler for good (messages stay queued): a draining ingest. */
void router_pause(router_t *r);

/* Closes the socket, removes it from the loop, frees it and sets *r to NULL. Takes NULL. */
void router_destroy(router_t **r);

#endif
