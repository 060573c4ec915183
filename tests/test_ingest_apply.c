/*
 * test_ingest_apply.c: the daemon's decision for one frame (daemon/ingest_apply.c), on a real
 * store, with no socket: the boundary, the sender, the dedupe record, the rules and what is
 * appended. ingest.c and the fuzz target call the same function.
 */
#define _GNU_SOURCE /* memmem, mkdtemp */
#include "rules_fixture.h"

#include <dirent.h>
#include <unistd.h>

#include "ingest_apply.h"
#include "phase_counts.h"

typedef struct world {
    char dir[64];
    store_t *store;
    partners_t *directory;
    pathway_settings_t rules;
    ingest_context_t ctx;
} world_t;

static int setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    snprintf(w->dir, sizeof(w->dir), "/tmp/parcours-apply-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    store_options_t o;
    store_options_default(&o);
    o.initial_map_size = (size_t)1 << 20;
    o.max_map_size = (size_t)64 << 20;
    o.durable = false;
    assert_int_equal(store_open(w->dir, &o, &w->store), STORE_OK);
    w->directory = fx_directory_new();
    pathway_settings_default(&w->rules);
    w->ctx = (ingest_context_t){.store = w->store,
                                .partners = w->directory,
                                .rules = &w->rules,
                                .max_frame = EVENT_FRAME_MAX,
                                .committed_at = 42};
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world_t *w = *state;
    store_batch_abort(&w->ctx.batch);
    store_close(&w->store);
    partners_destroy(&w->directory);
    DIR *d = opendir(w->dir);
    struct dirent *ent;
    while (d != NULL && (ent = readdir(d)) != NULL) {
        char path[sizeof(w->dir) + 256 + 2];
        snprintf(path, sizeof(path), "%s/%s", w->dir, ent->d_name);
        if (ent->d_name[0] != '.')
            unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(w->dir);
    free(w);
    return 0;
}

/* Applies the packed event f (or bytes) and returns the decision, its pointers cleared. */
static void apply_bytes(world_t *w, const uint8_t *frame, size_t len, const char *authenticated,
                        ingest_decision_t *d)
{
    ingest_apply(&w->ctx, frame, len, authenticated, d);
    assert_int_equal(w->ctx.batch_error, 0);
    ingest_decision_clear(d);
    assert_null(d->event);
    assert_null(d->current);
}

static void apply_event(world_t *w, fx_event_t *f, const char *authenticated, ingest_decision_t *d)
{
    size_t len;
    uint8_t *frame = fx_pack(&f->e.base, &len);
    apply_bytes(w, frame, len, authenticated, d);
    free(frame);
}

static void commit(world_t *w)
{
    assert_int_equal(store_batch_commit(&w->ctx.batch), STORE_OK);
}

static void test_refusals_before_the_store(void **state)
{
    world_t *w = *state;
    ingest_decision_t d;
    static const uint8_t noise[] = {0xff, 0xff, 0xff};
    apply_bytes(w, noise, sizeof(noise), NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(REJECTED));
    assert_int_equal(d.code, ERROR_CODE(MALFORMED));
    assert_false(d.needs_commit);
    assert_string_equal(d.event_id, "");
    /* Nothing a refusal of the boundary decides needs a batch. */
    assert_null(w->ctx.batch);

    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    apply_event(w, &f, "ft93", &d);
    assert_int_equal(d.code, ERROR_CODE(NOT_AUTHORISED));
    assert_string_equal(d.partner_id, "ft93"); /* the log names who sent it: its key's */
    assert_string_equal(d.event_id, f.event_id);
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "nobody93");
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.code, ERROR_CODE(NOT_AUTHORISED));
    assert_string_equal(d.partner_id, "nobody93");
    assert_null(w->ctx.batch);
}

