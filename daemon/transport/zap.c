/* zap.c: CURVE keys to partners, for every handshake of the daemon's endpoints. */
#include "zap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "zwatch.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   7 /* version, request id, domain, address, identity, mechanism, key */
/* A refused client tries again every reconnect interval (100 ms by default): each kind of
 * refusal is logged once, then once a minute with the number since, from this many kinds. */
#define ZAP_LOG_KINDS    32
#define ZAP_LOG_EVERY_MS 60000

/* One kind of refusal: a domain, why, and the key's fingerprint (none before ZAP). */
typedef struct zap_log_kind {
    char what[256];
    int64_t logged_ms; /* monotonic; 0: free */
    uint64_t since;    /* refusals of this kind not logged since */
} zap_log_kind_t;

struct zap {
    void *socket;
    zwatch_t *watch;
    const partners_t *partners;
    uint8_t admin_keys[ZAP_ADMIN_KEYS_MAX][32];
    size_t n_admin_keys;
    zap_counters_t counters;
    zap_log_kind_t kinds[ZAP_LOG_KINDS];
    /* Refusals of kinds beyond the table while all of it was logged within the minute (keys
     * cycled to flood the log): counted, and said once a minute. */
    uint64_t overflow;
    int64_t overflow_logged_ms;
};

static int64_t zap_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Counts one refused connection and logs it, unless its kind was logged in the last minute. */
static void zap_refusal(zap_t *z, const char *what)
{
    z->counters.refused++;
    int64_t now = zap_now_ms();
    zap_log_kind_t *k = NULL, *oldest = &z->kinds[0];
    for (size_t i = 0; i < ZAP_LOG_KINDS && k == NULL; i++) {
        if (z->kinds[i].logged_ms != 0 && strcmp(z->kinds[i].what, what) == 0)
            k = &z->kinds[i];
        else if (z->kinds[i].logged_ms < oldest->logged_ms)
            oldest = &z->kinds[i];
    }
    if (k != NULL && now - k->logged_ms < ZAP_LOG_EVERY_MS) {
        k->since++;
        return;
    }
    if (k == NULL && oldest->logged_ms != 0 && now - oldest->logged_ms < ZAP_LOG_EVERY_MS) {
        z->overflow++;
        if (now - z->overflow_logged_ms >= ZAP_LOG_EVERY_MS) {
            log_info("zap: %" PRIu64 " connections refused in the last minute, of more kinds than "
                     "the log follows (%d): many different keys",
                     z->overflow, ZAP_LOG_KINDS);
            z->overflow = 0;
            z->overflow_logged_ms = now;
        }
        return;
    }
    if (k == NULL) {
        k = oldest; /* a kind not seen for the longest is forgotten */
        snprintf(k->what, sizeof(k->what), "%s", what);
        k->since = 0;
    }
    if (k->since > 0)
        log_info("%s (and %" PRIu64 " times more since it was last logged)", what, k->since);
    else
        log_info("%s", what);
    k->logged_ms = now;
    k->since = 0;
}

/* The user id for a key on a domain, or NULL when the key may not connect there. */
static const char *zap_decide(const zap_t *z, const char *domain, const uint8_t *key)
{
    if (strcmp(domain, ZAP_DOMAIN_ADMIN) == 0) {
        for (size_t i = 0; i < z->n_admin_keys; i++)
            if (memcmp(z->admin_keys[i], key, 32) == 0)
                return ZAP_ADMIN_USER;
        return NULL;
    }
    if (strcmp(domain, ZAP_DOMAIN_INGEST) != 0 && strcmp(domain, ZAP_DOMAIN_DELIVER) != 0)
        return NULL;
    for (size_t i = 0; i < partners_count(z->partners); i++) {
        const partner_t *p = partners_at(z->partners, i);
        if (p->has_public_key && memcmp(p->public_key, key, 32) == 0)
            return p->id;
    }
    return NULL;
}

