/*
 * test_client.c: what libparcours and parcoursctl do without a daemon: event ids, the JSON line
 * parser and writer, setting fields from text through the descriptors, building events, the
 * client's behaviour when nobody answers, and CURVE key files and options.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "eventtext.h"
#include "fields.h"
#include "protojson.h"
#include "parcours.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/* Event ids. */

static void test_event_id_shape_and_order(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    char previous[PARCOURS_EVENT_ID_LEN + 1] = "";
    for (int i = 0; i < COUNT; i++) {
        char id[PARCOURS_EVENT_ID_LEN + 1];
        assert_int_equal(parcours_event_id_new(id), PARCOURS_OK);
        assert_int_equal(strlen(id), PARCOURS_EVENT_ID_LEN);
        assert_true(strspn(id, crockford) == PARCOURS_EVENT_ID_LEN);
        /* 130 bits of room for 128: the first character holds at most 3 bits. */
        assert_true(id[0] >= '0' && id[0] <= '7');
        if (i > 0 && strcmp(previous, id) >= 0)
            fail_msg("id %d (%s) is not above the previous one (%s)", i, id, previous);
        memcpy(previous, id, sizeof(id));
    }
}

static void test_event_id_time_prefix(void **state)
{
    (void)state;
    int64_t before = now_ms();
    char id[PARCOURS_EVENT_ID_LEN + 1];
    assert_int_equal(parcours_event_id_new(id), PARCOURS_OK);
    int64_t after = now_ms();
    /* The first 10 characters are 50 bits: 2 zero bits then the 48-bit milliseconds. */
    int64_t ms = 0;
    for (int i = 0; i < 10; i++)
        ms = ms * 32 + (int64_t)(strchr(crockford, id[i]) - crockford);
    /* Within the same millisecond as earlier ids, the time part may run ahead a little. */
    assert_true(ms >= before - 1);
    assert_true(ms <= after + 1000);
    assert_int_equal(parcours_event_id_new(NULL), PARCOURS_EINVAL);
}

/* ------------------------------------------------------------------------------------------ */
/* The client, with nobody at the other end. */

static void test_client_arguments(void **state)
{
    (void)state;
    parcours_client_t *c = (parcours_client_t *)1;
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "bad id!", NULL, &c),
                     PARCOURS_EINVAL);
    assert_null(c);
    assert_int_equal(parcours_client_new("nonsense://x", "ml93", NULL, &c), PARCOURS_EENDPOINT);
    parcours_client_options_t o = PARCOURS_CLIENT_OPTIONS_INIT;
    o.window = -1;
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "ml93", &o, &c), PARCOURS_EINVAL);
    parcours_client_destroy(&c);
    parcours_client_destroy(NULL);
    assert_int_equal(parcours_client_in_flight(NULL), 0);
    assert_string_equal(parcours_strerror(12345), "unknown libparcours error");
}

/* Every error code has its own sentence, and the backup call checks its arguments before it
 * connects to anything. */
static void test_error_sentences_and_backup_arguments(void **state)
{
    (void)state;
    const char *unknown = parcours_strerror(12345);
    for (int code = PARCOURS_EINVAL; code >= PARCOURS_EWRITE; code--)
        for (int other = code - 1; other >= PARCOURS_EWRITE; other--)
            assert_string_not_equal(parcours_strerror(code), parcours_strerror(other));
    for (int code = PARCOURS_EINVAL; code >= PARCOURS_EWRITE; code--)
        assert_string_not_equal(parcours_strerror(code), unknown);
    uint64_t bytes = 7;
    char why[16] = "x";
    uint8_t key[PARCOURS_KEY_SIZE] = {0};
    assert_int_equal(parcours_admin_backup(NULL, NULL, NULL, 1, 1000, &bytes, why, sizeof(why)),
                     PARCOURS_EINVAL);
    assert_int_equal(bytes, 0);
    assert_string_equal(why, "");
    assert_int_equal(parcours_admin_backup("ipc:///nowhere", NULL, NULL, -1, 1000, NULL, NULL, 0),
                     PARCOURS_EINVAL);
    assert_int_equal(parcours_admin_backup("ipc:///nowhere", NULL, NULL, 1, 0, NULL, NULL, 0),
                     PARCOURS_EINVAL);
    assert_int_equal(parcours_admin_backup("ipc:///nowhere", key, NULL, 1, 1000, NULL, NULL, 0),
                     PARCOURS_EINVAL);
    /* Nobody answers there: unreachable after the timeout, nothing written. */
    assert_int_equal(parcours_admin_backup("ipc:///nonexistent/parcours-test.sock", NULL, NULL, 1,
                                           200, &bytes, NULL, 0),
                     PARCOURS_EUNREACHABLE);
    assert_int_equal(bytes, 0);
}

