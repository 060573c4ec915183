/*
 * main.c: parcoursd, the Parcours daemon of one territory.
 *
 * Start-up reads and checks the whole configuration and partners file, opens the store, starts
 * the ZAP handler and proves it answers (CURVE fails closed), binds every socket, then tells
 * systemd it is ready. The loop is libevent's, on one thread. SIGTERM and SIGINT stop the
 * reading of new events; as no batch is ever open between two passes of the loop, everything
 * read was committed and acked, and the sockets linger to flush the last acks. SIGHUP re-reads
 * the partners file: a file with any error is refused whole and the old one kept.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "deadlines.h"
#include "deliver.h"
#include "partners.h"
#include "audit.h"
#include "erasure.h"
#include "retention.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "partners_file.h"
#include "restore.h"
#include "startup.h"
#include "store.h"
#include "zap.h"

#define ERRORS_MAX 8192

/* Everything the signal handlers reach. */
typedef struct daemon_state {
    struct event_base *base;
    const config_t *config;
    partners_t *partners;
    ingest_t *ingest;
    deliver_t *deliver;
    admin_t *admin;
    http_t *http; /* NULL when [http] listen is empty */
    zap_t *zap;
    deadlines_t *deadlines;
    daemon_sources_t sources;    /* what admin and http read; its partners are the ones in force */
    struct event *unusable_exit; /* armed once the store is unusable */
    struct event *unusable_now;  /* on_store_unusable's work, when another thread found it */
    pthread_t loop_thread;
    int exit_code; /* 0, or 1 once the store is unusable (systemd restarts us) */
} daemon_state_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: parcoursd [-c FILE] [-n | --restore BACKUP]\n"
                 "       parcoursd --version | --help | --config-reference\n"
                 "  -c FILE             the configuration (default /etc/parcours/parcoursd.conf)\n"
                 "  -n                  check the configuration and the partners file, then exit\n"
                 "  --restore BACKUP    put a backup's data.mdb (parcoursctl backup) in the empty\n"
                 "                      [store] path, give it a new stream id, then exit\n"
                 "  --config-reference  print every configuration key, as Markdown\n");
}

static void on_stop_signal(evutil_socket_t signal_number, short what, void *arg)
{
    (void)what;
    daemon_state_t *d = arg;
    log_info("signal %d: stopping; every event read is committed and acked", (int)signal_number);
    sd_notify(0, "STOPPING=1");
    http_set_unready(d->http, "draining\n");
    ingest_stop(d->ingest);
    event_base_loopexit(d->base, NULL);
}

_Static_assert(ZAP_ADMIN_KEYS_MAX == CONFIG_ADMIN_KEYS_MAX,
               "[admin] keys must fit the ZAP handler");

/* How long /readyz answers 503 before the process exits once the store is unusable: long
 * enough for a probe or a load balancer polling every few hundred milliseconds to see it. */
#define UNUSABLE_EXIT_DELAY_MS 1000

static void on_unusable_exit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state_t *d = arg;
    event_base_loopexit(d->base, NULL);
}

/* The store refuses every transaction (LMDB's MDB_PANIC, after a failed meta page write): the
 * events already acknowledged are on disk, those of the failing batch are answered RETRY, and
 * only opening the store again helps. Called from inside the store function that found it,
 * so it only takes note: says it once, stops reading events, turns /readyz to 503, and exits
 * non-zero shortly after, which systemd's Restart=on-failure turns into that new open. */
