/*
 * parcours.h: libparcours, the C library partners link to publish events to parcoursd and to
 * read their notification stream (parcours_subscription_*, further down).
 *
 * The wire contract is proto/parcours.proto (package parcours.v1); this library only moves its
 * messages. A partner builds a Parcours__V1__Event (the generated type of parcours.pb-c.h,
 * installed beside this header), publishes it, and later polls for its final outcome:
 *
 *     parcours_client_t *client;
 *     if (parcours_client_new("tcp://127.0.0.1:7401", "ml93", NULL, &client) != 0) ...
 *     Parcours__V1__Event event = PARCOURS__V1__EVENT__INIT;
 *     Parcours__V1__JobEnded payload = PARCOURS__V1__JOB_ENDED__INIT;
 *     payload.reason = PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED;
 *     event.beneficiary_id = "B-93-0002";
 *     event.occurred_at = now_ms;
 *     event.payload_case = PARCOURS__V1__EVENT__PAYLOAD_JOB_ENDED;
 *     event.job_ended = &payload;
 *     char id[PARCOURS_ID_MAX + 1];
 *     parcours_client_publish(client, &event, id);      // never blocks
 *     parcours_ack_t ack;
 *     while (parcours_client_in_flight(client) > 0)
 *         if (parcours_client_poll(client, 1000, &ack) == 1) ... // ack.status, ack.seq...
 *     parcours_client_destroy(&client);
 *
 * Delivery guarantee. The daemon answers ACCEPTED or DUPLICATE only once the event is durably
 * on disk, and it applies a (partner_id, event_id) pair at most once. So the library re-sends
 * an unanswered event with the very same bytes (same event_id) until it gets an answer or runs
 * out of attempts: an event is applied exactly once however many copies travel. A caller that
 * loses its process before the outcome may publish the same event again (same event_id) and
 * will get ACCEPTED or DUPLICATE with the original seq.
 *
 * Order. The daemon processes one connection's frames in the order they arrive, and the library
 * sends in publish order, so pipelined events on one beneficiary are applied in order. A re-send
 * (after a RETRY answer or a timeout) happens later, possibly after events published after it:
 * a caller whose next event depends on an earlier one being applied should check the earlier
 * outcome; an event applied too early is REJECTED (INVALID_TRANSITION), never half-applied.
 *
 * Errors. Every function that can fail returns 0 (PARCOURS_OK), a non-negative count where
 * documented, or a negative PARCOURS_E* code that parcours_strerror() turns into a sentence.
 * The library never logs, never prints and never exits.
 *
 * Threads. A client or a subscription is used by one thread at a time (it owns ZeroMQ sockets,
 * which are not thread-safe); different ones may be used by different threads at once.
 * parcours_event_id_new(), parcours_admin_call(), parcours_admin_call_secure(),
 * parcours_keys_read() and parcours_strerror() are thread-safe.
 *
 * CURVE. A daemon with [security] curve = yes admits on its tcp:// endpoints only connections
 * made with a key it knows: a partner's key pair, whose public key is the `public_key = ...`
 * line of its section in the partners file (an admin key, listed in [admin] keys, on a tcp://
 * admin endpoint). The daemon then knows the connection as that partner: it is the sender of
 * every event on it, and an event naming another partner_id is REJECTED (NOT_AUTHORISED); a
 * subscription reads that partner's stream only. The client needs its own secret key and the
 * daemon's public key, both files made by `parcoursctl keygen`, read with parcours_keys_read()
 * and given in the options (curve_secret_key, curve_server_key):
 *
 *     uint8_t secret[32], server[32];
 *     if (parcours_keys_read("/etc/parcours/keys/ml93.secret", 1, secret) != 0 ||
 *         parcours_keys_read("/etc/parcours/keys/parcoursd.public", 0, server) != 0) ...
 *     parcours_client_options_t opts = PARCOURS_CLIENT_OPTIONS_INIT;
 *     opts.curve_secret_key = secret;
 *     opts.curve_server_key = server;
 *     parcours_client_new("tcp://parcours.example:7401", "ml93", &opts, &client);
 *
 * A key the daemon does not admit (unknown, revoked) fails the handshake: the library watches
 * the socket's handshakes and parcours_client_poll(), parcours_subscription_poll() and the
 * admin calls return PARCOURS_EKEYREFUSED at once; a server key that is not the daemon's, or
 * CURVE on one side only, returns PARCOURS_EHANDSHAKE after two failed handshakes in a row.
 * parcours_strerror() says each in the words every Parcours client uses
 * (PARCOURS_KEY_REFUSED_SENTENCE, PARCOURS_HANDSHAKE_SENTENCE). A daemon that never answers
 * leaves events unanswered (PARCOURS_ACK_UNANSWERED), or PARCOURS_EUNREACHABLE.
 */
