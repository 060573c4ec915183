/*
 * fields.h: protobuf fields to and from text, driven by the generated descriptors.
 *
 * parcoursctl sets event payloads by field name ("--structure-id ml93") and prints messages
 * without knowing them in advance: a field added to parcours.proto is usable and shown at once.
 * Enum values are written by their short names (EMPLOI for PATHWAY_TYPE_EMPLOI), times as
 * ISO-8601 UTC. Every function here is pure: no I/O, no global state.
 */
#ifndef PARCOURSCTL_FIELDS_H
#define PARCOURSCTL_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "parcours.pb-c.h"

/* Room for fields_time_format(): "2026-11-27T10:00:00.123Z" and a NUL, with margin. */
#define FIELDS_TIME_MAX 32

/* Room for the error sentences of this module. */
#define FIELDS_ERROR_MAX 512

/*
 * The short name of an enum value: its name without the enum's prefix ("EMPLOI" for
 * PATHWAY_TYPE_EMPLOI), the prefix being the name of the value 0 without "UNSPECIFIED".
 * Returns a static string of the descriptor, or NULL when the value is not defined.
 */
const char *fields_enum_name(const ProtobufCEnumDescriptor *d, int value);

/*
 * Reads an enum value from text: its short name ("EMPLOI"), its full name
 * ("PATHWAY_TYPE_EMPLOI"), case-insensitively, or its number when that number is defined.
 * Returns 0 and sets *value, or -1.
 */
int fields_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *value);

/* Writes the short names of an enum's values but the value 0, comma-separated, into buf. */
void fields_enum_list(const ProtobufCEnumDescriptor *d, char *buf, size_t size);

/*
 * Reads a time as unix milliseconds: a non-negative integer (already unix ms; a number of
 * exactly 10 digits is refused, being unix seconds by mistake), or ISO-8601
 * "YYYY-MM-DD" (midnight UTC), "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z", "+HH:MM" or
 * "-HH:MM" (no zone means UTC). A space may replace the T. Returns 0 and sets *ms, or -1.
 */
int fields_time_parse(const char *text, int64_t *ms);

/* Writes unix milliseconds as ISO-8601 UTC ("2026-11-27T10:00:00Z", with ".fff" when the
 * milliseconds are not 0) into out. */
void fields_time_format(int64_t ms, char out[FIELDS_TIME_MAX]);

/* True when an int64 field named so holds a time (by the contract's naming: *_at, start, end,
 * expected_end), so printing shows it as a date. */
int fields_is_time(const ProtobufCFieldDescriptor *f);

/* The field of message type d named name ("structure_id"; "-" is read as "_"), or NULL. */
const ProtobufCFieldDescriptor *fields_find(const ProtobufCMessageDescriptor *d, const char *name);

/*
 * Sets a singular field of msg from text: strings as given; enums with fields_enum_parse;
 * integers in decimal, where int64 fields also accept an ISO date (fields_time_parse); bools as
 * true/false/yes/no/1/0. Repeated and message fields are refused. On failure returns -1 and
 * writes a sentence naming the field and what it accepts into err (FIELDS_ERROR_MAX bytes).
 * Strings are strdup'ed into msg (the previous value freed unless it is the field's default),
 * so msg must be one that protobuf_c_message_free_unpacked(msg, NULL) may free.
 */
int fields_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, const char *value,
               char *err, size_t errlen);

/* Writes "name (kind), name (kind)..." for every field of d into buf, for error messages; the
 * kind is "text", "number", "time" or "one of A, B, C". */
void fields_list(const ProtobufCMessageDescriptor *d, char *buf, size_t size);

/*
 * The payload field of parcours.v1.Event for an event type name: the CamelCase name of its
 * message ("OrientationDecided") or its snake_case field name ("orientation_decided"), compared
 * without case, "_" and "-". Returns NULL for an unknown name.
 */
const ProtobufCFieldDescriptor *fields_payload_find(const char *type_name);

/* The payload field set in an event, or NULL when it has none. */
const ProtobufCFieldDescriptor *fields_payload_field(const Parcours__V1__Event *e);

/* The payload message of an event (owned by the event), or NULL. */
const ProtobufCMessage *fields_payload(const Parcours__V1__Event *e);

/* The CamelCase name of an event's type ("OrientationDecided"), or "(no payload)". */
const char *fields_payload_name(const Parcours__V1__Event *e);

/* Writes the CamelCase names of every event type, comma-separated, into buf. */
void fields_payload_list(char *buf, size_t size);

/* A duration such as 7d, 24h, 30m, 90s (or 0) into *ms: 0, or -1 when it is not one. */
int fields_duration_parse(const char *text, int64_t *ms);

#endif
