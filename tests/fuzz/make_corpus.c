/*
 * make_corpus.c: writes the seed corpus and the dictionary of the fuzz_ingest target.
 *
 *   make_corpus CORPUS_DIR DICTIONARY_FILE
 *
 * The seeds are generated at test time, never committed: one valid Event of each of the 15
 * types, a few sequences that walk a pathway through its phases (each accepted by the rules
 * from an empty store, which PARCOURS_FUZZ_VERBOSE=1 on the target shows), and a few hostile
 * frames. Each file is in the target's input format (fuzz_partners.h): a flags byte, then
 * frames, each preceded by its length on 2 bytes, little endian. The dictionary holds the partner
 * ids of the target's directory, bare and as the Event's partner_id field, and the payload field
 * tags.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_partners.h"
#include "parcours.pb-c.h"

#define CORPUS_FILE_MAX  8192 /* the target runs with -max_len=8192 */
#define EVENT_TYPE(name) PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_##name

/* One input of the target being built. */
typedef struct corpus_file {
    uint8_t data[CORPUS_FILE_MAX];
    size_t len;
} corpus_file_t;

/* An Event with room for every payload, as the sequences describe it. */
typedef struct corpus_event {
    Parcours__V1__Event e;
    char event_id[65];
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
} corpus_event_t;

/* One step of a sequence: the type, its sender, and the partner id or territory the payload
 * names (NULL: a sensible default). */
typedef struct corpus_step {
    Parcours__V1__EventType type;
    const char *sender;
    const char *arg;
} corpus_step_t;

static const char *corpus_dir;
static int64_t corpus_clock = INT64_C(1700000000000);
static unsigned corpus_files;