#ifndef PARCOURS_H
#define PARCOURS_H

#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. */
#define PARCOURS_OK           0
#define PARCOURS_EINVAL       (-1)  /* an argument is invalid (NULL, bad identifier, bad option) */
#define PARCOURS_ENOMEM       (-2)  /* out of memory */
#define PARCOURS_EFULL        (-3)  /* the window is full: poll for outcomes, then publish */
#define PARCOURS_EUNREACHABLE (-4)  /* the daemon did not answer in time */
#define PARCOURS_EENDPOINT    (-5)  /* the endpoint cannot be used (syntax, unknown transport) */
#define PARCOURS_ESOCKET      (-6)  /* a ZeroMQ call failed unexpectedly */
#define PARCOURS_ETOOLARGE    (-7)  /* the packed event is larger than the max_frame option */
#define PARCOURS_EINFLIGHT    (-8)  /* an event with this event_id is already in flight */
#define PARCOURS_EBUSY        (-9)  /* parcours_client_send() with other events in flight */
#define PARCOURS_EPROTOCOL    (-10) /* the daemon's answer is not the expected message */
#define PARCOURS_ERANDOM      (-11) /* the system's random source (getrandom) failed */
#define PARCOURS_EREFUSED     (-12) /* the daemon refused: the call's error sentence says why */
#define PARCOURS_EKEYFILE     (-13) /* a key file cannot be opened or read: errno says why */
#define PARCOURS_EKEYMODE     (-14) /* a secret key file that group or others may read */
#define PARCOURS_EKEY         (-15) /* a key file holds no key of 40 Z85 characters */
#define PARCOURS_ENOCURVE     (-16) /* this libzmq was built without CURVE */
#define PARCOURS_EWRITE       (-17) /* writing a backup to its file failed: errno says why */
#define PARCOURS_EKEYREFUSED  (-18) /* the daemon refused this CURVE key (unknown or revoked) */
#define PARCOURS_EHANDSHAKE                                                                        \
    (-19) /* the CURVE handshake failed (another server key, or CURVE                              \
           * on one side only) */

/* What parcours_strerror() says of the two, word for word what the Python module says (clients
 * get the same sentence in every language, and an admin can search for it). */
#define PARCOURS_KEY_REFUSED_SENTENCE                                                              \
    "parcoursd refused this partner's key: it is not in the territory's partners file, or it "     \
    "was revoked (check the secret key given, and ask the territory's admin)"
#define PARCOURS_HANDSHAKE_SENTENCE                                                                \
    "the CURVE handshake with parcoursd failed: the daemon's public key given is not this "        \
    "daemon's, or only one side uses CURVE (check the server key file and [security] curve)"

/* Size of a raw CURVE key (secret or public), in bytes; its Z85 text is 40 characters. */
#define PARCOURS_KEY_SIZE 32

/* Identifiers on the wire (event_id, partner_id, beneficiary_id...) are 1 to 64 bytes of
 * [A-Za-z0-9._:-]. */
#define PARCOURS_ID_MAX 64

/* Length of an id made by parcours_event_id_new(), without the terminating NUL. */
#define PARCOURS_EVENT_ID_LEN 26

/* Room for the message of an ack, terminating NUL included (longer messages are cut). */
#define PARCOURS_MESSAGE_MAX 256

/* The status of an outcome the daemon never gave: see parcours_ack_t.status. Not a wire value. */
#define PARCOURS_ACK_UNANSWERED (-1)

