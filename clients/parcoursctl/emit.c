/*
 * emit.c: `parcoursctl emit`, publishing events by hand or from a file.
 *
 *   emit TYPE --as PARTNER --beneficiary ID [--event-id ID] [--occurred-at TIME]
 *        [--expected-version N] [--FIELD VALUE ...] [--json]
 *   emit --json [FILE|-] [--window N] [--output json]
 *
 * The second form reads one event per line (blank lines and lines starting with # skipped).
 * Each line is one flat JSON object; its keys are the names of eventtext.h:
 *
 *   {"type":"OrientationDecided","as":"cd93","beneficiary":"B-0001",
 *    "event_id":"optional","occurred_at":"optional ISO-8601 or unix ms",
 *    "expected_version":0,"pathway_type":"EMPLOI","referent_body":"MISSION_LOCALE",
 *    "structure_id":"ml93","notified_at":"2026-01-20T10:00:00Z"}
 *
 * payload fields being top-level keys named as in parcours.proto, values strings, integers,
 * true or false (null means "not given"). Every line is read and checked before anything is sent:
 * one bad line sends nothing. The events are then pipelined on one connection, up to --window in
 * flight; the daemon processes one connection's frames in order, so events on the same
 * beneficiary are applied in file order. One result line is printed per event, in file order.
 *
 * With CURVE the connection's key is the sender, so lines of several partners need one
 * connection each (--keys DIR, or its default from the configuration; with --key FILE every
 * line goes on that key's connection). Every partner's key is found before anything is sent.
 * Order across connections is not the daemon's to keep, so it is kept here: lines are sent in
 * runs of the same partner, pipelined within a run, and the next run starts only once every
 * event of the current one has its outcome.
 *
 * Re-running a file is safe only for lines that carry their own event_id: the daemon answers
 * DUPLICATE for those, while lines without one get a new id, hence a new event, each run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventtext.h"
#include "fields.h"
#include "parcours.h"
#include "parcoursctl.h"
#include "print.h"

#define EMIT_WINDOW_DEFAULT 256
#define EMIT_ERRORS_SHOWN   20

/* One event of the input, from its line to its outcome. */
typedef struct emit_item {
    size_t line;       /* 0 for the command-line form */
    size_t connection; /* emit --json: the index of the connection it is sent on */
    Parcours__V1__Event *event;
    char event_id[PARCOURS_ID_MAX + 1];
    parcours_ack_t ack;
    bool done;
} emit_item_t;

/* The exit code an outcome calls for; the worst of all outcomes is the command's. */
static int emit_exit_code(const parcours_ack_t *ack)
{
    switch (ack->status) {
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED:
    case PARCOURS__V1__ACK_STATUS__ACK_STATUS_DUPLICATE:
        return CTL_EXIT_OK;
    case PARCOURS_ACK_UNANSWERED:
        return CTL_EXIT_UNREACHABLE;
    default:
        return CTL_EXIT_REJECTED;
    }
}

static int worse(int a, int b)
{
    /* Unreachable outranks rejected: the operator must first know that outcomes are missing. */
    if (a == CTL_EXIT_UNREACHABLE || b == CTL_EXIT_UNREACHABLE)
        return CTL_EXIT_UNREACHABLE;
    return a > b ? a : b;
}

static void emit_unreachable_hint(const ctl_t *ctl, const char *partner, const ctl_curve_t *curve)
{
    ctl_error("parcoursctl: parcoursd did not answer on %s within %d ms: is parcoursd running? "
              "Check [ingest] endpoint in parcoursd.conf (or give -c FILE or --ingest ENDPOINT).\n",
              ctl->ingest, ctl->timeout_ms);
    ctl_curve_hint(ctl->ingest, partner, curve);
}

/* A refused key or a failed handshake: libparcours' sentence (the same in every client), the
 * keys' hint, and exit 1 (the daemon answered: it is not unreachable). */
