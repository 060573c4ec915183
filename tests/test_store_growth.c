/*
 * test_store_growth.c: a million events into a store whose map starts at 1 MiB, and 300,000 in
 * deferred batches (store_batch_defer) by a writer that then crashes.
 *
 * The map must grow many times under durable batches without losing or reordering anything:
 * after a close and a reopen the log holds seqs 1..N with the exact payloads written, the
 * pathways hold their beneficiaries' seqs, and every partner's outbox ends at the number of
 * entries it was sent. Everything written is derived from the seq, so it can be checked again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

#define EVENTS        1000000u
#define BATCH         1000u
#define BENEFICIARIES 100000u
#define PARTNERS      8u
#define RAW_MAX       128u

static const char *const partners[PARTNERS] = {"cd93",   "ft-93-nord",  "ml-bondy", "capemploi93",
                                               "caf-93", "ccas-pantin", "asso-1",   "afpa-93"};

/* The beneficiary of event seq: a stride coprime with BENEFICIARIES visits each one EVENTS /
 * BENEFICIARIES times, spread over the key space like real traffic. */
static uint32_t beneficiary_of(uint64_t seq)
{
    return (uint32_t)((seq * 7919u) % BENEFICIARIES);
}

static size_t raw_make(uint64_t seq, uint8_t *raw)
{
    size_t len = 40 + (size_t)(seq % 61);
    for (size_t i = 0; i < len; i++)
        raw[i] = (uint8_t)(seq * 131 + i * 7);
    return len;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[512];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            if (unlink(child) != 0)
                remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}

typedef struct log_check {
    uint64_t next; /* the seq expected next */
} log_check_t;

static int log_check_entry(const store_log_entry_t *entry, void *ctx)
{
    log_check_t *c = ctx;
    uint8_t raw[RAW_MAX];
    size_t len = raw_make(entry->seq, raw);
    /* Plain comparisons first: a cmocka assert per field of a million entries is slow. */
    if (entry->seq != c->next || entry->raw_len != len || memcmp(entry->raw, raw, len) != 0 ||
        entry->type != (Parcours__V1__EventType)(1 + entry->seq % 15) ||
        entry->occurred_at != (int64_t)entry->seq * 10 ||
        entry->committed_at != (int64_t)((entry->seq - 1) / BATCH)) {
        print_error("log entry %" PRIu64 " differs (expected seq %" PRIu64 ")\n", entry->seq,
                    c->next);
        return 1;
    }
    c->next++;
    return 0;
}

/* What the events 1..n leave: each beneficiary's version and each partner's outbox length. */
typedef struct expected {
    uint64_t events;
    uint16_t *versions;
    uint64_t outbox_count[PARTNERS];
} expected_t;

static void expected_compute(expected_t *x, uint64_t events)
{
    x->events = events;
    x->versions = calloc(BENEFICIARIES, sizeof *x->versions);
    assert_non_null(x->versions);
    memset(x->outbox_count, 0, sizeof x->outbox_count);
    for (uint64_t seq = 1; seq <= events; seq++) {
        x->versions[beneficiary_of(seq)]++;
        x->outbox_count[(seq + 1) % PARTNERS]++;
        x->outbox_count[(seq + 4) % PARTNERS]++;
    }
}

/* Appends events 1..n in batches of BATCH, each deferred (its LMDB commit may wait for a span,
 * store.h) when asked. 0, or -1 after printing what failed: the writer may be a child process. */
/* Batches after whose commit a span was left open (store_span_due): deferral at work. */
static unsigned batches_left_waiting;

static int write_events(store_t *s, uint64_t events, bool deferred)
{
    uint16_t *versions = calloc(BENEFICIARIES, sizeof *versions);
    if (versions == NULL)
        return -1;
    store_batch_t *b = NULL;
    int rc = STORE_OK;
    for (uint64_t seq = 1; seq <= events && rc == STORE_OK; seq++) {
        if (b == NULL) {
            rc = store_batch_begin(s, (int64_t)((seq - 1) / BATCH), &b);
            if (rc != STORE_OK)
                break;
            if (deferred)
                store_batch_defer(b);
        }
        uint32_t ben = beneficiary_of(seq);
        char beneficiary_id[16], event_id[32];
        snprintf(beneficiary_id, sizeof beneficiary_id, "ben-%06" PRIu32, ben);
        /* Time-ordered per partner, as libparcours makes them. */
        snprintf(event_id, sizeof event_id, "01J%016" PRIx64, seq);
        Parcours__V1__Pathway pathway = PARCOURS__V1__PATHWAY__INIT;
        pathway.beneficiary_id = beneficiary_id;
        pathway.territory = "93";
        pathway.episode = 1;
        pathway.version = ++versions[ben];
        pathway.updated_at = (int64_t)seq * 10;
        pathway.phase = PARCOURS__V1__PHASE__PHASE_ACCOMPANIED;
        uint8_t raw[RAW_MAX];
        const char *recipients[2] = {partners[(seq + 1) % PARTNERS],
                                     partners[(seq + 4) % PARTNERS]};
        store_event_t e = {
            .raw = raw,
            .raw_len = raw_make(seq, raw),
            .type = (Parcours__V1__EventType)(1 + seq % 15),
            .occurred_at = (int64_t)seq * 10,
            .partner_id = partners[seq % PARTNERS],
            .event_id = event_id,
            .beneficiary_id = beneficiary_id,
            .pathway = &pathway,
            .recipients = recipients,
            .n_recipients = 2,
        };
        uint64_t got = 0;
        rc = store_batch_append(b, &e, &got);
        if (rc == STORE_OK && got != seq)
            rc = STORE_EINVAL;
        if (rc == STORE_OK && seq % BATCH == 0) {
            rc = store_batch_commit(&b);
            batches_left_waiting += store_span_due(s) >= 0;
        }
        if (rc != STORE_OK)
            fprintf(stderr, "event %" PRIu64 ": %s\n", seq, store_strerror(rc));
    }
    store_batch_abort(&b);
    free(versions);
    return rc == STORE_OK ? 0 : -1;
}

