/*
 * parcours.c: libparcours, the client side of the ingest endpoint (admin.c has the admin one).
 *
 * A client is one DEALER socket and a fixed table of `window` slots, one per event in flight.
 * A slot keeps the packed frame until the event's final outcome, so that every re-send carries
 * the very same bytes. Slots move between intrusive lists (indices, not pointers, so the table
 * is one allocation):
 *   free      unused slots;
 *   waiting   sent (or queued to be sent), answer expected by deadline_ms; since every attempt
 *             waits the same ack_timeout_ms from a clock that never goes back, appending keeps
 *             this list sorted by deadline, so only its head is ever checked;
 *   backoff   answered RETRY, to be re-sent at deadline_ms (few, scanned whole);
 *   ready     final, outcome not yet returned by poll;
 * and, independently, the send queue: slots whose current attempt has not reached the socket
 * yet because the connection could not take it (ZMQ_IMMEDIATE: no connection, or a full pipe).
 * The queue is first in, first out, which keeps the publish order on the wire.
 * A hash index (open addressing, linear probing) finds a slot by event_id when an Ack arrives.
 */
#include "parcours.h"

#include <sodium.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "identifier.h"

/* parcours.h cannot include common/identifier.h (it is installed alone): the two limits must
 * stay one. */
_Static_assert(PARCOURS_ID_MAX == IDENTIFIER_MAX, "PARCOURS_ID_MAX is the identifier rule's");

#define DEFAULT_ACK_TIMEOUT_MS   5000
#define DEFAULT_MAX_ATTEMPTS     5
#define DEFAULT_WINDOW           1000
#define DEFAULT_RETRY_BACKOFF_MS 200
#define DEFAULT_MAX_FRAME        4096
#define MAX_BACKOFF_MS           30000
#define MAX_ACK_FRAME            65536 /* an Ack is a few hundred bytes; refuse absurd frames */

#define NIL UINT32_MAX /* the end of a list, an empty hash bucket */

typedef enum slot_state {
    SLOT_FREE,
    SLOT_WAITING,
    SLOT_BACKOFF,
    SLOT_READY,
} slot_state_t;

typedef struct link {
    uint32_t prev, next;
} link_t;

typedef struct list {
    uint32_t head, tail;
    size_t count;
} list_t;

/* Which link of a slot a list uses: a slot is in one state list and maybe in the send queue. */
enum { LINK_STATE, LINK_QUEUE, LINK_COUNT };

typedef struct slot {
    slot_state_t state;
    bool queued; /* in the send queue */
    link_t links[LINK_COUNT];
    char event_id[PARCOURS_ID_MAX + 1];
    uint8_t *frame;
    size_t frame_len;
    int attempts;
    int backoff_ms;      /* the wait after the next RETRY */
    int64_t deadline_ms; /* waiting: answer due; backoff: re-send due (monotonic clock) */
    parcours_ack_t ack;  /* ready: the outcome */
} slot_t;

struct parcours_client {
    void *context;
    void *socket;
    char partner_id[PARCOURS_ID_MAX + 1];
    int ack_timeout_ms;
    int max_attempts;
    int retry_backoff_ms;
    size_t max_frame;
    uint32_t window;
    slot_t *slots;
    list_t free, waiting, backoff, ready, queue;
    uint32_t *index; /* event_id hash -> slot, NIL when empty */
    uint32_t index_mask;
    size_t in_flight; /* slots not free */
    /* libzmq's monitor of the socket: the handshakes' outcomes, so that a refused key or a
     * wrong server key is said, not taken for a daemon that does not answer. */
    void *monitor;
    int handshakes_failed; /* in a row, since the last that succeeded */
};

/* ------------------------------------------------------------------------------------------ */
/* Errors and small helpers. */

