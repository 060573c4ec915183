/*
 * cursors.h: each partner's delivery cursor (the last partner_seq it acknowledged), kept in
 * memory as acknowledgements come and written to the store in one batch from time to time.
 *
 * A cursor only moves forward. One written late costs nothing but redeliveries after a crash
 * (delivery is at least once, and partners dedupe on partner_seq), so the deliver endpoint
 * writes them from a timer, not in the acknowledgement's path.
 *
 * Threads: every function may be called from any thread (the delivery thread acknowledges, the
 * loop writes and reads); cursors_write must be called from the thread that writes the store.
 */
#ifndef PARCOURS_CURSORS_H
#define PARCOURS_CURSORS_H

#include <stdint.h>

#include "store.h"

typedef struct cursors cursors_t;

/* Returns an empty table over store (which must outlive it) the caller owns (cursors_destroy),
 * or NULL when out of memory. */
cursors_t *cursors_new(store_t *store);

/* Frees the table (what it did not write is lost: write it first) and sets *c to NULL. */
void cursors_destroy(cursors_t **c);

/* The last partner_seq partner_id acknowledged: the table's, or the store's for a partner the
 * table does not hold (0 when it never acknowledged). Adds nothing to the table. */
uint64_t cursors_acked(cursors_t *c, const char *partner_id);

/* Records that partner_id acknowledged everything up to up_to (a cursor never goes back).
 * Returns 0, or -1 when out of memory (the acknowledgement is then only in the subscriber). */
int cursors_ack(cursors_t *c, const char *partner_id, uint64_t up_to);

/* Writes every cursor moved since the last write, in one batch. STORE_OK, or the store's error
 * (they stay to be written at the next call). */
int cursors_write(cursors_t *c);

#endif
