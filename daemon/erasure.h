/*
 * erasure.h: destroying one person now (`parcoursctl erase`), and settling the notices that
 * follow.
 *
 * An erasure is written in the register first (erased_register.h: a backup restored later must
 * not bring the person back), then destroyed in one batch of the store (store_batch_erase: their
 * events become tombstones, their pathway goes, their key is zeroed), with an Erasure notice to
 * every partner that was told of them; the phase counts forget the pathway and the deliveries are
 * woken. The log line names the person by the first hex digits of their keyed hash, never the id.
 *
 * The notices' own keys are destroyed once every partner they went to has acknowledged them:
 * erasure_settle, which the daemon runs every second while any is pending.
 */
#ifndef PARCOURS_ERASURE_H
#define PARCOURS_ERASURE_H

#include <stddef.h>

#include "parcours.pb-c.h"
#include "sources.h"

/*
 * Erases beneficiary_id for reason. Returns 0 with *out filled; 1 when there is no such pathway
 * (err says so); -1 when the reason is not one an admin may give or the register or the store
 * failed (err says what to do).
 */
int erasure_erase(const daemon_sources_t *sources, const char *beneficiary_id,
                  Parcours__V1__ErasureReason reason, Parcours__V1__Erased *out, char *err,
                  size_t errlen);

/* Destroys the notices all their partners have acknowledged; logs a failure. */
void erasure_settle(const daemon_sources_t *sources);

#endif
