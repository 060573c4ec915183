/*
 * event_frame.c: decoding and validating Event frames, once, at the trust boundary.
 *
 * Everything a partner sends is checked here before the rules or the store see it: the frame's
 * size before unpacking, the unpack result, unknown fields (a field this daemon does not know
 * would otherwise be silently dropped while the partner believes it recorded), every string as
 * bytes (wire.h: no NUL, valid UTF-8), identifiers, the NIR shape, times, and every enum value,
 * which proto3 would otherwise carry through as a bare number. The rules are docs/domain.md's
 * "Identifiers" and the comments of proto/parcours.proto.
 */
#include "event_frame.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transfer.h"
#include "wire.h"
#include "wire_names.h"

static const char *const event_type_names[] = {
    [EVENT_TYPE(BENEFICIARY_REGISTERED)] = "BeneficiaryRegistered",
    [EVENT_TYPE(ORIENTATION_REQUESTED)] = "OrientationRequested",
    [EVENT_TYPE(ORIENTATION_DECIDED)] = "OrientationDecided",
    [EVENT_TYPE(ORIENTATION_DENIED)] = "OrientationDenied",
    [EVENT_TYPE(REFERENT_ASSIGNED)] = "ReferentAssigned",
    [EVENT_TYPE(CONTRACT_SIGNED)] = "ContractSigned",
    [EVENT_TYPE(CONTRACT_ENDED)] = "ContractEnded",
    [EVENT_TYPE(TRAINING_ENTERED)] = "TrainingEntered",
    [EVENT_TYPE(TRAINING_EXITED)] = "TrainingExited",
    [EVENT_TYPE(JOB_PLACED)] = "JobPlaced",
    [EVENT_TYPE(JOB_ENDED)] = "JobEnded",
    [EVENT_TYPE(APPOINTMENT_RECORDED)] = "AppointmentRecorded",
    [EVENT_TYPE(MEMBER_JOINED)] = "MemberJoined",
    [EVENT_TYPE(MEMBER_LEFT)] = "MemberLeft",
    [EVENT_TYPE(PATHWAY_EXITED)] = "PathwayExited",
    [EVENT_TYPE(SUSPENSION_DECIDED)] = "SuspensionDecided",
    [EVENT_TYPE(SUSPENSION_LIFTED)] = "SuspensionLifted",
    [EVENT_TYPE(EVENT_RETRACTED)] = "EventRetracted",
    [EVENT_TYPE(DEADLINE_MISSED)] = "DeadlineMissed",
    [EVENT_TYPE(TRANSFER_ANNOUNCED)] = "TransferAnnounced",
};
#define EVENT_TYPE_COUNT (sizeof(event_type_names) / sizeof(event_type_names[0]))

Parcours__V1__EventType event_type(const Parcours__V1__Event *e)
{
    int type = (int)e->payload_case - EVENT_PAYLOAD_OFFSET;
    if (type <= 0 || (size_t)type >= EVENT_TYPE_COUNT)
        return EVENT_TYPE(UNSPECIFIED);
    return (Parcours__V1__EventType)type;
}

const char *event_type_name(Parcours__V1__EventType type)
{
    if ((int)type <= 0 || (size_t)type >= EVENT_TYPE_COUNT)
        return NULL;
    return event_type_names[type];
}

Parcours__V1__EventType event_type_from_name(const char *name)
{
    for (size_t t = 1; name != NULL && t < EVENT_TYPE_COUNT; t++)
        if (strcmp(event_type_names[t], name) == 0)
            return (Parcours__V1__EventType)t;
    return EVENT_TYPE(UNSPECIFIED);
}

void event_destroy(Parcours__V1__Event **e)
{
    if (e == NULL || *e == NULL)
        return;
    wire_free(&(*e)->base);
    *e = NULL;
}

/*
 * A NIR (numéro d'inscription au répertoire, the French social-security number): a sex digit,
 * two digits of year and two of month, the departement of birth (two digits, or 2A / 2B for
 * Corsica), three of commune, three of order, then a two-digit key. Partners write it with
 * spaces or other separators, and may put a few letters or other segments before or after it;
 * the identifier rule already refuses spaces, but the sentence must say why. The shape is
 * looked for in every run of the id's segments, with up to three letters at either end set
 * aside, with or without its key. No more than that: a hexadecimal keyed hash often holds long
 * runs of digits inside it, and those are pseudonyms.
 */
