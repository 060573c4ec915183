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
#include "sources.h"
#include "deliver.h"
#include "ingest.h"
#include "partners.h"
#include "store.h"

typedef struct admin admin_t;

/*
 * Binds the admin ROUTER on endpoint (an ipc:// socket file is made owner-only) and watches it.
 * On tcp://, secret_key (the daemon's, 32 bytes) makes it a CURVE server that admits only the
 * admin keys of the configuration; a tcp:// endpoint without it is refused.
 * sources (kept as a pointer, see sources.h) is what the answers are read from; a backup left
 * backup_idle_seconds without a request is abandoned ([admin] backup_idle_timeout).
 * On success *out is owned by the caller (admin_destroy); on failure returns -1 with err.
 */
int admin_new(struct event_base *base, void *zmq_context, const char *endpoint,
              const uint8_t *secret_key, const daemon_sources_t *sources,
              unsigned backup_idle_seconds, admin_t **out, char *err, size_t errlen);

/* The hot backups' figures (backups go through the admin endpoint). */
const backup_stats_t *admin_backup_stats(const admin_t *a);

/* Closes the socket, frees, and sets *a to NULL. Takes NULL. */
void admin_destroy(admin_t **a);

#endif
