/*
 * test_pathway.c: the pathway rules (pathway.h), tested from the rules, not from the code.
 *
 * Every state is reached through real events applied by pathway_apply(); every accepted event
 * is checked against the invariants of rules_fixture.h (version + 1, updated_at, derived phase,
 * recipients exactly those who need to know, current pathway and event untouched). The tests
 * below check what each rule adds: the transition table row by row, each rejection code, the
 * rights of each kind, the no-oracle rule, the recipients and the minimised view.
 */
#include "rules_fixture.h"

#define W ((fx_world_t *)*state)

/* Assertions on the recipients of the last accepted event, in order. */
static void assert_recipients(const fx_world_t *w, const char *const *ids, size_t n)
{
    const pathway_outcome_t *o = &w->last;
    if (o->n_recipients != n) {
        char got[512] = "";
        for (size_t i = 0; i < o->n_recipients; i++) {
            strncat(got, o->recipients[i].partner_id, sizeof(got) - strlen(got) - 2);
            strncat(got, " ", sizeof(got) - strlen(got) - 1);
        }
        fail_msg("expected %zu recipients, got %zu: %s", n, o->n_recipients, got);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(o->recipients[i].partner_id, ids[i]);
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

static bool recipient_minimised(const fx_world_t *w, const char *id)
{
    for (size_t i = 0; i < w->last.n_recipients; i++)
        if (strcmp(w->last.recipients[i].partner_id, id) == 0)
            return w->last.recipients[i].minimised;
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
    assert_false(W->last.recipients[0].minimised);
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
        /* The open check comes before the version check. */
        fx_event_t f;
        fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
        f.e.expected_version = version + 5;
        fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));
        /* Those who do not see it learn nothing. */
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93",
                         ERROR_CODE(NOT_AUTHORISED));
        fx_send_rejected(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "cap93",
                         ERROR_CODE(NOT_AUTHORISED));
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
    assert_int_equal(p->version, version + 1);
    assert_int_equal(p->episode, 2);
}