const char *parcours_strerror(int code)
{
    switch (code) {
    case PARCOURS_OK:
        return "success";
    case PARCOURS_EINVAL:
        return "invalid argument";
    case PARCOURS_ENOMEM:
        return "out of memory";
    case PARCOURS_EFULL:
        return "too many events in flight: poll for outcomes before publishing more";
    case PARCOURS_EUNREACHABLE:
        return "parcoursd did not answer in time: is it running, and is the endpoint right?";
    case PARCOURS_EENDPOINT:
        return "the endpoint cannot be used: write tcp://HOST:PORT or ipc:///PATH";
    case PARCOURS_ESOCKET:
        return "a ZeroMQ socket operation failed";
    case PARCOURS_ETOOLARGE:
        return "the event is larger than the daemon accepts (max_frame)";
    case PARCOURS_EINFLIGHT:
        return "an event with this event_id is already in flight on this client";
    case PARCOURS_EBUSY:
        return "other events are in flight on this client";
    case PARCOURS_EPROTOCOL:
        return "the daemon's answer is not a parcours.v1 message of the expected kind";
    case PARCOURS_ERANDOM:
        return "the system's random source failed";
    case PARCOURS_EREFUSED:
        return "parcoursd refused the request";
    case PARCOURS_EKEYREFUSED:
        return PARCOURS_KEY_REFUSED_SENTENCE;
    case PARCOURS_EHANDSHAKE:
        return PARCOURS_HANDSHAKE_SENTENCE;
    case PARCOURS_EKEYFILE:
        return "the key file cannot be read";
    case PARCOURS_EKEYMODE:
        return "a secret key must be readable by its owner only (chmod 600)";
    case PARCOURS_EKEY:
        return "the key file holds no key of 40 Z85 characters (parcoursctl keygen makes them)";
    case PARCOURS_EWRITE:
        return "writing the backup to its file failed";
    case PARCOURS_ENOCURVE:
        return "this libzmq was built without CURVE";
    default:
        return "unknown libparcours error";
    }
}

const char *parcours_version(void)
{
#ifdef PARCOURS_VERSION
    return PARCOURS_VERSION;
#else
    return "unknown";
#endif
}

/* protobuf-c leaves unset strings pointing at a shared empty string, never NULL; callers
 * building events by hand may leave NULL. Both mean "not given". */
static bool str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* ------------------------------------------------------------------------------------------ */
/* Event ids. */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The last id made in this process, so that the next one is strictly greater. */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_last_ms;
static uint8_t id_last_random[10];

static int random_fill(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PARCOURS_ERANDOM;
        got += (size_t)n;
    }
    return PARCOURS_OK;
}

/* Adds 1 to a big-endian number; returns true when it wrapped to 0. */
static bool increment(uint8_t *bytes, size_t len)
{
    for (size_t i = len; i-- > 0;)
        if (++bytes[i] != 0)
            return false;
    return true;
}

