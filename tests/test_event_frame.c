/*
 * test_event_frame.c: the Event frame boundary (event_frame.h), tested from the wire contract.
 *
 * Frames are built the way a partner's system builds them: an Event message packed with
 * protobuf-c, then possibly cut, padded or replaced by noise. Every frame must either decode
 * into an event that satisfies every rule of the contract, or be refused with TOO_LARGE or
 * MALFORMED and a sentence, without a leak or an out-of-bounds read (the suite runs under ASan).
 */
#define _GNU_SOURCE /* memmem */
#include "rules_fixture.h"
#include "transfer.h"
#include "wire.h"

static const char *const type_names[FX_TYPE_LAST + 1] = {
    NULL,
    "BeneficiaryRegistered",
    "OrientationRequested",
    "OrientationDecided",
    "OrientationDenied",
    "ReferentAssigned",
    "ContractSigned",
    "ContractEnded",
    "TrainingEntered",
    "TrainingExited",
    "JobPlaced",
    "JobEnded",
    "AppointmentRecorded",
    "MemberJoined",
    "MemberLeft",
    "PathwayExited",
    "SuspensionDecided",
    "SuspensionLifted",
    "EventRetracted",
};

/* What *out holds before a call, to see that a failing call sets it to NULL. */
static Parcours__V1__Event out_sentinel;

typedef struct decoded {
    int rc;
    Parcours__V1__Event *event;
    event_error_t err;
    char err_event_id[EVENT_ID_MAX + 1];
} decoded_t;

static void decode(const uint8_t *frame, size_t len, size_t max_len, decoded_t *d)
{
    memset(d, 0, sizeof(*d));
    d->event = &out_sentinel;
    snprintf(d->err_event_id, sizeof(d->err_event_id), "stale");
    d->err.code = ERROR_CODE(UNAVAILABLE);
    d->rc = event_decode(frame, len, max_len, &d->event, &d->err, d->err_event_id);
    if (d->rc == 0) {
        assert_non_null(d->event);
        assert_ptr_not_equal(d->event, &out_sentinel);
    } else {
        assert_int_equal(d->rc, -1);
        assert_null(d->event);
        assert_true(d->err.code == ERROR_CODE(MALFORMED) || d->err.code == ERROR_CODE(TOO_LARGE));
        if (d->err.message[0] == '\0')
            fail_msg("refusal %d without a sentence", (int)d->err.code);
        assert_true(memchr(d->err.message, '\0', sizeof(d->err.message)) != NULL);
        assert_true(memchr(d->err_event_id, '\0', sizeof(d->err_event_id)) != NULL);
    }
}

static void decode_event(fx_event_t *f, decoded_t *d)
{
    size_t len;
    uint8_t *frame = fx_pack(&f->e.base, &len);
    decode(frame, len, 0, d);
    free(frame);
}

/* Asserts that f is accepted; the decoded event is freed. */
static void expect_valid(fx_event_t *f, const char *what)
{
    decoded_t d;
    decode_event(f, &d);
    if (d.rc != 0)
        fail_msg("%s: refused (%d): %s", what, (int)d.err.code, d.err.message);
    event_destroy(&d.event);
    assert_null(d.event);
}

/* Asserts that f is refused as MALFORMED; with err_event_id not NULL, checks what the Ack would
 * name. */
static void expect_malformed(fx_event_t *f, const char *err_event_id, const char *what)
{
    decoded_t d;
    decode_event(f, &d);
    if (d.rc == 0) {
        event_destroy(&d.event);
        fail_msg("%s: accepted", what);
    }
    if (d.err.code != ERROR_CODE(MALFORMED))
        fail_msg("%s: code %d, expected MALFORMED", what, (int)d.err.code);
    if (err_event_id != NULL && strcmp(d.err_event_id, err_event_id) != 0)
        fail_msg("%s: err_event_id \"%s\", expected \"%s\"", what, d.err_event_id, err_event_id);
}

/* A small deterministic generator: the same noise on every run. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ------------------------------------------------------------------------------------------ */

static void test_decode_valid_event_of_each_type(void **state)
{
    (void)state;
    for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "ml93");
        f.e.expected_version = 42;
        size_t len;
        uint8_t *frame = fx_pack(&f.e.base, &len);
        decoded_t d;
        decode(frame, len, 0, &d);
        if (d.rc != 0)
            fail_msg("%s refused: %s", type_names[t], d.err.message);
        Parcours__V1__Event *e = d.event;
        assert_int_equal(event_type(e), t);
        assert_int_equal(e->payload_case, EVENT_PAYLOAD_OFFSET + t);
        assert_string_equal(e->event_id, f.event_id);
        assert_string_equal(e->partner_id, "ml93");
        assert_string_equal(e->beneficiary_id, FX_BENEFICIARY);
        assert_int_equal(e->occurred_at, f.e.occurred_at);
        assert_int_equal(e->expected_version, 42);
        /* Nothing is lost: it packs back to the same bytes. */
        size_t len2;
        uint8_t *again = fx_pack(&e->base, &len2);
        assert_int_equal(len2, len);
        assert_memory_equal(again, frame, len);
        free(again);
        free(frame);
        event_destroy(&d.event);
        assert_null(d.event);
    }
}

static void test_decode_accepts_null_err_event_id(void **state)
{
    (void)state;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_ENDED), "employer93");
    size_t len;
    uint8_t *frame = fx_pack(&f.e.base, &len);
    Parcours__V1__Event *e = NULL;
    event_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(event_decode(frame, len, 0, &e, &err, NULL), 0);
    event_destroy(&e);
    assert_int_equal(event_decode(frame, len - 1, 0, &e, &err, NULL), -1);
    assert_null(e);
    assert_int_equal(err.code, ERROR_CODE(MALFORMED));
    free(frame);
    e = NULL;
    event_destroy(&e);
    assert_null(e);
}

