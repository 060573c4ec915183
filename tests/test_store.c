/*
 * test_store.c: unit tests of store/ on a real LMDB environment in a fresh temporary directory.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "store.h"
#include "wal.h"

#define MIB ((size_t)1 << 20)

typedef struct fixture {
    char root[64];  /* the mkdtemp directory */
    char dir[80];   /* the store's directory inside it, created by store_open */
    store_t *store; /* open during the test, closed by the teardown */
} fixture_t;

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

/* Whether the raw bytes of dir/name hold len bytes at needle anywhere (free pages included: the
 * file is read as bytes, not as a store). */
static bool file_holds_bytes(const char *dir, const char *name, const void *needle, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *all = malloc((size_t)size + 1);
    assert_non_null(all);
    assert_int_equal(fread(all, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    bool found = false;
    for (long i = 0; !found && i + (long)len <= size; i++)
        found = memcmp(all + i, needle, len) == 0;
    free(all);
    return found;
}

static bool file_holds(const char *dir, const char *name, const char *text)
{
    return file_holds_bytes(dir, name, text, strlen(text));
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->root, "/tmp/parcours-test-store-XXXXXX");
    if (mkdtemp(f->root) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "%s/db", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(&f->store);
    remove_tree(f->root);
    free(f);
    return 0;
}

/* Options with a small map, so tests stay light. */
static store_options_t small_options(void)
{
    store_options_t o;
    store_options_default(&o);
    o.initial_map_size = 1 * MIB;
    o.max_map_size = 64 * MIB;
    return o;
}

static store_t *open_store(fixture_t *f, const store_options_t *o)
{
    assert_int_equal(store_open(f->dir, o, &f->store), STORE_OK);
    assert_non_null(f->store);
    return f->store;
}

/* An event and the storage it points to. */
typedef struct test_event {
    store_event_t e;
    Parcours__V1__Pathway pathway;
    uint8_t raw[64];
    const char *recipients[4];
} test_event_t;

static void test_event_make(test_event_t *t, const char *partner, const char *event_id,
                            const char *beneficiary, uint64_t version)
{
    memset(t, 0, sizeof *t);
    Parcours__V1__Pathway init = PARCOURS__V1__PATHWAY__INIT;
    t->pathway = init;
    t->pathway.beneficiary_id = (char *)beneficiary;
    t->pathway.territory = "93";
    t->pathway.episode = 1;
    t->pathway.version = version;
    t->pathway.phase = PARCOURS__V1__PHASE__PHASE_REFERRED;
    for (size_t i = 0; i < sizeof t->raw; i++)
        t->raw[i] = (uint8_t)(i * 7 + version); /* holds zero bytes on purpose */
    t->e.raw = t->raw;
    t->e.raw_len = 20 + (size_t)(version % 40);
    t->e.type = PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_BENEFICIARY_REGISTERED;
    t->e.occurred_at = 1700000000000 + (int64_t)version;
    t->e.partner_id = partner;
    t->e.event_id = event_id;
    t->e.beneficiary_id = beneficiary;
    t->e.pathway = &t->pathway;
    t->e.recipients = t->recipients;
}

static uint64_t append_one(store_batch_t *b, const char *partner, const char *event_id,
                           const char *beneficiary, const char *recipient)
{
    test_event_t t;
    test_event_make(&t, partner, event_id, beneficiary, 1);
    if (recipient != NULL) {
        t.recipients[0] = recipient;
        t.e.n_recipients = 1;
    }
    uint64_t seq = 0;
    assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_OK);
    return seq;
}

static uint64_t last_seq_of(store_t *s)
{
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    return info.last_seq;
}

/* --- Tests --------------------------------------------------------------------------------- */

/* The deadlines' index (store/deadlines.c). */

static int due_collect(const store_due_t *due, void *ctx)
{
    char *out = ctx;
    char line[128];
    snprintf(line, sizeof line, "%s:%d:%lld ", due->beneficiary_id, due->deadline.kind,
             (long long)due->deadline.due_at);
    strcat(out, line);
    return 0;
}

static void test_deadlines_index(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    bool indexed = true;
    assert_int_equal(store_deadlines_indexed(s, "v1", 2, &indexed), STORE_OK);
    assert_false(indexed); /* a new store: indexed under no settings yet */
    store_batch_t *mark;
    assert_int_equal(store_batch_begin(s, 50, &mark), STORE_OK);
    assert_int_equal(store_batch_deadlines_mark_indexed(mark, "v1", 2), STORE_OK);
    assert_int_equal(store_batch_commit(&mark), STORE_OK);
    assert_int_equal(store_deadlines_indexed(s, "v1", 2, &indexed), STORE_OK);
    assert_true(indexed);
    assert_int_equal(store_deadlines_indexed(s, "v2", 2, &indexed), STORE_OK);
    assert_false(indexed); /* other settings */

    /* Two pathways, their deadlines handed with their events. */
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    test_event_t t;
    store_deadline_t a[2] = {{1, 5000, 1000}, {4, 9000, 1000}};
    test_event_make(&t, "p1", "e1", "person-a", 1);
    t.e.deadlines = a;
    t.e.n_deadlines = 2;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    store_deadline_t bd[1] = {{2, 3000, 500}};
    test_event_make(&t, "p1", "e2", "person-b", 1);
    t.e.deadlines = bd;
    t.e.n_deadlines = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    char listed[512] = "";
    uint64_t total;
    assert_int_equal(store_due_list(s, 10000, due_collect, listed, &total), STORE_OK);
    assert_int_equal(total, 3);
    assert_string_equal(listed, "person-b:2:3000 person-a:1:5000 person-a:4:9000 ");
    listed[0] = '\0';
    assert_int_equal(store_due_list(s, 4999, due_collect, listed, &total), STORE_OK);
    assert_int_equal(total, 1);
    /* Not a byte of the ids in clear in the file. */
    assert_false(file_holds(f->dir, "data.mdb", "person-a"));

    /* The soonest due, then nothing before its time. */
    assert_int_equal(store_batch_begin(s, 200, &b), STORE_OK);
    store_due_t due;
    assert_int_equal(store_batch_due_first(b, 2999, &due, NULL), STORE_ENOTFOUND);
    assert_int_equal(store_batch_due_first(b, 6000, &due, NULL), STORE_OK);
    assert_string_equal(due.beneficiary_id, "person-b");
    assert_int_equal(due.deadline.kind, 2);
    assert_int_equal(due.deadline.due_at, 3000);
    assert_int_equal(due.deadline.since, 500);
    /* An append moves the pathway's deadlines from what they were to what they are: person-b's
     * is gone; person-a's orientation moved, its inactivity stays as it was. */
    test_event_make(&t, "p1", "e3", "person-b", 2);
    t.e.old_deadlines = bd;
    t.e.n_old_deadlines = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK); /* none runs any more */
    store_deadline_t moved[2] = {{1, 7000, 2000}, {4, 9000, 1000}};
    assert_int_equal(store_batch_deadlines_set(b, "person-a", a, 2, moved, 2), STORE_OK);
    assert_int_equal(store_batch_deadlines_set(b, "person-nobody", a, 2, moved, 2),
                     STORE_ENOTFOUND);
    assert_int_equal(store_batch_due_first(b, 6000, &due, NULL), STORE_ENOTFOUND);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    listed[0] = '\0';
    assert_int_equal(store_due_list(s, 100000, due_collect, listed, &total), STORE_OK);
    assert_string_equal(listed, "person-a:1:7000 person-a:4:9000 ");

    /* Kept across a reopen; gone with an erasure that drops them. */
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(store_due_list(s, 100000, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 2);
    assert_int_equal(store_batch_begin(s, 300, &b), STORE_OK);
    store_erasure_t out;
    assert_int_equal(store_batch_erase(b, "person-a", NULL, 0, &out), STORE_OK);
    parcours__v1__pathway__free_unpacked(out.pathway, NULL);
    assert_int_equal(store_batch_deadlines_drop(b, "person-a", moved, 2), STORE_OK);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_due_list(s, INT64_MAX, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 0);
    /* An entry left behind by a destruction that did not drop it is dropped when met, and
     * counted so that its batch commits. */
    assert_int_equal(store_batch_begin(s, 350, &b), STORE_OK);
    test_event_make(&t, "p1", "e4", "person-c", 1);
    store_deadline_t c1[1] = {{3, 4000, 100}};
    t.e.deadlines = c1;
    t.e.n_deadlines = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    assert_int_equal(store_batch_erase(b, "person-c", NULL, 0, &out), STORE_OK);
    parcours__v1__pathway__free_unpacked(out.pathway, NULL);
    size_t dropped = 0;
    assert_int_equal(store_batch_due_first(b, 5000, &due, &dropped), STORE_ENOTFOUND);
    assert_int_equal(dropped, 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    /* The whole index emptied. */
    assert_int_equal(store_batch_begin(s, 360, &b), STORE_OK);
    test_event_make(&t, "p1", "e5", "person-d", 1);
    t.e.deadlines = c1;
    t.e.n_deadlines = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    assert_int_equal(store_batch_due_clear(b), STORE_OK);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_due_list(s, INT64_MAX, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 0);
    /* Bad deadlines are refused. */
    assert_int_equal(store_batch_begin(s, 400, &b), STORE_OK);
    store_deadline_t bad[1] = {{0, 100, 0}};
    assert_int_equal(store_batch_deadlines_set(b, "person-d", NULL, 0, bad, 1), STORE_EINVAL);
    store_batch_abort(&b);
}

/* The statistics' counters (store/stats.c): added to, listed in key order, kept by erasures. */
static int stats_collect(const void *key, size_t len, uint64_t count, void *ctx)
{
    char *out = ctx;
    char line[300];
    snprintf(line, sizeof line, "%.*s=%llu ", (int)len, (const char *)key,
             (unsigned long long)count);
    strcat(out, line);
    return 0;
}

/* The moves to claim (store.h, "Moves between territories"): put once, claimed once, a state
 * kept; expired in slices that go on from where the last stopped, so that every old one goes
 * however many recent ones sort before it. */
static void test_transfers(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    enum { MOVES = 3000, OLD_EVERY = 7 };
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    size_t old = 0;
    for (int i = 0; i < MOVES; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "75:move-%05d", i);
        store_transfer_t t = {.seq = (uint64_t)i + 1, .moved_at = 5, .state = 7};
        t.announced_at = i % OLD_EVERY == 0 ? 10 : 1000;
        old += i % OLD_EVERY == 0;
        snprintf(t.territory, sizeof t.territory, "93");
        assert_int_equal(store_batch_transfer_put(b, ref, &t), STORE_OK);
    }
    store_transfer_t t = {.seq = 9};
    snprintf(t.territory, sizeof t.territory, "93");
    assert_int_equal(store_batch_transfer_put(b, "75:move-00001", &t), STORE_EEXIST);
    assert_int_equal(store_batch_transfer_get(b, "75:move-00001", &t), STORE_OK);
    assert_int_equal(t.seq, 2);
    assert_int_equal(t.state, STORE_TRANSFER_OPEN);
    assert_string_equal(t.territory, "93");
    assert_int_equal(store_batch_transfer_claim(b, "75:move-00001"), STORE_OK);
    assert_int_equal(store_batch_transfer_claim(b, "75:move-00001"), STORE_ENOTFOUND);
    assert_int_equal(store_batch_transfer_claim(b, "75:never"), STORE_ENOTFOUND);
    assert_int_equal(store_batch_transfer_get(b, "75:never", &t), STORE_ENOTFOUND);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    uint8_t cursor[STORE_HASH_SIZE] = {0};
    size_t expired = 0, slices = 0;
    do {
        size_t n;
        assert_int_equal(store_batch_begin(s, 2000, &b), STORE_OK);
        assert_int_equal(store_batch_transfers_expire(b, cursor, 500, 1024, &n), STORE_OK);
        assert_int_equal(store_batch_commit(&b), STORE_OK);
        expired += n;
        slices++;
    } while (memcmp(cursor, (uint8_t[STORE_HASH_SIZE]){0}, STORE_HASH_SIZE) != 0);
    assert_int_equal(slices, (MOVES + 1023) / 1024);
    assert_int_equal(expired, old);
    assert_int_equal(store_batch_begin(s, 3000, &b), STORE_OK);
    for (int i = 0; i < MOVES; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "75:move-%05d", i);
        assert_int_equal(store_batch_transfer_get(b, ref, &t), STORE_OK);
        int want = i == 1               ? STORE_TRANSFER_CLAIMED
                   : i % OLD_EVERY == 0 ? STORE_TRANSFER_EXPIRED
                                        : STORE_TRANSFER_OPEN;
        assert_int_equal(t.state, want);
    }
    /* Expired or claimed, a move is not claimed (again). */
    assert_int_equal(store_batch_transfer_claim(b, "75:move-00000"), STORE_ENOTFOUND);
    store_batch_abort(&b);
}