static void die(const char *what)
{
    fprintf(stderr, "make_corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* arg, or def when arg is NULL; protobuf-c's messages take char * even for what they only read. */
static char *or_default(const char *arg, const char *def)
{
    return (char *)(arg != NULL ? arg : def);
}

/* A defined value of an enum other than UNSPECIFIED, a different one at each call, so that the
 * seeds hold every value: the enum checks happen in libprotobuf-c, whose comparisons the fuzzer
 * cannot see, so it would seldom find them by itself. */
static int corpus_pick(const ProtobufCEnumDescriptor *d)
{
    static unsigned calls;
    return d->values[1 + calls++ % (d->n_values - 1)].value;
}

/* Fills c with a valid event of this type. f must not be copied afterwards. */
/* The referent body a structure of the directory can carry (docs/domain.md): a sequence's
 * orientations are then accepted, and the fuzzer mutates them into the refusals. */
static Parcours__V1__ReferentBody corpus_body_for(const char *structure)
{
    for (size_t i = 0; i < FUZZ_N_PARTNERS; i++) {
        if (strcmp(fuzz_partner_defs[i].id, structure) != 0)
            continue;
        switch (fuzz_partner_defs[i].kind) {
        case FUZZ_KIND(DEPARTEMENT):
            return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DEPARTEMENT;
        case FUZZ_KIND(FRANCE_TRAVAIL):
            return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_FRANCE_TRAVAIL;
        case FUZZ_KIND(MISSION_LOCALE):
            return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE;
        case FUZZ_KIND(CAP_EMPLOI):
            return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_CAP_EMPLOI;
        default:
            return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
        }
    }
    return PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_DELEGATED;
}

static void corpus_event_init(corpus_event_t *c, const corpus_step_t *s, const char *beneficiary,
                              const char *event_id)
{
    memset(c, 0, sizeof(*c));
    c->e = (Parcours__V1__Event)PARCOURS__V1__EVENT__INIT;
    snprintf(c->event_id, sizeof(c->event_id), "%s", event_id);
    c->e.event_id = c->event_id;
    c->e.partner_id = (char *)s->sender;
    c->e.beneficiary_id = (char *)beneficiary;
    corpus_clock += 60000;
    int64_t at = corpus_clock;
    c->e.occurred_at = at;
    c->e.payload_case = (Parcours__V1__Event__PayloadCase)(100 + (int)s->type);
    const char *arg = s->arg;

    switch (s->type) {
    case EVENT_TYPE(BENEFICIARY_REGISTERED):
        c->beneficiary_registered =
            (Parcours__V1__BeneficiaryRegistered)PARCOURS__V1__BENEFICIARY_REGISTERED__INIT;
        c->beneficiary_registered.territory = or_default(arg, "93");
        c->e.beneficiary_registered = &c->beneficiary_registered;
        break;
    case EVENT_TYPE(ORIENTATION_REQUESTED):
        c->orientation_requested =
            (Parcours__V1__OrientationRequested)PARCOURS__V1__ORIENTATION_REQUESTED__INIT;
        c->orientation_requested.requested_type =
            corpus_pick(&parcours__v1__pathway_type__descriptor);
        c->orientation_requested.reason =
            corpus_pick(&parcours__v1__orientation_request_reason__descriptor);
        c->e.orientation_requested = &c->orientation_requested;
        break;
    case EVENT_TYPE(ORIENTATION_DECIDED):
        c->orientation_decided =
            (Parcours__V1__OrientationDecided)PARCOURS__V1__ORIENTATION_DECIDED__INIT;
        c->orientation_decided.pathway_type = corpus_pick(&parcours__v1__pathway_type__descriptor);
        c->orientation_decided.structure_id = or_default(arg, "ml93");
        c->orientation_decided.referent_body = corpus_body_for(c->orientation_decided.structure_id);
        c->orientation_decided.notified_at = at - INT64_C(2) * 86400 * 1000;
        c->e.orientation_decided = &c->orientation_decided;
        break;
    case EVENT_TYPE(ORIENTATION_DENIED):
        c->orientation_denied =
            (Parcours__V1__OrientationDenied)PARCOURS__V1__ORIENTATION_DENIED__INIT;
        c->orientation_denied.reason =
            corpus_pick(&parcours__v1__orientation_denial_reason__descriptor);
        c->e.orientation_denied = &c->orientation_denied;
        break;
    case EVENT_TYPE(REFERENT_ASSIGNED):
        c->referent_assigned =
            (Parcours__V1__ReferentAssigned)PARCOURS__V1__REFERENT_ASSIGNED__INIT;
        c->referent_assigned.referent_partner_id = or_default(arg, "ml93");
        c->referent_assigned.professional_ref = "pro-17";
        c->e.referent_assigned = &c->referent_assigned;
        break;
    case EVENT_TYPE(CONTRACT_SIGNED):
        c->contract_signed = (Parcours__V1__ContractSigned)PARCOURS__V1__CONTRACT_SIGNED__INIT;
        c->contract_signed.kind = corpus_pick(&parcours__v1__contract_kind__descriptor);
        c->contract_signed.start = at;
        c->contract_signed.end = at + INT64_C(180) * 86400 * 1000;
        if (c->contract_signed.kind ==
            PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT) {
            c->contract_signed.plan_action_ref = "pa-17";
            c->contract_signed.weekly_hours = 12;
            c->contract_signed.reduced_hours_reason =
                corpus_pick(&parcours__v1__reduced_hours_reason__descriptor);
        }
        c->e.contract_signed = &c->contract_signed;
        break;
    case EVENT_TYPE(CONTRACT_ENDED):
        c->contract_ended = (Parcours__V1__ContractEnded)PARCOURS__V1__CONTRACT_ENDED__INIT;
        c->contract_ended.reason = corpus_pick(&parcours__v1__contract_end_reason__descriptor);
        c->e.contract_ended = &c->contract_ended;
        break;
    case EVENT_TYPE(TRAINING_ENTERED):
        c->training_entered = (Parcours__V1__TrainingEntered)PARCOURS__V1__TRAINING_ENTERED__INIT;
        c->training_entered.provider_id = or_default(arg, "");
        c->training_entered.programme_code = "RNCP12345";
        c->training_entered.start = at;
        c->training_entered.expected_end = at + INT64_C(90) * 86400 * 1000;
        c->e.training_entered = &c->training_entered;
        break;
    case EVENT_TYPE(TRAINING_EXITED):
        c->training_exited = (Parcours__V1__TrainingExited)PARCOURS__V1__TRAINING_EXITED__INIT;
        c->training_exited.outcome = corpus_pick(&parcours__v1__training_outcome__descriptor);
        c->e.training_exited = &c->training_exited;
        break;
    case EVENT_TYPE(JOB_PLACED):
        c->job_placed = (Parcours__V1__JobPlaced)PARCOURS__V1__JOB_PLACED__INIT;
        c->job_placed.kind = corpus_pick(&parcours__v1__employment_kind__descriptor);
        c->job_placed.employer_partner_id = or_default(arg, "");
        c->job_placed.start = at;
        c->e.job_placed = &c->job_placed;
        break;
    case EVENT_TYPE(JOB_ENDED):
        c->job_ended = (Parcours__V1__JobEnded)PARCOURS__V1__JOB_ENDED__INIT;
        c->job_ended.reason = corpus_pick(&parcours__v1__job_end_reason__descriptor);
        c->e.job_ended = &c->job_ended;
        break;
    case EVENT_TYPE(APPOINTMENT_RECORDED):
        c->appointment_recorded =
            (Parcours__V1__AppointmentRecorded)PARCOURS__V1__APPOINTMENT_RECORDED__INIT;
        c->appointment_recorded.kind = corpus_pick(&parcours__v1__appointment_kind__descriptor);
        c->appointment_recorded.status = corpus_pick(&parcours__v1__appointment_status__descriptor);
        c->appointment_recorded.at = at - 3600 * 1000;
        c->e.appointment_recorded = &c->appointment_recorded;
        break;
    case EVENT_TYPE(MEMBER_JOINED):
        c->member_joined = (Parcours__V1__MemberJoined)PARCOURS__V1__MEMBER_JOINED__INIT;
        c->member_joined.member_id = or_default(arg, "trainer93");
        c->e.member_joined = &c->member_joined;
        break;
    case EVENT_TYPE(MEMBER_LEFT):
        c->member_left = (Parcours__V1__MemberLeft)PARCOURS__V1__MEMBER_LEFT__INIT;
        c->member_left.member_id = or_default(arg, "trainer93");
        c->e.member_left = &c->member_left;
        break;
    case EVENT_TYPE(PATHWAY_EXITED):
        c->pathway_exited = (Parcours__V1__PathwayExited)PARCOURS__V1__PATHWAY_EXITED__INIT;
        c->pathway_exited.reason = corpus_pick(&parcours__v1__exit_reason__descriptor);
        c->e.pathway_exited = &c->pathway_exited;
        break;
    case EVENT_TYPE(SUSPENSION_DECIDED):
        c->suspension_decided =
            (Parcours__V1__SuspensionDecided)PARCOURS__V1__SUSPENSION_DECIDED__INIT;
        c->suspension_decided.reason = corpus_pick(&parcours__v1__suspension_reason__descriptor);
        c->e.suspension_decided = &c->suspension_decided;
        break;
    case EVENT_TYPE(SUSPENSION_LIFTED):
        c->suspension_lifted =
            (Parcours__V1__SuspensionLifted)PARCOURS__V1__SUSPENSION_LIFTED__INIT;
        c->suspension_lifted.reason =
            corpus_pick(&parcours__v1__suspension_lift_reason__descriptor);
        c->e.suspension_lifted = &c->suspension_lifted;
        break;
    case EVENT_TYPE(EVENT_RETRACTED):
        c->event_retracted = (Parcours__V1__EventRetracted)PARCOURS__V1__EVENT_RETRACTED__INIT;
        c->event_retracted.retracted_event_id = or_default(arg, "never-sent");
        c->event_retracted.reason = corpus_pick(&parcours__v1__retraction_reason__descriptor);
        c->e.event_retracted = &c->event_retracted;
        break;
    default:
        fprintf(stderr, "make_corpus: no event type %d\n", (int)s->type);
        exit(1);
    }
}

/* Appends one frame of len bytes to the input f. */
static void file_add_frame(corpus_file_t *f, const uint8_t *frame, size_t len)
{
    if (len > 0xffff || f->len + 2 + len > sizeof(f->data)) {
        fprintf(stderr, "make_corpus: a seed outgrows %d bytes\n", CORPUS_FILE_MAX);
        exit(1);
    }
    f->data[f->len++] = (uint8_t)(len & 0xff);
    f->data[f->len++] = (uint8_t)(len >> 8);
    memcpy(f->data + f->len, frame, len);
    f->len += len;
}

static void file_add_event(corpus_file_t *f, const Parcours__V1__Event *e)
{
    uint8_t frame[4096];
    size_t len = parcours__v1__event__get_packed_size(e);
    if (len > sizeof(frame)) {
        fprintf(stderr, "make_corpus: an event of %zu bytes\n", len);
        exit(1);
    }
    parcours__v1__event__pack(e, frame);
    file_add_frame(f, frame, len);
}

static void file_write(const char *name, const corpus_file_t *f)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL)
        die(path);
    if (fwrite(f->data, 1, f->len, out) != f->len || fclose(out) != 0)
        die(path);
    corpus_files++;
}