static bool emit_refused(int rc, const ctl_t *ctl, const char *partner, const ctl_curve_t *curve)
{
    if (rc != PARCOURS_EKEYREFUSED && rc != PARCOURS_EHANDSHAKE)
        return false;
    ctl_error("parcoursctl emit: %s\n", parcours_strerror(rc));
    ctl_curve_hint(ctl->ingest, partner, curve);
    return true;
}

static int emit_client_new(ctl_t *ctl, const char *partner_id, int window, const ctl_curve_t *curve,
                           parcours_client_t **client)
{
    parcours_client_options_t opts = PARCOURS_CLIENT_OPTIONS_INIT;
    /* Half the timeout: one re-send (after a reconnection, say) still fits in the wait. */
    opts.ack_timeout_ms = ctl->timeout_ms / 2 > 100 ? ctl->timeout_ms / 2 : 100;
    opts.window = window;
    opts.curve_secret_key = curve->on ? curve->secret : NULL;
    opts.curve_server_key = curve->on ? curve->server : NULL;
    int rc = parcours_client_new(ctl->ingest, partner_id, &opts, client);
    if (rc != PARCOURS_OK) {
        ctl_error("parcoursctl: cannot use the ingest endpoint %s: %s\n", ctl->ingest,
                  parcours_strerror(rc));
        return rc == PARCOURS_EENDPOINT ? CTL_EXIT_USAGE : CTL_EXIT_REJECTED;
    }
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* emit TYPE --as PARTNER --beneficiary ID [--FIELD VALUE ...] */

static int emit_one(ctl_t *ctl, int argc, char **argv)
{
    const char **keys = calloc((size_t)argc + 1, sizeof(*keys));
    const char **values = calloc((size_t)argc + 1, sizeof(*values));
    char **owned = calloc((size_t)argc + 1, sizeof(*owned)); /* keys cut out of --name=value */
    size_t n = 0, n_owned = 0;
    int status = CTL_EXIT_USAGE;
    Parcours__V1__Event *event = NULL;
    parcours_client_t *client = NULL;
    ctl_curve_t curve = {0};
    if (keys == NULL || values == NULL || owned == NULL) {
        ctl_error("parcoursctl: out of memory\n");
        status = CTL_EXIT_REJECTED;
        goto done;
    }
    for (int i = 0; i < argc; i++) {
        int common = ctl_common_option(ctl, argc, argv, &i);
        if (common < 0)
            goto done;
        if (common > 0) {
            i--; /* ctl_common_option moved past the option; the loop adds 1 */
            continue;
        }
        const char *arg = argv[i];
        if (strcmp(arg, "--json") == 0) {
            ctl->json = true;
        } else if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            const char *eq = strchr(arg, '=');
            if (eq != NULL) {
                owned[n_owned] = strndup(arg + 2, (size_t)(eq - arg - 2));
                if (owned[n_owned] == NULL)
                    goto done;
                keys[n] = owned[n_owned++];
                values[n++] = eq + 1;
            } else if (i + 1 < argc) {
                keys[n] = arg + 2;
                values[n++] = argv[++i];
            } else {
                ctl_error("parcoursctl emit: %s needs a value\n", arg);
                goto done;
            }
        } else if (n == 0 || strcmp(keys[0], "type") != 0) {
            /* The type comes first among the pairs, so that a later positional is an error. */
            memmove(keys + 1, keys, n * sizeof(*keys));
            memmove(values + 1, values, n * sizeof(*values));
            keys[0] = "type";
            values[0] = arg;
            n++;
        } else {
            ctl_error("parcoursctl emit: unexpected argument \"%s\"\n", arg);
            status = ctl_usage("emit");
            goto done;
        }
    }
    char err[EVENTTEXT_ERROR_MAX];
    if (eventtext_build(n, keys, values, &event, err, sizeof(err)) != 0) {
        ctl_error("parcoursctl emit: %s\n", err);
        goto done;
    }
    if (ctl_endpoints(ctl) != 0 || ctl_partner_check(ctl, event->partner_id) != 0)
        goto done;
    status = ctl_curve_keys(ctl, event->partner_id, &curve);
    if (status != CTL_EXIT_OK)
        goto done;
    status = emit_client_new(ctl, event->partner_id, 1, &curve, &client);
    ctl_curve_wipe(&curve);
    if (status != CTL_EXIT_OK)
        goto done;
    parcours_ack_t ack;
    int rc = parcours_client_send(client, event, ctl->timeout_ms, &ack);
    if (rc == PARCOURS_EUNREACHABLE) {
        emit_unreachable_hint(ctl, event->partner_id, &curve);
        status = CTL_EXIT_UNREACHABLE;
        goto done;
    }
    if (emit_refused(rc, ctl, event->partner_id, &curve)) {
        status = CTL_EXIT_REJECTED;
        goto done;
    }
    if (rc != PARCOURS_OK) {
        ctl_error("parcoursctl emit: %s\n", parcours_strerror(rc));
        status = CTL_EXIT_REJECTED;
        goto done;
    }
    print_ack(&ack, 0, fields_payload_name(event), event->beneficiary_id, ctl->json);
    status = emit_exit_code(&ack);
    if (status == CTL_EXIT_UNREACHABLE)
        emit_unreachable_hint(ctl, event->partner_id, &curve);
done:
    parcours_client_destroy(&client);
    eventtext_free(&event);
    for (size_t i = 0; owned != NULL && i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    free(values);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* emit --json [FILE]: reading and checking every line. */

typedef struct emit_input {
    emit_item_t *items;
    size_t n, cap;
    size_t errors;
} emit_input_t;

/*
 * The flat object of one line as key and value texts for eventtext_build(): a string as it is,
 * an integer in decimal, true and false as words, null as NULL (the field left unset). Returns
 * the number of members, or -1 with err set (a nested value, a fraction, no memory). keys and
 * values point into o, which the caller keeps until they are used; the arrays are the caller's.
 */
static long emit_line_fields(json_t *o, const char ***keys, const char ***values,
                             char (*numbers)[24], char *err, size_t errlen)
{
    size_t n = json_object_size(o), k = 0;
    *keys = calloc(n + 1, sizeof(**keys));
    *values = calloc(n + 1, sizeof(**values));
    if (*keys == NULL || *values == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        (*keys)[k] = key;
        switch (json_typeof(v)) {
        case JSON_STRING:
            (*values)[k] = json_string_value(v);
            break;
        case JSON_INTEGER:
            snprintf(numbers[k], sizeof(numbers[k]), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
            (*values)[k] = numbers[k];
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            (*values)[k] = json_is_true(v) ? "true" : "false";
            break;
        case JSON_NULL:
            (*values)[k] = NULL;
            break;
        default:
            snprintf(err, errlen,
                     "\"%.64s\": a string, a whole number, true, false or null expected "
                     "(the line is one flat object)",
                     key);
            return -1;
        }
        k++;
    }
    return (long)k;
}

/* Builds the event of one JSON line; prints why not and counts an error otherwise. */
static void emit_read_line(emit_input_t *in, const char *name, size_t line, const char *text,
                           size_t len)
{
    char err[EVENTTEXT_ERROR_MAX];
    Parcours__V1__Event *event = NULL;
    /* RFC 8259 strictly, as jansson reads it; a key given twice is refused rather than one of
     * its values silently kept, and "\u0000" too (no identifier holds a NUL). */
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        snprintf(err, sizeof(err), "column %d: not JSON: %s", jerr.column, jerr.text);
    } else if (!json_is_object(o)) {
        snprintf(err, sizeof(err), "not a JSON object: each line is one {...}");
    } else {
        const char **keys = NULL, **values = NULL;
        char(*numbers)[24] = calloc(json_object_size(o) + 1, sizeof(*numbers));
        long n =
            numbers == NULL ? -1 : emit_line_fields(o, &keys, &values, numbers, err, sizeof(err));
        if (numbers == NULL)
            snprintf(err, sizeof(err), "out of memory");
        if (n >= 0)
            eventtext_build((size_t)n, keys, values, &event, err, sizeof(err));
        free(keys);
        free(values);
        free(numbers);
    }
    json_decref(o);
    if (event == NULL) {
        if (in->errors++ < EMIT_ERRORS_SHOWN)
            ctl_error("%s:%zu: %s\n", name, line, err);
        return;
    }
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        emit_item_t *items = realloc(in->items, cap * sizeof(*items));
        if (items == NULL) {
            eventtext_free(&event);
            if (in->errors++ < EMIT_ERRORS_SHOWN)
                ctl_error("%s:%zu: out of memory\n", name, line);
            return;
        }
        in->items = items;
        in->cap = cap;
    }
    in->items[in->n++] = (emit_item_t){.line = line, .event = event};
}

/* Reads every line of f; returns 0 when all were good. */
static int emit_read(emit_input_t *in, FILE *f, const char *name)
{
    char *buf = NULL;
    size_t cap = 0, line = 0;
    ssize_t len;
    errno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        const char *p = buf;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        emit_read_line(in, name, line, buf, (size_t)len);
    }
    int read_error = ferror(f) ? errno : 0;
    free(buf);
    if (read_error != 0) {
        ctl_error("parcoursctl emit: cannot read %s: %s\n", name, strerror(read_error));
        return -1;
    }
    if (in->errors > EMIT_ERRORS_SHOWN)
        ctl_error("... and %zu more errors\n", in->errors - EMIT_ERRORS_SHOWN);
    if (in->errors > 0) {
        ctl_error("parcoursctl emit: %zu bad lines in %s; nothing was sent.\n", in->errors, name);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* emit --json [FILE]: pipelining. */

/* Marks every event without an outcome as unanswered (sent or not). */
static void emit_give_up(emit_item_t *items, size_t n, size_t published, int timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].done)
            continue;
        parcours_ack_t *ack = &items[i].ack;
        *ack = (parcours_ack_t){.status = PARCOURS_ACK_UNANSWERED};
        if (i < published) {
            snprintf(ack->event_id, sizeof(ack->event_id), "%s", items[i].event_id);
            snprintf(ack->message, sizeof(ack->message),
                     "no answer within %d ms; the event may or may not have been applied",
                     timeout_ms);
        } else {
            snprintf(ack->event_id, sizeof(ack->event_id), "%s", items[i].event->event_id);
            snprintf(ack->message, sizeof(ack->message), "not sent: parcoursd stopped answering");
        }
        items[i].done = true;
    }
}

