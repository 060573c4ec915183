/*
 * print.c: parcoursctl's output (see print.h).
 *
 * JSON is written generically from the protobuf descriptors, so a field added to the contract
 * appears in `--json` output at once. Text for people is generic too where the contract is
 * regular (a pathway's facts, an event's payload) and written by hand where layout matters
 * (the status figures, the history and partner tables).
 *
 * Strings from the daemon are shown to people with control characters replaced, so that no
 * identifier or message can move the cursor or recolour a terminal.
 */
#include "print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fields.h"
#include "pbwalk.h"
#include "protojson.h"

#define TEXT_MAX 2048

/* ------------------------------------------------------------------------------------------ */
/* Helpers. */

/* s with control characters replaced by '?', into buf (cut to size). */
static const char *clean(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; s != NULL && s[n] != '\0' && n + 1 < size; n++)
        buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7F) ? '?' : s[n];
    buf[n] = '\0';
    return buf;
}

/* Appends to a text buffer, cutting what does not fit. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t size, size_t *used,
                                                         const char *fmt, ...)
{
    if (*used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON: the proto3 mapping of protojson.c, one line on stdout. */

static bool answered; /* a command's answer was printed (print_answered) */

bool print_answered(void)
{
    return answered;
}

void print_json_answer(json_t *value)
{
    answered = true;
    if (protojson_print_line(stdout, value) != 0)
        fprintf(stderr, "parcoursctl: out of memory writing the JSON answer\n");
}

void print_error_json(int exit_code, const char *message)
{
    json_t *o = json_object();
    int rc = protojson_set(o, "ok", json_false());
    rc |= protojson_set(o, "exit_code", json_integer(exit_code));
    rc |= protojson_set(o, "error", protojson_string(message));
    if (o == NULL || rc != 0) {
        json_decref(o);
        o = NULL;
    }
    answered = true;
    if (protojson_print_line(stdout, o) != 0)
        fprintf(stderr, "parcoursctl: out of memory writing the JSON error\n");
}

/* ------------------------------------------------------------------------------------------ */
/* Text, from the descriptors. */

/* True when the field holds its zero value (a fact that does not hold). */
static bool field_empty(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (!pbwalk_field_selected(m, f))
        return true;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return pbwalk_field_count(m, f) == 0;
    const void *p = pbwalk_field_member(m, f);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return *(char *const *)p == NULL || (*(char *const *)p)[0] == '\0';
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_BYTES:
        return true;
    default:
        return *(const uint32_t *)p == 0;
    }
}

static void text_message(const ProtobufCMessage *m, char *buf, size_t size, size_t *used);

/* One value as text: times as dates, enums by short name, messages inline. */
static void text_value(const ProtobufCFieldDescriptor *f, const void *p, char *buf, size_t size,
                       size_t *used)
{
    char tmp[TEXT_MAX];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        append(buf, size, used, "%s", clean(*(char *const *)p, tmp, sizeof(tmp)));
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        const char *name = fields_enum_name(f->descriptor, *(const int *)p);
        if (name == NULL) {
            snprintf(tmp, sizeof(tmp), "%d", *(const int *)p);
            name = tmp;
        }
        append(buf, size, used, "%s", name);
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        text_message(*(ProtobufCMessage *const *)p, buf, size, used);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (fields_is_time(f)) {
            /* Contract and training dates are days: midnight UTC reads as the date alone. */
            fields_time_format(*(const int64_t *)p, tmp);
            if (*(const int64_t *)p % 86400000 == 0)
                tmp[10] = '\0';
        } else
            snprintf(tmp, sizeof(tmp), "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(tmp, sizeof(tmp), "%" PRIu64, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(tmp, sizeof(tmp), "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(tmp, sizeof(tmp), "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(tmp, sizeof(tmp), "%s", *(const protobuf_c_boolean *)p ? "yes" : "no");
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(tmp, sizeof(tmp), "%g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(tmp, sizeof(tmp), "%g", (double)*(const float *)p);
        break;
    default:
        snprintf(tmp, sizeof(tmp), "-");
    }
    append(buf, size, used, "%s", tmp);
}

/* A field's value as text; repeated values comma-separated. */
static void text_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                       size_t size, size_t *used)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        text_value(f, pbwalk_field_member(m, f), buf, size, used);
        return;
    }
    size_t n = pbwalk_field_count(m, f);
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            append(buf, size, used, "%s", ", ");
        text_value(f, pbwalk_field_element(m, f, k), buf, size, used);
    }
}

