/*
 * eventtext.c: builds a parcours.v1.Event from name/value text pairs (see eventtext.h).
 *
 * The event is allocated the way protobuf_c_message_free_unpacked() frees (malloc, strdup), so
 * one call frees it whole, payload included.
 */
#include "eventtext.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fields.h"
#include "identifier.h"
#include "parcours.h"

/* The envelope's names, each with the spellings accepted for it. */
typedef enum envelope {
    ENVELOPE_TYPE,
    ENVELOPE_PARTNER,
    ENVELOPE_BENEFICIARY,
    ENVELOPE_EVENT_ID,
    ENVELOPE_OCCURRED_AT,
    ENVELOPE_EXPECTED_VERSION,
    ENVELOPE_EXPECT_NO_PATHWAY,
    ENVELOPE_COUNT,
    ENVELOPE_NONE = ENVELOPE_COUNT,
} envelope_t;

static const struct {
    const char *name;
    const char *alias;
} envelope_names[ENVELOPE_COUNT] = {
    [ENVELOPE_TYPE] = {"type", "event_type"},
    [ENVELOPE_PARTNER] = {"as", "partner_id"},
    [ENVELOPE_BENEFICIARY] = {"beneficiary", "beneficiary_id"},
    [ENVELOPE_EVENT_ID] = {"event_id", NULL},
    [ENVELOPE_OCCURRED_AT] = {"occurred_at", NULL},
    [ENVELOPE_EXPECTED_VERSION] = {"expected_version", NULL},
    [ENVELOPE_EXPECT_NO_PATHWAY] = {"expect_no_pathway", NULL},
};

/* key with "-" read as "_", into buf; false when too long. */
static bool normalise(const char *key, char *buf, size_t size)
{
    size_t n = 0;
    for (; key[n] != '\0'; n++) {
        if (n + 1 >= size)
            return false;
        buf[n] = key[n] == '-' ? '_' : key[n];
    }
    buf[n] = '\0';
    return true;
}

static envelope_t envelope_find(const char *key)
{
    for (int i = 0; i < ENVELOPE_COUNT; i++)
        if (strcmp(key, envelope_names[i].name) == 0 ||
            (envelope_names[i].alias != NULL && strcmp(key, envelope_names[i].alias) == 0))
            return (envelope_t)i;
    return ENVELOPE_NONE;
}

static int set_id(char **field, const char *name, const char *value, char *err, size_t errlen)
{
    if (!identifier_valid(value)) {
        snprintf(err, errlen,
                 "%s: \"%s\" is not an identifier (1 to %d characters among "
                 "A-Z a-z 0-9 . _ : -)",
                 name, value, PARCOURS_ID_MAX);
        return -1;
    }
    char *copy = strdup(value);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *field = copy;
    return 0;
}

/* Creates the payload message of type field f inside e. */
static int payload_create(Parcours__V1__Event *e, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    ProtobufCMessage *payload = malloc(d->sizeof_message);
    if (payload == NULL)
        return -1;
    d->message_init(payload);
    *(ProtobufCMessage **)((char *)e + f->offset) = payload;
    e->payload_case = (Parcours__V1__Event__PayloadCase)f->id;
    return 0;
}

/* Applies one envelope pair; the type was handled before. */
static int envelope_set(Parcours__V1__Event *e, envelope_t which, const char *value, char *err,
                        size_t errlen)
{
    int64_t ms;
    switch (which) {
    case ENVELOPE_PARTNER:
        return set_id(&e->partner_id, "as", value, err, errlen);
    case ENVELOPE_BENEFICIARY:
        return set_id(&e->beneficiary_id, "beneficiary", value, err, errlen);
    case ENVELOPE_EVENT_ID:
        return set_id(&e->event_id, "event_id", value, err, errlen);
    case ENVELOPE_OCCURRED_AT:
        if (fields_time_parse(value, &ms) != 0 || ms <= 0) {
            snprintf(err, errlen,
                     "occurred_at: \"%s\" is not valid; expected unix ms or an ISO-8601 date "
                     "such as 2026-11-27 or 2026-11-27T10:00:00Z",
                     value);
            return -1;
        }
        e->occurred_at = ms;
        return 0;
    case ENVELOPE_EXPECTED_VERSION: {
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || *end != '\0' || v == ~0ull) {
            snprintf(err, errlen,
                     "expected_version: \"%s\" is not valid; expected an integer (0: no check)",
                     value);
            return -1;
        }
        e->expected_version = v;
        return 0;
    }
    case ENVELOPE_EXPECT_NO_PATHWAY:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(err, errlen,
                     "expect_no_pathway: \"%s\" is not valid; expected true (the person must be "
                     "new here) or false",
                     value);
            return -1;
        }
        e->expect_no_pathway = strcmp(value, "true") == 0;
        return 0;
    default:
        return 0;
    }
}

