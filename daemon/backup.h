/*
 * backup.h: hot backups over the admin endpoint.
 *
 * A backup is LMDB's compacting copy of the store (store_copy_fd), written by a thread of its
 * own into a pipe while the loop goes on serving. The admin client pulls the copy part after
 * part (AdminRequest BACKUP with a token and an offset); the loop reads the pipe only when a
 * request is there, so the pipe's capacity is all the copy ever gets ahead of its reader, and a
 * slow client costs memory to no one. A request that finds the pipe empty is parked and
 * answered when the copy thread has written more.
 *
 * One backup at a time. One left without a request for idle_seconds is abandoned: the pipe is
 * closed, the copy thread fails on its next write and ends, and the store may grow its map again
 * (while a copy runs the map cannot be remapped: see store_copy_begin).
 */
#ifndef PARCOURS_BACKUP_H
#define PARCOURS_BACKUP_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"
#include "store.h"

#define BACKUP_PART_MAX (1024 * 1024)

typedef struct backup backup_t;

/* What operators alert on: backups that end, fail or are abandoned, and the last good one. */
typedef struct backup_stats {
    uint64_t done;            /* copies sent whole */
    uint64_t failed;          /* copies the store could not make */
    uint64_t abandoned;       /* left by their client, or by a stopping daemon */
    bool running;             /* a copy runs now */
    int64_t last_done_at;     /* unix seconds when the last whole copy was sent; 0 for none */
    uint64_t last_done_bytes; /* its size */
} backup_stats_t;

/* Sends reply to the admin client known by identity; called from the loop. */
typedef void (*backup_reply_fn)(void *ctx, const void *identity, size_t identity_len,
                                const Parcours__V1__AdminReply *reply);

/* NULL when out of memory. */
backup_t *backup_new(struct event_base *base, store_t *store, unsigned idle_seconds,
                     backup_reply_fn reply, void *ctx);

/* Abandons a running copy (its thread is joined) and frees b. */
void backup_destroy(backup_t **b);

/* Takes one BACKUP request: answers it through the reply function, now or once the copy has
 * more to give. */
void backup_request(backup_t *b, const void *identity, size_t identity_len,
                    const Parcours__V1__AdminRequest *request);

/* The figures since the daemon started. */
const backup_stats_t *backup_stats(const backup_t *b);

#endif