/* An event with every required field, on the stack. */
static void sample_event(Parcours__V1__Event *e, Parcours__V1__JobEnded *payload)
{
    *e = (Parcours__V1__Event)PARCOURS__V1__EVENT__INIT;
    *payload = (Parcours__V1__JobEnded)PARCOURS__V1__JOB_ENDED__INIT;
    payload->reason = PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED;
    e->beneficiary_id = "B-TEST-0001";
    e->occurred_at = now_ms();
    e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_JOB_ENDED;
    e->job_ended = payload;
}

static void test_client_window_and_unanswered(void **state)
{
    (void)state;
    parcours_client_options_t o = PARCOURS_CLIENT_OPTIONS_INIT;
    o.window = 2;
    o.ack_timeout_ms = 30;
    o.max_attempts = 2;
    parcours_client_t *c;
    /* Port 1 on the loopback: nothing listens, the connection never completes. */
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "ml93", &o, &c), PARCOURS_OK);
    Parcours__V1__Event e;
    Parcours__V1__JobEnded payload;
    sample_event(&e, &payload);

    char id1[PARCOURS_ID_MAX + 1], id2[PARCOURS_ID_MAX + 1];
    assert_int_equal(parcours_client_publish(c, &e, id1), PARCOURS_OK);
    assert_int_equal(strlen(id1), PARCOURS_EVENT_ID_LEN);
    assert_true(e.event_id == NULL || e.event_id[0] == '\0'); /* the caller's event untouched */
    e.event_id = id1;
    assert_int_equal(parcours_client_publish(c, &e, NULL), PARCOURS_EINFLIGHT);
    e.event_id = "partner-own-id:42";
    assert_int_equal(parcours_client_publish(c, &e, id2), PARCOURS_OK);
    assert_string_equal(id2, "partner-own-id:42");
    e.event_id = NULL;
    assert_int_equal(parcours_client_publish(c, &e, NULL), PARCOURS_EFULL);
    e.event_id = "not an id";
    assert_int_equal(parcours_client_publish(c, &e, NULL), PARCOURS_EFULL);
    assert_int_equal(parcours_client_in_flight(c), 2);

    /* Both complete as unanswered after 2 attempts of 30 ms, in publish order. */
    parcours_ack_t ack;
    int64_t start = now_ms();
    assert_int_equal(parcours_client_poll(c, 5000, &ack), 1);
    assert_int_equal(ack.status, PARCOURS_ACK_UNANSWERED);
    assert_int_equal(ack.attempts, 2);
    assert_string_equal(ack.event_id, id1);
    assert_int_equal(parcours_client_poll(c, 5000, &ack), 1);
    assert_string_equal(ack.event_id, id2);
    assert_true(now_ms() - start < 2000);
    assert_int_equal(parcours_client_in_flight(c), 0);
    assert_int_equal(parcours_client_poll(c, 1000, &ack), 0); /* nothing in flight: at once */

    e.event_id = "not an id";
    assert_int_equal(parcours_client_publish(c, &e, NULL), PARCOURS_EINVAL);
    e.event_id = NULL;
    assert_int_equal(parcours_client_send(c, &e, 20, &ack), PARCOURS_EUNREACHABLE);
    assert_int_equal(parcours_client_send(c, &e, 20, &ack), PARCOURS_EBUSY);
    parcours_client_destroy(&c);
    assert_null(c);
}

static void test_client_too_large(void **state)
{
    (void)state;
    parcours_client_options_t o = PARCOURS_CLIENT_OPTIONS_INIT;
    o.max_frame = 16;
    parcours_client_t *c;
    assert_int_equal(parcours_client_new("ipc:///nonexistent/parcours.sock", "ml93", &o, &c),
                     PARCOURS_OK);
    Parcours__V1__Event e;
    Parcours__V1__JobEnded payload;
    sample_event(&e, &payload);
    assert_int_equal(parcours_client_publish(c, &e, NULL), PARCOURS_ETOOLARGE);
    assert_int_equal(parcours_client_in_flight(c), 0);
    parcours_client_destroy(&c);
}

static void test_admin_unreachable(void **state)
{
    (void)state;
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    Parcours__V1__AdminReply *reply = (Parcours__V1__AdminReply *)1;
    int64_t start = now_ms();
    assert_int_equal(parcours_admin_call("ipc:///nonexistent/admin.sock", &request, 100, &reply),
                     PARCOURS_EUNREACHABLE);
    assert_null(reply);
    assert_true(now_ms() - start < 2000);
    assert_int_equal(parcours_admin_call("nonsense", &request, 100, &reply), PARCOURS_EENDPOINT);
}

/* ------------------------------------------------------------------------------------------ */
/* CURVE key files and options. */