static void store_unusable_handle(daemon_state_t *d)
{
    log_error("store %s: LMDB can no longer write it (a meta page write failed; the kernel log "
              "names the device). Every acknowledged event is on disk, in the write-ahead log the "
              "next start replays, and the events not acknowledged get RETRY; parcoursd exits with "
              "status 1 so that systemd starts it again. "
              "If it fails again, check the disk and the file system of the store.",
              d->config->store_path);
    sd_notify(0, "STOPPING=1");
    http_set_unready(d->http, "store unusable\n");
    ingest_stop(d->ingest);
    d->exit_code = 1;
    struct timeval delay = {UNUSABLE_EXIT_DELAY_MS / 1000, (UNUSABLE_EXIT_DELAY_MS % 1000) * 1000};
    d->unusable_exit = evtimer_new(d->base, on_unusable_exit, d);
    if (d->unusable_exit == NULL || evtimer_add(d->unusable_exit, &delay) != 0)
        event_base_loopexit(d->base, NULL);
}

static void on_unusable_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_unusable_handle(arg);
}

/* The store's callback. On the loop, it acts at once; a read on the delivery thread that finds
 * the store unusable hands the work to the loop, which owns every part it touches. */
static void on_store_unusable(void *arg)
{
    daemon_state_t *d = arg;
    if (pthread_equal(pthread_self(), d->loop_thread))
        store_unusable_handle(d);
    else
        event_active(d->unusable_now, EV_TIMEOUT, 0);
}

/* SIGHUP: the partners file again. Every module takes the new directory between two passes of
 * the loop, so no pass ever sees two. */
static void on_reload_signal(evutil_socket_t signal_number, short what, void *arg)
{
    (void)signal_number;
    (void)what;
    daemon_state_t *d = arg;
    static char errors[ERRORS_MAX];
    partners_t *fresh = NULL;
    if (partners_file_load(d->config->partners_file, &fresh, errors, sizeof(errors)) != 0) {
        log_error("reload refused, the partners file in force is kept:\n%s", errors);
        return;
    }
    bool revoked = partners_keys_revoked(d->partners, fresh);
    /* What changed, for the journal: the partners added and removed, and any key revoked. */
    char detail[AUDIT_FIELD_MAX + 1], err[256];
    size_t used = (size_t)snprintf(detail, sizeof(detail), "%zu partners (were %zu); added",
                                   partners_count(fresh), partners_count(d->partners));
    for (size_t i = 0; i < partners_count(fresh) && used < sizeof(detail); i++)
        if (partners_find(d->partners, partners_at(fresh, i)->id) == NULL)
            used += (size_t)snprintf(detail + used, sizeof(detail) - used, " %s",
                                     partners_at(fresh, i)->id);
    if (used < sizeof(detail))
        used += (size_t)snprintf(detail + used, sizeof(detail) - used, "; removed");
    for (size_t i = 0; i < partners_count(d->partners) && used < sizeof(detail); i++)
        if (partners_find(fresh, partners_at(d->partners, i)->id) == NULL)
            used += (size_t)snprintf(detail + used, sizeof(detail) - used, " %s",
                                     partners_at(d->partners, i)->id);
    if (used < sizeof(detail))
        snprintf(detail + used, sizeof(detail) - used, "; %s",
                 revoked ? "a key revoked" : "no key revoked");
    if (audit_append(d->sources.audit, "SIGHUP", "RELOAD", d->config->partners_file, detail, err,
                     sizeof(err)) != 0)
        log_error("reload: %s", err);
    ingest_set_partners(d->ingest, fresh);
    deliver_set_partners(d->deliver, fresh);
    d->sources.partners = fresh;
    if (d->zap != NULL)
        zap_set_partners(d->zap, fresh);
    partners_destroy(&d->partners);
    d->partners = fresh;
    /* A connection authenticated once stays so: when a key is revoked, every connection is
     * dropped and must authenticate again. Partners reconnect by themselves, and the dedupe
     * makes their re-sends safe. */
    if (revoked) {
        ingest_rebind(d->ingest);
        deliver_rebind(d->deliver);
    }
    log_info("partners file reloaded: %zu partners%s", partners_count(fresh),
             revoked ? "; a key was revoked, connections dropped" : "");
}

