/* zwatch.c: ZMQ_FD edge-trigger handling for libevent, in one place. */
#include "zwatch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <zmq.h>

struct zwatch {
    void *socket;
    zwatch_fn fn;
    void *ctx;
    struct event *fd_event;    /* the ZMQ_FD readable edge */
    struct event *again_event; /* a deferred pass when messages are left after a handler */
    bool again_pending;        /* again_event is active: the pass will check */
    bool paused;
};

static bool zwatch_readable(zwatch_t *w)
{
    int events = 0;
    size_t len = sizeof(events);
    if (zmq_getsockopt(w->socket, ZMQ_EVENTS, &events, &len) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

/* One pass: at most one handler call, then a re-check. Deferring further passes through the
 * loop (rather than looping here) lets the other sockets and the signals have their turn. */
static void zwatch_pass(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    zwatch_t *w = arg;
    w->again_pending = false;
    if (w->paused)
        return;
    if (zwatch_readable(w))
        w->fn(w->socket, w->ctx);
    zwatch_check(w);
}

void zwatch_check(zwatch_t *w)
{
    if (!w->paused && !w->again_pending && zwatch_readable(w)) {
        w->again_pending = true;
        event_active(w->again_event, EV_TIMEOUT, 0);
    }
}

void zwatch_sent(zwatch_t *w)
{
    /* One pass, queued: it runs in this turn of the loop, before libevent waits on any fd
     * again, and looks at ZMQ_EVENTS once however many sends came before it. */
    if (!w->paused && !w->again_pending) {
        w->again_pending = true;
        event_active(w->again_event, EV_TIMEOUT, 0);
    }
}

zwatch_t *zwatch_new(struct event_base *base, void *socket, zwatch_fn fn, void *ctx)
{
    int fd;
    size_t len = sizeof(fd);
    if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) != 0)
        return NULL;
    zwatch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->socket = socket;
    w->fn = fn;
    w->ctx = ctx;
    w->fd_event = event_new(base, fd, EV_READ | EV_PERSIST, zwatch_pass, w);
    w->again_event = event_new(base, -1, 0, zwatch_pass, w);
    if (w->fd_event == NULL || w->again_event == NULL || event_add(w->fd_event, NULL) != 0) {
        zwatch_destroy(&w);
        return NULL;
    }
    /* Messages may already be queued: the edge for them has passed. */
    zwatch_check(w);
    return w;
}

void zwatch_pause(zwatch_t *w)
{
    w->paused = true;
}

void zwatch_destroy(zwatch_t **w)
{
    if (w == NULL || *w == NULL)
        return;
    if ((*w)->fd_event != NULL)
        event_free((*w)->fd_event);
    if ((*w)->again_event != NULL)
        event_free((*w)->again_event);
    free(*w);
    *w = NULL;
}