/*
 * Makes a time-ordered event id, ULID-like: 48 bits of unix milliseconds then 80 random bits
 * (getrandom), written as 26 characters of Crockford's base32 (0-9 A-Z without I L O U), so that
 * ids sort as text in the order they were made. Within one process, ids are strictly increasing
 * even within one millisecond (the random part is incremented) and even if the clock steps back.
 *
 * Why time-ordered: the daemon's dedupe index is an LMDB B-tree keyed by (partner, event_id).
 * Time-ordered ids land on the same few pages batch after batch, random ones dirty a page each;
 * measured on the project's machine kind, the daemon stores time-ordered ids 2.4 times faster
 * (52-54k events/s against 23k, batches of 2,000). Use these ids unless an id of the partner's
 * own system is needed for idempotence across its restarts.
 *
 * out: caller's buffer of PARCOURS_EVENT_ID_LEN + 1 bytes; receives the id and a NUL.
 * Returns 0, PARCOURS_EINVAL (out is NULL) or PARCOURS_ERANDOM. Thread-safe.
 */
int parcours_event_id_new(char out[PARCOURS_EVENT_ID_LEN + 1]);

/*
 * Derives a beneficiary's pseudonymous id from the partner's own identifier of the person (for
 * instance the NIR, written as every partner of the territory agrees: 13 digits, no key, no
 * spaces): HMAC-SHA-256 under the territory's key, in lowercase hexadecimal (64 characters, one
 * segment of the identifier rule). Every partner holding the same key derives the same id for
 * the same person, and no NIR ever reaches Parcours. The key is the territory's secret, handed
 * to each partner out of band (docs/personal-data.md, "Pseudonyms"); it never goes to the
 * daemon.
 *
 * key: key_len bytes, at least 32. identifier: 1 to 256 bytes. out: PARCOURS_ID_MAX + 1 bytes.
 * Returns 0, or PARCOURS_EINVAL. Thread-safe.
 */
int parcours_pseudonym(const uint8_t *key, size_t key_len, const char *identifier,
                       char out[PARCOURS_ID_MAX + 1]);

/* Options of a client. Zero-initialise (PARCOURS_CLIENT_OPTIONS_INIT) and set what differs:
 * every field left at 0 takes its default, so future fields keep old callers working. */
typedef struct parcours_client_options {
    /* How long to wait for an event's answer before re-sending it, with the same bytes (the
     * daemon's dedupe makes this safe). Default 5000, at most 3,600,000. */
    int ack_timeout_ms;
    /* Sends of one event at most (the first one included), whether re-sent after a timeout or
     * after a RETRY answer. When they are used up the event completes with a final outcome: see
     * parcours_ack_t.status. Default 5, at most 1000. */
    int max_attempts;
    /* Events in flight at most (published, final outcome not yet returned by poll). Default
     * 1000, at most 1,000,000. */
    int window;
    /* Wait before re-sending an event answered RETRY; doubles on each RETRY of the same event,
     * up to 30 seconds. Default 200. */
    int retry_backoff_ms;
    /* Largest packed event published, in bytes; larger ones fail with PARCOURS_ETOOLARGE
     * instead of being refused by the daemon. Default 4096, the daemon's default
     * [ingest] max_frame; set it to the territory's value if it differs. */
    int max_frame;
    /* CURVE (see the top of this file): the partner's secret key, PARCOURS_KEY_SIZE raw bytes
     * (parcours_keys_read() of PARTNER.secret), whose public key the partners file gives in the
     * partner's section; the public key is derived from it. NULL (the default): no CURVE, for
     * a daemon with [security] curve = no. Read during parcours_client_new() only. */
    const uint8_t *curve_secret_key;
    /* The daemon's public key, PARCOURS_KEY_SIZE raw bytes (parcours_keys_read() of the .public
     * file made with the daemon's key). Given with curve_secret_key, NULL without it. */
    const uint8_t *curve_server_key;
} parcours_client_options_t;

#define PARCOURS_CLIENT_OPTIONS_INIT                                                               \
    {                                                                                              \
        0, 0, 0, 0, 0, NULL, NULL                                                                  \
    }

