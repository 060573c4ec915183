/*
 * test_message_copy.c: message_copy() as a property, over every message of the wire contract.
 *
 * Random messages are built from the descriptors alone (every field type, repeated fields,
 * oneofs, nested messages, unknown fields). For each, the copy must pack to the very bytes of
 * the original after the original was freed (so nothing is shared: ASan reports any read of
 * freed memory), and a copy whose k-th allocation fails must return NULL with nothing left
 * allocated (LeakSanitizer reports any leak), for every k.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parcours.pb-c.h"

/* --- Allocation failures: message_copy.c is compiled into this test (below) with malloc,
 * calloc and strdup routed through these. ------------------------------------------------------ */

static long alloc_budget = -1; /* allocations left before one fails; -1 = never fail */
static long allocs_made;

static bool alloc_fails(void)
{
    allocs_made++;
    if (alloc_budget < 0)
        return false;
    if (alloc_budget == 0)
        return true;
    alloc_budget--;
    return false;
}

static void *copy_test_malloc(size_t n)
{
    return alloc_fails() ? NULL : malloc(n);
}

static void *copy_test_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : calloc(n, size);
}

static char *copy_test_strdup(const char *s)
{
    return alloc_fails() ? NULL : strdup(s);
}

#define malloc copy_test_malloc
#define calloc copy_test_calloc
#define strdup copy_test_strdup
#include "message_copy.c"
#undef malloc
#undef calloc
#undef strdup

/* --- Random messages from their descriptors --------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char *random_string(void)
{
    size_t n = rnd() % 12;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + rnd() % 26);
    s[n] = '\0';
    return s;
}

static ProtobufCMessage *random_message(const ProtobufCMessageDescriptor *d, int depth);

/* Writes a random value of field f's type at out. */
static void random_value(const ProtobufCFieldDescriptor *f, void *out, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)out = rnd();
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)out = (double)(rnd() % 100000) / 7.0;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)out = (float)(rnd() % 1000) / 3.0f;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)out = (protobuf_c_boolean)(rnd() % 2);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)out = e->values[rnd() % e->n_values].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)out = random_string();
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = out;
        b->len = rnd() % 9;
        b->data = malloc(b->len + 1);
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t)rnd();
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)out = depth < 3 ? random_message(f->descriptor, depth + 1) : NULL;
        break;
    default: /* int32, sint32, sfixed32, uint32, fixed32 */
        *(uint32_t *)out = (uint32_t)rnd();
        break;
    }
}

