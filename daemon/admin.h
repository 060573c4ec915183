/*
 * admin.h: the admin endpoint, where parcoursctl asks for status, pathways, histories and
 * partners, and pulls hot backups (backup.h). One AdminRequest frame in, one AdminReply frame
 * out, on a ROUTER bound to an owner-only ipc:// socket by default.
 */
#ifndef PARCOURS_ADMIN_H
#define PARCOURS_ADMIN_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "backup.h"
#include "deliver.h"
#include "ingest.h"
#include "partners.h"
#include "store.h"

typedef struct admin admin_t;

/* What the admin endpoint reads from; everything stays owned by the caller. */
typedef struct admin_sources {
    store_t *store;
    const partners_t *partners;
    const ingest_t *ingest;
    deliver_t *deliver;
    int64_t started_at_ms;        /* CLOCK_MONOTONIC, for the uptime */
    unsigned backup_idle_seconds; /* [admin] backup_idle_timeout */
} admin_sources_t;

/*
 * Binds the admin ROUTER on endpoint (an ipc:// socket file is made owner-only) and watches it.
 * On tcp://, secret_key (the daemon's, 32 bytes) makes it a CURVE server that admits only the
 * admin keys of the configuration; a tcp:// endpoint without it is refused.
 * On success *out is owned by the caller (admin_destroy); on failure returns -1 with err.
 */
int admin_new(struct event_base *base, void *zmq_context, const char *endpoint,
              const uint8_t *secret_key, const admin_sources_t *sources, admin_t **out, char *err,
              size_t errlen);

/* Uses another partners directory from the next request on. */
void admin_set_partners(admin_t *a, const partners_t *partners);

/* The hot backups' figures (backups go through the admin endpoint). */
const backup_stats_t *admin_backup_stats(const admin_t *a);

/* Closes the socket, frees, and sets *a to NULL. Takes NULL. */
void admin_destroy(admin_t **a);

#endif
