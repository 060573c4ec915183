/*
 * test_retraction.c: rectification in the pure rules (pathway_retract), written from
 * docs/domain.md ("Rectification") and the comments of EventRetracted in proto/parcours.proto.
 *
 * The fixture's world keeps only the current pathway; a retraction is judged against the
 * person's events, so this file keeps them too: every accepted event goes into a log, in order,
 * and a retraction is given the events still standing, the one it names, and who was told of it.
 */
#include "rules_fixture.h"

#define W       ((fx_world_t *)*state)
#define LOG_MAX 64

/* The person's events as the store would hold them: standing, or retracted. */
typedef struct history_log {
    fx_event_t *events[LOG_MAX];
    bool retracted[LOG_MAX];
    size_t n;
} history_log_t;

static history_log_t hlog;

static int setup(void **state)
{
    memset(&hlog, 0, sizeof(hlog));
    return fx_setup(state);
}

/* Forgets the person's events (a new person, as far as the log goes). */
static void log_clear(void)
{
    for (size_t i = 0; i < hlog.n; i++)
        free(hlog.events[i]);
    memset(&hlog, 0, sizeof(hlog));
}

static int teardown(void **state)
{
    log_clear();
    return fx_teardown(state);
}

static fx_event_t *log_new(Parcours__V1__EventType type, const char *sender)
{
    assert_true(hlog.n < LOG_MAX);
    fx_event_t *f = malloc(sizeof(*f));
    assert_non_null(f);
    fx_event_init(f, type, sender);
    hlog.events[hlog.n] = f;
    return f;
}

/* Accepts the event log_new made last, and keeps it. */
static const Parcours__V1__Pathway *log_accept(fx_world_t *w, fx_event_t *f)
{
    assert_ptr_equal(hlog.events[hlog.n], f);
    const Parcours__V1__Pathway *p = fx_accept(w, f);
    hlog.n++;
    return p;
}

static fx_event_t *log_send(fx_world_t *w, Parcours__V1__EventType type, const char *sender)
{
    fx_event_t *f = log_new(type, sender);
    log_accept(w, f);
    return f;
}

/* A retraction by sender of its event retracted_id, judged against the log, into *out.
 * told: the partners told of the retracted event. Returns what pathway_retract returned; an
 * accepted one becomes the current pathway, its event goes into the log and the retracted one
 * stands no more. */
static int retract(fx_world_t *w, const char *sender, const char *retracted_id,
                   uint64_t expected_version, const char *const *told, size_t n_told,
                   pathway_outcome_t *out)
{
    fx_event_t *f = log_new(EVENT_TYPE(EVENT_RETRACTED), sender);
    f->event_retracted.retracted_event_id = (char *)retracted_id;
    f->e.expected_version = expected_version;
    const Parcours__V1__Event *standing[LOG_MAX];
    size_t n = 0, index = SIZE_MAX, at[LOG_MAX];
    for (size_t i = 0; i < hlog.n; i++) {
        if (hlog.retracted[i])
            continue;
        const Parcours__V1__Event *e = &hlog.events[i]->e;
        if (strcmp(e->partner_id, sender) == 0 && strcmp(e->event_id, retracted_id) == 0)
            index = n;
        at[n] = i;
        standing[n++] = e;
    }
    /* Seqs as the log would number them: the position in the log, from 1. */
    pathway_history_t h = {
        standing, n,     index == SIZE_MAX ? n : index, index == SIZE_MAX ? 0 : at[index] + 1,
        told,     n_told};
    const Parcours__V1__Pathway *before = fx_current(w);
    size_t blen;
    uint8_t *snapshot = fx_snapshot(before ? &before->base : NULL, &blen);
    memset(out, 0, sizeof(*out));
    int rc =
        pathway_retract(before, &f->e, fx_partner(w, sender), w->directory, &w->settings, &h, out);
    size_t alen;
    uint8_t *after = fx_snapshot(before ? &before->base : NULL, &alen);
    fx_assert_same(snapshot, blen, after, alen, "the current pathway");
    free(snapshot);
    free(after);
    if (rc == 0) {
        hlog.retracted[at[h.retracted]] = true;
        hlog.n++;
    } else {
        free(f);
    }
    return rc;
}