/* The final outcome of one event: plain copies, valid as long as the caller keeps the struct. */
typedef struct parcours_ack {
    char event_id[PARCOURS_ID_MAX + 1]; /* the event this is the outcome of */
    /* A Parcours__V1__AckStatus: ACCEPTED, DUPLICATE or REJECTED as the daemon answered, or
     * RETRY when the daemon still answered RETRY at the last attempt (nothing was applied; code
     * and message say why), or PARCOURS_ACK_UNANSWERED when no attempt was answered within
     * ack_timeout_ms (the event may or may not have been applied: publish it again, same
     * event_id, to find out). */
    int status;
    uint64_t seq;     /* ACCEPTED, DUPLICATE: the event's position in the territory's log */
    uint64_t version; /* ACCEPTED: the pathway's version after the event, counted within its
                       * episode (a registration after an exit starts again at 1); 0 for an
                       * EMPLOYER or TRAINING_ORG, which does not see it */
    int code;         /* a Parcours__V1__ErrorCode: why REJECTED or RETRY; 0 otherwise */
    char message[PARCOURS_MESSAGE_MAX]; /* the daemon's sentence (never naming the
                                         * beneficiary), or the library's */
    int attempts;                       /* how many times the event was sent */
} parcours_ack_t;

typedef struct parcours_client parcours_client_t;

/*
 * Creates a client: a ZeroMQ DEALER socket connected to the daemon's ingest endpoint. The
 * connection is made in the background (and remade after a daemon restart): this succeeds even
 * when the daemon is not running yet, and events published meanwhile are sent once it is.
 *
 * endpoint: the daemon's [ingest] endpoint ("tcp://127.0.0.1:7401"); copied.
 * partner_id: the partner this client publishes for, put in events that leave partner_id
 *     empty; 1-64 chars of [A-Za-z0-9._:-]; copied. With CURVE, the key's partner.
 * opts: NULL for the defaults; read during the call only (keys included).
 * out: receives the client, which the caller owns and frees with parcours_client_destroy().
 *     Set to NULL on failure.
 * Returns 0, PARCOURS_EINVAL (also: one CURVE key given without the other), PARCOURS_ENOMEM,
 * PARCOURS_EENDPOINT, PARCOURS_ENOCURVE or PARCOURS_ESOCKET.
 */
int parcours_client_new(const char *endpoint, const char *partner_id,
                        const parcours_client_options_t *opts, parcours_client_t **out);

/*
 * Closes the socket at once (linger 0: a dead daemon never makes this wait) and frees the
 * client. The outcomes of events still in flight are lost: they may or may not have been
 * applied; publish them again with the same event_id to find out. Takes NULL and a pointer to
 * NULL; sets *client to NULL.
 */
void parcours_client_destroy(parcours_client_t **client);

/*
 * Publishes one event without blocking: packs it, keeps the packed bytes until its final
 * outcome (for re-sends), and sends it now if the connection can take it (otherwise as soon as
 * it can, during parcours_client_poll()).
 *
 * event: read during the call only, never modified; the caller keeps ownership. Its event_id,
 *     when NULL or "", is replaced in the sent copy by a new parcours_event_id_new(); its
 *     partner_id, when NULL or "", by the client's partner id. Other fields are sent as they
 *     are: the daemon checks them (it requires occurred_at, beneficiary_id and one payload).
 * event_id: NULL, or a caller's buffer of PARCOURS_ID_MAX + 1 bytes receiving the event_id
 *     actually sent, the key of the outcome poll will return.
 * Returns 0; PARCOURS_EFULL when `window` events are in flight (poll, then publish again);
 * PARCOURS_EINVAL (NULL, or an event_id or partner_id that breaks the identifier rule);
 * PARCOURS_EINFLIGHT (an event with this event_id is in flight on this client);
 * PARCOURS_ETOOLARGE; PARCOURS_ENOMEM; PARCOURS_ERANDOM.
 */
int parcours_client_publish(parcours_client_t *client, const Parcours__V1__Event *event,
                            char event_id[PARCOURS_ID_MAX + 1]);