/* Checks that no name is given twice, aliases and "-" spellings included. */
static int check_repeats(size_t n, const char *const keys[], const char *const values[], char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char a[128], b[128];
        if (values[i] == NULL || !normalise(keys[i], a, sizeof(a)))
            continue;
        envelope_t ea = envelope_find(a);
        for (size_t j = i + 1; j < n; j++) {
            if (values[j] == NULL || !normalise(keys[j], b, sizeof(b)))
                continue;
            envelope_t eb = envelope_find(b);
            if (ea != ENVELOPE_NONE ? ea == eb : strcmp(a, b) == 0) {
                snprintf(err, errlen, "%s is given twice", a);
                return -1;
            }
        }
    }
    return 0;
}

int eventtext_build(size_t n, const char *const keys[], const char *const values[],
                    Parcours__V1__Event **out, char *err, size_t errlen)
{
    *out = NULL;
    if (check_repeats(n, keys, values, err, errlen) != 0)
        return -1;
    const char *type = NULL;
    for (size_t i = 0; i < n; i++) {
        char key[128];
        if (values[i] != NULL && normalise(keys[i], key, sizeof(key)) &&
            envelope_find(key) == ENVELOPE_TYPE)
            type = values[i];
    }
    char list[EVENTTEXT_ERROR_MAX / 2];
    fields_payload_list(list, sizeof(list));
    if (type == NULL) {
        snprintf(err, errlen, "the event type is missing; it is one of %s", list);
        return -1;
    }
    const ProtobufCFieldDescriptor *payload_field = fields_payload_find(type);
    if (payload_field == NULL) {
        snprintf(err, errlen, "unknown event type \"%s\"; it is one of %s", type, list);
        return -1;
    }

    Parcours__V1__Event *e = malloc(sizeof(*e));
    if (e == NULL || (parcours__v1__event__init(e), payload_create(e, payload_field) != 0)) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ProtobufCMessage *payload = *(ProtobufCMessage **)((char *)e + payload_field->offset);
    const ProtobufCMessageDescriptor *pd = payload_field->descriptor;
    for (size_t i = 0; i < n; i++) {
        char key[128];
        if (values[i] == NULL)
            continue;
        if (!normalise(keys[i], key, sizeof(key))) {
            snprintf(err, errlen, "a name is too long");
            goto fail;
        }
        envelope_t which = envelope_find(key);
        if (which != ENVELOPE_NONE) {
            if (envelope_set(e, which, values[i], err, errlen) != 0)
                goto fail;
            continue;
        }
        const ProtobufCFieldDescriptor *f = fields_find(pd, key);
        if (f == NULL) {
            char fields[EVENTTEXT_ERROR_MAX / 2];
            fields_list(pd, fields, sizeof(fields));
            snprintf(err, errlen, "%s has no field \"%s\"; its fields: %s", pd->short_name, key,
                     fields);
            goto fail;
        }
        char field_err[FIELDS_ERROR_MAX];
        if (fields_set(payload, f, values[i], field_err, sizeof(field_err)) != 0) {
            snprintf(err, errlen, "%s", field_err);
            goto fail;
        }
    }
    if (e->partner_id[0] == '\0') {
        snprintf(err, errlen, "the sending partner is missing (as)");
        goto fail;
    }
    if (e->beneficiary_id[0] == '\0') {
        snprintf(err, errlen, "the beneficiary is missing (beneficiary)");
        goto fail;
    }
    if (e->event_id[0] == '\0') {
        char id[PARCOURS_EVENT_ID_LEN + 1];
        int rc = parcours_event_id_new(id);
        if (rc != PARCOURS_OK) {
            snprintf(err, errlen, "cannot make an event id: %s", parcours_strerror(rc));
            goto fail;
        }
        if (set_id(&e->event_id, "event_id", id, err, errlen) != 0)
            goto fail;
    }
    if (e->occurred_at == 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        e->occurred_at = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }
    *out = e;
    return 0;
fail:
    eventtext_free(&e);
    return -1;
}

void eventtext_free(Parcours__V1__Event **e)
{
    if (e == NULL || *e == NULL)
        return;
    parcours__v1__event__free_unpacked(*e, NULL);
    *e = NULL;
}