static void test_event_type_names(void **state)
{
    (void)state;
    for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
        const char *name = event_type_name((Parcours__V1__EventType)t);
        assert_non_null(name);
        assert_string_equal(name, type_names[t]);
        assert_int_equal(event_type_from_name(name), t);
    }
    assert_null(event_type_name((Parcours__V1__EventType)99));
    /* parcoursd's own type is named, past the partners' ones, and then nothing. */
    assert_string_equal(event_type_name(EVENT_TYPE(DEADLINE_MISSED)), "DeadlineMissed");
    assert_string_equal(event_type_name(EVENT_TYPE(TRANSFER_ANNOUNCED)), "TransferAnnounced");
    assert_null(event_type_name((Parcours__V1__EventType)21));
    assert_int_equal(event_type_from_name("NoSuchEvent"), EVENT_TYPE(UNSPECIFIED));
    assert_int_equal(event_type_from_name(""), EVENT_TYPE(UNSPECIFIED));
    assert_int_equal(event_type_from_name("TrainingEnteredX"), EVENT_TYPE(UNSPECIFIED));
    assert_int_equal(event_type_from_name("Training"), EVENT_TYPE(UNSPECIFIED));
}

/* ------------------------------------------------------------------------------------------ */
/* Size. */

static void test_decode_too_large(void **state)
{
    (void)state;
    decoded_t d;

    /* Past the default bound, whatever the content, before any decoding. */
    uint8_t *zeros = calloc(EVENT_FRAME_MAX + 1, 1);
    assert_non_null(zeros);
    decode(zeros, EVENT_FRAME_MAX + 1, 0, &d);
    assert_int_equal(d.rc, -1);
    assert_int_equal(d.err.code, ERROR_CODE(TOO_LARGE));
    assert_string_equal(d.err_event_id, "");
    /* At the bound, the content decides (zeros are not an Event). */
    decode(zeros, EVENT_FRAME_MAX, 0, &d);
    assert_int_equal(d.rc, -1);
    assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
    free(zeros);

    /* A valid frame: accepted at exactly max_len, refused one byte under. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    size_t len;
    uint8_t *frame = fx_pack(&f.e.base, &len);
    decode(frame, len, len, &d);
    assert_int_equal(d.rc, 0);
    event_destroy(&d.event);
    decode(frame, len, len - 1, &d);
    assert_int_equal(d.rc, -1);
    assert_int_equal(d.err.code, ERROR_CODE(TOO_LARGE));
    assert_string_equal(d.err_event_id, "");

    /* A valid event padded past the bound with an unknown field. */
    size_t pad = 5000;
    size_t big_len = len + 3 + 2 + pad;
    uint8_t *big = calloc(big_len, 1);
    assert_non_null(big);
    memcpy(big, frame, len);
    uint8_t *q = big + len;
    *q++ = 0x92; /* field 50, wire type 2: (50 << 3) | 2 = 402 */
    *q++ = 0x03;
    *q++ = (uint8_t)(0x80 | (pad & 0x7f)); /* 5000 as a varint */
    *q++ = (uint8_t)(pad >> 7);
    memset(q, 'x', pad);
    big_len = (size_t)(q - big) + pad;
    assert_true(big_len > EVENT_FRAME_MAX);
    decode(big, big_len, 0, &d);
    assert_int_equal(d.rc, -1);
    assert_int_equal(d.err.code, ERROR_CODE(TOO_LARGE));
    assert_string_equal(d.err_event_id, "");
    free(big);
    free(frame);
}

/* ------------------------------------------------------------------------------------------ */
/* Frames that are not Events. */

static void test_decode_truncated_frames(void **state)
{
    (void)state;
    for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "ft93");
        f.e.expected_version = 300;
        size_t len;
        uint8_t *frame = fx_pack(&f.e.base, &len);
        for (size_t cut = 0; cut < len; cut++) {
            /* A copy of exactly cut bytes, so that ASan sees any read past the end. */
            uint8_t *prefix = malloc(cut > 0 ? cut : 1);
            assert_non_null(prefix);
            memcpy(prefix, frame, cut);
            decoded_t d;
            decode(prefix, cut, 0, &d);
            if (d.rc == 0) {
                event_destroy(&d.event);
                fail_msg("%s cut at %zu of %zu bytes accepted", type_names[t], cut, len);
            }
            assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
            if (d.err_event_id[0] != '\0')
                assert_string_equal(d.err_event_id, f.event_id);
            free(prefix);
        }
        free(frame);
    }
}

static void test_decode_random_bytes(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++) {
        size_t len = rng_next() % 300;
        uint8_t *frame = malloc(len > 0 ? len : 1);
        assert_non_null(frame);
        for (size_t j = 0; j < len; j++)
            frame[j] = (uint8_t)rng_next();
        decoded_t d;
        decode(frame, len, 0, &d);
        if (d.rc == 0) {
            event_destroy(&d.event);
            fail_msg("random frame %d of %zu bytes accepted", i, len);
        }
        assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
        free(frame);
    }
}

/* Mutated valid frames: whatever comes out, it is either an event that passes every rule or a
 * refusal, never a crash or a leak. */
