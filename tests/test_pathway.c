/*
 * test_pathway.c: the pathway rules (pathway.h), tested from the rules, not from the code.
 *
 * Every state is reached through real events applied by pathway_apply(); every accepted event
 * is checked against the invariants of rules_fixture.h (version + 1, updated_at, derived phase,
 * recipients exactly those who need to know, current pathway and event untouched). The tests
 * below check what each rule adds: the transition table row by row, each rejection code, the
 * rights of each kind, the no-oracle rule, the recipients and the minimised view.
 */
#define _GNU_SOURCE /* memmem */
#include "rules_fixture.h"

#define W ((fx_world_t *)*state)

/* Assertions on the recipients of the last accepted event, in order. */
static void assert_recipients(const fx_world_t *w, const char *const *ids, size_t n)
{
    const pathway_outcome_t *o = &w->last;
    if (o->n_recipients != n) {
        char got[512] = "";
        for (size_t i = 0; i < o->n_recipients; i++) {
            strncat(got, o->recipients[i], sizeof(got) - strlen(got) - 2);
            strncat(got, " ", sizeof(got) - strlen(got) - 1);
        }
        fail_msg("expected %zu recipients, got %zu: %s", n, o->n_recipients, got);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(o->recipients[i], ids[i]);
}
#define ASSERT_RECIPIENTS(w, ...)                                                                  \
    do {                                                                                           \
        const char *const expected_[] = {__VA_ARGS__};                                             \
        assert_recipients((w), expected_, sizeof(expected_) / sizeof(expected_[0]));               \
    } while (0)
#define ASSERT_NO_RECIPIENT(w) assert_int_equal((w)->last.n_recipients, 0)

static void assert_members(const Parcours__V1__Pathway *p, const char *const *ids, size_t n)
{
    assert_int_equal(p->n_members, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(p->members[i], ids[i]);
}
#define ASSERT_MEMBERS(p, ...)                                                                     \
    do {                                                                                           \
        const char *const expected_[] = {__VA_ARGS__};                                             \
        assert_members((p), expected_, sizeof(expected_) / sizeof(expected_[0]));                  \
    } while (0)

/* Whether recipient id of the last event is sent minimised views (its kind decides, when it
 * is sent). */
static bool recipient_minimised(const fx_world_t *w, const char *id)
{
    for (size_t i = 0; i < w->last.n_recipients; i++)
        if (strcmp(w->last.recipients[i], id) == 0)
            return partner_kind_minimised(partners_find(w->directory, id)->kind);
    fail_msg("%s is not a recipient", id);
    return false;
}

/* A copy of a directory partner with may_emit or echo changed. */
static partner_t partner_variant(const fx_world_t *w, const char *id, uint32_t may_emit, bool echo)
{
    partner_t p = *fx_partner(w, id);
    p.may_emit = may_emit;
    p.echo = echo;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Phase derivation. */

static void test_phase_derivation_first_match_wins(void **state)
{
    (void)state;
    Parcours__V1__Pathway p = PARCOURS__V1__PATHWAY__INIT;
    Parcours__V1__OrientationRequest request = PARCOURS__V1__ORIENTATION_REQUEST__INIT;
    Parcours__V1__Orientation orientation = PARCOURS__V1__ORIENTATION__INIT;
    Parcours__V1__Referent referent = PARCOURS__V1__REFERENT__INIT;
    Parcours__V1__Contract contract = PARCOURS__V1__CONTRACT__INIT;
    Parcours__V1__Training training = PARCOURS__V1__TRAINING__INIT;
    Parcours__V1__Employment employment = PARCOURS__V1__EMPLOYMENT__INIT;
    Parcours__V1__Exit exit_ = PARCOURS__V1__EXIT__INIT;
    p.beneficiary_id = FX_BENEFICIARY;
    p.territory = FX_TERRITORY;
    p.episode = 1;

    /* Facts pile up: each new one decides the phase. */
    assert_int_equal(pathway_phase(&p), PHASE(REFERRED));
    p.pending_request = &request;
    assert_int_equal(pathway_phase(&p), PHASE(ORIENTATION_REQUESTED));
    p.orientation = &orientation;
    assert_int_equal(pathway_phase(&p), PHASE(ORIENTED));
    p.referent = &referent;
    assert_int_equal(pathway_phase(&p), PHASE(ACCOMPANIED));
    p.contract = &contract;
    assert_int_equal(pathway_phase(&p), PHASE(CONTRACTED));
    p.training = &training;
    assert_int_equal(pathway_phase(&p), PHASE(IN_TRAINING));
    p.employment = &employment;
    assert_int_equal(pathway_phase(&p), PHASE(EMPLOYED));
    p.exit = &exit_;
    assert_int_equal(pathway_phase(&p), PHASE(EXITED));
    assert_false(pathway_is_open(&p));

    /* Each fact alone. */
    Parcours__V1__Pathway q = PARCOURS__V1__PATHWAY__INIT;
    q.beneficiary_id = FX_BENEFICIARY;
    q.territory = FX_TERRITORY;
    q.episode = 1;
    q.exit = &exit_;
    assert_int_equal(pathway_phase(&q), PHASE(EXITED));
    q.exit = NULL;
    q.employment = &employment;
    assert_int_equal(pathway_phase(&q), PHASE(EMPLOYED));
    assert_true(pathway_is_open(&q));
    q.employment = NULL;
    q.training = &training;
    assert_int_equal(pathway_phase(&q), PHASE(IN_TRAINING));
    q.training = NULL;
    q.contract = &contract;
    assert_int_equal(pathway_phase(&q), PHASE(CONTRACTED));
    q.contract = NULL;
    q.referent = &referent;
    assert_int_equal(pathway_phase(&q), PHASE(ACCOMPANIED));
    q.referent = NULL;
    q.orientation = &orientation;
    assert_int_equal(pathway_phase(&q), PHASE(ORIENTED));
    /* A request pending on an oriented pathway does not hide the orientation. */
    q.pending_request = &request;
    assert_int_equal(pathway_phase(&q), PHASE(ORIENTED));
}

static void test_phase_each_through_events(void **state)
{
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        const Parcours__V1__Pathway *p = fx_build(W, fx_phases[i]);
        assert_int_equal(p->phase, fx_phases[i]);
        assert_int_equal(pathway_phase(p), fx_phases[i]);
        assert_int_equal(pathway_is_open(p), fx_phases[i] != PHASE(EXITED));
    }
}

static void test_has_member(void **state)
{
    const Parcours__V1__Pathway *p = fx_build(W, PHASE(ORIENTED));
    assert_true(pathway_has_member(p, "cd93"));
    assert_true(pathway_has_member(p, "ml93"));
    assert_false(pathway_has_member(p, "ft93"));
    assert_false(pathway_has_member(p, "ml9"));
    assert_false(pathway_has_member(p, ""));
}

/* ------------------------------------------------------------------------------------------ */
/* BeneficiaryRegistered. */

static void test_register_new_pathway(void **state)
{
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_string_equal(p->beneficiary_id, FX_BENEFICIARY);
    assert_string_equal(p->territory, "93");
    assert_int_equal(p->episode, 1);
    assert_int_equal(p->version, 1);
    assert_int_equal(p->created_at, f.e.occurred_at);
    assert_int_equal(p->updated_at, f.e.occurred_at);
    assert_int_equal(p->phase, PHASE(REFERRED));
    assert_true(pathway_is_open(p));
    ASSERT_MEMBERS(p, "cd93");
    assert_null(p->orientation);
    assert_null(p->pending_request);
    assert_null(p->referent);
    assert_null(p->contract);
    assert_null(p->training);
    assert_null(p->employment);
    assert_null(p->last_appointment);
    assert_null(p->exit);
    /* cd93 sent it: only the other territory-wide partner is told. */
    ASSERT_RECIPIENTS(W, "ft93");
    assert_false(recipient_minimised(W, "ft93"));
}

static void test_register_rights_per_kind(void **state)
{
    static const char *const allowed[] = {"cd93", "ft93", "caf93", "ml93", "cap93"};
    static const char *const refused[] = {"ccas93", "asso93", "trainer93", "employer93"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        fx_reset(W);
        const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(BENEFICIARY_REGISTERED), allowed[i]);
        ASSERT_MEMBERS(p, allowed[i]);
        assert_int_equal(p->version, 1);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        fx_reset(W);
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), refused[i],
                         ERROR_CODE(NOT_AUTHORISED));
    }
}

static void test_register_territory(void **state)
{
    fx_event_t f;

    /* Empty territory: the sender's only one. */
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "ml93");
    f.beneficiary_registered.territory = "";
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_string_equal(p->territory, "93");

    /* Empty territory from a partner of several territories. */
    fx_reset(W);
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf");
    f.beneficiary_registered.territory = "";
    fx_reject(W, &f, ERROR_CODE(MALFORMED));

    /* A territory the sender is not registered for. */
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf");
    f.beneficiary_registered.territory = "93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.beneficiary_registered.territory = "75";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75");
    f.beneficiary_registered.territory = "93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));

    /* One of its territories: the territory-wide partners of that territory are told. */
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf");
    f.beneficiary_registered.territory = "75";
    p = fx_accept(W, &f);
    assert_string_equal(p->territory, "75");
    ASSERT_RECIPIENTS(W, "cd75", "ft75");

    /* On a pathway of 75, the partners of 93 see nothing, even territory-wide ones. */
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "ft93", ERROR_CODE(NOT_AUTHORISED));
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd75");
    ASSERT_RECIPIENTS(W, "cafidf", "ft75");
}

static void test_register_on_each_open_phase(void **state)
{
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        if (fx_phases[i] == PHASE(EXITED))
            continue;
        const Parcours__V1__Pathway *p = fx_build(W, fx_phases[i]);
        uint64_t version = p->version;
        /* Those who see the pathway learn it is open. */
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93",
                         ERROR_CODE(INVALID_TRANSITION));
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93",
                         ERROR_CODE(INVALID_TRANSITION));
        if (fx_phases[i] != PHASE(REFERRED) && fx_phases[i] != PHASE(ORIENTATION_REQUESTED))
            fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "ml93",
                             ERROR_CODE(INVALID_TRANSITION));
        /* The version check comes first, against the version the sender may see: a sender
         * that sees the pathway learns of a conflict, then that it is open. */
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
        f.e.expected_version = version + 5;
        fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
        fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
        f.e.expected_version = version;
        fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
        /* Those who do not see it learn nothing: the blind sentence, and against version 0
         * the conflict they would get with no pathway at all. */
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93",
                         ERROR_CODE(NOT_AUTHORISED));
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cap93",
                         ERROR_CODE(NOT_AUTHORISED));
        fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
        f.e.expected_version = version;
        char message[PATHWAY_MESSAGE_MAX];
        fx_reject_as(W, &f, NULL, ERROR_CODE(VERSION_CONFLICT), message);
        assert_non_null(strstr(message, "at version 0"));
        assert_int_equal(fx_current(W)->version, version);
    }
}

static void test_register_expected_version(void **state)
{
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expected_version = 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));

    const Parcours__V1__Pathway *p = fx_build(W, PHASE(EXITED));
    uint64_t version = p->version;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expected_version = version - 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expected_version = version + 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expected_version = version;
    p = fx_accept(W, &f);
    /* The new episode starts again at version 1. */
    assert_int_equal(p->version, 1);
    assert_int_equal(p->episode, 2);

    /* A sender that may not see the exited pathway compares against nothing: version 0. */
    fx_build(W, PHASE(EXITED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.e.expected_version = version;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.e.expected_version = 1;
    char message[PATHWAY_MESSAGE_MAX];
    fx_reject_as(W, &f, NULL, ERROR_CODE(VERSION_CONFLICT), message);
    assert_non_null(strstr(message, "version 0, not 1"));
    fx_reset(W);
    char none[PATHWAY_MESSAGE_MAX];
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.e.expected_version = 1;
    fx_reject_as(W, &f, NULL, ERROR_CODE(VERSION_CONFLICT), none);
    assert_string_equal(message, none);
}

/* expect_no_pathway: "this person must be new here", against what the sender may see. */
static void test_register_expect_no_pathway(void **state)
{
    fx_event_t f;
    /* New: accepted, as without the flag. */
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expect_no_pathway = 1;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(p->episode, 1);

    /* Exited, seen by the departement: a conflict instead of a new episode. */
    p = fx_build(W, PHASE(EXITED));
    uint64_t version = p->version;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    f.e.expect_no_pathway = 1;
    char message[PATHWAY_MESSAGE_MAX];
    fx_reject_as(W, &f, NULL, ERROR_CODE(VERSION_CONFLICT), message);
    assert_non_null(strstr(message, "has a pathway here already"));
    assert_int_equal(fx_current(W)->version, version);
    assert_int_equal(fx_current(W)->episode, 1);
    /* Open, seen: the conflict too, before the open pathway's refusal. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93");
    f.e.expect_no_pathway = 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
    /* Exited, and the CAF may not see it: there is none for it, and it registers anew, the
     * reply the same as for a person never seen (the property below compares every sender). */
    fx_build(W, PHASE(EXITED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.e.expect_no_pathway = 1;
    p = fx_accept(W, &f);
    assert_int_equal(p->episode, 2);
    /* Open, and blind: the blind sentence, as without the flag. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    f.e.expect_no_pathway = 1;
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
}

static void test_reentry_after_exit(void **state)
{
    fx_build(W, PHASE(EMPLOYED));
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    /* The facts in force ended with the exit; the history stays. */
    assert_non_null(p->orientation);
    assert_null(p->referent);
    assert_null(p->contract);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_PATHWAY_EXITED);
    assert_null(p->training);
    assert_null(p->employment);
    assert_null(p->pending_request);
    assert_non_null(p->last_appointment);
    int64_t created_at = p->created_at;

    /* Anyone who may register in the territory may reopen it: the pathway is not open. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    p = fx_accept(W, &f);
    /* A new pathway for whoever joins it: version and creation date start again. */
    assert_int_equal(p->episode, 2);
    assert_int_equal(p->version, 1);
    assert_int_not_equal(p->created_at, created_at);
    assert_int_equal(p->created_at, f.e.occurred_at);
    assert_int_equal(p->updated_at, f.e.occurred_at);
    assert_true(p->rsa_recipient); /* a CAF registers when an RSA right opens */
    assert_string_equal(p->territory, "93");
    assert_int_equal(p->phase, PHASE(REFERRED));
    assert_true(pathway_is_open(p));
    ASSERT_MEMBERS(p, "caf93");
    assert_null(p->orientation);
    assert_null(p->pending_request);
    assert_null(p->referent);
    assert_null(p->contract);
    assert_null(p->training);
    assert_null(p->employment);
    assert_null(p->last_appointment);
    assert_null(p->exit);
    /* The old group is not told: it is no longer the group. */
    ASSERT_RECIPIENTS(W, "cd93", "ft93");

    /* The members of the previous episode no longer see the pathway. */
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "trainer93", ERROR_CODE(NOT_AUTHORISED));
    /* The new episode lives normally. */
    p = fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    assert_int_equal(p->phase, PHASE(ORIENTED));
    assert_int_equal(p->version, 2);

    /* And a third episode. */
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    p = fx_send(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93");
    assert_int_equal(p->episode, 3);
    assert_int_equal(p->version, 1);
    assert_false(p->rsa_recipient);
    ASSERT_MEMBERS(p, "ft93");
}

/* ------------------------------------------------------------------------------------------ */
/* The transition table, row by row: accepted with its effects, rejected where it must be. */

static void test_orientation_requested(void **state)
{
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "ccas93");
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_REQUESTED), "ccas93");
    f.orientation_requested.requested_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    f.orientation_requested.reason =
        PARCOURS__V1__ORIENTATION_REQUEST_REASON__ORIENTATION_REQUEST_REASON_CHANGE_OF_SITUATION;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->pending_request);
    assert_int_equal(p->pending_request->requested_type,
                     PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL);
    assert_int_equal(
        p->pending_request->reason,
        PARCOURS__V1__ORIENTATION_REQUEST_REASON__ORIENTATION_REQUEST_REASON_CHANGE_OF_SITUATION);
    assert_int_equal(p->pending_request->requested_at, f.e.occurred_at);
    assert_string_equal(p->pending_request->requested_by, "ccas93");
    assert_int_equal(p->phase, PHASE(ORIENTATION_REQUESTED));
    ASSERT_MEMBERS(p, "cd93", "ccas93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");

    /* A request already pending. */
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ccas93",
                     ERROR_CODE(INVALID_TRANSITION));

    /* On an accompanied pathway: a re-orientation request; the referent still decides the
     * phase. */
    fx_build(W, PHASE(ACCOMPANIED));
    p = fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ml93");
    assert_non_null(p->pending_request);
    assert_string_equal(p->pending_request->requested_by, "ml93");
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ml93", ERROR_CODE(INVALID_TRANSITION));
}

