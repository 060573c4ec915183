/*
 * subscription.c: libparcours, the client side of the deliver endpoint (see parcours.h).
 *
 * A subscription is a DEALER socket on the daemon's deliver endpoint, plus a PAIR socket that
 * reads the DEALER's monitor. The monitor reports every completed handshake, which is the only
 * reliable sign that a new connection exists (the first one, or one remade after a daemon
 * restart or a network cut), and a new connection has no subscription on the daemon's side: so
 * each handshake sends a Subscribe. The daemon answers a DeliveryAck on a connection without
 * one with NOT_SUBSCRIBED (an ack that crossed a restart); that too sends a Subscribe.
 *
 * Positions. `last` is the last partner_seq handed to the callback: anything at or below it is
 * a redelivery and is dropped. `acked` is the highest acknowledgement asked for. A Subscribe
 * other than the first asks for from = 0, "after the durable cursor"; the daemon's cursor may
 * lag behind `acked` (cursors are written on a timer, and a restart loses the latest), so
 * redeliveries at or below `acked` are acknowledged again as they come: that moves the cursor
 * back to where it was and frees the daemon's window. Should the answer start beyond last + 1
 * (a replay with `from` while the cursor was further, or another connection of the partner
 * acknowledging ahead), the stream is asked again from last + 1, so that the callback never
 * sees a gap.
 *
 * A partner_seq names one notification within one stream_id only: when a Subscribed brings a
 * new stream_id (the daemon's store was restored from a backup), `last` goes back to the
 * restored cursor, so that the stream is handed again from there rather than dropped as seen.
 *
 * Without acknowledgements (PARCOURS_ACK_NEVER), the daemon's window fills and never empties:
 * once it has sent `window` notifications, the library subscribes again from last + 1, which
 * opens a fresh window and leaves the cursor alone.
 *
 * Between a Subscribe and its Subscribed answer, notifications are dropped: they belong to a
 * subscription being replaced, and the new one sends them again. For the same reason no
 * acknowledgement is sent then, and those sent are never above what the current subscription
 * has sent (the daemon refuses those): what they leave out is acknowledged when it comes again.
 */
#include "parcours.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "identifier.h"

#define DEFAULT_WINDOW       100
#define MAX_TYPES            64
#define MAX_REQUEST          1024               /* the daemon refuses larger DeliverRequests */
#define MAX_REPLY_FRAME      (16 * 1024 * 1024) /* a notification is a few kB: refuse absurd ones */
#define FRAMES_PER_POLL      1024               /* then poll returns, so its caller keeps control */
#define SUBSCRIBE_RETRY_MS   100
#define HEARTBEAT_IVL_MS     5000
#define HEARTBEAT_TIMEOUT_MS 15000
#define CLOSE_LINGER_MS      250
/* Each subscription has its own ZeroMQ context, so one inproc name serves them all. */
#define MONITOR_ENDPOINT "inproc://parcours-subscription-monitor"

/* What handling a frame asks of the poll loop, besides the negative PARCOURS_E* codes. */
#define HANDLED_GO_ON 0
#define HANDLED_STOP  1 /* the callback returned non-zero */

struct parcours_subscription {
    void *context;
    void *socket;  /* DEALER on the deliver endpoint */
    void *monitor; /* PAIR reading the DEALER's handshake events */
    bool monitoring;
    int handshakes_failed; /* in a row, since the last that succeeded (parcours_handshake_read) */
    char partner_id[PARCOURS_ID_MAX + 1];
    Parcours__V1__EventType *types;
    size_t n_types;
    uint32_t window;
    parcours_ack_mode_t ack_mode;
    uint64_t first_from; /* options.from: asked for until a subscription is answered */
    uint64_t last;       /* the last partner_seq handed to the callback */
    uint64_t acked;      /* the highest acknowledgement asked for */
    uint64_t sent_max;   /* the highest partner_seq the current subscription has sent */
    uint32_t received;   /* notifications the current subscription has sent */
    bool answered;       /* a Subscribed came at least once */
    bool awaiting;       /* a Subscribe is out (or due) and its Subscribed has not come */
    bool subscribe_due;  /* a Subscribe the socket could not take yet */
    uint64_t subscribe_from;
    Parcours__V1__DeliverReply *subscribed; /* the last Subscribed answer */
    uint64_t stream_id;                     /* of the streams the positions above belong to */
    bool refused;
    int error_code;
    char error[PARCOURS_MESSAGE_MAX];
};

/* ------------------------------------------------------------------------------------------ */
/* Requests. */

