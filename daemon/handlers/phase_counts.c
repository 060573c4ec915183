/* phase_counts.c: pathways per territory and phase, kept as batches commit (phase_counts.h). */
#include "phase_counts.h"

#include <stdlib.h>
#include <string.h>

#include "partners.h"

typedef struct phase_row {
    char territory[PARTNERS_TERRITORY_MAX + 1];
    uint64_t counts[PHASE_COUNTS_PHASES];
} phase_row_t;

struct phase_counts {
    phase_row_t *rows;
    size_t n, cap;
};

/* The row of territory, added when new; NULL when out of memory. A daemon holds a handful of
 * territories, so a walk of the rows is the index. */
static phase_row_t *row_of(phase_counts_t *c, const char *territory)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].territory, territory) == 0)
            return &c->rows[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        phase_row_t *rows = realloc(c->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return NULL;
        c->rows = rows;
        c->cap = cap;
    }
    phase_row_t *r = &c->rows[c->n++];
    memset(r, 0, sizeof(*r));
    strncpy(r->territory, territory, PARTNERS_TERRITORY_MAX);
    return r;
}

static int count_one(const Parcours__V1__Pathway *p, void *ctx)
{
    return phase_counts_move(ctx, NULL, 0, p->territory, p->phase) != 0;
}

int phase_counts_load(store_t *store, phase_counts_t **out)
{
    *out = NULL;
    phase_counts_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return STORE_ENOMEM;
    int rc = store_pathway_foreach(store, count_one, c);
    if (rc != STORE_OK) {
        phase_counts_destroy(&c);
        return rc;
    }
    *out = c;
    return STORE_OK;
}

void phase_counts_destroy(phase_counts_t **c)
{
    if (c == NULL || *c == NULL)
        return;
    free((*c)->rows);
    free(*c);
    *c = NULL;
}

int phase_counts_move(phase_counts_t *c, const char *old_territory, Parcours__V1__Phase old_phase,
                      const char *new_territory, Parcours__V1__Phase new_phase)
{
    if ((unsigned)old_phase >= PHASE_COUNTS_PHASES || (unsigned)new_phase >= PHASE_COUNTS_PHASES)
        return 0; /* a phase this daemon does not know: not counted */
    phase_row_t *to = row_of(c, new_territory);
    if (to == NULL)
        return -1;
    if (old_territory != NULL) {
        phase_row_t *from = row_of(c, old_territory);
        if (from == NULL)
            return -1;
        to = row_of(c, new_territory); /* the rows may have moved */
        if (from->counts[old_phase] > 0)
            from->counts[old_phase]--;
    }
    to->counts[new_phase]++;
    return 0;
}

long phase_counts_find(const phase_counts_t *c, const char *territory)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].territory, territory) == 0)
            return (long)i;
    return -1;
}

size_t phase_counts_rows(const phase_counts_t *c)
{
    return c->n;
}

const char *phase_counts_territory(const phase_counts_t *c, size_t row)
{
    return c->rows[row].territory;
}

uint64_t phase_counts_get(const phase_counts_t *c, size_t row, Parcours__V1__Phase phase)
{
    return (unsigned)phase < PHASE_COUNTS_PHASES ? c->rows[row].counts[phase] : 0;
}

void phase_counts_remove(phase_counts_t *c, const char *territory, Parcours__V1__Phase phase)
{
    long row = phase_counts_find(c, territory);
    if (row >= 0 && (unsigned)phase < PHASE_COUNTS_PHASES && c->rows[row].counts[phase] > 0)
        c->rows[row].counts[phase]--;
}
