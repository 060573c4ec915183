/*
 * curve.h: the CURVE client side of libparcours' sockets, shared by its modules.
 *
 * Internal to the library: not installed, and hidden from libparcours.so's symbols. The public
 * part of this module, parcours_keys_read(), is declared in parcours.h.
 */
#ifndef PARCOURS_CURVE_H
#define PARCOURS_CURVE_H

#include <stdint.h>

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

#endif