static void test_stats_counters(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    append_one(b, "p1", "e1", "person-s", NULL);
    assert_int_equal(store_batch_stats_add(b, "2026-02|93|1||0", 15, 1), STORE_OK);
    assert_int_equal(store_batch_stats_add(b, "2026-01|93|1||0", 15, 2), STORE_OK);
    assert_int_equal(store_batch_stats_add(b, "2026-02|93|1||0", 15, 1), STORE_OK);
    assert_int_equal(store_batch_stats_add(b, "", 0, 1), STORE_EINVAL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    char listed[512] = "";
    assert_int_equal(store_stats_foreach(s, stats_collect, listed), STORE_OK);
    assert_string_equal(listed, "2026-01|93|1||0=2 2026-02|93|1||0=2 ");
    /* An erasure of the person counted leaves the counts. */
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(store_batch_begin(s, 200, &b), STORE_OK);
    store_erasure_t out;
    assert_int_equal(store_batch_erase(b, "person-s", NULL, 0, &out), STORE_OK);
    parcours__v1__pathway__free_unpacked(out.pathway, NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    listed[0] = '\0';
    assert_int_equal(store_stats_foreach(s, stats_collect, listed), STORE_OK);
    assert_string_equal(listed, "2026-01|93|1||0=2 2026-02|93|1||0=2 ");
}

static void test_open_close_reopen(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 42, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "e1", "b1", "p2"), 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_null(b);
    store_close(&f->store);
    assert_null(f->store);
    store_close(&f->store); /* takes a NULL store */

    s = open_store(f, &o);
    assert_int_equal(last_seq_of(s), 1);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 1, &entry), STORE_OK);
    assert_int_equal(entry.committed_at, 42);
    store_log_entry_clear(&entry);
    uint64_t seq;
    assert_int_equal(store_dedupe_find(s, "p1", "e1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    uint64_t last;
    assert_int_equal(store_outbox_last(s, "p2", &last), STORE_OK);
    assert_int_equal(last, 1);
    /* The next seq continues after reopening. */
    assert_int_equal(store_batch_begin(s, 43, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "e2", "b1", "p2"), 2);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
}

static void test_append_round_trip(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);

    test_event_t t;
    test_event_make(&t, "p1", "e1", "b1", 7);
    char *members[] = {"p1", "p2"};
    Parcours__V1__Referent referent = PARCOURS__V1__REFERENT__INIT;
    referent.partner_id = "p2";
    referent.assigned_at = 1234;
    t.pathway.members = members;
    t.pathway.n_members = 2;
    t.pathway.referent = &referent;
    t.pathway.phase = PARCOURS__V1__PHASE__PHASE_ACCOMPANIED;
    t.e.type = PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_REFERENT_ASSIGNED;

    store_batch_t *b;
    uint64_t seq;
    assert_int_equal(store_batch_begin(s, 5000, &b), STORE_OK);
    assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(append_one(b, "p1", "e2", "b2", NULL), 2);
    /* The batch sees its own pathway before the commit. */
    Parcours__V1__Pathway *p = NULL;
    assert_int_equal(store_batch_pathway_get(b, "b1", &p), STORE_OK);
    assert_int_equal(p->version, 7);
    parcours__v1__pathway__free_unpacked(p, NULL);
    assert_int_equal(store_batch_pathway_get(b, "nobody", &p), STORE_ENOTFOUND);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    assert_int_equal(store_batch_begin(s, 6000, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "e3", "b1", NULL), 3);
    assert_int_equal(append_one(b, "p1", "e4", "b1", NULL), 4);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 1, &entry), STORE_OK);
    assert_int_equal(entry.seq, 1);
    assert_int_equal(entry.type, PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_REFERENT_ASSIGNED);
    assert_int_equal(entry.occurred_at, t.e.occurred_at);
    assert_int_equal(entry.committed_at, 5000);
    assert_int_equal(entry.raw_len, t.e.raw_len);
    assert_memory_equal(entry.raw, t.raw, t.e.raw_len);
    store_log_entry_clear(&entry);
    assert_null(entry.raw);
    assert_int_equal(store_log_get(s, 4, &entry), STORE_OK);
    assert_int_equal(entry.committed_at, 6000);
    store_log_entry_clear(&entry);
    assert_int_equal(store_log_get(s, 5, &entry), STORE_ENOTFOUND);

    assert_int_equal(store_pathway_get(s, "b1", &p), STORE_OK);
    assert_string_equal(p->beneficiary_id, "b1"); /* the last pathway written for b1 */
    assert_int_equal(p->version, 1);
    parcours__v1__pathway__free_unpacked(p, NULL);
    assert_int_equal(store_pathway_get(s, "b2", &p), STORE_OK);
    assert_string_equal(p->territory, "93");
    parcours__v1__pathway__free_unpacked(p, NULL);

    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b1", &seqs, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 3);
    assert_int_equal(seqs[2], 4);
    free(seqs);
    assert_int_equal(store_pathway_seqs(s, "nobody", &seqs, &n), STORE_ENOTFOUND);
}

static void test_pathway_fields(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    test_event_t t;
    test_event_make(&t, "p1", "e1", "b1", 3);
    char *members[] = {"p1", "p2", "p3"};
    Parcours__V1__Referent referent = PARCOURS__V1__REFERENT__INIT;
    referent.partner_id = "p2";
    referent.professional_ref = "ref-9";
    referent.assigned_at = 1234;
    t.pathway.members = members;
    t.pathway.n_members = 3;
    t.pathway.referent = &referent;
    t.pathway.created_at = 111;
    t.pathway.updated_at = 222;
    t.pathway.phase = PARCOURS__V1__PHASE__PHASE_ACCOMPANIED;
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "b1", &p), STORE_OK);
    assert_string_equal(p->beneficiary_id, "b1");
    assert_string_equal(p->territory, "93");
    assert_int_equal(p->episode, 1);
    assert_int_equal(p->version, 3);
    assert_int_equal(p->created_at, 111);
    assert_int_equal(p->updated_at, 222);
    assert_int_equal(p->phase, PARCOURS__V1__PHASE__PHASE_ACCOMPANIED);
    assert_int_equal(p->n_members, 3);
    assert_string_equal(p->members[2], "p3");
    assert_non_null(p->referent);
    assert_string_equal(p->referent->partner_id, "p2");
    assert_string_equal(p->referent->professional_ref, "ref-9");
    assert_int_equal(p->referent->assigned_at, 1234);
    assert_null(p->contract);
    parcours__v1__pathway__free_unpacked(p, NULL);
}

static int count_pathway(const Parcours__V1__Pathway *p, void *ctx)
{
    char *order = ctx;
    strcat(order, p->beneficiary_id);
    strcat(order, ",");
    return 0;
}

static void test_pathway_foreach(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    append_one(b, "p1", "e1", "b2", NULL);
    append_one(b, "p1", "e2", "b1", NULL);
    append_one(b, "p1", "e3", "b3", NULL);
    append_one(b, "p1", "e4", "b1", NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    char order[64] = "";
    assert_int_equal(store_pathway_foreach(s, count_pathway, order), STORE_OK);
    /* In the order of their keyed hashes: each pathway once. */
    assert_int_equal(strlen(order), strlen("b1,b2,b3,"));
    assert_non_null(strstr(order, "b1,"));
    assert_non_null(strstr(order, "b2,"));
    assert_non_null(strstr(order, "b3,"));
}

static void test_dedupe(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    uint64_t seq;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(store_batch_dedupe_find(b, "p1", "e1", &seq), STORE_ENOTFOUND);
    assert_int_equal(append_one(b, "p1", "e1", "b1", "p9"), 1);
    /* Found within the batch, before the commit; not yet outside it. */
    assert_int_equal(store_batch_dedupe_find(b, "p1", "e1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(store_dedupe_find(s, "p1", "e1", &seq), STORE_ENOTFOUND);
    test_event_t t;
    test_event_make(&t, "p1", "e1", "b2", 1);
    t.recipients[0] = "p9";
    t.e.n_recipients = 1;
    assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_EEXIST);
    /* The batch is still usable and the next seq is 2. */
    assert_int_equal(append_one(b, "p2", "e1", "b1", NULL), 2);
    assert_int_equal(store_batch_pathway_get(b, "b2", &(Parcours__V1__Pathway *){NULL}),
                     STORE_ENOTFOUND);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    assert_int_equal(store_dedupe_find(s, "p1", "e1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(store_dedupe_find(s, "p2", "e1", &seq), STORE_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(store_dedupe_find(s, "p3", "e1", &seq), STORE_ENOTFOUND);

    /* After the commit: a duplicate writes nothing at all. */
    assert_int_equal(store_batch_begin(s, 2, &b), STORE_OK);
    assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_EEXIST);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(last_seq_of(s), 2);
    uint64_t last;
    assert_int_equal(store_outbox_last(s, "p9", &last), STORE_OK);
    assert_int_equal(last, 1);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b1", &seqs, &n), STORE_OK);
    assert_int_equal(n, 2);
    free(seqs);
    assert_int_equal(store_pathway_seqs(s, "b2", &seqs, &n), STORE_ENOTFOUND);
}

static void test_abort_leaves_no_trace(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "e0", "b0", "a"), 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    assert_int_equal(store_batch_begin(s, 2, &b), STORE_OK);
    char id[16];
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "e%d", i);
        assert_int_equal(append_one(b, "p1", id, "b1", "a"), (uint64_t)i + 1);
    }
    assert_int_equal(store_batch_cursor_set(b, "a", 3), STORE_OK);
    store_batch_abort(&b);
    assert_null(b);
    store_batch_abort(&b); /* takes NULL */

    assert_int_equal(last_seq_of(s), 1);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 2, &entry), STORE_ENOTFOUND);
    uint64_t value;
    assert_int_equal(store_dedupe_find(s, "p1", "e1", &value), STORE_ENOTFOUND);
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "b1", &p), STORE_ENOTFOUND);
    assert_int_equal(store_outbox_last(s, "a", &value), STORE_OK);
    assert_int_equal(value, 1);
    assert_int_equal(store_cursor_get(s, "a", &value), STORE_OK);
    assert_int_equal(value, 0);

    /* The next batch reuses seq 2: the aborted one never happened. */
    assert_int_equal(store_batch_begin(s, 3, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "e1", "b1", "a"), 2);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_outbox_last(s, "a", &value), STORE_OK);
    assert_int_equal(value, 2);
}

typedef struct outbox_seen {
    uint64_t partner_seq[64];
    uint64_t seq[64];
    size_t n;
    size_t stop_after; /* 0: never stop */
} outbox_seen_t;

static int outbox_collect(uint64_t partner_seq, uint64_t seq, void *ctx)
{
    outbox_seen_t *seen = ctx;
    if (seen->n < 64) {
        seen->partner_seq[seen->n] = partner_seq;
        seen->seq[seen->n] = seq;
    }
    seen->n++;
    return seen->stop_after != 0 && seen->n >= seen->stop_after;
}

static void test_outbox_gap_free(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    /* Seqs sent to "a" and to "ab", interleaved over three batches. */
    uint64_t to_a[64], to_ab[64];
    size_t n_a = 0, n_ab = 0;
    int k = 0;
    char id[16];
    for (int batch = 0; batch < 3; batch++) {
        store_batch_t *b;
        assert_int_equal(store_batch_begin(s, batch, &b), STORE_OK);
        for (int i = 0; i < 6; i++, k++) {
            test_event_t t;
            snprintf(id, sizeof id, "e%d", k);
            test_event_make(&t, "p1", id, "b1", 1);
            size_t r = 0;
            if (k % 3 != 2)
                t.recipients[r++] = "a";
            if (k % 2 == 0)
                t.recipients[r++] = "ab";
            if (k % 3 != 2)
                t.recipients[r++] = "a"; /* a duplicate recipient gets one entry */
            t.recipients[r++] = "b";
            t.e.n_recipients = r;
            uint64_t seq;
            assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_OK);
            if (k % 3 != 2)
                to_a[n_a++] = seq;
            if (k % 2 == 0)
                to_ab[n_ab++] = seq;
        }
        assert_int_equal(store_batch_commit(&b), STORE_OK);
    }
    uint64_t last;
    assert_int_equal(store_outbox_last(s, "a", &last), STORE_OK);
    assert_int_equal(last, n_a);
    assert_int_equal(store_outbox_last(s, "ab", &last), STORE_OK);
    assert_int_equal(last, n_ab);
    assert_int_equal(store_outbox_last(s, "b", &last), STORE_OK);
    assert_int_equal(last, 18);
    assert_int_equal(store_outbox_last(s, "aa", &last), STORE_OK);
    assert_int_equal(last, 0);
    assert_int_equal(store_outbox_last(s, "c", &last), STORE_OK);
    assert_int_equal(last, 0);

    outbox_seen_t seen = {0};
    assert_int_equal(store_outbox_foreach(s, "a", 0, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, n_a);
    for (size_t i = 0; i < n_a; i++) {
        assert_int_equal(seen.partner_seq[i], i + 1);
        assert_int_equal(seen.seq[i], to_a[i]);
    }
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_outbox_foreach(s, "ab", 1, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, n_ab);
    for (size_t i = 0; i < n_ab; i++) {
        assert_int_equal(seen.partner_seq[i], i + 1);
        assert_int_equal(seen.seq[i], to_ab[i]);
    }
    /* From the middle, and stopping early. */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_outbox_foreach(s, "a", 5, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, n_a - 4);
    assert_int_equal(seen.partner_seq[0], 5);
    assert_int_equal(seen.seq[0], to_a[4]);
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_outbox_foreach(s, "a", 3, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.partner_seq[1], 4);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_outbox_foreach(s, "a", n_a + 1, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(store_outbox_foreach(s, "c", 0, outbox_collect, &seen), STORE_OK);
    assert_int_equal(seen.n, 0);
}

static void test_cursors(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    uint64_t up_to = 99;
    assert_int_equal(store_cursor_get(s, "a", &up_to), STORE_OK);
    assert_int_equal(up_to, 0);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "a", 5), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "ab", 7), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "a", 6), STORE_OK);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(store_cursor_get(s, "a", &up_to), STORE_OK);
    assert_int_equal(up_to, 6);
    assert_int_equal(store_cursor_get(s, "ab", &up_to), STORE_OK);
    assert_int_equal(up_to, 7);
}

