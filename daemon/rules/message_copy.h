/*
 * message_copy.h: a deep copy of a protobuf-c message, walked from its descriptor.
 *
 * protobuf-c has no copy function, and packing a message to unpack it again costs two walks,
 * a buffer and a decode: the rules copy the current pathway once per accepted event and the
 * views once per notification, so that detour was the main thread's largest share after the
 * disk. message_copy() allocates the copy piece by piece with malloc(), as protobuf-c's default
 * allocator does, so protobuf_c_message_free_unpacked(copy, NULL) frees it like an unpacked one.
 */
#ifndef PARCOURS_MESSAGE_COPY_H
#define PARCOURS_MESSAGE_COPY_H

#include <protobuf-c/protobuf-c.h>

/*
 * Returns a copy of m equal to it field for field (every set field, repeated element, selected
 * oneof member and unknown field; sub-messages copied too), which the caller frees with
 * protobuf_c_message_free_unpacked(copy, NULL); NULL when m is NULL or memory ran out (then
 * nothing is left allocated). m may come from any allocator: nothing of it is shared.
 */
ProtobufCMessage *message_copy(const ProtobufCMessage *m);

#endif