static void test_orientation_decided(void **state)
{
    /* From a request, by a territory-wide partner not yet in the group. */
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "ft93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->orientation);
    assert_int_equal(p->orientation->pathway_type,
                     PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIO_PRO);
    assert_int_equal(p->orientation->referent_body,
                     PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE);
    assert_string_equal(p->orientation->structure_id, "ml93");
    assert_int_equal(p->orientation->decided_at, f.e.occurred_at);
    assert_string_equal(p->orientation->decided_by, "ft93");
    assert_null(p->pending_request);
    assert_null(p->referent);
    assert_int_equal(p->phase, PHASE(ORIENTED));
    assert_int_equal(p->n_members, 3);
    assert_string_equal(p->members[0], "cd93");
    assert_true(fx_has_member(p, "ft93"));
    assert_true(fx_has_member(p, "ml93"));

    /* From REFERRED, by the partner that registered: no duplicate member. */
    fx_build(W, PHASE(REFERRED));
    p = fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    ASSERT_MEMBERS(p, "cd93", "ml93");
    ASSERT_RECIPIENTS(W, "ml93", "ft93");

    /* The structure must be a partner of the pathway's territory. */
    fx_build(W, PHASE(REFERRED));
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.structure_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.structure_id = "ml75";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    assert_int_equal(fx_current(W)->version, 1);
}

static void test_orientation_decided_structure_change(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));

    /* Same structure: the referent stays. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->referent);
    assert_string_equal(p->referent->partner_id, "ml93");
    assert_int_equal(p->orientation->pathway_type, PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI);
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));

    /* Another structure: the referent is cleared but stays a member. */
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    f.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f.orientation_decided.structure_id = "ccas93";
    p = fx_accept(W, &f);
    assert_null(p->referent);
    assert_string_equal(p->orientation->structure_id, "ccas93");
    assert_int_equal(p->orientation->referent_body,
                     PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED);
    assert_int_equal(p->phase, PHASE(ORIENTED));
    ASSERT_MEMBERS(p, "cd93", "ml93", "ccas93");
    /* The old referent is still told. */
    ASSERT_RECIPIENTS(W, "ml93", "ccas93", "ft93");
}

static void test_orientation_denied(void **state)
{
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DENIED), "ft93");
    f.orientation_denied.reason =
        PARCOURS__V1__ORIENTATION_DENIAL_REASON__ORIENTATION_DENIAL_REASON_NOT_ELIGIBLE;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_null(p->pending_request);
    assert_int_equal(
        p->last_denial_reason,
        PARCOURS__V1__ORIENTATION_DENIAL_REASON__ORIENTATION_DENIAL_REASON_NOT_ELIGIBLE);
    assert_int_equal(p->phase, PHASE(REFERRED));
    assert_null(p->orientation);
    /* Nothing pending any more. */
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_DENIED), "cd93", ERROR_CODE(INVALID_TRANSITION));

    static const Parcours__V1__Phase without_request[] = {
        PHASE(REFERRED),   PHASE(ORIENTED),    PHASE(ACCOMPANIED),
        PHASE(CONTRACTED), PHASE(IN_TRAINING), PHASE(EMPLOYED),
    };
    for (size_t i = 0; i < sizeof(without_request) / sizeof(without_request[0]); i++) {
        fx_build(W, without_request[i]);
        fx_send_rejected(W, EVENT_TYPE(ORIENTATION_DENIED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    }
}

static void test_referent_assigned(void **state)
{
    fx_build(W, PHASE(ORIENTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->referent);
    assert_string_equal(p->referent->partner_id, "ml93");
    assert_string_equal(p->referent->professional_ref, "pro-17");
    assert_int_equal(p->referent->assigned_at, f.e.occurred_at);
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));
    ASSERT_MEMBERS(p, "cd93", "ml93");

    /* A new referent replaces the old one, who stays a member. */
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    f.referent_assigned.referent_partner_id = "ml2-93";
    f.referent_assigned.professional_ref = "";
    p = fx_accept(W, &f);
    assert_string_equal(p->referent->partner_id, "ml2-93");
    assert_string_equal(p->referent->professional_ref, "");
    assert_int_equal(p->referent->assigned_at, f.e.occurred_at);
    ASSERT_MEMBERS(p, "cd93", "ml93", "ml2-93");
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));

    /* The referent's partner must fit the orientation's referent body (MISSION_LOCALE here):
     * never a CCAS there, nor ever an employer, a trainer or the CAF. */
    static const char *const unfit[] = {"ccas93", "asso93", "cap93",      "cd93",
                                        "ft93",   "caf93",  "employer93", "trainer93"};
    for (size_t i = 0; i < sizeof(unfit) / sizeof(unfit[0]); i++) {
        fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
        f.referent_assigned.referent_partner_id = (char *)unfit[i];
        char message[PATHWAY_MESSAGE_MAX];
        fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
        assert_non_null(strstr(message, "REFERENT_BODY_MISSION_LOCALE"));
    }
    assert_string_equal(fx_current(W)->referent->partner_id, "ml2-93");

    /* Unknown partner, or a partner of another territory. */
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    f.referent_assigned.referent_partner_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    f.referent_assigned.referent_partner_id = "ml75";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));

    /* Not oriented. */
    fx_build(W, PHASE(REFERRED));
    fx_send_rejected(W, EVENT_TYPE(REFERENT_ASSIGNED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    fx_send_rejected(W, EVENT_TYPE(REFERENT_ASSIGNED), "ft93", ERROR_CODE(INVALID_TRANSITION));
}

static void test_contract_signed(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->contract);
    assert_int_equal(p->contract->kind, PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CEJ);
    assert_int_equal(p->contract->start, f.contract_signed.start);
    assert_int_equal(p->contract->end, f.contract_signed.end);
    assert_string_equal(p->contract->signed_with, "ml93");
    assert_int_equal(p->phase, PHASE(CONTRACTED));
    ASSERT_MEMBERS(p, "cd93", "ml93");

    /* The signer joins the group; an open-ended contract. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE;
    f.contract_signed.end = 0;
    p = fx_accept(W, &f);
    assert_string_equal(p->contract->signed_with, "ft93");
    assert_int_equal(p->contract->kind, PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE);
    assert_int_equal(p->contract->end, 0);
    ASSERT_MEMBERS(p, "cd93", "ml93", "ft93");

    /* No referent, or a contract already in force. */
    static const Parcours__V1__Phase refused[] = {
        PHASE(REFERRED),   PHASE(ORIENTATION_REQUESTED), PHASE(ORIENTED),
        PHASE(CONTRACTED), PHASE(IN_TRAINING),           PHASE(EMPLOYED),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        fx_build(W, refused[i]);
        fx_send_rejected(W, EVENT_TYPE(CONTRACT_SIGNED), "cd93", ERROR_CODE(INVALID_TRANSITION));
        fx_send_rejected(W, EVENT_TYPE(CONTRACT_SIGNED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    }
}

static void test_contract_ended(void **state)
{
    fx_build(W, PHASE(CONTRACTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(CONTRACT_ENDED), "ml93");
    f.contract_ended.reason = PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_RENEWAL;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_null(p->contract);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_RENEWAL);
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));
    /* A new contract may follow. */
    p = fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    assert_int_equal(p->phase, PHASE(CONTRACTED));

    static const Parcours__V1__Phase refused[] = {
        PHASE(REFERRED),
        PHASE(ORIENTATION_REQUESTED),
        PHASE(ORIENTED),
        PHASE(ACCOMPANIED),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        fx_build(W, refused[i]);
        fx_send_rejected(W, EVENT_TYPE(CONTRACT_ENDED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    }
}

static void test_training_entered(void **state)
{
    /* By France Travail, naming the provider: the provider joins. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ft93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->training);
    assert_string_equal(p->training->provider_id, "trainer93");
    assert_string_equal(p->training->programme_code, "RNCP12345");
    assert_int_equal(p->training->start, f.training_entered.start);
    assert_int_equal(p->training->expected_end, f.training_entered.expected_end);
    assert_int_equal(p->phase, PHASE(IN_TRAINING));
    ASSERT_MEMBERS(p, "cd93", "ml93", "trainer93");
    /* A training in progress. */
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "trainer93", ERROR_CODE(INVALID_TRANSITION));
    /* What the sender and the directory decide comes before the state: a provider must not
     * learn from the order of the checks what it may not see. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    f.training_entered.provider_id = "trainer2-93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    /* The provider named is a training provider; from another kind, an empty provider is none. */
    fx_build(W, PHASE(ORIENTED));
    static const char *const not_providers[] = {"cap93", "ccas93", "employer93", "ml93", "cd93"};
    for (size_t i = 0; i < sizeof(not_providers) / sizeof(not_providers[0]); i++) {
        fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ml93");
        f.training_entered.provider_id = (char *)not_providers[i];
        char message[PATHWAY_MESSAGE_MAX];
        fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
        assert_non_null(strstr(message, "not a TRAINING_ORG"));
    }
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    f.training_entered.provider_id = "";
    p = fx_accept(W, &f);
    assert_string_equal(p->training->provider_id, "");
    ASSERT_MEMBERS(p, "cd93", "ml93");

    /* By a training organisation of the group: an empty provider is itself. */
    fx_build(W, PHASE(ORIENTED));
    fx_join(W, "ml93", "trainer93");
    /* It may not enter someone into another provider's training. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    f.training_entered.provider_id = "trainer2-93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    f.training_entered.provider_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    f.training_entered.provider_id = "";
    f.training_entered.expected_end = 0;
    p = fx_accept(W, &f);
    assert_string_equal(p->training->provider_id, "trainer93");
    assert_int_equal(p->training->expected_end, 0);
    ASSERT_MEMBERS(p, "cd93", "ml93", "trainer93");

    /* An unknown provider. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ft93");
    f.training_entered.provider_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));

    /* Not oriented. */
    fx_build(W, PHASE(REFERRED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "ft93", ERROR_CODE(INVALID_TRANSITION));
}

static void test_training_exited(void **state)
{
    fx_build(W, PHASE(IN_TRAINING));
    fx_join(W, "cd93", "trainer2-93");
    /* Only the provider among training organisations. */
    fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "trainer2-93", ERROR_CODE(NOT_AUTHORISED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(TRAINING_EXITED), "trainer93");
    f.training_exited.outcome = PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_ABANDONED;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_null(p->training);
    assert_int_equal(p->last_training_outcome,
                     PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_ABANDONED);
    assert_int_equal(p->phase, PHASE(CONTRACTED));
    /* The provider stays in the group. */
    assert_true(fx_has_member(p, "trainer93"));
    /* No training any more. */
    fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "trainer93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "ft93", ERROR_CODE(INVALID_TRANSITION));

    /* The referent's partner may record it too. */
    fx_build(W, PHASE(IN_TRAINING));
    p = fx_send(W, EVENT_TYPE(TRAINING_EXITED), "ml93");
    assert_int_equal(p->last_training_outcome,
                     PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_CERTIFIED);

    static const Parcours__V1__Phase refused[] = {
        PHASE(REFERRED),
        PHASE(ORIENTED),
        PHASE(CONTRACTED),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        fx_build(W, refused[i]);
        fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    }
}

static void test_job_placed(void **state)
{
    /* Open is enough; an employer that is not a partner: nobody joins. */
    fx_build(W, PHASE(REFERRED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "ft93");
    f.job_placed.employer_partner_id = "";
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->employment);
    assert_int_equal(p->employment->kind, PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_CDD);
    assert_string_equal(p->employment->employer_partner_id, "");
    assert_int_equal(p->employment->start, f.job_placed.start);
    assert_int_equal(p->phase, PHASE(EMPLOYED));
    ASSERT_MEMBERS(p, "cd93");
    /* An employment in progress. */
    fx_send_rejected(W, EVENT_TYPE(JOB_PLACED), "ft93", ERROR_CODE(INVALID_TRANSITION));

    /* A partner employer joins the group. */
    fx_build(W, PHASE(ORIENTED));
    p = fx_send(W, EVENT_TYPE(JOB_PLACED), "ml93");
    assert_string_equal(p->employment->employer_partner_id, "employer93");
    ASSERT_MEMBERS(p, "cd93", "ml93", "employer93");

    /* An employer of the group places for itself only; empty means itself. */
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "employer93");
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    f.job_placed.employer_partner_id = "employer2-93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    f.job_placed.employer_partner_id = "";
    f.job_placed.kind = PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_IAE;
    p = fx_accept(W, &f);
    assert_string_equal(p->employment->employer_partner_id, "employer93");
    assert_int_equal(p->employment->kind, PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_IAE);
    ASSERT_MEMBERS(p, "cd93", "employer93");

    /* An unknown employer id. */
    fx_build(W, PHASE(REFERRED));
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "ft93");
    f.job_placed.employer_partner_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));

    fx_build(W, PHASE(EMPLOYED));
    fx_send_rejected(W, EVENT_TYPE(JOB_PLACED), "ml93", ERROR_CODE(INVALID_TRANSITION));
}