/* As retract(), expecting acceptance: the outcome becomes the world's. */
static const pathway_outcome_t *retract_ok(fx_world_t *w, const char *sender, const char *id,
                                           const char *const *told, size_t n_told)
{
    pathway_outcome_t out;
    int rc = retract(w, sender, id, 0, told, n_told, &out);
    if (rc != 0)
        fail_msg("retraction of %s by %s refused (rc %d, code %d): %s", id, sender, rc,
                 (int)out.code, out.message);
    pathway_outcome_clear(&w->last);
    w->last = out;
    return &w->last;
}

/* As retract(), expecting a refusal with code; its sentence goes to message. */
static void retract_refused(fx_world_t *w, const char *sender, const char *id,
                            Parcours__V1__ErrorCode code, char message[PATHWAY_MESSAGE_MAX])
{
    pathway_outcome_t out;
    int rc = retract(w, sender, id, 0, NULL, 0, &out);
    if (rc != 1 || out.code != code)
        fail_msg("retraction of %s by %s: expected refusal %d, got rc %d code %d (%s)", id, sender,
                 (int)code, rc, (int)out.code, out.message);
    assert_null(out.pathway);
    assert_int_equal(out.n_recipients, 0);
    if (message != NULL)
        memcpy(message, out.message, PATHWAY_MESSAGE_MAX);
    pathway_outcome_clear(&out);
}

