/*
 * test_client_subscription.c: libparcours' subscription against a fake deliver endpoint.
 *
 * The test plays the daemon with a ROUTER socket on an ipc endpoint of a temporary folder, so
 * that it can send what a real daemon sends only in rare moments: redeliveries, NOT_SUBSCRIBED
 * (an acknowledgement that crossed a restart), a Subscribed that starts beyond what the
 * library wants, a refusal, and a new connection after the "daemon" went away. What the
 * library sends back is read and checked frame by frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "parcours.h"

#define WAIT_MS  5000
#define SEEN_MAX 64

/* The fake daemon, and what the callback was handed. */
typedef struct fake {
    char folder[64];
    char endpoint[128];
    void *context;
    void *router;
    uint8_t identity[256]; /* of the last connection that sent something */
    size_t identity_len;
    parcours_subscription_t *sub;
    uint64_t seen[SEEN_MAX]; /* partner_seqs handed to the callback, in order */
    size_t n_seen;
    uint64_t refuse; /* the callback returns -1 for this partner_seq, once */
} fake_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int record(const Parcours__V1__Notification *n, void *ctx)
{
    fake_t *f = ctx;
    assert_non_null(n->event);
    if (n->partner_seq == f->refuse) {
        f->refuse = 0;
        return -1;
    }
    assert_true(f->n_seen < SEEN_MAX);
    f->seen[f->n_seen++] = n->partner_seq;
    return 0;
}

static void fake_bind(fake_t *f)
{
    f->router = zmq_socket(f->context, ZMQ_ROUTER);
    assert_non_null(f->router);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
}

static int fake_setup(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->folder, sizeof(f->folder), "/tmp/parcours-sub-XXXXXX");
    assert_non_null(mkdtemp(f->folder));
    snprintf(f->endpoint, sizeof(f->endpoint), "ipc://%s/deliver.sock", f->folder);
    f->context = zmq_ctx_new();
    fake_bind(f);
    *state = f;
    return 0;
}

static int fake_teardown(void **state)
{
    fake_t *f = *state;
    parcours_subscription_destroy(&f->sub);
    zmq_close(f->router);
    zmq_ctx_term(f->context);
    char path[128];
    snprintf(path, sizeof(path), "%s/deliver.sock", f->folder);
    unlink(path);
    rmdir(f->folder);
    free(f);
    return 0;
}

/* Polls the subscription (which records what it hands) until the fake daemon receives a
 * request, and returns it. */
static Parcours__V1__DeliverRequest *fake_expect(fake_t *f)
{
    int64_t until = now_ms() + WAIT_MS;
    while (now_ms() < until) {
        int rc = parcours_subscription_poll(f->sub, 10, record, f);
        assert_true(rc >= 0);
        zmq_pollitem_t item = {.socket = f->router, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 10) <= 0)
            continue;
        int n = zmq_recv(f->router, f->identity, sizeof(f->identity), 0);
        assert_true(n > 0);
        f->identity_len = (size_t)n;
        uint8_t frame[1024];
        n = zmq_recv(f->router, frame, sizeof(frame), 0);
        assert_true(n > 0 && n <= (int)sizeof(frame));
        Parcours__V1__DeliverRequest *r =
            parcours__v1__deliver_request__unpack(NULL, (size_t)n, frame);
        assert_non_null(r);
        return r;
    }
    fail_msg("the library sent nothing within %d ms", WAIT_MS);
    return NULL;
}

/* Expects a Subscribe, from `from`. */
static void fake_expect_subscribe(fake_t *f, uint64_t from)
{
    Parcours__V1__DeliverRequest *r = fake_expect(f);
    assert_int_equal(r->kind_case, PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE);
    assert_string_equal(r->subscribe->partner_id, "ft93");
    assert_int_equal(r->subscribe->from, from);
    parcours__v1__deliver_request__free_unpacked(r, NULL);
}

/* Expects a DeliveryAck, up to up_to. */
static void fake_expect_ack(fake_t *f, uint64_t up_to)
{
    Parcours__V1__DeliverRequest *r = fake_expect(f);
    assert_int_equal(r->kind_case, PARCOURS__V1__DELIVER_REQUEST__KIND_ACK);
    assert_int_equal(r->ack->up_to, up_to);
    parcours__v1__deliver_request__free_unpacked(r, NULL);
}

/* Expects nothing for a moment. */
static void fake_expect_nothing(fake_t *f)
{
    int64_t until = now_ms() + 200;
    while (now_ms() < until) {
        assert_true(parcours_subscription_poll(f->sub, 10, record, f) >= 0);
        zmq_pollitem_t item = {.socket = f->router, .events = ZMQ_POLLIN};
        assert_int_equal(zmq_poll(&item, 1, 10), 0);
    }
}