/* Writes text to dir/name (into path, of size bytes) with exactly that mode. */
static void write_key_file(char *path, size_t size, const char *dir, const char *name,
                           const char *text, mode_t mode)
{
    snprintf(path, size, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* HMAC-SHA-256 as RFC 4231 test case 6 gives it (a key longer than the block), and the rules
 * an id must meet: 64 lowercase hex characters, one segment of the identifier rule. */
static void test_pseudonym(void **state)
{
    (void)state;
    uint8_t key[131];
    memset(key, 0xaa, sizeof(key));
    char id[PARCOURS_ID_MAX + 1];
    assert_int_equal(parcours_pseudonym(key, sizeof(key),
                                        "Test Using Larger Than Block-Size Key - Hash Key First",
                                        id),
                     PARCOURS_OK);
    assert_string_equal(id, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* Same key, same identifier: the same id; another identifier: another. */
    char again[PARCOURS_ID_MAX + 1], other[PARCOURS_ID_MAX + 1];
    assert_int_equal(parcours_pseudonym(key, 32, "1850578006084", id), PARCOURS_OK);
    assert_int_equal(parcours_pseudonym(key, 32, "1850578006084", again), PARCOURS_OK);
    assert_int_equal(parcours_pseudonym(key, 32, "1850578006085", other), PARCOURS_OK);
    assert_string_equal(id, again);
    assert_string_not_equal(id, other);
    assert_int_equal(strlen(id), 64);
    assert_int_equal(strspn(id, "0123456789abcdef"), 64);
    assert_int_equal(parcours_pseudonym(key, 31, "x", id), PARCOURS_EINVAL); /* a short key */
    assert_int_equal(parcours_pseudonym(key, 32, "", id), PARCOURS_EINVAL);
    assert_int_equal(parcours_pseudonym(NULL, 32, "x", id), PARCOURS_EINVAL);
}

static void test_keys_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/parcours-test-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char public_z85[41], secret_z85[41];
    /* A key starting with # would read as a comment: keygen draws such pairs again. */
    do
        assert_int_equal(zmq_curve_keypair(public_z85, secret_z85), 0);
    while (public_z85[0] == '#' || secret_z85[0] == '#');
    uint8_t expected[32], key[32];
    assert_non_null(zmq_z85_decode(expected, secret_z85));

    char text[256], path[512];
    snprintf(text, sizeof(text), "# a comment\n\n   # another, indented\n  %s trailing words\n",
             secret_z85);
    write_key_file(path, sizeof(path), dir, "good.secret", text, 0600);
    memset(key, 0, sizeof(key));
    assert_int_equal(parcours_keys_read(path, 1, key), PARCOURS_OK);
    assert_memory_equal(key, expected, 32);

    /* A secret key others may read is refused; the same file as a public key is fine. */
    write_key_file(path, sizeof(path), dir, "loose.secret", text, 0640);
    memset(key, 0xAA, sizeof(key));
    assert_int_equal(parcours_keys_read(path, 1, key), PARCOURS_EKEYMODE);
    assert_int_equal(key[0], 0xAA); /* untouched on failure */
    assert_int_equal(parcours_keys_read(path, 0, key), PARCOURS_OK);
    assert_memory_equal(key, expected, 32);

    /* CRLF line ends, as an editor elsewhere may leave them. */
    snprintf(text, sizeof(text), "# made elsewhere\r\n\r\n%s\r\n", secret_z85);
    write_key_file(path, sizeof(path), dir, "crlf.secret", text, 0600);
    assert_int_equal(parcours_keys_read(path, 1, key), PARCOURS_OK);
    assert_memory_equal(key, expected, 32);

    /* No key: only comments, a short key, 40 characters with one outside Z85 (a quote), an
     * empty file. */
    const char *bad[] = {"# only a comment\n", "abc\n",
                         "012345678901234567890123456789012345678\"\n", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_key_file(path, sizeof(path), dir, "bad.public", bad[i], 0644);
        assert_int_equal(parcours_keys_read(path, 0, key), PARCOURS_EKEY);
    }
    /* A missing file says why through errno; a folder is not a key file. */
    snprintf(path, sizeof(path), "%s/missing.public", dir);
    assert_int_equal(parcours_keys_read(path, 0, key), PARCOURS_EKEYFILE);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(parcours_keys_read(dir, 0, key), PARCOURS_EKEYFILE);
    assert_int_equal(parcours_keys_read(NULL, 0, key), PARCOURS_EINVAL);
    assert_int_equal(parcours_keys_read(path, 0, NULL), PARCOURS_EINVAL);
    assert_string_not_equal(parcours_strerror(PARCOURS_EKEYMODE), "unknown libparcours error");

    const char *names[] = {"good.secret", "loose.secret", "crlf.secret", "bad.public"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_curve_options(void **state)
{
    (void)state;
    char public_z85[41], secret_z85[41];
    assert_int_equal(zmq_curve_keypair(public_z85, secret_z85), 0);
    uint8_t secret[32], server[32];
    assert_non_null(zmq_z85_decode(secret, secret_z85));
    assert_non_null(zmq_z85_decode(server, public_z85));

    /* One key without the other is refused; both make a client, even with nobody there. */
    parcours_client_options_t o = PARCOURS_CLIENT_OPTIONS_INIT;
    parcours_client_t *c;
    o.curve_secret_key = secret;
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "ml93", &o, &c), PARCOURS_EINVAL);
    o.curve_secret_key = NULL;
    o.curve_server_key = server;
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "ml93", &o, &c), PARCOURS_EINVAL);
    o.curve_secret_key = secret;
    assert_int_equal(parcours_client_new("tcp://127.0.0.1:1", "ml93", &o, &c), PARCOURS_OK);
    parcours_client_destroy(&c);

    parcours_subscription_options_t so = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    parcours_subscription_t *sub;
    so.curve_server_key = server;
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ml93", &so, &sub),
                     PARCOURS_EINVAL);
    so.curve_secret_key = secret;
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ml93", &so, &sub),
                     PARCOURS_OK);
    parcours_subscription_destroy(&sub);

    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    Parcours__V1__AdminReply *reply;
    assert_int_equal(
        parcours_admin_call_secure("tcp://127.0.0.1:1", secret, NULL, &request, 100, &reply),
        PARCOURS_EINVAL);
    assert_int_equal(
        parcours_admin_call_secure("tcp://127.0.0.1:1", secret, server, &request, 100, &reply),
        PARCOURS_EUNREACHABLE);
    assert_null(reply);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON: the proto3 mapping of parcoursctl --json. */