static void test_accepted_then_duplicate(void **state)
{
    world_t *w = *state;
    ingest_decision_t d, again;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    assert_int_equal(d.seq, 1);
    assert_int_equal(d.version, 1);
    assert_true(d.needs_commit);
    /* In the same batch and after its commit: the original seq. */
    apply_event(w, &f, NULL, &again);
    assert_int_equal(again.status, ACK_STATUS(DUPLICATE));
    assert_int_equal(again.seq, 1);
    commit(w);
    apply_event(w, &f, NULL, &again);
    assert_int_equal(again.status, ACK_STATUS(DUPLICATE));
    assert_int_equal(again.seq, 1);
    /* A rejection of the rules also depends on the store: RETRY if the batch fails. */
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(REJECTED));
    assert_int_equal(d.code, ERROR_CODE(INVALID_TRANSITION));
    assert_true(d.needs_commit);
    /* An employer's ack carries no version. */
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "employer93";
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    f.job_placed.employer_partner_id = "";
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    assert_int_equal(d.version, 0);
}

/* What the log holds is the canonical encoding of the checked event, not the frame. */
static void test_the_log_holds_the_checked_event(void **state)
{
    world_t *w = *state;
    fx_event_t first, second;
    fx_event_init(&first, EVENT_TYPE(ORIENTATION_DECIDED), "caf93");
    first.orientation_decided.structure_id = "ccas93";
    fx_event_init(&second, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    second.e.event_id = first.e.event_id;
    size_t len1, len2;
    uint8_t *a = fx_pack(&first.e.base, &len1), *b = fx_pack(&second.e.base, &len2);
    uint8_t *frame = malloc(len1 + len2);
    assert_non_null(frame);
    memcpy(frame, a, len1);
    memcpy(frame + len1, b, len2);
    ingest_decision_t d;
    apply_bytes(w, frame, len1 + len2, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    commit(w);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(w->store, d.seq, &entry), STORE_OK);
    assert_int_equal(entry.raw_len, len2);
    assert_memory_equal(entry.raw, b, len2);
    assert_null(memmem(entry.raw, entry.raw_len, "ccas93", 6));
    assert_int_equal(entry.committed_at, 42);
    store_log_entry_clear(&entry);
    free(frame);
    free(a);
    free(b);
}

/* The counts per territory and phase: loaded from the store, then moved pathway by pathway. */
static void test_phase_counts(void **state)
{
    world_t *w = *state;
    ingest_decision_t d;
    fx_event_t f;
    static const char *const ids[] = {"B-1", "B-2", "B-3"};
    for (size_t i = 0; i < 3; i++) {
        fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
        f.e.beneficiary_id = (char *)ids[i];
        apply_event(w, &f, NULL, &d);
        assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    }
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75");
    f.beneficiary_registered.territory = "75";
    apply_event(w, &f, NULL, &d);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.e.beneficiary_id = "B-1";
    apply_event(w, &f, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    commit(w);
    phase_counts_t *c;
    assert_int_equal(phase_counts_load(w->store, &c), STORE_OK);
    long r93 = phase_counts_find(c, "93"), r75 = phase_counts_find(c, "75");
    assert_true(r93 >= 0 && r75 >= 0);
    assert_int_equal(phase_counts_find(c, "92"), -1);
    assert_int_equal(phase_counts_get(c, (size_t)r93, PHASE(REFERRED)), 2);
    assert_int_equal(phase_counts_get(c, (size_t)r93, PHASE(ORIENTED)), 1);
    assert_int_equal(phase_counts_get(c, (size_t)r75, PHASE(REFERRED)), 1);
    /* A move takes one from a phase and gives it to another, across territories too. */
    assert_int_equal(phase_counts_move(c, "93", PHASE(ORIENTED), "93", PHASE(EXITED)), 0);
    assert_int_equal(phase_counts_move(c, "75", PHASE(REFERRED), "92", PHASE(REFERRED)), 0);
    assert_int_equal(phase_counts_move(c, NULL, 0, "93", PHASE(REFERRED)), 0);
    r93 = phase_counts_find(c, "93");
    assert_int_equal(phase_counts_get(c, (size_t)r93, PHASE(ORIENTED)), 0);
    assert_int_equal(phase_counts_get(c, (size_t)r93, PHASE(EXITED)), 1);
    assert_int_equal(phase_counts_get(c, (size_t)r93, PHASE(REFERRED)), 3);
    assert_int_equal(phase_counts_get(c, (size_t)phase_counts_find(c, "75"), PHASE(REFERRED)), 0);
    assert_int_equal(phase_counts_get(c, (size_t)phase_counts_find(c, "92"), PHASE(REFERRED)), 1);
    assert_int_equal(phase_counts_rows(c), 3);
    phase_counts_destroy(&c);
    assert_null(c);
}

/* Collects who was told of a log entry. */
static int told_count(const char *partner_id, uint64_t partner_seq, void *ctx)
{
    (void)partner_id;
    (void)partner_seq;
    (*(size_t *)ctx)++;
    return 0;
}

/* A retraction on the real store: the person's events read back, the one it names found by its
 * sender's id (in the batch that appended it, and after a commit), the pathway recomputed, the
 * retraction stored with the seq filled in and told to who was told, the event a tombstone. */
static void test_retraction_in_the_store(void **state)
{
    world_t *w = *state;
    ingest_decision_t d;
    fx_event_t reg, orient, referent, appointment, contract, retraction;
    fx_event_init(&reg, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    apply_event(w, &reg, NULL, &d);
    fx_event_init(&orient, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    apply_event(w, &orient, NULL, &d);
    fx_event_init(&referent, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    referent.referent_assigned.referent_partner_id = "ml93";
    apply_event(w, &referent, NULL, &d);
    fx_event_init(&appointment, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    apply_event(w, &appointment, NULL, &d);
    uint64_t appointment_seq = d.seq;
    commit(w);
    fx_event_init(&contract, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    apply_event(w, &contract, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    uint64_t contract_seq = d.seq, version = d.version;
    size_t told = 0;
    assert_int_equal(store_batch_log_told(w->ctx.batch, contract_seq, told_count, &told), STORE_OK);
    assert_int_equal(told, 2); /* cd93 and ft93 */

    /* In the batch that appended it. */
    fx_event_init(&retraction, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    retraction.event_retracted.retracted_event_id = contract.event_id;
    apply_event(w, &retraction, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    assert_int_equal(d.version, version + 1);
    uint64_t retraction_seq = d.seq;
    commit(w);
    Parcours__V1__Pathway *p;
    assert_int_equal(store_pathway_get(w->store, FX_BENEFICIARY, &p), STORE_OK);
    assert_null(p->contract);
    assert_non_null(p->last_appointment);
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));
    assert_int_equal(p->version, version + 1);
    parcours__v1__pathway__free_unpacked(p, NULL);
    store_log_entry_t entry;
    assert_int_equal(store_log_get(w->store, contract_seq, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_WITHDRAWN);
    assert_int_equal(entry.type, EVENT_TYPE(CONTRACT_SIGNED)); /* the tombstone keeps its type */
    assert_null(entry.raw);
    store_log_entry_clear(&entry);
    assert_int_equal(store_log_get(w->store, retraction_seq, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_EVENT);
    Parcours__V1__Event *stored = parcours__v1__event__unpack(NULL, entry.raw_len, entry.raw);
    assert_non_null(stored);
    assert_int_equal(stored->payload_case, PAYLOAD(EVENT_RETRACTED));
    assert_int_equal(stored->event_retracted->retracted_seq, contract_seq);
    assert_string_equal(stored->event_retracted->retracted_event_id, contract.event_id);
    parcours__v1__event__free_unpacked(stored, NULL);
    store_log_entry_clear(&entry);
    told = 0;
    assert_int_equal(store_log_told(w->store, retraction_seq, told_count, &told), STORE_OK);
    assert_int_equal(told, 2);

    /* After a commit; then the same retraction again is a duplicate, and naming the retracted
     * event again finds nothing standing. */
    fx_event_init(&retraction, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    retraction.event_retracted.retracted_event_id = appointment.event_id;
    apply_event(w, &retraction, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    commit(w);
    apply_event(w, &retraction, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(DUPLICATE));
    assert_int_equal(store_log_get(w->store, appointment_seq, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_WITHDRAWN);
    store_log_entry_clear(&entry);
    fx_event_t again;
    fx_event_init(&again, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    again.event_retracted.retracted_event_id = appointment.event_id;
    apply_event(w, &again, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(REJECTED));
    assert_int_equal(d.code, ERROR_CODE(INVALID_TRANSITION));
    /* The retracted event re-sent: its id stays taken. */
    apply_event(w, &appointment, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(DUPLICATE));
    assert_int_equal(d.seq, appointment_seq);
    /* A blind sender: the blind sentence, and the store is not written. */
    fx_event_init(&again, EVENT_TYPE(EVENT_RETRACTED), "asso93");
    again.event_retracted.retracted_event_id = appointment.event_id;
    apply_event(w, &again, NULL, &d);
    assert_int_equal(d.code, ERROR_CODE(NOT_AUTHORISED));
    commit(w);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(store_pathway_seqs(w->store, FX_BENEFICIARY, &seqs, &n), STORE_OK);
    assert_int_equal(n, 7); /* five events, two retractions; the retracted ones as tombstones */
    free(seqs);
}

/* Partner ids told of a log entry, one string ("a,b,c,"). */
static int told_names(const char *partner_id, uint64_t partner_seq, void *ctx)
{
    (void)partner_seq;
    strcat((char *)ctx, partner_id);
    strcat((char *)ctx, ",");
    return 0;
}

/* A retracted event keeps who was told of it, sealed with the person: a partner told of it and
 * of nothing else (a member whose joining was retracted, no longer told of anything) still gets
 * the Erasure notice when the person is erased. The erasure then leaves a bare tombstone. */
static void test_a_retracted_event_still_reaches_its_partners_at_erasure(void **state)
{
    world_t *w = *state;
    ingest_decision_t d;
    fx_event_t reg, orient, referent, joined, retraction;
    fx_event_init(&reg, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    apply_event(w, &reg, NULL, &d);
    fx_event_init(&orient, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    apply_event(w, &orient, NULL, &d);
    fx_event_init(&referent, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    referent.referent_assigned.referent_partner_id = "ml93";
    apply_event(w, &referent, NULL, &d);
    fx_event_init(&joined, EVENT_TYPE(MEMBER_JOINED), "ml93");
    joined.member_joined.member_id = "asso93";
    apply_event(w, &joined, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    uint64_t joined_seq = d.seq;
    commit(w);
    fx_event_init(&retraction, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    retraction.event_retracted.retracted_event_id = joined.event_id;
    apply_event(w, &retraction, NULL, &d);
    assert_int_equal(d.status, ACK_STATUS(ACCEPTED));
    uint64_t retraction_seq = d.seq;
    commit(w);
    char names[256] = "";
    assert_int_equal(store_log_told(w->store, retraction_seq, told_names, names), STORE_OK);
    assert_null(strstr(names, "asso93")); /* no member now: told nothing after */
    names[0] = '\0';
    assert_int_equal(store_log_told(w->store, joined_seq, told_names, names), STORE_OK);
    assert_non_null(strstr(names, "asso93"));
    store_log_entry_t entry;
    assert_int_equal(store_log_get(w->store, joined_seq, &entry), STORE_OK);
    assert_int_equal(entry.kind, STORE_LOG_WITHDRAWN);
    assert_null(entry.raw);
    store_log_entry_clear(&entry);

    store_batch_t *b;
    assert_int_equal(store_batch_begin(w->store, 43, &b), STORE_OK);
    Parcours__V1__Erasure notice = PARCOURS__V1__ERASURE__INIT;
    notice.beneficiary_id = FX_BENEFICIARY;
    notice.reason = PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_REQUEST;
    uint8_t packed[128];
    size_t packed_len = parcours__v1__erasure__pack(&notice, packed);
    store_erasure_t erased;
    assert_int_equal(store_batch_erase(b, FX_BENEFICIARY, packed, packed_len, &erased), STORE_OK);
    /* Three standing events and the retraction; the retracted one was destroyed already. */
    assert_int_equal(erased.events, 4);
    uint64_t notice_seq = erased.notice_seq;
    parcours__v1__pathway__free_unpacked(erased.pathway, NULL);
    assert_int_equal(store_batch_commit(&b), STORE_OK);
    names[0] = '\0';
    assert_int_equal(store_log_told(w->store, notice_seq, told_names, names), STORE_OK);
    assert_non_null(strstr(names, "asso93"));
    names[0] = '\0';
    assert_int_equal(store_log_told(w->store, joined_seq, told_names, names), STORE_OK);
    assert_string_equal(names, ""); /* a bare tombstone now */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refusals_before_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accepted_then_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_log_holds_the_checked_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phase_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retraction_in_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_retracted_event_still_reaches_its_partners_at_erasure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