static void test_job_ended(void **state)
{
    fx_build(W, PHASE(EMPLOYED));
    fx_join(W, "cd93", "employer2-93");
    /* Only the employer among employers. */
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer2-93", ERROR_CODE(NOT_AUTHORISED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_ENDED), "employer93");
    f.job_ended.reason = PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TRIAL_PERIOD;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_null(p->employment);
    assert_int_equal(p->last_job_end_reason,
                     PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TRIAL_PERIOD);
    assert_int_equal(p->phase, PHASE(IN_TRAINING));
    assert_true(fx_has_member(p, "employer93"));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "ft93", ERROR_CODE(INVALID_TRANSITION));

    /* An employment with no partner employer: no employer may end it. */
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "employer93");
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "ft93");
    f.job_placed.employer_partner_id = "";
    fx_accept(W, &f);
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer93", ERROR_CODE(NOT_AUTHORISED));
    p = fx_send(W, EVENT_TYPE(JOB_ENDED), "ft93");
    assert_int_equal(p->phase, PHASE(REFERRED));

    static const Parcours__V1__Phase refused[] = {
        PHASE(REFERRED),
        PHASE(ACCOMPANIED),
        PHASE(IN_TRAINING),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        fx_build(W, refused[i]);
        fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    }
}

static void test_appointment_recorded(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.appointment_recorded.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_VIDEO;
    f.appointment_recorded.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SEEN;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->last_appointment);
    assert_int_equal(p->last_appointment->kind,
                     PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_VIDEO);
    assert_int_equal(p->last_appointment->status,
                     PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SEEN);
    assert_int_equal(p->last_appointment->at, f.appointment_recorded.at);
    assert_string_equal(p->last_appointment->recorded_by, "ml93");
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));

    /* Any member, on any open pathway; the last one replaces the previous. */
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "asso93");
    p = fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    assert_string_equal(p->last_appointment->recorded_by, "asso93");
    p = fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ft93");
    assert_string_equal(p->last_appointment->recorded_by, "ft93");
    assert_int_equal(p->phase, PHASE(REFERRED));
}

static void test_member_joined(void **state)
{
    fx_build(W, PHASE(REFERRED));
    const Parcours__V1__Pathway *p = fx_join(W, "cd93", "trainer93");
    ASSERT_MEMBERS(p, "cd93", "trainer93");
    p = fx_join(W, "ft93", "asso93");
    ASSERT_MEMBERS(p, "cd93", "trainer93", "asso93");
    assert_int_equal(p->phase, PHASE(REFERRED));

    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "trainer93";
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "cd93";
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "nobody93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    /* A partner of another territory is not a partner of this one. */
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "ml75";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
}

static void test_member_left(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_join(W, "ml93", "trainer93");
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    ASSERT_MEMBERS(p, "cd93", "ml93");
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));

    /* Not a member (any more). */
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    f.member_left.member_id = "ft93";
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    /* The active referent's partner cannot leave. */
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    f.member_left.member_id = "ml93";
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));

    /* Without a referent, the oriented structure acts as the referent's partner: it cannot
     * leave either; once a referent of another partner is named, it may. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    f.member_left.member_id = "ml93";
    char message[PATHWAY_MESSAGE_MAX];
    fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "oriented structure"));
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    f.referent_assigned.referent_partner_id = "ml2-93";
    fx_accept(W, &f);
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    f.member_left.member_id = "ml93";
    p = fx_accept(W, &f);
    ASSERT_MEMBERS(p, "cd93", "ml2-93");

    /* A training provider with its training in progress, an employer with its employment in
     * progress: end it first; after that, they may leave. */
    fx_build(W, PHASE(EMPLOYED)); /* trainer93 trains, employer93 employs */
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    f.member_left.member_id = "trainer93";
    fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "training in progress"));
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    f.member_left.member_id = "employer93";
    fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
    assert_non_null(strstr(message, "employs"));
    fx_send(W, EVENT_TYPE(TRAINING_EXITED), "trainer93");
    fx_send(W, EVENT_TYPE(JOB_ENDED), "employer93");
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    f.member_left.member_id = "trainer93";
    fx_accept(W, &f);
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    f.member_left.member_id = "employer93";
    p = fx_accept(W, &f);
    assert_false(fx_has_member(p, "trainer93"));
    assert_false(fx_has_member(p, "employer93"));
}

static void test_pathway_exited(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "ml93");
    f.pathway_exited.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_DECEASED;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_non_null(p->exit);
    assert_int_equal(p->exit->reason, PARCOURS__V1__EXIT_REASON__EXIT_REASON_DECEASED);
    assert_int_equal(p->exit->at, f.e.occurred_at);
    assert_int_equal(p->phase, PHASE(EXITED));
    assert_false(pathway_is_open(p));
    /* The facts in force end with it, the group among them, which is told; the orientation
     * stays for the record. */
    assert_null(p->referent);
    assert_non_null(p->orientation);
    assert_int_equal(p->n_members, 0);
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    fx_build(W, PHASE(EMPLOYED));
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    ASSERT_RECIPIENTS(W, "ml93", "trainer93", "employer93", "ft93");
    assert_int_equal(fx_current(W)->n_members, 0);
    /* Its former members see it no more: they get the blind sentence, as for no pathway. */
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer93", ERROR_CODE(NOT_AUTHORISED));

    /* Every fact in force: request, referent, contract, training, employment, suspension. */
    fx_build(W, PHASE(EMPLOYED));
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ml93");
    fx_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
    p = fx_current(W);
    assert_non_null(p->pending_request);
    assert_non_null(p->referent);
    assert_non_null(p->contract);
    assert_non_null(p->training);
    assert_non_null(p->employment);
    assert_non_null(p->suspension);
    p = fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    assert_null(p->pending_request);
    assert_null(p->referent);
    assert_null(p->contract);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_PATHWAY_EXITED);
    assert_null(p->training);
    assert_null(p->employment);
    assert_null(p->suspension);
    assert_non_null(p->orientation);
    assert_int_equal(p->phase, PHASE(EXITED));
    /* Without a contract in force, the last end reason is left as it was. */
    fx_build(W, PHASE(ACCOMPANIED));
    p = fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    assert_int_equal(p->last_contract_end_reason, 0);
}

static void test_exited_pathway_refuses_every_event(void **state)
{
    fx_build(W, PHASE(EXITED));
    uint64_t version = fx_current(W)->version;
    for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
        /* France Travail may emit every type: only the state refuses it. */
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "ft93");
        if (t == EVENT_TYPE(MEMBER_JOINED))
            f.member_joined.member_id = "asso93";
        if (t == EVENT_TYPE(MEMBER_LEFT))
            f.member_left.member_id = "cd93";
        fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    }
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    /* The group ended with the exit: its former members are blind to the pathway now. */
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer93", ERROR_CODE(NOT_AUTHORISED));
    assert_int_equal(fx_current(W)->version, version);
}

/* ------------------------------------------------------------------------------------------ */
/* One test per rejection code. */

/* A directory of its own: each id with its kind and up to two territories. */
static partners_t *directory_of(const fx_partner_def_t *defs, size_t n)
{
    partners_t *dir = partners_new();
    assert_non_null(dir);
    for (size_t i = 0; i < n; i++) {
        partner_t p;
        memset(&p, 0, sizeof(p));
        snprintf(p.id, sizeof(p.id), "%s", defs[i].id);
        p.kind = defs[i].kind;
        snprintf(p.territories[0], sizeof(p.territories[0]), "%s", defs[i].territory1);
        p.n_territories = 1;
        if (defs[i].territory2 != NULL) {
            snprintf(p.territories[1], sizeof(p.territories[1]), "%s", defs[i].territory2);
            p.n_territories = 2;
        }
        assert_int_equal(partners_add(dir, &p), PARTNERS_OK);
    }
    return dir;
}

static void test_reject_unknown_beneficiary(void **state)
{
    /* Only a territory-wide partner registered for every territory of the partners file would
     * see any pathway the daemon holds: only it may learn that there is none. */
    static const fx_partner_def_t one_territory[] = {
        {"cd93", PARTNER_KIND(DEPARTEMENT), "93", NULL},
        {"ft93", PARTNER_KIND(FRANCE_TRAVAIL), "93", NULL},
        {"ml93", PARTNER_KIND(MISSION_LOCALE), "93", NULL},
        {"trainer93", PARTNER_KIND(TRAINING_ORG), "93", NULL},
    };
    partners_t *fixture = W->directory;
    W->directory = directory_of(one_territory, 4);
    for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "ft93");
        fx_reject(W, &f, ERROR_CODE(UNKNOWN_BENEFICIARY));
        fx_event_init(&f, (Parcours__V1__EventType)t, "cd93");
        fx_reject(W, &f, ERROR_CODE(UNKNOWN_BENEFICIARY));
        fx_event_init(&f, (Parcours__V1__EventType)t, "ml93");
        fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
        fx_event_init(&f, (Parcours__V1__EventType)t, "trainer93");
        fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    }
    partners_destroy(&W->directory);

    /* Two territories: the departement of both sees everything, the one of 93 does not. */
    static const fx_partner_def_t two_territories[] = {
        {"cd93", PARTNER_KIND(DEPARTEMENT), "93", NULL},
        {"cd-both", PARTNER_KIND(DEPARTEMENT), "93", "75"},
        {"ml75", PARTNER_KIND(MISSION_LOCALE), "75", NULL},
    };
    W->directory = directory_of(two_territories, 3);
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd-both",
                     ERROR_CODE(UNKNOWN_BENEFICIARY));
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93", ERROR_CODE(NOT_AUTHORISED));
    partners_destroy(&W->directory);
    W->directory = fixture;

    /* The fixture has territories 93, 75 and 92: nobody sees them all. */
    for (size_t i = 0; i < partners_count(W->directory); i++)
        fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), partners_at(W->directory, i)->id,
                         ERROR_CODE(NOT_AUTHORISED));
    assert_null(fx_current(W));
}

static void test_reject_invalid_transition(void **state)
{
    fx_build(W, PHASE(REFERRED));
    fx_send_rejected(W, EVENT_TYPE(CONTRACT_ENDED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_EXITED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "ft93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    assert_int_equal(fx_current(W)->version, 1);
}

static void test_reject_version_conflict(void **state)
{
    const Parcours__V1__Pathway *p = fx_build(W, PHASE(ACCOMPANIED));
    uint64_t version = p->version;
    assert_int_equal(version, 3);
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.e.expected_version = version - 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.e.expected_version = version + 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));

    /* Visibility and rights come first: no version leaks to those who may not act. */
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "caf93");
    f.e.expected_version = version - 1;
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "ml93");
    f.e.expected_version = version - 1;
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    /* The version comes before the state. */
    fx_event_init(&f, EVENT_TYPE(CONTRACT_ENDED), "ml93");
    f.e.expected_version = version - 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));

    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.e.expected_version = version;
    p = fx_accept(W, &f);
    assert_int_equal(p->version, version + 1);

    fx_build(W, PHASE(EXITED));
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ft93");
    f.e.expected_version = 1;
    fx_reject(W, &f, ERROR_CODE(VERSION_CONFLICT));
}

static void test_reject_not_authorised(void **state)
{
    fx_build(W, PHASE(CONTRACTED));
    /* Not visible: not a member, not territory-wide, or another territory. */
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ccas93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "cd75", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(JOB_PLACED), "ft75", ERROR_CODE(NOT_AUTHORISED));
    /* Visible, but no right for the type. */
    fx_send_rejected(W, EVENT_TYPE(ORIENTATION_DECIDED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "cd93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(JOB_PLACED), "cd93", ERROR_CODE(NOT_AUTHORISED));
    /* Registration by a kind that may not register. */
    fx_reset(W);
    fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "asso93", ERROR_CODE(NOT_AUTHORISED));
}

