/*
 * print.h: parcoursctl's output, for people (aligned text) or for programs (one JSON value).
 *
 * Every function writes to stdout. For people: enum values by their short names ("EMPLOI",
 * "ACCEPTED"), times as ISO-8601 UTC. JSON is the proto3 JSON mapping of the reply's messages
 * (clients/parcoursctl/protojson.h): proto field names, full enum names (ACK_STATUS_ACCEPTED),
 * 64-bit integers as strings (times are unix ms, the wire's unit, as strings too), absent
 * messages null and unset scalars their zero value, so a document always has the same keys.
 */
#ifndef PARCOURSCTL_PRINT_H
#define PARCOURSCTL_PRINT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "parcours.h"

/* The short name of an ack's status, for people: "ACCEPTED"..., or "UNANSWERED"
 * (PARCOURS_ACK_UNANSWERED). */
const char *print_ack_status(int status);

/*
 * One event's outcome on one line. line: the input line number, or 0 for none; type and
 * beneficiary: shown when not NULL. JSON: {"line":N (when N > 0),"event_id","type","beneficiary",
 * "status" (ACK_STATUS_..., or UNANSWERED when no Ack came),"seq","version" (strings),"code"
 * (ERROR_CODE_..., null when none),"message","attempts"}. An answer (print_answered).
 */
void print_ack(const parcours_ack_t *ack, size_t line, const char *type, const char *beneficiary,
               bool json);

/* The daemon's figures (AdminReply.status). */
void print_status(const Parcours__V1__Status *status, bool json);

/* One pathway (AdminReply.pathway): its phase and the facts that hold. */
void print_pathway(const Parcours__V1__Pathway *pathway, bool json);

/* A beneficiary's history (AdminReply.history): one line per event for people, an array of
 * {"seq","committed_at","type","event"} in JSON. */
void print_history(Parcours__V1__HistoryEntry *const *entries, size_t n, bool json);

/* The partners as loaded (AdminReply.partners): a table for people, an array in JSON. */
void print_partners(Parcours__V1__PartnerInfo *const *partners, size_t n, bool json);

/*
 * One notification of a partner's stream on one line. People read its partner_seq, seq, commit
 * time (UTC), event type, beneficiary, sender ("by cd93", left out for an EMPLOYER or a
 * TRAINING_ORG, whose events come without their sender), the payload's fields that are set,
 * and the pathway's phase in brackets when the partner may see it. JSON: the Notification's
 * fields (partner_seq, seq, event, pathway or null, committed_at...) and "type", the event
 * type's name (OrientationDecided), "Erasure", or null for a withdrawn event.
 */
void print_notification(const Parcours__V1__Notification *n, bool json);

/* The one error object of --json: {"ok":false,"exit_code":N,"error":message}. An answer. */
void print_error_json(int exit_code, const char *message);

/* Prints value as one JSON line on stdout, the command's answer, taking its reference (NULL:
 * out of memory, said on stderr). */
void print_json_answer(json_t *value);

/* Whether a command's answer was printed: an ack, a reply's document or an error object (a
 * notification of tail is not one). main() prints the error object of a failure otherwise. */
bool print_answered(void);

/* The deadlines that fall due (AdminReply.due): soonest first, or one JSON object. An answer. */
void print_due(const Parcours__V1__DueList *due, bool json);

/* The retention's dry run: counts per stage, then the due pathways (or as one JSON object). */
void print_survey(const Parcours__V1__PurgeSurvey *s, bool json);

/* One person's export (the right of access): the pathway, then each event with the partners
 * told and when they had acknowledged it; or the whole document as one JSON object. */
void print_export(const Parcours__V1__PersonExport *e, bool json);

#endif
