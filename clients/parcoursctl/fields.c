/*
 * fields.c: protobuf fields to and from text, driven by the generated descriptors.
 *
 * Nothing here names a field of the contract: the descriptors protoc-c generates say what each
 * message holds, so a field added to parcours.proto is settable and printable without touching
 * parcoursctl. The only convention read from names is which int64 fields are times.
 */
#include "fields.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 128

/* ------------------------------------------------------------------------------------------ */
/* Enums. */

/* The prefix every value name of d starts with ("PATHWAY_TYPE_"), from its value 0. */
static size_t enum_prefix(const ProtobufCEnumDescriptor *d, const char **prefix)
{
    static const char unspecified[] = "UNSPECIFIED";
    const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(d, 0);
    *prefix = "";
    if (zero == NULL)
        return 0;
    size_t n = strlen(zero->name), u = sizeof(unspecified) - 1;
    if (n < u || strcmp(zero->name + n - u, unspecified) != 0)
        return 0;
    *prefix = zero->name;
    return n - u;
}

const char *fields_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (v == NULL)
        return NULL;
    const char *prefix;
    size_t n = enum_prefix(d, &prefix);
    return strncmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
}

/* Reads a whole decimal integer (optional sign); false on anything else or overflow. */
static bool parse_int(const char *text, long long min, long long max, long long *out)
{
    if (text == NULL || text[0] == '\0' || isspace((unsigned char)text[0]))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

int fields_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *value)
{
    long long number;
    if (parse_int(text, INT32_MIN, INT32_MAX, &number)) {
        if (protobuf_c_enum_descriptor_get_value(d, (int)number) == NULL)
            return -1;
        *value = (int)number;
        return 0;
    }
    const char *prefix;
    size_t n = enum_prefix(d, &prefix);
    for (unsigned i = 0; text != NULL && i < d->n_values; i++) {
        const char *name = d->values[i].name;
        const char *short_name = strncmp(name, prefix, n) == 0 ? name + n : name;
        if (strcasecmp(text, name) == 0 || strcasecmp(text, short_name) == 0) {
            *value = d->values[i].value;
            return 0;
        }
    }
    return -1;
}

void fields_enum_list(const ProtobufCEnumDescriptor *d, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "",
                         fields_enum_name(d, d->values[i].value));
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Times. */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p. */
static bool digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + (unsigned)((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int fields_time_parse(const char *text, int64_t *ms)
{
    unsigned long long plain;
    if (parse_uint(text, INT64_MAX, &plain) && strlen(text) != 10) {
        /* A bare number is unix ms. Ten digits are refused below: that is a unix time in
         * seconds (2001-2286), which read as ms would silently land in 1970. */
        *ms = (int64_t)plain;
        return 0;
    }
    if (text == NULL)
        return -1;
    const char *p = text;
    unsigned year, month, day, hour = 0, minute = 0, second = 0, milli = 0;
    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &month) || *p++ != '-' ||
        !digits(&p, 2, &day))
        return -1;
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return -1;
    int offset_minutes = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &minute))
            return -1;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &second))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                for (; isdigit((unsigned char)*p); p++, n++)
                    if (n < 3)
                        milli = milli * 10 + (unsigned)(*p - '0');
                if (n == 0)
                    return -1;
                for (; n < 3; n++)
                    milli *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59)
            return -1;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            unsigned oh, om;
            if (!digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (!digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset_minutes = sign * (int)(oh * 60 + om);
        }
    }
    if (*p != '\0')
        return -1;
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                      second - (int64_t)offset_minutes * 60;
    if (seconds < 0)
        return -1;
    *ms = seconds * 1000 + milli;
    return 0;
}

void fields_time_format(int64_t ms, char out[FIELDS_TIME_MAX])
{
    int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t milli = ms - seconds * 1000;
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    int64_t rest = seconds - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, FIELDS_TIME_MAX, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m, d,
                     (unsigned)(rest / 3600), (unsigned)(rest / 60 % 60), (unsigned)(rest % 60));
    if (n > 0 && n < FIELDS_TIME_MAX)
        snprintf(out + n, (size_t)(FIELDS_TIME_MAX - n), milli != 0 ? ".%03uZ" : "Z",
                 (unsigned)milli);
}

int fields_duration_parse(const char *text, int64_t *ms)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    int64_t unit;
    if (strcmp(end, "d") == 0)
        unit = 86400000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (*end == '\0' && n == 0)
        unit = 0;
    else
        return -1;
    if (errno != 0 || n > (unsigned long long)(INT64_MAX / (unit > 0 ? unit : 1)))
        return -1;
    *ms = (int64_t)n * unit;
    return 0;
}

int fields_is_time(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_INT64 && f->type != PROTOBUF_C_TYPE_SINT64 &&
        f->type != PROTOBUF_C_TYPE_SFIXED64)
        return 0;
    size_t n = strlen(f->name);
    return strcmp(f->name, "at") == 0 || strcmp(f->name, "start") == 0 ||
           strcmp(f->name, "end") == 0 || strcmp(f->name, "expected_end") == 0 ||
           strcmp(f->name, "since") == 0 || (n > 3 && strcmp(f->name + n - 3, "_at") == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Fields. */

const ProtobufCFieldDescriptor *fields_find(const ProtobufCMessageDescriptor *d, const char *name)
{
    char normal[NAME_MAX_LEN];
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        if (n + 1 >= sizeof(normal))
            return NULL;
        normal[n] = name[n] == '-' ? '_' : (char)tolower((unsigned char)name[n]);
    }
    normal[n] = '\0';
    return protobuf_c_message_descriptor_get_field_by_name(d, normal);
}

