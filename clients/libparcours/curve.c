/*
 * curve.c: libparcours' CURVE keys: reading key files (parcours_keys_read, in parcours.h) and
 * setting a socket's client keys.
 *
 * The file format and its checks are parcoursd's: both read key files with common/keyfile.c,
 * so that a key the daemon takes is a key the clients take, and the other way round.
 */
#include "curve.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <zmq.h>

#include "keyfile.h"
#include "parcours.h"

/* parcours.h is installed alone and cannot include common/keyfile.h: the sizes must stay
 * one. */
_Static_assert(PARCOURS_KEY_SIZE == KEYFILE_KEY_SIZE, "a libparcours key is a key file's key");

int parcours_keys_read(const char *path, int secret, uint8_t key[PARCOURS_KEY_SIZE])
{
    if (path == NULL || key == NULL)
        return PARCOURS_EINVAL;
    /* The sentence is the daemon's; the library's callers get a code and errno instead. */
    switch (keyfile_read(path, secret != 0, key, NULL, 0)) {
    case KEYFILE_OK:
        return PARCOURS_OK;
    case KEYFILE_EMODE:
        return PARCOURS_EKEYMODE;
    case KEYFILE_EKEY:
        return PARCOURS_EKEY;
    default: /* KEYFILE_EFILE, errno set */
        return PARCOURS_EKEYFILE;
    }
}

int parcours_curve_client(void *socket, const uint8_t *secret_key, const uint8_t *server_key)
{
    if (secret_key == NULL && server_key == NULL)
        return PARCOURS_OK;
    if (secret_key == NULL || server_key == NULL)
        return PARCOURS_EINVAL;
    if (!zmq_has("curve"))
        return PARCOURS_ENOCURVE;
    char secret_z85[KEYFILE_Z85_LENGTH + 1], public_z85[KEYFILE_Z85_LENGTH + 1];
    int rc = PARCOURS_ESOCKET;
    if (zmq_z85_encode(secret_z85, secret_key, PARCOURS_KEY_SIZE) == NULL ||
        zmq_curve_public(public_z85, secret_z85) != 0)
        goto done;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_key, PARCOURS_KEY_SIZE) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, public_z85, KEYFILE_Z85_LENGTH) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_key, PARCOURS_KEY_SIZE) != 0)
        goto done;
    rc = PARCOURS_OK;
done:
    keyfile_wipe(secret_z85, sizeof(secret_z85));
    return rc;
}

int parcours_handshake_read(void *monitor, int *failed, int *succeeded)
{
    if (succeeded != NULL)
        *succeeded = 0;
    for (;;) {
        zmq_msg_t head;
        zmq_msg_init(&head);
        int n = zmq_msg_recv(&head, monitor, ZMQ_DONTWAIT);
        if (n < 0) {
            int e = errno;
            zmq_msg_close(&head);
            return (e == EAGAIN || e == EINTR) ? PARCOURS_OK : PARCOURS_ESOCKET;
        }
        /* [event (u16) and value (u32), native order, maybe unaligned] [the endpoint] */
        uint16_t event = 0;
        uint32_t value = 0;
        if (n == 6) {
            memcpy(&event, zmq_msg_data(&head), sizeof(event));
            memcpy(&value, (const uint8_t *)zmq_msg_data(&head) + 2, sizeof(value));
        }
        bool more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            more = zmq_msg_recv(&rest, monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            *failed = 0;
            if (succeeded != NULL)
                (*succeeded)++;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            /* 400: ZAP refused the key; another status is the daemon failing, not the key. */
            return value == 400 ? PARCOURS_EKEYREFUSED : PARCOURS_EHANDSHAKE;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
                    (value == EPIPE || value == ECONNRESET) && ++*failed >= 2)) {
            /* The daemon closing the connection (EPIPE, ECONNRESET) is what another server key
             * makes; a handshake that timed out (EAGAIN: a daemon stalled or slow) is not. */
            return PARCOURS_EHANDSHAKE;
        }
    }
}