/* Starts an input with its flags byte. */
static void file_start(corpus_file_t *f, uint8_t flags)
{
    f->data[0] = flags;
    f->len = 1;
}

/* Writes steps about one beneficiary as one input with these flags. */
static void write_input(const char *name, uint8_t flags, const char *beneficiary,
                        const corpus_step_t *steps, size_t n)
{
    static corpus_file_t f;
    file_start(&f, flags);
    for (size_t i = 0; i < n; i++) {
        corpus_event_t c;
        char event_id[65], retracted[65];
        snprintf(event_id, sizeof(event_id), "%s-%02zu", name, i + 1);
        /* A retraction's arg is the number of the step it retracts, in this input. */
        corpus_step_t step = steps[i];
        if (step.type == EVENT_TYPE(EVENT_RETRACTED) && step.arg != NULL) {
            snprintf(retracted, sizeof(retracted), "%s-%02d", name, atoi(step.arg));
            step.arg = retracted;
        }
        corpus_event_init(&c, &step, beneficiary, event_id);
        file_add_event(&f, &c.e);
    }
    file_write(name, &f);
}

/*
 * Writes a sequence twice: as a scratch input, whose mutants replay it whole, and as a kept
 * input about another beneficiary (its id suffixed with "K"), which leaves its pathway in the
 * store for the other inputs to meet.
 */