/* Registered by cd93, oriented by cd93 to ml93, ml93 its own referent. */
static void accompanied(fx_world_t *w)
{
    fx_reset(w);
    log_clear();
    log_send(w, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    log_send(w, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    fx_event_t *f = log_new(EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    f->referent_assigned.referent_partner_id = "ml93";
    log_accept(w, f);
}

static bool has_recipient(const pathway_outcome_t *o, const char *id)
{
    return fx_has_recipient(o, id);
}

/* The pathway is what its other events make: a contract retracted is as if never signed, at the
 * next version, told to who was told of it and to no one else. */
static void test_retract_recomputes(void **state)
{
    accompanied(W);
    fx_event_t *appointment = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    fx_event_t *contract = log_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    (void)appointment;
    const Parcours__V1__Pathway *p = fx_current(W);
    assert_int_equal(p->phase, PHASE(CONTRACTED));
    uint64_t version = p->version;
    int64_t created = p->created_at;
    const char *told[] = {"cd93", "ft93", "ml93", "asso93"}; /* asso93 left since, say */
    const pathway_outcome_t *o = retract_ok(W, "ml93", contract->event_id, told, 4);
    p = o->pathway;
    assert_null(p->contract);
    assert_non_null(p->referent);
    assert_non_null(p->last_appointment);
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));
    assert_int_equal(p->version, version + 1);
    assert_int_equal(o->version, version + 1);
    assert_int_equal(p->created_at, created);
    assert_string_equal(p->beneficiary_id, FX_BENEFICIARY);
    /* Told: who was told of the contract and may still see the pathway, not its sender (no
     * echo). asso93, told of it once and no member now, is told nothing after it left. */
    assert_int_equal(o->n_recipients, 2);
    assert_true(has_recipient(o, "cd93"));
    assert_true(has_recipient(o, "ft93"));
    assert_false(has_recipient(o, "asso93"));
    assert_false(has_recipient(o, "ml93"));
    /* A contract may be signed again, on the recomputed pathway. */
    log_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    assert_int_equal(fx_current(W)->version, version + 2);
}

/* A deadline missed stays missed when the pathway is computed again: parcoursd's own event in
 * the history is neither judged nor dropped. */
static void test_retract_keeps_deadlines_missed(void **state)
{
    accompanied(W);
    fx_event_t *appointment = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    /* The contract's month passed: parcoursd's DeadlineMissed, as the daemon writes it. */
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(fx_current(W), &W->settings.deadlines, due);
    assert_true(n >= 1);
    assert_int_equal(due[0].kind, PARCOURS__V1__DEADLINE_KIND__DEADLINE_KIND_CONTRACT);
    static Parcours__V1__DeadlineMissed missed = PARCOURS__V1__DEADLINE_MISSED__INIT;
    missed.kind = due[0].kind;
    missed.due_at = due[0].due_at;
    missed.since = due[0].since;
    fx_event_t *f = log_new(EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    f->e.partner_id = PARTNERS_DAEMON_ID;
    f->e.payload_case = PAYLOAD(DEADLINE_MISSED);
    f->e.deadline_missed = &missed;
    f->e.occurred_at = due[0].due_at;
    pathway_outcome_t out;
    assert_int_equal(
        pathway_deadline_missed(fx_current(W), &f->e, W->directory, &W->settings.deadlines, &out),
        0);
    pathway_outcome_clear(&W->last);
    W->last = out;
    hlog.n++;
    uint64_t version = fx_current(W)->version;
    const char *told[] = {"cd93", "ml93"};
    const pathway_outcome_t *o = retract_ok(W, "ml93", appointment->event_id, told, 2);
    assert_null(o->pathway->last_appointment);
    assert_int_equal(o->pathway->version, version + 1);
    assert_int_equal(o->pathway->n_deadlines_missed, 1);
    assert_int_equal(o->pathway->deadlines_missed[0]->kind,
                     PARCOURS__V1__DEADLINE_KIND__DEADLINE_KIND_CONTRACT);
}

/* Told only to who was told: a partner that never heard of the event hears nothing of its
 * retraction, and one that is no longer a partner of the territory is not named. */
static void test_retract_told_only_to_who_was_told(void **state)
{
    accompanied(W);
    fx_event_t *appointment = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    const char *told[] = {"cd93", "ml75", "no-such-partner"};
    const pathway_outcome_t *o = retract_ok(W, "ml93", appointment->event_id, told, 3);
    assert_int_equal(o->n_recipients, 1);
    assert_string_equal(o->recipients[0], "cd93");
    assert_null(o->pathway->last_appointment);
}

/* A later event that relied on the retracted one: refused, with a sentence that says which
 * only to who may know it. */
static void test_retract_refused_when_later_events_rely_on_it(void **state)
{
    char message[PATHWAY_MESSAGE_MAX];
    /* ml93's own later contract relies on its referent: it is named. */
    accompanied(W);
    fx_event_t *referent = hlog.events[2];
    fx_event_t *contract = log_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    uint64_t version = fx_current(W)->version;
    retract_refused(W, "ml93", referent->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, contract->event_id));
    assert_non_null(strstr(message, "ContractSigned"));
    assert_non_null(strstr(message, "Retract that one first"));
    assert_int_equal(fx_current(W)->version, version); /* nothing changed */
    /* Retracting the contract first, then the referent: both accepted. */
    retract_ok(W, "ml93", contract->event_id, NULL, 0);
    const pathway_outcome_t *o = retract_ok(W, "ml93", referent->event_id, NULL, 0);
    assert_null(o->pathway->referent);
    assert_int_equal(o->pathway->phase, PHASE(ORIENTED));

    /* Another partner's later event: a member retractor is not told whose, nor which. */
    accompanied(W);
    fx_event_t *joined = log_new(EVENT_TYPE(MEMBER_JOINED), "ml93");
    joined->member_joined.member_id = "asso93";
    log_accept(W, joined);
    fx_event_t *asso = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    retract_refused(W, "ml93", joined->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_null(strstr(message, "asso93"));
    assert_null(strstr(message, asso->event_id));
    assert_null(strstr(message, "Appointment"));
    assert_non_null(strstr(message, "another partner"));

    /* A territory-wide retractor sees the whole pathway: it is told which. */
    accompanied(W);
    joined = log_new(EVENT_TYPE(MEMBER_JOINED), "cd93");
    joined->member_joined.member_id = "asso93";
    log_accept(W, joined);
    asso = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    retract_refused(W, "cd93", joined->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "asso93"));
    assert_non_null(strstr(message, asso->event_id));
}

/* What may not be retracted, and a name that finds nothing. */
static void test_retract_what_stands_and_what_does_not(void **state)
{
    char message[PATHWAY_MESSAGE_MAX];
    accompanied(W);
    fx_event_t *registration = hlog.events[0];
    retract_refused(W, "cd93", registration->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "erase"));
    fx_event_t *appointment = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    retract_ok(W, "ml93", appointment->event_id, NULL, 0);
    /* Retracted already: it stands no more. */
    retract_refused(W, "ml93", appointment->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, appointment->event_id));
    /* A retraction is not retracted. */
    fx_event_t *retraction = hlog.events[hlog.n - 1];
    assert_int_equal(retraction->e.payload_case, PAYLOAD(EVENT_RETRACTED));
    retract_refused(W, "ml93", retraction->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "new event_id"));
    /* Another partner's event: only the sender's own can be retracted, by its own id. */
    fx_event_t *orientation = hlog.events[1];
    retract_refused(W, "ml93", orientation->event_id, ERROR_CODE(INVALID_TRANSITION), NULL);
    retract_refused(W, "ml93", "ev-never-sent", ERROR_CODE(INVALID_TRANSITION), NULL);
}