/*
 * Waits up to timeout_ms for the next final outcome of an event in flight, and runs the
 * client's timers meanwhile: events not answered within ack_timeout_ms are re-sent, events
 * answered RETRY are re-sent after their backoff, events whose attempts are used up complete.
 * Call it whenever events are in flight, even when expecting nothing, or nothing is re-sent.
 *
 * timeout_ms: 0 to only collect what is ready; -1 to wait for the next final outcome however
 *     long it takes (bounded by the attempts: no event stays in flight forever).
 * ack: caller's struct, filled when 1 is returned.
 * Returns 1 when *ack holds an outcome (the event is then no longer in flight); 0 when nothing
 * became final within timeout_ms, when nothing is in flight (at once), or when a signal
 * interrupted the wait; PARCOURS_EKEYREFUSED when the daemon refused the client's key, or
 * PARCOURS_EHANDSHAKE when two handshakes in a row failed (another server key, or CURVE on one
 * side only): no event can get through then, and parcours_strerror() says what to check;
 * PARCOURS_EINVAL or PARCOURS_ESOCKET.
 */
int parcours_client_poll(parcours_client_t *client, int timeout_ms, parcours_ack_t *ack);

/* The number of events published whose final outcome poll has not returned yet; 0 for NULL. */
size_t parcours_client_in_flight(const parcours_client_t *client);

/*
 * Publishes one event and waits for its final outcome: the simple path for tools sending one
 * event at a time. Nothing else may be in flight on the client.
 *
 * event, event ids: as parcours_client_publish() (the id sent is in ack->event_id).
 * timeout_ms: the longest wait; -1 for as long as the attempts last.
 * Returns 0 when *ack holds the outcome; PARCOURS_EUNREACHABLE when none came within timeout_ms
 * (the event stays in flight: poll for it, or destroy the client); PARCOURS_EBUSY when events
 * were already in flight; the errors of publish and poll.
 */
int parcours_client_send(parcours_client_t *client, const Parcours__V1__Event *event,
                         int timeout_ms, parcours_ack_t *ack);

/*
 * Asks the daemon's admin endpoint one question: one AdminRequest frame out, one AdminReply
 * frame back, over a short-lived DEALER socket.
 *
 * endpoint: the daemon's [admin] endpoint (by default ipc://<store path>/admin.sock).
 * request: read during the call only.
 * timeout_ms: the longest wait for the whole exchange, connection included (at least 1).
 * reply: receives the unpacked reply on success, which the caller owns and frees with
 *     parcours__v1__admin_reply__free_unpacked(*reply, NULL); NULL on failure. A reply may say
 *     ok = false with an error sentence (such as an unknown beneficiary): that is a success of
 *     this call.
 * Returns 0; PARCOURS_EUNREACHABLE (no answer within timeout_ms: is parcoursd running, is the
 * endpoint right, may this user open the ipc socket?); PARCOURS_EPROTOCOL (the answer is not an
 * AdminReply); PARCOURS_EINVAL; PARCOURS_EENDPOINT; PARCOURS_ENOMEM; PARCOURS_ESOCKET.
 */
int parcours_admin_call(const char *endpoint, const Parcours__V1__AdminRequest *request,
                        int timeout_ms, Parcours__V1__AdminReply **reply);

/*
 * parcours_admin_call() over CURVE, for a tcp:// admin endpoint (which the daemon runs only
 * with [security] curve = yes, admitting the keys of [admin] keys). The ipc:// endpoint needs
 * no key: pass NULL for both, which is exactly parcours_admin_call().
 *
 * curve_secret_key: an admin key, PARCOURS_KEY_SIZE raw bytes (parcours_keys_read() of the
 *     .secret file made by `parcoursctl keygen`, whose public key is in [admin] keys), or NULL.
 * curve_server_key: the daemon's public key, PARCOURS_KEY_SIZE raw bytes; NULL exactly when
 *     curve_secret_key is. Both are read during the call only.
 * A key the daemon does not admit fails the handshake: the call then ends with
 * PARCOURS_EUNREACHABLE after timeout_ms.
 * Returns what parcours_admin_call() returns, and PARCOURS_EINVAL when one key is given
 * without the other, PARCOURS_ENOCURVE when libzmq has no CURVE.
 */
int parcours_admin_call_secure(const char *endpoint, const uint8_t *curve_secret_key,
                               const uint8_t *curve_server_key,
                               const Parcours__V1__AdminRequest *request, int timeout_ms,
                               Parcours__V1__AdminReply **reply);

