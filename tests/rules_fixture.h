/*
 * rules_fixture.h: what test_pathway.c and test_event.c share to build events, a partners
 * directory and pathways, written from the rules (docs/domain.md and the comments of
 * proto/parcours.proto), not from the implementation.
 *
 * An fx_event_t is an Event with every payload stored inside it: fx_event_init() fills the
 * payload of the type with valid values, and a test changes what it needs. A fx_world_t holds
 * the directory and the current pathway, which only ever changes through pathway_apply().
 * Header-only: every function is static.
 */
#ifndef PARCOURS_TESTS_RULES_FIXTURE_H
#define PARCOURS_TESTS_RULES_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "event_frame.h"
#include "partners.h"
#include "pathway.h"
#include "wire_names.h"

/* Static data a test file may not use. */
#define FX_UNUSED __attribute__((unused))

#define FX_BENEFICIARY "B-0001"
#define FX_TERRITORY   "93"

/* ------------------------------------------------------------------------------------------ */
/* Events. */

typedef struct fx_event {
    Parcours__V1__Event e;
    char event_id[EVENT_ID_MAX + 1];
    Parcours__V1__BeneficiaryRegistered beneficiary_registered;
    Parcours__V1__OrientationRequested orientation_requested;
    Parcours__V1__OrientationDecided orientation_decided;
    Parcours__V1__OrientationDenied orientation_denied;
    Parcours__V1__ReferentAssigned referent_assigned;
    Parcours__V1__ContractSigned contract_signed;
    Parcours__V1__ContractEnded contract_ended;
    Parcours__V1__TrainingEntered training_entered;
    Parcours__V1__TrainingExited training_exited;
    Parcours__V1__JobPlaced job_placed;
    Parcours__V1__JobEnded job_ended;
    Parcours__V1__AppointmentRecorded appointment_recorded;
    Parcours__V1__MemberJoined member_joined;
    Parcours__V1__MemberLeft member_left;
    Parcours__V1__PathwayExited pathway_exited;
    Parcours__V1__SuspensionDecided suspension_decided;
    Parcours__V1__SuspensionLifted suspension_lifted;
    Parcours__V1__EventRetracted event_retracted;
} fx_event_t;

/* Every event happens one second after the previous one, so dates tell events apart. */
static int64_t fx_clock FX_UNUSED = INT64_C(1700000000000);
static unsigned fx_event_counter FX_UNUSED;

static inline int64_t fx_now(void)
{
    fx_clock += 1000;
    return fx_clock;
}

/*
 * Fills f with a valid event of this type sent by sender about FX_BENEFICIARY, with a fresh
 * event_id and occurred_at. The payload names the usual partners of the fixture: structure and
 * referent ml93, provider trainer93, employer employer93, member trainer93. f must not be copied
 * by value afterwards (the event points into it).
 */
