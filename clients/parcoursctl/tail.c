/*
 * tail.c: `parcoursctl tail`, a partner's notification stream as it comes.
 *
 *   tail --as PARTNER [--from N] [--types T1,T2] [--window W] [--idle SECONDS] [--no-ack]
 *        [--json]
 *
 * One line per notification (print_notification), flushed, then acknowledged: a notification
 * is acknowledged only once it has been written, so a tail killed in between shows it again
 * next time. --no-ack leaves the partner's cursor alone, to look without consuming; --from N
 * replays from partner_seq N. The stream survives daemon restarts and network cuts
 * (libparcours subscribes again and drops redeliveries), so a tail can run for months.
 *
 * It runs until SIGINT or SIGTERM (exit 0), or with --idle S until S seconds pass with nothing
 * new (exit 0; exit 3 when not even the daemon's answer to the subscription came). A refusal
 * (an unknown partner, --from beyond the stream) prints the daemon's sentence and exits 1.
 *
 * With CURVE the connection uses PARTNER's key (--key FILE, or PARTNER.secret in --keys DIR or
 * its default): the daemon lets a key read its own partner's stream only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fields.h"
#include "parcours.h"
#include "parcoursctl.h"
#include "print.h"

#define TAIL_TYPES_MAX 64
#define TAIL_SLICE_MS  500 /* the longest wait between two looks at the signal flag */
#define TAIL_IDLE_MAX  (365.0 * 86400)

typedef struct tail_args {
    const char *partner;
    uint64_t from;
    Parcours__V1__EventType types[TAIL_TYPES_MAX];
    size_t n_types;
    int window;
    int64_t idle_ms; /* -1: follow until a signal */
    bool no_ack;
} tail_args_t;

/* What the notification callback needs. */
typedef struct tail_output {
    bool json;
    bool write_failed;
} tail_output_t;

static volatile sig_atomic_t tail_stop;

static void tail_on_signal(int signo)
{
    (void)signo;
    tail_stop = 1;
}

/* Reads a comma-separated list of event types: OrientationDecided, orientation_decided,
 * ORIENTATION_DECIDED or EVENT_TYPE_ORIENTATION_DECIDED. */
static int tail_parse_types(const char *list, tail_args_t *a)
{
    char *copy = strdup(list);
    if (copy == NULL) {
        ctl_error("parcoursctl: out of memory\n");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name != NULL && rc == 0;
         name = strtok_r(NULL, ",", &save)) {
        const ProtobufCFieldDescriptor *f = fields_payload_find(name);
        int type = f != NULL ? (int)f->id - 100 : 0;
        if (f == NULL &&
            (fields_enum_parse(&parcours__v1__event_type__descriptor, name, &type) != 0 ||
             type == 0)) {
            char known[2048];
            fields_payload_list(known, sizeof(known));
            ctl_error("parcoursctl tail: unknown event type \"%s\"; the types are: %s\n", name,
                      known);
            rc = -1;
        } else if (a->n_types == TAIL_TYPES_MAX) {
            ctl_error("parcoursctl tail: --types takes %d types at most\n", TAIL_TYPES_MAX);
            rc = -1;
        } else {
            a->types[a->n_types++] = (Parcours__V1__EventType)type;
        }
    }
    if (rc == 0 && a->n_types == 0) {
        ctl_error("parcoursctl tail: --types needs at least one event type\n");
        rc = -1;
    }
    free(copy);
    return rc;
}

