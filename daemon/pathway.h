/*
 * pathway.h: the pathway rules of the SPIE, as a pure module (no I/O, no clock, no globals).
 *
 * pathway_apply() turns (the current pathway or none, a validated event, its sender, the
 * partners directory) into either the new pathway and the partners to notify, or a rejection
 * code with a sentence a person understands. The rules are those of the domain: the transition
 * table, who may emit what, territories, the no-oracle rule, the follow-up group, the need to
 * know and data minimisation for EMPLOYER and TRAINING_ORG members.
 */
#ifndef PARCOURS_PATHWAY_H
#define PARCOURS_PATHWAY_H

#include <stdbool.h>
#include <stddef.h>

#include "parcours.pb-c.h"
#include "partners.h"

#define PATHWAY_MESSAGE_MAX 256

/* A partner to notify of an accepted event. */
typedef struct pathway_recipient {
    const char *partner_id; /* points into the partners directory */
    bool minimised;         /* EMPLOYER / TRAINING_ORG: show them a minimised pathway view */
} pathway_recipient_t;

/* What pathway_apply decided. Zero it before the first use; pathway_outcome_clear frees it. */
typedef struct pathway_outcome {
    Parcours__V1__ErrorCode code;      /* ERROR_CODE_UNSPECIFIED when accepted */
    char message[PATHWAY_MESSAGE_MAX]; /* when rejected: why, and what to do */
    Parcours__V1__Pathway *pathway;    /* when accepted: the new pathway (owned by the outcome) */
    pathway_recipient_t *recipients;   /* when accepted: who needs to know (owned by the outcome) */
    size_t n_recipients;
} pathway_outcome_t;

/*
 * Applies event (validated by event_decode) sent by sender to current (NULL when the beneficiary
 * has no pathway). Returns 0 when accepted, 1 when rejected (outcome->code and ->message set,
 * nothing else), or -1 when out of memory. current and event are not modified.
 */
int pathway_apply(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                  const partner_t *sender, const partners_t *directory, pathway_outcome_t *outcome);

/* Frees what the outcome holds and zeroes it. */
void pathway_outcome_clear(pathway_outcome_t *outcome);

/* The phase derived from a pathway's facts (first match wins). */
Parcours__V1__Phase pathway_phase(const Parcours__V1__Pathway *p);

/* True when the pathway is open (registered and not exited). */
bool pathway_is_open(const Parcours__V1__Pathway *p);

/* True when partner_id is in the pathway's follow-up group. */
bool pathway_has_member(const Parcours__V1__Pathway *p, const char *partner_id);

/* True when the partner may see the pathway: of its territory, and territory-wide (DEPARTEMENT,
 * FRANCE_TRAVAIL) or in its follow-up group. The rules and the notifications' views use it. */
bool pathway_visible_to(const Parcours__V1__Pathway *p, const partner_t *partner);

/*
 * Whether a partner of this kind receives an event of this type when it is a recipient: EMPLOYER
 * and TRAINING_ORG receive only training, job and exit events, and the MemberJoined / MemberLeft
 * that name them.
 */
bool pathway_kind_receives(Parcours__V1__PartnerKind kind, const Parcours__V1__Event *event,
                           const char *partner_id);

/*
 * Returns a deep copy of p (caller owns: parcours__v1__pathway__free_unpacked(copy, NULL)), or
 * NULL when out of memory. With minimise, the copy keeps only what EMPLOYER and TRAINING_ORG may
 * see: no orientation, request, referent, contract or appointment, and a phase shown only when it
 * is EXITED, EMPLOYED or IN_TRAINING.
 */
Parcours__V1__Pathway *pathway_copy(const Parcours__V1__Pathway *p, bool minimise);

#endif
