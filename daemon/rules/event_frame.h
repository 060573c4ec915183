/*
 * event_frame.h: the trust boundary for Event frames (named apart from libevent's
 * <event2/event.h>).
 *
 * Every frame a partner sends is checked here once, before anything else sees it: its size, the
 * protobuf decoding, every string as bytes (no NUL, valid UTF-8), the required fields, the
 * identifier charset over each identifier's whole length, the NIR shape of beneficiary ids, and
 * the enum values. What passes is trusted by the pathway rules; what is stored and forwarded is
 * event_pack() of it, never the bytes received.
 */
#ifndef PARCOURS_EVENT_FRAME_H
#define PARCOURS_EVENT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identifier.h"
#include "parcours.pb-c.h"

#define EVENT_ID_MAX      IDENTIFIER_MAX /* bytes of any identifier (common/identifier.h) */
#define EVENT_FRAME_MAX   4096           /* the largest Event frame accepted, in bytes */
#define EVENT_MESSAGE_MAX 512            /* room for a rejection sentence */

#define EVENT_WEEKLY_HOURS_DEFAULT 15 /* a contrat d'engagement's weekly activity by default */
#define EVENT_WEEKLY_HOURS_MAX     48 /* the most weekly hours a contract may plan */

/* Why a frame was refused, for the Ack. */
typedef struct event_error {
    Parcours__V1__ErrorCode code;
    char message[EVENT_MESSAGE_MAX];
} event_error_t;

/*
 * Decodes and validates one Event frame of len bytes (at most max_len; 0 = EVENT_FRAME_MAX).
 * On success returns 0 and *out is an event the caller owns (event_destroy). Otherwise returns -1,
 * *out is NULL and err says why: TOO_LARGE, or MALFORMED with a sentence naming the field (and
 * never repeating its bytes). When the frame decoded far enough to have an event_id that passes
 * the identifier rule, err_event_id (may be NULL, EVENT_ID_MAX + 1 bytes) receives it so the Ack
 * can name it; otherwise it is set to "".
 */
int event_decode(const uint8_t *frame, size_t len, size_t max_len, Parcours__V1__Event **out,
                 event_error_t *err, char *err_event_id);

/* Frees an event of event_decode and sets *e to NULL. Takes NULL. */
void event_destroy(Parcours__V1__Event **e);

/*
 * Packs e in its canonical encoding (protobuf-c's) into *buf: stack when stack_len bytes are
 * enough, else a heap buffer the caller frees when *buf != stack. Returns the length, or 0 when
 * out of memory (*buf is NULL then).
 */
size_t event_pack(const Parcours__V1__Event *e, uint8_t **buf, uint8_t *stack, size_t stack_len);

/* True when a run of the segments of s (cut at spaces and the separators . - _ :), put
 * together and with up to three letters at either end set aside, has the shape of a NIR (13
 * digits and a 2-digit key, 2A/2B for Corsica), with or without its key. */
bool event_id_looks_like_nir(const char *s);

/* The type of a decoded event (from its payload). */
Parcours__V1__EventType event_type(const Parcours__V1__Event *e);

/* The CamelCase name of an event type ("TrainingEntered"), or NULL for an unknown type. */
const char *event_type_name(Parcours__V1__EventType type);

/* The event type for a name of event_type_name(), or EVENT_TYPE_UNSPECIFIED. */
Parcours__V1__EventType event_type_from_name(const char *name);

#endif
