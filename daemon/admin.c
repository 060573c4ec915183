/* admin.c: the admin endpoint: its socket, and the replies admin_apply decides. */
#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_apply.h"
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
        admin_apply(a->sources, backup_stats(a->backup), frame, len, &d);
        if (d.backup != NULL)
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
        .max_message = ADMIN_REQUEST_MAX,
        .linger_ms = 0,
        .owner_only = ipc,
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
