/*
 * transfer.h: the hand-over of a person's pathway from one territory's daemon to another's
 * (docs/transfers.md), as pure rules: the move's reference, and who may announce a move and who
 * is told of it.
 *
 * One daemon serves one territory. A person who moves away leaves a pathway exited MOVED behind,
 * whose exit carries a reference, "<origin territory>:<26 characters>", a keyed hash of the exit
 * under the origin store's key: nobody can compute it from the person, and it names no one. The
 * origin tells the move (TransferAnnounced) to its BRIDGE partners alone; a bridge, a partner of
 * the destination's daemon too, sends the same there, where the destination's DEPARTEMENT is
 * told; a registration there claims the move by its reference.
 */
#ifndef PARCOURS_TRANSFER_H
#define PARCOURS_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"
#include "partners.h"
#include "pathway.h"

#define TRANSFER_HASH_CHARS    26 /* 128 bits in Crockford base32 */
#define TRANSFER_HASH_BYTES    16
#define TRANSFER_REFERENCE_MAX (PARTNERS_TERRITORY_MAX + 1 + TRANSFER_HASH_CHARS)

/* Writes "<territory>:<hash in base32>" to out (TRANSFER_REFERENCE_MAX + 1 bytes). territory is
 * a departement code of 1 to PARTNERS_TERRITORY_MAX letters or digits. */
void transfer_reference_make(const char *territory, const uint8_t hash[TRANSFER_HASH_BYTES],
                             char out[TRANSFER_REFERENCE_MAX + 1]);

/* True when ref has the shape transfer_reference_make writes; its territory is then copied to
 * territory (may be NULL; PARTNERS_TERRITORY_MAX + 1 bytes). */
bool transfer_reference_parse(const char *ref, char *territory);

/*
 * Judges a TransferAnnounced (validated by event_decode) sent by sender to this daemon: only a
 * BRIDGE registered for the destination territory may announce a move here (NOT_AUTHORISED
 * otherwise, in one sentence that depends on the sender alone). already_announced: the store
 * holds a move of that reference (INVALID_TRANSITION). When accepted (0), outcome->recipients
 * are the destination territory's DEPARTEMENT partners, and outcome->pathway stays NULL: no
 * pathway goes with a move. Returns 0 accepted, 1 rejected (outcome's code and message), -1 out
 * of memory. Zero the outcome first; pathway_outcome_clear frees it.
 */
int transfer_announce(const Parcours__V1__Event *event, const partner_t *sender,
                      const partners_t *directory, bool already_announced,
                      pathway_outcome_t *outcome);

/*
 * The recipients of the TransferAnnounced that parcoursd writes when a pathway of territory
 * exits MOVED to destination: the directory's BRIDGE partners registered for territory that
 * serve destination (partner_serves), and nobody else. Same return and ownership as
 * transfer_announce.
 */
int transfer_bridges(const char *territory, const char *destination, const partners_t *directory,
                     pathway_outcome_t *outcome);

/* True when a BRIDGE of territory hands moves over to destination: a move there may be told. */
bool transfer_served(const char *territory, const char *destination, const partners_t *directory);

#endif