static void fake_send(fake_t *f, const Parcours__V1__DeliverReply *reply)
{
    uint8_t frame[1024];
    size_t len = parcours__v1__deliver_reply__get_packed_size(reply);
    assert_true(len <= sizeof(frame));
    parcours__v1__deliver_reply__pack(reply, frame);
    assert_true(zmq_send(f->router, f->identity, f->identity_len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f->router, frame, len, 0) >= 0);
}

static void fake_subscribed_stream(fake_t *f, uint64_t from, uint64_t cursor, uint64_t stream_id)
{
    Parcours__V1__Subscribed s = PARCOURS__V1__SUBSCRIBED__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    s.partner_id = "ft93";
    s.from = from;
    s.cursor = cursor;
    s.stream_id = stream_id;
    s.window = 100;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_SUBSCRIBED;
    reply.subscribed = &s;
    fake_send(f, &reply);
}

static void fake_subscribed(fake_t *f, uint64_t from)
{
    fake_subscribed_stream(f, from, from > 0 ? from - 1 : 0, 77);
}

static void fake_notification(fake_t *f, uint64_t partner_seq)
{
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    Parcours__V1__AppointmentRecorded a = PARCOURS__V1__APPOINTMENT_RECORDED__INIT;
    Parcours__V1__Notification n = PARCOURS__V1__NOTIFICATION__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    e.event_id = "e";
    e.partner_id = "cd93";
    e.beneficiary_id = "B-SUB-0001";
    e.occurred_at = 1795000000000;
    e.payload_case = PARCOURS__V1__EVENT__PAYLOAD_APPOINTMENT_RECORDED;
    e.appointment_recorded = &a;
    n.partner_seq = partner_seq;
    n.seq = 1000 + partner_seq;
    n.event = &e;
    n.committed_at = 1795000000001;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_NOTIFICATION;
    reply.notification = &n;
    fake_send(f, &reply);
}

static void fake_heartbeat(fake_t *f)
{
    Parcours__V1__Heartbeat h = PARCOURS__V1__HEARTBEAT__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT;
    reply.heartbeat = &h;
    fake_send(f, &reply);
}

static void fake_error(fake_t *f, Parcours__V1__ErrorCode code, const char *message)
{
    Parcours__V1__DeliverError e = PARCOURS__V1__DELIVER_ERROR__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    e.code = code;
    e.message = (char *)message;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_ERROR;
    reply.error = &e;
    fake_send(f, &reply);
}

/* Polls until the callback has been handed `count` notifications in all. */
static void fake_wait_seen(fake_t *f, size_t count)
{
    int64_t until = now_ms() + WAIT_MS;
    while (f->n_seen < count && now_ms() < until)
        assert_true(parcours_subscription_poll(f->sub, 20, record, f) >= 0);
    assert_int_equal(f->n_seen, count);
}

static void assert_seen(const fake_t *f, const uint64_t *expected, size_t n)
{
    assert_int_equal(f->n_seen, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(f->seen[i], expected[i]);
}

/* ------------------------------------------------------------------------------------------ */

static void test_subscription_arguments(void **state)
{
    (void)state;
    parcours_subscription_t *sub = (parcours_subscription_t *)1;
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "bad id!", NULL, &sub),
                     PARCOURS_EINVAL);
    assert_null(sub);
    assert_int_equal(parcours_subscription_new("nonsense://x", "ft93", NULL, &sub),
                     PARCOURS_EENDPOINT);
    parcours_subscription_options_t o = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    o.window = PARCOURS_SUBSCRIPTION_WINDOW_MAX + 1;
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ft93", &o, &sub),
                     PARCOURS_EINVAL);
    o.window = 0;
    o.n_types = 1; /* and types NULL */
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ft93", &o, &sub),
                     PARCOURS_EINVAL);
    o.n_types = 0;
    o.ack_mode = (parcours_ack_mode_t)7;
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ft93", &o, &sub),
                     PARCOURS_EINVAL);

    /* Nobody listens: polls time out, nothing is answered, nothing can be acknowledged. */
    assert_int_equal(parcours_subscription_new("tcp://127.0.0.1:1", "ft93", NULL, &sub),
                     PARCOURS_OK);
    int64_t start = now_ms();
    assert_int_equal(parcours_subscription_poll(sub, 50, record, NULL), 0);
    assert_true(now_ms() - start < 2000);
    assert_null(parcours_subscription_subscribed(sub));
    assert_int_equal(parcours_subscription_last(sub), 0);
    assert_int_equal(parcours_subscription_ack(sub, 1), PARCOURS_EINVAL);
    assert_int_equal(parcours_subscription_poll(sub, 0, NULL, NULL), PARCOURS_EINVAL);
    int code = -1;
    assert_string_equal(parcours_subscription_error(sub, &code), "");
    assert_int_equal(code, 0);
    parcours_subscription_destroy(&sub);
    assert_null(sub);
    parcours_subscription_destroy(NULL);
    assert_int_equal(parcours_subscription_last(NULL), 0);
    assert_non_null(parcours_strerror(PARCOURS_EREFUSED));
}

