/* figures.c: the daemon's figures, read once for Status and /metrics (figures.h). */
#include "figures.h"

#include "deadlines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "zap.h"

/* The row of territory in f, added when new. Once FIGURES_TERRITORIES_MAX - 1 rows are taken,
 * the next new one is named FIGURES_TERRITORY_OTHER and every later new territory is counted in
 * it. */
static size_t figures_territory_row(figures_t *f, const char *territory)
{
    for (size_t i = 0; i < f->n_territories; i++)
        if (strcmp(f->territories[i].territory, territory) == 0)
            return i;
    if (f->n_territories == FIGURES_TERRITORIES_MAX)
        return FIGURES_TERRITORIES_MAX - 1;
    figures_territory_t *row = &f->territories[f->n_territories];
    snprintf(row->territory, sizeof(row->territory), "%s",
             f->n_territories == FIGURES_TERRITORIES_MAX - 1 ? FIGURES_TERRITORY_OTHER : territory);
    return f->n_territories++;
}

/* The pathways per territory and phase: the partners file's territories first, so that each is
 * shown with its zeros even before it has a pathway, then the counts kept as batches commit. */
static int figures_territories(figures_t *f, const partners_t *partners,
                               const phase_counts_t *counts)
{
    /* Each lookup below adds one row at most, so this many rows always do. */
    size_t capacity = phase_counts_rows(counts);
    for (size_t i = 0; i < partners_count(partners); i++)
        capacity += partners_at(partners, i)->n_territories;
    if (capacity > FIGURES_TERRITORIES_MAX)
        capacity = FIGURES_TERRITORIES_MAX;
    f->territories = calloc(capacity ? capacity : 1, sizeof(*f->territories));
    if (f->territories == NULL)
        return -1;
    for (size_t i = 0; i < partners_count(partners); i++) {
        const partner_t *p = partners_at(partners, i);
        for (size_t t = 0; t < p->n_territories; t++)
            figures_territory_row(f, p->territories[t]);
    }
    for (size_t r = 0; r < phase_counts_rows(counts); r++) {
        size_t row = figures_territory_row(f, phase_counts_territory(counts, r));
        /* += rather than =: the "other" row sums every territory that did not fit. */
        for (unsigned phase = 0; phase < FIGURES_PHASES; phase++)
            f->territories[row].pathways[phase] +=
                phase_counts_get(counts, r, (Parcours__V1__Phase)phase);
    }
    return 0;
}

/* Where each partner of the directory in force stands in its notification stream. */
static int figures_deliveries(figures_t *f, const partners_t *partners, deliver_t *deliver)
{
    size_t n = partners_count(partners);
    f->deliveries = calloc(n ? n : 1, sizeof(*f->deliveries));
    if (f->deliveries == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(partners, i);
        figures_delivery_t *d = &f->deliveries[f->n_deliveries++];
        snprintf(d->partner_id, sizeof(d->partner_id), "%s", p->id);
        deliver_position(deliver, p->id, &d->position);
    }
    return 0;
}

int figures_collect(const daemon_sources_t *sources, const backup_stats_t *backup, figures_t *out)
{
    memset(out, 0, sizeof(*out));
    out->version = PARCOURS_VERSION;
    out->uptime_ms = clock_monotonic_ms() - sources->started_at_ms;
    /* A store that cannot be read leaves its figures at zero (store_info clears them first) but
     * must not hide the others: an unusable store is when an operator looks at them. */
    store_info(sources->store, &out->store);
    out->ingest = *ingest_stats(sources->ingest);
    out->batches = out->ingest.batch_size.count;
    if (out->batches > 0) {
        out->batch_size_mean = out->ingest.batch_size.sum / (double)out->batches;
        out->commit_ms_mean = 1000.0 * out->ingest.commit_seconds.sum / (double)out->batches;
    }
    out->zap_refused = sources->zap != NULL ? zap_counters(sources->zap)->refused : 0;
    if (backup != NULL)
        out->backup = *backup;
    for (int k = 1; k <= DEADLINE_KINDS; k++)
        out->deadlines_missed[k] =
            deadlines_missed_count(sources->deadlines, (Parcours__V1__DeadlineKind)k);
    /* Only the index's head is read: what fell due over a minute ago, normally nothing. */
    store_due_list(sources->store, clock_realtime_ms() - 60000, NULL, NULL,
                   &out->deadlines_overdue);
    if (figures_deliveries(out, sources->partners, sources->deliver) != 0 ||
        figures_territories(out, sources->partners, ingest_phase_counts(sources->ingest)) != 0) {
        figures_release(out);
        return -1;
    }
    return 0;
}

void figures_release(figures_t *f)
{
    if (f == NULL)
        return;
    free(f->deliveries);
    free(f->territories);
    memset(f, 0, sizeof(*f));
}