static void write_sequence(const char *name, const char *beneficiary, const corpus_step_t *steps,
                           size_t n)
{
    write_input(name, FUZZ_FLAG_SCRATCH, beneficiary, steps, n);
    char kept_name[64], kept_beneficiary[64];
    snprintf(kept_name, sizeof(kept_name), "%s-kept", name);
    snprintf(kept_beneficiary, sizeof(kept_beneficiary), "%sK", beneficiary);
    write_input(kept_name, 0, kept_beneficiary, steps, n);
}

/* One valid event of each type, each alone in its input. Registration is accepted from an
 * empty store; the others meet the pathways the sequences and the fuzzer build. */
static void write_singles(void)
{
    static const corpus_step_t singles[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93", NULL},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "cd93", NULL},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "ml93"},
        {EVENT_TYPE(ORIENTATION_DENIED), "ft93", NULL},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ml93", "ml93"},
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", NULL},
        {EVENT_TYPE(CONTRACT_ENDED), "ml93", NULL},
        {EVENT_TYPE(TRAINING_ENTERED), "ft93", "trainer93"},
        {EVENT_TYPE(TRAINING_EXITED), "trainer93", NULL},
        {EVENT_TYPE(JOB_PLACED), "employer93", NULL},
        {EVENT_TYPE(JOB_ENDED), "employer93", NULL},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", NULL},
        {EVENT_TYPE(MEMBER_JOINED), "cd93", "employer93"},
        {EVENT_TYPE(MEMBER_LEFT), "cd93", "trainer93"},
        {EVENT_TYPE(PATHWAY_EXITED), "cd93", NULL},
        {EVENT_TYPE(SUSPENSION_DECIDED), "ft93", NULL},
        {EVENT_TYPE(SUSPENSION_LIFTED), "ft93", NULL},
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", NULL},
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "single-%02d", (int)singles[i].type);
        write_input(name, 0, "B-0001", &singles[i], 1);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void write_sequences(void)
{
    /* A young person's whole pathway with the mission locale, then a second episode. */
    static const corpus_step_t youth[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cd93", "93"},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "cd93", NULL},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "ml93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ml93", "ml93"},
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", NULL},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", NULL},
        {EVENT_TYPE(MEMBER_JOINED), "ml93", "trainer93"},
        {EVENT_TYPE(TRAINING_ENTERED), "trainer93", NULL},
        {EVENT_TYPE(TRAINING_EXITED), "trainer93", NULL},
        {EVENT_TYPE(MEMBER_JOINED), "ml93", "employer93"},
        {EVENT_TYPE(JOB_PLACED), "employer93", NULL},
        {EVENT_TYPE(JOB_ENDED), "employer93", NULL},
        {EVENT_TYPE(CONTRACT_ENDED), "ml93", NULL},
        {EVENT_TYPE(MEMBER_LEFT), "ml93", "trainer93"},
        {EVENT_TYPE(PATHWAY_EXITED), "cd93", NULL},
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "ml93", ""},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "ml93", NULL},
    };
    write_sequence("seq-youth", "Y-0001", youth, N(youth));

    /* France Travail: a denied request, then an orientation to Cap emploi, a training and a
     * job it records itself. */
    static const corpus_step_t employment[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", NULL},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "caf93", NULL},
        {EVENT_TYPE(ORIENTATION_DENIED), "ft93", NULL},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "ft93", NULL},
        {EVENT_TYPE(ORIENTATION_DECIDED), "ft93", "cap93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "cap93", "cap93"},
        {EVENT_TYPE(CONTRACT_SIGNED), "cap93", NULL},
        {EVENT_TYPE(TRAINING_ENTERED), "ft93", "trainer93"},
        {EVENT_TYPE(TRAINING_EXITED), "ft93", NULL},
        {EVENT_TYPE(JOB_PLACED), "cap93", "employer93"},
        {EVENT_TYPE(JOB_ENDED), "ft93", NULL},
        {EVENT_TYPE(JOB_PLACED), "ft93", NULL},
        {EVENT_TYPE(PATHWAY_EXITED), "cap93", NULL},
    };
    write_sequence("seq-employment", "E-0001", employment, N(employment));

    /* A reorientation to a delegated association: the referent is cleared, the new one acts. */
    static const corpus_step_t reorientation[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf", "93"},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "ml93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ml93", "ml93"},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "asso93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "asso93", "asso93"},
        {EVENT_TYPE(MEMBER_LEFT), "asso93", "ml93"},
        {EVENT_TYPE(MEMBER_JOINED), "asso93", "echo93"},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "echo93", NULL},
        {EVENT_TYPE(ORIENTATION_REQUESTED), "echo93", NULL},
        {EVENT_TYPE(CONTRACT_SIGNED), "asso93", NULL},
        {EVENT_TYPE(PATHWAY_EXITED), "asso93", NULL},
    };
    write_sequence("seq-reorientation", "R-0001", reorientation, N(reorientation));

    /* Rejections: visibility across territories, rights, transitions, a replay. */
    static const corpus_step_t refused[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cd75", "75"},
        {EVENT_TYPE(APPOINTMENT_RECORDED), "cd93", NULL},     /* not visible */
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "ccas93", NULL}, /* may not register */
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd75", "ml93"},    /* not a partner of 75 */
        {EVENT_TYPE(CONTRACT_SIGNED), "cd75", NULL},          /* no referent */
        {EVENT_TYPE(MEMBER_JOINED), "cd75", "cafidf"},
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "cafidf", ""}, /* two territories: name one */
        {EVENT_TYPE(JOB_PLACED), "employer93", NULL},       /* not a member */
        {EVENT_TYPE(PATHWAY_EXITED), "cd75", NULL},
        {EVENT_TYPE(PATHWAY_EXITED), "cd75", NULL}, /* closed already */
    };
    write_sequence("seq-refused", "X-0001", refused, N(refused));

    /* An RSA recipient (registered by the CAF): the departement suspends, then lifts; France
     * Travail may not. Then the exit ends the facts in force. */
    static const corpus_step_t suspension[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", NULL},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "ccas93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ccas93", "ccas93"},
        {EVENT_TYPE(CONTRACT_SIGNED), "ccas93", NULL},
        {EVENT_TYPE(SUSPENSION_DECIDED), "ft93", NULL}, /* not for an RSA recipient */
        {EVENT_TYPE(SUSPENSION_DECIDED), "cd93", NULL},
        {EVENT_TYPE(MEMBER_JOINED), "ccas93", "employer93"},
        {EVENT_TYPE(JOB_PLACED), "employer93", NULL},
        {EVENT_TYPE(SUSPENSION_LIFTED), "cd93", NULL},
        {EVENT_TYPE(SUSPENSION_DECIDED), "cd93", NULL},
        {EVENT_TYPE(MEMBER_LEFT), "ccas93", "employer93"},  /* employs: refused */
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "cap93"}, /* ends the contract */
        {EVENT_TYPE(PATHWAY_EXITED), "cd93", NULL},
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "ml93", ""},
    };
    write_sequence("seq-suspension", "S-0001", suspension, N(suspension));

    /* Rectification: retractions accepted (a contract, a suspension, an exit by the
     * departement), refused (a referent a later contract relies on, a registration, another
     * partner's event, one retracted already, a retraction), and blind. */
    static const corpus_step_t rectification[] = {
        {EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", NULL},
        {EVENT_TYPE(ORIENTATION_DECIDED), "cd93", "ml93"},
        {EVENT_TYPE(REFERENT_ASSIGNED), "ml93", "ml93"},
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", NULL},
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", "3"}, /* the contract relies on the referent */
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", "4"},
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", "4"},  /* retracted already */
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", "6"},  /* a retraction */
        {EVENT_TYPE(EVENT_RETRACTED), "caf93", "1"}, /* a registration */
        {EVENT_TYPE(EVENT_RETRACTED), "ml93", "2"},  /* the departement's */
        {EVENT_TYPE(SUSPENSION_DECIDED), "cd93", NULL},
        {EVENT_TYPE(EVENT_RETRACTED), "cd93", "11"},
        {EVENT_TYPE(EVENT_RETRACTED), "asso93", "4"}, /* blind */
        {EVENT_TYPE(PATHWAY_EXITED), "cd93", NULL},
        {EVENT_TYPE(EVENT_RETRACTED), "cd93", "14"},
        {EVENT_TYPE(CONTRACT_SIGNED), "ml93", NULL},
    };
    write_sequence("seq-rectification", "C-0001", rectification, N(rectification));
}