static void test_decode_mutated_frames(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)(FX_TYPE_FIRST + (int)(rng_next() % 15)),
                      "cd93");
        size_t len;
        uint8_t *frame = fx_pack(&f.e.base, &len);
        int flips = 1 + (int)(rng_next() % 3);
        for (int k = 0; k < flips; k++)
            frame[rng_next() % len] = (uint8_t)rng_next();
        decoded_t d;
        decode(frame, len, 0, &d);
        if (d.rc == 0) {
            assert_true(identifier_valid(d.event->event_id));
            assert_true(identifier_valid(d.event->partner_id));
            assert_true(identifier_valid(d.event->beneficiary_id));
            assert_true(d.event->occurred_at > 0);
            assert_int_not_equal(event_type(d.event), EVENT_TYPE(UNSPECIFIED));
            event_destroy(&d.event);
        } else {
            assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
        }
        free(frame);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The envelope. */

static void test_decode_identifiers(void **state)
{
    (void)state;
    char long64[EVENT_ID_MAX + 1];
    char long65[EVENT_ID_MAX + 2];
    memset(long64, 'x', EVENT_ID_MAX);
    long64[EVENT_ID_MAX] = '\0';
    memset(long65, 'x', EVENT_ID_MAX + 1);
    long65[EVENT_ID_MAX + 1] = '\0';
    const char *const bad[] = {"", long65, "a b", "a/b", "caf\xc3\xa9", "a\tb", "a;b", "../x"};
    const char *const good[] = {long64, "B", "AZaz09._:-", "B-0001"};

    for (int field = 0; field < 3; field++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            fx_event_t f;
            fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
            char what[128];
            snprintf(what, sizeof(what), "field %d = \"%s\"", field, bad[i]);
            if (field == 0) {
                f.e.event_id = (char *)bad[i];
                /* An event_id that is not valid is not echoed back. */
                expect_malformed(&f, "", what);
            } else {
                if (field == 1)
                    f.e.partner_id = (char *)bad[i];
                else
                    f.e.beneficiary_id = (char *)bad[i];
                /* A valid event_id is, so that the partner knows which event failed. */
                expect_malformed(&f, f.event_id, what);
            }
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            fx_event_t f;
            fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
            if (field == 0)
                f.e.event_id = (char *)good[i];
            else if (field == 1)
                f.e.partner_id = (char *)good[i];
            else
                f.e.beneficiary_id = (char *)good[i];
            expect_valid(&f, good[i]);
        }
    }
}

static void test_decode_occurred_at(void **state)
{
    (void)state;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    f.e.occurred_at = 0;
    expect_malformed(&f, f.event_id, "occurred_at 0");
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    f.e.occurred_at = -1;
    expect_malformed(&f, f.event_id, "occurred_at -1");
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    f.e.occurred_at = 1;
    expect_valid(&f, "occurred_at 1");
}

static void test_decode_missing_payload(void **state)
{
    (void)state;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    f.e.payload_case = PARCOURS__V1__EVENT__PAYLOAD__NOT_SET;
    expect_malformed(&f, f.event_id, "no payload");
}

/* expect_no_pathway goes with a registration at expected_version 0, and nothing else. */
static void test_decode_expect_no_pathway(void **state)
{
    (void)state;
    for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "cd93");
        f.e.expect_no_pathway = 1;
        size_t len;
        uint8_t *frame = fx_pack(&f.e.base, &len);
        decoded_t d;
        decode(frame, len, 0, &d);
        if (t == EVENT_TYPE(BENEFICIARY_REGISTERED)) {
            assert_int_equal(d.rc, 0);
            assert_true(d.event->expect_no_pathway);
            event_destroy(&d.event);
            f.e.expected_version = 3;
            expect_malformed(&f, f.event_id, "expect_no_pathway");
        } else {
            assert_int_equal(d.rc, -1);
            assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
            assert_non_null(strstr(d.err.message, "expect_no_pathway"));
        }
        free(frame);
    }
}

/* A move's reference: what transfer_reference_make writes parses back, with its territory;
 * nothing else of that length and alphabet passes. */
static void test_transfer_reference(void **state)
{
    (void)state;
    uint8_t hash[TRANSFER_HASH_BYTES];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof hash; i++)
            hash[i] = (uint8_t)rng_next();
        char ref[TRANSFER_REFERENCE_MAX + 1], territory[PARTNERS_TERRITORY_MAX + 1];
        transfer_reference_make(round % 2 ? "2A" : "971", hash, ref);
        assert_int_equal(strlen(ref), strlen(round % 2 ? "2A" : "971") + 1 + TRANSFER_HASH_CHARS);
        assert_true(transfer_reference_parse(ref, territory));
        assert_string_equal(territory, round % 2 ? "2A" : "971");
        /* Its last character holds three bits of the hash: a changed padding bit is refused. */
        char *last = ref + strlen(ref) - 1;
        const char *alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        *last = alphabet[(strchr(alphabet, *last) - alphabet) | 1];
        assert_false(transfer_reference_parse(ref, NULL));
    }
    const char *bad[] = {"",
                         "75",
                         "75:",
                         ":"
                         "0000000000000000000000000"
                         "0",
                         "75:000000000000000000000000000", /* 27 characters */
                         "75:00000000000000000000000I00",  /* I is not Crockford's */
                         "7 5:00000000000000000000000000",
                         "123456789:00000000000000000000000000",
                         "75:0000000000000000000000000a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (transfer_reference_parse(bad[i], NULL))
            fail_msg("\"%s\" parsed as a reference", bad[i]);
    assert_true(transfer_reference_parse("75:00000000000000000000000000", NULL));
}