/* What a field accepts, for messages: "text", "time", "one of A, B"... */
static void field_kind(const ProtobufCFieldDescriptor *f, char *buf, size_t size)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE ||
        f->type == PROTOBUF_C_TYPE_BYTES) {
        snprintf(buf, size, "not settable here");
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        snprintf(buf, size, "text");
    } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
        int n = snprintf(buf, size, "one of ");
        if (n > 0 && (size_t)n < size)
            fields_enum_list(f->descriptor, buf + n, size - (size_t)n);
    } else if (fields_is_time(f)) {
        snprintf(buf, size, "time: unix ms or ISO date");
    } else if (f->type == PROTOBUF_C_TYPE_BOOL) {
        snprintf(buf, size, "true or false");
    } else {
        snprintf(buf, size, "number");
    }
}

void fields_list(const ProtobufCMessageDescriptor *d, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_fields; i++) {
        char kind[FIELDS_ERROR_MAX / 2];
        field_kind(&d->fields[i], kind, sizeof(kind));
        int n = snprintf(buf + used, size - used, "%s%s (%s)", used > 0 ? "; " : "",
                         d->fields[i].name, kind);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
    if (d->n_fields == 0)
        snprintf(buf, size, "none");
}

static int bad_value(char *err, size_t errlen, const ProtobufCFieldDescriptor *f, const char *value)
{
    char kind[FIELDS_ERROR_MAX / 2];
    field_kind(f, kind, sizeof(kind));
    snprintf(err, errlen, "%s: \"%s\" is not valid; expected %s", f->name, value, kind);
    return -1;
}

int fields_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, const char *value,
               char *err, size_t errlen)
{
    void *member = (char *)msg + f->offset;
    long long i64;
    unsigned long long u64;
    int64_t t;
    if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE ||
        f->type == PROTOBUF_C_TYPE_BYTES) {
        snprintf(err, errlen, "%s: this field cannot be set from the command line", f->name);
        return -1;
    }
    if (value == NULL)
        return bad_value(err, errlen, f, "");
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *copy = strdup(value);
        if (copy == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char **slot = member;
        if (*slot != NULL && *slot != (const char *)f->default_value)
            free(*slot);
        *slot = copy;
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int e;
        if (fields_enum_parse(f->descriptor, value, &e) != 0)
            return bad_value(err, errlen, f, value);
        *(int *)member = e;
        break;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!parse_int(value, INT32_MIN, INT32_MAX, &i64))
            return bad_value(err, errlen, f, value);
        *(int32_t *)member = (int32_t)i64;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!parse_uint(value, UINT32_MAX, &u64))
            return bad_value(err, errlen, f, value);
        *(uint32_t *)member = (uint32_t)u64;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (fields_is_time(f)) {
            if (fields_time_parse(value, &t) != 0)
                return bad_value(err, errlen, f, value);
            *(int64_t *)member = t;
        } else {
            if (!parse_int(value, INT64_MIN, INT64_MAX, &i64))
                return bad_value(err, errlen, f, value);
            *(int64_t *)member = (int64_t)i64;
        }
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!parse_uint(value, UINT64_MAX, &u64))
            return bad_value(err, errlen, f, value);
        *(uint64_t *)member = (uint64_t)u64;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
            strcmp(value, "1") == 0)
            *(protobuf_c_boolean *)member = 1;
        else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
                 strcmp(value, "0") == 0)
            *(protobuf_c_boolean *)member = 0;
        else
            return bad_value(err, errlen, f, value);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0')
            return bad_value(err, errlen, f, value);
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)member = (float)v;
        else
            *(double *)member = v;
        break;
    }
    default:
        return bad_value(err, errlen, f, value);
    }
    /* A field in a oneof, or a proto3 `optional` scalar, also records that it is set. */
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((char *)msg + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Event payloads. */

/* Compares two names ignoring case, "_" and "-": "OrientationDecided" = "orientation_decided". */
static bool loose_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_' || *a == '-')
            a++;
        while (*b == '_' || *b == '-')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
}

static bool is_payload(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type == PROTOBUF_C_TYPE_MESSAGE;
}

const ProtobufCFieldDescriptor *fields_payload_find(const char *type_name)
{
    const ProtobufCMessageDescriptor *d = &parcours__v1__event__descriptor;
    for (unsigned i = 0; type_name != NULL && type_name[0] != '\0' && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!is_payload(f))
            continue;
        const ProtobufCMessageDescriptor *m = f->descriptor;
        if (loose_equal(type_name, f->name) || loose_equal(type_name, m->short_name))
            return f;
    }
    return NULL;
}

const ProtobufCFieldDescriptor *fields_payload_field(const Parcours__V1__Event *e)
{
    if (e == NULL || e->payload_case == PARCOURS__V1__EVENT__PAYLOAD__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &parcours__v1__event__descriptor, (unsigned)e->payload_case);
    return f != NULL && is_payload(f) ? f : NULL;
}

const ProtobufCMessage *fields_payload(const Parcours__V1__Event *e)
{
    const ProtobufCFieldDescriptor *f = fields_payload_field(e);
    return f != NULL ? *(const ProtobufCMessage *const *)((const char *)e + f->offset) : NULL;
}

const char *fields_payload_name(const Parcours__V1__Event *e)
{
    const ProtobufCFieldDescriptor *f = fields_payload_field(e);
    return f != NULL ? ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name
                     : "(no payload)";
}

void fields_payload_list(char *buf, size_t size)
{
    const ProtobufCMessageDescriptor *d = &parcours__v1__event__descriptor;
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (!is_payload(&d->fields[i]))
            continue;
        const ProtobufCMessageDescriptor *m = d->fields[i].descriptor;
        int n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "", m->short_name);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}