/*
 * Takes a hot backup of the daemon's store: a compacted, consistent copy of its LMDB file
 * (data.mdb), taken while the daemon serves. The copy comes part after part over the admin
 * endpoint (AdminCommand BACKUP) and each part is written to fd, in order, from where fd
 * stands. The daemon runs one backup at a time.
 *
 * endpoint, curve_secret_key, curve_server_key: as parcours_admin_call_secure().
 * fd: where the copy goes (a file opened for writing; the caller fsyncs and closes it).
 * timeout_ms: the longest wait for each part (at least 1), not for the whole copy.
 * bytes: receives the bytes written so far, also on failure; may be NULL.
 * why, why_len: receive the daemon's sentence when it refused or its copy failed; may be NULL.
 * Returns 0 once the last part is written: fd then holds the whole copy. PARCOURS_EREFUSED
 * (another backup runs, the copy failed: why says so); PARCOURS_EWRITE (writing to fd failed,
 * errno says why); PARCOURS_EUNREACHABLE; PARCOURS_EPROTOCOL; PARCOURS_EINVAL;
 * PARCOURS_EENDPOINT; PARCOURS_ENOMEM; PARCOURS_ESOCKET; PARCOURS_ENOCURVE. On failure what fd
 * holds is not a usable copy.
 */
int parcours_admin_backup(const char *endpoint, const uint8_t *curve_secret_key,
                          const uint8_t *curve_server_key, int fd, int timeout_ms, uint64_t *bytes,
                          char *why, size_t why_len);

/*
 * Reads a CURVE key file, as `parcoursctl keygen` writes them and parcoursd reads them: one key
 * as 40 Z85 characters, the first word of the first line that is neither blank nor a comment
 * (lines starting with #).
 *
 * path: the file, read during the call only.
 * secret: non-zero for a secret key, which is refused when group or others may read the file
 *     (the key may have leaked: make it owner-only, chmod 600, or make a new one).
 * key: caller's buffer of PARCOURS_KEY_SIZE bytes, receiving the raw key; untouched on failure.
 * Returns 0; PARCOURS_EKEYFILE (the file cannot be opened or read, or is not a regular file:
 * errno says why); PARCOURS_EKEYMODE; PARCOURS_EKEY (no key found); PARCOURS_EINVAL (NULL).
 * Thread-safe.
 */
int parcours_keys_read(const char *path, int secret, uint8_t key[PARCOURS_KEY_SIZE]);

/* ------------------------------------------------------------------------------------------ */
/*
 * Subscriptions: a partner's notification stream, read from the daemon's deliver endpoint.
 *
 *     parcours_subscription_t *sub;
 *     if (parcours_subscription_new("tcp://127.0.0.1:7402", "ft93", NULL, &sub) != 0) ...
 *     for (;;) {
 *         int n = parcours_subscription_poll(sub, 1000, on_notification, my_state);
 *         if (n < 0) ... // PARCOURS_EREFUSED: parcours_subscription_error(sub, NULL) says why
 *     }
 *     parcours_subscription_destroy(&sub);
 *
 * The daemon numbers each partner's notifications partner_seq 1, 2, 3... with no gap, and keeps
 * the partner's durable cursor: the last partner_seq it acknowledged. Delivery is at-least-once:
 * after a reconnection or a daemon restart, what follows the cursor comes again. This library
 * hides both: it subscribes again on every (re)connection, resuming after the cursor, and hands
 * the callback only notifications newer than the last one it handed, so the callback sees each
 * partner_seq once and in increasing order (increasing by 1 unless a types filter skips some)
 * for the life of the subscription. A new process starts again from the durable cursor: what
 * was handed but not acknowledged before it stopped comes again, so the partner's own
 * processing should be idempotent per partner_seq (or store the last one it processed and
 * subscribe from the next).
 *
 * A silent network cut (no reset) is noticed by ZMTP heartbeats within about 15 seconds; the
 * connection is then remade, and the stream resumes.
 */

/* Windows above this are lowered to it by the daemon. */
#define PARCOURS_SUBSCRIPTION_WINDOW_MAX 10000

