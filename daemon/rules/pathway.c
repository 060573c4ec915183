/*
 * pathway.c: the pathway rules, as a pure function of (pathway, event, sender, directory,
 * settings). The rules are docs/domain.md's; this file is their one implementation.
 *
 * An event goes through the same checks in the same order, and the first that fails decides
 * the rejection:
 *   1. the partner's may_emit narrowing;
 *   2. visibility: a partner that may not see the pathway (a *blind* sender) gets one
 *      NOT_AUTHORISED sentence, the same whether the pathway exists or not and whatever its
 *      state (no oracle); a registration is judged against what its sender may see;
 *   3. the right of the sender's kind (or role: referent's partner, member) for the type;
 *   4. expected_version (and a registration's expect_no_pathway), against the version the
 *      sender may see;
 *   5. the transition table's precondition, then the partners the event names. A precondition
 *      on a fact an EMPLOYER or TRAINING_ORG may not see answers it with the blind sentence.
 * Only checks 1 to 3 may depend on the sender alone; from 4 on, the sender may see the pathway.
 * Then the effect is applied to a copy of the pathway, and the recipients are computed from the
 * pathway after the event: the follow-up group, the territory-wide partners, minus the sender,
 * each filtered by what its kind may know (suspensions go to the referent's partner and the
 * territory-wide partners only).
 *
 * Memory: the new pathway is an unpacked-style protobuf-c message. Every string is either the
 * shared protobuf_c_empty_string or a heap copy, every sub-message is heap allocated, so the
 * whole is freed with parcours__v1__pathway__free_unpacked(p, NULL).
 */
#include "pathway.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "event_frame.h"
#include "message_copy.h"
#include "transfer.h"
#include "wire_names.h"

#define KIND_BIT(kind) (UINT32_C(1) << (unsigned)PARTNER_KIND(kind))
#define TERRITORY_WIDE (KIND_BIT(DEPARTEMENT) | KIND_BIT(FRANCE_TRAVAIL))
#define MINIMISED      (KIND_BIT(TRAINING_ORG) | KIND_BIT(EMPLOYER))

/*
 * Who may emit each type (docs/domain.md, "Who may emit what"): a set of kinds, plus the partner
 * that refers the person, plus anyone who may see the pathway but the minimised kinds (they see
 * too little of it to act on it). Suspensions follow their own rule (rsa_rule): the DEPARTEMENT
 * for an RSA recipient, FRANCE_TRAVAIL otherwise.
 */
static const struct {
    uint32_t kinds;
    bool referent_partner;
    bool any_visible;
    bool rsa_rule;
} emit_rights[] = {
    [EVENT_TYPE(BENEFICIARY_REGISTERED)] = {TERRITORY_WIDE | KIND_BIT(CAF) |
                                                KIND_BIT(MISSION_LOCALE) | KIND_BIT(CAP_EMPLOI),
                                            false, false, false},
    [EVENT_TYPE(ORIENTATION_REQUESTED)] = {0, false, true, false},
    [EVENT_TYPE(ORIENTATION_DECIDED)] = {TERRITORY_WIDE, false, false, false},
    [EVENT_TYPE(ORIENTATION_DENIED)] = {TERRITORY_WIDE, false, false, false},
    [EVENT_TYPE(REFERENT_ASSIGNED)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(CONTRACT_SIGNED)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(CONTRACT_ENDED)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(TRAINING_ENTERED)] = {KIND_BIT(TRAINING_ORG) | KIND_BIT(FRANCE_TRAVAIL), true,
                                      false, false},
    [EVENT_TYPE(TRAINING_EXITED)] = {KIND_BIT(TRAINING_ORG) | KIND_BIT(FRANCE_TRAVAIL), true, false,
                                     false},
    [EVENT_TYPE(JOB_PLACED)] = {KIND_BIT(EMPLOYER) | KIND_BIT(FRANCE_TRAVAIL) |
                                    KIND_BIT(MISSION_LOCALE) | KIND_BIT(CAP_EMPLOI),
                                true, false, false},
    [EVENT_TYPE(JOB_ENDED)] = {KIND_BIT(EMPLOYER) | KIND_BIT(FRANCE_TRAVAIL) |
                                   KIND_BIT(MISSION_LOCALE) | KIND_BIT(CAP_EMPLOI),
                               true, false, false},
    [EVENT_TYPE(APPOINTMENT_RECORDED)] = {0, false, true, false},
    [EVENT_TYPE(MEMBER_JOINED)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(MEMBER_LEFT)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(PATHWAY_EXITED)] = {TERRITORY_WIDE, true, false, false},
    [EVENT_TYPE(SUSPENSION_DECIDED)] = {0, false, false, true},
    [EVENT_TYPE(SUSPENSION_LIFTED)] = {0, false, false, true},
    /* Its own events, whatever its kind: the sender was the one partner with the right. */
    [EVENT_TYPE(EVENT_RETRACTED)] = {UINT32_MAX, false, false, false},
    /* parcoursd's own (pathway_deadline_missed): no partner's. */
    [EVENT_TYPE(DEADLINE_MISSED)] = {0, false, false, false},
    /* A bridge's, judged apart (transfer.c): it names a move, not a pathway. */
    [EVENT_TYPE(TRANSFER_ANNOUNCED)] = {0, false, false, false},
};
#define EMIT_RIGHTS_COUNT (sizeof(emit_rights) / sizeof(emit_rights[0]))

/*
 * The kinds that may carry each referent body (docs/domain.md, "Who may emit what"): the
 * oriented structure and the referent's partner must be of one of them. EMPLOYER, TRAINING_ORG
 * and CAF carry none.
 */
static const uint32_t referent_body_kinds[] = {
    [PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DEPARTEMENT] = KIND_BIT(DEPARTEMENT),
    [PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_FRANCE_TRAVAIL] = KIND_BIT(FRANCE_TRAVAIL),
    [PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE] = KIND_BIT(MISSION_LOCALE),
    [PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_CAP_EMPLOI] = KIND_BIT(CAP_EMPLOI),
    [PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED] = KIND_BIT(CCAS) | KIND_BIT(ASSOCIATION),
};

/* Everything one application of the rules looks at. */
typedef struct rules {
    const Parcours__V1__Pathway *current; /* NULL when the beneficiary has no pathway */
    const Parcours__V1__Event *event;
    Parcours__V1__EventType type;
    const partner_t *sender;
    const partners_t *directory;
    pathway_settings_t settings;
    pathway_outcome_t *outcome;
    /* A recomputation (pathway_retract): the events were accepted once, so what the partners
     * file narrows and the versions they expected then are not judged again; their senders'
     * rights and the transitions are. */
    bool replay;
} rules_t;

/* --- Small helpers ---------------------------------------------------------------------------- */

/* Records a rejection and returns 1, so that every check reads `return reject(...)`. Sentences
 * never name the beneficiary: the sender knows it from its event_id, and logs must not carry it. */
