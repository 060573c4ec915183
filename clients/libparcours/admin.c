/*
 * admin.c: libparcours, the client side of the admin endpoint.
 *
 * A connection is a short-lived DEALER socket of its own context: one exchange for a question
 * (parcours_admin_call), or as many as the parts of a hot backup (parcours_admin_backup), each
 * one request out and one reply back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "parcours.h"

/* A status of a large territory, or a backup part of 1 MiB, fits with room to spare. */
#define MAX_ADMIN_REPLY (64 * 1024 * 1024)

typedef struct admin_conn {
    void *context;
    void *socket;
    void *monitor;         /* the handshakes' outcomes (parcours_handshake_read) */
    int handshakes_failed; /* in a row */
} admin_conn_t;

static void admin_close(admin_conn_t *c)
{
    if (c->monitor != NULL) {
        if (c->socket != NULL)
            zmq_socket_monitor(c->socket, NULL, 0);
        zmq_close(c->monitor);
    }
    c->monitor = NULL;
    if (c->socket != NULL)
        zmq_close(c->socket);
    if (c->context != NULL)
        zmq_ctx_term(c->context);
    c->socket = c->context = NULL;
}

/* Opens a connection whose sends wait timeout_ms at most for the daemon. */
static int admin_open(admin_conn_t *c, const char *endpoint, const uint8_t *curve_secret_key,
                      const uint8_t *curve_server_key, int timeout_ms)
{
    c->context = zmq_ctx_new();
    c->socket = c->context != NULL ? zmq_socket(c->context, ZMQ_DEALER) : NULL;
    /* Immediate with a send timeout: a request waits for the connection, for timeout_ms at
     * most, instead of sitting in a pipe; linger 0: closing never waits. */
    int linger = 0, immediate = 1;
    int64_t max_msg = MAX_ADMIN_REPLY;
    if (c->socket == NULL || zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms)) != 0 ||
        zmq_setsockopt(c->socket, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0) {
        admin_close(c);
        return PARCOURS_ESOCKET;
    }
    int rc = parcours_curve_client(c->socket, curve_secret_key, curve_server_key);
    /* A refused key is said at once, not taken for a daemon that does not answer. */
    c->monitor = rc == PARCOURS_OK ? zmq_socket(c->context, ZMQ_PAIR) : NULL;
    if (rc == PARCOURS_OK &&
        (c->monitor == NULL || zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof(linger)) ||
         zmq_socket_monitor(c->socket, "inproc://parcours-admin-monitor",
                            PARCOURS_HANDSHAKE_EVENTS) != 0 ||
         zmq_connect(c->monitor, "inproc://parcours-admin-monitor") != 0))
        rc = PARCOURS_ESOCKET;
    if (rc == PARCOURS_OK && zmq_connect(c->socket, endpoint) != 0)
        rc = PARCOURS_EENDPOINT;
    if (rc != PARCOURS_OK)
        admin_close(c);
    return rc;
}

/* One request out, one reply back, within timeout_ms. */
static int admin_exchange(admin_conn_t *c, const Parcours__V1__AdminRequest *request,
                          int timeout_ms, Parcours__V1__AdminReply **reply)
{
    size_t len = parcours__v1__admin_request__get_packed_size(request);
    uint8_t *frame = malloc(len > 0 ? len : 1);
    if (frame == NULL)
        return PARCOURS_ENOMEM;
    parcours__v1__admin_request__pack(request, frame);
    int64_t until = clock_monotonic_ms() + timeout_ms;
    /* Sent once a connection takes it (immediate), watching the handshakes meanwhile. */
    int rc = PARCOURS_OK;
    bool sent = false;
    while (rc == PARCOURS_OK) {
        rc = parcours_handshake_read(c->monitor, &c->handshakes_failed, NULL);
        if (rc != PARCOURS_OK)
            break;
        if (!sent && zmq_send(c->socket, frame, len, ZMQ_DONTWAIT) >= 0)
            sent = true;
        else if (!sent && errno != EAGAIN && errno != EINTR)
            rc = PARCOURS_ESOCKET;
        if (rc != PARCOURS_OK)
            break;
        int64_t left = until - clock_monotonic_ms();
        zmq_pollitem_t items[2] = {
            {.socket = c->socket, .events = (short)(sent ? ZMQ_POLLIN : ZMQ_POLLOUT)},
            {.socket = c->monitor, .events = ZMQ_POLLIN}};
        int n = zmq_poll(items, 2, left > 0 ? (long)left : 0);
        if (n > 0 && sent && (items[0].revents & ZMQ_POLLIN))
            break;
        if (n == 0)
            rc = PARCOURS_EUNREACHABLE;
        else if (n < 0 && errno != EINTR)
            rc = PARCOURS_ESOCKET;
    }
    free(frame);
    if (rc != PARCOURS_OK)
        return rc;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return PARCOURS_ESOCKET;
    }
    *reply = parcours__v1__admin_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    return *reply != NULL ? PARCOURS_OK : PARCOURS_EPROTOCOL;
}