static int log_count(const store_log_entry_t *entry, void *ctx)
{
    uint64_t *expected = ctx;
    assert_int_equal(entry->seq, *expected);
    (*expected)++;
    return 0;
}

static void test_info_and_log_foreach(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.last_seq, 0);
    assert_int_equal(info.map_size, 1 * MIB);
    assert_int_equal(info.max_map_size, 64 * MIB);
    assert_true(info.map_used > 0 && info.map_used <= info.map_size);
    assert_int_equal(info.readers_max, 126);
    assert_int_equal(info.readers_used, 1); /* the last checkpoint's pin (store/wal.h) */
    assert_int_equal(info.map_grows, 0);
    assert_true(info.durable);

    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "e%d", i);
        append_one(b, "p1", id, "b1", NULL);
    }
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.last_seq, 10);
    uint64_t expected = 4;
    assert_int_equal(store_log_foreach(s, 4, log_count, &expected), STORE_OK);
    assert_int_equal(expected, 11);
    expected = 1;
    assert_int_equal(store_log_foreach(s, 0, log_count, &expected), STORE_OK);
    assert_int_equal(expected, 11);
}

/* A batch reads each pathway once: the append after store_batch_pathway_get builds the new
 * record from what the get read, and any put makes it read the tree again. */
static void test_pathway_read_once_per_append(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    Parcours__V1__Pathway *p = NULL;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(store_batch_pathway_get(b, "b1", &p), STORE_ENOTFOUND);
    assert_int_equal(append_one(b, "p1", "e1", "b1", NULL), 1);
    /* No get in between: the record the first append wrote is read again. */
    assert_int_equal(append_one(b, "p1", "e2", "b1", NULL), 2);
    assert_int_equal(store_batch_pathway_get(b, "b1", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
    assert_int_equal(append_one(b, "p1", "e3", "b1", NULL), 3);
    /* A get of another beneficiary, then an append to this one. */
    assert_int_equal(store_batch_pathway_get(b, "b1", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
    assert_int_equal(store_batch_pathway_get(b, "b2", &p), STORE_ENOTFOUND);
    assert_int_equal(append_one(b, "p1", "e4", "b1", NULL), 4);
    assert_int_equal(store_batch_pathway_get(b, "b2", &p), STORE_ENOTFOUND);
    assert_int_equal(append_one(b, "p1", "e5", "b2", NULL), 5);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b1", &seqs, &n), STORE_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], i + 1);
    free(seqs);
    assert_int_equal(store_pathway_seqs(s, "b2", &seqs, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], 5);
    free(seqs);
}

/* A duplicate refused by its dedupe put leaves nothing to replay when the map then grows in
 * the same batch. */
static void test_duplicate_then_growth(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    static uint8_t big[60000];
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "dup", "b1", "a"), 1);
    test_event_t t;
    test_event_make(&t, "p1", "dup", "b2", 1);
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EEXIST);
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "e%03d", i);
        test_event_make(&t, "p1", id, "b1", 1);
        memset(big, i, sizeof big);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    }
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_true(info.map_grows >= 1);
    assert_int_equal(info.last_seq, 41);
    uint64_t seq;
    assert_int_equal(store_dedupe_find(s, "p1", "dup", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b2", &seqs, &n), STORE_ENOTFOUND);
}

static void test_map_grows_within_batch(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    static uint8_t big[60000];
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    char id[16];
    for (int i = 0; i < 80; i++) { /* about 4.8 MB in one batch: grows 1 -> 8 MiB */
        test_event_t t;
        snprintf(id, sizeof id, "e%03d", i);
        test_event_make(&t, "p1", id, "b1", 1);
        memset(big, i, sizeof big);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        t.recipients[0] = "a";
        t.e.n_recipients = 1;
        assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    }
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_true(info.map_grows >= 3);
    assert_true(info.map_size >= 8 * MIB);
    assert_int_equal(info.last_seq, 80);
    size_t grown = info.map_size;
    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 80, &entry), STORE_OK);
    assert_int_equal(entry.raw_len, sizeof big);
    assert_int_equal(entry.raw[100], 79);
    store_log_entry_clear(&entry);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b1", &seqs, &n), STORE_OK);
    assert_int_equal(n, 80);
    assert_int_equal(seqs[79], 80);
    free(seqs);
    uint64_t last;
    assert_int_equal(store_outbox_last(s, "a", &last), STORE_OK);
    assert_int_equal(last, 80);
    /* Reopening keeps the grown map. */
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.map_size, grown);
}

typedef struct grow_in_callback {
    store_batch_t *batch;
    int rc;
} grow_in_callback_t;

static int append_until_error(const store_log_entry_t *entry, void *ctx)
{
    (void)entry;
    grow_in_callback_t *g = ctx;
    static uint8_t big[100000];
    char id[16];
    for (int i = 0; i < 50 && g->rc == STORE_OK; i++) {
        test_event_t t;
        snprintf(id, sizeof id, "cb%d", i);
        test_event_make(&t, "p1", id, "b1", 1);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        g->rc = store_batch_append(g->batch, &t.e, NULL);
    }
    return 1;
}

static void test_no_growth_inside_callback(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    append_one(b, "p1", "e0", "b0", NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    /* A read transaction is open during the callback: growing the map would pull the mapping
     * from under it, so the batch fails instead. */
    grow_in_callback_t g = {.rc = STORE_OK};
    assert_int_equal(store_batch_begin(s, 2, &g.batch), STORE_OK);
    assert_int_equal(store_log_foreach(s, 0, append_until_error, &g), STORE_OK);
    assert_int_equal(g.rc, STORE_EINVAL);
    store_batch_abort(&g.batch);
    assert_int_equal(last_seq_of(s), 1);
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.map_grows, 0);
}

