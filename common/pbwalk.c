/* pbwalk.c: protobuf-c's layout of a message, read from its descriptor (pbwalk.h). */
#include "pbwalk.h"

#include <assert.h>
#include <stdint.h>

/* The bytes at offset in m: every protobuf-c offset counts from the start of the struct,
 * whose first member is the ProtobufCMessage. */
static const void *pbwalk_at(const ProtobufCMessage *m, size_t offset)
{
    return (const uint8_t *)m + offset;
}

size_t pbwalk_element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* int32, sint32, sfixed32, uint32, fixed32, float, enum */
        return sizeof(uint32_t);
    }
}

bool pbwalk_field_selected(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    return *(const uint32_t *)pbwalk_at(m, f->quantifier_offset) == f->id;
}

const void *pbwalk_field_member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return pbwalk_at(m, f->offset);
}

size_t pbwalk_field_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    assert(f->label == PROTOBUF_C_LABEL_REPEATED);
    return *(const size_t *)pbwalk_at(m, f->quantifier_offset);
}

const void *pbwalk_field_element(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                 size_t k)
{
    assert(f->label == PROTOBUF_C_LABEL_REPEATED && k < pbwalk_field_count(m, f));
    const uint8_t *array = *(const uint8_t *const *)pbwalk_field_member(m, f);
    return array + k * pbwalk_element_size(f->type);
}
