/*
 * protojson.h: protobuf-c messages as JSON values, by the proto3 JSON mapping, with jansson.
 *
 * What `parcoursctl --json` prints is what every proto3 JSON reader expects (jq, JavaScript's
 * JSON.parse, Python's json_format with preserving_proto_field_name):
 *   - field names as in the .proto (beneficiary_id), the printer option of the mapping that
 *     every proto3 JSON parser accepts, and the names the text output and the docs use;
 *   - every field, even at its default: a number 0, "" or false as such, an absent message as
 *     null, an empty repeated field as []; of a oneof, only the member that is set;
 *   - 64-bit integers (int64, uint64, their fixed and zigzag forms) as decimal strings, since a
 *     JSON number above 2^53 is rounded by jq and JavaScript (a stream_id is random over 64
 *     bits); 32-bit integers as numbers;
 *   - an enum value by its full name in the .proto (PHASE_ORIENTED), or its number when it is
 *     newer than this parcoursctl;
 *   - bytes in base64, floating point as numbers ("NaN", "Infinity", "-Infinity" as strings);
 *   - a string that is not UTF-8 with each bad byte replaced by U+FFFD.
 *
 * Every function returns a new reference the caller owns (json_decref), or NULL when memory
 * ran out; none logs. The messages are only read, during the call.
 */
#ifndef PARCOURS_CTL_PROTOJSON_H
#define PARCOURS_CTL_PROTOJSON_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* The object of message m; null when m is NULL. */
json_t *protojson_message(const ProtobufCMessage *m);

/* The members of m added to object (which may hold others already): 0, or -1 out of memory. */
int protojson_members(json_t *object, const ProtobufCMessage *m);

/* An enum value: its full name in d, or its number when d does not know it. */
json_t *protojson_enum(const ProtobufCEnumDescriptor *d, int value);

/* 64-bit integers, as their decimal strings. */
json_t *protojson_uint64(uint64_t v);
json_t *protojson_int64(int64_t v);

/* A string (NULL as ""), any byte that is not UTF-8 replaced by U+FFFD. */
json_t *protojson_string(const char *s);

/* Sets key of object to value, taking value's reference (NULL counts as out of memory): 0, or
 * -1 when value is NULL or memory ran out. A chain of calls may test once: -1 stays -1. */
int protojson_set(json_t *object, const char *key, json_t *value);

/*
 * Writes value to out as one compact line and takes its reference (NULL is taken as out of
 * memory). Returns 0, or -1 when it could not be written.
 */
int protojson_print_line(FILE *out, json_t *value);

#endif
