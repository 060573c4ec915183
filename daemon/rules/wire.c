/* wire.c: unpacking partners' frames with every string checked as bytes (see wire.h). */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbwalk.h"

/*
 * Every block given to protobuf-c starts after a header that records its size. protobuf-c
 * allocates a string field of n wire bytes as n + 1 bytes (the bytes, then a terminator), so a
 * string's wire length is its block's size minus one. The magic number tells a block of this
 * allocator from anything else: a string that is not one is never taken as whole.
 */
#define WIRE_MAGIC UINT64_C(0x70617263776972e5)

typedef union wire_block {
    struct {
        size_t size;
        uint64_t magic;
    } header;
    max_align_t align; /* what follows the header is aligned for any type */
} wire_block_t;

static void *wire_alloc(void *ctx, size_t size)
{
    (void)ctx;
    wire_block_t *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->header.size = size;
    b->header.magic = WIRE_MAGIC;
    return b + 1;
}

static void wire_release(void *ctx, void *p)
{
    (void)ctx;
    if (p == NULL)
        return;
    wire_block_t *b = (wire_block_t *)p - 1;
    b->header.magic = 0;
    free(b);
}

static ProtobufCAllocator wire_allocator = {wire_alloc, wire_release, NULL};

int wire_string_set(char **field, const char *value)
{
    size_t len = strlen(value);
    char *copy = wire_alloc(NULL, len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, value, len + 1);
    if (*field != NULL && *field != protobuf_c_empty_string)
        wire_release(NULL, *field);
    *field = copy;
    return 0;
}

ProtobufCMessage *wire_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len)
{
    return protobuf_c_message_unpack(d, &wire_allocator, len, data);
}

void wire_free(ProtobufCMessage *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, &wire_allocator);
}

bool wire_string_whole(const char *s)
{
    if (s == NULL || s == protobuf_c_empty_string)
        return true;
    const wire_block_t *b = (const wire_block_t *)s - 1;
    if (b->header.magic != WIRE_MAGIC || b->header.size == 0)
        return false; /* not a string of wire_unpack: fail closed */
    return strlen(s) == b->header.size - 1;
}

bool wire_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* a continuation byte first, an overlong lead (C0, C1) or F5-FF */
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong three- and four-byte forms, UTF-16 surrogates, and beyond Unicode. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp > 0x10FFFF)
            return false;
        i += n + 1;
    }
    return true;
}

static bool string_ok(const char *s)
{
    return wire_string_whole(s) && (s == NULL || wire_utf8_valid((const uint8_t *)s, strlen(s)));
}

/* Puts "name." before the path a failing sub-message wrote (or "name" when path is empty),
 * cut to pathlen. Paths are written only on the way back from a failure: a message that passes
 * costs no formatting. */
static void path_prepend(char *path, size_t pathlen, const char *name)
{
    if (path == NULL || pathlen == 0)
        return;
    size_t n = strlen(name), len = strlen(path), sep = len > 0 ? 1 : 0;
    if (n + sep >= pathlen) { /* not even the name fits whole */
        memcpy(path, name, pathlen - 1);
        path[pathlen - 1] = '\0';
        return;
    }
    if (n + sep + len >= pathlen)
        len = pathlen - 1 - n - sep;
    memmove(path + n + sep, path, len);
    path[n + sep + len] = '\0';
    memcpy(path, name, n);
    if (sep)
        path[n] = '.';
}

static bool check_message(const ProtobufCMessage *m, char *path, size_t pathlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (!pbwalk_field_selected(m, f))
            continue; /* another member of the oneof is set */
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        size_t n = repeated ? pbwalk_field_count(m, f) : 1;
        for (size_t k = 0; k < n; k++) {
            const void *v = *(const void *const *)(repeated ? pbwalk_field_element(m, f, k)
                                                            : pbwalk_field_member(m, f));
            if (v == NULL)
                continue;
            bool ok =
                f->type == PROTOBUF_C_TYPE_STRING ? string_ok(v) : check_message(v, path, pathlen);
            if (!ok) {
                path_prepend(path, pathlen, f->name);
                return false;
            }
        }
    }
    return true;
}

bool wire_strings_check(const ProtobufCMessage *m, char *field, size_t fieldlen)
{
    if (field != NULL && fieldlen > 0)
        field[0] = '\0';
    return check_message(m, field, fieldlen);
}