static void emit_print_ready(const ctl_t *ctl, emit_item_t *items, size_t n, size_t *printed,
                             int *status)
{
    for (; *printed < n && items[*printed].done; (*printed)++) {
        emit_item_t *it = &items[*printed];
        print_ack(&it->ack, it->line, fields_payload_name(it->event), it->event->beneficiary_id,
                  ctl->json);
        *status = worse(*status, emit_exit_code(&it->ack));
        eventtext_free(&it->event);
    }
    fflush(stdout);
}

/* One connection of emit --json: the partner whose key it uses, and its client. */
typedef struct emit_connection {
    char partner[PARCOURS_ID_MAX + 1];
    ctl_curve_t curve; /* its keys; the secret is wiped once the client has it */
    parcours_client_t *client;
} emit_connection_t;

typedef struct emit_connections {
    emit_connection_t *list;
    size_t n, cap;
} emit_connections_t;

static void emit_connections_close(emit_connections_t *c)
{
    for (size_t k = 0; k < c->n; k++) {
        parcours_client_destroy(&c->list[k].client);
        ctl_curve_wipe(&c->list[k].curve);
    }
    free(c->list);
    *c = (emit_connections_t){0};
}

/* The index of partner's connection, added when new; SIZE_MAX when out of memory. */
static size_t emit_connection_of(emit_connections_t *c, const char *partner)
{
    for (size_t k = 0; k < c->n; k++)
        if (strcmp(c->list[k].partner, partner) == 0)
            return k;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        emit_connection_t *list = realloc(c->list, cap * sizeof(*list));
        if (list == NULL)
            return SIZE_MAX;
        c->list = list;
        c->cap = cap;
    }
    c->list[c->n] = (emit_connection_t){0};
    snprintf(c->list[c->n].partner, sizeof(c->list[c->n].partner), "%s", partner);
    return c->n++;
}

