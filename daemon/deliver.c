/* deliver.c: the partners' notification streams, read from their outboxes. */
#include "deliver.h"

#include "audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_frame.h"
#include "clock.h"
#include "cursors.h"
#include "delivery_cache.h"
#include "log.h"
#include "notification.h"
#include "pathway.h"
#include "wire.h"
#include "wire_names.h"
#include "router.h"
#include "zap.h"

#define DELIVER_REQUEST_MAX     1024 /* a DeliverRequest is a few dozen bytes */
#define DELIVER_SUBSCRIBERS_MAX 1024
#define DELIVER_PER_PARTNER_MAX 8    /* connections of one partner kept; the oldest goes first */
#define DELIVER_SCAN_MAX        1000 /* outbox entries looked at per subscriber and pass */

/* One subscribed connection. */
typedef struct subscriber {
    uint8_t identity[ROUTER_IDENTITY_MAX];
    size_t identity_len;
    char partner_id[PARTNERS_ID_MAX + 1];
    char user[PARTNERS_ID_MAX + 1]; /* the partner its key authenticated, "" without CURVE */
    uint32_t types;                 /* PARTNERS_EMIT_BIT of each type wanted; 0 = all */
    uint32_t window;
    uint64_t next;       /* the next partner_seq to look at */
    uint64_t *in_flight; /* ring of the partner_seqs sent and not yet acknowledged */
    uint32_t head;
    uint32_t count;
    uint64_t serial;      /* order of subscription, to evict the oldest */
    int64_t last_sent_ms; /* CLOCK_MONOTONIC of the last frame sent to it */
} subscriber_t;

/* What the loop asks of the delivery thread, one at a time, waiting for it to be done. */
typedef enum deliver_command {
    DELIVER_COMMAND_NONE,
    DELIVER_COMMAND_SET_PARTNERS,
    DELIVER_COMMAND_REBIND,
    DELIVER_COMMAND_STOP,
} deliver_command_t;

struct deliver {
    /* The delivery thread's own loop: the socket, the pumps and the heartbeats run there, so
     * that reading outboxes and sending notifications never holds up ingest (deliver.h). */
    struct event_base *base;
    pthread_t thread;
    bool running;
    /* Held by the delivery thread while it adds or removes a subscriber, and by the loop while
     * it counts them (deliver_subscribers): the only part of the table the loop reads. */
    pthread_mutex_t subs_lock;
    /* A command from the loop: set under command_lock, run by command_event on the thread,
     * which sets it back to NONE and signals command_done. */
    pthread_mutex_t command_lock;
    pthread_cond_t command_done;
    deliver_command_t command;
    const partners_t *command_partners;
    struct event *command_event;
    router_t *router;
    struct audit *audit;
    store_t *store;
    uint64_t stream_id; /* the store's, fixed while it is open */
    const partners_t *partners;
    subscriber_t *subs;
    size_t n_subs;
    uint64_t serial;
    cursors_t *cursors;        /* each partner's acknowledged position */
    struct event *flush_timer; /* on the daemon's loop, which writes the store */
    struct event *heartbeat_timer;
    int64_t heartbeat_ms;
    struct event *pump_event; /* another pass, when a scan stopped at DELIVER_SCAN_MAX */
    delivery_cache_t *cache;  /* the events sent, read once for every subscriber */
};

/* --- Cursors ---------------------------------------------------------------------------------- */

int deliver_flush(deliver_t *d)
{
    int rc = cursors_write(d->cursors);
    if (rc != STORE_OK && rc != STORE_EPANIC) /* an unusable store is said once, by the daemon */
        log_warning("deliver: cursors not written (%s); they will be retried", store_strerror(rc));
    return rc;
}

static void deliver_on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_flush(arg);
}

/* --- Subscribers ------------------------------------------------------------------------------ */

static subscriber_t *subscriber_find(deliver_t *d, const uint8_t *identity, size_t len)
{
    for (size_t i = 0; i < d->n_subs; i++)
        if (d->subs[i].identity_len == len && memcmp(d->subs[i].identity, identity, len) == 0)
            return &d->subs[i];
    return NULL;
}

