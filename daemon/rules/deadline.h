/*
 * deadline.h: the deadlines the law and the territory set on a pathway, as a pure function of
 * the pathway (docs/deadlines.md). No clock, no I/O: the daemon indexes what this returns by due
 * time in the store and writes a DeadlineMissed when one passes (daemon/deadlines.c).
 */
#ifndef PARCOURS_DEADLINE_H
#define PARCOURS_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"

/* The number of deadline kinds (DEADLINE_KIND_ORIENTATION to DEADLINE_KIND_INACTIVITY). */
#define DEADLINE_KINDS 4

/* How long each step may take, in ms; 0 turns that deadline off. [deadlines] in the
 * configuration; deadline_settings_default() gives the texts' values. */
typedef struct deadline_settings {
    int64_t orientation_ms; /* registration -> orientation decided: six weeks (CASF D262-65-2) */
    int64_t contract_ms;    /* orientation notified -> contract signed: one month (C. trav.
                             * D5411-14-1), counted as 30 days */
    int64_t referent_ms;    /* orientation notified -> referent named: 30 days (the territory's) */
    int64_t inactivity_ms;  /* last event -> the next: 180 days (the retention's early warning) */
} deadline_settings_t;

void deadline_settings_default(deadline_settings_t *s);

/* One deadline running on a pathway. */
typedef struct deadline_due {
    Parcours__V1__DeadlineKind kind;
    int64_t due_at; /* unix ms */
    int64_t since;  /* what its clock runs from, unix ms */
} deadline_due_t;

/*
 * The deadlines running on p (NULL: none) under s, in kind order: only on an
 * open pathway, each while its step is not taken, none missed already with the same clock
 * (p->deadlines_missed: a new orientation notified, or a new spell without events, is a new
 * clock). Writes them to out and returns how many (at most DEADLINE_KINDS).
 */
size_t deadline_running(const Parcours__V1__Pathway *p, const deadline_settings_t *s,
                        deadline_due_t out[DEADLINE_KINDS]);

/* Whether p missed deadline kind, of the clock started at since, already. */
bool deadline_missed_already(const Parcours__V1__Pathway *p, Parcours__V1__DeadlineKind kind,
                             int64_t since);

/* The kind's name in the docs and the logs ("orientation", "contract", ...), or NULL. */
const char *deadline_kind_name(Parcours__V1__DeadlineKind kind);

#endif