/* A message inline: "name value, name value" for the fields that are set. */
static void text_message(const ProtobufCMessage *m, char *buf, size_t size, size_t *used)
{
    bool first = true;
    for (unsigned i = 0; m != NULL && i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (field_empty(m, f))
            continue;
        append(buf, size, used, "%s%s ", first ? "" : ", ", f->name);
        first = false;
        bool nested = f->type == PROTOBUF_C_TYPE_MESSAGE;
        if (nested)
            append(buf, size, used, "%s", "(");
        text_field(m, f, buf, size, used);
        if (nested)
            append(buf, size, used, "%s", ")");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Acks. */

const char *print_ack_status(int status)
{
    if (status == PARCOURS_ACK_UNANSWERED)
        return "UNANSWERED";
    const char *name = fields_enum_name(&parcours__v1__ack_status__descriptor, status);
    return name != NULL ? name : "UNKNOWN";
}

static void ack_json(const parcours_ack_t *ack, size_t line, const char *type,
                     const char *beneficiary)
{
    json_t *o = json_object();
    int rc = o == NULL ? -1 : 0;
    if (line > 0)
        rc |= protojson_set(o, "line", json_integer((json_int_t)line));
    rc |= protojson_set(o, "event_id", protojson_string(ack->event_id));
    if (type != NULL)
        rc |= protojson_set(o, "type", protojson_string(type));
    if (beneficiary != NULL)
        rc |= protojson_set(o, "beneficiary", protojson_string(beneficiary));
    /* UNANSWERED is parcoursctl's own: no Ack came, so no AckStatus names it. */
    rc |= protojson_set(o, "status",
                        ack->status == PARCOURS_ACK_UNANSWERED
                            ? json_string("UNANSWERED")
                            : protojson_enum(&parcours__v1__ack_status__descriptor, ack->status));
    rc |= protojson_set(o, "seq", protojson_uint64(ack->seq));
    rc |= protojson_set(o, "version", protojson_uint64(ack->version));
    rc |= protojson_set(o, "code",
                        ack->code == 0
                            ? json_null()
                            : protojson_enum(&parcours__v1__error_code__descriptor, ack->code));
    rc |= protojson_set(o, "message", protojson_string(ack->message));
    rc |= protojson_set(o, "attempts", json_integer(ack->attempts));
    if (rc != 0) {
        json_decref(o);
        o = NULL;
    }
    print_json_answer(o);
}

void print_ack(const parcours_ack_t *ack, size_t line, const char *type, const char *beneficiary,
               bool json)
{
    if (json) {
        ack_json(ack, line, type, beneficiary);
        return;
    }
    char what[TEXT_MAX] = "", message[TEXT_MAX];
    size_t used = 0;
    if (line > 0) {
        char number[32];
        snprintf(number, sizeof(number), "line %zu:", line);
        append(what, sizeof(what), &used, "%-10s ", number); /* aligned up to line 99999 */
    }
    append(what, sizeof(what), &used, "%-10s %s", print_ack_status(ack->status),
           type != NULL ? type : "event");
    if (beneficiary != NULL)
        append(what, sizeof(what), &used, " on %s", clean(beneficiary, message, sizeof(message)));
    clean(ack->message, message, sizeof(message));
    const char *code = fields_enum_name(&parcours__v1__error_code__descriptor, ack->code);
    switch (ack->status) {
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED:
        /* Employers and training providers are not told the version: the daemon sends 0. */
        if (ack->version != 0)
            printf("%s: seq %" PRIu64 ", version %" PRIu64, what, ack->seq, ack->version);
        else
            printf("%s: seq %" PRIu64, what, ack->seq);
        break;
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_DUPLICATE:
        printf("%s: already applied as seq %" PRIu64, what, ack->seq);
        break;
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_RETRY:
        printf("%s: not applied after %d attempts: %s: %s", what, ack->attempts,
               code != NULL ? code : "?", message);
        break;
    case PARCOURS_ACK_UNANSWERED:
        printf("%s: %s", what, message);
        break;
    default:
        printf("%s: %s: %s", what, code != NULL ? code : "?", message);
    }
    printf(" (event %s)\n", clean(ack->event_id, message, sizeof(message)));
}

/* ------------------------------------------------------------------------------------------ */
/* Admin replies. */

static void duration(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms / 1000;
    if (s >= 86400)
        snprintf(buf, size, "%" PRId64 "d %02" PRId64 "h %02" PRId64 "m", s / 86400, s / 3600 % 24,
                 s / 60 % 60);
    else if (s >= 3600)
        snprintf(buf, size, "%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", s / 3600, s / 60 % 60,
                 s % 60);
    else
        snprintf(buf, size, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
}

void print_status(const Parcours__V1__Status *st, bool json)
{
    if (json) {
        print_json_answer(protojson_message(&st->base));
        return;
    }
    char tmp[TEXT_MAX];
    printf("%-18s %s\n", "version", clean(st->version, tmp, sizeof(tmp)));
    duration(st->uptime_ms, tmp, sizeof(tmp));
    printf("%-18s %s\n", "uptime", tmp);
    printf("%-18s %s\n", "durable",
           st->durable ? "yes (fsync before every ack)" : "NO: acks promise nothing");
    printf("%-18s %" PRIu64 "\n", "last seq", st->last_seq);
    printf("%-18s %" PRIu64 " (changes only when the store is restored from a backup)\n",
           "stream id", st->stream_id);
    printf("%-18s accepted %" PRIu64 ", duplicate %" PRIu64 ", rejected %" PRIu64 "\n", "events",
           st->events_accepted, st->events_duplicate, st->events_rejected);
    printf("%-18s %" PRIu64 " (mean %.1f events, max %" PRIu32 ")\n", "batches", st->batches,
           st->batch_size_mean, st->batch_size_max);
    printf("%-18s mean %.2f ms, max %.2f ms\n", "commit", st->commit_ms_mean, st->commit_ms_max);
    /* Per territory of the partners file and phase (a daemon older than the territories
     * sends none: "-"). */
    printf("pathways by territory and phase\n");
    for (size_t i = 0; i < st->n_pathways_per_phase; i++) {
        const Parcours__V1__PhaseCount *pc = st->pathways_per_phase[i];
        const char *name = fields_enum_name(&parcours__v1__phase__descriptor, (int)pc->phase);
        const char *territory =
            pc->territory != NULL && pc->territory[0] != '\0' ? pc->territory : "-";
        printf("  %-8s %-22s %" PRIu64 "\n", clean(territory, tmp, sizeof(tmp)),
               name != NULL ? name : "?", pc->count);
    }
    /* Where each partner's notification stream stands: lag is what it has not acknowledged. */
    printf("deliveries\n  %-20s %10s %10s %10s %11s\n", "PARTNER", "LAST", "CURSOR", "LAG",
           "CONNECTIONS");
    for (size_t i = 0; i < st->n_deliveries; i++) {
        const Parcours__V1__PartnerDelivery *d = st->deliveries[i];
        printf("  %-20s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %11u\n", d->partner_id,
               d->last_partner_seq, d->cursor, d->lag, d->subscribers);
    }
}

void print_pathway(const Parcours__V1__Pathway *p, bool json)
{
    if (json) {
        print_json_answer(protojson_message(&p->base));
        return;
    }
    /* Who, where it stands and how many events made it first; then the facts that hold. */
    static const char *const first[] = {"beneficiary_id", "phase", "version"};
    const ProtobufCMessage *m = &p->base;
    /* One column of names, as wide as the contract's longest (last_suspension_lift_reason). */
    int width = 0;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++)
        if ((int)strlen(m->descriptor->fields[i].name) > width)
            width = (int)strlen(m->descriptor->fields[i].name);
    for (size_t k = 0; k < sizeof(first) / sizeof(first[0]); k++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, first[k]);
        char value[TEXT_MAX] = "";
        size_t used = 0;
        if (f == NULL)
            continue;
        text_field(m, f, value, sizeof(value), &used);
        printf("%-*s %s\n", width, f->name, value);
    }
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        bool is_first = false;
        for (size_t k = 0; k < sizeof(first) / sizeof(first[0]); k++)
            is_first |= strcmp(f->name, first[k]) == 0;
        if (is_first || field_empty(m, f))
            continue;
        char value[TEXT_MAX] = "";
        size_t used = 0;
        text_field(m, f, value, sizeof(value), &used);
        printf("%-*s %s\n", width, f->name, value);
    }
}