static void test_reentry_after_exit(void **state)
{
    fx_build(W, PHASE(EMPLOYED));
    fx_send(W, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
    fx_send(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93");
    const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    assert_non_null(p->orientation);
    assert_non_null(p->referent);
    assert_non_null(p->contract);
    assert_non_null(p->training);
    assert_non_null(p->employment);
    assert_non_null(p->pending_request);
    assert_non_null(p->last_appointment);
    int64_t created_at = p->created_at;
    uint64_t version = p->version;

    /* Anyone who may register in the territory may reopen it: the pathway is not open. */
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93");
    p = fx_accept(W, &f);
    assert_int_equal(p->episode, 2);
    assert_int_equal(p->version, version + 1);
    assert_int_equal(p->created_at, created_at);
    assert_int_equal(p->updated_at, f.e.occurred_at);
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
    assert_int_equal(p->version, version + 2);

    /* And a third episode. */
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "cd93");
    p = fx_send(W, EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93");
    assert_int_equal(p->episode, 3);
    assert_int_equal(p->version, version + 4);
    assert_int_equal(p->created_at, created_at);
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
    f.referent_assigned.referent_partner_id = "ccas93";
    f.referent_assigned.professional_ref = "";
    p = fx_accept(W, &f);
    assert_string_equal(p->referent->partner_id, "ccas93");
    assert_string_equal(p->referent->professional_ref, "");
    assert_int_equal(p->referent->assigned_at, f.e.occurred_at);
    ASSERT_MEMBERS(p, "cd93", "ml93", "ccas93");
    assert_int_equal(p->phase, PHASE(ACCOMPANIED));

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
    /* The state is checked before the sender's identity. */
    fx_event_init(&f, EVENT_TYPE(TRAINING_ENTERED), "trainer93");
    f.training_entered.provider_id = "trainer2-93";
    fx_reject(W, &f, ERROR_CODE(INVALID_TRANSITION));

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

    /* Without a referent, the oriented structure may leave. */
    fx_build(W, PHASE(ORIENTED));
    fx_event_init(&f, EVENT_TYPE(MEMBER_LEFT), "cd93");
    f.member_left.member_id = "ml93";
    p = fx_accept(W, &f);
    ASSERT_MEMBERS(p, "cd93");
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
    /* The facts stay for the record. */
    assert_non_null(p->referent);
    ASSERT_MEMBERS(p, "cd93", "ml93");
    ASSERT_RECIPIENTS(W, "cd93", "ft93");
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
    fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "cd93", ERROR_CODE(INVALID_TRANSITION));
    fx_send_rejected(W, EVENT_TYPE(JOB_ENDED), "employer93", ERROR_CODE(INVALID_TRANSITION));
    assert_int_equal(fx_current(W)->version, version);
}

/* ------------------------------------------------------------------------------------------ */
/* One test per rejection code. */

static void test_reject_unknown_beneficiary(void **state)
{
    /* Territory-wide partners may know that the beneficiary has no pathway. */
    for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
        fx_event_t f;
        fx_event_init(&f, (Parcours__V1__EventType)t, "ft93");
        fx_reject(W, &f, ERROR_CODE(UNKNOWN_BENEFICIARY));
        fx_event_init(&f, (Parcours__V1__EventType)t, "cd93");
        fx_reject(W, &f, ERROR_CODE(UNKNOWN_BENEFICIARY));
    }
    /* Nobody else may. */
    static const char *const others[] = {"ml93",   "cap93",     "caf93",     "ccas93",
                                         "asso93", "trainer93", "employer93"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        fx_send_rejected(W, EVENT_TYPE(APPOINTMENT_RECORDED), others[i],
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
/* No oracle. */

static void test_no_oracle(void **state)
{
    /* Partners that are never in the group built by fx_build, nor territory-wide in 93. */
    static const char *const strangers[] = {"caf93",        "ccas93", "asso93", "trainer2-93",
                                            "employer2-93", "ml75",   "cd75",   "ft75"};
    enum { N = sizeof(strangers) / sizeof(strangers[0]) };
    static char reference[N][FX_TYPE_LAST + 1][PATHWAY_MESSAGE_MAX];
    static bool have[N][FX_TYPE_LAST + 1];
    memset(have, 0, sizeof(have));

    /* No pathway (the territory-wide of another territory are excluded here: with no pathway
     * they are territory-wide partners to whom UNKNOWN_BENEFICIARY is allowed). */
    for (size_t s = 0; s < N; s++) {
        if (strcmp(strangers[s], "cd75") == 0 || strcmp(strangers[s], "ft75") == 0)
            continue;
        for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
            fx_event_t f;
            fx_event_init(&f, (Parcours__V1__EventType)t, strangers[s]);
            fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), reference[s][t]);
            have[s][t] = true;
        }
    }
    /* Each phase: the same code and the same sentence, word for word. */
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        fx_build(W, fx_phases[i]);
        for (size_t s = 0; s < N; s++) {
            for (int t = FX_TYPE_FIRST + 1; t <= FX_TYPE_LAST; t++) {
                fx_event_t f;
                fx_event_init(&f, (Parcours__V1__EventType)t, strangers[s]);
                fx_event_t g;
                fx_event_init(&g, (Parcours__V1__EventType)t, strangers[s]);
                /* With a version: not even a VERSION_CONFLICT may leak. */
                g.e.expected_version = 999;
                char message[PATHWAY_MESSAGE_MAX];
                char message_v[PATHWAY_MESSAGE_MAX];
                fx_reject_as(W, &f, NULL, ERROR_CODE(NOT_AUTHORISED), message);
                fx_reject_as(W, &g, NULL, ERROR_CODE(NOT_AUTHORISED), message_v);
                if (!have[s][t]) {
                    memcpy(reference[s][t], message, PATHWAY_MESSAGE_MAX);
                    have[s][t] = true;
                }
                if (strcmp(message, reference[s][t]) != 0 ||
                    strcmp(message_v, reference[s][t]) != 0)
                    fail_msg("%s, type %d, phase %d: \"%s\" / \"%s\" differs from \"%s\"",
                             strangers[s], t, (int)fx_phases[i], message, message_v,
                             reference[s][t]);
            }
        }
    }
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
        return true;
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
            if (rights_allowed(W, (Parcours__V1__EventType)t, rights_senders[s]))
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
    f.referent_assigned.referent_partner_id = "ccas93";
    fx_accept(W, &f);
    fx_send_rejected(W, EVENT_TYPE(CONTRACT_SIGNED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(PATHWAY_EXITED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_send_rejected(W, EVENT_TYPE(TRAINING_ENTERED), "ml93", ERROR_CODE(NOT_AUTHORISED));
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), "ml93");
    f.member_joined.member_id = "asso93";
    fx_reject(W, &f, ERROR_CODE(NOT_AUTHORISED));
    /* Placing is a right of its kind. */
    fx_send(W, EVENT_TYPE(JOB_PLACED), "ml93");
    fx_send(W, EVENT_TYPE(CONTRACT_SIGNED), "ccas93");
    fx_send(W, EVENT_TYPE(TRAINING_ENTERED), "ccas93");
    fx_send(W, EVENT_TYPE(PATHWAY_EXITED), "ccas93");

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
    fx_reject_as(W, &f, &cd, ERROR_CODE(UNKNOWN_BENEFICIARY), NULL);

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
    assert_string_equal(W->last.recipients[0].partner_id, "cd93");

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
    Parcours__V1__Pathway *p = pathway_copy(fx_current(W), false);
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
    assert_int_equal(pathway_apply(p, &f.e, fx_partner(W, "ml93"), W->directory, &out), 0);
    assert_int_equal(out.n_recipients, 2);
    assert_string_equal(out.recipients[0].partner_id, "cd93");
    assert_string_equal(out.recipients[1].partner_id, "ft93");
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

static void test_copy_full_and_minimised(void **state)
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
    fx_send(W, EVENT_TYPE(TRAINING_ENTERED), "ml93");
    const Parcours__V1__Pathway *p = fx_send(W, EVENT_TYPE(JOB_PLACED), "ml93");
    assert_int_equal(p->phase, PHASE(EMPLOYED));
    assert_int_not_equal(p->last_denial_reason, 0);
    assert_int_not_equal(p->last_contract_end_reason, 0);

    /* A full copy: equal, and deep. */
    Parcours__V1__Pathway *copy = pathway_copy(p, false);
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

    /* A minimised copy: training, job, exit and the group only. */
    copy = pathway_copy(p, true);
    assert_non_null(copy);
    assert_null(copy->orientation);
    assert_null(copy->pending_request);
    assert_int_equal(copy->last_denial_reason, 0);
    assert_null(copy->referent);
    assert_null(copy->contract);
    assert_int_equal(copy->last_contract_end_reason, 0);
    assert_null(copy->last_appointment);
    assert_non_null(copy->training);
    assert_string_equal(copy->training->provider_id, "trainer93");
    assert_string_equal(copy->training->programme_code, "RNCP12345");
    assert_non_null(copy->employment);
    assert_string_equal(copy->employment->employer_partner_id, "employer93");
    assert_int_equal(copy->phase, PHASE(EMPLOYED));
    assert_string_equal(copy->beneficiary_id, FX_BENEFICIARY);
    assert_string_equal(copy->territory, "93");
    assert_int_equal(copy->episode, p->episode);
    assert_int_equal(copy->version, p->version);
    assert_int_equal(copy->created_at, p->created_at);
    assert_int_equal(copy->updated_at, p->updated_at);
    assert_int_equal(copy->n_members, p->n_members);
    for (size_t i = 0; i < p->n_members; i++)
        assert_string_equal(copy->members[i], p->members[i]);
    parcours__v1__pathway__free_unpacked(copy, NULL);
    /* The original is untouched. */
    assert_non_null(p->orientation);
    assert_non_null(p->contract);

    /* The phase shows only when it reveals nothing sensitive. */
    for (size_t i = 0; i < FX_N_PHASES; i++) {
        p = fx_build(W, fx_phases[i]);
        copy = pathway_copy(p, true);
        assert_non_null(copy);
        bool shown = fx_phases[i] == PHASE(EXITED) || fx_phases[i] == PHASE(EMPLOYED) ||
                     fx_phases[i] == PHASE(IN_TRAINING);
        assert_int_equal(copy->phase, shown ? fx_phases[i] : PHASE(UNSPECIFIED));
        assert_null(copy->orientation);
        assert_null(copy->pending_request);
        if (fx_phases[i] == PHASE(EXITED)) {
            assert_non_null(copy->exit);
            assert_int_equal(copy->exit->reason, p->exit->reason);
        }
        parcours__v1__pathway__free_unpacked(copy, NULL);
        copy = pathway_copy(p, false);
        assert_non_null(copy);
        assert_int_equal(copy->phase, fx_phases[i]);
        parcours__v1__pathway__free_unpacked(copy, NULL);
    }
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
        f.e.expected_version = i; /* the version before the event */
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
    assert_int_equal(p->n_members, 4);
    assert_string_equal(p->members[0], "caf93");
    assert_true(fx_has_member(p, "cd93"));
    assert_true(fx_has_member(p, "ml93"));
    assert_string_equal(p->members[3], "employer93");
    assert_int_equal(p->exit->reason, PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED);
    assert_int_equal(p->last_training_outcome,
                     PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_CERTIFIED);
    assert_int_equal(p->last_job_end_reason,
                     PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED);
    assert_int_equal(p->last_contract_end_reason,
                     PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_TERM_REACHED);
    assert_null(p->pending_request);
    assert_non_null(p->employment);
    assert_string_equal(p->employment->employer_partner_id, "employer93");
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
        T(test_copy_full_and_minimised),
        T(test_full_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