int parcours_event_id_new(char out[PARCOURS_EVENT_ID_LEN + 1])
{
    if (out == NULL)
        return PARCOURS_EINVAL;
    uint8_t value[16]; /* 48-bit milliseconds then 80 random bits, big-endian */
    uint8_t fresh[10];
    /* Drawn outside the lock: getrandom may block early at boot, and most calls need it. */
    if (random_fill(fresh, sizeof(fresh)) != PARCOURS_OK)
        return PARCOURS_ERANDOM;
    uint64_t now = (uint64_t)clock_realtime_ms() & 0xFFFFFFFFFFFFull;

    pthread_mutex_lock(&id_lock);
    if (now > id_last_ms) {
        id_last_ms = now;
        memcpy(id_last_random, fresh, sizeof(fresh));
    } else if (increment(id_last_random, sizeof(id_last_random))) {
        /* 2^80 ids in one millisecond cannot happen; a wrap borrows the next millisecond. */
        id_last_ms++;
    }
    for (int i = 0; i < 6; i++)
        value[i] = (uint8_t)(id_last_ms >> (8 * (5 - i)));
    memcpy(value + 6, id_last_random, sizeof(id_last_random));
    pthread_mutex_unlock(&id_lock);

    /* 26 characters of 5 bits cover 130 bits: the first character holds the 3 top bits. */
    for (int c = 0; c < PARCOURS_EVENT_ID_LEN; c++) {
        unsigned digit = 0;
        for (int b = 0; b < 5; b++) {
            int bit = 5 * (PARCOURS_EVENT_ID_LEN - 1 - c) + (4 - b); /* 0 = least significant */
            unsigned set = bit < 128 ? (value[15 - bit / 8] >> (bit % 8)) & 1u : 0u;
            digit = (digit << 1) | set;
        }
        out[c] = crockford[digit];
    }
    out[PARCOURS_EVENT_ID_LEN] = '\0';
    return PARCOURS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Slot lists. */

static void list_init(list_t *l)
{
    l->head = l->tail = NIL;
    l->count = 0;
}

static void list_push(parcours_client_t *c, list_t *l, int which, uint32_t i)
{
    link_t *link = &c->slots[i].links[which];
    link->prev = l->tail;
    link->next = NIL;
    if (l->tail != NIL)
        c->slots[l->tail].links[which].next = i;
    else
        l->head = i;
    l->tail = i;
    l->count++;
}

static void list_remove(parcours_client_t *c, list_t *l, int which, uint32_t i)
{
    link_t *link = &c->slots[i].links[which];
    if (link->prev != NIL)
        c->slots[link->prev].links[which].next = link->next;
    else
        l->head = link->next;
    if (link->next != NIL)
        c->slots[link->next].links[which].prev = link->prev;
    else
        l->tail = link->prev;
    link->prev = link->next = NIL;
    l->count--;
}

/* The state list a slot is on. */
static list_t *state_list(parcours_client_t *c, slot_state_t state)
{
    switch (state) {
    case SLOT_WAITING:
        return &c->waiting;
    case SLOT_BACKOFF:
        return &c->backoff;
    case SLOT_READY:
        return &c->ready;
    default:
        return &c->free;
    }
}

static void slot_move(parcours_client_t *c, uint32_t i, slot_state_t state)
{
    slot_t *s = &c->slots[i];
    list_remove(c, state_list(c, s->state), LINK_STATE, i);
    s->state = state;
    list_push(c, state_list(c, state), LINK_STATE, i);
}

static void queue_push(parcours_client_t *c, uint32_t i)
{
    if (!c->slots[i].queued) {
        c->slots[i].queued = true;
        list_push(c, &c->queue, LINK_QUEUE, i);
    }
}

static void queue_remove(parcours_client_t *c, uint32_t i)
{
    if (c->slots[i].queued) {
        c->slots[i].queued = false;
        list_remove(c, &c->queue, LINK_QUEUE, i);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The event_id index: linear probing, deletion by backward shift (no tombstones). */

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t index_find(const parcours_client_t *c, const char *event_id)
{
    for (uint32_t b = id_hash(event_id) & c->index_mask;; b = (b + 1) & c->index_mask) {
        uint32_t i = c->index[b];
        if (i == NIL || strcmp(c->slots[i].event_id, event_id) == 0)
            return i;
    }
}

static void index_insert(parcours_client_t *c, uint32_t i)
{
    uint32_t b = id_hash(c->slots[i].event_id) & c->index_mask;
    while (c->index[b] != NIL)
        b = (b + 1) & c->index_mask;
    c->index[b] = i;
}

static void index_remove(parcours_client_t *c, uint32_t i)
{
    uint32_t hole = id_hash(c->slots[i].event_id) & c->index_mask;
    while (c->index[hole] != i) {
        if (c->index[hole] == NIL)
            return; /* not indexed */
        hole = (hole + 1) & c->index_mask;
    }
    /* Pull back every later entry of the run whose home bucket does not lie after the hole. */
    for (uint32_t b = (hole + 1) & c->index_mask; c->index[b] != NIL; b = (b + 1) & c->index_mask) {
        uint32_t home = id_hash(c->slots[c->index[b]].event_id) & c->index_mask;
        bool stays = hole <= b ? (hole < home && home <= b) : (hole < home || home <= b);
        if (!stays) {
            c->index[hole] = c->index[b];
            hole = b;
        }
    }
    c->index[hole] = NIL;
}

/* ------------------------------------------------------------------------------------------ */
/* Client. */

static int option_or(int value, int fallback, int max)
{
    if (value == 0)
        return fallback;
    return (value < 0 || value > max) ? -1 : value;
}

int parcours_client_new(const char *endpoint, const char *partner_id,
                        const parcours_client_options_t *opts, parcours_client_t **out)
{
    if (out == NULL)
        return PARCOURS_EINVAL;
    *out = NULL;
    if (endpoint == NULL || !identifier_valid(partner_id))
        return PARCOURS_EINVAL;
    parcours_client_options_t o = PARCOURS_CLIENT_OPTIONS_INIT;
    if (opts != NULL)
        o = *opts;
    int ack_timeout = option_or(o.ack_timeout_ms, DEFAULT_ACK_TIMEOUT_MS, 3600000);
    int max_attempts = option_or(o.max_attempts, DEFAULT_MAX_ATTEMPTS, 1000);
    int window = option_or(o.window, DEFAULT_WINDOW, 1000000);
    int backoff = option_or(o.retry_backoff_ms, DEFAULT_RETRY_BACKOFF_MS, MAX_BACKOFF_MS);
    int max_frame = option_or(o.max_frame, DEFAULT_MAX_FRAME, 1 << 30);
    if (ack_timeout < 0 || max_attempts < 0 || window < 0 || backoff < 0 || max_frame < 0 ||
        (o.curve_secret_key == NULL) != (o.curve_server_key == NULL))
        return PARCOURS_EINVAL;

    parcours_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PARCOURS_ENOMEM;
    copy_text(c->partner_id, sizeof(c->partner_id), partner_id);
    c->ack_timeout_ms = ack_timeout;
    c->max_attempts = max_attempts;
    c->retry_backoff_ms = backoff;
    c->max_frame = (size_t)max_frame;
    c->window = (uint32_t)window;
    uint32_t buckets = 16;
    while (buckets < 2 * c->window)
        buckets *= 2;
    c->index_mask = buckets - 1;
    c->slots = calloc(c->window, sizeof(*c->slots));
    c->index = malloc(buckets * sizeof(*c->index));
    if (c->slots == NULL || c->index == NULL) {
        parcours_client_destroy(&c);
        return PARCOURS_ENOMEM;
    }
    memset(c->index, 0xFF, buckets * sizeof(*c->index)); /* NIL everywhere */
    list_init(&c->free);
    list_init(&c->waiting);
    list_init(&c->backoff);
    list_init(&c->ready);
    list_init(&c->queue);
    for (uint32_t i = 0; i < c->window; i++) {
        c->slots[i].state = SLOT_FREE;
        c->slots[i].links[LINK_QUEUE].prev = c->slots[i].links[LINK_QUEUE].next = NIL;
        list_push(c, &c->free, LINK_STATE, i);
    }

    /* One context per client keeps clients independent (no global state to tear down). */
    c->context = zmq_ctx_new();
    c->socket = c->context != NULL ? zmq_socket(c->context, ZMQ_DEALER) : NULL;
    if (c->socket == NULL) {
        parcours_client_destroy(&c);
        return PARCOURS_ESOCKET;
    }
    /* Linger 0: closing never waits for a dead daemon; unsent frames are ours to re-send.
     * Immediate: frames queue in our send queue, not in a pipe to a connection that may never
     * complete, so nothing is sent twice on reconnection and the publish order is kept.
     * High-water marks above the window: an Ack is never dropped for lack of room. */
    int linger = 0, immediate = 1;
    int hwm = c->window > 500 ? (int)(2 * c->window) : 1000;
    int64_t max_msg = MAX_ACK_FRAME;
    if (zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0) {
        parcours_client_destroy(&c);
        return PARCOURS_ESOCKET;
    }
    int rc = parcours_curve_client(c->socket, o.curve_secret_key, o.curve_server_key);
    if (rc != PARCOURS_OK) {
        parcours_client_destroy(&c);
        return rc;
    }
    char monitor[64];
    snprintf(monitor, sizeof(monitor), "inproc://parcours-client-%p", (void *)c);
    c->monitor = zmq_socket(c->context, ZMQ_PAIR);
    if (zmq_socket_monitor(c->socket, monitor, PARCOURS_HANDSHAKE_EVENTS) != 0 ||
        c->monitor == NULL || zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof(linger)) ||
        zmq_connect(c->monitor, monitor) != 0) {
        parcours_client_destroy(&c);
        return PARCOURS_ESOCKET;
    }
    if (zmq_connect(c->socket, endpoint) != 0) {
        parcours_client_destroy(&c);
        return PARCOURS_EENDPOINT;
    }
    *out = c;
    return PARCOURS_OK;
}

/* What the handshakes since the last call say (parcours_handshake_read). */
static int client_handshakes(parcours_client_t *c)
{
    return parcours_handshake_read(c->monitor, &c->handshakes_failed, NULL);
}

void parcours_client_destroy(parcours_client_t **client)
{
    if (client == NULL || *client == NULL)
        return;
    parcours_client_t *c = *client;
    if (c->monitor != NULL) {
        if (c->socket != NULL)
            zmq_socket_monitor(c->socket, NULL, 0);
        zmq_close(c->monitor);
    }
    if (c->socket != NULL)
        zmq_close(c->socket);
    if (c->context != NULL)
        zmq_ctx_term(c->context);
    for (uint32_t i = 0; c->slots != NULL && i < c->window; i++)
        free(c->slots[i].frame);
    free(c->slots);
    free(c->index);
    free(c);
    *client = NULL;
}

size_t parcours_client_in_flight(const parcours_client_t *client)
{
    return client != NULL ? client->in_flight : 0;
}

/* Ends an event: its outcome goes to the ready list; late answers to it are ignored. */
static void slot_finish(parcours_client_t *c, uint32_t i, int status, uint64_t seq,
                        uint64_t version, int code, const char *message)
{
    slot_t *s = &c->slots[i];
    queue_remove(c, i);
    index_remove(c, i);
    free(s->frame);
    s->frame = NULL;
    s->ack = (parcours_ack_t){
        .status = status, .seq = seq, .version = version, .code = code, .attempts = s->attempts};
    copy_text(s->ack.event_id, sizeof(s->ack.event_id), s->event_id);
    copy_text(s->ack.message, sizeof(s->ack.message), message);
    slot_move(c, i, SLOT_READY);
}

/* Starts a new attempt: queued for sending now, answer due after ack_timeout_ms. */
static void slot_attempt(parcours_client_t *c, uint32_t i, int64_t now)
{
    slot_t *s = &c->slots[i];
    s->attempts++;
    s->deadline_ms = now + c->ack_timeout_ms;
    slot_move(c, i, SLOT_WAITING); /* to the tail of waiting: the list stays sorted */
    queue_push(c, i);
}

/* Sends what the send queue holds, in order, as far as the connection takes it. */
static int queue_flush(parcours_client_t *c)
{
    while (c->queue.head != NIL) {
        uint32_t i = c->queue.head;
        if (zmq_send(c->socket, c->slots[i].frame, c->slots[i].frame_len, ZMQ_DONTWAIT) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return PARCOURS_OK; /* not connected, or the pipe is full: later */
            return PARCOURS_ESOCKET;
        }
        queue_remove(c, i);
    }
    return PARCOURS_OK;
}

/* Applies one answer of the daemon to its event. */
static void client_on_ack(parcours_client_t *c, const Parcours__V1__Ack *ack, int64_t now)
{
    uint32_t i = NIL;
    if (!str_empty(ack->event_id))
        i = index_find(c, ack->event_id);
    else if (c->waiting.count == 1 && c->backoff.count == 0)
        /* The daemon names no event when it could not decode the frame (a frame above its
         * max_frame, for instance). With a single event in flight, it can only be that one. */
        i = c->waiting.head;
    if (i == NIL)
        return; /* a late answer to an event already final (a re-sent copy), or unknown */
    slot_t *s = &c->slots[i];
    switch (ack->status) {
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED:
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_DUPLICATE:
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_REJECTED:
        slot_finish(c, i, (int)ack->status, ack->seq, ack->version, (int)ack->code, ack->message);
        return;
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_RETRY:
        if (s->state != SLOT_WAITING)
            return; /* already backing off: this answers an earlier copy */
        if (s->attempts >= c->max_attempts) {
            slot_finish(c, i, (int)ack->status, 0, 0, (int)ack->code, ack->message);
            return;
        }
        queue_remove(c, i);
        s->deadline_ms = now + s->backoff_ms;
        s->backoff_ms = s->backoff_ms > MAX_BACKOFF_MS / 2 ? MAX_BACKOFF_MS : 2 * s->backoff_ms;
        slot_move(c, i, SLOT_BACKOFF);
        return;
    default:
        return; /* not a final status: the timeout will re-send */
    }
}

/* Reads every frame waiting on the socket. */
static int client_receive(parcours_client_t *c, int64_t now)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int n = zmq_msg_recv(&msg, c->socket, ZMQ_DONTWAIT);
        if (n < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            if (e == EAGAIN || e == EINTR)
                return PARCOURS_OK;
            return PARCOURS_ESOCKET;
        }
        Parcours__V1__Ack *ack =
            parcours__v1__ack__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        if (ack == NULL)
            continue; /* not an Ack: nothing to match it with; the timeout will re-send */
        client_on_ack(c, ack, now);
        parcours__v1__ack__free_unpacked(ack, NULL);
    }
}