static void test_reject_malformed(void **state)
{
    /* The only rule-level MALFORMED: no territory from a partner of several. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf");
    f.beneficiary_registered.territory = "";
    fx_reject(W, &f, ERROR_CODE(MALFORMED));
    assert_null(fx_current(W));
}

static void test_reject_unknown_partner(void **state)
{
    fx_build(W, PHASE(ORIENTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.structure_id = "ghost93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    f.referent_assigned.referent_partner_id = "ghost93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ft93");
    f.training_entered.provider_id = "ghost93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "ft93");
    f.job_placed.employer_partner_id = "ghost93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "ghost93";
    fx_reject(W, &f, ERROR_CODE(UNKNOWN_PARTNER));
    assert_int_equal(fx_current(W)->version, 2);
}

/* ------------------------------------------------------------------------------------------ */
/* Deadlines (docs/deadlines.md). */

#define DL_DAY   INT64_C(86400000)
#define DL(kind) PARCOURS__V1__DEADLINE_KIND__DEADLINE_KIND_##kind

/* The kinds running on p under the defaults, in order, as a string such as "1 4". */
static void deadline_kinds(const Parcours__V1__Pathway *p, char *out, size_t size)
{
    deadline_settings_t s;
    deadline_settings_default(&s);
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(p, &s, due), used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%d", i ? " " : "", (int)due[i].kind);
}

static void test_deadlines_running(void **state)
{
    char kinds[64];
    deadline_kinds(NULL, kinds, sizeof kinds);
    assert_string_equal(kinds, "");
    /* Registered: the orientation's six weeks from the registration, and the inactivity. */
    const Parcours__V1__Pathway *p = fx_build(W, PHASE(REFERRED));
    deadline_settings_t s;
    deadline_settings_default(&s);
    deadline_due_t due[DEADLINE_KINDS];
    assert_int_equal(deadline_running(p, &s, due), 2);
    assert_int_equal(due[0].kind, DL(ORIENTATION));
    assert_int_equal(due[0].since, p->created_at);
    assert_int_equal(due[0].due_at, p->created_at + 42 * DL_DAY);
    assert_int_equal(due[1].kind, DL(INACTIVITY));
    /* In whole days: from the day of the last event to the end of the 180th day after. */
    int64_t day = p->updated_at - p->updated_at % DL_DAY;
    assert_int_equal(due[1].since, day);
    assert_int_equal(due[1].due_at, day + 181 * DL_DAY);
    /* A request pending changes nothing. */
    deadline_kinds(fx_build(W, PHASE(ORIENTATION_REQUESTED)), kinds, sizeof kinds);
    assert_string_equal(kinds, "1 4");
    /* Oriented: the contract's month and the referent's days from the notification. */
    p = fx_build(W, PHASE(ORIENTED));
    assert_int_equal(deadline_running(p, &s, due), 3);
    assert_int_equal(due[0].kind, DL(CONTRACT));
    assert_int_equal(due[0].since, p->orientation->notified_at);
    assert_int_equal(due[0].due_at, p->orientation->notified_at + 30 * DL_DAY);
    assert_int_equal(due[1].kind, DL(REFERENT));
    assert_int_equal(due[1].due_at, p->orientation->notified_at + 30 * DL_DAY);
    deadline_kinds(fx_build(W, PHASE(ACCOMPANIED)), kinds, sizeof kinds);
    assert_string_equal(kinds, "2 4");
    deadline_kinds(fx_build(W, PHASE(CONTRACTED)), kinds, sizeof kinds);
    assert_string_equal(kinds, "4");
    deadline_kinds(fx_build(W, PHASE(EXITED)), kinds, sizeof kinds);
    assert_string_equal(kinds, "");
    /* Turned off, each: 0. */
    p = fx_build(W, PHASE(ORIENTED));
    s.contract_ms = 0;
    s.inactivity_ms = 0;
    assert_int_equal(deadline_running(p, &s, due), 1);
    assert_int_equal(due[0].kind, DL(REFERENT));
}

/* A DeadlineMissed about the current pathway for one of its running deadlines, at occurred_at. */
static int deadline_apply(fx_world_t *w, Parcours__V1__DeadlineKind kind, int64_t shift,
                          int64_t occurred_at_shift, pathway_outcome_t *out)
{
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(fx_current(w), &w->settings.deadlines, due);
    Parcours__V1__DeadlineMissed m = PARCOURS__V1__DEADLINE_MISSED__INIT;
    m.kind = kind;
    for (size_t i = 0; i < n; i++)
        if (due[i].kind == kind) {
            m.due_at = due[i].due_at + shift;
            m.since = due[i].since;
        }
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    e.event_id = "deadline-1";
    e.partner_id = PARTNERS_DAEMON_ID;
    e.beneficiary_id = (char *)fx_current(w)->beneficiary_id;
    e.occurred_at = m.due_at + occurred_at_shift;
    e.payload_case = PAYLOAD(DEADLINE_MISSED);
    e.deadline_missed = &m;
    return pathway_deadline_missed(fx_current(w), &e, w->directory, &w->settings.deadlines, out);
}

static bool recipients_are(const pathway_outcome_t *o, const char *const *ids, size_t n)
{
    if (o->n_recipients != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < o->n_recipients; k++)
            found |= strcmp(o->recipients[k], ids[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void test_deadline_missed_rule(void **state)
{
    /* Oriented to ml93, which a trainer joined: the contract's deadline goes to the
     * departement and the oriented structure, never to France Travail, the CAF or the trainer. */
    fx_build(W, PHASE(ORIENTED));
    fx_join(W, "cd93", "trainer93");
    const Parcours__V1__Pathway *before = fx_current(W);
    pathway_outcome_t out;
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, 0, &out), 0);
    static const char *const responsible[] = {"cd93", "ml93"};
    assert_true(recipients_are(&out, responsible, 2));
    assert_int_equal(out.pathway->version, before->version);
    assert_int_equal(out.pathway->updated_at, before->updated_at);
    assert_int_equal(out.pathway->n_deadlines_missed, 1);
    assert_int_equal(out.pathway->deadlines_missed[0]->kind, DL(CONTRACT));
    assert_int_equal(out.pathway->deadlines_missed[0]->since, before->orientation->notified_at);
    /* Missed once: it runs no more on the pathway after it; the referent's still does. */
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(out.pathway, &W->settings.deadlines, due);
    assert_int_equal(n, 2);
    assert_int_equal(due[0].kind, DL(REFERENT));
    /* The views: the territory's and the referent's partner's show it, a member's does not. */
    Parcours__V1__Pathway *view = pathway_copy(out.pathway, PATHWAY_VIEW_REFERENT, "ml93");
    assert_int_equal(view->n_deadlines_missed, 1);
    parcours__v1__pathway__free_unpacked(view, NULL);
    view = pathway_copy(out.pathway, PATHWAY_VIEW_MEMBER, "caf93");
    assert_int_equal(view->n_deadlines_missed, 0);
    parcours__v1__pathway__free_unpacked(view, NULL);
    view = pathway_copy(out.pathway, PATHWAY_VIEW_MINIMISED, "trainer93");
    assert_int_equal(view->n_deadlines_missed, 0);
    parcours__v1__pathway__free_unpacked(view, NULL);
    pathway_outcome_clear(&out);

    /* Not due yet, or not the deadline that runs: refused. */
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, -1, &out), 1);
    assert_int_equal(out.code, ERROR_CODE(INVALID_TRANSITION));
    pathway_outcome_clear(&out);
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 1, 0, &out), 1);
    pathway_outcome_clear(&out);
    assert_int_equal(deadline_apply(W, DL(ORIENTATION), 0, 0, &out), 1);
    pathway_outcome_clear(&out);
    /* The step taken since: refused. */
    fx_build(W, PHASE(CONTRACTED));
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, 0, &out), 1);
    pathway_outcome_clear(&out);
    /* A referent named: told to its partner too (here the oriented structure itself). */
    fx_build(W, PHASE(ACCOMPANIED));
    assert_int_equal(deadline_apply(W, DL(INACTIVITY), 0, 0, &out), 0);
    assert_true(recipients_are(&out, responsible, 2));
    pathway_outcome_clear(&out);
    /* The oriented structure left the group once another mission locale became the referent:
     * it may no longer see the pathway, and is told nothing of it. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_t ref;
    fx_event_init(&ref, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    ref.referent_assigned.referent_partner_id = "ml2-93";
    fx_accept(W, &ref);
    fx_event_t left;
    fx_event_init(&left, EVENT_TYPE(MEMBER_LEFT), "cd93");
    left.member_left.member_id = "ml93";
    fx_accept(W, &left);
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, 0, &out), 0);
    static const char *const still_seeing[] = {"cd93", "ml2-93"};
    assert_true(recipients_are(&out, still_seeing, 2));
    pathway_outcome_clear(&out);
    /* Registered only: the departement alone. */
    fx_build(W, PHASE(REFERRED));
    assert_int_equal(deadline_apply(W, DL(ORIENTATION), 0, 0, &out), 0);
    static const char *const departement[] = {"cd93"};
    assert_true(recipients_are(&out, departement, 1));
    pathway_outcome_clear(&out);
    /* No pathway, or an exited one: nothing runs. */
    fx_build(W, PHASE(EXITED));
    assert_int_equal(deadline_apply(W, DL(INACTIVITY), 0, 0, &out), 1);
    pathway_outcome_clear(&out);
    /* A contract signed, then ended (a renewal, say): the month was met, nothing runs for it. */
    fx_build(W, PHASE(CONTRACTED));
    fx_send(W, EVENT_TYPE(CONTRACT_ENDED), "ml93");
    char kinds[64];
    deadline_kinds(fx_current(W), kinds, sizeof kinds);
    assert_string_equal(kinds, "4");

    /* Missed, then a new orientation notified: a new clock, a new deadline. */
    fx_build(W, PHASE(ORIENTED));
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, 0, &out), 0);
    pathway_outcome_clear(&W->last);
    W->last = out;
    deadline_kinds(fx_current(W), kinds, sizeof kinds);
    assert_string_equal(kinds, "3 4"); /* the contract's missed, the referent's still runs */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.structure_id = "ccas93";
    f.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f.orientation_decided.notified_at += 5 * DL_DAY;
    f.e.occurred_at += 5 * DL_DAY;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(deadline_running(p, &W->settings.deadlines, due), 3);
    assert_int_equal(due[0].kind, DL(CONTRACT));
    assert_int_equal(due[0].since, p->orientation->notified_at);
    assert_int_equal(deadline_apply(W, DL(CONTRACT), 0, 0, &out), 0);
    assert_int_equal(out.pathway->n_deadlines_missed, 2);
    pathway_outcome_clear(&out);

    /* Missed inactivity, then an event: a new spell, watched again. */
    fx_build(W, PHASE(ACCOMPANIED));
    assert_int_equal(deadline_apply(W, DL(INACTIVITY), 0, 0, &out), 0);
    pathway_outcome_clear(&W->last);
    W->last = out;
    deadline_kinds(fx_current(W), kinds, sizeof kinds);
    assert_string_equal(kinds, "2");
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    f.e.occurred_at += DL_DAY;
    fx_accept(W, &f);
    deadline_kinds(fx_current(W), kinds, sizeof kinds);
    assert_string_equal(kinds, "2 4");
}

/* ------------------------------------------------------------------------------------------ */
/* No oracle (docs/domain.md, "No oracle"): the property, over every sender of the directory, every
 * state, every type, with and without expected_version. */

/* What a sender learns from one application of the rules: the reply, and for an accepted
 * event the pathway as it may now see it and who else was told. */
typedef struct oracle_reply {
    int rc;
    int code;
    char message[PATHWAY_MESSAGE_MAX];
    uint64_t version;
    uint8_t view[2048];
    size_t view_len;
    char recipients[512];
} oracle_reply_t;

static const int64_t oracle_at = INT64_C(1800000000000); /* one clock for every compared event */

/* Among the expected_version values tried: expected_version 0 with expect_no_pathway. */
#define ORACLE_NEW UINT64_MAX

static void oracle_apply(fx_world_t *w, Parcours__V1__EventType type, const char *sender,
                         const char *territory, uint64_t expected_version, oracle_reply_t *r)
{
    fx_event_t f;
    fx_event_init(&f, type, sender);
    f.e.occurred_at = oracle_at;
    f.e.expected_version = expected_version == ORACLE_NEW ? 0 : expected_version;
    f.e.expect_no_pathway = expected_version == ORACLE_NEW;
    f.beneficiary_registered.territory = (char *)territory;
    /* Payloads that name partners who can carry them, so that the rules decide on the sender. */
    f.contract_signed.start = oracle_at;
    f.contract_signed.end = 0;
    f.training_entered.start = oracle_at;
    f.training_entered.expected_end = 0;
    f.job_placed.start = oracle_at;
    f.appointment_recorded.at = oracle_at;
    f.orientation_decided.notified_at = oracle_at;
    memset(r, 0, sizeof(*r));
    pathway_outcome_t out;
    r->rc = fx_apply(w, &f, fx_partner(w, sender), &out);
    r->code = (int)out.code;
    memcpy(r->message, out.message, sizeof(r->message));
    if (r->rc == 0) {
        r->version = out.pathway->version;
        const partner_t *me = fx_partner(w, sender);
        Parcours__V1__Pathway *view =
            pathway_copy(out.pathway, pathway_view_for(out.pathway, me), me->id);
        if (view != NULL) {
            size_t len = parcours__v1__pathway__get_packed_size(view);
            assert_true(len <= sizeof(r->view));
            r->view_len = parcours__v1__pathway__pack(view, r->view);
            parcours__v1__pathway__free_unpacked(view, NULL);
        }
        for (size_t i = 0; i < out.n_recipients; i++) {
            strncat(r->recipients, out.recipients[i],
                    sizeof(r->recipients) - strlen(r->recipients) - 2);
            strncat(r->recipients, " ", sizeof(r->recipients) - strlen(r->recipients) - 1);
        }
    }
    pathway_outcome_clear(&out);
}

static bool oracle_same(const oracle_reply_t *a, const oracle_reply_t *b)
{
    return a->rc == b->rc && a->code == b->code && strcmp(a->message, b->message) == 0 &&
           a->version == b->version && a->view_len == b->view_len &&
           memcmp(a->view, b->view, a->view_len) == 0 && strcmp(a->recipients, b->recipients) == 0;
}

