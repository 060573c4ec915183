/* access.c: the right of access, one person's document (access.h). */
#include "access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The partners told of one event, collected from store_log_told (which may not call the store:
 * the acknowledgement times are read after). */
typedef struct told_list {
    Parcours__V1__ExportedDelivery **items;
    size_t n, cap;
    int failed;
} told_list_t;

static int told_add(const char *partner_id, uint64_t partner_seq, void *ctx)
{
    told_list_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        Parcours__V1__ExportedDelivery **items = realloc(l->items, cap * sizeof(*items));
        if (items == NULL)
            return l->failed = 1;
        l->items = items;
        l->cap = cap;
    }
    Parcours__V1__ExportedDelivery *d = malloc(sizeof(*d));
    char *id = strdup(partner_id);
    if (d == NULL || id == NULL) {
        free(d);
        free(id);
        return l->failed = 1;
    }
    parcours__v1__exported_delivery__init(d);
    d->partner_id = id;
    d->partner_seq = partner_seq;
    l->items[l->n++] = d;
    return 0;
}

int access_export(store_t *store, const char *beneficiary_id, Parcours__V1__PersonExport *out,
                  char *err, size_t errlen)
{
    parcours__v1__person_export__init(out);
    out->exported_at = clock_realtime_ms();
    int rc = store_pathway_get(store, beneficiary_id, &out->pathway);
    if (rc == STORE_ENOTFOUND) {
        snprintf(err, errlen, "Beneficiary %s has no pathway here: nothing is held.",
                 beneficiary_id);
        return 1;
    }
    uint64_t *seqs = NULL;
    size_t n = 0;
    if (rc == STORE_OK)
        rc = store_pathway_seqs(store, beneficiary_id, &seqs, &n);
    if (rc == STORE_OK && (out->events = calloc(n ? n : 1, sizeof(*out->events))) == NULL)
        rc = STORE_ENOMEM;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        store_log_entry_t entry;
        rc = store_log_get(store, seqs[i], &entry);
        if (rc != STORE_OK)
            break;
        Parcours__V1__ExportedEvent *e = malloc(sizeof(*e));
        if (e == NULL) {
            store_log_entry_clear(&entry);
            rc = STORE_ENOMEM;
            break;
        }
        parcours__v1__exported_event__init(e);
        e->seq = entry.seq;
        e->committed_at = entry.committed_at;
        if (entry.kind == STORE_LOG_EVENT && entry.raw_len > 0)
            e->event = parcours__v1__event__unpack(NULL, entry.raw_len, entry.raw);
        store_log_entry_clear(&entry);
        out->events[out->n_events++] = e;
        told_list_t told = {0};
        rc = store_log_told(store, seqs[i], told_add, &told);
        e->told = told.items;
        e->n_told = told.n;
        if (rc == STORE_OK && told.failed)
            rc = STORE_ENOMEM;
        for (size_t t = 0; rc == STORE_OK && t < told.n; t++)
            rc = store_ack_time(store, told.items[t]->partner_id, told.items[t]->partner_seq,
                                &told.items[t]->acknowledged_by);
    }
    free(seqs);
    if (rc != STORE_OK) {
        access_export_clear(out);
        snprintf(err, errlen, "The export failed: %s", store_strerror(rc));
        return -1;
    }
    return 0;
}

void access_export_clear(Parcours__V1__PersonExport *out)
{
    for (size_t i = 0; i < out->n_events; i++) {
        Parcours__V1__ExportedEvent *e = out->events[i];
        for (size_t t = 0; t < e->n_told; t++) {
            free(e->told[t]->partner_id);
            free(e->told[t]);
        }
        free(e->told);
        if (e->event != NULL)
            parcours__v1__event__free_unpacked(e->event, NULL);
        free(e);
    }
    free(out->events);
    if (out->pathway != NULL)
        parcours__v1__pathway__free_unpacked(out->pathway, NULL);
    parcours__v1__person_export__init(out);
}
