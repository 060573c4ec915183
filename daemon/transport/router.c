/* router.c: a ROUTER endpoint of the daemon, owned whole (see router.h). */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "text.h"
#include "zap.h"
#include "zwatch.h"

#define ROUTER_REBIND_RETRY_MS 10  /* between two binds while the old listener lets go */
#define ROUTER_REBIND_TRIES    500 /* 5 s of them */

struct router {
    void *socket;
    zwatch_t *watch;
    router_fn fn;
    void *ctx;
    char name[16];
    char endpoint[512];
    struct event *rebind_timer;
    unsigned rebind_tries;
    bool peer_address;
    /* With CURVE: libzmq's monitor of the socket, for handshakes that fail before ZAP. */
    void *monitor;
    zwatch_t *monitor_watch;
    zap_t *zap;
    char zap_domain[16];
};

/* Why a handshake failed, from the monitor event's value, as the admin should read it. */
static const char *router_handshake_why(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return "the client does not use CURVE (it needs its key pair and the daemon's public key)";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC ||
         value == ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO))
        return "what it sent could not be decrypted (most often: the client holds another "
               "server public key than this daemon's)";
    (void)event;
    return NULL;
}

/* One event of the monitor: [6 bytes: event (u16), value (u32)] [the endpoint]. */
static void router_on_monitor(void *socket, void *ctx)
{
    router_t *r = ctx;
    zmq_msg_t head, address;
    zmq_msg_init(&head);
    zmq_msg_init(&address);
    if (zmq_msg_recv(&head, socket, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&head) &&
        zmq_msg_recv(&address, socket, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&head) == 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zmq_msg_data(&head), sizeof(event));
        memcpy(&value, (const uint8_t *)zmq_msg_data(&head) + 2, sizeof(value));
        const char *why = router_handshake_why(event, value);
        char other[96];
        if (why == NULL) {
            snprintf(other, sizeof(other), "the client broke the handshake off (ZMTP error 0x%08x)",
                     (unsigned)value);
            why = other;
        }
        zap_handshake_failed(r->zap, r->zap_domain, why);
    }
    zmq_msg_close(&head);
    zmq_msg_close(&address);
}

/* Watches the socket's handshakes that fail on the protocol (those ZAP refused are counted by
 * the handler itself). */
static int router_monitor(router_t *r, struct event_base *base, void *zmq_context)
{
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "inproc://parcours-monitor-%p", (void *)r);
    /* Not ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: a connection closed before its greeting (a
     * TCP probe, a client going away) is no refusal. */
    if (zmq_socket_monitor(r->socket, endpoint, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
        return -1;
    r->monitor = zmq_socket(zmq_context, ZMQ_PAIR);
    int linger = 0;
    if (r->monitor == NULL || zmq_setsockopt(r->monitor, ZMQ_LINGER, &linger, sizeof(linger)) ||
        zmq_connect(r->monitor, endpoint) != 0)
        return -1;
    r->monitor_watch = zwatch_new(base, r->monitor, router_on_monitor, r);
    return r->monitor_watch != NULL ? 0 : -1;
}

static void router_on_readable(void *socket, void *ctx)
{
    (void)socket;
    router_t *r = ctx;
    r->fn(r, r->ctx);
}

static void router_on_rebind_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router_t *r = arg;
    if (zmq_bind(r->socket, r->endpoint) == 0) {
        log_info("%s: %s bound again; connections authenticate anew", r->name, r->endpoint);
        return;
    }
    if (errno == EADDRINUSE && ++r->rebind_tries < ROUTER_REBIND_TRIES) {
        struct timeval retry = {0, ROUTER_REBIND_RETRY_MS * 1000};
        evtimer_add(r->rebind_timer, &retry);
        return;
    }
    log_error("%s: cannot bind %s again: %s; partners cannot connect until a restart", r->name,
              r->endpoint, zmq_strerror(errno));
}

/* Binds the endpoint, owner-only for an ipc:// one: the socket file never exists with wider
 * rights, even for an instant. */
static int router_bind(router_t *r, bool owner_only)
{
    bool ipc = strncmp(r->endpoint, "ipc://", 6) == 0;
    mode_t old_mask = owner_only && ipc ? umask(0077) : 0;
    int rc = zmq_bind(r->socket, r->endpoint);
    int saved = errno;
    if (owner_only && ipc)
        umask(old_mask);
    if (rc == 0 && owner_only && ipc && chmod(r->endpoint + 6, 0600) != 0)
        return -1;
    errno = saved;
    return rc;
}