/* The states of the property, each built through real events. */
static void oracle_state_exited_twice(fx_world_t *w)
{
    fx_build(w, PHASE(EXITED));
    fx_send(w, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_send(w, EVENT_TYPE(PATHWAY_EXITED), "cd93");
}

static void oracle_state_reopened(fx_world_t *w)
{
    fx_build(w, PHASE(EXITED));
    fx_send(w, EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93");
}

static void oracle_state_suspended(fx_world_t *w)
{
    fx_build(w, PHASE(CONTRACTED));
    fx_send(w, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
}

/* A pathway of territory 75, where 93's partners are blind. */
static void oracle_state_75(fx_world_t *w, bool exited)
{
    fx_event_t f;
    fx_reset(w);
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75");
    f.beneficiary_registered.territory = "75";
    fx_accept(w, &f);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd75");
    f.orientation_decided.structure_id = "ml75";
    fx_accept(w, &f);
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "ml75");
    f.referent_assigned.referent_partner_id = "ml75";
    fx_accept(w, &f);
    if (exited)
        fx_send(w, EVENT_TYPE(PATHWAY_EXITED), "cd75");
}

/* A pathway whose group holds a partner of every kind (so that few are blind to it). */
static void oracle_state_crowded(fx_world_t *w)
{
    fx_build(w, PHASE(ACCOMPANIED));
    static const char *const joiners[] = {"cap93",  "caf93",     "ccas93",
                                          "asso93", "trainer93", "employer93"};
    for (size_t i = 0; i < sizeof(joiners) / sizeof(joiners[0]); i++)
        fx_join(w, "ml93", joiners[i]);
}

/* Builds state i of the property (0: no pathway); false past the last. */
static bool oracle_state(fx_world_t *w, size_t i, const char **name)
{
    static const char *const names[] = {"none",         "REFERRED",     "ORIENTATION_REQUESTED",
                                        "ORIENTED",     "ACCOMPANIED",  "CONTRACTED",
                                        "IN_TRAINING",  "EMPLOYED",     "EXITED",
                                        "exited twice", "reopened",     "suspended",
                                        "open in 75",   "exited in 75", "crowded"};
    if (i >= sizeof(names) / sizeof(names[0]))
        return false;
    *name = names[i];
    if (i == 0)
        fx_reset(w);
    else if (i <= FX_N_PHASES)
        fx_build(w, fx_phases[i - 1]);
    else if (i == 9)
        oracle_state_exited_twice(w);
    else if (i == 10)
        oracle_state_reopened(w);
    else if (i == 11)
        oracle_state_suspended(w);
    else if (i == 12 || i == 13)
        oracle_state_75(w, i == 13);
    else
        oracle_state_crowded(w);
    return true;
}

/* Blindness as the rules define it, written here from docs/domain.md: not registered for the
 * pathway's territory, or neither territory-wide nor a member. */
static bool oracle_blind(const fx_world_t *w, const partner_t *s)
{
    const Parcours__V1__Pathway *p = fx_current(w);
    if (p == NULL)
        return true; /* nobody in the fixture is registered for all of 93, 75 and 92 */
    return !partner_in_territory(s, p->territory) ||
           !(fx_kind_territory_wide(s->kind) || fx_has_member(p, s->id));
}

static const uint64_t oracle_versions[] = {0, 1, 7, 999, ORACLE_NEW};
#define ORACLE_VERSIONS (sizeof(oracle_versions) / sizeof(oracle_versions[0]))
#define ORACLE_SENDERS  32
/* Registrations are tried naming no territory (the sender's own), 93 and 75. */
static const char *const oracle_territories[] = {"", "93", "75"};
#define ORACLE_TERRITORIES 3

static void test_no_oracle_property(void **state)
{
    size_t n_senders = partners_count(W->directory);
    assert_true(n_senders <= ORACLE_SENDERS);
    /* The replies with no pathway, for every sender, type, version and territory. */
    static oracle_reply_t none[ORACLE_SENDERS][FX_TYPE_LAST + 1][ORACLE_VERSIONS]
                              [ORACLE_TERRITORIES];
    fx_reset(W);
    for (size_t s = 0; s < n_senders; s++)
        for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++)
            for (size_t v = 0; v < ORACLE_VERSIONS; v++)
                for (size_t k = 0; k < ORACLE_TERRITORIES; k++)
                    oracle_apply(W, (Parcours__V1__EventType)t, partners_at(W->directory, s)->id,
                                 oracle_territories[k], oracle_versions[v], &none[s][t][v][k]);

    unsigned compared = 0, states = 0, blind_pairs = 0;
    const char *name;
    for (size_t i = 1; oracle_state(W, i, &name); i++) {
        states++;
        for (size_t s = 0; s < n_senders; s++) {
            const partner_t *sender = partners_at(W->directory, s);
            if (!oracle_blind(W, sender))
                continue;
            blind_pairs++;
            bool open = pathway_is_open(fx_current(W));
            for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
                for (size_t v = 0; v < ORACLE_VERSIONS; v++) {
                    for (size_t k = 0; k < ORACLE_TERRITORIES; k++) {
                        oracle_reply_t got;
                        oracle_apply(W, (Parcours__V1__EventType)t, sender->id,
                                     oracle_territories[k], oracle_versions[v], &got);
                        /* A registration on an open pathway cannot be accepted: it gets the
                         * reply this sender gets for any other type, unless it was refused
                         * before the pathway counted (its kind, its territory). */
                        const oracle_reply_t *want = &none[s][t][v][k];
                        if (t == FX_TYPE_FIRST && open && want->rc == 0)
                            want = &none[s][EVENT_TYPE(APPOINTMENT_RECORDED)][v][k];
                        if (!oracle_same(&got, want))
                            fail_msg("oracle: %s, blind in state %s, type %s, expected_version "
                                     "%llu, territory \"%s\": rc %d code %d \"%s\" v%llu [%s] "
                                     "where no pathway gives rc %d code %d \"%s\" v%llu [%s]",
                                     sender->id, name, event_type_name((Parcours__V1__EventType)t),
                                     (unsigned long long)oracle_versions[v], oracle_territories[k],
                                     got.rc, got.code, got.message, (unsigned long long)got.version,
                                     got.recipients, want->rc, want->code, want->message,
                                     (unsigned long long)want->version, want->recipients);
                        compared++;
                    }
                }
            }
        }
    }
    /* The property must have had something to say in every state. */
    assert_true(states >= 14);
    assert_true(blind_pairs >= states * 4);
    print_message("no-oracle: %u replies compared, %u blind (sender, state) pairs over %u states "
                  "x %d types x %zu expected versions (expect_no_pathway one of them)\n",
                  compared, blind_pairs, states, FX_TYPE_LAST, ORACLE_VERSIONS);
}

/* The old shape of the property, kept for its plain statement: the strangers of fx_build's
 * pathways get one sentence, word for word, in every phase. */
static void test_no_oracle(void **state)
{
    static const char *const strangers[] = {"caf93",        "ccas93", "asso93", "trainer2-93",
                                            "employer2-93", "ml75",   "cd75",   "ft75"};
    enum { N = sizeof(strangers) / sizeof(strangers[0]) };
    static char reference[N][PATHWAY_MESSAGE_MAX];
    for (size_t s = 0; s < N; s++) {
        fx_event_t f;
        fx_reset(W);
        fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), strangers[s]);
        fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), reference[s]);
        /* One sentence that names no beneficiary and no state. */
        assert_null(strstr(reference[s], FX_BENEFICIARY));
    }
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        fx_build(W, fx_phases[i]);
        for (size_t s = 0; s < N; s++) {
            for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
                fx_event_t f;
                fx_event_init(&f, (Parcours__V1__EventType)t, strangers[s]);
                fx_event_t g;
                fx_event_init(&g, (Parcours__V1__EventType)t, strangers[s]);
                g.e.expected_version = 999; /* not even a VERSION_CONFLICT may leak */
                char message[PATHWAY_MESSAGE_MAX];
                char message_v[PATHWAY_MESSAGE_MAX];
                fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), message);
                fx_reject_as(W, &g, NULL, ERROR_CODE(NOT_AUTHORISED), message_v);
                if (strcmp(message, reference[s]) != 0 || strcmp(message_v, reference[s]) != 0)
                    fail_msg("%s, type %d, phase %d: \"%s\" / \"%s\" differs from \"%s\"",
                             strangers[s], t, (int)fx_phases[i], message, message_v, reference[s]);
            }
        }
    }
}

/* A blind registration on an exited pathway is a new pathway as far as its sender can tell. */
static void test_no_oracle_blind_reentry(void **state)
{
    oracle_reply_t fresh, again;
    fx_reset(W);
    oracle_apply(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", "", 0, &fresh);
    assert_int_equal(fresh.rc, 0);
    assert_int_equal(fresh.version, 1);
    oracle_state_exited_twice(W);
    assert_true(fx_current(W)->version > 1);
    oracle_apply(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", "", 0, &again);
    assert_true(oracle_same(&fresh, &again));
    /* A move to another territory starts counting episodes there again. */
    oracle_state_exited_twice(W);
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75");
    f.beneficiary_registered.territory = "75";
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(p->episode, 1);
    assert_string_equal(p->territory, "75");
    /* Whereas a registration that may see the exited pathway makes it the next episode. */
    oracle_state_exited_twice(W);
    p = fx_send(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    assert_int_equal(p->episode, 3);
    assert_int_equal(p->version, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Who may emit what. */

static const char *const rights_senders[] = {"cd93",   "ft93",   "ml93",      "cap93",     "caf93",
                                             "ccas93", "asso93", "trainer93", "employer93"};

/* The rights table (b), with ccas93 as the referent's partner. */
static bool rights_allowed(const fx_world_t *w, Parcours__V1__EventType t, const char *sender)
{
    Parcours__V1__PartnerKind k = fx_partner(w, sender)->kind;
    bool referent = strcmp(sender, "ccas93") == 0;
    bool wide = k == PARTNER_KIND(DEPARTEMENT) || k == PARTNER_KIND(FRANCE_TRAVAIL);
    switch (t) {
    case EVENT_TYPE(ORIENTATION_REQUESTED):
    case EVENT_TYPE(APPOINTMENT_RECORDED):
        /* Any member but the minimised kinds, who see too little to act on it. */
        return k != PARTNER_KIND(EMPLOYER) && k != PARTNER_KIND(TRAINING_ORG);
    case EVENT_TYPE(SUSPENSION_DECIDED):
    case EVENT_TYPE(SUSPENSION_LIFTED):
        /* cd93 registered the person, who is not an RSA recipient: France Travail decides. */
        return k == PARTNER_KIND(FRANCE_TRAVAIL);
    case EVENT_TYPE(ORIENTATION_DECIDED):
    case EVENT_TYPE(ORIENTATION_DENIED):
        return wide;
    case EVENT_TYPE(REFERENT_ASSIGNED):
    case EVENT_TYPE(CONTRACT_SIGNED):
    case EVENT_TYPE(CONTRACT_ENDED):
    case EVENT_TYPE(MEMBER_JOINED):
    case EVENT_TYPE(MEMBER_LEFT):
    case EVENT_TYPE(PATHWAY_EXITED):
        return wide || referent;
    case EVENT_TYPE(TRAINING_ENTERED):
    case EVENT_TYPE(TRAINING_EXITED):
        return k == PARTNER_KIND(TRAINING_ORG) || k == PARTNER_KIND(FRANCE_TRAVAIL) || referent;
    case EVENT_TYPE(JOB_PLACED):
    case EVENT_TYPE(JOB_ENDED):
        return k == PARTNER_KIND(EMPLOYER) || k == PARTNER_KIND(FRANCE_TRAVAIL) ||
               k == PARTNER_KIND(MISSION_LOCALE) || k == PARTNER_KIND(CAP_EMPLOI) || referent;
    case EVENT_TYPE(EVENT_RETRACTED):
        return true; /* every member its own events (test_retraction.c) */
    default:
        fail_msg("rights_allowed: type %d", (int)t);
        return false;
    }
}

/* An accompanied pathway delegated to ccas93 (structure and referent), where every kind of
 * partner is a member, then the state the type needs. */
static void rights_state(fx_world_t *w, Parcours__V1__EventType t)
{
    fx_event_t f;
    fx_reset(w);
    fx_send(w, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    f.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f.orientation_decided.structure_id = "ccas93";
    fx_accept(w, &f);
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "cd93");
    f.referent_assigned.referent_partner_id = "ccas93";
    fx_accept(w, &f);
    static const char *const joiners[] = {"ml93",   "cap93",     "caf93",
                                          "asso93", "trainer93", "employer93"};
    for (size_t i = 0; i < sizeof(joiners) / sizeof(joiners[0]); i++)
        fx_join(w, "ccas93", joiners[i]);
    switch (t) {
    case EVENT_TYPE(ORIENTATION_DENIED):
        fx_send(w, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
        break;
    case EVENT_TYPE(CONTRACT_ENDED):
        fx_send(w, EVENT_TYPE(CONTRACT_SIGNED), "ccas93");
        break;
    case EVENT_TYPE(TRAINING_EXITED):
        fx_send(w, EVENT_TYPE(TRAINING_ENTERED), "ccas93");
        break;
    case EVENT_TYPE(JOB_ENDED):
        fx_send(w, EVENT_TYPE(JOB_PLACED), "ccas93");
        break;
    case EVENT_TYPE(MEMBER_LEFT):
        fx_join(w, "cd93", "trainer2-93");
        break;
    case EVENT_TYPE(SUSPENSION_LIFTED):
        fx_send(w, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
        break;
    default:
        break;
    }
}

static void rights_event(fx_event_t *f, Parcours__V1__EventType t, const char *sender)
{
    fx_event_init(f, t, sender);
    f->orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    f->orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f->orientation_decided.structure_id = "ccas93";
    f->referent_assigned.referent_partner_id = "ccas93";
    f->member_joined.member_id = "trainer2-93";
    f->member_left.member_id = "trainer2-93";
}

static void test_rights_per_kind(void **state)
{
    for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
        for (size_t s = 0; s < sizeof(rights_senders) / sizeof(rights_senders[0]); s++) {
            rights_state(W, (Parcours__V1__EventType)t);
            fx_event_t f;
            rights_event(&f, (Parcours__V1__EventType)t, rights_senders[s]);
            if (t == EVENT_TYPE(EVENT_RETRACTED))
                /* Allowed, but pathway_apply has no history to find the event named in. */
                fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
            else if (rights_allowed(W, (Parcours__V1__EventType)t, rights_senders[s]))
                fx_accept(W, &f);
            else
                fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
        }
    }
}

static void test_rights_referent_partner(void **state)
{
    /* Oriented without referent: the structure is the referent's partner. */
    fx_build(W, PHASE(ORIENTED));
    fx_join(W, "cd93", "ccas93");
    fx_send_rejected(W, EVENT_TYPE(REFERENT_ASSIGNED), "ccas93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "ccas93", ERROR_CODE(NOT_AUTHORISED));
    fx_send(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");

    /* A referent of another partner than the structure: the referent's partner wins. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    f.referent_assigned.referent_partner_id = "ml2-93";
    fx_accept(W, &f);
    fx_send_rejected(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "ml93");
    f.member_joined.member_id = "asso93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    /* Placing is a right of its kind. */
    fx_send(W, EVENT_TYPE(JOB_PLACED), "ml93");
    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml2-93");
    fx_send(W, EVENT_TYPE(TRAINING_ENTERED), "ml2-93");
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "ml2-93");

    /* Not oriented: nobody is the referent's partner. */
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "ml93");
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(REFERENT_ASSIGNED), "cd93", ERROR_CODE(INVALID_TRANSITION));
}

static void test_rights_may_emit_narrows(void **state)
{
    fx_event_t f;

    /* Narrowing is checked first, even before the beneficiary is known. */
    partner_t cd =
        partner_variant(W, "cd93", PARTNERS_EMIT_BIT(EVENT_TYPE(APPOINTMENT_RECORDED)), false);
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_reject_as(W, &f, &cd, ERROR_CODE(NOT_AUTHORISED), NULL);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
    fx_reject_as(W, &f, &cd, ERROR_CODE(NOT_AUTHORISED), NULL);
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    fx_reject_as(W, &f, &cd, ERROR_CODE(NOT_AUTHORISED), NULL);

    /* A set bit keeps the kind's right. */
    partner_t cd_reg = partner_variant(W, "cd93",
                                       PARTNERS_EMIT_BIT(EVENT_TYPE(BENEFICIARY_REGISTERED)) |
                                           PARTNERS_EMIT_BIT(EVENT_TYPE(ORIENTATION_DECIDED)),
                                       false);
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_accept_as(W, &f, &cd_reg);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
    fx_reject_as(W, &f, &cd_reg, ERROR_CODE(NOT_AUTHORISED), NULL);

    /* France Travail narrowed to appointments. */
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    partner_t ft =
        partner_variant(W, "ft93", PARTNERS_EMIT_BIT(EVENT_TYPE(APPOINTMENT_RECORDED)), false);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DENIED), "ft93");
    fx_reject_as(W, &f, &ft, ERROR_CODE(NOT_AUTHORISED), NULL);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "ft93");
    fx_reject_as(W, &f, &ft, ERROR_CODE(NOT_AUTHORISED), NULL);
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ft93");
    fx_accept_as(W, &f, &ft);

    /* may_emit never widens a kind's rights. */
    fx_join(W, "cd93", "caf93");
    partner_t caf = partner_variant(W, "caf93",
                                    PARTNERS_EMIT_BIT(EVENT_TYPE(ORIENTATION_DECIDED)) |
                                        PARTNERS_EMIT_BIT(EVENT_TYPE(PATHWAY_EXITED)),
                                    false);
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "caf93");
    fx_reject_as(W, &f, &caf, ERROR_CODE(NOT_AUTHORISED), NULL);
    fx_event_init(&f, EVENT_TYPE(PATHWAY_EXITED), "caf93");
    fx_reject_as(W, &f, &caf, ERROR_CODE(NOT_AUTHORISED), NULL);
}

static void test_rights_other_territory_sender(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    static const char *const others[] = {"cd75", "ft75", "ml75"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
            fx_event_t f;
            fx_event_init(&f, (Parcours__V1__EventType)t, others[i]);
            fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
        }
    }
    /* Registering in its own territory a beneficiary whose open pathway it cannot see. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75");
    f.beneficiary_registered.territory = "75";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
}

/* ------------------------------------------------------------------------------------------ */
/* Recipients. */

static void test_recipients_need_to_know(void **state)
{
    fx_build(W, PHASE(ORIENTED)); /* members cd93, ml93 */
    fx_join(W, "cd93", "trainer93");
    ASSERT_RECIPIENTS(W, "ml93", "trainer93", "ft93");
    assert_true(recipient_minimised(W, "trainer93"));
    assert_false(recipient_minimised(W, "ml93"));
    assert_false(recipient_minimised(W, "ft93"));
    fx_join(W, "cd93", "employer93");
    ASSERT_RECIPIENTS(W, "ml93", "employer93", "ft93");
    assert_true(recipient_minimised(W, "employer93"));

    /* Employers and trainers never see orientations, contracts or appointments. */
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    ASSERT_RECIPIENTS(W, "ml93", "ft93");
    fx_send(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ft93");
    ASSERT_RECIPIENTS(W, "cd93", "ml93");
    fx_send(W, EVENT_TYPE(ORIENTATION_DENIED), "cd93");
    ASSERT_RECIPIENTS(W, "ml93", "ft93");
    fx_join(W, "cd93", "asso93");
    ASSERT_RECIPIENTS(W, "ml93", "asso93", "ft93");

    /* Training and job events reach them, minimised. */
    fx_send(W, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "trainer93", "employer93", "asso93", "ft93");
    assert_true(recipient_minimised(W, "trainer93"));
    assert_true(recipient_minimised(W, "employer93"));
    assert_false(recipient_minimised(W, "asso93"));
    fx_send(W, EVENT_TYPE(JOB_PLACED), "employer93");
    ASSERT_RECIPIENTS(W, "cd93", "ml93", "trainer93", "asso93", "ft93");
    fx_send(W, EVENT_TYPE(CONTRACT_ENDED), "cd93");
    ASSERT_RECIPIENTS(W, "ml93", "asso93", "ft93");
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    ASSERT_RECIPIENTS(W, "ml93", "trainer93", "employer93", "asso93", "ft93");
}

static void test_recipients_echo(void **state)
{
    partner_t cd = partner_variant(W, "cd93", 0, true);
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    fx_accept_as(W, &f, &cd);
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
    fx_accept(W, &f);
    ASSERT_RECIPIENTS(W, "ft93");

    /* An echoed minimised sender gets its own event, minimised. */
    fx_join(W, "cd93", "employer93");
    partner_t emp = partner_variant(W, "employer93", 0, true);
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    fx_accept_as(W, &f, &emp);
    ASSERT_RECIPIENTS(W, "cd93", "employer93", "ft93");
    assert_true(recipient_minimised(W, "employer93"));
}

static void test_recipients_territory(void **state)
{
    /* Only the territory-wide partners of the pathway's territory, in directory order. */
    fx_build(W, PHASE(REFERRED));
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ft93");
    ASSERT_RECIPIENTS(W, "cd93");
    fx_join(W, "cd93", "ml93");
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
    assert_false(fx_has_recipient(&W->last, "cd75"));
    assert_false(fx_has_recipient(&W->last, "ft75"));
}

static void test_recipients_member_left(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED)); /* members cd93, ml93 (referent) */
    fx_join(W, "ml93", "trainer93");
    fx_join(W, "ml93", "employer93");
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "ml93");
    fx_accept(W, &f);
    /* The partner that left receives its MemberLeft; the employer is not concerned. */
    assert_int_equal(W->last.n_recipients, 3);
    assert_true(fx_has_recipient(&W->last, "cd93"));
    assert_true(fx_has_recipient(&W->last, "ft93"));
    assert_true(fx_has_recipient(&W->last, "trainer93"));
    assert_true(recipient_minimised(W, "trainer93"));
    assert_false(fx_has_recipient(&W->last, "employer93"));
    assert_string_equal(W->last.recipients[0], "cd93");

    /* And nothing after, not even training events. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    f.training_entered.provider_id = "trainer2-93";
    fx_accept(W, &f);
    ASSERT_RECIPIENTS(W, "cd93", "employer93", "trainer2-93", "ft93");
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "employer93", "trainer2-93", "ft93");
    assert_false(fx_has_recipient(&W->last, "trainer93"));
}

static void test_recipients_skip_members_not_in_directory(void **state)
{
    fx_build(W, PHASE(ORIENTED));
    /* A pathway recorded when "gone93" was a partner, since removed from the partners file. */
    Parcours__V1__Pathway *p = pathway_copy(fx_current(W), PATHWAY_VIEW_TERRITORY, NULL);
    assert_non_null(p);
    char **members = realloc(p->members, (p->n_members + 1) * sizeof(*members));
    assert_non_null(members);
    p->members = members;
    p->members[p->n_members] = strdup("gone93");
    assert_non_null(p->members[p->n_members]);
    p->n_members++;

    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    pathway_outcome_t out;
    memset(&out, 0, sizeof(out));
    assert_int_equal(pathway_apply(p, &f.e, fx_partner(W, "ml93"), W->directory, NULL, &out), 0);
    assert_int_equal(out.n_recipients, 2);
    assert_string_equal(out.recipients[0], "cd93");
    assert_string_equal(out.recipients[1], "ft93");
    pathway_outcome_clear(&out);
    assert_null(out.pathway);
    assert_null(out.recipients);
    assert_int_equal(out.n_recipients, 0);
    parcours__v1__pathway__free_unpacked(p, NULL);
}