/* A move between territories: announced by the bridge (again: a duplicate; under another id:
 * refused; by a departement: refused), claimed by a registration, claimed again (refused);
 * then a pathway of 93 that moves away to 13, which the bridge is told of. */
static void write_transfers(void)
{
    static corpus_file_t f;
    file_start(&f, FUZZ_FLAG_SCRATCH);
    static char reference[] = "75:0123456789ABCDEFGHJKMNPQR0";
    Parcours__V1__Transfer t = PARCOURS__V1__TRANSFER__INIT;
    t.reference = reference;
    t.origin_territory = "75";
    t.destination_territory = "93";
    t.moved_at = corpus_clock;
    Parcours__V1__TransferAnnounced announced = PARCOURS__V1__TRANSFER_ANNOUNCED__INIT;
    announced.transfer = &t;
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    e.event_id = reference;
    e.partner_id = "bridge93";
    e.beneficiary_id = reference;
    e.occurred_at = corpus_clock;
    e.payload_case = PARCOURS__V1__EVENT__PAYLOAD_TRANSFER_ANNOUNCED;
    e.transfer_announced = &announced;
    file_add_event(&f, &e);
    file_add_event(&f, &e);
    e.event_id = "move-again";
    file_add_event(&f, &e);
    e.partner_id = "cd93";
    file_add_event(&f, &e);
    for (int i = 0; i < 2; i++) {
        corpus_step_t reg = {EVENT_TYPE(BENEFICIARY_REGISTERED), "caf93", NULL};
        corpus_event_t c;
        corpus_event_init(&c, &reg, i == 0 ? "T-0001" : "T-0002", i == 0 ? "arrive-1" : "arrive-2");
        c.beneficiary_registered.origin_reference = reference;
        file_add_event(&f, &c.e);
    }
    corpus_step_t exit_step = {EVENT_TYPE(PATHWAY_EXITED), "cd93", NULL};
    corpus_event_t c;
    corpus_event_init(&c, &exit_step, "T-0001", "leave-1");
    c.pathway_exited.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED;
    c.pathway_exited.destination_territory = "13";
    file_add_event(&f, &c.e);
    file_write("transfers", &f);
}