/* The compact JSON of value (taken), as a string the caller frees. */
static char *dumped(json_t *value)
{
    assert_non_null(value);
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    assert_non_null(text);
    return text;
}

static void test_protojson_mapping(void **state)
{
    (void)state;
    /* 64-bit integers above 2^53 as strings, exactly; full enum names; an absent message as
     * null; every scalar at its default; a oneof's member that is set, alone. */
    Parcours__V1__PathwayExited exited = PARCOURS__V1__PATHWAY_EXITED__INIT;
    exited.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED;
    Parcours__V1__Event event = PARCOURS__V1__EVENT__INIT;
    event.event_id = "e-1";
    event.partner_id = "cd93";
    event.beneficiary_id = "B-\xff-1"; /* not UTF-8: the byte becomes U+FFFD */
    event.occurred_at = -1;
    event.expected_version = UINT64_MAX;
    event.payload_case = PARCOURS__V1__EVENT__PAYLOAD_PATHWAY_EXITED;
    event.pathway_exited = &exited;
    char *members[] = {"cd93", "ml93"};
    Parcours__V1__Pathway pathway = PARCOURS__V1__PATHWAY__INIT;
    pathway.beneficiary_id = "B-1";
    pathway.phase = PARCOURS__V1__PHASE__PHASE_REFERRED;
    pathway.n_members = 2;
    pathway.members = members;
    pathway.version = (UINT64_C(1) << 53) + 1;
    pathway.last_denial_reason = 999; /* newer than this parcoursctl: its number */
    Parcours__V1__Notification n = PARCOURS__V1__NOTIFICATION__INIT;
    n.partner_seq = 1;
    n.stream_id = UINT64_C(18446744073709551557);
    n.event = &event;
    n.pathway = &pathway;
    char *text = dumped(protojson_message(&n.base));
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "stream_id")),
                        "18446744073709551557");
    assert_string_equal(json_string_value(json_object_get(doc, "partner_seq")), "1");
    assert_string_equal(json_string_value(json_object_get(doc, "seq")), "0");
    assert_true(json_is_false(json_object_get(doc, "withdrawn")));
    assert_true(json_is_null(json_object_get(doc, "erasure")));
    json_t *e = json_object_get(doc, "event");
    assert_string_equal(json_string_value(json_object_get(e, "beneficiary_id")),
                        "B-\xef\xbf\xbd-1");
    assert_string_equal(json_string_value(json_object_get(e, "occurred_at")), "-1");
    assert_string_equal(json_string_value(json_object_get(e, "expected_version")),
                        "18446744073709551615");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "pathway_exited"), "reason")),
        "EXIT_REASON_MOVED");
    assert_null(json_object_get(e, "job_placed")); /* a oneof member not set is left out */
    json_t *p = json_object_get(doc, "pathway");
    assert_string_equal(json_string_value(json_object_get(p, "phase")), "PHASE_REFERRED");
    assert_string_equal(json_string_value(json_object_get(p, "version")), "9007199254740993");
    assert_int_equal(json_integer_value(json_object_get(p, "episode")), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "last_denial_reason")), 999);
    assert_true(json_is_null(json_object_get(p, "referent")));
    assert_string_equal(json_string_value(json_object_get(p, "territory")), "");
    assert_int_equal(json_array_size(json_object_get(p, "members")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "members"), 1)),
                        "ml93");
    /* Every field of the contract is there, in the .proto's order. */
    assert_int_equal(json_object_size(p), parcours__v1__pathway__descriptor.n_fields);
    assert_string_equal(json_object_iter_key(json_object_iter(p)), "beneficiary_id");
    json_decref(doc);
    free(text);

    /* Doubles as numbers, NaN and the infinities as the mapping's strings. */
    Parcours__V1__Status st = PARCOURS__V1__STATUS__INIT;
    st.batch_size_mean = 1.5;
    st.commit_ms_mean = NAN;
    st.commit_ms_max = -INFINITY;
    doc = protojson_message(&st.base);
    assert_true(json_real_value(json_object_get(doc, "batch_size_mean")) == 1.5);
    assert_string_equal(json_string_value(json_object_get(doc, "commit_ms_mean")), "NaN");
    assert_string_equal(json_string_value(json_object_get(doc, "commit_ms_max")), "-Infinity");
    json_decref(doc);

    /* No message: null. Bytes in base64. */
    text = dumped(protojson_message(NULL));
    assert_string_equal(text, "null");
    free(text);
    Parcours__V1__BackupPart part = PARCOURS__V1__BACKUP_PART__INIT;
    part.data.data = (uint8_t *)"\x00\xff\x10";
    part.data.len = 3;
    doc = protojson_message(&part.base);
    assert_string_equal(json_string_value(json_object_get(doc, "data")), "AP8Q");
    json_decref(doc);
    text = dumped(protojson_int64(INT64_MIN));
    assert_string_equal(text, "\"-9223372036854775808\"");
    free(text);
}