/* WATCHDOG=1 from the loop itself, so that a loop stuck in a commit or a callback stops the
 * pings and systemd restarts the daemon. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sd_notify(0, "WATCHDOG=1");
}

/* When the unit sets WatchdogSec=, pings at half the interval, as sd_watchdog_enabled(3)
 * advises. Returns the timer (NULL when there is no watchdog). */
static struct event *watchdog_start(struct event_base *base)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return NULL;
    struct event *timer = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
    struct timeval half = {(time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000)};
    if (timer == NULL || event_add(timer, &half) != 0)
        fatal("cannot start the watchdog timer");
    log_info("watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)(usec / 2000));
    return timer;
}

static void on_commit(void *deliver)
{
    deliver_wake(deliver);
}

/* Every second: the Erasure notices every partner has acknowledged lose their keys. */
static void on_settle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state_t *d = arg;
    if (d->unusable_exit == NULL)
        erasure_settle(&d->sources);
}

/* GET /metrics: the figures Status shows too, collected now, in Prometheus' text format. */
static int on_metrics(struct evbuffer *body, void *arg)
{
    const daemon_state_t *d = arg;
    figures_t figures;
    if (figures_collect(&d->sources, admin_backup_stats(d->admin), &figures) != 0)
        return -1;
    figures.ready = http_ready(d->http);
    metrics_write(&figures, body);
    figures_release(&figures);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = "/etc/parcours/parcoursd.conf";
    int check_only = 0;
    const char *restore_from = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
            restore_from = argv[++i];
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

    /* Everything a start reads, checked in one run: -n, --restore and a start report every
     * error of the configuration, the keys and the partners file at once. */
    static char errors[ERRORS_MAX];
    static startup_t startup;
    if (startup_load(config_path, &startup, errors, sizeof(errors)) != 0) {
        fputs(errors, stderr);
        return 1;
    }
    config_t config = startup.config;
    partners_t *partners = startup.partners;
    startup.partners = NULL;
    log_set_level((log_level_t)log_level_from_name(config.log_level));
    if (check_only) {
        printf("configuration OK (%zu partners)\n", partners_count(partners));
        partners_destroy(&partners);
        return 0;
    }
    if (restore_from != NULL) {
        partners_destroy(&partners);
        return restore_run(&config, restore_from);
    }
    signal(SIGPIPE, SIG_IGN);

    store_options_t store_options;
    store_options_default(&store_options);
    store_options.durable = config.store_durable;
    store_options.checkpoint_ms = (unsigned)config.store_checkpoint_interval;
    store_options.commit_ms = (unsigned)config.store_commit_interval;
    store_options.initial_map_size = (size_t)config.store_initial_map_size;
    store_options.max_map_size = (size_t)config.store_max_map_size;
    store_options.copy_headroom = (size_t)config.store_backup_headroom;
    store_t *store = NULL;
    int rc = store_open(config.store_path, &store_options, &store);
    if (rc != STORE_OK) {
        char checkpoint[4200];
        snprintf(checkpoint, sizeof(checkpoint), "%s/wal.checkpoint", config.store_path);
        if (rc == STORE_ECORRUPT && access(checkpoint, F_OK) == 0)
            fatal("cannot open the store in %s: its write-ahead log (%s and the wal.* files "
                  "beside it) does not belong to its data.mdb, which was replaced or copied "
                  "since the daemon stopped; nothing was changed. Put back the data.mdb it "
                  "belongs to, or move the wal.* files aside to open data.mdb as it is",
                  config.store_path, checkpoint);
        fatal("cannot open the store in %s: %s", config.store_path, store_strerror(rc));
    }
    store_info_t opened;
    if (store_info(store, &opened) == STORE_OK && opened.wal_replayed > 0)
        log_info("store %s: the last stop was not clean; %u write-ahead records replayed into "
                 "the data file, every acknowledged batch with them",
                 config.store_path, opened.wal_replayed);

    char err[512];
    daemon_state_t d = {0};
    d.config = &config;
    d.partners = partners;
    /* Delivery runs on a thread of its own (deliver.h): every loop must know it, so that the
     * loop may wake the delivery thread's, and that one may wake it (on_store_unusable). */
    if (evthread_use_pthreads() != 0)
        fatal("cannot make libevent's loops safe across threads");
    d.loop_thread = pthread_self();
    d.base = event_base_new();
    void *zmq_context = zmq_ctx_new();
    if (d.base == NULL || zmq_context == NULL)
        fatal("cannot create the event loop or the ZeroMQ context");

    /* CURVE: the handler first, proven to answer, then the endpoints. libzmq would admit
     * everyone if no handler answered. */
    const uint8_t *secret = NULL;
    if (config.security_curve) {
        secret = startup.secret_key;
        /* PARCOURS_TEST_NO_ZAP leaves the handler out, so that a test can prove the daemon
         * then refuses to start. */
        if (getenv("PARCOURS_TEST_NO_ZAP") == NULL &&
            zap_new(d.base, zmq_context, partners, (const uint8_t(*)[32])config.admin_keys.keys,
                    config.admin_keys.count, &d.zap, err, sizeof(err)) != 0)
            fatal("refusing to start: %s", err);
        if (zap_selftest(d.zap, zmq_context, err, sizeof(err)) != 0)
            fatal("refusing to start with CURVE on: %s; without a working ZAP handler libzmq "
                  "would admit any key",
                  err);
    }

    ingest_options_t ingest_options = {
        .endpoint = config.ingest_endpoint,
        .batch_max = (size_t)config.ingest_batch_max,
        .max_frame = (size_t)config.ingest_max_frame,
        .rules = {.legacy_contracts_refused_from = config.rules_legacy_contracts_refused_from,
                  .clock_skew_ms = (int64_t)config.rules_clock_skew * 1000,
                  .deadlines = {(int64_t)config.deadlines_orientation_days * 86400000,
                                (int64_t)config.deadlines_contract_days * 86400000,
                                (int64_t)config.deadlines_referent_days * 86400000,
                                (int64_t)config.deadlines_inactivity_days * 86400000},
                  .transfer_claim_ms = (int64_t)config.transfers_claim_days * 86400000},
        .secret_key = secret,
        .zap = d.zap,
    };
    if (ingest_new(d.base, zmq_context, store, partners, &ingest_options, &d.ingest, err,
                   sizeof(err)) != 0)
        fatal("%s", err);
    /* A store written before the deadlines' index is indexed once, before any event. */
    if (deadlines_index(store, &ingest_options.rules, err, sizeof(err)) != 0)
        fatal("%s", err);
    /* The access journal first: nothing an operator or a partner does goes unrecorded. */
    audit_t *audit = NULL;
    if (audit_open(config.journal_path, (unsigned)config.journal_keep_days, &audit, err,
                   sizeof(err)) != 0)
        fatal("%s", err);
    if (audit_append(audit, "parcoursd", "START", "-", PARCOURS_VERSION, err, sizeof(err)) != 0)
        fatal("%s", err);
    /* Before the delivery thread starts, which may be the one to find it. */
    d.unusable_now = event_new(d.base, -1, 0, on_unusable_now, &d);
    if (d.unusable_now == NULL)
        fatal("cannot watch the store");
    store_on_unusable(store, on_store_unusable, &d);
    deliver_options_t deliver_options = {
        .endpoint = config.deliver_endpoint,
        .heartbeat_s = (unsigned)config.deliver_heartbeat_interval,
        .secret_key = secret,
        .zap = d.zap,
        .active_ms = (int64_t)config.retention_active_days * 86400000,
        .audit = audit,
    };
    if (deliver_new(d.base, zmq_context, store, partners, &deliver_options, &d.deliver, err,
                    sizeof(err)) != 0)
        fatal("%s", err);
    /* Each committed batch may have written outbox entries: the delivery thread is woken to
     * send them to the subscribers with credit, while the loop goes on with the next batch. */
    ingest_on_commit(d.ingest, on_commit, d.deliver);
    d.sources = (daemon_sources_t){store,
                                   partners,
                                   d.ingest,
                                   d.deliver,
                                   d.zap,
                                   clock_monotonic_ms(),
                                   config.store_erased_register,
                                   (int64_t)config.retention_active_days * 86400000,
                                   (int64_t)config.retention_archive_days * 86400000,
                                   audit,
                                   NULL,
                                   &ingest_options.rules};
    if (admin_new(d.base, zmq_context, config.admin_endpoint, secret, &d.sources,
                  (unsigned)config.admin_backup_idle_timeout, &d.admin, err, sizeof(err)) != 0)
        fatal("%s", err);
    /* The HTTP endpoint only observes: a port already taken (another daemon's default) costs
     * the metrics, never the events, so the daemon starts without it and says so. */
    if (config.http_listen[0] != '\0' &&
        http_new(d.base, config.http_listen, on_metrics, &d, &d.http, err, sizeof(err)) != 0)
        log_error("%s; running without HTTP", err);
    struct event *sigterm = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    struct event *sigint = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    struct event *sighup = evsignal_new(d.base, SIGHUP, on_reload_signal, &d);
    if (sigterm == NULL || sigint == NULL || sighup == NULL || event_add(sigterm, NULL) ||
        event_add(sigint, NULL) || event_add(sighup, NULL))
        fatal("cannot watch the signals");

    store_info_t info;
    store_info(store, &info);
    log_info("parcoursd %s ready: ingest %s, deliver %s, admin %s, http %s, store %s (last seq "
             "%llu, %s), %zu partners, CURVE %s",
             PARCOURS_VERSION, config.ingest_endpoint, config.deliver_endpoint,
             config.admin_endpoint, d.http != NULL ? config.http_listen : "off", config.store_path,
             (unsigned long long)info.last_seq, info.durable ? "durable" : "NOT durable",
             partners_count(partners), secret ? "on" : "OFF");
    sd_notify(0, "READY=1");
    struct event *watchdog = watchdog_start(d.base);
    retention_t *retention = retention_new(d.base, &d.sources, config.retention_purge,
                                           (size_t)config.retention_purge_slice);
    if (retention == NULL)
        fatal("cannot start the retention's purge");
    d.deadlines = deadlines_new(d.base, &d.sources, &ingest_options.rules);
    if (d.deadlines == NULL)
        fatal("cannot start the deadlines' timer");
    d.sources.deadlines = d.deadlines;
    struct event *settle = event_new(d.base, -1, EV_PERSIST, on_settle, &d);
    struct timeval second = {1, 0};
    if (settle == NULL || event_add(settle, &second) != 0)
        fatal("cannot start the erasure timer");

    event_base_dispatch(d.base);

    event_free(settle);
    deadlines_destroy(&d.deadlines);
    retention_destroy(&retention);
    if (watchdog != NULL)
        event_free(watchdog);
    if (d.unusable_exit != NULL)
        event_free(d.unusable_exit);
    event_free(d.unusable_now);

    event_free(sigterm);
    event_free(sigint);
    event_free(sighup);
    http_destroy(&d.http);
    admin_destroy(&d.admin);
    ingest_destroy(&d.ingest);
    deliver_destroy(&d.deliver); /* writes the last acknowledged cursors */
    zap_destroy(&d.zap);
    zmq_ctx_term(zmq_context);
    event_base_free(d.base);
    store_close(&store);
    audit_close(&d.sources.audit);
    partners_destroy(&d.partners);
    if (d.exit_code != 0)
        log_info("parcoursd stopped: the store was unusable");
    else
        log_info("parcoursd stopped");
    return d.exit_code;
}