/* Re-sends what timed out or finished its backoff; ends what used up its attempts. */
static void client_timers(parcours_client_t *c, int64_t now)
{
    while (c->waiting.head != NIL && c->slots[c->waiting.head].deadline_ms <= now) {
        uint32_t i = c->waiting.head;
        if (c->slots[i].attempts < c->max_attempts) {
            slot_attempt(c, i, now);
            continue;
        }
        char message[PARCOURS_MESSAGE_MAX];
        snprintf(message, sizeof(message),
                 "parcoursd did not answer (%d attempts, %d ms each); the event may or may not "
                 "have been applied: publish it again with the same event_id to find out.",
                 c->slots[i].attempts, c->ack_timeout_ms);
        slot_finish(c, i, PARCOURS_ACK_UNANSWERED, 0, 0, 0, message);
    }
    for (uint32_t i = c->backoff.head; i != NIL;) {
        uint32_t next = c->slots[i].links[LINK_STATE].next;
        if (c->slots[i].deadline_ms <= now)
            slot_attempt(c, i, now);
        i = next;
    }
}

/* The next moment a timer needs attention, or INT64_MAX. */
static int64_t client_next_timer(const parcours_client_t *c)
{
    int64_t next = INT64_MAX;
    if (c->waiting.head != NIL)
        next = c->slots[c->waiting.head].deadline_ms;
    for (uint32_t i = c->backoff.head; i != NIL; i = c->slots[i].links[LINK_STATE].next)
        if (c->slots[i].deadline_ms < next)
            next = c->slots[i].deadline_ms;
    return next;
}

