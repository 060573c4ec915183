/*
 * pathway.h: the pathway rules of the SPIE, as a pure module (no I/O, no clock, no globals).
 *
 * pathway_apply() turns (the current pathway or none, a validated event, its sender, the
 * partners directory, the territory's settings) into either the new pathway and the partners to
 * notify, or a rejection code with a sentence a person understands. The rules are those of
 * docs/domain.md: the transition table, who may emit what, territories, the no-oracle rule, the
 * follow-up group, the need to know, the views each partner gets and data minimisation for
 * EMPLOYER and TRAINING_ORG members, and the law of 18 December 2023.
 */
#ifndef PARCOURS_PATHWAY_H
#define PARCOURS_PATHWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline.h"
#include "parcours.pb-c.h"
#include "partners.h"

#define PATHWAY_MESSAGE_MAX 512

/* The territory's settings the rules read; pathway_settings_default() fills the defaults. */
typedef struct pathway_settings {
    /* unix ms: a CER or PPAE starting at or after it is refused (default 2025-01-01, when the
     * contrat d'engagement of the 2023 law took their place) */
    int64_t legacy_contracts_refused_from;
    /* ms an event's occurred_at may be ahead of the commit's clock; later is refused as a
     * sender's clock gone wrong (MALFORMED). 0 (the default here): no check; the daemon sets
     * [rules] clock_skew. */
    int64_t clock_skew_ms;
    /* The deadlines of the pathway ([deadlines]; deadline_settings_default()). */
    deadline_settings_t deadlines;
    /* ms a move announced here may be claimed, and a move away kept for its bridges to send
     * again ([transfers] claim_days; docs/transfers.md). 0: the default of 365 days. */
    int64_t transfer_claim_ms;
} pathway_settings_t;

#define PATHWAY_TRANSFER_CLAIM_MS INT64_C(365 * 86400000)

/* 2025-01-01T00:00:00Z, the default of legacy_contracts_refused_from. */
#define PATHWAY_LEGACY_CONTRACTS_REFUSED_FROM INT64_C(1735689600000)

/* Fills s with the defaults. */
void pathway_settings_default(pathway_settings_t *s);

/*
 * What a partner may see of a pathway, from least to most (docs/domain.md, "Need to know"):
 * nothing; the minimised view of EMPLOYER and TRAINING_ORG members; a member's view (no
 * episode, no suspension); the referent's partner's view (no episode); the territory's
 * DEPARTEMENT and FRANCE_TRAVAIL see the whole pathway.
 */
typedef enum pathway_view {
    PATHWAY_VIEW_NONE = 0,
    PATHWAY_VIEW_MINIMISED,
    PATHWAY_VIEW_MEMBER,
    PATHWAY_VIEW_REFERENT,
    PATHWAY_VIEW_TERRITORY,
} pathway_view_t;
#define PATHWAY_VIEWS 5

/* What pathway_apply decided. Zero it before the first use; pathway_outcome_clear frees it. */
typedef struct pathway_outcome {
    Parcours__V1__ErrorCode code;      /* ERROR_CODE_UNSPECIFIED when accepted */
    char message[PATHWAY_MESSAGE_MAX]; /* when rejected: why, and what to do */
    Parcours__V1__Pathway *pathway;    /* when accepted: the new pathway (owned by the outcome) */
    uint64_t version; /* when accepted: the version the sender may be told (0 for an EMPLOYER or
                       * TRAINING_ORG, which does not see it) */
    /* When accepted: the ids of the partners who need to know, each once, pointing into the
     * partners directory (the array is owned by the outcome). What each may see of the event
     * and the pathway is decided when it is sent (deliver.c), with the directory then in force. */
    const char **recipients;
    size_t n_recipients;
} pathway_outcome_t;

/*
 * Applies event (validated by event_decode) sent by sender to current (NULL when the beneficiary
 * has no pathway), under settings (NULL for the defaults). Returns 0 when accepted, 1 when
 * rejected (outcome->code and ->message set, nothing else), or -1 when out of memory. current
 * and event are not modified.
 */
int pathway_apply(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                  const partner_t *sender, const partners_t *directory,
                  const pathway_settings_t *settings, pathway_outcome_t *outcome);

/*
 * The checks of a BeneficiaryRegistered that depend on its sender and the event alone (the
 * partners file's narrowing, the sender's kind, its territories), made as pathway_apply makes
 * them first, with the same refusals: for a check that reads the store before the rules (a move
 * a registration claims) and must not answer before them. 0 when they pass: *territory is the
 * pathway's territory (pointing into event or sender); 1 rejected (outcome's code and message;
 * nothing to free). Zeroes the outcome first.
 */
int pathway_registration_sender_check(const Parcours__V1__Event *event, const partner_t *sender,
                                      const partners_t *directory, pathway_outcome_t *outcome,
                                      const char **territory);

/*
 * What a retraction is judged against: the beneficiary's events as the log holds them, oldest
 * first, each still standing (none retracted, none erased), the earlier retractions included
 * (they are passed over), and which of them is retracted with the partners that were told of it.
 */