#define NIR_AFFIX_MAX 3

static bool nir_shaped(const char *c, size_t n)
{
    if (n != 13 && n != 15)
        return false;
    bool corsica = c[5] == '2' && (c[6] == 'A' || c[6] == 'B');
    for (size_t i = 0; i < n; i++)
        if (!(i == 6 && corsica) && !isdigit((unsigned char)c[i]))
            return false;
    return true;
}

/* True when the n characters at c, with up to NIR_AFFIX_MAX letters at either end set aside,
 * have the shape of a NIR. */
static bool nir_within(const char *c, size_t n)
{
    size_t lead = 0, trail = 0;
    while (lead < n && lead < NIR_AFFIX_MAX && isalpha((unsigned char)c[lead]))
        lead++;
    while (trail < n - lead && trail < NIR_AFFIX_MAX && isalpha((unsigned char)c[n - 1 - trail]))
        trail++;
    /* Letters at the ends may also be a Corsican department's: try every split of them. */
    for (size_t l = 0; l <= lead; l++)
        for (size_t t = 0; t <= trail; t++)
            if (nir_shaped(c + l, n - l - t))
                return true;
    return false;
}

static bool nir_separator(char c)
{
    return c == ' ' || c == '.' || c == '-' || c == '_' || c == ':';
}

/*
 * The separators cut an id into segments ("93:185077512345678:v2"); a NIR may be written
 * over several of them ("1 85 07 75 123 456 78") or stand in one, beside others. So every run
 * of consecutive segments is put together and looked at. A keyed hash in hexadecimal has no
 * separator: it is one segment, looked at whole.
 */
bool event_id_looks_like_nir(const char *s)
{
    size_t start[EVENT_ID_MAX + 1], len[EVENT_ID_MAX + 1], n_segments = 0, total = strlen(s);
    if (total > EVENT_ID_MAX)
        return false;
    for (size_t i = 0; i < total;) {
        while (i < total && nir_separator(s[i]))
            i++;
        if (i == total)
            break;
        start[n_segments] = i;
        while (i < total && !nir_separator(s[i]))
            i++;
        len[n_segments] = i - start[n_segments];
        n_segments++;
    }
    char c[EVENT_ID_MAX + 1];
    for (size_t first = 0; first < n_segments; first++) {
        size_t n = 0;
        for (size_t last = first; last < n_segments; last++) {
            for (size_t k = 0; k < len[last]; k++)
                c[n++] = (char)toupper((unsigned char)s[start[last] + k]);
            if (nir_within(c, n))
                return true;
        }
    }
    return false;
}

