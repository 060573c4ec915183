/*
 * test_notification.c: the hand-written DeliverReply{notification} frame (notification.h),
 * checked against the generated protobuf-c code, which is what partners decode it with.
 *
 * Every frame is decoded with parcours__v1__deliver_reply__unpack and its fields compared with
 * what was encoded; when the embedded Event and Pathway are what protobuf-c itself packs, the
 * frame must also be byte for byte what parcours__v1__deliver_reply__pack writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "notification.h"
#include "parcours.pb-c.h"

/* A packed message; the caller frees bytes. */
typedef struct packed {
    uint8_t *bytes;
    size_t len;
} packed_t;

static packed_t pack_event(const char *event_id, const char *beneficiary_id)
{
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    Parcours__V1__BeneficiaryRegistered registered = PARCOURS__V1__BENEFICIARY_REGISTERED__INIT;
    e.event_id = (char *)event_id;
    e.partner_id = "cd93";
    e.beneficiary_id = (char *)beneficiary_id;
    e.occurred_at = INT64_C(1700000000000);
    e.payload_case = PARCOURS__V1__EVENT__PAYLOAD_BENEFICIARY_REGISTERED;
    e.beneficiary_registered = &registered;
    registered.territory = "93";
    packed_t p = {malloc(parcours__v1__event__get_packed_size(&e)), 0};
    assert_non_null(p.bytes);
    p.len = parcours__v1__event__pack(&e, p.bytes);
    return p;
}

static packed_t pack_pathway(size_t n_members)
{
    Parcours__V1__Pathway pw = PARCOURS__V1__PATHWAY__INIT;
    char **members = calloc(n_members ? n_members : 1, sizeof(*members));
    assert_non_null(members);
    for (size_t i = 0; i < n_members; i++) {
        members[i] = malloc(32);
        assert_non_null(members[i]);
        snprintf(members[i], 32, "partner-%05zu", i);
    }
    pw.beneficiary_id = "B-0001";
    pw.territory = "93";
    pw.episode = 2;
    pw.members = members;
    pw.n_members = n_members;
    pw.version = 42;
    pw.created_at = INT64_C(1700000000000);
    pw.updated_at = INT64_C(1700000099000);
    pw.phase = PARCOURS__V1__PHASE__PHASE_REFERRED;
    packed_t p = {malloc(parcours__v1__pathway__get_packed_size(&pw)), 0};
    assert_non_null(p.bytes);
    p.len = parcours__v1__pathway__pack(&pw, p.bytes);
    for (size_t i = 0; i < n_members; i++)
        free(members[i]);
    free(members);
    return p;
}

/* Encodes n, decodes it with the generated code and checks every field; when canonical, also
 * checks that protobuf-c packs the decoded reply into the very same bytes. */
