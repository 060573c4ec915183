/* message_copy.c: a deep copy of a protobuf-c message (message_copy.h). */
#include "message_copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbwalk.h"

/* A member of a message being filled, for writing (pbwalk.h reads them). */
#define MEMBER(type, message, offset) (*(type *)((uint8_t *)(message) + (offset)))

/* Makes field f of c own nothing (what free_unpacked then leaves alone), before it is filled. */
static void field_clear(ProtobufCMessage *c, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        MEMBER(size_t, c, f->quantifier_offset) = 0;
        MEMBER(void *, c, f->offset) = NULL;
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        MEMBER(const char *, c, f->offset) = f->default_value;
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        MEMBER(ProtobufCBinaryData, c, f->offset) = (ProtobufCBinaryData){0, NULL};
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        MEMBER(ProtobufCMessage *, c, f->offset) = NULL;
    }
}

/* A copy of one string, bytes or message value into *out; the shared defaults stay shared,
 * as free_unpacked expects. Returns -1 when memory ran out (*out then owns nothing). */
static int value_copy(const ProtobufCFieldDescriptor *f, const void *from, void *out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)from;
        char *copy = (char *)s;
        if (s != NULL && (const void *)s != f->default_value && (copy = strdup(s)) == NULL)
            return -1;
        *(char **)out = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = from;
        const ProtobufCBinaryData *def = f->default_value;
        ProtobufCBinaryData copy = *b;
        if (b->data != NULL && (def == NULL || def->data != b->data)) {
            if ((copy.data = malloc(b->len > 0 ? b->len : 1)) == NULL)
                return -1;
            memcpy(copy.data, b->data, b->len);
        }
        *(ProtobufCBinaryData *)out = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sm = *(ProtobufCMessage *const *)from;
        ProtobufCMessage *copy = (ProtobufCMessage *)sm;
        if (sm != NULL && (const void *)sm != f->default_value && (copy = message_copy(sm)) == NULL)
            return -1;
        *(ProtobufCMessage **)out = copy;
        return 0;
    }
    default:
        return 0;
    }
}

/* Fills field f of c (cleared) from m. Returns -1 when memory ran out; what was copied so far
 * is c's, for free_unpacked. */
static int field_copy(ProtobufCMessage *c, const ProtobufCMessage *m,
                      const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
            f->type == PROTOBUF_C_TYPE_MESSAGE)
            return value_copy(f, pbwalk_field_member(m, f), (uint8_t *)c + f->offset);
        return 0; /* a scalar: copied with the struct */
    }
    size_t n = pbwalk_field_count(m, f);
    const uint8_t *from = *(const uint8_t *const *)pbwalk_field_member(m, f);
    if (n == 0 || from == NULL)
        return 0;
    size_t size = pbwalk_element_size(f->type);
    uint8_t *array = calloc(n, size);
    if (array == NULL)
        return -1;
    MEMBER(void *, c, f->offset) = array;
    MEMBER(size_t, c, f->quantifier_offset) = n;
    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES &&
        f->type != PROTOBUF_C_TYPE_MESSAGE) {
        memcpy(array, from, n * size);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (value_copy(f, from + i * size, array + i * size) != 0)
            return -1;
    return 0;
}

static int unknown_fields_copy(ProtobufCMessage *c, const ProtobufCMessage *m)
{
    if (m->n_unknown_fields == 0 || m->unknown_fields == NULL)
        return 0;
    c->unknown_fields = calloc(m->n_unknown_fields, sizeof(*c->unknown_fields));
    if (c->unknown_fields == NULL)
        return -1;
    c->n_unknown_fields = m->n_unknown_fields;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
        c->unknown_fields[i] = *u;
        c->unknown_fields[i].data = malloc(u->len > 0 ? u->len : 1);
        if (c->unknown_fields[i].data == NULL)
            return -1;
        memcpy(c->unknown_fields[i].data, u->data, u->len);
    }
    return 0;
}

ProtobufCMessage *message_copy(const ProtobufCMessage *m)
{
    if (m == NULL)
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    ProtobufCMessage *c = malloc(d->sizeof_message);
    if (c == NULL)
        return NULL;
    /* Scalars, presence flags, counts and oneof cases come with the struct; every pointer is
     * then cleared before it is filled, so the copy can be freed whole at any point. */
    memcpy(c, m, d->sizeof_message);
    c->n_unknown_fields = 0;
    c->unknown_fields = NULL;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (pbwalk_field_selected(m, &d->fields[i]))
            field_clear(c, &d->fields[i]);
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < d->n_fields; i++)
        if (pbwalk_field_selected(m, &d->fields[i]))
            rc = field_copy(c, m, &d->fields[i]);
    if (rc == 0)
        rc = unknown_fields_copy(c, m);
    if (rc != 0) {
        protobuf_c_message_free_unpacked(c, NULL);
        return NULL;
    }
    return c;
}