int parcours_admin_call(const char *endpoint, const Parcours__V1__AdminRequest *request,
                        int timeout_ms, Parcours__V1__AdminReply **reply)
{
    return parcours_admin_call_secure(endpoint, NULL, NULL, request, timeout_ms, reply);
}

int parcours_admin_call_secure(const char *endpoint, const uint8_t *curve_secret_key,
                               const uint8_t *curve_server_key,
                               const Parcours__V1__AdminRequest *request, int timeout_ms,
                               Parcours__V1__AdminReply **reply)
{
    if (reply == NULL)
        return PARCOURS_EINVAL;
    *reply = NULL;
    if (endpoint == NULL || request == NULL || timeout_ms < 1 ||
        request->base.descriptor != &parcours__v1__admin_request__descriptor ||
        (curve_secret_key == NULL) != (curve_server_key == NULL))
        return PARCOURS_EINVAL;
    admin_conn_t c = {0};
    int rc = admin_open(&c, endpoint, curve_secret_key, curve_server_key, timeout_ms);
    if (rc == PARCOURS_OK)
        rc = admin_exchange(&c, request, timeout_ms, reply);
    admin_close(&c);
    return rc;
}

/* Writes all of len bytes to fd. */
static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PARCOURS_EWRITE;
        data += n;
        len -= (size_t)n;
    }
    return PARCOURS_OK;
}

int parcours_admin_backup(const char *endpoint, const uint8_t *curve_secret_key,
                          const uint8_t *curve_server_key, int fd, int timeout_ms, uint64_t *bytes,
                          char *why, size_t why_len)
{
    if (bytes != NULL)
        *bytes = 0;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (endpoint == NULL || fd < 0 || timeout_ms < 1 ||
        (curve_secret_key == NULL) != (curve_server_key == NULL))
        return PARCOURS_EINVAL;
    admin_conn_t c = {0};
    int rc = admin_open(&c, endpoint, curve_secret_key, curve_server_key, timeout_ms);
    int write_errno = 0;
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_BACKUP;
    bool done = false;
    while (rc == PARCOURS_OK && !done) {
        Parcours__V1__AdminReply *reply = NULL;
        rc = admin_exchange(&c, &request, timeout_ms, &reply);
        if (rc != PARCOURS_OK)
            break;
        const Parcours__V1__BackupPart *part = reply->backup;
        if (!reply->ok) {
            if (why != NULL && why_len > 0)
                snprintf(why, why_len, "%s", reply->error != NULL ? reply->error : "");
            rc = PARCOURS_EREFUSED;
        } else if (part == NULL || part->offset != request.backup_offset ||
                   (request.backup_token != 0 && part->token != request.backup_token)) {
            rc = PARCOURS_EPROTOCOL; /* not the part asked for */
        } else {
            rc = write_all(fd, part->data.data, part->data.len);
            write_errno = errno;
            request.backup_token = part->token;
            request.backup_offset += part->data.len;
            if (bytes != NULL && rc == PARCOURS_OK)
                *bytes = request.backup_offset;
            done = part->done;
        }
        parcours__v1__admin_reply__free_unpacked(reply, NULL);
    }
    admin_close(&c);
    if (rc == PARCOURS_EWRITE)
        errno = write_errno; /* closing the connection may have changed it */
    return rc;
}
