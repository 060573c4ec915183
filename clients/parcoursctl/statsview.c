/* statsview.c: parcoursctl stats, from the daemon's counters (statsview.h). */
#include "statsview.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protojson.h"

#define METRIC(name) PARCOURS__V1__STATS_METRIC__STATS_METRIC_##name

int statsview_percentile(const statsview_delay_t *d, double p)
{
    if (d->count == 0)
        return -1;
    uint64_t rank = (uint64_t)ceil(p * (double)d->count);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (int day = 0; day < STATSVIEW_DAYS; day++) {
        seen += d->at[day];
        if (seen >= rank)
            return day;
    }
    return STATSVIEW_DAYS - 1;
}

/* --- Sums ----------------------------------------------------------------------------------- */

/* A count per name (an enum value's name, or a partner id), in the order first seen. */
typedef struct named {
    char name[128];
    uint64_t count;
    statsview_delay_t *delay; /* for a structure's delays, else NULL */
} named_t;

typedef struct named_list {
    named_t *items;
    size_t n, cap;
} named_list_t;

static named_t *named_get(named_list_t *l, const char *name, bool with_delay)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        named_t *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            return NULL;
        l->items = items;
        l->cap = cap;
    }
    named_t *n = &l->items[l->n];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    if (with_delay && (n->delay = calloc(1, sizeof *n->delay)) == NULL)
        return NULL;
    l->n++;
    return n;
}

static void named_free(named_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].delay);
    free(l->items);
}

#define DELAYS 3 /* orientation, referent, contract */
static const char *const delay_names[DELAYS] = {"orientation", "referent", "contract"};
static const char *const delay_titles[DELAYS] = {
    "registration to orientation", "orientation to referent", "orientation to contract"};

typedef struct sums {
    uint64_t registered, oriented, retracted;
    named_list_t by_type, deadlines, trainings, jobs, exits;
    named_list_t arrived, moved_away; /* by origin and by destination territory */
    statsview_delay_t delay[DELAYS];
    named_list_t by_structure[DELAYS];
    uint64_t phases[16];
    bool failed;
} sums_t;

static void sums_add_named(sums_t *s, named_list_t *l, const char *name, uint64_t count)
{
    named_t *n = named_get(l, name, false);
    if (n == NULL)
        s->failed = true;
    else
        n->count += count;
}

static void sums_add_delay(sums_t *s, int which, const Parcours__V1__StatsCounter *c)
{
    unsigned day = c->days < STATSVIEW_DAYS ? c->days : STATSVIEW_DAYS - 1;
    s->delay[which].count += c->count;
    s->delay[which].at[day] += c->count;
    named_t *n = named_get(&s->by_structure[which], c->dimension, true);
    if (n == NULL) {
        s->failed = true;
        return;
    }
    n->count += c->count;
    n->delay->count += c->count;
    n->delay->at[day] += c->count;
}

static sums_t *sums_new(const Parcours__V1__StatsReply *r)
{
    sums_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < r->n_counters; i++) {
        const Parcours__V1__StatsCounter *c = r->counters[i];
        switch (c->metric) {
        case METRIC(REGISTERED):
            s->registered += c->count;
            break;
        case METRIC(ORIENTED):
            s->oriented += c->count;
            sums_add_named(s, &s->by_type, c->dimension, c->count);
            break;
        case METRIC(ORIENTATION_DELAY):
            sums_add_delay(s, 0, c);
            break;
        case METRIC(REFERENT_DELAY):
            sums_add_delay(s, 1, c);
            break;
        case METRIC(CONTRACT_DELAY):
            sums_add_delay(s, 2, c);
            break;
        case METRIC(TRAINING_EXITED):
            sums_add_named(s, &s->trainings, c->dimension, c->count);
            break;
        case METRIC(JOB_PLACED):
            sums_add_named(s, &s->jobs, c->dimension, c->count);
            break;
        case METRIC(EXITED):
            sums_add_named(s, &s->exits, c->dimension, c->count);
            break;
        case METRIC(DEADLINE_MISSED):
            sums_add_named(s, &s->deadlines, c->dimension, c->count);
            break;
        case METRIC(RETRACTED):
            s->retracted += c->count;
            break;
        case METRIC(ARRIVED):
            sums_add_named(s, &s->arrived, c->dimension, c->count);
            break;
        case METRIC(MOVED_AWAY):
            /* A move to nowhere Parcours knows has no territory: said as such. */
            sums_add_named(s, &s->moved_away, c->dimension[0] ? c->dimension : "unknown", c->count);
            break;
        default:
            break; /* a metric newer than this parcoursctl */
        }
    }
    for (size_t i = 0; i < r->n_pathways_per_phase; i++) {
        const Parcours__V1__PhaseCount *p = r->pathways_per_phase[i];
        if ((unsigned)p->phase < sizeof s->phases / sizeof s->phases[0])
            s->phases[p->phase] += p->count;
    }
    return s;
}

