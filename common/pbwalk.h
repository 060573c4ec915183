/*
 * pbwalk.h: walking a protobuf-c message from its descriptor, one copy of protobuf-c's layout
 * rules for the daemon and the clients.
 *
 * protobuf-c generates a struct per message and describes every field by an offset into it: a
 * singular field is a member at f->offset; a repeated field is a count (size_t) at
 * f->quantifier_offset and an array pointer at f->offset; the members of a oneof share one
 * storage, and the number of the member that holds it (uint32_t) is at f->quantifier_offset.
 * The daemon's deep copy (daemon/rules/message_copy.c), its string checks
 * (daemon/rules/wire.c) and parcoursctl's JSON and text output (clients/parcoursctl/print.c)
 * walk messages this way; the layout is written down here once, so that they cannot disagree.
 *
 * Every function reads the message only, during the call; a returned pointer points into m and
 * is valid as long as m is. None allocates, logs or fails.
 */
#ifndef PARCOURS_COMMON_PBWALK_H
#define PARCOURS_COMMON_PBWALK_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/*
 * The size in bytes of one element of a repeated field of type type, as protobuf-c lays out
 * its array: 8 for the 64-bit integers and double, sizeof(protobuf_c_boolean) for bool, a
 * pointer for string and message, sizeof(ProtobufCBinaryData) for bytes, 4 for the 32-bit
 * integers, float and enum.
 */
size_t pbwalk_element_size(ProtobufCType type);

/*
 * Whether field f of m holds a value of its own: true for every field that is not the member
 * of a oneof, and for the member of a oneof that is selected; false for the other members,
 * whose storage is the selected member's (reading it as theirs would read a string as a
 * message, say). f must be one of m->descriptor's fields.
 */
bool pbwalk_field_selected(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/*
 * The address of field f's member in m: the value itself for a singular field (a char * for a
 * string, a ProtobufCMessage * for a message), the array pointer for a repeated one. Read it
 * only when pbwalk_field_selected(m, f).
 */
const void *pbwalk_field_member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* The number of elements of repeated field f of m. f must be repeated. */
size_t pbwalk_field_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/*
 * The address of element k of repeated field f of m (a char * for strings, a ProtobufCMessage *
 * for messages, the value for scalars). f must be repeated and k below pbwalk_field_count().
 */
const void *pbwalk_field_element(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                 size_t k);

#endif