int parcours_client_publish(parcours_client_t *client, const Parcours__V1__Event *event,
                            char event_id[PARCOURS_ID_MAX + 1])
{
    parcours_client_t *c = client;
    if (c == NULL || event == NULL || event->base.descriptor != &parcours__v1__event__descriptor)
        return PARCOURS_EINVAL;
    if (c->free.head == NIL)
        return PARCOURS_EFULL;

    /* The sent copy: the caller's struct is never touched, so it owns all its strings. */
    Parcours__V1__Event copy = *event;
    char id[PARCOURS_EVENT_ID_LEN + 1];
    if (str_empty(event->event_id)) {
        int rc = parcours_event_id_new(id);
        if (rc != PARCOURS_OK)
            return rc;
        copy.event_id = id;
    } else if (!identifier_valid(event->event_id)) {
        return PARCOURS_EINVAL;
    }
    if (str_empty(event->partner_id))
        copy.partner_id = c->partner_id;
    else if (!identifier_valid(event->partner_id))
        return PARCOURS_EINVAL;
    if (index_find(c, copy.event_id) != NIL)
        return PARCOURS_EINFLIGHT;

    size_t len = parcours__v1__event__get_packed_size(&copy);
    if (len > c->max_frame)
        return PARCOURS_ETOOLARGE;
    uint8_t *frame = malloc(len > 0 ? len : 1);
    if (frame == NULL)
        return PARCOURS_ENOMEM;
    parcours__v1__event__pack(&copy, frame);

    uint32_t i = c->free.head;
    slot_t *s = &c->slots[i];
    copy_text(s->event_id, sizeof(s->event_id), copy.event_id);
    s->frame = frame;
    s->frame_len = len;
    s->attempts = 0;
    s->backoff_ms = c->retry_backoff_ms;
    index_insert(c, i);
    c->in_flight++;
    slot_attempt(c, i, clock_monotonic_ms());
    if (event_id != NULL)
        copy_text(event_id, PARCOURS_ID_MAX + 1, s->event_id);
    /* A socket failure here shows again, and is reported, on the next poll. */
    (void)queue_flush(c);
    return PARCOURS_OK;
}