static void test_subscription_stream(void **state)
{
    fake_t *f = *state;
    parcours_subscription_options_t o = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    Parcours__V1__EventType types[] = {PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_APPOINTMENT_RECORDED};
    o.types = types;
    o.n_types = 1;
    assert_int_equal(parcours_subscription_new(f->endpoint, "ft93", &o, &f->sub), PARCOURS_OK);

    /* The handshake sends the Subscribe, with the options. */
    Parcours__V1__DeliverRequest *r = fake_expect(f);
    assert_int_equal(r->kind_case, PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE);
    assert_int_equal(r->subscribe->from, 0);
    assert_int_equal(r->subscribe->window, 100);
    assert_int_equal(r->subscribe->n_types, 1);
    assert_int_equal(r->subscribe->types[0], types[0]);
    parcours__v1__deliver_request__free_unpacked(r, NULL);

    /* Each new one is handed once and acknowledged; a redelivery is dropped (and, having been
     * acknowledged, acknowledged again). */
    fake_subscribed(f, 1);
    fake_notification(f, 1);
    fake_notification(f, 2);
    fake_notification(f, 2);
    fake_notification(f, 3);
    fake_expect_ack(f, 1);
    fake_expect_ack(f, 2);
    fake_expect_ack(f, 2);
    fake_expect_ack(f, 3);
    assert_seen(f, (const uint64_t[]){1, 2, 3}, 3);
    assert_int_equal(parcours_subscription_last(f->sub), 3);

    /* A Heartbeat (the daemon checking the connection) is neither handed nor answered. */
    fake_heartbeat(f);
    fake_expect_nothing(f);
    assert_seen(f, (const uint64_t[]){1, 2, 3}, 3);
    assert_non_null(parcours_subscription_subscribed(f->sub));
    assert_int_equal(parcours_subscription_subscribed(f->sub)->from, 1);

    /* An acknowledgement crossed a restart: subscribe again, after the cursor. */
    fake_error(f, PARCOURS__V1__ERROR_CODE__ERROR_CODE_NOT_SUBSCRIBED, "send Subscribe again");
    fake_expect_subscribe(f, 0);

    /* The daemon would start beyond what the callback saw: ask from the next one. Meanwhile,
     * what it sends is dropped. */
    fake_subscribed(f, 10);
    fake_notification(f, 10);
    fake_expect_subscribe(f, 4);
    fake_subscribed(f, 4);
    fake_notification(f, 4);
    fake_expect_ack(f, 4);
    assert_seen(f, (const uint64_t[]){1, 2, 3, 4}, 4);

    /* The callback refuses 5: not acknowledged, asked for again, and what follows is dropped
     * until the new subscription answers. */
    f->refuse = 5;
    fake_notification(f, 5);
    fake_notification(f, 6);
    fake_expect_subscribe(f, 5);
    fake_subscribed(f, 5);
    fake_notification(f, 5);
    fake_notification(f, 6);
    fake_expect_ack(f, 5);
    fake_expect_ack(f, 6);
    assert_seen(f, (const uint64_t[]){1, 2, 3, 4, 5, 6}, 6);

    /* The daemon goes away and comes back: the new connection is subscribed, after the
     * cursor; redeliveries are dropped and acknowledged again, the stream goes on. */
    zmq_close(f->router);
    fake_bind(f);
    fake_expect_subscribe(f, 0);
    fake_subscribed(f, 5);
    fake_notification(f, 5);
    fake_notification(f, 6);
    fake_notification(f, 7);
    fake_expect_ack(f, 5);
    fake_expect_ack(f, 6);
    fake_expect_ack(f, 7);
    assert_seen(f, (const uint64_t[]){1, 2, 3, 4, 5, 6, 7}, 7);
    fake_expect_nothing(f);
}

/* A daemon restored from a backup answers with another stream_id and a cursor behind what the
 * callback saw: the stream is handed again from there, not dropped as seen. */