static void subscriber_remove(deliver_t *d, subscriber_t *s)
{
    free(s->in_flight);
    pthread_mutex_lock(&d->subs_lock);
    *s = d->subs[--d->n_subs];
    pthread_mutex_unlock(&d->subs_lock);
}

/* A partner's subscribed connections, on the delivery thread (which alone changes the table). */
static unsigned subscribers_count(const deliver_t *d, const char *partner_id)
{
    unsigned n = 0;
    for (size_t i = 0; i < d->n_subs; i++)
        n += strcmp(d->subs[i].partner_id, partner_id) == 0;
    return n;
}

unsigned deliver_subscribers(deliver_t *d, const char *partner_id)
{
    pthread_mutex_lock(&d->subs_lock);
    unsigned n = subscribers_count(d, partner_id);
    pthread_mutex_unlock(&d->subs_lock);
    return n;
}

void deliver_position(deliver_t *d, const char *partner_id, deliver_position_t *out)
{
    out->last = 0;
    store_outbox_last(d->store, partner_id, &out->last);
    out->cursor = cursors_acked(d->cursors, partner_id);
    out->lag = out->last > out->cursor ? out->last - out->cursor : 0;
    out->subscribers = deliver_subscribers(d, partner_id);
}

/* Makes room for one more subscriber of partner_id: a partner that reconnects gets a new
 * connection identity, and its old entry is only noticed when a send to it fails, so the oldest
 * entries of the same partner (or of anyone, when the table is full) are dropped. */
static void subscribers_make_room(deliver_t *d, const char *partner_id)
{
    while (subscribers_count(d, partner_id) >= DELIVER_PER_PARTNER_MAX ||
           d->n_subs >= DELIVER_SUBSCRIBERS_MAX) {
        bool full = d->n_subs >= DELIVER_SUBSCRIBERS_MAX;
        subscriber_t *oldest = NULL;
        for (size_t i = 0; i < d->n_subs; i++)
            if ((full || strcmp(d->subs[i].partner_id, partner_id) == 0) &&
                (oldest == NULL || d->subs[i].serial < oldest->serial))
                oldest = &d->subs[i];
        subscriber_remove(d, oldest);
    }
}

/* --- Sending ---------------------------------------------------------------------------------- */

/* Sends one DeliverReply; returns 0, or the zmq errno (EHOSTUNREACH: the peer is gone). */
static int deliver_send(deliver_t *d, const uint8_t *identity, size_t identity_len,
                        const Parcours__V1__DeliverReply *reply)
{
    size_t len = parcours__v1__deliver_reply__get_packed_size(reply);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return ENOMEM;
    parcours__v1__deliver_reply__pack(reply, buf);
    int rc = router_send(d->router, identity, identity_len, buf, len);
    free(buf);
    return rc;
}

static void deliver_error(deliver_t *d, const uint8_t *identity, size_t identity_len,
                          Parcours__V1__ErrorCode code, const char *message)
{
    Parcours__V1__DeliverError error = PARCOURS__V1__DELIVER_ERROR__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    error.code = code;
    error.message = (char *)message;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_ERROR;
    reply.error = &error;
    deliver_send(d, identity, identity_len, &reply);
}

/* --- Pumping ---------------------------------------------------------------------------------- */

static void notification_fill(uint8_t *out, void *n)
{
    notification_pack(n, out);
}

/* Sends one notification frame to s; returns 0, or the send's errno (EHOSTUNREACH: the peer is
 * gone). The frame is written straight into the message the router sends. */
static int deliver_send_notification(deliver_t *d, const subscriber_t *s, const notification_t *n)
{
    return router_send_built(d->router, s->identity, s->identity_len, notification_packed_size(n),
                             notification_fill, (void *)n);
}

/* A Heartbeat to every subscriber sent nothing for an interval: ZeroMQ says nothing when a
 * connection goes, but ROUTER_MANDATORY refuses a frame for one that went (and libzmq's own
 * heartbeats close one whose peer vanished without a word), so the subscriber table, and the
 * connected partners the admin and /metrics show, stay true. */