/* Sets err and returns -1, so that every check reads `return fail(...)`. */
static int fail(event_error_t *err, Parcours__V1__ErrorCode code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int check_id(event_error_t *err, const char *field, const char *value)
{
    if (!identifier_valid(value))
        return fail(err, ERROR_CODE(MALFORMED), "%s must be %s.", field, IDENTIFIER_RULE);
    return 0;
}

static int check_optional_id(event_error_t *err, const char *field, const char *value)
{
    if (value[0] == '\0')
        return 0;
    return check_id(err, field, value);
}

/* A required enum: set, and a value of this version of the contract. */
static int check_enum(event_error_t *err, const char *field, const ProtobufCEnumDescriptor *d,
                      int value)
{
    if (value == 0)
        return fail(err, ERROR_CODE(MALFORMED), "%s is required.", field);
    if (protobuf_c_enum_descriptor_get_value(d, value) == NULL)
        return fail(err, ERROR_CODE(MALFORMED), "%s has value %d, which %s does not define.", field,
                    value, d->name);
    return 0;
}

static int check_optional_enum(event_error_t *err, const char *field,
                               const ProtobufCEnumDescriptor *d, int value)
{
    if (value == 0)
        return 0;
    return check_enum(err, field, d, value);
}

static int check_time(event_error_t *err, const char *field, int64_t value)
{
    if (value <= 0)
        return fail(err, ERROR_CODE(MALFORMED), "%s is required (unix milliseconds, above 0).",
                    field);
    return 0;
}

/* An optional end: not given, or after its start. */
static int check_end(event_error_t *err, const char *field, int64_t start, int64_t end)
{
    if (end != 0 && end <= start)
        return fail(err, ERROR_CODE(MALFORMED), "%s must be after the start, or 0.", field);
    return 0;
}

/* A departement code: 1 to 8 letters or digits; empty too when optional. */
static int check_territory(event_error_t *err, const char *field, const char *t, bool optional)
{
    if ((optional && t[0] == '\0') || partners_territory_valid(t))
        return 0;
    return fail(err, ERROR_CODE(MALFORMED),
                "%s must be a departement code of 1 to 8 letters or "
                "digits%s.",
                field, optional ? ", or empty" : "");
}

static int check_reference(event_error_t *err, const char *field, const char *ref)
{
    if (transfer_reference_parse(ref, NULL))
        return 0;
    return fail(err, ERROR_CODE(MALFORMED),
                "%s must be a move's reference as the origin's daemon wrote it: its territory, "
                "':' and %d characters of Crockford base32.",
                field, TRANSFER_HASH_CHARS);
}

/* A move's exit may say where to; any other exit, nowhere. The reference is the daemon's. */
static int check_exit(event_error_t *err, const Parcours__V1__PathwayExited *p)
{
    if (check_enum(err, "pathway_exited.reason", &parcours__v1__exit_reason__descriptor,
                   (int)p->reason))
        return -1;
    if (p->reason != PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED &&
        p->destination_territory[0] != '\0')
        return fail(err, ERROR_CODE(MALFORMED),
                    "pathway_exited.destination_territory goes with EXIT_REASON_MOVED only.");
    if (check_territory(err, "pathway_exited.destination_territory", p->destination_territory,
                        true))
        return -1;
    /* The daemon's, and what it sent may come back as it was (ingest_apply.c checks it). */
    if (p->transfer_reference[0] == '\0')
        return 0;
    if (p->destination_territory[0] == '\0')
        return fail(err, ERROR_CODE(MALFORMED),
                    "pathway_exited.transfer_reference goes with a destination_territory only.");
    return check_reference(err, "pathway_exited.transfer_reference", p->transfer_reference);
}

/* A move announced by a bridge: whole, named by its reference, between two territories. */
static int check_transfer(event_error_t *err, const Parcours__V1__Event *e)
{
    const Parcours__V1__Transfer *t = e->transfer_announced->transfer;
    if (t == NULL)
        return fail(err, ERROR_CODE(MALFORMED), "transfer_announced.transfer is required.");
    if (t->base.n_unknown_fields > 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "transfer_announced.transfer has a field this daemon does not know (field "
                    "number %u).",
                    t->base.unknown_fields[0].tag);
    char origin[PARTNERS_TERRITORY_MAX + 1];
    if (check_reference(err, "transfer_announced.transfer.reference", t->reference) ||
        check_territory(err, "transfer_announced.transfer.destination_territory",
                        t->destination_territory, false) ||
        check_time(err, "transfer_announced.transfer.moved_at", t->moved_at))
        return -1;
    transfer_reference_parse(t->reference, origin);
    if (strcmp(t->origin_territory, origin) != 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "transfer_announced.transfer.origin_territory must be the territory its "
                    "reference starts with.");
    if (strcmp(t->destination_territory, origin) == 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "transfer_announced.transfer.destination_territory is its origin: a move "
                    "goes to another territory.");
    if (strcmp(e->beneficiary_id, t->reference) != 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "A TransferAnnounced's beneficiary_id is its reference: the person has no "
                    "pseudonym in this territory yet.");
    return 0;
}

/* Checks the payload's required fields and values; the payload case is already known valid. */
/* The contract's fields of the 2023 law: on a contrat d'engagement only, and consistent. */
static int check_contract(event_error_t *err, const Parcours__V1__ContractSigned *p)
{
    bool engagement = p->kind == PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    if (!engagement) {
        if (p->plan_action_ref[0] != '\0' || p->weekly_hours != 0 || p->reduced_hours_reason != 0 ||
            p->hours_exempted)
            return fail(err, ERROR_CODE(MALFORMED),
                        "contract_signed.plan_action_ref, weekly_hours, reduced_hours_reason and "
                        "hours_exempted belong to a contrat d'engagement "
                        "(CONTRACT_KIND_CONTRAT_ENGAGEMENT) only.");
        return 0;
    }
    if (check_id(err, "contract_signed.plan_action_ref", p->plan_action_ref))
        return -1;
    if (p->weekly_hours > EVENT_WEEKLY_HOURS_MAX)
        return fail(err, ERROR_CODE(MALFORMED),
                    "contract_signed.weekly_hours is %u; it must be 1 to %u, or 0 for the %u "
                    "hours of the law.",
                    p->weekly_hours, EVENT_WEEKLY_HOURS_MAX, EVENT_WEEKLY_HOURS_DEFAULT);
    if (p->hours_exempted && p->weekly_hours != 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "contract_signed.hours_exempted means no weekly activity: weekly_hours must "
                    "be 0.");
    bool reduced =
        p->hours_exempted || (p->weekly_hours != 0 && p->weekly_hours < EVENT_WEEKLY_HOURS_DEFAULT);
    if (reduced)
        return check_enum(err,
                          "contract_signed.reduced_hours_reason (fewer than 15 hours a week, or "
                          "exempted)",
                          &parcours__v1__reduced_hours_reason__descriptor,
                          (int)p->reduced_hours_reason);
    if (p->reduced_hours_reason != 0)
        return fail(err, ERROR_CODE(MALFORMED),
                    "contract_signed.reduced_hours_reason is only given for fewer than %u hours "
                    "a week, or with hours_exempted.",
                    EVENT_WEEKLY_HOURS_DEFAULT);
    return 0;
}

static int check_payload(const Parcours__V1__Event *e, event_error_t *err)
{
    switch (e->payload_case) {
    case PAYLOAD(BENEFICIARY_REGISTERED): {
        const Parcours__V1__BeneficiaryRegistered *p = e->beneficiary_registered;
        if (check_territory(err, "beneficiary_registered.territory", p->territory, true))
            return -1;
        if (p->origin_reference[0] == '\0')
            return 0;
        return check_reference(err, "beneficiary_registered.origin_reference", p->origin_reference);
    }
    case PAYLOAD(ORIENTATION_REQUESTED): {
        const Parcours__V1__OrientationRequested *p = e->orientation_requested;
        if (check_optional_enum(err, "orientation_requested.requested_type",
                                &parcours__v1__pathway_type__descriptor, (int)p->requested_type))
            return -1;
        return check_enum(err, "orientation_requested.reason",
                          &parcours__v1__orientation_request_reason__descriptor, (int)p->reason);
    }
    case PAYLOAD(ORIENTATION_DECIDED): {
        const Parcours__V1__OrientationDecided *p = e->orientation_decided;
        if (check_enum(err, "orientation_decided.pathway_type",
                       &parcours__v1__pathway_type__descriptor, (int)p->pathway_type) ||
            check_enum(err, "orientation_decided.referent_body",
                       &parcours__v1__referent_body__descriptor, (int)p->referent_body) ||
            check_id(err, "orientation_decided.structure_id", p->structure_id))
            return -1;
        return check_time(err, "orientation_decided.notified_at (when the person was notified)",
                          p->notified_at);
    }
    case PAYLOAD(ORIENTATION_DENIED):
        return check_enum(err, "orientation_denied.reason",
                          &parcours__v1__orientation_denial_reason__descriptor,
                          (int)e->orientation_denied->reason);
    case PAYLOAD(REFERENT_ASSIGNED): {
        const Parcours__V1__ReferentAssigned *p = e->referent_assigned;
        if (check_id(err, "referent_assigned.referent_partner_id", p->referent_partner_id))
            return -1;
        return check_optional_id(err, "referent_assigned.professional_ref", p->professional_ref);
    }
    case PAYLOAD(CONTRACT_SIGNED): {
        const Parcours__V1__ContractSigned *p = e->contract_signed;
        if (check_enum(err, "contract_signed.kind", &parcours__v1__contract_kind__descriptor,
                       (int)p->kind) ||
            check_time(err, "contract_signed.start", p->start) ||
            check_end(err, "contract_signed.end", p->start, p->end))
            return -1;
        return check_contract(err, p);
    }
    case PAYLOAD(CONTRACT_ENDED):
        return check_enum(err, "contract_ended.reason",
                          &parcours__v1__contract_end_reason__descriptor,
                          (int)e->contract_ended->reason);
    case PAYLOAD(TRAINING_ENTERED): {
        const Parcours__V1__TrainingEntered *p = e->training_entered;
        if (check_optional_id(err, "training_entered.provider_id", p->provider_id) ||
            check_id(err, "training_entered.programme_code", p->programme_code) ||
            check_time(err, "training_entered.start", p->start))
            return -1;
        return check_end(err, "training_entered.expected_end", p->start, p->expected_end);
    }
    case PAYLOAD(TRAINING_EXITED):
        return check_enum(err, "training_exited.outcome",
                          &parcours__v1__training_outcome__descriptor,
                          (int)e->training_exited->outcome);
    case PAYLOAD(JOB_PLACED): {
        const Parcours__V1__JobPlaced *p = e->job_placed;
        if (check_enum(err, "job_placed.kind", &parcours__v1__employment_kind__descriptor,
                       (int)p->kind) ||
            check_optional_id(err, "job_placed.employer_partner_id", p->employer_partner_id))
            return -1;
        return check_time(err, "job_placed.start", p->start);
    }
    case PAYLOAD(JOB_ENDED):
        return check_enum(err, "job_ended.reason", &parcours__v1__job_end_reason__descriptor,
                          (int)e->job_ended->reason);
    case PAYLOAD(APPOINTMENT_RECORDED): {
        const Parcours__V1__AppointmentRecorded *p = e->appointment_recorded;
        if (check_enum(err, "appointment_recorded.kind",
                       &parcours__v1__appointment_kind__descriptor, (int)p->kind) ||
            check_enum(err, "appointment_recorded.status",
                       &parcours__v1__appointment_status__descriptor, (int)p->status))
            return -1;
        return check_time(err, "appointment_recorded.at", p->at);
    }
    case PAYLOAD(MEMBER_JOINED):
        return check_id(err, "member_joined.member_id", e->member_joined->member_id);
    case PAYLOAD(MEMBER_LEFT):
        return check_id(err, "member_left.member_id", e->member_left->member_id);
    case PAYLOAD(PATHWAY_EXITED):
        return check_exit(err, e->pathway_exited);
    case PAYLOAD(SUSPENSION_DECIDED):
        return check_enum(err, "suspension_decided.reason",
                          &parcours__v1__suspension_reason__descriptor,
                          (int)e->suspension_decided->reason);
    case PAYLOAD(SUSPENSION_LIFTED):
        return check_enum(err, "suspension_lifted.reason",
                          &parcours__v1__suspension_lift_reason__descriptor,
                          (int)e->suspension_lifted->reason);
    case PAYLOAD(EVENT_RETRACTED): {
        const Parcours__V1__EventRetracted *p = e->event_retracted;
        if (check_id(err, "event_retracted.retracted_event_id", p->retracted_event_id) ||
            check_enum(err, "event_retracted.reason", &parcours__v1__retraction_reason__descriptor,
                       (int)p->reason))
            return -1;
        return 0; /* retracted_seq, optional, is checked against the event named (rules) */
    }
    case PAYLOAD(DEADLINE_MISSED):
        /* Whoever sends it, about whomever: one answer, before any state is read. */
        return fail(err, ERROR_CODE(NOT_AUTHORISED),
                    "DeadlineMissed is written by parcoursd itself when a deadline passes; no "
                    "partner sends it.");
    case PAYLOAD(TRANSFER_ANNOUNCED):
        return check_transfer(err, e);
    default:
        return fail(err, ERROR_CODE(MALFORMED), "the event has no payload.");
    }
}

/* The payload message of an event, whatever its type (the union holds one pointer). */
static const ProtobufCMessage *event_payload(const Parcours__V1__Event *e)
{
    return (const ProtobufCMessage *)e->beneficiary_registered;
}

int event_decode(const uint8_t *frame, size_t len, size_t max_len, Parcours__V1__Event **out,
                 event_error_t *err, char *err_event_id)
{
    *out = NULL;
    err->code = ERROR_CODE(UNSPECIFIED);
    err->message[0] = '\0';
    if (err_event_id != NULL)
        err_event_id[0] = '\0';
    if (max_len == 0)
        max_len = EVENT_FRAME_MAX;
    if (len > max_len)
        return fail(err, ERROR_CODE(TOO_LARGE),
                    "The frame has %zu bytes; an Event may have %zu at most.", len, max_len);
    if (frame == NULL || len == 0)
        return fail(err, ERROR_CODE(MALFORMED), "The frame is empty; send one parcours.v1.Event.");

    Parcours__V1__Event *e =
        (Parcours__V1__Event *)wire_unpack(&parcours__v1__event__descriptor, frame, len);
    if (e == NULL)
        return fail(err, ERROR_CODE(MALFORMED),
                    "The frame is not a parcours.v1.Event (protobuf decoding failed).");
    /* The Ack names the event only by an id that passed the rule: never raw partner bytes. */
    if (err_event_id != NULL && wire_string_whole(e->event_id) && identifier_valid(e->event_id))
        memcpy(err_event_id, e->event_id, strlen(e->event_id) + 1);

    int rc = -1;
    char field[128];
    if (!wire_strings_check(&e->base, field, sizeof(field))) {
        fail(err, ERROR_CODE(MALFORMED),
             "%s holds a NUL byte or is not valid UTF-8; identifiers are %s, other strings "
             "UTF-8.",
             field, IDENTIFIER_RULE);
        goto done;
    }
    if (check_id(err, "event_id", e->event_id) || check_id(err, "partner_id", e->partner_id))
        goto done;
    if (event_id_looks_like_nir(e->beneficiary_id)) {
        fail(err, ERROR_CODE(MALFORMED),
             "beneficiary_id looks like a social-security number (NIR), which must never reach "
             "Parcours: send the pseudonym your system derives from it with the territory's key "
             "(a keyed hash).");
        goto done;
    }
    if (check_id(err, "beneficiary_id", e->beneficiary_id) ||
        check_time(err, "occurred_at", e->occurred_at))
        goto done;
    if (event_type(e) == EVENT_TYPE(UNSPECIFIED) || event_payload(e) == NULL) {
        fail(err, ERROR_CODE(MALFORMED),
             "The event has no payload: set exactly one of its event messages.");
        goto done;
    }
    if (e->base.n_unknown_fields > 0 || event_payload(e)->n_unknown_fields > 0) {
        fail(err, ERROR_CODE(MALFORMED),
             "The event has a field this daemon does not know (field number %u); "
             "check the partner's parcours.proto against the daemon's.",
             e->base.n_unknown_fields > 0 ? e->base.unknown_fields[0].tag
                                          : event_payload(e)->unknown_fields[0].tag);
        goto done;
    }
    if (e->expect_no_pathway &&
        (event_type(e) != EVENT_TYPE(BENEFICIARY_REGISTERED) || e->expected_version != 0)) {
        fail(err, ERROR_CODE(MALFORMED),
             "expect_no_pathway says a registration must not find a pathway: it goes with "
             "BeneficiaryRegistered and expected_version 0 only.");
        goto done;
    }
    if (check_payload(e, err))
        goto done;
    rc = 0;
done:
    if (rc == 0)
        *out = e;
    else
        wire_free(&e->base);
    return rc;
}

size_t event_pack(const Parcours__V1__Event *e, uint8_t **buf, uint8_t *stack, size_t stack_len)
{
    size_t size = parcours__v1__event__get_packed_size(e);
    *buf = size <= stack_len ? stack : malloc(size);
    if (*buf == NULL)
        return 0;
    return parcours__v1__event__pack(e, *buf);
}