/* Sends one DeliverRequest. Returns 0, 1 when the socket cannot take it now, or ESOCKET. */
static int subscription_send(parcours_subscription_t *sub,
                             const Parcours__V1__DeliverRequest *request)
{
    uint8_t frame[MAX_REQUEST];
    size_t len = parcours__v1__deliver_request__get_packed_size(request);
    if (len > sizeof(frame))
        return PARCOURS_EINVAL; /* cannot happen: ids and types are bounded */
    parcours__v1__deliver_request__pack(request, frame);
    if (zmq_send(sub->socket, frame, len, ZMQ_DONTWAIT) < 0)
        return (errno == EAGAIN || errno == EINTR) ? 1 : PARCOURS_ESOCKET;
    return PARCOURS_OK;
}

/* Sends the Subscribe that is due, if the socket takes it. */
static int subscription_flush_subscribe(parcours_subscription_t *sub)
{
    if (!sub->subscribe_due)
        return PARCOURS_OK;
    Parcours__V1__Subscribe subscribe = PARCOURS__V1__SUBSCRIBE__INIT;
    Parcours__V1__DeliverRequest request = PARCOURS__V1__DELIVER_REQUEST__INIT;
    subscribe.partner_id = sub->partner_id;
    subscribe.from = sub->subscribe_from;
    subscribe.types = sub->types;
    subscribe.n_types = sub->n_types;
    subscribe.window = sub->window;
    request.kind_case = PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE;
    request.subscribe = &subscribe;
    int rc = subscription_send(sub, &request);
    if (rc == PARCOURS_OK)
        sub->subscribe_due = false;
    return rc < 0 ? rc : PARCOURS_OK;
}

/* Subscribes this connection, from a given partner_seq (0: after the durable cursor). */
static int subscription_subscribe(parcours_subscription_t *sub, uint64_t from)
{
    sub->awaiting = true;
    sub->subscribe_due = true;
    sub->subscribe_from = from;
    return subscription_flush_subscribe(sub);
}

/* The next partner_seq the callback should see; 0 when that is "after the durable cursor". */
static uint64_t subscription_wanted(const parcours_subscription_t *sub)
{
    return sub->last > 0 ? sub->last + 1 : sub->first_from;
}

/* Subscribes again after a new connection or a NOT_SUBSCRIBED: from the options' `from` while
 * nothing has been answered yet, then after the durable cursor; without acknowledgements, the
 * cursor means nothing: from where the callback stands. */
static int subscription_resubscribe(parcours_subscription_t *sub)
{
    if (!sub->answered || sub->ack_mode == PARCOURS_ACK_NEVER)
        return subscription_subscribe(sub, subscription_wanted(sub));
    return subscription_subscribe(sub, 0);
}

/* Asks for an acknowledgement up to up_to, and sends what the daemon can accept of it now. A
 * frame the socket cannot take is dropped: acknowledgements are cumulative. */