static inline void fx_event_init(fx_event_t *f, Parcours__V1__EventType type, const char *sender)
{
    memset(f, 0, sizeof(*f));
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    f->e = e;
    snprintf(f->event_id, sizeof(f->event_id), "ev-%06u", ++fx_event_counter);
    f->e.event_id = f->event_id;
    f->e.partner_id = (char *)sender;
    f->e.beneficiary_id = FX_BENEFICIARY;
    f->e.occurred_at = fx_now();
    f->e.expected_version = 0;
    f->e.payload_case = (Parcours__V1__Event__PayloadCase)(EVENT_PAYLOAD_OFFSET + (int)type);
    int64_t at = f->e.occurred_at;

    switch (type) {
    case EVENT_TYPE(BENEFICIARY_REGISTERED): {
        Parcours__V1__BeneficiaryRegistered m = PARCOURS__V1__BENEFICIARY_REGISTERED__INIT;
        m.territory = FX_TERRITORY;
        f->beneficiary_registered = m;
        f->e.beneficiary_registered = &f->beneficiary_registered;
        break;
    }
    case EVENT_TYPE(ORIENTATION_REQUESTED): {
        Parcours__V1__OrientationRequested m = PARCOURS__V1__ORIENTATION_REQUESTED__INIT;
        m.requested_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI;
        m.reason =
            PARCOURS__V1__ORIENTATION_REQUEST_REASON__ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION;
        f->orientation_requested = m;
        f->e.orientation_requested = &f->orientation_requested;
        break;
    }
    case EVENT_TYPE(ORIENTATION_DECIDED): {
        Parcours__V1__OrientationDecided m = PARCOURS__V1__ORIENTATION_DECIDED__INIT;
        m.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_SOCIO_PRO;
        m.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE;
        m.structure_id = "ml93";
        m.notified_at = at - 86400 * 1000;
        f->orientation_decided = m;
        f->e.orientation_decided = &f->orientation_decided;
        break;
    }
    case EVENT_TYPE(ORIENTATION_DENIED): {
        Parcours__V1__OrientationDenied m = PARCOURS__V1__ORIENTATION_DENIED__INIT;
        m.reason =
            PARCOURS__V1__ORIENTATION_DENIAL_REASON__ORIENTATION_DENIAL_REASON_CURRENT_ORIENTATION_FITS;
        f->orientation_denied = m;
        f->e.orientation_denied = &f->orientation_denied;
        break;
    }
    case EVENT_TYPE(REFERENT_ASSIGNED): {
        Parcours__V1__ReferentAssigned m = PARCOURS__V1__REFERENT_ASSIGNED__INIT;
        m.referent_partner_id = "ml93";
        m.professional_ref = "pro-17";
        f->referent_assigned = m;
        f->e.referent_assigned = &f->referent_assigned;
        break;
    }
    case EVENT_TYPE(CONTRACT_SIGNED): {
        Parcours__V1__ContractSigned m = PARCOURS__V1__CONTRACT_SIGNED__INIT;
        m.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CEJ;
        m.start = at;
        m.end = at + INT64_C(180) * 86400 * 1000;
        f->contract_signed = m;
        f->e.contract_signed = &f->contract_signed;
        break;
    }
    case EVENT_TYPE(CONTRACT_ENDED): {
        Parcours__V1__ContractEnded m = PARCOURS__V1__CONTRACT_ENDED__INIT;
        m.reason = PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_TERM_REACHED;
        f->contract_ended = m;
        f->e.contract_ended = &f->contract_ended;
        break;
    }
    case EVENT_TYPE(TRAINING_ENTERED): {
        Parcours__V1__TrainingEntered m = PARCOURS__V1__TRAINING_ENTERED__INIT;
        m.provider_id = "trainer93";
        m.programme_code = "RNCP12345";
        m.start = at;
        m.expected_end = at + INT64_C(90) * 86400 * 1000;
        f->training_entered = m;
        f->e.training_entered = &f->training_entered;
        break;
    }
    case EVENT_TYPE(TRAINING_EXITED): {
        Parcours__V1__TrainingExited m = PARCOURS__V1__TRAINING_EXITED__INIT;
        m.outcome = PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_CERTIFIED;
        f->training_exited = m;
        f->e.training_exited = &f->training_exited;
        break;
    }
    case EVENT_TYPE(JOB_PLACED): {
        Parcours__V1__JobPlaced m = PARCOURS__V1__JOB_PLACED__INIT;
        m.kind = PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_CDD;
        m.employer_partner_id = "employer93";
        m.start = at;
        f->job_placed = m;
        f->e.job_placed = &f->job_placed;
        break;
    }
    case EVENT_TYPE(JOB_ENDED): {
        Parcours__V1__JobEnded m = PARCOURS__V1__JOB_ENDED__INIT;
        m.reason = PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED;
        f->job_ended = m;
        f->e.job_ended = &f->job_ended;
        break;
    }
    case EVENT_TYPE(APPOINTMENT_RECORDED): {
        Parcours__V1__AppointmentRecorded m = PARCOURS__V1__APPOINTMENT_RECORDED__INIT;
        m.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_INDIVIDUAL;
        m.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_NOSHOW;
        m.at = at - 3600 * 1000;
        f->appointment_recorded = m;
        f->e.appointment_recorded = &f->appointment_recorded;
        break;
    }
    case EVENT_TYPE(MEMBER_JOINED): {
        Parcours__V1__MemberJoined m = PARCOURS__V1__MEMBER_JOINED__INIT;
        m.member_id = "trainer93";
        f->member_joined = m;
        f->e.member_joined = &f->member_joined;
        break;
    }
    case EVENT_TYPE(MEMBER_LEFT): {
        Parcours__V1__MemberLeft m = PARCOURS__V1__MEMBER_LEFT__INIT;
        m.member_id = "trainer93";
        f->member_left = m;
        f->e.member_left = &f->member_left;
        break;
    }
    case EVENT_TYPE(PATHWAY_EXITED): {
        Parcours__V1__PathwayExited m = PARCOURS__V1__PATHWAY_EXITED__INIT;
        m.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED;
        f->pathway_exited = m;
        f->e.pathway_exited = &f->pathway_exited;
        break;
    }
    case EVENT_TYPE(SUSPENSION_DECIDED): {
        Parcours__V1__SuspensionDecided m = PARCOURS__V1__SUSPENSION_DECIDED__INIT;
        m.reason = PARCOURS__V1__SUSPENSION_REASON__SUSPENSION_REASON_APPOINTMENT_MISSED;
        f->suspension_decided = m;
        f->e.suspension_decided = &f->suspension_decided;
        break;
    }
    case EVENT_TYPE(SUSPENSION_LIFTED): {
        Parcours__V1__SuspensionLifted m = PARCOURS__V1__SUSPENSION_LIFTED__INIT;
        m.reason =
            PARCOURS__V1__SUSPENSION_LIFT_REASON__SUSPENSION_LIFT_REASON_REMOBILISED_PAID_BACK;
        f->suspension_lifted = m;
        f->e.suspension_lifted = &f->suspension_lifted;
        break;
    }
    case EVENT_TYPE(EVENT_RETRACTED): {
        /* Names an event the sender never sent: pathway_apply has no history to find it in. */
        Parcours__V1__EventRetracted m = PARCOURS__V1__EVENT_RETRACTED__INIT;
        m.retracted_event_id = "ev-never-sent";
        m.reason = PARCOURS__V1__RETRACTION_REASON__RETRACTION_REASON_WRONG_CONTENT;
        f->event_retracted = m;
        f->e.event_retracted = &f->event_retracted;
        break;
    }
    default:
        fail_msg("fx_event_init: no such event type %d", (int)type);
    }
}