/* Frames the boundary must refuse, in one scratch input, plus a duplicate and a version
 * conflict. */
static void write_hostile(void)
{
    static corpus_file_t f;
    file_start(&f, FUZZ_FLAG_SCRATCH);
    corpus_step_t reg = {EVENT_TYPE(BENEFICIARY_REGISTERED), "ft93", "93"};
    corpus_event_t c;
    corpus_event_init(&c, &reg, "H-0001", "hostile-01");
    uint8_t frame[4200];
    size_t len = parcours__v1__event__get_packed_size(&c.e);
    parcours__v1__event__pack(&c.e, frame);

    file_add_frame(&f, frame, len);     /* accepted */
    file_add_frame(&f, frame, len);     /* the same again: a duplicate */
    file_add_frame(&f, frame, len / 2); /* truncated */
    file_add_frame(&f, frame, 0);       /* empty */
    /* An unknown field (number 99, varint) after a valid event. */
    uint8_t unknown[4200];
    memcpy(unknown, frame, len);
    unknown[len] = 0x98; /* (99 << 3) | 0, on two bytes */
    unknown[len + 1] = 0x06;
    unknown[len + 2] = 0x01;
    file_add_frame(&f, unknown, len + 3);
    /* A frame one byte too large. */
    uint8_t large[4097];
    memset(large, 0x0a, sizeof(large));
    file_add_frame(&f, large, sizeof(large));

    /* An id with a character outside the charset, an enum the contract does not define, a
     * version conflict. */
    corpus_event_init(&c, &reg, "H-0002", "hostile-02");
    c.e.beneficiary_id = "H 0002";
    file_add_event(&f, &c.e);
    corpus_step_t exit_step = {EVENT_TYPE(PATHWAY_EXITED), "ft93", NULL};
    corpus_event_init(&c, &exit_step, "H-0001", "hostile-03");
    c.pathway_exited.reason = (Parcours__V1__ExitReason)42;
    file_add_event(&f, &c.e);
    corpus_event_init(&c, &exit_step, "H-0001", "hostile-04");
    c.e.expected_version = 7;
    file_add_event(&f, &c.e);

    /* An identifier with a NUL byte inside, and a frame whose payload a second one supersedes
     * (what the daemon stores must be the second alone). */
    corpus_event_init(&c, &reg, "H-0003", "hostile-05");
    c.e.beneficiary_id = "H-0003Xtail";
    len = parcours__v1__event__get_packed_size(&c.e);
    parcours__v1__event__pack(&c.e, frame);
    uint8_t *x = memchr(frame, 'X', len);
    if (x != NULL)
        *x = 0;
    file_add_frame(&f, frame, len);
    corpus_step_t decided = {EVENT_TYPE(ORIENTATION_DECIDED), "ft93", "ccas93"};
    corpus_event_init(&c, &decided, "H-0001", "hostile-06");
    len = parcours__v1__event__get_packed_size(&c.e);
    parcours__v1__event__pack(&c.e, frame);
    corpus_step_t exited = {EVENT_TYPE(PATHWAY_EXITED), "ft93", NULL};
    corpus_event_init(&c, &exited, "H-0001", "hostile-06");
    len += parcours__v1__event__pack(&c.e, frame + len);
    file_add_frame(&f, frame, len);
    file_write("hostile", &f);
}

