/*
 * zwatch.h: a ZeroMQ socket watched by the libevent loop.
 *
 * A ZeroMQ socket's ZMQ_FD is edge-triggered: it signals that ZMQ_EVENTS may have changed, not
 * that a message is waiting, and any zmq_send or zmq_recv may consume the edge. A loop that
 * waits for the fd again while messages are queued hangs (libzmq#3641, pyzmq#199). zwatch owns
 * that rule: it calls the handler while ZMQ_EVENTS says POLLIN, and after the handler returns
 * (which may have sent) it checks again and re-activates itself if anything is left, so a
 * handler may stop early (a batch limit) without losing the wake-up.
 */
#ifndef PARCOURS_ZWATCH_H
#define PARCOURS_ZWATCH_H

#include <event2/event.h>

typedef struct zwatch zwatch_t;

/* Called when the socket has messages to read; it reads as many as it wants (non-blocking). */
typedef void (*zwatch_fn)(void *socket, void *ctx);

/*
 * Watches socket (a libzmq socket the caller keeps owning) on base. Returns a watch the caller
 * owns (zwatch_destroy), or NULL when the fd cannot be read or out of memory.
 */
zwatch_t *zwatch_new(struct event_base *base, void *socket, zwatch_fn fn, void *ctx);

/* Looks at ZMQ_EVENTS again and schedules the handler if messages wait. */
void zwatch_check(zwatch_t *w);

/*
 * To be called after every send on the socket, from the handler or any other callback: it
 * queues one pass of the watch, which libevent runs in this same turn of the loop, before it
 * waits on any fd again, and which checks ZMQ_EVENTS. So the rule holds (no wait on the fd
 * with a message queued) while a burst of sends costs one check, not one each: checking
 * ZMQ_EVENTS after each of eight subscribers' notifications was a sixth of the main thread.
 */
void zwatch_sent(zwatch_t *w);

/* Stops calling the handler for good (messages stay queued in the socket): a draining ingest. */
void zwatch_pause(zwatch_t *w);

/* Removes the watch from the loop, frees it and sets *w to NULL. Takes NULL. The socket is
 * not closed. */
void zwatch_destroy(zwatch_t **w);

#endif