/* The first and last event types, for loops over all of them. */
#define FX_TYPE_FIRST EVENT_TYPE(BENEFICIARY_REGISTERED)
#define FX_TYPE_LAST  EVENT_TYPE(EVENT_RETRACTED)

/* Packs a message into a buffer the caller frees; *len receives its size. */
static inline uint8_t *fx_pack(const ProtobufCMessage *m, size_t *len)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), size);
    *len = size;
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* The partners directory. */

typedef struct fx_partner_def {
    const char *id;
    Parcours__V1__PartnerKind kind;
    const char *territory1;
    const char *territory2;
} fx_partner_def_t;

/* Directory order matters: territory-wide recipients come in this order (cd93, then ft93). */
static const fx_partner_def_t fx_partner_defs[] FX_UNUSED = {
    {"cd93", PARTNER_KIND(DEPARTEMENT), "93", NULL},
    {"ft93", PARTNER_KIND(FRANCE_TRAVAIL), "93", NULL},
    {"ml93", PARTNER_KIND(MISSION_LOCALE), "93", NULL},
    {"cap93", PARTNER_KIND(CAP_EMPLOI), "93", NULL},
    {"caf93", PARTNER_KIND(CAF), "93", NULL},
    {"ccas93", PARTNER_KIND(CCAS), "93", NULL},
    {"asso93", PARTNER_KIND(ASSOCIATION), "93", NULL},
    {"trainer93", PARTNER_KIND(TRAINING_ORG), "93", NULL},
    {"trainer2-93", PARTNER_KIND(TRAINING_ORG), "93", NULL},
    {"employer93", PARTNER_KIND(EMPLOYER), "93", NULL},
    {"employer2-93", PARTNER_KIND(EMPLOYER), "93", NULL},
    {"cd75", PARTNER_KIND(DEPARTEMENT), "75", NULL},
    {"ft75", PARTNER_KIND(FRANCE_TRAVAIL), "75", NULL},
    {"ml75", PARTNER_KIND(MISSION_LOCALE), "75", NULL},
    {"cafidf", PARTNER_KIND(CAF), "75", "92"},
    {"ml2-93", PARTNER_KIND(MISSION_LOCALE), "93", NULL},
};

