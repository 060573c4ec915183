/*
 * access.h: the right of access (RGPD art. 15): everything the store holds about one person, in
 * one document (`parcoursctl export`): the pathway, every event with its payload and dates, and
 * for each event the partners told of it (the log's sealed record of them) with when each had
 * acknowledged it (the acknowledgement marks, to the minute).
 */
#ifndef PARCOURS_ACCESS_H
#define PARCOURS_ACCESS_H

#include <stddef.h>

#include "parcours.pb-c.h"
#include "store.h"

/* Fills *out about beneficiary_id (the caller frees it with access_export_clear). 0; 1 when
 * there is no such pathway; -1 on a store error. err (errlen bytes) says why. */
int access_export(store_t *store, const char *beneficiary_id, Parcours__V1__PersonExport *out,
                  char *err, size_t errlen);

void access_export_clear(Parcours__V1__PersonExport *out);

#endif
