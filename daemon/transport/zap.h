/*
 * zap.h: the daemon's ZAP handler (ZeroMQ RFC 27), which decides who may connect.
 *
 * Every TCP endpoint runs CURVE. During each handshake libzmq asks the handler bound at
 * inproc://zeromq.zap.01 whether the client's public key may in; the handler answers with the
 * partner that key belongs to (the ZAP "user id"), which libzmq then attaches to every message
 * of that connection: the authenticated sender. libzmq accepts every client when no handler is
 * bound (the option that would enforce it is not in Debian's libzmq), so the daemon binds this
 * handler before any socket and proves at start-up that it answers (zap_selftest): it fails
 * closed.
 *
 * Domains tell the endpoints apart: "ingest" and "deliver" admit the partners' keys, "admin"
 * only the admin keys of the configuration.
 */
#ifndef PARCOURS_ZAP_H
#define PARCOURS_ZAP_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "partners.h"

#define ZAP_DOMAIN_INGEST  "ingest"
#define ZAP_DOMAIN_DELIVER "deliver"
#define ZAP_DOMAIN_ADMIN   "admin"
#define ZAP_ADMIN_USER     "admin" /* the user id of an admin key */
#define ZAP_ADMIN_KEYS_MAX 16

typedef struct zap zap_t;

typedef struct zap_counters {
    uint64_t allowed;
    uint64_t refused;
} zap_counters_t;

/*
 * Binds the handler in zmq_context and watches it on base. partners (whose public keys are
 * admitted on the partner domains) stays owned by the caller; admin_keys are n_admin_keys raw
 * 32-byte CURVE public keys, copied. Returns 0, or -1 with err (e.g. another handler is bound).
 */
int zap_new(struct event_base *base, void *zmq_context, const partners_t *partners,
            const uint8_t (*admin_keys)[32], size_t n_admin_keys, zap_t **out, char *err,
            size_t errlen);

/* A handshake on one of the daemon's CURVE endpoints of ZAP domain `domain` failed before the
 * handler was asked (the client used another server key, or no CURVE): counted with the
 * refusals, and logged like them, each kind once a minute with the number since. why: a
 * sentence's end, naming the likely cause. */
void zap_handshake_failed(zap_t *z, const char *domain, const char *why);

/* Admits the keys of another partners directory from the next handshake on. */
void zap_set_partners(zap_t *z, const partners_t *partners);

/* Asks the handler, through the context, about a key nobody holds, and requires a refusal:
 * proof that handshakes will be decided by this handler. Call before binding any endpoint.
 * Returns 0, or -1 with err. */
int zap_selftest(zap_t *z, void *zmq_context, char *err, size_t errlen);

const zap_counters_t *zap_counters(const zap_t *z);

/*
 * Makes socket a CURVE server of ZAP domain `domain`, with the daemon's secret key (32 bytes).
 * Call before zmq_bind. Returns 0, or -1 with errno set by libzmq.
 */
int zap_secure_socket(void *socket, const char *domain, const uint8_t secret_key[32]);

/*
 * The partner a message's connection authenticated as (the ZAP user id), or NULL when the
 * connection is not authenticated (CURVE off, or an ipc socket). Valid while msg lives.
 */
const char *zap_message_user(zmq_msg_t *msg);

/* Unbinds, frees and sets *z to NULL. Takes NULL. */
void zap_destroy(zap_t **z);

#endif