/* Who acknowledges the notifications of a subscription. */
typedef enum parcours_ack_mode {
    /* The library, for each notification, once the callback returned 0 for it. */
    PARCOURS_ACK_AUTO = 0,
    /* The caller, with parcours_subscription_ack(). The daemon sends no more than `window`
     * notifications ahead of the last acknowledgement: the stream stops until the next one. */
    PARCOURS_ACK_MANUAL = 1,
    /* Nobody: the partner's cursor stays where it is, to look at (or replay) the stream without
     * consuming it. The library asks for the next notifications whenever the window is used up,
     * so the stream never stops. */
    PARCOURS_ACK_NEVER = 2,
} parcours_ack_mode_t;

/* Options of a subscription. Zero-initialise (PARCOURS_SUBSCRIPTION_OPTIONS_INIT) and set what
 * differs: every field left at 0 takes its default. */
typedef struct parcours_subscription_options {
    /* The first partner_seq wanted, to replay from an earlier point: used by the first
     * subscription only; every later one resumes where the stream stands. 0 (the default)
     * starts after the partner's durable cursor. The daemon refuses (PARCOURS_EREFUSED) a value
     * beyond the partner's last notification + 1. */
    uint64_t from;
    /* Only these event types (Parcours__V1__EventType values, copied); partner_seq then has
     * gaps where the other types were. NULL or n_types 0 (the default): every notification the
     * partner may receive. At most 64. */
    const Parcours__V1__EventType *types;
    size_t n_types;
    /* Notifications sent and not yet acknowledged at most: the daemon sends no more until an
     * acknowledgement makes room. Default 100, at most PARCOURS_SUBSCRIPTION_WINDOW_MAX. */
    int window;
    /* Who acknowledges: see parcours_ack_mode_t. Default PARCOURS_ACK_AUTO. */
    parcours_ack_mode_t ack_mode;
    /* CURVE, as in parcours_client_options_t: the partner's secret key (PARCOURS_KEY_SIZE raw
     * bytes), whose partner is the only one whose stream the connection may read, and the
     * daemon's public key. Both NULL (the default): no CURVE. Read during
     * parcours_subscription_new() only. */
    const uint8_t *curve_secret_key;
    const uint8_t *curve_server_key;
} parcours_subscription_options_t;

#define PARCOURS_SUBSCRIPTION_OPTIONS_INIT                                                         \
    {                                                                                              \
        0, NULL, 0, 0, PARCOURS_ACK_AUTO, NULL, NULL                                               \
    }

typedef struct parcours_subscription parcours_subscription_t;

/*
 * What parcours_subscription_poll() calls for each new notification.
 * n: valid only during the call (the library frees it after): copy what must be kept.
 * ctx: the caller's pointer given to poll.
 * Returns 0 when the notification is dealt with (it is then acknowledged, with PARCOURS_ACK_AUTO).
 * Any other value stops the poll at once: this notification is neither acknowledged nor counted
 * as handed, and the next poll hands it again (the library asks the daemon to resend it).
 */
typedef int (*parcours_notification_fn)(const Parcours__V1__Notification *n, void *ctx);

/*
 * Creates a subscription: a ZeroMQ DEALER socket connected to the daemon's deliver endpoint,
 * and a monitor of that socket, so that every completed connection (the first one, and any
 * after a daemon restart or a network cut) is subscribed at once. The connection is made in
 * the background: this succeeds even when the daemon is not running yet, and nothing is
 * received before the first parcours_subscription_poll().
 *
 * endpoint: the daemon's [deliver] endpoint ("tcp://127.0.0.1:7402"); read during the call.
 * partner_id: the partner whose stream this is; 1-64 chars of [A-Za-z0-9._:-]; copied.
 * opts: NULL for the defaults; read during the call only (types is copied).
 * out: receives the subscription, which the caller owns and frees with
 *     parcours_subscription_destroy(). Set to NULL on failure.
 * Returns 0, PARCOURS_EINVAL (a NULL argument, a bad partner_id, an option out of bounds, one
 * CURVE key without the other), PARCOURS_ENOMEM, PARCOURS_EENDPOINT, PARCOURS_ENOCURVE or
 * PARCOURS_ESOCKET.
 */