void print_history(Parcours__V1__HistoryEntry *const *entries, size_t n, bool json)
{
    if (json) {
        /* Each HistoryEntry, with "type": its event's type name, or null once purged. */
        json_t *array = json_array();
        for (size_t i = 0; array != NULL && i < n; i++) {
            const Parcours__V1__HistoryEntry *h = entries[i];
            json_t *o = protojson_message(&h->base);
            if (o == NULL ||
                protojson_set(o, "type",
                              h->event != NULL ? protojson_string(fields_payload_name(h->event))
                                               : json_null()) != 0 ||
                json_array_append_new(array, o) != 0) {
                json_decref(array);
                array = NULL;
            }
        }
        print_json_answer(array);
        return;
    }
    int partner_width = 7;
    for (size_t i = 0; i < n; i++)
        if (entries[i]->event != NULL && (int)strlen(entries[i]->event->partner_id) > partner_width)
            partner_width = (int)strlen(entries[i]->event->partner_id);
    printf("%6s  %-20s  %-21s  %-*s  %s\n", "SEQ", "COMMITTED (UTC)", "TYPE", partner_width,
           "PARTNER", "DETAILS");
    for (size_t i = 0; i < n; i++) {
        const Parcours__V1__HistoryEntry *h = entries[i];
        char when[FIELDS_TIME_MAX], occurred[FIELDS_TIME_MAX], partner[TEXT_MAX];
        fields_time_format(h->committed_at / 1000 * 1000, when); /* a column: no ms */
        if (h->event == NULL) {
            printf("%6" PRIu64 "  %-20s  %-21s  %-*s  %s\n", h->seq, when, "(purged)",
                   partner_width, "-", "");
            continue;
        }
        const Parcours__V1__Event *e = h->event;
        char details[TEXT_MAX] = "";
        size_t used = 0;
        fields_time_format(e->occurred_at, occurred);
        append(details, sizeof(details), &used, "occurred_at %s", occurred);
        const ProtobufCMessage *payload = fields_payload(e);
        if (payload != NULL && payload->descriptor->n_fields > 0) {
            size_t before = used;
            append(details, sizeof(details), &used, "%s", ", ");
            size_t mark = used;
            text_message(payload, details, sizeof(details), &used);
            if (used == mark) /* nothing set in the payload: no dangling comma */
                details[used = before] = '\0';
        }
        if (e->expected_version != 0) {
            append(details, sizeof(details), &used, ", expected_version %" PRIu64,
                   e->expected_version);
        }
        printf("%6" PRIu64 "  %-20s  %-21s  %-*s  %s\n", h->seq, when, fields_payload_name(e),
               partner_width, clean(e->partner_id, partner, sizeof(partner)), details);
    }
}