/*
 * Gives every item its connection, finds every connection's keys, then opens them all: one
 * connection for the whole file, or one per partner with CURVE (but --key: that key's
 * connection takes every line). Every missing key is reported, not only the first. Returns
 * CTL_EXIT_OK, or the exit code after printing why; c is to be closed either way.
 */
static int emit_connections_open(ctl_t *ctl, emit_item_t *items, size_t n, int window,
                                 emit_connections_t *c)
{
    bool per_partner = ctl_curve_wanted(ctl) && ctl->key_option == NULL;
    for (size_t i = 0; i < n; i++) {
        const char *partner = (per_partner ? items[i] : items[0]).event->partner_id;
        items[i].connection = emit_connection_of(c, partner);
        if (items[i].connection == SIZE_MAX) {
            ctl_error("parcoursctl: out of memory\n");
            return CTL_EXIT_REJECTED;
        }
    }
    int status = CTL_EXIT_OK;
    for (size_t k = 0; k < c->n; k++)
        status = worse(status, ctl_curve_keys(ctl, c->list[k].partner, &c->list[k].curve));
    for (size_t k = 0; k < c->n && status == CTL_EXIT_OK; k++) {
        status =
            emit_client_new(ctl, c->list[k].partner, window, &c->list[k].curve, &c->list[k].client);
        ctl_curve_wipe(&c->list[k].curve);
    }
    return status;
}