static ProtobufCMessage *random_message(const ProtobufCMessageDescriptor *d, int depth)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    d->message_init(m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* One member of each oneof, or none: chosen at its first member. */
            bool first = true;
            for (unsigned j = 0; j < i; j++)
                first &= !((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                           d->fields[j].quantifier_offset == f->quantifier_offset);
            if (!first)
                continue;
            unsigned members = 0;
            for (unsigned j = i; j < d->n_fields; j++)
                members += (d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                           d->fields[j].quantifier_offset == f->quantifier_offset;
            unsigned pick = (unsigned)(rnd() % (members + 1));
            for (unsigned j = i; pick > 0 && j < d->n_fields; j++) {
                const ProtobufCFieldDescriptor *g = &d->fields[j];
                if (!((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                      g->quantifier_offset == f->quantifier_offset) ||
                    --pick > 0)
                    continue;
                MEMBER(uint32_t, m, g->quantifier_offset) = g->id;
                random_value(g, (uint8_t *)m + g->offset, depth);
                /* A oneof message member must be set for the case to mean anything. */
                if (g->type == PROTOBUF_C_TYPE_MESSAGE && MEMBER(void *, m, g->offset) == NULL)
                    MEMBER(uint32_t, m, g->quantifier_offset) = 0;
            }
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = rnd() % 4, size = pbwalk_element_size(f->type);
            if (n == 0)
                continue;
            uint8_t *array = calloc(n, size);
            size_t kept = 0;
            for (size_t k = 0; k < n; k++) {
                random_value(f, array + kept * size, depth);
                /* protobuf-c packs no NULL element: a too deep message is left out. */
                if (f->type != PROTOBUF_C_TYPE_MESSAGE || *(void **)(array + kept * size) != NULL)
                    kept++;
            }
            MEMBER(void *, m, f->offset) = array;
            MEMBER(size_t, m, f->quantifier_offset) = kept;
            continue;
        }
        if (rnd() % 4 == 0)
            continue; /* left at its default */
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
            f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            char *s = random_string();
            MEMBER(char *, m, f->offset) = s;
        } else {
            random_value(f, (uint8_t *)m + f->offset, depth);
        }
    }
    /* Unknown fields, as an older or newer sender's bytes would leave. */
    unsigned unknown = (unsigned)(rnd() % 3);
    if (unknown > 0) {
        m->unknown_fields = calloc(unknown, sizeof(*m->unknown_fields));
        m->n_unknown_fields = unknown;
        for (unsigned i = 0; i < unknown; i++) {
            ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
            u->tag = 1000 + i;
            u->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
            u->len = 1 + rnd() % 5;
            u->data = malloc(u->len);
            /* The data of an unknown field is its bytes after the tag: here a length and as
             * many bytes. */
            u->data[0] = (uint8_t)(u->len - 1);
            for (size_t k = 1; k < u->len; k++)
                u->data[k] = (uint8_t)rnd();
        }
    }
    return m;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

static const ProtobufCMessageDescriptor *const contract[] = {
    &parcours__v1__event__descriptor,
    &parcours__v1__pathway__descriptor,
    &parcours__v1__ack__descriptor,
    &parcours__v1__notification__descriptor,
    &parcours__v1__deliver_request__descriptor,
    &parcours__v1__deliver_reply__descriptor,
    &parcours__v1__admin_request__descriptor,
    &parcours__v1__admin_reply__descriptor,
};
#define CONTRACT_COUNT (sizeof(contract) / sizeof(contract[0]))

/* The copy packs to the original's bytes, with the original freed first. */
static void test_copy_packs_to_the_same_bytes(void **state)
{
    (void)state;
    unsigned nonempty = 0;
    for (size_t t = 0; t < CONTRACT_COUNT; t++) {
        for (int round = 0; round < 400; round++) {
            ProtobufCMessage *m = random_message(contract[t], 0);
            size_t len, copy_len;
            uint8_t *bytes = pack(m, &len);
            ProtobufCMessage *c = message_copy(m);
            assert_non_null(c);
            assert_ptr_equal(c->descriptor, contract[t]);
            protobuf_c_message_free_unpacked(m, NULL);
            uint8_t *copy_bytes = pack(c, &copy_len);
            assert_int_equal(copy_len, len);
            assert_memory_equal(copy_bytes, bytes, len);
            nonempty += len > 16;
            protobuf_c_message_free_unpacked(c, NULL);
            free(bytes);
            free(copy_bytes);
        }
    }
    assert_true(nonempty > CONTRACT_COUNT * 100); /* the generator makes real messages */
}

/* An unpacked message (strings at the shared empty string, oneofs from the wire) copies too. */
static void test_copy_of_an_unpacked_pathway(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        ProtobufCMessage *m = random_message(&parcours__v1__pathway__descriptor, 0);
        size_t len, copy_len;
        uint8_t *bytes = pack(m, &len);
        protobuf_c_message_free_unpacked(m, NULL);
        Parcours__V1__Pathway *p = parcours__v1__pathway__unpack(NULL, len, bytes);
        assert_non_null(p);
        ProtobufCMessage *c = message_copy(&p->base);
        parcours__v1__pathway__free_unpacked(p, NULL);
        uint8_t *copy_bytes = pack(c, &copy_len);
        assert_int_equal(copy_len, len);
        assert_memory_equal(copy_bytes, bytes, len);
        protobuf_c_message_free_unpacked(c, NULL);
        free(bytes);
        free(copy_bytes);
    }
}

/* Every allocation of a copy failing in turn: NULL, and nothing left allocated. */
static void test_a_failed_allocation_leaves_nothing(void **state)
{
    (void)state;
    unsigned failures = 0;
    for (size_t t = 0; t < CONTRACT_COUNT; t++) {
        for (int round = 0; round < 30; round++) {
            ProtobufCMessage *m = random_message(contract[t], 0);
            alloc_budget = -1;
            allocs_made = 0;
            ProtobufCMessage *c = message_copy(m);
            assert_non_null(c);
            protobuf_c_message_free_unpacked(c, NULL);
            long needed = allocs_made;
            for (long k = 0; k < needed; k++) {
                alloc_budget = k;
                assert_null(message_copy(m));
                failures++;
            }
            alloc_budget = needed;
            c = message_copy(m);
            assert_non_null(c);
            protobuf_c_message_free_unpacked(c, NULL);
            alloc_budget = -1;
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    assert_true(failures > 500);
}

static void test_null_copies_to_null(void **state)
{
    (void)state;
    assert_null(message_copy(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_packs_to_the_same_bytes),
        cmocka_unit_test(test_copy_of_an_unpacked_pathway),
        cmocka_unit_test(test_a_failed_allocation_leaves_nothing),
        cmocka_unit_test(test_null_copies_to_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