static int reject(rules_t *r, Parcours__V1__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(rules_t *r, Parcours__V1__ErrorCode code, const char *fmt, ...)
{
    va_list ap;
    r->outcome->code = code;
    va_start(ap, fmt);
    vsnprintf(r->outcome->message, sizeof(r->outcome->message), fmt, ap);
    va_end(ap);
    return 1;
}

/* The one sentence for a partner blind to a pathway: it depends on the sender alone, so that it
 * reveals nothing, and a blind sender gets it for every type in every state. */
static int reject_blind(rules_t *r)
{
    return reject(r, ERROR_CODE(NOT_AUTHORISED),
                  "Partner %s may not act on this beneficiary: only the members of the "
                  "beneficiary's follow-up group and the territory's departement and France "
                  "Travail may. If you follow this person, ask the referent to add you.",
                  r->sender->id);
}

static bool is_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static bool kind_in(uint32_t kinds, Parcours__V1__PartnerKind kind)
{
    return (kinds & (UINT32_C(1) << (unsigned)kind)) != 0;
}

/* Replaces *field by a copy of value (or the shared empty string); -1 when out of memory. */
static int set_string(char **field, const char *value)
{
    char *copy = (char *)protobuf_c_empty_string;
    if (!is_empty(value) && (copy = strdup(value)) == NULL)
        return -1;
    if (*field != NULL && *field != protobuf_c_empty_string)
        free(*field);
    *field = copy;
    return 0;
}

/* Frees a sub-message field and sets it to NULL. */
static void clear_message(void *field)
{
    ProtobufCMessage **m = field;
    if (*m != NULL)
        protobuf_c_message_free_unpacked(*m, NULL);
    *m = NULL;
}

/* Allocates a sub-message initialised by init into *field, replacing what was there. */
#define NEW_MESSAGE(field, type, init)                                                             \
    do {                                                                                           \
        clear_message(&(field));                                                                   \
        type *fresh_ = malloc(sizeof(type));                                                       \
        if (fresh_ == NULL)                                                                        \
            return -1;                                                                             \
        *fresh_ = (type)init;                                                                      \
        (field) = fresh_;                                                                          \
    } while (0)

static int members_add(Parcours__V1__Pathway *p, const char *id)
{
    if (is_empty(id) || pathway_has_member(p, id))
        return 0;
    char **members = realloc(p->members, (p->n_members + 1) * sizeof(*members));
    if (members == NULL)
        return -1;
    p->members = members;
    if ((members[p->n_members] = strdup(id)) == NULL)
        return -1;
    p->n_members++;
    return 0;
}

static void members_remove(Parcours__V1__Pathway *p, const char *id)
{
    for (size_t i = 0; i < p->n_members; i++) {
        if (strcmp(p->members[i], id) != 0)
            continue;
        free(p->members[i]);
        memmove(&p->members[i], &p->members[i + 1], (p->n_members - i - 1) * sizeof(char *));
        p->n_members--;
        return;
    }
}

/* A partner of the directory registered for the pathway's territory, or NULL. */
static const partner_t *territory_partner(const rules_t *r, const char *territory, const char *id)
{
    const partner_t *p = partners_find(r->directory, id);
    return (p != NULL && partner_in_territory(p, territory)) ? p : NULL;
}

static int reject_unknown_partner(rules_t *r, const char *field, const char *id)
{
    return reject(r, ERROR_CODE(UNKNOWN_PARTNER),
                  "%s names partner %s, which is not a partner of territory %s; check the id "
                  "or ask the territory's admin to add it.",
                  field, id, r->current->territory);
}

static int invalid(rules_t *r, const char *why)
{
    return reject(r, ERROR_CODE(INVALID_TRANSITION), "%s cannot apply to this pathway: %s",
                  event_type_name(r->type), why);
}

/* A partner the event names, which must carry the referent body: of the territory, and of a
 * kind that fits the body. */
static int check_fits_body(rules_t *r, const char *field, const char *id,
                           Parcours__V1__ReferentBody body)
{
    const partner_t *named = territory_partner(r, r->current->territory, id);
    if (named == NULL)
        return reject_unknown_partner(r, field, id);
    uint32_t kinds = (unsigned)body < sizeof(referent_body_kinds) / sizeof(referent_body_kinds[0])
                         ? referent_body_kinds[body]
                         : 0;
    if (!kind_in(kinds, named->kind))
        return reject(r, ERROR_CODE(INVALID_TRANSITION),
                      "%s names partner %s, a %s, which cannot carry the referent body %s; a "
                      "DEPARTEMENT, FRANCE_TRAVAIL, MISSION_LOCALE or CAP_EMPLOI carries its own "
                      "body, a CCAS or an ASSOCIATION a DELEGATED one.",
                      field, id, partner_kind_name(named->kind),
                      protobuf_c_enum_descriptor_get_value(&parcours__v1__referent_body__descriptor,
                                                           (int)body)
                          ->name);
    return 0;
}

/* A partner the event names in a role only one kind plays (the provider of a training, the
 * employer of a job): of the territory, and of that kind. */
static int check_kind(rules_t *r, const char *field, const char *id, Parcours__V1__PartnerKind kind)
{
    const partner_t *named = territory_partner(r, r->current->territory, id);
    if (named == NULL)
        return reject_unknown_partner(r, field, id);
    if (named->kind != kind)
        return reject(r, ERROR_CODE(INVALID_TRANSITION), "%s names partner %s, a %s, not a %s.",
                      field, id, partner_kind_name(named->kind), partner_kind_name(kind));
    return 0;
}

/* --- Public queries ------------------------------------------------------------------------- */

bool pathway_is_open(const Parcours__V1__Pathway *p)
{
    return p != NULL && p->episode > 0 && p->exit == NULL;
}

bool pathway_has_member(const Parcours__V1__Pathway *p, const char *partner_id)
{
    for (size_t i = 0; i < p->n_members; i++)
        if (strcmp(p->members[i], partner_id) == 0)
            return true;
    return false;
}

const char *pathway_referent_partner(const Parcours__V1__Pathway *p)
{
    if (p->referent != NULL && !is_empty(p->referent->partner_id))
        return p->referent->partner_id;
    if (p->orientation != NULL && !is_empty(p->orientation->structure_id))
        return p->orientation->structure_id;
    return NULL;
}

bool pathway_visible_to(const Parcours__V1__Pathway *p, const partner_t *partner)
{
    return partner_in_territory(partner, p->territory) &&
           (partner_kind_territory_wide(partner->kind) || pathway_has_member(p, partner->id));
}

pathway_view_t pathway_view_for(const Parcours__V1__Pathway *p, const partner_t *partner)
{
    if (p == NULL || !pathway_visible_to(p, partner))
        return PATHWAY_VIEW_NONE;
    if (partner_kind_territory_wide(partner->kind))
        return PATHWAY_VIEW_TERRITORY;
    if (partner_kind_minimised(partner->kind))
        return PATHWAY_VIEW_MINIMISED;
    const char *referent = pathway_referent_partner(p);
    if (referent != NULL && strcmp(referent, partner->id) == 0)
        return PATHWAY_VIEW_REFERENT;
    return PATHWAY_VIEW_MEMBER;
}

Parcours__V1__Phase pathway_phase(const Parcours__V1__Pathway *p)
{
    if (p->exit != NULL)
        return PHASE(EXITED);
    if (p->employment != NULL)
        return PHASE(EMPLOYED);
    if (p->training != NULL)
        return PHASE(IN_TRAINING);
    if (p->contract != NULL)
        return PHASE(CONTRACTED);
    if (p->referent != NULL)
        return PHASE(ACCOMPANIED);
    if (p->orientation != NULL)
        return PHASE(ORIENTED);
    if (p->pending_request != NULL)
        return PHASE(ORIENTATION_REQUESTED);
    return PHASE(REFERRED);
}

bool pathway_kind_receives(Parcours__V1__PartnerKind kind, const Parcours__V1__Event *event,
                           const char *partner_id)
{
    if (!partner_kind_minimised(kind))
        return true;
    switch (event->payload_case) {
    case PAYLOAD(TRAINING_ENTERED):
    case PAYLOAD(TRAINING_EXITED):
    case PAYLOAD(JOB_PLACED):
    case PAYLOAD(JOB_ENDED):
    case PAYLOAD(PATHWAY_EXITED):
    case PAYLOAD(EVENT_RETRACTED): /* told only to who was told of the retracted event */
        return true;
    case PAYLOAD(MEMBER_JOINED):
        return strcmp(event->member_joined->member_id, partner_id) == 0;
    case PAYLOAD(MEMBER_LEFT):
        return strcmp(event->member_left->member_id, partner_id) == 0;
    default:
        return false;
    }
}

bool pathway_event_minimised_for(const partner_t *recipient, const Parcours__V1__Event *event)
{
    return partner_kind_minimised(recipient->kind) && strcmp(recipient->id, event->partner_id) != 0;
}

/* id when it is the viewer's own, else the empty string: the minimised see no other partner. */
static char *own_id(char *id, const char *viewer_id)
{
    return viewer_id != NULL && strcmp(id, viewer_id) == 0 ? id : (char *)protobuf_c_empty_string;
}

void pathway_event_minimise(const Parcours__V1__Event *event, const char *viewer_id,
                            pathway_event_view_t *out)
{
    memset(out, 0, sizeof(*out));
    out->event = *event;
    out->event.partner_id = (char *)protobuf_c_empty_string;
    out->event.event_id = (char *)protobuf_c_empty_string;
    out->event.expected_version = 0;
    out->event.expect_no_pathway = 0;
    if (event->payload_case == PAYLOAD(TRAINING_ENTERED)) {
        out->training_entered = *event->training_entered;
        out->training_entered.provider_id = own_id(out->training_entered.provider_id, viewer_id);
        out->event.training_entered = &out->training_entered;
    } else if (event->payload_case == PAYLOAD(JOB_PLACED)) {
        out->job_placed = *event->job_placed;
        out->job_placed.employer_partner_id =
            own_id(out->job_placed.employer_partner_id, viewer_id);
        out->event.job_placed = &out->job_placed;
    } else if (event->payload_case == PAYLOAD(EVENT_RETRACTED)) {
        /* They were sent the retracted event without its id: they match it by retracted_seq. */
        out->event_retracted = *event->event_retracted;
        out->event_retracted.retracted_event_id = (char *)protobuf_c_empty_string;
        out->event.event_retracted = &out->event_retracted;
    } else if (event->payload_case == PAYLOAD(PATHWAY_EXITED)) {
        /* As in their view of the pathway: that the person left, not where to. */
        out->pathway_exited = *event->pathway_exited;
        out->pathway_exited.destination_territory = (char *)protobuf_c_empty_string;
        out->pathway_exited.transfer_reference = (char *)protobuf_c_empty_string;
        out->event.pathway_exited = &out->pathway_exited;
    }
}

void pathway_settings_default(pathway_settings_t *s)
{
    s->legacy_contracts_refused_from = PATHWAY_LEGACY_CONTRACTS_REFUSED_FROM;
    s->clock_skew_ms = 0;
    deadline_settings_default(&s->deadlines);
    s->transfer_claim_ms = PATHWAY_TRANSFER_CLAIM_MS;
}

/* A deep copy of p. Packing and unpacking is the one deep copy protobuf-c offers. */
static Parcours__V1__Pathway *pathway_clone(const Parcours__V1__Pathway *p)
{
    return (Parcours__V1__Pathway *)message_copy(&p->base);
}

/* Moves a field of from into to, leaving from's empty, so that freeing from spares it. */
#define MOVE_MESSAGE(to, from, field)                                                              \
    do {                                                                                           \
        (to)->field = (from)->field;                                                               \
        (from)->field = NULL;                                                                      \
    } while (0)
#define MOVE_STRING(to, from, field)                                                               \
    do {                                                                                           \
        (to)->field = (from)->field;                                                               \
        (from)->field = (char *)protobuf_c_empty_string;                                           \
    } while (0)

/* Empties a string field that is not the viewer's own id (the string stays allocated in the
 * copy, which frees it). */
static void keep_own_id(char **field, const char *viewer_id)
{
    if (*field == protobuf_c_empty_string || (viewer_id != NULL && strcmp(*field, viewer_id) == 0))
        return;
    free(*field);
    *field = (char *)protobuf_c_empty_string;
}

/*
 * The view of an EMPLOYER or TRAINING_ORG member, built by allowing fields one by one rather
 * than hiding the others, so that a field the contract gains stays hidden from them until
 * someone decides they need it. It names no partner but the viewer (another trainer or
 * employer would tell who else follows the person), and carries no version: the version counts
 * events they are not told of.
 */
static Parcours__V1__Pathway *pathway_minimised(Parcours__V1__Pathway *full, const char *viewer_id)
{
    Parcours__V1__Pathway *m = malloc(sizeof(*m));
    if (m == NULL) {
        parcours__v1__pathway__free_unpacked(full, NULL);
        return NULL;
    }
    *m = (Parcours__V1__Pathway)PARCOURS__V1__PATHWAY__INIT;
    MOVE_STRING(m, full, beneficiary_id);
    MOVE_STRING(m, full, territory);
    MOVE_MESSAGE(m, full, training);
    if (m->training != NULL)
        keep_own_id(&m->training->provider_id, viewer_id);
    m->last_training_outcome = full->last_training_outcome;
    MOVE_MESSAGE(m, full, employment);
    if (m->employment != NULL)
        keep_own_id(&m->employment->employer_partner_id, viewer_id);
    m->last_job_end_reason = full->last_job_end_reason;
    MOVE_MESSAGE(m, full, exit);
    /* That the person left, and why, but not where to: a move's destination and reference are
     * the territory's and the group's, who hand the person over. */
    if (m->exit != NULL) {
        keep_own_id(&m->exit->destination_territory, NULL);
        keep_own_id(&m->exit->transfer_reference, NULL);
    }
    if (full->phase == PHASE(EXITED) || full->phase == PHASE(EMPLOYED) ||
        full->phase == PHASE(IN_TRAINING))
        m->phase = full->phase;
    parcours__v1__pathway__free_unpacked(full, NULL);
    return m;
}

Parcours__V1__Pathway *pathway_copy(const Parcours__V1__Pathway *p, pathway_view_t view,
                                    const char *viewer_id)
{
    if (view == PATHWAY_VIEW_NONE)
        return NULL;
    Parcours__V1__Pathway *copy = pathway_clone(p);
    if (copy == NULL)
        return NULL;
    switch (view) {
    case PATHWAY_VIEW_MINIMISED:
        return pathway_minimised(copy, viewer_id);
    case PATHWAY_VIEW_MEMBER:
        /* Suspensions are told to the referent's partner and the territory-wide only; so are
         * the deadlines missed, which they answer for. */
        clear_message(&copy->suspension);
        copy->last_suspension_lift_reason =
            PARCOURS__V1__SUSPENSION_LIFT_REASON__SUSPENSION_LIFT_REASON_UNSPECIFIED;
        for (size_t i = 0; i < copy->n_deadlines_missed; i++)
            free(copy->deadlines_missed[i]);
        free(copy->deadlines_missed);
        copy->deadlines_missed = NULL;
        copy->n_deadlines_missed = 0;
        /* fall through */
    case PATHWAY_VIEW_REFERENT:
        /* Earlier episodes are not theirs to know: whoever joins a new episode joins a new
         * pathway (its version and dates start again). Nor is where the person came from,
         * which is the territory's (Pathway.origin_reference). */
        copy->episode = 0;
        keep_own_id(&copy->origin_reference, NULL);
        return copy;
    default:
        return copy;
    }
}

void pathway_outcome_clear(pathway_outcome_t *outcome)
{
    if (outcome->pathway != NULL)
        parcours__v1__pathway__free_unpacked(outcome->pathway, NULL);
    free((void *)outcome->recipients);
    memset(outcome, 0, sizeof(*outcome));
}

/* --- The checks --------------------------------------------------------------------------- */

/* Step 3 for every type but registration: the sender's kind or role may emit this type. */
static bool sender_has_right(const rules_t *r)
{
    const Parcours__V1__Pathway *p = r->current;
    Parcours__V1__PartnerKind kind = r->sender->kind;
    if (emit_rights[r->type].rsa_rule)
        return kind == PARTNER_KIND(DEPARTEMENT)
                   ? p->rsa_recipient
                   : kind == PARTNER_KIND(FRANCE_TRAVAIL) && !p->rsa_recipient;
    if (emit_rights[r->type].any_visible && !kind_in(MINIMISED, kind))
        return true; /* visibility was checked before */
    /* TRAINING_ORG and EMPLOYER act only on pathways they are members of: visibility, checked
     * before, already requires it. */
    if (kind_in(emit_rights[r->type].kinds, kind))
        return true;
    const char *referent = pathway_referent_partner(p);
    return emit_rights[r->type].referent_partner && referent != NULL &&
           strcmp(referent, r->sender->id) == 0;
}

static int reject_no_right(rules_t *r)
{
    const partner_t *sender = r->sender;
    if (emit_rights[r->type].rsa_rule && partner_kind_territory_wide(sender->kind))
        return reject(r, ERROR_CODE(NOT_AUTHORISED),
                      "%s for %s is decided by %s, not by partner %s.", event_type_name(r->type),
                      r->current->rsa_recipient ? "an RSA recipient"
                                                : "a person who does not receive the RSA",
                      r->current->rsa_recipient ? "the departement" : "France Travail", sender->id);
    return reject(r, ERROR_CODE(NOT_AUTHORISED),
                  "Partner %s (%s) may not send %s for this pathway.", sender->id,
                  partner_kind_name(sender->kind), event_type_name(r->type));
}

/* expected_version against the version the sender may see (its caller made sure it may see
 * current, or passes 0 for a pathway it may not see). */
static int check_version(rules_t *r, uint64_t version)
{
    if (!r->replay && r->event->expected_version != 0 && r->event->expected_version != version)
        return reject(r, ERROR_CODE(VERSION_CONFLICT),
                      "The pathway is at version %llu, not %llu: read it again, then decide "
                      "whether to send the event.",
                      (unsigned long long)version, (unsigned long long)r->event->expected_version);
    return 0;
}

/* A CER or PPAE starting from the territory's cut-over date on: the contrat d'engagement of the
 * 2023 law took their place. */
static bool legacy_contract_refused(const rules_t *r, const Parcours__V1__ContractSigned *c)
{
    bool legacy = c->kind == PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CER ||
                  c->kind == PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_PPAE;
    return legacy && c->start >= r->settings.legacy_contracts_refused_from;
}

static int check_member_left(rules_t *r)
{
    const Parcours__V1__Pathway *p = r->current;
    const char *leaving = r->event->member_left->member_id;
    if (!pathway_has_member(p, leaving))
        return invalid(r, "that partner is not a member of the follow-up group.");
    if (p->referent != NULL && strcmp(p->referent->partner_id, leaving) == 0)
        return invalid(r, "the active referent's partner cannot leave; assign another referent "
                          "first.");
    if (p->referent == NULL && p->orientation != NULL &&
        strcmp(p->orientation->structure_id, leaving) == 0)
        return invalid(r, "the oriented structure acts as the referent's partner until a referent "
                          "is named; it cannot leave before.");
    if (p->training != NULL && strcmp(p->training->provider_id, leaving) == 0)
        return invalid(r, "that partner provides the training in progress; end it first.");
    if (p->employment != NULL && strcmp(p->employment->employer_partner_id, leaving) == 0)
        return invalid(r, "that partner employs the person now; end the employment first.");
    return 0;
}

/* Step 5: the precondition of the transition table, then the partners the event names. */
static int check_transition(rules_t *r)
{
    const Parcours__V1__Pathway *p = r->current;
    const Parcours__V1__Event *e = r->event;
    const partner_t *sender = r->sender;
    bool minimised = partner_kind_minimised(sender->kind);

    switch (e->payload_case) {
    case PAYLOAD(ORIENTATION_REQUESTED):
        if (p->pending_request != NULL)
            return invalid(r, "an orientation request is already pending.");
        return 0;
    case PAYLOAD(ORIENTATION_DECIDED):
        return check_fits_body(r, "orientation_decided.structure_id",
                               e->orientation_decided->structure_id,
                               e->orientation_decided->referent_body);
    case PAYLOAD(ORIENTATION_DENIED):
        if (p->pending_request == NULL)
            return invalid(r, "no orientation request is pending.");
        return 0;
    case PAYLOAD(REFERENT_ASSIGNED):
        if (p->orientation == NULL)
            return invalid(r, "the person is not oriented yet.");
        return check_fits_body(r, "referent_assigned.referent_partner_id",
                               e->referent_assigned->referent_partner_id,
                               p->orientation->referent_body);
    case PAYLOAD(CONTRACT_SIGNED):
        if (p->referent == NULL)
            return invalid(r, "no referent follows the person yet.");
        if (p->contract != NULL)
            return invalid(r, "a contract is already in force; end it first.");
        if (legacy_contract_refused(r, e->contract_signed))
            return invalid(r, "a CER or a PPAE may no longer be signed in this territory; sign a "
                              "contrat d'engagement (CONTRACT_KIND_CONTRAT_ENGAGEMENT).");
        return 0;
    case PAYLOAD(CONTRACT_ENDED):
        if (p->contract == NULL)
            return invalid(r, "no contract is in force.");
        return 0;
    case PAYLOAD(TRAINING_ENTERED): {
        /* What depends on the sender and the directory alone first: a provider must not learn
         * from the order of the checks what it may not see. */
        const char *provider = e->training_entered->provider_id;
        if (sender->kind == PARTNER_KIND(TRAINING_ORG) && !is_empty(provider) &&
            strcmp(provider, sender->id) != 0)
            return reject(r, ERROR_CODE(NOT_AUTHORISED),
                          "A training provider may only record its own trainings.");
        if (!is_empty(provider) &&
            check_kind(r, "training_entered.provider_id", provider, PARTNER_KIND(TRAINING_ORG)))
            return 1;
        if (p->orientation == NULL)
            /* A training provider may not know whether the person is oriented. */
            return minimised ? reject_blind(r) : invalid(r, "the person is not oriented yet.");
        if (p->training != NULL)
            return invalid(r, "a training is already in progress.");
        return 0;
    }
    case PAYLOAD(TRAINING_EXITED):
        if (p->training == NULL)
            return invalid(r, "no training is in progress.");
        if (sender->kind == PARTNER_KIND(TRAINING_ORG) &&
            strcmp(p->training->provider_id, sender->id) != 0)
            return reject(r, ERROR_CODE(NOT_AUTHORISED),
                          "A training provider may only record the end of its own trainings.");
        return 0;
    case PAYLOAD(JOB_PLACED): {
        const char *employer = e->job_placed->employer_partner_id;
        if (sender->kind == PARTNER_KIND(EMPLOYER) && !is_empty(employer) &&
            strcmp(employer, sender->id) != 0)
            return reject(r, ERROR_CODE(NOT_AUTHORISED),
                          "An employer may only record its own hirings.");
        if (!is_empty(employer) &&
            check_kind(r, "job_placed.employer_partner_id", employer, PARTNER_KIND(EMPLOYER)))
            return 1;
        if (p->employment != NULL)
            return invalid(r, "an employment is already in progress.");
        return 0;
    }
    case PAYLOAD(JOB_ENDED):
        if (p->employment == NULL)
            return invalid(r, "no employment is in progress.");
        if (sender->kind == PARTNER_KIND(EMPLOYER) &&
            strcmp(p->employment->employer_partner_id, sender->id) != 0)
            return reject(r, ERROR_CODE(NOT_AUTHORISED),
                          "An employer may only record the end of its own employments.");
        return 0;
    case PAYLOAD(MEMBER_JOINED):
        if (!territory_partner(r, p->territory, e->member_joined->member_id))
            return reject_unknown_partner(r, "member_joined.member_id",
                                          e->member_joined->member_id);
        if (pathway_has_member(p, e->member_joined->member_id))
            return invalid(r, "that partner is already a member of the follow-up group.");
        if (partners_find(r->directory, e->member_joined->member_id)->kind == PARTNER_KIND(BRIDGE))
            return invalid(r, "a transfer bridge (kind BRIDGE) is told of moves only, and is "
                              "never a member of a follow-up group.");
        return 0;
    case PAYLOAD(MEMBER_LEFT):
        return check_member_left(r);
    case PAYLOAD(SUSPENSION_DECIDED):
        if (p->suspension != NULL)
            return invalid(r, "a suspension is already in force; lift it first.");
        return 0;
    case PAYLOAD(SUSPENSION_LIFTED):
        if (p->suspension == NULL)
            return invalid(r, "no suspension is in force.");
        return 0;
    case PAYLOAD(PATHWAY_EXITED):
        if (strcmp(e->pathway_exited->destination_territory, p->territory) == 0)
            return invalid(r, "a move goes to another territory than the pathway's own; a "
                              "person who moves within the territory keeps the pathway.");
        /* A move is handed over by a bridge: to a territory none serves (a mistyped code, a
         * territory without Parcours), it could never arrive. */
        if (!is_empty(e->pathway_exited->destination_territory) &&
            !transfer_served(p->territory, e->pathway_exited->destination_territory, r->directory))
            return invalid(r, "no transfer bridge of this territory hands moves over to the "
                              "destination_territory given: check the departement code, or "
                              "send the exit without it (the move is then handed over to no "
                              "one).");
        return 0;
    default: /* AppointmentRecorded: open is enough. */
        return 0;
    }
}

/* --- The effects -------------------------------------------------------------------------- */

/* Ends the contract in force, if any, for this reason. */
static void contract_end(Parcours__V1__Pathway *p, Parcours__V1__ContractEndReason reason)
{
    if (p->contract == NULL)
        return;
    clear_message(&p->contract);
    p->last_contract_end_reason = reason;
}

/* The facts in force end with the pathway, the follow-up group among them: its members are
 * told of the exit, then see the pathway no more, so that a new episode opened by someone
 * else changes nothing in what they are told. The orientation and the last_* reasons stay. */
static void facts_end(Parcours__V1__Pathway *p)
{
    for (size_t i = 0; i < p->n_members; i++)
        free(p->members[i]);
    free(p->members);
    p->members = NULL;
    p->n_members = 0;
    clear_message(&p->pending_request);
    clear_message(&p->referent);
    contract_end(p, PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_PATHWAY_EXITED);
    clear_message(&p->training);
    clear_message(&p->employment);
    clear_message(&p->suspension);
}

static int apply_contract(const rules_t *r, Parcours__V1__Pathway *p)
{
    const Parcours__V1__ContractSigned *c = r->event->contract_signed;
    NEW_MESSAGE(p->contract, Parcours__V1__Contract, PARCOURS__V1__CONTRACT__INIT);
    p->contract->kind = c->kind;
    p->contract->start = c->start;
    p->contract->end = c->end;
    if (c->kind == PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT) {
        p->contract->hours_exempted = c->hours_exempted;
        p->contract->weekly_hours = c->weekly_hours != 0 || c->hours_exempted
                                        ? c->weekly_hours
                                        : EVENT_WEEKLY_HOURS_DEFAULT;
        p->contract->reduced_hours_reason = c->reduced_hours_reason;
        if (set_string(&p->contract->plan_action_ref, c->plan_action_ref))
            return -1;
    }
    if (set_string(&p->contract->signed_with, r->sender->id))
        return -1;
    /* The orientation's month for a contract is met (docs/deadlines.md). */
    p->orientation->contract_signed = 1;
    return members_add(p, r->sender->id);
}

/* Applies the event to p (a copy of the current pathway). -1 when out of memory. */
static int apply_effect(const rules_t *r, Parcours__V1__Pathway *p)
{
    const Parcours__V1__Event *e = r->event;
    const char *sender = r->sender->id;

    switch (e->payload_case) {
    case PAYLOAD(ORIENTATION_REQUESTED):
        NEW_MESSAGE(p->pending_request, Parcours__V1__OrientationRequest,
                    PARCOURS__V1__ORIENTATION_REQUEST__INIT);
        p->pending_request->requested_type = e->orientation_requested->requested_type;
        p->pending_request->reason = e->orientation_requested->reason;
        p->pending_request->requested_at = e->occurred_at;
        return set_string(&p->pending_request->requested_by, sender);
    case PAYLOAD(ORIENTATION_DECIDED): {
        const Parcours__V1__OrientationDecided *d = e->orientation_decided;
        /* A new structure brings its own referent (the old one is cleared, stays a member), and
         * the contract signed with the old one ends. */
        if (p->orientation != NULL && strcmp(p->orientation->structure_id, d->structure_id) != 0) {
            clear_message(&p->referent);
            contract_end(p, PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_REORIENTATION);
        }
        clear_message(&p->pending_request);
        NEW_MESSAGE(p->orientation, Parcours__V1__Orientation, PARCOURS__V1__ORIENTATION__INIT);
        p->orientation->pathway_type = d->pathway_type;
        p->orientation->referent_body = d->referent_body;
        p->orientation->decided_at = e->occurred_at;
        p->orientation->notified_at = d->notified_at;
        if (set_string(&p->orientation->structure_id, d->structure_id) ||
            set_string(&p->orientation->decided_by, sender))
            return -1;
        return members_add(p, sender) || members_add(p, d->structure_id) ? -1 : 0;
    }
    case PAYLOAD(ORIENTATION_DENIED):
        clear_message(&p->pending_request);
        p->last_denial_reason = e->orientation_denied->reason;
        return 0;
    case PAYLOAD(REFERENT_ASSIGNED): {
        const Parcours__V1__ReferentAssigned *a = e->referent_assigned;
        NEW_MESSAGE(p->referent, Parcours__V1__Referent, PARCOURS__V1__REFERENT__INIT);
        p->referent->assigned_at = e->occurred_at;
        if (set_string(&p->referent->partner_id, a->referent_partner_id) ||
            set_string(&p->referent->professional_ref, a->professional_ref))
            return -1;
        return members_add(p, a->referent_partner_id);
    }
    case PAYLOAD(CONTRACT_SIGNED):
        return apply_contract(r, p);
    case PAYLOAD(CONTRACT_ENDED):
        contract_end(p, e->contract_ended->reason);
        return 0;
    case PAYLOAD(TRAINING_ENTERED): {
        const Parcours__V1__TrainingEntered *t = e->training_entered;
        /* Left empty, the provider is the sender when it is one, else not a partner. */
        const char *provider = t->provider_id;
        if (is_empty(provider) && r->sender->kind == PARTNER_KIND(TRAINING_ORG))
            provider = sender;
        NEW_MESSAGE(p->training, Parcours__V1__Training, PARCOURS__V1__TRAINING__INIT);
        p->training->start = t->start;
        p->training->expected_end = t->expected_end;
        if (set_string(&p->training->provider_id, provider) ||
            set_string(&p->training->programme_code, t->programme_code))
            return -1;
        return members_add(p, provider);
    }
    case PAYLOAD(TRAINING_EXITED):
        clear_message(&p->training);
        p->last_training_outcome = e->training_exited->outcome;
        return 0;
    case PAYLOAD(JOB_PLACED): {
        const Parcours__V1__JobPlaced *j = e->job_placed;
        const char *employer = j->employer_partner_id;
        if (is_empty(employer) && r->sender->kind == PARTNER_KIND(EMPLOYER))
            employer = sender;
        NEW_MESSAGE(p->employment, Parcours__V1__Employment, PARCOURS__V1__EMPLOYMENT__INIT);
        p->employment->kind = j->kind;
        p->employment->start = j->start;
        if (set_string(&p->employment->employer_partner_id, employer))
            return -1;
        return members_add(p, employer);
    }
    case PAYLOAD(JOB_ENDED):
        clear_message(&p->employment);
        p->last_job_end_reason = e->job_ended->reason;
        return 0;
    case PAYLOAD(APPOINTMENT_RECORDED): {
        const Parcours__V1__AppointmentRecorded *a = e->appointment_recorded;
        NEW_MESSAGE(p->last_appointment, Parcours__V1__Appointment,
                    PARCOURS__V1__APPOINTMENT__INIT);
        p->last_appointment->kind = a->kind;
        p->last_appointment->status = a->status;
        p->last_appointment->at = a->at;
        return set_string(&p->last_appointment->recorded_by, sender);
    }
    case PAYLOAD(MEMBER_JOINED):
        return members_add(p, e->member_joined->member_id);
    case PAYLOAD(MEMBER_LEFT):
        members_remove(p, e->member_left->member_id);
        return 0;
    case PAYLOAD(PATHWAY_EXITED):
        facts_end(p);
        NEW_MESSAGE(p->exit, Parcours__V1__Exit, PARCOURS__V1__EXIT__INIT);
        p->exit->reason = e->pathway_exited->reason;
        p->exit->at = e->occurred_at;
        /* A move's destination, and the reference the daemon filled in (ingest_apply.c). */
        return set_string(&p->exit->destination_territory,
                          e->pathway_exited->destination_territory) ||
                       set_string(&p->exit->transfer_reference,
                                  e->pathway_exited->transfer_reference)
                   ? -1
                   : 0;
    case PAYLOAD(SUSPENSION_DECIDED):
        NEW_MESSAGE(p->suspension, Parcours__V1__Suspension, PARCOURS__V1__SUSPENSION__INIT);
        p->suspension->reason = e->suspension_decided->reason;
        p->suspension->decided_at = e->occurred_at;
        return set_string(&p->suspension->decided_by, sender);
    case PAYLOAD(SUSPENSION_LIFTED):
        clear_message(&p->suspension);
        p->last_suspension_lift_reason = e->suspension_lifted->reason;
        return 0;
    default:
        return -1; /* registration is handled by open_episode; nothing else reaches here */
    }
}

/*
 * A new pathway, or a new episode of an exited one. Every fact of the old episode is reset, its
 * version and dates too: whoever joins the new episode learns nothing of the earlier ones (the
 * log keeps them, and so does the beneficiary's history for the admins).
 */
/* Records in p that it missed deadline kind of the clock started at since (once). 0, or -1
 * out of memory. */
static int deadline_mark(Parcours__V1__Pathway *p, Parcours__V1__DeadlineKind kind, int64_t since)
{
    if (deadline_missed_already(p, kind, since))
        return 0;
    Parcours__V1__MissedDeadline **missed =
        realloc(p->deadlines_missed, (p->n_deadlines_missed + 1) * sizeof(*missed));
    if (missed == NULL)
        return -1;
    p->deadlines_missed = missed;
    Parcours__V1__MissedDeadline *m = malloc(sizeof(*m));
    if (m == NULL)
        return -1;
    parcours__v1__missed_deadline__init(m);
    m->kind = kind;
    m->since = since;
    missed[p->n_deadlines_missed++] = m;
    return 0;
}

static Parcours__V1__Pathway *open_episode(const rules_t *r, const char *territory)
{
    const Parcours__V1__Pathway *old = r->current;
    Parcours__V1__Pathway *p = malloc(sizeof(*p));
    if (p == NULL)
        return NULL;
    *p = (Parcours__V1__Pathway)PARCOURS__V1__PATHWAY__INIT;
    /* Episodes count the re-entries within one territory: a person who moved starts at 1 in
     * the new territory, whose partners never saw the earlier episodes. */
    p->episode = old != NULL && strcmp(old->territory, territory) == 0 ? old->episode + 1 : 1;
    p->created_at = r->event->occurred_at;
    /* A CAF registers when an RSA right opens. */
    p->rsa_recipient =
        r->event->beneficiary_registered->rsa_recipient || r->sender->kind == PARTNER_KIND(CAF);
    /* The arrival of a move: its reference, checked against the moves announced here before
     * the rules ran (ingest_apply.c), so that a recomputation finds it in the event again. */
    if (set_string(&p->beneficiary_id, r->event->beneficiary_id) ||
        set_string(&p->territory, territory) ||
        set_string(&p->origin_reference, r->event->beneficiary_registered->origin_reference) ||
        members_add(p, r->sender->id)) {
        parcours__v1__pathway__free_unpacked(p, NULL);
        return NULL;
    }
    return p;
}

/* --- Recipients --------------------------------------------------------------------------- */

static void recipients_add(const rules_t *r, const Parcours__V1__Pathway *p, const char *id)
{
    pathway_outcome_t *o = r->outcome;
    const partner_t *partner = territory_partner(r, p->territory, id);
    if (partner == NULL)
        return; /* no longer a partner of this territory */
    if (strcmp(partner->id, r->sender->id) == 0 && !r->sender->echo)
        return;
    if (!pathway_kind_receives(partner->kind, r->event, partner->id))
        return;
    /* Ids point into the directory: one partner, one pointer. R is the group and the
     * territory-wide partners, a dozen at most in a real territory. */
    for (size_t i = 0; i < o->n_recipients; i++)
        if (o->recipients[i] == partner->id)
            return;
    o->recipients[o->n_recipients++] = partner->id;
}

/*
 * Need to know: the group after the event, the territory-wide partners, and a leaving member.
 * A suspension is told to the territory-wide partners and the referent's partner only.
 */
static int recipients_compute(const rules_t *r, const Parcours__V1__Pathway *p)
{
    size_t bound = p->n_members + partners_territory_wide_count(r->directory) + 1 +
                   (r->current != NULL ? r->current->n_members : 0);
    r->outcome->recipients = calloc(bound, sizeof(*r->outcome->recipients));
    if (r->outcome->recipients == NULL)
        return -1;
    /* The group that ends with an exit is told of it. */
    const Parcours__V1__Pathway *group = r->type == EVENT_TYPE(PATHWAY_EXITED) ? r->current : p;
    if (emit_rights[r->type].rsa_rule) {
        const char *referent = pathway_referent_partner(p);
        if (referent != NULL)
            recipients_add(r, p, referent);
    } else {
        for (size_t i = 0; i < group->n_members; i++)
            recipients_add(r, p, group->members[i]);
    }
    for (size_t i = 0; i < partners_territory_wide_count(r->directory); i++)
        recipients_add(r, p, partners_territory_wide_at(r->directory, i)->id);
    if (r->event->payload_case == PAYLOAD(MEMBER_LEFT))
        recipients_add(r, p, r->event->member_left->member_id);
    return 0;
}

/* --- pathway_apply ------------------------------------------------------------------------ */

/* A registration's checks of the sender and its event alone: its kind, and the territory it
 * names or has (*territory then). */
static int check_registration_sender(rules_t *r, const char **territory)
{
    const partner_t *sender = r->sender;
    const char *asked = r->event->beneficiary_registered->territory;
    if (!kind_in(emit_rights[r->type].kinds, sender->kind))
        return reject(r, ERROR_CODE(NOT_AUTHORISED),
                      "Partners of kind %s may not register beneficiaries.",
                      partner_kind_name(sender->kind));
    if (is_empty(asked)) {
        if (sender->n_territories != 1)
            return reject(r, ERROR_CODE(MALFORMED),
                          "Partner %s is registered for several territories: name the "
                          "territory in beneficiary_registered.territory.",
                          sender->id);
        asked = sender->territories[0];
    }
    if (!partner_in_territory(sender, asked))
        return reject(r, ERROR_CODE(NOT_AUTHORISED),
                      "Partner %s is not registered for territory %s.", sender->id, asked);
    *territory = asked;
    return 0;
}

static int check_registration(rules_t *r, const char **territory)
{
    const partner_t *sender = r->sender;
    const char *asked = NULL;
    if (check_registration_sender(r, &asked))
        return 1;
    /* Up to here, only the sender and its event decided; from here on, only what it may see:
     * to a blind sender, the pathway is none, at version 0. */
    bool visible = r->current != NULL && pathway_visible_to(r->current, sender);
    if (check_version(r, visible ? r->current->version : 0))
        return 1;
    if (!r->replay && visible && r->event->expect_no_pathway)
        return reject(r, ERROR_CODE(VERSION_CONFLICT),
                      "This beneficiary has a pathway here already (version %llu, episode %u), "
                      "and the registration said it must not: check the pseudonym, then "
                      "register without expect_no_pathway to open a new episode.",
                      (unsigned long long)r->current->version, r->current->episode);
    if (pathway_is_open(r->current)) {
        if (!visible)
            return reject_blind(r); /* the reply it gets for any type it may not act on */
        return invalid(r, "it is open already; a new episode starts only after an exit.");
    }
    *territory = asked;
    return 0;
}

static int check_event(rules_t *r)
{
    const partner_t *sender = r->sender;
    if (r->current == NULL)
        /* Only a partner that would see the pathway wherever it is may learn there is none. */
        return partner_kind_territory_wide(sender->kind) &&
                       partners_covers_every_territory(r->directory, sender)
                   ? reject(r, ERROR_CODE(UNKNOWN_BENEFICIARY),
                            "This beneficiary has no pathway here: register it first "
                            "(BeneficiaryRegistered).")
                   : reject_blind(r);
    if (!pathway_visible_to(r->current, sender))
        return reject_blind(r);
    if (!sender_has_right(r))
        return reject_no_right(r);
    /* Employers and training providers do not see the version (it counts events they are not
     * told of): they have nothing to compare it with. */
    if (!r->replay && partner_kind_minimised(sender->kind) && r->event->expected_version != 0)
        return reject(r, ERROR_CODE(NOT_AUTHORISED),
                      "Employers and training providers do not see a pathway's version: send "
                      "expected_version 0.");
    if (check_version(r, r->current->version))
        return 1;
    if (r->type == EVENT_TYPE(EVENT_RETRACTED))
        return 0; /* on an exited pathway too (an exit sent in error); pathway_retract goes on */
    if (!pathway_is_open(r->current))
        return invalid(r, "the pathway has exited; register the person again to open a new "
                          "episode.");
    return check_transition(r);
}

/* rules_run's answer for an EventRetracted that passed the checks needing no history. */
#define RULES_RECOMPUTE 2

/* What pathway_apply and a recomputation's every step share: r is set up, outcome zeroed.
 * 0 accepted, 1 rejected, -1 out of memory, or RULES_RECOMPUTE. */
static int rules_run(rules_t *r)
{
    const partner_t *sender = r->sender;
    if (r->type == EVENT_TYPE(UNSPECIFIED) || (size_t)r->type >= EMIT_RIGHTS_COUNT)
        return reject(r, ERROR_CODE(MALFORMED), "The event has no payload.");

    if (!r->replay && sender->may_emit != 0 && !(sender->may_emit & PARTNERS_EMIT_BIT(r->type)))
        return reject(r, ERROR_CODE(NOT_AUTHORISED),
                      "Partner %s may not send %s: its partners file entry narrows what it may "
                      "emit.",
                      sender->id, event_type_name(r->type));

    Parcours__V1__Pathway *p;
    if (r->type == EVENT_TYPE(BENEFICIARY_REGISTERED)) {
        const char *territory = NULL;
        if (check_registration(r, &territory))
            return 1;
        p = open_episode(r, territory);
    } else {
        if (check_event(r))
            return 1;
        if (r->type == EVENT_TYPE(EVENT_RETRACTED))
            return RULES_RECOMPUTE;
        p = pathway_clone(r->current);
        if (p != NULL && apply_effect(r, p) != 0) {
            parcours__v1__pathway__free_unpacked(p, NULL);
            p = NULL;
        }
    }
    if (p == NULL)
        return -1;
    /* The version and the date of the last change count the events every member is told of: a
     * suspension, told to fewer, changes neither, or the others would read it from them. */
    if (!emit_rights[r->type].rsa_rule) {
        p->version++;
        p->updated_at = r->event->occurred_at;
    }
    p->phase = pathway_phase(p);
    r->outcome->pathway = p;
    r->outcome->version = partner_kind_minimised(sender->kind) ? 0 : p->version;
    if (!r->replay && recipients_compute(r, p) != 0) {
        pathway_outcome_clear(r->outcome);
        return -1;
    }
    return 0;
}

static void rules_init(rules_t *r, const Parcours__V1__Pathway *current,
                       const Parcours__V1__Event *event, const partner_t *sender,
                       const partners_t *directory, const pathway_settings_t *settings,
                       pathway_outcome_t *outcome)
{
    *r = (rules_t){current, event, event_type(event), sender, directory, {0}, outcome, false};
    if (settings != NULL)
        r->settings = *settings;
    else
        pathway_settings_default(&r->settings);
    memset(outcome, 0, sizeof(*outcome));
}

/* --- Rectification ---------------------------------------------------------------------------- */

/* The refusal of a retraction whose recomputation failed at history event i (its sender found
 * in the directory, or NULL), which the rules refused with step's sentence. Detail goes only to
 * who may know it: the sender of that later event, or a territory-wide partner (which sees the
 * whole pathway); any other retractor learns only that a later event relies on its own. */
static int reject_recompute(rules_t *r, const pathway_history_t *h, size_t i,
                            const partner_t *step_sender, const pathway_outcome_t *step)
{
    const Parcours__V1__Event *later = h->events[i];
    const char *retracted = r->event->event_retracted->retracted_event_id;
    /* Before the retracted event, or a partner gone from the partners file: the file changed
     * under the pathway, nothing the retraction did. */
    if (i < h->retracted || step_sender == NULL || step->code == ERROR_CODE(UNKNOWN_PARTNER))
        return reject(r, ERROR_CODE(INVALID_TRANSITION),
                      "This pathway cannot be recomputed from its events under the partners file "
                      "in force, which changed since they came; ask the territory's admin.");
    if (strcmp(later->partner_id, r->sender->id) == 0)
        return reject(r, ERROR_CODE(INVALID_TRANSITION),
                      "Retracting %s would leave your later event %s (%s) without ground: %s "
                      "Retract that one first.",
                      retracted, later->event_id, event_type_name(event_type(later)),
                      step->message);
    if (partner_kind_territory_wide(r->sender->kind))
        return reject(r, ERROR_CODE(INVALID_TRANSITION),
                      "Retracting %s would leave event %s of partner %s (%s) without ground: %s "
                      "Its sender must retract it first.",
                      retracted, later->event_id, later->partner_id,
                      event_type_name(event_type(later)), step->message);
    return reject(r, ERROR_CODE(INVALID_TRANSITION),
                  "Retracting %s would leave a later event of another partner without ground; "
                  "the territory's departement can see which, and its sender retract it first.",
                  retracted);
}

/* Where the current episode starts in the history: its registration, the last one. */
static size_t episode_start(const pathway_history_t *h)
{
    size_t start = 0;
    for (size_t i = 0; i < h->n; i++)
        if (event_type(h->events[i]) == EVENT_TYPE(BENEFICIARY_REGISTERED))
            start = i;
    return start;
}

/* The episode the history's events from start make without the retracted event (nor the
 * retractions), each judged by the same rules as when it came, into *out. Earlier episodes are
 * not replayed: they are over, and their partners may not be this one's. 0, 1 rejected, -1. */
static int recompute(rules_t *r, const pathway_history_t *h, size_t start,
                     Parcours__V1__Pathway **out)
{
    Parcours__V1__Pathway *p = NULL;
    for (size_t i = start; i < h->n; i++) {
        const Parcours__V1__Event *e = h->events[i];
        if (i == h->retracted || event_type(e) == EVENT_TYPE(EVENT_RETRACTED))
            continue;
        if (event_type(e) == EVENT_TYPE(DEADLINE_MISSED)) {
            /* What was missed stays missed: no partner's act, and nothing to judge again. */
            if (p != NULL &&
                deadline_mark(p, e->deadline_missed->kind, e->deadline_missed->since) != 0) {
                parcours__v1__pathway__free_unpacked(p, NULL);
                return -1;
            }
            continue;
        }
        const partner_t *sender = partners_find(r->directory, e->partner_id);
        pathway_outcome_t step;
        rules_t sr;
        rules_init(&sr, p, e, sender, r->directory, &r->settings, &step);
        sr.replay = true;
        int rc = sender != NULL ? rules_run(&sr) : 1;
        if (rc != 0) {
            if (rc == 1)
                rc = reject_recompute(r, h, i, sender, &step);
            else
                rc = -1;
            pathway_outcome_clear(&step);
            if (p != NULL)
                parcours__v1__pathway__free_unpacked(p, NULL);
            return rc;
        }
        if (p != NULL)
            parcours__v1__pathway__free_unpacked(p, NULL);
        p = step.pathway;
        step.pathway = NULL;
        pathway_outcome_clear(&step);
    }
    if (p == NULL)
        return -1; /* a registration is never retracted: p exists */
    /* The episode's own number: the replay opened it as if it were the first. */
    p->episode = r->current->episode;
    *out = p;
    return 0;
}

/* The partners told of the retracted event that may see the pathway now: a partner that left
 * the group is told nothing after its MemberLeft, a retraction neither. */
static int retraction_recipients(const rules_t *r, const Parcours__V1__Pathway *p,
                                 const pathway_history_t *h)
{
    pathway_outcome_t *o = r->outcome;
    o->recipients = calloc(h->n_told + 1, sizeof(*o->recipients));
    if (o->recipients == NULL)
        return -1;
    for (size_t i = 0; i < h->n_told; i++) {
        const partner_t *partner = partners_find(r->directory, h->told[i]);
        if (partner != NULL && pathway_visible_to(p, partner))
            recipients_add(r, p, h->told[i]);
    }
    return 0;
}

int pathway_retract(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                    const partner_t *sender, const partners_t *directory,
                    const pathway_settings_t *settings, const pathway_history_t *history,
                    pathway_outcome_t *outcome)
{
    static const pathway_history_t none = {0};
    const pathway_history_t *h = history != NULL ? history : &none;
    rules_t r;
    rules_init(&r, current, event, sender, directory, settings, outcome);
    if (r.type != EVENT_TYPE(EVENT_RETRACTED))
        return reject(&r, ERROR_CODE(MALFORMED), "The event is not an EventRetracted.");
    int rc = rules_run(&r);
    if (rc != RULES_RECOMPUTE)
        return rc;
    /* From here on the sender may see the pathway. */
    const char *id = event->event_retracted->retracted_event_id;
    size_t start = episode_start(h);
    if (h->retracted >= h->n || h->retracted < start) /* an earlier episode's stands no more */
        return reject(&r, ERROR_CODE(INVALID_TRANSITION),
                      "Partner %s sent no event %s that stands on this beneficiary's pathway: "
                      "check the event_id (an event retracted already stands no more).",
                      sender->id, id);
    uint64_t given = event->event_retracted->retracted_seq;
    if (given != 0 && given != h->retracted_seq)
        return reject(&r, ERROR_CODE(INVALID_TRANSITION),
                      "event_retracted.retracted_seq is %llu, which is not the seq of event %s: "
                      "leave it 0, or give the seq its ack gave.",
                      (unsigned long long)given, id);
    Parcours__V1__EventType retracted_type = event_type(h->events[h->retracted]);
    if (retracted_type == EVENT_TYPE(BENEFICIARY_REGISTERED))
        return reject(&r, ERROR_CODE(INVALID_TRANSITION),
                      "A registration is not retracted: if the person was registered in error, "
                      "ask the territory's admin to erase them (reason WRONG_PERSON).");
    if (retracted_type == EVENT_TYPE(EVENT_RETRACTED))
        return reject(&r, ERROR_CODE(INVALID_TRANSITION),
                      "A retraction is not retracted: send the event again under a new "
                      "event_id.");
    Parcours__V1__Pathway *p = NULL;
    rc = recompute(&r, h, start, &p);
    if (rc != 0)
        return rc;
    /* The version only goes up, or a client's expected_version could match twice; and a
     * suspension's retraction, told to fewer, changes it no more than the suspension did. */
    if (emit_rights[retracted_type].rsa_rule) {
        p->version = current->version;
        p->updated_at = current->updated_at;
    } else {
        p->version = current->version + 1;
        p->updated_at = event->occurred_at;
    }
    p->phase = pathway_phase(p);
    outcome->pathway = p;
    outcome->version = partner_kind_minimised(sender->kind) ? 0 : p->version;
    if (retraction_recipients(&r, p, h) != 0) {
        pathway_outcome_clear(outcome);
        return -1;
    }
    return 0;
}

/* --- Deadlines ------------------------------------------------------------------------------ */

/* Adds a recipient of a DeadlineMissed: a partner of the pathway's territory that may see the
 * pathway (an oriented structure that left the group may not), each once, and never an
 * EMPLOYER or TRAINING_ORG (pathway_kind_receives). */
static void deadline_recipient_add(const rules_t *r, const Parcours__V1__Pathway *p, const char *id)
{
    pathway_outcome_t *o = r->outcome;
    const partner_t *partner = territory_partner(r, p->territory, id);
    if (partner == NULL || !pathway_visible_to(p, partner) ||
        !pathway_kind_receives(partner->kind, r->event, partner->id))
        return;
    for (size_t i = 0; i < o->n_recipients; i++)
        if (o->recipients[i] == partner->id)
            return;
    o->recipients[o->n_recipients++] = partner->id;
}

int pathway_deadline_missed(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                            const partners_t *directory, const deadline_settings_t *deadlines,
                            pathway_outcome_t *outcome)
{
    rules_t r;
    static const partner_t parcoursd = {.id = PARTNERS_DAEMON_ID};
    rules_init(&r, current, event, &parcoursd, directory, NULL, outcome);
    if (r.type != EVENT_TYPE(DEADLINE_MISSED))
        return reject(&r, ERROR_CODE(MALFORMED), "The event is not a DeadlineMissed.");
    /* Written when the store's index said so; the pathway decides whether it still holds (an
     * event since may have taken the step, or moved the clock). */
    deadline_due_t due[DEADLINE_KINDS];
    size_t n = deadline_running(current, deadlines, due);
    const Parcours__V1__DeadlineMissed *m = event->deadline_missed;
    bool running = false;
    for (size_t i = 0; i < n; i++)
        running |= due[i].kind == m->kind && due[i].due_at == m->due_at &&
                   due[i].since == m->since && due[i].due_at <= event->occurred_at;
    if (!running)
        return reject(&r, ERROR_CODE(INVALID_TRANSITION),
                      "That deadline is not due on this pathway (any more).");
    Parcours__V1__Pathway *p = pathway_clone(current);
    if (p == NULL || deadline_mark(p, m->kind, m->since) != 0) {
        if (p != NULL)
            parcours__v1__pathway__free_unpacked(p, NULL);
        return -1;
    }
    /* No fact changed: neither the version nor updated_at, so that no partner's expected
     * version is broken by it, and the inactivity clock is not reset by its own warning. */
    outcome->pathway = p;
    outcome->version = p->version;
    outcome->recipients = calloc(partners_count(directory) + 1, sizeof(*outcome->recipients));
    if (outcome->recipients == NULL) {
        pathway_outcome_clear(outcome);
        return -1;
    }
    /* Who answers for it: the departement, the oriented structure, the referent's partner. */
    for (size_t i = 0; i < partners_territory_wide_count(directory); i++) {
        const partner_t *t = partners_territory_wide_at(directory, i);
        if (t->kind == PARTNER_KIND(DEPARTEMENT))
            deadline_recipient_add(&r, p, t->id);
    }
    if (p->orientation != NULL && !is_empty(p->orientation->structure_id))
        deadline_recipient_add(&r, p, p->orientation->structure_id);
    if (p->referent != NULL && !is_empty(p->referent->partner_id))
        deadline_recipient_add(&r, p, p->referent->partner_id);
    return 0;
}

int pathway_registration_sender_check(const Parcours__V1__Event *event, const partner_t *sender,
                                      const partners_t *directory, pathway_outcome_t *outcome,
                                      const char **territory)
{
    rules_t r;
    rules_init(&r, NULL, event, sender, directory, NULL, outcome);
    if (r.type != EVENT_TYPE(BENEFICIARY_REGISTERED))
        return reject(&r, ERROR_CODE(MALFORMED), "The event is not a BeneficiaryRegistered.");
    /* rules_run's first check, then check_registration's of the sender alone, in their order. */
    if (sender->may_emit != 0 && !(sender->may_emit & PARTNERS_EMIT_BIT(r.type)))
        return reject(&r, ERROR_CODE(NOT_AUTHORISED),
                      "Partner %s may not send %s: its partners file entry narrows what it may "
                      "emit.",
                      sender->id, event_type_name(r.type));
    return check_registration_sender(&r, territory);
}

int pathway_apply(const Parcours__V1__Pathway *current, const Parcours__V1__Event *event,
                  const partner_t *sender, const partners_t *directory,
                  const pathway_settings_t *settings, pathway_outcome_t *outcome)
{
    if (event_type(event) == EVENT_TYPE(EVENT_RETRACTED))
        return pathway_retract(current, event, sender, directory, settings, NULL, outcome);
    rules_t r;
    rules_init(&r, current, event, sender, directory, settings, outcome);
    return rules_run(&r);
}