/* No oracle: a retractor that may not see the pathway gets the one sentence of a blind sender,
 * whether it names an event of its own, a retracted one, or nothing, and whatever the state. */
static void test_retract_blind_sender(void **state)
{
    char blind[PATHWAY_MESSAGE_MAX], message[PATHWAY_MESSAGE_MAX];
    accompanied(W);
    fx_event_t *joined = log_new(EVENT_TYPE(MEMBER_JOINED), "ml93");
    joined->member_joined.member_id = "asso93";
    log_accept(W, joined);
    fx_event_t *own = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    fx_event_t *left = log_new(EVENT_TYPE(MEMBER_LEFT), "ml93");
    left->member_left.member_id = "asso93";
    log_accept(W, left);
    /* What any event of asso93 gets, now that it left. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), blind);
    retract_refused(W, "asso93", own->event_id, ERROR_CODE(NOT_AUTHORISED), message);
    assert_string_equal(message, blind);
    retract_refused(W, "asso93", "ev-never-sent", ERROR_CODE(NOT_AUTHORISED), message);
    assert_string_equal(message, blind);
    /* No pathway at all: the same sentence. */
    char own_id[EVENT_ID_MAX + 1];
    snprintf(own_id, sizeof(own_id), "%s", own->event_id);
    fx_reset(W);
    log_clear();
    retract_refused(W, "asso93", own_id, ERROR_CODE(NOT_AUTHORISED), message);
    assert_string_equal(message, blind);
    /* A departement that covers every territory of the directory may learn there is none...
     * cd93 does not (cd75 and the 75/92 CAF exist): blind too. */
    retract_refused(W, "cd93", own_id, ERROR_CODE(NOT_AUTHORISED), NULL);
}

/* A retraction is judged within the pathway's current episode: an earlier episode is over,
 * its events stand no more to be retracted, and they are not replayed (its partners may not be
 * this one's: nothing of it may show in the answer). The episode keeps its number. */
static void test_retract_within_the_episode(void **state)
{
    char message[PATHWAY_MESSAGE_MAX];
    accompanied(W);
    fx_event_t *old = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    log_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    log_send(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_event_t *now = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    assert_int_equal(fx_current(W)->episode, 2);
    retract_refused(W, "cd93", old->event_id, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "stands"));
    const char *told[] = {"ft93", "ml93"}; /* ml93, of the first episode only, sees none now */
    const pathway_outcome_t *o = retract_ok(W, "cd93", now->event_id, told, 2);
    assert_int_equal(o->pathway->episode, 2);
    assert_null(o->pathway->last_appointment);
    assert_int_equal(o->n_recipients, 1);
    assert_string_equal(o->recipients[0], "ft93");
}

/* An exit sent in error is retracted on the exited pathway: it opens again, with its group.
 * Only by a sender that still sees it: the group ends with the exit, and a former member must
 * not learn from a retraction's answer whether the person came back since (no oracle). */