static inline partners_t *fx_directory_new(void)
{
    partners_t *dir = partners_new();
    assert_non_null(dir);
    for (size_t i = 0; i < sizeof(fx_partner_defs) / sizeof(fx_partner_defs[0]); i++) {
        const fx_partner_def_t *d = &fx_partner_defs[i];
        partner_t p;
        memset(&p, 0, sizeof(p));
        snprintf(p.id, sizeof(p.id), "%s", d->id);
        snprintf(p.name, sizeof(p.name), "Partner %s", d->id);
        p.kind = d->kind;
        snprintf(p.territories[0], sizeof(p.territories[0]), "%s", d->territory1);
        p.n_territories = 1;
        if (d->territory2 != NULL) {
            snprintf(p.territories[1], sizeof(p.territories[1]), "%s", d->territory2);
            p.n_territories = 2;
        }
        assert_int_equal(partners_add(dir, &p), PARTNERS_OK);
    }
    return dir;
}

/* ------------------------------------------------------------------------------------------ */
/* The world: a directory and the current pathway of FX_BENEFICIARY. */

typedef struct fx_world {
    partners_t *directory;
    pathway_settings_t settings; /* the defaults, unless a test changes them */
    pathway_outcome_t last;      /* the outcome that holds the current pathway */
} fx_world_t;

static inline int fx_setup(void **state)
{
    fx_world_t *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->directory = fx_directory_new();
    pathway_settings_default(&w->settings);
    *state = w;
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx_world_t *w = *state;
    pathway_outcome_clear(&w->last);
    partners_destroy(&w->directory);
    assert_null(w->directory);
    free(w);
    return 0;
}

/* Drops the current pathway: the beneficiary has none again. */
static inline void fx_reset(fx_world_t *w)
{
    pathway_outcome_clear(&w->last);
}

static inline const Parcours__V1__Pathway *fx_current(const fx_world_t *w)
{
    return w->last.pathway;
}

static inline const partner_t *fx_partner(const fx_world_t *w, const char *id)
{
    const partner_t *p = partners_find(w->directory, id);
    if (p == NULL)
        fail_msg("no partner %s in the fixture directory", id);
    return p;
}

static inline bool fx_has_member(const Parcours__V1__Pathway *p, const char *id)
{
    for (size_t i = 0; i < p->n_members; i++)
        if (strcmp(p->members[i], id) == 0)
            return true;
    return false;
}

static inline bool fx_has_recipient(const pathway_outcome_t *o, const char *id)
{
    for (size_t i = 0; i < o->n_recipients; i++)
        if (strcmp(o->recipients[i], id) == 0)
            return true;
    return false;
}

static inline bool fx_kind_territory_wide(Parcours__V1__PartnerKind k)
{
    return k == PARTNER_KIND(DEPARTEMENT) || k == PARTNER_KIND(FRANCE_TRAVAIL);
}

static inline bool fx_kind_minimised(Parcours__V1__PartnerKind k)
{
    return k == PARTNER_KIND(EMPLOYER) || k == PARTNER_KIND(TRAINING_ORG);
}

/* The rule of need to know for one kind, as the spec words it. */
static inline bool fx_kind_receives(Parcours__V1__PartnerKind kind, const Parcours__V1__Event *e,
                                    const char *id)
{
    if (!fx_kind_minimised(kind))
        return true;
    switch (e->payload_case) {
    case PAYLOAD(TRAINING_ENTERED):
    case PAYLOAD(TRAINING_EXITED):
    case PAYLOAD(JOB_PLACED):
    case PAYLOAD(JOB_ENDED):
    case PAYLOAD(PATHWAY_EXITED):
    case PAYLOAD(EVENT_RETRACTED): /* only ever told to who was told of the retracted event */
        return true;
    case PAYLOAD(MEMBER_JOINED):
        return strcmp(e->member_joined->member_id, id) == 0;
    case PAYLOAD(MEMBER_LEFT):
        return strcmp(e->member_left->member_id, id) == 0;
    default:
        return false;
    }
}

