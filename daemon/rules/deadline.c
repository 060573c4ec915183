/* deadline.c: the deadlines running on a pathway (deadline.h). */
#include "deadline.h"

#include "pathway.h"

#define DAY_MS     INT64_C(86400000)
#define KIND(name) PARCOURS__V1__DEADLINE_KIND__DEADLINE_KIND_##name

void deadline_settings_default(deadline_settings_t *s)
{
    s->orientation_ms = 42 * DAY_MS;
    s->contract_ms = 30 * DAY_MS;
    s->referent_ms = 30 * DAY_MS;
    s->inactivity_ms = 180 * DAY_MS;
}

bool deadline_missed_already(const Parcours__V1__Pathway *p, Parcours__V1__DeadlineKind kind,
                             int64_t since)
{
    for (size_t i = 0; i < p->n_deadlines_missed; i++)
        if (p->deadlines_missed[i]->kind == kind && p->deadlines_missed[i]->since == since)
            return true;
    return false;
}

/* Adds a deadline of length ms from since, unless it is off, unclocked or missed already. */
static size_t add(const Parcours__V1__Pathway *p, Parcours__V1__DeadlineKind kind, int64_t since,
                  int64_t ms, deadline_due_t *out, size_t n)
{
    if (ms <= 0 || since <= 0 || since > INT64_MAX - ms || deadline_missed_already(p, kind, since))
        return n;
    out[n] = (deadline_due_t){kind, since + ms, since};
    return n + 1;
}

size_t deadline_running(const Parcours__V1__Pathway *p, const deadline_settings_t *s,
                        deadline_due_t out[DEADLINE_KINDS])
{
    if (p == NULL || !pathway_is_open(p))
        return 0;
    size_t n = 0;
    const Parcours__V1__Orientation *o = p->orientation;
    if (o == NULL)
        n = add(p, KIND(ORIENTATION), p->created_at, s->orientation_ms, out, n);
    /* Both run from the person's notification of the decision, which the 2023 law requires
     * (OrientationDecided.notified_at); a new orientation is a new notification. */
    /* The month is met by the first contract signed since, even once it has ended. */
    if (o != NULL && p->contract == NULL && !o->contract_signed)
        n = add(p, KIND(CONTRACT), o->notified_at, s->contract_ms, out, n);
    if (o != NULL && p->referent == NULL)
        n = add(p, KIND(REFERENT), o->notified_at, s->referent_ms, out, n);
    /* Counted in whole days, from the day of the last event (UTC) to the end of the day the
     * period ends: a warning half a year ahead needs no finer clock, and the many events of
     * one day then leave the index as it was, instead of moving an entry each. */
    if (s->inactivity_ms > 0 && p->updated_at > 0) {
        int64_t day = p->updated_at - p->updated_at % DAY_MS;
        size_t before = n;
        n = add(p, KIND(INACTIVITY), day, s->inactivity_ms, out, n);
        if (n > before)
            out[before].due_at += DAY_MS;
    }
    return n;
}

const char *deadline_kind_name(Parcours__V1__DeadlineKind kind)
{
    switch (kind) {
    case KIND(ORIENTATION):
        return "orientation";
    case KIND(CONTRACT):
        return "contract";
    case KIND(REFERENT):
        return "referent";
    case KIND(INACTIVITY):
        return "inactivity";
    default:
        return NULL;
    }
}