static void test_schema_mismatch(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    open_store(f, &o);
    store_close(&f->store);

    /* Another schema version, written straight into the meta database. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint8_t version[4] = {STORE_SCHEMA_VERSION + 1, 0, 0, 0};
    MDB_val key = {6, "schema"}, value = {4, version};
    assert_int_equal(mdb_put(txn, meta, &key, &value, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(store_open(f->dir, &o, &f->store), STORE_ESCHEMA);
    assert_null(f->store);
}

/* Packs an Event of this type (registration, appointment or exit) into buf; returns its size. */
static size_t upgrade_frame(uint8_t *buf, const char *event_id, const char *beneficiary,
                            Parcours__V1__EventType type, int64_t at)
{
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    Parcours__V1__BeneficiaryRegistered reg = PARCOURS__V1__BENEFICIARY_REGISTERED__INIT;
    Parcours__V1__AppointmentRecorded app = PARCOURS__V1__APPOINTMENT_RECORDED__INIT;
    Parcours__V1__PathwayExited exit = PARCOURS__V1__PATHWAY_EXITED__INIT;
    e.event_id = (char *)event_id;
    e.partner_id = "cd93";
    e.beneficiary_id = (char *)beneficiary;
    e.occurred_at = at;
    reg.territory = "93";
    app.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_PHONE;
    app.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SEEN;
    app.at = at;
    exit.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED;
    e.payload_case = (Parcours__V1__Event__PayloadCase)(100 + (int)type);
    if (type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_BENEFICIARY_REGISTERED)
        e.beneficiary_registered = &reg;
    else if (type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_APPOINTMENT_RECORDED)
        e.appointment_recorded = &app;
    else
        e.pathway_exited = &exit;
    return parcours__v1__event__pack(&e, buf);
}

/* Appends a schema-1 style log entry (raw frame) with the pathway as it stood after it. */
/* A store of schema 1 or 2, written as those schemas laid out their records (record.h of their
 * time): log u8 1, u8 0, u16 type, i64 occurred_at, i64 committed_at, the frame; pathways keyed
 * by the beneficiary id in clear, u8 1, u32 length, the packed pathway, the seqs. */
typedef struct legacy {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, dedupe, pathways, outbox, meta;
    uint64_t seq;
} legacy_t;

static void legacy_open(legacy_t *l, const char *dir)
{
    memset(l, 0, sizeof *l);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mdb_env_create(&l->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(l->env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(l->env, 1 * MIB), 0);
    assert_int_equal(mdb_env_open(l->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(l->env, NULL, 0, &l->txn), 0);
    assert_int_equal(mdb_dbi_open(l->txn, "log", MDB_CREATE | MDB_INTEGERKEY, &l->log), 0);
    assert_int_equal(mdb_dbi_open(l->txn, "dedupe", MDB_CREATE, &l->dedupe), 0);
    assert_int_equal(mdb_dbi_open(l->txn, "pathways", MDB_CREATE, &l->pathways), 0);
    assert_int_equal(mdb_dbi_open(l->txn, "outbox", MDB_CREATE, &l->outbox), 0);
    MDB_dbi cursors;
    assert_int_equal(mdb_dbi_open(l->txn, "cursors", MDB_CREATE, &cursors), 0);
    assert_int_equal(mdb_dbi_open(l->txn, "meta", MDB_CREATE, &l->meta), 0);
}

static void legacy_close(legacy_t *l, uint32_t schema)
{
    uint8_t version[4] = {(uint8_t)schema, 0, 0, 0};
    MDB_val key = {6, "schema"}, value = {4, version};
    assert_int_equal(mdb_put(l->txn, l->meta, &key, &value, 0), 0);
    MDB_val lk = {8, "last_seq"}, lv = {8, &l->seq};
    assert_int_equal(mdb_put(l->txn, l->meta, &lk, &lv, 0), 0);
    assert_int_equal(mdb_txn_commit(l->txn), 0);
    mdb_env_close(l->env);
}

/* Appends an event as schema 1 and 2 did, told to `told` (NULL or one partner) at told_seq. */
static void legacy_append(legacy_t *l, const uint8_t *raw, size_t len, Parcours__V1__EventType type,
                          int64_t at, const char *event_id, const char *beneficiary,
                          const Parcours__V1__Pathway *pathway, const char *told, uint64_t told_seq)
{
    uint64_t seq = ++l->seq;
    uint8_t value[1024];
    value[0] = 1;
    value[1] = 0;
    uint16_t t16 = (uint16_t)type;
    int64_t committed = 5;
    memcpy(value + 2, &t16, 2);
    memcpy(value + 4, &at, 8);
    memcpy(value + 12, &committed, 8);
    memcpy(value + 20, raw, len);
    MDB_val k = {8, &seq}, v = {20 + len, value};
    assert_int_equal(mdb_put(l->txn, l->log, &k, &v, MDB_APPEND), 0);
    char dk[128];
    int dl = snprintf(dk, sizeof dk, "cd93%c%s", 0, event_id);
    k = (MDB_val){(size_t)dl, dk};
    v = (MDB_val){8, &seq};
    assert_int_equal(mdb_put(l->txn, l->dedupe, &k, &v, 0), 0);
    /* The pathway record: the new pathway, the old seqs, seq. */
    MDB_val pk = {strlen(beneficiary), (void *)beneficiary}, old;
    uint8_t seqs[512];
    size_t n_seqs = 0;
    if (mdb_get(l->txn, l->pathways, &pk, &old) == 0) {
        uint32_t plen;
        memcpy(&plen, (uint8_t *)old.mv_data + 1, 4);
        n_seqs = (old.mv_size - 5 - plen) / 8;
        memcpy(seqs, (uint8_t *)old.mv_data + 5 + plen, 8 * n_seqs);
    }
    memcpy(seqs + 8 * n_seqs++, &seq, 8);
    size_t plen = parcours__v1__pathway__get_packed_size(pathway);
    value[0] = 1;
    uint32_t p32 = (uint32_t)plen;
    memcpy(value + 1, &p32, 4);
    parcours__v1__pathway__pack(pathway, value + 5);
    memcpy(value + 5 + plen, seqs, 8 * n_seqs);
    v = (MDB_val){5 + plen + 8 * n_seqs, value};
    assert_int_equal(mdb_put(l->txn, l->pathways, &pk, &v, 0), 0);
    if (told != NULL) {
        uint8_t ok[80];
        size_t tl = strlen(told);
        memcpy(ok, told, tl);
        ok[tl] = 0;
        for (int i = 0; i < 8; i++)
            ok[tl + 1 + i] = (uint8_t)(told_seq >> (56 - 8 * i));
        k = (MDB_val){tl + 9, ok};
        v = (MDB_val){8, &seq};
        assert_int_equal(mdb_put(l->txn, l->outbox, &k, &v, 0), 0);
    }
}

static int told_collect(const char *partner_id, uint64_t partner_seq, void *ctx)
{
    char *out = ctx;
    char line[96];
    snprintf(line, sizeof line, "%s:%llu,", partner_id, (unsigned long long)partner_seq);
    strcat(out, line);
    return 0;
}

/* A store written under schema 1 (frames as received, versions over every episode, exited
 * pathways keeping their group) is brought to schema 2 when opened: canonical log entries, the
 * current episode's version and date, no group once exited. */
static void test_upgrade_from_schema_1(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    legacy_t legacy, *b = &legacy;
    legacy_open(b, f->dir);
    const Parcours__V1__EventType reg = PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_BENEFICIARY_REGISTERED,
                                  app = PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_APPOINTMENT_RECORDED,
                                  ext = PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_PATHWAY_EXITED;
    /* The first frame carries a superseded payload naming a partner: an OrientationDecided
     * (field 103) that a BeneficiaryRegistered after it replaced. */
    uint8_t raw[512], canonical1[256];
    Parcours__V1__Event first = PARCOURS__V1__EVENT__INIT;
    Parcours__V1__OrientationDecided decided = PARCOURS__V1__ORIENTATION_DECIDED__INIT;
    decided.structure_id = "ccas93";
    decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    first.payload_case = PARCOURS__V1__EVENT__PAYLOAD_ORIENTATION_DECIDED;
    first.orientation_decided = &decided;
    size_t head = parcours__v1__event__pack(&first, raw);
    size_t canonical1_len = upgrade_frame(canonical1, "e1", "b1", reg, 1000);
    memcpy(raw + head, canonical1, canonical1_len);
    Parcours__V1__Pathway p = PARCOURS__V1__PATHWAY__INIT;
    char *members[] = {"cd93", "ml93"};
    p.beneficiary_id = "b1";
    p.territory = "93";
    p.episode = 1;
    p.created_at = 1000;
    p.members = members;
    p.n_members = 2;
    p.version = 1;
    legacy_append(b, raw, head + canonical1_len, reg, 1000, "e1", "b1", &p, "ml93", 1);
    /* Then an appointment, an exit, a new episode and an appointment in it. */
    static const struct {
        const char *id;
        Parcours__V1__EventType type;
        int64_t at;
    } steps[] = {{"e2", 0, 2000}, {"e3", 0, 3000}, {"e4", 0, 4000}, {"e5", 0, 5000}};
    Parcours__V1__EventType types[] = {app, ext, reg, app};
    Parcours__V1__Exit exited = PARCOURS__V1__EXIT__INIT;
    for (size_t i = 0; i < 4; i++) {
        size_t len = upgrade_frame(raw, steps[i].id, "b1", types[i], steps[i].at);
        p.version = 2 + i; /* schema 1 counted every episode */
        p.exit = types[i] == ext ? &exited : NULL;
        p.episode = i >= 2 ? 2 : 1;
        legacy_append(b, raw, len, types[i], steps[i].at, steps[i].id, "b1", &p, NULL, 0);
    }
    /* A suspension in the second episode, after its appointment: counted by none. */
    Parcours__V1__Event susp = PARCOURS__V1__EVENT__INIT;
    Parcours__V1__SuspensionDecided decision = PARCOURS__V1__SUSPENSION_DECIDED__INIT;
    decision.reason = PARCOURS__V1__SUSPENSION_REASON__SUSPENSION_REASON_APPOINTMENT_MISSED;
    susp.event_id = "e5s";
    susp.partner_id = "cd93";
    susp.beneficiary_id = "b1";
    susp.occurred_at = 5500;
    susp.payload_case = PARCOURS__V1__EVENT__PAYLOAD_SUSPENSION_DECIDED;
    susp.suspension_decided = &decision;
    size_t susp_len = parcours__v1__event__pack(&susp, raw);
    p.version = 6;
    p.updated_at = 5500;
    legacy_append(b, raw, susp_len, PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_SUSPENSION_DECIDED, 5500,
                  "e5s", "b1", &p, NULL, 0);
    /* A pathway that exited, with its group. */
    size_t len = upgrade_frame(raw, "e6", "b2", reg, 6000);
    p.beneficiary_id = "b2";
    p.exit = NULL;
    p.episode = 1;
    p.version = 1;
    p.created_at = 6000;
    legacy_append(b, raw, len, reg, 6000, "e6", "b2", &p, "ml93", 2);
    len = upgrade_frame(raw, "e7", "b2", ext, 7000);
    p.exit = &exited;
    p.version = 2;
    legacy_append(b, raw, len, ext, 7000, "e7", "b2", &p, "cd93", 1);
    legacy_close(b, 1); /* a store of before 2026-12 */

    store_t *s = open_store(f, &o);
    /* The superseded payload is gone from the log: the entry is the canonical event. */
    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 1, &entry), STORE_OK);
    assert_int_equal(entry.raw_len, canonical1_len);
    assert_memory_equal(entry.raw, canonical1, canonical1_len);
    assert_int_equal(entry.type, reg);
    assert_int_equal(entry.occurred_at, 1000);
    assert_int_equal(entry.committed_at, 5);
    store_log_entry_clear(&entry);
    /* The version counts the current episode, its date is the episode's registration. */
    Parcours__V1__Pathway *got;
    assert_int_equal(store_pathway_get(s, "b1", &got), STORE_OK);
    assert_int_equal(got->version,
                     2); /* the registration and the appointment, not the suspension */
    assert_int_equal(got->created_at, 4000);
    assert_int_equal(got->updated_at, 5000);
    assert_int_equal(got->episode, 2);
    assert_int_equal(got->n_members, 2);
    parcours__v1__pathway__free_unpacked(got, NULL);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, "b1", &seqs, &n), STORE_OK);
    assert_int_equal(n, 6);
    free(seqs);
    /* An exited pathway has no group any more. */
    assert_int_equal(store_pathway_get(s, "b2", &got), STORE_OK);
    assert_int_equal(got->n_members, 0);
    assert_non_null(got->exit);
    assert_int_equal(got->version, 2);
    parcours__v1__pathway__free_unpacked(got, NULL);
    /* Sealed now: who was told of each event comes from the outboxes of the time. */
    char told[128] = "";
    assert_int_equal(store_log_told(s, 1, told_collect, told), STORE_OK);
    assert_string_equal(told, "ml93:1,");
    told[0] = '\0';
    assert_int_equal(store_log_told(s, 8, told_collect, told), STORE_OK);
    assert_string_equal(told, "cd93:1,");
    told[0] = '\0';
    assert_int_equal(store_log_told(s, 2, told_collect, told), STORE_OK);
    assert_string_equal(told, "");
    /* Done once: the store is of this schema now, and goes on. */
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(last_seq_of(s), 8);
    /* Nothing of a person is left in clear in the data file: ids and payloads are sealed. */
    store_close(&f->store);
    assert_false(file_holds(f->dir, "data.mdb", "ccas93"));
}

static void test_full(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.max_map_size = 2 * MIB;
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "small", "b0", "a"), 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    static uint8_t big[100000];
    int rc = STORE_OK;
    int appended = 0;
    char id[16];
    assert_int_equal(store_batch_begin(s, 2, &b), STORE_OK);
    for (int i = 0; i < 100 && rc == STORE_OK; i++) {
        test_event_t t;
        snprintf(id, sizeof id, "big%d", i);
        test_event_make(&t, "p1", id, "b1", 1);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        t.recipients[0] = "a";
        t.e.n_recipients = 1;
        rc = store_batch_append(b, &t.e, NULL);
        appended += rc == STORE_OK;
    }
    assert_int_equal(rc, STORE_EFULL);
    assert_true(appended >= 5 && appended < 25);
    /* The batch is dead: every call says so, and the commit too. */
    uint64_t value;
    assert_int_equal(store_batch_dedupe_find(b, "p1", "small", &value), STORE_EFULL);
    assert_int_equal(store_batch_cursor_set(b, "a", 1), STORE_EFULL);
    assert_int_equal(store_batch_commit(&b), STORE_EFULL);
    assert_null(b);

    /* The store still serves reads, and a small batch. */
    store_info_t info;
    assert_int_equal(store_info(s, &info), STORE_OK);
    assert_int_equal(info.last_seq, 1);
    assert_int_equal(info.map_size, 2 * MIB);
    assert_int_equal(info.map_grows, 1);
    assert_int_equal(store_dedupe_find(s, "p1", "big0", &value), STORE_ENOTFOUND);
    assert_int_equal(store_outbox_last(s, "a", &value), STORE_OK);
    assert_int_equal(value, 1);
    assert_int_equal(store_batch_begin(s, 3, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "small2", "b0", "a"), 2);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_outbox_last(s, "a", &value), STORE_OK);
    assert_int_equal(value, 2);

    /* A dead batch may also be aborted. */
    assert_int_equal(store_batch_begin(s, 4, &b), STORE_OK);
    rc = STORE_OK;
    for (int i = 0; i < 100 && rc == STORE_OK; i++) {
        test_event_t t;
        snprintf(id, sizeof id, "again%d", i);
        test_event_make(&t, "p1", id, "b1", 1);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        rc = store_batch_append(b, &t.e, NULL);
    }
    assert_int_equal(rc, STORE_EFULL);
    store_batch_abort(&b);
    assert_int_equal(last_seq_of(s), 2);
}

static void test_invalid_arguments(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *dummy = (store_t *)&o;
    assert_int_equal(store_open(NULL, &o, &dummy), STORE_EINVAL);
    assert_null(dummy);
    assert_int_equal(store_open("", &o, &dummy), STORE_EINVAL);
    assert_int_equal(store_open(f->dir, &o, NULL), STORE_EINVAL);
    store_options_t bad = o;
    bad.max_map_size = o.initial_map_size / 2;
    assert_int_equal(store_open(f->dir, &bad, &dummy), STORE_EINVAL);
    store_t *s = open_store(f, &o);

    char long_id[STORE_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0'; /* 65 bytes */
    char max_id[STORE_ID_MAX + 1];
    memset(max_id, 'y', sizeof max_id - 1);
    max_id[sizeof max_id - 1] = '\0'; /* 64 bytes: fine */

    uint64_t value;
    store_info_t info;
    assert_int_equal(store_info(NULL, &info), STORE_EINVAL);
    assert_int_equal(store_info(s, NULL), STORE_EINVAL);
    assert_int_equal(store_dedupe_find(s, "", "e", &value), STORE_EINVAL);
    assert_int_equal(store_dedupe_find(s, "p", long_id, &value), STORE_EINVAL);
    assert_int_equal(store_dedupe_find(s, NULL, "e", &value), STORE_EINVAL);
    assert_int_equal(store_dedupe_find(s, max_id, max_id, &value), STORE_ENOTFOUND);
    assert_int_equal(store_outbox_last(s, long_id, &value), STORE_EINVAL);
    assert_int_equal(store_outbox_last(s, "", &value), STORE_EINVAL);
    assert_int_equal(store_cursor_get(s, long_id, &value), STORE_EINVAL);
    assert_int_equal(store_cursor_get(s, "a", NULL), STORE_EINVAL);
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "", &p), STORE_EINVAL);
    assert_int_equal(store_pathway_get(s, long_id, &p), STORE_EINVAL);
    assert_int_equal(store_pathway_get(NULL, "b", &p), STORE_EINVAL);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(s, long_id, &seqs, &n), STORE_EINVAL);
    assert_int_equal(store_log_get(s, 1, NULL), STORE_EINVAL);
    assert_int_equal(store_log_foreach(s, 0, NULL, NULL), STORE_EINVAL);
    assert_int_equal(store_pathway_foreach(s, NULL, NULL), STORE_EINVAL);
    assert_int_equal(store_outbox_foreach(s, "a", 0, NULL, NULL), STORE_EINVAL);

    store_batch_t *b, *second;
    assert_int_equal(store_batch_begin(NULL, 1, &b), STORE_EINVAL);
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(store_batch_begin(s, 1, &second), STORE_EINVAL); /* one batch at a time */
    assert_int_equal(store_batch_append(b, NULL, NULL), STORE_EINVAL);
    assert_int_equal(store_batch_append(NULL, NULL, NULL), STORE_EINVAL);
    test_event_t t;
    test_event_make(&t, "", "e1", "b1", 1);
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EINVAL);
    test_event_make(&t, "p1", long_id, "b1", 1);
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EINVAL);
    test_event_make(&t, "p1", "e1", NULL, 1);
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EINVAL);
    test_event_make(&t, "p1", "e1", "b1", 1);
    t.recipients[0] = long_id;
    t.e.n_recipients = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EINVAL);
    test_event_make(&t, "p1", "e1", "b1", 1);
    t.e.pathway = NULL;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_EINVAL);
    test_event_make(&t, max_id, max_id, max_id, 1);
    t.recipients[0] = max_id;
    t.e.n_recipients = 1;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "", 1), STORE_EINVAL);
    assert_int_equal(store_batch_dedupe_find(b, "p1", long_id, &value), STORE_EINVAL);
    assert_int_equal(store_batch_pathway_get(b, "", &p), STORE_EINVAL);
    assert_int_equal(store_batch_commit(NULL), STORE_EINVAL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_dedupe_find(s, max_id, max_id, &value), STORE_OK);

    /* Closing the store under an open batch kills the batch; its owner still frees it. */
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    store_close(&f->store);
    assert_int_equal(store_batch_cursor_set(b, "a", 1), STORE_EINVAL);
    store_batch_abort(&b);
}

