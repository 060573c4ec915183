/* http.c: /healthz, /readyz and /metrics on loopback, with libevent's evhttp; what /metrics says
 * is the caller's (daemon/metrics.c). */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define HTTP_TIMEOUT_S 10 /* a client that sends nothing for this long is dropped */

struct http {
    struct evhttp *server;
    http_render_fn render; /* writes the body of /metrics */
    void *render_arg;
    const char *unready; /* NULL while ready, else the line /readyz answers with its 503 */
};

static void http_reply(struct evhttp_request *req, int code, const char *reason,
                       const char *content_type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, code, reason, body);
}

static void http_reply_text(struct evhttp_request *req, int code, const char *reason,
                            const char *text)
{
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add(body, text, strlen(text));
    http_reply(req, code, reason, "text/plain; charset=utf-8", body);
    evbuffer_free(body);
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
    http_t *h = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        http_reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = "";
    if (strcmp(path, "/healthz") == 0) {
        http_reply_text(req, 200, "OK", "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        if (h->unready != NULL)
            http_reply_text(req, 503, "Service Unavailable", h->unready);
        else
            http_reply_text(req, 200, "OK", "ready\n");
    } else if (strcmp(path, "/metrics") == 0) {
        struct evbuffer *body = evbuffer_new();
        if (body == NULL || h->render(body, h->render_arg) != 0) {
            if (body != NULL)
                evbuffer_free(body);
            evhttp_send_error(req, 500, NULL);
            return;
        }
        http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
        evbuffer_free(body);
    } else {
        http_reply_text(req, 404, "Not Found", "not found\n");
    }
}

int http_new(struct event_base *base, const char *listen, http_render_fn render, void *render_arg,
             http_t **out, char *err, size_t errlen)
{
    char host[64];
    unsigned port;
    if (config_loopback_parse(listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "http: \"%s\" is not a loopback address and port", listen);
        return -1;
    }
    http_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->server = evhttp_new(base)) == NULL) {
        free(h);
        snprintf(err, errlen, "http: out of memory");
        return -1;
    }
    h->render = render;
    h->render_arg = render_arg;
    evhttp_set_allowed_methods(h->server, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->server, HTTP_TIMEOUT_S);
    evhttp_set_max_headers_size(h->server, 8192);
    evhttp_set_max_body_size(h->server, 4096);
    evhttp_set_gencb(h->server, http_on_request, h);
    if (evhttp_bind_socket_with_handle(h->server, host, (ev_uint16_t)port) == NULL) {
        snprintf(err, errlen, "http: cannot listen on %s", listen);
        evhttp_free(h->server);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void http_set_unready(http_t *h, const char *why)
{
    if (h != NULL)
        h->unready = why;
}

bool http_ready(const http_t *h)
{
    return h == NULL || h->unready == NULL;
}

void http_destroy(http_t **h)
{
    if (h == NULL || *h == NULL)
        return;
    evhttp_free((*h)->server);
    free(*h);
    *h = NULL;
}