static void test_subscription_restored_daemon(void **state)
{
    fake_t *f = *state;
    assert_int_equal(parcours_subscription_new(f->endpoint, "ft93", NULL, &f->sub), PARCOURS_OK);
    fake_expect_subscribe(f, 0);
    fake_subscribed(f, 1);
    for (uint64_t i = 1; i <= 6; i++)
        fake_notification(f, i);
    for (uint64_t i = 1; i <= 6; i++)
        fake_expect_ack(f, i);

    /* The same daemon restarted: same stream, cursor at 4 (timer-flushed); 5 and 6 come again
     * and are dropped as seen. */
    zmq_close(f->router);
    fake_bind(f);
    fake_expect_subscribe(f, 0);
    fake_subscribed_stream(f, 5, 4, 77);
    fake_notification(f, 5);
    fake_notification(f, 6);
    fake_expect_ack(f, 5);
    fake_expect_ack(f, 6);
    assert_seen(f, (const uint64_t[]){1, 2, 3, 4, 5, 6}, 6);

    /* Restored from a copy taken at cursor 3: a new stream, from 4 on. 4, 5, 6 are handed again
     * (they may be other notifications now), and 7 follows. */
    zmq_close(f->router);
    fake_bind(f);
    fake_expect_subscribe(f, 0);
    fake_subscribed_stream(f, 4, 3, 78);
    for (uint64_t i = 4; i <= 7; i++)
        fake_notification(f, i);
    for (uint64_t i = 4; i <= 7; i++)
        fake_expect_ack(f, i);
    assert_seen(f, (const uint64_t[]){1, 2, 3, 4, 5, 6, 4, 5, 6, 7}, 10);
    assert_int_equal(parcours_subscription_subscribed(f->sub)->stream_id, 78);
    fake_expect_nothing(f);
}

static void test_subscription_refused(void **state)
{
    fake_t *f = *state;
    parcours_subscription_options_t o = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    o.from = 7;
    assert_int_equal(parcours_subscription_new(f->endpoint, "ft93", &o, &f->sub), PARCOURS_OK);
    fake_expect_subscribe(f, 7);
    fake_error(f, PARCOURS__V1__ERROR_CODE__ERROR_CODE_NOT_AUTHORISED,
               "Partner ft93 is not in this territory's partners file.");
    int rc = 0;
    int64_t until = now_ms() + WAIT_MS;
    while (rc == 0 && now_ms() < until)
        rc = parcours_subscription_poll(f->sub, 20, record, f);
    assert_int_equal(rc, PARCOURS_EREFUSED);
    int code = 0;
    assert_string_equal(parcours_subscription_error(f->sub, &code),
                        "Partner ft93 is not in this territory's partners file.");
    assert_int_equal(code, PARCOURS__V1__ERROR_CODE__ERROR_CODE_NOT_AUTHORISED);
    assert_int_equal(parcours_subscription_poll(f->sub, 0, record, f), PARCOURS_EREFUSED);
}

static void test_subscription_manual_and_never(void **state)
{
    fake_t *f = *state;
    parcours_subscription_options_t o = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    o.ack_mode = PARCOURS_ACK_MANUAL;
    assert_int_equal(parcours_subscription_new(f->endpoint, "ft93", &o, &f->sub), PARCOURS_OK);
    fake_expect_subscribe(f, 0);
    fake_subscribed(f, 1);
    fake_notification(f, 1);
    fake_notification(f, 2);
    fake_wait_seen(f, 2);
    fake_expect_nothing(f); /* no acknowledgement by itself */
    assert_int_equal(parcours_subscription_ack(f->sub, 3), PARCOURS_EINVAL);
    assert_int_equal(parcours_subscription_ack(f->sub, 2), PARCOURS_OK);
    fake_expect_ack(f, 2);
    parcours_subscription_destroy(&f->sub);

    /* Never acknowledging, with a window of 2: after 2, a new subscription from the next. */
    o.ack_mode = PARCOURS_ACK_NEVER;
    o.window = 2;
    o.from = 1;
    f->n_seen = 0;
    assert_int_equal(parcours_subscription_new(f->endpoint, "ft93", &o, &f->sub), PARCOURS_OK);
    fake_expect_subscribe(f, 1);
    fake_subscribed(f, 1);
    fake_notification(f, 1);
    fake_notification(f, 2);
    fake_expect_subscribe(f, 3);
    fake_subscribed(f, 3);
    fake_notification(f, 3);
    fake_wait_seen(f, 3);
    assert_seen(f, (const uint64_t[]){1, 2, 3}, 3);
    assert_int_equal(parcours_subscription_ack(f->sub, 3), PARCOURS_EINVAL);
    fake_expect_nothing(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscription_arguments),
        cmocka_unit_test_setup_teardown(test_subscription_stream, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_subscription_restored_daemon, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_subscription_refused, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_subscription_manual_and_never, fake_setup,
                                        fake_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
