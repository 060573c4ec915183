/*
 * phase_counts.h: how many pathways each territory has in each phase, kept as batches commit.
 *
 * The admin status and /metrics show these counts. Counting them by walking every pathway on
 * the loop held acks up (0.3 s at a million pathways); so the store is walked once, when the
 * daemon opens it, and each committed batch then moves the counts of the pathways it changed.
 */
#ifndef PARCOURS_PHASE_COUNTS_H
#define PARCOURS_PHASE_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"
#include "store.h"

#define PHASE_COUNTS_PHASES 9 /* Phase values 0..8 */

typedef struct phase_counts phase_counts_t;

/* Counts every pathway of store. On success *out is owned by the caller (phase_counts_destroy);
 * otherwise a store error (or STORE_ENOMEM). */
int phase_counts_load(store_t *store, phase_counts_t **out);

/* The row of territory, or -1 when it has no pathway counted. */
long phase_counts_find(const phase_counts_t *c, const char *territory);

/* Frees the counts and sets *c to NULL. Takes NULL. */
void phase_counts_destroy(phase_counts_t **c);

/* Moves one pathway: from (old_territory, old_phase) when old_territory is not NULL, to
 * (new_territory, new_phase). -1 when out of memory (the counts are then left as they were). */
int phase_counts_move(phase_counts_t *c, const char *old_territory, Parcours__V1__Phase old_phase,
                      const char *new_territory, Parcours__V1__Phase new_phase);

/* Takes one pathway away (destroyed): from (territory, phase). */
void phase_counts_remove(phase_counts_t *c, const char *territory, Parcours__V1__Phase phase);

/* The rows, in the order their territories were first seen: n_rows, then row i's territory and
 * its count in a phase. Valid until the next move or touch. */
size_t phase_counts_rows(const phase_counts_t *c);
const char *phase_counts_territory(const phase_counts_t *c, size_t row);
uint64_t phase_counts_get(const phase_counts_t *c, size_t row, Parcours__V1__Phase phase);

#endif
