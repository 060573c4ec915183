/* admin.c: the admin endpoint: its socket, and the replies admin_apply decides. */
#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_apply.h"
#include "audit.h"
#include "identifier.h"
#include "backup.h"
#include "log.h"
#include "router.h"
#include "zap.h"

struct admin {
    router_t *router;
    const daemon_sources_t *sources;
    backup_t *backup;
};

static void admin_reply_send(admin_t *a, const void *identity, size_t identity_len,
                             const Parcours__V1__AdminReply *reply)
{
    size_t len = parcours__v1__admin_reply__get_packed_size(reply);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return;
    parcours__v1__admin_reply__pack(reply, buf);
    /* A backup's parts are sent from its timer as well as from requests: the router looks at
     * the socket again after every send, so no request waits behind one. */
    int rc = router_send(a->router, identity, identity_len, buf, len);
    if (rc != 0)
        log_debug("admin: reply not sent: %s", router_strerror(rc));
    free(buf);
}

static void admin_backup_reply(void *ctx, const void *identity, size_t identity_len,
                               const Parcours__V1__AdminReply *reply)
{
    admin_reply_send(ctx, identity, identity_len, reply);
}

/* The name of the command, as the journal writes it. */
static const char *admin_command_name(const Parcours__V1__AdminRequest *req)
{
    if (req == NULL)
        return "unreadable request";
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &parcours__v1__admin_command__descriptor, (int)req->command);
    return v != NULL ? v->name + strlen("ADMIN_COMMAND_") : "unknown command";
}

/* Who asked: a local parcoursctl by the uid the ipc socket's peer credentials give (the
 * socket is owner-only, so the daemon's user or root), a remote one by its admin key. */
static void admin_operator(const router_message_t *m, char *out, size_t size)
{
    unsigned uid, gid, pid;
    /* On a unix socket libzmq gives "<name>:<uid>:<gid>:<pid>" (SO_PEERCRED). */
    const char *c3 = strrchr(m->peer, ':');
    const char *c2 = NULL, *c1 = NULL;
    for (const char *p = m->peer; c3 != NULL && p < c3; p++)
        if (*p == ':') {
            c1 = c2;
            c2 = p;
        }
    if (c1 != NULL && m->user[0] == '\0' && sscanf(c1, ":%u:%u:%u", &uid, &gid, &pid) == 3)
        snprintf(out, size, "uid:%u pid:%u", uid, pid);
    else if (m->user[0] != '\0')
        snprintf(out, size, "%s from %s", m->user, m->peer[0] ? m->peer : "?");
    else
        snprintf(out, size, "%s", m->peer[0] ? m->peer : "unknown");
}

/*
 * Journals the request before its answer goes (G12): every command, with who asked, the
 * person it was about by their keyed hash, and whether it was answered. A backup is journaled
 * when it starts, not part by part. A read the journal cannot record is not answered.
 */
static bool admin_journal_record(admin_t *a, const router_message_t *m,
                                 const Parcours__V1__AdminRequest *req, const char *outcome)
{
    char who[192], subject[64] = "-", err[256];
    admin_operator(m, who, sizeof(who));
    if (req != NULL && req->beneficiary_id != NULL && identifier_valid(req->beneficiary_id)) {
        uint8_t hash[STORE_HASH_SIZE];
        store_id_hash(a->sources->store, req->beneficiary_id, hash);
        snprintf(subject, sizeof(subject), "person:%02x%02x%02x%02x%02x%02x%02x%02x", hash[0],
                 hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7]);
    }
    if (audit_append(a->sources->audit, who, admin_command_name(req), subject, outcome, err,
                     sizeof(err)) == 0)
        return true;
    log_error("admin: %s; the request of %s was not answered", err, who);
    return false;
}

static bool admin_journal(admin_t *a, const router_message_t *m, admin_decision_t *d)
{
    const Parcours__V1__AdminRequest *req = d->request;
    if (req != NULL && req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_BACKUP &&
        (req->backup_token != 0 || req->backup_offset != 0))
        return true;
    return admin_journal_record(a, m, req,
                                d->backup != NULL ? "started"
                                : d->reply.ok     ? "answered"
                                                  : "refused");
}

