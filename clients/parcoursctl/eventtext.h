/*
 * eventtext.h: builds a parcours.v1.Event from name/value text pairs.
 *
 * Both forms of `parcoursctl emit` end here: the command line (TYPE --as P --beneficiary B
 * --field value...) and a JSON line ({"type":..., "as":..., "field":...}) are read into the
 * same pairs, so they accept exactly the same names and values. The names:
 *   type                       the event type: "OrientationDecided" or "orientation_decided"
 *   as (or partner_id)         the sending partner; required
 *   beneficiary (or beneficiary_id)  required
 *   event_id                   optional; default a new time-ordered id (parcours_event_id_new)
 *   occurred_at                optional, unix ms or ISO-8601; default now
 *   expected_version           optional, an integer; default 0 (no check)
 *   any field of the type's payload message, by its proto name ("structure_id"; "-" may
 *   replace "_"): text, enum short or full names, integers, booleans (true/false, yes/no,
 *   1/0: rsa_recipient), times as unix ms or ISO-8601 (notified_at, start...).
 */
#ifndef PARCOURSCTL_EVENTTEXT_H
#define PARCOURSCTL_EVENTTEXT_H

#include <stddef.h>

#include "parcours.pb-c.h"

/* Room for the error sentences of eventtext_build(), which may list a payload's fields. */
#define EVENTTEXT_ERROR_MAX 2048

/*
 * Builds an event from n pairs (keys[i], values[i]); keys and values are read during the call
 * only. A NULL value means "not given" (JSON null). On success returns 0 and *out is an event
 * the caller owns (eventtext_free). On failure returns -1, *out is NULL, and err receives a
 * sentence saying what is wrong and what is accepted (an unknown field lists the payload's
 * fields, an unknown type lists the types).
 */
int eventtext_build(size_t n, const char *const keys[], const char *const values[],
                    Parcours__V1__Event **out, char *err, size_t errlen);

/* Frees an event of eventtext_build and sets *e to NULL. Takes NULL. */
void eventtext_free(Parcours__V1__Event **e);

#endif