static void deliver_on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_t *d = arg;
    int64_t now = clock_monotonic_ms();
    Parcours__V1__Heartbeat heartbeat = PARCOURS__V1__HEARTBEAT__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT;
    reply.heartbeat = &heartbeat;
    for (size_t i = 0; i < d->n_subs;) {
        subscriber_t *s = &d->subs[i];
        if (now - s->last_sent_ms < d->heartbeat_ms) {
            i++;
            continue;
        }
        int rc = deliver_send(d, s->identity, s->identity_len, &reply);
        if (rc == EHOSTUNREACH) {
            log_info("deliver: a connection of %s is gone", s->partner_id);
            subscriber_remove(d, s);
            continue;
        }
        s->last_sent_ms = now; /* EAGAIN too: a peer that reads nothing is still there */
        i++;
    }
    /* And a pass for everyone: a notification that met a full send queue (EAGAIN) goes out
     * now rather than at the next commit or acknowledgement, which a quiet stream may not have.
     * A subscriber with no credit costs nothing. */
    event_active(d->pump_event, EV_TIMEOUT, 0);
}

typedef struct pump {
    deliver_t *d;
    subscriber_t *s;
    const partner_t *partner;
    unsigned scanned;
    int send_error;
} pump_t;

/* Sends one outbox entry, or skips it; returns non-zero to stop the scan. */
static int pump_entry(uint64_t partner_seq, uint64_t seq, void *ctx)
{
    pump_t *p = ctx;
    subscriber_t *s = p->s;
    if (s->count >= s->window || p->scanned >= DELIVER_SCAN_MAX)
        return 1;
    /* Committed but not yet durable: a power cut could take it back and give its partner_seq
     * to another notification. The wake after the flush sends it. */
    if (seq > store_durable_seq(p->d->store))
        return 1;
    p->scanned++;
    delivery_notification_t built;
    int r = delivery_cache_build(p->d->cache, seq, p->partner, s->types, &built);
    if (r < 0)
        return 1; /* nothing to send now: the next pass tries again */
    int rc = 0;
    if (r == 1) {
        built.n.partner_seq = partner_seq;
        built.n.stream_id = p->d->stream_id;
        rc = deliver_send_notification(p->d, s, &built.n);
        if (rc == 0) {
            s->last_sent_ms = clock_monotonic_ms();
            s->in_flight[(s->head + s->count) % s->window] = partner_seq;
            s->count++;
        }
    }
    delivery_notification_release(p->d->cache, &built);
    if (rc != 0) {
        p->send_error = rc;
        return 1;
    }
    s->next = partner_seq + 1;
    return 0;
}

/* Sends a subscriber what its credit allows. Returns false when the subscriber is gone. */
static bool deliver_pump(deliver_t *d, subscriber_t *s, bool *more)
{
    const partner_t *partner = partners_find(d->partners, s->partner_id);
    if (partner == NULL)
        return false;
    if (s->count >= s->window)
        return true; /* no credit: a stalled partner costs nothing */
    pump_t p = {d, s, partner, 0, 0};
    /* Every read of the pass in one snapshot (deliver_pump_all holds it for all subscribers). */
    bool held = store_read_hold(d->store) == STORE_OK;
    store_outbox_foreach(d->store, s->partner_id, s->next, pump_entry, &p);
    if (held)
        store_read_release(d->store);
    if (p.send_error == EHOSTUNREACH)
        return false;
    if (p.scanned >= DELIVER_SCAN_MAX)
        *more = true;
    return true;
}

static void deliver_pump_all(deliver_t *d)
{
    bool more = false;
    /* One snapshot for the whole pass: an event told to several subscribers is read once, and
     * they all see the store as it was at one commit, while the loop commits on. */
    bool held = store_read_hold(d->store) == STORE_OK;
    for (size_t i = 0; i < d->n_subs;) {
        if (deliver_pump(d, &d->subs[i], &more)) {
            i++;
        } else {
            log_debug("deliver: a connection of %s is gone", d->subs[i].partner_id);
            subscriber_remove(d, &d->subs[i]);
        }
    }
    if (held)
        store_read_release(d->store);
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_pump_all(arg);
}