static int emit_pipeline(ctl_t *ctl, emit_item_t *items, size_t n, int window)
{
    emit_connections_t connections = {0};
    int status = emit_connections_open(ctl, items, n, window, &connections);
    if (status != CTL_EXIT_OK) {
        emit_connections_close(&connections);
        return status;
    }
    /* The items in flight, to match outcomes with lines: a short linear search, the window
     * being small. They are all on one connection, `current`. */
    size_t *flying = calloc((size_t)window, sizeof(*flying));
    size_t n_flying = 0, published = 0, printed = 0, current = items[0].connection;
    if (flying == NULL) {
        emit_connections_close(&connections);
        ctl_error("parcoursctl: out of memory\n");
        return CTL_EXIT_REJECTED;
    }
    while (printed < n) {
        while (published < n && n_flying < (size_t)window) {
            emit_item_t *it = &items[published];
            if (it->connection != current) {
                /* Another partner's line: every outcome of this run first. Two connections
                 * are two queues on the daemon's side, so only this keeps the file's order
                 * where the two partners' lines touch the same beneficiary. */
                if (n_flying > 0)
                    break;
                current = it->connection;
            }
            parcours_client_t *client = connections.list[current].client;
            int rc = parcours_client_publish(client, it->event, it->event_id);
            if (rc == PARCOURS_EFULL || rc == PARCOURS_EINFLIGHT)
                break; /* an earlier event with this id must finish first: keep the order */
            if (rc == PARCOURS_ETOOLARGE) {
                it->ack = (parcours_ack_t){.status = PARCOURS__V1__ACK_STATUS__ACK_STATUS_REJECTED,
                                           .code = PARCOURS__V1__ERROR_CODE__ERROR_CODE_TOO_LARGE};
                snprintf(it->ack.event_id, sizeof(it->ack.event_id), "%s", it->event->event_id);
                snprintf(it->ack.message, sizeof(it->ack.message), "not sent: %s",
                         parcours_strerror(rc));
                it->done = true;
                published++;
                continue;
            }
            if (rc != PARCOURS_OK) {
                ctl_error("parcoursctl emit: line %zu: %s\n", it->line, parcours_strerror(rc));
                status = CTL_EXIT_REJECTED;
                goto done;
            }
            flying[n_flying++] = published++;
        }
        emit_print_ready(ctl, items, n, &printed, &status);
        if (printed == n)
            break;
        parcours_ack_t ack;
        emit_connection_t *connection = &connections.list[current];
        int rc = parcours_client_poll(connection->client, ctl->timeout_ms, &ack);
        if (emit_refused(rc, ctl, connection->partner, &connection->curve)) {
            status = CTL_EXIT_REJECTED;
            goto done;
        }
        if (rc < 0) {
            ctl_error("parcoursctl emit: %s\n", parcours_strerror(rc));
            status = CTL_EXIT_REJECTED;
            goto done;
        }
        if (rc == 0) {
            /* Nothing became final for a whole timeout: the daemon is gone, or was never there,
             * or it does not admit this connection's key. */
            emit_give_up(items, n, published, ctl->timeout_ms);
            emit_print_ready(ctl, items, n, &printed, &status);
            emit_unreachable_hint(ctl, connection->partner, &connection->curve);
            status = CTL_EXIT_UNREACHABLE;
            break;
        }
        for (size_t k = 0; k < n_flying; k++) {
            emit_item_t *it = &items[flying[k]];
            if (strcmp(it->event_id, ack.event_id) == 0) {
                it->ack = ack;
                it->done = true;
                flying[k] = flying[--n_flying];
                break;
            }
        }
    }
done:
    free(flying);
    emit_connections_close(&connections);
    return status;
}