/* Reads the arguments of tail; returns 0, or -1 after printing why (exit CTL_EXIT_USAGE). */
static int tail_parse(ctl_t *ctl, int argc, char **argv, tail_args_t *a)
{
    for (int i = 0; i < argc; i++) {
        int common = ctl_common_option(ctl, argc, argv, &i);
        if (common < 0)
            return -1;
        if (common > 0) {
            i--; /* ctl_common_option moved past the option; the loop adds 1 */
            continue;
        }
        const char *arg = argv[i];
        if (strcmp(arg, "--json") == 0) {
            ctl->json = true;
            continue;
        }
        if (strcmp(arg, "--no-ack") == 0) {
            a->no_ack = true;
            continue;
        }
        static const char *const valued[] = {"--as", "--from", "--types", "--window", "--idle"};
        size_t which = 0;
        const char *value = NULL;
        for (; which < sizeof(valued) / sizeof(valued[0]); which++) {
            size_t n = strlen(valued[which]);
            if (strcmp(arg, valued[which]) == 0 && i + 1 < argc) {
                value = argv[++i];
                break;
            }
            if (strncmp(arg, valued[which], n) == 0 && arg[n] == '=') {
                value = arg + n + 1;
                break;
            }
        }
        char *end = NULL;
        errno = 0;
        switch (which) {
        case 0:
            a->partner = value;
            break;
        case 1: {
            unsigned long long from = strtoull(value, &end, 10);
            if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0) {
                ctl_error("parcoursctl tail: --from takes a partner_seq (1, 2...)\n");
                return -1;
            }
            a->from = from;
            break;
        }
        case 2:
            if (tail_parse_types(value, a) != 0)
                return -1;
            break;
        case 3: {
            long window = strtol(value, &end, 10);
            if (*end != '\0' || end == value || window < 1 ||
                window > PARCOURS_SUBSCRIPTION_WINDOW_MAX) {
                ctl_error("parcoursctl tail: --window takes 1 to %d\n",
                          PARCOURS_SUBSCRIPTION_WINDOW_MAX);
                return -1;
            }
            a->window = (int)window;
            break;
        }
        case 4: {
            double seconds = strtod(value, &end);
            if (*end != '\0' || end == value || !isfinite(seconds) || seconds <= 0 ||
                seconds > TAIL_IDLE_MAX) {
                ctl_error("parcoursctl tail: --idle takes seconds above 0 (1.5 for "
                          "instance)\n");
                return -1;
            }
            a->idle_ms = (int64_t)(seconds * 1000 + 0.999); /* rounded up */
            break;
        }
        default:
            ctl_error("parcoursctl tail: unexpected argument \"%s\"%s\n", arg,
                      arg[0] == '-' && strchr(arg, '=') == NULL ? " (or it lacks its value)" : "");
            ctl_usage("tail");
            return -1;
        }
    }
    if (a->partner == NULL) {
        ctl_error("parcoursctl tail: --as PARTNER is required\n");
        ctl_usage("tail");
        return -1;
    }
    return 0;
}

/* The notification callback: the line, flushed before the library acknowledges it. */
static int tail_print(const Parcours__V1__Notification *n, void *ctx)
{
    tail_output_t *out = ctx;
    print_notification(n, out->json);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        out->write_failed = true;
        return -1; /* not acknowledged: it was not shown */
    }
    return 0;
}

static void tail_error(const char *message)
{
    ctl_error("parcoursctl: %s\n", message);
}