/* The boundary's rules of a move: a TransferAnnounced is whole and named by its reference; a
 * registration's origin_reference and an exit's destination have their shapes; the reference
 * of an exit is the daemon's. */
static void test_decode_transfer_fields(void **state)
{
    (void)state;
    Parcours__V1__Transfer t = PARCOURS__V1__TRANSFER__INIT;
    t.reference = "75:00000000000000000000000000";
    t.origin_territory = "75";
    t.destination_territory = "93";
    t.moved_at = 1700000000000;
    Parcours__V1__TransferAnnounced announced = PARCOURS__V1__TRANSFER_ANNOUNCED__INIT;
    announced.transfer = &t;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "bridge");
    f.e.payload_case = PAYLOAD(TRANSFER_ANNOUNCED);
    f.e.transfer_announced = &announced;
    f.e.beneficiary_id = t.reference;
    expect_valid(&f, "a whole TransferAnnounced");
    f.e.beneficiary_id = "B-someone";
    expect_malformed(&f, NULL, "beneficiary_id other than the reference");
    f.e.beneficiary_id = t.reference;
    t.origin_territory = "92";
    expect_malformed(&f, NULL, "origin other than the reference's");
    t.origin_territory = "75";
    t.destination_territory = "75";
    expect_malformed(&f, NULL, "destination is the origin");
    t.destination_territory = "9-3";
    expect_malformed(&f, NULL, "destination not a departement code");
    t.destination_territory = "93";
    t.moved_at = 0;
    expect_malformed(&f, NULL, "no date");
    t.moved_at = 1700000000000;
    announced.transfer = NULL;
    expect_malformed(&f, NULL, "no transfer");

    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.beneficiary_registered.origin_reference = "75:00000000000000000000000000";
    expect_valid(&f, "a registration naming a move");
    f.beneficiary_registered.origin_reference = "75-move";
    expect_malformed(&f, NULL, "an origin_reference of another shape");

    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    f.pathway_exited.destination_territory = "";
    expect_valid(&f, "a move to nobody knows where");
    f.pathway_exited.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_RIGHT_ENDED;
    f.pathway_exited.destination_territory = "75";
    expect_malformed(&f, NULL, "a destination without a move");
    f.pathway_exited.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED;
    f.pathway_exited.transfer_reference = "75:00000000000000000000000000";
    expect_valid(&f, "a reference sent back (ingest_apply compares it with its own)");
    f.pathway_exited.transfer_reference = "75-00";
    expect_malformed(&f, NULL, "a reference of another shape");
    f.pathway_exited.destination_territory = "";
    f.pathway_exited.transfer_reference = "75:00000000000000000000000000";
    expect_malformed(&f, NULL, "a reference without a destination");
}

/* ------------------------------------------------------------------------------------------ */
/* Payloads. */

