/*
 * fuzz_partners.h: the synthetic partners directory of the fuzz target, shared with the corpus
 * generator so that the seeds and the dictionary name the partners the target knows.
 *
 * Every partner kind is in territory 93; the departement of territory 75 is there so that
 * visibility across territories is exercised; one CAF is registered for both territories (a
 * registration must then name its territory); one association narrows what it may emit and is
 * echoed its own events.
 */
#ifndef PARCOURS_TESTS_FUZZ_PARTNERS_H
#define PARCOURS_TESTS_FUZZ_PARTNERS_H

#include <stdbool.h>
#include <stdint.h>

#include "parcours.pb-c.h"

#define FUZZ_KIND(name) PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_##name
#define FUZZ_EMIT(name) (UINT32_C(1) << (unsigned)PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_##name)

typedef struct fuzz_partner_def {
    const char *id;
    Parcours__V1__PartnerKind kind;
    const char *territory1;
    const char *territory2; /* NULL when the partner has one territory */
    uint32_t may_emit;      /* 0: the defaults of its kind */
    bool echo;
} fuzz_partner_def_t;

static const fuzz_partner_def_t fuzz_partner_defs[] __attribute__((unused)) = {
    {"cd93", FUZZ_KIND(DEPARTEMENT), "93", NULL, 0, false},
    {"ft93", FUZZ_KIND(FRANCE_TRAVAIL), "93", NULL, 0, false},
    {"ml93", FUZZ_KIND(MISSION_LOCALE), "93", NULL, 0, false},
    {"cap93", FUZZ_KIND(CAP_EMPLOI), "93", NULL, 0, false},
    {"caf93", FUZZ_KIND(CAF), "93", NULL, 0, false},
    {"ccas93", FUZZ_KIND(CCAS), "93", NULL, 0, false},
    {"asso93", FUZZ_KIND(ASSOCIATION), "93", NULL, 0, false},
    {"trainer93", FUZZ_KIND(TRAINING_ORG), "93", NULL, 0, false},
    {"employer93", FUZZ_KIND(EMPLOYER), "93", NULL, 0, false},
    {"cd75", FUZZ_KIND(DEPARTEMENT), "75", NULL, 0, false},
    {"cafidf", FUZZ_KIND(CAF), "75", "93", 0, false},
    {"bridge93", FUZZ_KIND(BRIDGE), "93", NULL, 0, false},
    {"echo93", FUZZ_KIND(ASSOCIATION), "93", NULL,
     FUZZ_EMIT(APPOINTMENT_RECORDED) | FUZZ_EMIT(ORIENTATION_REQUESTED), true},
};
#define FUZZ_N_PARTNERS (sizeof(fuzz_partner_defs) / sizeof(fuzz_partner_defs[0]))

/*
 * The fuzz target reads an input as one flags byte, then frames, each preceded by its length
 * (2 bytes, little endian); the last frame takes what is left when its length runs past the end.
 * With FUZZ_FLAG_SCRATCH the input's writes are rolled back after it; otherwise they are kept
 * (committed with the next inputs).
 */
#define FUZZ_FLAG_SCRATCH 0x01
#define FUZZ_FRAMES_MAX   32

#endif