static void sums_free(sums_t *s)
{
    if (s == NULL)
        return;
    named_free(&s->by_type);
    named_free(&s->deadlines);
    named_free(&s->trainings);
    named_free(&s->jobs);
    named_free(&s->exits);
    named_free(&s->arrived);
    named_free(&s->moved_away);
    for (int i = 0; i < DELAYS; i++)
        named_free(&s->by_structure[i]);
    free(s);
}

/* --- JSON ------------------------------------------------------------------------------------ */

static json_t *json_named(const named_list_t *l)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < l->n; i++)
        if (protojson_set(o, l->items[i].name, protojson_uint64(l->items[i].count)) != 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

static json_t *json_delay(const statsview_delay_t *d)
{
    json_t *o = json_object();
    int median = statsview_percentile(d, 0.5), p90 = statsview_percentile(d, 0.9);
    int rc = o == NULL ? -1 : 0;
    rc |= protojson_set(o, "count", protojson_uint64(d->count));
    rc |= protojson_set(o, "median_days", median < 0 ? json_null() : json_integer(median));
    rc |= protojson_set(o, "p90_days", p90 < 0 ? json_null() : json_integer(p90));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *statsview_json(const Parcours__V1__StatsReply *reply, const char *since)
{
    sums_t *s = sums_new(reply);
    if (s == NULL || s->failed) {
        sums_free(s);
        return NULL;
    }
    json_t *doc = json_object();
    int rc = doc == NULL ? -1 : 0;
    rc |= protojson_set(doc, "since", since != NULL ? json_string(since) : json_null());
    json_t *phases = json_object();
    for (unsigned p = 1; phases != NULL && p < sizeof s->phases / sizeof s->phases[0]; p++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&parcours__v1__phase__descriptor, (int)p);
        if (v != NULL)
            rc |= protojson_set(phases, v->name, protojson_uint64(s->phases[p]));
    }
    rc |= protojson_set(doc, "pathways_per_phase", phases);
    rc |= protojson_set(doc, "registered", protojson_uint64(s->registered));
    json_t *oriented = json_object();
    rc |= protojson_set(oriented, "total", protojson_uint64(s->oriented));
    rc |= protojson_set(oriented, "by_pathway_type", json_named(&s->by_type));
    rc |= protojson_set(doc, "oriented", oriented);
    json_t *delays = json_object();
    for (int i = 0; delays != NULL && i < DELAYS; i++) {
        json_t *d = json_delay(&s->delay[i]);
        json_t *by = json_object();
        for (size_t k = 0; by != NULL && k < s->by_structure[i].n; k++)
            rc |= protojson_set(by, s->by_structure[i].items[k].name,
                                json_delay(s->by_structure[i].items[k].delay));
        rc |= protojson_set(d, "by_structure", by);
        rc |= protojson_set(delays, delay_names[i], d);
    }
    rc |= protojson_set(doc, "delays", delays);
    rc |= protojson_set(doc, "deadlines_missed", json_named(&s->deadlines));
    rc |= protojson_set(doc, "trainings_exited", json_named(&s->trainings));
    rc |= protojson_set(doc, "jobs_placed", json_named(&s->jobs));
    rc |= protojson_set(doc, "exits", json_named(&s->exits));
    rc |= protojson_set(doc, "arrived_from", json_named(&s->arrived));
    rc |= protojson_set(doc, "moved_away_to", json_named(&s->moved_away));
    rc |= protojson_set(doc, "retracted", protojson_uint64(s->retracted));
    sums_free(s);
    if (rc != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* --- Text ------------------------------------------------------------------------------------ */

static void text_named(FILE *out, const char *title, const named_list_t *l, const char *prefix)
{
    fprintf(out, "%s:", title);
    if (l->n == 0)
        fprintf(out, " none");
    size_t cut = strlen(prefix);
    for (size_t i = 0; i < l->n; i++) {
        const char *name = l->items[i].name;
        if (strncmp(name, prefix, cut) == 0)
            name += cut;
        fprintf(out, "%s %s %" PRIu64, i ? "," : "", name, l->items[i].count);
    }
    fprintf(out, "\n");
}

static void text_delay(FILE *out, const char *title, const statsview_delay_t *d)
{
    int median = statsview_percentile(d, 0.5), p90 = statsview_percentile(d, 0.9);
    if (median < 0)
        fprintf(out, "  %-30s %8" PRIu64 "  %6s  %6s\n", title, d->count, "-", "-");
    else
        fprintf(out, "  %-30s %8" PRIu64 "  %6d  %6d\n", title, d->count, median, p90);
}

void statsview_text(const Parcours__V1__StatsReply *reply, const char *since, FILE *out)
{
    sums_t *s = sums_new(reply);
    if (s == NULL || s->failed) {
        sums_free(s);
        fprintf(out, "parcoursctl: out of memory\n");
        return;
    }
    fprintf(out, "Statistics, %s%s (counts of events; no person is counted by name)\n",
            since != NULL ? "from " : "every month", since != NULL ? since : "");
    fprintf(out, "pathways now:");
    for (unsigned p = 1; p < sizeof s->phases / sizeof s->phases[0]; p++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&parcours__v1__phase__descriptor, (int)p);
        if (v != NULL)
            fprintf(out, "%s %s %" PRIu64, p > 1 ? "," : "", v->name + strlen("PHASE_"),
                    s->phases[p]);
    }
    /* The funnel's steps are the firsts (an episode's first orientation, an orientation's first
     * referent, an episode's first contract): a reorientation is not one more person oriented. */
    fprintf(out,
            "\nfunnel: registered %" PRIu64 ", oriented %" PRIu64 ", referent named %" PRIu64
            ", contract signed %" PRIu64 " (orientations decided: %" PRIu64 ")\n",
            s->registered, s->delay[0].count, s->delay[1].count, s->delay[2].count, s->oriented);
    text_named(out, "oriented by pathway type", &s->by_type, "PATHWAY_TYPE_");
    fprintf(out, "delays, in days                    count  median     p90\n");
    for (int i = 0; i < DELAYS; i++) {
        text_delay(out, delay_titles[i], &s->delay[i]);
        for (size_t k = 0; k < s->by_structure[i].n; k++) {
            char title[160];
            snprintf(title, sizeof title, "  %s", s->by_structure[i].items[k].name);
            text_delay(out, title, s->by_structure[i].items[k].delay);
        }
    }
    text_named(out, "deadlines missed", &s->deadlines, "DEADLINE_KIND_");
    text_named(out, "trainings exited", &s->trainings, "TRAINING_OUTCOME_");
    text_named(out, "jobs placed", &s->jobs, "EMPLOYMENT_KIND_");
    text_named(out, "exits", &s->exits, "EXIT_REASON_");
    text_named(out, "moved away to", &s->moved_away, "");
    text_named(out, "arrived from", &s->arrived, "");
    fprintf(out, "retracted: %" PRIu64 " (their events stay in the counts above)\n", s->retracted);
    sums_free(s);
}

/* --- SVG ------------------------------------------------------------------------------------- */

int statsview_svg(const Parcours__V1__StatsReply *reply, const char *since, FILE *out)
{
    sums_t *s = sums_new(reply);
    if (s == NULL || s->failed) {
        sums_free(s);
        return -1;
    }
    const int width = 760, bar = 420, left = 230;
    uint64_t funnel[4] = {s->registered, s->delay[0].count, s->delay[1].count, s->delay[2].count};
    static const char *const steps[4] = {"registered", "oriented", "referent named",
                                         "contract signed"};
    uint64_t top = funnel[0] > 0 ? funnel[0] : 1;
    for (int i = 1; i < 4; i++)
        if (funnel[i] > top)
            top = funnel[i];
    int p90max = 1;
    for (int i = 0; i < DELAYS; i++) {
        int p90 = statsview_percentile(&s->delay[i], 0.9);
        if (p90 > p90max)
            p90max = p90;
    }
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"420\" "
            "font-family=\"sans-serif\" font-size=\"14\">\n"
            "<title>Parcours: the pathway's funnel and its delays</title>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">The pathway, %s%s"
            "</text>\n",
            width, since != NULL ? "from " : "every month", since != NULL ? since : "");
    fprintf(out, "<text x=\"20\" y=\"60\" font-weight=\"bold\">How many got this far</text>\n");
    for (int i = 0; i < 4; i++) {
        int y = 75 + i * 30;
        int w = (int)((double)bar * (double)funnel[i] / (double)top);
        fprintf(out,
                "<text x=\"20\" y=\"%d\">%s</text>\n"
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"20\" fill=\"#2b6cb0\"/>\n"
                "<text x=\"%d\" y=\"%d\">%" PRIu64 "</text>\n",
                y + 15, steps[i], left, y, w, left + w + 6, y + 15, funnel[i]);
    }
    fprintf(out, "<text x=\"20\" y=\"225\" font-weight=\"bold\">How long it took, in days "
                 "(median, and the 90th percentile paler)</text>\n");
    for (int i = 0; i < DELAYS; i++) {
        int y = 240 + i * 40;
        int median = statsview_percentile(&s->delay[i], 0.5);
        int p90 = statsview_percentile(&s->delay[i], 0.9);
        fprintf(out, "<text x=\"20\" y=\"%d\">%s</text>\n", y + 15, delay_titles[i]);
        if (median < 0) {
            fprintf(out, "<text x=\"%d\" y=\"%d\">none counted</text>\n", left, y + 15);
            continue;
        }
        int w90 = (int)((double)bar * p90 / p90max), w50 = (int)((double)bar * median / p90max);
        fprintf(out,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"20\" fill=\"#bee3f8\"/>\n"
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"20\" fill=\"#2c5282\"/>\n"
                "<text x=\"%d\" y=\"%d\">%d (p90 %d), %" PRIu64 " counted</text>\n",
                left, y, w90, left, y, w50, left + w90 + 6, y + 15, median, p90, s->delay[i].count);
    }
    uint64_t missed = 0;
    for (size_t i = 0; i < s->deadlines.n; i++)
        missed += s->deadlines.items[i].count;
    fprintf(out,
            "<text x=\"20\" y=\"380\">Deadlines missed: %" PRIu64 "; exits: %zu reasons; "
            "counts of events, no person named.</text>\n</svg>\n",
            missed, s->exits.n);
    sums_free(s);
    return ferror(out) ? -1 : 0;
}