static void test_decode_unknown_enum_values(void **state)
{
    (void)state;
    static const int unknown[] = {99, 18, -1};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        int v = unknown[i];
        fx_event_t f;
#define UNKNOWN_ENUM(type, sender, field, enum_type)                                               \
    do {                                                                                           \
        fx_event_init(&f, EVENT_TYPE(type), sender);                                               \
        f.field = (enum_type)v;                                                                    \
        expect_malformed(&f, f.event_id, #field " unknown");                                       \
    } while (0)
        UNKNOWN_ENUM(ORIENTATION_REQUESTED, "cd93", orientation_requested.reason,
                     Parcours__V1__OrientationRequestReason);
        /* Optional, but an enum value the daemon does not know is never guessed. */
        UNKNOWN_ENUM(ORIENTATION_REQUESTED, "cd93", orientation_requested.requested_type,
                     Parcours__V1__PathwayType);
        UNKNOWN_ENUM(ORIENTATION_DECIDED, "cd93", orientation_decided.pathway_type,
                     Parcours__V1__PathwayType);
        UNKNOWN_ENUM(ORIENTATION_DECIDED, "cd93", orientation_decided.referent_body,
                     Parcours__V1__ReferentBody);
        UNKNOWN_ENUM(ORIENTATION_DENIED, "cd93", orientation_denied.reason,
                     Parcours__V1__OrientationDenialReason);
        UNKNOWN_ENUM(CONTRACT_SIGNED, "cd93", contract_signed.kind, Parcours__V1__ContractKind);
        UNKNOWN_ENUM(CONTRACT_ENDED, "cd93", contract_ended.reason,
                     Parcours__V1__ContractEndReason);
        UNKNOWN_ENUM(TRAINING_EXITED, "cd93", training_exited.outcome,
                     Parcours__V1__TrainingOutcome);
        UNKNOWN_ENUM(JOB_PLACED, "cd93", job_placed.kind, Parcours__V1__EmploymentKind);
        UNKNOWN_ENUM(JOB_ENDED, "cd93", job_ended.reason, Parcours__V1__JobEndReason);
        UNKNOWN_ENUM(APPOINTMENT_RECORDED, "cd93", appointment_recorded.kind,
                     Parcours__V1__AppointmentKind);
        UNKNOWN_ENUM(APPOINTMENT_RECORDED, "cd93", appointment_recorded.status,
                     Parcours__V1__AppointmentStatus);
        UNKNOWN_ENUM(PATHWAY_EXITED, "cd93", pathway_exited.reason, Parcours__V1__ExitReason);
        UNKNOWN_ENUM(SUSPENSION_DECIDED, "ft93", suspension_decided.reason,
                     Parcours__V1__SuspensionReason);
        UNKNOWN_ENUM(SUSPENSION_LIFTED, "ft93", suspension_lifted.reason,
                     Parcours__V1__SuspensionLiftReason);
        UNKNOWN_ENUM(EVENT_RETRACTED, "ml93", event_retracted.reason,
                     Parcours__V1__RetractionReason);
#undef UNKNOWN_ENUM
    }

    /* The last known value of each is fine. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "cd93");
    f.job_placed.kind = PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_OTHER;
    expect_valid(&f, "EMPLOYMENT_KIND_OTHER");
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    expect_valid(&f, "REFERENT_BODY_DELEGATED");
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    f.appointment_recorded.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_VIDEO;
    f.appointment_recorded.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_CANCELLED;
    expect_valid(&f, "APPOINTMENT_STATUS_CANCELLED");
}

static void test_decode_required_payload_fields(void **state)
{
    (void)state;
    fx_event_t f;
#define MISSING(type, statement)                                                                   \
    do {                                                                                           \
        fx_event_init(&f, EVENT_TYPE(type), "cd93");                                               \
        statement;                                                                                 \
        expect_malformed(&f, f.event_id, #type ": " #statement);                                   \
    } while (0)
    MISSING(ORIENTATION_REQUESTED, f.orientation_requested.reason = 0);
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.pathway_type = 0);
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.referent_body = 0);
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.structure_id = "");
    MISSING(ORIENTATION_DENIED, f.orientation_denied.reason = 0);
    MISSING(REFERENT_ASSIGNED, f.referent_assigned.referent_partner_id = "");
    MISSING(CONTRACT_SIGNED, f.contract_signed.kind = 0);
    MISSING(CONTRACT_SIGNED, f.contract_signed.start = 0);
    MISSING(CONTRACT_SIGNED, (f.contract_signed.start = -5, f.contract_signed.end = 0));
    MISSING(CONTRACT_ENDED, f.contract_ended.reason = 0);
    MISSING(TRAINING_ENTERED, f.training_entered.programme_code = "");
    MISSING(TRAINING_ENTERED, f.training_entered.start = 0);
    MISSING(TRAINING_EXITED, f.training_exited.outcome = 0);
    MISSING(JOB_PLACED, f.job_placed.kind = 0);
    MISSING(JOB_PLACED, f.job_placed.start = 0);
    MISSING(JOB_ENDED, f.job_ended.reason = 0);
    MISSING(APPOINTMENT_RECORDED, f.appointment_recorded.kind = 0);
    MISSING(APPOINTMENT_RECORDED, f.appointment_recorded.status = 0);
    MISSING(APPOINTMENT_RECORDED, f.appointment_recorded.at = 0);
    MISSING(MEMBER_JOINED, f.member_joined.member_id = "");
    MISSING(MEMBER_LEFT, f.member_left.member_id = "");
    MISSING(PATHWAY_EXITED, f.pathway_exited.reason = 0);
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.notified_at = 0);
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.notified_at = -1);
    MISSING(SUSPENSION_DECIDED, f.suspension_decided.reason = 0);
    MISSING(SUSPENSION_LIFTED, f.suspension_lifted.reason = 0);
    MISSING(EVENT_RETRACTED, f.event_retracted.reason = 0);
    MISSING(EVENT_RETRACTED, f.event_retracted.retracted_event_id = "");
    MISSING(EVENT_RETRACTED, f.event_retracted.retracted_event_id = "ev 1");

    /* Required identifiers follow the identifier charset. */
    MISSING(ORIENTATION_DECIDED, f.orientation_decided.structure_id = "ml 93");
    MISSING(REFERENT_ASSIGNED, f.referent_assigned.referent_partner_id = "ml93/x");
    MISSING(TRAINING_ENTERED, f.training_entered.programme_code = "RNCP 12345");
    MISSING(MEMBER_JOINED, f.member_joined.member_id = "trainer\xc3\xa9"
                                                       "93");
    MISSING(MEMBER_LEFT, f.member_left.member_id =
                             "x123456789x123456789x123456789x123456789x123456789x123456789xxxxx");
#undef MISSING
}

static void test_decode_optional_payload_fields(void **state)
{
    (void)state;
    fx_event_t f;
#define CASE(type, statement, valid)                                                               \
    do {                                                                                           \
        fx_event_init(&f, EVENT_TYPE(type), "cd93");                                               \
        statement;                                                                                 \
        if (valid)                                                                                 \
            expect_valid(&f, #type ": " #statement);                                               \
        else                                                                                       \
            expect_malformed(&f, f.event_id, #type ": " #statement);                               \
    } while (0)

    /* Optional fields may be left out. */
    CASE(ORIENTATION_REQUESTED, f.orientation_requested.requested_type = 0, true);
    CASE(REFERENT_ASSIGNED, f.referent_assigned.professional_ref = "", true);
    CASE(CONTRACT_SIGNED, f.contract_signed.end = 0, true);
    CASE(TRAINING_ENTERED, f.training_entered.provider_id = "", true);
    CASE(TRAINING_ENTERED, f.training_entered.expected_end = 0, true);
    CASE(JOB_PLACED, f.job_placed.employer_partner_id = "", true);

    /* When given, optional identifiers follow the charset. */
    CASE(REFERENT_ASSIGNED, f.referent_assigned.professional_ref = "pro 17", false);
    CASE(REFERENT_ASSIGNED,
         f.referent_assigned.professional_ref =
             "x123456789x123456789x123456789x123456789x123456789x123456789xxxxx",
         false);
    CASE(TRAINING_ENTERED, f.training_entered.provider_id = "trainer/93", false);
    CASE(JOB_PLACED, f.job_placed.employer_partner_id = "employer 93", false);

    /* An end, when given, comes after the start. */
    CASE(CONTRACT_SIGNED, f.contract_signed.end = f.contract_signed.start, false);
    CASE(CONTRACT_SIGNED, f.contract_signed.end = f.contract_signed.start - 1, false);
    CASE(CONTRACT_SIGNED, f.contract_signed.end = f.contract_signed.start + 1, true);
    CASE(TRAINING_ENTERED, f.training_entered.expected_end = f.training_entered.start, false);
    CASE(TRAINING_ENTERED, f.training_entered.expected_end = f.training_entered.start - 1000,
         false);
    CASE(TRAINING_ENTERED, f.training_entered.expected_end = f.training_entered.start + 1, true);

    /* The territory of a registration: empty, or 1-8 letters and digits. */
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "", true);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "2A", true);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "971", true);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "12345678", true);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "123456789", false);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "9-3", false);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "9.3", false);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "93 ", false);
    CASE(BENEFICIARY_REGISTERED, f.beneficiary_registered.territory = "\xc3\xa9", false);