static void test_kind_receives(void **state)
{
    (void)state;
    for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "cd93");
        f.member_joined.member_id = "employer93";
        f.member_left.member_id = "trainer93";
        for (int k = PARTNER_KIND(DEPARTEMENT); k <= PARTNER_KIND(EMPLOYER); k++) {
            const char *id = k == PARTNER_KIND(EMPLOYER) ? "employer93" : "trainer93";
            bool expected = fx_kind_receives((Parcours__V1__PartnerKind)k, &f.e, id);
            assert_int_equal(pathway_kind_receives((Parcours__V1__PartnerKind)k, &f.e, id),
                             expected);
        }
    }
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "cd93");
    f.member_joined.member_id = "employer93";
    assert_true(pathway_kind_receives(PARTNER_KIND(EMPLOYER), &f.e, "employer93"));
    assert_false(pathway_kind_receives(PARTNER_KIND(EMPLOYER), &f.e, "employer2-93"));
    assert_false(pathway_kind_receives(PARTNER_KIND(TRAINING_ORG), &f.e, "trainer93"));
    assert_true(pathway_kind_receives(PARTNER_KIND(CCAS), &f.e, "ccas93"));
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    assert_false(pathway_kind_receives(PARTNER_KIND(EMPLOYER), &f.e, "employer93"));
    assert_false(pathway_kind_receives(PARTNER_KIND(TRAINING_ORG), &f.e, "trainer93"));
    assert_true(pathway_kind_receives(PARTNER_KIND(MISSION_LOCALE), &f.e, "ml93"));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "cd93");
    assert_false(pathway_kind_receives(PARTNER_KIND(EMPLOYER), &f.e, "employer93"));
    fx_event_init(&f, EVENT_TYPE(JOB_ENDED), "cd93");
    assert_true(pathway_kind_receives(PARTNER_KIND(TRAINING_ORG), &f.e, "trainer93"));
}

/* ------------------------------------------------------------------------------------------ */
/* pathway_copy. */

/* The fields of a pathway, each as "present or not", to compare views field by field. */
static void copy_assert_hidden_from_minimised(const Parcours__V1__Pathway *m)
{
    /* Nothing beyond their training/job facts and the exit (docs/domain.md, "Minimisation"). */
    assert_null(m->orientation);
    assert_null(m->pending_request);
    assert_int_equal(m->last_denial_reason, 0);
    assert_null(m->referent);
    assert_null(m->contract);
    assert_int_equal(m->last_contract_end_reason, 0);
    assert_null(m->last_appointment);
    assert_int_equal(m->n_members, 0);
    assert_null(m->suspension);
    assert_int_equal(m->last_suspension_lift_reason, 0);
    assert_false(m->rsa_recipient);
    assert_int_equal(m->episode, 0);
    assert_int_equal(m->created_at, 0);
    assert_int_equal(m->updated_at, 0);
    assert_int_equal(m->version, 0); /* it counts events they are not told of */
}

static void test_copy_views(void **state)
{
    fx_build(W, PHASE(ORIENTATION_REQUESTED));
    fx_send(W, EVENT_TYPE(ORIENTATION_DENIED), "cd93");
    fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    fx_send(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    fx_send(W, EVENT_TYPE(CONTRACT_ENDED), "ml93");
    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "ml93");
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    fx_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93"); /* cd93 registered: not an RSA recipient */
    fx_join(W, "ml93", "cap93");
    fx_send(W, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(JOB_PLACED), "ml93");
    assert_int_equal(p->phase, PHASE(EMPLOYED));
    assert_int_not_equal(p->last_denial_reason, 0);
    assert_int_not_equal(p->last_contract_end_reason, 0);
    assert_non_null(p->suspension);

    /* The territory's view: equal, and deep. */
    Parcours__V1__Pathway *copy = pathway_copy(p, PATHWAY_VIEW_TERRITORY, NULL);
    assert_non_null(copy);
    size_t len_p, len_c;
    uint8_t *bp = fx_pack(&p->base, &len_p);
    uint8_t *bc = fx_pack(&copy->base, &len_c);
    assert_int_equal(len_p, len_c);
    assert_memory_equal(bp, bc, len_p);
    free(bp);
    free(bc);
    assert_ptr_not_equal(copy->members, p->members);
    assert_ptr_not_equal(copy->members[0], p->members[0]);
    assert_ptr_not_equal(copy->orientation, p->orientation);
    assert_ptr_not_equal(copy->training, p->training);
    assert_ptr_not_equal(copy->beneficiary_id, p->beneficiary_id);
    parcours__v1__pathway__free_unpacked(copy, NULL);

    /* The referent's partner: all but the episode. The other members: nor the suspension. */
    copy = pathway_copy(p, PATHWAY_VIEW_REFERENT, NULL);
    assert_non_null(copy);
    assert_int_equal(copy->episode, 0);
    assert_non_null(copy->suspension);
    assert_non_null(copy->orientation);
    assert_int_equal(copy->n_members, p->n_members);
    parcours__v1__pathway__free_unpacked(copy, NULL);
    copy = pathway_copy(p, PATHWAY_VIEW_MEMBER, NULL);
    assert_non_null(copy);
    assert_int_equal(copy->episode, 0);
    assert_null(copy->suspension);
    assert_non_null(copy->orientation);
    assert_non_null(copy->contract);
    assert_int_equal(copy->version, p->version);
    parcours__v1__pathway__free_unpacked(copy, NULL);
    assert_null(pathway_copy(p, PATHWAY_VIEW_NONE, NULL));

    /* A minimised copy: training, job and exit only, no member list (cap93 would tell a
     * disability), and no partner named but the viewer: the employer sees its job and that a
     * training goes on, not who gives it; the trainer the reverse. */
    copy = pathway_copy(p, PATHWAY_VIEW_MINIMISED, "employer93");
    assert_non_null(copy);
    copy_assert_hidden_from_minimised(copy);
    assert_non_null(copy->training);
    assert_string_equal(copy->training->provider_id, "");
    assert_string_equal(copy->training->programme_code, "RNCP12345");
    assert_non_null(copy->employment);
    assert_string_equal(copy->employment->employer_partner_id, "employer93");
    assert_int_equal(copy->phase, PHASE(EMPLOYED));
    assert_string_equal(copy->beneficiary_id, FX_BENEFICIARY);
    assert_string_equal(copy->territory, "93");
    parcours__v1__pathway__free_unpacked(copy, NULL);
    copy = pathway_copy(p, PATHWAY_VIEW_MINIMISED, "trainer93");
    assert_non_null(copy);
    copy_assert_hidden_from_minimised(copy);
    assert_string_equal(copy->training->provider_id, "trainer93");
    assert_string_equal(copy->employment->employer_partner_id, "");
    parcours__v1__pathway__free_unpacked(copy, NULL);
    /* The original is untouched. */
    assert_non_null(p->orientation);
    assert_non_null(p->contract);
    assert_true(fx_has_member(p, "cap93"));

    /* The phase shows only when it reveals nothing sensitive. */
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        p = fx_build(W, fx_phases[i]);
        copy = pathway_copy(p, PATHWAY_VIEW_MINIMISED, "employer93");
        assert_non_null(copy);
        bool shown = fx_phases[i] == PHASE(EXITED) || fx_phases[i] == PHASE(EMPLOYED) ||
                     fx_phases[i] == PHASE(IN_TRAINING);
        assert_int_equal(copy->phase, shown ? fx_phases[i] : PHASE(UNSPECIFIED));
        copy_assert_hidden_from_minimised(copy);
        if (fx_phases[i] == PHASE(EXITED)) {
            assert_non_null(copy->exit);
            assert_int_equal(copy->exit->reason, p->exit->reason);
        }
        parcours__v1__pathway__free_unpacked(copy, NULL);
        copy = pathway_copy(p, PATHWAY_VIEW_TERRITORY, NULL);
        assert_non_null(copy);
        assert_int_equal(copy->phase, fx_phases[i]);
        parcours__v1__pathway__free_unpacked(copy, NULL);
    }
}