static void check_round_trip(const notification_t *n, bool canonical)
{
    size_t size = notification_packed_size(n);
    uint8_t *frame = malloc(size);
    assert_non_null(frame);
    assert_int_equal(notification_pack(n, frame), size);

    Parcours__V1__DeliverReply *reply = parcours__v1__deliver_reply__unpack(NULL, size, frame);
    assert_non_null(reply);
    assert_int_equal(reply->kind_case, PARCOURS__V1__DELIVER_REPLY__KIND_NOTIFICATION);
    const Parcours__V1__Notification *got = reply->notification;
    assert_non_null(got);
    assert_true(got->partner_seq == n->partner_seq);
    assert_true(got->seq == n->seq);
    assert_true(got->committed_at == n->committed_at);
    assert_true(got->stream_id == n->stream_id);
    assert_int_equal(got->withdrawn, n->withdrawn);
    if (n->erasure == NULL) {
        assert_null(got->erasure);
    } else {
        assert_non_null(got->erasure);
        Parcours__V1__Erasure *want =
            parcours__v1__erasure__unpack(NULL, n->erasure_len, n->erasure);
        assert_non_null(want);
        assert_string_equal(got->erasure->beneficiary_id, want->beneficiary_id);
        assert_int_equal(got->erasure->reason, want->reason);
        assert_true(got->erasure->erased_at == want->erased_at);
        parcours__v1__erasure__free_unpacked(want, NULL);
    }

    if (n->event == NULL) {
        assert_null(got->event);
    } else {
        assert_non_null(got->event);
        Parcours__V1__Event *want = parcours__v1__event__unpack(NULL, n->event_len, n->event);
        assert_non_null(want);
        assert_string_equal(got->event->event_id, want->event_id);
        assert_string_equal(got->event->partner_id, want->partner_id);
        assert_string_equal(got->event->beneficiary_id, want->beneficiary_id);
        assert_true(got->event->occurred_at == want->occurred_at);
        assert_int_equal(got->event->payload_case, want->payload_case);
        parcours__v1__event__free_unpacked(want, NULL);
    }
    if (n->pathway == NULL) {
        assert_null(got->pathway);
    } else {
        assert_non_null(got->pathway);
        Parcours__V1__Pathway *want =
            parcours__v1__pathway__unpack(NULL, n->pathway_len, n->pathway);
        assert_non_null(want);
        assert_string_equal(got->pathway->beneficiary_id, want->beneficiary_id);
        assert_string_equal(got->pathway->territory, want->territory);
        assert_int_equal(got->pathway->n_members, want->n_members);
        for (size_t i = 0; i < want->n_members; i++)
            assert_string_equal(got->pathway->members[i], want->members[i]);
        assert_true(got->pathway->version == want->version);
        assert_int_equal(got->pathway->phase, want->phase);
        parcours__v1__pathway__free_unpacked(want, NULL);
    }

    if (canonical) {
        size_t len = parcours__v1__deliver_reply__get_packed_size(reply);
        assert_int_equal(len, size);
        uint8_t *repacked = malloc(len ? len : 1);
        assert_non_null(repacked);
        parcours__v1__deliver_reply__pack(reply, repacked);
        assert_memory_equal(repacked, frame, size);
        free(repacked);
    }
    parcours__v1__deliver_reply__free_unpacked(reply, NULL);
    free(frame);
}

/* A withdrawn entry and an erased person's notice: the same bytes protobuf-c writes. */
static void test_withdrawn_and_erasure(void **state)
{
    (void)state;
    notification_t n = {.partner_seq = 7,
                        .seq = 12,
                        .committed_at = 1700000000000,
                        .stream_id = 99,
                        .withdrawn = true};
    check_round_trip(&n, true);
    Parcours__V1__Erasure e = PARCOURS__V1__ERASURE__INIT;
    e.beneficiary_id = "person-alpha";
    e.reason = PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_REQUEST;
    e.erased_at = 1700000001234;
    uint8_t bytes[128];
    notification_t m = {.partner_seq = 8,
                        .seq = 13,
                        .committed_at = 1700000001234,
                        .stream_id = 99,
                        .erasure = bytes};
    m.erasure_len = parcours__v1__erasure__pack(&e, bytes);
    check_round_trip(&m, true);
}

static void test_with_event_and_pathway(void **state)
{
    (void)state;
    packed_t event = pack_event("E-0001", "B-0001");
    packed_t pathway = pack_pathway(3);
    notification_t n = {7,
                        1234,
                        event.bytes,
                        event.len,
                        pathway.bytes,
                        pathway.len,
                        INT64_C(1700000123456),
                        UINT64_C(0x9e3779b97f4a7c15),
                        false,
                        NULL,
                        0};
    check_round_trip(&n, true);
    free(event.bytes);
    free(pathway.bytes);
}

static void test_without_pathway_or_event(void **state)
{
    (void)state;
    packed_t event = pack_event("E-0002", "B-0002");
    notification_t n = {1, 1, event.bytes, event.len, NULL, 0, 1, 1, false, NULL, 0};
    check_round_trip(&n, true); /* a partner that left the group: no pathway */
    n.event = NULL;
    n.event_len = 0;
    check_round_trip(&n, true); /* an erased event: neither */
    free(event.bytes);
}