/* Opens dir and returns the result; as root, does it in a child running as nobody, since root
 * is never denied. Returns -1000 when the child could not run. */
static int open_unprivileged(const char *dir)
{
    if (geteuid() != 0) {
        store_t *s = NULL;
        int rc = store_open(dir, NULL, &s);
        store_close(&s);
        return rc;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(255);
        store_t *s = NULL;
        int rc = store_open(dir, NULL, &s);
        store_close(&s);
        _exit(-rc);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) == 255)
        return -1000;
    return -WEXITSTATUS(status);
}

static void test_access_denied(void **state)
{
    fixture_t *f = *state;
    /* The directory cannot be created where writing is denied... */
    if (geteuid() != 0)
        assert_int_equal(chmod(f->root, 0500), 0);
    assert_int_equal(open_unprivileged(f->dir), STORE_EACCESS);
    /* ...nor opened when it exists but cannot be entered. */
    assert_int_equal(chmod(f->root, 0755), 0);
    store_options_t o = small_options();
    open_store(f, &o);
    store_close(&f->store);
    if (geteuid() != 0)
        assert_int_equal(chmod(f->dir, 0), 0);
    assert_int_equal(open_unprivileged(f->dir), STORE_EACCESS);
    chmod(f->dir, 0700);
}

static void test_strerror(void **state)
{
    (void)state;
    const char *seen[10];
    for (int code = 0; code >= -9; code--) {
        const char *msg = store_strerror(code);
        assert_non_null(msg);
        assert_true(strlen(msg) > 10);
        for (int j = 0; j < -code; j++)
            assert_string_not_equal(msg, seen[j]);
        seen[-code] = msg;
    }
    assert_string_equal(store_strerror(-100), "unknown store error");
    assert_string_equal(store_strerror(1), "unknown store error");
}

/* --- Destruction (G10) ------------------------------------------------------------------------ */

/* Appends an event of beneficiary with payload text, told to r1 and r2 (either may be NULL). */
static uint64_t append_marked(store_batch_t *b, const char *event_id, const char *beneficiary,
                              const char *payload, const char *r1, const char *r2)
{
    test_event_t t;
    test_event_make(&t, "p1", event_id, beneficiary, 1);
    t.e.raw = (const uint8_t *)payload;
    t.e.raw_len = strlen(payload);
    if (r1 != NULL)
        t.recipients[t.e.n_recipients++] = r1;
    if (r2 != NULL)
        t.recipients[t.e.n_recipients++] = r2;
    uint64_t seq = 0;
    assert_int_equal(store_batch_append(b, &t.e, &seq), STORE_OK);
    return seq;
}

/* The 32 bytes of a vault slot as the file holds them. */
static void vault_slot_bytes(const char *dir, uint32_t slot, uint8_t out[32])
{
    char path[256];
    snprintf(path, sizeof path, "%s/keys.vault", dir);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 4096 + (long)(slot - 1) * 32, SEEK_SET), 0);
    assert_int_equal(fread(out, 1, 32, fp), 32);
    fclose(fp);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

typedef struct outbox_walk {
    uint64_t expect; /* the next partner_seq: a gap fails */
    uint64_t seqs[16];
    size_t n;
} outbox_walk_t;

static int outbox_walk(uint64_t partner_seq, uint64_t seq, void *ctx)
{
    outbox_walk_t *w = ctx;
    assert_int_equal(partner_seq, w->expect++);
    w->seqs[w->n++] = seq;
    return 0;
}

/* An erasure leaves tombstones with gap-free seqs and outboxes, keeps the dedupe records, tells
 * every partner that was told, and no byte of the person (id, payload, key) stays readable in
 * the files, free pages included. */
