/*
 * main.c: parcoursd, the Parcours daemon of one territory.
 *
 * Start-up reads and checks the whole configuration and partners file, opens the store, binds
 * every socket, then tells systemd it is ready. The loop is libevent's, on one thread. SIGTERM
 * and SIGINT stop the reading of new events; as no batch is ever open between two passes of the
 * loop, everything read was committed and acked, and the sockets linger to flush the last acks.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <zmq.h>

#include "admin.h"
#include "config.h"
#include "deliver.h"
#include "ingest.h"
#include "log.h"
#include "partners_file.h"
#include "store.h"

#define ERRORS_MAX 8192

typedef struct daemon_state {
    struct event_base *base;
    ingest_t *ingest;
} daemon_state_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: parcoursd [-c FILE] [-n]\n"
                 "       parcoursd --version | --help | --config-reference\n"
                 "  -c FILE             the configuration (default /etc/parcours/parcoursd.conf)\n"
                 "  -n                  check the configuration and the partners file, then exit\n"
                 "  --config-reference  print every configuration key, as Markdown\n");
}

static void on_stop_signal(evutil_socket_t signal_number, short what, void *arg)
{
    (void)what;
    daemon_state_t *d = arg;
    log_info("signal %d: stopping; every event read is committed and acked", (int)signal_number);
    sd_notify(0, "STOPPING=1");
    ingest_stop(d->ingest);
    event_base_loopexit(d->base, NULL);
}

static void on_commit(void *deliver)
{
    deliver_wake(deliver);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    const char *config_path = "/etc/parcours/parcoursd.conf";
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "-n") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("parcoursd %s\n", PARCOURS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--config-reference") == 0) {
            config_write_reference(stdout);
            return 0;
        } else {
            fprintf(stderr, "parcoursd: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    static char errors[ERRORS_MAX];
    config_t config;
    if (config_load(&config, config_path, errors, sizeof(errors)) != 0) {
        fprintf(stderr, "%sparcoursd: the configuration is refused\n", errors);
        return 1;
    }
    log_set_level((log_level_t)log_level_from_name(config.log_level));
    partners_t *partners = NULL;
    if (partners_file_load(config.partners_file, &partners, errors, sizeof(errors)) != 0) {
        fprintf(stderr, "%sparcoursd: the partners file is refused\n", errors);
        return 1;
    }
    if (check_only) {
        printf("configuration OK (%zu partners)\n", partners_count(partners));
        partners_destroy(&partners);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);

    store_options_t store_options;
    store_options_default(&store_options);
    store_options.durable = config.store_durable;
    store_options.initial_map_size = (size_t)config.store_initial_map_size;
    store_options.max_map_size = (size_t)config.store_max_map_size;
    store_t *store = NULL;
    int rc = store_open(config.store_path, &store_options, &store);
    if (rc != STORE_OK)
        fatal("cannot open the store in %s: %s", config.store_path, store_strerror(rc));

    char err[512];
    daemon_state_t d = {0};
    d.base = event_base_new();
    void *zmq_context = zmq_ctx_new();
    if (d.base == NULL || zmq_context == NULL)
        fatal("cannot create the event loop or the ZeroMQ context");
    ingest_options_t ingest_options = {
        .endpoint = config.ingest_endpoint,
        .batch_max = (size_t)config.ingest_batch_max,
        .max_frame = (size_t)config.ingest_max_frame,
    };
    if (ingest_new(d.base, zmq_context, store, partners, &ingest_options, &d.ingest, err,
                   sizeof(err)) != 0)
        fatal("%s", err);
    deliver_options_t deliver_options = {.endpoint = config.deliver_endpoint};
    deliver_t *deliver = NULL;
    if (deliver_new(d.base, zmq_context, store, partners, &deliver_options, &deliver, err,
                    sizeof(err)) != 0)
        fatal("%s", err);
    /* Each committed batch may have written outbox entries: the subscribers with credit get
     * them at once, in the same pass. */
    ingest_on_commit(d.ingest, on_commit, deliver);
    admin_sources_t sources = {store, partners, d.ingest, deliver, monotonic_ms()};
    admin_t *admin = NULL;
    if (admin_new(d.base, zmq_context, config.admin_endpoint, &sources, &admin, err, sizeof(err)) !=
        0)
        fatal("%s", err);
    struct event *sigterm = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    struct event *sigint = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) || event_add(sigint, NULL))
        fatal("cannot watch the signals");

    store_info_t info;
    store_info(store, &info);
    log_info("parcoursd %s ready: ingest %s, deliver %s, admin %s, store %s (last seq %llu, %s), "
             "%zu partners",
             PARCOURS_VERSION, config.ingest_endpoint, config.deliver_endpoint,
             config.admin_endpoint, config.store_path, (unsigned long long)info.last_seq,
             info.durable ? "durable" : "NOT durable", partners_count(partners));
    sd_notify(0, "READY=1");

    event_base_dispatch(d.base);

    event_free(sigterm);
    event_free(sigint);
    admin_destroy(&admin);
    ingest_destroy(&d.ingest);
    deliver_destroy(&deliver); /* writes the last acknowledged cursors */
    zmq_ctx_term(zmq_context);
    event_base_free(d.base);
    store_close(&store);
    partners_destroy(&partners);
    log_info("parcoursd stopped");
    return 0;
}