/* The partner that refers the person: the referent's, else the oriented structure's. */
static inline const char *fx_referent_partner(const Parcours__V1__Pathway *p)
{
    if (p->referent != NULL && p->referent->partner_id[0] != '\0')
        return p->referent->partner_id;
    if (p->orientation != NULL && p->orientation->structure_id[0] != '\0')
        return p->orientation->structure_id;
    return NULL;
}

static inline bool fx_is_suspension(const Parcours__V1__Event *e)
{
    return e->payload_case == PAYLOAD(SUSPENSION_DECIDED) ||
           e->payload_case == PAYLOAD(SUSPENSION_LIFTED);
}

/* Whether id is in the expected recipients of an accepted event (as a set): the group after the
 * event (for a suspension, only the referent's partner), the territory-wide partners of the
 * pathway's territory, a leaving member; filtered by what the kind receives, minus the sender. */
static inline bool fx_expected_recipient(const fx_world_t *w, const Parcours__V1__Pathway *before,
                                         const Parcours__V1__Pathway *after,
                                         const Parcours__V1__Event *e, const partner_t *sender,
                                         const char *id)
{
    /* The group that ends with an exit is told of it. */
    const Parcours__V1__Pathway *group =
        e->payload_case == PAYLOAD(PATHWAY_EXITED) && before != NULL ? before : after;
    const partner_t *p = partners_find(w->directory, id);
    if (p == NULL || !partner_in_territory(p, after->territory))
        return false;
    if (!sender->echo && strcmp(sender->id, id) == 0)
        return false;
    const char *referent = fx_referent_partner(after);
    bool in_group = fx_is_suspension(e) ? referent != NULL && strcmp(referent, id) == 0
                                        : fx_has_member(group, id);
    bool candidate =
        in_group || fx_kind_territory_wide(p->kind) ||
        (e->payload_case == PAYLOAD(MEMBER_LEFT) && strcmp(e->member_left->member_id, id) == 0);
    return candidate && fx_kind_receives(p->kind, e, id);
}

/* Packs current (or "none") so that a test can check it was not modified. */
static inline uint8_t *fx_snapshot(const ProtobufCMessage *m, size_t *len)
{
    if (m == NULL) {
        *len = 0;
        return NULL;
    }
    return fx_pack(m, len);
}

static inline void fx_assert_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                                  const char *what)
{
    if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
        fail_msg("pathway_apply modified %s", what);
}

/*
 * Applies f sent by sender (the directory's partner of f's partner_id when NULL) to the current
 * pathway, into *out (zeroed here). Checks that neither the current pathway nor the event changed,
 * and the shape of the outcome for each result. Returns what pathway_apply returned.
 */
static inline int fx_apply(fx_world_t *w, fx_event_t *f, const partner_t *sender,
                           pathway_outcome_t *out)
{
    if (sender == NULL)
        sender = fx_partner(w, f->e.partner_id);
    const Parcours__V1__Pathway *current = fx_current(w);
    size_t clen, elen, clen2, elen2;
    uint8_t *cbefore = fx_snapshot(current ? &current->base : NULL, &clen);
    uint8_t *ebefore = fx_snapshot(&f->e.base, &elen);

    memset(out, 0, sizeof(*out));
    int rc = pathway_apply(current, &f->e, sender, w->directory, &w->settings, out);

    uint8_t *cafter = fx_snapshot(current ? &current->base : NULL, &clen2);
    uint8_t *eafter = fx_snapshot(&f->e.base, &elen2);
    fx_assert_same(cbefore, clen, cafter, clen2, "the current pathway");
    fx_assert_same(ebefore, elen, eafter, elen2, "the event");
    free(cbefore);
    free(ebefore);
    free(cafter);
    free(eafter);

    if (rc == 1) {
        if (out->message[0] == '\0')
            fail_msg("rejection %d without a message", (int)out->code);
        assert_int_not_equal(out->code, ERROR_CODE(UNSPECIFIED));
        assert_null(out->pathway);
        assert_null(out->recipients);
        assert_int_equal(out->n_recipients, 0);
    } else if (rc == 0) {
        assert_int_equal(out->code, ERROR_CODE(UNSPECIFIED));
        assert_non_null(out->pathway);
    }
    return rc;
}