/* Who gets which view, for every partner of the fixture. */
static void test_view_for(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED)); /* cd93 registered, oriented to ml93, ml93 referent */
    fx_join(W, "ml93", "trainer93");
    fx_join(W, "ml93", "caf93");
    const Parcours__V1__Pathway *p = fx_current(W);
    static const struct {
        const char *id;
        pathway_view_t view;
    } expected[] = {
        {"cd93", PATHWAY_VIEW_TERRITORY},      {"ft93", PATHWAY_VIEW_TERRITORY},
        {"ml93", PATHWAY_VIEW_REFERENT},       {"caf93", PATHWAY_VIEW_MEMBER},
        {"trainer93", PATHWAY_VIEW_MINIMISED}, {"ccas93", PATHWAY_VIEW_NONE},
        {"employer93", PATHWAY_VIEW_NONE},     {"cd75", PATHWAY_VIEW_NONE},
        {"ft75", PATHWAY_VIEW_NONE},           {"cafidf", PATHWAY_VIEW_NONE},
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (pathway_view_for(p, fx_partner(W, expected[i].id)) != expected[i].view)
            fail_msg("%s gets view %d, not %d", expected[i].id,
                     (int)pathway_view_for(p, fx_partner(W, expected[i].id)),
                     (int)expected[i].view);
    assert_int_equal(pathway_view_for(NULL, fx_partner(W, "cd93")), PATHWAY_VIEW_NONE);
    /* Without a referent, the oriented structure acts as the referent's partner. */
    fx_build(W, PHASE(ORIENTED));
    assert_int_equal(pathway_view_for(fx_current(W), fx_partner(W, "ml93")), PATHWAY_VIEW_REFERENT);
}

/* The event an EMPLOYER or TRAINING_ORG is sent: without who sent it, unless it did, and
 * naming no other partner. */
static void test_event_minimised(void **state)
{
    (void)state;
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "ccas93");
    f.e.expected_version = 4;
    assert_true(pathway_event_minimised_for(fx_partner(W, "employer93"), &f.e));
    assert_true(pathway_event_minimised_for(fx_partner(W, "trainer93"), &f.e));
    assert_false(pathway_event_minimised_for(fx_partner(W, "ml93"), &f.e));
    assert_false(pathway_event_minimised_for(fx_partner(W, "cd93"), &f.e));
    pathway_event_view_t shown;
    pathway_event_minimise(&f.e, "employer93", &shown);
    assert_string_equal(shown.event.partner_id, "");
    assert_string_equal(shown.event.event_id, "");
    assert_int_equal(shown.event.expected_version, 0);
    assert_string_equal(shown.event.beneficiary_id, FX_BENEFICIARY);
    assert_string_equal(shown.event.job_placed->employer_partner_id, "employer93");
    assert_int_equal(shown.event.job_placed->kind, f.job_placed.kind);
    size_t len;
    uint8_t *bytes = fx_pack(&shown.event.base, &len);
    assert_null(memmem(bytes, len, "ccas93", 6));
    free(bytes);
    /* To a trainer, the same job names no employer. */
    pathway_event_minimise(&f.e, "trainer93", &shown);
    assert_string_equal(shown.event.job_placed->employer_partner_id, "");
    bytes = fx_pack(&shown.event.base, &len);
    assert_null(memmem(bytes, len, "employer93", 10));
    free(bytes);
    /* A training, to an employer: no provider. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    pathway_event_minimise(&f.e, "employer93", &shown);
    assert_string_equal(shown.event.training_entered->provider_id, "");
    assert_string_equal(shown.event.training_entered->programme_code, "RNCP12345");
    pathway_event_minimise(&f.e, "trainer93", &shown);
    assert_string_equal(shown.event.training_entered->provider_id, "trainer93");
    /* The original is untouched; and its own event comes back to an employer whole. */
    assert_string_equal(f.e.partner_id, "ml93");
    assert_string_equal(f.training_entered.provider_id, "trainer93");
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    assert_false(pathway_event_minimised_for(fx_partner(W, "employer93"), &f.e));
}

/* ------------------------------------------------------------------------------------------ */
/* The domain's rules that the first version lacked (issue 10, item 5). */

static void test_reorientation_ends_contract(void **state)
{
    /* The same structure again: the contract stays. */
    fx_build(W, PHASE(CONTRACTED)); /* ml93 structure, referent, signer */
    const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    assert_non_null(p->contract);
    assert_non_null(p->referent);

    /* Another structure: the contract signed with the previous one ends, and its signer, who
     * stays a member, is told. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIAL;
    f.orientation_decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
    f.orientation_decided.structure_id = "ccas93";
    p = fx_accept(W, &f);
    assert_null(p->contract);
    assert_null(p->referent);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_REORIENTATION);
    assert_int_equal(p->phase, PHASE(ORIENTED));
    ASSERT_MEMBERS(p, "cd93", "ml93", "ccas93");
    ASSERT_RECIPIENTS(W, "ml93", "ccas93", "ft93");
    /* A new contract may then be signed with the new structure once it names a referent. */
    fx_event_init(&f, EVENT_TYPE(REFERENT_ASSIGNED), "ccas93");
    f.referent_assigned.referent_partner_id = "ccas93";
    fx_accept(W, &f);
    p = fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ccas93");
    assert_string_equal(p->contract->signed_with, "ccas93");
}

/* Every referent body against every kind of partner as the oriented structure. */
static void test_structure_fits_referent_body(void **state)
{
    static const struct {
        const char *id;
        Parcours__V1__ReferentBody fits; /* UNSPECIFIED: none */
        Parcours__V1__ReferentBody also;
    } structures[] = {
        {"cd93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DEPARTEMENT, 0},
        {"ft93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_FRANCE_TRAVAIL, 0},
        {"ml93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE, 0},
        {"cap93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_CAP_EMPLOI, 0},
        {"ccas93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED, 0},
        {"asso93", PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED, 0},
        {"caf93", 0, 0},
        {"trainer93", 0, 0},
        {"employer93", 0, 0},
    };
    unsigned accepted = 0;
    for (size_t i = 0; i < sizeof(structures) / sizeof(structures[0]); i++) {
        for (int b = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DEPARTEMENT;
             b <= PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED; b++) {
            fx_build(W, PHASE(REFERRED));
            fx_event_t f;
            fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
            f.orientation_decided.referent_body = (Parcours__V1__ReferentBody)b;
            f.orientation_decided.structure_id = (char *)structures[i].id;
            if ((int)structures[i].fits == b) {
                fx_accept(W, &f);
                accepted++;
            } else {
                fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
            }
        }
    }
    assert_int_equal(accepted, 6);
}

/* ------------------------------------------------------------------------------------------ */
/* Minimisation for the senders of the minimised kinds (issue 10, item 4). */

static void test_minimised_senders_rights(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_join(W, "ml93", "trainer93");
    fx_join(W, "ml93", "employer93");
    /* They may not ask for an orientation nor record an appointment: they see too little of the
     * pathway, and must not overwrite what the referent recorded. */
    static const char *const minimised[] = {"trainer93", "employer93"};
    for (size_t i = 0; i < 2; i++) {
        fx_send_rejected(W, EVENT_TYPE(ORIENTATION_REQUESTED), minimised[i],
                         ERROR_CODE(NOT_AUTHORISED));
        fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), minimised[i],
                         ERROR_CODE(NOT_AUTHORISED));
    }
    /* Members of other kinds still may. */
    fx_join(W, "ml93", "asso93");
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "asso93");
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "asso93");
}

/*
 * A minimised member's replies depend only on what it may see: among pathways that differ only
 * in facts outside its view (request, denial, referent, contract, appointments, suspension,
 * other members, the pathway type), every reply is the same. A training provider's training
 * needs an orientation: before one, it is answered as a blind sender would be.
 */
static void test_minimised_senders_replies(void **state)
{
    for (int m = 0; m < 2; m++) {
        const char *member = m == 0 ? "trainer93" : "employer93";
        /* The blind sentence, as this partner gets it about a beneficiary it does not follow. */
        char blind[PATHWAY_MESSAGE_MAX];
        fx_event_t b;
        fx_reset(W);
        fx_event_init(&b, EVENT_TYPE(APPOINTMENT_RECORDED), member);
        fx_reject_as(W, &b, NULL, ERROR_CODE(NOT_AUTHORISED), blind);
        /* Every reply is compared with the first state's: group 0, not oriented; group 1,
         * oriented to ml93. The one difference allowed: a training it may enter is accepted
         * once the person is oriented, and refused with the blind sentence before. */
        static char reference[FX_TYPE_LAST + 1][16][PATHWAY_MESSAGE_MAX];
        static int reference_rc[FX_TYPE_LAST + 1][16];
        for (int group = 0; group < 2; group++) {
            for (int variant = 0; variant < 4; variant++) {
                fx_build(W, group == 0 ? PHASE(REFERRED) : PHASE(ORIENTED));
                if (group == 0 && variant >= 1)
                    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
                if (group == 0 && variant >= 2) {
                    fx_send(W, EVENT_TYPE(ORIENTATION_DENIED), "cd93");
                    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "cd93");
                }
                if (group == 1 && variant >= 1)
                    fx_send(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
                if (group == 1 && variant >= 2) {
                    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
                    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
                    fx_join(W, "ml93", "cap93");
                }
                if (variant >= 3)
                    fx_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
                fx_join(W, "cd93", member);
                /* Every type, the partners a training or a job may name in every role, and
                 * expected_version given or not. */
                static const char *const named[] = {"",           "trainer93",    "trainer2-93",
                                                    "employer93", "employer2-93", "nobody93",
                                                    "cap93"};
                enum { NAMED = sizeof(named) / sizeof(named[0]) };
                for (int t = FX_TYPE_FIRST; t <= FX_TYPE_LAST; t++) {
                    for (size_t k = 0; k < NAMED * 2; k++) {
                        fx_event_t f;
                        fx_event_init(&f, (Parcours__V1__EventType)t, member);
                        f.training_entered.provider_id = (char *)named[k % NAMED];
                        f.job_placed.employer_partner_id = (char *)named[k % NAMED];
                        f.e.expected_version = k >= NAMED ? 3 : 0;
                        pathway_outcome_t out;
                        int rc = fx_apply(W, &f, NULL, &out);
                        char message[PATHWAY_MESSAGE_MAX];
                        memcpy(message, out.message, sizeof(message));
                        pathway_outcome_clear(&out);
                        bool entered_once_oriented =
                            t == EVENT_TYPE(TRAINING_ENTERED) && group == 1 && rc == 0 &&
                            reference_rc[t][k] == 1 && strcmp(reference[t][k], blind) == 0;
                        if (group == 0 && variant == 0) {
                            memcpy(reference[t][k], message, sizeof(message));
                            reference_rc[t][k] = rc;
                        } else if (!entered_once_oriented &&
                                   (rc != reference_rc[t][k] ||
                                    strcmp(message, reference[t][k]) != 0)) {
                            fail_msg("%s, group %d variant %d, %s naming \"%s\": rc %d \"%s\", "
                                     "not rc %d \"%s\"",
                                     member, group, variant,
                                     event_type_name((Parcours__V1__EventType)t), named[k % NAMED],
                                     rc, message, reference_rc[t][k], reference[t][k]);
                        }
                    }
                }
            }
        }
    }
    /* Before any orientation, a provider's TrainingEntered gets the blind sentence, the very one
     * it gets about a beneficiary it does not follow. */
    fx_event_t f;
    char blind[PATHWAY_MESSAGE_MAX], member[PATHWAY_MESSAGE_MAX];
    fx_reset(W);
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), blind);
    fx_build(W, PHASE(REFERRED));
    fx_join(W, "cd93", "trainer93");
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), member);
    assert_string_equal(blind, member);
    /* Another kind is told why. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "ft93");
    fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), member);
    assert_non_null(strstr(member, "not oriented"));
}

/* Employers and training providers do not see the version, which counts events they are not
 * told of: they are not told it in their Acks, and may not send expected_version. A suspension,
 * told to the referent's partner and the territory-wide only, changes neither the version nor
 * the date of the last change, so the other members cannot read it from them. */
static void test_version_tells_nothing(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_join(W, "ml93", "employer93");
    fx_join(W, "ml93", "caf93");
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    f.job_placed.employer_partner_id = "";
    f.e.expected_version = fx_current(W)->version;
    char message[PATHWAY_MESSAGE_MAX];
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), message);
    assert_non_null(strstr(message, "expected_version 0"));
    pathway_outcome_t out;
    fx_event_init(&f, EVENT_TYPE(JOB_PLACED), "employer93");
    f.job_placed.employer_partner_id = "";
    assert_int_equal(fx_apply(W, &f, NULL, &out), 0);
    assert_int_equal(out.version, 0);
    assert_int_not_equal(out.pathway->version, 0);
    pathway_outcome_clear(&out);

    /* A member that is not the referent's partner: the same version and date before and after a
     * suspension and its lifting. */
    const Parcours__V1__Pathway *p = fx_current(W);
    uint64_t version = p->version;
    int64_t updated_at = p->updated_at;
    p = fx_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
    assert_int_equal(p->version, version);
    assert_int_equal(p->updated_at, updated_at);
    Parcours__V1__Pathway *view = pathway_copy(p, PATHWAY_VIEW_MEMBER, "caf93");
    assert_null(view->suspension);
    assert_int_equal(view->version, version);
    assert_int_equal(view->updated_at, updated_at);
    parcours__v1__pathway__free_unpacked(view, NULL);
    p = fx_send(W, EVENT_TYPE(SUSPENSION_LIFTED), "ft93");
    assert_int_equal(p->version, version);
    /* And its expected_version still matches after them. */
    fx_event_init(&f, EVENT_TYPE(APPOINTMENT_RECORDED), "caf93");
    f.e.expected_version = version;
    p = fx_accept(W, &f);
    assert_int_equal(p->version, version + 1);
}

/* ------------------------------------------------------------------------------------------ */
/* The law of 18 December 2023 (issue 10, item 6). */