int parcours_subscription_new(const char *endpoint, const char *partner_id,
                              const parcours_subscription_options_t *opts,
                              parcours_subscription_t **out);

/*
 * Closes the sockets and frees the subscription. Acknowledgements given to the socket are
 * allowed 250 ms at most to leave (so a dead daemon makes this wait that long at most); those
 * that did not leave are lost, and what they covered comes again to the next subscription.
 * Takes NULL and a pointer to NULL; sets *sub to NULL.
 */
void parcours_subscription_destroy(parcours_subscription_t **sub);

/*
 * Waits up to timeout_ms for new notifications and hands each to fn, in partner_seq order;
 * meanwhile subscribes the connections that (re)open and answers the daemon's requests to
 * subscribe again. Notifications at or below parcours_subscription_last() (redeliveries) are
 * dropped here, never handed. Once one notification has been handed, the others already
 * received are handed too, without waiting more, and poll returns.
 *
 * timeout_ms: 0 to only handle what is ready; -1 to wait until something new comes.
 * fn: called for each new notification; see parcours_notification_fn. ctx: passed to fn.
 * Returns the number of notifications fn dealt with (returned 0 for); 0 when nothing new came
 * within timeout_ms or a signal interrupted the wait; PARCOURS_EREFUSED when the daemon
 * refused the subscription (unknown partner, `from` beyond the stream...: the sentence is
 * parcours_subscription_error(); the subscription is then dead and every later poll returns
 * PARCOURS_EREFUSED); PARCOURS_EPROTOCOL when a frame is not a DeliverReply (is the endpoint
 * the deliver one?); PARCOURS_EINVAL; PARCOURS_ESOCKET.
 */
int parcours_subscription_poll(parcours_subscription_t *sub, int timeout_ms,
                               parcours_notification_fn fn, void *ctx);

/*
 * Acknowledges every notification up to and including partner_seq up_to, moving the partner's
 * durable cursor (after a restart, the stream resumes after it), with PARCOURS_ACK_MANUAL.
 * An acknowledgement that cannot reach the daemon now (no connection, a subscription being
 * renewed) is repeated when the notifications it covers come again; acknowledgements are
 * cumulative, so a later one also makes up for it.
 *
 * up_to: at most parcours_subscription_last(sub).
 * Returns 0, PARCOURS_EINVAL (NULL, up_to above the last notification handed, or a subscription
 * made with PARCOURS_ACK_NEVER) or PARCOURS_ESOCKET.
 */
int parcours_subscription_ack(parcours_subscription_t *sub, uint64_t up_to);

/* The partner_seq of the last notification handed to the callback; 0 before the first, or for
 * NULL. */
uint64_t parcours_subscription_last(const parcours_subscription_t *sub);

/*
 * The daemon's answer to the last subscription (where the stream started, the partner's cursor
 * and last partner_seq, the window in force, the stream_id), or NULL when no subscription has
 * been answered yet: a NULL after polling for a while means the daemon is not reachable.
 * stream_id changes only when the daemon's store was restored from a backup: the subscription
 * then hands the stream again from the restored cursor on, partner_seqs the callback saw
 * included (they may now be other notifications); the callback's own dedupe must then be on
 * (stream_id, partner_seq), or on the event's (partner_id, event_id) (not for an EMPLOYER or a
 * TRAINING_ORG partner: it receives the events it did not send without partner_id and
 * event_id). Owned by sub; valid until the next parcours_subscription_poll() or
 * parcours_subscription_destroy().
 */
const Parcours__V1__Subscribed *
parcours_subscription_subscribed(const parcours_subscription_t *sub);

/*
 * Why the daemon refused, after poll returned PARCOURS_EREFUSED: its sentence for a person
 * (owned by sub, valid until it is destroyed), and its Parcours__V1__ErrorCode in *code when
 * code is not NULL. "" and code 0 when nothing was refused, or for NULL.
 */
const char *parcours_subscription_error(const parcours_subscription_t *sub, int *code);

/* A sentence for an error code of this library (a static string; never NULL). */
const char *parcours_strerror(int code);

/* The library's version, "MAJOR.MINOR.PATCH" (a static string). */
const char *parcours_version(void);

#ifdef __cplusplus
}
#endif

#endif