#undef CASE
}

/* ------------------------------------------------------------------------------------------ */
/* Bytes, not C strings (issue 10, item 2). */

/* Packs f, then replaces, inside the field value marker (which must occur once in the frame),
 * the byte at offset by value: the way to put into a frame what protobuf-c would never write
 * from a C string. Returns the frame (caller frees). */
static uint8_t *frame_with_byte(fx_event_t *f, const char *marker, size_t offset, uint8_t value,
                                size_t *len)
{
    uint8_t *frame = fx_pack(&f->e.base, len);
    uint8_t *at = memmem(frame, *len, marker, strlen(marker));
    assert_non_null(at);
    assert_null(memmem(at + 1, *len - (size_t)(at + 1 - frame), marker, strlen(marker)));
    at[offset] = value;
    return frame;
}

/* Every string field of every payload, with a NUL inside: refused, and the bytes after the NUL
 * (which a C string check never sees) never come back in the sentence. */
static void test_decode_embedded_nul(void **state)
{
    (void)state;
    static const struct {
        Parcours__V1__EventType type;
        const char *sender;
        int field;
    } cases[] = {
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", 0},   /* event_id */
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", 1},   /* partner_id */
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", 2},   /* beneficiary_id */
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93", 3}, /* territory */
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", 4},    /* structure_id */
        {EVENT_TYPE(REFERENT_ASSIGNED), "cd93", 5},      /* referent_partner_id */
        {EVENT_TYPE(REFERENT_ASSIGNED), "cd93", 6},      /* professional_ref */
        {EVENT_TYPE(TRAINING_ENTERED), "ml93", 7},       /* provider_id */
        {EVENT_TYPE(TRAINING_ENTERED), "ml93", 8},       /* programme_code */
        {EVENT_TYPE(JOB_PLACED), "ml93", 9},             /* employer_partner_id */
        {EVENT_TYPE(MEMBER_JOINED), "ml93", 10},         /* member_id */
        {EVENT_TYPE(MEMBER_LEFT), "ml93", 11},           /* member_id */
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", 12},       /* plan_action_ref */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_event_t f;
        fx_event_init(&f, cases[i].type, cases[i].sender);
        char value[] = "Q-hXsecretpart";
        switch (cases[i].field) {
        case 0:
            f.e.event_id = value;
            break;
        case 1:
            f.e.partner_id = value;
            break;
        case 2:
            f.e.beneficiary_id = value;
            break;
        case 3:
            f.beneficiary_registered.territory = "Q3X4";
            break;
        case 4:
            f.orientation_decided.structure_id = value;
            break;
        case 5:
            f.referent_assigned.referent_partner_id = value;
            break;
        case 6:
            f.referent_assigned.professional_ref = value;
            break;
        case 7:
            f.training_entered.provider_id = value;
            break;
        case 8:
            f.training_entered.programme_code = value;
            break;
        case 9:
            f.job_placed.employer_partner_id = value;
            break;
        case 10:
            f.member_joined.member_id = value;
            break;
        case 11:
            f.member_left.member_id = value;
            break;
        case 12:
            f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
            f.contract_signed.plan_action_ref = value;
            break;
        }
        size_t len;
        uint8_t *frame = frame_with_byte(&f, cases[i].field == 3 ? "Q3X4" : value,
                                         cases[i].field == 3 ? 2 : 3, 0, &len);
        decoded_t d;
        decode(frame, len, 0, &d);
        free(frame);
        if (d.rc == 0) {
            event_destroy(&d.event);
            fail_msg("case %zu: an identifier with a NUL byte was accepted", i);
        }
        assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
        assert_null(strstr(d.err.message, "secretpart"));
        assert_null(strstr(d.err.message, "Q-h"));
        /* The Ack names the event only when its id passed the rule. */
        assert_string_equal(d.err_event_id, cases[i].field == 0 ? "" : f.event_id);
    }
    /* The same frames without the NUL are fine: it was the byte that was refused. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.e.beneficiary_id = "Q-hXsecretpart";
    expect_valid(&f, "the same id without its NUL");
}

/* A byte that is not UTF-8 anywhere in a string: refused before any other check reads it. */
static void test_decode_invalid_utf8(void **state)
{
    (void)state;
    static const uint8_t bad[] = {0xC3, 0x80 ^ 0x40, 0xFF, 0xC0};
    for (size_t i = 0; i < sizeof(bad); i++) {
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "ml93");
        char value[] = "trainerX93";
        f.member_joined.member_id = value;
        size_t len;
        uint8_t *frame = frame_with_byte(&f, value, 7, bad[i], &len);
        decoded_t d;
        decode(frame, len, 0, &d);
        free(frame);
        assert_int_equal(d.rc, -1);
        assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
        assert_non_null(strstr(d.err.message, "member_joined.member_id"));
    }
}