void deliver_wake(deliver_t *d)
{
    /* From the loop, after a commit: the pass runs on the delivery thread (libevent's
     * event_active is safe across threads once evthread_use_pthreads ran, main.c). */
    event_active(d->pump_event, EV_TIMEOUT, 0);
}

/* --- Requests --------------------------------------------------------------------------------- */

static void deliver_subscribe(deliver_t *d, const uint8_t *identity, size_t identity_len,
                              const Parcours__V1__Subscribe *sub, const char *authenticated)
{
    char message[256];
    /* Only an identifier that passed the rule is ever repeated in a reply. */
    if (sub->partner_id[0] != '\0' && !identifier_valid(sub->partner_id)) {
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                      "Subscribe.partner_id must be 1 to 64 characters among A-Z a-z 0-9 . _ : - "
                      "(or empty on a connection authenticated by its key).");
        return;
    }
    /* With CURVE, the partner is the one the connection's key belongs to: a Subscribe may name
     * it, or leave partner_id empty, never name another. */
    if (authenticated != NULL && sub->partner_id[0] != '\0' &&
        strcmp(sub->partner_id, authenticated) != 0) {
        snprintf(message, sizeof(message),
                 "This connection is authenticated as partner %s; it may not subscribe as "
                 "%s.",
                 authenticated, sub->partner_id);
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_AUTHORISED), message);
        return;
    }
    const char *partner_id = authenticated != NULL ? authenticated : sub->partner_id;
    const partner_t *partner = partners_find(d->partners, partner_id);
    if (partner == NULL) {
        if (partner_id[0] == '\0')
            snprintf(message, sizeof(message),
                     "Subscribe.partner_id is empty on a connection without a key: name your "
                     "partner id.");
        else
            snprintf(message, sizeof(message),
                     "Partner %s is not in this territory's partners file; ask the territory's "
                     "admin to declare it.",
                     partner_id);
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_AUTHORISED), message);
        return;
    }
    uint32_t types = 0;
    for (size_t i = 0; i < sub->n_types; i++) {
        if (event_type_name(sub->types[i]) == NULL) {
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Subscribe.types holds a value that is not an EventType.");
            return;
        }
        types |= PARTNERS_EMIT_BIT(sub->types[i]);
    }
    deliver_position_t at;
    deliver_position(d, partner->id, &at);
    uint64_t last = at.last, cursor = at.cursor;
    uint64_t from = sub->from ? sub->from : cursor + 1;
    if (from > last + 1) {
        snprintf(message, sizeof(message),
                 "Subscribe.from is %llu but the last notification of %s is %llu; subscribe "
                 "from 0 to resume after your cursor.",
                 (unsigned long long)from, partner->id, (unsigned long long)last);
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED), message);
        return;
    }
    uint32_t window = sub->window ? sub->window : DELIVER_WINDOW_DEFAULT;
    if (window > DELIVER_WINDOW_MAX)
        window = DELIVER_WINDOW_MAX;

    subscriber_t *s = subscriber_find(d, identity, identity_len);
    if (s != NULL)
        subscriber_remove(d, s); /* a connection may subscribe again, e.g. to replay */
    subscribers_make_room(d, partner->id);
    s = &d->subs[d->n_subs];
    memset(s, 0, sizeof(*s));
    s->in_flight = calloc(window, sizeof(uint64_t));
    if (s->in_flight == NULL) {
        deliver_error(d, identity, identity_len, ERROR_CODE(UNAVAILABLE),
                      "The daemon is out of memory; subscribe again later.");
        return;
    }
    pthread_mutex_lock(&d->subs_lock);
    d->n_subs++;
    snprintf(s->partner_id, sizeof(s->partner_id), "%s", partner->id);
    pthread_mutex_unlock(&d->subs_lock);
    memcpy(s->identity, identity, identity_len);
    s->identity_len = identity_len;
    snprintf(s->user, sizeof(s->user), "%s", authenticated != NULL ? authenticated : "");
    s->types = types;
    s->window = window;
    s->next = from;
    s->serial = ++d->serial;
    s->last_sent_ms = clock_monotonic_ms();
    if (d->audit != NULL) {
        char detail[64], err[256];
        snprintf(detail, sizeof(detail), "from partner_seq %llu, window %u",
                 (unsigned long long)from, (unsigned)window);
        if (audit_append(d->audit, partner->id, "SUBSCRIBE", partner->id, detail, err,
                         sizeof(err)) != 0)
            log_error("deliver: %s", err);
    }

    Parcours__V1__Subscribed ok = PARCOURS__V1__SUBSCRIBED__INIT;
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    ok.partner_id = s->partner_id;
    ok.from = from;
    ok.cursor = cursor;
    ok.last_partner_seq = last;
    ok.window = window;
    ok.stream_id = d->stream_id;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_SUBSCRIBED;
    reply.subscribed = &ok;
    deliver_send(d, identity, identity_len, &reply);
    log_info("deliver: %s subscribed from %llu (cursor %llu, last %llu, window %u)", s->partner_id,
             (unsigned long long)from, (unsigned long long)cursor, (unsigned long long)last,
             window);
    bool more = false;
    if (!deliver_pump(d, s, &more))
        subscriber_remove(d, s);
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_ack(deliver_t *d, const uint8_t *identity, size_t identity_len, uint64_t up_to)
{
    subscriber_t *s = subscriber_find(d, identity, identity_len);
    if (s == NULL) {
        deliver_error(d, identity, identity_len, ERROR_CODE(NOT_SUBSCRIBED),
                      "DeliveryAck on a connection with no subscription (the daemon may have "
                      "restarted): send Subscribe again.");
        return;
    }
    if (up_to >= s->next) {
        deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                      "DeliveryAck.up_to is beyond the last notification sent.");
        return;
    }
    while (s->count > 0 && s->in_flight[s->head] <= up_to) {
        s->head = (s->head + 1) % s->window;
        s->count--;
    }
    if (cursors_ack(d->cursors, s->partner_id, up_to) != 0)
        log_warning("deliver: out of memory keeping the cursor of %s: it stays where it was "
                    "last written until a later acknowledgement finds memory (a restart "
                    "redelivers from there)",
                    s->partner_id);
    bool more = false;
    if (!deliver_pump(d, s, &more))
        subscriber_remove(d, s);
    if (more)
        event_active(d->pump_event, EV_TIMEOUT, 0);
}