int parcours_client_poll(parcours_client_t *client, int timeout_ms, parcours_ack_t *ack)
{
    parcours_client_t *c = client;
    if (c == NULL || ack == NULL)
        return PARCOURS_EINVAL;
    int64_t start = clock_monotonic_ms();
    int64_t until = timeout_ms < 0 ? INT64_MAX : start + timeout_ms;
    for (;;) {
        int64_t now = clock_monotonic_ms();
        int rc = client_receive(c, now);
        if (rc == PARCOURS_OK)
            rc = client_handshakes(c);
        if (rc != PARCOURS_OK)
            return rc;
        client_timers(c, now);
        if (c->ready.head != NIL) {
            uint32_t i = c->ready.head;
            *ack = c->slots[i].ack;
            slot_move(c, i, SLOT_FREE);
            c->in_flight--;
            return 1;
        }
        if (c->in_flight == 0)
            return 0;
        rc = queue_flush(c);
        if (rc != PARCOURS_OK)
            return rc;
        if (now >= until)
            return 0;

        int64_t wake = client_next_timer(c);
        if (wake > until)
            wake = until;
        long wait = wake > now ? (long)(wake - now) : 0;
        zmq_pollitem_t items[2] = {{.socket = c->socket, .events = ZMQ_POLLIN},
                                   {.socket = c->monitor, .events = ZMQ_POLLIN}};
        if (c->queue.head != NIL)
            items[0].events |= ZMQ_POLLOUT; /* wake when the connection can take the queue */
        if (zmq_poll(items, 2, wait) < 0) {
            if (errno == EINTR)
                return 0;
            return PARCOURS_ESOCKET;
        }
    }
}