/* The invariants of every accepted event. */
static inline void fx_check_accepted(const fx_world_t *w, const Parcours__V1__Pathway *before,
                                     const Parcours__V1__Event *e, const partner_t *sender,
                                     const pathway_outcome_t *o)
{
    const Parcours__V1__Pathway *p = o->pathway;
    /* The version counts the events of the episode: a registration starts a new one at 1; a
     * suspension, told to few, changes neither the version nor the date of the last change. */
    bool registration = e->payload_case == PAYLOAD(BENEFICIARY_REGISTERED);
    if (fx_is_suspension(e)) {
        assert_int_equal(p->version, before->version);
        assert_int_equal(p->updated_at, before->updated_at);
    } else {
        assert_int_equal(p->version, registration ? 1 : before->version + 1);
        assert_int_equal(p->updated_at, e->occurred_at);
    }
    /* The sender is told the version, unless it may not see it. */
    assert_int_equal(o->version, fx_kind_minimised(sender->kind) ? 0 : p->version);
    assert_string_equal(p->beneficiary_id, e->beneficiary_id);
    assert_int_equal(p->phase, pathway_phase(p));
    for (size_t i = 0; i < p->n_members; i++)
        for (size_t j = i + 1; j < p->n_members; j++)
            if (strcmp(p->members[i], p->members[j]) == 0)
                fail_msg("member %s twice", p->members[i]);

    /* Every recipient is expected, once... */
    for (size_t i = 0; i < o->n_recipients; i++) {
        const char *id = o->recipients[i];
        assert_non_null(id);
        for (size_t j = i + 1; j < o->n_recipients; j++)
            if (strcmp(id, o->recipients[j]) == 0)
                fail_msg("recipient %s twice", id);
        if (!fx_expected_recipient(w, before, p, e, sender, id))
            fail_msg("%s notified of event %d though it does not need to know", id,
                     (int)e->payload_case);
        const partner_t *rp = partners_find(w->directory, id);
        assert_non_null(rp);
        assert_true(partner_in_territory(rp, p->territory));
    }
    /* ...and every partner that needs to know is a recipient. */
    for (size_t i = 0; i < partners_count(w->directory); i++) {
        const partner_t *dp = partners_at(w->directory, i);
        if (fx_expected_recipient(w, before, p, e, sender, dp->id) && !fx_has_recipient(o, dp->id))
            fail_msg("%s not notified of event %d", dp->id, (int)e->payload_case);
    }
}

/* Applies f as sender (NULL: the directory's), asserts it is accepted and makes it current. */
static inline const Parcours__V1__Pathway *fx_accept_as(fx_world_t *w, fx_event_t *f,
                                                        const partner_t *sender)
{
    if (sender == NULL)
        sender = fx_partner(w, f->e.partner_id);
    pathway_outcome_t out;
    int rc = fx_apply(w, f, sender, &out);
    if (rc != 0)
        fail_msg("event %d from %s rejected (rc %d, code %d): %s", (int)f->e.payload_case,
                 f->e.partner_id, rc, (int)out.code, out.message);
    fx_check_accepted(w, fx_current(w), &f->e, sender, &out);
    pathway_outcome_clear(&w->last);
    w->last = out;
    return w->last.pathway;
}

static inline const Parcours__V1__Pathway *fx_accept(fx_world_t *w, fx_event_t *f)
{
    return fx_accept_as(w, f, NULL);
}

/* Applies f as sender (NULL: the directory's) and asserts it is rejected with code. The
 * message is copied to message (may be NULL, PATHWAY_MESSAGE_MAX bytes). */
static inline void fx_reject_as(fx_world_t *w, fx_event_t *f, const partner_t *sender,
                                Parcours__V1__ErrorCode code, char *message)
{
    pathway_outcome_t out;
    int rc = fx_apply(w, f, sender, &out);
    if (rc != 1 || out.code != code) {
        int got = (int)out.code;
        char msg[PATHWAY_MESSAGE_MAX];
        snprintf(msg, sizeof(msg), "%s", out.message);
        pathway_outcome_clear(&out);
        fail_msg("event %d from %s: expected rejection %d, got rc %d code %d (%s)",
                 (int)f->e.payload_case, f->e.partner_id, (int)code, rc, got, msg);
    }
    if (message != NULL)
        memcpy(message, out.message, PATHWAY_MESSAGE_MAX);
    pathway_outcome_clear(&out);
}