static void test_retract_exit(void **state)
{
    char blind[PATHWAY_MESSAGE_MAX], message[PATHWAY_MESSAGE_MAX];
    accompanied(W);
    fx_event_t *exited = log_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    assert_int_equal(fx_current(W)->phase, PHASE(EXITED));
    const char *told[] = {"cd93", "ft93", "ml93"};
    const pathway_outcome_t *o = retract_ok(W, "cd93", exited->event_id, told, 3);
    assert_null(o->pathway->exit);
    assert_true(pathway_is_open(o->pathway));
    assert_true(fx_has_member(o->pathway, "ml93"));
    assert_int_equal(o->pathway->phase, PHASE(ACCOMPANIED));
    assert_true(has_recipient(o, "ml93"));
    /* Acting on it again works. */
    log_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");

    /* The referent's partner's exit: it sees the pathway no more. */
    exited = log_send(W, EVENT_TYPE(PATHWAY_EXITED), "ml93");
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), blind);
    retract_refused(W, "ml93", exited->event_id, ERROR_CODE(NOT_AUTHORISED), message);
    assert_string_equal(message, blind);
}

/* A suspension's retraction changes the version no more than the suspension did: the members
 * that were not told of either would read it from the version. */
static void test_retract_suspension_keeps_version(void **state)
{
    accompanied(W);
    const Parcours__V1__Pathway *p = fx_current(W);
    uint64_t version = p->version;
    int64_t updated = p->updated_at;
    fx_event_t *suspended = log_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
    const char *told[] = {"cd93", "ml93"};
    const pathway_outcome_t *o = retract_ok(W, "ft93", suspended->event_id, told, 2);
    assert_null(o->pathway->suspension);
    assert_int_equal(o->pathway->version, version);
    assert_int_equal(o->pathway->updated_at, updated);
    assert_int_equal(o->n_recipients, 2);
}

/* The checks of every event hold for a retraction: the version expected, what the partners
 * file narrows, the minimised kinds' version. */
