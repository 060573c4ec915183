/* stats.c: the counters of one event (stats.h). */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_names.h"
#include "transfer.h"

#define DAY_MS       INT64_C(86400000)
#define METRIC(name) PARCOURS__V1__STATS_METRIC__STATS_METRIC_##name

void stats_month(int64_t t, char out[8])
{
    /* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), UTC. */
    int64_t z = (t >= 0 ? t : t - (DAY_MS - 1)) / DAY_MS + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999)
        y = 0;
    snprintf(out, 8, "%04d-%02d", (int)y, (int)m);
}

/* The name of an enum value, or "" when d does not know it. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v != NULL ? v->name : "";
}

static size_t add(stats_key_t *out, size_t n, const Parcours__V1__Event *e, const char *territory,
                  Parcours__V1__StatsMetric metric, const char *dimension, int64_t delay_ms)
{
    char month[8];
    stats_month(e->occurred_at, month);
    int64_t days = delay_ms <= 0 ? 0 : delay_ms / DAY_MS;
    if (days > STATS_DAYS_MAX)
        days = STATS_DAYS_MAX;
    int len = snprintf(out[n].text, sizeof out[n].text, "%s|%s|%d|%s|%d", month,
                       territory != NULL ? territory : "", (int)metric,
                       dimension != NULL ? dimension : "", (int)days);
    if (len < 0 || (size_t)len >= sizeof out[n].text)
        return n; /* cannot happen with checked ids; not counted rather than cut */
    out[n].len = (size_t)len;
    return n + 1;
}

size_t stats_of_event(const Parcours__V1__Pathway *before, const Parcours__V1__Pathway *after,
                      const Parcours__V1__Event *e, stats_key_t out[STATS_PER_EVENT])
{
    if (after == NULL)
        return 0;
    const char *t = after->territory;
    const Parcours__V1__Orientation *o = after->orientation;
    switch (e->payload_case) {
    case PAYLOAD(BENEFICIARY_REGISTERED): {
        size_t n = add(out, 0, e, t, METRIC(REGISTERED), "", 0);
        /* An arrival from another territory: where from (its reference says it). */
        char origin[PARTNERS_TERRITORY_MAX + 1];
        if (transfer_reference_parse(e->beneficiary_registered->origin_reference, origin))
            n = add(out, n, e, t, METRIC(ARRIVED), origin, 0);
        return n;
    }
    case PAYLOAD(ORIENTATION_DECIDED): {
        size_t n = add(out, 0, e, t, METRIC(ORIENTED),
                       enum_name(&parcours__v1__pathway_type__descriptor,
                                 (int)e->orientation_decided->pathway_type),
                       0);
        /* The episode's first orientation: how long the person waited for it. */
        if (before != NULL && before->orientation == NULL)
            n = add(out, n, e, t, METRIC(ORIENTATION_DELAY), e->orientation_decided->structure_id,
                    e->occurred_at - after->created_at);
        return n;
    }
    case PAYLOAD(REFERENT_ASSIGNED):
        /* The first referent since the orientation: how long from its notification. */
        if (before != NULL && before->referent == NULL && o != NULL && o->notified_at > 0)
            return add(out, 0, e, t, METRIC(REFERENT_DELAY),
                       e->referent_assigned->referent_partner_id, e->occurred_at - o->notified_at);
        return 0;
    case PAYLOAD(CONTRACT_SIGNED):
        /* The episode's first contract (none in force, none ended): from the notification. */
        if (before != NULL && before->contract == NULL && before->last_contract_end_reason == 0 &&
            o != NULL && o->notified_at > 0)
            return add(out, 0, e, t, METRIC(CONTRACT_DELAY), o->structure_id,
                       e->occurred_at - o->notified_at);
        return 0;
    case PAYLOAD(TRAINING_EXITED):
        return add(out, 0, e, t, METRIC(TRAINING_EXITED),
                   enum_name(&parcours__v1__training_outcome__descriptor,
                             (int)e->training_exited->outcome),
                   0);
    case PAYLOAD(JOB_PLACED):
        return add(out, 0, e, t, METRIC(JOB_PLACED),
                   enum_name(&parcours__v1__employment_kind__descriptor, (int)e->job_placed->kind),
                   0);
    case PAYLOAD(PATHWAY_EXITED): {
        size_t n = add(
            out, 0, e, t, METRIC(EXITED),
            enum_name(&parcours__v1__exit_reason__descriptor, (int)e->pathway_exited->reason), 0);
        if (e->pathway_exited->reason == PARCOURS__V1__EXIT_REASON__EXIT_REASON_MOVED)
            n = add(out, n, e, t, METRIC(MOVED_AWAY), e->pathway_exited->destination_territory, 0);
        return n;
    }
    case PAYLOAD(DEADLINE_MISSED):
        return add(
            out, 0, e, t, METRIC(DEADLINE_MISSED),
            enum_name(&parcours__v1__deadline_kind__descriptor, (int)e->deadline_missed->kind), 0);
    case PAYLOAD(EVENT_RETRACTED):
        return add(out, 0, e, t, METRIC(RETRACTED), "", 0);
    default:
        return 0;
    }
}

int stats_key_decode(const void *key, size_t len, Parcours__V1__StatsCounter *c, char *buf,
                     size_t size)
{
    if (len == 0 || len >= size)
        return -1;
    memcpy(buf, key, len);
    buf[len] = '\0';
    char *field[5];
    char *p = buf;
    for (int i = 0; i < 5; i++) {
        field[i] = p;
        char *bar = strchr(p, '|');
        if ((bar == NULL) != (i == 4))
            return -1;
        if (bar != NULL) {
            *bar = '\0';
            p = bar + 1;
        }
    }
    char *end;
    long metric = strtol(field[2], &end, 10);
    if (*end != '\0' || metric <= 0 || strlen(field[0]) != 7)
        return -1;
    long days = strtol(field[4], &end, 10);
    if (*end != '\0' || days < 0 || days > STATS_DAYS_MAX)
        return -1;
    c->month = field[0];
    c->territory = field[1];
    c->metric = (Parcours__V1__StatsMetric)metric;
    c->dimension = field[3];
    c->days = (uint32_t)days;
    return 0;
}