static void test_contrat_engagement(void **state)
{
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    f.contract_signed.plan_action_ref = "pa-ml93-0042";
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(p->contract->kind,
                     PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT);
    assert_string_equal(p->contract->plan_action_ref, "pa-ml93-0042");
    assert_int_equal(p->contract->weekly_hours, 15); /* the law's default */
    assert_int_equal(p->contract->reduced_hours_reason, 0);
    assert_false(p->contract->hours_exempted);
    assert_int_equal(p->phase, PHASE(CONTRACTED));

    /* Fewer hours for a coded reason, or an exemption. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    f.contract_signed.plan_action_ref = "pa-ml93-0043";
    f.contract_signed.weekly_hours = 8;
    f.contract_signed.reduced_hours_reason =
        PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_LONE_PARENT_WITHOUT_CHILDCARE;
    p = fx_accept(W, &f);
    assert_int_equal(p->contract->weekly_hours, 8);
    assert_int_equal(
        p->contract->reduced_hours_reason,
        PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_LONE_PARENT_WITHOUT_CHILDCARE);
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    f.contract_signed.plan_action_ref = "pa-ml93-0044";
    f.contract_signed.hours_exempted = true;
    f.contract_signed.reduced_hours_reason =
        PARCOURS__V1__REDUCED_HOURS_REASON__REDUCED_HOURS_REASON_HEALTH;
    p = fx_accept(W, &f);
    assert_true(p->contract->hours_exempted);
    assert_int_equal(p->contract->weekly_hours, 0);
    /* Kept in the members' view, never in the minimised one. */
    Parcours__V1__Pathway *view = pathway_copy(p, PATHWAY_VIEW_MEMBER, NULL);
    assert_string_equal(view->contract->plan_action_ref, "pa-ml93-0044");
    parcours__v1__pathway__free_unpacked(view, NULL);
    view = pathway_copy(p, PATHWAY_VIEW_MINIMISED, "employer93");
    assert_null(view->contract);
    parcours__v1__pathway__free_unpacked(view, NULL);
}

static void test_legacy_contracts_cutover(void **state)
{
    static const int64_t day = INT64_C(86400000);
    const int64_t cutover = PATHWAY_LEGACY_CONTRACTS_REFUSED_FROM; /* 2025-01-01 */
    static const Parcours__V1__ContractKind legacy[] = {
        PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CER,
        PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE};
    for (size_t i = 0; i < 2; i++) {
        /* Before the cut-over: still accepted (a contract signed then, recorded now). */
        fx_build(W, PHASE(ACCOMPANIED));
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
        f.contract_signed.kind = legacy[i];
        f.contract_signed.start = cutover - day;
        f.contract_signed.end = 0;
        fx_accept(W, &f);
        /* From the cut-over on: a contrat d'engagement must be signed. */
        fx_build(W, PHASE(ACCOMPANIED));
        fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
        f.contract_signed.kind = legacy[i];
        f.contract_signed.start = cutover;
        f.contract_signed.end = 0;
        char message[PATHWAY_MESSAGE_MAX];
        fx_reject_as(W, &f, NULL, ERROR_CODE(INVALID_TRANSITION), message);
        assert_non_null(strstr(message, "contrat d'engagement"));
        /* A territory that moves its date later accepts it. */
        W->settings.legacy_contracts_refused_from = cutover + 365 * day;
        fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
        f.contract_signed.kind = legacy[i];
        f.contract_signed.start = cutover;
        f.contract_signed.end = 0;
        fx_accept(W, &f);
        pathway_settings_default(&W->settings);
    }
    /* A date of 1970-01-01 (unix ms 0) refuses every CER and PPAE: 0 is a date like any other. */
    W->settings.legacy_contracts_refused_from = 0;
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE;
    f.contract_signed.end = 0;
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
    pathway_settings_default(&W->settings);
    /* The youth contracts stay. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ml93");
    f.contract_signed.start = cutover + 400 * day;
    f.contract_signed.end = 0;
    fx_accept(W, &f); /* a CEJ */
    /* Migration: the old contract ends, a contrat d'engagement is signed. */
    fx_build(W, PHASE(ACCOMPANIED));
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE;
    f.contract_signed.start = cutover - 300 * day;
    f.contract_signed.end = 0;
    fx_accept(W, &f);
    fx_event_init(&f, EVENT_TYPE(CONTRACT_ENDED), "ft93");
    f.contract_ended.reason = PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_MIGRATION;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_MIGRATION);
    fx_event_init(&f, EVENT_TYPE(CONTRACT_SIGNED), "ft93");
    f.contract_signed.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    f.contract_signed.plan_action_ref = "pa-ft93-7";
    f.contract_signed.start = cutover + 700 * day;
    f.contract_signed.end = 0;
    p = fx_accept(W, &f);
    assert_int_equal(p->contract->kind,
                     PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT);
}

static void test_orientation_notified_at(void **state)
{
    fx_build(W, PHASE(REFERRED));
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
    f.orientation_decided.notified_at = f.e.occurred_at - 3 * 86400 * 1000;
    const Parcours__V1__Pathway *p = fx_accept(W, &f);
    assert_int_equal(p->orientation->notified_at, f.orientation_decided.notified_at);
    assert_int_equal(p->orientation->decided_at, f.e.occurred_at);
}

/* Who decides a suspension-remobilisation: the departement for an RSA recipient, France Travail
 * for anyone else; nobody else, not even the referent's partner. */
static void test_suspension_rights(void **state)
{
    static const char *const senders[] = {"cd93",   "ft93",   "ml93",      "cap93",     "caf93",
                                          "ccas93", "asso93", "trainer93", "employer93"};
    for (int rsa = 0; rsa < 3; rsa++) {
        for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
            fx_event_t f;
            fx_reset(W);
            /* 0: registered by cd93, not RSA; 1: by cd93 as an RSA recipient; 2: by the CAF. */
            fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), rsa == 2 ? "caf93" : "cd93");
            f.beneficiary_registered.rsa_recipient = rsa == 1;
            const Parcours__V1__Pathway *p = fx_accept(W, &f);
            assert_int_equal(p->rsa_recipient, rsa != 0);
            fx_send(W, EVENT_TYPE(ORIENTATION_DECIDED), "cd93");
            fx_send(W, EVENT_TYPE(REFERENT_ASSIGNED), "ml93");
            static const char *const joiners[] = {"cap93",  "caf93",     "ccas93",
                                                  "asso93", "trainer93", "employer93"};
            for (size_t j = 0; j < sizeof(joiners) / sizeof(joiners[0]); j++)
                if (!fx_has_member(fx_current(W), joiners[j]))
                    fx_join(W, "ml93", joiners[j]);
            bool allowed = strcmp(senders[i], rsa ? "cd93" : "ft93") == 0;
            fx_event_init(&f, EVENT_TYPE(SUSPENSION_DECIDED), senders[i]);
            if (!allowed) {
                char message[PATHWAY_MESSAGE_MAX];
                fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), message);
                continue;
            }
            p = fx_accept(W, &f);
            assert_non_null(p->suspension);
            assert_int_equal(p->suspension->reason,
                             PARCOURS__V1__SUSPENSION_REASON__SUSPENSION_REASON_APPOINTMENT_MISSED);
            assert_string_equal(p->suspension->decided_by, senders[i]);
            assert_int_equal(p->suspension->decided_at, f.e.occurred_at);
            assert_int_equal(p->phase, PHASE(ACCOMPANIED));
            /* Told to the referent's partner and the territory-wide only. */
            ASSERT_RECIPIENTS(W, "ml93", rsa ? "ft93" : "cd93");
            /* Once in force, not twice; lifted by the same authority, once. */
            fx_send_rejected(W, EVENT_TYPE(SUSPENSION_DECIDED), senders[i],
                             ERROR_CODE(INVALID_TRANSITION));
            fx_send_rejected(W, EVENT_TYPE(SUSPENSION_LIFTED), rsa ? "ft93" : "cd93",
                             ERROR_CODE(NOT_AUTHORISED));
            fx_send_rejected(W, EVENT_TYPE(SUSPENSION_LIFTED), "ml93", ERROR_CODE(NOT_AUTHORISED));
            p = fx_send(W, EVENT_TYPE(SUSPENSION_LIFTED), senders[i]);
            assert_null(p->suspension);
            assert_int_equal(
                p->last_suspension_lift_reason,
                PARCOURS__V1__SUSPENSION_LIFT_REASON__SUSPENSION_LIFT_REASON_REMOBILISED_PAID_BACK);
            ASSERT_RECIPIENTS(W, "ml93", rsa ? "ft93" : "cd93");
            fx_send_rejected(W, EVENT_TYPE(SUSPENSION_LIFTED), senders[i],
                             ERROR_CODE(INVALID_TRANSITION));
        }
    }
    /* The sentence to the territory-wide partner that may not decide says who does. */
    fx_build(W, PHASE(REFERRED)); /* cd93 registered: not RSA */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(SUSPENSION_DECIDED), "cd93");
    char message[PATHWAY_MESSAGE_MAX];
    fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), message);
    assert_non_null(strstr(message, "France Travail"));
    /* Without a referent nor a structure, only the territory-wide are told. */
    fx_send(W, EVENT_TYPE(SUSPENSION_DECIDED), "ft93");
    ASSERT_RECIPIENTS(W, "cd93");
}

/* ------------------------------------------------------------------------------------------ */
/* A whole pathway. */

static void test_full_scenario(void **state)
{
    struct step {
        Parcours__V1__EventType type;
        const char *sender;
        const char *member; /* MemberJoined / MemberLeft */
        Parcours__V1__Phase phase;
    };
    static const struct step steps[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", NULL, PHASE(REFERRED)},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "caf93", NULL, PHASE(ORIENTATION_REQUESTED)},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", NULL, PHASE(ORIENTED)},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ml93", NULL, PHASE(ACCOMPANIED)},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", NULL, PHASE(ACCOMPANIED)},
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", NULL, PHASE(CONTRACTED)},
        {EVENT_TYPE(MEMBER_JOINED), "ml93", "trainer93", PHASE(CONTRACTED)},
        {EVENT_TYPE(TRAINING_ENTERED), "trainer93", NULL, PHASE(IN_TRAINING)},
        {EVENT_TYPE(TRAINING_EXITED), "trainer93", NULL, PHASE(CONTRACTED)},
        {EVENT_TYPE(MEMBER_LEFT), "ml93", "trainer93", PHASE(CONTRACTED)},
        {EVENT_TYPE(MEMBER_JOINED), "ml93", "employer93", PHASE(CONTRACTED)},
        {EVENT_TYPE(JOB_PLACED), "employer93", NULL, PHASE(EMPLOYED)},
        {EVENT_TYPE(CONTRACT_ENDED), "ml93", NULL, PHASE(EMPLOYED)},
        {EVENT_TYPE(JOB_ENDED), "employer93", NULL, PHASE(ACCOMPANIED)},
        {EVENT_TYPE(JOB_PLACED), "ft93", NULL, PHASE(EMPLOYED)},
        {EVENT_TYPE(PATHWAY_EXITED), "ml93", NULL, PHASE(EXITED)},
    };
    int64_t created_at = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        fx_event_t f;
        fx_event_init(&f, steps[i].type, steps[i].sender);
        /* The version before the event; employers and trainers do not see it. */
        if (!fx_kind_minimised(fx_partner(W, steps[i].sender)->kind))
            f.e.expected_version = i;
        if (steps[i].member != NULL) {
            f.member_joined.member_id = (char *)steps[i].member;
            f.member_left.member_id = (char *)steps[i].member;
        }
        const Parcours__V1__Pathway *p = fx_accept(W, &f);
        if (i == 0)
            created_at = f.e.occurred_at;
        assert_int_equal(p->version, i + 1);
        assert_int_equal(p->episode, 1);
        assert_int_equal(p->created_at, created_at);
        assert_int_equal(p->updated_at, f.e.occurred_at);
        if (p->phase != steps[i].phase)
            fail_msg("step %zu: phase %d, expected %d", i, (int)p->phase, (int)steps[i].phase);
    }
    const Parcours__V1__Pathway *p = fx_current(W);
    /* The group ended with the exit, and was told of it. */
    assert_int_equal(p->n_members, 0);
    ASSERT_RECIPIENTS(W, "caf93", "cd93", "employer93", "ft93");
    assert_int_equal(p->exit->reason, PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED);
    assert_int_equal(p->last_training_outcome,
                     PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_CERTIFIED);
    assert_int_equal(p->last_job_end_reason,
                     PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_TERM_REACHED);
    assert_null(p->pending_request);
    /* The employment in force ended with the exit. */
    assert_null(p->employment);
    assert_null(p->referent);
    assert_non_null(p->orientation);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_phase_derivation_first_match_wins),
        T(test_phase_each_through_events),
        T(test_has_member),
        T(test_register_new_pathway),
        T(test_register_rights_per_kind),
        T(test_register_territory),
        T(test_register_on_each_open_phase),
        T(test_register_expected_version),
        T(test_register_expect_no_pathway),
        T(test_deadlines_running),
        T(test_deadline_missed_rule),
        T(test_reentry_after_exit),
        T(test_orientation_requested),
        T(test_orientation_decided),
        T(test_orientation_decided_structure_change),
        T(test_orientation_denied),
        T(test_referent_assigned),
        T(test_contract_signed),
        T(test_contract_ended),
        T(test_training_entered),
        T(test_training_exited),
        T(test_job_placed),
        T(test_job_ended),
        T(test_appointment_recorded),
        T(test_member_joined),
        T(test_member_left),
        T(test_pathway_exited),
        T(test_exited_pathway_refuses_every_event),
        T(test_reject_unknown_beneficiary),
        T(test_reject_invalid_transition),
        T(test_reject_version_conflict),
        T(test_reject_not_authorised),
        T(test_reject_malformed),
        T(test_reject_unknown_partner),
        T(test_no_oracle),
        T(test_no_oracle_property),
        T(test_no_oracle_blind_reentry),
        T(test_rights_per_kind),
        T(test_rights_referent_partner),
        T(test_rights_may_emit_narrows),
        T(test_rights_other_territory_sender),
        T(test_recipients_need_to_know),
        T(test_recipients_echo),
        T(test_recipients_territory),
        T(test_recipients_member_left),
        T(test_recipients_skip_members_not_in_directory),
        T(test_kind_receives),
        T(test_copy_views),
        T(test_view_for),
        T(test_event_minimised),
        T(test_reorientation_ends_contract),
        T(test_structure_fits_referent_body),
        T(test_minimised_senders_rights),
        T(test_minimised_senders_replies),
        T(test_version_tells_nothing),
        T(test_contrat_engagement),
        T(test_legacy_contracts_cutover),
        T(test_orientation_notified_at),
        T(test_suspension_rights),
        T(test_full_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