static int emit_lines(ctl_t *ctl, int argc, char **argv)
{
    const char *path = NULL;
    long window = EMIT_WINDOW_DEFAULT;
    for (int i = 0; i < argc; i++) {
        int common = ctl_common_option(ctl, argc, argv, &i);
        if (common < 0)
            return CTL_EXIT_USAGE;
        if (common > 0) {
            i--;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            ctl->json = true;
        } else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
            char *end;
            window = strtol(argv[++i], &end, 10);
            if (*end != '\0' || window < 1 || window > 100000) {
                ctl_error("parcoursctl emit: --window takes 1 to 100000\n");
                return CTL_EXIT_USAGE;
            }
        } else if (path == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            path = argv[i];
        } else {
            ctl_error("parcoursctl emit: unexpected argument \"%s\"\n", argv[i]);
            return ctl_usage("emit");
        }
    }
    bool from_stdin = path == NULL || strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "r");
    if (f == NULL) {
        ctl_error("parcoursctl emit: cannot open %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    emit_input_t in = {0};
    int rc = emit_read(&in, f, from_stdin ? "stdin" : path);
    if (!from_stdin)
        fclose(f);
    int status = CTL_EXIT_USAGE;
    bool known = rc == 0 && in.n > 0 && ctl_endpoints(ctl) == 0;
    /* Every line's partner, before anything is sent (each unknown one said). */
    for (size_t i = 0; known && i < in.n; i++)
        known = ctl_partner_check(ctl, in.items[i].event->partner_id) == 0;
    if (rc == 0 && in.n == 0)
        status = CTL_EXIT_OK; /* nothing to send */
    else if (known)
        status = emit_pipeline(ctl, in.items, in.n, (int)window);
    for (size_t i = 0; i < in.n; i++)
        eventtext_free(&in.items[i].event);
    free(in.items);
    return status;
}

int cmd_emit(ctl_t *ctl, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "--json") == 0)
        return emit_lines(ctl, argc - 1, argv + 1);
    return emit_one(ctl, argc, argv);
}