static int subscription_send_ack(parcours_subscription_t *sub, uint64_t up_to)
{
    if (up_to > sub->acked)
        sub->acked = up_to;
    if (sub->awaiting)
        return PARCOURS_OK;
    if (up_to > sub->sent_max)
        up_to = sub->sent_max;
    if (up_to == 0)
        return PARCOURS_OK;
    Parcours__V1__DeliveryAck ack = PARCOURS__V1__DELIVERY_ACK__INIT;
    Parcours__V1__DeliverRequest request = PARCOURS__V1__DELIVER_REQUEST__INIT;
    ack.up_to = up_to;
    request.kind_case = PARCOURS__V1__DELIVER_REQUEST__KIND_ACK;
    request.ack = &ack;
    int rc = subscription_send(sub, &request);
    return rc < 0 ? rc : PARCOURS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Replies. */

static int subscription_on_subscribed(parcours_subscription_t *sub,
                                      Parcours__V1__DeliverReply *reply)
{
    parcours__v1__deliver_reply__free_unpacked(sub->subscribed, NULL);
    sub->subscribed = reply; /* kept for parcours_subscription_subscribed() */
    sub->answered = true;
    sub->awaiting = sub->subscribe_due; /* still awaiting if another Subscribe is due */
    uint64_t from = reply->subscribed->from;
    sub->sent_max = from > 0 ? from - 1 : 0; /* the daemon accepts acks below its start */
    sub->received = 0;
    uint64_t stream_id = reply->subscribed->stream_id;
    if (sub->stream_id != 0 && stream_id != sub->stream_id) {
        /* The daemon's store was restored from a backup: its stream numbers again from where
         * the copy stood, and the partner_seqs handed past that point may now name other
         * notifications. The stream is taken anew after the restored cursor: what comes after
         * it is handed again (at least once), and nothing is dropped as seen. */
        if (sub->last > reply->subscribed->cursor)
            sub->last = reply->subscribed->cursor;
        if (sub->acked > sub->last)
            sub->acked = sub->last;
    }
    sub->stream_id = stream_id;
    uint64_t wanted = subscription_wanted(sub);
    if (wanted > 0 && from > wanted)
        return subscription_subscribe(sub, wanted); /* it would leave a gap: ask for the rest */
    return PARCOURS_OK;
}

static int subscription_on_notification(parcours_subscription_t *sub,
                                        const Parcours__V1__Notification *n,
                                        parcours_notification_fn fn, void *ctx, int *handed)
{
    if (sub->awaiting)
        return HANDLED_GO_ON; /* from a subscription being replaced: it comes again */
    if (n->partner_seq > sub->sent_max)
        sub->sent_max = n->partner_seq;
    sub->received++;
    int rc = HANDLED_GO_ON;
    if (n->partner_seq <= sub->last) {
        /* A redelivery. If it was acknowledged before, the daemon lost that acknowledgement
         * (a restart): say it again, which moves the cursor back and frees the window. */
        if (n->partner_seq <= sub->acked)
            rc = subscription_send_ack(sub, n->partner_seq);
    } else if (fn(n, ctx) != 0) {
        /* Not dealt with: ask the daemon for it again, and drop what follows it meanwhile. */
        rc = subscription_subscribe(sub, n->partner_seq);
        return rc < 0 ? rc : HANDLED_STOP;
    } else {
        sub->last = n->partner_seq;
        (*handed)++;
        if (sub->ack_mode == PARCOURS_ACK_AUTO)
            rc = subscription_send_ack(sub, n->partner_seq);
    }
    /* Never acknowledging, the window fills and the daemon stops: a new subscription from the
     * next one has an empty window, and leaves the cursor where it is. */
    if (rc == HANDLED_GO_ON && sub->ack_mode == PARCOURS_ACK_NEVER && sub->received >= sub->window)
        rc = subscription_subscribe(sub, sub->last + 1);
    return rc;
}

static int subscription_on_error(parcours_subscription_t *sub, const Parcours__V1__DeliverError *e)
{
    if (e->code == PARCOURS__V1__ERROR_CODE__ERROR_CODE_NOT_SUBSCRIBED) {
        /* An acknowledgement reached a connection with no subscription (the daemon restarted).
         * If a Subscribe is already out, it was sent after that acknowledgement: wait for it. */
        return sub->awaiting ? PARCOURS_OK : subscription_resubscribe(sub);
    }
    if (e->code == PARCOURS__V1__ERROR_CODE__ERROR_CODE_MALFORMED && sub->answered &&
        !sub->awaiting) {
        /* With no Subscribe out, this can only be about an acknowledgement, which this library
         * keeps within what was sent; should one still be refused, subscribing again puts both
         * sides back in step rather than ending a working stream. */
        return subscription_resubscribe(sub);
    }
    sub->refused = true;
    sub->error_code = (int)e->code;
    snprintf(sub->error, sizeof(sub->error), "%s",
             e->message != NULL && e->message[0] != '\0' ? e->message
                                                         : "the daemon refused the subscription");
    return PARCOURS_EREFUSED;
}

/* Handles one reply; takes ownership of it. */
static int subscription_on_reply(parcours_subscription_t *sub, Parcours__V1__DeliverReply *reply,
                                 parcours_notification_fn fn, void *ctx, int *handed)
{
    int rc = HANDLED_GO_ON;
    switch (reply->kind_case) {
    case PARCOURS__V1__DELIVER_REPLY__KIND_SUBSCRIBED:
        if (reply->subscribed == NULL)
            break;
        return subscription_on_subscribed(sub, reply);
    case PARCOURS__V1__DELIVER_REPLY__KIND_NOTIFICATION:
        if (reply->notification != NULL)
            rc = subscription_on_notification(sub, reply->notification, fn, ctx, handed);
        break;
    case PARCOURS__V1__DELIVER_REPLY__KIND_ERROR:
        if (reply->error != NULL)
            rc = subscription_on_error(sub, reply->error);
        break;
    case PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT:
        break; /* the daemon checking that the connection is still there */
    default:
        break; /* a kind newer than this library: nothing it could do with it */
    }
    parcours__v1__deliver_reply__free_unpacked(reply, NULL);
    return rc;
}

/* Reads the frames waiting on the DEALER (FRAMES_PER_POLL at most). */
static int subscription_receive(parcours_subscription_t *sub, parcours_notification_fn fn,
                                void *ctx, int *handed)
{
    for (int frames = 0; frames < FRAMES_PER_POLL; frames++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sub->socket, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            return (e == EAGAIN || e == EINTR) ? PARCOURS_OK : PARCOURS_ESOCKET;
        }
        bool more = zmq_msg_more(&msg);
        Parcours__V1__DeliverReply *reply =
            more
                ? NULL
                : parcours__v1__deliver_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        while (more) { /* the daemon sends one frame per reply: skip the rest of this one */
            zmq_msg_init(&msg);
            more = zmq_msg_recv(&msg, sub->socket, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&msg);
            zmq_msg_close(&msg);
        }
        if (reply == NULL)
            return PARCOURS_EPROTOCOL;
        int rc = subscription_on_reply(sub, reply, fn, ctx, handed);
        if (rc != HANDLED_GO_ON)
            return rc;
    }
    return PARCOURS_OK;
}