static inline void fx_reject(fx_world_t *w, fx_event_t *f, Parcours__V1__ErrorCode code)
{
    fx_reject_as(w, f, NULL, code, NULL);
}

/* Shorthands: send a default event of a type and expect it accepted / rejected. */
static inline const Parcours__V1__Pathway *fx_send(fx_world_t *w, Parcours__V1__EventType type,
                                                   const char *sender)
{
    fx_event_t f;
    fx_event_init(&f, type, sender);
    return fx_accept(w, &f);
}

static inline void fx_send_rejected(fx_world_t *w, Parcours__V1__EventType type, const char *sender,
                                    Parcours__V1__ErrorCode code)
{
    fx_event_t f;
    fx_event_init(&f, type, sender);
    fx_reject(w, &f, code);
}

static inline const Parcours__V1__Pathway *fx_join(fx_world_t *w, const char *sender,
                                                   const char *member)
{
    fx_event_t f;
    fx_event_init(&f, EVENT_TYPE(MEMBER_JOINED), sender);
    f.member_joined.member_id = (char *)member;
    return fx_accept(w, &f);
}

/*
 * Builds the pathway of FX_BENEFICIARY up to a phase through real events, from nothing:
 * REFERRED: cd93 registers in 93. ORIENTATION_REQUESTED: + cd93 requests an orientation.
 * ORIENTED: REFERRED + cd93 orients to ml93. ACCOMPANIED: + ml93 names itself referent.
 * CONTRACTED: + ml93 signs a CEJ. IN_TRAINING: + ml93 enters a training at trainer93.
 * EMPLOYED: + ml93 places at employer93. EXITED: + cd93 exits the pathway.
 */
static inline const Parcours__V1__Pathway *fx_build(fx_world_t *w, Parcours__V1__Phase phase)
{
    static const Parcours__V1__EventType steps[] = {
        EVENT_TYPE(ORIENTATION_DECIDED), EVENT_TYPE(REFERENT_ASSIGNED), EVENT_TYPE(CONTRACT_SIGNED),
        EVENT_TYPE(TRAINING_ENTERED),    EVENT_TYPE(JOB_PLACED),        EVENT_TYPE(PATHWAY_EXITED),
    };
    static const char *const senders[] = {"cd93", "ml93", "ml93", "ml93", "ml93", "cd93"};
    static const Parcours__V1__Phase phases[] = {PHASE(ORIENTED),   PHASE(ACCOMPANIED),
                                                 PHASE(CONTRACTED), PHASE(IN_TRAINING),
                                                 PHASE(EMPLOYED),   PHASE(EXITED)};

    fx_reset(w);
    const Parcours__V1__Pathway *p = fx_send(w, EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93");
    assert_int_equal(p->phase, PHASE(REFERRED));
    if (phase == PHASE(REFERRED))
        return p;
    if (phase == PHASE(ORIENTATION_REQUESTED)) {
        p = fx_send(w, EVENT_TYPE(ORIENTATION_REQUESTED), "cd93");
        assert_int_equal(p->phase, PHASE(ORIENTATION_REQUESTED));
        return p;
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        p = fx_send(w, steps[i], senders[i]);
        assert_int_equal(p->phase, phases[i]);
        assert_int_equal(pathway_phase(p), phases[i]);
        if (phases[i] == phase)
            return p;
    }
    fail_msg("fx_build: no such phase %d", (int)phase);
    return NULL;
}

/* Every phase, in the order of the rules (the one fx_build follows after ORIENTATION_REQUESTED). */
static const Parcours__V1__Phase fx_phases[] FX_UNUSED = {
    PHASE(REFERRED),   PHASE(ORIENTATION_REQUESTED), PHASE(ORIENTED), PHASE(ACCOMPANIED),
    PHASE(CONTRACTED), PHASE(IN_TRAINING),           PHASE(EMPLOYED), PHASE(EXITED),
};
#define FX_N_PHASES (sizeof(fx_phases) / sizeof(fx_phases[0]))

#endif