static void test_erase_destroys(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    assert_int_equal(append_marked(b, "a1", "person-alpha-7f3c", "PAYLOAD-ALPHA-1", "ml93", "ft93"),
                     1);
    assert_int_equal(append_marked(b, "a2", "person-alpha-7f3c", "PAYLOAD-ALPHA-2", "ml93", NULL),
                     2);
    assert_int_equal(append_marked(b, "b1", "person-beta-11aa", "PAYLOAD-BETA-1", "ml93", NULL), 3);
    assert_int_equal(append_marked(b, "a3", "person-alpha-7f3c", "PAYLOAD-ALPHA-3", "ft93", NULL),
                     4);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    /* Sealed from the start: neither the id nor a payload is in the data file in clear. */
    assert_false(file_holds(f->dir, "data.mdb", "person-alpha"));
    assert_false(file_holds(f->dir, "data.mdb", "PAYLOAD-ALPHA"));
    assert_false(file_holds(f->dir, "data.mdb", "PAYLOAD-BETA"));
    uint8_t alpha_key[32], beta_key[32];
    vault_slot_bytes(f->dir, 1, alpha_key); /* the first pathway's slot */
    vault_slot_bytes(f->dir, 2, beta_key);
    assert_false(all_zero(alpha_key, 32));

    store_erasure_t out;
    assert_int_equal(store_batch_begin(s, 200, &b), STORE_OK);
    assert_int_equal(
        store_batch_erase(b, "person-alpha-7f3c", (const uint8_t *)"NOTICE-ALPHA", 12, &out),
        STORE_OK);
    assert_int_equal(out.events, 3);
    assert_int_equal(out.told, 2);
    assert_int_equal(out.notice_seq, 5);
    assert_non_null(out.pathway);
    assert_string_equal(out.pathway->beneficiary_id, "person-alpha-7f3c");
    parcours__v1__pathway__free_unpacked(out.pathway, NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    /* The person is gone; the other is whole. */
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "person-alpha-7f3c", &p), STORE_ENOTFOUND);
    assert_int_equal(store_pathway_get(s, "person-beta-11aa", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
    store_log_entry_t entry;
    static const int kinds[] = {0,
                                STORE_LOG_WITHDRAWN,
                                STORE_LOG_WITHDRAWN,
                                STORE_LOG_EVENT,
                                STORE_LOG_WITHDRAWN,
                                STORE_LOG_ERASURE};
    for (uint64_t seq = 1; seq <= 5; seq++) {
        assert_int_equal(store_log_get(s, seq, &entry), STORE_OK);
        assert_int_equal(entry.seq, seq);
        assert_int_equal(entry.kind, kinds[seq]);
        if (entry.kind == STORE_LOG_WITHDRAWN) {
            assert_null(entry.raw);
            assert_int_equal(entry.committed_at, 100); /* the tombstone keeps the dates */
        }
        store_log_entry_clear(&entry);
    }
    assert_int_equal(store_log_get(s, 5, &entry), STORE_OK);
    assert_int_equal(entry.raw_len, 12);
    assert_memory_equal(entry.raw, "NOTICE-ALPHA", 12);
    store_log_entry_clear(&entry);
    /* The notice went to both partners told of the person, at the next partner_seq of each. */
    char told[128] = "";
    assert_int_equal(store_log_told(s, 5, told_collect, told), STORE_OK);
    assert_string_equal(told, "ml93:4,ft93:3,");
    told[0] = '\0';
    assert_int_equal(store_log_told(s, 1, told_collect, told), STORE_OK);
    assert_string_equal(told, ""); /* a tombstone names no one */
    /* Outboxes stay gap-free: their entries now lead to tombstones. */
    outbox_walk_t w = {.expect = 1};
    assert_int_equal(store_outbox_foreach(s, "ml93", 1, outbox_walk, &w), STORE_OK);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.seqs[3], 5);
    /* A re-sent old event is a duplicate: it does not bring the person back. */
    uint64_t dup;
    assert_int_equal(store_dedupe_find(s, "p1", "a1", &dup), STORE_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(store_notices_pending(s), 1);

    /* The notice's own key goes once every partner it went to has acknowledged it. */
    uint8_t notice_key[32];
    vault_slot_bytes(f->dir, 3, notice_key);
    assert_false(all_zero(notice_key, 32));
    size_t settled;
    assert_int_equal(store_batch_begin(s, 300, &b), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "ml93", 4), STORE_OK);
    assert_int_equal(store_batch_cursor_set(b, "ft93", 2), STORE_OK);
    assert_int_equal(store_batch_notices_settle(b, &settled), STORE_OK);
    assert_int_equal(settled, 0);
    assert_int_equal(store_batch_cursor_set(b, "ft93", 3), STORE_OK);
    assert_int_equal(store_batch_notices_settle(b, &settled), STORE_OK);
    assert_int_equal(settled, 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_notices_pending(s), 0);
    assert_int_equal(store_log_get(s, 5, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_WITHDRAWN);
    store_log_entry_clear(&entry);
    /* Erased once: again is nothing. */
    assert_int_equal(store_batch_begin(s, 400, &b), STORE_OK);
    assert_int_equal(store_batch_erase(b, "person-alpha-7f3c", NULL, 0, &out), STORE_ENOTFOUND);
    assert_int_equal(append_marked(b, "b2", "person-beta-11aa", "PAYLOAD-BETA-2", NULL, NULL), 6);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    store_close(&f->store);

    /* The keys are zero in the vault, and neither key is anywhere in either file. */
    uint8_t now[32];
    vault_slot_bytes(f->dir, 1, now);
    assert_true(all_zero(now, 32));
    vault_slot_bytes(f->dir, 3, now);
    assert_true(all_zero(now, 32));
    assert_false(file_holds_bytes(f->dir, "keys.vault", alpha_key, 32));
    assert_false(file_holds_bytes(f->dir, "data.mdb", alpha_key, 32));
    assert_false(file_holds_bytes(f->dir, "keys.vault", notice_key, 32));
    assert_false(file_holds_bytes(f->dir, "data.mdb", notice_key, 32));
    assert_true(file_holds_bytes(f->dir, "keys.vault", beta_key, 32)); /* the probe can see */
    assert_false(file_holds(f->dir, "data.mdb", "person-alpha"));
    assert_false(file_holds(f->dir, "data.mdb", "NOTICE-ALPHA"));
    s = open_store(f, &o);
    assert_int_equal(store_pathway_get(s, "person-beta-11aa", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
}

/* The register erases a restored person again only when its pathway is the one erased (its
 * first event committed before the erasure), not someone registered anew since. */
static void test_erase_by_hash(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    append_marked(b, "a1", "person-alpha", "x", "ml93", NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    uint8_t hash[STORE_HASH_SIZE], other[STORE_HASH_SIZE];
    store_id_hash(s, "person-alpha", hash);
    store_id_hash(s, "person-alphb", other);
    assert_memory_not_equal(hash, other, STORE_HASH_SIZE);
    store_erasure_t out;
    assert_int_equal(store_batch_begin(s, 200, &b), STORE_OK);
    assert_int_equal(store_batch_erase_hash(b, hash, 99, &out), STORE_ENOTFOUND);
    assert_int_equal(store_batch_erase_hash(b, other, 500, &out), STORE_ENOTFOUND);
    assert_int_equal(store_batch_erase_hash(b, hash, 100, &out), STORE_OK);
    assert_int_equal(out.events, 1);
    assert_int_equal(out.told, 0); /* no notice: the partners were told at the first erasure */
    parcours__v1__pathway__free_unpacked(out.pathway, NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "person-alpha", &p), STORE_ENOTFOUND);
}

/* A destruction committed but cut short before its key was zeroed is finished at open. */
static void test_erase_finished_at_open(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    append_marked(b, "a1", "person-alpha", "x", NULL, NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    store_close(&f->store);
    /* What the commit of a destruction leaves when the process dies before the vault write. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi shred;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "shred", MDB_INTEGERKEY, &shred), 0);
    uint32_t slot = 1;
    MDB_val key = {sizeof slot, &slot}, value = {0, ""};
    assert_int_equal(mdb_put(txn, shred, &key, &value, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    uint8_t before[32], after[32];
    vault_slot_bytes(f->dir, 1, before);
    assert_false(all_zero(before, 32));
    s = open_store(f, &o);
    vault_slot_bytes(f->dir, 1, after);
    assert_true(all_zero(after, 32));
}

/* A copy carries its vault: unpacked into an empty directory it opens and reads. */
static void test_copy_unpack(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 100, &b), STORE_OK);
    append_marked(b, "a1", "person-alpha", "PAYLOAD", "ml93", NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    char copy[160], dir[160];
    snprintf(copy, sizeof copy, "%s/copy", f->root);
    snprintf(dir, sizeof dir, "%s/restored", f->root);
    FILE *fp = fopen(copy, "wb");
    assert_non_null(fp);
    assert_int_equal(store_copy_begin(s), STORE_OK);
    assert_int_equal(store_copy_fd(s, fileno(fp)), STORE_OK);
    store_copy_end(s);
    fclose(fp);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(store_copy_unpack(copy, dir), STORE_OK);
    assert_int_equal(store_copy_unpack(copy, dir), STORE_EEXIST);
    store_t *r;
    assert_int_equal(store_open(dir, &o, &r), STORE_OK);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(r, 1, &entry), STORE_OK);
    assert_memory_equal(entry.raw, "PAYLOAD", 7);
    store_log_entry_clear(&entry);
    store_close(&r);
    /* A data file whose vault is missing is refused, not served undecryptable. */
    char vault[200];
    snprintf(vault, sizeof vault, "%s/keys.vault", dir);
    assert_int_equal(unlink(vault), 0);
    assert_int_equal(store_open(dir, &o, &r), STORE_ECORRUPT);
    assert_int_equal(access(vault, F_OK), -1);
}

/* --- Retention ------------------------------------------------------------------------------- */

/* Appends one registration of beneficiary dated occurred_at, told to recipient (may be NULL). */
static void append_dated(store_batch_t *b, const char *event_id, const char *beneficiary,
                         int64_t occurred_at, const char *recipient)
{
    test_event_t t;
    test_event_make(&t, "p1", event_id, beneficiary, 1);
    t.e.occurred_at = occurred_at;
    if (recipient != NULL)
        t.recipients[t.e.n_recipients++] = recipient;
    assert_int_equal(store_batch_append(b, &t.e, NULL), STORE_OK);
}

static int survey_collect(const char *beneficiary_id, int64_t last_contact, void *ctx)
{
    (void)last_contact;
    strcat(ctx, beneficiary_id);
    strcat(ctx, ",");
    return 0;
}

/* The clock is the last contact (never later than the commit); the survey counts each stage;
 * the purge, slice after slice, destroys what is due unless held. */
static void test_retention(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    const int64_t now = 10000000;
    assert_int_equal(store_batch_begin(s, now, &b), STORE_OK);
    append_dated(b, "o1", "old", 1000, "ml93");
    append_dated(b, "o2", "old", 1500, NULL); /* its last contact: 1500 */
    append_dated(b, "h1", "held", 1200, NULL);
    append_dated(b, "m1", "middle", 5000, NULL);
    append_dated(b, "r1", "recent", 9000000, NULL);
    append_dated(b, "f1", "future", now * 10, NULL); /* dated ahead: counted from its commit */
    assert_int_equal(store_batch_hold(b, "held", true), STORE_OK);
    assert_int_equal(store_batch_hold(b, "nobody", true), STORE_ENOTFOUND);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    store_survey_t survey;
    char due[128] = "";
    assert_int_equal(store_retention_survey(s, 8000000, 3000, &survey, survey_collect, due),
                     STORE_OK);
    assert_int_equal(survey.active, 2); /* recent, future (its commit at now) */
    assert_int_equal(survey.archived, 1);
    assert_int_equal(survey.held, 1);
    assert_int_equal(survey.due, 1);
    assert_string_equal(due, "old,");
    /* The future-dated one is not kept for ever: at a later now it is due like the others. */
    assert_int_equal(store_retention_survey(s, now + 2, now + 1, &survey, NULL, NULL), STORE_OK);
    assert_int_equal(survey.due, 4); /* all but the held one */
    assert_int_equal(survey.held, 1);

    /* Slices of 2: three of them make a pass; only "old" goes. */
    uint8_t cursor[STORE_HASH_SIZE] = {0};
    size_t destroyed = 0, held = 0, slices = 0;
    store_purge_t out;
    do {
        assert_int_equal(store_batch_begin(s, now, &b), STORE_OK);
        assert_int_equal(store_batch_purge(b, cursor, 2, 3000, NULL, NULL, &out), STORE_OK);
        assert_true(out.examined <= 2);
        destroyed += out.destroyed;
        held += out.held;
        slices++;
        assert_int_equal(store_batch_commit(&b), STORE_OK);
    } while (!out.wrapped && slices < 10);
    assert_true(out.wrapped);
    assert_int_equal(destroyed, 1);
    assert_int_equal(held, 1);
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(s, "old", &p), STORE_ENOTFOUND);
    assert_int_equal(store_pathway_get(s, "held", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(s, 1, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_WITHDRAWN);
    store_log_entry_clear(&entry);
    /* ml93 was told of it: its notice says RETENTION. */
    assert_int_equal(store_log_get(s, 7, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_ERASURE);
    Parcours__V1__Erasure *e = parcours__v1__erasure__unpack(NULL, entry.raw_len, entry.raw);
    assert_non_null(e);
    assert_string_equal(e->beneficiary_id, "old");
    assert_int_equal(e->reason, PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_RETENTION);
    parcours__v1__erasure__free_unpacked(e, NULL);
    store_log_entry_clear(&entry);
    /* The hold lifted, the next pass takes it. */
    assert_int_equal(store_batch_begin(s, now, &b), STORE_OK);
    assert_int_equal(store_batch_hold(b, "held", false), STORE_OK);
    assert_int_equal(store_batch_purge(b, cursor, 100, 3000, NULL, NULL, &out), STORE_OK);
    assert_int_equal(out.destroyed, 1);
    assert_true(out.wrapped);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_pathway_get(s, "held", &p), STORE_ENOTFOUND);
    assert_int_equal(store_pathway_get(s, "middle", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
}

/* --- Reads from several threads --------------------------------------------------------------- */

enum { THREAD_PEOPLE = 64, THREAD_READERS = 4, THREAD_ROUNDS = 400 };

typedef struct thread_reads {
    store_t *store;
    uint64_t seqs[THREAD_PEOPLE];
    int wrong; /* reads that gave another person's bytes, or none */
} thread_reads_t;

static void thread_person(char *out, size_t size, int i)
{
    snprintf(out, size, "p93-thread-%04d", i);
}

static void *thread_reader(void *arg)
{
    thread_reads_t *t = arg;
    for (int round = 0; round < THREAD_ROUNDS; round++) {
        int i = (round * 7 + (int)(intptr_t)pthread_self()) % THREAD_PEOPLE;
        if (i < 0)
            i = -i;
        char id[32];
        thread_person(id, sizeof id, i);
        Parcours__V1__Pathway *p = NULL;
        if (store_pathway_get(t->store, id, &p) != STORE_OK || strcmp(p->beneficiary_id, id) != 0)
            __atomic_add_fetch(&t->wrong, 1, __ATOMIC_RELAXED);
        if (p != NULL)
            parcours__v1__pathway__free_unpacked(p, NULL);
        uint8_t *packed = NULL;
        size_t len = 0;
        if (store_pathway_get_packed(t->store, id, &packed, &len, NULL) != STORE_OK ||
            memmem(packed, len, id, strlen(id)) == NULL)
            __atomic_add_fetch(&t->wrong, 1, __ATOMIC_RELAXED);
        free(packed);
        store_log_entry_t entry;
        test_event_t expected;
        test_event_make(&expected, "ft93", "x", id, (uint64_t)i + 1);
        if (store_log_get(t->store, t->seqs[i], &entry) != STORE_OK ||
            entry.raw_len != expected.e.raw_len ||
            memcmp(entry.raw, expected.raw, entry.raw_len) != 0)
            __atomic_add_fetch(&t->wrong, 1, __ATOMIC_RELAXED);
        store_log_entry_clear(&entry);
    }
    return NULL;
}

/* THREAD_PEOPLE people registered in one batch; seqs[i] is person i's event. */
static void thread_people_commit(store_t *s, uint64_t seqs[THREAD_PEOPLE])
{
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    for (int i = 0; i < THREAD_PEOPLE; i++) {
        char id[32], event_id[32];
        thread_person(id, sizeof id, i);
        snprintf(event_id, sizeof event_id, "e-%d", i);
        test_event_t ev;
        test_event_make(&ev, "ft93", event_id, id, (uint64_t)i + 1);
        assert_int_equal(store_batch_append(b, &ev.e, &seqs[i]), STORE_OK);
    }
    assert_int_equal(store_batch_commit(&b), STORE_OK);
}

/* Other people's events, `batches` batches of `per_batch`, while readers read. */
static void others_commit(store_t *s, const char *tag, int batches, int per_batch)
{
    for (int k = 0; k < batches; k++) {
        store_batch_t *b;
        assert_int_equal(store_batch_begin(s, 2 + k, &b), STORE_OK);
        for (int j = 0; j < per_batch; j++) {
            char id[48], event_id[48];
            snprintf(id, sizeof id, "p93-%s-%02d-%03d", tag, k, j);
            snprintf(event_id, sizeof event_id, "%s-%d-%d", tag, k, j);
            append_one(b, "ft93", event_id, id, NULL);
        }
        assert_int_equal(store_batch_commit(&b), STORE_OK);
    }
}

/* Each read unseals into a buffer of its own: readers on several threads (as a delivery
 * thread would be), while a batch appends, each get their own person's bytes. */
static void test_reads_from_threads(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.initial_map_size = 64 * MIB; /* no growth while readers run: LMDB forbids it */
    store_t *s = open_store(f, &o);
    thread_reads_t t = {.store = s};
    thread_people_commit(s, t.seqs);

    pthread_t readers[THREAD_READERS];
    for (int r = 0; r < THREAD_READERS; r++)
        assert_int_equal(pthread_create(&readers[r], NULL, thread_reader, &t), 0);
    /* Meanwhile, other persons' events go in, batch after batch. */
    others_commit(s, "writer", 40, 20);
    for (int r = 0; r < THREAD_READERS; r++)
        pthread_join(readers[r], NULL);
    assert_int_equal(t.wrong, 0);
}

/* Readers that go on until the writer is done, counting their reads. */
typedef struct growing_reads {
    thread_reads_t t;
    int done;
    long reads;
} growing_reads_t;

static void *growing_reader(void *arg)
{
    growing_reads_t *g = arg;
    for (int i = 0; !__atomic_load_n(&g->done, __ATOMIC_ACQUIRE); i = (i + 1) % THREAD_PEOPLE) {
        char id[32];
        thread_person(id, sizeof id, i);
        Parcours__V1__Pathway *p = NULL;
        if (store_pathway_get(g->t.store, id, &p) != STORE_OK || strcmp(p->beneficiary_id, id) != 0)
            __atomic_add_fetch(&g->t.wrong, 1, __ATOMIC_RELAXED);
        if (p != NULL)
            parcours__v1__pathway__free_unpacked(p, NULL);
        store_log_entry_t entry;
        if (store_log_get(g->t.store, g->t.seqs[i], &entry) != STORE_OK)
            __atomic_add_fetch(&g->t.wrong, 1, __ATOMIC_RELAXED);
        store_log_entry_clear(&entry);
        __atomic_add_fetch(&g->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* The delivery thread reads while the ingest thread's batches grow the map (LMDB remaps the
 * file, which no open read may see) and the vault (a new chunk of keys for every 4,096 people):
 * the readers never read a mapping that went, and every read finds its person. */
static void test_reads_while_map_grows(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    growing_reads_t g = {.t = {.store = s}};
    thread_people_commit(s, g.t.seqs);
    store_info_t before;
    assert_int_equal(store_info(s, &before), STORE_OK);

    pthread_t readers[THREAD_READERS];
    for (int r = 0; r < THREAD_READERS; r++)
        assert_int_equal(pthread_create(&readers[r], NULL, growing_reader, &g), 0);
    /* 9,000 new people: the vault grows twice, and the map from 1 MiB several times. */
    others_commit(s, "grow", 90, 100);
    __atomic_store_n(&g.done, 1, __ATOMIC_RELEASE);
    for (int r = 0; r < THREAD_READERS; r++)
        pthread_join(readers[r], NULL);
    store_info_t after;
    assert_int_equal(store_info(s, &after), STORE_OK);
    assert_true(after.map_grows >= before.map_grows + 3);
    assert_true(g.reads > 0);
    assert_int_equal(g.t.wrong, 0);
}

static void *commit_one_for_p2(void *arg)
{
    store_t *s = arg;
    store_batch_t *b;
    if (store_batch_begin(s, 5, &b) != STORE_OK)
        return (void *)1;
    test_event_t t;
    test_event_make(&t, "p1", "held-2", "b-held", 2);
    t.recipients[0] = "p2";
    t.e.n_recipients = 1;
    uint64_t seq = 0;
    int rc = store_batch_append(b, &t.e, &seq);
    if (rc == STORE_OK)
        rc = store_batch_commit(&b);
    store_batch_abort(&b);
    return rc == STORE_OK ? NULL : (void *)1;
}

/* A held snapshot: while the delivery thread holds one, a batch another thread commits is not
 * seen by any of its reads (so an event cached for one subscriber is the one the next would
 * read), and the snapshot's id stays; after the release, reads see the commit. */
static void test_read_hold(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    assert_int_equal(append_one(b, "p1", "held-1", "b-held", "p2"), 1);
    assert_int_equal(store_batch_commit(&b), STORE_OK);

    assert_int_equal(store_read_hold(s), STORE_OK);
    assert_int_equal(store_read_hold(s), STORE_OK); /* holds nest */
    uint64_t held = store_snapshot(s);
    pthread_t writer;
    void *writer_rc = (void *)1;
    assert_int_equal(pthread_create(&writer, NULL, commit_one_for_p2, s), 0);
    pthread_join(writer, &writer_rc);
    assert_null(writer_rc);
    uint64_t last = 0;
    assert_int_equal(store_outbox_last(s, "p2", &last), STORE_OK);
    assert_int_equal(last, 1);
    assert_int_equal(last_seq_of(s), 1);
    assert_int_equal(store_snapshot(s), held);
    store_read_release(s);
    assert_int_equal(store_outbox_last(s, "p2", &last), STORE_OK);
    assert_int_equal(last, 1); /* still held once */
    store_read_release(s);

    assert_int_equal(store_outbox_last(s, "p2", &last), STORE_OK);
    assert_int_equal(last, 2);
    assert_int_equal(last_seq_of(s), 2);
    assert_true(store_snapshot(s) != held);
    store_read_release(s); /* one release too many does nothing */
    assert_int_equal(last_seq_of(s), 2);
}

/* --- The write-ahead log (store/wal.h) ---------------------------------------------------------
 */

/* Copies from to to; false when from is gone (a checkpoint removed it meanwhile). */
static bool try_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        return false;
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    return true;
}

static void copy_file(const char *from, const char *to)
{
    assert_true(try_copy_file(from, to));
}

/* A copied store is another file: its checkpoint names the inode of the data.mdb it was taken
 * beside (store/wal.c, WAL_CHECKPOINT_HEAD). This points dir's checkpoint at dir's data.mdb, as
 * if the cut had left them in place: the inode at bytes 24-31, then the SipHash of all but the
 * last 8 bytes, under the log's fixed key. */
static void checkpoint_rebind(const char *dir)
{
    char path[320], data[320];
    snprintf(path, sizeof path, "%s/wal.checkpoint", dir);
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint8_t buf[65536 * 2 + 64];
    size_t n = fread(buf, 1, sizeof buf, f);
    assert_true(n > 40);
    uint64_t inode = (uint64_t)st.st_ino;
    for (int i = 0; i < 8; i++)
        buf[24 + i] = (uint8_t)(inode >> (8 * i));
    static const uint8_t key[crypto_shorthash_KEYBYTES] = "parcours wal 01";
    crypto_shorthash(buf + n - 8, buf, n - 8, key);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* The files of dir a power cut could leave: data.mdb as `data` (a copy of it), the vault, the
 * checkpoint and every segment as they are now (each batch's record was flushed). */
static void cut_copy(const char *dir, const char *data, const char *to)
{
    assert_int_equal(mkdir(to, 0700), 0);
    char a[512], b[512];
    snprintf(b, sizeof b, "%s/data.mdb", to);
    copy_file(data, b);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, "keys.vault") != 0 && strncmp(e->d_name, "wal.", 4) != 0)
            continue;
        snprintf(a, sizeof a, "%s/%s", dir, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        try_copy_file(a, b); /* a segment a checkpoint removed meanwhile is not needed */
    }
    closedir(d);
    checkpoint_rebind(to);
}

/* The last seq another thread reads in s (store_info, in a read transaction of its own). */
static void *last_seq_reader(void *arg)
{
    store_t *s = arg;
    store_info_t info;
    uint64_t *out = malloc(sizeof *out);
    if (out != NULL)
        *out = store_info(s, &info) == STORE_OK ? info.last_seq : UINT64_MAX;
    return out;
}

static uint64_t last_seq_elsewhere(store_t *s)
{
    pthread_t t;
    void *got = NULL;
    assert_int_equal(pthread_create(&t, NULL, last_seq_reader, s), 0);
    assert_int_equal(pthread_join(t, &got), 0);
    assert_non_null(got);
    uint64_t seq = *(uint64_t *)got;
    free(got);
    return seq;
}

static void commit_deferred(store_t *s, const char *event_id, uint64_t expect_seq)
{
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    store_batch_defer(b);
    assert_int_equal(append_one(b, "ft93", event_id, "p93-span-1", "p2"), expect_seq);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
}

/* Commits span batches only with room allocated ahead in data.mdb for them (64 MiB, the file's
 * size unchanged), so that a span's commit does not meet a full disk after its batches were
 * acknowledged; commit_ms 0 allocates nothing. */
static void test_span_room(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    char path[320];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    for (int spanning = 0; spanning < 2; spanning++) {
        o.commit_ms = spanning ? 5 : 0;
        store_t *s = open_store(f, &o);
        commit_deferred(s, spanning ? "room-1" : "room-0", spanning ? 2 : 1);
        store_info_t info;
        assert_int_equal(store_info(s, &info), STORE_OK);
        assert_int_equal(info.spanning, spanning);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        uint64_t allocated = (uint64_t)st.st_blocks * 512;
        if (spanning) {
            assert_true(allocated >= ((uint64_t)64 << 20));
            assert_true((uint64_t)st.st_size < ((uint64_t)8 << 20));
        } else {
            assert_true(allocated < ((uint64_t)8 << 20));
        }
        store_close(&f->store);
    }
}

/* What a hostile review of spanning commits found, each kept from coming back: a span opened by
 * a batch then aborted holds LMDB's writer lock and, committed empty, took store_durable_seq
 * back to 0; a hot copy must see every acked batch and no span may open under it (its commit
 * could not grow the map); a map at its maximum takes no span (its acked batches could not be
 * committed: the store would stop where batches committed at once are answered RETRY). */
static void test_span_edges(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.commit_ms = 600000;
    store_t *s = open_store(f, &o);
    commit_deferred(s, "edge-1", 1);
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(store_durable_seq(s), 1);
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    store_batch_defer(b);
    store_batch_abort(&b);
    assert_int_equal(store_span_due(s), -1); /* nothing held open */
    uint64_t partner_seq = 0;
    assert_int_equal(store_outbox_last(s, "p2", &partner_seq), STORE_OK);
    assert_int_equal(partner_seq, 1);
    assert_int_equal(store_durable_seq(s), 1);

    /* A hot copy: the open span committed first, none opened while it runs. */
    commit_deferred(s, "edge-2", 2);
    assert_int_equal(store_durable_seq(s), 1);
    assert_int_equal(store_copy_begin(s), STORE_OK);
    assert_int_equal(store_durable_seq(s), 2);
    commit_deferred(s, "edge-3", 3);
    assert_int_equal(store_span_due(s), -1);
    assert_int_equal(store_durable_seq(s), 3);
    store_copy_end(s);
    commit_deferred(s, "edge-4", 4);
    assert_true(store_span_due(s) > 0);
    store_close(&f->store);

    /* A map that cannot grow and has less than a span's room: no span. */
    char dir[200];
    snprintf(dir, sizeof dir, "%s/at-max", f->root);
    store_options_t m = small_options();
    m.commit_ms = 600000;
    m.initial_map_size = m.max_map_size = 4 * MIB;
    store_t *t = NULL;
    assert_int_equal(store_open(dir, &m, &t), STORE_OK);
    store_info_t info;
    assert_int_equal(store_info(t, &info), STORE_OK);
    assert_false(info.spanning);
    commit_deferred(t, "max-1", 1);
    assert_int_equal(store_span_due(t), -1);
    assert_int_equal(store_durable_seq(t), 1);
    store_close(&t);
}

/* Deferred batches (store_batch_defer): acknowledged at their commit (durable in the log), seen
 * at once by the writing thread and by the next batches, by other threads and store_durable_seq
 * only once their span is committed: by a read of the writing thread, a batch that is not
 * deferred, or store_span_commit. */
static void test_span_visibility(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.commit_ms = 600000;
    store_t *s = open_store(f, &o);
    assert_int_equal(store_span_due(s), -1);
    commit_deferred(s, "span-1", 1);
    assert_true(store_span_due(s) > 0);
    assert_int_equal(store_durable_seq(s), 0);
    assert_int_equal(last_seq_elsewhere(s), 0);

    /* The next batch sees the first: its dedupe, its seq. */
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 2, &b), STORE_OK);
    store_batch_defer(b);
    uint64_t seq = 0;
    assert_int_equal(store_batch_dedupe_find(b, "ft93", "span-1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(append_one(b, "ft93", "span-2", "p93-span-1", "p2"), 2);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(last_seq_elsewhere(s), 0);
    uint64_t partner_seq = 9;
    assert_int_equal(store_outbox_last(s, "p2", &partner_seq), STORE_OK); /* commits the span */
    assert_int_equal(partner_seq, 2);

    /* The writing thread's read committed it: every thread sees both, and they count. */
    assert_int_equal(store_span_due(s), -1);
    assert_int_equal(store_durable_seq(s), 2);
    assert_int_equal(last_seq_elsewhere(s), 2);

    /* A batch not deferred commits the span with it. */
    commit_deferred(s, "span-3", 3);
    assert_int_equal(last_seq_elsewhere(s), 2);
    assert_int_equal(store_batch_begin(s, 3, &b), STORE_OK);
    assert_int_equal(append_one(b, "ft93", "span-4", "p93-span-1", "p2"), 4);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    assert_int_equal(store_durable_seq(s), 4);
    assert_int_equal(last_seq_elsewhere(s), 4);

    /* store_span_commit, and a batch the span's timer would have left waiting, aborted. */
    commit_deferred(s, "span-5", 5);
    assert_int_equal(store_batch_begin(s, 4, &b), STORE_OK);
    store_batch_defer(b);
    append_one(b, "ft93", "span-6", "p93-span-1", "p2");
    assert_int_equal(store_span_commit(s), STORE_EINVAL); /* a batch is open in the span */
    store_batch_abort(&b);
    assert_int_equal(store_span_commit(s), STORE_OK);
    assert_int_equal(store_durable_seq(s), 5);
    assert_int_equal(last_seq_elsewhere(s), 5);
    assert_int_equal(store_dedupe_find(s, "ft93", "span-6", &seq), STORE_ENOTFOUND);

    /* A clean close commits a span left open. */
    commit_deferred(s, "span-7", 6);
    store_close(&f->store);
    s = open_store(f, &o);
    assert_int_equal(last_seq_of(s), 6);
    Parcours__V1__Pathway *p = NULL;
    assert_int_equal(store_pathway_get(s, "p93-span-1", &p), STORE_OK);
    parcours__v1__pathway__free_unpacked(p, NULL);
}

/* Batch k: five events of people p93-TAG-0..4 (event ids TAG-k-j), each told to p2. */
static void commit_five(store_t *s, const char *tag, int k)
{
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 10 + k, &b), STORE_OK);
    for (int j = 0; j < 5; j++) {
        char id[32], event_id[32];
        snprintf(id, sizeof id, "p93-%s-%d", tag, j);
        snprintf(event_id, sizeof event_id, "%s-%d-%d", tag, k, j);
        append_one(b, "ft93", event_id, id, "p2");
    }
    assert_int_equal(store_batch_commit(&b), STORE_OK);
}

/* A cut that kept nothing of data.mdb written since the store opened (its first checkpoint),
 * then one that kept meta pages of garbage, then one whose last record was cut short: each open
 * finds every batch whose record was whole, and no other. */
static void test_wal_recovery(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    char at_open[160], path[320];
    snprintf(at_open, sizeof at_open, "%s/at-open.mdb", f->root);
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    copy_file(path, at_open); /* the file as the first checkpoint left it */
    for (int k = 0; k < 3; k++)
        commit_five(s, "wal", k);
    assert_int_equal(store_durable_seq(s), 15);

    char cut1[160], cut2[160], cut3[160];
    snprintf(cut1, sizeof cut1, "%s/cut1", f->root);
    snprintf(cut2, sizeof cut2, "%s/cut2", f->root);
    snprintf(cut3, sizeof cut3, "%s/cut3", f->root);
    cut_copy(f->dir, at_open, cut1);
    cut_copy(f->dir, path, cut2);
    cut_copy(f->dir, path, cut3);
    /* cut2: both meta pages garbage (a cut that kept torn meta pages). */
    snprintf(path, sizeof path, "%s/data.mdb", cut2);
    FILE *m = fopen(path, "r+b");
    assert_non_null(m);
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(fwrite(junk, 1, sizeof junk, m), sizeof junk);
    fclose(m);
    /* cut3: the last record cut short. Records are a 16-byte header ("PWAL", the payload's
     * length, little-endian, its hash) and the payload; the segment is allocated ahead, zeros
     * after the last record. */
    snprintf(path, sizeof path, "%s/wal.0000000000000001", cut3);
    FILE *seg = fopen(path, "rb");
    assert_non_null(seg);
    long at = 0, last_end = 0;
    uint8_t head[16];
    int records = 0;
    while (fseek(seg, at, SEEK_SET) == 0 && fread(head, 1, sizeof head, seg) == sizeof head &&
           memcmp(head, "PWAL", 4) == 0) {
        uint32_t len = (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16 |
                       (uint32_t)head[7] << 24;
        at += 16 + (long)len;
        last_end = at;
        records++;
    }
    fclose(seg);
    assert_int_equal(records, 3);
    assert_int_equal(truncate(path, last_end - 5), 0);

    const char *cuts[] = {cut1, cut2, cut3};
    const uint64_t expected[] = {15, 15, 10};
    for (int c = 0; c < 3; c++) {
        store_t *r = NULL;
        assert_int_equal(store_open(cuts[c], &o, &r), STORE_OK);
        assert_int_equal(last_seq_of(r), expected[c]);
        uint64_t last = 0;
        assert_int_equal(store_outbox_last(r, "p2", &last), STORE_OK);
        assert_int_equal(last, expected[c]);
        Parcours__V1__Pathway *p = NULL;
        assert_int_equal(store_pathway_get(r, "p93-wal-4", &p), STORE_OK);
        parcours__v1__pathway__free_unpacked(p, NULL);
        uint64_t seq = 0;
        assert_int_equal(store_dedupe_find(r, "ft93", "wal-2-4", &seq),
                         expected[c] == 15 ? STORE_OK : STORE_ENOTFOUND);
        /* Replayed into the file: the log is gone, and a clean close leaves none. */
        snprintf(path, sizeof path, "%s/wal.0000000000000001", cuts[c]);
        assert_int_equal(access(path, F_OK), 0); /* the new log of this open */
        store_close(&r);
        snprintf(path, sizeof path, "%s/wal.checkpoint", cuts[c]);
        assert_int_not_equal(access(path, F_OK), 0);
    }
}

/* A cut while a checkpoint runs: the writing thread has moved on to the next segment, the
 * checkpoint file still names the first. Recovery must read both segments: the first ends in
 * the zeros of its allocation, not in a record cut short. */
static void test_wal_recovery_across_segments(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.checkpoint_ms = 200; /* the first batch comes before one is due, the second after */
    for (int attempt = 0;; attempt++) {
        assert_true(attempt < 20); /* the checkpoint never outran the copy so often */
        char dir[160], at_open[160], checkpoint[160], segment1[160], path[320];
        snprintf(dir, sizeof dir, "%s/seg-%d", f->root, attempt);
        snprintf(at_open, sizeof at_open, "%s/seg-%d.mdb", f->root, attempt);
        snprintf(checkpoint, sizeof checkpoint, "%s/seg-%d.checkpoint", f->root, attempt);
        snprintf(segment1, sizeof segment1, "%s/seg-%d.wal1", f->root, attempt);
        store_t *s = NULL;
        assert_int_equal(store_open(dir, &o, &s), STORE_OK);
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        copy_file(path, at_open);
        snprintf(path, sizeof path, "%s/wal.checkpoint", dir);
        copy_file(path, checkpoint); /* names segment 1 */
        commit_five(s, "seg", 0);
        usleep(250000);
        commit_five(s, "seg", 1); /* a checkpoint is due: segment 2 from now on */
        snprintf(path, sizeof path, "%s/wal.0000000000000001", dir);
        bool kept = try_copy_file(path, segment1); /* before the checkpoint removes it */
        commit_five(s, "seg", 2);
        snprintf(path, sizeof path, "%s/wal.0000000000000002", dir);
        bool second = access(path, F_OK) == 0;
        char cut[160];
        snprintf(cut, sizeof cut, "%s/seg-%d-cut", f->root, attempt);
        if (kept && second)
            cut_copy(dir, at_open, cut); /* segment 2 and the vault as they are now */
        store_close(&s);
        if (!kept || !second)
            continue;
        snprintf(path, sizeof path, "%s/wal.checkpoint", cut);
        copy_file(checkpoint, path);
        checkpoint_rebind(cut);
        snprintf(path, sizeof path, "%s/wal.0000000000000001", cut);
        copy_file(segment1, path);
        store_t *r = NULL;
        assert_int_equal(store_open(cut, &o, &r), STORE_OK);
        assert_int_equal(last_seq_of(r), 15);
        store_info_t info;
        assert_int_equal(store_info(r, &info), STORE_OK);
        assert_int_equal(info.wal_replayed, 3);
        store_close(&r);
        return;
    }
}

/* A checkpoint of format 1 (before spanning commits: no offset), as a daemon of that version
 * leaves it at a crash, is still read: its records begin their segment. */
static void test_wal_checkpoint_format_1(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    char at_open[160], path[320], cut[160];
    snprintf(at_open, sizeof at_open, "%s/at-open.mdb", f->root);
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    copy_file(path, at_open);
    for (int k = 0; k < 3; k++)
        commit_five(s, "fmt1", k);
    snprintf(cut, sizeof cut, "%s/cut", f->root);
    cut_copy(f->dir, at_open, cut);
    store_close(&f->store);
    /* Rewritten as format 1: magic "PCRSWALC", the 8 bytes of the offset (32-39) dropped, the
     * SipHash of all but the last 8 bytes under the log's fixed key made again. */
    snprintf(path, sizeof path, "%s/wal.checkpoint", cut);
    FILE *c = fopen(path, "rb");
    assert_non_null(c);
    uint8_t buf[65536 * 2 + 64], old[65536 * 2 + 64];
    size_t n = fread(buf, 1, sizeof buf, c);
    fclose(c);
    assert_true(n > 48);
    memcpy(old, buf, 32);
    memcpy(old, "PCRSWALC", 8);
    memcpy(old + 32, buf + 40, n - 40);
    size_t m = n - 8;
    static const uint8_t key[crypto_shorthash_KEYBYTES] = "parcours wal 01";
    crypto_shorthash(old + m - 8, old, m - 8, key);
    c = fopen(path, "wb");
    assert_non_null(c);
    assert_int_equal(fwrite(old, 1, m, c), m);
    fclose(c);
    store_t *r = NULL;
    assert_int_equal(store_open(cut, &o, &r), STORE_OK);
    assert_int_equal(last_seq_of(r), 15);
    store_close(&r);
}

/* Appends the record of one put (key k, value v in dbi) to w and flushes it; the put is made
 * in txn when txn is not NULL. */
static void wal_put(wal_t *w, MDB_txn *txn, MDB_dbi dbi, const char *k, const char *v)
{
    journal_t *j = journal_new();
    assert_non_null(j);
    MDB_val key = {strlen(k), (void *)k}, value = {strlen(v), (void *)v};
    assert_int_equal(journal_add(j, dbi, &key, &value, 0), STORE_OK);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    assert_int_equal(journal_encode(j, &dbi, 1, WAL_RECORD_HEAD, &buf, &cap, &len), STORE_OK);
    assert_int_equal(wal_append(w, buf, len), STORE_OK);
    assert_int_equal(wal_sync(w), STORE_OK);
    if (txn != NULL)
        assert_int_equal(mdb_put(txn, dbi, &key, &value, 0), MDB_SUCCESS);
    free(buf);
    journal_destroy(&j);
}

/* The records a spanning commit held when it did not go through (MDB_MAP_FULL: the store grows
 * the map, which takes a synchronous checkpoint, then replays them, store.h): the checkpoint
 * names where they begin in their segment, so that a cut after it replays them, and only them.
 * And wal_uncommitted_replay, which the store uses, reads back exactly those. */
static void test_wal_checkpoint_names_uncommitted_records(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(mkdir(f->dir, 0700), 0);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(env, 1), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(txn, "t", MDB_CREATE, &dbi), MDB_SUCCESS);
    assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
    wal_t *w = NULL;
    assert_int_equal(wal_start(f->dir, env, 600000, &w), STORE_OK);

    /* Three records committed in LMDB, each marked; two more whose commit never happens. */
    static const char *const keys[] = {"k1", "k2", "k3", "k4", "k5"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
        wal_put(w, txn, dbi, keys[i], "committed");
        assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
        wal_mark_committed(w);
    }
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
    wal_put(w, txn, dbi, keys[3], "acked");
    wal_put(w, txn, dbi, keys[4], "acked");
    mdb_txn_abort(txn);
    assert_int_equal(wal_unpin(w), STORE_OK); /* the checkpoint the map's growth takes */
    assert_int_equal(wal_pin(w), STORE_OK);

    /* A cut now: what the disk holds is the checkpoint, its data file, the two segments. */
    char cut[160];
    snprintf(cut, sizeof cut, "%s/cut", f->root);
    char data[320];
    snprintf(data, sizeof data, "%s/data.mdb", f->dir);
    cut_copy(f->dir, data, cut);

    /* The writer replays them itself, and commits. */
    unsigned replayed = 0;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
    assert_int_equal(wal_uncommitted_replay(w, txn, &dbi, 1, &replayed), STORE_OK);
    assert_int_equal(replayed, 2);
    assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
    wal_mark_committed(w);
    wal_stop(&w, true);
    mdb_env_close(env);

    static const char *const names[] = {"t"};
    static const unsigned flags[] = {0};
    wal_databases_t dbs = {names, flags, 1};
    replayed = 0;
    assert_int_equal(wal_recover(cut, (size_t)64 << 20, &dbs, &replayed), STORE_OK);
    assert_int_equal(replayed, 2); /* the two after the place it names, not the three before */
    assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(env, 1), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(env, cut, MDB_NOTLS | MDB_RDONLY, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(txn, "t", 0, &dbi), MDB_SUCCESS);
    for (int i = 0; i < 5; i++) {
        MDB_val key = {strlen(keys[i]), (void *)keys[i]}, value;
        assert_int_equal(mdb_get(txn, dbi, &key, &value), MDB_SUCCESS);
        const char *want = i < 3 ? "committed" : "acked";
        assert_int_equal(value.mv_size, strlen(want));
        assert_memory_equal(value.mv_data, want, value.mv_size);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* A crashed daemon's checkpoint left beside another store's data.mdb (a restore put there, say):
 * recovery refuses it before writing anything, and the other store is whole once it is gone. */
static void test_wal_foreign_checkpoint_refused(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    store_t *s = open_store(f, &o);
    commit_five(s, "old", 0);
    char ck[160], path[320], other[160];
    snprintf(ck, sizeof ck, "%s/old.checkpoint", f->root);
    snprintf(path, sizeof path, "%s/wal.checkpoint", f->dir);
    copy_file(path, ck);
    snprintf(other, sizeof other, "%s/other", f->root);
    store_t *b = NULL;
    assert_int_equal(store_open(other, &o, &b), STORE_OK);
    for (int k = 0; k < 2; k++)
        commit_five(b, "oth", k);
    store_close(&b);
    snprintf(path, sizeof path, "%s/wal.checkpoint", other);
    copy_file(ck, path);
    assert_int_equal(store_open(other, &o, &b), STORE_ECORRUPT);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(store_open(other, &o, &b), STORE_OK);
    assert_int_equal(last_seq_of(b), 10);
    store_close(&b);
}

/* A synchronous checkpoint (the map growing) that cannot be saved: the store stops there, so
 * that no batch is acknowledged that the log and the last saved checkpoint could not bring back;
 * the next open finds every batch committed before. */
static void test_wal_failed_checkpoint_stops(void **state)
{
    fixture_t *f = *state;
    store_options_t o = small_options();
    o.checkpoint_ms = 3600000; /* only the map's growth checkpoints */
    store_t *s = open_store(f, &o);
    for (int k = 0; k < 30; k++)
        commit_five(s, "pre", k);
    char path[320];
    snprintf(path, sizeof path, "%s/wal.checkpoint.tmp", f->dir);
    assert_int_equal(mkdir(path, 0700), 0); /* the checkpoint's save fails (EISDIR) */
    static uint8_t big[60000];
    store_batch_t *b;
    assert_int_equal(store_batch_begin(s, 1, &b), STORE_OK);
    int rc = STORE_OK;
    for (int i = 0; i < 40 && rc == STORE_OK; i++) {
        char id[16];
        snprintf(id, sizeof id, "big%03d", i);
        test_event_t t;
        test_event_make(&t, "p1", id, "p93-big", 1);
        memset(big, i, sizeof big);
        t.e.raw = big;
        t.e.raw_len = sizeof big;
        rc = store_batch_append(b, &t.e, NULL);
    }
    if (rc == STORE_OK)
        rc = store_batch_commit(&b);
    store_batch_abort(&b);
    assert_int_equal(rc, STORE_EPANIC);
    assert_false(store_usable(s));
    assert_int_equal(store_batch_begin(s, 2, &b), STORE_EPANIC);
    store_close(&f->store);
    assert_int_equal(rmdir(path), 0);
    store_t *r = NULL;
    assert_int_equal(store_open(f->dir, &o, &r), STORE_OK);
    assert_int_equal(last_seq_of(r), 150);
    uint64_t seq = 0;
    assert_int_equal(store_dedupe_find(r, "ft93", "pre-29-4", &seq), STORE_OK);
    store_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadlines_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transfers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_from_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_while_map_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpoint_format_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_recovery_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_foreign_checkpoint_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpoint_names_uncommitted_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_failed_checkpoint_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pathway_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pathway_read_once_per_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_then_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pathway_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_no_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_gap_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_and_log_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_grows_within_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_growth_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_schema_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_destroys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_by_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_finished_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_unpack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_denied, setup, teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