/* Reads the monitor's events (two frames each: 16-bit event and 32-bit value, then the
 * endpoint) and subscribes each connection whose handshake completed. */
static int subscription_read_monitor(parcours_subscription_t *sub)
{
    int succeeded = 0;
    int rc = parcours_handshake_read(sub->monitor, &sub->handshakes_failed, &succeeded);
    /* A new connection (or several since the last look): its Subscribe goes out first, even
     * when a failure came after it in the same look (a caller that polls again then finds
     * the connection subscribed). */
    if (succeeded > 0) {
        int src = subscription_resubscribe(sub);
        if (rc == PARCOURS_OK)
            rc = src;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Subscription. */

int parcours_subscription_new(const char *endpoint, const char *partner_id,
                              const parcours_subscription_options_t *opts,
                              parcours_subscription_t **out)
{
    if (out == NULL)
        return PARCOURS_EINVAL;
    *out = NULL;
    parcours_subscription_options_t o = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    if (opts != NULL)
        o = *opts;
    if (endpoint == NULL || !identifier_valid(partner_id) || o.window < 0 ||
        o.window > PARCOURS_SUBSCRIPTION_WINDOW_MAX || o.n_types > MAX_TYPES ||
        (int)o.ack_mode < (int)PARCOURS_ACK_AUTO || (int)o.ack_mode > (int)PARCOURS_ACK_NEVER ||
        (o.n_types > 0 && o.types == NULL) ||
        (o.curve_secret_key == NULL) != (o.curve_server_key == NULL))
        return PARCOURS_EINVAL;

    parcours_subscription_t *sub = calloc(1, sizeof(*sub));
    if (sub == NULL)
        return PARCOURS_ENOMEM;
    snprintf(sub->partner_id, sizeof(sub->partner_id), "%s", partner_id);
    sub->window = o.window > 0 ? (uint32_t)o.window : DEFAULT_WINDOW;
    sub->ack_mode = o.ack_mode;
    sub->first_from = o.from;
    if (o.n_types > 0) {
        sub->types = malloc(o.n_types * sizeof(*sub->types));
        if (sub->types == NULL) {
            parcours_subscription_destroy(&sub);
            return PARCOURS_ENOMEM;
        }
        memcpy(sub->types, o.types, o.n_types * sizeof(*sub->types));
        sub->n_types = o.n_types;
    }

    /* One context per subscription keeps them independent (no global state to tear down). */
    sub->context = zmq_ctx_new();
    sub->socket = sub->context != NULL ? zmq_socket(sub->context, ZMQ_DEALER) : NULL;
    sub->monitor = sub->context != NULL ? zmq_socket(sub->context, ZMQ_PAIR) : NULL;
    if (sub->socket == NULL || sub->monitor == NULL) {
        parcours_subscription_destroy(&sub);
        return PARCOURS_ESOCKET;
    }
    /* Linger 0: closing never waits for a dead daemon. A receive high-water mark above the
     * window: the daemon never has more in flight. Heartbeats: a connection that went silent
     * (a network cut without a reset) is closed and remade, and the TTL lets the daemon drop
     * its end too. */
    int linger = 0, hwm = (int)sub->window + 64;
    int ivl = HEARTBEAT_IVL_MS, heartbeat_timeout = HEARTBEAT_TIMEOUT_MS;
    int64_t max_msg = MAX_REPLY_FRAME;
    if (zmq_setsockopt(sub->socket, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(sub->monitor, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(sub->socket, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(sub->socket, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0 ||
        zmq_setsockopt(sub->socket, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) != 0 ||
        zmq_setsockopt(sub->socket, ZMQ_HEARTBEAT_TIMEOUT, &heartbeat_timeout,
                       sizeof(heartbeat_timeout)) != 0 ||
        zmq_setsockopt(sub->socket, ZMQ_HEARTBEAT_TTL, &heartbeat_timeout,
                       sizeof(heartbeat_timeout)) != 0) {
        parcours_subscription_destroy(&sub);
        return PARCOURS_ESOCKET;
    }
    int rc = parcours_curve_client(sub->socket, o.curve_secret_key, o.curve_server_key);
    if (rc != PARCOURS_OK) {
        parcours_subscription_destroy(&sub);
        return rc;
    }
    /* The monitor is read before the DEALER connects, so that no handshake goes unseen. */
    if (zmq_socket_monitor(sub->socket, MONITOR_ENDPOINT, PARCOURS_HANDSHAKE_EVENTS) != 0) {
        parcours_subscription_destroy(&sub);
        return PARCOURS_ESOCKET;
    }
    sub->monitoring = true;
    if (zmq_connect(sub->monitor, MONITOR_ENDPOINT) != 0) {
        parcours_subscription_destroy(&sub);
        return PARCOURS_ESOCKET;
    }
    if (zmq_connect(sub->socket, endpoint) != 0) {
        parcours_subscription_destroy(&sub);
        return PARCOURS_EENDPOINT;
    }
    *out = sub;
    return PARCOURS_OK;
}

void parcours_subscription_destroy(parcours_subscription_t **subscription)
{
    if (subscription == NULL || *subscription == NULL)
        return;
    parcours_subscription_t *sub = *subscription;
    if (sub->monitoring)
        zmq_socket_monitor(sub->socket, NULL, 0);
    if (sub->monitor != NULL)
        zmq_close(sub->monitor);
    if (sub->socket != NULL) {
        /* The last acknowledgements were likely handed to the socket just before: give them a
         * moment to leave, or they come again to the next subscription. */
        int linger = CLOSE_LINGER_MS;
        zmq_setsockopt(sub->socket, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_close(sub->socket);
    }
    if (sub->context != NULL)
        zmq_ctx_term(sub->context);
    parcours__v1__deliver_reply__free_unpacked(sub->subscribed, NULL);
    free(sub->types);
    free(sub);
    *subscription = NULL;
}

int parcours_subscription_poll(parcours_subscription_t *sub, int timeout_ms,
                               parcours_notification_fn fn, void *ctx)
{
    if (sub == NULL || fn == NULL)
        return PARCOURS_EINVAL;
    if (sub->refused)
        return PARCOURS_EREFUSED;
    int64_t until = timeout_ms < 0 ? INT64_MAX : clock_monotonic_ms() + timeout_ms;
    int handed = 0;
    for (;;) {
        /* The monitor first: a new connection's Subscribe goes out before anything else. */
        int rc = subscription_read_monitor(sub);
        if (rc == PARCOURS_OK)
            rc = subscription_flush_subscribe(sub);
        if (rc == PARCOURS_OK)
            rc = subscription_receive(sub, fn, ctx, &handed);
        if (rc < 0)
            return rc;
        if (rc == HANDLED_STOP || handed > 0)
            return handed;
        int64_t now = clock_monotonic_ms();
        if (now >= until)
            return 0;

        long wait = until == INT64_MAX ? -1 : (long)(until - now);
        zmq_pollitem_t items[2] = {{.socket = sub->socket, .events = ZMQ_POLLIN},
                                   {.socket = sub->monitor, .events = ZMQ_POLLIN}};
        if (sub->subscribe_due && (wait < 0 || wait > SUBSCRIBE_RETRY_MS))
            wait = SUBSCRIBE_RETRY_MS; /* a Subscribe waits for room: try again soon */
        if (zmq_poll(items, 2, wait) < 0)
            return errno == EINTR ? 0 : PARCOURS_ESOCKET;
    }
}

int parcours_subscription_ack(parcours_subscription_t *sub, uint64_t up_to)
{
    if (sub == NULL || up_to > sub->last || sub->ack_mode == PARCOURS_ACK_NEVER)
        return PARCOURS_EINVAL;
    return subscription_send_ack(sub, up_to);
}

uint64_t parcours_subscription_last(const parcours_subscription_t *sub)
{
    return sub != NULL ? sub->last : 0;
}

const Parcours__V1__Subscribed *parcours_subscription_subscribed(const parcours_subscription_t *sub)
{
    return sub != NULL && sub->subscribed != NULL ? sub->subscribed->subscribed : NULL;
}

const char *parcours_subscription_error(const parcours_subscription_t *sub, int *code)
{
    if (code != NULL)
        *code = sub != NULL ? sub->error_code : 0;
    return sub != NULL ? sub->error : "";
}