int router_new(struct event_base *base, void *zmq_context, const router_options_t *o, router_fn fn,
               void *ctx, router_t **out, char *err, size_t errlen)
{
    *out = NULL;
    router_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    r->fn = fn;
    r->ctx = ctx;
    snprintf(r->name, sizeof(r->name), "%s", o->name);
    snprintf(r->endpoint, sizeof(r->endpoint), "%s", o->endpoint);
    r->socket = zmq_socket(zmq_context, ZMQ_ROUTER);
    if (r->socket == NULL) {
        snprintf(err, errlen, "cannot create the %s socket: %s", o->name, zmq_strerror(errno));
        goto fail;
    }
    int on = 1, linger = o->linger_ms, hwm = o->send_hwm, ping = o->heartbeat_ms,
        ping_timeout = 3 * o->heartbeat_ms;
    int64_t max_message = o->max_message;
    if (zmq_setsockopt(r->socket, ZMQ_LINGER, &linger, sizeof(linger)) ||
        (max_message > 0 &&
         zmq_setsockopt(r->socket, ZMQ_MAXMSGSIZE, &max_message, sizeof(max_message))) ||
        (o->mandatory && zmq_setsockopt(r->socket, ZMQ_ROUTER_MANDATORY, &on, sizeof(on))) ||
        (hwm > 0 && zmq_setsockopt(r->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm))) ||
        (ping > 0 &&
         (zmq_setsockopt(r->socket, ZMQ_HEARTBEAT_IVL, &ping, sizeof(ping)) ||
          zmq_setsockopt(r->socket, ZMQ_HEARTBEAT_TIMEOUT, &ping_timeout, sizeof(ping_timeout))))) {
        snprintf(err, errlen, "cannot set the %s socket's options: %s", o->name,
                 zmq_strerror(errno));
        goto fail;
    }
    if (o->secret_key != NULL && zap_secure_socket(r->socket, o->zap_domain, o->secret_key) != 0) {
        snprintf(err, errlen, "cannot set CURVE on the %s socket: %s", o->name,
                 zmq_strerror(errno));
        goto fail;
    }
    r->peer_address = o->peer_address;
    if (o->secret_key != NULL && o->zap != NULL) {
        r->zap = o->zap;
        snprintf(r->zap_domain, sizeof(r->zap_domain), "%s", o->zap_domain);
        if (router_monitor(r, base, zmq_context) != 0) {
            snprintf(err, errlen, "cannot watch the %s socket's handshakes: %s", o->name,
                     zmq_strerror(errno));
            goto fail;
        }
    }
    if (router_bind(r, o->owner_only) != 0) {
        snprintf(err, errlen, "cannot bind the %s endpoint %s: %s", o->name, o->endpoint,
                 errno != 0 ? zmq_strerror(errno) : "unknown error");
        goto fail;
    }
    r->watch = zwatch_new(base, r->socket, router_on_readable, r);
    r->rebind_timer = evtimer_new(base, router_on_rebind_timer, r);
    if (r->watch == NULL || r->rebind_timer == NULL) {
        snprintf(err, errlen, "cannot watch the %s socket", o->name);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    router_destroy(&r);
    return -1;
}

static bool more_follows(void *socket)
{
    int more = 0;
    size_t len = sizeof(more);
    zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len);
    return more != 0;
}

bool router_receive(router_t *r, router_message_t *m, uint8_t *buf, size_t cap)
{
    memset(m, 0, sizeof(*m));
    int n = zmq_recv(r->socket, m->identity, sizeof(m->identity), ZMQ_DONTWAIT);
    if (n < 0)
        return false;
    m->identity_len = (size_t)n < sizeof(m->identity) ? (size_t)n : sizeof(m->identity);
    if (!more_follows(r->socket))
        return true; /* cannot happen on a ROUTER; nothing to answer */
    m->has_frame = true;
    /* The frame comes as a message, to read the partner its connection authenticated as. */
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int len = zmq_msg_recv(&msg, r->socket, 0);
    if (len < 0) {
        m->read_error = true;
    } else {
        const char *user = zap_message_user(&msg);
        if (user != NULL)
            text_copy(m->user, sizeof(m->user), user);
        if (r->peer_address) {
            const char *peer = zmq_msg_gets(&msg, "Peer-Address");
            if (peer != NULL)
                text_copy(m->peer, sizeof(m->peer), peer);
        }
        m->len = (size_t)len;
        memcpy(buf, zmq_msg_data(&msg), m->len <= cap ? m->len : cap);
    }
    zmq_msg_close(&msg);
    while (more_follows(r->socket)) { /* a message of more than one frame: drop the rest */
        char sink[64];
        zmq_recv(r->socket, sink, sizeof(sink), 0);
        m->extra_frames = true;
    }
    return true;
}

bool router_identity_is_own(const uint8_t *identity, size_t len)
{
    return len > 0 && identity[0] == 0;
}

int router_send(router_t *r, const uint8_t *identity, size_t identity_len, const void *data,
                size_t len)
{
    int rc = 0;
    if (zmq_send(r->socket, identity, identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(r->socket, data, len, ZMQ_DONTWAIT) < 0)
        rc = errno;
    zwatch_sent(r->watch);
    return rc;
}

int router_send_built(router_t *r, const uint8_t *identity, size_t identity_len, size_t len,
                      router_fill_fn fill, void *ctx)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) != 0)
        return ENOMEM;
    fill(zmq_msg_data(&msg), ctx);
    int rc = 0;
    if (zmq_send(r->socket, identity, identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&msg, r->socket, ZMQ_DONTWAIT) < 0)
        rc = errno;
    zmq_msg_close(&msg); /* after a successful send, this only releases the emptied message */
    zwatch_sent(r->watch);
    return rc;
}

const char *router_strerror(int err)
{
    return zmq_strerror(err);
}

void router_rebind(router_t *r)
{
    if (zmq_unbind(r->socket, r->endpoint) != 0) {
        log_error("%s: cannot unbind %s to drop its connections: %s", r->name, r->endpoint,
                  zmq_strerror(errno));
        return;
    }
    /* libzmq closes the old listener in its I/O thread: the port may stay taken a moment. */
    r->rebind_tries = 0;
    struct timeval now = {0, 0};
    evtimer_add(r->rebind_timer, &now);
}

void router_pause(router_t *r)
{
    zwatch_pause(r->watch);
}

void router_destroy(router_t **r)
{
    if (r == NULL || *r == NULL)
        return;
    router_t *x = *r;
    zwatch_destroy(&x->watch);
    zwatch_destroy(&x->monitor_watch);
    if (x->monitor != NULL) {
        if (x->socket != NULL)
            zmq_socket_monitor(x->socket, NULL, 0);
        zmq_close(x->monitor);
    }
    if (x->rebind_timer != NULL)
        event_free(x->rebind_timer);
    if (x->socket != NULL)
        zmq_close(x->socket);
    free(x);
    *r = NULL;
}