static void write_dictionary(const char *path)
{
    FILE *out = fopen(path, "w");
    if (out == NULL)
        die(path);
    for (size_t i = 0; i < FUZZ_N_PARTNERS; i++) {
        const char *id = fuzz_partner_defs[i].id;
        fprintf(out, "\"%s\"\n", id);
        /* As the Event's partner_id (field 2, length-delimited). */
        fprintf(out, "\"\\x12\\x%02zx%s\"\n", strlen(id), id);
    }
    fprintf(out, "\"93\"\n\"75\"\n\"92\"\n\"2A\"\n");
    /* The tags of the payload fields 101-117 (length-delimited): two-byte varints. */
    for (unsigned field = 101; field <= 117; field++) {
        unsigned tag = field << 3 | 2;
        fprintf(out, "\"\\x%02x\\x%02x\"\n", (tag & 0x7f) | 0x80, tag >> 7);
    }
    /* Small enum values as the varint fields 1 and 2 of a payload: the enum checks happen in
     * libprotobuf-c, whose comparisons the fuzzer cannot see. */
    for (unsigned tag = 0x08; tag <= 0x10; tag += 0x08)
        for (unsigned value = 1; value <= 7; value++)
            fprintf(out, "\"\\x%02x\\x%02x\"\n", tag, value);
    if (fclose(out) != 0)
        die(path);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_corpus CORPUS_DIR DICTIONARY_FILE\n");
        return 2;
    }
    corpus_dir = argv[1];
    write_singles();
    write_sequences();
    write_hostile();
    write_transfers();
    write_dictionary(argv[2]);
    printf("make_corpus: %u seeds in %s\n", corpus_files, corpus_dir);
    return 0;
}