/* Answers one request; a malformed one is refused (500). quiet: the self-test's, neither
 * counted nor logged. */
static void zap_handle(zap_t *z, bool quiet)
{
    zmq_msg_t frames[ZAP_FRAMES];
    size_t n = 0;
    int more = 1;
    size_t more_len = sizeof(more);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *m = n < ZAP_FRAMES ? &frames[n] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, z->socket, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        zmq_getsockopt(z->socket, ZMQ_RCVMORE, &more, &more_len);
        if (m == &extra)
            zmq_msg_close(m);
        n++;
    }
    size_t kept = n < ZAP_FRAMES ? n : ZAP_FRAMES;
    char domain[64] = "", mechanism[16] = "";
    if (kept >= 6) {
        snprintf(domain, sizeof(domain), "%.*s", (int)zmq_msg_size(&frames[2]),
                 (const char *)zmq_msg_data(&frames[2]));
        snprintf(mechanism, sizeof(mechanism), "%.*s", (int)zmq_msg_size(&frames[5]),
                 (const char *)zmq_msg_data(&frames[5]));
    }
    const char *user = NULL, *status = "500", *text = "malformed ZAP request";
    if (n == ZAP_FRAMES && zmq_msg_size(&frames[0]) == 3 &&
        memcmp(zmq_msg_data(&frames[0]), "1.0", 3) == 0 && strcmp(mechanism, "CURVE") == 0 &&
        zmq_msg_size(&frames[6]) == 32) {
        user = zap_decide(z, domain, zmq_msg_data(&frames[6]));
        status = user ? "200" : "400";
        text = user ? "OK" : "unknown or revoked key";
    } else if (n == 6 && strcmp(mechanism, "NULL") == 0) {
        status = "400";
        text = "CURVE is required";
    }
    if (quiet) {
    } else if (user != NULL) {
        z->counters.allowed++;
        log_debug("zap: %s connected on %s", user, domain);
    } else {
        /* The key's fingerprint (its first bytes, in hex: a public key is no secret) lets an
         * admin tell which revoked or unknown key keeps knocking. */
        char what[256], fingerprint[PARTNERS_FINGERPRINT_LEN + 1] = "";
        if (n == ZAP_FRAMES && zmq_msg_size(&frames[6]) == 32)
            partners_key_fingerprint(zmq_msg_data(&frames[6]), fingerprint);
        if (fingerprint[0] != '\0')
            snprintf(what, sizeof(what), "zap: connection refused on %s: %s (key %s)",
                     domain[0] ? domain : "?", text, fingerprint);
        else
            snprintf(what, sizeof(what), "zap: connection refused on %s: %s",
                     domain[0] ? domain : "?", text);
        zap_refusal(z, what);
    }
    /* The reply echoes the version and the request id. */
    zmq_send(z->socket, "1.0", 3, ZMQ_SNDMORE);
    if (kept >= 2)
        zmq_send(z->socket, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), ZMQ_SNDMORE);
    else
        zmq_send(z->socket, "", 0, ZMQ_SNDMORE);
    zmq_send(z->socket, status, 3, ZMQ_SNDMORE);
    zmq_send(z->socket, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->socket, user ? user : "", user ? strlen(user) : 0, ZMQ_SNDMORE);
    zmq_send(z->socket, "", 0, 0);
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&frames[i]);
}

static void zap_on_readable(void *socket, void *ctx)
{
    (void)socket;
    zap_t *z = ctx;
    /* REP: one request at a time; zwatch calls again while more wait. */
    zap_handle(z, false);
}