static void deliver_on_readable(router_t *r, void *ctx)
{
    deliver_t *d = ctx;
    uint8_t frame[DELIVER_REQUEST_MAX];
    router_message_t m;
    for (int served = 0; served < 256 && router_receive(r, &m, frame, sizeof(frame)); served++) {
        const uint8_t *identity = m.identity;
        size_t identity_len = m.identity_len;
        const char *authenticated = m.user;
        int len = m.has_frame && !m.read_error && !m.extra_frames && m.len <= sizeof(frame)
                      ? (int)m.len
                      : -1;
        /* libzmq names a connection with a zero byte first; a routing id a client chose itself
         * could be taken by another connection once this one goes, and that one would be sent
         * this stream: such connections are not served. */
        if (!router_identity_is_own(identity, identity_len)) {
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Leave ZMQ_ROUTING_ID unset on the deliver socket: the daemon ties a "
                          "stream to the connection libzmq names.");
            continue;
        }
        /* The routing id of a subscription, now used by a connection of another partner (its
         * own went): the subscription ends before anything more goes to that routing id. */
        subscriber_t *holder = subscriber_find(d, identity, identity_len);
        if (holder != NULL && strcmp(holder->user, authenticated) != 0) {
            log_warning("deliver: a connection of %s took a routing id %s subscribed with; "
                        "that subscription ends",
                        authenticated[0] ? authenticated : "?", holder->partner_id);
            subscriber_remove(d, holder);
        }
        Parcours__V1__DeliverRequest *req =
            (len > 0 && len <= (int)sizeof(frame))
                ? (Parcours__V1__DeliverRequest *)wire_unpack(
                      &parcours__v1__deliver_request__descriptor, frame, (size_t)len)
                : NULL;
        if (req != NULL && !wire_strings_check(&req->base, NULL, 0))
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "A string of the DeliverRequest holds a NUL byte or is not valid UTF-8.");
        else if (req != NULL && req->kind_case == PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE)
            deliver_subscribe(d, identity, identity_len, req->subscribe,
                              authenticated[0] ? authenticated : NULL);
        else if (req != NULL && req->kind_case == PARCOURS__V1__DELIVER_REQUEST__KIND_ACK)
            deliver_ack(d, identity, identity_len, req->ack->up_to);
        else
            deliver_error(d, identity, identity_len, ERROR_CODE(MALFORMED),
                          "Send one parcours.v1.DeliverRequest per frame (subscribe or ack).");
        wire_free(req != NULL ? &req->base : NULL);
    }
}