static void test_retract_checks_of_every_event(void **state)
{
    accompanied(W);
    fx_event_t *appointment = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    uint64_t version = fx_current(W)->version;
    pathway_outcome_t out;
    assert_int_equal(retract(W, "ml93", appointment->event_id, version + 7, NULL, 0, &out), 1);
    assert_int_equal(out.code, ERROR_CODE(VERSION_CONFLICT));
    pathway_outcome_clear(&out);
    /* Accepted at the version it expected; the events recomputed are not held to theirs. */
    assert_int_equal(retract(W, "ml93", appointment->event_id, version, NULL, 0, &out), 0);
    pathway_outcome_clear(&W->last);
    W->last = out;
    assert_int_equal(fx_current(W)->version, version + 1);
    fx_event_t *later = log_new(EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    later->e.expected_version = version + 1;
    log_accept(W, later);
    fx_event_t *contract = log_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    retract_ok(W, "ml93", contract->event_id, NULL, 0);

    /* A retracted_seq given must be the named event's: what a partner was sent, sent back as
     * it came, is judged like any frame. */
    fx_event_t *named = log_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    uint64_t named_seq = hlog.n; /* as retract() numbers them: the log position, from 1 */
    const Parcours__V1__Event *all[LOG_MAX];
    size_t n_all = 0, index = 0;
    for (size_t i = 0; i < hlog.n; i++)
        if (!hlog.retracted[i]) {
            if (hlog.events[i] == named)
                index = n_all;
            all[n_all++] = &hlog.events[i]->e;
        }
    pathway_history_t hb = {all, n_all, index, named_seq, NULL, 0};
    fx_event_t seq_given;
    fx_event_init(&seq_given, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    seq_given.event_retracted.retracted_event_id = named->event_id;
    seq_given.event_retracted.retracted_seq = named_seq + 1;
    assert_int_equal(pathway_retract(fx_current(W), &seq_given.e, fx_partner(W, "ml93"),
                                     W->directory, &W->settings, &hb, &out),
                     1);
    assert_int_equal(out.code, ERROR_CODE(INVALID_TRANSITION));
    assert_non_null(strstr(out.message, "retracted_seq"));
    pathway_outcome_clear(&out);
    seq_given.event_retracted.retracted_seq = named_seq;
    assert_int_equal(pathway_retract(fx_current(W), &seq_given.e, fx_partner(W, "ml93"),
                                     W->directory, &W->settings, &hb, &out),
                     0);
    pathway_outcome_clear(&out);

    /* The partners file narrows what a partner may emit: retractions too. */
    partner_t narrowed = *fx_partner(W, "ml93");
    narrowed.may_emit = PARTNERS_EMIT_BIT(EVENT_TYPE(APPOINTMENT_RECORDED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    f.event_retracted.retracted_event_id = later->event_id;
    const Parcours__V1__Event *standing[] = {&later->e};
    pathway_history_t h = {standing, 1, 0, 1, NULL, 0};
    assert_int_equal(
        pathway_retract(fx_current(W), &f.e, &narrowed, W->directory, &W->settings, &h, &out), 1);
    assert_int_equal(out.code, ERROR_CODE(NOT_AUTHORISED));
    assert_non_null(strstr(out.message, "narrows"));
    pathway_outcome_clear(&out);
}

/* An employer or a training provider retracts its own events, told the version it may see (0),
 * and may not name one to compare. */
static void test_retract_minimised_sender(void **state)
{
    accompanied(W);
    fx_event_t *joined = log_new(EVENT_TYPE(MEMBER_JOINED), "ml93");
    joined->member_joined.member_id = "trainer93";
    log_accept(W, joined);
    fx_event_t *training = log_new(EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    training->training_entered.provider_id = "";
    log_accept(W, training);
    assert_int_equal(fx_current(W)->phase, PHASE(IN_TRAINING));
    pathway_outcome_t out;
    assert_int_equal(retract(W, "trainer93", training->event_id, 3, NULL, 0, &out), 1);
    assert_int_equal(out.code, ERROR_CODE(NOT_AUTHORISED));
    pathway_outcome_clear(&out);
    const char *told[] = {"cd93", "ft93", "ml93"};
    const pathway_outcome_t *o = retract_ok(W, "trainer93", training->event_id, told, 3);
    assert_null(o->pathway->training);
    assert_int_equal(o->version, 0);
    assert_int_equal(o->n_recipients, 3);
}

/* A minimised recipient is sent a retraction without the retracted event's id (it was sent that
 * event without it): it matches it by retracted_seq. */
static void test_retraction_minimised_view(void **state)
{
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    f.event_retracted.retracted_event_id = "ev-ml93-000042";
    f.event_retracted.retracted_seq = 42;
    const partner_t *trainer = fx_partner(W, "trainer93");
    assert_true(pathway_event_minimised_for(trainer, &f.e));
    assert_true(pathway_kind_receives(trainer->kind, &f.e, trainer->id));
    pathway_event_view_t view;
    pathway_event_minimise(&f.e, trainer->id, &view);
    assert_string_equal(view.event.event_retracted->retracted_event_id, "");
    assert_int_equal(view.event.event_retracted->retracted_seq, 42);
    assert_string_equal(view.event.event_id, "");
    assert_string_equal(view.event.partner_id, "");
    /* The original is untouched. */
    assert_string_equal(f.e.event_retracted->retracted_event_id, "ev-ml93-000042");
}

/* pathway_apply, which has no history, finds nothing to retract: a visible sender is told so,
 * a blind one gets the blind sentence (test_pathway's no-oracle property runs it too). */
static void test_apply_without_history(void **state)
{
    accompanied(W);
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(EVENT_RETRACTED), "ml93");
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    fx_event_init(&f, EVENT_TYPE(EVENT_RETRACTED), "asso93");
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retract_recomputes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_keeps_deadlines_missed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_told_only_to_who_was_told, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_refused_when_later_events_rely_on_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retract_what_stands_and_what_does_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retract_blind_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_within_the_episode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_suspension_keeps_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_checks_of_every_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retract_minimised_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retraction_minimised_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_without_history, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
