/*
 * wire.h: unpacking what partners send, with every string checked as bytes.
 *
 * protobuf-c hands a string field over as a NUL-terminated C string: a field holding
 * "B-h\0anything" reads as "B-h", and a check made on the C string would let the rest through
 * to whatever kept the received bytes. wire_unpack() decodes with an allocator that remembers
 * the size of every block it gives protobuf-c (which allocates a string's wire length plus its
 * terminator), so wire_strings_check() can compare each string's wire length with its C length
 * and check its bytes as UTF-8. What passes holds no NUL and no invalid UTF-8 anywhere, so every
 * later check on C strings sees every byte.
 */
#ifndef PARCOURS_WIRE_H
#define PARCOURS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Unpacks len bytes as a message of descriptor d. Returns the message (caller owns: wire_free),
 * or NULL when the bytes are not such a message or memory ran out.
 */
ProtobufCMessage *wire_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len);

/* Frees a message of wire_unpack. Takes NULL. */
void wire_free(ProtobufCMessage *m);

/* Sets a string field of a message of wire_unpack to a copy of value, allocated as wire_unpack
 * allocates (so wire_free frees it, and it passes wire_strings_check), freeing what it held.
 * For the fields the daemon fills in itself (PathwayExited.transfer_reference). 0, or -1 when
 * out of memory (the field is left as it was). */
int wire_string_set(char **field, const char *value);

/*
 * Checks every string field of m (a message of wire_unpack), in every sub-message, set oneof
 * member and repeated element: no NUL byte within its wire length, and valid UTF-8 (no overlong
 * form, no surrogate, nothing above U+10FFFF). Returns true when all pass; otherwise false, with
 * the dotted path of the first failing field ("orientation_decided.structure_id") in field
 * (fieldlen bytes, may be NULL).
 */
bool wire_strings_check(const ProtobufCMessage *m, char *field, size_t fieldlen);

/* True when one string field of a message of wire_unpack holds no NUL within its wire length.
 * s is the field's value; the shared empty string counts as valid. */
bool wire_string_whole(const char *s);

/* True when the len bytes at s are valid UTF-8. */
bool wire_utf8_valid(const uint8_t *s, size_t len);

#endif