static void test_zero_values(void **state)
{
    (void)state;
    notification_t n = {0};
    check_round_trip(&n, true);
    /* proto3 leaves zero numbers out: an empty Notification, still present in the oneof. */
    uint8_t frame[16];
    assert_int_equal(notification_packed_size(&n), 2);
    assert_int_equal(notification_pack(&n, frame), 2);
    assert_int_equal(frame[0], 0x12);
    assert_int_equal(frame[1], 0x00);

    /* A present but empty Event or Pathway is written with length 0, as protobuf-c does. */
    static const uint8_t none[1];
    n.event = none;
    n.pathway = none;
    check_round_trip(&n, true);
}

static void test_large_values(void **state)
{
    (void)state;
    packed_t event = pack_event("E-0003", "B-0003");
    packed_t pathway = pack_pathway(2);
    const uint64_t seqs[] = {1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    const int64_t times[] = {1, -1, 127, 128, INT64_MAX, INT64_MIN, INT64_C(1700000000000)};
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
        for (size_t j = 0; j < sizeof(times) / sizeof(times[0]); j++) {
            notification_t n = {seqs[i],
                                seqs[sizeof(seqs) / sizeof(seqs[0]) - 1 - i],
                                event.bytes,
                                event.len,
                                pathway.bytes,
                                pathway.len,
                                times[j],
                                seqs[(i + j) % (sizeof(seqs) / sizeof(seqs[0]))],
                                false,
                                NULL,
                                0};
            check_round_trip(&n, true);
        }
    free(event.bytes);
    free(pathway.bytes);
}

static void test_long_lengths(void **state)
{
    (void)state;
    /* Lengths of one, two and three varint bytes, for the fields and for the whole body. */
    const size_t member_counts[] = {0, 1, 8, 9, 1000, 5000};
    char event_id[400];
    memset(event_id, 'x', sizeof(event_id) - 1);
    event_id[sizeof(event_id) - 1] = '\0';
    packed_t event = pack_event(event_id, "B-0004");
    assert_true(event.len > 128);
    for (size_t i = 0; i < sizeof(member_counts) / sizeof(member_counts[0]); i++) {
        packed_t pathway = pack_pathway(member_counts[i]);
        notification_t n = {99, 100,   event.bytes, event.len, pathway.bytes, pathway.len, 5,
                            2,  false, NULL,        0};
        check_round_trip(&n, true);
        free(pathway.bytes);
    }
    free(event.bytes);
}

/* The raw bytes are embedded as they are, even when protobuf-c would pack them otherwise (here
 * an unknown field, which a newer client may send): the partner decodes the same event. */
static void test_event_bytes_embedded_as_they_are(void **state)
{
    (void)state;
    packed_t event = pack_event("E-0005", "B-0005");
    uint8_t *raw = malloc(event.len + 3);
    assert_non_null(raw);
    raw[0] = 0x98; /* field 99, varint (tag 792, two varint bytes), value 1 */
    raw[1] = 0x06;
    raw[2] = 0x01;
    memcpy(raw + 3, event.bytes, event.len);
    notification_t n = {3, 4, raw, event.len + 3, NULL, 0, 6, 0, false, NULL, 0};
    check_round_trip(&n, false);
    uint8_t *frame = malloc(notification_packed_size(&n));
    assert_non_null(frame);
    size_t len = notification_pack(&n, frame);
    /* Tag, body length (1 byte), partner_seq, seq, then the event field with the raw bytes. */
    assert_int_equal(frame[6], 0x1a);
    assert_int_equal(frame[7], event.len + 3);
    assert_memory_equal(frame + 8, raw, event.len + 3);
    assert_true(len == 8 + event.len + 3 + 2);
    free(frame);
    free(raw);
    free(event.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_with_event_and_pathway),
        cmocka_unit_test(test_withdrawn_and_erasure),
        cmocka_unit_test(test_without_pathway_or_event),
        cmocka_unit_test(test_zero_values),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_long_lengths),
        cmocka_unit_test(test_event_bytes_embedded_as_they_are),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