/* Opens dir and checks that it holds exactly what x says, every log entry compared. */
static void check_store(const char *dir, const store_options_t *o, const expected_t *x)
{
    store_t *s;
    store_info_t info;
    assert_int_equal(store_open(dir, o, &s), STORE_OK);
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.last_seq, x->events);

    log_check_t check = {.next = 1};
    assert_int_equal(store_log_foreach(s, 0, log_check_entry, &check), STORE_OK);
    assert_int_equal(check.next - 1, x->events);

    static const uint32_t sample[] = {0, 1, 7919, 12345, 50000, 77777, 99998, 99999};
    for (size_t i = 0; i < sizeof sample / sizeof sample[0]; i++) {
        char beneficiary_id[16];
        snprintf(beneficiary_id, sizeof beneficiary_id, "ben-%06" PRIu32, sample[i]);
        uint64_t *seqs;
        size_t n;
        assert_int_equal(store_pathway_seqs(s, beneficiary_id, &seqs, &n), STORE_OK);
        assert_int_equal(n, x->versions[sample[i]]);
        size_t k = 0;
        for (uint64_t seq = 1; seq <= x->events; seq++)
            if (beneficiary_of(seq) == sample[i]) {
                assert_true(k < n);
                assert_int_equal(seqs[k++], seq);
            }
        assert_int_equal(k, n);
        free(seqs);
        Parcours__V1__Pathway *p;
        assert_int_equal(store_pathway_get(s, beneficiary_id, &p), STORE_OK);
        assert_string_equal(p->beneficiary_id, beneficiary_id);
        assert_int_equal(p->version, x->versions[sample[i]]);
        parcours__v1__pathway__free_unpacked(p, NULL);
    }

    for (unsigned i = 0; i < PARTNERS; i++) {
        uint64_t last;
        assert_int_equal(store_outbox_last(s, partners[i], &last), STORE_OK);
        assert_int_equal(last, x->outbox_count[i]);
    }
    uint64_t seq = 123456 <= x->events ? 123456 : x->events;
    char event_id[32];
    snprintf(event_id, sizeof event_id, "01J%016" PRIx64, seq);
    uint64_t found;
    assert_int_equal(store_dedupe_find(s, partners[seq % PARTNERS], event_id, &found), STORE_OK);
    assert_int_equal(found, seq);
    store_close(&s);
}

static store_options_t growth_options(void)
{
    store_options_t o;
    store_options_default(&o);
    o.initial_map_size = (size_t)1 << 20;
    o.max_map_size = (size_t)16 << 30;
    o.durable = true;
    return o;
}

static void test_million_events_grow_the_map(void **state)
{
    (void)state;
    char root[] = "/tmp/parcours-test-growth-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[64];
    snprintf(dir, sizeof dir, "%s/db", root);

    store_options_t o = growth_options();
    store_t *s;
    assert_int_equal(store_open(dir, &o, &s), STORE_OK);
    expected_t x;
    expected_compute(&x, EVENTS);
    double start = now_seconds();
    assert_int_equal(write_events(s, EVENTS, false), 0);
    double written = now_seconds();

    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_true(info.map_grows > 0);
    assert_int_equal(info.last_seq, EVENTS);
    print_message("%u events in batches of %u: %.1f s (%.0f events/s), map grew %u times to "
                  "%zu MiB, %zu MiB used\n",
                  EVENTS, BATCH, written - start, EVENTS / (written - start), info.map_grows,
                  info.map_size >> 20, info.map_used >> 20);
    store_close(&s);
    check_store(dir, &o, &x);
    print_message("reopened and checked in %.1f s, total %.1f s\n", now_seconds() - written,
                  now_seconds() - start);
    free(x.versions);
    remove_tree(root);
}

#define SPAN_EVENTS 300000u

/* Deferred batches (store_batch_defer) whose spanning commit is never due: LMDB commits them
 * only when the map must grow or the span reaches its bound (half the room allocated ahead),
 * and the commit of the span itself may find the map full (its batches already acknowledged:
 * they are replayed from the log). The writer is a child process that exits without closing,
 * as a crash would leave it (the page cache kept): the next open must find every event. */
static void test_deferred_batches_grow_the_map_and_survive_a_crash(void **state)
{
    (void)state;
    char root[] = "/tmp/parcours-test-growth-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[64];
    snprintf(dir, sizeof dir, "%s/db", root);
    store_options_t o = growth_options();
    o.commit_ms = 600000;

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        store_t *s;
        if (store_open(dir, &o, &s) != STORE_OK || write_events(s, SPAN_EVENTS, true) != 0)
            _exit(1);
        /* Spans of up to half the room allocated ahead (store_span_room), so most batches
         * wait for one; the exit may leave one open or not. */
        if (batches_left_waiting < SPAN_EVENTS / BATCH / 4) {
            fprintf(stderr, "only %u batches waited for a span\n", batches_left_waiting);
            _exit(2);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    expected_t x;
    expected_compute(&x, SPAN_EVENTS);
    check_store(dir, &o, &x);
    free(x.versions);
    remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_events_grow_the_map),
        cmocka_unit_test(test_deferred_batches_grow_the_map_and_survive_a_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