/* wire_strings_check names the failing field by its dotted path, cut to the room given. */
static void test_wire_field_path(void **state)
{
    (void)state;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "ml93");
    char value[] = "trainerX93";
    f.member_joined.member_id = value;
    size_t len;
    uint8_t *frame = frame_with_byte(&f, value, 7, 0xFF, &len);
    ProtobufCMessage *m = wire_unpack(&parcours__v1__event__descriptor, frame, len);
    free(frame);
    assert_non_null(m);
    static const struct {
        size_t room;
        const char *path;
    } cases[] = {{64, "member_joined.member_id"},
                 {24, "member_joined.member_id"},
                 {23, "member_joined.member_i"},
                 {15, "member_joined."},
                 {14, "member_joined"},
                 {5, "memb"},
                 {1, ""}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[64];
        memset(path, 'x', sizeof(path));
        assert_false(wire_strings_check(m, path, cases[i].room));
        assert_string_equal(path, cases[i].path);
    }
    assert_false(wire_strings_check(m, NULL, 0));
    wire_free(m);
    /* A message that passes leaves an empty path. */
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "ml93");
    frame = fx_pack(&f.e.base, &len);
    m = wire_unpack(&parcours__v1__event__descriptor, frame, len);
    free(frame);
    char path[16] = "untouched";
    assert_true(wire_strings_check(m, path, sizeof(path)));
    assert_string_equal(path, "");
    wire_free(m);
}