/* ------------------------------------------------------------------------------------------ */
/* Fields from text. */

static void test_fields_enums(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *d = &parcours__v1__pathway_type__descriptor;
    int v = -1;
    assert_int_equal(fields_enum_parse(d, "EMPLOI", &v), 0);
    assert_int_equal(v, PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI);
    assert_int_equal(fields_enum_parse(d, "socio_pro", &v), 0);
    assert_int_equal(v, PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIO_PRO);
    assert_int_equal(fields_enum_parse(d, "PATHWAY_TYPE_SOCIAL", &v), 0);
    assert_int_equal(v, PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL);
    assert_int_equal(fields_enum_parse(d, "pathway_type_emploi", &v), 0);
    assert_int_equal(v, PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI);
    assert_int_equal(fields_enum_parse(d, "2", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(fields_enum_parse(d, "99", &v), -1);
    assert_int_equal(fields_enum_parse(d, "EMPLOYMENT", &v), -1);
    assert_string_equal(fields_enum_name(d, 1), "EMPLOI");
    assert_null(fields_enum_name(d, 99));
    assert_string_equal(fields_enum_name(&parcours__v1__ack_status__descriptor,
                                         PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED),
                        "ACCEPTED");
    char list[256];
    fields_enum_list(d, list, sizeof(list));
    assert_string_equal(list, "EMPLOI, SOCIO_PRO, SOCIAL");
}

static void test_fields_times(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(fields_time_parse("2026-11-27", &ms), 0);
    assert_int_equal(ms, 1795737600000);
    assert_int_equal(fields_time_parse("2026-11-27T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795773600000);
    assert_int_equal(fields_time_parse("2026-11-27T10:00Z", &ms), 0);
    assert_int_equal(ms, 1795773600000);
    assert_int_equal(fields_time_parse("2026-11-27T11:00:00+01:00", &ms), 0);
    assert_int_equal(ms, 1795773600000);
    assert_int_equal(fields_time_parse("2026-11-27 10:00:00.25Z", &ms), 0);
    assert_int_equal(ms, 1795773600250);
    assert_int_equal(fields_time_parse("2024-02-29", &ms), 0);
    assert_int_equal(fields_time_parse("1795773600000", &ms), 0);
    assert_int_equal(ms, 1795773600000);
    assert_int_equal(fields_time_parse("1795773600", &ms), -1); /* seconds by mistake */
    assert_int_equal(fields_time_parse("2026-02-29", &ms), -1);
    assert_int_equal(fields_time_parse("2026-13-01", &ms), -1);
    assert_int_equal(fields_time_parse("2026-11-27T24:00:00Z", &ms), -1);
    assert_int_equal(fields_time_parse("2026-11-27T10:00:00Q", &ms), -1);
    assert_int_equal(fields_time_parse("27/11/2026", &ms), -1);
    assert_int_equal(fields_time_parse("-5", &ms), -1);
    assert_int_equal(fields_time_parse("", &ms), -1);

    char out[FIELDS_TIME_MAX];
    fields_time_format(1795773600000, out);
    assert_string_equal(out, "2026-11-27T10:00:00Z");
    fields_time_format(1795773600250, out);
    assert_string_equal(out, "2026-11-27T10:00:00.250Z");
    fields_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    /* Every day of several years goes through format and back. */
    for (int64_t day = 19000; day < 21000; day += 7) {
        int64_t t = day * 86400000 + 12345678, back;
        fields_time_format(t, out);
        assert_int_equal(fields_time_parse(out, &back), 0);
        assert_int_equal(back, t);
    }
}

static void test_fields_set(void **state)
{
    (void)state;
    Parcours__V1__ContractSigned *m = malloc(sizeof(*m));
    parcours__v1__contract_signed__init(m);
    const ProtobufCMessageDescriptor *d = &parcours__v1__contract_signed__descriptor;
    char err[FIELDS_ERROR_MAX];
    assert_int_equal(fields_set(&m->base, fields_find(d, "kind"), "cej", err, sizeof(err)), 0);
    assert_int_equal(m->kind, PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CEJ);
    assert_int_equal(fields_set(&m->base, fields_find(d, "start"), "2026-11-27", err, sizeof(err)),
                     0);
    assert_int_equal(m->start, 1795737600000);
    assert_int_equal(fields_set(&m->base, fields_find(d, "end"), "1795773600000", err, sizeof(err)),
                     0);
    assert_int_equal(m->end, 1795773600000);
    assert_int_equal(fields_set(&m->base, fields_find(d, "kind"), "CDI", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CER, PPAE, CEJ, PACEA, OTHER, CONTRAT_ENGAGEMENT"));
    /* The contrat d'engagement of the 2023 law and its fields, from the descriptors. */
    assert_int_equal(
        fields_set(&m->base, fields_find(d, "kind"), "CONTRAT_ENGAGEMENT", err, sizeof(err)), 0);
    assert_int_equal(m->kind, PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT);
    assert_int_equal(
        fields_set(&m->base, fields_find(d, "plan-action-ref"), "pa-ft93-0001", err, sizeof(err)),
        0);
    assert_string_equal(m->plan_action_ref, "pa-ft93-0001");
    assert_int_equal(fields_set(&m->base, fields_find(d, "weekly_hours"), "8", err, sizeof(err)),
                     0);
    assert_int_equal(m->weekly_hours, 8);
    assert_int_equal(fields_set(&m->base, fields_find(d, "weekly_hours"), "-1", err, sizeof(err)),
                     -1);
    assert_int_equal(fields_set(&m->base, fields_find(d, "reduced_hours_reason"),
                                "lone_parent_without_childcare", err, sizeof(err)),
                     0);
    assert_int_equal(
        m->reduced_hours_reason,
        PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_LONE_PARENT_WITHOUT_CHILDCARE);
    assert_int_equal(
        fields_set(&m->base, fields_find(d, "hours-exempted"), "yes", err, sizeof(err)), 0);
    assert_true(m->hours_exempted);
    assert_int_equal(fields_set(&m->base, fields_find(d, "start"), "tomorrow", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "start"));
    assert_null(fields_find(d, "nope"));
    parcours__v1__contract_signed__free_unpacked(m, NULL);

    /* Strings are copied and replaced; "-" reads as "_". */
    Parcours__V1__ReferentAssigned *r = malloc(sizeof(*r));
    parcours__v1__referent_assigned__init(r);
    const ProtobufCMessageDescriptor *rd = &parcours__v1__referent_assigned__descriptor;
    const ProtobufCFieldDescriptor *f = fields_find(rd, "referent-partner-id");
    assert_non_null(f);
    assert_int_equal(fields_set(&r->base, f, "ml93", err, sizeof(err)), 0);
    assert_int_equal(fields_set(&r->base, f, "ft93", err, sizeof(err)), 0);
    assert_string_equal(r->referent_partner_id, "ft93");
    parcours__v1__referent_assigned__free_unpacked(r, NULL);

    /* A bool (rsa_recipient) and a time that is not start/end (notified_at). */
    Parcours__V1__BeneficiaryRegistered *b = malloc(sizeof(*b));
    parcours__v1__beneficiary_registered__init(b);
    const ProtobufCMessageDescriptor *bd = &parcours__v1__beneficiary_registered__descriptor;
    assert_int_equal(
        fields_set(&b->base, fields_find(bd, "rsa-recipient"), "true", err, sizeof(err)), 0);
    assert_true(b->rsa_recipient);
    assert_int_equal(
        fields_set(&b->base, fields_find(bd, "rsa_recipient"), "maybe", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "true or false"));
    parcours__v1__beneficiary_registered__free_unpacked(b, NULL);
    Parcours__V1__OrientationDecided *o = malloc(sizeof(*o));
    parcours__v1__orientation_decided__init(o);
    const ProtobufCMessageDescriptor *od = &parcours__v1__orientation_decided__descriptor;
    assert_true(fields_is_time(fields_find(od, "notified_at")));
    assert_int_equal(fields_set(&o->base, fields_find(od, "notified-at"), "2026-11-27T10:00:00Z",
                                err, sizeof(err)),
                     0);
    assert_int_equal(o->notified_at, 1795773600000);
    parcours__v1__orientation_decided__free_unpacked(o, NULL);

    /* The whole list of ContractSigned's fields fits the error buffer, its last one included. */
    char list[FIELDS_ERROR_MAX];
    fields_list(d, list, sizeof(list));
    assert_non_null(strstr(list, "kind (one of CER"));
    assert_non_null(strstr(list, "start (time"));
    assert_non_null(strstr(list, "plan_action_ref (text); weekly_hours (number); "
                                 "reduced_hours_reason (one of HEALTH, DISABILITY, "));
    assert_non_null(strstr(list, "; hours_exempted (true or false)"));
}

static void test_fields_payloads(void **state)
{
    (void)state;
    const ProtobufCFieldDescriptor *f = fields_payload_find("OrientationDecided");
    assert_non_null(f);
    assert_int_equal(f->id, PARCOURS__V1__EVENT__PAYLOAD_ORIENTATION_DECIDED);
    assert_ptr_equal(fields_payload_find("orientation_decided"), f);
    assert_ptr_equal(fields_payload_find("orientation-decided"), f);
    assert_null(fields_payload_find("OrientationDecide"));
    assert_null(fields_payload_find("event_id"));
    assert_null(fields_payload_find(""));
    char list[1024];
    fields_payload_list(list, sizeof(list));
    assert_non_null(strstr(list, "BeneficiaryRegistered, OrientationRequested"));
    assert_non_null(strstr(list, "PathwayExited, SuspensionDecided, SuspensionLifted"));
    /* The 2023 law's two types are found by either spelling. */
    f = fields_payload_find("SuspensionDecided");
    assert_non_null(f);
    assert_int_equal(f->id, PARCOURS__V1__EVENT__PAYLOAD_SUSPENSION_DECIDED);
    assert_ptr_equal(
        fields_payload_find("suspension_lifted"),
        protobuf_c_message_descriptor_get_field(&parcours__v1__event__descriptor,
                                                PARCOURS__V1__EVENT__PAYLOAD_SUSPENSION_LIFTED));
}

/* ------------------------------------------------------------------------------------------ */
/* Events from text. */

static void test_eventtext_build(void **state)
{
    (void)state;
    const char *keys[] = {"structure-id", "as",
                          "type",         "beneficiary",
                          "pathway_type", "referent_body",
                          "occurred_at",  "expected_version",
                          "event_id",     "notified_at"};
    const char *values[] = {"ml93",   "cd93",           "OrientationDecided",   "B-TEST-0001",
                            "EMPLOI", "MISSION_LOCALE", "2026-11-27T10:00:00Z", "3",
                            NULL,     "1795773600000"};
    Parcours__V1__Event *e;
    char err[EVENTTEXT_ERROR_MAX];
    int64_t before = now_ms();
    assert_int_equal(eventtext_build(10, keys, values, &e, err, sizeof(err)), 0);
    assert_string_equal(e->partner_id, "cd93");
    assert_string_equal(e->beneficiary_id, "B-TEST-0001");
    assert_int_equal(e->occurred_at, 1795773600000);
    assert_int_equal(e->expected_version, 3);
    assert_int_equal(strlen(e->event_id), PARCOURS_EVENT_ID_LEN); /* null: a new id */
    assert_int_equal(e->payload_case, PARCOURS__V1__EVENT__PAYLOAD_ORIENTATION_DECIDED);
    assert_int_equal(e->orientation_decided->pathway_type,
                     PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI);
    assert_int_equal(e->orientation_decided->referent_body,
                     PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE);
    assert_string_equal(e->orientation_decided->structure_id, "ml93");
    assert_int_equal(e->orientation_decided->notified_at, 1795773600000);
    assert_string_equal(fields_payload_name(e), "OrientationDecided");
    assert_false(e->expect_no_pathway);

    /* A registration that must find no pathway; anything but true or false refused. */
    {
        const char *k[] = {"type", "as", "beneficiary", "expect-no-pathway"};
        const char *v[] = {"BeneficiaryRegistered", "cd93", "B-TEST-0002", "true"};
        Parcours__V1__Event *r;
        assert_int_equal(eventtext_build(4, k, v, &r, err, sizeof(err)), 0);
        assert_true(r->expect_no_pathway);
        eventtext_free(&r);
        v[3] = "yes";
        assert_int_equal(eventtext_build(4, k, v, &r, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "expect_no_pathway"));
    }

    /* It packs and unpacks to the same event. */
    size_t len = parcours__v1__event__get_packed_size(e);
    uint8_t *buf = malloc(len);
    parcours__v1__event__pack(e, buf);
    Parcours__V1__Event *back = parcours__v1__event__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->orientation_decided->structure_id, "ml93");
    assert_int_equal(back->orientation_decided->notified_at, 1795773600000);
    parcours__v1__event__free_unpacked(back, NULL);
    free(buf);
    eventtext_free(&e);
    assert_null(e);

    /* occurred_at defaults to now. */
    const char *k2[] = {"type", "as", "beneficiary_id", "reason"};
    const char *v2[] = {"pathway_exited", "cd93", "B-TEST-0002", "moved"};
    assert_int_equal(eventtext_build(4, k2, v2, &e, err, sizeof(err)), 0);
    assert_true(e->occurred_at >= before && e->occurred_at <= now_ms() + 1);
    assert_int_equal(e->pathway_exited->reason, PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED);
    eventtext_free(&e);

    /* The 2023 law's event types and fields, as a JSON line of the demo gives them. */
    const char *k3[] = {"type",
                        "as",
                        "beneficiary",
                        "kind",
                        "plan_action_ref",
                        "weekly_hours",
                        "reduced_hours_reason",
                        "start"};
    const char *v3[] = {"ContractSigned",     "ccas-est93", "B-TEST-0003", "CONTRAT_ENGAGEMENT",
                        "pa-ccas-est93-0003", "8",          "HEALTH",      "2026-06-01"};
    assert_int_equal(eventtext_build(8, k3, v3, &e, err, sizeof(err)), 0);
    assert_int_equal(e->contract_signed->kind,
                     PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT);
    assert_string_equal(e->contract_signed->plan_action_ref, "pa-ccas-est93-0003");
    assert_int_equal(e->contract_signed->weekly_hours, 8);
    assert_int_equal(e->contract_signed->reduced_hours_reason,
                     PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_HEALTH);
    eventtext_free(&e);
    const char *k4[] = {"type", "as", "beneficiary", "reason"};
    const char *v4[] = {"SuspensionDecided", "cd93", "B-TEST-0003", "APPOINTMENT_MISSED"};
    assert_int_equal(eventtext_build(4, k4, v4, &e, err, sizeof(err)), 0);
    assert_int_equal(e->payload_case, PARCOURS__V1__EVENT__PAYLOAD_SUSPENSION_DECIDED);
    assert_int_equal(e->suspension_decided->reason,
                     PARCOURS__V1__SUSPENSION_REASON__SUSPENSION_REASON_APPOINTMENT_MISSED);
    eventtext_free(&e);
    const char *v5[] = {"suspension_lifted", "cd93", "B-TEST-0003", "REMOBILISED_PAID_BACK"};
    assert_int_equal(eventtext_build(4, k4, v5, &e, err, sizeof(err)), 0);
    assert_int_equal(
        e->suspension_lifted->reason,
        PARCOURS__V1__SUSPENSION_LIFT_REASON__SUSPENSION_LIFT_REASON_REMOBILISED_PAID_BACK);
    eventtext_free(&e);
    const char *k6[] = {"type", "as", "beneficiary", "rsa_recipient"};
    const char *v6[] = {"BeneficiaryRegistered", "caf93", "B-TEST-0004", "true"};
    assert_int_equal(eventtext_build(4, k6, v6, &e, err, sizeof(err)), 0);
    assert_true(e->beneficiary_registered->rsa_recipient);
    eventtext_free(&e);
}

static void expect_build_error(size_t n, const char *const keys[], const char *const values[],
                               const char *needle)
{
    Parcours__V1__Event *e = (Parcours__V1__Event *)1;
    char err[EVENTTEXT_ERROR_MAX];
    assert_int_equal(eventtext_build(n, keys, values, &e, err, sizeof(err)), -1);
    assert_null(e);
    if (strstr(err, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", err, needle);
}

static void test_eventtext_errors(void **state)
{
    (void)state;
    const char *k1[] = {"as", "beneficiary"};
    const char *v1[] = {"cd93", "B-1"};
    expect_build_error(2, k1, v1, "type is missing");
    const char *k2[] = {"type", "as", "beneficiary"};
    const char *v2[] = {"Hired", "cd93", "B-1"};
    expect_build_error(3, k2, v2, "JobPlaced");
    const char *k3[] = {"type", "as", "beneficiary", "structure"};
    const char *v3[] = {"OrientationDecided", "cd93", "B-1", "ml93"};
    expect_build_error(4, k3, v3, "its fields: pathway_type (one of EMPLOI, SOCIO_PRO, SOCIAL)");
    const char *k4[] = {"type", "as", "beneficiary"};
    const char *v4[] = {"JobEnded", "cd 93", "B-1"};
    expect_build_error(3, k4, v4, "not an identifier");
    const char *k5[] = {"type", "beneficiary"};
    const char *v5[] = {"JobEnded", "B-1"};
    expect_build_error(2, k5, v5, "partner is missing");
    const char *k6[] = {"type", "as", "partner_id", "beneficiary"};
    const char *v6[] = {"JobEnded", "cd93", "ft93", "B-1"};
    expect_build_error(4, k6, v6, "twice");
    const char *k7[] = {"type", "as", "beneficiary", "occurred_at"};
    const char *v7[] = {"JobEnded", "cd93", "B-1", "yesterday"};
    expect_build_error(4, k7, v7, "occurred_at");
    const char *k8[] = {"type", "as", "beneficiary", "reason"};
    const char *v8[] = {"JobEnded", "cd93", "B-1", "FIRED"};
    expect_build_error(4, k8, v8, "TERM_REACHED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_id_shape_and_order),
        cmocka_unit_test(test_event_id_time_prefix),
        cmocka_unit_test(test_client_arguments),
        cmocka_unit_test(test_error_sentences_and_backup_arguments),
        cmocka_unit_test(test_client_window_and_unanswered),
        cmocka_unit_test(test_client_too_large),
        cmocka_unit_test(test_admin_unreachable),
        cmocka_unit_test(test_keys_read),
        cmocka_unit_test(test_pseudonym),
        cmocka_unit_test(test_curve_options),
        cmocka_unit_test(test_protojson_mapping),
        cmocka_unit_test(test_fields_enums),
        cmocka_unit_test(test_fields_times),
        cmocka_unit_test(test_fields_set),
        cmocka_unit_test(test_fields_payloads),
        cmocka_unit_test(test_eventtext_build),
        cmocka_unit_test(test_eventtext_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