int parcours_client_send(parcours_client_t *client, const Parcours__V1__Event *event,
                         int timeout_ms, parcours_ack_t *ack)
{
    if (client == NULL || ack == NULL)
        return PARCOURS_EINVAL;
    if (client->in_flight > 0)
        return PARCOURS_EBUSY;
    int64_t until = clock_monotonic_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    int rc = parcours_client_publish(client, event, NULL);
    if (rc != PARCOURS_OK)
        return rc;
    for (;;) {
        int64_t left = until - clock_monotonic_ms();
        rc = parcours_client_poll(client, timeout_ms < 0 ? -1 : (left > 0 ? (int)left : 0), ack);
        if (rc != 0)
            return rc == 1 ? PARCOURS_OK : rc;
        /* Nothing final yet: the time is up, or a signal cut the wait short. */
        if (timeout_ms >= 0 && clock_monotonic_ms() >= until)
            return PARCOURS_EUNREACHABLE;
    }
}

int parcours_pseudonym(const uint8_t *key, size_t key_len, const char *identifier,
                       char out[PARCOURS_ID_MAX + 1])
{
    size_t len = identifier != NULL ? strnlen(identifier, 257) : 0;
    if (key == NULL || key_len < 32 || len == 0 || len > 256 || out == NULL)
        return PARCOURS_EINVAL;
    if (sodium_init() < 0)
        return PARCOURS_EINVAL;
    crypto_auth_hmacsha256_state state;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&state, key, key_len);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)identifier, len);
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_memzero(&state, sizeof(state));
    sodium_bin2hex(out, PARCOURS_ID_MAX + 1, mac, sizeof(mac));
    return PARCOURS_OK;
}
