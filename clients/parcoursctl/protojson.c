/*
 * protojson.c: the proto3 JSON mapping, from protobuf-c's descriptors (see protojson.h).
 *
 * Nothing here names a message of the contract: a field added to parcours.proto is printed at
 * once. The message layout is read through common/pbwalk.h, the one copy of protobuf-c's rules.
 */
#include "protojson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pbwalk.h"

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when it is not one: overlong
 * forms, surrogates and code points above U+10FFFF are refused, as RFC 3629 says. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *protojson_string(const char *s)
{
    if (s == NULL)
        s = "";
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    /* Not UTF-8 (or out of memory): each bad byte becomes U+FFFD, three bytes. */
    size_t n = strlen(s);
    char *copy = malloc(3 * n + 1);
    if (copy == NULL)
        return NULL;
    size_t at = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(u + i, n - i);
        if (len == 0) {
            memcpy(copy + at, "\xEF\xBF\xBD", 3);
            at += 3;
            i++;
        } else {
            memcpy(copy + at, s + i, len);
            at += len;
            i += len;
        }
    }
    copy[at] = '\0';
    v = json_string(copy);
    free(copy);
    return v;
}

json_t *protojson_uint64(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    return json_string(text);
}

json_t *protojson_int64(int64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, v);
    return json_string(text);
}

json_t *protojson_enum(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v != NULL ? json_string(v->name) : json_integer(value);
}

static json_t *protojson_double(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *protojson_bytes(const ProtobufCBinaryData *b)
{
    size_t size = sodium_base64_ENCODED_LEN(b->len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(size);
    if (text == NULL)
        return NULL;
    sodium_bin2base64(text, size, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_string(text);
    free(text);
    return v;
}

/* One value of field f stored at p (a member, or an element of a repeated member). */
static json_t *protojson_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return protojson_int64(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return protojson_uint64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p != 0);
    case PROTOBUF_C_TYPE_FLOAT:
        return protojson_double(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return protojson_double(*(const double *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return protojson_enum(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING:
        return protojson_string(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES:
        return protojson_bytes(p);
    case PROTOBUF_C_TYPE_MESSAGE:
        return protojson_message(*(ProtobufCMessage *const *)p);
    }
    return json_null(); /* a type protobuf-c added since: shown as absent */
}

int protojson_set(json_t *object, const char *key, json_t *value)
{
    if (value == NULL)
        return -1;
    return json_object_set_new(object, key, value) == 0 ? 0 : -1;
}

int protojson_members(json_t *object, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!pbwalk_field_selected(m, f))
            continue; /* a oneof member not set: the mapping leaves it out */
        json_t *value;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            value = protojson_value(f, pbwalk_field_member(m, f));
        } else {
            value = json_array();
            size_t n = pbwalk_field_count(m, f);
            for (size_t k = 0; value != NULL && k < n; k++)
                if (json_array_append_new(value,
                                          protojson_value(f, pbwalk_field_element(m, f, k))) != 0) {
                    json_decref(value);
                    value = NULL;
                }
        }
        if (protojson_set(object, f->name, value) != 0)
            return -1;
    }
    return 0;
}

json_t *protojson_message(const ProtobufCMessage *m)
{
    if (m == NULL)
        return json_null();
    json_t *object = json_object();
    if (object != NULL && protojson_members(object, m) != 0) {
        json_decref(object);
        object = NULL;
    }
    return object;
}

int protojson_print_line(FILE *out, json_t *value)
{
    if (value == NULL)
        return -1;
    /* Compact, in the order the members were set (jansson keeps insertion order). */
    int rc = json_dumpf(value, out, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (rc != 0 || fputc('\n', out) == EOF)
        return -1;
    return 0;
}
