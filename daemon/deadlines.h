/*
 * deadlines.h: the deadlines the daemon watches itself (docs/deadlines.md).
 *
 * Every append of a pathway hands the store the deadlines running on it (ingest_deadlines), and
 * the store keeps them in an index by due time. Once a second, on the loop between ingest's
 * batches, the timer takes what fell due from the start of that index (never the pathways
 * themselves): for each, the rules check it still holds (pathway_deadline_missed) and the daemon
 * appends a DeadlineMissed of its own, told to the partners responsible, in a batch of its own.
 * The deadline leaves the index in that same batch and the pathway records it missed, so that a
 * restart, a backup and its restore, each see it once. A store written before the index existed,
 * or under other [deadlines] settings, is indexed again at start (deadlines_index).
 */
#ifndef PARCOURS_DEADLINES_H
#define PARCOURS_DEADLINES_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "pathway.h"
#include "sources.h"

typedef struct deadlines deadlines_t;

/* Starts the timer on base. sources and rules (the territory's settings, rules->deadlines
 * among them) must outlive it. NULL when out of memory or the timer cannot start. */
deadlines_t *deadlines_new(struct event_base *base, const daemon_sources_t *sources,
                           const pathway_settings_t *rules);

/* Stops the timer and frees d; sets *d to NULL. Takes NULL. */
void deadlines_destroy(deadlines_t **d);

/* Writes a DeadlineMissed for every deadline due at or before now (at most max, 0 for no
 * bound), in one batch. Returns how many were written, or -1 when the store failed (logged).
 * The timer calls it with the clock; the tests may too. */
long deadlines_run(deadlines_t *d, int64_t now, size_t max);

/* The missed deadlines written since start, per kind (index DEADLINE_KIND_*), for /metrics. */
uint64_t deadlines_missed_count(const deadlines_t *d, Parcours__V1__DeadlineKind kind);

/* Indexes the deadlines of every pathway again when the store's index was not made under
 * rules->deadlines (a store written before the index, or the [deadlines] settings changed:
 * store_deadlines_indexed); at start, before the loop. 0, or -1 with err. */
int deadlines_index(store_t *store, const pathway_settings_t *rules, char *err, size_t errlen);

#endif