int zap_new(struct event_base *base, void *zmq_context, const partners_t *partners,
            const uint8_t (*admin_keys)[32], size_t n_admin_keys, zap_t **out, char *err,
            size_t errlen)
{
    *out = NULL;
    if (n_admin_keys > ZAP_ADMIN_KEYS_MAX)
        return snprintf(err, errlen, "at most %d admin keys", ZAP_ADMIN_KEYS_MAX), -1;
    zap_t *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    z->partners = partners;
    memcpy(z->admin_keys, admin_keys, n_admin_keys * 32);
    z->n_admin_keys = n_admin_keys;
    z->socket = zmq_socket(zmq_context, ZMQ_REP);
    int linger = 0;
    if (z->socket == NULL || zmq_setsockopt(z->socket, ZMQ_LINGER, &linger, sizeof(linger)) ||
        zmq_bind(z->socket, ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler on %s: %s", ZAP_ENDPOINT,
                 zmq_strerror(errno));
        zap_destroy(&z);
        return -1;
    }
    z->watch = zwatch_new(base, z->socket, zap_on_readable, z);
    if (z->watch == NULL) {
        snprintf(err, errlen, "cannot watch the ZAP handler");
        zap_destroy(&z);
        return -1;
    }
    *out = z;
    return 0;
}

int zap_selftest(zap_t *z, void *zmq_context, char *err, size_t errlen)
{
    if (z == NULL)
        return snprintf(err, errlen, "no ZAP handler is running"), -1;
    void *req = zmq_socket(zmq_context, ZMQ_REQ);
    int linger = 0, rc = -1;
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
    uint8_t nobody[32];
    memset(nobody, 0xA5, sizeof(nobody));
    char status[8] = "";
    if (zmq_connect(req, ZAP_ENDPOINT) == 0) {
        const char *frames[] = {"1.0", "selftest", ZAP_DOMAIN_INGEST, "127.0.0.1", "", "CURVE"};
        for (size_t i = 0; i < 6; i++)
            zmq_send(req, frames[i], strlen(frames[i]), ZMQ_SNDMORE);
        zmq_send(req, nobody, sizeof(nobody), 0);
        /* The handler runs in this thread: serve the one request by hand. */
        zmq_pollitem_t item = {z->socket, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 1000) > 0)
            zap_handle(z, true);
        zmq_pollitem_t answer = {req, 0, ZMQ_POLLIN, 0};
        char buf[64];
        for (int i = 0; zmq_poll(&answer, 1, i == 0 ? 1000 : 0) > 0; i++) {
            int n = zmq_recv(req, buf, sizeof(buf) - 1, 0);
            if (i == 2 && n == 3)
                memcpy(status, buf, 4), status[3] = '\0';
            int more = 0;
            size_t more_len = sizeof(more);
            zmq_getsockopt(req, ZMQ_RCVMORE, &more, &more_len);
            if (!more)
                break;
        }
        rc = strcmp(status, "400") == 0 ? 0 : -1;
    }
    zmq_close(req);
    if (rc != 0)
        snprintf(err, errlen, "the ZAP handler did not refuse an unknown key (answer \"%s\")",
                 status);
    return rc;
}

int zap_secure_socket(void *socket, const char *domain, const uint8_t secret_key[32])
{
    int server = 1;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &server, sizeof(server)) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_key, 32) != 0 ||
        zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0)
        return -1;
    return 0;
}

const char *zap_message_user(zmq_msg_t *msg)
{
    const char *user = zmq_msg_gets(msg, "User-Id");
    return (user != NULL && user[0] != '\0') ? user : NULL;
}

void zap_handshake_failed(zap_t *z, const char *domain, const char *why)
{
    char what[256];
    snprintf(what, sizeof(what), "zap: a CURVE handshake failed on %s: %s", domain, why);
    zap_refusal(z, what);
}

void zap_set_partners(zap_t *z, const partners_t *partners)
{
    z->partners = partners;
}

const zap_counters_t *zap_counters(const zap_t *z)
{
    return &z->counters;
}

void zap_destroy(zap_t **z)
{
    if (z == NULL || *z == NULL)
        return;
    zwatch_destroy(&(*z)->watch);
    if ((*z)->socket != NULL)
        zmq_close((*z)->socket);
    free(*z);
    *z = NULL;
}