typedef struct pathway_history {
    const Parcours__V1__Event *const *events;
    size_t n;
    size_t retracted;       /* the index of the event the retraction names; n when none stands */
    uint64_t retracted_seq; /* its seq in the log */
    const char *const *told;
    size_t n_told;
} pathway_history_t;

/*
 * Applies an EventRetracted (rectification): the checks of every event (the partners file's
 * narrowing, visibility, expected_version), then the event it names must stand in history
 * (NULL: none does) and be neither a registration nor a retraction; the pathway is recomputed
 * from the other events in their order through the same rules (their senders' rights and the
 * transitions; neither the narrowing nor the versions they expected, judged when they came), and
 * refused with a sentence when one of them would no longer hold. Accepted: the new pathway at
 * the current version plus one (a suspension's retraction keeps it), told to history->told.
 * Returns as pathway_apply, which hands an EventRetracted here with no history.
 */
int pathway_retract(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                    const partner_t *sender, const partners_t *directory,
                    const pathway_settings_t *settings, const pathway_history_t *history,
                    pathway_outcome_t *outcome);

/*
 * Applies a DeadlineMissed that parcoursd writes itself (its partner_id PARTNERS_DAEMON_ID): the
 * deadline it names must be running on current (deadline_running under deadlines: same kind,
 * due_at and since) and due by its occurred_at; INVALID_TRANSITION otherwise (the step was taken
 * since, or the clock moved). Accepted: the pathway with the kind in deadlines_missed, at the
 * same version and updated_at, told to the territory's DEPARTEMENT partners, the oriented
 * structure and the referent's partner. Returns as pathway_apply.
 */
int pathway_deadline_missed(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                            const partners_t *directory, const deadline_settings_t *deadlines,
                            pathway_outcome_t *outcome);

/* Frees what the outcome holds and zeroes it. */
void pathway_outcome_clear(pathway_outcome_t *outcome);

/* The phase derived from a pathway's facts (first match wins). */
Parcours__V1__Phase pathway_phase(const Parcours__V1__Pathway *p);

/* True when the pathway is open (registered and not exited). */
bool pathway_is_open(const Parcours__V1__Pathway *p);

/* True when partner_id is in the pathway's follow-up group. */
bool pathway_has_member(const Parcours__V1__Pathway *p, const char *partner_id);

/* True when the partner may see the pathway: of its territory, and territory-wide (DEPARTEMENT,
 * FRANCE_TRAVAIL) or in its follow-up group. A partner that may not is *blind* to it. */
bool pathway_visible_to(const Parcours__V1__Pathway *p, const partner_t *partner);

/* What partner may see of p now (PATHWAY_VIEW_NONE when blind to it). */
pathway_view_t pathway_view_for(const Parcours__V1__Pathway *p, const partner_t *partner);

/* The partner that refers the person: the referent's, or else the oriented structure's; NULL
 * when neither. Points into p. */
const char *pathway_referent_partner(const Parcours__V1__Pathway *p);

/*
 * Whether a partner of this kind receives an event of this type when it is a recipient: EMPLOYER
 * and TRAINING_ORG receive only training, job and exit events, and the MemberJoined / MemberLeft
 * that name them.
 */
bool pathway_kind_receives(Parcours__V1__PartnerKind kind, const Parcours__V1__Event *event,
                           const char *partner_id);

/*
 * Returns a deep copy of p as a partner with this view may see it (caller owns:
 * parcours__v1__pathway__free_unpacked(copy, NULL)), or NULL when out of memory or for
 * PATHWAY_VIEW_NONE. PATHWAY_VIEW_TERRITORY copies everything. viewer_id is the partner the
 * copy is for: a minimised view keeps no partner id but that one (NULL: none).
 */
Parcours__V1__Pathway *pathway_copy(const Parcours__V1__Pathway *p, pathway_view_t view,
                                    const char *viewer_id);

/* An event as a minimised recipient is sent it: event points into the original and into the
 * payloads here. */
typedef struct pathway_event_view {
    Parcours__V1__Event event;
    Parcours__V1__TrainingEntered training_entered;
    Parcours__V1__JobPlaced job_placed;
    Parcours__V1__EventRetracted event_retracted;
    Parcours__V1__PathwayExited pathway_exited;
} pathway_event_view_t;

/*
 * True when recipient gets event minimised: an EMPLOYER or TRAINING_ORG that did not send it.
 * pathway_event_minimise() then fills out with the event it is sent: without partner_id,
 * event_id and expected_version, and without any partner id in the payload but viewer_id's (nor
 * the retracted event's id in an EventRetracted: they match it by retracted_seq).
 * out points into event: valid while event lives.
 */
bool pathway_event_minimised_for(const partner_t *recipient, const Parcours__V1__Event *event);
void pathway_event_minimise(const Parcours__V1__Event *event, const char *viewer_id,
                            pathway_event_view_t *out);

#endif
