/*
 * curve.h: the CURVE client side of libparcours' sockets, shared by its modules.
 *
 * Internal to the library: not installed, and hidden from libparcours.so's symbols. The public
 * part of this module, parcours_keys_read(), is declared in parcours.h.
 */
#ifndef PARCOURS_CURVE_H
#define PARCOURS_CURVE_H

#include <stdint.h>
#include <zmq.h>

/*
 * Makes socket a CURVE client before it connects: secret_key is the client's secret key (32
 * raw bytes), its public key is derived from it (zmq_curve_public), and server_key is the
 * daemon's public key (32 raw bytes). Both are read during the call only. Both NULL: nothing
 * to do, the socket stays plain.
 * Returns 0; PARCOURS_EINVAL (one key without the other); PARCOURS_ENOCURVE (libzmq was built
 * without CURVE); PARCOURS_ESOCKET.
 */
__attribute__((visibility("hidden"))) int
parcours_curve_client(void *socket, const uint8_t *secret_key, const uint8_t *server_key);

/* The events a client's monitor watches (zmq_socket_monitor), for parcours_handshake_read. */
#define PARCOURS_HANDSHAKE_EVENTS                                                                  \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/*
 * Reads the events waiting on monitor (a PAIR connected to a socket's monitor), without
 * blocking, and tells what they mean for the client: PARCOURS_EKEYREFUSED once ZAP refused the
 * key (the daemon's ERROR 400), PARCOURS_EHANDSHAKE after two handshakes in a row that the
 * daemon closed (a wrong server key makes it close the connection, EPIPE or ECONNRESET here;
 * once may be the network's hiccup; a handshake that timed out is a slow daemon, not counted),
 * else PARCOURS_OK. *failed counts the failures in a row (0 after a success); *succeeded, when
 * not NULL, gets the number of handshakes that succeeded. PARCOURS_ESOCKET when the monitor
 * cannot be read.
 */
__attribute__((visibility("hidden"))) int parcours_handshake_read(void *monitor, int *failed,
                                                                  int *succeeded);

#endif