/* --- The delivery thread --------------------------------------------------------------------- */

static void *deliver_thread(void *arg)
{
    deliver_t *d = arg;
    event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void deliver_do_set_partners(deliver_t *d, const partners_t *partners)
{
    d->partners = partners;
    delivery_cache_forget(d->cache);
    for (size_t i = 0; i < d->n_subs;)
        if (partners_find(partners, d->subs[i].partner_id) == NULL)
            subscriber_remove(d, &d->subs[i]);
        else
            i++;
}

static void deliver_do_rebind(deliver_t *d)
{
    router_rebind(d->router);
    for (size_t i = 0; i < d->n_subs; i++)
        free(d->subs[i].in_flight);
    pthread_mutex_lock(&d->subs_lock);
    d->n_subs = 0; /* the connections are gone; their partners subscribe again */
    pthread_mutex_unlock(&d->subs_lock);
}

/* On the delivery thread: runs the loop's command, then lets the loop go on. */
static void deliver_on_command(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_t *d = arg;
    pthread_mutex_lock(&d->command_lock);
    deliver_command_t command = d->command;
    const partners_t *partners = d->command_partners;
    pthread_mutex_unlock(&d->command_lock);
    if (command == DELIVER_COMMAND_SET_PARTNERS)
        deliver_do_set_partners(d, partners);
    else if (command == DELIVER_COMMAND_REBIND)
        deliver_do_rebind(d);
    else if (command == DELIVER_COMMAND_STOP)
        event_base_loopbreak(d->base);
    pthread_mutex_lock(&d->command_lock);
    d->command = DELIVER_COMMAND_NONE;
    pthread_cond_signal(&d->command_done);
    pthread_mutex_unlock(&d->command_lock);
}

/* From the loop: has the delivery thread run command, and waits until it has. The thread never
 * waits for the loop (it takes the store's map lock, the cursors' and the journal's, which the
 * loop holds only briefly and never while it waits here), so this wait ends. */
static void deliver_command(deliver_t *d, deliver_command_t command, const partners_t *partners)
{
    pthread_mutex_lock(&d->command_lock);
    d->command = command;
    d->command_partners = partners;
    event_active(d->command_event, EV_TIMEOUT, 0);
    while (d->command != DELIVER_COMMAND_NONE)
        pthread_cond_wait(&d->command_done, &d->command_lock);
    pthread_mutex_unlock(&d->command_lock);
}

/* --- Lifecycle -------------------------------------------------------------------------------- */

int deliver_new(struct event_base *base, void *zmq_context, store_t *store,
                const partners_t *partners, const deliver_options_t *options, deliver_t **out,
                char *err, size_t errlen)
{
    *out = NULL;
    deliver_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    pthread_mutex_init(&d->subs_lock, NULL);
    pthread_mutex_init(&d->command_lock, NULL);
    pthread_cond_init(&d->command_done, NULL);
    d->base = event_base_new();
    if (d->base == NULL) {
        snprintf(err, errlen, "cannot start the delivery thread's loop");
        goto fail;
    }
    d->store = store;
    store_info_t info;
    d->stream_id = store_info(store, &info) == STORE_OK ? info.stream_id : 0;
    d->partners = partners;
    d->subs = calloc(DELIVER_SUBSCRIBERS_MAX, sizeof(subscriber_t));
    d->cache = delivery_cache_new(store);
    d->cursors = cursors_new(store);
    if (d->cache != NULL)
        delivery_cache_set_active(d->cache, options->active_ms);
    if (d->subs == NULL || d->cache == NULL || d->cursors == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* A subscriber never has more than its window in flight, so the send queue of one
     * connection never needs more than the largest window, and a few Heartbeats; a peer that
     * stopped reading fills it with them in the end, and sends then get EAGAIN and are tried
     * again at the next pass. libzmq's own heartbeats (ZMTP PING) close a connection whose
     * peer vanished without a word (a cut network, a dead machine); the Heartbeat frames then
     * find it gone. */
    d->heartbeat_ms = 1000 * (int64_t)(options->heartbeat_s ? options->heartbeat_s : 10);
    d->audit = options->audit;
    router_options_t o = {
        .name = "deliver",
        .endpoint = options->endpoint,
        .secret_key = options->secret_key,
        .zap_domain = ZAP_DOMAIN_DELIVER,
        .zap = options->zap,
        .max_message = DELIVER_REQUEST_MAX,
        .send_hwm = DELIVER_WINDOW_MAX + 16,
        .linger_ms = 1000,
        .mandatory = true,
        .heartbeat_ms = (int)d->heartbeat_ms,
    };
    if (router_new(d->base, zmq_context, &o, deliver_on_readable, d, &d->router, err, errlen) != 0)
        goto fail;
    unsigned flush_ms = options->cursor_flush_ms ? options->cursor_flush_ms : 100;
    struct timeval every = {(time_t)(flush_ms / 1000), (suseconds_t)(flush_ms % 1000) * 1000};
    struct timeval beat = {(time_t)(d->heartbeat_ms / 1000), 0};
    d->flush_timer = event_new(base, -1, EV_PERSIST, deliver_on_flush_timer, d);
    d->heartbeat_timer = event_new(d->base, -1, EV_PERSIST, deliver_on_heartbeat_timer, d);
    d->pump_event = event_new(d->base, -1, 0, deliver_on_pump, d);
    d->command_event = event_new(d->base, -1, 0, deliver_on_command, d);
    if (d->flush_timer == NULL || d->heartbeat_timer == NULL || d->pump_event == NULL ||
        d->command_event == NULL || event_add(d->flush_timer, &every) != 0 ||
        event_add(d->heartbeat_timer, &beat) != 0) {
        snprintf(err, errlen, "cannot watch the deliver socket");
        goto fail;
    }
    /* The socket, made here, is used by the thread alone from now on (pthread_create is the
     * full barrier libzmq asks for when a socket changes threads). */
    if (pthread_create(&d->thread, NULL, deliver_thread, d) != 0) {
        snprintf(err, errlen, "cannot start the delivery thread");
        goto fail;
    }
    d->running = true;
    *out = d;
    return 0;
fail:
    deliver_destroy(&d);
    return -1;
}

void deliver_set_partners(deliver_t *d, const partners_t *partners)
{
    deliver_command(d, DELIVER_COMMAND_SET_PARTNERS, partners);
}

void deliver_destroy(deliver_t **d)
{
    if (d == NULL || *d == NULL)
        return;
    deliver_t *x = *d;
    if (x->running) {
        deliver_command(x, DELIVER_COMMAND_STOP, NULL);
        pthread_join(x->thread, NULL);
        x->running = false;
    }
    if (x->store != NULL && x->cursors != NULL)
        deliver_flush(x);
    router_destroy(&x->router);
    if (x->flush_timer != NULL)
        event_free(x->flush_timer);
    if (x->heartbeat_timer != NULL)
        event_free(x->heartbeat_timer);
    if (x->pump_event != NULL)
        event_free(x->pump_event);
    if (x->command_event != NULL)
        event_free(x->command_event);
    if (x->base != NULL)
        event_base_free(x->base);
    delivery_cache_destroy(&x->cache);
    for (size_t i = 0; i < x->n_subs; i++)
        free(x->subs[i].in_flight);
    free(x->subs);
    cursors_destroy(&x->cursors);
    pthread_cond_destroy(&x->command_done);
    pthread_mutex_destroy(&x->command_lock);
    pthread_mutex_destroy(&x->subs_lock);
    free(x);
    *d = NULL;
}

void deliver_rebind(deliver_t *d)
{
    deliver_command(d, DELIVER_COMMAND_REBIND, NULL);
}