/* Follows the stream until a signal, the idle time, or an error; returns the exit code. */
static int tail_follow(ctl_t *ctl, const tail_args_t *a, const ctl_curve_t *curve,
                       parcours_subscription_t *sub)
{
    tail_output_t out = {.json = ctl->json};
    int64_t start = clock_monotonic_ms(), quiet_since = start;
    bool told_waiting = false;
    while (!tail_stop) {
        int64_t now = clock_monotonic_ms();
        int slice = TAIL_SLICE_MS;
        if (a->idle_ms >= 0) {
            int64_t left = quiet_since + a->idle_ms - now;
            if (left <= 0)
                break;
            if (left < slice)
                slice = (int)left;
        }
        int n = parcours_subscription_poll(sub, slice, tail_print, &out);
        if (out.write_failed) {
            ctl_error("parcoursctl: cannot write the output: %s\n", strerror(errno));
            return CTL_EXIT_REJECTED;
        }
        if (n == PARCOURS_EREFUSED) {
            tail_error(parcours_subscription_error(sub, NULL));
            return CTL_EXIT_REJECTED;
        }
        if (n < 0) {
            char message[CTL_ENDPOINT_MAX + 256];
            snprintf(message, sizeof(message), "%s: %s", ctl->deliver, parcours_strerror(n));
            tail_error(message);
            return CTL_EXIT_REJECTED;
        }
        if (n > 0)
            quiet_since = clock_monotonic_ms();
        if (!told_waiting && a->idle_ms < 0 && parcours_subscription_subscribed(sub) == NULL &&
            clock_monotonic_ms() - start >= ctl->timeout_ms) {
            /* Following forever: say why nothing shows, and keep waiting for the daemon. */
            fprintf(stderr,
                    "parcoursctl: parcoursd has not answered on %s yet; waiting for it (check "
                    "[deliver] endpoint in parcoursd.conf, or give -c FILE or --deliver "
                    "ENDPOINT)\n",
                    ctl->deliver);
            ctl_curve_hint(ctl->deliver, a->partner, curve);
            told_waiting = true;
        }
    }
    if (!tail_stop && parcours_subscription_subscribed(sub) == NULL) {
        ctl_error("parcoursctl: parcoursd did not answer on %s within %" PRId64 " ms: is parcoursd "
                  "running? Check [deliver] endpoint in parcoursd.conf (or give -c FILE or "
                  "--deliver ENDPOINT).\n",
                  ctl->deliver, a->idle_ms);
        ctl_curve_hint(ctl->deliver, a->partner, curve);
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

int cmd_tail(ctl_t *ctl, int argc, char **argv)
{
    tail_args_t a = {.idle_ms = -1};
    if (tail_parse(ctl, argc, argv, &a) != 0)
        return CTL_EXIT_USAGE;
    if (ctl_endpoints(ctl) != 0 || ctl_partner_check(ctl, a.partner) != 0)
        return CTL_EXIT_USAGE;
    ctl_curve_t curve;
    int status = ctl_curve_keys(ctl, a.partner, &curve);
    if (status != CTL_EXIT_OK)
        return status;

    parcours_subscription_options_t opts = PARCOURS_SUBSCRIPTION_OPTIONS_INIT;
    opts.from = a.from;
    opts.types = a.n_types > 0 ? a.types : NULL;
    opts.n_types = a.n_types;
    opts.window = a.window;
    opts.ack_mode = a.no_ack ? PARCOURS_ACK_NEVER : PARCOURS_ACK_AUTO;
    opts.curve_secret_key = curve.on ? curve.secret : NULL;
    opts.curve_server_key = curve.on ? curve.server : NULL;
    parcours_subscription_t *sub = NULL;
    int rc = parcours_subscription_new(ctl->deliver, a.partner, &opts, &sub);
    ctl_curve_wipe(&curve);
    if (rc == PARCOURS_EINVAL) {
        ctl_error("parcoursctl tail: --as takes a partner id: 1 to %d characters of "
                  "A-Z a-z 0-9 . _ : -\n",
                  PARCOURS_ID_MAX);
        return CTL_EXIT_USAGE;
    }
    if (rc != PARCOURS_OK) {
        ctl_error("parcoursctl: cannot use the deliver endpoint %s: %s\n", ctl->deliver,
                  parcours_strerror(rc));
        return rc == PARCOURS_EENDPOINT ? CTL_EXIT_USAGE : CTL_EXIT_REJECTED;
    }

    /* No SA_RESTART: the signal must cut the wait short, and the loop then ends. */
    struct sigaction action, old_int, old_term;
    memset(&action, 0, sizeof(action));
    action.sa_handler = tail_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    status = tail_follow(ctl, &a, &curve, sub);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    parcours_subscription_destroy(&sub);
    return status;
}