void print_partners(Parcours__V1__PartnerInfo *const *partners, size_t n, bool json)
{
    if (json) {
        json_t *array = json_array();
        for (size_t i = 0; array != NULL && i < n; i++)
            if (json_array_append_new(array, protojson_message(&partners[i]->base)) != 0) {
                json_decref(array);
                array = NULL;
            }
        print_json_answer(array);
        return;
    }
    int id_width = 7, kind_width = 4, territory_width = 11;
    char territories[TEXT_MAX];
    for (size_t i = 0; i < n; i++) {
        const Parcours__V1__PartnerInfo *p = partners[i];
        const char *kind = fields_enum_name(&parcours__v1__partner_kind__descriptor, (int)p->kind);
        size_t used = 0;
        territories[0] = '\0';
        text_field(
            &p->base,
            protobuf_c_message_descriptor_get_field_by_name(p->base.descriptor, "territories"),
            territories, sizeof(territories), &used);
        if ((int)strlen(p->partner_id) > id_width)
            id_width = (int)strlen(p->partner_id);
        if (kind != NULL && (int)strlen(kind) > kind_width)
            kind_width = (int)strlen(kind);
        if ((int)used > territory_width)
            territory_width = (int)used;
    }
    printf("%-*s  %-*s  %-*s  %-16s  %-4s  %s\n", id_width, "PARTNER", kind_width, "KIND",
           territory_width, "TERRITORIES", "KEY", "ECHO", "NAME");
    for (size_t i = 0; i < n; i++) {
        const Parcours__V1__PartnerInfo *p = partners[i];
        const char *kind = fields_enum_name(&parcours__v1__partner_kind__descriptor, (int)p->kind);
        char id[TEXT_MAX], name[TEXT_MAX];
        size_t used = 0;
        territories[0] = '\0';
        text_field(
            &p->base,
            protobuf_c_message_descriptor_get_field_by_name(p->base.descriptor, "territories"),
            territories, sizeof(territories), &used);
        char key[TEXT_MAX];
        printf("%-*s  %-*s  %-*s  %-16s  %-4s  %s\n", id_width,
               clean(p->partner_id, id, sizeof(id)), kind_width, kind != NULL ? kind : "?",
               territory_width, territories,
               p->key_fingerprint != NULL && p->key_fingerprint[0] != '\0'
                   ? clean(p->key_fingerprint, key, sizeof(key))
                   : "-",
               p->echo ? "yes" : "no", clean(p->name, name, sizeof(name)));
        /* A narrowed set of rights, under its partner; none: its kind's own. */
        if (p->n_may_emit > 0) {
            printf("    may emit:");
            for (size_t t = 0; t < p->n_may_emit; t++) {
                const char *type =
                    fields_enum_name(&parcours__v1__event_type__descriptor, (int)p->may_emit[t]);
                printf("%s %s", t > 0 ? "," : "", type != NULL ? type : "?");
            }
            printf("\n");
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Notifications. */

void print_notification(const Parcours__V1__Notification *n, bool json)
{
    const Parcours__V1__Event *e = n->event;
    if (json) {
        /* A notification is one line of a stream, not the command's answer: a failure after
         * it still gets its error object. */
        json_t *o = protojson_message(&n->base);
        if (o != NULL && protojson_set(o, "type",
                                       e != NULL ? protojson_string(fields_payload_name(e))
                                       : n->erasure != NULL ? json_string("Erasure")
                                                            : json_null()) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (protojson_print_line(stdout, o) != 0)
            fprintf(stderr, "parcoursctl: out of memory writing a notification\n");
        return;
    }
    char when[FIELDS_TIME_MAX], beneficiary[TEXT_MAX], sender[TEXT_MAX], by[TEXT_MAX + 8] = "";
    char details[TEXT_MAX] = "";
    size_t used = 0;
    fields_time_format(n->committed_at, when);
    if (n->erasure != NULL) {
        const char *reason =
            fields_enum_name(&parcours__v1__erasure_reason__descriptor, (int)n->erasure->reason);
        printf("%6" PRIu64 "  seq %-8" PRIu64 "  %-24s  %-21s  %s  %s: erase your copies\n",
               n->partner_seq, n->seq, when, "Erasure",
               clean(n->erasure->beneficiary_id, beneficiary, sizeof(beneficiary)),
               reason != NULL ? reason : "?");
        return;
    }
    if (e == NULL) {
        printf("%6" PRIu64 "  seq %-8" PRIu64
               "  %-24s  (withdrawn: its person erased, or the event retracted)\n",
               n->partner_seq, n->seq, when);
        return;
    }
    const ProtobufCMessage *payload = fields_payload(e);
    if (payload != NULL)
        text_message(payload, details, sizeof(details), &used);
    if (n->pathway != NULL && n->pathway->phase != 0) {
        const char *phase =
            fields_enum_name(&parcours__v1__phase__descriptor, (int)n->pathway->phase);
        if (phase != NULL)
            append(details, sizeof(details), &used, "%s[%s]", used > 0 ? "  " : "", phase);
    }
    /* An EMPLOYER or TRAINING_ORG is not told who sent an event it did not send itself: the
     * event comes without partner_id, and the line without "by". */
    if (e->partner_id != NULL && e->partner_id[0] != '\0')
        snprintf(by, sizeof(by), "  by %s", clean(e->partner_id, sender, sizeof(sender)));
    printf("%6" PRIu64 "  seq %-8" PRIu64 "  %-24s  %-21s  %s%s%s%s\n", n->partner_seq, n->seq,
           when, fields_payload_name(e), clean(e->beneficiary_id, beneficiary, sizeof(beneficiary)),
           by, used > 0 ? "  " : "", details);
}

void print_due(const Parcours__V1__DueList *due, bool json)
{
    if (json) {
        print_json_answer(protojson_message(&due->base));
        return;
    }
    char until[FIELDS_TIME_MAX], when[FIELDS_TIME_MAX], since[FIELDS_TIME_MAX], id[TEXT_MAX];
    fields_time_format(due->until / 1000 * 1000, until);
    printf("%" PRIu64 " deadlines fall due by %s\n", due->total, until);
    if (due->n_deadlines > 0)
        printf("  %-20s  %-12s  %-24s  %s\n", "DUE (UTC)", "DEADLINE", "BENEFICIARY", "SINCE");
    for (size_t i = 0; i < due->n_deadlines; i++) {
        const Parcours__V1__DueDeadline *d = due->deadlines[i];
        const char *kind = fields_enum_name(&parcours__v1__deadline_kind__descriptor, (int)d->kind);
        fields_time_format(d->due_at / 1000 * 1000, when);
        fields_time_format(d->since / 1000 * 1000, since);
        printf("  %-20s  %-12s  %-24s  %s\n", when, kind != NULL ? kind : "?",
               clean(d->beneficiary_id, id, sizeof(id)), since);
    }
    if (due->n_deadlines < due->total)
        printf("  (%" PRIu64 " more not listed)\n", due->total - due->n_deadlines);
}

void print_survey(const Parcours__V1__PurgeSurvey *s, bool json)
{
    if (json) {
        print_json_answer(protojson_message(&s->base));
        return;
    }
    printf("retention: active %u days, then archived %u days (told to the departement alone)\n",
           s->active_days, s->archive_days);
    printf("  active    %" PRIu64 "\n  archived  %" PRIu64 "\n  held      %" PRIu64
           "  (litigation hold)\n  due       %" PRIu64 "  (the purge destroys them)\n",
           s->active, s->archived, s->held, s->due);
    char id[TEXT_MAX], when[FIELDS_TIME_MAX];
    for (size_t i = 0; i < s->n_candidates; i++) {
        fields_time_format(s->candidates[i]->last_contact, when);
        printf("  %-24s  last contact %s\n",
               clean(s->candidates[i]->beneficiary_id, id, sizeof(id)), when);
    }
    if (s->n_candidates < s->due)
        printf("  (%" PRIu64 " more not listed)\n", s->due - s->n_candidates);
}

void print_export(const Parcours__V1__PersonExport *x, bool json)
{
    if (json) {
        print_json_answer(protojson_message(&x->base));
        return;
    }
    char when[FIELDS_TIME_MAX], acked[FIELDS_TIME_MAX], text[TEXT_MAX];
    fields_time_format(x->exported_at, when);
    printf("Everything Parcours holds about this person, exported %s\n\n", when);
    if (x->pathway != NULL)
        print_pathway(x->pathway, false);
    printf("\n%zu events:\n", x->n_events);
    for (size_t i = 0; i < x->n_events; i++) {
        const Parcours__V1__ExportedEvent *e = x->events[i];
        fields_time_format(e->committed_at, when);
        const char *type = e->event != NULL ? fields_payload_name(e->event) : "(withdrawn)";
        char details[TEXT_MAX] = "";
        size_t used = 0;
        const ProtobufCMessage *payload = e->event != NULL ? fields_payload(e->event) : NULL;
        if (payload != NULL)
            text_message(payload, details, sizeof(details), &used);
        printf("  seq %-8" PRIu64 "  %-24s  %-21s  by %s  %s\n", e->seq, when, type,
               e->event != NULL ? clean(e->event->partner_id, text, sizeof(text)) : "-", details);
        for (size_t t = 0; t < e->n_told; t++) {
            const Parcours__V1__ExportedDelivery *d = e->told[t];
            if (d->acknowledged_by != 0)
                fields_time_format(d->acknowledged_by, acked);
            printf("      told %-20s  partner_seq %-8" PRIu64 "  %s%s\n",
                   clean(d->partner_id, text, sizeof(text)), d->partner_seq,
                   d->acknowledged_by != 0 ? "acknowledged by " : "not acknowledged yet",
                   d->acknowledged_by != 0 ? acked : "");
        }
    }
}