/* A command that changes what is held (an erasure, a hold, an opposition) is journaled before
 * it is applied, as requested: when the journal cannot take the record, nothing is done. Its
 * outcome is journaled after, as every command's. False when it must not be applied. */
static bool admin_journal_intent(admin_t *a, const router_message_t *m, const uint8_t *frame,
                                 int len)
{
    if (len < 0)
        return true;
    Parcours__V1__AdminRequest *req = parcours__v1__admin_request__unpack(NULL, (size_t)len, frame);
    if (req == NULL)
        return true; /* refused by admin_apply, which changes nothing */
    bool changes = req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_ERASE ||
                   req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HOLD ||
                   req->command == PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_OPPOSE;
    bool ok = !changes || admin_journal_record(a, m, req, "requested");
    parcours__v1__admin_request__free_unpacked(req, NULL);
    return ok;
}

static void admin_on_readable(router_t *r, void *ctx)
{
    admin_t *a = ctx;
    uint8_t frame[ADMIN_REQUEST_MAX];
    router_message_t m;
    for (int served = 0; served < 64 && router_receive(r, &m, frame, sizeof(frame)); served++) {
        int len = m.has_frame && !m.read_error && !m.extra_frames && m.len <= sizeof(frame)
                      ? (int)m.len
                      : -1;
        admin_decision_t d;
        if (!admin_journal_intent(a, &m, frame, len)) {
            Parcours__V1__AdminReply refused = PARCOURS__V1__ADMIN_REPLY__INIT;
            refused.error = "The access journal cannot be written: nothing is done nor answered "
                            "until it can.";
            admin_reply_send(a, m.identity, m.identity_len, &refused);
            continue;
        }
        admin_apply(a->sources, backup_stats(a->backup), frame, len, &d);
        bool journaled = admin_journal(a, &m, &d);
        if (!journaled) {
            Parcours__V1__AdminReply refused = PARCOURS__V1__ADMIN_REPLY__INIT;
            refused.error = "The access journal cannot be written: nothing is answered until it "
                            "can.";
            admin_reply_send(a, m.identity, m.identity_len, &refused);
        } else if (d.backup != NULL)
            backup_request(a->backup, m.identity, m.identity_len, d.backup);
        else
            admin_reply_send(a, m.identity, m.identity_len, &d.reply);
        admin_decision_clear(&d);
    }
}

int admin_new(struct event_base *base, void *zmq_context, const char *endpoint,
              const uint8_t *secret_key, const daemon_sources_t *sources,
              unsigned backup_idle_seconds, admin_t **out, char *err, size_t errlen)
{
    *out = NULL;
    admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    a->sources = sources;
    a->backup = backup_new(base, sources->store, backup_idle_seconds, admin_backup_reply, a);
    if (a->backup == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Off ipc, the endpoint is reached from the network: CURVE with the admin keys, or no
     * endpoint at all. On ipc, the socket file is owner-only from its creation on. */
    bool ipc = strncmp(endpoint, "ipc://", 6) == 0;
    if (!ipc && secret_key == NULL) {
        snprintf(err, errlen,
                 "the admin endpoint %s is not ipc://: it needs [security] curve = yes and "
                 "[admin] keys",
                 endpoint);
        goto fail;
    }
    router_options_t o = {
        .name = "admin",
        .endpoint = endpoint,
        .secret_key = ipc ? NULL : secret_key,
        .zap_domain = ZAP_DOMAIN_ADMIN,
        .zap = sources->zap,
        .max_message = ADMIN_REQUEST_MAX,
        .linger_ms = 0,
        .owner_only = ipc,
        .peer_address = true, /* who asked, for the journal */
    };
    if (router_new(base, zmq_context, &o, admin_on_readable, a, &a->router, err, errlen) != 0)
        goto fail;
    *out = a;
    return 0;
fail:
    admin_destroy(&a);
    return -1;
}

const backup_stats_t *admin_backup_stats(const admin_t *a)
{
    return backup_stats(a->backup);
}

void admin_destroy(admin_t **a)
{
    if (a == NULL || *a == NULL)
        return;
    backup_destroy(&(*a)->backup); /* before the store closes */
    router_destroy(&(*a)->router);
    free(*a);
    *a = NULL;
}