/* UTF-8 as the standard defines it. */
static void test_wire_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        bool valid;
    } cases[] = {
        {"", true},
        {"plain", true},
        {"caf\xc3\xa9", true},       /* é */
        {"\xe2\x82\xac", true},      /* € */
        {"\xf0\x9f\x98\x80", true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\xc3", false},             /* truncated */
        {"\xc3\x28", false},         /* bad continuation */
        {"\x80", false},             /* a continuation first */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong, three bytes */
        {"\xf0\x80\x80\xaf", false}, /* overlong, four bytes */
        {"\xed\xa0\x80", false},     /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", false},
        {"\xff", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (wire_utf8_valid((const uint8_t *)cases[i].bytes, strlen(cases[i].bytes)) !=
            cases[i].valid)
            fail_msg("case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
}

/* A frame holding two payloads decodes to the last one (protobuf's rule), and what the daemon
 * stores, event_pack() of what it checked, holds nothing of the first (issue 10, item 1). */
static void test_decode_superseded_payload(void **state)
{
    (void)state;
    fx_event_t first, second;
    fx_event_init(&first, EVENT_TYPE(ORIENTATION_DECIDED), "employer93");
    first.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    first.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    first.orientation_decided.structure_id = "ccas93";
    fx_event_init(&second, EVENT_TYPE(JOB_PLACED), "employer93");
    second.e.event_id = first.e.event_id;
    second.job_placed.employer_partner_id = "employer93";
    size_t len1, len2;
    uint8_t *a = fx_pack(&first.e.base, &len1);
    uint8_t *b = fx_pack(&second.e.base, &len2);
    uint8_t *frame = malloc(len1 + len2);
    assert_non_null(frame);
    memcpy(frame, a, len1);
    memcpy(frame + len1, b, len2);
    assert_non_null(memmem(frame, len1 + len2, "ccas93", 6));
    decoded_t d;
    decode(frame, len1 + len2, 0, &d);
    assert_int_equal(d.rc, 0);
    assert_int_equal(event_type(d.event), EVENT_TYPE(JOB_PLACED));
    uint8_t stack[64], *canonical = NULL;
    size_t n = event_pack(d.event, &canonical, stack, sizeof(stack));
    assert_true(n > 0);
    assert_null(memmem(canonical, n, "ccas93", 6));
    /* Field 103 (OrientationDecided) as a tag: (103 << 3) | 2, as a two-byte varint. */
    static const uint8_t tag103[] = {0xba, 0x06};
    assert_null(memmem(canonical, n, tag103, sizeof(tag103)));
    /* It is exactly the event that was checked, encoded the one way. */
    assert_int_equal(n, len2);
    assert_memory_equal(canonical, b, len2);
    if (canonical != stack)
        free(canonical);
    event_destroy(&d.event);
    free(frame);
    free(a);
    free(b);
}

/* A beneficiary id shaped like a NIR is refused with a sentence that says why and never repeats
 * it (docs/domain.md, "Identifiers"). */
static void test_decode_nir(void **state)
{
    (void)state;
    static const char *const nirs[] = {
        "185057800608436", /* 15 digits */
        "1850578006084",   /* 13, without its key */
        "2850A2B00608436", /* letters where only digits go: not a NIR? see below */
        "185052A00608436", /* Corsica */
        "185052b00608436", /* Corsica, lower case */
        "1-85-05-78-006-084-36", "1.85.05.78.006.084.36",
        "1 85 05 78 006 084 36", /* spaces are outside the charset, but the sentence says NIR */
        "N185057800608436",      /* a few letters around it change nothing */
        "185057800608436AB",     "NIR-185057800608436",
        "B-185057800608436",     "93:185077512345678", /* other segments around it */
        "185077512345678:v2",    "P1-1850775123456-78",
        "BENEF-185057800608436",
    };
    for (size_t i = 0; i < sizeof(nirs) / sizeof(nirs[0]); i++) {
        bool nir = i != 2;
        assert_int_equal(event_id_looks_like_nir(nirs[i]), nir);
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
        f.e.beneficiary_id = (char *)nirs[i];
        decoded_t d;
        decode_event(&f, &d);
        if (!nir) {
            if (d.rc == 0)
                event_destroy(&d.event);
            continue;
        }
        assert_int_equal(d.rc, -1);
        assert_int_equal(d.err.code, ERROR_CODE(MALFORMED));
        if (strstr(d.err.message, "NIR") == NULL || strstr(d.err.message, "pseudonym") == NULL)
            fail_msg("%s: the sentence does not say why: %s", nirs[i], d.err.message);
        assert_null(strstr(d.err.message, "78006"));
        assert_string_equal(d.err_event_id, f.event_id);
    }
    /* Pseudonyms are fine, digits included, when they are not of that shape. */
    static const char *const pseudonyms[] = {
        "18505780060843", "1850578006084361", "BENEF-1850578006084361", "3f9a1c0e5b7d2a4c",
        /* A keyed hash in hexadecimal often holds long runs of digits: those stay pseudonyms. */
        "9d1850578006084363f0c2e81a7b5d4c6e9f0a1b2c3d4e5f60718293a4b5c6d7"};
    for (size_t i = 0; i < sizeof(pseudonyms) / sizeof(pseudonyms[0]); i++) {
        assert_false(event_id_looks_like_nir(pseudonyms[i]));
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
        f.e.beneficiary_id = (char *)pseudonyms[i];
        expect_valid(&f, pseudonyms[i]);
    }
}

/* The contrat d'engagement's fields (law of 18 December 2023). */
static void test_decode_contrat_engagement(void **state)
{
    (void)state;
    fx_event_t f;
#define ENGAGEMENT(statement, valid)                                                               \
    do {                                                                                           \
        fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");                                    \
        f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;    \
        f.contract_signed.plan_action_ref = "pa-ml93-1";                                           \
        statement;                                                                                 \
        if (valid)                                                                                 \
            expect_valid(&f, #statement);                                                          \
        else                                                                                       \
            expect_malformed(&f, f.event_id, #statement);                                          \
    } while (0)
    const int health = PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_HEALTH;
    ENGAGEMENT((void)0, true);
    ENGAGEMENT(f.contract_signed.weekly_hours = 15, true);
    ENGAGEMENT(f.contract_signed.weekly_hours = 48, true);
    ENGAGEMENT(f.contract_signed.weekly_hours = 49, false);
    ENGAGEMENT(f.contract_signed.weekly_hours = 14, false); /* fewer hours need a reason */
    ENGAGEMENT((f.contract_signed.weekly_hours = 14,
                f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)health),
               true);
    ENGAGEMENT((f.contract_signed.weekly_hours = 1,
                f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)99),
               false);
    ENGAGEMENT((f.contract_signed.weekly_hours = 15,
                f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)health),
               false); /* a reason only for fewer hours */
    ENGAGEMENT(f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)health,
               false);                                          /* 0 is the law's 15 */
    ENGAGEMENT(f.contract_signed.hours_exempted = true, false); /* an exemption needs a reason */
    ENGAGEMENT((f.contract_signed.hours_exempted = true,
                f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)health),
               true);
    ENGAGEMENT((f.contract_signed.hours_exempted = true, f.contract_signed.weekly_hours = 5,
                f.contract_signed.reduced_hours_reason = (Parcours__V1__ReducedHoursReason)health),
               false);
    ENGAGEMENT(f.contract_signed.plan_action_ref = "", false);
    ENGAGEMENT(f.contract_signed.plan_action_ref = "plan d'action libre", false); /* no free text */
#undef ENGAGEMENT
    /* Those fields belong to a contrat d'engagement only. */
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.plan_action_ref = "pa-ml93-1";
    expect_malformed(&f, f.event_id, "plan_action_ref on a CEJ");
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.weekly_hours = 20;
    expect_malformed(&f, f.event_id, "weekly_hours on a CEJ");
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.hours_exempted = true;
    expect_malformed(&f, f.event_id, "hours_exempted on a CEJ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid_event_of_each_type),
        cmocka_unit_test(test_decode_accepts_null_err_event_id),
        cmocka_unit_test(test_event_type_names),
        cmocka_unit_test(test_decode_too_large),
        cmocka_unit_test(test_decode_truncated_frames),
        cmocka_unit_test(test_decode_random_bytes),
        cmocka_unit_test(test_decode_mutated_frames),
        cmocka_unit_test(test_decode_identifiers),
        cmocka_unit_test(test_decode_occurred_at),
        cmocka_unit_test(test_decode_missing_payload),
        cmocka_unit_test(test_decode_expect_no_pathway),
        cmocka_unit_test(test_decode_unknown_enum_values),
        cmocka_unit_test(test_decode_required_payload_fields),
        cmocka_unit_test(test_decode_optional_payload_fields),
        cmocka_unit_test(test_decode_embedded_nul),
        cmocka_unit_test(test_decode_invalid_utf8),
        cmocka_unit_test(test_wire_field_path),
        cmocka_unit_test(test_wire_utf8),
        cmocka_unit_test(test_decode_superseded_payload),
        cmocka_unit_test(test_decode_nir),
        cmocka_unit_test(test_decode_contrat_engagement),
        cmocka_unit_test(test_transfer_reference),
        cmocka_unit_test(test_decode_transfer_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
